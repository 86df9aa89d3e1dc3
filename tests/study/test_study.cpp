// Unit tests of tools/study_report.hpp (the tool's study): the configuration list (valid schedules that end at the full
// model, compute matching where the comparison needs it), the statistics and the verdict rule, and the report
// writer on synthetic logs (no training here; tests/study/smoke_test.sh runs the real thing).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include <growth/io/atomic_file.hpp>

#include "study_report.hpp"  // tools/

using namespace growth;

TEST_CASE("study configurations: valid, unique, ending at the full model, baseline budgets, 70/30 split on one lr curve") {
  for (const char* scale : {"smoke", "small", "full"}) {
    const auto sc = study::scale_of(scale);
    const auto cs = study::study_configs(sc, sc.vocab);
    std::set<std::string> names;
    std::vector<double> budgets;
    for (const auto& c : cs) {
      CAPTURE(c.name);
      CHECK(names.insert(c.name).second);
      CHECK_NOTHROW(c.schedule.validate());
      CHECK(c.schedule.stages.back().shape == study::full_shape(sc));
      std::size_t total = 0;
      for (const auto& s : c.schedule.stages) total += s.steps;
      if (c.is_baseline()) {
        budgets.push_back(c.budget);
        CHECK(c.name == study::budget_name(c.budget));
        CHECK(c.schedule.stages.size() == 1);
        CHECK(total == study::budget_steps(sc, c.budget));
        continue;
      }
      CHECK(total == sc.steps);
      if (c.schedule.stages.size() == 2) CHECK(c.schedule.stages[0].steps == (sc.steps * 7 + 5) / 10);
      // One global learning-rate curve at every growth, except the paper's-code variant of CompoundGrow.
      for (std::size_t i = 1; i < c.schedule.stages.size(); ++i) {
        const auto& e = c.schedule.stages[i].enter;
        if (c.name == "compound-paper") {
          CHECK(e.lr == sched::lr_action::restart_warmup);
          CHECK(e.optimizer == growth::optimizer_policy::reset);
        } else {
          CHECK(e.lr == sched::lr_action::continue_schedule);
          CHECK(e.optimizer == (c.name == "opt-reset" ? growth::optimizer_policy::reset : growth::optimizer_policy::map));
        }
      }
    }
    CHECK(budgets == study::budget_fractions());
    for (const char* n : {"baseline-50", "baseline-75", "baseline", "len-pool", "len-trunc", "ffn-share", "ffn-factor", "depth-stack",
                          "depth-interp", "depth-identity", "opt-reset", "split-sym", "split-asym", "fig1-depth", "fig1-length",
                          "fig1-compound", "compound", "compound-paper"})
      CHECK(names.count(n) == 1);
    CHECK(names.size() == 18);
  }
  CHECK_THROWS_AS(study::scale_of("huge"), growth::error);
}

TEST_CASE("study regime: the demo's default (L4 H64 A2 I256, S32, batch 64, vocab 2000, wsd 0.2 to 0, betas 0.9/0.98)") {
  const auto sc = study::scale_of("full");
  CHECK(study::full_shape(sc) == model::shape{.layers = 4, .hidden = 64, .heads = 2, .ffn = 256, .seq_len = 32});
  CHECK(sc.batch == 64);
  CHECK(sc.vocab == 2000);
  CHECK(sc.steps == 2400);
  CHECK(study::scale_of("small").steps == 240);
  const auto o = study::run_options(sc, 1999, 7);
  CHECK(o.seed == 7);
  CHECK(o.lr == 2e-3);
  CHECK(o.adam.beta1 == 0.9);
  CHECK(o.adam.beta2 == 0.98);
  CHECK(o.lr_schedule == sched::lr_family::wsd);
  CHECK(o.decay_fraction == 0.2);
  CHECK(o.min_lr_ratio == 0.0);
  CHECK(o.warmup == 120);
  CHECK(o.base.hidden_dropout_prob == 0.0);
  CHECK(o.base.attention_probs_dropout_prob == 0.0);
  CHECK(o.base.vocab_size == 1999);
}

TEST_CASE("study baseline budgets: each is the stable N-step run up to its fork step, then decays to zero at its budget") {
  for (const char* scale : {"smoke", "full"}) {
    const auto sc = study::scale_of(scale);
    const auto curve = sc.lr_curve();
    const auto cs = study::study_configs(sc, sc.vocab);
    const auto& full = study::detail::find_config(cs, "baseline").schedule.stages;
    for (double f : {0.5, 0.75}) {
      CAPTURE(f);
      const auto& st = study::detail::find_config(cs, study::budget_name(f)).schedule.stages;
      const std::size_t b = st[0].steps, fork = study::budget_fork_step(sc, b);
      REQUIRE(fork > sc.warmup());
      REQUIRE(fork < b);
      for (std::size_t t = 1; t <= fork; ++t) CHECK(sched::lr_at(curve, st, 0, t, t) == sched::lr_at(curve, full, 0, t, t));
      CHECK(sched::lr_at(curve, st, 0, fork + 1, fork + 1) < sched::lr_at(curve, full, 0, fork + 1, fork + 1));
      CHECK(sched::lr_at(curve, st, 0, b, b) == 0.0);
    }
    CHECK(study::budget_fork_step(sc, sc.steps) == 0);  // the full budget is the stable run itself
  }
}

TEST_CASE("study: FFN sharing and factorisation are compute-matched - Figure 1 models cost about the same") {
  const auto sc = study::scale_of("full");
  const auto cs = study::study_configs(sc, sc.vocab);
  auto low_flops = [&](const std::string& n) {
    for (const auto& c : cs)
      if (c.name == n) return sched::training_flops_per_step(c.schedule.stages[0].shape, c.schedule.run);
    FAIL("no config " << n);
    return 0.0;
  };
  const double share = low_flops("ffn-share"), factor = low_flops("ffn-factor");
  CHECK(std::fabs(share - factor) / share < 0.02);
  const double d = low_flops("fig1-depth"), l = low_flops("fig1-length"), c = low_flops("fig1-compound");
  // Equal up to the embedding/MLM-head and attention terms the paper ignores too.
  CHECK(std::fabs(c - d) / d < 0.35);
  CHECK(std::fabs(c - l) / l < 0.35);
}

TEST_CASE("study statistics and verdict rule match plain loops") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> v(2 + rng() % 5);
    for (auto& x : v) x = std::uniform_real_distribution<double>(0, 5)(rng);
    double m = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    double q = 0;
    for (double x : v) q += (x - m) * (x - m);
    const auto s = study::stats_of(v);
    CHECK(s.mean == doctest::Approx(m));
    CHECK(s.std == doctest::Approx(std::sqrt(q / static_cast<double>(v.size() - 1))));
  }
  CHECK(study::stats_of({}).n == 0);
  CHECK(study::stats_of({3.0}).std == 0);
  const study::stat a{2.0, 0.01, 3}, b{2.5, 0.01, 3}, c{2.02, 0.01, 3};
  CHECK(study::verdict_lower(a, b) == "agrees");
  CHECK(study::verdict_lower(b, a) == "disagrees");
  CHECK(study::verdict_lower(a, c) == "within noise");
  CHECK(study::verdict_lower({2.0, 0.0, 1}, {2.5, 0.0, 1}).rfind("no verdict", 0) == 0);  // one seed: no noise estimate
}

TEST_CASE("study paired comparison: per-seed differences of runs that share their first stage") {
  const auto sc = study::scale_of("smoke");
  const auto cs = study::study_configs(sc, sc.vocab);
  auto cfg = [&](const std::string& n) -> const study::config& {
    for (const auto& c : cs)
      if (c.name == n) return c;
    FAIL("no config " << n);
    return cs.front();
  };
  CHECK(study::shares_first_stage(cfg("depth-stack"), cfg("depth-identity")));
  CHECK(study::shares_first_stage(cfg("depth-stack"), cfg("opt-reset")));
  CHECK(study::shares_first_stage(cfg("split-sym"), cfg("split-asym")));
  CHECK_FALSE(study::shares_first_stage(cfg("depth-stack"), cfg("split-sym")));
  CHECK_FALSE(study::shares_first_stage(cfg("baseline"), cfg("baseline-50")));       // the budgets fork otherwise
  CHECK_FALSE(study::shares_first_stage(cfg("compound"), cfg("compound-paper")));     // same stage 0, another lr over it
  CHECK(study::shares_first_stage(cfg("compound"), cfg("compound")));
  // Seeds with a large common offset and a small consistent difference: unpaired within noise, paired not.
  study::records recs;
  const double offset[3] = {0.0, 0.3, -0.2};
  for (std::uint64_t seed = 0; seed < 3; ++seed)
    for (const auto& [name, loss] : {std::pair<std::string, double>{"depth-stack", 5.0}, {"depth-identity", 4.98}}) {
      study::run_record r;
      r.config = name;
      r.seed = seed;
      train::log_row row;
      row.step = 100;
      row.val_loss = loss + offset[seed] + 0.001 * static_cast<double>(seed);
      r.rows.push_back(row);
      recs[name].push_back(r);
    }
  const auto d = study::detail::paired_difference(recs, "depth-identity", "depth-stack", 100);
  CHECK(d.n == 3);
  CHECK(d.mean == doctest::Approx(0.02));
  CHECK(d.std == doctest::Approx(0.0).epsilon(1e-9));
  const std::string paired = study::detail::observed_paired("identity", "stack", d);
  CHECK(paired.find("identity lower by 0.0200") == 0);
  CHECK(paired.find("beyond 2 std") != std::string::npos);
  const auto sa = study::detail::loss_at(recs, "depth-identity", 100), sb = study::detail::loss_at(recs, "depth-stack", 100);
  CHECK(study::detail::observed("identity", sa, "stack", sb).find("within noise") != std::string::npos);
}

namespace {
/// Synthetic logs: the baseline's loss falls 0.05 per step (FLOPs 1e6 per step, 0.01 s per step) to each
/// budget's end; a grown run costs 0.6 of that per step and ends at `final_of(config index)`.
study::records synthetic_records(const std::vector<study::config>& cs, double (*final_of)(std::size_t)) {
  study::records recs;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    auto& v = recs[c.name];
    std::size_t end = 0;
    for (const auto& st : c.schedule.stages) end += st.steps;
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      study::run_record r;
      r.config = c.name;
      r.seed = seed;
      for (std::size_t s = 5; s <= end; s += 5) {
        train::log_row row;
        row.step = s;
        const double k = c.is_baseline() ? 1.0 : 0.6;
        row.flops = 1e6 * static_cast<double>(s) * k;
        row.wall_seconds = 0.01 * static_cast<double>(s) * k;
        row.val_loss = c.is_baseline() || s < end ? 7.0 - 0.05 * static_cast<double>(s) : final_of(i);
        row.val_loss -= 0.001 * static_cast<double>(seed);
        r.rows.push_back(row);
      }
      v.push_back(std::move(r));
    }
  }
  return recs;
}
}  // namespace

TEST_CASE("study speedups: read off each seed's budget curve, with their kind") {
  const auto sc = study::scale_of("smoke");  // N = 40: budgets 20, 30, 40 steps reach 6.0, 5.5, 5.0
  REQUIRE(sc.steps == 40);
  const auto cs = study::study_configs(sc, sc.vocab);
  const auto recs = synthetic_records(cs, [](std::size_t i) { return i % 3 == 0 ? 5.25 : i % 3 == 1 ? 4.9 : 6.2; });
  const auto curve = study::budget_curve(recs, study::cost_kind::flops, 0);
  REQUIRE(curve.size() == 3);
  CHECK(curve[0].cost == doctest::Approx(20e6));
  CHECK(curve[2].loss == doctest::Approx(5.0));
  for (std::size_t i = 0; i < cs.size(); ++i) {
    if (cs[i].is_baseline()) continue;
    CAPTURE(cs[i].name);
    const auto v = study::run_speedups(recs, cs[i].name);
    REQUIRE(v.size() == 3);  // every seed, on its own curve
    const auto kind = i % 3 == 0 ? train::speedup_kind::interpolated : i % 3 == 1 ? train::speedup_kind::lower_bound : train::speedup_kind::upper_bound;
    for (const auto& s : v) {
      CHECK(s.flops.kind == kind);
      CHECK(s.wall.kind == kind);
    }
    const auto m = study::mean_speedup(recs, cs[i].name, study::cost_kind::flops);
    REQUIRE(m);
    CHECK(m->kind == kind);
    if (i % 3 == 0)  // loss 5.25 - seed/1000 between 5.5 (30 steps) and 5.0 (40): log-cost interpolation, cost 0.6 * 40 steps
      CHECK(v[0].flops.speedup == doctest::Approx(std::sqrt(30.0 * 40.0) / 24.0 - 1));
  }
  CHECK(study::verdict_speedup({train::speedup_kind::interpolated, 0, 0.8}) == "agrees");
  CHECK(study::verdict_speedup({train::speedup_kind::interpolated, 0, -0.1}).rfind("disagrees", 0) == 0);
  CHECK(study::verdict_speedup({train::speedup_kind::upper_bound, 0, -0.2}).rfind("disagrees", 0) == 0);
  CHECK(study::verdict_speedup({train::speedup_kind::upper_bound, 0, 0.9}).rfind("inconclusive", 0) == 0);
  CHECK(study::verdict_speedup({train::speedup_kind::lower_bound, 0, 0.9}).rfind("agrees", 0) == 0);
  CHECK(study::verdict_speedup({train::speedup_kind::lower_bound, 0, -0.3}).rfind("inconclusive", 0) == 0);
  CHECK(study::past_plateau(4.5, 5.6));
  CHECK_FALSE(study::past_plateau(4.7, 5.6));
}

TEST_CASE("study wall-clock budget curve: steps x the full budget's measured pace, increasing even when forks time noisily") {
  const auto sc = study::scale_of("smoke");
  const auto cs = study::study_configs(sc, sc.vocab);
  auto recs = synthetic_records(cs, [](std::size_t) { return 5.25; });
  // A loaded machine: the smallest budget's own timing comes out slower than the full budget's.
  for (auto& r : recs[study::budget_name(study::budget_fractions().front())]) r.rows.back().wall_seconds = 10.0;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const auto w = study::budget_curve(recs, study::cost_kind::wall, seed);
    REQUIRE(w.size() == 3);
    const double pace = 0.01;  // the full budget's 0.4 s over its 40 steps
    CHECK(w[0].cost == doctest::Approx(20 * pace));
    CHECK(w[1].cost == doctest::Approx(30 * pace));
    CHECK(w[2].cost == doctest::Approx(40 * pace));
  }
  for (const auto& c : cs)
    if (!c.is_baseline()) CHECK(study::mean_speedup(recs, c.name, study::cost_kind::wall));
}

TEST_CASE("study report from synthetic logs: every section, every linked figure written, a speedup with a kind per grown run") {
  const auto sc = study::scale_of("smoke");
  const auto cs = study::study_configs(sc, sc.vocab);
  const auto recs = synthetic_records(cs, [](std::size_t i) { return i % 3 == 0 ? 5.25 : i % 3 == 1 ? 4.9 : 6.2; });
  const auto dir = std::filesystem::temp_directory_path() / "growth_study_report_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "results");
  study::report_context ctx;
  ctx.command = "growth study --scale smoke";
  ctx.unigram_entropy = 6.5;  // baseline 5.0: past the plateau
  const std::size_t figs = study::write_report(dir, sc, cs, recs, ctx);
  CHECK(figs >= 1);
  const std::string md = io::read_file(dir / "RESULTS.md");
  for (const char* s : {"The baseline: a budget curve", "Operator comparisons", "Compound vs single dimension", "CompoundGrow vs baseline",
                        "Speedups of every grown run", "pooling > truncation", "sharing > factorisation", "compound > depth only",
                        "about half the FLOPs", "**Past the plateau**", "one global curve"})
    CHECK(md.find(s) != std::string::npos);
  CHECK(md.find("control") == std::string::npos);  // no lr-restart control under one global curve
  // Section 5: one row per grown run, each with the kind of its speedups.
  const auto s5 = md.find("## 5. Speedups");
  REQUIRE(s5 != std::string::npos);
  std::size_t rows = 0;
  for (const auto& c : cs) {
    if (c.is_baseline()) continue;
    const auto at = md.find("| " + c.label + " |", s5);
    REQUIRE_MESSAGE(at != std::string::npos, c.label);
    const std::string line = md.substr(at, md.find('\n', at) - at);
    CAPTURE(line);
    CHECK((line.find("interpolated") != std::string::npos || line.find("bound") != std::string::npos));
    ++rows;
  }
  CHECK(rows == 15);
  std::size_t pos = 0;
  while ((pos = md.find("](results/", pos)) != std::string::npos) {
    const auto e = md.find(')', pos);
    const std::string f = md.substr(pos + 2, e - pos - 2);
    CHECK(std::filesystem::exists(dir / f));
    pos = e;
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("study unigram entropy") {
  CHECK(study::unigram_entropy(std::vector<int>{0, 0, 1, 1}) == doctest::Approx(std::log(2.0)));
  CHECK(study::unigram_entropy(std::vector<int>{5, 5, 5}) == doctest::Approx(0.0));
  CHECK(study::unigram_entropy(std::vector<int>{1, 2, 3, 4}) == doctest::Approx(std::log(4.0)));
}
