#pragma once
// The masked-LM batches of the tests: random ids, types, padding and targets from a seed.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <growth/core/random.hpp>
#include <growth/model/batch.hpp>
#include <growth/model/bert_config.hpp>

namespace growth::test {

/// B x S batch with random ids in [first_id, V), random types, the last `pad` tokens of the last
/// sequence padded (mask 0), and about a third of the positions as targets (at least one).
inline model::mlm_batch random_batch(const model::bert_config& c, std::size_t b, std::size_t s, std::size_t pad,
                                    std::uint64_t seed, std::int32_t first_id = 1) {
  model::mlm_batch bt(b, s);
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

/// The batch of the growth tests: 3 sequences of length min(P, 7) with padding at the end of the last one.
inline model::mlm_batch grow_batch(const model::bert_config& c, std::uint64_t seed) {
  const std::size_t s = std::min<std::size_t>(c.max_position_embeddings, 7);
  return random_batch(c, 3, s, 2, seed);
}

}  // namespace growth::test
