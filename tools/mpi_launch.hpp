#pragma once
// Data-parallel launch of the tool: `mpirun -np P growth train ...` (README "Tensor-parallel shard-local growth
// and MPI", docs/cli.md). Built with MPI (GROWTH_TOOL_WITH_MPI, from GROWTH_WITH_MPI), main() holds an
// mpi_launch: under mpirun it initialises MPI (adapters/mpi_train.hpp session) and offers the trainer its
// data_parallel over MPI_COMM_WORLD; started without mpirun, or built without MPI, nothing changes.
#include <cstdio>
#include <optional>

#include <growth/train/data_parallel.hpp>

#if GROWTH_TOOL_WITH_MPI
#include <growth/adapters/mpi_train.hpp>
#endif

namespace growth_tool {

class mpi_launch;
/// The launch main() holds (null before and after it).
inline mpi_launch*& current_launch() {
  static mpi_launch* p = nullptr;
  return p;
}

class mpi_launch {
 public:
  mpi_launch([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv)
#if GROWTH_TOOL_WITH_MPI
      : session_(argc, argv) {
    if (session_.active()) dp_.emplace(comm_);
#else
  {
#endif
    current_launch() = this;
  }
  mpi_launch(const mpi_launch&) = delete;
  mpi_launch& operator=(const mpi_launch&) = delete;
  ~mpi_launch() { current_launch() = nullptr; }

  /// The ranks of `mpirun -np P` (P >= 1), or null when the tool runs on its own.
  growth::train::data_parallel* data_parallel() {
#if GROWTH_TOOL_WITH_MPI
    return dp_ ? &*dp_ : nullptr;
#else
    return nullptr;
#endif
  }
  /// A failed rank: with more than one rank, the whole job ends here with status rc (MPI_Abort) instead of
  /// the other ranks waiting for it forever; otherwise rc is returned.
  int fail(int rc) {
    std::fflush(stdout);
    std::fflush(stderr);
#if GROWTH_TOOL_WITH_MPI
    return session_.abort(rc);
#else
    return rc;
#endif
  }

 private:
#if GROWTH_TOOL_WITH_MPI
  growth::mpi::session session_;
  growth::mpi::data_parallel_comm comm_{};
  std::optional<growth::train::data_parallel_of<growth::mpi::data_parallel_comm>> dp_;
#endif
};

/// The data-parallel ranks this process belongs to (null: one process, no mpirun).
inline growth::train::data_parallel* launched_data_parallel() {
  return current_launch() ? current_launch()->data_parallel() : nullptr;
}

}  // namespace growth_tool
