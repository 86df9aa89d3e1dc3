#pragma once
/// @file adamw.hpp
/// AdamW with torch.optim.AdamW semantics over the flat parameter buffer of reference::bert (or of
/// reference::causal_lm, or any flat_layout), plus the
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
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"
#include "../model/decoder_config.hpp"
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

namespace detail {

/// The step's scalars: clip factor, betas, lr / (1 - b1^t), sqrt(1 - b2^t), eps.
template <class T>
struct adamw_coefficients {
  T clip, b1, b2, step_size, bc2_sqrt, eps;
};

/// The AdamW update of n scalars (the file comment's formulas, torch's order), keep = 1 - lr * wd for
/// decayed parameters, else 1. Eigen's array expressions on blocks that stay in L1: their sqrt is the
/// vector instruction (correctly rounded, as std::sqrt), where a plain loop calling std::sqrt does not
/// vectorise unless the including code is built with -fno-math-errno (7x slower here: the update was
/// bound by it). g is only read: the clipped g * clip is formed per block.
template <class T>
void adamw_update(T* p, const T* g, T* m, T* v, std::size_t n, const adamw_coefficients<T>& c, T keep) {
  using arr = Eigen::Array<T, Eigen::Dynamic, 1>;
  constexpr std::size_t block = 1024;
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const auto len = static_cast<Eigen::Index>(std::min(block, n - b0));
    const Eigen::Map<const arr> gb(g + b0, len);
    Eigen::Map<arr> mb(m + b0, len), vb(v + b0, len), pb(p + b0, len);
    // torch: g *= clip in place, then m, v and p from g (the same products)
    mb = c.b1 * mb + (T(1) - c.b1) * (gb * c.clip);
    vb = c.b2 * vb + (T(1) - c.b2) * (gb * c.clip) * (gb * c.clip);
    pb = pb * keep - c.step_size * mb / (vb.sqrt() / c.bc2_sqrt + c.eps);
  }
}

}  // namespace detail

template <class T>
class adamw {
 public:
  adamw(const model::bert_config& c, adamw_options o) : adamw(flat_layout(c), o) {}
  /// The same optimizer over a decoder LM's flat buffers (reference::causal_lm): decay flags from its table.
  adamw(const model::decoder_config& c, adamw_options o) : adamw(flat_layout(c), o) {}
  /// Over any flat layout (a model's layout()): weight decay where its param_spec::decay says so.
  adamw(flat_layout layout, adamw_options o) : layout_(std::move(layout)), opt_(o) {
    m_.resize(layout_.total);
    v_.resize(layout_.total);
    norm_parts_.assign(chunks(layout_.total), 0.0);
    // Decay segments: runs of consecutive parameters with the same param_spec::decay, so the update pass
    // needs no per-parameter lookup.
    for (std::size_t i = 0; i < layout_.specs.size(); ++i) {
      const bool d = layout_.specs[i].decay;
      if (segments_.empty() || segments_.back().decay != d) segments_.push_back({layout_.offsets[i], d});
    }
    segments_.push_back({layout_.total, false});  // sentinel: the end of the last run
  }

  [[nodiscard]] const adamw_options& options() const { return opt_; }
  [[nodiscard]] std::size_t step_count() const { return step_; }
  /// Sets the step count (e.g. after loading moments from a checkpoint).
  void set_step_count(std::size_t t) { step_ = t; }
  [[nodiscard]] std::span<T> first_moment_flat() { return m_.span(); }
  [[nodiscard]] std::span<T> second_moment_flat() { return v_.span(); }
  [[nodiscard]] model::parameter_set<T> first_moment() { return layout_.views(m_.data()); }
  [[nodiscard]] model::parameter_set<T> second_moment() { return layout_.views(v_.data()); }

  /// Global L2 norm of the gradients, accumulated in double in a fixed order that does not depend on the
  /// thread count: the buffer is cut into chunks of `chunk` elements; within a chunk element j goes to
  /// partial sum j mod 8 (eight independent sums, so the adds pipeline and vectorise), the eight are
  /// added in order, and the chunks' sums are added in chunk order.
  static double grad_norm(std::span<const T> g) {
    double s = 0;
    for (std::size_t c = 0, nc = chunks(g.size()); c < nc; ++c) s += chunk_sum_squares(g, c);
    return std::sqrt(s);
  }

  /// One update with learning rate lr, from the gradients clipped (if max_grad_norm > 0) as
  /// clip_grad_norm_ would; the gradient buffer itself is only read (the clipped g * clip lives in a
  /// register: writing it back would add a pass of stores over a buffer as large as the model). Returns
  /// the gradient norm before clipping. Throws growth::error if the spans do not match the layout.
  double step(std::span<T> params, std::span<const T> grads, double lr) {
    if (params.size() != layout_.total)
      throw error("adamw params", std::to_string(layout_.total) + " elements", std::to_string(params.size()));
    if (grads.size() != layout_.total)
      throw error("adamw grads", std::to_string(layout_.total) + " elements", std::to_string(grads.size()));
    // Squared norm: each chunk's partial sum (any thread), then the partials in chunk order, the same
    // sum as grad_norm whatever the thread count.
    const std::size_t nc = norm_parts_.size();
    const std::span<const T> gc(grads.data(), grads.size());
    detail::parallel_for(static_cast<std::ptrdiff_t>(nc), layout_.total >= 65536, [&](std::ptrdiff_t c) {
      norm_parts_[static_cast<std::size_t>(c)] = chunk_sum_squares(gc, static_cast<std::size_t>(c));
    });
    double sq = 0;
    for (const double x : norm_parts_) sq += x;
    const double norm = std::sqrt(sq);
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
    const T keep_decay = static_cast<T>(1.0 - lr * opt_.weight_decay);
    // The update: one pass over the flat buffers, in the same chunks (each element is written by exactly
    // one thread, with the same operations in the same order as torch's loop in the file comment).
    T* const p = params.data();
    const T* const g = grads.data();
    T* const m = m_.data();
    T* const v = v_.data();
    const detail::adamw_coefficients<T> coef{clip, b1, b2, step_size, bc2_sqrt, eps};
    const auto update = [&](std::size_t j0, std::size_t j1, T keep) {
      detail::adamw_update<T>(p + j0, g + j0, m + j0, v + j0, j1 - j0, coef, keep);
    };
    detail::parallel_for(static_cast<std::ptrdiff_t>(nc), layout_.total >= 65536, [&](std::ptrdiff_t c) {
      const std::size_t lo = static_cast<std::size_t>(c) * chunk, hi = std::min(layout_.total, lo + chunk);
      // The decay runs this chunk overlaps (segments_ is sorted by start; few entries).
      std::size_t s = 0;
      while (segments_[s + 1].start <= lo) ++s;
      for (std::size_t j = lo; j < hi; ++s) {
        const std::size_t e = std::min(hi, segments_[s + 1].start);
        update(j, e, segments_[s].decay ? keep_decay : T(1));
        j = e;
      }
    });
    return norm;
  }

 private:
  flat_layout layout_;
  adamw_options opt_;
  aligned_buffer<T> m_;  // [P] first moments, flat_layout order like the parameters (P = layout_.total)
  aligned_buffer<T> v_;  // [P] second moments
  std::size_t step_ = 0;
  struct segment {
    std::size_t start;  // first element of a run of parameters with the same decay flag
    bool decay;
  };
  std::vector<segment> segments_;    // the runs in order, then a sentinel starting at layout_.total
  std::vector<double> norm_parts_;   // [chunks(P)] squared-norm partial sum of each chunk

  static constexpr std::size_t chunk = 32768;  // elements per chunk of the norm and the update
  static constexpr std::size_t chunks(std::size_t n) { return (n + chunk - 1) / chunk; }
  // Sum of squares of chunk c of g, in double: eight interleaved partial sums, then added in order.
  static double chunk_sum_squares(std::span<const T> g, std::size_t c) {
    const std::size_t lo = c * chunk, hi = std::min(g.size(), lo + chunk);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t j = lo;
    for (; j + 8 <= hi; j += 8)
      for (std::size_t k = 0; k < 8; ++k) acc[k] += static_cast<double>(g[j + k]) * static_cast<double>(g[j + k]);
    for (std::size_t k = 0; j < hi; ++j, ++k) acc[k] += static_cast<double>(g[j]) * static_cast<double>(g[j]);
    double s = 0;
    for (const double a : acc) s += a;
    return s;
  }
};

}  // namespace growth::reference
