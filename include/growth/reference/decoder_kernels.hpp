#pragma once
/// @file decoder_kernels.hpp
/// The building blocks the reference causal LM (causal_lm.hpp) adds to kernels.hpp, each with its backward
/// beside it: RMSNorm, the SwiGLU gate, GELU's tanh approximation (HF "gelu_new") and rotary position
/// embeddings in Hugging Face's rotate_half convention. Row-wise work is split over the threads with
/// detail::parallel_rows, so every element is produced by one call in a fixed order.
#include <Eigen/Core>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include "kernels.hpp"

namespace growth::reference::detail {

/// RMSNorm over each row (HF LlamaRMSNorm): y = w * x * rstd, rstd = 1 / sqrt(mean(x^2) + eps). Keeps
/// xhat = x * rstd and rstd for the backward. y may alias x.
template <class T>
void rmsnorm_forward(cref<T> x, const T* gain, T eps, mref<T> xhat, T* rstd, mref<T> y) {
  const auto h = x.cols();
  cvmap<T> g(gain, h);
  parallel_rows(static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(h) * 6, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      const T rs = T(1) / std::sqrt(x.row(r).squaredNorm() / static_cast<T>(h) + eps);
      xhat.row(r) = x.row(r) * rs;
      y.row(r) = xhat.row(r).array() * g.array();
      rstd[r] = rs;
    }
  });
}

/// RMSNorm backward: dgain += sum_rows dy * xhat, and with u = dy * w,
/// dx = rstd * (u - xhat * mean(u * xhat))   (d(x_i rstd)/dx_j = rstd (delta_ij - xhat_i xhat_j / H)).
/// dx may alias dy.
template <class T>
void rmsnorm_backward(cref<T> dy, cref<T> xhat, const T* rstd, const T* gain, T* dgain, mref<T> dx) {
  const auto h = dy.cols();
  cvmap<T> g(gain, h);
  vmap<T> dg(dgain, h);
  add_column_sums<T>(dg, dy, xhat.data(), xhat.outerStride());
  const T inv_h = T(1) / static_cast<T>(h);
  parallel_rows(static_cast<std::size_t>(dy.rows()), static_cast<std::size_t>(h) * 6, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      const T c = (dy.row(r).array() * g.array() * xhat.row(r).array()).sum() * inv_h;
      dx.row(r) = rstd[r] * (dy.row(r).array() * g.array() - xhat.row(r).array() * c);
    }
  });
}

/// SwiGLU's gate: a = silu(f) * u, silu(f) = f * sigmoid(f) (HF LlamaMLP: act_fn(gate_proj(x)) * up_proj(x)).
template <class T>
void swiglu_forward(cref<T> f, cref<T> u, mref<T> a) {
  parallel_rows(static_cast<std::size_t>(f.rows()), static_cast<std::size_t>(f.cols()) * 8, [&](std::size_t r0, std::size_t r1) {
    const auto r = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
    auto fb = f.middleRows(r, m).array();
    a.middleRows(r, m).array() = fb / (T(1) + (-fb).exp()) * u.middleRows(r, m).array();
  });
}

/// SwiGLU backward: from da, writes du = da * silu(f) and, in place, df = da * u * silu'(f), with
/// silu'(f) = sigmoid(f) (1 + f (1 - sigmoid(f))).
template <class T>
void swiglu_backward(cref<T> f, cref<T> u, mref<T> da_df, mref<T> du) {
  parallel_rows(static_cast<std::size_t>(f.rows()), static_cast<std::size_t>(f.cols()) * 12, [&](std::size_t r0, std::size_t r1) {
    const auto r = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
    auto fb = f.middleRows(r, m).array();
    const auto sig = T(1) / (T(1) + (-fb).exp());
    du.middleRows(r, m).array() = da_df.middleRows(r, m).array() * fb * sig;
    da_df.middleRows(r, m).array() *= u.middleRows(r, m).array() * sig * (T(1) + fb * (T(1) - sig));
  });
}

/// GELU, tanh approximation (HF "gelu_new", GPT-2): y = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
/// With keep_derivative (a training forward) x is then overwritten by the derivative
///   y' = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),   t = the tanh above,
/// which the backward multiplies by (gelu_backward_cached), so tanh is computed once per element per step.
/// Otherwise y may alias x.
template <class T>
void gelu_tanh_forward(mref<T> x, mref<T> y, bool keep_derivative = false) {
  const T c = T(std::sqrt(2.0 / std::numbers::pi));
  const auto n = x.cols();
  parallel_rows(static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(n) * 16, [&](std::size_t r0, std::size_t r1) {
    vmap<T> t(thread_buffer<T, scratch::activation_row>(static_cast<std::size_t>(n)), n);  // [n] the row's tanh
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      auto xb = x.row(r).array();
      t.array() = (c * (xb + T(0.044715) * xb.cube())).tanh();
      y.row(r).array() = T(0.5) * xb * (T(1) + t.array());
      if (keep_derivative)
        xb = T(0.5) * (T(1) + t.array()) +
             T(0.5) * xb * (T(1) - t.array().square()) * c * (T(1) + T(3 * 0.044715) * xb.square());
    }
  });
}

/// Rotary position embeddings (Su et al. 2021, arXiv 2104.09864) in HF's rotate_half convention: for a head
/// of d channels at position s, with half = d/2, inv_freq_i = theta^(-2i/d) and a_i = s * inv_freq_i,
///     y_i        = x_i cos a_i - x_{i+half} sin a_i
///     y_{i+half} = x_{i+half} cos a_i + x_i sin a_i          (i < half)
/// which is x * cos + rotate_half(x) * sin with cos / sin duplicated over both halves. The tables are
/// computed in double (HF computes the angles in float32; the two differ by float rounding only).
template <class T>
struct rotary_table {
  std::size_t half = 0, len = 0;
  std::vector<T> cos, sin;  // [len * half] cos / sin of a_i at position s, entry s * half + i

  void build(std::size_t head_dim, std::size_t seq_len, double theta) {
    if (half == head_dim / 2 && len == seq_len && !cos.empty()) return;
    half = head_dim / 2;
    len = seq_len;
    cos.assign(len * half, T(0));
    sin.assign(len * half, T(0));
    for (std::size_t i = 0; i < half; ++i) {
      const double inv_freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
      for (std::size_t s = 0; s < len; ++s) {
        const double a = static_cast<double>(s) * inv_freq;
        cos[s * half + i] = static_cast<T>(std::cos(a));
        sin[s * half + i] = static_cast<T>(std::sin(a));
      }
    }
  }

  /// Rotates `heads` heads of 2 * half channels, side by side from column c0 of x, in place; row n of x is
  /// position n % len. inverse: the transposed rotation (angle -a), the backward of the forward rotation.
  void apply(mref<T> x, Eigen::Index c0, std::size_t heads, bool inverse) const {
    const T sgn = inverse ? T(-1) : T(1);
    parallel_rows(static_cast<std::size_t>(x.rows()), heads * half * 6, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t n = r0; n < r1; ++n) {
        const std::size_t s = n % len;
        const T* cs = cos.data() + s * half;
        const T* sn = sin.data() + s * half;
        T* row = x.row(static_cast<Eigen::Index>(n)).data() + c0;
        for (std::size_t h = 0; h < heads; ++h) {
          T* q = row + h * 2 * half;
          for (std::size_t i = 0; i < half; ++i) {
            const T a = q[i], b = q[i + half], si = sgn * sn[i];
            q[i] = a * cs[i] - b * si;
            q[i + half] = b * cs[i] + a * si;
          }
        }
      }
    });
  }
};

}  // namespace growth::reference::detail
