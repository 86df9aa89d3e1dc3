#pragma once
/// @file tensor_parallel.hpp
/// Whole-BERT growth on a Megatron tensor-parallel layout (ops/shard.hpp): which parameter is split along
/// which axis, a growth plan whose head and FFN maps are rank-aligned (so no rank needs another rank's
/// slices), and, per new parameter, the maps, the two partitions and the fresh fills that a shard-local
/// executor (adapters/mpi.hpp: mpi::grow_parameter_shard) needs. Model-level growth (model/grow.hpp) is the
/// reference: grow_parameter(tp.plan, i, ...) on the whole model equals the shards put together, bit for bit.
///
/// Layout (Megatron-LM, arXiv 1909.08053, section 3): a parameter with an axis over the vocabulary is split
/// along it (word embeddings, the MLM output bias); a parameter whose out axis (axis 0) runs over attention
/// channels or FFN neurons is column parallel (Q/K/V and FFN-in weights and biases: rows); a weight whose in
/// axis (axis 1) runs over them is row parallel (attention-output and FFN-out weights: columns); everything
/// else is replicated (LayerNorms, row-parallel biases, position and token-type tables, the MLM head's dense).
/// Heads and FFN neurons are split evenly over the ranks in whole heads (Megatron keeps heads whole), before
/// and after growth.
///
/// Why rank-aligned maps: the order of heads and of FFN neurons is free (permute the producing rows and the
/// consuming columns alike and the function is unchanged), and ordering grown units rank-major puts every
/// replica on the rank of the unit it copies (ffn_split_aligned, heads_grow_aligned). The transition is the
/// same exact operator as plan_growth's, up to that permutation, and the exactness report is unchanged.
/// Not supported shard-locally (growth::error): low-cost layers (shared or factorised FFNs: un-sharing and
/// U V products mix slices across ranks), fewer heads or old FFN neurons than ranks.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../ops/shard.hpp"
#include "bert_config.hpp"
#include "bert_layout.hpp"
#include "grow.hpp"

namespace growth::model {

/// Megatron's placement of BERT parameter s (file comment).
inline tp_split tp_split_of(const param_spec& s) {
  for (const auto& a : s.axes)
    if (a.d == dim::vocab) return tp_split::vocab_parallel;
  const auto split_dim = [](dim d) { return d == dim::attn || d == dim::ffn; };
  if (!s.axes.empty() && s.axes[0].s == side::out && split_dim(s.axes[0].d)) return tp_split::column_parallel;
  if (s.axes.size() == 2 && s.axes[1].s == side::in && split_dim(s.axes[1].d)) return tp_split::row_parallel;
  return tp_split::replicated;
}

/// A transition planned for a tensor-parallel layout over `ranks` ranks.
struct tp_grow_plan {
  grow_plan plan;  ///< plan_growth's, with rank-aligned attention and FFN maps
  std::size_t ranks = 1;
  partition old_attn, new_attn;    ///< attention channels (whole heads), axis 0
  partition old_ffn;               ///< FFN neurons of every old layer, axis 0
  std::vector<partition> new_ffn;  ///< per new layer, axis 0
  partition vocab;                 ///< vocabulary rows (unchanged by growth), axis 0
};

namespace detail {
inline std::string detail_shape(const std::vector<std::size_t>& s) { return ::growth::detail::shape_string(s); }
inline std::vector<std::size_t> sizes_of(const partition& p) {
  std::vector<std::size_t> s;
  for (std::size_t r = 0; r < p.ranks(); ++r) {
    const auto [b, e] = p.range(r, p.extent());
    s.push_back(e - b);
  }
  return s;
}
}  // namespace detail

/// Checks and plans `from` -> `to` like plan_growth, then makes the head and FFN maps rank-aligned over
/// `ranks` even partitions (file comment).
inline tp_grow_plan plan_tp_growth(const bert_config& from, const bert_config& to, const grow_options& o, std::size_t ranks) {
  if (ranks == 0) throw error("tensor-parallel ranks", "at least 1", "0");
  tp_grow_plan tp{plan_growth(from, to, o), ranks, {}, {}, {}, {}, {}};
  for (const bert_config* c : {&from, &to})
    if (!c->ffn_shared_layers.empty() || !c->ffn_factorized_layers.empty())
      throw error(std::string(c == &from ? "source" : "target") + " config growth.ffn_shared_layers / ffn_factorized_layers",
                  "empty (tensor-parallel growth of low-cost FFN layers is not supported)", "non-empty");
  const std::size_t A = from.num_attention_heads, A2 = to.num_attention_heads, hd = from.head_dim();
  if (A < ranks)
    throw error("source config field num_attention_heads", ">= " + std::to_string(ranks) + " (one whole head per rank)",
                std::to_string(A));
  const partition old_heads = partition::even(A, ranks, 0);
  tp.old_attn = scaled_partition(old_heads, hd);
  tp.new_attn = tp.old_attn;
  if (A2 != A) {
    const auto g = heads_grow_aligned(old_heads, detail::sizes_of(partition::even(A2, ranks, 0)), hd, o.heads);
    tp.plan.t.attn = g.map;
    tp.new_attn = g.out;
  }
  const std::size_t I = from.intermediate_size, I2 = to.intermediate_size;
  if (I < ranks)
    throw error("source config field intermediate_size", ">= " + std::to_string(ranks) + " (a neuron per rank)",
                std::to_string(I));
  tp.old_ffn = partition::even(I, ranks, 0);
  for (std::size_t l = 0; l < to.num_hidden_layers; ++l) {
    if (I2 == I) {
      tp.new_ffn.push_back(tp.old_ffn);
      continue;
    }
    // the seed plan_growth's ffn_map gives new layer l
    const auto g = ffn_split_aligned(tp.old_ffn, detail::sizes_of(partition::even(I2, ranks, 0)), o.ffn,
                                     o.seed * 1000003ULL + l);
    tp.plan.t.ffn[l] = g.map;
    tp.new_ffn.push_back(g.out);
  }
  tp.vocab = partition::even(from.vocab_size, ranks, 0);
  return tp;
}

/// The layout of a parameter of the old model (after = false: spec from tp.plan.old_specs) or of the grown
/// one (after = true: spec from tp.plan.new_specs).
inline partition tp_partition_of(const tp_grow_plan& tp, const param_spec& s, bool after) {
  const tp_split split = tp_split_of(s);
  const std::size_t R = s.shape.size();
  if (split == tp_split::replicated || (split == tp_split::row_parallel && R == 1)) return partition::replicated(tp.ranks);
  const std::size_t axis = tp_axis(split, R);
  switch (s.axes[axis].d) {
    case dim::attn: return on_axis(after ? tp.new_attn : tp.old_attn, axis);
    case dim::ffn: return on_axis(after ? tp.new_ffn.at(static_cast<std::size_t>(s.layer)) : tp.old_ffn, axis);
    case dim::vocab: return on_axis(tp.vocab, axis);
    default: break;
  }
  throw error("tensor-parallel layout of " + s.name, "a split axis over heads, FFN neurons or the vocabulary",
              "another dimension");
}

/// The layout of new parameter s's source (first) and of s (second). The source's layout is the old
/// one of the same kind of parameter: every old layer's heads and FFN are partitioned alike.
inline std::pair<partition, partition> tp_partitions(const tp_grow_plan& tp, const param_spec& s) {
  return {tp_partition_of(tp, s, false), tp_partition_of(tp, s, true)};
}

/// Rank `rank`'s shard shape of a parameter of shape `shape` laid out as p.
template <std::size_t R>
std::array<std::size_t, R> tp_shard_extents(const partition& p, const std::vector<std::size_t>& shape, std::size_t rank) {
  if (shape.size() != R) throw error("tp_shard_extents shape", "rank " + std::to_string(R), detail::detail_shape(shape));
  std::array<std::size_t, R> e{};
  for (std::size_t a = 0; a < R; ++a) e[a] = shape[a];
  if (!p.is_replicated()) {
    const auto [b, end] = p.range(rank, shape.at(p.axis()));
    e[p.axis()] = end - b;
  }
  return e;
}

/// Fresh slices of a grown parameter: seeded N(0, stddev) along `axis` where mask is true (ops/fill.hpp).
struct tp_fresh {
  std::size_t axis = 0;
  std::vector<bool> mask;
};

/// Everything a shard-local executor needs to grow new parameter i of the plan (mirrors grow_parameter).
template <std::size_t R>
struct tp_parameter {
  std::string name;      ///< the new parameter
  std::string src_name;  ///< the old parameter it reads (kind mapped)
  enum class kind : std::uint8_t { mapped, zero, unit } k = kind::mapped;
  tensor_map<R> weight;       ///< the parameter's map (kind mapped)
  tensor_map<R> exp_avg, exp_avg_sq;  ///< Adam moments' maps (moment_policy mapped)
  bool zero_moments = false;  ///< the moments start at zero (policy reset, inserted layer, constants)
  partition in, out;          ///< the source's and the new parameter's layouts
  std::vector<tp_fresh> fresh;
  std::uint64_t seed = 0, stream = 0;
  double stddev = 0;
};

/// New parameter i of the plan as a tp_parameter (the same maps, constants and fresh fills as
/// grow_parameter(tp.plan, i, ...)); throws growth::error for an un-factorised parameter.
template <std::size_t R>
tp_parameter<R> tp_parameter_growth(const tp_grow_plan& tp, std::size_t i) {
  const grow_plan& p = tp.plan;
  const detail::transition& t = p.t;
  const param_spec& s = p.new_specs.at(i);
  if (s.shape.size() != R)
    throw error("tp_parameter_growth " + s.name, "rank " + std::to_string(R), "rank " + std::to_string(s.shape.size()));
  const auto g = detail::source_of(p, s);
  tp_parameter<R> r;
  r.name = s.name;
  r.src_name = g.src_name;
  std::tie(r.in, r.out) = tp_partitions(tp, s);
  r.seed = p.options.seed;
  r.stream = i + 1;  // grow_parameter's stream
  r.stddev = p.options.init_std >= 0 ? p.options.init_std : p.to.initializer_range;
  const std::size_t nl = s.layer >= 0 ? static_cast<std::size_t>(s.layer) : 0;
  if (g.k == detail::grow_kind::unfactor)
    throw error("tensor-parallel growth of " + s.name, "a mapped parameter", "an un-factorised one (U V)");
  if (g.k != detail::grow_kind::mapped) {
    r.k = g.k == detail::grow_kind::unit_gain ? tp_parameter<R>::kind::unit : tp_parameter<R>::kind::zero;
    r.zero_moments = true;
    return r;
  }
  tensor_map<R> wm, gm;
  for (std::size_t a = 0; a < R; ++a) {
    wm.axes[a] = detail::axis_for(t, s.axes[a], nl, false, p.id_vocab, p.id_type, p.id_rank);
    gm.axes[a] = detail::axis_for(t, s.axes[a], nl, true, p.id_vocab, p.id_type, p.id_rank);
  }
  r.weight = detail::scaled<float, R>(wm, g.extra);
  r.exp_avg = detail::scaled<float, R>(gm, 1.0 / g.extra);
  for (std::size_t a = 0; a < R; ++a) r.exp_avg_sq.axes[a] = r.exp_avg.axes[a].squared();
  if constexpr (R == 2) {  // grow_parameter's fresh rows
    for (std::size_t a = 0; a < R; ++a) {
      const unit_map* um = nullptr;
      if (s.axes[a].s == side::out && s.axes[a].d == dim::attn) um = &t.attn;
      if (s.axes[a].d == dim::position) um = &t.position;
      if (s.axes[a].s == side::out && s.axes[a].d == dim::ffn) um = &t.ffn[nl];
      if (s.axes[a].s == side::out && s.axes[a].d == dim::hidden) um = &t.hidden;
      if (um && std::find(um->fresh.begin(), um->fresh.end(), true) != um->fresh.end()) r.fresh.push_back({a, um->fresh});
    }
  }
  const bool handoff_ln = identity_needs_ln_handoff(p.from) && s.site == ln_site::output;
  r.zero_moments = p.options.optimizer == optimizer_policy::reset || (s.layer >= 0 && t.depth.inserted[nl] && !handoff_ln);
  return r;
}

}  // namespace growth::model
