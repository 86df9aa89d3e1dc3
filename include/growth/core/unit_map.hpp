#pragma once
/// @file unit_map.hpp
/// How the units of one model dimension grow (FFN neurons, hidden units, heads' channels, positions).
/// A dimension is read along two kinds of axes, and each gets its own axis_map:
///   fan_out: axes that produce the dimension's values (rows of an out x in weight, biases, LayerNorm
///            parameters, embedding columns). New unit j usually copies old unit src_j.
///   fan_in:  axes that consume them (columns of the next weight). Replicas divide the old column among
///            themselves so the consumer's sum is unchanged: that is what makes width growth exact.
/// Rows with no entry on fan_out are "new" units (seeded noise or zero, the operator says which);
/// rows with no entry on fan_in are zero columns (new units invisible to the consumer: exact).
#include <cstdint>
#include <vector>

#include "index_map.hpp"

namespace growth {

struct unit_map {
  axis_map fan_out;
  axis_map fan_in;
  /// fan_out rows that the caller must fill with fresh values (true) rather than leave zero.
  std::vector<bool> fresh;

  [[nodiscard]] std::size_t old_extent() const { return fan_out.in_extent(); }
  [[nodiscard]] std::size_t new_extent() const { return fan_out.out_extent(); }
  static unit_map identity(std::size_t n) { return {axis_map::identity(n), axis_map::identity(n), std::vector<bool>(n, false)}; }
};

}  // namespace growth
