#pragma once
/// @file heads.hpp
/// Attention-head growth at a fixed head size. The channels of the concatenated heads (heads x head_dim,
/// head h owning channels [h*head_dim, (h+1)*head_dim)) are one model dimension: Q/K/V weight rows and
/// biases are its fan_out, the attention output projection's columns are its fan_in.
///
/// Exactness: heads are independent (each has its own softmax over its own channels), and the output
/// projection sums their contributions, so
///   heads_add       new heads are invisible (zero output columns): exact whatever their Q/K/V are;
///   heads_duplicate a copied head has the same attention pattern and values; its output columns are
///                   divided among the replicas: exact.
/// The 1/sqrt(head_dim) softmax temperature is unchanged because head_dim is. Growing head_dim instead
/// is not offered (it changes the temperature; growth-methods.md 0.3).
///
/// Adam moments: the first moment uses the same map, the second moment moment2_map(map) (width.hpp);
/// fresh rows get zero moments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/unit_map.hpp"

namespace growth {

namespace detail {
inline void check_heads(const char* what, std::size_t old_heads, std::size_t new_heads, std::size_t head_dim) {
  if (head_dim == 0) throw error(std::string(what) + " head_dim", "at least 1", "0");
  if (old_heads == 0) throw error(std::string(what) + " old heads", "at least 1", "0");
  if (new_heads < old_heads)
    throw error(std::string(what) + " new heads", ">= old heads " + std::to_string(old_heads) + " (cannot shrink)",
                std::to_string(new_heads));
}
}  // namespace detail

/// head_dim = channels / heads; throws unless heads divides channels.
inline std::size_t head_size(std::size_t channels, std::size_t heads) {
  if (heads == 0 || channels % heads != 0)
    throw error("attention heads", "a divisor of the channel count " + std::to_string(channels), std::to_string(heads));
  return channels / heads;
}

/// A -> A' heads: channels of old heads keep themselves; the (A' - A) * head_dim new channels have no
/// source on fan_out and are marked fresh (fill Q/K/V rows with seeded noise via fill_fresh, biases may
/// stay zero), and are zero columns on fan_in (the output projection ignores them). Exact.
inline unit_map heads_add(std::size_t old_heads, std::size_t new_heads, std::size_t head_dim) {
  detail::check_heads("heads_add", old_heads, new_heads, head_dim);
  const std::size_t old_c = old_heads * head_dim, new_c = new_heads * head_dim;
  std::vector<std::int64_t> src(new_c, -1);
  for (std::size_t c = 0; c < old_c; ++c) src[c] = static_cast<std::int64_t>(c);
  unit_map u{axis_map::gather(old_c, src), axis_map::gather(old_c, src), std::vector<bool>(new_c, false)};
  for (std::size_t c = old_c; c < new_c; ++c) u.fresh[c] = true;
  return u;
}

/// A -> A' heads: new head h copies old head h mod A (all its channels) on fan_out; on fan_in every
/// replica of old head a gets its output columns divided by the replica count of a. Exact; replicas stay
/// tied under training unless something breaks the symmetry (as for ffn_unshare).
inline unit_map heads_duplicate(std::size_t old_heads, std::size_t new_heads, std::size_t head_dim) {
  detail::check_heads("heads_duplicate", old_heads, new_heads, head_dim);
  std::vector<std::size_t> count(old_heads, 0);
  for (std::size_t h = 0; h < new_heads; ++h) ++count[h % old_heads];
  std::vector<std::int64_t> src(new_heads * head_dim);
  std::vector<double> frac(src.size());
  for (std::size_t h = 0; h < new_heads; ++h)
    for (std::size_t c = 0; c < head_dim; ++c) {
      src[h * head_dim + c] = static_cast<std::int64_t>((h % old_heads) * head_dim + c);
      frac[h * head_dim + c] = 1.0 / static_cast<double>(count[h % old_heads]);
    }
  return {axis_map::gather(old_heads * head_dim, src), axis_map::gather(old_heads * head_dim, src, frac),
          std::vector<bool>(src.size(), false)};
}

}  // namespace growth
