// Unit tests of tools/demo_curve.hpp: the wall-clock budget curve of `growth demo`'s baseline.
#include <doctest/doctest.h>

#include <vector>

#include <growth/core/error.hpp>
#include <growth/train/speedup.hpp>

#include "demo_curve.hpp"

namespace {

using growth_tool::demo::budget_run;

// A seed of the tiny demo (B = 40 steps, wsd with a 20% decay): budgets 20 / 30 / 40 fork from the stable
// run at steps 16 and 24. The 1/2 budget's own decay was slowed down by other jobs, so its measured wall
// (prefix 0.016 s + own 0.05 s) is above the 3/4 budget's (0.024 s + 0.006 s) and the full run's (0.040 s).
const std::vector<budget_run> noisy{{.steps = 20, .own_steps = 4, .own_wall = 0.05, .loss = 5.32},
                                    {.steps = 30, .own_steps = 6, .own_wall = 0.006, .loss = 5.17},
                                    {.steps = 40, .own_steps = 40, .own_wall = 0.040, .loss = 5.09}};

}  // namespace

TEST_CASE("demo wall curve: a noisy per-run wall gives a curve that speedup_on_curve takes") {
  // Each run's own measured wall (its prefix included) is not increasing: that curve is refused.
  const std::vector<growth::train::budget_point> per_run{{0.016 + 0.05, 5.32}, {0.024 + 0.006, 5.17}, {0.040, 5.09}};
  CHECK_THROWS_AS((void)growth::train::speedup_on_curve(per_run, 0.03, 5.1), growth::error);

  // One pace per seed: every step the seed's baseline trained, each once, over their wall.
  const double s = (0.05 + 0.006 + 0.040) / 50.0;
  CHECK(growth_tool::demo::seconds_per_step(noisy) == s);
  const auto curve = growth_tool::demo::wall_budget_curve(noisy);
  REQUIRE(curve.size() == 3);
  for (std::size_t i = 0; i < curve.size(); ++i) {
    CHECK(curve[i].cost == static_cast<double>(noisy[i].steps) * s);
    CHECK(curve[i].loss == noisy[i].loss);
    if (i > 0) CHECK(curve[i].cost > curve[i - 1].cost);
  }
  const auto r = growth::train::speedup_on_curve(curve, 0.03, 5.1);
  CHECK(r.kind == growth::train::speedup_kind::interpolated);
}

TEST_CASE("demo wall curve: no timed step, or budgets out of order, are refused") {
  std::vector<budget_run> untimed = noisy;
  for (auto& r : untimed) r.own_wall = 0;
  CHECK_THROWS_AS((void)growth_tool::demo::wall_budget_curve(untimed), growth::error);
  CHECK_THROWS_AS((void)growth_tool::demo::seconds_per_step(std::vector<budget_run>{}), growth::error);
  std::vector<budget_run> unordered = noisy;
  std::swap(unordered[0], unordered[1]);
  CHECK_THROWS_AS((void)growth_tool::demo::wall_budget_curve(unordered), growth::error);
}
