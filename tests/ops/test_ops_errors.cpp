// Bad input: every operator throws growth::error naming the argument, the expected and the actual value,
// before writing anything.
#include <doctest/doctest.h>

#include <growth/ops.hpp>

#include <algorithm>
#include <vector>

using namespace growth;

TEST_CASE("shrinking is refused by every builder") {
  CHECK_THROWS_WITH_AS(ffn_split(8, 6, ffn_mode::split),
                       "ffn_split new size: expected >= old size 8 (cannot shrink), got 6", growth::error);
  CHECK_THROWS_WITH_AS(hidden_replicate(8, 4), "hidden_replicate new size: expected >= old size 8 (cannot shrink), got 4",
                       growth::error);
  CHECK_THROWS_WITH_AS(hidden_mean_pad(8, 7), doctest::Contains("cannot shrink"), growth::error);
  CHECK_THROWS_WITH_AS(heads_add(4, 3, 8), "heads_add new heads: expected >= old heads 4 (cannot shrink), got 3",
                       growth::error);
  CHECK_THROWS_WITH_AS(heads_duplicate(4, 2, 8), doctest::Contains("cannot shrink"), growth::error);
  CHECK_THROWS_WITH_AS(position_grow(512, 128, length_mode::tile),
                       "position_grow new positions: expected >= old positions 512 (cannot shrink), got 128",
                       growth::error);
  CHECK_THROWS_WITH_AS(plan_depth(6, 3, depth_mode::stack),
                       "plan_depth new_layers: expected >= old_layers 6 (depth cannot shrink), got 3", growth::error);
  CHECK_THROWS_WITH_AS(ffn_unshare(8, 0), "ffn_unshare k: expected at least 1, got 0", growth::error);
  CHECK_THROWS_WITH_AS(mean_pool(10, 0), "mean_pool k (pool size): expected at least 1, got 0", growth::error);
}

TEST_CASE("non-integer ratios and non-dividing heads") {
  CHECK_THROWS_WITH_AS(hidden_replicate(512, 768), "hidden_replicate new size: expected a multiple of old size 512, got 768",
                       growth::error);
  CHECK_THROWS_WITH_AS(head_size(768, 5), "attention heads: expected a divisor of the channel count 768, got 5",
                       growth::error);
  CHECK(head_size(768, 12) == 64);
  std::vector<std::uint8_t> mask(7, 1);
  CHECK_THROWS_WITH_AS(mean_pool(8, 2, mask), "mean_pool valid mask: expected 8 entries (one per token), got 7",
                       growth::error);
}

TEST_CASE("shape errors are thrown before anything is written") {
  const auto m = ffn_split(4, 6, ffn_mode::split);
  tensor<float, 2> w1({4, 3}, 1.0f), w2({3, 4}, 1.0f);
  tensor<float, 1> b1_bad({5}, 1.0f), b1({4}, 1.0f);
  tensor<float, 2> w1o({6, 3}, -7.0f), w2o({3, 6}, -7.0f), w2o_bad({3, 5}, -7.0f);
  tensor<float, 1> b1o({6}, -7.0f);
  auto untouched = [&] {
    return std::all_of(w1o.storage().begin(), w1o.storage().end(), [](float v) { return v == -7.0f; }) &&
           std::all_of(b1o.storage().begin(), b1o.storage().end(), [](float v) { return v == -7.0f; });
  };
  // weight / bias mismatch
  CHECK_THROWS_WITH_AS(ffn_grow(m, w1, b1_bad, w2, w1o, b1o, w2o),
                       "ffn_grow b1 (bias of W1) (input shape [I]): expected [4], got [5]", growth::error);
  CHECK(untouched());
  // wrong output shape (the last tensor): nothing written to the first ones either
  CHECK_THROWS_WITH_AS(ffn_grow(m, w1, b1, w2, w1o, b1o, w2o_bad), "ffn_grow W2 (output shape): expected [3, 6], got [3, 5]",
                       growth::error);
  CHECK(untouched());
  // grow_matrix output shape
  tensor<float, 2> out({5, 3}, -7.0f);
  CHECK_THROWS_WITH_AS(grow_matrix(m.fan_out, axis_map::identity(3), w1, out, "W1"),
                       "W1 (output shape): expected [6, 3], got [5, 3]", growth::error);
  // unfactorize: inner dimensions
  tensor<float, 2> u({4, 2}), v({3, 5}), w({4, 5}, -7.0f);
  CHECK_THROWS_WITH_AS(unfactorize(u, v, w), doctest::Contains("unfactorize V shape: expected [2, *]"), growth::error);
  tensor<float, 2> v2({2, 5}), wbad({4, 4});
  CHECK_THROWS_WITH_AS(unfactorize(u, v2, wbad), "unfactorize W (output shape): expected [4, 5], got [4, 4]",
                       growth::error);
  // depth: layer-norm beta shape differs from gamma
  const auto p = plan_depth(2, 4, depth_mode::identity);
  tensor<float, 2> g({2, 3}), be({2, 4}), go({4, 3}, -7.0f), bo({4, 3}, -7.0f);
  CHECK_THROWS_WITH_AS(grow_layer_norms(p, depth_part::output_ln, g, be, go, bo),
                       "layer_norm beta shape: expected [2, 3], got [2, 4]", growth::error);
  CHECK(go(0, 0) == -7.0f);
  // depth: tensor with the wrong number of layers
  tensor<float, 2> wl({3, 3}), wlo({4, 3});
  CHECK_THROWS_WITH_AS(grow_layers(p, wl, wlo, false), doctest::Contains("old layers"), growth::error);
  // fill_fresh: mask length
  tensor<float, 2> f({3, 2});
  CHECK_THROWS_WITH_AS(fill_fresh(f, 0, std::vector<bool>(2, true), 1, 1, 0.1, "Wq"),
                       "Wq slice mask: expected 3 entries (extent of axis 0), got 2", growth::error);
}

TEST_CASE("one vocabulary: names tables round trip, CLI spellings parse, ffn_split refuses the exit operators") {
  for (auto m : {ffn_mode::split, ffn_mode::split_random, ffn_mode::split_asym, ffn_mode::unshare, ffn_mode::unfactorize})
    CHECK(ffn_mode_names.parse(to_string(m)) == m);
  // The operator-level spellings are the same values.
  CHECK(ffn_mode::split == ffn_mode::split);
  CHECK(ffn_mode::split_asym == ffn_mode::split_asym);
  CHECK(to_string(ffn_mode::split_random) == "split_random");
  CHECK(parse_option(ffn_mode_names, "split-asym") == ffn_mode::split_asym);
  CHECK(parse_option(hidden_mode_names, "mean-pad") == hidden_mode::mean_pad);
  CHECK(cli_spelling(to_string(hidden_mode::mean_pad)) == "mean-pad");
  CHECK_FALSE(parse_option(depth_mode_names, "stacked").has_value());
  CHECK(depth_mode_names.alternatives() == "\"stack\", \"interpolate\" or \"identity\"");
  CHECK_THROWS_WITH_AS(ffn_split(4, 8, ffn_mode::unshare), "ffn_split mode: expected split, split_random or split_asym, got unshare",
                       growth::error);
}
