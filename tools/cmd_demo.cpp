// growth demo: the main job, a budget-fair speedup measurement (No Train No Gain's protocol, Kaddour et al.,
// arXiv 2307.06440) of progressive training on the KJV corpus with the reference BERT.
//
// For each seed it trains
//   - the baseline curve: the target model at budgets b in {1/2, 3/4, 1} x B steps, each with its learning
//     rate fully decayed at its own budget. Under wsd one stable run of B steps pauses at (1 - f) b and forks a
//     decay for each smaller budget (bit-identical to a straight run, tested);
//   - the small model: the first stage's model (CompoundGrow's half-depth, FFN-shared, pooled model), trained
//     alone for the baseline's full FLOPs budget. Growth can only win where the target ends below it;
//   - the grown runs, one per policy (--policies): the paper's CompoundGrow with a fresh schedule and optimizer
//     at each growth (restart), the same schedule with the global schedule continued and the moments mapped
//     (continue), one late growth of every dimension at 70% of the budget (late, Bu 2025, arXiv 2511.04981),
//     and the same grown when Staged Training's rule fires (auto, Shen et al., arXiv 2203.06211).
// Runs that share their first steps (the small model and the continue/late runs: same model, same lr) train
// them once and fork. Independent runs train side by side, one thread each (--jobs x --threads).
//
// Speedup of a grown run (train/speedup.hpp): the cost at which the seed's baseline curve reaches the grown
// run's final validation loss (interpolated in log cost), divided by the grown run's cost, minus 1; in
// wall-clock (growth included) and in FLOPs. Outside the curve it is a bound, and the output says which. The
// curve's wall-clock cost of a budget is its steps times the seed's measured baseline seconds per step
// (tools/demo_curve.hpp: increasing by construction); the grown and small runs' wall-clock is their own.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <growth/data/mlm_data.hpp>
#include <growth/data/vocab_trainer.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/speedup.hpp>
#include <growth/train/trainer.hpp>
#include <growth/train/finetune.hpp>

#include "command.hpp"
#include "demo_curve.hpp"
#include "job_pool.hpp"
#include "optim_options.hpp"
#include "progress.hpp"
#include "threads.hpp"
#include "study_report.hpp"
#include "svg_plot.hpp"

namespace growth_tool::cmd_demo {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

using namespace growth;

struct demo_args {
  std::size_t steps = 2800, layers = 4, hidden = 64, heads = 2, ffn = 256, seq_len = 32, batch = 64;
  std::size_t vocab = 2000, seeds = 2, jobs = 2, threads = 1, eval_every = 0, warmup = 0, max_validation = 128;
  std::size_t corpus_chars = 0;
  std::uint64_t seed = 0;
  bool pre_ln = false;
  std::size_t finetune_steps = 0;  ///< --finetune N: fine-tune the baseline and the best grown run (0 = off)
  optim_args optim{.lr = 2e-3, .lr_schedule = "wsd", .min_lr_ratio = 0.0, .decay_fraction = 0.2, .beta2 = 0.98};
  std::string policies = "restart,continue,late,auto", out = "results", text;
};

// ------------------------------------------------------------------------------------------------------------
// The runs.

/// The target shape and CompoundGrow's low-cost first-stage shape: half depth (at least 2 layers: attention
/// that uses context needs two), FFN shared k = 4 (or 2), mean embedding pooling 2.
struct shapes {
  model::shape full, low;
  std::size_t k = 1;
};
shapes shapes_of(const demo_args& a) {
  shapes s;
  s.full = {.layers = a.layers, .hidden = a.hidden, .heads = a.heads, .ffn = a.ffn, .seq_len = a.seq_len};
  s.k = a.ffn % 4 == 0 ? 4 : (a.ffn % 2 == 0 ? 2 : 1);
  s.low = s.full;
  s.low.layers = std::max<std::size_t>(2, a.layers / 2);
  if (s.k > 1) {
    s.low.ffn_share_factor = s.k;
    s.low.ffn_shared_every = 1;
  }
  s.low.pool_size = 2;
  return s;
}

/// A grown run's schedule for `policy`, B steps in all.
sched::runtime_schedule policy_schedule(const std::string& policy, const shapes& sh, const sched::run_settings& run,
                                        std::size_t B, std::size_t warmup) {
  using namespace sched;
  runtime_schedule s;
  s.run = run;
  model::shape mid = sh.low;  // stacked to full depth, still low-cost
  mid.layers = sh.full.layers;
  const ffn_mode leave = sh.k > 1 ? ffn_mode::unshare : ffn_mode::split;
  const std::size_t rewarm = std::max<std::size_t>(1, warmup);
  if (policy == "restart" || policy == "continue") {
    // The paper's three stages (30% / 40% / 30%): half depth low-cost, stacked, then un-shared and un-pooled.
    const std::size_t s1 = B * 3 / 10, s2 = B * 4 / 10;
    const bool paper = policy == "restart";
    const grow_options base{.optimizer = paper ? optimizer_policy::reset : optimizer_policy::map,
                          .lr = paper ? lr_action::restart_warmup : lr_action::continue_schedule};
    s.stages.push_back(stage{.steps = s1, .shape = sh.low});
    grow_options e2 = base;
    e2.depth = depth_mode::stack;
    s.stages.push_back(stage{.steps = s2, .shape = mid, .enter = e2});
    grow_options e3 = base;
    e3.ffn = leave;
    s.stages.push_back(stage{.steps = B - s1 - s2, .shape = sh.full, .enter = e3});
  } else if (policy == "late" || policy == "auto") {
    // One growth of every dimension at once (stack + un-share + un-pool), at 70% of the budget or when
    // Staged Training's rule fires (at most 70%), then the wsd decay on the full model; short re-warm.
    const std::size_t s1 = B * 7 / 10;
    s.stages.push_back(stage{.steps = s1, .shape = sh.low});
    grow_options e{.depth = depth_mode::stack, .ffn = leave, .optimizer = optimizer_policy::map, .lr = lr_action::rewarm,
                 .rewarm_steps = std::min(rewarm, B - s1)};
    if (policy == "auto") e.when = grow_trigger::automatic;
    s.stages.push_back(stage{.steps = B - s1, .shape = sh.full, .enter = e});
  } else {
    throw error("--policies entry", "restart, continue, late or auto", "\"" + policy + "\"");
  }
  s.validate();
  return s;
}

std::string policy_label(const std::string& p) {
  if (p == "restart") return "CompoundGrow, restart at growth (paper's code)";
  if (p == "continue") return "CompoundGrow, global lr continued, moments mapped";
  if (p == "late") return "one late growth at 70% (wsd, re-warm)";
  if (p == "auto") return "one growth when Staged Training's rule fires";
  return p;
}

/// What a finished run contributes to the comparison.
struct run_record {
  std::string name;  ///< baseline-<pct>, small, or the policy
  std::uint64_t seed = 0;
  std::vector<train::log_row> rows;
  double loss = 0, wall = 0, flops = 0;  ///< wall: measured, a fork's prefix included
  std::vector<train::growth_event> growths;
  std::size_t steps = 0, own_steps = 0;  ///< own: the steps after the run's fork step (all of them unforked)
  double own_wall = 0;                   ///< wall-clock seconds of the own steps
  double curve_wall = 0;                 ///< a baseline budget's wall-clock cost on the curve (demo_curve.hpp)
};

struct demo_context {
  const demo_args& a;
  shapes sh;
  sched::run_settings run;
  train::data_source& data;
  const std::vector<std::string>& vocab;
  std::filesystem::path out;
  std::mutex mu;
  std::vector<run_record> records;
  std::map<std::uint64_t, std::vector<train::curve_point>> stable_curve;  ///< per seed: the target's stable run
  /// --finetune only: the final weights of the full-budget baseline and of every grown run, per (name, seed).
  std::map<std::pair<std::string, std::uint64_t>, std::pair<model::bert_config, std::vector<float>>> finals;

  /// Keeps a finished run's final weights for --finetune (nothing without it).
  void keep_final(const std::string& name, std::uint64_t seed, const train::run_result& r, const reference::bert<float>& m) {
    if (a.finetune_steps == 0 || !r.complete) return;
    std::lock_guard lock(mu);
    finals[{name, seed}] = {m.config(), std::vector<float>(m.flat_params().begin(), m.flat_params().end())};
  }

  train::trainer_options options(std::uint64_t seed) const {
    train::trainer_options o;
    apply_optim_options(a.optim, o);
    o.seed = seed;
    o.warmup = a.warmup ? a.warmup : std::max<std::size_t>(1, a.steps / 20);
    o.eval_every = a.eval_every ? a.eval_every : std::max<std::size_t>(1, a.steps / 16);
    o.base.vocab_size = vocab.size();
    o.base.pre_layer_norm = a.pre_ln;
    o.base.hidden_dropout_prob = 0;
    o.base.attention_probs_dropout_prob = 0;
    return o;
  }
  sched::runtime_schedule one_stage(const model::shape& s, std::size_t steps) const {
    sched::runtime_schedule r;
    r.run = run;
    r.stages.push_back(sched::stage{.steps = steps, .shape = s});
    return r;
  }
  /// Records a finished run; `prefix` is what the run it forked from had trained at the fork (none: {}).
  void record(const std::string& name, std::uint64_t seed, const train::run_result& r, const train::run_result& prefix = {}) {
    if (!r.complete) return;  // interrupted: nothing to report
    run_record x{name, seed, r.rows, r.final_val_loss, r.wall_seconds, r.flops, r.growths,
                 r.steps, r.steps - prefix.steps, r.wall_seconds - prefix.wall_seconds, 0.0};
    std::lock_guard lock(mu);
    io::write_file_atomic(out / (name + "-seed" + std::to_string(seed) + ".csv"), train::csv_text(r.rows));
    fmt::print("  done: {:<10} seed {}  loss {:.4f}  wall {:6.1f} s  FLOPs {:.3e}{}\n", name, seed, x.loss, x.wall, x.flops,
               r.growths.empty() ? "" : "  (grew at step " + std::to_string(r.growths[0].step) + ")");
    std::fflush(stdout);
    records.push_back(std::move(x));
  }
};

using study::budget_fractions;  // 1/2, 3/4, 1 of B: the study's budgets and run names
using study::budget_name;

/// The baseline curve of one seed: one stable wsd run of B steps, paused before each smaller budget's decay
/// and forked there into that budget's decay.
void baseline_family(demo_context& c, std::uint64_t seed) {
  const std::size_t B = c.a.steps;
  const auto opt = c.options(seed);
  train::progressive_trainer stable(c.one_stage(c.sh.full, B), c.data, opt, c.vocab);
  for (double f : budget_fractions()) {
    const auto b = static_cast<std::size_t>(std::lround(f * static_cast<double>(B)));
    if (b >= B) break;
    stable.pause_at(stable.lr_curve().fork_step(b));
    const auto prefix = stable.run(&quiet_observer());
    if (interrupt_flag().load()) return;
    train::progressive_trainer fork(c.one_stage(c.sh.full, b), c.data, opt, c.vocab);
    fork.continue_from(stable);
    c.record(budget_name(f), seed, fork.run(&quiet_observer()), prefix);
  }
  stable.pause_at(0);
  const auto r = stable.run(&quiet_observer());
  c.record(budget_name(1.0), seed, r);
  c.keep_final(budget_name(1.0), seed, r, stable.model());
  // The stable phase (before the decay) is the target's curve for the automatic trigger.
  std::vector<train::curve_point> pts;
  const std::size_t decay_from = stable.lr_curve().fork_step(B);
  for (const auto& row : r.rows)
    if (row.step <= decay_from) pts.push_back({row.flops, row.val_loss});
  std::lock_guard lock(c.mu);
  c.stable_curve[seed] = std::move(pts);
}

/// The small model for the baseline's FLOPs, and the grown runs that share its first steps (same model, same
/// learning rate until they grow): forked from it where they grow.
void small_family(demo_context& c, std::uint64_t seed, const std::vector<std::string>& forks) {
  const std::size_t B = c.a.steps;
  const double ratio = sched::training_flops_per_step(c.sh.full, c.run) / sched::training_flops_per_step(c.sh.low, c.run);
  const auto n = static_cast<std::size_t>(std::ceil(static_cast<double>(B) * ratio));
  auto opt = c.options(seed);
  opt.lowcost_end = true;
  train::progressive_trainer small(c.one_stage(c.sh.low, n), c.data, opt, c.vocab);
  std::vector<std::pair<std::size_t, std::string>> at;
  for (const auto& p : forks) at.emplace_back(policy_schedule(p, c.sh, c.run, B, opt.warmup).stages[0].steps, p);
  std::sort(at.begin(), at.end());
  for (const auto& [step, p] : at) {
    small.pause_at(step);
    (void)small.run(&quiet_observer());
    if (interrupt_flag().load()) return;
    train::progressive_trainer grown(policy_schedule(p, c.sh, c.run, B, opt.warmup), c.data, c.options(seed), c.vocab);
    grown.continue_from(small);
    const auto r = grown.run(&quiet_observer());
    c.record(p, seed, r);
    c.keep_final(p, seed, r, grown.model());
  }
  small.pause_at(0);
  c.record("small", seed, small.run(&quiet_observer()));
}

/// A grown run trained on its own (restart: its first stage decays on its own; auto: needs the seed's
/// baseline curve).
void grown_alone(demo_context& c, std::uint64_t seed, const std::string& policy) {
  auto opt = c.options(seed);
  if (policy == "auto") {
    std::lock_guard lock(c.mu);
    opt.target_curve = c.stable_curve.at(seed);
  }
  train::progressive_trainer t(policy_schedule(policy, c.sh, c.run, c.a.steps, opt.warmup), c.data, opt, c.vocab);
  const auto r = t.run(&quiet_observer());
  c.record(policy, seed, r);
  c.keep_final(policy, seed, r, t.model());
}

// ------------------------------------------------------------------------------------------------------------
// The comparison.

struct stat {
  double mean = 0, sd = 0;
  std::size_t n = 0;
};
stat stat_of(const std::vector<double>& v) {
  stat s;
  s.n = v.size();
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double q = 0;
  for (double x : v) q += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(q / static_cast<double>(v.size() - 1)) : 0.0;
  return s;
}
/// "mean ± sd", both with `prec` decimals (and a sign when `sign`).
std::string pm(const stat& s, int prec = 4, bool sign = false) {
  return sign ? fmt::format("{:+.{}f} ± {:+.{}f}", s.mean, prec, s.sd, prec) : fmt::format("{:.{}f} ± {:.{}f}", s.mean, prec, s.sd, prec);
}
std::string pct(double x) { return fmt::format("{:+.1f}%", 100.0 * x); }
/// `s` padded with spaces to `n` bytes, as printf's %-Ns pads (fmt pads to a display width, and "±" is two
/// bytes wide to printf but one column to fmt): keeps the demo's table byte for byte what it was.
std::string pad_bytes(std::string s, std::size_t n) {
  if (s.size() < n) s.append(n - s.size(), ' ');
  return s;
}
/// "+12.3%", "<= -40.0%" or ">= +50.0%" by the kind of the speedup.
std::string speedup_text(const train::speedup_result& r) {
  const char* p = r.kind == train::speedup_kind::upper_bound ? "<=" : r.kind == train::speedup_kind::lower_bound ? ">=" : "";
  return p + pct(r.speedup);
}

struct policy_outcome {
  std::string policy;
  stat loss, wall, flops;
  train::speedup_result wall_speedup, flops_speedup;  ///< of the mean run against the mean baseline curve
  stat wall_speedup_seeds, flops_speedup_seeds;         ///< per seed, against that seed's curve
};

/// The --policies list, in order; refuses an empty one.
std::vector<std::string> parse_policies(const demo_args& a) {
  std::vector<std::string> policies;
  std::stringstream ss(a.policies);
  for (std::string p; std::getline(ss, p, ',');)
    if (!p.empty()) policies.push_back(p);
  if (policies.empty()) throw error("--policies", "at least one of restart, continue, late, auto", "\"" + a.policies + "\"");
  return policies;
}

void check_args(const demo_args& a) {
  if (a.seeds < 1) throw error("--seeds", ">= 1", "0");
  if (a.jobs < 1) throw error("--jobs", ">= 1", "0");
  // The baseline's budgets fork from one stable run: only wsd has a stable phase that budgets share.
  if (a.optim.lr_schedule != "wsd")
    throw error("--lr-schedule", "\"wsd\" (the baseline's budgets fork from one stable run)", "\"" + a.optim.lr_schedule + "\"");
}

/// The corpus, its WordPiece vocabulary (written to <out>/vocab.txt), the token stream and the data source.
struct demo_corpus {
  std::string path, text;
  std::vector<std::string> vocab;
  std::vector<std::int32_t> stream;
  std::unique_ptr<train::data_source> data;
  double unigram_entropy = 0;  ///< nats
  double seconds = 0;          ///< time to build all of it
};

demo_corpus prepare_corpus(const demo_args& a, const std::filesystem::path& out) {
  demo_corpus d;
  const auto t0 = std::chrono::steady_clock::now();
  d.path = a.text.empty() ? std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt" : a.text;
  d.text = train::read_corpus(d.path, a.corpus_chars);
  data::vocab_trainer_options vo;
  vo.vocab_size = a.vocab;
  d.vocab = data::train_wordpiece_vocab(d.text, vo);
  io::write_file_atomic(out / "vocab.txt", [&] {
    std::string s;
    for (const auto& t : d.vocab) s += t + "\n";
    return s;
  }());
  data::wordpiece_tokenizer tok(d.vocab);
  d.stream = train::tokenize_cached(tok, d.text, out / "cache");
  train::data_options dopt;
  dopt.full_seq_len = a.seq_len;
  dopt.max_validation_sequences = a.max_validation;
  dopt.eval_batch_size = 32;
  d.data = std::make_unique<train::data_source>(tok, d.stream, dopt);
  d.unigram_entropy = data::unigram_entropy(d.stream);
  d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return d;
}

void print_setup(const demo_args& a, const demo_corpus& d, const shapes& sh) {
  fmt::print("demo: corpus {}, {} bytes -> {} pieces, {} tokens (unigram entropy {:.4f} nats); {} validation sequences "
             "of {} ({:.1f}s)\n",
             d.path, d.text.size(), d.vocab.size(), d.stream.size(), d.unigram_entropy, d.data->validation_sequences(),
             a.seq_len, d.seconds);
  fmt::print("demo: target {}{}, small {}; budget B = {} steps of {} x {} tokens; lr {:g} {} (min {:g}), betas ({:g}, {:g}); "
             "{} seeds; {} runs at a time x {} thread(s)\n",
             train::shape_name(sh.full), a.pre_ln ? " pre-LN" : " post-LN", train::shape_name(sh.low), a.steps, a.batch,
             a.seq_len, a.optim.lr, a.optim.lr_schedule, a.optim.min_lr_ratio, a.optim.beta1, a.optim.beta2, a.seeds, a.jobs,
             a.threads);
}

/// Trains every run: the families that fork first (longest first), then the runs trained alone (auto needs
/// its seed's baseline, which the first phase trains). Returns the wall-clock seconds of it all; on an
/// interrupt, says where the finished runs are and exits 128 + signal.
double train_all(demo_context& c, const std::vector<std::string>& policies) {
  std::vector<std::string> forked, alone;
  for (const auto& p : policies) (p == "continue" || p == "late" ? forked : alone).push_back(p);
  const auto wall0 = std::chrono::steady_clock::now();
  std::vector<std::function<void()>> phase1, phase2;
  for (std::size_t s = 0; s < c.a.seeds; ++s) {
    const std::uint64_t seed = c.a.seed + s;
    phase1.push_back([&c, seed, &forked] { small_family(c, seed, forked); });
    phase1.push_back([&c, seed] { baseline_family(c, seed); });
    for (const auto& p : alone) phase2.push_back([&c, seed, p] { grown_alone(c, seed, p); });
  }
  run_jobs(c.a.jobs, c.a.threads, phase1);
  if (!interrupt_flag().load()) run_jobs(c.a.jobs, c.a.threads, phase2);
  const double total_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (interrupt_flag().load()) {
    fmt::print("demo interrupted: finished runs are in {}/*.csv\n", c.out.string());
    const int sig = interrupt_signal().load();
    throw exit_request{128 + (sig ? sig : 2)};  // 130 SIGINT, 143 SIGTERM, 129 SIGHUP (docs/cli.md)
  }
  return total_wall;
}

/// The finished runs named `name`, by seed.
std::vector<const run_record*> runs_named(const std::vector<run_record>& records, const std::string& name) {
  std::vector<const run_record*> v;
  for (const auto& r : records)
    if (r.name == name) v.push_back(&r);
  std::sort(v.begin(), v.end(), [](auto* x, auto* y) { return x->seed < y->seed; });
  return v;
}
/// Mean and spread over the seeds of one field of the runs named `name`.
stat stats_named(const std::vector<run_record>& records, const std::string& name, double run_record::*f) {
  std::vector<double> v;
  for (const auto* r : runs_named(records, name)) v.push_back(r->*f);
  return stat_of(v);
}
/// The baseline's budget curve in `cost` (final cost and loss of each budget) of one seed, or with no seed
/// the mean over the seeds of each budget.
std::vector<train::budget_point> budget_curve(const std::vector<run_record>& records, std::optional<std::uint64_t> seed,
                                              double run_record::*cost) {
  std::vector<train::budget_point> pts;
  for (double f : budget_fractions()) {
    std::vector<double> cs, ls;
    for (const auto* r : runs_named(records, budget_name(f)))
      if (!seed || r->seed == *seed) {
        cs.push_back(r->*cost);
        ls.push_back(r->loss);
      }
    pts.push_back({stat_of(cs).mean, stat_of(ls).mean});
  }
  return pts;
}

/// Each baseline budget's wall-clock cost on the curve: its steps x its seed's measured baseline seconds per
/// step (tools/demo_curve.hpp), so that the curve increases by construction. Returns that pace per seed.
std::map<std::uint64_t, double> price_baseline_wall(std::vector<run_record>& records) {
  std::map<std::uint64_t, std::vector<run_record*>> by_seed;
  for (double f : budget_fractions())
    for (auto& r : records)
      if (r.name == budget_name(f)) by_seed[r.seed].push_back(&r);
  std::map<std::uint64_t, double> pace;
  for (auto& [seed, runs] : by_seed) {
    std::vector<demo::budget_run> v;
    for (const auto* r : runs) v.push_back({r->steps, r->own_steps, r->own_wall, r->loss});
    const auto curve = demo::wall_budget_curve(v);
    for (std::size_t i = 0; i < runs.size(); ++i) runs[i]->curve_wall = curve[i].cost;
    pace[seed] = demo::seconds_per_step(v);
  }
  return pace;
}

/// Each policy's losses, costs and speedups: the mean run on the mean curve, and each seed on its own curve.
std::vector<policy_outcome> outcomes_of(const std::vector<run_record>& records, const std::vector<std::string>& policies) {
  std::vector<policy_outcome> outcomes;
  for (const auto& p : policies) {
    policy_outcome o;
    o.policy = p;
    o.loss = stats_named(records, p, &run_record::loss);
    o.wall = stats_named(records, p, &run_record::wall);
    o.flops = stats_named(records, p, &run_record::flops);
    o.wall_speedup = train::speedup_on_curve(budget_curve(records, std::nullopt, &run_record::curve_wall), o.wall.mean, o.loss.mean);
    o.flops_speedup = train::speedup_on_curve(budget_curve(records, std::nullopt, &run_record::flops), o.flops.mean, o.loss.mean);
    std::vector<double> sw, sf;
    for (const auto* r : runs_named(records, p)) {
      sw.push_back(train::speedup_on_curve(budget_curve(records, r->seed, &run_record::curve_wall), r->wall, r->loss).speedup);
      sf.push_back(train::speedup_on_curve(budget_curve(records, r->seed, &run_record::flops), r->flops, r->loss).speedup);
    }
    o.wall_speedup_seeds = stat_of(sw);
    o.flops_speedup_seeds = stat_of(sf);
    outcomes.push_back(o);
  }
  return outcomes;
}

/// The table of every run (mean ± std over seeds), the per-seed speedups and auto's growth reasons.
void print_table(const demo_context& c, const std::vector<policy_outcome>& outcomes, const std::map<std::uint64_t, double>& pace) {
  const auto& rec = c.records;
  std::vector<double> ms;
  for (const auto& [seed, s] : pace) ms.push_back(1e3 * s);
  fmt::print("\nbaseline budget curve: FLOPs counted per run; wall-clock = each budget's steps x its seed's measured "
             "baseline seconds per step (all the seed's baseline steps, the shared stable steps counted once): {} ms/step "
             "over seeds\n\n",
             pm(stat_of(ms), 3));
  fmt::print("{} {} {:>9} {:>10} {:>18} {:>18}\n", pad_bytes("run (mean ± std over seeds)", 50), pad_bytes("val loss", 18),
             "wall s", "FLOPs", "speedup wall", "speedup FLOPs");
  for (double f : budget_fractions()) {
    const auto n = budget_name(f);
    fmt::print("{} {} {:9.1f} {:10.3e}\n", pad_bytes(fmt::format("baseline, budget {}% of B", std::lround(100 * f)), 50),
               pad_bytes(pm(stats_named(rec, n, &run_record::loss)), 18), stats_named(rec, n, &run_record::curve_wall).mean,
               stats_named(rec, n, &run_record::flops).mean);
  }
  fmt::print("{} {} {:9.1f} {:10.3e}\n", pad_bytes("small model alone (" + train::shape_name(c.sh.low) + ")", 50),
             pad_bytes(pm(stats_named(rec, "small", &run_record::loss)), 18), stats_named(rec, "small", &run_record::wall).mean,
             stats_named(rec, "small", &run_record::flops).mean);
  for (const auto& o : outcomes)
    fmt::print("{} {} {:9.1f} {:10.3e} {:>18} {:>18}\n", pad_bytes(policy_label(o.policy), 50), pad_bytes(pm(o.loss), 18),
               o.wall.mean, o.flops.mean, speedup_text(o.wall_speedup), speedup_text(o.flops_speedup));
  for (const auto& o : outcomes)
    fmt::print("  {:<8} per seed: wall {}, FLOPs {}\n", o.policy, pm(o.wall_speedup_seeds, 3, true), pm(o.flops_speedup_seeds, 3, true));
  for (const auto* r : runs_named(rec, "auto"))
    for (const auto& g : r->growths) fmt::print("  auto seed {} grew after step {}: {}\n", r->seed, g.step, g.why);
}

/// The claims, each computed from the measurements: past the plateau, the regime (target below the small
/// model), and whether the best policy's loss differs from the baseline's beyond two combined standard
/// deviations.
struct demo_claims {
  stat base, small;
  bool past_plateau = false, regime = false;
};

demo_claims print_claims(const demo_context& c, const policy_outcome& best, double h1, double total_wall) {
  demo_claims k;
  k.base = stats_named(c.records, budget_name(1.0), &run_record::loss);
  k.small = stats_named(c.records, "small", &run_record::loss);
  const stat &base = k.base, &small = k.small;
  k.past_plateau = base.mean <= h1 - 1.0;
  const double sd2 = 2 * std::sqrt(base.sd * base.sd + small.sd * small.sd);
  k.regime = base.mean < small.mean;
  const double bsd2 = 2 * std::sqrt(base.sd * base.sd + best.loss.sd * best.loss.sd);
  fmt::print("\nunigram entropy of the text {:.4f} nats; baseline {:.4f} = {:+.4f}: {}\n", h1, base.mean, base.mean - h1,
             k.past_plateau ? "past the plateau (>= 1.0 nat below)" : "NOT 1.0 nat below the unigram entropy: the models are still early");
  fmt::print("regime: baseline {} the small model alone ({:.4f} vs {:.4f}, difference {} two combined std {:.4f})\n",
             k.regime ? "ends below" : "does NOT end below", base.mean, small.mean,
             std::abs(base.mean - small.mean) > sd2 ? "beyond" : "within", sd2);
  fmt::print("best policy: {}, loss {} vs baseline {} ({} noise), speedup {} wall / {} FLOPs ({})\n", best.policy, pm(best.loss),
             pm(base), std::abs(best.loss.mean - base.mean) > bsd2 ? "beyond" : "within", speedup_text(best.wall_speedup),
             speedup_text(best.flops_speedup), train::to_string(best.wall_speedup.kind));
  fmt::print("paper (BERT-base): +73.6% wall-clock at comparable quality; {} runs took {:.0f} s here\n", c.records.size(), total_wall);
  return k;
}

/// <out>/curves.svg: validation loss against wall-clock, every run of the first seed, and the unigram entropy.
void write_figure(const demo_context& c, const std::vector<std::string>& policies, double h1) {
  std::vector<report::series> lines;
  double xmax = 0;
  auto add_rows = [&](const std::string& label, const run_record& r) {
    report::series s{label, {}, {}};
    for (const auto& row : r.rows) {
      s.x.push_back(row.wall_seconds);
      s.y.push_back(row.val_loss);
      xmax = std::max(xmax, row.wall_seconds);
    }
    lines.push_back(std::move(s));
  };
  if (const auto v = runs_named(c.records, budget_name(1.0)); !v.empty()) add_rows("baseline, budget B", *v.front());
  report::series bc{"baseline budgets", {}, {}};
  for (const auto& p : budget_curve(c.records, c.a.seed, &run_record::curve_wall)) {
    bc.x.push_back(p.cost);
    bc.y.push_back(p.loss);
  }
  lines.push_back(bc);
  if (const auto v = runs_named(c.records, "small"); !v.empty()) add_rows("small alone", *v.front());
  for (const auto& p : policies)
    if (const auto v = runs_named(c.records, p); !v.empty()) add_rows(p, *v.front());
  lines.push_back({"unigram entropy", {0, xmax}, {h1, h1}});
  io::write_file_atomic(c.out / "curves.svg",
                        report::render_svg({{"validation loss vs wall-clock (seed " + std::to_string(c.a.seed) + ")",
                                             "training seconds (growth included)", "validation MLM loss", lines}},
                                           "Budget-fair speedup: " + train::shape_name(c.sh.full) + " on the KJV"));
}

/// The machine-readable summary line, into <out>/summary.txt and onto stdout.
void write_summary(const demo_context& c, const policy_outcome& best, const demo_claims& k, double h1) {
  const std::string line = fmt::format(
      "summary baseline_loss={:.4f} unigram_entropy={:.4f} small_fixed_loss={:.4f} grown_loss={:.4f} seeds={} "
      "loss_std={:.4f} speedup_wall_to_target={} speedup_flops_to_target={} speedup_kind={} policy={} "
      "past_plateau={} regime_valid={}",
      k.base.mean, h1, k.small.mean, best.loss.mean, c.a.seeds, best.loss.sd, pct(best.wall_speedup.speedup),
      pct(best.flops_speedup.speedup), train::to_string(best.wall_speedup.kind), best.policy, k.past_plateau ? "yes" : "no",
      k.regime ? "yes" : "no");
  io::write_file_atomic(c.out / "summary.txt", line + "\n");
  fmt::print("results: {}/{{*.csv,curves.svg,summary.txt}}\n{}\n", c.out.string(), line);
  std::fflush(stdout);
}

/// --finetune N: the full-budget baseline and the best grown run of every seed fine-tuned on the downstream
/// tasks (train/finetune.hpp; N steps of batch 16, lr 5e-4, seed = the run's seed, the first 1000 test examples),
/// printed as a table beside the majority class and the bag-of-words baseline and written to
/// <out>/finetune.txt. Off by default: at the default size one fine-tune (200 steps) takes 2-3 s of one core
/// and each task about 1 s to tokenise and fit the bag of words, about 35 s in all for the default 2 seeds,
/// which would take the default demo (7 min 46 s, README "Measured") past its 8 min (docs/cli.md).
void finetune_comparison(demo_context& c, const std::vector<std::string>& vocab, const std::string& best) {
  train::finetune_options o;
  o.steps = c.a.finetune_steps;
  o.lr = 5e-4;
  o.max_seq_len = c.a.seq_len;
  o.max_eval_examples = 1000;
  const auto t0 = std::chrono::steady_clock::now();
  const auto verses = data::split_lines(train::read_corpus(std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt"));
  const data::wordpiece_tokenizer tok(vocab);
  const std::string base = budget_name(1.0);
  std::string table = fmt::format("downstream fine-tuning: {} steps of batch {}, lr {:g}, first {} test examples; test accuracy, "
                                  "mean ± std over seeds\n",
                                  o.steps, o.batch_size, o.lr, o.max_eval_examples);
  table += fmt::format("{:<12} {:>9} {:>9} {:>18} {:>18}\n", "task", "majority", "bow", "baseline", best);
  for (const auto& name : data::task_names()) {
    const auto task = data::make_task(name, verses, 1);
    const auto prep = train::prepare_task(task, tok, o.max_eval_examples);
    const double bow = train::bow_accuracy(task, 1, o.max_eval_examples);
    std::vector<double> acc[2];
    for (std::uint64_t s = c.a.seed; s < c.a.seed + c.a.seeds; ++s) {
      for (int k = 0; k < 2; ++k) {
        const auto it = c.finals.find({k == 0 ? base : best, s});
        if (it == c.finals.end() || interrupt_flag().load()) continue;
        auto oo = o;
        oo.seed = s;
        auto m = train::make_classifier(it->second.first, it->second.second, task, s);
        acc[k].push_back(train::finetune(*m, tok, prep, oo).accuracy);
      }
    }
    table += fmt::format("{:<12} {:>9.3f} {:>9.3f} {:>18} {:>18}\n", name, prep.majority, bow, pm(stat_of(acc[0]), 3),
                         pm(stat_of(acc[1]), 3));
  }
  table += fmt::format("({:.0f} s)\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  fmt::print("\n{}", table);
  io::write_file_atomic(c.out / "finetune.txt", table);
  std::fflush(stdout);
}

void run_demo(const demo_args& a) {
  set_threads(a.threads);
  install_sigint_handler();
  const std::filesystem::path out = a.out;
  std::filesystem::create_directories(out);
  check_args(a);
  const auto policies = parse_policies(a);

  // 1. Vocabulary and data.
  const demo_corpus d = prepare_corpus(a, out);
  demo_context c{a, shapes_of(a), sched::run_settings{.vocab_size = d.vocab.size(), .batch_size = a.batch}, *d.data, d.vocab, out, {}, {}, {}, {}};
  for (const auto& p : policies) (void)policy_schedule(p, c.sh, c.run, a.steps, 1);  // refuse bad policies before training
  print_setup(a, d, c.sh);

  // 2. The runs.
  const double total_wall = train_all(c, policies);

  // 3. The comparison, per seed and over the seeds.
  const auto pace = price_baseline_wall(c.records);
  const auto outcomes = outcomes_of(c.records, policies);
  const auto best = std::max_element(outcomes.begin(), outcomes.end(), [](const auto& x, const auto& y) {
    return x.wall_speedup.speedup < y.wall_speedup.speedup;
  });
  print_table(c, outcomes, pace);
  const demo_claims k = print_claims(c, *best, d.unigram_entropy, total_wall);
  if (a.finetune_steps > 0) finetune_comparison(c, d.vocab, best->policy);

  // 4. Figure and summary.
  write_figure(c, policies, d.unigram_entropy);
  write_summary(c, *best, k, d.unigram_entropy);
}

growth_tool::registrar reg{"demo", [](CLI::App& app) {
  auto a = std::make_shared<demo_args>();
  auto* sub = app.add_subcommand("demo", "Budget-fair speedup of progressive training (baseline budget curve, small model, "
                                         "grown policies) on the KJV corpus");
  sub->add_option("--steps", a->steps, "budget B: steps of the full-budget baseline (and of every grown run)")->capture_default_str();
  sub->add_option("--layers", a->layers, "target layers")->capture_default_str();
  sub->add_option("--hidden", a->hidden, "target hidden size")->capture_default_str();
  sub->add_option("--heads", a->heads, "target attention heads")->capture_default_str();
  sub->add_option("--ffn", a->ffn, "target FFN size")->capture_default_str();
  sub->add_option("--seq-len", a->seq_len, "sequence length")->capture_default_str();
  sub->add_option("--batch", a->batch, "sequences per step")->capture_default_str();
  sub->add_option("--vocab", a->vocab, "WordPiece vocabulary size")->capture_default_str();
  sub->add_flag("--pre-ln", a->pre_ln, "pre-LN encoder layers (default: post-LN, Hugging Face BERT)");
  sub->add_option("--finetune", a->finetune_steps,
                  "fine-tune the baseline and the best grown run on the downstream tasks for N steps each (0 = off)")
      ->capture_default_str();
  add_optim_options(sub, a->optim);
  sub->add_option("--warmup", a->warmup, "warmup steps (0 = B/20)")->capture_default_str();
  sub->add_option("--eval-every", a->eval_every, "steps between validation rows (0 = B/16)")->capture_default_str();
  sub->add_option("--max-validation", a->max_validation, "validation sequences used (0 = all)")->capture_default_str();
  sub->add_option("--policies", a->policies, "grown runs: comma-separated restart, continue, late, auto")->capture_default_str();
  sub->add_option("--seeds", a->seeds, "seeds (every run once per seed)")->capture_default_str();
  sub->add_option("--jobs", a->jobs, "runs trained at the same time")->capture_default_str();
  sub->add_option("--threads", a->threads, "threads per run (results are deterministic per thread count)")->capture_default_str();
  sub->add_option("--text", a->text, "corpus (default: data/kjv.txt of the source tree)");
  sub->add_option("--corpus-chars", a->corpus_chars, "use only the first N bytes of the corpus (0 = all)");
  sub->add_option("--out", a->out, "results folder")->capture_default_str();
  sub->add_option("--seed", a->seed, "first seed")->capture_default_str();
  sub->callback([a] { run_demo(*a); });
}};

}  // namespace growth_tool::cmd_demo
