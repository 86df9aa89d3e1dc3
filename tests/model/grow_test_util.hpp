#pragma once
// The exactness check of the whole-model growth tests; the configs, random models, growing and the logits
// comparison it uses are in tests/support/.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <ostream>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/model/grow.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>

#include "support/batches.hpp"
#include "support/configs.hpp"
#include "support/models.hpp"

namespace growth::test {

/// Prints a transition's shapes for INFO: " L 2->3 H 8->16 A 2->4 I 12->25 P 9->13".
struct transition {
  const bert_config& from;
  const bert_config& to;
};
inline std::ostream& operator<<(std::ostream& os, const transition& t) {
  return os << " L " << t.from.num_hidden_layers << "->" << t.to.num_hidden_layers << " H " << t.from.hidden_size
            << "->" << t.to.hidden_size << " A " << t.from.num_attention_heads << "->" << t.to.num_attention_heads
            << " I " << t.from.intermediate_size << "->" << t.to.intermediate_size << " P "
            << t.from.max_position_embeddings << "->" << t.to.max_position_embeddings;
}

/// Checks that growing a random model of config `from` into `to` preserves the logits.
inline void check_exact(const bert_config& from, const bert_config& to, const growth::grow_options& o,
                        std::uint64_t seed) {
  auto small = random_model(from, seed);
  model::exactness ex;
  auto big = grow_model(*small, to, o, &ex);
  CHECK(ex.exact);
  CHECK(model::check_growth(from, to, o).exact);
  const double d = relative_logit_diff(*small, *big, grow_batch(from, seed + 17));
  INFO("seed " << seed << transition{from, to});
  CHECK(d < 1e-4);
}

}  // namespace growth::test
