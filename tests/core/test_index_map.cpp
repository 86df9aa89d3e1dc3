#include <doctest/doctest.h>

#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>

#include <cmath>
#include <cstring>

using namespace growth;

TEST_CASE("axis_map gather with scale and zero rows") {
  tensor<float, 2> in({3, 4});
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j) in(i, j) = float(10 * i + j);
  std::vector<std::int64_t> src{2, -1, 0, 1, 2};
  std::vector<double> sc{1.0, 1.0, 0.5, 2.0, 1.0};
  tensor_map<2> m;
  m.axes[0] = axis_map::gather(3, src, sc);
  m.axes[1] = axis_map::identity(4);
  tensor<float, 2> out({5, 4});
  apply(m, in, out, "t");
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(out(0, j) == in(2, j));
    CHECK(out(1, j) == 0.0f);
    CHECK(out(2, j) == 0.5f * in(0, j));
    CHECK(out(3, j) == 2.0f * in(1, j));
  }
}

TEST_CASE("general path sums rows in order") {
  tensor<double, 2> in({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) in(i, j) = double(i * 3 + j + 1);
  axis_map rows(2);
  rows.begin_row();
  rows.add_entry(0, 0.25);
  rows.add_entry(1, 0.75);
  axis_map cols(3);
  cols.begin_row();
  cols.add_entry(2, 1.0);
  cols.add_entry(0, 1.0);
  tensor_map<2> m{{rows, cols}};
  tensor<double, 2> out({1, 1});
  apply(m, in, out);
  CHECK(out(0, 0) == doctest::Approx(0.25 * (3 + 1) + 0.75 * (6 + 4)));
}

TEST_CASE("shape mismatch names the tensor") {
  tensor<float, 2> in({3, 4}), out({3, 5});
  auto m = tensor_map<2>::along({3, 4}, 0, axis_map::identity(3));
  CHECK_THROWS_WITH_AS(apply(m, in, out, "W1"), doctest::Contains("W1 (output shape): expected [3, 4], got [3, 5]"),
                       growth::error);
}

namespace {

template <class T>
bool same_bits(T x, T y) {
  return std::memcmp(&x, &y, sizeof(T)) == 0;
}

/// The documented arithmetic, entry by entry: weights rounded to compute_t and multiplied in axis order,
/// terms added with one fma each in lexicographic entry order from zero, one rounding to T.
template <class T>
T reference_element(const tensor_map<3>& m, const tensor<T, 3>& in, std::size_t i, std::size_t j, std::size_t k) {
  using C = compute_t<T>;
  const auto& a = m.axes[0];
  const auto& b = m.axes[1];
  const auto& c = m.axes[2];
  C s = C(0);
  for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e)
    for (std::size_t f = b.offsets()[j]; f < b.offsets()[j + 1]; ++f)
      for (std::size_t g = c.offsets()[k]; g < c.offsets()[k + 1]; ++g) {
        const C w = ((C(1) * static_cast<C>(a.weight()[e])) * static_cast<C>(b.weight()[f])) * static_cast<C>(c.weight()[g]);
        const auto x = in(static_cast<std::size_t>(a.index()[e]), static_cast<std::size_t>(b.index()[f]),
                          static_cast<std::size_t>(c.index()[g]));
        s = std::fma(to_compute(x), w, s);
      }
  return from_compute<T>(s);
}

/// An inner axis shaped like the asymmetric FFN split's fan-in, plus every other run kind: long
/// consecutive sources with a weight per slice, long runs of one weight (1 and not 1), zero slices,
/// short pieces, scattered sources.
axis_map mixed_gather(rng& r, std::size_t in) {
  axis_map m(in);
  for (std::size_t piece = 0; piece < 12; ++piece) {
    const auto kind = r.below(5);
    const std::size_t len = kind == 4 ? 1 + r.below(6) : 1 + r.below(40);
    auto s = static_cast<std::int64_t>(r.below(in));
    const double w = r.below(2) ? 1.0 : r.uniform();
    for (std::size_t j = 0; j < len; ++j, s = (s + 1) % static_cast<std::int64_t>(in)) {
      if (kind == 0) m.push_empty_row();
      else if (kind == 1) m.push_row_entry(s, 0.5 + r.uniform());  // per-slice weights
      else if (kind == 2 || kind == 4) m.push_row_entry(s, w);     // one weight
      else m.push_row_entry(static_cast<std::int64_t>(r.below(in)), r.uniform());  // scattered
    }
  }
  return m;
}

/// A leading axis with rows of 0..max_terms entries (interpolation, pooling, mean padding), or a gather.
axis_map leading(rng& r, std::size_t in, std::size_t out, std::size_t max_terms) {
  axis_map m(in);
  for (std::size_t i = 0; i < out; ++i) {
    m.begin_row();
    const std::size_t n = r.below(max_terms + 1);
    for (std::size_t e = 0; e < n; ++e) m.add_entry(static_cast<std::int64_t>(r.below(in)), r.uniform() * 2 - 1);
  }
  return m;
}

template <class T>
void check_against_reference(const tensor_map<3>& m, std::uint64_t seed) {
  const auto ie = m.in_extents(), oe = m.out_extents();
  tensor<T, 3> in(ie);
  rng r(seed, 31);
  for (auto& x : in.storage()) x = T(static_cast<compute_t<T>>(r.normal()));
  tensor<T, 3> got(oe);
  apply(m, in, got);
  // a strided output (last axis stride 2) takes the non-contiguous paths
  tensor<T, 3> wide({oe[0], oe[1], 2 * oe[2]});
  tensor_view<T, 3> ov(wide.data(), oe,
                       {static_cast<std::ptrdiff_t>(oe[1] * 2 * oe[2]), static_cast<std::ptrdiff_t>(2 * oe[2]), 2});
  apply(m, in, ov);
  for (std::size_t i = 0; i < oe[0]; ++i)
    for (std::size_t j = 0; j < oe[1]; ++j)
      for (std::size_t k = 0; k < oe[2]; ++k) {
        const T want = reference_element(m, in, i, j, k);
        REQUIRE(same_bits(got(i, j, k), want));
        REQUIRE(same_bits(ov(i, j, k), want));
      }
}

}  // namespace

TEST_CASE("host executor: every run kind and multi-term rows give the entry-by-entry bits") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    rng r(seed, 17);
    const std::size_t a = 1 + r.below(5), b = 1 + r.below(6), c = 8 + r.below(60);
    const std::size_t ao = 1 + r.below(5), bo = 1 + r.below(6);
    const auto max_terms = static_cast<std::size_t>(seed % 4 == 0 ? 9 : 3);  // > 4: passes chain
    const bool lead_gather = seed % 3 == 0;
    tensor_map<3> m;
    m.axes[0] = lead_gather ? axis_map::identity(a) : leading(r, a, ao, max_terms);
    m.axes[1] = leading(r, b, bo, lead_gather ? 1 : max_terms);
    m.axes[2] = seed % 2 ? mixed_gather(r, c) : axis_map::identity(c);
    check_against_reference<float>(m, seed);
    check_against_reference<double>(m, seed);
    check_against_reference<float16>(m, seed);
    check_against_reference<bfloat16>(m, seed);
  }
}
