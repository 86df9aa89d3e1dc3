#pragma once
/// @file cost.hpp
/// constexpr cost model of a growth schedule: FLOPs of a BERT stage and the predicted speedup of a schedule.
///
/// Convention (one function, used by the schedule and, for its configs, by the reference model): a matmul of
/// an (n x a) by an (a x b) matrix costs 2 n a b FLOPs; only matmuls count. Embeddings, LayerNorm, softmax,
/// GELU, biases and dropout are ignored. Per layer and per token, with hidden H, FFN I and S keys:
///   Q, K, V, O projections        4 * 2 H H
///   attention scores and context  2 * 2 S H
///   FFN (full)                    2 * 2 H I
///   FFN shared (I/k neurons)      2 * 2 H (I/k)
///   FFN factorised (rank r)       2 * 2 r (H + I)     (x U then . V, for both matrices)
/// The MLM head runs on the MASKED tokens only (transform dense + tied decoder): m (2 H H + 2 H V) per sequence,
/// with m = seq_len * masked_per_mille / 1000 the expected number of masked tokens (a real number).
/// Mean embedding pooling with factor k (paper-notes.md 2.3(b)): the S_u = S - m unmasked tokens become
/// T = 1 + ceil((S_u - 1) / k) pooled slots plus the m full-resolution targets; layers >= 1 run on T + m
/// tokens; layer 0's queries (Q, O, FFN) run on T + m tokens but its keys and values (K, V, scores, context)
/// on all S tokens.
/// Training FLOPs = 3 x forward FLOPs (backward = 2 x forward).
/// Speedup of a schedule (paper definition, paper-notes.md 5.1): cost_baseline / cost_method - 1, where the
/// baseline trains the last stage's model for the schedule's total number of steps.
#include <array>
#include <cstddef>
#include <span>

#include "stage.hpp"

namespace growth::sched {

namespace detail {
/// std::ceil is not constexpr in C++20. x >= 0.
constexpr double ceil_nonneg(double x) {
  const auto i = static_cast<unsigned long long>(x);
  return static_cast<double>(i) < x ? static_cast<double>(i + 1) : static_cast<double>(i);
}
}  // namespace detail

/// Expected masked (MLM target) tokens per sequence.
constexpr double masked_tokens(std::size_t seq_len, std::size_t masked_per_mille) {
  return static_cast<double>(seq_len) * static_cast<double>(masked_per_mille) / 1000.0;
}

/// Tokens a layer's queries see: S, or with pooling 1 + ceil((S - m - 1) / k) + m.
constexpr double query_tokens(const model_shape& s, double masked) {
  const auto S = static_cast<double>(s.seq_len);
  if (s.pool_size <= 1) return S;
  const double unmasked = S - masked;
  const double pooled = unmasked <= 1.0 ? 1.0 : 1.0 + detail::ceil_nonneg((unmasked - 1.0) / static_cast<double>(s.pool_size));
  return pooled + masked;
}

/// FFN FLOPs per token of one layer.
constexpr double ffn_flops_per_token(const model_shape& s, std::size_t layer) {
  const auto H = static_cast<double>(s.hidden);
  const auto I = static_cast<double>(s.ffn);
  switch (layer_state(s, layer)) {
    case ffn_state::shared: return 2.0 * 2.0 * H * (I / static_cast<double>(s.ffn_share_factor));
    case ffn_state::factorized: return 2.0 * 2.0 * static_cast<double>(s.ffn_rank) * (H + I);
    case ffn_state::full: break;
  }
  return 2.0 * 2.0 * H * I;
}

/// Forward FLOPs of one encoder layer for one sequence, with `q` query tokens and `kv` key/value tokens.
constexpr double layer_forward_flops(const model_shape& s, std::size_t layer, double q, double kv) {
  const auto H = static_cast<double>(s.hidden);
  const double projections = 2.0 * H * H * (2.0 * q + 2.0 * kv);  // Q, O on queries; K, V on keys
  const double attention = 2.0 * 2.0 * q * kv * H;                // scores and context
  return projections + attention + q * ffn_flops_per_token(s, layer);
}

/// MLM head FLOPs per masked token: transform dense (H x H) and tied decoder (H x V).
constexpr double mlm_head_flops_per_masked_token(std::size_t hidden, std::size_t vocab_size) {
  const auto H = static_cast<double>(hidden);
  return 2.0 * H * H + 2.0 * H * static_cast<double>(vocab_size);
}

/// Forward FLOPs for one sequence of s.seq_len tokens with `masked` expected masked tokens.
constexpr double forward_flops_per_sequence(const model_shape& s, std::size_t vocab_size, double masked) {
  const auto S = static_cast<double>(s.seq_len);
  const double q = query_tokens(s, masked);
  double total = 0.0;
  for (std::size_t l = 0; l < s.layers; ++l) total += layer_forward_flops(s, l, q, l == 0 ? S : q);
  return total + masked * mlm_head_flops_per_masked_token(s.hidden, vocab_size);
}

/// Forward FLOPs per input token (the per-sequence cost divided by seq_len).
constexpr double forward_flops_per_token(const model_shape& s, std::size_t vocab_size, double masked) {
  return forward_flops_per_sequence(s, vocab_size, masked) / static_cast<double>(s.seq_len);
}

/// Training (forward + backward) FLOPs for one sequence: 3 x forward.
constexpr double training_flops_per_sequence(const model_shape& s, std::size_t vocab_size, double masked) {
  return 3.0 * forward_flops_per_sequence(s, vocab_size, masked);
}

/// Training FLOPs of one optimizer step of a stage (batch_size sequences).
constexpr double training_flops_per_step(const model_shape& s, const run_settings& run) {
  return static_cast<double>(run.batch_size) *
         training_flops_per_sequence(s, run.vocab_size, masked_tokens(s.seq_len, run.masked_per_mille));
}

struct stage_cost {
  double flops_per_step = 0;  ///< training FLOPs per optimizer step
  double flops = 0;           ///< flops_per_step * steps
  double share = 0;           ///< flops / the schedule's total
};

struct schedule_cost {
  double total = 0;          ///< training FLOPs of the whole schedule
  double baseline = 0;       ///< the last stage's model trained for the same total steps
  std::size_t steps = 0;     ///< total steps
  /// baseline / total - 1 (paper definition; 1.0 = "100% faster").
  [[nodiscard]] constexpr double speedup() const { return total > 0 ? baseline / total - 1.0 : 0.0; }
  /// total / baseline: the fraction of the baseline's compute the schedule needs.
  [[nodiscard]] constexpr double relative_cost() const { return baseline > 0 ? total / baseline : 0.0; }
};

/// The cost of stage i of a schedule (share filled in against the schedule's total).
constexpr stage_cost cost_of_stage(std::span<const stage> stages, std::size_t i, const run_settings& run);

/// Total, baseline and speedup of a schedule. An empty schedule costs nothing.
constexpr schedule_cost cost_of(std::span<const stage> stages, const run_settings& run) {
  schedule_cost c;
  if (stages.empty()) return c;
  for (const auto& st : stages) {
    c.total += static_cast<double>(st.steps) * training_flops_per_step(st.shape, run);
    c.steps += st.steps;
  }
  c.baseline = static_cast<double>(c.steps) * training_flops_per_step(stages.back().shape, run);
  return c;
}

constexpr stage_cost cost_of_stage(std::span<const stage> stages, std::size_t i, const run_settings& run) {
  stage_cost s;
  s.flops_per_step = training_flops_per_step(stages[i].shape, run);
  s.flops = s.flops_per_step * static_cast<double>(stages[i].steps);
  const double total = cost_of(stages, run).total;
  s.share = total > 0 ? s.flops / total : 0.0;
  return s;
}

}  // namespace growth::sched
