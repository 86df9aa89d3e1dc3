#pragma once
// Helpers shared by the ops tests: random tensors and a plain-loop application of a 2-D map.
#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>
#include <growth/core/tensor.hpp>
#include <growth/core/unit_map.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace ops_test {

template <class T, std::size_t R>
growth::tensor<T, R> random_tensor(const std::array<std::size_t, R>& ext, std::uint64_t seed, double scale = 1.0) {
  growth::tensor<T, R> t(ext);
  growth::rng r(seed, 77);
  for (auto& x : t.storage()) x = T(static_cast<growth::compute_t<T>>(scale * r.normal()));
  return t;
}

/// Source of each row of a map with at most one entry per row (-1 for an empty row), and its weight.
inline std::vector<std::int64_t> sources(const growth::axis_map& m) {
  std::vector<std::int64_t> s(m.out_extent(), -1);
  for (std::size_t i = 0; i < m.out_extent(); ++i)
    if (m.row_size(i) == 1) s[i] = m.index()[m.offsets()[i]];
  return s;
}
inline std::vector<double> weights(const growth::axis_map& m) {
  std::vector<double> w(m.out_extent(), 0.0);
  for (std::size_t i = 0; i < m.out_extent(); ++i)
    if (m.row_size(i) == 1) w[i] = m.weight()[m.offsets()[i]];
  return w;
}

/// Dense matrix of a map: D[i][j] = weight of source j in output row i (double).
inline std::vector<std::vector<double>> dense(const growth::axis_map& m) {
  std::vector<std::vector<double>> d(m.out_extent(), std::vector<double>(m.in_extent(), 0.0));
  for (std::size_t i = 0; i < m.out_extent(); ++i)
    for (std::size_t e = m.offsets()[i]; e < m.offsets()[i + 1]; ++e)
      d[i][static_cast<std::size_t>(m.index()[e])] += m.weight()[e];
  return d;
}

}  // namespace ops_test
