#pragma once
/// @file train/speedup.hpp
/// The speedup of a grown run, read off the baseline's budget curve (No Train No Gain's protocol, Kaddour et
/// al., arXiv 2307.06440): the full-size model trained at several budgets c_1 < ... < c_n, each with its
/// learning rate fully decayed at its own budget, reaching final validation losses L_1, ..., L_n.
///
/// The cost c* the baseline needs to reach a loss L: the first segment [c_i, c_{i+1}] whose losses bracket L
/// (L_i >= L >= L_{i+1}), interpolated linearly in log cost (loss is close to linear in log compute over a
/// small range):
///     u = (L_i - L) / (L_i - L_{i+1}),   log c* = log c_i + u (log c_{i+1} - log c_i).
/// The speedup of a run of cost c that reaches L is c* / c - 1 (in wall-clock or in FLOPs, whichever cost the
/// curve holds; growth included in c). When L is outside the curve there is no interpolation, only a bound:
///   - L above every baseline (worse than even the smallest budget): the baseline needs less than c_1, so
///     speedup <= c_1 / c - 1, an upper bound (upper_bound);
///   - L below every baseline (better than the largest budget): the baseline needs more than c_n, so
///     speedup >= c_n / c - 1, a lower bound (lower_bound).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace growth::train {

/// One baseline run: its budget's cost and its final validation loss.
struct budget_point {
  double cost = 0;
  double loss = 0;
};

enum class speedup_kind { interpolated, upper_bound, lower_bound };

constexpr std::string_view to_string(speedup_kind k) {
  switch (k) {
    case speedup_kind::interpolated: return "interpolated";
    case speedup_kind::upper_bound: return "upper_bound";
    case speedup_kind::lower_bound: return "lower_bound";
  }
  return "?";
}

struct speedup_result {
  speedup_kind kind = speedup_kind::interpolated;
  double baseline_cost = 0;  ///< c* (or the bound's c_1 / c_n)
  double speedup = 0;        ///< c* / c - 1
};

/// The speedup of a run of cost `cost` that reached `loss`, against a baseline curve (file comment). The curve
/// needs at least one point, costs positive and strictly increasing; throws growth::error otherwise.
inline speedup_result speedup_on_curve(std::span<const budget_point> curve, double cost, double loss) {
  if (curve.empty()) throw error("baseline budget curve", "at least one budget", "none");
  if (!(cost > 0)) throw error("grown run cost", "> 0", std::to_string(cost));
  for (std::size_t i = 0; i < curve.size(); ++i) {
    if (!(curve[i].cost > 0) || (i > 0 && !(curve[i].cost > curve[i - 1].cost)))
      throw error("baseline budget curve point " + std::to_string(i), "a cost > 0 and above the previous budget's",
                  std::to_string(curve[i].cost));
  }
  for (std::size_t i = 0; i + 1 < curve.size(); ++i) {
    const double hi = curve[i].loss, lo = curve[i + 1].loss;
    if (hi >= loss && loss >= lo) {
      const double u = hi == lo ? 0.0 : (hi - loss) / (hi - lo);
      const double c = std::exp(std::log(curve[i].cost) + u * (std::log(curve[i + 1].cost) - std::log(curve[i].cost)));
      return {speedup_kind::interpolated, c, c / cost - 1};
    }
  }
  double worst = curve[0].loss, best = curve[0].loss;
  for (const auto& p : curve) {
    worst = std::max(worst, p.loss);
    best = std::min(best, p.loss);
  }
  if (curve.size() == 1 && loss == curve[0].loss) return {speedup_kind::interpolated, curve[0].cost, curve[0].cost / cost - 1};
  if (loss >= worst) return {speedup_kind::upper_bound, curve.front().cost, curve.front().cost / cost - 1};
  if (loss <= best) return {speedup_kind::lower_bound, curve.back().cost, curve.back().cost / cost - 1};
  // A non-monotone curve (noise) that L crosses only between non-adjacent budgets: the cheapest budget that
  // already reaches L bounds c* from above.
  for (const auto& p : curve)
    if (p.loss <= loss) return {speedup_kind::upper_bound, p.cost, p.cost / cost - 1};
  return {speedup_kind::lower_bound, curve.back().cost, curve.back().cost / cost - 1};
}

}  // namespace growth::train
