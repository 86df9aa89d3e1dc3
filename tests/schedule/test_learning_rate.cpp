// The learning-rate curves (schedule/learning_rate.hpp), the policies at growth, their schedule-file fields,
// and the speedup read off a baseline budget curve and Staged Training's growth trigger (train/), which are
// pure functions of curves and so tested here on synthetic ones.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <growth/io/schedule_json.hpp>
#include <growth/schedule/learning_rate.hpp>
#include <growth/train/growth_trigger.hpp>
#include <growth/train/speedup.hpp>

using namespace growth;
using namespace growth::sched;

namespace {

std::vector<stage> stages_of(std::initializer_list<std::pair<std::size_t, lr_action>> s, std::size_t rewarm = 0) {
  std::vector<stage> v;
  for (const auto& [steps, a] : s) {
    stage st{.steps = steps, .shape = {.layers = 2, .hidden = 32, .heads = 2, .ffn = 64, .seq_len = 16}};
    st.enter.lr = a;
    if (a == lr_action::rewarm && !v.empty()) st.enter.rewarm_steps = rewarm;
    v.push_back(st);
  }
  return v;
}

}  // namespace

TEST_CASE("learning-rate curves: warmup, linear, cosine and wsd values") {
  for (lr_family f : {lr_family::linear, lr_family::cosine, lr_family::wsd}) {
    CAPTURE(to_string(f));
    const lr_curve c{.family = f, .peak = 1.0, .warmup = 10, .min_ratio = 0.0, .decay_fraction = 0.25};
    CHECK(c.at(1, 100) == doctest::Approx(0.1));
    CHECK(c.at(10, 100) == doctest::Approx(1.0));
    CHECK(c.at(100, 100) == 0.0);  // fully decayed at its own budget
    CHECK(c.at(150, 100) == 0.0);  // and the floor after it
    for (std::size_t t = 11; t <= 100; ++t) CHECK(c.at(t, 100) <= c.at(t - 1, 100) + 1e-15);  // never rises after warmup
  }
  const lr_curve lin{.family = lr_family::linear, .peak = 2.0, .warmup = 0, .min_ratio = 0.1};
  CHECK(lin.at(50, 100) == doctest::Approx(0.2 + 1.8 * 0.5));
  const lr_curve cosc{.family = lr_family::cosine, .peak = 1.0, .warmup = 0, .min_ratio = 0.0};
  CHECK(cosc.at(50, 100) == doctest::Approx(0.5));
  CHECK(cosc.at(25, 100) == doctest::Approx(0.5 * (1 + std::cos(M_PI * 0.25))));
  const lr_curve w{.family = lr_family::wsd, .peak = 1.0, .warmup = 5, .min_ratio = 0.0, .decay_fraction = 0.2};
  CHECK(w.decay_steps(100) == 20);
  CHECK(w.at(80, 100) == 1.0);  // stable up to T - D
  CHECK(w.at(81, 100) == doctest::Approx(19.0 / 20.0));
  CHECK(w.at(90, 100) == doctest::Approx(0.5));
  // The stable phase does not depend on the budget: a fork point of every budget B is (1 - f) B.
  for (std::size_t t = 6; t <= 80; ++t) CHECK(w.at(t, 100) == w.at(t, 1000));
  CHECK_THROWS_AS(lr_curve{.peak = 0}.validate(), growth::error);
  CHECK_THROWS_AS(lr_curve{.peak = INFINITY}.validate(), growth::error);
  CHECK_THROWS_AS(lr_curve{.min_ratio = 2}.validate(), growth::error);
  CHECK_THROWS_AS((lr_curve{.family = lr_family::wsd, .decay_fraction = 0}.validate()), growth::error);
}

TEST_CASE("learning rate across growth: continue, rewarm and restart") {
  const lr_curve c{.family = lr_family::linear, .peak = 1.0, .warmup = 4, .min_ratio = 0.0};
  // Three stages of 10 steps; the lr of global step t in stage s at stage step k.
  auto lr = [&](const std::vector<stage>& st, std::size_t t) {
    std::size_t s = 0, k = t;
    while (k > st[s].steps) k -= st[s++].steps;
    return sched::lr_at(c, st, s, k, t);
  };
  SUBCASE("continue: one global curve over all 30 steps, continuous at growth") {
    const auto st = stages_of({{10, lr_action::restart_warmup}, {10, lr_action::continue_schedule}, {10, lr_action::continue_schedule}});
    for (std::size_t t = 1; t <= 30; ++t) CHECK(lr(st, t) == c.at(t, 30));
    CHECK(std::abs(lr(st, 11) - lr(st, 10)) <= 1.0 / 26 + 1e-12);  // one step of the decay
  }
  SUBCASE("rewarm K: the global curve ramped up over K steps after growth") {
    const auto st = stages_of({{10, lr_action::restart_warmup}, {10, lr_action::rewarm}, {10, lr_action::continue_schedule}}, 4);
    CHECK(lr(st, 10) == c.at(10, 30));
    CHECK(lr(st, 11) == doctest::Approx(c.at(11, 30) * 0.25));
    CHECK(lr(st, 13) == doctest::Approx(c.at(13, 30) * 0.75));
    CHECK(lr(st, 14) == c.at(14, 30));
    CHECK(lr(st, 21) == c.at(21, 30));
  }
  SUBCASE("restart: a fresh curve with its own warmup over the stages up to the next restart") {
    const auto st = stages_of({{10, lr_action::restart_warmup}, {10, lr_action::restart_warmup}, {10, lr_action::continue_schedule}});
    for (std::size_t t = 1; t <= 10; ++t) CHECK(lr(st, t) == c.at(t, 10));
    for (std::size_t t = 11; t <= 30; ++t) CHECK(lr(st, t) == c.at(t - 10, 20));
    CHECK(lr(st, 11) == doctest::Approx(0.25));  // re-warmed
    const auto seg = segment_of(st, 2);
    CHECK(seg.first_stage == 1);
    CHECK(seg.start_step == 10);
    CHECK(seg.steps == 20);
  }
}

TEST_CASE("schedule files: lr policies, rewarm_steps and when") {
  runtime_schedule s;
  s.run = run_settings{.vocab_size = 100, .batch_size = 4};
  s.stages = stages_of({{10, lr_action::restart_warmup}, {20, lr_action::rewarm}}, 5);
  s.stages[1].enter.when = grow_trigger::automatic;
  s.validate();
  const runtime_schedule back = growth::io::json(s).get<runtime_schedule>();
  CHECK(back == s);
  CHECK(growth::io::json(s).dump().find("\"rewarm_steps\":5") != std::string::npos);
  CHECK(growth::io::json(s).dump().find("\"when\":\"auto\"") != std::string::npos);
  // Short spellings read as the long ones.
  std::string text = growth::io::json(s).dump();
  const auto at = text.find("\"rewarm\"");
  REQUIRE(at != std::string::npos);
  text.replace(at, 8, "\"continue\"");
  text.replace(text.find("\"rewarm_steps\":5"), 16, "\"rewarm_steps\":0");
  CHECK(parse_schedule(text).stages[1].enter.lr == lr_action::continue_schedule);
  // Invalid: rewarm without steps, rewarm_steps without rewarm, longer than the stage, auto in stage 0.
  auto fails = [](runtime_schedule x, const std::string& field) {
    try {
      x.validate();
    } catch (const growth::error& e) {
      CHECK(std::string(e.what()).find(field) != std::string::npos);
      return true;
    }
    return false;
  };
  auto a = s;
  a.stages[1].enter.rewarm_steps = 0;
  CHECK(fails(a, "enter.rewarm_steps"));
  a = s;
  a.stages[1].enter.lr = lr_action::continue_schedule;
  CHECK(fails(a, "enter.rewarm_steps"));
  a = s;
  a.stages[1].enter.rewarm_steps = 21;
  CHECK(fails(a, "enter.rewarm_steps"));
  a = s;
  a.stages[0].enter.when = grow_trigger::automatic;
  CHECK(fails(a, "stage 0 field enter.when"));
}

TEST_CASE("speedup on a baseline budget curve: interpolation in log cost, and the bounds outside it") {
  using train::budget_point;
  using train::speedup_kind;
  const std::vector<budget_point> curve{{50, 5.0}, {75, 4.6}, {100, 4.4}};
  // On a budget point: c* is that budget.
  auto r = train::speedup_on_curve(curve, 50, 4.6);
  CHECK(r.kind == speedup_kind::interpolated);
  CHECK(r.baseline_cost == doctest::Approx(75));
  CHECK(r.speedup == doctest::Approx(0.5));
  // Half-way in loss between 75 and 100: the geometric mean of the costs.
  r = train::speedup_on_curve(curve, 100, 4.5);
  CHECK(r.kind == speedup_kind::interpolated);
  CHECK(r.baseline_cost == doctest::Approx(std::sqrt(75.0 * 100.0)));
  CHECK(r.speedup == doctest::Approx(std::sqrt(75.0 * 100.0) / 100 - 1));
  CHECK(r.speedup < 0);  // a grown run that needs more than the baseline: negative
  // Worse than every budget: the baseline needs less than the smallest budget, an upper bound.
  r = train::speedup_on_curve(curve, 60, 5.2);
  CHECK(r.kind == speedup_kind::upper_bound);
  CHECK(r.baseline_cost == 50);
  CHECK(r.speedup == doctest::Approx(50.0 / 60 - 1));
  // Better than every budget: a lower bound against the largest.
  r = train::speedup_on_curve(curve, 80, 4.3);
  CHECK(r.kind == speedup_kind::lower_bound);
  CHECK(r.speedup == doctest::Approx(100.0 / 80 - 1));
  CHECK_THROWS_AS(train::speedup_on_curve({}, 1, 1), growth::error);
  const std::vector<budget_point> unsorted{{100, 4.4}, {50, 5.0}};
  CHECK_THROWS_AS(train::speedup_on_curve(unsorted, 1, 4.5), growth::error);
}

TEST_CASE("growth trigger on synthetic curves: fires where the small curve flattens below the target's slope") {
  using train::curve_point;
  // Target: L(C) = 6 - 2 (1 - exp(-C)), slope -2 exp(-C). Small: L(C) = 6 - 1.2 (1 - exp(-3C)), steep first and
  // flat at 4.8. The break-even point is where 3.6 exp(-3C) = 2 exp(-C*) with 6 - 2(1 - exp(-C*)) = L_small(C).
  std::vector<curve_point> target, small;
  for (int i = 0; i <= 100; ++i) {
    const double c = 0.05 * i;
    target.push_back({c, 6 - 2 * (1 - std::exp(-c))});
  }
  train::trigger_options o{.window = 3, .min_points = 3, .ratio = 1.0};
  std::size_t fired_at = 0;
  for (int i = 0; i <= 100 && !fired_at; ++i) {
    const double c = 0.02 * i;
    small.push_back({c, 6 - 1.2 * (1 - std::exp(-3 * c))});
    const auto d = train::should_grow(small, target, o);
    if (i < 2) CHECK_FALSE(d.fire);  // too few points
    if (d.fire) fired_at = static_cast<std::size_t>(i);
  }
  REQUIRE(fired_at > 0);
  // Analytic break-even: small slope s(C) = -3.6 exp(-3C); target slope at the same loss L is -(L - 4).
  // s = -(L - 4) <=> 3.6 e^{-3C} = 2 - 1.2 (1 - e^{-3C}) = 0.8 + 1.2 e^{-3C} <=> e^{-3C} = 1/3, C = ln 3 / 3 = 0.366.
  const double c_fire = 0.02 * static_cast<double>(fired_at);
  CHECK(c_fire > 0.30);
  CHECK(c_fire < 0.46);
  // A small model that keeps falling faster than the target never fires; one that rises fires at once.
  std::vector<curve_point> fast{{0, 6}, {0.1, 5.5}, {0.2, 5.0}, {0.3, 4.5}};
  CHECK_FALSE(train::should_grow(fast, target, o).fire);
  std::vector<curve_point> up{{0, 5}, {0.1, 5.01}, {0.2, 5.02}};
  CHECK(train::should_grow(up, target, o).fire);
  // Below the whole target curve: no comparison, no growth.
  std::vector<curve_point> low{{0, 3.0}, {0.1, 2.99}, {0.2, 2.985}};
  const auto d = train::should_grow(low, target, o);
  CHECK_FALSE(d.fire);
  CHECK(d.why.find("below the whole target curve") != std::string::npos);
}
