#pragma once
// Reference BERTs with random parameters, growing one into another, and comparing their logits.
// Needs doctest (REQUIRE) and the reference layer (Eigen).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/model/grow.hpp>
#include <growth/reference/bert.hpp>

#include "batches.hpp"
#include "configs.hpp"

namespace growth::test {

using model::bert_config;
using ref_bert = reference::bert<float>;

// The two randomisations below are different on purpose (and pinned by the tests that use them): the
// double one feeds the gradient check and golden-free reference tests, the float one the growth tests.

/// Gradient-check parameters (double): one stream rng(seed, 7), spread 0.4, larger than BERT init so every
/// nonlinearity is exercised and gradients are not tiny; LayerNorm weights around 1.
inline void randomize(reference::bert<double>& m, std::uint64_t seed) {
  rng r(seed, 7);
  const auto& L = m.layout();
  auto p = m.flat_params();
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    const bool ln_weight = L.specs[i].is_layernorm() && L.specs[i].name.ends_with(".weight");
    for (std::size_t j = 0; j < L.specs[i].numel(); ++j)
      p[L.offsets[i] + j] = (ln_weight ? 1.0 : 0.0) + 0.4 * r.normal();
  }
}

/// Growth-test parameters (float): one stream rng(seed, 1000 + i) per tensor i, spread 0.3, far from BERT's
/// init (non-zero biases, LayerNorm gains around 1), so exactness cannot come from zeros or ones in the
/// source model.
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
inline std::unique_ptr<ref_bert> grow_model(ref_bert& small, const bert_config& to, const growth::grow_options& o,
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

/// Grows a random model of config `from` (parameters from `seed`) into `to` and returns
/// relative_logit_diff on grow_batch(from, seed + 17); `ex` receives grow()'s exactness claim.
inline double grow_and_measure(const bert_config& from, const bert_config& to, const growth::grow_options& o,
                               std::uint64_t seed, model::exactness* ex = nullptr) {
  auto small = random_model(from, seed);
  auto big = grow_model(*small, to, o, ex);
  return relative_logit_diff(*small, *big, grow_batch(from, seed + 17));
}

}  // namespace growth::test
