#pragma once
/// @file tools/study_report.hpp
/// The small-scale reproduction of the paper's comparisons (`growth study`): the list of configurations
/// (run-time growth schedules), the scales they are sized for, the per-configuration statistics over seeds
/// (mean and sample standard deviation), the verdict rule against the paper's qualitative claims, the
/// speedups read off the baseline's budget curve, and the markdown / SVG writers of RESULTS.md. Training
/// itself is train::progressive_trainer; this header only decides WHAT is trained and how the logs are
/// summarised. Application code of the tool (report prose, the paper's numbers, machine notes), not library:
/// it uses the library's train layer and tools/svg_plot.hpp.
///
/// Protocol (budget-fair, No Train No Gain, Kaddour et al., arXiv 2307.06440; as `growth demo`):
///   - one learning-rate curve per run, warmup-stable-decay (wsd) fully decayed at the run's own budget;
///     every grown run follows the ONE global curve of its budget N (lr continued at growth, Adam moments
///     mapped), except the "paper" CompoundGrow variant, which restarts the curve and resets the optimizer at
///     every growth as the reference code does;
///   - the baseline is a budget curve: the full model at budgets 1/2, 3/4 and 1 of N, each fully decayed at
///     its own budget. Under wsd they are one stable run, paused where each smaller budget's decay begins and
///     forked into that decay (bit-identical to separate runs: trainer continue_from);
///   - a grown run's speedup (FLOPs and wall-clock, growth included) is read off its seed's curve with
///     train::speedup_on_curve: interpolated in log cost, or a bound outside the curve (its kind is reported).
///
/// Comparisons (paper-notes.md sections 2-5):
///   - Table 1 analogue, per dimension: every low-cost model trains 70% of the N steps, grows, and the full
///     model trains the remaining 30% (the paper's 700K + 300K); final losses at N against the baseline at N.
///   - Figure 1 analogue: depth-only (L/4), length-only (pooling k = 4) and compound (L/2 and pooling k = 2)
///     low-cost models of about equal cost per step, each grown to the full model; validation loss against
///     full-model steps. Length is always mean embedding pooling; truncation is its Table 1 comparison.
///   - CompoundGrow vs baseline: a 3-stage schedule (half depth + FFN sharing + pooling k = 2, stack, then the
///     full model), N steps in all, with the global curve and with the paper's restarts; its speedup.
///
/// Verdict rule: for a claim "A has lower validation loss than B", d = mean(B) - mean(A) and
/// c = sqrt(std(A)^2 + std(B)^2); |d| < 2c -> "within noise", d > 0 -> "agrees", d < 0 -> "disagrees".
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <growth/core/error.hpp>
#include <growth/data/mlm_data.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/schedule/learning_rate.hpp>
#include <growth/schedule/schedule.hpp>
#include <growth/train/speedup.hpp>
#include <growth/train/trainer.hpp>

#include "svg_plot.hpp"

namespace growth::study {

// ------------------------------------------------------------------------------------------------------------
// Scales.

/// Model, data, optimizer and run sizes of one study scale.
struct scale_spec {
  std::string name;
  std::size_t layers = 4, hidden = 64, heads = 2, ffn = 256, seq_len = 32, batch = 64;
  std::size_t vocab = 2000;          ///< WordPiece vocabulary size requested
  std::size_t steps = 2400;          ///< N: the budget of the full baseline and of every grown run
  std::size_t corpus_chars = 0;      ///< corpus prefix in bytes (0 = all)
  std::size_t max_validation = 256;  ///< validation sequences (full length, fixed masks)
  std::size_t eval_every = 0;        ///< 0 = N / 20
  double lr = 2e-3;                  ///< peak learning rate
  double beta1 = 0.9, beta2 = 0.98;  ///< AdamW betas (0.98: the fast-BERT recipes)
  sched::lr_family lr_schedule = sched::lr_family::wsd;
  double decay_fraction = 0.2;       ///< wsd: the last 20% of each run's own budget decays ...
  double min_lr_ratio = 0.0;         ///< ... to zero
  double dropout = 0.0;              ///< hidden and attention dropout of every model
  double init_range = 0.02;          ///< initializer_range (normal std of the weights)

  /// Warmup steps: N / 20 (at least 1), the same for every run of the scale.
  [[nodiscard]] std::size_t warmup() const { return std::max<std::size_t>(1, steps / 20); }
  [[nodiscard]] std::size_t eval_interval() const { return eval_every ? eval_every : std::max<std::size_t>(1, steps / 20); }
  /// The learning-rate curve of every run (the trainer's, for these options).
  [[nodiscard]] sched::lr_curve lr_curve() const {
    return {.family = lr_schedule, .peak = lr, .warmup = warmup(), .min_ratio = min_lr_ratio, .decay_fraction = decay_fraction};
  }
};

/// smoke (seconds per run, ctest), small (the full scale's models and data for N/10 steps) and full (what
/// produces docs/RESULTS.md). The regime is `growth demo`'s default: BERT L4 H64 A2 I256 on 32-token
/// sequences, batch 64, vocabulary 2000, lr 2e-3 with AdamW betas (0.9, 0.98), wsd (20% decay to 0 at each
/// run's own budget), warmup N/20, no dropout.
///
/// Time of the full scale with --jobs 2 --threads 1 on this project's 2-core VM, measured on a proxy of the
/// same models (`--scale full --steps 120 --seeds 1`: 86 s of training, 56 s of study, the machine shared): a
/// full-model step takes 65-72 ms on one thread; one seed trains about 9.9 N full-model-step equivalents (the
/// baseline family 1.25 N, i.e. the stable run plus the decays of budgets 1/2 and 3/4; 15 grown runs, the
/// depth and split groups sharing their low-cost stage; low-cost models at their measured, not their FLOPs,
/// cost). With N = 2400 a seed is about 1,700 s of one core, so the default 3 seeds take about 43-45 min with
/// 2 jobs (vocabulary, tokenisation and evaluation add about a minute), 2 seeds about 30 min.
inline scale_spec scale_of(const std::string& name) {
  scale_spec s;
  s.name = name;
  if (name == "smoke") {  // only checks that everything runs and is published
    s.layers = 4; s.hidden = 32; s.heads = 2; s.ffn = 128; s.seq_len = 32; s.batch = 8;
    s.vocab = 300; s.steps = 40; s.corpus_chars = 100000; s.max_validation = 16; s.eval_every = 5;
  } else if (name == "small" || name == "full") {
    s.steps = name == "full" ? 2400 : 240;
    s.eval_every = s.steps / 20;
  } else {
    throw error("--scale", "smoke, small or full", "\"" + name + "\"");
  }
  return s;
}

/// The trainer options of every run of a scale (the caller adds the log and its observer). `vocab_size`
/// is the actual vocabulary's.
inline train::trainer_options run_options(const scale_spec& s, std::size_t vocab_size, std::uint64_t seed) {
  train::trainer_options o;
  o.seed = seed;
  o.lr = s.lr;
  o.warmup = s.warmup();
  o.lr_schedule = s.lr_schedule;
  o.decay_fraction = s.decay_fraction;
  o.min_lr_ratio = s.min_lr_ratio;
  o.adam.beta1 = s.beta1;
  o.adam.beta2 = s.beta2;
  o.eval_every = s.eval_interval();
  o.base.vocab_size = vocab_size;
  o.base.hidden_dropout_prob = s.dropout;
  o.base.attention_probs_dropout_prob = s.dropout;
  o.base.initializer_range = s.init_range;
  return o;
}

// ------------------------------------------------------------------------------------------------------------
// Configurations.

/// One trained configuration: a schedule, and for the baseline's budget curve the budget's share of N.
struct config {
  std::string name;         ///< file-name safe id, e.g. "ffn-share"
  std::string label;        ///< legend text
  std::string low_cost;     ///< what the low-cost stage is, in words
  sched::runtime_schedule schedule;
  double budget = 0;        ///< baseline budget curve: the budget as a fraction of N (0 = a grown run)
  [[nodiscard]] bool is_baseline() const { return budget > 0; }
};

/// The baseline's budgets, as fractions of N, in increasing order; the last one (N) is the config "baseline".
inline const std::vector<double>& budget_fractions() {
  static const std::vector<double> f{0.5, 0.75, 1.0};
  return f;
}
/// "baseline-50", "baseline-75", and "baseline" for the full budget.
inline std::string budget_name(double f) {
  return f >= 1.0 ? std::string("baseline") : "baseline-" + std::to_string(static_cast<int>(std::lround(100 * f)));
}
inline std::size_t budget_steps(const scale_spec& s, double f) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(f * static_cast<double>(s.steps))));
}
/// The step after which a budget of `b` steps leaves the stable run: its decay starts there (wsd), so it forks
/// from the N-step stable run at that step. 0 when the scale's curve is not wsd (no common prefix).
inline std::size_t budget_fork_step(const scale_spec& s, std::size_t b) {
  return b >= s.steps ? 0 : s.lr_curve().fork_step(b);
}

/// The full (target) shape of a scale.
inline model::shape full_shape(const scale_spec& s) {
  return {.layers = s.layers, .hidden = s.hidden, .heads = s.heads, .ffn = s.ffn, .seq_len = s.seq_len};
}

namespace detail {
inline sched::run_settings run_of(const scale_spec& s, std::size_t vocab) {
  return sched::run_settings{.vocab_size = vocab, .batch_size = s.batch, .masked_per_mille = 150};
}
/// Growth on the one global learning-rate curve: lr continued, the optimizer as given (moments mapped unless
/// the comparison is about the optimizer).
inline growth::grow_options global(growth::grow_options e, growth::optimizer_policy opt = growth::optimizer_policy::map) {
  e.lr = sched::lr_action::continue_schedule;
  e.optimizer = opt;
  return e;
}
/// 70% of N on `low`, then grown with `enter` into the full model for the remaining 30%.
inline sched::runtime_schedule two_stage(const scale_spec& s, std::size_t vocab, const model::shape& low,
                                         const growth::grow_options& enter) {
  sched::runtime_schedule r;
  r.run = run_of(s, vocab);
  const std::size_t n_low = std::max<std::size_t>(1, (s.steps * 7 + 5) / 10);
  r.stages.push_back(sched::stage{.steps = n_low, .shape = low});
  r.stages.push_back(sched::stage{.steps = std::max<std::size_t>(1, s.steps - n_low), .shape = full_shape(s), .enter = enter});
  r.validate();
  return r;
}
/// The same model trained on sequences of `len` tokens; the position table stays full size (truncation).
inline model::shape truncated(model::shape m, std::size_t len) {
  m.max_positions = sched::positions(m);
  m.seq_len = std::max<std::size_t>(4, len);
  return m;
}
/// The same model reading full-length sequences through mean embedding pooling of k tokens (paper-notes
/// 2.3(b)): every layer sees S/k rows; growth turns pooling off.
inline model::shape pooled(model::shape m, std::size_t k) {
  m.pool_size = k;
  return m;
}
/// CompoundGrow (30% / 40% / 30%): L/2 + FFN sharing k=4 + pooling k=2; stacked to L; then the full model.
/// `paper`: each growth restarts the learning-rate curve (warmup and decay over its stage) and resets the Adam
/// moments (the reference code); otherwise the global curve goes on and the moments are mapped.
inline sched::runtime_schedule compound(const scale_spec& s, std::size_t vocab, bool paper) {
  using namespace sched;
  const model::shape full = full_shape(s);
  model::shape low = pooled(full, 2);
  low.ffn_share_factor = 4;
  low.ffn_shared_every = 1;
  model::shape half = low;
  half.layers = s.layers / 2;
  auto at_growth = [&](grow_options e) {
    if (!paper) return global(e);
    e.lr = lr_action::restart_warmup;
    e.optimizer = optimizer_policy::reset;
    return e;
  };
  runtime_schedule r;
  r.run = run_of(s, vocab);
  const std::size_t s1 = std::max<std::size_t>(1, s.steps * 3 / 10), s2 = std::max<std::size_t>(1, s.steps * 4 / 10);
  r.stages.push_back(stage{.steps = s1, .shape = half});
  r.stages.push_back(stage{.steps = s2, .shape = low, .enter = at_growth({.depth = depth_mode::stack})});
  r.stages.push_back(stage{.steps = s.steps - s1 - s2, .shape = full, .enter = at_growth({.ffn = ffn_mode::unshare})});
  r.validate();
  return r;
}
}  // namespace detail

/// Every configuration of the study, in table order: the baseline's budgets first. `vocab` is the actual
/// vocabulary size.
inline std::vector<config> study_configs(const scale_spec& s, std::size_t vocab) {
  using namespace sched;
  using detail::global;
  using detail::two_stage;
  if (s.layers < 4 || s.layers % 4 != 0)
    throw error("study layers", "a multiple of 4 (L/4 and L/2 low-cost models)", std::to_string(s.layers));
  if (s.ffn % 4 != 0) throw error("study ffn", "a multiple of 4 (FFN sharing k = 4)", std::to_string(s.ffn));
  if (s.seq_len % 4 != 0) throw error("study seq_len", "a multiple of 4 (pooling k = 4)", std::to_string(s.seq_len));
  if (s.steps < 10) throw error("study steps", ">= 10", std::to_string(s.steps));
  const model::shape full = full_shape(s);
  std::vector<config> c;

  for (double f : budget_fractions()) {  // The baseline: the full model at each budget, decayed at its end.
    runtime_schedule b;
    b.run = detail::run_of(s, vocab);
    b.stages.push_back(stage{.steps = budget_steps(s, f), .shape = full});
    b.validate();
    const std::string pct = std::to_string(static_cast<int>(std::lround(100 * f))) + "%";
    c.push_back({budget_name(f), "baseline (full model, budget " + pct + " of N)", "none", b, f});
  }
  // Length, S/2 rows per layer: mean embedding pooling (k = 2) vs data truncation to S/2.
  c.push_back({"len-pool", "mean embedding pooling k=2", "S/2 rows (pooling k = 2)", two_stage(s, vocab, detail::pooled(full, 2), global({})), 0});
  c.push_back({"len-trunc", "truncation S/2", "S/2 tokens (truncation)", two_stage(s, vocab, detail::truncated(full, s.seq_len / 2), global({})), 0});
  // FFN width, compute-matched: sharing rho = 0.25 (k = 4) vs factorisation rank 0.2 * hidden.
  {
    model::shape sh = full;
    sh.ffn_share_factor = 4;
    sh.ffn_shared_every = 1;
    c.push_back({"ffn-share", "FFN sharing k=4", "FFN shared, I/4 neurons, every layer", two_stage(s, vocab, sh, global({.ffn = ffn_mode::unshare})), 0});
    model::shape fa = full;
    fa.ffn_rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(0.2 * static_cast<double>(s.hidden))));
    fa.ffn_factorized_every = 1;
    c.push_back({"ffn-factor", "FFN factorisation r=0.2H", "FFN factorised, rank " + std::to_string(fa.ffn_rank) + ", every layer",
                 two_stage(s, vocab, fa, global({.ffn = ffn_mode::unfactorize})), 0});
  }
  // Depth L/2 -> L (moments mapped), and the optimizer state at growth on the stacking run.
  {
    model::shape half = full;
    half.layers = s.layers / 2;
    c.push_back({"depth-stack", "depth: stacking", "L/2 layers", two_stage(s, vocab, half, global({.depth = depth_mode::stack})), 0});
    c.push_back({"depth-interp", "depth: interpolation", "L/2 layers", two_stage(s, vocab, half, global({.depth = depth_mode::interpolate})), 0});
    c.push_back({"depth-identity", "depth: identity insertion", "L/2 layers", two_stage(s, vocab, half, global({.depth = depth_mode::identity})), 0});
    c.push_back({"opt-reset", "stacking, Adam moments reset", "L/2 layers",
                 two_stage(s, vocab, half, global({.depth = depth_mode::stack}, optimizer_policy::reset)), 0});
  }
  // FFN split I/2 -> I: symmetric vs asymmetric.
  {
    model::shape narrow = full;
    narrow.ffn = s.ffn / 2;
    c.push_back({"split-sym", "FFN split (symmetric)", "FFN I/2", two_stage(s, vocab, narrow, global({.ffn = ffn_mode::split})), 0});
    c.push_back({"split-asym", "FFN split (asymmetric)", "FFN I/2", two_stage(s, vocab, narrow, global({.ffn = ffn_mode::split_asym})), 0});
  }
  // Figure 1: equal-cost low-cost models.
  {
    model::shape d = full;
    d.layers = s.layers / 4;
    c.push_back({"fig1-depth", "depth only (L/4)", "L/4 layers", two_stage(s, vocab, d, global({.depth = depth_mode::stack})), 0});
    c.push_back({"fig1-length", "length only (pooling k=4)", "S/4 rows (pooling k = 4)", two_stage(s, vocab, detail::pooled(full, 4), global({})), 0});
    model::shape cp = detail::pooled(full, 2);
    cp.layers = s.layers / 2;
    c.push_back({"fig1-compound", "compound (L/2, pooling k=2)", "L/2 layers and S/2 rows (pooling k = 2)",
                 two_stage(s, vocab, cp, global({.depth = depth_mode::stack})), 0});
  }
  // CompoundGrow on the global curve, and as the paper's code runs it.
  c.push_back({"compound", "CompoundGrow (global lr, moments mapped)", "L/2 + FFN sharing + pooling k=2, then L + sharing + pooling",
               detail::compound(s, vocab, false), 0});
  c.push_back({"compound-paper", "CompoundGrow, paper's code (lr restart, optimizer reset)",
               "L/2 + FFN sharing + pooling k=2, then L + sharing + pooling", detail::compound(s, vocab, true), 0});
  return c;
}

/// Whether two grown configurations begin with the same stage, run settings and learning rate over it, so
/// that `growth study` trains that stage once per seed and forks it (train::progressive_trainer::continue_from);
/// their comparison is then paired. The learning rate over stage 0 is the same when its curve segment has the
/// same length (schedule/learning_rate.hpp: a restart at stage 1 ends the segment there).
inline bool shares_first_stage(const config& a, const config& b) {
  const auto &x = a.schedule.stages, &y = b.schedule.stages;
  return !a.is_baseline() && !b.is_baseline() && x.size() > 1 && y.size() > 1 && a.schedule.run == b.schedule.run &&
         x[0] == y[0] && sched::segment_of(x, 0).steps == sched::segment_of(y, 0).steps;
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
/// With fewer than two seeds on either side there is no noise estimate, and no verdict.
inline std::string verdict_lower(const stat& a, const stat& b) {
  if (a.n < 2 || b.n < 2) return "no verdict (one seed: no noise estimate)";
  const double d = b.mean - a.mean, c = std::sqrt(a.std * a.std + b.std * b.std);
  if (std::fabs(d) < 2 * c) return "within noise";
  return d > 0 ? "agrees" : "disagrees";
}

/// The paper's speedup claim (CompoundGrow: about 2x, i.e. speedup >= `claim`) against a speedup read off the
/// baseline curve, taking its kind into account: a bound decides only on its side of the claim.
inline std::string verdict_speedup(const train::speedup_result& r, double claim = 0.5) {
  using K = train::speedup_kind;
  if (r.kind == K::interpolated) {
    if (r.speedup >= claim) return "agrees";
    return r.speedup > 0 ? "partly (faster, less than the paper's)" : "disagrees (not faster than the baseline)";
  }
  if (r.kind == K::lower_bound)  // better than the full budget: the speedup is at least r.speedup
    return r.speedup >= claim ? "agrees (lower bound)" : r.speedup > 0 ? "at least partly (lower bound below the claim)"
                                                                          : "inconclusive (lower bound below 0)";
  // Worse than the smallest budget: the speedup is at most r.speedup.
  return r.speedup <= 0 ? "disagrees (upper bound: worse than the smallest budget)"
         : r.speedup < claim ? "disagrees with the claim (upper bound below it)"
                             : "inconclusive (upper bound above the claim)";
}

/// One finished run: its log rows.
struct run_record {
  std::string config;
  std::uint64_t seed = 0;
  std::vector<train::log_row> rows;
  std::map<std::string, double> finetune;  ///< downstream task -> test accuracy of the fine-tuned final model
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

inline std::string pm(const stat& s, int prec = 4) { return fmt::format("{:.{}f} ± {:.{}f}", s.mean, prec, s.std, prec); }
/// "+12.3%" (interpolated), "≤ -40.0%" (upper bound) or "≥ +50.0%" (lower bound).
inline std::string speedup_text(const train::speedup_result& r) {
  const char* p = r.kind == train::speedup_kind::upper_bound ? "≤ " : r.kind == train::speedup_kind::lower_bound ? "≥ " : "";
  return p + fmt::format("{:+.1f}%", 100 * r.speedup);
}
inline std::string kind_text(train::speedup_kind k) {
  switch (k) {
    case train::speedup_kind::interpolated: return "interpolated";
    case train::speedup_kind::upper_bound: return "upper bound";
    case train::speedup_kind::lower_bound: return "lower bound";
  }
  return "?";
}

using records = std::map<std::string, std::vector<run_record>>;
using data::unigram_entropy;  // data/mlm_data.hpp

/// "Past the plateau": a loss at least 1.0 nat below the unigram entropy (the loss of token frequencies alone).
inline bool past_plateau(double loss, double unigram_entropy_nats) { return loss <= unigram_entropy_nats - 1.0; }

// ------------------------------------------------------------------------------------------------------------
// Speedups off the baseline's budget curve.

/// Which cost a curve and a speedup are in.
enum class cost_kind { flops, wall };
inline double cost_of(const train::log_row& r, cost_kind k) { return k == cost_kind::flops ? r.flops : r.wall_seconds; }

/// A grown run's speedup in both costs, against its seed's curve.
struct run_speedup {
  std::uint64_t seed = 0;
  train::speedup_result flops, wall;
};

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
inline const run_record* run_of_seed(const records& r, const std::string& name, std::uint64_t seed) {
  for (const auto* x : runs_of(r, name))
    if (x->seed == seed) return x;
  return nullptr;
}
/// Validation loss at global step `step` (N for the grown runs), per seed.
inline stat loss_at(const records& r, const std::string& name, std::size_t step) {
  std::vector<double> v;
  for (const auto* x : runs_of(r, name))
    if (const auto* row = row_at(*x, step)) v.push_back(row->val_loss);
  return stats_of(v);
}
/// The last row's validation loss (a baseline budget's or a grown run's final loss), per seed.
inline stat final_loss(const records& r, const std::string& name) {
  std::vector<double> v;
  for (const auto* x : runs_of(r, name)) v.push_back(x->rows.back().val_loss);
  return stats_of(v);
}
inline stat final_cost(const records& r, const std::string& name, cost_kind k) {
  std::vector<double> v;
  for (const auto* x : runs_of(r, name)) v.push_back(cost_of(x->rows.back(), k));
  return stats_of(v);
}
}  // namespace detail

/// The baseline's budget curve (final cost and loss of each budget) of one seed, or with no seed the mean over
/// the seeds of each budget. Budgets without a run are left out.
/// The baseline budget curve of one seed (or the mean over seeds): FLOPs as counted per run; wall-clock
/// priced as steps x the seed's pace, the full budget's measured seconds per step (that run trains every
/// one of its steps itself; the smaller budgets fork from it). Timing each forked budget on its own gives
/// a curve that a loaded machine can make non-increasing (a smaller budget measured slower), which
/// speedup_on_curve refuses; priced, the curve increases by construction and is still a measurement
/// (growth demo prices its curve the same way: tools/demo_curve.hpp).
inline std::vector<train::budget_point> budget_curve(const records& r, cost_kind k, std::optional<std::uint64_t> seed = {}) {
  std::map<std::uint64_t, double> pace;  // seed -> seconds per step of its full-budget run
  for (const auto* x : detail::runs_of(r, budget_name(1.0)))
    if (!x->rows.empty() && x->rows.back().step > 0)
      pace[x->seed] = x->rows.back().wall_seconds / static_cast<double>(x->rows.back().step);
  std::vector<train::budget_point> pts;
  for (double f : budget_fractions()) {
    std::vector<double> cs, ls;
    for (const auto* x : detail::runs_of(r, budget_name(f)))
      if (!seed || x->seed == *seed) {
        if (k == cost_kind::wall) {
          const auto it = pace.find(x->seed);
          if (it == pace.end()) continue;  // no full-budget run of this seed: no priced curve
          cs.push_back(static_cast<double>(x->rows.back().step) * it->second);
        } else {
          cs.push_back(cost_of(x->rows.back(), k));
        }
        ls.push_back(x->rows.back().val_loss);
      }
    if (!cs.empty()) pts.push_back({stats_of(cs).mean, stats_of(ls).mean});
  }
  return pts;
}

/// Per seed, the speedup of a grown run's final loss and cost on that seed's curve (seeds without a complete
/// curve, or whose curve is not increasing in cost, are left out).
inline std::vector<run_speedup> run_speedups(const records& r, const std::string& name) {
  std::vector<run_speedup> v;
  for (const auto* x : detail::runs_of(r, name)) {
    const auto cf = budget_curve(r, cost_kind::flops, x->seed), cw = budget_curve(r, cost_kind::wall, x->seed);
    if (cf.size() != budget_fractions().size() || cw.size() != cf.size()) continue;
    const auto& last = x->rows.back();
    try {
      v.push_back({x->seed, train::speedup_on_curve(cf, last.flops, last.val_loss),
                   train::speedup_on_curve(cw, last.wall_seconds, last.val_loss)});
    } catch (const error&) {
      // A curve whose wall-clock is not increasing (a budget slowed by other jobs): no speedup for this seed.
    }
  }
  return v;
}

/// The speedup of the mean run (mean final cost and loss over the seeds) on the mean curve; nullopt without
/// runs or a complete curve.
inline std::optional<train::speedup_result> mean_speedup(const records& r, const std::string& name, cost_kind k) {
  const auto curve = budget_curve(r, k);
  const stat loss = detail::final_loss(r, name), cost = detail::final_cost(r, name, k);
  if (loss.n == 0 || curve.size() != budget_fractions().size()) return std::nullopt;
  try {
    return train::speedup_on_curve(curve, cost.mean, loss.mean);
  } catch (const error&) {
    return std::nullopt;
  }
}

// ------------------------------------------------------------------------------------------------------------
// The report: RESULTS.md and results/*.svg.

/// What the command knows about how the study ran (printed at the top of RESULTS.md).
struct report_context {
  std::string command, commit, machine, load, date, corpus;
  std::size_t seeds = 0, jobs = 0, threads = 0, eval_every = 0;
  double study_seconds = 0;
  double unigram_entropy = 0;  ///< nats; the MLM loss of a model that predicts token frequencies only (0 = unknown)
  /// Downstream fine-tuning (section 6; empty tasks = not run): the tasks, their majority-class and
  /// bag-of-words test accuracies, and the recipe in words.
  std::vector<std::string> finetune_tasks;
  std::map<std::string, std::pair<double, double>> finetune_baselines;  ///< task -> (majority, bag of words)
  std::string finetune_recipe;
};

namespace detail {
/// "A lower by 0.0123 (within noise)" for comparisons the paper makes no claim about.
inline std::string observed(const std::string& a_name, const stat& a, const std::string& b_name, const stat& b) {
  const double d = b.mean - a.mean, c = std::sqrt(a.std * a.std + b.std * b.std);
  const std::string lower = d >= 0 ? a_name : b_name;
  if (a.n < 2 || b.n < 2) return lower + " lower by " + fmt::format("{:.4f}", std::fabs(d)) + " (one seed: no noise estimate)";
  return lower + " lower by " + fmt::format("{:.4f}", std::fabs(d)) + (std::fabs(d) < 2 * c ? " (within noise)" : " (beyond 2 combined std)");
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
  if (d.n < 2) return lower + " lower by " + fmt::format("{:.4f}", std::fabs(d.mean)) + " (one seed: no noise estimate)";
  return lower + " lower by " + fmt::format("{:.4f}", std::fabs(d.mean)) + " (paired over " + std::to_string(d.n) + " seeds: " +
         (std::fabs(d.mean) < 2 * d.std ? "within noise" : "beyond 2 std of the per-seed differences") + ")";
}
inline std::string svg_name(const std::string& group) { return "results/" + group + ".svg"; }
inline std::string opt_speedup_text(const std::optional<train::speedup_result>& r) { return r ? speedup_text(*r) : "—"; }

/// RESULTS.md, built section by section (write_report calls the steps in order).
struct report_builder {
  report_builder(const std::filesystem::path& o, const scale_spec& s, const std::vector<config>& c, const records& r,
                 const report_context& x)
      : out(o), sc(s), cs(c), recs(r), ctx(x) {}
  const std::filesystem::path& out;
  const scale_spec& sc;
  const std::vector<config>& cs;
  const records& recs;
  const report_context& ctx;
  std::size_t N = sc.steps;
  stat base_loss = final_loss(recs, "baseline");
  double base_flops = final_cost(recs, "baseline", cost_kind::flops).mean;
  std::size_t figures = 0;
  std::string md;

  [[nodiscard]] const config& cfg(const std::string& n) const { return find_config(cs, n); }
  [[nodiscard]] std::vector<std::string> grown_names() const {
    std::vector<std::string> v;
    for (const auto& c : cs)
      if (!c.is_baseline()) v.push_back(c.name);
    return v;
  }

  // ---- Shared pieces.
  void plot(const std::string& group, const std::string& title, const std::vector<std::string>& names) {
    std::vector<report::series> ls;
    ls.reserve(names.size());
    for (const auto& n : names)
      ls.push_back(mean_curve(runs_of(recs, n), cfg(n).label, [](const train::log_row& r) { return static_cast<double>(r.step); }));
    std::vector<report::panel> p{{"validation loss vs step (mean of seeds)", "global step", "validation MLM loss", ls}};
    io::write_file_atomic(out / svg_name(group), report::render_svg(p, title));
    ++figures;
  }
  /// The rows of a Table 1 comparison: the full-budget baseline, then the grown runs.
  [[nodiscard]] std::string operator_table(const std::vector<std::string>& names) const {
    std::string t = "| configuration | low-cost stage (70%) | training FLOPs vs baseline | final val loss | Δ vs baseline | "
                    "FLOPs speedup | wall-clock speedup |\n|---|---|---|---|---|---|---|\n";
    for (const auto& n : names) {
      const auto& c = cfg(n);
      const stat l = final_loss(recs, n);
      const double f = final_cost(recs, n, cost_kind::flops).mean;
      const bool base = n == "baseline";
      t += "| " + c.label + " | " + c.low_cost + " | " + fmt::format("{:.2f}", base_flops > 0 ? f / base_flops : 0) + " | " + pm(l) + " | " +
           (base ? std::string("—") : fmt::format("{:+.4f}", l.mean - base_loss.mean)) + " | " +
           (base ? std::string("—") : opt_speedup_text(mean_speedup(recs, n, cost_kind::flops))) + " | " +
           (base ? std::string("—") : opt_speedup_text(mean_speedup(recs, n, cost_kind::wall))) + " |\n";
    }
    return t + "\n";
  }
  static std::string claim_header() { return "| comparison | paper's claim | our result | verdict |\n|---|---|---|---|\n"; }
  /// A claim "a has lower final loss than b": paired per seed when the two share their low-cost stage.
  [[nodiscard]] std::string claim_row(const std::string& what, const std::string& claim, const std::string& a, const std::string& b,
                                      bool paper) const {
    const stat sa = final_loss(recs, a), sb = final_loss(recs, b);
    const auto &ca = cfg(a), &cb = cfg(b);
    const std::string result = shares_first_stage(ca, cb) ? observed_paired(ca.label, cb.label, paired_difference(recs, a, b, N))
                                                          : observed(ca.label, sa, cb.label, sb);
    return "| " + what + " | " + claim + " | " + result + " | " + (paper ? verdict_lower(sa, sb) : std::string("no paper claim")) + " |\n";
  }
  /// One Table 1 subsection: heading, table, claims, figure.
  void operator_section(const std::string& heading, const std::string& group, const std::string& title,
                        const std::vector<std::string>& grown, const std::string& note, const std::vector<std::string>& claims) {
    std::vector<std::string> names{"baseline"};
    names.insert(names.end(), grown.begin(), grown.end());
    md += "### " + heading + "\n\n" + operator_table(names) + note + claim_header();
    for (const auto& c : claims) md += c;
    md += "\n![" + group + "](" + svg_name(group) + ")\n\n";
    plot(group, title, names);
  }

  // ---- The steps.
  void header() {
    md += "# Transformer growth: the paper's comparisons at small scale\n\n";
    md += "_Generated by `growth study` (tools/cmd_study.cpp); do not edit by hand. Copied to docs/ by scripts/study.sh._\n\n";
    md += "- **Command:** `" + ctx.command + "`\n";
    md += "- **Git commit:** " + ctx.commit + "\n";
    md += "- **Machine:** " + ctx.machine + "; load average at the end " + ctx.load + " (the machine was shared)\n";
    double train_s = 0;
    std::size_t n_runs = 0;
    for (const auto& [name, v] : recs)
      for (const auto& r : v)
        if (!r.rows.empty()) {
          train_s += r.rows.back().wall_seconds;
          ++n_runs;
        }
    md += "- **Date:** " + ctx.date + "; " + std::to_string(n_runs) + " runs, " + fmt::format("{:.0f}", train_s) +
          " s of training in all (sum over runs, evaluation excluded, growth included; steps that several runs share are trained "
          "once and counted in each); this invocation took " + fmt::format("{:.0f}", ctx.study_seconds) +
          " s (runs already in runs/ are reused, not trained again)\n";
    md += "- **Scale:** `" + sc.name + "`. Full model " + train::shape_name(full_shape(sc)) + " (layers-hidden-heads-FFN-sequence), batch " +
          std::to_string(sc.batch) + " sequences, budget N = " + std::to_string(N) + " steps per grown run, dropout " + fmt::format("{:g}", sc.dropout) +
          ", initializer range " + fmt::format("{:g}", sc.init_range) + "\n";
    md += "- **Optimizer and learning rate:** AdamW, betas (" + fmt::format("{:g}", sc.beta1) + ", " + fmt::format("{:g}", sc.beta2) + "), peak lr " +
          fmt::format("{:g}", sc.lr) + "; " + std::string(sched::to_string(sc.lr_schedule)) + " curve: linear warmup " +
          std::to_string(sc.warmup()) + " steps, stable, then linear decay over the last " + fmt::format("{:g}", 100 * sc.decay_fraction) +
          "% of each run's own budget to " + fmt::format("{:g}", sc.min_lr_ratio) + " x peak. **Every grown run follows one global curve** "
          "(the lr continues at growth, Adam moments mapped), except *CompoundGrow, paper's code*, which restarts the curve "
          "(warmup and decay over each stage) and resets the optimizer at every growth as the reference code does.\n";
    md += "- **Data:** " + ctx.corpus + "; 15% masking; validation = the same full-length sequences with fixed masks, every " +
          std::to_string(ctx.eval_every) + " steps and at every stage end\n";
    md += "- **Seeds:** " + std::to_string(ctx.seeds) + " per configuration (seed = initialisation, batch order, masks, dropout); mean ± sample std. " +
          std::to_string(ctx.jobs) + " runs in parallel with " + std::to_string(ctx.threads) + " thread(s) each.\n";
    md += "- **Shared steps:** the baseline's budgets of a seed are one stable run, paused where each smaller budget's decay "
          "begins and forked into it; runs of one seed whose schedules begin with the same stage and learning rate (the four "
          "depth runs; the two FFN-split runs) train it once and continue it into each growth. Forks are bit-identical to "
          "separate runs (progressive_trainer::continue_from), so within a seed those runs differ only after the fork.\n";
    md += "- **FLOPs:** the schedule cost model of the shape actually trained (matmuls only, forward + backward = 3x forward).\n";
    md += "- **Wall-clock:** training seconds measured per run (evaluation excluded, growth included) while " + std::to_string(ctx.jobs) +
          " runs shared the CPU with other users' jobs: treat wall-clock numbers as rough. A baseline budget's wall-clock on "
          "the curve is its steps x its seed's full-budget run's measured seconds per step (so the curve increases).\n";
    md += "- **Speedup** (No Train No Gain's budget-fair protocol): the cost at which the seed's baseline budget curve reaches "
          "the grown run's final validation loss (interpolated in log cost between budgets), divided by the grown run's cost, "
          "minus 1; in FLOPs and in wall-clock. A loss outside the curve gives only a bound: ≤ (worse than the smallest "
          "budget: an upper bound) or ≥ (better than the full budget: a lower bound). Tables give the mean run (mean cost and "
          "loss over the seeds) on the mean curve; section 5 also gives every seed on its own curve.\n";
    md += "- **Verdict rule:** for a claim \"A has lower validation loss than B\": d = mean(B) - mean(A), c = sqrt(std(A)^2 + std(B)^2); "
          "|d| < 2c → *within noise*, d > 0 → *agrees*, d < 0 → *disagrees*. Two runs that share their low-cost stage are "
          "compared per seed instead (paired): d_s = loss(B) - loss(A) for each seed s, within noise when |mean d_s| < 2 std(d_s).\n";
    md += "- **Length operator:** mean embedding pooling of k tokens (reference::bert's pooled path, paper-notes 2.3(b)): the "
          "low-cost model reads the full sequence, every layer sees S/k rows; growth turns pooling off. Truncation trains on "
          "S/2-token sequences instead. Validation always uses the full-length sequences with pooling off.\n";
  }

  void regime() {
    if (ctx.unigram_entropy > 0) regime_line();
    md += "- Per-run CSV logs: `runs/<config>-seed<k>.csv` in the output folder of the command.\n\n";
  }
  /// The baseline's loss against the unigram entropy: past the plateau = at least 1.0 nat below it.
  void regime_line() {
    const double gap = ctx.unigram_entropy - base_loss.mean;
    md += "- **Regime:** the unigram entropy of the training tokens (the loss of a model that only predicts token frequencies) is " +
          fmt::format("{:.3f}", ctx.unigram_entropy) + " nats; the full-budget baseline's final validation loss is " + fmt::format("{:.3f}", base_loss.mean) +
          " (" + fmt::format("{:.2f}", std::fabs(gap)) + (gap >= 0 ? " nats below it). " : " nats above it). ");
    if (past_plateau(base_loss.mean, ctx.unigram_entropy))
      md += "**Past the plateau** (at least 1.0 nat below the unigram entropy): the models use context well beyond token "
            "frequencies.\n";
    else
      md += "**Not past the plateau** (less than 1.0 nat below the unigram entropy): the models are early in training, so the "
            "comparisons below describe that early phase and differences between operators are expected to be small.\n";
  }

  void baseline_section() {
    md += "## 1. The baseline: a budget curve\n\n";
    md += "The full model at budgets of 1/2, 3/4 and 1 of N steps, each with its learning rate fully decayed at its own budget "
          "(one stable run per seed, forked into each budget's decay). Every speedup below is read off this curve.\n\n";
    md += "| budget | steps | decay from step | final val loss | training FLOPs | wall-clock s |\n|---|---|---|---|---|---|\n";
    for (double f : budget_fractions()) {
      const std::string n = budget_name(f);
      const std::size_t b = budget_steps(sc, f);
      md += "| " + cfg(n).label + " | " + std::to_string(b) + " | " + std::to_string(b - sc.lr_curve().decay_steps(b)) + " | " +
            pm(final_loss(recs, n)) + " | " + fmt::format("{:.3e}", final_cost(recs, n, cost_kind::flops).mean) + " | " +
            pm(final_cost(recs, n, cost_kind::wall), 1) + " |\n";
    }
    md += "\n";
  }

  void operators_section() {
    md += "## 2. Operator comparisons (the paper's Table 1, per dimension)\n\n";
    md += "Every grown run trains its low-cost model for 70% of the N steps, grows, and trains the full model for the remaining "
          "30%, on one global learning-rate curve; the baseline row is the full model for all N steps. Final validation loss "
          "at step N; the speedups are the mean run's on the mean baseline curve (≤ / ≥: a bound).\n\n";
    operator_section("2.1 Length (S/2 rows per layer)", "length", "Length: pooling k=2 / truncation S/2 -> S vs baseline",
                     {"len-pool", "len-trunc"}, "",
                     {claim_row("mean embedding pooling vs truncation", "pooling > truncation", "len-pool", "len-trunc", true)});
    operator_section("2.2 FFN width (compute-matched: sharing ρ = 0.25 vs factorisation rank 0.2·hidden)", "ffn",
                     "FFN width: sharing vs factorisation", {"ffn-share", "ffn-factor"}, "",
                     {claim_row("sharing vs factorisation", "sharing > factorisation (\"by a significant margin\")", "ffn-share", "ffn-factor", true)});
    operator_section("2.3 Depth (L/2 → L)", "depth", "Depth: stacking vs interpolation vs identity",
                     {"depth-stack", "depth-interp", "depth-identity"}, "",
                     {claim_row("stacking vs interpolation", "— (the paper uses stacking; it compares no depth operators)", "depth-stack", "depth-interp", false),
                      claim_row("stacking vs identity insertion", "—", "depth-stack", "depth-identity", false)});
    operator_section("2.4 FFN split I/2 → I: symmetric vs asymmetric", "split", "FFN split: symmetric vs asymmetric",
                     {"split-sym", "split-asym"}, "",
                     {claim_row("asymmetric vs symmetric split", "— (not in the paper; a symmetric split keeps the copied neurons tied)", "split-asym", "split-sym", false)});
    operator_section("2.5 Optimizer state at growth (depth stacking L/2 → L)", "optimizer", "Optimizer state at growth: map vs reset",
                     {"depth-stack", "opt-reset"},
                     "The *depth: stacking* run carries the Adam moments through the same index map as the parameters (every grown "
                     "run does); *Adam moments reset* zeroes them at growth, as the reference code does (which also restarts the "
                     "learning rate; here the global curve goes on).\n\n",
                     {claim_row("moments mapped vs reset", "— (the reference code resets)", "depth-stack", "opt-reset", false)});
  }

  void figure1_section() {
    md += "## 3. Compound vs single dimension (the paper's Figure 1)\n\n";
    md += "Three low-cost models of about equal cost per step, each trained 70% of the N steps and grown to the full model "
          "(depth by stacking, length by turning mean embedding pooling off) for the remaining 30%. The paper's x-axis is the number of "
          "full-model steps after growth; so is the figure's.\n\n";
    const std::vector<std::string> f1{"fig1-depth", "fig1-length", "fig1-compound"};
    const std::size_t grow_at = cfg("fig1-depth").schedule.stages[0].steps;
    md += "| low-cost model | FLOPs per step vs full model | val loss at growth (step " + std::to_string(grow_at) +
          ") | final val loss (step " + std::to_string(N) + ") | FLOPs speedup | wall-clock speedup |\n|---|---|---|---|---|---|\n";
    const auto& base = cfg("baseline");
    const double full_step = sched::training_flops_per_step(full_shape(sc), base.schedule.run);
    for (const auto& n : f1) {
      const auto& c = cfg(n);
      const double low_step = sched::training_flops_per_step(c.schedule.stages[0].shape, c.schedule.run);
      md += "| " + c.label + " | " + fmt::format("{:.2f}", low_step / full_step) + " | " + pm(loss_at(recs, n, grow_at)) + " | " +
            pm(final_loss(recs, n)) + " | " + opt_speedup_text(mean_speedup(recs, n, cost_kind::flops)) + " | " +
            opt_speedup_text(mean_speedup(recs, n, cost_kind::wall)) + " |\n";
    }
    md += "\n" + claim_header();
    md += claim_row("compound vs depth only", "compound > depth only", "fig1-compound", "fig1-depth", true);
    md += claim_row("compound vs length only", "compound > length only", "fig1-compound", "fig1-length", true);
    md += "\n![figure 1](" + svg_name("figure1") + ")\n\n";
    std::vector<report::series> after, all;
    for (const auto& n : f1) {
      const auto runs = runs_of(recs, n);
      all.push_back(mean_curve(runs, cfg(n).label, [](const train::log_row& r) { return static_cast<double>(r.step); }));
      const report::series s = mean_curve(runs, cfg(n).label, [&](const train::log_row& r) {
        return r.step >= grow_at ? static_cast<double>(r.step - grow_at) : -1.0;
      });
      report::series t{s.label, {}, {}};
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (s.x[i] > 0) { t.x.push_back(s.x[i]); t.y.push_back(s.y[i]); }
      after.push_back(std::move(t));
    }
    std::vector<report::panel> p{{"after growth (full model)", "full-model steps after growth", "validation MLM loss", after},
                                 {"whole run", "global step", "validation MLM loss", all}};
    io::write_file_atomic(out / svg_name("figure1"), report::render_svg(p, "Compound vs single-dimension growth"));
    ++figures;
  }

  [[nodiscard]] std::string schedule_text(const config& c) const {
    std::string s;
    for (std::size_t i = 0; i < c.schedule.stages.size(); ++i)
      s += (i ? " → " : "") + train::shape_name(c.schedule.stages[i].shape) + " for " + std::to_string(c.schedule.stages[i].steps) + " steps";
    return s;
  }
  /// The seed-by-seed table of CompoundGrow's two variants against the seed's baseline curve.
  [[nodiscard]] std::string compound_seed_table() const {
    std::string t = "| seed | baseline final loss (1/2, 3/4, 1 of N) | CompoundGrow loss | FLOPs speedup | wall-clock speedup | "
                    "paper's code: loss | FLOPs speedup | wall-clock speedup |\n|---|---|---|---|---|---|---|---|\n";
    const auto gs = run_speedups(recs, "compound"), ps = run_speedups(recs, "compound-paper");
    for (const auto* br : runs_of(recs, "baseline")) {
      std::string curve;
      for (const auto& p : budget_curve(recs, cost_kind::flops, br->seed)) curve += (curve.empty() ? "" : ", ") + fmt::format("{:.4f}", p.loss);
      t += "| " + std::to_string(br->seed) + " | " + curve;
      for (const auto& [name, sp] : {std::pair{std::string("compound"), &gs}, std::pair{std::string("compound-paper"), &ps}}) {
        const run_record* r = run_of_seed(recs, name, br->seed);
        const run_speedup* s = nullptr;
        for (const auto& x : *sp)
          if (x.seed == br->seed) s = &x;
        t += " | " + (r ? fmt::format("{:.4f}", r->rows.back().val_loss) : "—") + " | " + (s ? speedup_text(s->flops) : "—") + " | " +
             (s ? speedup_text(s->wall) : "—");
      }
      t += " |\n";
    }
    return t + "\n";
  }
  void compound_section() {
    md += "## 4. CompoundGrow vs baseline\n\n";
    const auto &c = cfg("compound"), &cp = cfg("compound-paper");
    md += "CompoundGrow schedule: " + schedule_text(c) + " (depth by stacking, FFN un-sharing, length by mean embedding pooling), "
          "N steps in all. *CompoundGrow* follows the global learning-rate curve and maps the Adam moments at each growth; "
          "*paper's code* restarts the curve (warmup, stable, decay over each stage) and resets the moments. Speedup = cost_baseline "
          "/ cost_method - 1 (the paper's definition), cost_baseline read off the seed's budget curve at the method's final loss.\n\n";
    md += compound_seed_table();
    const stat gl = final_loss(recs, "compound"), pl = final_loss(recs, "compound-paper");
    const auto gf = mean_speedup(recs, "compound", cost_kind::flops), gw = mean_speedup(recs, "compound", cost_kind::wall);
    const auto pf = mean_speedup(recs, "compound-paper", cost_kind::flops), pw = mean_speedup(recs, "compound-paper", cost_kind::wall);
    auto flops_x = [&](const std::string& n) {
      return fmt::format("{:.2f}", base_flops > 0 ? final_cost(recs, n, cost_kind::flops).mean / base_flops : 0);
    };
    auto with_kind = [](const std::optional<train::speedup_result>& r) {
      return r ? speedup_text(*r) + " (" + kind_text(r->kind) + ")" : std::string("—");
    };
    md += "| | baseline (budget N) | CompoundGrow | paper's code |\n|---|---|---|---|\n";
    md += "| final val loss at N steps | " + pm(base_loss) + " | " + pm(gl) + " | " + pm(pl) + " |\n";
    md += "| training FLOPs (× baseline) | 1.00 | " + flops_x("compound") + " | " + flops_x("compound-paper") + " |\n";
    md += "| FLOPs speedup (mean run, mean curve) | — | " + with_kind(gf) + " | " + with_kind(pf) + " |\n";
    md += "| wall-clock speedup (mean run, mean curve) | — | " + with_kind(gw) + " | " + with_kind(pw) + " |\n\n";
    md += claim_header();
    const std::string q = verdict_lower(base_loss, gl);  // "agrees" here means the baseline is better
    const std::string qual = q == "within noise" ? "agrees (equal-step loss within noise)"
                             : q == "agrees"     ? "disagrees (CompoundGrow's equal-step loss is higher beyond noise)"
                             : q == "disagrees"  ? "agrees, and exceeds it (CompoundGrow's loss is lower beyond noise)"
                                                 : q;
    md += "| quality at equal steps | CompoundGrow ≈ baseline quality | Δ = " + fmt::format("{:+.4f}", gl.mean - base_loss.mean) + " | " + qual + " |\n";
    md += "| compute to the baseline's loss | about half the FLOPs (+107% FLOPs speedup for BERT-base; +73.6% wall-clock) | " +
          (gf ? speedup_text(*gf) + " FLOPs, " + (gw ? speedup_text(*gw) : std::string("—")) + " wall-clock" : std::string("—")) + " | " +
          (gf ? verdict_speedup(*gf) : std::string("no result")) + " |\n";
    md += "| the paper's code vs the global curve | — | " + observed(cp.label, pl, c.label, gl) + " | no paper claim |\n";
    md += "\n![compound](" + svg_name("compound") + ")\n\n";
    compound_plot();
  }
  void compound_plot() {
    const auto b_runs = runs_of(recs, "baseline");
    auto panel = [&](cost_kind k, const std::string& title, const std::string& x_label) {
      auto x_of = [k](const train::log_row& r) { return cost_of(r, k); };
      report::series pts{"baseline budget curve (final losses)", {}, {}};
      for (const auto& p : budget_curve(recs, k)) {
        pts.x.push_back(p.cost);
        pts.y.push_back(p.loss);
      }
      return report::panel{title, x_label, "validation MLM loss",
                           {mean_curve(b_runs, "baseline (budget N)", x_of), pts,
                            mean_curve(runs_of(recs, "compound"), "CompoundGrow", x_of),
                            mean_curve(runs_of(recs, "compound-paper"), "CompoundGrow, paper's code", x_of)}};
    };
    std::vector<report::panel> p{panel(cost_kind::flops, "validation loss vs FLOPs", "training FLOPs"),
                                 panel(cost_kind::wall, "validation loss vs wall-clock", "training seconds")};
    io::write_file_atomic(out / svg_name("compound"), report::render_svg(p, "CompoundGrow vs baseline (mean of seeds)"));
    ++figures;
  }

  void speedup_section() {
    md += "## 5. Speedups of every grown run\n\n";
    md += "Each grown run's speedup on the baseline budget curve: the mean run on the mean curve with its kind, and every seed "
          "on its own seed's curve (≤: an upper bound, the run is worse than the smallest budget; ≥: a lower bound, it is better "
          "than the full budget).\n\n";
    md += "| configuration | final val loss | training FLOPs vs baseline | FLOPs speedup | kind | per seed | wall-clock speedup | kind | "
          "per seed |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& n : grown_names()) {
      const auto f = mean_speedup(recs, n, cost_kind::flops), w = mean_speedup(recs, n, cost_kind::wall);
      std::string sf, sw;
      for (const auto& s : run_speedups(recs, n)) {
        sf += (sf.empty() ? "" : ", ") + speedup_text(s.flops);
        sw += (sw.empty() ? "" : ", ") + speedup_text(s.wall);
      }
      md += "| " + cfg(n).label + " | " + pm(final_loss(recs, n)) + " | " +
            fmt::format("{:.2f}", base_flops > 0 ? final_cost(recs, n, cost_kind::flops).mean / base_flops : 0) + " | " +
            opt_speedup_text(f) + " | " + (f ? kind_text(f->kind) : "—") + " | " + (sf.empty() ? "—" : sf) + " | " +
            opt_speedup_text(w) + " | " + (w ? kind_text(w->kind) : "—") + " | " + (sw.empty() ? "—" : sw) + " |\n";
    }
    md += "\n";
  }

  /// Section 6: every configuration's final model fine-tuned on the downstream tasks (the same budget and
  /// seeds for all), test accuracy mean ± std over seeds beside its final MLM loss.
  void finetune_section() {
    if (ctx.finetune_tasks.empty()) return;
    md += "## 6. Downstream fine-tuning\n\n";
    md += "Each run's final model fine-tuned as BertForSequenceClassification on the corpus tasks (data/README.md), " + ctx.finetune_recipe +
          "; test accuracy, mean ± std over seeds (fine-tuning seed = the run's seed). Majority class and a bag-of-words logistic "
          "regression for reference.\n\n";
    md += "| configuration | final val loss |";
    std::string rule = "|---|---|";
    for (const auto& t : ctx.finetune_tasks) {
      md += " " + t + " |";
      rule += "---|";
    }
    md += "\n" + rule + "\n";
    for (const auto& c : cs) {
      md += "| " + c.label + " | " + pm(final_loss(recs, c.name)) + " |";
      for (const auto& t : ctx.finetune_tasks) {
        std::vector<double> v;
        for (const auto* r : runs_of(recs, c.name))
          if (auto it = r->finetune.find(t); it != r->finetune.end()) v.push_back(it->second);
        md += " " + (v.empty() ? std::string("—") : pm(stats_of(v), 3)) + " |";
      }
      md += "\n";
    }
    for (int k = 0; k < 2; ++k) {
      md += std::string(k == 0 ? "| majority class" : "| bag-of-words logistic regression") + " | — |";
      for (const auto& t : ctx.finetune_tasks) {
        const auto it = ctx.finetune_baselines.find(t);
        md += " " + (it == ctx.finetune_baselines.end() ? std::string("—") : fmt::format("{:.3f}", k == 0 ? it->second.first : it->second.second)) + " |";
      }
      md += "\n";
    }
    md += "\n";
  }
};
}  // namespace detail

/// Writes <out>/RESULTS.md and <out>/results/*.svg; returns the number of figures written.
inline std::size_t write_report(const std::filesystem::path& out, const scale_spec& sc, const std::vector<config>& cs,
                                const records& recs, const report_context& ctx) {
  detail::report_builder b(out, sc, cs, recs, ctx);
  b.header();
  b.regime();
  b.baseline_section();
  b.operators_section();
  b.figure1_section();
  b.compound_section();
  b.speedup_section();
  b.finetune_section();
  io::write_file_atomic(out / "RESULTS.md", b.md);
  return b.figures;
}

}  // namespace growth::study
