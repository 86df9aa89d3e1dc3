#pragma once
/// @file schedule/learning_rate.hpp
/// The learning rate of a progressive run: one curve family over the whole run, and a policy at each growth.
///
/// A curve of `family` over `total` steps with `warmup` steps, peak eta and floor eta_min = eta * min_ratio,
/// at the 1-based step t:
///   warmup      t <= W:         eta * t / W
///   linear      W < t < T:      eta_min + (eta - eta_min) * (T - t) / (T - W)
///   cosine      W < t < T:      eta_min + (eta - eta_min) * (1 + cos(pi (t - W) / (T - W))) / 2
///   wsd         W < t <= T - D: eta (stable);  T - D < t < T: eta_min + (eta - eta_min) * (T - t) / D,
///               D = max(1, round(decay_fraction * T)) (Hu et al. 2024, "MiniCPM", arXiv 2404.06395)
///   every family, t >= T:       eta_min
/// With min_ratio = 0 the curve ends at zero at its own budget, the fair baseline of No Train No Gain
/// (Kaddour et al., arXiv 2307.06440).
///
/// Across growth. Stages group into segments: a segment starts at stage 0 and at every stage entered with
/// `restart` (a fresh curve, with its own warmup, over the segment's steps: the reference code of Gu et al.
/// builds a new optimizer and schedule per stage). Stages entered with `continue` or `rewarm` extend the
/// current segment, so a run with no restart follows one global curve over all its steps. `rewarm K`
/// multiplies the global curve by min(1, k / K) over the first K steps k = 1..K of the stage (Staged
/// Training's short re-warm, Shen et al., arXiv 2203.06211).
///
/// Under wsd the stable phase does not depend on T, so a run of budget B and one of budget B' > B agree
/// on every step t <= B - D(B): one stable run forks into a decay at each budget (trainer continue_from).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "stage.hpp"

namespace growth::sched {

/// A learning-rate curve: family, peak, warmup, floor, and (wsd) the decay's share of the budget.
struct lr_curve {
  lr_family family = lr_family::linear;
  double peak = 1e-3;
  std::size_t warmup = 0;
  double min_ratio = 0.1;       ///< eta_min = peak * min_ratio
  double decay_fraction = 0.2;  ///< wsd only: the last fraction of the budget decays

  /// Throws growth::error for a peak that is not finite and positive, or a ratio/fraction outside [0, 1].
  void validate() const {
    if (!(peak > 0) || !std::isfinite(peak)) throw error("learning rate", "a finite value > 0", std::to_string(peak));
    if (!(min_ratio >= 0 && min_ratio <= 1)) throw error("min_lr_ratio", "in [0, 1]", std::to_string(min_ratio));
    if (!(decay_fraction > 0 && decay_fraction <= 1))
      throw error("decay_fraction", "in (0, 1]", std::to_string(decay_fraction));
  }

  /// D of the file comment: the wsd decay length of a curve over `total` steps.
  [[nodiscard]] std::size_t decay_steps(std::size_t total) const {
    const auto d = static_cast<std::size_t>(std::llround(decay_fraction * static_cast<double>(total)));
    return d < 1 ? 1 : (d > total ? total : d);
  }

  /// The last step that a run of `total` steps shares with every longer run of the same curve: under wsd the
  /// end of its stable phase, T - D(T) (file comment); 0 for the other families, whose value at every step
  /// after warmup depends on T. A budget's run forks from a longer stable run there.
  [[nodiscard]] std::size_t fork_step(std::size_t total) const {
    return family == lr_family::wsd ? total - decay_steps(total) : 0;
  }

  /// The curve's value at the 1-based step t of `total` steps (file comment).
  [[nodiscard]] double at(std::size_t t, std::size_t total) const {
    const double lo = peak * min_ratio;
    if (warmup > 0 && t <= warmup) return peak * static_cast<double>(t) / static_cast<double>(warmup);
    if (t >= total) return lo;
    switch (family) {
      case lr_family::linear:
        if (total <= warmup) return lo;
        return lo + (peak - lo) * static_cast<double>(total - t) / static_cast<double>(total - warmup);
      case lr_family::cosine: {
        if (total <= warmup) return lo;
        const double x = static_cast<double>(t - warmup) / static_cast<double>(total - warmup);
        return lo + (peak - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * x));
      }
      case lr_family::wsd: {
        const std::size_t d = decay_steps(total);
        if (t + d <= total) return peak;
        return lo + (peak - lo) * static_cast<double>(total - t) / static_cast<double>(d);
      }
    }
    return lo;
  }
};

/// Where a stage's learning rate comes from: its segment (first stage and total steps) and, for rewarm, the
/// ramp length.
struct lr_segment {
  std::size_t first_stage = 0;   ///< the stage that started the segment (0 or a restart)
  std::size_t start_step = 0;    ///< global steps before the segment
  std::size_t steps = 0;         ///< steps of the segment (its curve's total)
};

/// The segment of stage `s` (file comment), given each stage's steps and policy.
inline lr_segment segment_of(const std::vector<stage>& stages, std::size_t s) {
  const auto starts = [&](std::size_t i) { return i == 0 || stages[i].enter.lr == lr_action::restart_warmup; };
  std::size_t first = s;
  while (!starts(first)) --first;
  lr_segment g{first, 0, 0};
  for (std::size_t i = 0; i < first; ++i) g.start_step += stages[i].steps;
  for (std::size_t i = first; i < stages.size() && (i == first || !starts(i)); ++i) g.steps += stages[i].steps;
  return g;
}

/// The learning rate of the 1-based step `stage_step` of stage `s` (global step `global_step`), for a curve
/// and the stages of a schedule. Past a segment's end (a run extended beyond its schedule) the floor holds.
inline double lr_at(const lr_curve& c, const std::vector<stage>& stages, std::size_t s, std::size_t stage_step,
                    std::size_t global_step) {
  const lr_segment g = segment_of(stages, s);
  const std::size_t t = global_step - g.start_step;
  double lr = c.at(t, g.steps);
  const auto& e = stages[s].enter;
  if (s > 0 && e.lr == lr_action::rewarm && e.rewarm_steps > 0 && stage_step < e.rewarm_steps)
    lr *= static_cast<double>(stage_step) / static_cast<double>(e.rewarm_steps);
  return lr;
}

}  // namespace growth::sched
