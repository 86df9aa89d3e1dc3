// The reference models' matrix product (reference/kernels.hpp: detail::gemm, its one-thread, slab and
// shared-packing drivers) on the shapes of the training step in bench_train_step (2048 tokens, hidden 256,
// FFN 1024, vocabulary 8192, 306 MLM targets), against Eigen's own product of the same shape and operands,
// the two alternating iteration by iteration so that both see the same machine (this VM's speed drifts).
// Reports both rates and ours / Eigen's. Operands come from memory, as in the step: a 64 MB sweep before
// each product evicts them (Google Benchmark's own time column includes the sweeps: read the counters).
//   OMP_NUM_THREADS=2 ./bench_gemm --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <chrono>
#include <growth/reference/kernels.hpp>
#include <vector>

namespace {

namespace rd = growth::reference::detail;
using mat = rd::mat<float>;

void evict() {
  static std::vector<float> sweep(16u << 20);  // [16 M] 64 MB, above the last-level cache of a core's share
  for (std::size_t i = 0; i < sweep.size(); i += 16) sweep[i] += 1.0f;
  benchmark::DoNotOptimize(sweep.data());
}

// C (m x n) = op(A) op(B) (+ C when accumulating), op as in the step: TA for the weight gradients dy^T x,
// TB for the linear layers' x W^T.
template <bool TA, bool TB>
void BM_gemm(benchmark::State& st) {
  const auto m = st.range(0), n = st.range(1), k = st.range(2);
  const bool accumulate = st.range(3) != 0;
  const mat a = mat::Random(TA ? k : m, TA ? m : k);  // op(A): m x k
  const mat b = mat::Random(TB ? n : k, TB ? k : n);  // op(B): k x n
  mat c = mat::Zero(m, n), e = mat::Zero(m, n);        // [m x n] ours, Eigen's
  double ours = 0, eigen = 0;
  for (auto _ : st) {
    evict();
    auto t0 = std::chrono::steady_clock::now();
    rd::gemm<float, TA, TB>(c, a, b, accumulate);
    ours += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    evict();
    t0 = std::chrono::steady_clock::now();
    const auto pa = [&] { if constexpr (TA) return a.transpose(); else return a; };
    const auto pb = [&] { if constexpr (TB) return b.transpose(); else return b; };
    if (accumulate)
      e.noalias() += pa() * pb();
    else
      e.noalias() = pa() * pb();
    eigen += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(c.data());
    benchmark::DoNotOptimize(e.data());
  }
  const double flops = 2.0 * static_cast<double>(m * n * k) * static_cast<double>(st.iterations());
  st.counters["ours_GFLOP/s"] = flops / ours * 1e-9;
  st.counters["eigen_GFLOP/s"] = flops / eigen * 1e-9;
  st.counters["ours/eigen"] = eigen / ours;
}

// {m, n, k, accumulate}
void forward_shapes(benchmark::internal::Benchmark* b) {
  b->Args({2048, 768, 256, 0})->Args({2048, 256, 256, 0})->Args({2048, 1024, 256, 0})->Args({2048, 256, 1024, 0})->Args({306, 8192, 256, 0});
}
void input_gradient_shapes(benchmark::internal::Benchmark* b) {  // dx = dy W
  b->Args({2048, 256, 256, 1})->Args({2048, 256, 1024, 1})->Args({2048, 1024, 256, 0})->Args({306, 256, 8192, 0});
}
void weight_gradient_shapes(benchmark::internal::Benchmark* b) {  // dW = dy^T x
  b->Args({256, 256, 2048, 1})->Args({1024, 256, 2048, 1})->Args({256, 1024, 2048, 1})->Args({8192, 256, 306, 1});
}

}  // namespace

BENCHMARK(BM_gemm<false, true>)->Name("x_Wt")->Apply(forward_shapes)->Unit(benchmark::kMillisecond)->Iterations(20);
BENCHMARK(BM_gemm<false, false>)->Name("dy_W")->Apply(input_gradient_shapes)->Unit(benchmark::kMillisecond)->Iterations(20);
BENCHMARK(BM_gemm<true, false>)->Name("dyT_x")->Apply(weight_gradient_shapes)->Unit(benchmark::kMillisecond)->Iterations(20);

BENCHMARK_MAIN();
