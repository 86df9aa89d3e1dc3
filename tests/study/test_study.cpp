// Unit tests of include/growth/study/study.hpp: the configuration list (valid schedules that end at the full
// model, compute matching where the comparison needs it), the statistics and the verdict rule, and the report
// writer on synthetic logs (no training here; tests/study/smoke_test.sh runs the real thing).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include <growth/io/atomic_file.hpp>
#include <growth/study/study.hpp>

using namespace growth;

TEST_CASE("study configurations: valid, unique, ending at the full model, 70/30 split") {
  for (const char* scale : {"smoke", "small", "full"}) {
    const auto sc = study::scale_of(scale);
    const auto cs = study::study_configs(sc, sc.vocab);
    std::set<std::string> names;
    for (const auto& c : cs) {
      CAPTURE(c.name);
      CHECK(names.insert(c.name).second);
      CHECK_NOTHROW(c.schedule.validate());
      CHECK(c.schedule.stages.back().shape == study::full_shape(sc));
      std::size_t total = 0;
      for (const auto& s : c.schedule.stages) total += s.steps;
      CHECK(total == sc.steps);
      if (c.schedule.stages.size() == 2) CHECK(c.schedule.stages[0].steps == (sc.steps * 7 + 5) / 10);
    }
    for (const char* n : {"baseline", "baseline-rewarm", "len-pool", "len-trunc", "ffn-share", "ffn-factor", "depth-stack", "depth-interp", "depth-identity",
                          "opt-map", "split-sym", "split-asym", "fig1-depth", "fig1-length", "fig1-compound", "compound"})
      CHECK(names.count(n) == 1);
  }
  CHECK_THROWS_AS(study::scale_of("huge"), growth::error);
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
  CHECK(study::shares_first_stage(cfg("depth-stack"), cfg("opt-map")));
  CHECK(study::shares_first_stage(cfg("split-sym"), cfg("split-asym")));
  CHECK_FALSE(study::shares_first_stage(cfg("depth-stack"), cfg("split-sym")));
  CHECK_FALSE(study::shares_first_stage(cfg("baseline"), cfg("baseline-rewarm")));  // one stage vs two
  CHECK_FALSE(study::shares_first_stage(cfg("compound"), cfg("compound")));           // extended: never forked
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

TEST_CASE("study report from synthetic logs: every section, every linked figure written") {
  const auto sc = study::scale_of("smoke");
  const auto cs = study::study_configs(sc, sc.vocab);
  study::records recs;
  for (const auto& c : cs) {
    auto& v = recs[c.name];
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      study::run_record r;
      r.config = c.name;
      r.seed = seed;
      const std::size_t end = c.extend_to_baseline ? sc.steps + 5 : sc.steps;
      for (std::size_t s = 5; s <= end; s += 5) {
        train::log_row row;
        row.step = s;
        row.flops = 1e6 * static_cast<double>(s) * (c.name == "baseline" ? 1.0 : 0.6);
        row.wall_seconds = 0.01 * static_cast<double>(s);
        row.val_loss = 7.0 - 0.05 * static_cast<double>(s) - 0.001 * static_cast<double>(seed);
        r.rows.push_back(row);
      }
      v.push_back(std::move(r));
    }
  }
  const auto dir = std::filesystem::temp_directory_path() / "growth_study_report_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "results");
  study::report_context ctx;
  ctx.command = "growth study --scale smoke";
  const std::size_t figs = study::write_report(dir, sc, cs, recs, ctx);
  CHECK(figs >= 1);
  const std::string md = io::read_file(dir / "RESULTS.md");
  for (const char* s : {"Operator comparisons", "Compound vs single dimension", "CompoundGrow vs baseline", "pooling > truncation",
                        "sharing > factorisation", "compound > depth only", "about half the FLOPs"})
    CHECK(md.find(s) != std::string::npos);
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
