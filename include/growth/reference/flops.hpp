#pragma once
/// @file flops.hpp
/// FLOP model of one BERT MLM training step of the reference model, on its bert_config: the layer terms of
/// model/flops.hpp (the one FLOP model, also behind the schedule's cost model), summed over the config's
/// layers with each layer's FFN (full, shared with I/k neurons, or factorised). Per input token; a fraction
/// f of the tokens are MLM targets (the head runs on them only), m = f S per sequence.
/// Training = 3 x forward.
#include <cstddef>

#include "../model/bert_config.hpp"
#include "../model/flops.hpp"

namespace growth::reference {

/// Forward FLOPs per input token; target_fraction = MLM targets / tokens.
inline double forward_flops_per_token(const model::bert_config& c, std::size_t seq_len, double target_fraction) {
  const double S = static_cast<double>(seq_len);
  const auto ffn_row = [&c](std::size_t l) {
    return model::flops::ffn_per_row(c.hidden_size, c.layer_intermediate_size(l), c.is_factorized(l) ? c.ffn_rank : 0);
  };
  return model::flops::forward_per_sequence(c.num_hidden_layers, c.hidden_size, c.vocab_size, seq_len, target_fraction * S,
                                            c.pool_size, ffn_row) /
         S;
}

/// Training (forward + backward) FLOPs per input token: 3 x forward.
inline double training_flops_per_token(const model::bert_config& c, std::size_t seq_len, double target_fraction) {
  return 3.0 * forward_flops_per_token(c, seq_len, target_fraction);
}

}  // namespace growth::reference
