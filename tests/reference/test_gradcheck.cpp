// Gradient check of every parameter of reference::bert<double> against central finite differences
// (growth::test::gradcheck in common.hpp: stencil and criteria there). Every entry of every parameter is
// checked (the models are tiny).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <growth/reference/bert.hpp>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using growth::reference::bert;
using growth::test::gradcheck;
using growth::test::randomize;

}  // namespace

TEST_CASE("reference bert: gradient check of every parameter, standard config") {
  const auto c = growth::test::tiny_config();
  for (std::uint64_t seed : {1u, 2u}) {
    const auto b = growth::test::random_batch(c, 2, 7, 2, seed);
    const auto r = gradcheck(c, b, seed, 0);
    MESSAGE("seed " << seed << ": " << r.checked << " entries, worst entry relative error " << r.worst_rel << " at "
                    << r.worst_name << ", worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
    CHECK(r.worst_tensor_rel <= 1e-6);
    CHECK(r.checked == growth::model::parameter_count(c));
    CHECK(r.failed == 0);
  }
}

TEST_CASE("reference bert: gradient check, shared and factorised FFN layers") {
  const auto c = growth::test::tiny_lowcost_config();
  const auto b = growth::test::random_batch(c, 2, 7, 2, 3);
  const auto r = gradcheck(c, b, 3, 0);
  MESSAGE(r.checked << " entries, worst entry relative error " << r.worst_rel << " at " << r.worst_name
                    << ", worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
  CHECK(r.worst_tensor_rel <= 1e-6);
  CHECK(r.failed == 0);
}

TEST_CASE("reference bert: gradient check with dropout on (fixed seed fixes the masks)") {
  auto c = growth::test::tiny_config();
  c.hidden_dropout_prob = 0.2;
  c.attention_probs_dropout_prob = 0.25;
  const auto b = growth::test::random_batch(c, 2, 7, 1, 4);
  const auto r = gradcheck(c, b, 4, 12345);
  MESSAGE(r.checked << " entries, worst entry relative error " << r.worst_rel << " at " << r.worst_name
                    << ", worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
  CHECK(r.worst_tensor_rel <= 1e-6);
  CHECK(r.failed == 0);
}

// Pre-LN (config pre_layer_norm): LN1 before attention, LN2 before the FFN, a final LayerNorm before the
// head. Every parameter, including bert.LayerNorm.*, against finite differences.
TEST_CASE("reference bert: gradient check, pre-LN (standard, low-cost, dropout, pooled)") {
  struct variant {
    const char* what;
    growth::model::bert_config c;
    std::uint64_t dropout_seed;
  };
  auto standard = growth::test::tiny_config();
  standard.pre_layer_norm = true;
  auto lowcost = growth::test::tiny_lowcost_config();
  lowcost.pre_layer_norm = true;
  auto dropout = standard;
  dropout.hidden_dropout_prob = 0.2;
  dropout.attention_probs_dropout_prob = 0.25;
  auto pooled = lowcost;
  pooled.pool_size = 2;
  const variant variants[] = {{"standard", standard, 0}, {"shared + factorised FFN", lowcost, 0},
                              {"dropout", dropout, 777}, {"pooled (k = 2) + low-cost FFN", pooled, 0}};
  for (const auto& v : variants) {
    CAPTURE(v.what);
    const auto b = growth::test::random_batch(v.c, 2, 7, 2, 5);
    const auto r = gradcheck(v.c, b, 5, v.dropout_seed);
    MESSAGE("pre-LN " << std::string(v.what) << ": " << r.checked << " entries, worst entry relative error " << r.worst_rel
                      << " at " << r.worst_name << ", worst tensor relative error " << r.worst_tensor_rel << " at "
                      << r.worst_tensor);
    CHECK(r.worst_tensor_rel <= 1e-6);
    CHECK(r.checked == growth::model::parameter_count(v.c));
    CHECK(r.failed == 0);
  }
  // The final LayerNorm is part of the layout only in pre-LN.
  bert<double> m(standard);
  CHECK(m.parameters().find("bert.LayerNorm.weight") != nullptr);
  CHECK(m.parameters().find("bert.encoder.layer.0.attention.LayerNorm.weight") != nullptr);
  CHECK(m.parameters().find("bert.encoder.layer.0.intermediate.LayerNorm.bias") != nullptr);
  CHECK(m.parameters().find("bert.encoder.layer.0.output.LayerNorm.weight") == nullptr);
  bert<double> post(growth::test::tiny_config());
  CHECK(post.parameters().find("bert.LayerNorm.weight") == nullptr);
}
