// The host executor's fast paths (runs of a gathered inner axis, identity inner axis, zero rows) give the
// same bits as the documented entry-by-entry arithmetic: weights rounded to compute_t and multiplied in
// axis order, terms added with one fma each in lexicographic entry order, one rounding to T. Random maps
// mixing gathers, runs, zero rows and multi-entry rows; contiguous and strided views; float, double, half.
#include <doctest/doctest.h>

#include <growth/ops.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <cstring>
#include <vector>

using namespace growth;

namespace {

axis_map random_map(rng& r, std::size_t in, std::size_t out, bool gather_only) {
  axis_map m(in);
  std::int64_t run_src = 0;
  for (std::size_t i = 0; i < out; ++i) {
    const auto kind = r.below(gather_only ? 3 : 4);
    if (kind == 0) {
      m.push_empty_row();
    } else if (kind == 1) {  // continue a run
      run_src = (run_src + 1) % static_cast<std::int64_t>(in);
      m.push_row_entry(run_src, r.below(2) ? 1.0 : 0.5);
    } else if (kind == 2) {
      run_src = static_cast<std::int64_t>(r.below(in));
      m.push_row_entry(run_src, r.uniform() * 2 - 1);
    } else {
      m.begin_row();
      const auto n = 2 + r.below(3);
      for (std::size_t e = 0; e < n; ++e) m.add_entry(static_cast<std::int64_t>(r.below(in)), r.uniform());
    }
  }
  return m;
}

/// Plain reference for rank 2 with the documented order.
template <class T>
void reference(const tensor_map<2>& m, const tensor<T, 2>& in, tensor<T, 2>& out) {
  using C = compute_t<T>;
  const auto& a = m.axes[0];
  const auto& b = m.axes[1];
  for (std::size_t i = 0; i < a.out_extent(); ++i)
    for (std::size_t j = 0; j < b.out_extent(); ++j) {
      C s = C(0);
      for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e)
        for (std::size_t f = b.offsets()[j]; f < b.offsets()[j + 1]; ++f) {
          const C w = (C(1) * static_cast<C>(a.weight()[e])) * static_cast<C>(b.weight()[f]);
          s = std::fma(to_compute(in(static_cast<std::size_t>(a.index()[e]), static_cast<std::size_t>(b.index()[f]))), w, s);
        }
      out(i, j) = from_compute<T>(s);
    }
}

template <class T>
bool same_bits(T x, T y) {
  return std::memcmp(&x, &y, sizeof(T)) == 0;
}

template <class T>
void run_case(std::uint64_t seed, bool lead_gather, bool inner_gather) {
  rng r(seed, 21);
  const std::size_t a = 1 + r.below(9), b = 1 + r.below(40), ao = 1 + r.below(12), bo = 1 + r.below(60);
  tensor_map<2> m{{random_map(r, a, ao, lead_gather), random_map(r, b, bo, inner_gather)}};
  auto in = ops_test::random_tensor<T, 2>({a, b}, seed);
  tensor<T, 2> want({ao, bo}), got({ao, bo});
  reference(m, in, want);
  apply(m, in, got);
  for (std::size_t i = 0; i < ao; ++i)
    for (std::size_t j = 0; j < bo; ++j) REQUIRE(same_bits(got(i, j), want(i, j)));
  // strided: transposed views of transposed storage
  tensor<T, 2> in_t({b, a}), got_t({bo, ao});
  for (std::size_t i = 0; i < a; ++i)
    for (std::size_t j = 0; j < b; ++j) in_t(j, i) = in(i, j);
  tensor_view<const T, 2> iv(in_t.data(), {a, b}, {1, static_cast<std::ptrdiff_t>(a)});
  tensor_view<T, 2> ov(got_t.data(), {ao, bo}, {1, static_cast<std::ptrdiff_t>(ao)});
  apply(m, iv, ov);
  for (std::size_t i = 0; i < ao; ++i)
    for (std::size_t j = 0; j < bo; ++j) REQUIRE(same_bits(got_t(j, i), want(i, j)));
}

}  // namespace

TEST_CASE("host apply fast paths are bit-identical to the entry-by-entry order") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed)
    for (int lg = 0; lg < 2; ++lg)
      for (int ig = 0; ig < 2; ++ig) {
        run_case<float>(seed, lg, ig);
        run_case<double>(seed, lg, ig);
        run_case<float16>(seed, lg, ig);
      }
}
