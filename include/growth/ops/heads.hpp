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
#include "options.hpp"

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

/// The maps of grouped-query attention's two head dimensions (HF LLaMA: num_attention_heads query heads,
/// num_key_value_heads key/value heads; query head h reads key/value head h / g, g = A / G query heads per
/// group, repeat_kv's layout).
struct grouped_heads_maps {
  unit_map query;  ///< dim::attn: q_proj rows (fan_out), o_proj columns (fan_in)
  unit_map kv;     ///< dim::kv: k_proj / v_proj rows (fan_out); nothing consumes it as a column
};

/// Grows grouped-query attention at a fixed head size from (A, G) to (A', G') heads, keeping every query
/// head attached to (a copy of) its own key/value head. Legal: G' >= G and g' = A'/G' >= g = A/G (so
/// A' >= A); G = A, G' = A' (no grouping, GPT-2) is heads_add / heads_duplicate exactly. New query head
/// h' = j' g' + i sits in new group j' at place i (i < g'):
///   add        new key/value head j' < G is old head j' (j' >= G fresh); new query head h' is old head
///              j' g + i when j' < G and i < g, else fresh with zero output columns: the old heads keep
///              their key/value heads and the new ones are invisible. Exact.
///   duplicate  new key/value head j' copies old head j' mod G; new query head h' copies old head
///              (j' mod G) g + (i mod g), whose key/value head is exactly the one j' copied, so it computes
///              the same attention as its source; output columns are divided by each old head's replica
///              count. Exact. (g' = g is heads_duplicate on both dimensions: h' mod A.)
/// Throws growth::error naming the head count that breaks the rule.
inline grouped_heads_maps grouped_heads_grow(std::size_t old_heads, std::size_t old_kv_heads, std::size_t new_heads,
                                             std::size_t new_kv_heads, std::size_t head_dim, heads_mode mode) {
  detail::check_heads("grouped_heads_grow", old_heads, new_heads, head_dim);
  detail::check_heads("grouped_heads_grow (key/value)", old_kv_heads, new_kv_heads, head_dim);
  const auto n = [](std::size_t v) { return std::to_string(v); };
  if (old_heads % old_kv_heads != 0)
    throw error("grouped_heads_grow old key/value heads", "a divisor of " + n(old_heads), n(old_kv_heads));
  if (new_heads % new_kv_heads != 0)
    throw error("grouped_heads_grow new key/value heads", "a divisor of " + n(new_heads), n(new_kv_heads));
  const std::size_t g = old_heads / old_kv_heads, g2 = new_heads / new_kv_heads;
  if (g2 < g)
    throw error("grouped_heads_grow new query heads per key/value head", ">= " + n(g) + " (the old group size)", n(g2));
  grouped_heads_maps r;
  r.kv = mode == heads_mode::add ? heads_add(old_kv_heads, new_kv_heads, head_dim)
                                 : heads_duplicate(old_kv_heads, new_kv_heads, head_dim);
  std::vector<std::int64_t> head_src(new_heads);
  std::vector<std::size_t> count(old_heads, 0);
  for (std::size_t h = 0; h < new_heads; ++h) {
    const std::size_t j = h / g2, i = h % g2;
    std::int64_t s = -1;
    if (mode == heads_mode::add) {
      if (j < old_kv_heads && i < g) s = static_cast<std::int64_t>(j * g + i);
    } else {
      s = static_cast<std::int64_t>((j % old_kv_heads) * g + i % g);
    }
    head_src[h] = s;
    if (s >= 0) ++count[static_cast<std::size_t>(s)];
  }
  std::vector<std::int64_t> src(new_heads * head_dim);
  std::vector<double> frac(src.size(), 1.0);
  std::vector<bool> fresh(src.size(), false);
  for (std::size_t h = 0; h < new_heads; ++h)
    for (std::size_t c = 0; c < head_dim; ++c) {
      const std::size_t k = h * head_dim + c;
      const std::int64_t s = head_src[h];
      src[k] = s < 0 ? -1 : static_cast<std::int64_t>(static_cast<std::size_t>(s) * head_dim + c);
      fresh[k] = s < 0;
      if (s >= 0 && mode == heads_mode::duplicate) frac[k] = 1.0 / static_cast<double>(count[static_cast<std::size_t>(s)]);
    }
  const std::size_t old_c = old_heads * head_dim;
  r.query = mode == heads_mode::add ? unit_map{axis_map::gather(old_c, src), axis_map::gather(old_c, src), fresh}
                                    : unit_map{axis_map::gather(old_c, src), axis_map::gather(old_c, src, frac), fresh};
  return r;
}

}  // namespace growth
