#include <doctest/doctest.h>

#include <growth/adapters/eigen.hpp>
#include <growth/core/index_map.hpp>

#include <vector>

#include "adapter_test_util.hpp"

using namespace growth;
using adapter_test::map_kind;

namespace {

template <class M, class T>
void fill_from(M& dst, const tensor<T, 2>& src) {
  for (Eigen::Index i = 0; i < dst.rows(); ++i)
    for (Eigen::Index j = 0; j < dst.cols(); ++j) dst(i, j) = src(std::size_t(i), std::size_t(j));
}
template <class M, class T>
void check_equal(const M& got, const tensor<T, 2>& want) {
  REQUIRE(std::size_t(got.rows()) == want.extent(0));
  REQUIRE(std::size_t(got.cols()) == want.extent(1));
  for (Eigen::Index i = 0; i < got.rows(); ++i)
    for (Eigen::Index j = 0; j < got.cols(); ++j) CHECK(got(i, j) == want(std::size_t(i), std::size_t(j)));
}

}  // namespace

TEST_CASE_TEMPLATE("eigen: maps on every storage equal the map on growth::tensor", T, float, double) {
  using ColM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using RowM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    rng r(seed, 17);
    const std::size_t n0 = 1 + r.below(9), n1 = 1 + r.below(9), m0 = 1 + r.below(12), m1 = 1 + r.below(12);
    const auto in = adapter_test::random_tensor<T, 2>(r, {n0, n1});
    for (map_kind k : {map_kind::rows, map_kind::cols, map_kind::both}) {
      CAPTURE(seed);
      CAPTURE(adapter_test::name(k));
      const auto m = adapter_test::random_map(r, k, n0, n1, m0, m1);
      const auto want = adapter_test::reference(m, in);
      const auto oe = m.out_extents();
      const auto r0 = Eigen::Index(oe[0]), c0 = Eigen::Index(oe[1]);

      SUBCASE("row-major in and out") {
        RowM a(n0, n1), b(r0, c0);
        fill_from(a, in);
        apply(m, a, b, "row-major");
        check_equal(b, want);
      }
      SUBCASE("column-major in and out, const input") {
        ColM a(n0, n1), b(r0, c0);
        fill_from(a, in);
        const ColM& ca = a;
        apply(m, ca, b, "column-major");
        check_equal(b, want);
      }
      SUBCASE("mixed orders: row-major in, column-major out") {
        RowM a(n0, n1);
        ColM b(r0, c0);
        fill_from(a, in);
        apply(m, a, b);
        check_equal(b, want);
      }
      SUBCASE("Map with outer stride (padded rows) in and out, as temporaries") {
        const Eigen::Index pad_in = 3, pad_out = 5;
        std::vector<T> bin(n0 * (n1 + pad_in), T(7)), bout(oe[0] * (oe[1] + pad_out), T(7));
        using MapR = Eigen::Map<RowM, 0, Eigen::OuterStride<>>;
        using CMapR = Eigen::Map<const RowM, 0, Eigen::OuterStride<>>;
        MapR a(bin.data(), n0, n1, Eigen::OuterStride<>(Eigen::Index(n1) + pad_in));
        fill_from(a, in);
        apply(m, CMapR(bin.data(), n0, n1, Eigen::OuterStride<>(Eigen::Index(n1) + pad_in)),
              MapR(bout.data(), r0, c0, Eigen::OuterStride<>(c0 + pad_out)), "map");
        check_equal(MapR(bout.data(), r0, c0, Eigen::OuterStride<>(c0 + pad_out)), want);
        for (std::size_t i = 0; i < oe[0]; ++i)  // padding untouched
          for (std::size_t j = oe[1]; j < oe[1] + std::size_t(pad_out); ++j) CHECK(bout[i * (oe[1] + pad_out) + j] == T(7));
      }
      SUBCASE("Map with inner and outer stride (column-major, every other element)") {
        std::vector<T> bin(2 * n0 * n1 + 1);
        using MapS = Eigen::Map<ColM, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
        MapS a(bin.data(), n0, n1, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(2 * Eigen::Index(n0), 2));
        fill_from(a, in);
        ColM b(r0, c0);
        apply(m, a, b);
        check_equal(b, want);
      }
      SUBCASE("Ref and Block") {
        ColM big(n0 + 2, n1 + 3), out(r0 + 1, c0 + 1);
        big.setZero();
        out.setConstant(T(7));
        auto blk = big.block(1, 2, Eigen::Index(n0), Eigen::Index(n1));
        fill_from(blk, in);
        Eigen::Ref<const ColM> ref_in = blk;
        Eigen::Ref<ColM> ref_out = out.topLeftCorner(r0, c0);
        apply(m, ref_in, ref_out, "ref");
        check_equal(ref_out, want);
        CHECK(out(r0, c0) == T(7));
      }
      SUBCASE("Array") {
        Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic> a(n0, n1), b(r0, c0);
        fill_from(a, in);
        apply(m, a, b);
        check_equal(b, want);
      }
    }
  }
}

TEST_CASE("eigen: compile-time vectors are rank 1, with their inner stride") {
  rng r(3, 1);
  const auto in = adapter_test::random_tensor<float, 1>(r, {7});
  tensor_map<1> m;
  m.axes[0] = adapter_test::random_gather(r, 7, 11);
  const auto want = adapter_test::reference(m, in);

  Eigen::VectorXf v(7);
  for (int i = 0; i < 7; ++i) v(i) = in(std::size_t(i));
  Eigen::RowVectorXf out(11);
  apply(m, v, out);
  for (int i = 0; i < 11; ++i) CHECK(out(i) == want(std::size_t(i)));

  // a row of a column-major matrix: stride = number of rows
  Eigen::MatrixXf mat = Eigen::MatrixXf::Zero(3, 11);
  apply(m, v, mat.row(1));
  CHECK(growth::view(mat.row(1)).stride(0) == 3);
  for (int i = 0; i < 11; ++i) {
    CHECK(mat(1, i) == want(std::size_t(i)));
    CHECK(mat(0, i) == 0.0f);
  }
}

TEST_CASE("eigen: view() reports the layout and shape errors name the tensor") {
  Eigen::Matrix<double, 3, 4, Eigen::RowMajor> rm;
  Eigen::Matrix<double, 3, 4> cm;
  auto vr = growth::view(rm);
  auto vc = growth::view(cm);
  CHECK(vr.extents() == std::array<std::size_t, 2>{3, 4});
  CHECK(vc.extents() == std::array<std::size_t, 2>{3, 4});
  CHECK(vr.strides() == std::array<std::ptrdiff_t, 2>{4, 1});
  CHECK(vc.strides() == std::array<std::ptrdiff_t, 2>{1, 3});
  CHECK(vr.is_contiguous());
  CHECK_FALSE(vc.is_contiguous());
  CHECK(vr.data() == rm.data());
  // transpose() is a zero-copy view with the strides swapped
  auto vt = growth::view(cm.transpose());
  CHECK(vt.extents() == std::array<std::size_t, 2>{4, 3});
  CHECK(vt.strides() == std::array<std::ptrdiff_t, 2>{3, 1});
  CHECK(vt.data() == cm.data());

  Eigen::MatrixXf a(3, 4), b(3, 5);
  auto m = tensor_map<2>::along({3, 4}, 0, axis_map::identity(3));
  CHECK_THROWS_WITH_AS(apply(m, a, b, "W_eigen"), doctest::Contains("W_eigen (output shape): expected [3, 4], got [3, 5]"),
                       growth::error);
}
