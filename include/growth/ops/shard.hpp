#pragma once
/// @file shard.hpp
/// Shard-local growth on tensor-parallel layouts: growing a tensor that P ranks hold in pieces without
/// gathering it anywhere.
///
/// A tensor-parallel trainer (Megatron-LM, Shoeybi et al. 2019, arXiv 1909.08053) splits each weight along
/// one axis into contiguous pieces: query/key/value and FFN-in weights (and their biases) by rows, the
/// out axis ("column parallel" in Megatron's words); attention-output and FFN-out weights by columns, the
/// in axis ("row parallel"; their biases are replicated); the word embeddings by vocabulary rows. A
/// `partition` says which contiguous range [begin_r, end_r) of one axis rank r holds; the ranges may be
/// uneven (any sizes, even empty), or the tensor may be replicated.
///
/// Growth is a tensor_map (core/index_map.hpp): output slice i along an axis is sum_e w_e * in_{index_e}.
/// Along the split axis k, rank r's output slices [c_r, d_r) read the input slices
///   N_r = { index_e : e an entry of a row i in [c_r, d_r) of axes[k] },
/// of which those in its own input range come from its own memory and the rest from the ranks that own
/// them. plan_shard() computes, for one rank, exactly that: the slices it receives from each peer (N_r
/// minus its own range, grouped by owner), the slices it sends (the same set computed for every peer, so no
/// negotiation is needed: every rank derives every rank's plan from the map and the two partitions), and
/// the local map: axes[k] cut to rows [c_r, d_r) with every source index renumbered into the assembled
/// input [own slices ; received slices in ascending global order]. The other axes are whole on every rank
/// and keep their maps. Only the split axis is cut, so a slice that moves is whole along the other axes.
///
/// Bit-identity with the unsharded apply: the host executor computes each output element as the sum, in
/// entry order, of (product of the axes' weights in axis order) * input element, from zero, rounded once.
/// The local map has the same rows, the same entries in the same order and the same weights; only the
/// indices are renamed to where those very input values now live. So every output element is computed by
/// the same sequence of operations on the same values: the shard equals the slice of the unsharded result
/// bit for bit, for every operator (tests/tensor_parallel/test_shard_plan.cpp checks it).
///
/// Fresh slices (new heads' Q/K/V rows, random position rows) are seeded noise indexed by the element's
/// row-major index in the WHOLE output tensor (ops/fill.hpp); fill_fresh_shard() writes a shard's part of
/// it with global indices, so it too equals the unsharded fill_fresh.
///
/// The transport is not here (the core layer is the standard library only): pack_sends() lays out what
/// this rank sends, peer by peer; the caller moves the bytes (adapters/mpi.hpp with MPI_Alltoallv, or a
/// loop in one process as the tests do); apply_shard() assembles and applies the local map.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../core/unit_map.hpp"
#include "options.hpp"
#include "width.hpp"

namespace growth {

/// How one tensor axis is laid out over P ranks: split (rank r holds slices [begin(r), end(r)) of `axis`,
/// contiguous, in rank order, covering the extent) or replicated (every rank holds the whole tensor).
class partition {
 public:
  partition() = default;

  /// Rank r holds sizes[r] slices of `axis`, ranks in order (sizes may be uneven and may be zero).
  static partition from_sizes(std::span<const std::size_t> sizes, std::size_t axis) {
    if (sizes.empty()) throw error("partition sizes", "at least one rank", "none");
    partition p;
    p.axis_ = axis;
    p.ranks_ = sizes.size();
    p.bounds_.assign(1, 0);
    for (auto s : sizes) p.bounds_.push_back(p.bounds_.back() + s);
    p.extent_ = p.bounds_.back();
    return p;
  }
  /// Megatron's even split: the first extent % ranks ranks hold one slice more.
  static partition even(std::size_t extent, std::size_t ranks, std::size_t axis) {
    if (ranks == 0) throw error("partition ranks", "at least 1", "0");
    std::vector<std::size_t> sizes(ranks, extent / ranks);
    for (std::size_t r = 0; r < extent % ranks; ++r) ++sizes[r];
    return from_sizes(sizes, axis);
  }
  /// Every rank holds the whole tensor (LayerNorm parameters, row-parallel biases, position tables).
  static partition replicated(std::size_t ranks) {
    if (ranks == 0) throw error("partition ranks", "at least 1", "0");
    partition p;
    p.ranks_ = ranks;
    return p;
  }

  [[nodiscard]] bool is_replicated() const { return bounds_.empty(); }
  [[nodiscard]] std::size_t ranks() const { return ranks_; }
  /// The split axis (meaningless when replicated).
  [[nodiscard]] std::size_t axis() const { return axis_; }
  /// The split axis's extent (0 when replicated: the extent is the tensor's).
  [[nodiscard]] std::size_t extent() const { return extent_; }
  /// Rank r's slices [first, second) along the split axis of a tensor whose extent there is `extent`
  /// ([0, extent) when replicated).
  [[nodiscard]] std::pair<std::size_t, std::size_t> range(std::size_t r, std::size_t extent) const {
    if (is_replicated()) return {0, extent};
    return {bounds_.at(r), bounds_.at(r + 1)};
  }
  /// The rank holding slice i of a split axis (the first rank whose range contains it).
  [[nodiscard]] std::size_t owner(std::size_t i) const {
    const auto it = std::upper_bound(bounds_.begin(), bounds_.end(), i);
    return static_cast<std::size_t>(it - bounds_.begin()) - 1;
  }

 private:
  std::size_t axis_ = 0, ranks_ = 1, extent_ = 0;
  std::vector<std::size_t> bounds_;  // ranks + 1 entries, bounds_[0] = 0, bounds_[ranks] = extent; empty: replicated
};

/// Megatron-LM's ways to hold a parameter (arXiv 1909.08053, section 3). Weights are out x in (PyTorch).
enum class tp_split : std::uint8_t {
  column_parallel,  ///< split along the out axis: Q/K/V and FFN-in weights (rows) and their biases
  row_parallel,     ///< split along the in axis: attention-output and FFN-out weights (columns)
  vocab_parallel,   ///< embeddings split by vocabulary rows (axis 0)
  replicated,       ///< every rank holds all of it: LayerNorms, row-parallel biases, position tables
};

/// The axis a tensor of rank `tensor_rank` held as `s` is split along (row-parallel vectors, i.e. biases,
/// are replicated; for them and tp_split::replicated the answer is unused).
inline std::size_t tp_axis(tp_split s, std::size_t tensor_rank) {
  if (s == tp_split::row_parallel && tensor_rank >= 2) return 1;
  return 0;
}
/// The even Megatron partition of a tensor of `extents` held as `s` over `ranks` ranks (uneven layouts:
/// partition::from_sizes along tp_axis(s, R)).
template <std::size_t R>
partition tp_partition(tp_split s, const std::array<std::size_t, R>& extents, std::size_t ranks) {
  if (s == tp_split::replicated || (s == tp_split::row_parallel && R == 1)) return partition::replicated(ranks);
  const std::size_t a = tp_axis(s, R);
  return partition::even(extents[a], ranks, a);
}

/// A run of consecutive slices [begin, end) along the split axis, in global indices.
struct slice_range {
  std::size_t begin = 0, end = 0;
  [[nodiscard]] std::size_t size() const { return end - begin; }
  friend bool operator==(const slice_range&, const slice_range&) = default;
};

/// One rank's part of growing a partitioned tensor (see the file comment).
template <std::size_t R>
struct shard_plan {
  std::size_t rank = 0, ranks = 1;
  std::size_t axis = 0;  ///< the split axis (0 when both sides are replicated)
  slice_range in, out;   ///< this rank's input and output slices along `axis`
  std::array<std::size_t, R> in_extents{}, out_extents{};  ///< this rank's local input and output shapes
  std::size_t slice_elements = 0;  ///< elements of one input slice (product of the other input extents)
  std::vector<std::vector<slice_range>> recv;  ///< [peer]: input slices received from it, ascending
  std::vector<std::vector<slice_range>> send;  ///< [peer]: input slices sent to it, ascending
  std::vector<slice_range> out_local;   ///< output slices computed from this rank's own input only
  std::vector<slice_range> out_remote;  ///< output slices that read at least one received slice
  tensor_map<R> local;                  ///< assembled input -> this rank's output
  bool exchange_anywhere = false;       ///< some rank receives something (the same on every rank)

  [[nodiscard]] static std::size_t count(const std::vector<slice_range>& v) {
    std::size_t n = 0;
    for (const auto& s : v) n += s.size();
    return n;
  }
  [[nodiscard]] std::size_t recv_slices(std::size_t peer) const { return count(recv[peer]); }
  [[nodiscard]] std::size_t send_slices(std::size_t peer) const { return count(send[peer]); }
  [[nodiscard]] std::size_t recv_elements() const {
    std::size_t n = 0;
    for (std::size_t q = 0; q < ranks; ++q) n += recv_slices(q) * slice_elements;
    return n;
  }
  [[nodiscard]] std::size_t send_elements() const {
    std::size_t n = 0;
    for (std::size_t q = 0; q < ranks; ++q) n += send_slices(q) * slice_elements;
    return n;
  }
  /// The assembled input's shape: own slices then received ones along `axis`.
  [[nodiscard]] std::array<std::size_t, R> assembled_extents() const {
    auto e = in_extents;
    for (std::size_t q = 0; q < ranks; ++q) e[axis] += recv_slices(q);
    return e;
  }
};

namespace detail {

/// The input slices (global, ascending, unique) that output rows [c, d) of `a` read.
inline std::vector<std::int64_t> needed_sources(const axis_map& a, std::size_t c, std::size_t d) {
  std::vector<std::int64_t> s(a.index().begin() + static_cast<std::ptrdiff_t>(a.offsets()[c]),
                              a.index().begin() + static_cast<std::ptrdiff_t>(a.offsets()[d]));
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

/// For rank q: the slices it needs from each peer, as runs, ascending (empty lists for q itself).
inline std::vector<std::vector<slice_range>> needs_of(const axis_map& a, const partition& in, const partition& out,
                                                      std::size_t q) {
  const std::size_t P = in.ranks();
  std::vector<std::vector<slice_range>> need(P);
  if (in.is_replicated()) return need;  // every input slice is already local
  const std::size_t n = a.in_extent();
  const auto [ib, ie] = in.range(q, n);
  const auto [ob, oe] = out.range(q, a.out_extent());
  for (const auto g64 : needed_sources(a, ob, oe)) {
    const auto g = static_cast<std::size_t>(g64);
    if (g >= ib && g < ie) continue;
    auto& v = need[in.owner(g)];
    if (!v.empty() && v.back().end == g) ++v.back().end;
    else v.push_back({g, g + 1});
  }
  return need;
}

inline void check_partition(std::string_view name, const char* which, const partition& p, std::size_t axis,
                            std::size_t extent, std::size_t ranks) {
  if (p.ranks() != ranks)
    throw error(std::string(name) + " " + which + " partition ranks", std::to_string(ranks), std::to_string(p.ranks()));
  if (p.is_replicated()) return;
  if (p.axis() != axis)
    throw error(std::string(name) + " " + which + " partition axis", std::to_string(axis) + " (the other side's split axis)",
                std::to_string(p.axis()));
  if (p.extent() != extent)
    throw error(std::string(name) + " " + which + " partition extent", std::to_string(extent) + " (the map's extent on axis " +
                                                                           std::to_string(axis) + ")",
                std::to_string(p.extent()));
}

/// The sub-view of slices [b, e) along `axis` of v.
template <class T, std::size_t R>
tensor_view<T, R> slices_of(tensor_view<T, R> v, std::size_t axis, std::size_t b, std::size_t e) {
  auto ext = v.extents();
  ext[axis] = e - b;
  return tensor_view<T, R>(v.data() + static_cast<std::ptrdiff_t>(b) * v.stride(axis), ext, v.strides());
}

/// dst = src element by element (any strides, same extents): an identity apply, so exact.
template <class T, std::size_t R>
void copy_view(tensor_view<const T, R> src, tensor_view<T, R> dst) {
  executor<host_space>::template upload<T, R>(src, dst);
}

}  // namespace detail

/// Rank `rank`'s plan for growing a tensor by `m` from layout `in` to layout `out` (see the file comment).
/// Both partitions split the same axis, or either (or both) is replicated. Throws growth::error naming
/// `name` on a mismatch. Cost: O(entries of the split axis' map) per rank, times P for the send lists.
template <std::size_t R>
shard_plan<R> plan_shard(const tensor_map<R>& m, const partition& in, const partition& out, std::size_t rank,
                         std::string_view name = "tensor") {
  const std::size_t P = in.ranks();
  const std::size_t k = !in.is_replicated() ? in.axis() : !out.is_replicated() ? out.axis() : 0;
  if (k >= R) throw error(std::string(name) + " partition axis", "an axis < " + std::to_string(R), std::to_string(k));
  if (rank >= P) throw error(std::string(name) + " rank", "< " + std::to_string(P) + " ranks", std::to_string(rank));
  for (std::size_t a = 0; a < R; ++a) m.axes[a].check(std::string(name) + " axis " + std::to_string(a));
  const axis_map& a = m.axes[k];
  detail::check_partition(name, "input", in, k, a.in_extent(), P);
  detail::check_partition(name, "output", out, k, a.out_extent(), P);

  shard_plan<R> p;
  p.rank = rank;
  p.ranks = P;
  p.axis = k;
  const auto [ib, ie] = in.range(rank, a.in_extent());
  const auto [ob, oe] = out.range(rank, a.out_extent());
  p.in = {ib, ie};
  p.out = {ob, oe};
  p.in_extents = m.in_extents();
  p.in_extents[k] = p.in.size();
  p.out_extents = m.out_extents();
  p.out_extents[k] = p.out.size();
  p.slice_elements = 1;
  for (std::size_t b = 0; b < R; ++b)
    if (b != k) p.slice_elements *= m.in_extents()[b];
  p.recv = detail::needs_of(a, in, out, rank);
  p.send.assign(P, {});
  for (std::size_t q = 0; q < P; ++q) {
    const auto nq = detail::needs_of(a, in, out, q);
    if (q != rank) p.send[q] = nq[rank];
    for (const auto& v : nq) p.exchange_anywhere = p.exchange_anywhere || !v.empty();
  }

  // Received slices in ascending global order (peers own ascending ranges): position = own size + rank
  // among them.
  std::vector<std::size_t> received;
  for (const auto& v : p.recv)
    for (const auto& s : v)
      for (std::size_t g = s.begin; g < s.end; ++g) received.push_back(g);
  axis_map cut(p.in.size() + received.size());
  cut.reserve(p.out.size(), a.offsets()[p.out.end] - a.offsets()[p.out.begin]);
  for (std::size_t i = p.out.begin; i < p.out.end; ++i) {
    cut.begin_row();
    bool remote = false;
    for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e) {
      const auto g = static_cast<std::size_t>(a.index()[e]);
      std::size_t at = 0;
      if (g >= p.in.begin && g < p.in.end) {
        at = g - p.in.begin;
      } else {
        at = p.in.size() + static_cast<std::size_t>(std::lower_bound(received.begin(), received.end(), g) - received.begin());
        remote = true;
      }
      cut.add_entry(static_cast<std::int64_t>(at), a.weight()[e]);
    }
    auto& list = remote ? p.out_remote : p.out_local;
    if (!list.empty() && list.back().end == i) ++list.back().end;
    else list.push_back({i, i + 1});
  }
  if (P == 1 || (in.is_replicated() && out.is_replicated())) cut = a;  // nothing cut: keep identity flags
  for (std::size_t b = 0; b < R; ++b) p.local.axes[b] = b == k ? cut : m.axes[b];
  return p;
}

/// Every rank's plan (what one process simulating P ranks, or a report of the traffic, needs).
template <std::size_t R>
std::vector<shard_plan<R>> plan_shards(const tensor_map<R>& m, const partition& in, const partition& out,
                                       std::string_view name = "tensor") {
  std::vector<shard_plan<R>> v;
  for (std::size_t r = 0; r < in.ranks(); ++r) v.push_back(plan_shard(m, in, out, r, name));
  return v;
}

/// Lays out what this rank sends: for each peer in rank order, its slices in ascending order, each block
/// row-major with the split axis cut to the run. Returns the element offset of each peer's block in `buf`
/// (P + 1 entries; peer q's block is [offsets[q], offsets[q + 1])), which is MPI_Alltoallv's sdispls.
template <class T, std::size_t R>
std::vector<std::size_t> pack_sends(const shard_plan<R>& p, tensor_view<const T, R> local_in, std::vector<T>& buf) {
  detail::check_extents<R>("pack_sends local input", "shard shape", p.in_extents, local_in.extents());
  std::vector<std::size_t> off(p.ranks + 1, 0);
  for (std::size_t q = 0; q < p.ranks; ++q) off[q + 1] = off[q] + p.send_slices(q) * p.slice_elements;
  buf.resize(off.back());
  for (std::size_t q = 0; q < p.ranks; ++q) {
    std::size_t at = off[q];
    for (const auto& s : p.send[q]) {
      auto ext = local_in.extents();
      ext[p.axis] = s.size();
      tensor_view<T, R> dst(buf.data() + at, ext);
      detail::copy_view<T, R>(detail::slices_of(local_in, p.axis, s.begin - p.in.begin, s.end - p.in.begin), dst);
      at += s.size() * p.slice_elements;
    }
  }
  return off;
}

/// The element offset of each peer's block in the receive buffer (P + 1 entries): MPI_Alltoallv's rdispls.
template <std::size_t R>
std::vector<std::size_t> recv_offsets(const shard_plan<R>& p) {
  std::vector<std::size_t> off(p.ranks + 1, 0);
  for (std::size_t q = 0; q < p.ranks; ++q) off[q + 1] = off[q] + p.recv_slices(q) * p.slice_elements;
  return off;
}

/// This rank's output: assembles [local input ; received slices] (skipped when nothing was received) and
/// applies the local map with the host executor. `received` holds the peers' blocks as pack_sends laid them
/// out, at recv_offsets(p). Bit-identical to the same slices of the unsharded apply (file comment).
template <class T, std::size_t R>
void apply_shard(const shard_plan<R>& p, tensor_view<const T, R> local_in, std::span<const T> received,
                 tensor_view<T, R> local_out, std::string_view name = "tensor") {
  detail::check_extents<R>(std::string(name) + " shard", "input shard shape", p.in_extents, local_in.extents());
  detail::check_extents<R>(std::string(name) + " shard", "output shard shape", p.out_extents, local_out.extents());
  const auto off = recv_offsets(p);
  if (received.size() != off.back())
    throw error(std::string(name) + " received elements", std::to_string(off.back()), std::to_string(received.size()));
  if (off.back() == 0) {
    executor<host_space>::template apply<T, R>(p.local, local_in, local_out);
    return;
  }
  tensor<T, R> all(p.assembled_extents());
  detail::copy_view<T, R>(local_in, detail::slices_of(all.view(), p.axis, 0, p.in.size()));
  std::size_t at = p.in.size();
  for (std::size_t q = 0; q < p.ranks; ++q) {
    std::size_t src = off[q];
    for (const auto& s : p.recv[q]) {
      auto ext = p.in_extents;
      ext[p.axis] = s.size();
      tensor_view<const T, R> block(received.data() + src, ext);
      detail::copy_view<T, R>(block, detail::slices_of(all.view(), p.axis, at, at + s.size()));
      at += s.size();
      src += s.size() * p.slice_elements;
    }
  }
  executor<host_space>::template apply<T, R>(p.local, tensor_view<const T, R>(all.view()), local_out);
}

/// fill_fresh (ops/fill.hpp) on this rank's output shard: element e of the whole output tensor (row-major
/// flat index in `full` extents) gets stddev * philox_normal(seed, stream, e) when its index along
/// `fresh_axis` is selected by `fresh` (a mask over the WHOLE axis); the shard holds slices
/// [offset, offset + extent) of `split_axis`. Equal, bit for bit, to the shard's part of fill_fresh.
template <class T, std::size_t R>
void fill_fresh_shard(tensor_view<T, R> out, const std::array<std::size_t, R>& full, std::size_t split_axis,
                      std::size_t offset, std::size_t fresh_axis, const std::vector<bool>& fresh, std::uint64_t seed,
                      std::uint64_t stream, double stddev, std::string_view name = "tensor") {
  using C = compute_t<T>;
  if (fresh_axis >= R || split_axis >= R)
    throw error(std::string(name) + " fresh axis", "< rank " + std::to_string(R), std::to_string(std::max(fresh_axis, split_axis)));
  if (fresh.size() != full[fresh_axis])
    throw error(std::string(name) + " fresh mask", std::to_string(full[fresh_axis]) + " entries", std::to_string(fresh.size()));
  if (!(stddev >= 0.0)) throw error(std::string(name) + " stddev", "a number >= 0", detail::to_string_any(stddev));
  const auto ext = out.extents();
  const std::size_t len = ext[R - 1];
  if (len == 0) return;
  std::size_t rows = 1;
  for (std::size_t a = 0; a + 1 < R; ++a) rows *= ext[a];
  std::array<std::size_t, R> idx{};
  std::vector<double> z(len);
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t rest = r;
    for (std::size_t a = R - 1; a-- > 0;) {
      idx[a] = rest % ext[a];
      rest /= ext[a];
    }
    idx[R - 1] = 0;
    const auto global = [&](std::size_t a) { return idx[a] + (a == split_axis ? offset : 0); };
    if (fresh_axis != R - 1 && !fresh[global(fresh_axis)]) continue;
    std::uint64_t flat = 0;
    std::ptrdiff_t off = 0;
    for (std::size_t a = 0; a < R; ++a) {
      flat = flat * full[a] + global(a);
      off += static_cast<std::ptrdiff_t>(idx[a]) * out.stride(a);
    }
    philox_normals(seed, stream, flat, z);
    T* row = out.data() + off;
    for (std::size_t j = 0; j < len; ++j) {
      if (fresh_axis == R - 1 && !fresh[j + (split_axis == R - 1 ? offset : 0)]) continue;
      row[static_cast<std::ptrdiff_t>(j) * out.stride(R - 1)] = from_compute<T>(static_cast<C>(stddev * z[j]));
    }
  }
}

/// fill_fresh_shard for a planned shard: the plan's output slices of its split axis.
template <class T, std::size_t R>
void fill_fresh_shard(const shard_plan<R>& p, tensor_view<T, R> out, const std::array<std::size_t, R>& full,
                      std::size_t fresh_axis, const std::vector<bool>& fresh, std::uint64_t seed, std::uint64_t stream,
                      double stddev, std::string_view name = "tensor") {
  fill_fresh_shard<T, R>(out, full, p.axis, p.out.begin, fresh_axis, fresh, seed, stream, stddev, name);
}

/// What growing a tensor on a layout moves: elements received by all ranks together, and the whole input
/// and output tensors' element counts (the figures benchmarks/README.md reports).
struct shard_traffic {
  std::size_t moved = 0, full_in = 0, full_out = 0;
};
template <std::size_t R>
shard_traffic traffic_of(const std::vector<shard_plan<R>>& plans, const tensor_map<R>& m) {
  shard_traffic t;
  for (const auto& p : plans) t.moved += p.recv_elements();
  t.full_in = t.full_out = 1;
  for (std::size_t a = 0; a < R; ++a) {
    t.full_in *= m.axes[a].in_extent();
    t.full_out *= m.axes[a].out_extent();
  }
  return t;
}

// ------------------------------------------------------------------------------------------------------------
// Rank-aligned width operators. The order of FFN neurons and of attention heads is free: permuting them
// consistently on the producing rows and the consuming columns leaves the network's function unchanged. The
// global operators (ffn_split, heads_add, heads_duplicate) put every new unit after all old ones, so on a
// split layout a rank's new units are copies of other ranks' old units and must be received. The aligned
// versions below order the grown units rank-major instead: rank r's new units follow its own old ones and
// copy only them, so with the returned output partition nothing moves (plan_shard finds no exchange). They
// are the same exact operators up to that permutation (each old unit's replicas share its fan-in column in
// the same fractions), and the unsharded apply of the same map is the reference the shards equal bit for bit.

/// A grown dimension laid out over ranks: its unit_map and the output partition (rank-major, sizes new_sizes).
struct aligned_growth {
  unit_map map;
  partition out;
};

namespace detail {
inline void check_aligned(const char* what, const partition& old_units, std::span<const std::size_t> new_sizes) {
  if (old_units.is_replicated()) throw error(std::string(what) + " old partition", "split", "replicated");
  if (new_sizes.size() != old_units.ranks())
    throw error(std::string(what) + " new sizes", std::to_string(old_units.ranks()) + " (one per rank)",
                std::to_string(new_sizes.size()));
  for (std::size_t r = 0; r < new_sizes.size(); ++r) {
    const auto [b, e] = old_units.range(r, old_units.extent());
    if (new_sizes[r] < e - b)
      throw error(std::string(what) + " rank " + std::to_string(r) + " new size",
                  ">= its old size " + std::to_string(e - b) + " (cannot shrink)", std::to_string(new_sizes[r]));
    if (e == b && new_sizes[r] > 0)
      throw error(std::string(what) + " rank " + std::to_string(r) + " new size",
                  "0 (the rank holds no old unit to copy)", std::to_string(new_sizes[r]));
  }
}
}  // namespace detail

/// ffn_split (ops/width.hpp) rank by rank: rank r's old neurons [a, b) grow to new_sizes[r] neurons, its
/// j-th new neuron copying a + j for j < b - a, then a + (j - (b - a)) mod (b - a) (split, split_asym) or a
/// seeded uniform one of [a, b) (split_random, stream 0x5f11 + r). Fan-in fractions as ffn_split: 1/c, or
/// u / sum(u) with u uniform in [0.5, 1.5) seeded per old neuron (split_asym).
inline aligned_growth ffn_split_aligned(const partition& old_neurons, std::span<const std::size_t> new_sizes, ffn_mode mode,
                                        std::uint64_t seed = 0) {
  detail::check_aligned("ffn_split_aligned", old_neurons, new_sizes);
  if (mode != ffn_mode::split && mode != ffn_mode::split_random && mode != ffn_mode::split_asym)
    throw error("ffn_split_aligned mode", "split, split_random or split_asym", std::string(to_string(mode)));
  const std::size_t I = old_neurons.extent();
  std::vector<std::int64_t> src;
  for (std::size_t r = 0; r < new_sizes.size(); ++r) {
    const auto [a, b] = old_neurons.range(r, I);
    const std::size_t n = b - a;
    rng pick(seed, 0x5f11u + r);
    for (std::size_t j = 0; j < new_sizes[r]; ++j) {
      std::size_t s = j;
      if (j >= n) s = mode == ffn_mode::split_random ? static_cast<std::size_t>(pick.below(n)) : (j - n) % n;
      src.push_back(static_cast<std::int64_t>(a + s));
    }
  }
  std::vector<double> frac = detail::equal_split(I, src);
  if (mode == ffn_mode::split_asym) {  // as ffn_split: one u per replica, stream = old neuron index
    std::vector<std::vector<std::size_t>> replicas(I);
    for (std::size_t j = 0; j < src.size(); ++j) replicas[static_cast<std::size_t>(src[j])].push_back(j);
    for (std::size_t i = 0; i < I; ++i) {
      if (replicas[i].size() < 2) continue;
      rng r(seed, 0xa5a5a5a5ULL + i);
      std::vector<double> u(replicas[i].size());
      double sum = 0.0;
      for (auto& x : u) sum += (x = 0.5 + r.uniform());
      for (std::size_t k = 0; k < u.size(); ++k) frac[replicas[i][k]] = u[k] / sum;
    }
  }
  return {detail::replicate_map(I, src, frac), partition::from_sizes(new_sizes, old_neurons.axis())};
}

/// heads_add / heads_duplicate (ops/heads.hpp) rank by rank, at head granularity: old_heads partitions the
/// heads (not channels), new_heads[r] is rank r's new head count; the map and the returned partition are
/// over channels (heads x head_dim). add: rank r's new heads are fresh (fan_out rows marked fresh, fan_in
/// columns zero); duplicate: its new head h copies its own old head h mod (its old head count), and every
/// replica of an old head gets its output columns divided by the replica count.
inline aligned_growth heads_grow_aligned(const partition& old_heads, std::span<const std::size_t> new_heads,
                                         std::size_t head_dim, heads_mode mode) {
  detail::check_aligned("heads_grow_aligned", old_heads, new_heads);
  if (head_dim == 0) throw error("heads_grow_aligned head_dim", "at least 1", "0");
  const std::size_t A = old_heads.extent();
  std::vector<std::int64_t> src;  // per new channel: old channel, -1 for a fresh one
  std::vector<std::size_t> count(A, 0);
  for (std::size_t r = 0; r < new_heads.size(); ++r) {
    const auto [a, b] = old_heads.range(r, A);
    for (std::size_t h = 0; h < new_heads[r]; ++h) {
      const bool old = h < b - a;
      const std::int64_t head = old || mode == heads_mode::duplicate ? static_cast<std::int64_t>(a + h % (b - a)) : -1;
      if (head >= 0) ++count[static_cast<std::size_t>(head)];
      for (std::size_t c = 0; c < head_dim; ++c)
        src.push_back(head < 0 ? -1 : head * static_cast<std::int64_t>(head_dim) + static_cast<std::int64_t>(c));
    }
  }
  std::vector<double> frac(src.size(), 0.0);
  std::vector<bool> fresh(src.size(), false);
  for (std::size_t j = 0; j < src.size(); ++j) {
    if (src[j] < 0) fresh[j] = true;
    else frac[j] = 1.0 / static_cast<double>(count[static_cast<std::size_t>(src[j]) / head_dim]);
  }
  std::vector<std::size_t> channels(new_heads.begin(), new_heads.end());
  for (auto& c : channels) c *= head_dim;
  unit_map u{axis_map::gather(A * head_dim, src), axis_map::gather(A * head_dim, src, frac), fresh};
  return {u, partition::from_sizes(channels, old_heads.axis())};
}

/// A partition in units of `group` slices each (heads -> channels): sizes multiplied by group.
inline partition scaled_partition(const partition& p, std::size_t group) {
  if (p.is_replicated()) return p;
  std::vector<std::size_t> sizes;
  for (std::size_t r = 0; r < p.ranks(); ++r) {
    const auto [b, e] = p.range(r, p.extent());
    sizes.push_back((e - b) * group);
  }
  return partition::from_sizes(sizes, p.axis());
}

/// The same partition of the same extent along another axis (a dimension seen from another tensor).
inline partition on_axis(const partition& p, std::size_t axis) {
  if (p.is_replicated()) return p;
  std::vector<std::size_t> sizes;
  for (std::size_t r = 0; r < p.ranks(); ++r) {
    const auto [b, e] = p.range(r, p.extent());
    sizes.push_back(e - b);
  }
  return partition::from_sizes(sizes, axis);
}

}  // namespace growth
