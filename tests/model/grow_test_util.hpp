#pragma once
// Shared helpers of the whole-model growth tests: random small configs, randomised reference BERTs,
// growing one reference BERT into another, and the logits comparison.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/model/grow.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>

#include "../reference/common.hpp"

namespace growth::test {

using model::bert_config;
using ref_bert = reference::bert<float>;

/// A random small config: heads in [1, 3], head size in {2, 4}, 1..3 layers, FFN 4..12, dropout off
/// (growth is checked in evaluation mode; the training tests set their own dropout).
inline bert_config random_config(std::uint64_t seed) {
  rng r(seed, 0xc0f1);
  bert_config c = tiny_config();
  c.num_attention_heads = 1 + r.below(3);
  c.hidden_size = c.num_attention_heads * (r.below(2) == 0 ? 2 : 4);
  c.num_hidden_layers = 1 + r.below(3);
  c.intermediate_size = 4 + r.below(9);
  c.vocab_size = 20 + r.below(20);
  c.max_position_embeddings = 8 + r.below(9);
  return c;
}

/// Fills every parameter with values far from BERT's init (non-zero biases, LayerNorm gains around 1),
/// so exactness cannot come from zeros or ones in the source model.
inline void randomize(ref_bert& m, std::uint64_t seed) {
  auto p = m.flat_params();
  const auto& lay = m.layout();
  for (std::size_t i = 0; i < lay.specs.size(); ++i) {
    const auto& s = lay.specs[i];
    rng r(seed, 1000 + i);
    const bool gain = s.is_layernorm() && s.name.ends_with(".weight");
    for (std::size_t j = 0; j < s.numel(); ++j) {
      const double z = r.normal();
      p[lay.offsets[i] + j] = static_cast<float>(gain ? 1.0 + 0.3 * z : 0.3 * z);
    }
  }
}

inline std::unique_ptr<ref_bert> random_model(const bert_config& c, std::uint64_t seed) {
  auto m = std::make_unique<ref_bert>(c);
  randomize(*m, seed);
  return m;
}

/// Grows `small` (config from) into a new reference BERT of config `to`.
inline std::unique_ptr<ref_bert> grow_model(ref_bert& small, const bert_config& to, const model::grow_options& o,
                                            model::exactness* ex = nullptr) {
  auto big = std::make_unique<ref_bert>(to);
  auto src = small.parameters();
  auto dst = big->parameters();
  auto e = model::grow(small.config(), src, to, dst, o);
  if (ex) *ex = e;
  return big;
}

/// max |logits_a - logits_b| / max |logits_a| on batch b (evaluation mode: dropout off).
inline double relative_logit_diff(ref_bert& a, ref_bert& b, const model::mlm_batch& bt) {
  std::vector<float> la, lb;
  a.evaluate(bt, &la);
  b.evaluate(bt, &lb);
  REQUIRE(la.size() == lb.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    num = std::max(num, static_cast<double>(std::fabs(la[i] - lb[i])));
    den = std::max(den, static_cast<double>(std::fabs(la[i])));
  }
  return den > 0 ? num / den : num;
}

/// A batch of 3 sequences of length min(P, 7) with padding at the end of the last one.
inline model::mlm_batch grow_batch(const bert_config& c, std::uint64_t seed) {
  const std::size_t s = std::min<std::size_t>(c.max_position_embeddings, 7);
  return random_batch(c, 3, s, 2, seed);
}

/// Checks that growing a random model of config `from` into `to` preserves the logits.
inline void check_exact(const bert_config& from, const bert_config& to, const model::grow_options& o,
                        std::uint64_t seed) {
  auto small = random_model(from, seed);
  model::exactness ex;
  auto big = grow_model(*small, to, o, &ex);
  CHECK(ex.exact);
  CHECK(model::check_growth(from, to, o).exact);
  const double d = relative_logit_diff(*small, *big, grow_batch(from, seed + 17));
  INFO("seed " << seed << " L " << from.num_hidden_layers << "->" << to.num_hidden_layers << " H "
               << from.hidden_size << "->" << to.hidden_size << " A " << from.num_attention_heads << "->"
               << to.num_attention_heads << " I " << from.intermediate_size << "->" << to.intermediate_size
               << " P " << from.max_position_embeddings << "->" << to.max_position_embeddings);
  CHECK(d < 1e-4);
}

}  // namespace growth::test
