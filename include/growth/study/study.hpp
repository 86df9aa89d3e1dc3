#pragma once
/// @file study/study.hpp
/// The small-scale reproduction of the paper's comparisons (`growth study`): the list of configurations
/// (run-time growth schedules), the scales they are sized for, the per-configuration statistics over seeds
/// (mean and sample standard deviation), the verdict rule against the paper's qualitative claims, and the
/// markdown / SVG writers of RESULTS.md. Training itself is train::progressive_trainer; this header only
/// decides WHAT is trained and how the logs are summarised. Standard library + train/ + report/ only.
///
/// Comparisons (paper-notes.md sections 2-5):
///   - Table 1 analogue, per dimension: every low-cost model trains 70% of the N steps, grows, and the full
///     model trains the remaining 30% (the paper's 700K + 300K); the baseline trains the full model N steps.
///     A control trains the full model N steps with a grown run's learning-rate schedule (restarted at 70%).
///   - Figure 1 analogue: depth-only (L/4), length-only (pooling k = 4) and compound (L/2 and pooling k = 2)
///     low-cost models of about equal cost per step, each grown to the full model; validation loss against
///     full-model steps. Length is always mean embedding pooling; truncation is its Table 1 comparison.
///   - CompoundGrow vs baseline: a 3-stage schedule (half depth + FFN sharing + pooling k = 2, stack, then the
///     full model), extended on its last stage until it reaches the same seed's baseline final loss.
///
/// Verdict rule: for a claim "A has lower validation loss than B", d = mean(B) - mean(A) and
/// c = sqrt(std(A)^2 + std(B)^2); |d| < 2c -> "within noise", d > 0 -> "agrees", d < 0 -> "disagrees".
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/mlm_data.hpp"
#include "../io/atomic_file.hpp"
#include "../report/svg_plot.hpp"
#include "../schedule/schedule.hpp"
#include "../train/trainer.hpp"

namespace growth::study {

// ------------------------------------------------------------------------------------------------------------
// Scales.

/// Model, data and run sizes of one study scale.
struct scale_spec {
  std::string name;
  std::size_t layers = 4, hidden = 64, heads = 2, ffn = 256, seq_len = 64, batch = 16;
  std::size_t vocab = 2000;          ///< WordPiece vocabulary size requested
  std::size_t steps = 400;           ///< N: total steps of every run (the compound run may extend to 1.5 N)
  std::size_t corpus_chars = 0;      ///< corpus prefix in bytes (0 = all)
  std::size_t max_validation = 64;   ///< validation sequences (full length, fixed masks)
  std::size_t eval_every = 0;        ///< 0 = N / 20
  double lr = 1e-3;
  double dropout = 0.1;              ///< hidden and attention dropout of every model
  double init_range = 0.02;          ///< initializer_range (normal std of the weights)
};

/// smoke (seconds per run, ctest), small (the same model as full for N/10 steps) and full (what produced
/// docs/RESULTS.md: 66 min on this project's 2-core VM). The full scale is the largest that fits the budget:
/// its models learn from context (about 0.6 nats below the unigram entropy at step N, RESULTS.md's regime line)
/// but do not leave the plateau that a wider model leaves after ~3,000 steps (scripts/train-kjv.sh). No dropout
/// (the runs see each token about 8 times), lr 2e-3 (lower loss than 4e-3 in a 4,000-step trial).
inline scale_spec scale_of(const std::string& name) {
  scale_spec s;
  s.name = name;
  if (name == "smoke") {  // only checks that everything runs and is published
    s.layers = 4; s.hidden = 32; s.heads = 2; s.ffn = 128; s.seq_len = 32; s.batch = 8;
    s.vocab = 300; s.steps = 20; s.corpus_chars = 100000; s.max_validation = 16; s.eval_every = 5;
  } else if (name == "small" || name == "full") {
    s.layers = 4; s.hidden = 64; s.heads = 2; s.ffn = 256; s.seq_len = 64; s.batch = 16;
    s.vocab = 1000; s.corpus_chars = 0; s.max_validation = 96;
    s.lr = 2e-3; s.dropout = 0.0;
    s.steps = name == "full" ? 10000 : 1000;
    s.eval_every = s.steps / 40;
  } else {
    throw error("--scale", "smoke, small or full", "\"" + name + "\"");
  }
  return s;
}

// ------------------------------------------------------------------------------------------------------------
// Configurations.

/// One trained configuration: a schedule, and whether its last stage is extended toward the baseline's loss.
struct config {
  std::string name;         ///< file-name safe id, e.g. "ffn-share"
  std::string label;        ///< legend text
  std::string low_cost;     ///< what the low-cost stage is, in words
  sched::runtime_schedule schedule;
  bool extend_to_baseline = false;
};

/// The full (target) shape of a scale.
inline sched::model_shape full_shape(const scale_spec& s) {
  return {.layers = s.layers, .hidden = s.hidden, .heads = s.heads, .ffn = s.ffn, .seq_len = s.seq_len};
}

namespace detail {
inline sched::runtime_schedule two_stage(const scale_spec& s, std::size_t vocab, const sched::model_shape& low,
                                         const sched::growth_ops& enter) {
  sched::runtime_schedule r;
  r.run = sched::run_settings{.vocab_size = vocab, .batch_size = s.batch, .masked_per_mille = 150};
  const std::size_t n_low = std::max<std::size_t>(1, (s.steps * 7 + 5) / 10);
  r.stages.push_back(sched::stage{.steps = n_low, .shape = low});
  r.stages.push_back(sched::stage{.steps = std::max<std::size_t>(1, s.steps - n_low), .shape = full_shape(s), .enter = enter});
  r.validate();
  return r;
}
/// The same model trained on sequences of `len` tokens; the position table stays full size (truncation).
inline sched::model_shape truncated(sched::model_shape m, std::size_t len) {
  m.max_positions = sched::positions(m);
  m.seq_len = std::max<std::size_t>(4, len);
  return m;
}
/// The same model reading full-length sequences through mean embedding pooling of k tokens (paper-notes
/// 2.3(b)): every layer sees S/k rows; growth turns pooling off.
inline sched::model_shape pooled(sched::model_shape m, std::size_t k) {
  m.pool_size = k;
  return m;
}
}  // namespace detail

/// Every configuration of the study, in table order. `vocab` is the actual vocabulary size.
inline std::vector<config> study_configs(const scale_spec& s, std::size_t vocab) {
  using namespace sched;
  if (s.layers < 4 || s.layers % 4 != 0)
    throw error("study layers", "a multiple of 4 (L/4 and L/2 low-cost models)", std::to_string(s.layers));
  if (s.ffn % 4 != 0) throw error("study ffn", "a multiple of 4 (FFN sharing k = 4)", std::to_string(s.ffn));
  if (s.seq_len % 4 != 0) throw error("study seq_len", "a multiple of 4 (pooling k = 4)", std::to_string(s.seq_len));
  if (s.steps < 10) throw error("study steps", ">= 10", std::to_string(s.steps));
  const model_shape full = full_shape(s);
  std::vector<config> c;

  {  // Baseline: the full model for all N steps.
    runtime_schedule b;
    b.run = run_settings{.vocab_size = vocab, .batch_size = s.batch, .masked_per_mille = 150};
    b.stages.push_back(stage{.steps = s.steps, .shape = full});
    b.validate();
    c.push_back({"baseline", "baseline (full model, N steps)", "none", b, false});
  }
  // Control: the full model with a grown run's learning-rate schedule (warmup and decay restarted at 70%, as
  // at every growth). A grown run that beats the baseline but not this control gains from the restart.
  c.push_back({"baseline-rewarm", "control: full model, lr re-warmed at 70%", "none (full model, restarted lr)",
               detail::two_stage(s, vocab, full, {}), false});
  // Length, S/2 rows per layer: mean embedding pooling (k = 2) vs data truncation to S/2.
  c.push_back({"len-pool", "mean embedding pooling k=2", "S/2 rows (pooling k = 2)", detail::two_stage(s, vocab, detail::pooled(full, 2), {}), false});
  c.push_back({"len-trunc", "truncation S/2", "S/2 tokens (truncation)", detail::two_stage(s, vocab, detail::truncated(full, s.seq_len / 2), {}), false});
  // FFN width, compute-matched: sharing rho = 0.25 (k = 4) vs factorisation rank 0.2 * hidden.
  {
    model_shape sh = full;
    sh.ffn_share_factor = 4;
    sh.ffn_shared_every = 1;
    c.push_back({"ffn-share", "FFN sharing k=4", "FFN shared, I/4 neurons, every layer", detail::two_stage(s, vocab, sh, {.ffn = ffn_op::unshare}), false});
    model_shape fa = full;
    fa.ffn_rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(0.2 * static_cast<double>(s.hidden))));
    fa.ffn_factorized_every = 1;
    c.push_back({"ffn-factor", "FFN factorisation r=0.2H", "FFN factorised, rank " + std::to_string(fa.ffn_rank) + ", every layer",
                 detail::two_stage(s, vocab, fa, {.ffn = ffn_op::unfactorize}), false});
  }
  // Depth L/2 -> L.
  {
    model_shape half = full;
    half.layers = s.layers / 2;
    c.push_back({"depth-stack", "depth: stacking", "L/2 layers", detail::two_stage(s, vocab, half, {.depth = depth_op::stack}), false});
    c.push_back({"depth-interp", "depth: interpolation", "L/2 layers", detail::two_stage(s, vocab, half, {.depth = depth_op::interpolate}), false});
    c.push_back({"depth-identity", "depth: identity insertion", "L/2 layers", detail::two_stage(s, vocab, half, {.depth = depth_op::identity}), false});
    // Optimizer state at growth (on the stacking run; "depth-stack" is the reset run).
    c.push_back({"opt-map", "stacking, Adam moments mapped", "L/2 layers",
                 detail::two_stage(s, vocab, half, {.depth = depth_op::stack, .optimizer = optimizer_policy::map}), false});
  }
  // FFN split I/2 -> I: symmetric vs asymmetric.
  {
    model_shape narrow = full;
    narrow.ffn = s.ffn / 2;
    c.push_back({"split-sym", "FFN split (symmetric)", "FFN I/2", detail::two_stage(s, vocab, narrow, {.ffn = ffn_op::split}), false});
    c.push_back({"split-asym", "FFN split (asymmetric)", "FFN I/2", detail::two_stage(s, vocab, narrow, {.ffn = ffn_op::split_asym}), false});
  }
  // Figure 1: equal-cost low-cost models.
  {
    model_shape d = full;
    d.layers = s.layers / 4;
    c.push_back({"fig1-depth", "depth only (L/4)", "L/4 layers", detail::two_stage(s, vocab, d, {.depth = depth_op::stack}), false});
    c.push_back({"fig1-length", "length only (pooling k=4)", "S/4 rows (pooling k = 4)", detail::two_stage(s, vocab, detail::pooled(full, 4), {}), false});
    model_shape cp = detail::pooled(full, 2);
    cp.layers = s.layers / 2;
    c.push_back({"fig1-compound", "compound (L/2, pooling k=2)", "L/2 layers and S/2 rows (pooling k = 2)", detail::two_stage(s, vocab, cp, {.depth = depth_op::stack}), false});
  }
  {  // CompoundGrow: (1) L/2 + FFN sharing k=4 + pooling k=2, 30%; (2) stack to L, 40%; (3) the full model, 30%.
    model_shape low = detail::pooled(full, 2);
    low.ffn_share_factor = 4;
    low.ffn_shared_every = 1;
    model_shape half = low;
    half.layers = s.layers / 2;
    runtime_schedule r;
    r.run = run_settings{.vocab_size = vocab, .batch_size = s.batch, .masked_per_mille = 150};
    const std::size_t s1 = std::max<std::size_t>(1, s.steps * 3 / 10), s2 = std::max<std::size_t>(1, s.steps * 4 / 10);
    r.stages.push_back(stage{.steps = s1, .shape = half});
    r.stages.push_back(stage{.steps = s2, .shape = low, .enter = {.depth = depth_op::stack}});
    r.stages.push_back(stage{.steps = s.steps - s1 - s2, .shape = full, .enter = {.ffn = ffn_op::unshare}});
    r.validate();
    c.push_back({"compound", "CompoundGrow", "L/2 + FFN sharing + pooling k=2, then L + sharing + pooling", r, true});
  }
  return c;
}

/// Whether two configurations begin with the same stage (and run settings), so that `growth study` trains
/// that stage once per seed and forks it (train::progressive_trainer::continue_from); their comparison is then
/// paired. Extended runs are never forked (their length depends on the baseline).
inline bool shares_first_stage(const config& a, const config& b) {
  return !a.extend_to_baseline && !b.extend_to_baseline && a.schedule.stages.size() > 1 && b.schedule.stages.size() > 1 &&
         a.schedule.run == b.schedule.run && a.schedule.stages[0] == b.schedule.stages[0];
}

// ------------------------------------------------------------------------------------------------------------
// Statistics and verdicts.

struct stat {
  double mean = 0, std = 0;  ///< sample standard deviation (n - 1); 0 for one value
  std::size_t n = 0;
};
inline stat stats_of(const std::vector<double>& v) {
  stat s;
  s.n = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double q = 0;
    for (double x : v) q += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(q / static_cast<double>(v.size() - 1));
  }
  return s;
}

/// Claim "a has LOWER loss than b" (see the file comment for the rule).
inline std::string verdict_lower(const stat& a, const stat& b) {
  const double d = b.mean - a.mean, c = std::sqrt(a.std * a.std + b.std * b.std);
  if (std::fabs(d) < 2 * c) return "within noise";
  return d > 0 ? "agrees" : "disagrees";
}

/// One finished run: its log rows, and for extended runs the first row at or below the target loss.
struct run_record {
  std::string config;
  std::uint64_t seed = 0;
  std::vector<train::log_row> rows;
  double target = 0;  ///< baseline's final loss for extended runs
};

/// Row at global step `step` (nullptr if none).
inline const train::log_row* row_at(const run_record& r, std::size_t step) {
  for (const auto& x : r.rows)
    if (x.step == step) return &x;
  return nullptr;
}

/// Mean curve over seeds: x = f(row), y = val_loss, over the steps that every run logged.
template <class F>
report::series mean_curve(const std::vector<const run_record*>& runs, const std::string& label, F x_of) {
  report::series s{label, {}, {}};
  if (runs.empty()) return s;
  for (const auto& r0 : runs[0]->rows) {
    double xs = 0, ys = 0;
    bool all = true;
    for (const auto* r : runs) {
      const auto* x = row_at(*r, r0.step);
      if (!x) { all = false; break; }
      xs += x_of(*x);
      ys += x->val_loss;
    }
    if (!all) continue;
    s.x.push_back(xs / static_cast<double>(runs.size()));
    s.y.push_back(ys / static_cast<double>(runs.size()));
  }
  return s;
}

inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
inline std::string pm(const stat& s, int prec = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f ± %.*f", prec, s.mean, prec, s.std);
  return b;
}

// ------------------------------------------------------------------------------------------------------------
// The report: RESULTS.md and results/*.svg.

/// What the command knows about how the study ran (printed at the top of RESULTS.md).
struct report_context {
  std::string command, commit, machine, load, date, corpus;
  std::size_t seeds = 0, jobs = 0, threads = 0, eval_every = 0;
  double study_seconds = 0;
  double unigram_entropy = 0;  ///< nats; the MLM loss of a model that predicts token frequencies only (0 = unknown)
};

using data::unigram_entropy;  // data/mlm_data.hpp

using records = std::map<std::string, std::vector<run_record>>;

namespace detail {
inline const config& find_config(const std::vector<config>& cs, const std::string& name) {
  for (const auto& c : cs)
    if (c.name == name) return c;
  throw error("study configuration", "\"" + name + "\" in the list", "none");
}
inline std::vector<const run_record*> runs_of(const records& r, const std::string& name) {
  std::vector<const run_record*> v;
  auto it = r.find(name);
  if (it == r.end()) return v;
  for (const auto& x : it->second)
    if (!x.rows.empty()) v.push_back(&x);
  return v;
}
/// Validation loss at global step `step` (the schedule's end for the Table 1 runs), per seed.
inline stat loss_at(const records& r, const std::string& name, std::size_t step) {
  std::vector<double> v;
  for (const auto* x : runs_of(r, name))
    if (const auto* row = row_at(*x, step)) v.push_back(row->val_loss);
  return stats_of(v);
}
inline stat flops_at(const records& r, const std::string& name, std::size_t step) {
  std::vector<double> v;
  for (const auto* x : runs_of(r, name))
    if (const auto* row = row_at(*x, step)) v.push_back(row->flops);
  return stats_of(v);
}
/// "A lower by 0.0123 (within noise)" for comparisons the paper makes no claim about.
inline std::string observed(const std::string& a_name, const stat& a, const std::string& b_name, const stat& b) {
  const double d = b.mean - a.mean, c = std::sqrt(a.std * a.std + b.std * b.std);
  const std::string lower = d >= 0 ? a_name : b_name;
  return lower + " lower by " + fmt("%.4f", std::fabs(d)) + (std::fabs(d) < 2 * c ? " (within noise)" : " (beyond 2 combined std)");
}
/// Per-seed differences loss(b) - loss(a) at `step`, over the seeds both ran: the paired statistic of two
/// configurations that share their low-cost stage within a seed.
inline stat paired_difference(const records& r, const std::string& a, const std::string& b, std::size_t step) {
  std::vector<double> d;
  for (const auto* x : runs_of(r, a))
    for (const auto* y : runs_of(r, b))
      if (x->seed == y->seed) {
        const auto *ra = row_at(*x, step), *rb = row_at(*y, step);
        if (ra && rb) d.push_back(rb->val_loss - ra->val_loss);
      }
  return stats_of(d);
}
/// "A lower by 0.0123 (paired over 3 seeds: within noise)": |mean d| < 2 std(d) is within noise.
inline std::string observed_paired(const std::string& a_name, const std::string& b_name, const stat& d) {
  const std::string lower = d.mean >= 0 ? a_name : b_name;
  return lower + " lower by " + fmt("%.4f", std::fabs(d.mean)) + " (paired over " + std::to_string(d.n) + " seeds: " +
         (d.n < 2 || std::fabs(d.mean) < 2 * d.std ? "within noise" : "beyond 2 std of the per-seed differences") + ")";
}
inline std::string svg_name(const std::string& group) { return "results/" + group + ".svg"; }
}  // namespace detail

/// Writes <out>/RESULTS.md and <out>/results/*.svg; returns the number of figures written.
inline std::size_t write_report(const std::filesystem::path& out, const scale_spec& sc, const std::vector<config>& cs,
                                const records& recs, const report_context& ctx) {
  using detail::loss_at;
  const std::size_t N = sc.steps;
  const auto& base_cfg = detail::find_config(cs, "baseline");
  const stat base_loss = loss_at(recs, "baseline", N);
  const stat control_loss = loss_at(recs, "baseline-rewarm", N);  // the full model with a grown run's lr schedule
  const double base_flops = detail::flops_at(recs, "baseline", N).mean;
  std::size_t figures = 0;
  auto by_step = [](const train::log_row& r) { return static_cast<double>(r.step); };
  // The control row goes right after the baseline in every table and plot of section 1.
  auto with_control = [](std::vector<std::string>& names) {
    const auto b = std::find(names.begin(), names.end(), "baseline");
    if (b != names.end()) names.insert(b + 1, "baseline-rewarm");
  };
  auto plot = [&](const std::string& group, const std::string& title, std::vector<std::string> names) {
    with_control(names);
    std::vector<report::series> ls;
    ls.reserve(names.size());
    for (const auto& n : names) ls.push_back(mean_curve(detail::runs_of(recs, n), detail::find_config(cs, n).label, by_step));
    std::vector<report::panel> p{{"validation loss vs step (mean of seeds)", "global step", "validation MLM loss", ls}};
    io::write_file_atomic(out / detail::svg_name(group), report::render_svg(p, title));
    ++figures;
  };

  std::string md;
  md += "# Transformer growth: the paper's comparisons at small scale\n\n";
  md += "_Generated by `growth study` (tools/cmd_study.cpp); do not edit by hand. Copied to docs/ by scripts/study.sh._\n\n";
  md += "- **Command:** `" + ctx.command + "`\n";
  md += "- **Git commit:** " + ctx.commit + "\n";
  md += "- **Machine:** " + ctx.machine + "; load average at the end " + ctx.load + " (the machine was shared)\n";
  {
    double train_s = 0;
    std::size_t n_runs = 0;
    for (const auto& [name, v] : recs)
      for (const auto& r : v)
        if (!r.rows.empty()) {
          train_s += r.rows.back().wall_seconds;
          ++n_runs;
        }
    md += "- **Date:** " + ctx.date + "; " + std::to_string(n_runs) + " runs, " + fmt("%.0f", train_s) +
          " s of training in all (sum over runs, evaluation excluded; a low-cost stage that several runs share is trained once and "
          "counted in each); this invocation took " + fmt("%.0f", ctx.study_seconds) +
          " s (runs already in runs/ are reused, not trained again)\n";
  }
  md += "- **Scale:** `" + sc.name + "`. Full model " + train::shape_name(full_shape(sc)) + " (layers-hidden-heads-FFN-sequence), batch " +
        std::to_string(sc.batch) + " sequences, N = " + std::to_string(N) + " steps per run, peak lr " + fmt("%g", sc.lr) +
        " (linear warmup " + std::to_string(std::max<std::size_t>(1, N / 20)) +
        " steps, re-warmed at every growth as in the reference code, linear decay to 10%), AdamW, dropout " + fmt("%g", sc.dropout) +
        ", initializer range " + fmt("%g", sc.init_range) + "\n";
  md += "- **Data:** " + ctx.corpus + "; 15% masking; validation = the same full-length sequences with fixed masks, every " +
        std::to_string(ctx.eval_every) + " steps and at every stage end\n";
  md += "- **Seeds:** " + std::to_string(ctx.seeds) + " per configuration (seed = initialisation, batch order, masks, dropout); mean ± sample std. " +
        std::to_string(ctx.jobs) + " runs in parallel with " + std::to_string(ctx.threads) + " thread(s) each.\n";
  md += "- **Shared low-cost stages:** runs of one seed whose schedules begin with the same stage (the four depth runs; the "
        "two FFN-split runs) train it once and continue it into each growth (progressive_trainer::continue_from, bit-identical "
        "to separate runs), so within a seed they differ only by the operator applied at growth.\n";
  md += "- **FLOPs:** the schedule cost model of the shape actually trained (matmuls only, forward + backward = 3x forward).\n";
  md += "- **Wall-clock:** training seconds measured per run (evaluation excluded) while " + std::to_string(ctx.jobs) +
        " runs shared the CPU with other users' jobs: treat wall-clock numbers as rough.\n";
  md += "- **Verdict rule:** for a claim \"A has lower validation loss than B\": d = mean(B) - mean(A), c = sqrt(std(A)^2 + std(B)^2); "
        "|d| < 2c → *within noise*, d > 0 → *agrees*, d < 0 → *disagrees*. Two runs that share their low-cost stage are "
        "compared per seed instead (paired): d_s = loss(B) - loss(A) for each seed s, within noise when |mean d_s| < 2 std(d_s).\n";
  md += "- **Length operator:** mean embedding pooling of k tokens (reference::bert's pooled path, paper-notes 2.3(b)): the "
        "low-cost model reads the full sequence, every layer sees S/k rows; growth turns pooling off. Truncation trains on "
        "S/2-token sequences instead. Validation always uses the full-length sequences with pooling off.\n";
  if (ctx.unigram_entropy > 0) {
    md += "- **Regime:** the unigram entropy of the training tokens (the loss of a model that only predicts token frequencies) is " +
          fmt("%.3f", ctx.unigram_entropy) + " nats; the baseline's final validation loss is " + fmt("%.3f", base_loss.mean) + ". ";
    const double gap = ctx.unigram_entropy - base_loss.mean;
    if (gap < 0.3)
      md += "**The models have barely learned beyond unigram statistics, so differences between operators are expected to be "
            "small and mostly within noise; the comparisons need longer runs to be informative.**\n";
    else if (gap < 1.0)
      md += "The models use context (" + fmt("%.2f", gap) + " nats below the unigram entropy) but are early in training: a "
            "small BERT trained longer on this corpus reaches about 3 nats below it (scripts/train-kjv.sh). **The comparisons "
            "below describe this early phase, which is where a low-cost stage would spend its steps at this scale.**\n";
    else
      md += "The models have learned well beyond unigram statistics (" + fmt("%.2f", gap) + " nats below).\n";
  }
  md += "- Per-run CSV logs: `runs/<config>-seed<k>.csv` in the output folder of the command.\n\n";

  // ---- Table 1.
  md += "## 1. Operator comparisons (the paper's Table 1, per dimension)\n\n";
  md += "Every grown run trains its low-cost model for 70% of the N steps, grows, and trains the full model for the remaining "
        "30%; the baseline trains the full model for all N steps. Final validation loss at step N. Every grown run re-warms the "
        "learning rate at growth (the reference code's schedule); the *control* row trains the full model for all N steps with "
        "that same restarted schedule, so a grown run that beats the baseline but not the control owes its gain to the "
        "restart, not to growth.\n\n";
  auto table_rows = [&](std::vector<std::string> names) {
    with_control(names);
    std::string t = "| configuration | low-cost stage (70%) | training FLOPs vs baseline | final val loss | Δ vs baseline | Δ vs control |\n";
    t += "|---|---|---|---|---|---|\n";
    for (const auto& n : names) {
      const auto& c = detail::find_config(cs, n);
      const stat l = loss_at(recs, n, N);
      const double f = detail::flops_at(recs, n, N).mean;
      const bool reference_row = n == "baseline" || n == "baseline-rewarm";
      t += "| " + c.label + " | " + c.low_cost + " | " + fmt("%.2f", base_flops > 0 ? f / base_flops : 0) + " | " + pm(l) + " | " +
           (n == "baseline" ? std::string("—") : fmt("%+.4f", l.mean - base_loss.mean)) + " | " +
           (reference_row || control_loss.n == 0 ? std::string("—") : fmt("%+.4f", l.mean - control_loss.mean)) + " |\n";
    }
    return t + "\n";
  };
  auto claim_header = [] { return std::string("| comparison | paper's claim | our result | verdict |\n|---|---|---|---|\n"); };
  auto claim_row = [&](const std::string& what, const std::string& claim, const std::string& a, const std::string& b, bool paper) {
    const stat sa = loss_at(recs, a, N), sb = loss_at(recs, b, N);
    const auto &ca = detail::find_config(cs, a), &cb = detail::find_config(cs, b);
    // Runs that share their low-cost stage within a seed differ only by the growth operator: compare per seed.
    const std::string result = shares_first_stage(ca, cb) ? detail::observed_paired(ca.label, cb.label, detail::paired_difference(recs, a, b, N))
                                      : detail::observed(ca.label, sa, cb.label, sb);
    return "| " + what + " | " + claim + " | " + result + " | " +
           (paper ? verdict_lower(sa, sb) : std::string("no paper claim")) + " |\n";
  };

  md += "### 1.1 Length (S/2 rows per layer)\n\n" + table_rows({"baseline", "len-pool", "len-trunc"});
  md += claim_header() + claim_row("mean embedding pooling vs truncation", "pooling > truncation", "len-pool", "len-trunc", true);
  md += "\n![length](" + detail::svg_name("length") + ")\n\n";
  plot("length", "Length: pooling k=2 / truncation S/2 -> S vs baseline", {"baseline", "len-pool", "len-trunc"});

  md += "### 1.2 FFN width (compute-matched: sharing ρ = 0.25 vs factorisation rank 0.2·hidden)\n\n" +
        table_rows({"baseline", "ffn-share", "ffn-factor"});
  md += claim_header() + claim_row("sharing vs factorisation", "sharing > factorisation (\"by a significant margin\")", "ffn-share", "ffn-factor", true);
  md += "\n![ffn](" + detail::svg_name("ffn") + ")\n\n";
  plot("ffn", "FFN width: sharing vs factorisation", {"baseline", "ffn-share", "ffn-factor"});

  md += "### 1.3 Depth (L/2 → L)\n\n" + table_rows({"baseline", "depth-stack", "depth-interp", "depth-identity"});
  md += claim_header();
  md += claim_row("stacking vs interpolation", "— (the paper uses stacking; it compares no depth operators)", "depth-stack", "depth-interp", false);
  md += claim_row("stacking vs identity insertion", "—", "depth-stack", "depth-identity", false);
  md += "\n![depth](" + detail::svg_name("depth") + ")\n\n";
  plot("depth", "Depth: stacking vs interpolation vs identity", {"baseline", "depth-stack", "depth-interp", "depth-identity"});

  md += "### 1.4 FFN split I/2 → I: symmetric vs asymmetric\n\n" + table_rows({"baseline", "split-sym", "split-asym"});
  md += claim_header();
  md += claim_row("asymmetric vs symmetric split", "— (not in the paper; a symmetric split keeps the copied neurons tied)", "split-asym", "split-sym", false);
  md += "\n![split](" + detail::svg_name("split") + ")\n\n";
  plot("split", "FFN split: symmetric vs asymmetric", {"baseline", "split-sym", "split-asym"});

  md += "### 1.5 Optimizer state at growth (depth stacking L/2 → L)\n\n" + table_rows({"baseline", "depth-stack", "opt-map"});
  md += "The *depth: stacking* run resets the Adam moments (the reference code's behaviour); *Adam moments mapped* carries them "
        "through the same index map as the parameters.\n\n";
  md += claim_header();
  md += claim_row("moments mapped vs reset", "— (the reference code resets)", "opt-map", "depth-stack", false);
  md += "\n![optimizer](" + detail::svg_name("optimizer") + ")\n\n";
  plot("optimizer", "Optimizer state at growth: map vs reset", {"baseline", "depth-stack", "opt-map"});

  // ---- Figure 1.
  md += "## 2. Compound vs single dimension (the paper's Figure 1)\n\n";
  md += "Three low-cost models of about equal cost per step, each trained 70% of the N steps and grown to the full model "
        "(depth by stacking, length by turning mean embedding pooling off) for the remaining 30%. The paper's x-axis is the number of "
        "full-model steps after growth; so is the figure's.\n\n";
  {
    const std::vector<std::string> f1{"fig1-depth", "fig1-length", "fig1-compound"};
    const std::size_t grow_at = base_cfg.schedule.stages.empty() ? 0 : detail::find_config(cs, "fig1-depth").schedule.stages[0].steps;
    md += "| low-cost model | FLOPs per step vs full model | val loss at growth (step " + std::to_string(grow_at) +
          ") | final val loss (step " + std::to_string(N) + ") |\n|---|---|---|---|\n";
    const double full_step = sched::training_flops_per_step(full_shape(sc), base_cfg.schedule.run);
    for (const auto& n : f1) {
      const auto& c = detail::find_config(cs, n);
      const double low_step = sched::training_flops_per_step(c.schedule.stages[0].shape, c.schedule.run);
      md += "| " + c.label + " | " + fmt("%.2f", low_step / full_step) + " | " + pm(loss_at(recs, n, grow_at)) + " | " +
            pm(loss_at(recs, n, N)) + " |\n";
    }
    md += "\n" + claim_header();
    md += claim_row("compound vs depth only", "compound > depth only", "fig1-compound", "fig1-depth", true);
    md += claim_row("compound vs length only", "compound > length only", "fig1-compound", "fig1-length", true);
    md += "\n![figure 1](" + detail::svg_name("figure1") + ")\n\n";
    std::vector<report::series> after, all;
    for (const auto& n : f1) {
      const auto runs = detail::runs_of(recs, n);
      const auto& c = detail::find_config(cs, n);
      all.push_back(mean_curve(runs, c.label, [](const train::log_row& r) { return static_cast<double>(r.step); }));
      report::series s = mean_curve(runs, c.label, [&](const train::log_row& r) {
        return r.step >= grow_at ? static_cast<double>(r.step - grow_at) : -1.0;
      });
      report::series t{s.label, {}, {}};
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (s.x[i] > 0) { t.x.push_back(s.x[i]); t.y.push_back(s.y[i]); }
      after.push_back(std::move(t));
    }
    std::vector<report::panel> p{{"after growth (full model)", "full-model steps after growth", "validation MLM loss", after},
                                 {"whole run", "global step", "validation MLM loss", all}};
    io::write_file_atomic(out / detail::svg_name("figure1"), report::render_svg(p, "Compound vs single-dimension growth"));
    ++figures;
  }

  // ---- CompoundGrow vs baseline.
  md += "## 3. CompoundGrow vs baseline\n\n";
  {
    const auto& c = detail::find_config(cs, "compound");
    md += "CompoundGrow schedule: ";
    for (std::size_t i = 0; i < c.schedule.stages.size(); ++i)
      md += (i ? " → " : "") + train::shape_name(c.schedule.stages[i].shape) + " for " +
            std::to_string(c.schedule.stages[i].steps) + " steps";
    md += " (depth by stacking, FFN un-sharing, length by mean embedding pooling). After its N steps its last stage keeps training until "
          "it reaches the same seed's baseline final loss, at most 1.5 N steps in all. Speedup = cost_baseline / cost_method - 1 "
          "(the paper's definition), cost to reach the baseline's final validation loss.\n\n";
    const auto b_runs = detail::runs_of(recs, "baseline");
    const auto c_runs = detail::runs_of(recs, "compound");
    md += "| seed | baseline final loss | CompoundGrow loss at N | reached baseline loss at step | FLOPs speedup | wall-clock speedup | "
          "FLOPs speedup at equal steps |\n|---|---|---|---|---|---|---|\n";
    std::vector<double> sf, sw, se, cl;
    std::size_t reached = 0;
    for (const auto* cr : c_runs) {
      const run_record* br = nullptr;
      for (const auto* b : b_runs)
        if (b->seed == cr->seed) br = b;
      if (!br) continue;
      const auto& bl = br->rows.back();
      const auto* at_n = row_at(*cr, N);
      const train::log_row* hit = nullptr;
      for (const auto& r : cr->rows)
        if (!hit && r.step >= 1 && r.val_loss <= bl.val_loss) hit = &r;
      if (at_n) {
        cl.push_back(at_n->val_loss);
        se.push_back(bl.flops / at_n->flops - 1);
      }
      std::string hs = "not within " + std::to_string(N + N / 2) + " steps (best " + fmt("%.4f", cr->rows.back().val_loss) + ")", fs = "—", ws = "—";
      if (hit) {
        ++reached;
        sf.push_back(bl.flops / hit->flops - 1);
        sw.push_back(bl.wall_seconds / hit->wall_seconds - 1);
        hs = std::to_string(hit->step);
        fs = fmt("%+.1f%%", 100 * sf.back());
        ws = fmt("%+.1f%%", 100 * sw.back());
      }
      md += "| " + std::to_string(cr->seed) + " | " + fmt("%.4f", bl.val_loss) + " | " + (at_n ? fmt("%.4f", at_n->val_loss) : "—");
      for (const std::string* cell : {&hs, &fs, &ws}) md.append(" | ").append(*cell);
      md.append(" | ").append(at_n ? fmt("%+.1f%%", 100 * se.back()) : "—").append(" |\n");
    }
    const stat csl = stats_of(cl), fsp = stats_of(sf), wsp = stats_of(sw), esp = stats_of(se);
    md += "\n| | baseline | CompoundGrow |\n|---|---|---|\n";
    md += "| final val loss at N steps | " + pm(base_loss) + " | " + pm(csl) + " |\n";
    md += "| control: full model, lr re-warmed at 70% | " + pm(control_loss) + " | — |\n";
    md += "| training FLOPs at N steps (× baseline) | 1.00 | " + fmt("%.2f", esp.mean > -1 ? 1.0 / (1.0 + esp.mean) : 0) + " |\n";
    md += "| seeds reaching the baseline's final loss | — | " + std::to_string(reached) + " / " + std::to_string(c_runs.size()) + " |\n";
    md += "| FLOPs speedup to the baseline's loss | — | " + (sf.empty() ? std::string("—") : fmt("%+.1f%%", 100 * fsp.mean) + " ± " + fmt("%.1f%%", 100 * fsp.std)) + " |\n";
    md += "| wall-clock speedup to the baseline's loss | — | " + (sw.empty() ? std::string("—") : fmt("%+.1f%%", 100 * wsp.mean) + " ± " + fmt("%.1f%%", 100 * wsp.std)) + " |\n\n";
    md += claim_header();
    const std::string q = verdict_lower(base_loss, csl);  // "agrees" here means the baseline is better
    const std::string qual = q == "within noise" ? "agrees (equal-step loss within noise)"
                             : q == "agrees"     ? "disagrees (CompoundGrow's equal-step loss is higher beyond noise)"
                                                 : "agrees, and exceeds it (CompoundGrow's loss is lower beyond noise)";
    md += "| quality at equal steps | CompoundGrow ≈ baseline quality | Δ = " + fmt("%+.4f", csl.mean - base_loss.mean) + " | " + qual + " |\n";
    std::string fv = "disagrees (never reached the baseline's loss)";
    if (!sf.empty()) fv = fsp.mean >= 0.5 ? "agrees" : fsp.mean > 0 ? "partly (faster, less than the paper's ~2x)" : "disagrees";
    if (!sf.empty() && reached < c_runs.size())
      fv = "partly: only " + std::to_string(reached) + " of " + std::to_string(c_runs.size()) +
           " seeds reached the baseline's loss within 1.5 N steps (speedup over those seeds only)";
    md += "| compute to the baseline's loss | about half the FLOPs (+107% FLOPs speedup for BERT-base; +73.6% wall-clock) | " +
          (sf.empty() ? std::string("not reached") : fmt("%+.1f%%", 100 * fsp.mean) + " FLOPs speedup (" + std::to_string(reached) + "/" +
                                                         std::to_string(c_runs.size()) + " seeds)") + " | " + fv + " |\n";
    md += "\n![compound](" + detail::svg_name("compound") + ")\n\n";
    std::vector<report::panel> p{
        {"validation loss vs FLOPs", "training FLOPs", "validation MLM loss",
         {mean_curve(b_runs, "baseline", [](const train::log_row& r) { return r.flops; }),
          mean_curve(c_runs, "CompoundGrow", [](const train::log_row& r) { return r.flops; })}},
        {"validation loss vs wall-clock", "training seconds", "validation MLM loss",
         {mean_curve(b_runs, "baseline", [](const train::log_row& r) { return r.wall_seconds; }),
          mean_curve(c_runs, "CompoundGrow", [](const train::log_row& r) { return r.wall_seconds; })}}};
    io::write_file_atomic(out / detail::svg_name("compound"), report::render_svg(p, "CompoundGrow vs baseline (mean of seeds)"));
    ++figures;
  }
  io::write_file_atomic(out / "RESULTS.md", md);
  return figures;
}

}  // namespace growth::study
