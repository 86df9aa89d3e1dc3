#pragma once
/// @file flops.hpp
/// FLOP model of one BERT MLM training step, the one the schedule cost model must agree with.
///
/// Counted: every matrix product, 2 FLOPs per multiply-add. Not counted: element-wise work (LayerNorm,
/// GELU, softmax, dropout, residuals, embedding lookups, AdamW), which is O(tokens x hidden) and small.
/// Per token, forward, for a sequence of length S:
///   each layer l: 2*(4 H^2)                       Q, K, V and the attention output dense
///               + 4 H I_l                          FFN, I_l = layer_intermediate_size(l)
///                 (factorised: 4 r (H + I_l), since x V^T then (.) U^T for both matrices)
///               + 4 S H                            q k^T and probs v (the quadratic term)
///   MLM head, only on target tokens (fraction f of tokens): f * (2 H^2 + 2 H V)
/// With mean embedding pooling (c.pool_size = k > 1; bert.hpp, pooling.hpp) and m = f S expected targets
/// per sequence (a real number, as in schedule/cost.hpp): the S - m unmasked tokens become
/// T = 1 + ceil((S - m - 1) / k) slots (1 when S - m <= 1), the query rows are q = T + m, and per sequence
///   layer 0:      2 H^2 (2 q + 2 S) + 4 q S H + q * FFN     (Q, O, FFN on queries; K, V on all S tokens)
///   layers >= 1:  2 H^2 (4 q) + 4 q^2 H + q * FFN
/// (per token: divided by S). This is schedule::query_tokens / layer_forward_flops, written again here
/// because the reference must not depend on the schedule; tests/reference/test_pooling.cpp checks they agree.
/// Backward = 2 x forward (each product needs d(input) and d(weight); layer 0's d(input) is needed for
/// the embedding gradients). Training = 3 x forward.
#include <cmath>
#include <cstddef>

#include "../model/bert_config.hpp"

namespace growth::reference {

/// Forward FLOPs per token of one encoder layer l at sequence length S.
inline double layer_forward_flops_per_token(const model::bert_config& c, std::size_t layer, std::size_t seq_len) {
  const double H = static_cast<double>(c.hidden_size), S = static_cast<double>(seq_len);
  const double I = static_cast<double>(c.layer_intermediate_size(layer));
  const double ffn = c.is_factorized(layer) ? 4.0 * static_cast<double>(c.ffn_rank) * (H + I) : 4.0 * H * I;
  return 8.0 * H * H + ffn + 4.0 * S * H;
}

/// Query rows per sequence of a pooled model: 1 + ceil((S - m - 1) / k) + m, or S without pooling.
inline double pooled_query_tokens(const model::bert_config& c, std::size_t seq_len, double targets) {
  const auto S = static_cast<double>(seq_len);
  if (c.pool_size <= 1) return S;
  const double unmasked = S - targets;
  return (unmasked <= 1.0 ? 1.0 : 1.0 + std::ceil((unmasked - 1.0) / static_cast<double>(c.pool_size))) + targets;
}

/// Forward FLOPs of encoder layer l for one sequence with q query rows and kv key/value rows.
inline double layer_forward_flops(const model::bert_config& c, std::size_t layer, double q, double kv) {
  const double H = static_cast<double>(c.hidden_size);
  const double ffn = layer_forward_flops_per_token(c, layer, 0) - 8.0 * H * H;  // the FFN term alone
  return 2.0 * H * H * (2.0 * q + 2.0 * kv) + 4.0 * q * kv * H + q * ffn;
}

/// Forward FLOPs per input token; target_fraction = MLM targets / tokens (the head runs on targets only).
inline double forward_flops_per_token(const model::bert_config& c, std::size_t seq_len, double target_fraction) {
  const double H = static_cast<double>(c.hidden_size), V = static_cast<double>(c.vocab_size);
  const double head = target_fraction * (2.0 * H * H + 2.0 * H * V);
  double f = 0;
  if (c.pool_size <= 1) {
    for (std::size_t l = 0; l < c.num_hidden_layers; ++l) f += layer_forward_flops_per_token(c, l, seq_len);
    return f + head;
  }
  const auto S = static_cast<double>(seq_len);
  const double q = pooled_query_tokens(c, seq_len, target_fraction * S);
  for (std::size_t l = 0; l < c.num_hidden_layers; ++l) f += layer_forward_flops(c, l, q, l == 0 ? S : q);
  return f / S + head;
}

/// Training (forward + backward) FLOPs per input token: 3 x forward.
inline double training_flops_per_token(const model::bert_config& c, std::size_t seq_len, double target_fraction) {
  return 3.0 * forward_flops_per_token(c, seq_len, target_fraction);
}

}  // namespace growth::reference
