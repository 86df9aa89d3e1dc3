#include <doctest/doctest.h>

#include <growth/adapters/raw.hpp>
#include <growth/core/index_map.hpp>

#include <span>
#include <vector>

#include "adapter_test_util.hpp"

using namespace growth;
using adapter_test::map_kind;

TEST_CASE_TEMPLATE("raw: pointer, strided, span and vector views equal growth::tensor", T, float, double) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    rng r(seed, 29);
    const std::size_t n0 = 1 + r.below(9), n1 = 1 + r.below(9), m0 = 1 + r.below(12), m1 = 1 + r.below(12);
    const auto in = adapter_test::random_tensor<T, 2>(r, {n0, n1});
    for (map_kind k : {map_kind::rows, map_kind::cols, map_kind::both}) {
      CAPTURE(seed);
      CAPTURE(adapter_test::name(k));
      const auto m = adapter_test::random_map(r, k, n0, n1, m0, m1);
      const auto want = adapter_test::reference(m, in);
      const auto oe = m.out_extents();
      const std::size_t on = oe[0] * oe[1];

      // raw pointers, row-major
      std::vector<T> out(on, T(-1));
      apply(m, raw_view(in.data(), {n0, n1}), raw_view(out.data(), oe), "raw");
      CHECK(out == want.storage());

      // input stored transposed (column-major) and read through strides; output through a span
      std::vector<T> tin(n0 * n1);
      for (std::size_t i = 0; i < n0; ++i)
        for (std::size_t j = 0; j < n1; ++j) tin[j * n0 + i] = in(i, j);
      std::vector<T> out2(on, T(-1));
      apply(m, raw_view(std::as_const(tin), {n0, n1}, {1, std::ptrdiff_t(n0)}), raw_view(std::span<T>(out2), oe));
      CHECK(out2 == want.storage());

      // output with padded rows, written through a strided view over a vector
      const std::size_t ld = oe[1] + 2;
      std::vector<T> out3(oe[0] * ld, T(5));
      apply(m, in, raw_view(out3, oe, {std::ptrdiff_t(ld), 1}));
      for (std::size_t i = 0; i < oe[0]; ++i) {
        for (std::size_t j = 0; j < oe[1]; ++j) CHECK(out3[i * ld + j] == want(i, j));
        CHECK(out3[i * ld + oe[1]] == T(5));
      }
    }
  }
}

TEST_CASE("raw: a rank-3 view and a plain loop agree") {
  rng r(11, 0);
  std::vector<float> buf(2 * 3 * 4);
  for (auto& v : buf) v = float(r.normal());
  tensor_map<3> m;
  m.axes[0] = axis_map::identity(2);
  m.axes[1] = adapter_test::random_gather(r, 3, 5);
  m.axes[2] = axis_map::identity(4);
  std::vector<float> out(2 * 5 * 4);
  apply(m, raw_view(std::as_const(buf), {2, 3, 4}), raw_view(out, {2, 5, 4}));
  const auto& am = m.axes[1];
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t c = 0; c < 4; ++c) {
        const std::size_t e = am.offsets()[i];
        const float want = am.row_size(i) == 0
                               ? 0.0f
                               : buf[(a * 3 + std::size_t(am.index()[e])) * 4 + c] * float(am.weight()[e]);
        CHECK(out[(a * 5 + i) * 4 + c] == want);
      }
}

TEST_CASE("raw: bad input throws growth::error naming the problem") {
  std::vector<float> v(12);
  CHECK_THROWS_WITH_AS(raw_view(v, {3, 5}), doctest::Contains("raw_view buffer size: expected 15 elements for extents [3, 5], got 12"),
                       growth::error);
  CHECK_THROWS_WITH_AS(raw_view(v, {3, 4}, {5, 1}), doctest::Contains("at least 14 elements"), growth::error);
  CHECK_THROWS_WITH_AS(raw_view(v.data(), {3, 4}, {-4, 1}), doctest::Contains("raw_view stride 0"), growth::error);
  CHECK_THROWS_WITH_AS(raw_view(static_cast<float*>(nullptr), {2, 2}), doctest::Contains("raw_view data"), growth::error);
  CHECK_NOTHROW(raw_view(static_cast<float*>(nullptr), {0, 2}));
  CHECK_NOTHROW(raw_view(v, {3, 4}, {1, 3}));
  const auto w = raw_view(v, {4, 3});
  CHECK(w.data() == v.data());
  CHECK(w.strides() == std::array<std::ptrdiff_t, 2>{3, 1});
}
