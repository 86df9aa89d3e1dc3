// Tests of the progressive trainer: a two-stage run that grows and keeps training, bit-exact resume, run
// to run determinism, and FLOPs equal to both cost models. Tiny model and a corpus prefix, so it is fast.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <growth/data/vocab_trainer.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/reference/flops.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>

#include "threads.hpp"  // tools/threads.hpp: the thread count
#include "train_fixture.hpp"

namespace fs = std::filesystem;
using namespace growth;

namespace {

/// Vocabulary and data over the first 120 kB of the KJV, built once for all tests.
growth_test::corpus_fixture& shared_data() { return growth_test::corpus_data(120000, 300); }

/// Stage 0: 1 layer, FFN shared (k = 2), mean embedding pooling 2; stage 1: stacked to
/// 2 layers, FFN un-shared, full length.
sched::runtime_schedule two_stage(std::size_t vocab) {
  sched::runtime_schedule s;
  s.run = sched::run_settings{.vocab_size = vocab, .batch_size = 4, .masked_per_mille = 150};
  model::shape full{.layers = 2, .hidden = 32, .heads = 2, .ffn = 64, .seq_len = 32};
  model::shape low = full;
  low.layers = 1;
  low.ffn_share_factor = 2;
  low.ffn_shared_every = 1;
  low.pool_size = 2;
  s.stages.push_back(sched::stage{.steps = 5, .shape = low});
  s.stages.push_back(sched::stage{.steps = 5, .shape = full,
                                  .enter = {.depth = growth::depth_mode::stack, .ffn = growth::ffn_mode::unshare}});
  s.validate();
  return s;
}

train::trainer_options options(const fs::path& out, std::uint64_t seed = 7) {
  train::trainer_options o;
  o.seed = seed;
  o.lr = 2e-3;
  o.warmup = 2;
  o.eval_every = 3;
  o.out_dir = out;
  return o;
}

/// Trains t up to global step `step` (>= 2) and stops it there as an interrupt does: `final` written,
/// run_result::interrupted set. run() polls the observer's stop request after every step, so t pauses one
/// step early (pause_at) and trains the last step with an observer that already asks to stop.
train::run_result interrupt_at(train::progressive_trainer& t, std::size_t step) {
  REQUIRE(step >= 2);
  t.pause_at(step - 1);
  (void)t.run(nullptr);
  t.pause_at(0);
  struct stop_now : train::trainer_observer {
    bool stop_requested() override { return true; }
  } stop;
  return t.run(&stop);
}

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::path(GROWTH_BINARY_DIR) / "tests" / "train" / "tmp" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

/// The rows without wall-clock time (the only field allowed to differ between runs).
std::vector<train::log_row> curve(std::vector<train::log_row> rows) {
  for (auto& r : rows) r.wall_seconds = 0;
  return rows;
}

}  // namespace

TEST_CASE("two-stage progressive run grows and keeps training") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  const auto out = temp_dir("two_stage");
  train::progressive_trainer t(two_stage(d.vocab.size()), *d.data, options(out), d.vocab);
  CHECK(t.model().config().num_hidden_layers == 1);
  CHECK(t.model().config().layer_intermediate_size(0) == 32);
  const auto r = t.run(nullptr);
  CHECK(r.complete);
  CHECK_FALSE(r.interrupted);
  CHECK(r.steps == 10);
  CHECK(t.stage() == 1);
  CHECK(t.model().config().num_hidden_layers == 2);
  CHECK(t.model().config().layer_intermediate_size(1) == 64);
  CHECK(t.model().config().max_position_embeddings == 32);
  // Rows: every 3 steps plus the two stage ends (5 and 10).
  std::vector<std::size_t> steps;
  for (const auto& row : r.rows) {
    steps.push_back(row.step);
    CHECK(std::isfinite(row.train_loss));
    CHECK(std::isfinite(row.val_loss));
    CHECK(row.val_loss > 0);
  }
  CHECK(steps == std::vector<std::size_t>{3, 5, 6, 9, 10});
  CHECK(r.rows[0].shape == "L1-H32-A2-I64-S32-share2-pool2");
  CHECK(r.rows.back().shape == "L2-H32-A2-I64-S32");
  CHECK(r.rows.back().val_loss < r.rows.front().val_loss);  // it learns something
  // The stage checkpoint is a loadable HF folder of the stage-0 model with its optimizer state.
  const auto ck = io::load_checkpoint(out / "stage-0");
  CHECK(ck.config.num_hidden_layers == 1);
  CHECK(ck.config.ffn_share_factor == 2);
  CHECK(ck.config.max_position_embeddings == 32);
  REQUIRE(ck.opt);
  CHECK(ck.opt->step == 5);
  CHECK(growth::io::as_size(ck.trainer_state.at("step")) == 5);
  const auto fin = io::load_checkpoint(out / "final");
  CHECK(fin.config.num_hidden_layers == 2);
  CHECK(growth::io::as_bool(fin.trainer_state.at("complete")));
  // A model loaded from the stage checkpoint evaluates like any other.
  reference::bert<float> m(ck.config);
  std::copy(ck.params.begin(), ck.params.end(), m.flat_params().begin());
  const auto ev = m.evaluate(d.data->validation_batches().front());
  CHECK(std::isfinite(ev.loss));
}

TEST_CASE("same seed twice gives the same curve - another seed another") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  train::progressive_trainer a(two_stage(d.vocab.size()), *d.data, options({}), d.vocab);
  train::progressive_trainer b(two_stage(d.vocab.size()), *d.data, options({}), d.vocab);
  train::progressive_trainer c(two_stage(d.vocab.size()), *d.data, options({}, 8), d.vocab);
  const auto ra = a.run(nullptr), rb = b.run(nullptr), rc = c.run(nullptr);
  CHECK(curve(ra.rows) == curve(rb.rows));
  CHECK_FALSE(curve(ra.rows) == curve(rc.rows));
}

TEST_CASE("resume after a stop gives the same curve bit for bit") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  const auto full_dir = temp_dir("resume_full"), cut_dir = temp_dir("resume_cut");
  train::progressive_trainer full(two_stage(d.vocab.size()), *d.data, options(full_dir), d.vocab);
  const auto rf = full.run(nullptr);
  for (std::size_t stop : {2, 5, 7}) {
    CAPTURE(stop);
    train::progressive_trainer cut(two_stage(d.vocab.size()), *d.data, options(cut_dir), d.vocab);
    const auto rc = interrupt_at(cut, stop);
    CHECK(rc.interrupted);
    CHECK(rc.steps == stop);
    // A fresh process: the schedule and options come from the checkpoint.
    const auto info = train::read_resume_info(cut_dir / "final");
    CHECK_FALSE(info.complete);
    auto o2 = info.options;
    o2.out_dir = temp_dir("resume_more");
    train::progressive_trainer more(info.schedule, *d.data, o2, d.vocab);
    more.resume(cut_dir / "final");
    CHECK(more.step() == stop);
    const auto rm = more.run(nullptr);
    CHECK(rm.complete);
    CHECK(curve(rm.rows) == curve(rf.rows));
  }
  // Resuming from the stage boundary checkpoint grows and continues identically.
  train::progressive_trainer from_stage(two_stage(d.vocab.size()), *d.data, options(temp_dir("resume_stage")), d.vocab);
  from_stage.resume(full_dir / "stage-0");
  CHECK(from_stage.stage() == 0);
  CHECK(curve(from_stage.run(nullptr).rows) == curve(rf.rows));
}

TEST_CASE("continue_from forks a shared first stage into other growth operators bit for bit") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  // Three schedules with the same first stage and different growth: stack + unshare, identity insertion + unshare,
  // and stack + unshare with the Adam moments mapped; each continued run equals the run trained from step 0.
  auto variant = [&](growth::depth_mode depth, growth::optimizer_policy opt) {
    auto s = two_stage(d.vocab.size());
    s.stages[1].enter.depth = depth;
    s.stages[1].enter.optimizer = opt;
    s.validate();
    return s;
  };
  const std::vector<sched::runtime_schedule> variants{variant(growth::depth_mode::stack, growth::optimizer_policy::reset),
                                                      variant(growth::depth_mode::identity, growth::optimizer_policy::reset),
                                                      variant(growth::depth_mode::stack, growth::optimizer_policy::map)};
  train::progressive_trainer stem(variants[0], *d.data, options({}), d.vocab);
  CHECK(interrupt_at(stem, 5).interrupted);  // the end of stage 0
  std::vector<std::vector<train::log_row>> curves;
  for (const auto& v : variants) {
    train::progressive_trainer alone(v, *d.data, options({}), d.vocab);
    const auto ra = alone.run(nullptr);
    train::progressive_trainer forked(v, *d.data, options({}), d.vocab);
    forked.continue_from(stem);
    CHECK(forked.step() == 5);
    const auto rf = forked.run(nullptr);
    CHECK(rf.complete);
    CHECK(curve(rf.rows) == curve(ra.rows));
    curves.push_back(curve(ra.rows));
  }
  CHECK_FALSE(curves[0] == curves[1]);  // the operators differ after growth
  CHECK_FALSE(curves[0] == curves[2]);
  // Refused: another first stage, another seed, a stem that did not stop at a stage end, a trained trainer.
  {
    auto other = two_stage(d.vocab.size());
    other.stages[0].steps = 4;
    other.validate();
    train::progressive_trainer t(other, *d.data, options({}), d.vocab);
    CHECK_THROWS_AS(t.continue_from(stem), growth::error);
  }
  {
    train::progressive_trainer t(variants[1], *d.data, options({}, 8), d.vocab);
    CHECK_THROWS_AS(t.continue_from(stem), growth::error);
  }
  {
    // Mid-stage: the runs agree up to step 3 (same stage, same learning rates), so the fork is allowed and
    // bit-identical; a stage 0 of another length decays its learning rate differently and is refused.
    train::progressive_trainer early(variants[0], *d.data, options({}), d.vocab);
    (void)interrupt_at(early, 3);
    train::progressive_trainer t(variants[1], *d.data, options({}), d.vocab);
    t.continue_from(early);
    train::progressive_trainer alone(variants[1], *d.data, options({}), d.vocab);
    CHECK(curve(t.run(nullptr).rows) == curve(alone.run(nullptr).rows));
    auto longer = variants[1];
    longer.stages[0].steps = 6;
    longer.validate();
    train::progressive_trainer u(longer, *d.data, options({}), d.vocab);
    try {
      u.continue_from(early);
      FAIL("a fork with another learning-rate history was accepted");
    } catch (const growth::error& e) {
      CHECK(std::string(e.what()).find("learning rate at step") != std::string::npos);
    }
    CHECK_THROWS_AS(early.continue_from(stem), growth::error);  // a trained trainer
  }
}

TEST_CASE("wsd: one stable run forks into a decay at each budget, each fork bit-identical to a straight run") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  // The baseline at budgets 8, 12 and 16 steps: wsd with the last quarter decaying, so the stable phase of
  // budget B ends at 0.75 B = 6, 9, 12; one 16-step run pauses there and each budget forks from it.
  auto one_stage = [&](std::size_t steps) {
    sched::runtime_schedule s;
    s.run = sched::run_settings{.vocab_size = d.vocab.size(), .batch_size = 4};
    s.stages.push_back(sched::stage{.steps = steps, .shape = {.layers = 2, .hidden = 32, .heads = 2, .ffn = 64, .seq_len = 32}});
    s.validate();
    return s;
  };
  auto wsd = options({});
  wsd.lr_schedule = sched::lr_family::wsd;
  wsd.decay_fraction = 0.25;
  wsd.min_lr_ratio = 0;
  wsd.eval_every = 2;
  train::progressive_trainer stable(one_stage(16), *d.data, wsd, d.vocab);
  for (std::size_t budget : {8, 12}) {
    stable.pause_at(budget * 3 / 4);
    const auto rs = stable.run(nullptr);
    CHECK_FALSE(rs.interrupted);
    CHECK_FALSE(rs.complete);
    CHECK(stable.step() == budget * 3 / 4);
    train::progressive_trainer fork(one_stage(budget), *d.data, wsd, d.vocab);
    fork.continue_from(stable);
    const auto rf = fork.run(nullptr);
    train::progressive_trainer straight(one_stage(budget), *d.data, wsd, d.vocab);
    const auto rt = straight.run(nullptr);
    CHECK(rf.complete);
    CHECK(rf.steps == budget);
    CHECK(curve(rf.rows) == curve(rt.rows));
    CHECK(fork.lr_at(0, budget, budget) == 0.0);  // fully decayed at its own budget
    // The fork's final weights too, bit for bit.
    const auto a = fork.model().flat_params(), b = straight.model().flat_params();
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  }
  stable.pause_at(0);
  const auto rl = stable.run(nullptr);
  train::progressive_trainer straight(one_stage(16), *d.data, wsd, d.vocab);
  CHECK(curve(rl.rows) == curve(straight.run(nullptr).rows));  // pausing changes nothing
  // Under a linear decay the budgets' histories differ from the first step after warmup: refused.
  auto lin = wsd;
  lin.lr_schedule = sched::lr_family::linear;
  train::progressive_trainer long_lin(one_stage(16), *d.data, lin, d.vocab);
  long_lin.pause_at(6);
  (void)long_lin.run(nullptr);
  train::progressive_trainer short_lin(one_stage(8), *d.data, lin, d.vocab);
  CHECK_THROWS_AS(short_lin.continue_from(long_lin), growth::error);
}

TEST_CASE("enter.when = auto grows when the small stage's loss flattens against the target curve") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  auto s = two_stage(d.vocab.size());
  s.stages[0].steps = 12;
  s.stages[1].steps = 4;
  s.stages[1].enter.when = sched::grow_trigger::automatic;
  s.validate();
  auto o = options({});
  o.eval_every = 2;
  o.trigger = {.window = 2, .min_points = 2, .ratio = 1.0};
  SUBCASE("a steep target curve: grows at the first chance, the total unchanged") {
    o.target_curve = {{0, 100.0}, {1, 0.0}};  // slope -100 per FLOP: any real small stage is flatter
    train::progressive_trainer t(s, *d.data, o, d.vocab);
    const auto r = t.run(nullptr);
    REQUIRE(r.growths.size() == 1);
    CHECK(r.growths[0].step == 4);  // two rows (steps 2 and 4) are the first chance
    CHECK(r.growths[0].stage == 0);
    CHECK(r.steps == 16);
    CHECK(t.schedule().stages[0].steps == 4);
    CHECK(t.schedule().stages[1].steps == 12);
    CHECK(r.rows.back().shape == "L2-H32-A2-I64-S32");
  }
  SUBCASE("a target curve far below: the rule cannot compare and the stage runs its full length") {
    o.target_curve = {{0, 0.2}, {1e15, 0.1}};
    train::progressive_trainer t(s, *d.data, o, d.vocab);
    const auto r = t.run(nullptr);
    CHECK(r.growths.empty());
    CHECK(t.schedule().stages[0].steps == 12);
  }
  SUBCASE("no target curve: refused before training") {
    CHECK_THROWS_AS(train::progressive_trainer(s, *d.data, o, d.vocab), growth::error);
  }
}

TEST_CASE("trainer FLOPs equal the schedule cost model and the reference model's count") {
  auto& d = shared_data();
  const auto s = two_stage(d.vocab.size());
  train::progressive_trainer t(s, *d.data, options({}), d.vocab);
  double expected = 0;
  for (std::size_t i = 0; i < s.stages.size(); ++i) {
    const auto shape = s.stages[i].shape;
    const double cost = sched::training_flops_per_step(shape, s.run);
    const double tokens = static_cast<double>(s.run.batch_size * shape.seq_len);
    const double ref = reference::training_flops_per_token(t.config_of(i), shape.seq_len, 0.15) * tokens;
    CHECK(t.flops_per_step(i) == cost);
    CHECK(std::fabs(cost - ref) <= 1e-12 * ref);
    expected += static_cast<double>(s.stages[i].steps) * cost;
  }
  // A standard stage's trained shape is the schedule's own, so there the counts equal cost_of exactly.
  const auto r = t.run(nullptr);
  CHECK(std::fabs(r.flops - expected) <= 1e-12 * expected);
  CHECK(r.rows.back().flops == r.flops);
}

TEST_CASE("target extension keeps training the last stage up to the cap") {
  growth_tool::set_threads(1);
  auto& d = shared_data();
  auto o = options({});
  o.target_loss = 0.0;  // unreachable: runs to the cap
  o.max_total_steps = 14;
  train::progressive_trainer t(two_stage(d.vocab.size()), *d.data, o, d.vocab);
  const auto r = t.run(nullptr);
  CHECK(r.complete);
  CHECK(r.steps == 14);
  CHECK(r.rows.back().step == 14);
  auto o2 = options({});
  o2.target_loss = 1e9;  // already reached at the schedule's end: no extension
  o2.max_total_steps = 14;
  train::progressive_trainer t2(two_stage(d.vocab.size()), *d.data, o2, d.vocab);
  CHECK(t2.run(nullptr).steps == 10);
}

TEST_CASE("bad input is refused with a named error") {
  auto& d = shared_data();
  auto s = two_stage(d.vocab.size());
  s.stages.back().shape.seq_len = 64;  // data is packed for 32
  s.stages.back().shape.max_positions = 0;
  CHECK_THROWS_AS(train::progressive_trainer(s, *d.data, options({}), d.vocab), growth::error);
  auto o = options({});
  o.lr = 0;
  CHECK_THROWS_AS(train::progressive_trainer(two_stage(d.vocab.size()), *d.data, o, d.vocab), growth::error);
}
