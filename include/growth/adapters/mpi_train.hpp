#pragma once
/// @file mpi_train.hpp
/// MPI communicator of data-parallel training (train/data_parallel.hpp, README "Tensor-parallel shard-local
/// growth and MPI"): growth::train::data_parallel_of<growth::mpi::data_parallel_comm> is the trainer's
/// data_parallel over MPI_COMM_WORLD. MPI's C API only; this header does not include the train layer (the
/// wrapper there takes any class with these members).
///
/// Reduction order. sum() is MPI_Reduce (MPI_SUM) to rank 0 followed by MPI_Bcast from rank 0: every rank
/// receives rank 0's bits, so the parameters after AdamW are bit-identical on every rank (an MPI_Allreduce
/// may, depending on the algorithm MPI picks, round differently on different ranks). The order in which MPI
/// adds the P partial sums is fixed for a given P and MPI build, so a run is deterministic for a given P; it
/// is not bit-identical to a single-process run (the single process adds each gradient over the whole batch
/// inside one GEMM, P ranks add P partial GEMMs; README gives the measured difference).
///
/// session: MPI_Init / MPI_Finalize around a program launched by mpirun (Open MPI, or any launcher setting
/// PMI / PMIx variables); a program started without a launcher does not touch MPI at all. A rank that fails
/// calls abort(): MPI_Abort takes every rank of the job down, and mpirun exits non-zero.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <span>

#include "mpi.hpp"

namespace growth::mpi {

/// Whether a launcher (mpirun, srun) started this process: Open MPI's, PMIx's or PMI's rank variables.
inline bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

/// MPI_Init when launched by mpirun (else nothing), MPI_Finalize at the end of its scope.
class session {
 public:
  session(int* argc, char*** argv) {
    if (!launched_by_mpirun()) return;
    int done = 0;
    MPI_Initialized(&done);
    if (done == 0) {
      check(MPI_Init(argc, argv), "MPI_Init");
      owner_ = true;
    }
    active_ = true;
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session() {
    int fin = 0;
    if (owner_ && MPI_Finalized(&fin) == MPI_SUCCESS && fin == 0) MPI_Finalize();
  }
  /// MPI is initialised (the process runs under mpirun).
  [[nodiscard]] bool active() const { return active_; }
  [[nodiscard]] std::size_t size() const { return active_ ? mpi::size(MPI_COMM_WORLD) : 1; }
  [[nodiscard]] std::size_t rank() const { return active_ ? mpi::rank(MPI_COMM_WORLD) : 0; }
  /// Ends the whole job (every rank) with exit status rc when more than one rank runs; returns rc otherwise.
  int abort(int rc) const {
    if (active_ && size() > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    return rc;
  }

 private:
  bool active_ = false, owner_ = false;
};

/// The communicator train::data_parallel_of wraps: rank and size of comm, sums bit-identical on every rank.
class data_parallel_comm {
 public:
  explicit data_parallel_comm(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {}
  [[nodiscard]] std::size_t rank() const { return mpi::rank(comm_); }
  [[nodiscard]] std::size_t size() const { return mpi::size(comm_); }
  void sum(std::span<float> x) { reduce_bcast(x.data(), x.size(), MPI_FLOAT, sizeof(float)); }
  void sum(std::span<double> x) { reduce_bcast(x.data(), x.size(), MPI_DOUBLE, sizeof(double)); }
  bool any(bool x) {
    int v = x ? 1 : 0, r = 0;
    check(MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_LOR, comm_), "MPI_Allreduce (any)");
    return r != 0;
  }
  void barrier() { check(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  /// Sum to rank 0, then rank 0's result to everyone, in chunks of at most INT_MAX / 2 elements (MPI counts
  /// are int).
  void reduce_bcast(void* data, std::size_t n, MPI_Datatype t, std::size_t elem) {
    const bool root = rank() == 0;
    constexpr std::size_t chunk = static_cast<std::size_t>(INT_MAX) / 2;
    auto* p = static_cast<unsigned char*>(data);
    for (std::size_t i = 0; i < n; i += chunk) {
      const int c = static_cast<int>(std::min(chunk, n - i));
      void* at = p + i * elem;
      check(MPI_Reduce(root ? MPI_IN_PLACE : at, root ? at : nullptr, c, t, MPI_SUM, 0, comm_), "MPI_Reduce (gradient sum)");
      check(MPI_Bcast(at, c, t, 0, comm_), "MPI_Bcast (gradient sum)");
    }
  }
  MPI_Comm comm_;
};

}  // namespace growth::mpi
