#pragma once
/// @file decoder_flops.hpp
/// FLOP model of one training step of the reference causal LM (causal_lm.hpp), on its decoder_config, in the
/// convention of model/flops.hpp (a matmul of (n x a) by (a x b) costs 2 n a b; only matmuls count; training
/// = 3 x forward). Counts the products the reference computes. Per token row of a sequence of S tokens,
/// hidden H, query width A = heads x head_dim, key/value width K, FFN width I:
///   projections   2 H (A + 2K)  (q, k, v; GPT-2's fused c_attn is the same product) + 2 A H (o_proj / c_proj)
///   attention     2 * 2 S A     (scores q k^T and context p v over all S keys: the reference computes the
///                                full S x S product and masks it, so the causal half is not discounted)
///   FFN           3 * 2 H I (SwiGLU: gate, up, down) or 2 * 2 H I (GPT-2: c_fc, c_proj)
/// and the head 2 H V on each scored row (a fraction f of the tokens: the rows whose next label counts).
#include <cstddef>

#include "../model/decoder_config.hpp"

namespace growth::reference {

/// Forward FLOPs per input token; scored_fraction = scored next-token targets / tokens.
inline double forward_flops_per_token(const model::decoder_config& c, std::size_t seq_len, double scored_fraction) {
  const auto d = [](std::size_t v) { return static_cast<double>(v); };
  const double H = d(c.hidden_size), A = d(c.attn_width()), K = d(c.kv_width()), I = d(c.intermediate_size);
  const double layer = 2.0 * H * (A + 2.0 * K) + 2.0 * A * H + 4.0 * d(seq_len) * A + (c.is_gpt2() ? 4.0 : 6.0) * H * I;
  return d(c.num_hidden_layers) * layer + scored_fraction * 2.0 * H * d(c.vocab_size);
}

/// Training (forward + backward) FLOPs per input token: 3 x forward.
inline double training_flops_per_token(const model::decoder_config& c, std::size_t seq_len, double scored_fraction) {
  return 3.0 * forward_flops_per_token(c, seq_len, scored_fraction);
}

}  // namespace growth::reference
