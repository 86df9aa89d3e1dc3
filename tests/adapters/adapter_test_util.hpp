#pragma once
// Shared helpers of the adapter runtime tests: random maps of the three kinds the brief asks for
// (row gather with scale, column gather, both) and a reference result on growth::tensor.
#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>
#include <growth/core/tensor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace adapter_test {

/// A gather along an axis of in_extent slices into out_extent slices: random sources (about one in
/// seven is a zero slice) and random power-of-two-ish scales.
inline growth::axis_map random_gather(growth::rng& r, std::size_t in_extent, std::size_t out_extent) {
  std::vector<std::int64_t> src(out_extent);
  std::vector<double> scale(out_extent);
  for (std::size_t i = 0; i < out_extent; ++i) {
    src[i] = r.below(7) == 0 ? -1 : static_cast<std::int64_t>(r.below(in_extent));
    scale[i] = 0.25 + 2.0 * r.uniform();
  }
  return growth::axis_map::gather(in_extent, src, scale);
}

enum class map_kind { rows, cols, both };

inline const char* name(map_kind k) { return k == map_kind::rows ? "row gather" : k == map_kind::cols ? "column gather" : "both"; }

/// rows: gather with scale on axis 0, identity on axis 1; cols: the reverse; both: gathers on both.
inline growth::tensor_map<2> random_map(growth::rng& r, map_kind k, std::size_t n0, std::size_t n1, std::size_t m0,
                                        std::size_t m1) {
  growth::tensor_map<2> m;
  m.axes[0] = k == map_kind::cols ? growth::axis_map::identity(n0) : random_gather(r, n0, m0);
  m.axes[1] = k == map_kind::rows ? growth::axis_map::identity(n1) : random_gather(r, n1, m1);
  return m;
}

template <class T, std::size_t R>
growth::tensor<T, R> random_tensor(growth::rng& r, const std::array<std::size_t, R>& ext) {
  growth::tensor<T, R> t(ext);
  for (auto& v : t.storage()) v = static_cast<T>(r.normal());
  return t;
}

/// The same map applied to growth::tensor: what every adapter must reproduce bit for bit.
template <class T, std::size_t R>
growth::tensor<T, R> reference(const growth::tensor_map<R>& m, const growth::tensor<T, R>& in) {
  growth::tensor<T, R> out(m.out_extents(), T(-999));
  growth::apply(m, in, out, "reference");
  return out;
}

}  // namespace adapter_test
