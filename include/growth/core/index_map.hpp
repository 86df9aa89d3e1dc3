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

  /// The map after this one: a.then(b) applied to x equals b applied to (a applied to x).
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

/// The inner (last) axis of a map, prepared once per apply: its weights rounded to compute_t and, when it is
/// a gather, its output slices cut into runs that the row kernels below process as contiguous loops
/// (memcpy, a scaled copy, a copy with one weight per slice) instead of entry by entry. Every kind computes
/// exactly what the entry-by-entry loop computes for its slices, so the cut changes speed, never bits.
template <class C>
struct inner_plan {
  enum class kind : std::uint8_t {
    zero,      // out[j] = 0
    uniform,   // out[j] = (w_lead * w) * in[src0 + j]        one weight for the run (memcpy when it is 1)
    weighted,  // out[j] = (w_lead * wt[w0 + j]) * in[src0 + j]   consecutive sources, a weight per slice
    scatter,   // out[j] = (w_lead * wt[w0 + j]) * in[src[w0 + j]] short pieces merged: no per-run overhead
  };
  struct run {
    std::size_t out0, len;
    kind k;
    std::int64_t src0;  // uniform, weighted
    C w;                // uniform
    std::size_t w0;     // weighted, scatter: offset into wt and src
  };
  /// Runs shorter than this become scatter slices: a loop per run costs more than it saves below it.
  static constexpr std::size_t min_run = 8;

  bool identity = false, gather = false;
  std::vector<C> entry_w;          // entry_w[e] = weight e rounded to C, shape (entries)
  std::vector<run> runs;           // gather only: in output order, covering [0, out_extent)
  std::vector<C> wt;               // per-slice weights of weighted and scatter runs, shape (slices in them)
  std::vector<std::int64_t> src;   // per-slice sources, parallel to wt

  void push_slice(kind k, std::size_t out, std::int64_t s, C w) {
    const bool extend = !runs.empty() && runs.back().k == k &&
                        (k == kind::scatter || runs.back().src0 + static_cast<std::int64_t>(runs.back().len) == s);
    if (extend) ++runs.back().len;
    else runs.push_back({out, 1, k, s, C(0), wt.size()});
    wt.push_back(w);
    src.push_back(s);
  }
  /// Output slices [j0, j1) read the consecutive sources s0, s0 + 1, ...: long pieces of one weight are
  /// uniform runs, the pieces between them one weighted run, and a short segment is scatter slices.
  void add_consecutive(std::size_t j0, std::size_t j1, std::int64_t s0, const C* w) {
    if (j1 - j0 < min_run) {
      for (std::size_t j = j0; j < j1; ++j) push_slice(kind::scatter, j, s0 + static_cast<std::int64_t>(j - j0), w[j]);
      return;
    }
    for (std::size_t j = j0; j < j1;) {
      std::size_t e = j + 1;
      while (e < j1 && w[e] == w[j]) ++e;
      const std::int64_t s = s0 + static_cast<std::int64_t>(j - j0);
      if (e - j >= min_run) {
        runs.push_back({j, e - j, kind::uniform, s, w[j], 0});
      } else {
        for (std::size_t k = j; k < e; ++k) push_slice(kind::weighted, k, s + static_cast<std::int64_t>(k - j), w[k]);
      }
      j = e;
    }
  }
};

template <class C>
inner_plan<C> plan_inner(const axis_map& a) {
  using kind = typename inner_plan<C>::kind;
  inner_plan<C> p;
  p.identity = a.is_identity();
  p.gather = a.is_gather();
  p.entry_w.resize(a.weight().size());
  for (std::size_t e = 0; e < p.entry_w.size(); ++e) p.entry_w[e] = static_cast<C>(a.weight()[e]);
  if (!p.gather || p.identity) return p;
  // per output slice: source (-1 for a zero slice) and weight
  const std::size_t n = a.out_extent();
  std::vector<std::int64_t> s(n, -1);
  std::vector<C> w(n, C(0));
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t e = a.offsets()[j];
    if (a.offsets()[j + 1] == e) continue;
    s[j] = a.index()[e];
    w[j] = p.entry_w[e];
  }
  for (std::size_t j = 0; j < n;) {
    std::size_t e = j + 1;
    if (s[j] < 0) {
      while (e < n && s[e] < 0) ++e;
      p.runs.push_back({j, e - j, kind::zero, -1, C(0), 0});
    } else {
      while (e < n && s[e] >= 0 && s[e] == s[e - 1] + 1) ++e;
      p.add_consecutive(j, e, s[j], w.data());
    }
    j = e;
  }
  return p;
}

/// One term of an output row: an input row (offset of its first element) and the product of the leading
/// axes' weights for it, ((1 * w_0) * w_1) * ... in compute_t.
template <class C>
struct lead_term {
  std::ptrdiff_t in_off;
  C w;
};

/// The terms of the output row at leading multi-index oi: the cartesian product of the leading axes'
/// entries in lexicographic order; none when some leading row is empty (a zero row).
template <class C, class T, std::size_t R>
void lead_terms(const tensor_map<R>& m, const tensor_view<const T, R>& in, const std::array<std::size_t, R>& oi,
                std::vector<lead_term<C>>& terms) {
  constexpr std::size_t last = R - 1;
  terms.clear();
  std::array<std::size_t, R> cur{}, beg{}, end{};
  for (std::size_t a = 0; a < last; ++a) {
    beg[a] = cur[a] = m.axes[a].offsets()[oi[a]];
    end[a] = m.axes[a].offsets()[oi[a] + 1];
    if (beg[a] == end[a]) return;
  }
  for (;;) {
    std::ptrdiff_t in_off = 0;
    C w = C(1);
    for (std::size_t a = 0; a < last; ++a) {
      in_off += static_cast<std::ptrdiff_t>(m.axes[a].index()[cur[a]]) * in.stride(a);
      w = w * static_cast<C>(m.axes[a].weight()[cur[a]]);
    }
    terms.push_back({in_off, w});
    std::size_t a = last;
    while (a-- > 0) {
      if (++cur[a] < end[a]) break;
      cur[a] = beg[a];
    }
    if (a == static_cast<std::size_t>(-1)) return;
  }
}

/// The one term of the output row at oi when every leading axis is a gather: false for a zero row.
/// (lead_terms without the vector: a gather row is often a single memcpy, so per-row work matters.)
template <class C, class T, std::size_t R>
bool lead_gather_term(const tensor_map<R>& m, const tensor_view<const T, R>& in, const std::array<std::size_t, R>& oi,
                      lead_term<C>& term) {
  term = {0, C(1)};
  for (std::size_t a = 0; a + 1 < R; ++a) {
    const axis_map& am = m.axes[a];
    const std::size_t b = am.offsets()[oi[a]];
    if (am.offsets()[oi[a] + 1] == b) return false;
    term.in_off += static_cast<std::ptrdiff_t>(am.index()[b]) * in.stride(a);
    term.w = term.w * static_cast<C>(am.weight()[b]);
  }
  return true;
}

/// out_row = 0 (n slices, stride os).
template <class T>
void zero_row(T* out, std::ptrdiff_t os, std::size_t n) {
  using C = compute_t<T>;
  if (os == 1) std::fill_n(out, n, T(C(0)));
  else
    for (std::size_t j = 0; j < n; ++j) out[j * os] = T(C(0));
}

/// out_row[j] = from_compute((w_lead * w_j) * in_row[src_j]): the row of a map whose every axis is a
/// gather (one product, no sum). Contig: both strides are 1, a compile-time constant the loops vectorise on.
template <bool Contig, class T, class C>
void write_gather_row_as(const inner_plan<C>& p, std::size_t n, T* out, std::ptrdiff_t os_, const T* in,
                         std::ptrdiff_t is_, C w_lead) {
  using kind = typename inner_plan<C>::kind;
  const std::ptrdiff_t os = Contig ? 1 : os_, is = Contig ? 1 : is_;
  if (p.identity) {
    if (Contig && w_lead == C(1)) std::memcpy(out, in, n * sizeof(T));
    else
      for (std::size_t j = 0; j < n; ++j) out[j * os] = from_compute<T>(to_compute(in[j * is]) * w_lead);
    return;
  }
  for (const auto& r : p.runs) {
    T* o = out + static_cast<std::ptrdiff_t>(r.out0) * os;
    const C* w = p.wt.data() + r.w0;
    switch (r.k) {
      case kind::zero: zero_row(o, os, r.len); break;
      case kind::uniform: {
        const T* i = in + r.src0 * is;
        const C wr = w_lead * r.w;
        if (Contig && wr == C(1)) std::memcpy(o, i, r.len * sizeof(T));
        else
          for (std::size_t j = 0; j < r.len; ++j) o[j * os] = from_compute<T>(to_compute(i[j * is]) * wr);
        break;
      }
      case kind::weighted: {
        const T* i = in + r.src0 * is;
        for (std::size_t j = 0; j < r.len; ++j) o[j * os] = from_compute<T>(to_compute(i[j * is]) * (w_lead * w[j]));
        break;
      }
      case kind::scatter: {
        const std::int64_t* s = p.src.data() + r.w0;
        for (std::size_t j = 0; j < r.len; ++j) o[j * os] = from_compute<T>(to_compute(in[s[j] * is]) * (w_lead * w[j]));
        break;
      }
    }
  }
}

template <class T, class C>
void write_gather_row(const inner_plan<C>& p, std::size_t n, T* out, std::ptrdiff_t os, const T* in, std::ptrdiff_t is,
                      C w_lead) {
  if (os == 1 && is == 1) write_gather_row_as<true>(p, n, out, os, in, is, w_lead);
  else write_gather_row_as<false>(p, n, out, os, in, is, w_lead);
}

/// acc[j] = fma(in_row[inner sources of j], w_lead * w_e, acc[j]) for each inner entry e of slice j, in
/// entry order: one term of the general path (acc contiguous, shape (n)).
template <class T, class C>
void accumulate_row(const inner_plan<C>& p, const axis_map& inner, std::size_t n, C* acc, const T* in,
                    std::ptrdiff_t is, C w_lead) {
  using kind = typename inner_plan<C>::kind;
  if (p.identity) {  // entry j of slice j, weight exactly 1, so w_lead * 1 == w_lead
    if (is == 1)
      for (std::size_t j = 0; j < n; ++j) acc[j] = std::fma(to_compute(in[j]), w_lead, acc[j]);
    else
      for (std::size_t j = 0; j < n; ++j) acc[j] = std::fma(to_compute(in[j * is]), w_lead, acc[j]);
    return;
  }
  if (p.gather) {
    for (const auto& r : p.runs) {
      C* a = acc + r.out0;
      const C* w = p.wt.data() + r.w0;
      switch (r.k) {
        case kind::zero: break;  // adds nothing
        case kind::uniform: {
          const T* i = in + r.src0 * is;
          const C wr = w_lead * r.w;
          for (std::size_t j = 0; j < r.len; ++j) a[j] = std::fma(to_compute(i[j * is]), wr, a[j]);
          break;
        }
        case kind::weighted: {
          const T* i = in + r.src0 * is;
          for (std::size_t j = 0; j < r.len; ++j) a[j] = std::fma(to_compute(i[j * is]), w_lead * w[j], a[j]);
          break;
        }
        case kind::scatter: {
          const std::int64_t* s = p.src.data() + r.w0;
          for (std::size_t j = 0; j < r.len; ++j) a[j] = std::fma(to_compute(in[s[j] * is]), w_lead * w[j], a[j]);
          break;
        }
      }
    }
    return;
  }
  const auto off = inner.offsets();
  const auto idx = inner.index();
  for (std::size_t j = 0; j < n; ++j) {
    C s = acc[j];
    for (std::size_t e = off[j]; e < off[j + 1]; ++e)
      // One explicit fused multiply-add per term: with a plain `s += x * w` GCC contracts to FMA only
      // where the ISA has it (-march=x86-64-v3 yes, -O0 / nvcc's host pass no), so bits would depend
      // on flags; the CUDA executor uses the same fma.
      s = std::fma(to_compute(in[idx[e] * is]), w_lead * p.entry_w[e], s);
    acc[j] = s;
  }
}

/// K terms of a contiguous identity-inner row in one pass: s = (FromZero ? 0 : acc[j]), then
/// s = fma(x_t[j], w_t, s) for t = 0..K-1 in order; Final writes from_compute(s) to out, else s to acc.
/// The same fma sequence per element as K separate accumulate_row passes, with one load and store of the
/// accumulator instead of K (a two-source interpolated row is a single pass over its two input rows).
template <std::size_t K, bool FromZero, bool Final, class T, class C>
void fma_pass(const std::array<const T*, 4>& x, const std::array<C, 4>& w, C* acc, T* out, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    C s = FromZero ? C(0) : acc[j];
    for (std::size_t t = 0; t < K; ++t) s = std::fma(to_compute(x[t][j]), w[t], s);
    if constexpr (Final) out[j] = from_compute<T>(s);
    else acc[j] = s;
  }
}

template <bool FromZero, bool Final, class T, class C>
void fma_pass_k(std::size_t k, const std::array<const T*, 4>& x, const std::array<C, 4>& w, C* acc, T* out,
                std::size_t n) {
  switch (k) {
    case 1: fma_pass<1, FromZero, Final>(x, w, acc, out, n); break;
    case 2: fma_pass<2, FromZero, Final>(x, w, acc, out, n); break;
    case 3: fma_pass<3, FromZero, Final>(x, w, acc, out, n); break;
    default: fma_pass<4, FromZero, Final>(x, w, acc, out, n); break;
  }
}

/// out_row = sum over terms of w_t * in_row_t for a contiguous identity inner axis (interpolated and
/// pooled rows, mean-padded rows): passes of up to four terms; acc (shape (n)) carries the sum between
/// passes when there are more than four.
template <class T, class C>
void sum_identity_rows(std::span<const lead_term<C>> terms, const T* in, T* out, C* acc, std::size_t n) {
  std::array<const T*, 4> x{};
  std::array<C, 4> w{};
  for (std::size_t t = 0; t < terms.size();) {
    const std::size_t k = std::min<std::size_t>(4, terms.size() - t);
    for (std::size_t i = 0; i < k; ++i) {
      x[i] = in + terms[t + i].in_off;
      w[i] = terms[t + i].w;
    }
    const bool first = t == 0, final = t + k == terms.size();
    if (first && final) fma_pass_k<true, true>(k, x, w, acc, out, n);
    else if (first) fma_pass_k<true, false>(k, x, w, acc, out, n);
    else if (final) fma_pass_k<false, true>(k, x, w, acc, out, n);
    else fma_pass_k<false, false>(k, x, w, acc, out, n);
    t += k;
  }
}

/// out_row = sum over terms (lexicographic) and inner entries of the weighted inputs, accumulated in
/// compute_t from zero and rounded once: the general path, for rows with several terms. acc: shape (n).
template <class T, class C>
void sum_row(const inner_plan<C>& p, const axis_map& inner, std::size_t n, std::span<const lead_term<C>> terms,
             const T* in, std::ptrdiff_t is, T* out, std::ptrdiff_t os, C* acc) {
  if (p.identity && is == 1 && os == 1) {
    sum_identity_rows(terms, in, out, acc, n);
    return;
  }
  C* a = acc;
  bool in_place = false;
  if constexpr (std::is_same_v<T, C>) {
    if (os == 1) {  // already compute_t and contiguous: accumulate in the output row
      a = out;
      in_place = true;
    }
  }
  std::fill_n(a, n, C(0));
  for (const auto& t : terms) accumulate_row(p, inner, n, a, in + t.in_off, is, t.w);
  if (in_place) return;
  for (std::size_t j = 0; j < n; ++j) out[j * os] = from_compute<T>(a[j]);
}

/// Host execution of a tensor_map, one output row (all axes but the last fixed) at a time: the row's
/// terms from the leading axes, then either the gather leaf (every axis a gather: one product per
/// element, w * x, no sum) or the general sum (fma from zero, in order, rounded once).
template <class T, std::size_t R>
void host_apply(const tensor_map<R>& m, tensor_view<const T, R> in, tensor_view<T, R> out) {
  using C = compute_t<T>;
  constexpr std::size_t last = R - 1;
  const axis_map& inner = m.axes[last];
  const std::size_t n = inner.out_extent();
  if (n == 0) return;
  const std::ptrdiff_t is = in.stride(last), os = out.stride(last);
  const inner_plan<C> plan = plan_inner<C>(inner);
  bool all_gather = plan.gather;
  for (std::size_t a = 0; a < last; ++a) all_gather = all_gather && m.axes[a].is_gather();
  const bool copy_rows = plan.identity && is == 1 && os == 1;  // a weight-1 gathered row is one memcpy
  std::vector<C> acc(all_gather ? 0 : n);
  std::vector<lead_term<C>> terms;
  std::size_t rows = 1;
  for (std::size_t a = 0; a < last; ++a) rows *= m.axes[a].out_extent();
  std::array<std::size_t, R> oi{};
  for (std::size_t flat = 0; flat < rows; ++flat) {
    // leading output multi-index of row `flat`, row-major
    std::size_t r = flat;
    std::ptrdiff_t out_off = 0;
    for (std::size_t a = last; a-- > 0;) {
      const std::size_t e = m.axes[a].out_extent();
      oi[a] = r % e;
      r /= e;
      out_off += static_cast<std::ptrdiff_t>(oi[a]) * out.stride(a);
    }
    T* out_row = out.data() + out_off;
    if (all_gather) {
      lead_term<C> t{};
      if (!lead_gather_term<C>(m, in, oi, t)) zero_row(out_row, os, n);
      else if (copy_rows && t.w == C(1)) std::memcpy(out_row, in.data() + t.in_off, n * sizeof(T));  // most rows
      else write_gather_row(plan, n, out_row, os, in.data() + t.in_off, is, t.w);
      continue;
    }
    lead_terms<C>(m, in, oi, terms);
    if (terms.empty()) zero_row(out_row, os, n);
    else sum_row<T, C>(plan, inner, n, terms, in.data(), is, out_row, os, acc.data());
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
