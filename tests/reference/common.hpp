#pragma once
// Shared helpers of the reference BERT tests: tiny configs and batches.
#include <growth/core/random.hpp>
#include <growth/model/bert_config.hpp>
#include <growth/reference/batch.hpp>

namespace growth::test {

/// The tiny config of the gradient check and the golden file: L=2, H=8, A=2, I=16, V=23, dropout off.
inline model::bert_config tiny_config() {
  model::bert_config c;
  c.vocab_size = 23;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  c.type_vocab_size = 2;
  c.hidden_dropout_prob = 0;
  c.attention_probs_dropout_prob = 0;
  c.layer_norm_eps = 1e-12;
  return c;
}

/// Tiny low-cost config: layer 0 factorised (rank 3), layer 1 shared (I/2), layer 2 standard.
inline model::bert_config tiny_lowcost_config() {
  auto c = tiny_config();
  c.num_hidden_layers = 3;
  c.ffn_factorized_layers = {0};
  c.ffn_rank = 3;
  c.ffn_shared_layers = {1};
  c.ffn_share_factor = 2;
  return c;
}

/// B x S batch with random ids in [first_id, V), random types, the last `pad` tokens of the last
/// sequence padded (mask 0), and about a third of the positions as targets (at least one).
inline reference::batch random_batch(const model::bert_config& c, std::size_t b, std::size_t s, std::size_t pad,
                                     std::uint64_t seed, std::int32_t first_id = 1) {
  reference::batch bt(b, s);
  rng r(seed, 99);
  const auto span = static_cast<std::uint64_t>(static_cast<std::int32_t>(c.vocab_size) - first_id);
  for (std::size_t i = 0; i < bt.tokens(); ++i) {
    bt.input_ids[i] = first_id + static_cast<std::int32_t>(r.below(span));
    bt.token_type_ids[i] = static_cast<std::int32_t>(r.below(c.type_vocab_size));
    if (r.uniform() < 0.35 || i == 1) bt.labels[i] = static_cast<std::int32_t>(r.below(c.vocab_size));
  }
  for (std::size_t j = 0; j < pad && j < s; ++j) bt.attention_mask[bt.tokens() - 1 - j] = 0;
  return bt;
}

}  // namespace growth::test
