#pragma once
/// @file cost.hpp
/// constexpr cost model of a growth schedule: FLOPs of a BERT stage and the predicted speedup of a schedule.
///
/// The FLOPs of a stage's model are model/flops.hpp's (the one FLOP model, also the reference model's count):
/// matmuls only, 2 FLOPs per multiply-add; Q/K/V/O projections, scores and context, the FFN of each layer
/// (full, shared with I/k neurons, or factorised with rank r) and the MLM head on the masked tokens only,
/// m = seq_len * masked_per_mille / 1000 per sequence (a real number); mean embedding pooling shrinks the
/// query rows (model/flops.hpp). Training FLOPs = 3 x forward FLOPs (backward = 2 x forward).
/// Speedup of a schedule (paper definition, paper-notes.md 5.1): cost_baseline / cost_method - 1, where the
/// baseline trains the last stage's model for the schedule's total number of steps.
#include <array>
#include <cstddef>
#include <span>

#include "../model/flops.hpp"
#include "stage.hpp"

namespace growth::sched {

using model::flops::masked_tokens;

/// Tokens a layer's queries see: S, or with pooling 1 + ceil((S - m - 1) / k) + m.
constexpr double query_tokens(const model::shape& s, double masked) {
  return model::flops::query_rows(s.seq_len, masked, s.pool_size);
}

/// FFN FLOPs per token of one layer.
constexpr double ffn_flops_per_token(const model::shape& s, std::size_t layer) {
  switch (layer_state(s, layer)) {
    case ffn_state::shared:  // valid shapes have k >= 2 dividing ffn (check.hpp); never divide by 0
      return model::flops::ffn_per_row(s.hidden, s.ffn / (s.ffn_share_factor > 0 ? s.ffn_share_factor : 1));
    case ffn_state::factorized: return model::flops::ffn_per_row(s.hidden, s.ffn, s.ffn_rank);
    case ffn_state::full: break;
  }
  return model::flops::ffn_per_row(s.hidden, s.ffn);
}

/// Forward FLOPs for one sequence of s.seq_len tokens with `masked` expected masked tokens.
constexpr double forward_flops_per_sequence(const model::shape& s, std::size_t vocab_size, double masked) {
  return model::flops::forward_per_sequence(s.layers, s.hidden, vocab_size, s.seq_len, masked, s.pool_size,
                                            [&s](std::size_t l) { return ffn_flops_per_token(s, l); });
}

/// Forward FLOPs per input token (the per-sequence cost divided by seq_len).
constexpr double forward_flops_per_token(const model::shape& s, std::size_t vocab_size, double masked) {
  return forward_flops_per_sequence(s, vocab_size, masked) / static_cast<double>(s.seq_len);
}

/// Training (forward + backward) FLOPs for one sequence: 3 x forward.
constexpr double training_flops_per_sequence(const model::shape& s, std::size_t vocab_size, double masked) {
  return 3.0 * forward_flops_per_sequence(s, vocab_size, masked);
}

/// Training FLOPs of one optimizer step of a stage (batch_size sequences).
constexpr double training_flops_per_step(const model::shape& s, const run_settings& run) {
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
