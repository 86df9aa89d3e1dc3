#pragma once
/// @file length.hpp
/// Sequence-length growth: growing the position-embedding table, and the paper's mean embedding pooling
/// (and its inverse) as axis maps along a sequence axis.
///
/// Position tables are (P, d): position_grow's fan_out applies to axis 0 (fan_in is the same map and is
/// not used: nothing consumes a position as an input column). No mode is function-preserving on inputs
/// longer than P (the old model never saw them); all keep positions < P unchanged except interpolate.
/// Adam moments: gather rows copy moments (m and v); interpolated rows have no meaningful moments, so
/// reset them (or map m with the map and v with its squared map, which is only a heuristic).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/unit_map.hpp"
#include "options.hpp"

namespace growth {

/// P -> P' position rows (P' >= P >= 1).
///   tile:        row j copies row j mod P (the table repeats).
///   interpolate: row j is the linear interpolation at x = j (P-1)/(P'-1) between rows floor(x) and
///                floor(x)+1 (weights 1 - frac, frac; a single entry when x is an integer), so the first
///                and last rows are kept and the table is stretched.
///   random:      rows < P kept; rows >= P are fresh (fill with seeded noise, fill_fresh).
inline unit_map position_grow(std::size_t old_positions, std::size_t new_positions, length_mode mode) {
  if (old_positions == 0) throw error("position_grow old positions", "at least 1", "0");
  if (new_positions < old_positions)
    throw error("position_grow new positions", ">= old positions " + std::to_string(old_positions) + " (cannot shrink)",
                std::to_string(new_positions));
  unit_map u;
  u.fan_out = axis_map(old_positions);
  u.fresh.assign(new_positions, false);
  const std::size_t num_scale = old_positions - 1, den = new_positions - 1;
  for (std::size_t j = 0; j < new_positions; ++j) {
    switch (mode) {
      case length_mode::tile: u.fan_out.push_row_entry(static_cast<std::int64_t>(j % old_positions), 1.0); break;
      case length_mode::random:
        if (j < old_positions) {
          u.fan_out.push_row_entry(static_cast<std::int64_t>(j), 1.0);
        } else {
          u.fan_out.push_empty_row();
          u.fresh[j] = true;
        }
        break;
      case length_mode::interpolate: {
        // x = j (P-1)/(P'-1) in exact integer arithmetic: floor and remainder
        const std::size_t num = j * num_scale;
        const std::size_t i0 = den == 0 ? 0 : num / den;
        const std::size_t rem = den == 0 ? 0 : num % den;
        if (rem == 0) {
          u.fan_out.push_row_entry(static_cast<std::int64_t>(i0), 1.0);
        } else {
          const double f = static_cast<double>(rem) / static_cast<double>(den);
          u.fan_out.begin_row();
          u.fan_out.add_entry(static_cast<std::int64_t>(i0), 1.0 - f);
          u.fan_out.add_entry(static_cast<std::int64_t>(i0 + 1), f);
        }
        break;
      }
    }
  }
  u.fan_in = u.fan_out;
  return u;
}

/// Length of a mean-pooled sequence of n tokens with window k: [CLS] + ceil((n - 1) / k).
inline std::size_t pooled_length(std::size_t n, std::size_t k) {
  if (k == 0) throw error("mean_pool k (pool size)", "at least 1", "0");
  if (n == 0) throw error("mean_pool n (sequence length)", "at least 1 ([CLS])", "0");
  return 1 + (n - 1 + k - 1) / k;
}

/// The paper's embedding pooling along a sequence axis of n tokens: slot 0 is [CLS] (index 0) unchanged;
/// slot s >= 1 averages tokens [1 + (s-1)k, min(n, 1 + s k)) (window = stride = k, SAME padding: the last
/// window may be partial and averages only its real tokens, like tf.nn.avg_pool). With a mask `valid`
/// (n entries), only tokens with valid[t] != 0 are averaged (weights 1/count); a window without any valid
/// token is a zero slot. [CLS] is always kept.
inline axis_map mean_pool(std::size_t n, std::size_t k, std::span<const std::uint8_t> valid = {}) {
  const std::size_t slots = pooled_length(n, k);
  if (!valid.empty() && valid.size() != n)
    throw error("mean_pool valid mask", std::to_string(n) + " entries (one per token)", std::to_string(valid.size()));
  axis_map m(n);
  m.reserve(slots, n);
  m.push_row_entry(0, 1.0);
  for (std::size_t s = 1; s < slots; ++s) {
    const std::size_t b = 1 + (s - 1) * k, e = std::min(n, 1 + s * k);
    std::size_t count = 0;
    for (std::size_t t = b; t < e; ++t) count += (valid.empty() || valid[t] != 0) ? 1 : 0;
    m.begin_row();
    for (std::size_t t = b; t < e; ++t)
      if (valid.empty() || valid[t] != 0) m.add_entry(static_cast<std::int64_t>(t), 1.0 / static_cast<double>(count));
  }
  return m;
}

/// Inverse of mean_pool's layout: original position t takes the value of its pooled slot
/// (0 for [CLS], 1 + (t-1)/k otherwise). in_extent = pooled_length(n, k), out_extent = n.
inline axis_map unpool(std::size_t n, std::size_t k) {
  const std::size_t slots = pooled_length(n, k);
  std::vector<std::int64_t> src(n);
  for (std::size_t t = 0; t < n; ++t) src[t] = t == 0 ? 0 : static_cast<std::int64_t>(1 + (t - 1) / k);
  return axis_map::gather(slots, src);
}

}  // namespace growth
