#include <doctest/doctest.h>

#include <growth/adapters/xtensor.hpp>
#include <growth/core/index_map.hpp>

#include <algorithm>
#include <array>
#include <vector>

#include "adapter_test_util.hpp"

using namespace growth;
using adapter_test::map_kind;

namespace {
template <class X, class T>
void fill_from(X& dst, const tensor<T, 2>& src) {
  for (std::size_t i = 0; i < src.extent(0); ++i)
    for (std::size_t j = 0; j < src.extent(1); ++j) dst(i, j) = src(i, j);
}
template <class X, class T>
void check_equal(const X& got, const tensor<T, 2>& want) {
  REQUIRE(got.shape()[0] == want.extent(0));
  REQUIRE(got.shape()[1] == want.extent(1));
  for (std::size_t i = 0; i < want.extent(0); ++i)
    for (std::size_t j = 0; j < want.extent(1); ++j) CHECK(got(i, j) == want(i, j));
}
}  // namespace

TEST_CASE_TEMPLATE("xtensor: maps on xtensor, column-major, adapt and xarray equal growth::tensor", T, float, double) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    rng r(seed, 41);
    const std::size_t n0 = 1 + r.below(9), n1 = 1 + r.below(9), m0 = 1 + r.below(12), m1 = 1 + r.below(12);
    const auto in = adapter_test::random_tensor<T, 2>(r, {n0, n1});
    for (map_kind k : {map_kind::rows, map_kind::cols, map_kind::both}) {
      CAPTURE(seed);
      CAPTURE(adapter_test::name(k));
      const auto m = adapter_test::random_map(r, k, n0, n1, m0, m1);
      const auto want = adapter_test::reference(m, in);
      const auto oe = m.out_extents();

      SUBCASE("xt::xtensor row-major, const input") {
        xt::xtensor<T, 2> a(std::array<std::size_t, 2>{n0, n1});
        xt::xtensor<T, 2> b(std::array<std::size_t, 2>{oe[0], oe[1]});
        fill_from(a, in);
        const auto& ca = a;
        apply(m, ca, b, "xtensor");
        check_equal(b, want);
      }
      SUBCASE("xt::xtensor column-major") {
        xt::xtensor<T, 2, xt::layout_type::column_major> a(std::array<std::size_t, 2>{n0, n1});
        xt::xtensor<T, 2, xt::layout_type::column_major> b(std::array<std::size_t, 2>{oe[0], oe[1]});
        fill_from(a, in);
        apply(m, a, b);
        check_equal(b, want);
      }
      SUBCASE("xt::adapt over a pointer and a std::vector") {
        std::vector<T> vin(in.storage()), vout(oe[0] * oe[1], T(-1));
        auto a = xt::adapt(vin.data(), vin.size(), xt::no_ownership(), std::array<std::size_t, 2>{n0, n1});
        auto b = xt::adapt(vout, std::array<std::size_t, 2>{oe[0], oe[1]});
        apply(m, a, b);
        CHECK(vout == want.storage());
      }
      SUBCASE("xt::xarray through xt_view") {
        auto a = xt::xarray<T>::from_shape({n0, n1});
        auto b = xt::xarray<T>::from_shape({oe[0], oe[1]});
        fill_from(a, in);
        apply(m, xt_view<2>(std::as_const(a)), xt_view<2>(b));
        check_equal(b, want);
      }
    }
  }
}

TEST_CASE("xtensor: rank 3 with a gather on the middle axis, and xt_view checks the rank") {
  rng r(5, 2);
  const auto in = adapter_test::random_tensor<float, 3>(r, {2, 3, 4});
  tensor_map<3> m;
  m.axes[0] = axis_map::identity(2);
  m.axes[1] = adapter_test::random_gather(r, 3, 6);
  m.axes[2] = adapter_test::random_gather(r, 4, 5);
  const auto want = adapter_test::reference(m, in);
  xt::xtensor<float, 3> a(std::array<std::size_t, 3>{2, 3, 4});
  std::copy(in.storage().begin(), in.storage().end(), a.begin());
  xt::xtensor<float, 3> b(std::array<std::size_t, 3>{2, 6, 5});
  apply(m, a, b);
  CHECK(std::vector<float>(b.begin(), b.end()) == want.storage());

  auto x = xt::xarray<float>::from_shape({2, 3});
  CHECK_THROWS_WITH_AS(xt_view<3>(x), doctest::Contains("xt_view: expected an xtensor container of rank 3, got rank 2"),
                       growth::error);
  auto v = xt_view<2>(x);
  CHECK(v.data() == x.data());
  CHECK(v.extents() == std::array<std::size_t, 2>{2, 3});
}
