#pragma once
/// @file model/flops.hpp
/// The FLOP model of a BERT layer, written once: the schedule's cost model (schedule/cost.hpp, on a
/// model::shape) and the reference model's count (reference/flops.hpp, on a bert_config) are both sums of
/// these terms over their layers. Standard library only, constexpr.
///
/// Convention: a matmul of an (n x a) by an (a x b) matrix costs 2 n a b FLOPs; only matmuls count.
/// Embeddings, LayerNorm, softmax, GELU, biases, dropout and the optimizer are ignored (O(tokens x H)).
/// Per encoder layer, for one sequence with q query rows and kv key/value rows, hidden H:
///   Q and O projections (on queries)   2 * 2 q H H
///   K and V projections (on keys)      2 * 2 kv H H
///   scores q k^T and context p v       2 * 2 q kv H
///   FFN                                q * ffn, ffn per row = 2 * 2 H I (full, I neurons; a shared FFN has
///                                      I/k neurons) or 2 * 2 r (H + I) (factorised rank r: x V^T then U^T,
///                                      for both matrices)
/// Without pooling q = kv = S. With mean embedding pooling of k tokens (paper-notes.md 2.3(b)) and m expected
/// MLM targets per sequence, the S - m unmasked tokens become T = 1 + ceil((S - m - 1) / k) slots (1 when
/// S - m <= 1): q = T + m in every layer, kv = S in layer 0 (its keys and values are the token embeddings)
/// and kv = q after it. The MLM head runs on the targets only: m (2 H H + 2 H V).
/// Training = 3 x forward (backward computes d(input) and d(weight) of every product).
#include <cstddef>

namespace growth::model::flops {

/// std::ceil is not constexpr in C++20. x >= 0.
constexpr double ceil_nonneg(double x) {
  const auto i = static_cast<unsigned long long>(x);
  return static_cast<double>(i) < x ? static_cast<double>(i + 1) : static_cast<double>(i);
}

/// Expected MLM targets per sequence.
constexpr double masked_tokens(std::size_t seq_len, std::size_t masked_per_mille) {
  return static_cast<double>(seq_len) * static_cast<double>(masked_per_mille) / 1000.0;
}

/// Query rows per sequence: S, or with pooling of k > 1 tokens 1 + ceil((S - m - 1) / k) + m.
constexpr double query_rows(std::size_t seq_len, double masked, std::size_t pool_size) {
  const auto S = static_cast<double>(seq_len);
  if (pool_size <= 1) return S;
  const double unmasked = S - masked;
  const double slots = unmasked <= 1.0 ? 1.0 : 1.0 + ceil_nonneg((unmasked - 1.0) / static_cast<double>(pool_size));
  return slots + masked;
}

/// FFN FLOPs per row: full (or shared, with its smaller `neurons`) 4 H I; factorised (rank > 0) 4 r (H + I).
constexpr double ffn_per_row(std::size_t hidden, std::size_t neurons, std::size_t rank = 0) {
  const auto H = static_cast<double>(hidden), I = static_cast<double>(neurons);
  return rank > 0 ? 2.0 * 2.0 * static_cast<double>(rank) * (H + I) : 2.0 * 2.0 * H * I;
}

/// Forward FLOPs of one encoder layer for one sequence with q query rows and kv key/value rows.
constexpr double layer_forward(std::size_t hidden, double ffn_row, double q, double kv) {
  const auto H = static_cast<double>(hidden);
  return 2.0 * H * H * (2.0 * q + 2.0 * kv) + 2.0 * 2.0 * q * kv * H + q * ffn_row;
}

/// MLM head FLOPs per target: transform dense (H x H) and tied decoder (H x V).
constexpr double mlm_head_per_target(std::size_t hidden, std::size_t vocab_size) {
  const auto H = static_cast<double>(hidden);
  return 2.0 * H * H + 2.0 * H * static_cast<double>(vocab_size);
}

/// Forward FLOPs of one sequence of S tokens: layers [0, n) with FFN FLOPs per row ffn_row_of(l), plus the
/// head on m targets. The shape's representation (schedule or config) only supplies the per-layer FFN.
template <class FfnRowOf>
constexpr double forward_per_sequence(std::size_t layers, std::size_t hidden, std::size_t vocab_size, std::size_t seq_len,
                                      double masked, std::size_t pool_size, FfnRowOf ffn_row_of) {
  const auto S = static_cast<double>(seq_len);
  const double q = query_rows(seq_len, masked, pool_size);
  double total = 0.0;
  for (std::size_t l = 0; l < layers; ++l) total += layer_forward(hidden, ffn_row_of(l), q, l == 0 ? S : q);
  return total + masked * mlm_head_per_target(hidden, vocab_size);
}

}  // namespace growth::model::flops
