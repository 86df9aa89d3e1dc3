// The paper's CompoundGrow schedule as a type (growth::sched::presets::compound_grow_demo): every rule of the
// schedule is checked when this file compiles, and the cost table below is computed at compile time.
//
//   compile_time_schedule            prints the cost table and the predicted speedup
//   compile_time_schedule out.json   also writes the schedule file the runtime trainer reads
#include <cstdio>
#include <string>
#include <string_view>

// g++ 12 at -O3 reports a false -Wrestrict inside std::string concatenation when it inlines
// growth::io::write_file_atomic's temp-name construction (GCC bug 105329); silence it only for that header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <growth/io/schedule_json.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <growth/schedule/presets.hpp>
#include <growth/schedule/transition.hpp>

using namespace growth;  // the operator vocabulary (ops/options.hpp) and model::shape
using namespace growth::sched;
using compound = presets::compound_grow_demo;

// Everything below is a constant expression: the compiler has already validated and costed the schedule.
constexpr schedule_cost total = compound::cost();
static_assert(total.speedup() > 0, "CompoundGrow must be cheaper than training the full model throughout");

namespace {
std::string describe(const model::shape& s) {
  std::string d = "L=" + std::to_string(s.layers) + " H=" + std::to_string(s.hidden) + " A=" +
                  std::to_string(s.heads) + " I=" + std::to_string(s.ffn) + " S=" + std::to_string(s.seq_len);
  if (s.ffn_shared_every > 0)
    d += " shared(k=" + std::to_string(s.ffn_share_factor) + ",every " + std::to_string(s.ffn_shared_every) + ")";
  if (s.ffn_factorized_every > 0)
    d += " factorized(r=" + std::to_string(s.ffn_rank) + ",every " + std::to_string(s.ffn_factorized_every) + ")";
  if (s.pool_size > 1) d += " pool=" + std::to_string(s.pool_size);
  return d;
}
}  // namespace

int main(int argc, char** argv) {
  const run_settings& run = compound::run;
  std::printf("CompoundGrow demo schedule: vocab %zu, batch %zu, %.1f%% masked; training FLOPs = 3 x forward\n\n",
              run.vocab_size, run.batch_size, run.masked_per_mille / 10.0);
  std::printf("%-5s %-56s %-14s %-7s %12s %8s\n", "stage", "shape", "enter", "steps", "GFLOPs/step", "share");
  for (std::size_t i = 0; i < compound::size; ++i) {
    const stage& st = compound::stages[i];
    const stage_cost c = compound::cost_of_stage(i);
    std::string enter = i == 0 ? "-" : "";
    if (i > 0) {
      // The operators applied to enter this stage: only those whose dimension changes.
      const transition t = describe_transition(compound::stages[i - 1], st);
      auto add = [&](bool on, std::string_view what) {
        if (!on) return;
        if (!enter.empty()) enter += "+";
        enter += what;
      };
      add(t.depth, to_string(st.enter.depth));
      add(t.ffn_split || t.ffn_unshare || t.ffn_unfactorize, to_string(st.enter.ffn));
      add(t.hidden, to_string(st.enter.hidden));
      add(t.heads, to_string(st.enter.heads));
      add(t.positions, to_string(st.enter.length));
      add(t.unpool, "unpool");
    }
    std::printf("%-5zu %-56s %-14s %-7zu %12.2f %7.1f%%\n", i, describe(st.shape).c_str(), enter.c_str(), st.steps,
                c.flops_per_step / 1e9, 100.0 * c.share);
  }
  std::printf("\ntotal %.3f PFLOPs over %zu steps; baseline (last stage's model for %zu steps) %.3f PFLOPs\n",
              total.total / 1e15, total.steps, total.steps, total.baseline / 1e15);
  std::printf("predicted speedup = baseline / method - 1 = %.1f%% (the schedule needs %.1f%% of the baseline's FLOPs)\n",
              100.0 * total.speedup(), 100.0 * total.relative_cost());
  if (argc > 1) {
    save_schedule(argv[1], compound::to_runtime());
    std::printf("wrote %s\n", argv[1]);
  }
  return 0;
}
