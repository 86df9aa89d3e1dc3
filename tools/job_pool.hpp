#pragma once
// A pool of worker threads for independent training runs (`growth demo`, `growth study`): `workers` runs at a
// time with `threads` OpenMP/Eigen threads each, so CPU use stays at workers * threads. Each run is
// deterministic for its thread count, whichever worker takes it. The first exception stops the pool (the
// interrupt flag makes running trainers stop after their step) and is rethrown.
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "progress.hpp"

namespace growth_tool {

inline void run_jobs(std::size_t workers, std::size_t threads, const std::vector<std::function<void()>>& jobs) {
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errs(workers);
  auto worker = [&](std::size_t w) {
    try {
#ifdef _OPENMP
      omp_set_num_threads(static_cast<int>(threads));  // per thread: OpenMP's thread-count ICV is per thread
#else
      (void)threads;
#endif
      for (std::size_t i; (i = next++) < jobs.size();) {
        if (interrupt_flag().load()) return;
        jobs[i]();
      }
    } catch (...) {
      errs[w] = std::current_exception();
      interrupt_flag().store(true);
    }
  };
  std::vector<std::thread> ts;
  for (std::size_t w = 0; w < workers; ++w) ts.emplace_back(worker, w);
  for (auto& t : ts) t.join();
  for (auto& e : errs)
    if (e) std::rethrow_exception(e);
}

}  // namespace growth_tool
