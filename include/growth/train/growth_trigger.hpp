#pragma once
/// @file train/growth_trigger.hpp
/// When to grow: Staged Training's rule (Shen et al., "Staged Training for Transformer Language Models",
/// arXiv 2203.06211, section 4). A function-preserving growth puts the grown model at the small model's loss
/// L; from there it descends roughly as the target model descends at loss L. The small model should
/// therefore train while it lowers the loss faster per unit of compute than the target would at the same
/// loss, and grow when it no longer does:
///     grow  when  dL_small/dC (now)  >=  ratio * dL_target/dC (at the compute where L_target = L_small(now))
/// (both slopes are negative; `ratio` = 1 is the break-even point, < 1 grows earlier). Staged Training fixes
/// the target's slope from a scaling law; here it is measured: the target curve is the full-size model's own
/// validation loss against training FLOPs (the demo's baseline, under a constant learning rate in its stable
/// phase).
///
/// Slopes are least-squares fits over a window of w curve points: the small model's last w points, and the
/// target's w points centred on the first point whose loss is at most L. The rule does not fire
///   - before min_points points of the small stage exist (a slope needs several noisy points);
///   - when L is below every target point (the target curve does not reach L: nothing to compare with).
/// It fires at once when the small model's slope is >= 0 (it has stopped improving).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <span>
#include <string>

namespace growth::train {

/// A point of a loss curve: cumulative training cost (FLOPs) and validation loss.
struct curve_point {
  double cost = 0;
  double loss = 0;
};

struct trigger_options {
  std::size_t window = 4;      ///< points per slope fit (>= 2)
  std::size_t min_points = 4;  ///< points of the small stage before the rule may fire
  double ratio = 1.0;          ///< grow when small slope >= ratio * target slope
};

struct trigger_decision {
  bool fire = false;
  double small_slope = 0, target_slope = 0;  ///< loss per unit cost (NaN where not measured)
  std::string why;                           ///< one line for the log
};

namespace detail {
/// Least-squares slope of loss against cost over pts (NaN for fewer than 2 points or no cost spread).
inline double slope(std::span<const curve_point> pts) {
  if (pts.size() < 2) return std::nan("");
  double mc = 0, ml = 0;
  for (const auto& p : pts) {
    mc += p.cost;
    ml += p.loss;
  }
  mc /= static_cast<double>(pts.size());
  ml /= static_cast<double>(pts.size());
  double sxy = 0, sxx = 0;
  for (const auto& p : pts) {
    sxy += (p.cost - mc) * (p.loss - ml);
    sxx += (p.cost - mc) * (p.cost - mc);
  }
  return sxx > 0 ? sxy / sxx : std::nan("");
}
}  // namespace detail

/// The decision of the file comment for the small stage's points so far and the target's curve.
inline trigger_decision should_grow(std::span<const curve_point> small, std::span<const curve_point> target,
                                    const trigger_options& o = {}) {
  trigger_decision d;
  d.small_slope = d.target_slope = std::nan("");
  const std::size_t w = std::max<std::size_t>(2, o.window);
  if (small.size() < std::max(o.min_points, w)) {
    d.why = "waiting: " + std::to_string(small.size()) + " of " + std::to_string(std::max(o.min_points, w)) + " points";
    return d;
  }
  d.small_slope = detail::slope(small.subspan(small.size() - w));
  const double L = small.back().loss;
  std::size_t j = target.size();
  for (std::size_t i = 0; i < target.size(); ++i)
    if (target[i].loss <= L) {
      j = i;
      break;
    }
  if (d.small_slope >= 0) {
    d.fire = true;
    d.why = "small model stopped improving (slope " + std::to_string(d.small_slope) + " >= 0)";
    return d;
  }
  if (j == target.size()) {
    d.why = "loss " + std::to_string(L) + " below the whole target curve: no slope to compare";
    return d;
  }
  const std::size_t n = std::min(w, target.size());
  const std::size_t lo = std::min(j >= w / 2 ? j - w / 2 : 0, target.size() - n);  // w points around j, inside
  d.target_slope = detail::slope(target.subspan(lo, n));
  if (std::isnan(d.target_slope)) {
    d.why = "target curve too short for a slope";
    return d;
  }
  d.fire = d.small_slope >= o.ratio * d.target_slope;
  char b[200];
  std::snprintf(b, sizeof b, "%s: small slope %.3e/FLOP vs target %.3e/FLOP at loss %.4f (ratio %.2f)",
                d.fire ? "grow" : "keep", d.small_slope, d.target_slope, L, o.ratio);
  d.why = b;
  return d;
}

}  // namespace growth::train
