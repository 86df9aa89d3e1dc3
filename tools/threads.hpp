#pragma once
// The process-wide thread setup of the tool (`growth train`, `growth demo`, `growth study`) and of the tests
// that need a fixed thread count: Eigen's GEMM and the reference model's OpenMP loops together, since
// results are deterministic per thread count.
#include <cstddef>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace growth_tool {

/// Uses n threads for Eigen's GEMM and the reference model's OpenMP loops (0 = leave the defaults).
inline void set_threads(std::size_t n) {
  if (n == 0) return;
  Eigen::setNbThreads(static_cast<int>(n));
#ifdef _OPENMP
  omp_set_num_threads(static_cast<int>(n));
#endif
}

/// The threads Eigen will use.
inline std::size_t threads_in_use() { return static_cast<std::size_t>(Eigen::nbThreads()); }

}  // namespace growth_tool
