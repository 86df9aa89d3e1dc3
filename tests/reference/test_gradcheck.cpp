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
