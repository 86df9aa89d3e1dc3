// Runs bench_train_step's BERT training step (train_step_setup.hpp) N times after one warm-up step, for
// a profiler: the setup (initialisation, the warm-up) is a small share of the samples.
//   OMP_NUM_THREADS=1 perf record -F 4000 build/benchmarks/profile_train_step 20
//   perf report --no-children --sort symbol
// Prints the mean step time (forward + backward + AdamW).
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "train_step_setup.hpp"

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20;
  if (steps < 1) {
    std::fprintf(stderr, "usage: profile_train_step [steps >= 1]\n");
    return 2;
  }
  growth::bench::train_step_fixture f;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) f.step();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d steps, %.1f ms per step\n", steps, s / steps * 1e3);
  return 0;
}
