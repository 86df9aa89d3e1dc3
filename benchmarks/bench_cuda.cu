// CUDA executor bandwidth: each operator-shaped map applied on the device, timed with CUDA events, as a
// ratio to cudaMemcpy device-to-device of the same output bytes on the same GPU (a gather reads and writes
// about those bytes once, as the memcpy does). Target: ratio >= 0.8 on an H100.
//   bench_cuda [--quick]       prints one table; "prepared" = map arrays already on the device
//                              (cuda::device_map), "per call" = growth::apply uploading the map each call.
// No GPU: prints SKIPPED and exits 0.
#include <growth/adapters/cuda.cuh>
#include <growth/core/random.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace growth;

namespace {

struct row {
  std::string op, dtype, shape;
  double mbytes, gbps, ratio_prepared, ratio_call;
};
std::vector<row> g_rows;

template <class F>
double median_ms(F&& f, int reps) {
  cudaEvent_t a, b;
  GROWTH_CUDA_CHECK(cudaEventCreate(&a));
  GROWTH_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) f();
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    GROWTH_CUDA_CHECK(cudaEventRecord(a, cuda::current_stream()));
    f();
    GROWTH_CUDA_CHECK(cudaEventRecord(b, cuda::current_stream()));
    GROWTH_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    GROWTH_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  GROWTH_CUDA_CHECK(cudaEventDestroy(a));
  GROWTH_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "f32";
  else if constexpr (std::is_same_v<T, double>) return "f64";
  else if constexpr (std::is_same_v<T, float16>) return "f16";
  else return "bf16";
}

template <std::size_t R>
std::size_t count(const std::array<std::size_t, R>& e) {
  std::size_t n = 1;
  for (auto v : e) n *= v;
  return n;
}

template <class T, std::size_t R>
void run(const std::string& op, const tensor_map<R>& m, int reps) {
  const auto ie = m.in_extents(), oe = m.out_extents();
  cuda::device_tensor<T, R> in(ie), out(oe);
  GROWTH_CUDA_CHECK(cudaMemset(in.data(), 0x3c, count(ie) * sizeof(T)));  // finite values in every dtype
  const std::size_t bytes = count(oe) * sizeof(T);
  cuda::buffer<unsigned char> a(bytes), b(bytes);
  GROWTH_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
  const double t_copy = median_ms(
      [&] { GROWTH_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, cuda::current_stream())); }, reps);
  cuda::device_map<R, compute_t<T>> dm(m);
  const double t_prep = median_ms([&] { executor<cuda_space>::apply<T, R>(dm, in.view(), out.view()); }, reps);
  const double t_call = median_ms([&] { apply(m, in.view(), out.view(), op); }, reps);
  std::string shape;
  for (std::size_t k = 0; k < R; ++k) shape += (k ? "x" : "") + std::to_string(ie[k]) + ">" + std::to_string(oe[k]);
  g_rows.push_back({op, type_name<T>(), shape, bytes / 1e6, 2.0 * bytes / (t_prep * 1e6), t_copy / t_prep, t_copy / t_call});
}

axis_map grow_gather(std::size_t in, std::size_t out, double scale_new, std::uint64_t seed) {
  rng r(seed, 1);
  std::vector<std::int64_t> src(out);
  std::vector<double> w(out, 1.0);
  for (std::size_t i = 0; i < out; ++i) {
    src[i] = i < in ? static_cast<std::int64_t>(i) : static_cast<std::int64_t>(r.below(in));
    if (i >= in) {
      w[i] = scale_new;
      w[static_cast<std::size_t>(src[i])] = 1.0 - scale_new;
    }
  }
  return axis_map::gather(in, src, w);
}
/// out_i = scale * in_i (a gather, not flagged identity, so the kernel multiplies).
axis_map identity_scaled(std::size_t n, double scale) {
  std::vector<std::int64_t> src(n);
  for (std::size_t i = 0; i < n; ++i) src[i] = static_cast<std::int64_t>(i);
  return axis_map::gather(n, src, std::vector<double>(n, scale));
}
axis_map interpolate(std::size_t in, std::size_t out) {
  axis_map m(in);
  for (std::size_t i = 0; i < out; ++i) {
    const double x = static_cast<double>(i) * static_cast<double>(in - 1) / static_cast<double>(out - 1);
    const auto lo = static_cast<std::size_t>(x);
    const double f = x - static_cast<double>(lo);
    m.begin_row();
    m.add_entry(static_cast<std::int64_t>(lo), 1.0 - f);
    if (lo + 1 < in) m.add_entry(static_cast<std::int64_t>(lo + 1), f);
  }
  return m;
}

template <class T>
void suite(bool quick) {
  const int reps = quick ? 5 : 20;
  const std::size_t s = quick ? 4 : 1;  // quick: 4x smaller
  const std::size_t H = 1024, F = 4096 / s, L = 24 / s;
  // Depth: stack 12 -> 24 layers of [H, 4H] weights (gather on the layer axis, raw 16-byte copies).
  std::vector<std::int64_t> tile(L);
  for (std::size_t i = 0; i < L; ++i) tile[i] = static_cast<std::int64_t>(i % (L / 2));
  run<T, 3>("depth stack (copy)", tensor_map<3>{{axis_map::gather(L / 2, tile), axis_map::identity(H), axis_map::identity(F)}},
            reps);
  // Identity with a scale (e.g. halving a replica's fan-in on a whole tensor).
  run<T, 2>("scaled copy", tensor_map<2>{{identity_scaled(8 * F, 1.0), identity_scaled(H, 0.5)}}, reps);
  // FFN split, fan_out side: rows of W1 [F -> 2F, H] gathered (new neurons copy old ones).
  run<T, 2>("ffn split rows (fan_out)", tensor_map<2>{{grow_gather(F, 2 * F, 1.0, 7), axis_map::identity(H)}}, reps);
  // FFN split, fan_in side: columns of W2 [H, F -> 2F] with per-column weights (asymmetric split).
  run<T, 2>("ffn split cols (fan_in)", tensor_map<2>{{axis_map::identity(8 * H / s), grow_gather(F, 2 * F, 0.3, 8)}}, reps);
  // Hidden width on both axes of a square weight, for a stack of layers [L, H -> 1.5H, H -> 1.5H].
  run<T, 3>("hidden width (both axes)",
            tensor_map<3>{{axis_map::identity(L), grow_gather(H, 3 * H / 2, 1.0, 9), grow_gather(H, 3 * H / 2, 0.5, 10)}}, reps);
  // Position table interpolation (two-term weighted sums, general kernel) of a wide table.
  run<T, 2>("positions interpolate (sums)", tensor_map<2>{{interpolate(4096 / s, 8192 / s), axis_map::identity(H)}}, reps);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::string why;
  if (cuda::device_count(&why) == 0) {
    std::printf("bench_cuda: SKIPPED: no CUDA device (%s)\n", why.c_str());
    return 0;
  }
  try {
    cudaDeviceProp prop{};
    GROWTH_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    suite<float>(quick);
    suite<float16>(quick);
    suite<bfloat16>(quick);
    suite<double>(quick);
    std::printf("\nbench_cuda on %s: operator bandwidth vs cudaMemcpy D2D of the same output bytes (target >= 0.8)\n",
                prop.name);
    std::printf("%-30s %-5s %-26s %9s %9s %9s %9s\n", "op", "dtype", "shape (in>out per axis)", "out MB", "GB/s",
                "prepared", "per call");
    for (const row& r : g_rows)
      std::printf("%-30s %-5s %-26s %9.1f %9.0f %9.2f %9.2f\n", r.op.c_str(), r.dtype.c_str(), r.shape.c_str(), r.mbytes,
                  r.gbps, r.ratio_prepared, r.ratio_call);
  } catch (const std::exception& e) {
    std::printf("bench_cuda: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
