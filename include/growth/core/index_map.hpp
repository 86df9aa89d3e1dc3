#pragma once
/// @file index_map.hpp
/// The one mechanism every operator is built on.
///
/// An axis_map is a sparse linear map along one axis, stored row by row (CSR): output slice i along the
/// axis is   out_i = sum_{e in row i} weight_e * in_{index_e}.
/// A row with one entry is a gather with a scale (stacking, tiling, replicating a neuron and dividing its
/// fan-out); a row with no entry is a zero slice (identity-layer output projections, new heads' output
/// columns); a row with several entries is a weighted sum (linear interpolation of position embeddings,
/// mean pooling, mean padding).
///
/// A tensor_map<R> holds one axis_map per axis and applies them as a tensor product:
///   out[i_0..i_{R-1}] = sum_{e_0 in row i_0} ... sum_{e_{R-1} in row i_{R-1}}
///                        (w_{e_0} * ... * w_{e_{R-1}}) * in[idx_{e_0}, ..., idx_{e_{R-1}}]
/// Arithmetic is in compute_t<T> (float for float/half/bf16, double for double): the weights are
/// rounded to compute_t, multiplied in axis order, the product multiplies the input element, terms are
/// summed in lexicographic entry order starting from zero (each term added with one fused multiply-add,
/// s = fma(x, w, s), never a compiler-chosen contraction), and the sum is rounded once to T. Every
/// executor (host here, CUDA in adapters/cuda.cuh) follows exactly this order, so results are
/// bit-identical across backends.
///
/// Backends supply storage only: an executor<Space> specialisation with apply(), matmul() and upload().
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "concepts.hpp"
#include "error.hpp"
#include "tensor.hpp"

namespace growth {

class axis_map {
 public:
  axis_map() = default;
  explicit axis_map(std::size_t in_extent) : in_extent_(in_extent) {}

  /// out_i = in_i for i < n.
  static axis_map identity(std::size_t n) {
    axis_map m(n);
    m.reserve(n, n);
    for (std::size_t i = 0; i < n; ++i) m.push_row_entry(static_cast<std::int64_t>(i), 1.0);
    m.identity_ = true;
    return m;
  }
  /// out_i = scale_i * in_{src_i}; src_i < 0 makes out_i zero. scale empty means all ones.
  static axis_map gather(std::size_t in_extent, std::span<const std::int64_t> src, std::span<const double> scale = {}) {
    if (!scale.empty() && scale.size() != src.size())
      throw error("axis_map::gather scale", std::to_string(src.size()) + " entries (one per output slice)",
                  std::to_string(scale.size()));
    axis_map m(in_extent);
    m.reserve(src.size(), src.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (src[i] < 0) {
        m.push_empty_row();
      } else {
        m.push_row_entry(src[i], scale.empty() ? 1.0 : scale[i]);
      }
    }
    m.check("axis_map::gather");
    return m;
  }
  /// All-zero map: out_extent slices, each zero.
  static axis_map zeros(std::size_t in_extent, std::size_t out_extent) {
    axis_map m(in_extent);
    for (std::size_t i = 0; i < out_extent; ++i) m.push_empty_row();
    return m;
  }

  /// Builder: start a new output row, then add entries to it.
  void begin_row() { offsets_.push_back(offsets_.back()); }
  void add_entry(std::int64_t src, double w) {
    index_.push_back(src);
    weight_.push_back(w);
    ++offsets_.back();
    identity_ = false;
  }
  void push_empty_row() {
    begin_row();
    identity_ = false;
  }
  void push_row_entry(std::int64_t src, double w) {
    begin_row();
    index_.push_back(src);
    weight_.push_back(w);
    ++offsets_.back();
    identity_ = false;
  }
  void reserve(std::size_t rows, std::size_t entries) {
    offsets_.reserve(rows + 1);
    index_.reserve(entries);
    weight_.reserve(entries);
  }

  [[nodiscard]] std::size_t in_extent() const { return in_extent_; }
  [[nodiscard]] std::size_t out_extent() const { return offsets_.size() - 1; }
  [[nodiscard]] std::span<const std::size_t> offsets() const { return offsets_; }
  [[nodiscard]] std::span<const std::int64_t> index() const { return index_; }
  [[nodiscard]] std::span<const double> weight() const { return weight_; }
  [[nodiscard]] std::size_t row_size(std::size_t i) const { return offsets_[i + 1] - offsets_[i]; }
  /// out_i = in_i exactly (lets executors use memcpy).
  [[nodiscard]] bool is_identity() const { return identity_; }
  /// Every row has at most one entry (a gather with scale, possibly with zero rows).
  [[nodiscard]] bool is_gather() const {
    for (std::size_t i = 0; i + 1 < offsets_.size(); ++i)
      if (offsets_[i + 1] - offsets_[i] > 1) return false;
    return true;
  }

  /// Throws growth::error if an index is outside [0, in_extent) or a weight is not finite.
  void check(std::string_view what) const {
    for (std::size_t e = 0; e < index_.size(); ++e) {
      if (index_[e] < 0 || static_cast<std::size_t>(index_[e]) >= in_extent_)
        throw error(std::string(what) + " source index", "in [0, " + std::to_string(in_extent_) + ")",
                    std::to_string(index_[e]));
      if (!std::isfinite(weight_[e]))
        throw error(std::string(what) + " weight", "a finite number", detail::to_string_any(weight_[e]));
    }
  }

  /// The same map with every weight squared: how Adam's second moment v transforms when the parameter
  /// transforms by this map (v scales like the square of the weight; growth-methods.md 0.6).
  [[nodiscard]] axis_map squared() const {
    axis_map m = *this;
    for (auto& w : m.weight_) w = w * w;
    return m;
  }

  /// The map after this one: (b.after(a)) applied to x equals b applied to (a applied to x).
  [[nodiscard]] axis_map then(const axis_map& b) const {
    if (b.in_extent() != out_extent())
      throw error("axis_map::then", "in_extent " + std::to_string(out_extent()), std::to_string(b.in_extent()));
    axis_map m(in_extent_);
    for (std::size_t i = 0; i < b.out_extent(); ++i) {
      m.begin_row();
      for (std::size_t e = b.offsets_[i]; e < b.offsets_[i + 1]; ++e) {
        const auto mid = static_cast<std::size_t>(b.index_[e]);
        for (std::size_t f = offsets_[mid]; f < offsets_[mid + 1]; ++f) m.add_entry(index_[f], b.weight_[e] * weight_[f]);
      }
    }
    m.identity_ = identity_ && b.identity_;
    return m;
  }

 private:
  std::size_t in_extent_ = 0;
  std::vector<std::size_t> offsets_{0};
  std::vector<std::int64_t> index_;
  std::vector<double> weight_;
  bool identity_ = false;
};

/// One axis_map per axis of a rank-R tensor.
template <std::size_t R>
struct tensor_map {
  std::array<axis_map, R> axes;

  [[nodiscard]] std::array<std::size_t, R> in_extents() const {
    std::array<std::size_t, R> e{};
    for (std::size_t a = 0; a < R; ++a) e[a] = axes[a].in_extent();
    return e;
  }
  [[nodiscard]] std::array<std::size_t, R> out_extents() const {
    std::array<std::size_t, R> e{};
    for (std::size_t a = 0; a < R; ++a) e[a] = axes[a].out_extent();
    return e;
  }
  /// Identity on every axis but `axis`, where m applies.
  static tensor_map along(const std::array<std::size_t, R>& in_extents, std::size_t axis, axis_map m) {
    if (axis >= R) throw error("tensor_map::along axis", "an axis < " + std::to_string(R), std::to_string(axis));
    tensor_map t;
    for (std::size_t a = 0; a < R; ++a)
      if (a != axis) t.axes[a] = axis_map::identity(in_extents[a]);
    std::swap(t.axes[axis], m);  // (a move; clang-tidy-14 misreads `= std::move(m)` here as a const use)
    return t;
  }
};

/// Executors: one per memory space. The host one is below; adapters/cuda.cuh provides the CUDA one.
template <class Space>
struct executor {
  static_assert(sizeof(Space) == 0,
                "growth: no executor for this memory space; include the adapter header that defines it "
                "(e.g. growth/adapters/cuda.cuh for device memory)");
};

namespace detail {

template <std::size_t R>
void check_extents(std::string_view name, const char* which, const std::array<std::size_t, R>& want,
                   const std::array<std::size_t, R>& got) {
  if (want != got) throw error(std::string(name) + " (" + which + ")", shape_string(want), shape_string(got));
}

/// Host execution of a tensor_map. Fast path when every axis but the last is a gather; general path
/// (sums over several source slices) accumulates each output row in compute_t before rounding once.
template <class T, std::size_t R>
void host_apply(const tensor_map<R>& m, tensor_view<const T, R> in, tensor_view<T, R> out) {
  using C = compute_t<T>;
  constexpr std::size_t last = R - 1;
  const axis_map& inner = m.axes[last];
  const std::size_t n_out = inner.out_extent();
  const std::ptrdiff_t in_s = in.stride(last), out_s = out.stride(last);
  // weights of the inner axis, rounded once to compute_t
  std::vector<C> inner_w(inner.weight().size());
  for (std::size_t e = 0; e < inner_w.size(); ++e) inner_w[e] = static_cast<C>(inner.weight()[e]);
  const bool inner_identity = inner.is_identity();
  const bool inner_gather = inner.is_gather();
  // A gather along the inner axis, as runs: consecutive outputs reading consecutive inputs with one weight,
  // or consecutive zero outputs (src0 < 0). The paths below copy or scale whole runs (memcpy / vectorised
  // loops) with exactly the per-element arithmetic of the entry-by-entry loop, so results are unchanged.
  // Short runs (as from unequal split fractions) are merged into scatter runs (scatter = true): per-element
  // sources sc_src[sc0 + j] and weights sc_w[sc0 + j], so a row does not pay a run's overhead per element.
  struct inner_run {
    std::size_t out0, len;
    std::int64_t src0;
    C w;
    bool scatter = false;
    std::size_t sc0 = 0;
  };
  std::vector<inner_run> runs;
  std::vector<std::int64_t> sc_src;
  std::vector<C> sc_w;
  if (inner_gather && !inner_identity) {
    const auto off = inner.offsets();
    const auto idx = inner.index();
    for (std::size_t j = 0; j < n_out; ++j) {
      const std::size_t e = off[j];
      const bool z = off[j + 1] == e;
      const std::int64_t src = z ? -1 : idx[e];
      const C w = z ? C(0) : inner_w[e];
      if (!runs.empty()) {
        inner_run& r = runs.back();
        if (z && r.src0 < 0) {
          ++r.len;
          continue;
        }
        if (!z && r.src0 >= 0 && r.w == w && r.src0 + static_cast<std::int64_t>(r.len) == src) {
          ++r.len;
          continue;
        }
      }
      runs.push_back({j, 1, src, w});
    }
    std::vector<inner_run> merged;
    for (const inner_run& r : runs) {
      if (r.src0 >= 0 && r.len < 8) {
        if (merged.empty() || !merged.back().scatter) merged.push_back({r.out0, 0, 0, C(0), true, sc_src.size()});
        for (std::size_t j = 0; j < r.len; ++j) {
          sc_src.push_back(r.src0 + static_cast<std::int64_t>(j));
          sc_w.push_back(r.w);
        }
        merged.back().len += r.len;
      } else {
        merged.push_back(r);
      }
    }
    runs.swap(merged);
  }

  bool lead_gather = true;
  for (std::size_t a = 0; a < last; ++a) lead_gather = lead_gather && m.axes[a].is_gather();

  std::vector<C> acc;
  if (!lead_gather || !inner_gather) acc.assign(n_out, C(0));

  // Writes sum over inner entries of in_row, times the leading weight, into acc (general path).
  // The accumulator is acc, or the output row itself when it is contiguous and already compute_t.
  auto accumulate_row = [&](const T* in_row, C w_lead, C* acc_row) {
    if (inner_identity) {  // entry j of row j, weight exactly 1, so w_lead * 1 == w_lead
      C* a = acc_row;
      if (in_s == 1) {
        for (std::size_t j = 0; j < n_out; ++j) a[j] = std::fma(to_compute(in_row[j]), w_lead, a[j]);
      } else {
        for (std::size_t j = 0; j < n_out; ++j) a[j] = std::fma(to_compute(in_row[j * in_s]), w_lead, a[j]);
      }
      return;
    }
    if (inner_gather) {  // zero runs add nothing
      for (const inner_run& r : runs) {
        C* a = acc_row + r.out0;
        if (r.scatter) {
          for (std::size_t j = 0; j < r.len; ++j)
            a[j] = std::fma(to_compute(in_row[sc_src[r.sc0 + j] * in_s]), w_lead * sc_w[r.sc0 + j], a[j]);
          continue;
        }
        if (r.src0 < 0) continue;
        const T* i = in_row + r.src0 * in_s;
        const C w = w_lead * r.w;
        for (std::size_t j = 0; j < r.len; ++j) a[j] = std::fma(to_compute(i[j * in_s]), w, a[j]);
      }
      return;
    }
    const auto off = inner.offsets();
    const auto idx = inner.index();
    for (std::size_t j = 0; j < n_out; ++j) {
      C s = acc_row[j];
      for (std::size_t e = off[j]; e < off[j + 1]; ++e)
        // One explicit fused multiply-add per term: with a plain `s += x * w` GCC contracts to FMA only
        // where the ISA has it (-march=x86-64-v3 yes, -O0 / nvcc's host pass no), so bits would depend
        // on flags; the CUDA executor uses the same fma.
        s = std::fma(to_compute(in_row[idx[e] * in_s]), w_lead * inner_w[e], s);
      acc_row[j] = s;
    }
  };
  // Fast leaf: out_row = w_lead * inner-gather(in_row).
  auto write_row = [&](T* out_row, const T* in_row, C w_lead) {
    if (inner_identity) {
      if (w_lead == C(1) && in_s == 1 && out_s == 1) {
        std::memcpy(out_row, in_row, n_out * sizeof(T));
      } else if (in_s == 1 && out_s == 1) {
        for (std::size_t j = 0; j < n_out; ++j) out_row[j] = from_compute<T>(to_compute(in_row[j]) * w_lead);
      } else {
        for (std::size_t j = 0; j < n_out; ++j)
          out_row[j * out_s] = from_compute<T>(to_compute(in_row[j * in_s]) * w_lead);
      }
      return;
    }
    for (const inner_run& r : runs) {
      T* o = out_row + static_cast<std::ptrdiff_t>(r.out0) * out_s;
      if (r.scatter) {
        const std::int64_t* src = sc_src.data() + r.sc0;
        const C* w = sc_w.data() + r.sc0;
        if (in_s == 1 && out_s == 1) {
          for (std::size_t j = 0; j < r.len; ++j) o[j] = from_compute<T>(to_compute(in_row[src[j]]) * (w_lead * w[j]));
        } else {
          for (std::size_t j = 0; j < r.len; ++j)
            o[j * out_s] = from_compute<T>(to_compute(in_row[src[j] * in_s]) * (w_lead * w[j]));
        }
        continue;
      }
      if (r.src0 < 0) {
        if (out_s == 1) std::fill_n(o, r.len, T(C(0)));
        else
          for (std::size_t j = 0; j < r.len; ++j) o[j * out_s] = T(C(0));
        continue;
      }
      const T* i = in_row + r.src0 * in_s;
      const C w = w_lead * r.w;
      if (w == C(1) && in_s == 1 && out_s == 1) {
        std::memcpy(o, i, r.len * sizeof(T));
      } else if (in_s == 1 && out_s == 1) {
        for (std::size_t j = 0; j < r.len; ++j) o[j] = from_compute<T>(to_compute(i[j]) * w);
      } else {
        for (std::size_t j = 0; j < r.len; ++j) o[j * out_s] = from_compute<T>(to_compute(i[j * in_s]) * w);
      }
    }
  };
  auto zero_row = [&](T* out_row) {
    if (out_s == 1) std::fill_n(out_row, n_out, T(C(0)));
    else
      for (std::size_t j = 0; j < n_out; ++j) out_row[j * out_s] = T(C(0));
  };

  // Iterate over the leading output multi-index.
  std::array<std::size_t, R> oi{};
  std::size_t lead_count = 1;
  for (std::size_t a = 0; a < last; ++a) lead_count *= m.axes[a].out_extent();
  if (n_out == 0) return;
  for (std::size_t flat = 0; flat < lead_count; ++flat) {
    std::size_t r = flat;
    for (std::size_t a = last; a-- > 0;) {
      const std::size_t e = m.axes[a].out_extent();
      oi[a] = r % e;
      r /= e;
    }
    std::ptrdiff_t out_off = 0;
    for (std::size_t a = 0; a < last; ++a) out_off += static_cast<std::ptrdiff_t>(oi[a]) * out.stride(a);
    T* out_row = out.data() + out_off;

    if (lead_gather && inner_gather) {
      std::ptrdiff_t in_off = 0;
      C w = C(1);
      bool zero = false;
      for (std::size_t a = 0; a < last; ++a) {
        const axis_map& am = m.axes[a];
        const std::size_t b = am.offsets()[oi[a]];
        if (am.offsets()[oi[a] + 1] == b) {
          zero = true;
          break;
        }
        in_off += static_cast<std::ptrdiff_t>(am.index()[b]) * in.stride(a);
        w = w * static_cast<C>(am.weight()[b]);
      }
      if (zero) zero_row(out_row);
      else write_row(out_row, in.data() + in_off, w);
      continue;
    }
    // General path: cartesian product of the leading rows' entries, lexicographic order.
    C* acc_row = acc.data();
    bool direct = false;
    if constexpr (std::is_same_v<T, C>) {
      if (out_s == 1) {
        acc_row = out_row;
        direct = true;
      }
    }
    std::fill_n(acc_row, n_out, C(0));
    std::array<std::size_t, R> cur{}, beg{}, end{};
    bool empty = false;
    for (std::size_t a = 0; a < last; ++a) {
      beg[a] = cur[a] = m.axes[a].offsets()[oi[a]];
      end[a] = m.axes[a].offsets()[oi[a] + 1];
      empty = empty || beg[a] == end[a];
    }
    if (!empty) {
      for (;;) {
        std::ptrdiff_t in_off = 0;
        C w = C(1);
        for (std::size_t a = 0; a < last; ++a) {
          in_off += static_cast<std::ptrdiff_t>(m.axes[a].index()[cur[a]]) * in.stride(a);
          w = w * static_cast<C>(m.axes[a].weight()[cur[a]]);
        }
        accumulate_row(in.data() + in_off, w, acc_row);
        std::size_t a = last;
        while (a-- > 0) {
          if (++cur[a] < end[a]) break;
          cur[a] = beg[a];
        }
        if (a == static_cast<std::size_t>(-1)) break;
      }
    }
    if (direct) continue;
    if (out_s == 1) {
      for (std::size_t j = 0; j < n_out; ++j) out_row[j] = from_compute<T>(acc[j]);
    } else {
      for (std::size_t j = 0; j < n_out; ++j) out_row[j * out_s] = from_compute<T>(acc[j]);
    }
  }
}

}  // namespace detail

template <>
struct executor<host_space> {
  template <class T, std::size_t R>
  static void apply(const tensor_map<R>& m, tensor_view<const T, R> in, tensor_view<T, R> out) {
    detail::host_apply<T, R>(m, in, out);
  }
  /// c = a . b, each element summed over k in order with fused multiply-add in compute_t.
  template <class T>
  static void matmul(tensor_view<const T, 2> a, tensor_view<const T, 2> b, tensor_view<T, 2> c) {
    using C = compute_t<T>;
    const std::size_t n = a.extent(0), K = a.extent(1), p = b.extent(1);
    std::vector<C> acc(p);
    for (std::size_t i = 0; i < n; ++i) {
      std::fill(acc.begin(), acc.end(), C(0));
      for (std::size_t k = 0; k < K; ++k) {
        const C aik = to_compute(a(i, k));
        const T* brow = &b(k, 0);
        const std::ptrdiff_t bs = b.stride(1);
        for (std::size_t j = 0; j < p; ++j) acc[j] = std::fma(aik, to_compute(brow[j * bs]), acc[j]);
      }
      for (std::size_t j = 0; j < p; ++j) c(i, j) = from_compute<T>(acc[j]);
    }
  }
  /// Copies a host tensor into `out` (same extents). Used for values made on the host (seeded noise).
  template <class T, std::size_t R>
  static void upload(tensor_view<const T, R> src, tensor_view<T, R> out) {
    tensor_map<R> id;
    for (std::size_t a = 0; a < R; ++a) id.axes[a] = axis_map::identity(src.extent(a));
    detail::host_apply<T, R>(id, src, out);
  }
};

/// Applies map m to `in`, writing `out`. Both must live in the same memory space and have the same
/// element type; extents must equal the map's in/out extents. `name` is used in error messages.
template <tensor_like In, tensor_like Out>
void apply(const tensor_map<rank_of<In>>& m, In&& in, Out&& out, std::string_view name = "tensor") {
  static_assert(rank_of<In> == rank_of<Out>, "growth::apply: input and output ranks differ");
  static_assert(std::is_same_v<value_type_of<In>, value_type_of<Out>>,
                "growth::apply: input and output element types differ");
  static_assert(std::is_same_v<space_of<In>, space_of<Out>>, "growth::apply: input and output memory spaces differ");
  static_assert(mutable_tensor_like<Out>, "growth::apply: output tensor is read-only");
  using T = value_type_of<In>;
  constexpr std::size_t R = rank_of<In>;
  auto iv = view(in);
  auto ov = view(out);
  detail::check_extents<R>(name, "input shape", m.in_extents(), iv.extents());
  detail::check_extents<R>(name, "output shape", m.out_extents(), ov.extents());
  for (std::size_t a = 0; a < R; ++a) m.axes[a].check(std::string(name) + " axis " + std::to_string(a));
  executor<space_of<In>>::template apply<T, R>(m, tensor_view<const T, R, space_of<In>>(iv), ov);
}

}  // namespace growth
