#pragma once
/// @file tools/demo_curve.hpp
/// The wall-clock budget curve of `growth demo`'s baseline (tools/cmd_demo.cpp), one seed at a time.
///
/// The baseline's budgets b_1 < ... < b_n fork from one stable run (README, "Does growth pay off here?"): the
/// stable run trains b_n steps, each smaller budget trains only its own decay, b_i - f_i steps after its fork
/// step f_i. Timing each budget's run on its own makes a noisy curve: with tiny runs a bigger budget can
/// measure cheaper than a smaller one, and train::speedup_on_curve refuses a curve whose cost does not
/// increase. So the seed's baseline has one measured pace,
///
///     s = (sum over runs of the wall-clock seconds of the steps the run trained itself)
///         / (sum over runs of those steps),
///
/// every step counted once (the shared stable prefix is the stable run's, not each fork's), and budget i costs
/// b_i * s: increasing in b by construction, and still a measurement. FLOPs are counted per run, not priced.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <growth/core/error.hpp>
#include <growth/train/speedup.hpp>

namespace growth_tool::demo {

/// One baseline budget run of a seed.
struct budget_run {
  std::size_t steps = 0;      ///< the budget b: the run's steps, its fork prefix included
  std::size_t own_steps = 0;  ///< the steps it trained itself: b - f for a fork at step f, b for the stable run
  double own_wall = 0;        ///< wall-clock seconds of those steps (growth_demo: its wall minus the prefix's)
  double loss = 0;            ///< final validation loss
};

/// s: the seed's measured baseline seconds per step (file comment). Throws growth::error without a timed step.
inline double seconds_per_step(std::span<const budget_run> runs) {
  std::size_t steps = 0;
  double wall = 0;
  for (const auto& r : runs) {
    steps += r.own_steps;
    wall += r.own_wall;
  }
  if (steps == 0 || !(wall > 0))
    throw growth::error("baseline wall-clock", "a positive time over at least one step",
                        std::to_string(wall) + " s over " + std::to_string(steps) + " steps");
  return wall / static_cast<double>(steps);
}

/// The seed's wall-clock budget curve: (b_i * s, loss_i) for the runs in budget order (ascending steps).
inline std::vector<growth::train::budget_point> wall_budget_curve(std::span<const budget_run> runs) {
  const double s = seconds_per_step(runs);
  std::vector<growth::train::budget_point> pts;
  pts.reserve(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (i > 0 && !(runs[i].steps > runs[i - 1].steps))
      throw growth::error("baseline budget " + std::to_string(i) + " steps", "more than the previous budget's " +
                                                                                  std::to_string(runs[i - 1].steps),
                          std::to_string(runs[i].steps));
    pts.push_back({static_cast<double>(runs[i].steps) * s, runs[i].loss});
  }
  return pts;
}

}  // namespace growth_tool::demo
