// Growth operators on BERT-base-sized float32 tensors, one thread: bytes written per second, and the
// ratio to memcpy of the same number of bytes measured in the same binary (printed as a table after the
// Google Benchmark output; medians with --benchmark_repetitions=N).
// Usage: bench_ops --benchmark_min_time=0.2 --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <growth/ops.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace growth;

namespace {

tensor<float, 2> filled2(std::size_t a, std::size_t b) {
  tensor<float, 2> t({a, b});
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = float(i % 1000) * 1e-3f;
  return t;
}
tensor<float, 3> filled3(std::size_t a, std::size_t b, std::size_t c) {
  tensor<float, 3> t({a, b, c});
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = float(i % 1000) * 1e-3f;
  return t;
}

struct op_case {
  std::string name;
  std::size_t bytes;               // bytes written per call
  std::function<void()> run;       // the operator
};

std::vector<op_case>& cases() {
  static std::vector<op_case> c;
  return c;
}

/// An operator on a matrix: in (a x b) -> out via rows/cols maps; tensors live as long as the process.
void add_matrix_case(const std::string& name, std::size_t a, std::size_t b, axis_map rows, axis_map cols) {
  auto in = std::make_shared<tensor<float, 2>>(filled2(a, b));
  auto out = std::make_shared<tensor<float, 2>>(std::array<std::size_t, 2>{rows.out_extent(), cols.out_extent()});
  auto m = std::make_shared<tensor_map<2>>(tensor_map<2>{{std::move(rows), std::move(cols)}});
  cases().push_back({name, out->size() * sizeof(float), [in, out, m] { apply(*m, *in, *out); }});
}

void register_cases() {
  const std::size_t d = 768, I = 3072;
  add_matrix_case("ffn_split_W1_rows_3072to4096", I, d, ffn_split(I, 4096, ffn_mode::split).fan_out,
                  axis_map::identity(d));
  add_matrix_case("ffn_split_W2_cols_3072to4096", d, I, axis_map::identity(d),
                  ffn_split(I, 4096, ffn_mode::split).fan_in);
  add_matrix_case("ffn_split_asym_W2_cols_3072to4096", d, I, axis_map::identity(d),
                  ffn_split(I, 4096, ffn_mode::split_asym, 1).fan_in);
  add_matrix_case("ffn_unshare_W1_rows_768to3072", d, d, ffn_unshare(d, 4).fan_out, axis_map::identity(d));
  add_matrix_case("ffn_unshare_W2_cols_768to3072", d, d, axis_map::identity(d), ffn_unshare(d, 4).fan_in);
  add_matrix_case("hidden_replicate_word_emb_30522x768to1536", 30522, d, axis_map::identity(30522),
                  hidden_replicate(d, 2 * d).fan_out);
  add_matrix_case("position_tile_512to1024", 512, d, position_grow(512, 1024, length_mode::tile).fan_out,
                  axis_map::identity(d));
  add_matrix_case("position_interpolate_512to1024", 512, d, position_grow(512, 1024, length_mode::interpolate).fan_out,
                  axis_map::identity(d));
  add_matrix_case("position_random_map_512to1024", 512, d, position_grow(512, 1024, length_mode::random).fan_out,
                  axis_map::identity(d));
  add_matrix_case("heads_add_Q_rows_12to16", d, d, heads_add(12, 16, 64).fan_out, axis_map::identity(d));
  add_matrix_case("heads_add_O_cols_12to16", d, d, axis_map::identity(d), heads_add(12, 16, 64).fan_in);
  add_matrix_case("heads_duplicate_Q_rows_12to16", d, d, heads_duplicate(12, 16, 64).fan_out, axis_map::identity(d));
  add_matrix_case("heads_duplicate_O_cols_12to16", d, d, axis_map::identity(d), heads_duplicate(12, 16, 64).fan_in);
  {
    auto in = std::make_shared<tensor<float, 3>>(filled3(12, d, d));
    auto out = std::make_shared<tensor<float, 3>>(std::array<std::size_t, 3>{24, d, d});
    auto plan = std::make_shared<depth_plan>(plan_depth(12, 24, depth_mode::stack));
    cases().push_back({"depth_stack_12x768x768to24", out->size() * sizeof(float),
                       [in, out, plan] { grow_layers(*plan, *in, *out, false); }});
  }
  {
    // fresh rows of a random position table: seeded noise (host rng), not a copy
    auto out = std::make_shared<tensor<float, 2>>(std::array<std::size_t, 2>{1024, d});
    auto fresh = std::make_shared<std::vector<bool>>(position_grow(512, 1024, length_mode::random).fresh);
    cases().push_back({"fill_fresh_position_rows_512to1024", 512 * d * sizeof(float),
                       [out, fresh] { fill_fresh(*out, 0, *fresh, 7, 1, 0.02); }});
  }
}

void bm_op(benchmark::State& state, const op_case* c) {
  for (auto _ : state) {
    c->run();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(c->bytes));
}

void bm_memcpy(benchmark::State& state, std::size_t bytes) {
  std::vector<char> src(bytes, 1), dst(bytes, 2);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
}

/// Forwards to the console and remembers each run's bytes per second (from real time); with
/// --benchmark_repetitions=N the table uses the median of the N repetitions.
class recording_reporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> rates, cpu_rates;  // bytes per second on real / CPU time
  [[nodiscard]] std::optional<double> median_rate(const std::string& name, bool cpu = false) const {
    const auto& r = cpu ? cpu_rates : rates;
    const auto it = r.find(name);
    if (it == r.end() || it->second.empty()) return std::nullopt;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.iterations == 0) continue;
      const double sec = r.real_accumulated_time / static_cast<double>(r.iterations);
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      // the counter is a rate on CPU time; recompute bytes per call from it, then rate on real time
      const double bytes = it->second.value * r.cpu_accumulated_time / static_cast<double>(r.iterations);
      rates[r.benchmark_name()].push_back(bytes / sec);
      cpu_rates[r.benchmark_name()].push_back(it->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  register_cases();
  for (const auto& c : cases()) {
    benchmark::RegisterBenchmark(("memcpy/" + c.name).c_str(), bm_memcpy, c.bytes)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("op/" + c.name).c_str(), bm_op, &c)->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  recording_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  // The last column divides CPU-time rates: on a loaded machine it is the steadier ratio.
  std::printf("\n| operator | MB written | op GB/s | memcpy GB/s | op / memcpy | op / memcpy (CPU time) |\n"
              "|---|---:|---:|---:|---:|---:|\n");
  for (const auto& c : cases()) {
    const auto o = rep.median_rate("op/" + c.name), m = rep.median_rate("memcpy/" + c.name);
    const auto oc = rep.median_rate("op/" + c.name, true), mc = rep.median_rate("memcpy/" + c.name, true);
    if (!o || !m || !oc || !mc) continue;
    std::printf("| %s | %.1f | %.2f | %.2f | %.2f | %.2f |\n", c.name.c_str(), double(c.bytes) / 1e6, *o / 1e9,
                *m / 1e9, *o / *m, *oc / *mc);
  }
  benchmark::Shutdown();
  return 0;
}
