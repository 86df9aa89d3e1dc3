#pragma once
/// @file mpi.hpp
/// MPI executor for shard-local growth (ops/shard.hpp): every rank holds its shard of a tensor, and growing
/// it exchanges only the slices the plan lists, with one MPI_Alltoallv, then applies the local map with the
/// host executor. No rank ever holds a full tensor. When no rank receives anything (rank-aligned FFN
/// splits and head growth, anything along an unsplit axis) the plan says so identically on every rank and
/// no collective is called at all.
///
/// The CMake target growth::mpi (GROWTH_WITH_MPI) links growth::core and MPI's C API (MPI::MPI_CXX, C++
/// bindings off). Any MPI works; the project tests Open MPI 4.1 from Debian under mpirun --oversubscribe.
/// Errors: a shard shape or a layout that does not fit throws growth::error before any communication; every
/// rank derives the same plans from the same map and partitions, so all ranks throw together. A failed MPI
/// call is fatal under MPI's default handler (MPI_ERRORS_ARE_FATAL: the job goes down with MPI's message);
/// with MPI_ERRORS_RETURN it throws growth::error naming the call.
#include <mpi.h>

#include <climits>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/tensor.hpp"
#include "../model/grow.hpp"
#include "../model/tensor_parallel.hpp"
#include "../ops/shard.hpp"

namespace growth::mpi {

/// This process's rank in comm and comm's size.
inline std::size_t rank(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return static_cast<std::size_t>(r);
}
inline std::size_t size(MPI_Comm comm) {
  int n = 0;
  MPI_Comm_size(comm, &n);
  return static_cast<std::size_t>(n);
}

/// Throws growth::error when an MPI call returned an error (only reachable with MPI_ERRORS_RETURN).
inline void check(int rc, std::string_view call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw error(std::string(call), "MPI_SUCCESS", std::string(msg, static_cast<std::size_t>(len)));
}

/// What one shard-local growth moved on this rank.
struct exchange_stats {
  std::size_t sent_bytes = 0, received_bytes = 0;
  bool collective = false;  ///< whether MPI_Alltoallv was called (false when no rank receives anything)
};

namespace detail {
/// MPI counts and displacements are int: bytes per peer, checked.
inline std::vector<int> int_bytes(const std::vector<std::size_t>& elements, std::size_t elem_size, std::string_view name) {
  std::vector<int> v(elements.size());
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const std::size_t b = elements[i] * elem_size;
    if (b > static_cast<std::size_t>(INT_MAX))
      throw error(std::string(name) + " exchange", "at most " + std::to_string(INT_MAX) + " bytes per rank (MPI int counts)",
                  std::to_string(b) + " bytes");
    v[i] = static_cast<int>(b);
  }
  return v;
}
}  // namespace detail

/// Grows this rank's shard along a plan made by plan_shard(m, in, out, mpi::rank(comm)) on every rank of
/// comm: packs the slices each peer needs, one MPI_Alltoallv (skipped when the plan has no exchange
/// anywhere), then apply_shard. local_out is bit-identical to this rank's slices of the unsharded apply.
/// Collective: every rank of comm calls it with its own plan of the same map and partitions.
template <class T, std::size_t R>
exchange_stats apply_shard(MPI_Comm comm, const shard_plan<R>& p, tensor_view<const T, R> local_in,
                           tensor_view<T, R> local_out, std::string_view name = "tensor") {
  if (size(comm) != p.ranks || rank(comm) != p.rank)
    throw error(std::string(name) + " shard plan", "rank " + std::to_string(rank(comm)) + " of " + std::to_string(size(comm)),
                "rank " + std::to_string(p.rank) + " of " + std::to_string(p.ranks));
  exchange_stats st;
  if (!p.exchange_anywhere) {
    growth::apply_shard<T, R>(p, local_in, {}, local_out, name);
    return st;
  }
  std::vector<T> send;
  const std::vector<std::size_t> soff = pack_sends<T, R>(p, local_in, send);
  const std::vector<std::size_t> roff = recv_offsets(p);
  std::vector<T> recv(roff.back());
  std::vector<std::size_t> scount(p.ranks), rcount(p.ranks);
  for (std::size_t q = 0; q < p.ranks; ++q) {
    scount[q] = soff[q + 1] - soff[q];
    rcount[q] = roff[q + 1] - roff[q];
  }
  const std::vector<std::size_t> sdispl(soff.begin(), soff.end() - 1), rdispl(roff.begin(), roff.end() - 1);
  const auto sc = detail::int_bytes(scount, sizeof(T), name), rc = detail::int_bytes(rcount, sizeof(T), name);
  const auto sd = detail::int_bytes(sdispl, sizeof(T), name), rd = detail::int_bytes(rdispl, sizeof(T), name);
  check(MPI_Alltoallv(send.data(), sc.data(), sd.data(), MPI_BYTE, recv.data(), rc.data(), rd.data(), MPI_BYTE, comm),
        "MPI_Alltoallv (" + std::string(name) + ")");
  st.collective = true;
  st.sent_bytes = send.size() * sizeof(T);
  st.received_bytes = recv.size() * sizeof(T);
  growth::apply_shard<T, R>(p, local_in, std::span<const T>(recv), local_out, name);
  return st;
}

/// Plans this rank's part (plan_shard) and grows its shard (apply_shard above): the one call a
/// tensor-parallel trainer makes per tensor. local_out must have the plan's out_extents (plan_shard on
/// the same arguments gives them ahead of time, without communication).
template <class T, std::size_t R>
exchange_stats grow_shard(MPI_Comm comm, const tensor_map<R>& m, const partition& in, const partition& out,
                          tensor_view<const T, R> local_in, tensor_view<T, R> local_out, std::string_view name = "tensor") {
  const shard_plan<R> p = plan_shard(m, in, out, rank(comm), name);
  return apply_shard<T, R>(comm, p, local_in, local_out, name);
}

/// Grows this rank's shard of new BERT parameter i of a tensor-parallel plan (model/tensor_parallel.hpp):
/// src is this rank's shard of the source parameter (tp_parameter_growth(tp, i).src_name, laid out as its
/// `in` partition; unused for constants), dst this rank's shard of the new one (tp_shard_extents of `out`).
/// Constants are written locally; a mapped parameter is exchanged and applied (apply_shard above), then its
/// fresh slices are filled with the global element indices. The shards put together equal
/// model::grow_parameter(tp.plan, i, ...) on the whole model, bit for bit. Collective over comm.
template <class T, std::size_t R>
exchange_stats grow_parameter_shard(MPI_Comm comm, const model::tp_grow_plan& tp, std::size_t i,
                                    tensor_view<const T, R> src, tensor_view<T, R> dst) {
  const auto g = model::tp_parameter_growth<R>(tp, i);
  const std::size_t me = rank(comm);
  const auto& spec = tp.plan.new_specs.at(i);
  ::growth::detail::check_extents<R>(g.name + " shard", "output shard shape", model::tp_shard_extents<R>(g.out, spec.shape, me),
                                     dst.extents());
  if (g.k != model::tp_parameter<R>::kind::mapped) {
    model::detail::fill_value<T, host_space, R>(dst, g.k == model::tp_parameter<R>::kind::unit ? 1.0 : 0.0);
    return {};
  }
  const shard_plan<R> p = plan_shard(g.weight, g.in, g.out, me, g.name);
  const exchange_stats st = apply_shard<T, R>(comm, p, src, dst, g.name);
  for (const auto& f : g.fresh)
    fill_fresh_shard<T, R>(p, dst, g.weight.out_extents(), f.axis, f.mask, g.seed, g.stream, g.stddev, g.name);
  return st;
}

/// The Adam moments' shards of new parameter i (the policy of the plan's options, as grow_parameter):
/// mapped with the gradient's map (exp_avg) and its square (exp_avg_sq), or zero. Collective over comm.
template <class T, std::size_t R>
exchange_stats grow_moments_shard(MPI_Comm comm, const model::tp_grow_plan& tp, std::size_t i,
                                  tensor_view<const T, R> m_src, tensor_view<const T, R> v_src, tensor_view<T, R> m_dst,
                                  tensor_view<T, R> v_dst) {
  const auto g = model::tp_parameter_growth<R>(tp, i);
  const std::size_t me = rank(comm);
  if (g.k != model::tp_parameter<R>::kind::mapped || g.zero_moments) {
    model::detail::fill_value<T, host_space, R>(m_dst, 0.0);
    model::detail::fill_value<T, host_space, R>(v_dst, 0.0);
    return {};
  }
  exchange_stats a = apply_shard<T, R>(comm, plan_shard(g.exp_avg, g.in, g.out, me, g.name), m_src, m_dst, g.name + ".exp_avg");
  const exchange_stats b =
      apply_shard<T, R>(comm, plan_shard(g.exp_avg_sq, g.in, g.out, me, g.name), v_src, v_dst, g.name + ".exp_avg_sq");
  a.sent_bytes += b.sent_bytes;
  a.received_bytes += b.received_bytes;
  a.collective = a.collective || b.collective;
  return a;
}

}  // namespace growth::mpi
