#pragma once
/// @file adamw.hpp
/// AdamW with torch.optim.AdamW semantics over the flat parameter buffer of reference::bert, plus the
/// learning-rate schedule (linear warmup, then linear decay) and global gradient-norm clipping.
///
/// One step t (1-based), for every scalar p with gradient g (after clipping):
///   p <- p * (1 - lr * wd)            (only for parameters with param_spec::decay: not LayerNorm, not biases)
///   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
///   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// exactly the order torch uses. Clipping as torch.nn.utils.clip_grad_norm_: with the global L2 norm
/// |g| (accumulated in double), g *= max_norm / (|g| + 1e-6) when that factor is < 1.
///
/// The moments m and v live in flat buffers laid out like the parameters (same order, same offsets), and
/// are exposed as parameter_sets with the HF names so they can be checkpointed and grown with the model.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"
#include "../model/parameter_set.hpp"
#include "flat_buffer.hpp"
#include "kernels.hpp"

namespace growth::reference {

struct adamw_options {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;          ///< torch default
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;  ///< 0 = no clipping
  friend bool operator==(const adamw_options&, const adamw_options&) = default;
};

/// Linear warmup to `peak` over `warmup` steps, then linear decay to 0 at step `total`.
/// at(t) for the 1-based update index t: peak * t / warmup for t <= warmup, then
/// peak * (total - t) / (total - warmup), never below 0. total = 0 means constant after warmup.
struct lr_schedule {
  double peak = 1e-4;
  std::size_t warmup = 0;
  std::size_t total = 0;
  [[nodiscard]] double at(std::size_t t) const {
    if (warmup > 0 && t <= warmup) return peak * static_cast<double>(t) / static_cast<double>(warmup);
    if (total == 0 || total <= warmup) return peak;
    if (t >= total) return 0.0;
    return peak * static_cast<double>(total - t) / static_cast<double>(total - warmup);
  }
};

template <class T>
class adamw {
 public:
  adamw(const model::bert_config& c, adamw_options o) : layout_(c), opt_(o) {
    m_.resize(layout_.total);
    v_.resize(layout_.total);
  }

  [[nodiscard]] const adamw_options& options() const { return opt_; }
  [[nodiscard]] std::size_t step_count() const { return step_; }
  /// Sets the step count (e.g. after loading moments from a checkpoint).
  void set_step_count(std::size_t t) { step_ = t; }
  [[nodiscard]] std::span<T> first_moment_flat() { return m_.span(); }
  [[nodiscard]] std::span<T> second_moment_flat() { return v_.span(); }
  [[nodiscard]] model::parameter_set<T> first_moment() { return layout_.views(m_.data()); }
  [[nodiscard]] model::parameter_set<T> second_moment() { return layout_.views(v_.data()); }

  /// Global L2 norm of the gradients (double accumulation, fixed order).
  static double grad_norm(std::span<const T> g) {
    double s = 0;
    for (const T x : g) s += static_cast<double>(x) * static_cast<double>(x);
    return std::sqrt(s);
  }

  /// One update with learning rate lr. Clips grads in place (if max_grad_norm > 0). Returns the gradient
  /// norm before clipping. Throws growth::error if the spans do not match the layout.
  double step(std::span<T> params, std::span<T> grads, double lr) {
    if (params.size() != layout_.total)
      throw error("adamw params", std::to_string(layout_.total) + " elements", std::to_string(params.size()));
    if (grads.size() != layout_.total)
      throw error("adamw grads", std::to_string(layout_.total) + " elements", std::to_string(grads.size()));
    const double norm = grad_norm(std::span<const T>(grads.data(), grads.size()));
    T clip = T(1);
    if (opt_.max_grad_norm > 0) {
      const double coef = opt_.max_grad_norm / (norm + 1e-6);
      if (coef < 1.0) clip = static_cast<T>(coef);
    }
    ++step_;
    const double t = static_cast<double>(step_);
    const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
    const T step_size = static_cast<T>(lr / (1.0 - std::pow(opt_.beta1, t)));
    const T bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(opt_.beta2, t)));
    const T eps = static_cast<T>(opt_.eps);
    for (std::size_t i = 0; i < layout_.specs.size(); ++i) {
      const std::size_t off = layout_.offsets[i], n = layout_.specs[i].numel();
      const T keep = layout_.specs[i].decay ? static_cast<T>(1.0 - lr * opt_.weight_decay) : T(1);
      T* p = params.data() + off;
      T* g = grads.data() + off;
      T* m = m_.data() + off;
      T* v = v_.data() + off;
      detail::parallel_rows(n, 16, [&](std::size_t j0, std::size_t j1) {
        for (std::size_t j = j0; j < j1; ++j) {
          if (clip != T(1)) g[j] *= clip;
          const T gj = g[j];
          p[j] *= keep;
          m[j] = b1 * m[j] + (T(1) - b1) * gj;
          v[j] = b2 * v[j] + (T(1) - b2) * gj * gj;
          p[j] -= step_size * m[j] / (std::sqrt(v[j]) / bc2_sqrt + eps);
        }
      });
    }
    return norm;
  }

 private:
  flat_layout layout_;
  adamw_options opt_;
  aligned_buffer<T> m_;  // [P] first moments, flat_layout order like the parameters (P = layout_.total)
  aligned_buffer<T> v_;  // [P] second moments
  std::size_t step_ = 0;
};

}  // namespace growth::reference
