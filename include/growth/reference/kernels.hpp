#pragma once
/// @file kernels.hpp
/// Small building blocks of the reference BERT (Eigen): row-major matrix aliases, a deterministic
/// OpenMP row splitter, LayerNorm, erf-GELU and counter-based dropout, each with its backward beside it.
/// Every reduction runs in a fixed order that does not depend on the thread count, except inside Eigen's
/// own GEMM (whose blocking depends on the thread count, so bits are reproducible per thread count).
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>

#include "../core/random.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace growth::reference::detail {

/// Activations and weights are row-major, as PyTorch stores them: a weight is (out, in).
template <class T>
using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using row_vec = Eigen::Matrix<T, 1, Eigen::Dynamic>;
template <class T>
using mref = Eigen::Ref<mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using cref = Eigen::Ref<const mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using cmap = Eigen::Map<const mat<T>>;
template <class T>
using map = Eigen::Map<mat<T>>;
template <class T>
using cvmap = Eigen::Map<const row_vec<T>>;
template <class T>
using vmap = Eigen::Map<row_vec<T>>;

inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Calls f(r0, r1) on contiguous chunks of [0, n), one per thread, when the work is worth it. Each
/// element is produced by exactly one call, so the result does not depend on how [0, n) is cut.
template <class F>
void parallel_rows(std::size_t n, std::size_t work_per_row, F&& f) {
  const std::size_t nt = static_cast<std::size_t>(num_threads());
  if (nt <= 1 || n < 2 || n * work_per_row < 32768) {
    f(std::size_t{0}, n);
    return;
  }
  const std::ptrdiff_t chunks = static_cast<std::ptrdiff_t>(std::min(nt, n));
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 1)
#endif
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t uc = static_cast<std::size_t>(c), uchunks = static_cast<std::size_t>(chunks);
    f(n * uc / uchunks, n * (uc + 1) / uchunks);
  }
}

/// LayerNorm over each row: y = (x - mean) * rstd * gamma + beta, rstd = 1/sqrt(var + eps), var biased
/// (as torch.nn.LayerNorm). Keeps xhat and rstd for the backward. y may alias x.
template <class T>
void layernorm_forward(cref<T> x, const T* gamma, const T* beta, T eps, mref<T> xhat, T* rstd, mref<T> y) {
  const auto n = static_cast<std::size_t>(x.rows());
  const auto h = x.cols();
  cvmap<T> g(gamma, h), b(beta, h);
  parallel_rows(n, static_cast<std::size_t>(h) * 8, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      const T mean = x.row(r).mean();
      const T var = (x.row(r).array() - mean).square().mean();
      const T rs = T(1) / std::sqrt(var + eps);
      xhat.row(r) = (x.row(r).array() - mean) * rs;
      y.row(r) = xhat.row(r).array() * g.array() + b.array();
      rstd[r] = rs;
    }
  });
}

/// LayerNorm backward: dgamma += sum_rows dy*xhat, dbeta += sum_rows dy, and
/// dx = rstd * (dy*gamma - mean(dy*gamma) - xhat * mean(dy*gamma*xhat)). dx may alias dy.
template <class T>
void layernorm_backward(cref<T> dy, cref<T> xhat, const T* rstd, const T* gamma, T* dgamma, T* dbeta, mref<T> dx) {
  const auto n = static_cast<std::size_t>(dy.rows());
  const auto h = dy.cols();
  cvmap<T> g(gamma, h);
  vmap<T> dg(dgamma, h), db(dbeta, h);
  dg.noalias() += (dy.array() * xhat.array()).matrix().colwise().sum();
  db.noalias() += dy.colwise().sum();
  const T inv_h = T(1) / static_cast<T>(h);
  parallel_rows(n, static_cast<std::size_t>(h) * 8, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      const T a = (dy.row(r).array() * g.array()).sum() * inv_h;
      const T c = (dy.row(r).array() * g.array() * xhat.row(r).array()).sum() * inv_h;
      dx.row(r) = rstd[r] * (dy.row(r).array() * g.array() - a - xhat.row(r).array() * c);
    }
  });
}

/// GELU, erf form (HF "gelu"): y = x/2 * (1 + erf(x/sqrt 2)). y may alias x.
template <class T>
void gelu_forward(cref<T> x, mref<T> y) {
  const T r2 = T(std::numbers::sqrt2 / 2);
  parallel_rows(static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols()) * 16,
                [&](std::size_t r0, std::size_t r1) {
                  const auto a = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
                  auto xb = x.middleRows(a, m).array();
                  y.middleRows(a, m).array() = T(0.5) * xb * (T(1) + (xb * r2).erf());
                });
}

/// GELU backward in place: d *= Phi(x) + x * phi(x).
template <class T>
void gelu_backward(cref<T> x, mref<T> d) {
  const T r2 = T(std::numbers::sqrt2 / 2);
  const T inv_sqrt_2pi = T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  parallel_rows(static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols()) * 24,
                [&](std::size_t r0, std::size_t r1) {
                  const auto a = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
                  auto xb = x.middleRows(a, m).array();
                  d.middleRows(a, m).array() *=
                      T(0.5) * (T(1) + (xb * r2).erf()) + xb * (T(-0.5) * xb.square()).exp() * inv_sqrt_2pi;
                });
}

/// Counter-based dropout: element i of site s under seed k is kept iff the top 32 bits of a hash of
/// (k, s, i) are >= p * 2^32. Nothing depends on thread count or evaluation order.
template <class T>
struct dropout {
  std::uint64_t key = 0;
  std::uint64_t threshold = 0;
  T scale = T(1);
  bool active = false;

  dropout() = default;
  dropout(double p, std::uint64_t seed, std::uint64_t site, bool train)
      : key(mix64(seed ^ mix64(site + 0x5851f42d4c957f2dULL))),
        threshold(static_cast<std::uint64_t>(p * 4294967296.0)),
        scale(static_cast<T>(1.0 / (1.0 - p))),
        active(train && p > 0) {}
  [[nodiscard]] bool keep(std::uint64_t i) const { return (mix64(key + 0x632be59bd9b4e019ULL * (i + 1)) >> 32) >= threshold; }

  /// x *= mask * scale over n contiguous elements whose global indices start at first; keeps the mask.
  void apply(T* x, std::uint8_t* mask, std::size_t n, std::uint64_t first = 0) const {
    if (!active) return;
    parallel_rows(n, 8, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const bool k = keep(first + i);
        mask[i] = k ? 1 : 0;
        x[i] = k ? x[i] * scale : T(0);
      }
    });
  }
  /// Backward: d *= mask * scale.
  void backward(T* d, const std::uint8_t* mask, std::size_t n) const {
    if (!active) return;
    parallel_rows(n, 4, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) d[i] = mask[i] ? d[i] * scale : T(0);
    });
  }
};

}  // namespace growth::reference::detail
