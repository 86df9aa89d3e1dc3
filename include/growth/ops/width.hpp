#pragma once
/// @file width.hpp
/// Width growth: FFN neurons (split, un-share), the hidden size (replicate, mean-pad) and FFN
/// un-factorisation, as unit_maps (fan_out map for the axes that produce a unit, fan_in map for the axes
/// that consume it) applied by growth::apply; plus tensor-level conveniences.
///
/// Weights are stored PyTorch-style, out x in: the FFN input dense W1 is (I, d) with bias b1 (I), the FFN
/// output dense W2 is (d, I). Growing the FFN from I to I' neurons applies fan_out to W1's rows and b1,
/// and fan_in to W2's columns; b2 is unchanged.
///
/// Adam moments. The first moment m transforms with the same maps as the weight. The second moment v
/// scales like the square of the weight, so it uses moment2_map(map) (every weight squared): a replica
/// that receives 1/c of a column gets m/c and v/c^2, which keeps each coordinate's Adam step
/// m/sqrt(v) unchanged up to eps (growth-methods.md 0.6).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/random.hpp"
#include "../core/unit_map.hpp"
#include "fill.hpp"
#include "options.hpp"

namespace growth {

namespace detail {
inline void check_grow(std::string_view what, std::size_t old_size, std::size_t new_size) {
  if (old_size == 0) throw error(std::string(what) + " old size", "at least 1", "0");
  if (new_size < old_size)
    throw error(std::string(what) + " new size", ">= old size " + std::to_string(old_size) + " (cannot shrink)",
                std::to_string(new_size));
}

/// unit_map where new unit j copies old unit src[j] on fan_out and gets fraction frac[j] of its column
/// on fan_in.
inline unit_map replicate_map(std::size_t old_size, const std::vector<std::int64_t>& src,
                              const std::vector<double>& frac) {
  unit_map u;
  u.fan_out = axis_map::gather(old_size, src);
  u.fan_in = axis_map::gather(old_size, src, frac);
  u.fresh.assign(src.size(), false);
  return u;
}

/// fan_in fractions 1/count(src[j]).
inline std::vector<double> equal_split(std::size_t old_size, const std::vector<std::int64_t>& src) {
  std::vector<std::size_t> count(old_size, 0);
  for (auto s : src) ++count[static_cast<std::size_t>(s)];
  std::vector<double> frac(src.size());
  for (std::size_t j = 0; j < src.size(); ++j) frac[j] = 1.0 / static_cast<double>(count[static_cast<std::size_t>(src[j])]);
  return frac;
}
}  // namespace detail

/// FFN neurons I -> I' (I' >= I >= 1). fan_out (W1 rows, b1): new neuron j copies old src[j]; j < I keeps
/// itself; j >= I: split and split_asym take (j - I) mod I, split_random a seeded uniform old index.
/// fan_in (W2 columns): the c replicas of an old neuron (the original included) share its column.
///   split, split_random: each gets 1/c.
///   split_asym: fractions u_r / sum(u) with u_r uniform in [0.5, 1.5) (seeded per old neuron), so each is
///     at least 1/(3c) and they sum to 1. Still exact: the replicas have identical fan-out weights, hence
///     identical activations GELU(z), and sum_r f_r * GELU(z) * w = GELU(z) * w. Why bother: with an equal
///     split every replica gets bit-identical gradients (the gradient of a replica's input row is
///     proportional to its output column, and BERT has no dropout on FFN activations), so the replicas
///     stay identical forever and the grown FFN keeps the small one's capacity (paper-notes 2.2).
///     Unequal columns give unequal gradients, so the replicas diverge from the first step.
/// Exactness precondition: none beyond the FFN being x -> act(x W1^T + b1) W2^T + b2 with an element-wise
/// activation; rounding makes it exact to float precision (fractions are rounded to compute_t).
inline unit_map ffn_split(std::size_t old_size, std::size_t new_size, ffn_mode mode, std::uint64_t seed = 0) {
  detail::check_grow("ffn_split", old_size, new_size);
  if (mode != ffn_mode::split && mode != ffn_mode::split_random && mode != ffn_mode::split_asym)
    throw error("ffn_split mode", "split, split_random or split_asym", std::string(to_string(mode)));
  std::vector<std::int64_t> src(new_size);
  rng pick(seed, 0x5f11u);
  for (std::size_t j = 0; j < new_size; ++j) {
    if (j < old_size) src[j] = static_cast<std::int64_t>(j);
    else if (mode == ffn_mode::split_random) src[j] = static_cast<std::int64_t>(pick.below(old_size));
    else src[j] = static_cast<std::int64_t>((j - old_size) % old_size);
  }
  std::vector<double> frac = detail::equal_split(old_size, src);
  if (mode == ffn_mode::split_asym) {
    // per old neuron: draw one u per replica (counter-based: stream = old neuron index), normalise
    std::vector<std::vector<std::size_t>> replicas(old_size);
    for (std::size_t j = 0; j < new_size; ++j) replicas[static_cast<std::size_t>(src[j])].push_back(j);
    for (std::size_t i = 0; i < old_size; ++i) {
      if (replicas[i].size() < 2) continue;
      rng r(seed, 0xa5a5a5a5ULL + i);
      std::vector<double> u(replicas[i].size());
      double sum = 0.0;
      for (auto& x : u) sum += (x = 0.5 + r.uniform());
      for (std::size_t k = 0; k < u.size(); ++k) frac[replicas[i][k]] = u[k] / sum;
    }
  }
  return detail::replicate_map(old_size, src, frac);
}

/// The paper's FFN un-sharing (CompoundGrow's width operator): a small FFN of I/k neurons is a full FFN
/// of I = k * small neurons whose k blocks share parameters. Growth tiles it: neuron j copies
/// j mod small on fan_out (W1 rows, b1 tiled k times); fan_in (W2 columns) tiled and divided by k.
/// Exact (the k copies of GELU(z_j) W2_j / k sum to GELU(z_j) W2_j). The copies get identical gradients
/// and stay tied (use ffn_split asymmetric to break the symmetry).
inline unit_map ffn_unshare(std::size_t small_size, std::size_t k) {
  if (k == 0) throw error("ffn_unshare k", "at least 1", "0");
  detail::check_grow("ffn_unshare", small_size, small_size * k);
  std::vector<std::int64_t> src(small_size * k);
  for (std::size_t j = 0; j < src.size(); ++j) src[j] = static_cast<std::int64_t>(j % small_size);
  return detail::replicate_map(small_size, src, std::vector<double>(src.size(), 1.0 / static_cast<double>(k)));
}

/// Hidden size d -> d' = k d, every unit replicated k times: unit j copies j mod d (fan_out scale 1: the
/// rows of every weight producing the residual stream, biases, LayerNorm gamma/beta, embedding columns),
/// and every consumer column is tiled with scale 1/k (fan_in).
/// Exact in pre-LN and post-LN: the residual stream becomes [x, x, ..., x]; every unit has the same
/// multiplicity k, so LayerNorm's mean and variance over d' units equal those over d, and LN's output is
/// the replicated old output; a consumer W' x' = sum_k (W/k) x = W x. Caveat: a tied MLM decoder reads the
/// word embeddings as a consumer, so its logits scale by k unless the head's LayerNorm is scaled by 1/k
/// (model-level growth handles that). Throws if d' is not a multiple of d.
inline unit_map hidden_replicate(std::size_t old_size, std::size_t new_size) {
  detail::check_grow("hidden_replicate", old_size, new_size);
  if (new_size % old_size != 0)
    throw error("hidden_replicate new size", "a multiple of old size " + std::to_string(old_size),
                std::to_string(new_size));
  const std::size_t k = new_size / old_size;
  std::vector<std::int64_t> src(new_size);
  for (std::size_t j = 0; j < new_size; ++j) src[j] = static_cast<std::int64_t>(j % old_size);
  return detail::replicate_map(old_size, src, std::vector<double>(new_size, 1.0 / static_cast<double>(k)));
}

/// LEMON-style "average expansion" for any d' >= d: fan_out row j < d is unit j; row j >= d is the mean of
/// all old units (d entries, weight 1/d); fan_in keeps old columns and makes new columns zero.
/// Exact in PRE-LN transformers, provided the caller also multiplies every LayerNorm gain by
/// sqrt(d/d') (mean_pad_gain_scale) and its eps by d/d': every write to the residual stream is a fan_out
/// map, so the stream stays [x, mean(x)]; LN over d' units then has the same mean mu and variance
/// var * d/d', so with eps * d/d' it returns sqrt(d'/d) * n on old units (the gain rescale restores n)
/// and exactly 0 on new units; consumers of LN outputs see the new units through zero columns.
/// NOT exact in POST-LN BERT: there the residual stream is the LN output itself. Its new units become
/// gamma_new * 0 + beta_new, a constant per unit, while the invariant needs them to equal the per-token
/// mean of the old outputs, mean_i(gamma_i n_i + beta_i), which varies with the token whenever gamma is
/// not constant. After the first post-LN the new units no longer carry the mean, so the next LN's mean
/// and variance (taken over d' units) differ from the old ones and every later activation changes.
/// Use hidden_replicate (integer ratio) for post-LN BERT.
/// NOT exact in PRE-LN BERT either (measured: tests/model/test_grow_preln.cpp, docs/prelayernorm.md): the
/// invariant [x, mean(x)] needs every producer of a LayerNorm input to be linear, and BERT has two that are
/// not: the embedding LayerNorm, whose output is the residual stream (new units gamma_new * 0 + beta_new,
/// a constant, where mean_i(gamma_i n_i + beta_i) is needed), and the MLM head's GELU before its LayerNorm
/// (GELU(mean t) != mean GELU(t)). The exact setting is LEMON's (arXiv 2310.07999): a pre-LN transformer
/// whose stream starts from linear embeddings and whose head reads the final LN through zero new columns.
inline unit_map hidden_mean_pad(std::size_t old_size, std::size_t new_size) {
  detail::check_grow("hidden_mean_pad", old_size, new_size);
  unit_map u;
  u.fan_out = axis_map(old_size);
  u.fan_in = axis_map(old_size);
  u.fan_out.reserve(new_size, old_size + (new_size - old_size) * old_size);
  const double w = 1.0 / static_cast<double>(old_size);
  for (std::size_t j = 0; j < new_size; ++j) {
    if (j < old_size) {
      u.fan_out.push_row_entry(static_cast<std::int64_t>(j), 1.0);
      u.fan_in.push_row_entry(static_cast<std::int64_t>(j), 1.0);
    } else {
      u.fan_out.begin_row();
      for (std::size_t i = 0; i < old_size; ++i) u.fan_out.add_entry(static_cast<std::int64_t>(i), w);
      u.fan_in.push_empty_row();
    }
  }
  u.fresh.assign(new_size, false);
  return u;
}

/// Zero padding of the hidden size d -> d' (Gesmundo & Maile, "Composable function-preserving expansions
/// for transformer architectures", 2023; README "Growing decoder LLMs"): new units are produced as zero (fan_out rows empty: embedding columns, residual writers'
/// rows and biases) and consumed through zero columns (fan_in rows empty), so the residual stream becomes
/// [x ; 0]. Exact under RMSNorm when every gain is multiplied by sqrt(d/d') and eps by d/d' (the mean square
/// over d' units is ms(x) d/d', so RMSNorm([x ; 0]) = [g x / rms(x) ; g_new 0]). NOT exact under LayerNorm:
/// the zeros shift the mean (use hidden_mean_pad there). The new units of a consumer's input are exactly 0,
/// so callers may fill those columns with fresh noise (and give the new gains any value) without changing
/// the function: that is what lets the new units learn (their gradient is zero otherwise).
inline unit_map hidden_zero_pad(std::size_t old_size, std::size_t new_size) {
  detail::check_grow("hidden_zero_pad", old_size, new_size);
  std::vector<std::int64_t> src(new_size, -1);
  for (std::size_t j = 0; j < old_size; ++j) src[j] = static_cast<std::int64_t>(j);
  return {axis_map::gather(old_size, src), axis_map::gather(old_size, src), std::vector<bool>(new_size, false)};
}

/// The factor LayerNorm gains are multiplied by after hidden_mean_pad: sqrt(d/d'). (eps: times d/d'.)
inline double mean_pad_gain_scale(std::size_t old_size, std::size_t new_size) {
  detail::check_grow("mean_pad_gain_scale", old_size, new_size);
  return std::sqrt(static_cast<double>(old_size) / static_cast<double>(new_size));
}

/// The map for Adam's second moment: the same map with every weight squared (fresh rows as given).
inline unit_map moment2_map(const unit_map& u) { return {u.fan_out.squared(), u.fan_in.squared(), u.fresh}; }

/// Un-factorisation W = U . V (U: a x r, V: r x b, W: a x b), computed by executor<Space>::matmul (each
/// element an in-order fused multiply-add sum over r in compute_t). Exact: the factorised layer computed
/// x -> U (V x) with no non-linearity in between. Adam moments cannot be mapped (the product of moments
/// is not the moment of the product): start W's moments at zero.
template <tensor_like U, tensor_like V, tensor_like W>
void unfactorize(U&& u, V&& v, W&& w) {
  static_assert(rank_of<U> == 2 && rank_of<V> == 2 && rank_of<W> == 2, "growth::unfactorize: U, V and W are matrices");
  static_assert(std::is_same_v<value_type_of<U>, value_type_of<V>> && std::is_same_v<value_type_of<U>, value_type_of<W>>,
                "growth::unfactorize: U, V and W must have the same element type");
  static_assert(std::is_same_v<space_of<U>, space_of<V>> && std::is_same_v<space_of<U>, space_of<W>>,
                "growth::unfactorize: U, V and W must live in the same memory space");
  static_assert(mutable_tensor_like<W>, "growth::unfactorize: W is read-only");
  using T = value_type_of<U>;
  using S = space_of<U>;
  auto uv = view(u);
  auto vv = view(v);
  auto wv = view(w);
  if (vv.extent(0) != uv.extent(1))
    throw error("unfactorize V shape", "[" + std::to_string(uv.extent(1)) + ", *] (rows = columns of U " +
                                           detail::shape_string(uv.extents()) + ")",
                detail::shape_string(vv.extents()));
  const std::array<std::size_t, 2> want{uv.extent(0), vv.extent(1)};
  detail::check_extents<2>("unfactorize W", "output shape", want, wv.extents());
  executor<S>::template matmul<T>(tensor_view<const T, 2, S>(uv), tensor_view<const T, 2, S>(vv), wv);
}

/// out = rows x cols applied to a matrix (rows map along axis 0, cols map along axis 1).
template <tensor_like In, mutable_tensor_like Out>
void grow_matrix(const axis_map& rows, const axis_map& cols, In&& in, Out&& out, std::string_view name = "matrix") {
  static_assert(rank_of<In> == 2, "growth::grow_matrix: input is a matrix");
  tensor_map<2> m{{rows, cols}};
  apply(m, in, out, name);
}

/// out = map applied to a vector (a bias or a LayerNorm parameter).
template <tensor_like In, mutable_tensor_like Out>
void grow_vector(const axis_map& map, In&& in, Out&& out, std::string_view name = "vector") {
  static_assert(rank_of<In> == 1, "growth::grow_vector: input is a vector");
  tensor_map<1> m{{map}};
  apply(m, in, out, name);
}

/// Grows one FFN by a unit_map on its neurons: W1 (I, d) -> (I', d) rows by fan_out, b1 (I) -> (I') by
/// fan_out, W2 (d, I) -> (d, I') columns by fan_in. Every shape is checked before anything is written.
/// Rows marked fresh get N(0, stddev) noise in W1 (streams seed/1) and stay zero in b1.
/// For Adam moments call it with the moments and the same map (m) or moment2_map(map) (v), stddev 0.
template <tensor_like W1, tensor_like B1, tensor_like W2, mutable_tensor_like W1o, mutable_tensor_like B1o,
          mutable_tensor_like W2o>
void ffn_grow(const unit_map& map, W1&& w1, B1&& b1, W2&& w2, W1o&& w1_out, B1o&& b1_out, W2o&& w2_out,
              std::uint64_t seed = 0, double stddev = 0.0) {
  static_assert(rank_of<W1> == 2 && rank_of<B1> == 1 && rank_of<W2> == 2, "growth::ffn_grow: W1, W2 matrices, b1 vector");
  const auto a = view(w1);
  const auto b = view(b1);
  const auto c = view(w2);
  const std::size_t I = map.old_extent(), In = map.new_extent(), d = a.extent(1);
  if (map.fan_in.in_extent() != I || map.fan_in.out_extent() != In || map.fresh.size() != In)
    throw error("ffn_grow unit_map", "fan_in and fresh sized like fan_out (" + std::to_string(I) + " -> " +
                                         std::to_string(In) + ")",
                std::to_string(map.fan_in.in_extent()) + " -> " + std::to_string(map.fan_in.out_extent()) +
                    ", fresh " + std::to_string(map.fresh.size()));
  detail::check_extents<2>("ffn_grow W1", "input shape [I, d]", std::array<std::size_t, 2>{I, d}, a.extents());
  detail::check_extents<1>("ffn_grow b1 (bias of W1)", "input shape [I]", std::array<std::size_t, 1>{I}, b.extents());
  detail::check_extents<2>("ffn_grow W2", "input shape [d, I]", std::array<std::size_t, 2>{d, I}, c.extents());
  detail::check_extents<2>("ffn_grow W1", "output shape", std::array<std::size_t, 2>{In, d}, view(w1_out).extents());
  detail::check_extents<1>("ffn_grow b1", "output shape", std::array<std::size_t, 1>{In}, view(b1_out).extents());
  detail::check_extents<2>("ffn_grow W2", "output shape", std::array<std::size_t, 2>{d, In}, view(w2_out).extents());
  map.fan_out.check("ffn_grow fan_out");
  map.fan_in.check("ffn_grow fan_in");
  grow_matrix(map.fan_out, axis_map::identity(d), w1, w1_out, "ffn_grow W1");
  grow_vector(map.fan_out, b1, b1_out, "ffn_grow b1");
  grow_matrix(axis_map::identity(d), map.fan_in, w2, w2_out, "ffn_grow W2");
  if (stddev > 0.0) fill_fresh(w1_out, 0, map.fresh, seed, 1, stddev, "ffn_grow W1");
}

}  // namespace growth
