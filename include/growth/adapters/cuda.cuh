#pragma once
/// @file cuda.cuh
/// CUDA adapter: device tensors as growth::tensor_view<T, R, growth::cuda_space>, and the
/// executor<cuda_space> that applies index maps (index_map.hpp) on the GPU with BIT-IDENTICAL results to
/// the host executor. Include it only from .cu translation units compiled by nvcc with -std=c++20
/// (never together with Eigen); it is not part of the umbrella header.
///
/// Arithmetic order (the contract of index_map.hpp, mirrored here operation by operation):
///  - weights are rounded once from double to compute_t<T> on the host, exactly as host_apply does;
///  - the leading-axis weight is C(1) * w_0 * w_1 * ... in axis order, then times the last-axis weight;
///  - fast path (every axis a gather): out = T(x * w) with one rounded multiply; an identity last axis with
///    w == 1 and unit last-axis strides copies the bits (the host memcpy's);
///  - general path: s = 0; s = fma(x, w, s) per term in lexicographic entry order; out = T(s).
/// Every multiply is __fmul_rn / __dmul_rn and every accumulation __fmaf_rn / __fma_rn, so nvcc's own
/// contraction cannot change a bit. 16-bit conversions use dtype.hpp's GROWTH_HD bit-level code.
/// Kernels: chunk_kernel for every map whose last axis is the identity or a gather (per-chunk descriptors
/// built once in device_map, 16-byte vectors, hardware 16-bit cvt checked equal to dtype.hpp's); the older
/// gather_kernel / general_kernel only for a last axis with sums or sources beyond int32.
/// Caveat: NaN payloads are not promised identical (GPU arithmetic returns a canonical NaN, x86 the
/// quieted input); every non-NaN value, infinities and signed zeros included, is.
///
/// Streams: every operation is enqueued on growth::cuda::current_stream(), a thread-local stream
/// (default: the legacy default stream, 0). Set it for a scope with growth::cuda::stream_guard (e.g. to
/// libtorch's current stream). Results are ready after synchronising that stream; download() does so.
///
/// Errors: every CUDA runtime call is checked; a failure throws growth::error naming the call and the
/// cudaError name and string. Shapes, ranks and map indices are checked on the host before anything runs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/tensor.hpp"

#define GROWTH_ADAPTER_CUDA 1

namespace growth {

/// Memory-space tag of device memory (global memory of the current CUDA device).
struct cuda_space {
  static constexpr const char* name = "cuda";
};

namespace cuda {

/// Throws growth::error("CUDA call <call>", "cudaSuccess", "<name> (<string>)") unless e == cudaSuccess.
inline void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess)
    throw error(std::string("CUDA call ") + call, "cudaSuccess",
                std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace cuda
}  // namespace growth

/// Checks a CUDA runtime call; the message names the call as written.
#define GROWTH_CUDA_CHECK(...) ::growth::cuda::check((__VA_ARGS__), #__VA_ARGS__)

namespace growth {
namespace cuda {

namespace detail {
inline cudaStream_t& stream_slot() {
  thread_local cudaStream_t s = nullptr;
  return s;
}
}  // namespace detail

/// The stream this thread's growth operations are enqueued on (0, the legacy default stream, unless set).
inline cudaStream_t current_stream() { return detail::stream_slot(); }

/// Makes `s` the current stream of this thread for the guard's lifetime, then restores the previous one.
class stream_guard {
 public:
  explicit stream_guard(cudaStream_t s) : prev_(detail::stream_slot()) { detail::stream_slot() = s; }
  ~stream_guard() { detail::stream_slot() = prev_; }
  stream_guard(const stream_guard&) = delete;
  stream_guard& operator=(const stream_guard&) = delete;

 private:
  cudaStream_t prev_;
};

/// Number of usable CUDA devices; 0 (never an exception) when there is no driver or no GPU, so tests can
/// skip. `why` receives the runtime's message in that case.
inline int device_count(std::string* why = nullptr) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
    (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount returned 0";
  return n;
}

/// Row-major view of device memory.
template <class T, std::size_t R>
tensor_view<T, R, cuda_space> device_view(T* ptr, const std::array<std::size_t, R>& extents) {
  return tensor_view<T, R, cuda_space>(ptr, extents);
}
/// Strided view of device memory (strides in elements).
template <class T, std::size_t R>
tensor_view<T, R, cuda_space> device_view(T* ptr, const std::array<std::size_t, R>& extents,
                                          const std::array<std::ptrdiff_t, R>& strides) {
  return tensor_view<T, R, cuda_space>(ptr, extents, strides);
}

/// Owning device allocation of n elements (cudaMalloc / cudaFree). Move-only.
template <class T>
class buffer {
 public:
  buffer() = default;
  explicit buffer(std::size_t n) : n_(n) {
    if (n) GROWTH_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
  }
  buffer(buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  buffer& operator=(buffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  ~buffer() { reset(); }
  [[nodiscard]] T* data() const { return p_; }
  [[nodiscard]] std::size_t size() const { return n_; }

 private:
  void reset() noexcept {
    if (p_) (void)cudaFree(p_);  // destructors must not throw; cudaFree also orders after pending work
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

/// Owning row-major device tensor; models growth::tensor_like (memory space cuda_space).
template <class T, std::size_t R>
class device_tensor {
 public:
  using value_type = T;
  static constexpr std::size_t rank = R;
  device_tensor() = default;
  explicit device_tensor(const std::array<std::size_t, R>& extents) : extents_(extents), buf_(count(extents)) {}
  [[nodiscard]] tensor_view<T, R, cuda_space> view() { return {buf_.data(), extents_}; }
  [[nodiscard]] tensor_view<const T, R, cuda_space> view() const { return {buf_.data(), extents_}; }
  [[nodiscard]] T* data() const { return buf_.data(); }
  [[nodiscard]] const std::array<std::size_t, R>& extents() const { return extents_; }
  [[nodiscard]] std::size_t extent(std::size_t a) const { return extents_[a]; }
  [[nodiscard]] std::size_t size() const { return buf_.size(); }

 private:
  static std::size_t count(const std::array<std::size_t, R>& e) {
    std::size_t n = 1;
    for (auto v : e) n *= v;
    return n;
  }
  std::array<std::size_t, R> extents_{};
  buffer<T> buf_;
};

}  // namespace cuda

template <class T, std::size_t R>
struct tensor_traits<cuda::device_tensor<T, R>> {
  using value_type = T;
  using memory_space = cuda_space;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const cuda::device_tensor<T, R>& t, std::size_t a) { return t.extent(a); }
  static std::ptrdiff_t stride(const cuda::device_tensor<T, R>& t, std::size_t a) { return t.view().stride(a); }
  static T* data(const cuda::device_tensor<T, R>& t) { return t.data(); }
};
template <class T, std::size_t R>
struct tensor_traits<const cuda::device_tensor<T, R>> {
  using value_type = const T;
  using memory_space = cuda_space;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const cuda::device_tensor<T, R>& t, std::size_t a) { return t.extent(a); }
  static std::ptrdiff_t stride(const cuda::device_tensor<T, R>& t, std::size_t a) { return t.view().stride(a); }
  static const T* data(const cuda::device_tensor<T, R>& t) { return t.data(); }
};

namespace cuda {
namespace detail {

// Rounded arithmetic that nvcc may not contract or reorder.
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }

/// 16-bit <-> float conversions with the hardware cvt instructions (a few instructions instead of
/// dtype.hpp's bit-level code, which made 16-bit kernels compute-bound). IEEE round-to-nearest-even in
/// both, so every non-NaN value converts to the same bits; NaNs take dtype.hpp's path, so the result is
/// bit-identical to T(f) / float(v) for every input (tests/cuda checks all patterns).
template <class T>
__device__ __forceinline__ compute_t<T> dev_to_compute(T v) {
  if constexpr (std::is_same_v<T, float16>) {
    const float r = __half2float(__ushort_as_half(v.bits));
    return r != r ? static_cast<float>(v) : r;
  } else {
    return to_compute(v);
  }
}
template <class T>
__device__ __forceinline__ T dev_from_compute(compute_t<T> f) {
  if constexpr (std::is_same_v<T, float16>) {
    if (f != f) return float16(f);
    return float16::from_bits(__half_as_ushort(__float2half_rn(f)));
  } else if constexpr (std::is_same_v<T, bfloat16>) {
    if (f != f) return bfloat16(f);
    return bfloat16::from_bits(__bfloat16_as_ushort(__float2bfloat16_rn(f)));
  } else {
    return from_compute<T>(f);
  }
}

/// One axis's CSR arrays in device memory (weights already rounded to the compute type).
template <class C>
struct axis_args {
  const std::int64_t* off;
  const std::int64_t* idx;
  const C* w;
};

/// Everything a kernel needs, passed by value (a few hundred bytes).
template <class C, int R>
struct map_args {
  axis_args<C> ax[R];
  std::int64_t out_ext[R];
  std::int64_t in_str[R];
  std::int64_t out_str[R];
  std::int64_t lead_count;  // product of the leading axes' output extents
  std::int64_t n_out;       // output extent of the last axis
  bool inner_identity;
  bool unit_inner;          // both last-axis strides are 1 (the host's memcpy / contiguous-loop condition)
};

template <int R>
__device__ __forceinline__ void lead_index(std::int64_t row, const std::int64_t* out_ext, std::int64_t* oi) {
  for (int a = R - 2; a >= 0; --a) {
    oi[a] = row % out_ext[a];
    row /= out_ext[a];
  }
}

/// Fast path: every axis a gather (one or zero entries per row). Threads run along the last axis
/// (blockDim.x) and over leading rows (blockDim.y), grid-stride in both. With Vec, rows are known to be
/// 16-byte aligned and unit-stride with an identity last axis, and each thread moves 16 bytes.
template <class T, int R, bool Vec>
__global__ void gather_kernel(const T* __restrict__ in, T* __restrict__ out, map_args<compute_t<T>, R> p) {
  using C = compute_t<T>;
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  const std::int64_t n = p.n_out;
  const std::int64_t n_vec = Vec ? n / V : 0;
  const std::int64_t items = Vec ? n_vec + (n - n_vec * V) : n;
  const std::int64_t is = p.in_str[R - 1], os = p.out_str[R - 1];
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; row < p.lead_count;
       row += static_cast<std::int64_t>(gridDim.x) * blockDim.y) {
    std::int64_t oi[R > 1 ? R - 1 : 1];
    lead_index<R>(row, p.out_ext, oi);
    std::int64_t in_off = 0, out_off = 0;
    C w = C(1);
    bool zero = false;
    for (int a = 0; a < R - 1; ++a) {
      out_off += oi[a] * p.out_str[a];
      if (zero) continue;
      const std::int64_t b = p.ax[a].off[oi[a]];
      if (p.ax[a].off[oi[a] + 1] == b) {
        zero = true;
        continue;
      }
      in_off += p.ax[a].idx[b] * p.in_str[a];
      w = mul(w, p.ax[a].w[b]);
    }
    T* orow = out + out_off;
    const T* irow = in + in_off;
    for (std::int64_t it = static_cast<std::int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; it < items;
         it += static_cast<std::int64_t>(gridDim.y) * blockDim.x) {
      if constexpr (Vec) {
        if (it < n_vec) {
          uint4* o4 = reinterpret_cast<uint4*>(orow) + it;
          if (zero) {  // T(C(0)) is all-zero bits for every element type
            *o4 = make_uint4(0u, 0u, 0u, 0u);
          } else if (w == C(1)) {
            *o4 = reinterpret_cast<const uint4*>(irow)[it];
          } else {
            uint4 v = reinterpret_cast<const uint4*>(irow)[it];
            T e[V];
            memcpy(e, &v, 16);
#pragma unroll
            for (int k = 0; k < V; ++k) e[k] = from_compute<T>(mul(to_compute(e[k]), w));
            memcpy(&v, e, 16);
            *o4 = v;
          }
          continue;
        }
        const std::int64_t j = n_vec * V + (it - n_vec);
        orow[j] = zero ? T(C(0)) : w == C(1) ? irow[j] : from_compute<T>(mul(to_compute(irow[j]), w));
      } else {
        const std::int64_t j = it;
        if (zero) {
          orow[j * os] = T(C(0));
        } else if (p.inner_identity) {
          orow[j * os] = (p.unit_inner && w == C(1)) ? irow[j * is] : from_compute<T>(mul(to_compute(irow[j * is]), w));
        } else {
          const std::int64_t b = p.ax[R - 1].off[j];
          orow[j * os] = p.ax[R - 1].off[j + 1] == b
                             ? T(C(0))
                             : from_compute<T>(mul(to_compute(irow[p.ax[R - 1].idx[b] * is]), mul(w, p.ax[R - 1].w[b])));
        }
      }
    }
  }
}

/// General path: one thread per output element (last axis fastest, so stores coalesce). The sum runs over
/// the cartesian product of the leading rows' entries (lexicographic, last leading axis fastest), and
/// inside it over the last axis's entries, each term added with one fma, exactly like host_apply.
template <class T, int R>
__global__ void general_kernel(const T* __restrict__ in, T* __restrict__ out, map_args<compute_t<T>, R> p) {
  using C = compute_t<T>;
  const std::int64_t total = p.lead_count * p.n_out;
  const std::int64_t is = p.in_str[R - 1], os = p.out_str[R - 1];
  const axis_args<C> inner = p.ax[R - 1];
  for (std::int64_t flat = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; flat < total;
       flat += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = flat / p.n_out, j = flat % p.n_out;
    std::int64_t oi[R > 1 ? R - 1 : 1], cur[R > 1 ? R - 1 : 1], beg[R > 1 ? R - 1 : 1], end[R > 1 ? R - 1 : 1];
    lead_index<R>(row, p.out_ext, oi);
    std::int64_t out_off = 0;
    bool empty = false;
    for (int a = 0; a < R - 1; ++a) {
      out_off += oi[a] * p.out_str[a];
      beg[a] = cur[a] = p.ax[a].off[oi[a]];
      end[a] = p.ax[a].off[oi[a] + 1];
      empty = empty || beg[a] == end[a];
    }
    C s = C(0);
    if (!empty) {
      const std::int64_t e0 = inner.off[j], e1 = inner.off[j + 1];
      for (;;) {
        std::int64_t in_off = 0;
        C w = C(1);
        for (int a = 0; a < R - 1; ++a) {
          in_off += p.ax[a].idx[cur[a]] * p.in_str[a];
          w = mul(w, p.ax[a].w[cur[a]]);
        }
        for (std::int64_t e = e0; e < e1; ++e) s = fma_rn(to_compute(in[in_off + inner.idx[e] * is]), mul(w, inner.w[e]), s);
        int a = R - 1;
        while (a-- > 0) {
          if (++cur[a] < end[a]) break;
          cur[a] = beg[a];
        }
        if (a < 0) break;
      }
    }
    out[out_off + j * os] = from_compute<T>(s);
  }
}

/// The inner (last) axis of a gather map, prepared for chunk_kernel (device_map builds it): a per-column
/// table (source as int32, -1 = zero column; weight in C), padded with zero columns to a multiple of 8,
/// and per chunk of V = 16 / sizeof(T) columns a descriptor: the first source of a chunk whose V columns
/// read V consecutive sources with one weight (then the chunk moves as one 16-byte vector when aligned),
/// -1 for an all-zero chunk, -2 for a mixed one (per-column table). Tables exist for the V's of C.
template <class C>
struct chunk_args {
  const std::int32_t* col_src;
  const C* col_w;
  const std::int64_t* ch_src;
  const C* ch_w;
};

#ifndef GROWTH_CUDA_ROW_UNROLL
#define GROWTH_CUDA_ROW_UNROLL 1  // rows per trip of the gather loop (2 and 4 measured no better on an H100)
#endif

template <class T, int V>
__device__ __forceinline__ void load_chunk(const T* __restrict__ p, std::int64_t s, int nv, bool vec, T (&r)[V]) {
  if (vec) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    memcpy(r, &v, 16);
    return;
  }
#pragma unroll
  for (int k = 0; k < V; ++k)
    if (k < nv) r[k] = p[k * s];
}
template <class T, int V>
__device__ __forceinline__ void store_chunk(T* __restrict__ p, std::int64_t s, int nv, bool vec, const T (&r)[V]) {
  if (vec) {
    uint4 v;
    memcpy(&v, r, 16);
    *reinterpret_cast<uint4*>(p) = v;
    return;
  }
#pragma unroll
  for (int k = 0; k < V; ++k)
    if (k < nv) p[k * s] = r[k];
}

/// Fast kernel for maps whose last axis is the identity or a gather (every gather map, and weighted sums
/// over leading axes such as position interpolation). Each thread owns one chunk of V = 16 / sizeof(T)
/// output columns, loads its chunk descriptor once, and walks leading rows grid-stride (several per trip),
/// so the map costs no per-element index arithmetic and aligned contiguous chunks move as 16-byte vectors.
/// Arithmetic is host_apply's, element by element:
///   Sum = false (every axis a gather): out = T(x * (w_lead * w_col)); a contiguous chunk whose combined
///     weight is exactly 1 copies the bits (the host's memcpy of a weight-1 run); zero rows/columns give
///     T(0) (all-zero bits).
///   Sum = true (some leading row has several entries): s = 0; for each leading entry combination in
///     lexicographic order, s = fma(x, w_lead * w_col, s) (zero columns add nothing); out = T(s).
template <class T, int R, bool Sum>
__global__ void chunk_kernel(const T* __restrict__ in, T* __restrict__ out, map_args<compute_t<T>, R> p,
                             chunk_args<compute_t<T>> q, std::int64_t n_chunks, bool in_vec, bool out_vec) {
  using C = compute_t<T>;
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  constexpr int U = Sum ? 1 : GROWTH_CUDA_ROW_UNROLL;
  const std::int64_t is = p.in_str[R - 1], os = p.out_str[R - 1];
  const std::int64_t row_step = static_cast<std::int64_t>(gridDim.x) * blockDim.y;
  for (std::int64_t c = static_cast<std::int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; c < n_chunks;
       c += static_cast<std::int64_t>(gridDim.y) * blockDim.x) {
    const std::int64_t j0 = c * V;
    const int nv = static_cast<int>(p.n_out - j0 < V ? p.n_out - j0 : V);
    std::int64_t src0;
    C cw;
    if (p.inner_identity) {
      src0 = j0;
      cw = C(1);
    } else {
      src0 = q.ch_src[c];
      cw = q.ch_w[c];
    }
    std::int32_t cs[V];
    C cwk[V];
    if (src0 == -2) {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        cs[k] = q.col_src[j0 + k];  // padded: no bound check needed, pads are zero columns
        cwk[k] = q.col_w[j0 + k];
      }
    }
    const bool vin = in_vec && src0 >= 0 && src0 % V == 0 && nv == V;
    const bool vout = out_vec && nv == V;
    for (std::int64_t row0 = static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; row0 < p.lead_count;
         row0 += U * row_step) {
      T r[U][V];
      T* orow[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const std::int64_t row = row0 + u * row_step;
        orow[u] = nullptr;
        if (row >= p.lead_count) continue;
        std::int64_t oi[R > 1 ? R - 1 : 1];
        lead_index<R>(row, p.out_ext, oi);
        std::int64_t out_off = 0;
        for (int a = 0; a < R - 1; ++a) out_off += oi[a] * p.out_str[a];
        orow[u] = out + out_off + j0 * os;
        if constexpr (!Sum) {
          std::int64_t in_off = 0;
          C w = C(1);
          bool zero = src0 == -1;
          for (int a = 0; a < R - 1 && !zero; ++a) {
            const std::int64_t b = p.ax[a].off[oi[a]];
            if (p.ax[a].off[oi[a] + 1] == b) {
              zero = true;
              break;
            }
            in_off += p.ax[a].idx[b] * p.in_str[a];
            w = mul(w, p.ax[a].w[b]);
          }
          const T* irow = in + in_off;
          if (zero) {
#pragma unroll
            for (int k = 0; k < V; ++k) r[u][k] = T(C(0));
          } else if (src0 >= 0) {
            load_chunk<T, V>(irow + src0 * is, is, nv, vin, r[u]);
            const C we = mul(w, cw);
            if (we != C(1)) {
#pragma unroll
              for (int k = 0; k < V; ++k) r[u][k] = dev_from_compute<T>(mul(dev_to_compute<T>(r[u][k]), we));
            }
          } else {
#pragma unroll
            for (int k = 0; k < V; ++k)
              r[u][k] = cs[k] < 0 ? T(C(0)) : dev_from_compute<T>(mul(dev_to_compute<T>(irow[cs[k] * is]), mul(w, cwk[k])));
          }
        } else {
          C s[V];
#pragma unroll
          for (int k = 0; k < V; ++k) s[k] = C(0);
          std::int64_t cur[R > 1 ? R - 1 : 1], beg[R > 1 ? R - 1 : 1], end[R > 1 ? R - 1 : 1];
          bool empty = src0 == -1;
          for (int a = 0; a < R - 1; ++a) {
            beg[a] = cur[a] = p.ax[a].off[oi[a]];
            end[a] = p.ax[a].off[oi[a] + 1];
            empty = empty || beg[a] == end[a];
          }
          if (!empty) {
            for (;;) {
              std::int64_t in_off = 0;
              C w = C(1);
              for (int a = 0; a < R - 1; ++a) {
                in_off += p.ax[a].idx[cur[a]] * p.in_str[a];
                w = mul(w, p.ax[a].w[cur[a]]);
              }
              const T* irow = in + in_off;
              if (src0 >= 0) {
                T x[V];
                load_chunk<T, V>(irow + src0 * is, is, nv, vin, x);
                const C we = mul(w, cw);
#pragma unroll
                for (int k = 0; k < V; ++k) s[k] = fma_rn(dev_to_compute<T>(x[k]), we, s[k]);
              } else {
#pragma unroll
                for (int k = 0; k < V; ++k)
                  if (cs[k] >= 0) s[k] = fma_rn(dev_to_compute<T>(irow[cs[k] * is]), mul(w, cwk[k]), s[k]);
              }
              int a = R - 1;
              while (a-- > 0) {
                if (++cur[a] < end[a]) break;
                cur[a] = beg[a];
              }
              if (a < 0) break;
            }
          }
#pragma unroll
          for (int k = 0; k < V; ++k) r[u][k] = dev_from_compute<T>(s[k]);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (orow[u]) store_chunk<T, V>(orow[u], os, nv, vout, r[u]);
    }
  }
}

/// c = a . b, one thread per element of c, each a sequential fma loop over k from zero (host matmul's order).
template <class T>
__global__ void matmul_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, std::int64_t n,
                              std::int64_t K, std::int64_t pcols, std::int64_t as0, std::int64_t as1, std::int64_t bs0,
                              std::int64_t bs1, std::int64_t cs0, std::int64_t cs1) {
  using C = compute_t<T>;
  const std::int64_t total = n * pcols;
  for (std::int64_t flat = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; flat < total;
       flat += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = flat / pcols, j = flat % pcols;
    C acc = C(0);
    for (std::int64_t k = 0; k < K; ++k) acc = fma_rn(to_compute(a[i * as0 + k * as1]), to_compute(b[k * bs0 + j * bs1]), acc);
    c[i * cs0 + j * cs1] = from_compute<T>(acc);
  }
}

inline unsigned grid_cap(std::int64_t blocks, std::int64_t cap) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(blocks, cap)));
}

}  // namespace detail

/// A tensor_map's CSR arrays uploaded once to the device (weights rounded to C = compute_t of the element
/// type: float for float/float16/bfloat16, double for double). growth::executor<cuda_space>::apply builds a
/// temporary one per call; keep one yourself to apply the same map many times without re-uploading.
/// Memory is stream-ordered (cudaMallocAsync / cudaFreeAsync) on the stream current at construction;
/// applying it on another stream requires ordering that stream before destruction.
template <std::size_t R, class C = float>
class device_map {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>, "device_map: C is float or double");

 public:
  explicit device_map(const tensor_map<R>& m) : stream_(current_stream()) {
    for (std::size_t a = 0; a < R; ++a) m.axes[a].check("device_map axis " + std::to_string(a));
    record_axes(m);
    const block_layout at = plan_layout(m);
    std::vector<unsigned char> host(std::max<std::size_t>(at.bytes, 8));
    write_axes(m, at, host.data());
    if (has_chunks_) write_chunk_tables(m.axes[R - 1], at, host.data());
    upload(host);
    bind(at);
  }
  device_map(const device_map&) = delete;
  device_map& operator=(const device_map&) = delete;
  ~device_map() {
    if (dev_) (void)cudaFreeAsync(dev_, stream_);
  }

  [[nodiscard]] std::array<std::size_t, R> in_extents() const { return in_ext_; }
  [[nodiscard]] std::array<std::size_t, R> out_extents() const { return out_ext_; }
  [[nodiscard]] bool is_identity(std::size_t a) const { return identity_[a]; }
  [[nodiscard]] bool is_gather(std::size_t a) const { return gather_[a]; }
  [[nodiscard]] const detail::axis_args<C>& axis(std::size_t a) const { return axes_[a]; }
  /// Whether the last axis has chunk tables (a non-identity gather with int32 sources).
  [[nodiscard]] bool has_chunks() const { return has_chunks_; }
  /// The last axis's chunk tables for chunks of `width` columns (4 or 8 for float, 2 for double).
  [[nodiscard]] const detail::chunk_args<C>& chunks(std::size_t width) const {
    return chunks_[std::is_same_v<C, float> && width == 8 ? 1 : 0];
  }

 private:
  /// Chunk widths V (columns per 16-byte vector) that tables are built for: 4 and 8 for float (float and
  /// 16-bit elements), 2 for double (0 = none).
  static constexpr std::array<std::size_t, 2> widths = std::is_same_v<C, float> ? std::array<std::size_t, 2>{4, 8}
                                                                                 : std::array<std::size_t, 2>{2, 0};
  /// Byte offsets of every array in the one host (and device) block.
  struct block_layout {
    std::array<std::size_t, R> off_at{}, idx_at{}, w_at{};  // per axis: offsets int64, index int64, weights C
    std::size_t col_src_at = 0, col_w_at = 0;              // chunk tables: per column src int32, w C
    std::array<std::size_t, 2> ch_src_at{}, ch_w_at{};     // per chunk width: src0 int64, w C
    std::size_t n_pad = 0;                                 // columns padded to a multiple of 8
    std::size_t bytes = 0;
  };

  /// Flags and extents of each axis; whether the last axis gets chunk tables (a non-identity gather whose
  /// sources fit int32).
  void record_axes(const tensor_map<R>& m) {
    for (std::size_t a = 0; a < R; ++a) {
      const axis_map& am = m.axes[a];
      identity_[a] = am.is_identity();
      gather_[a] = am.is_gather();
      in_ext_[a] = am.in_extent();
      out_ext_[a] = am.out_extent();
    }
    has_chunks_ = gather_[R - 1] && !identity_[R - 1] &&
                  m.axes[R - 1].in_extent() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
  }

  /// One block: per axis [offsets int64][index int64][weights C], each 8-byte aligned; then, with chunk
  /// tables (see detail::chunk_args), per column [src int32][w C] and per chunk width V of C
  /// [src0 int64][w C], each 16-byte aligned.
  [[nodiscard]] block_layout plan_layout(const tensor_map<R>& m) const {
    block_layout at;
    std::size_t& bytes = at.bytes;
    for (std::size_t a = 0; a < R; ++a) {
      const axis_map& am = m.axes[a];
      at.off_at[a] = bytes;
      bytes += am.offsets().size() * 8;
      at.idx_at[a] = bytes;
      bytes += am.index().size() * 8;
      at.w_at[a] = bytes;
      bytes += (am.weight().size() * sizeof(C) + 7) / 8 * 8;
    }
    if (!has_chunks_) return at;
    const std::size_t n_out = m.axes[R - 1].out_extent();
    at.n_pad = (n_out + 7) / 8 * 8;
    auto align16 = [](std::size_t b) { return (b + 15) / 16 * 16; };
    bytes = align16(bytes);
    at.col_src_at = bytes;
    bytes = align16(bytes + at.n_pad * 4);
    at.col_w_at = bytes;
    bytes = align16(bytes + at.n_pad * sizeof(C));
    for (std::size_t v = 0; v < 2; ++v) {
      if (!widths[v]) continue;
      const std::size_t nc = (n_out + widths[v] - 1) / widths[v];
      at.ch_src_at[v] = bytes;
      bytes = align16(bytes + nc * 8);
      at.ch_w_at[v] = bytes;
      bytes = align16(bytes + nc * sizeof(C));
    }
    return at;
  }

  /// Every axis's CSR arrays into the host block, weights rounded to C (the host executor's rounding).
  static void write_axes(const tensor_map<R>& m, const block_layout& at, unsigned char* host) {
    for (std::size_t a = 0; a < R; ++a) {
      const axis_map& am = m.axes[a];
      for (std::size_t i = 0; i < am.offsets().size(); ++i) {
        const auto v = static_cast<std::int64_t>(am.offsets()[i]);
        std::memcpy(host + at.off_at[a] + i * 8, &v, 8);
      }
      if (!am.index().empty()) std::memcpy(host + at.idx_at[a], am.index().data(), am.index().size() * 8);
      for (std::size_t e = 0; e < am.weight().size(); ++e) {
        const C w = static_cast<C>(am.weight()[e]);
        std::memcpy(host + at.w_at[a] + e * sizeof(C), &w, sizeof(C));
      }
    }
  }

  /// The chunk descriptor of columns [j0, j0 + V) (see detail::chunk_args): their first source when they
  /// read V consecutive sources with one weight, -1 when all are zero columns, -2 (mixed) otherwise; a
  /// partial tail chunk stays mixed.
  static std::pair<std::int64_t, C> chunk_descriptor(const std::vector<std::int32_t>& cs, const std::vector<C>& cw,
                                                     std::size_t j0, std::size_t V, std::size_t n_out) {
    if (j0 + V > n_out) return {-2, C(0)};
    bool all_zero = true, run = cs[j0] >= 0;
    for (std::size_t k = 0; k < V; ++k) {
      all_zero = all_zero && cs[j0 + k] < 0;
      run = run && cs[j0 + k] == cs[j0] + static_cast<std::int32_t>(k) && cw[j0 + k] == cw[j0];
    }
    if (all_zero) return {-1, C(0)};
    if (run) return {cs[j0], cw[j0]};
    return {-2, C(0)};
  }

  /// The last axis's per-column table (padded with zero columns) and per-chunk descriptors.
  static void write_chunk_tables(const axis_map& inner, const block_layout& at, unsigned char* host) {
    const std::size_t n_out = inner.out_extent();
    const auto off = inner.offsets();
    const auto idx = inner.index();
    const auto wt = inner.weight();
    std::vector<std::int32_t> cs(at.n_pad, -1);
    std::vector<C> cw(at.n_pad, C(0));
    for (std::size_t j = 0; j < n_out; ++j)
      if (off[j + 1] != off[j]) {
        cs[j] = static_cast<std::int32_t>(idx[off[j]]);
        cw[j] = static_cast<C>(wt[off[j]]);  // the host executor's rounding
      }
    std::memcpy(host + at.col_src_at, cs.data(), at.n_pad * 4);
    std::memcpy(host + at.col_w_at, cw.data(), at.n_pad * sizeof(C));
    for (std::size_t v = 0; v < 2; ++v) {
      const std::size_t V = widths[v];
      if (!V) continue;
      const std::size_t nc = (n_out + V - 1) / V;
      for (std::size_t c = 0; c < nc; ++c) {
        const auto [src0, w0] = chunk_descriptor(cs, cw, c * V, V, n_out);
        std::memcpy(host + at.ch_src_at[v] + c * 8, &src0, 8);
        std::memcpy(host + at.ch_w_at[v] + c * sizeof(C), &w0, sizeof(C));
      }
    }
  }

  /// The host block to one stream-ordered device allocation.
  void upload(const std::vector<unsigned char>& host) {
    GROWTH_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&dev_), host.size(), stream_));
    // From pageable memory the copy is staged before the call returns, so `host` may go away after it.
    const cudaError_t e = cudaMemcpyAsync(dev_, host.data(), host.size(), cudaMemcpyHostToDevice, stream_);
    if (e != cudaSuccess) {
      (void)cudaFreeAsync(dev_, stream_);
      dev_ = nullptr;
      check(e, "cudaMemcpyAsync(device_map arrays)");
    }
  }

  /// Device pointers into the uploaded block.
  void bind(const block_layout& at) {
    for (std::size_t a = 0; a < R; ++a) {
      axes_[a].off = reinterpret_cast<const std::int64_t*>(dev_ + at.off_at[a]);
      axes_[a].idx = reinterpret_cast<const std::int64_t*>(dev_ + at.idx_at[a]);
      axes_[a].w = reinterpret_cast<const C*>(dev_ + at.w_at[a]);
    }
    if (!has_chunks_) return;
    for (std::size_t v = 0; v < 2; ++v) {
      chunks_[v].col_src = reinterpret_cast<const std::int32_t*>(dev_ + at.col_src_at);
      chunks_[v].col_w = reinterpret_cast<const C*>(dev_ + at.col_w_at);
      chunks_[v].ch_src = reinterpret_cast<const std::int64_t*>(dev_ + at.ch_src_at[v]);
      chunks_[v].ch_w = reinterpret_cast<const C*>(dev_ + at.ch_w_at[v]);
    }
  }

  bool has_chunks_ = false;
  std::array<detail::chunk_args<C>, 2> chunks_{};
  cudaStream_t stream_;
  unsigned char* dev_ = nullptr;
  std::array<detail::axis_args<C>, R> axes_{};
  std::array<bool, R> identity_{}, gather_{};
  std::array<std::size_t, R> in_ext_{}, out_ext_{};
};

namespace detail {

/// Launches the fast or the general kernel for a prepared map on the current stream.
template <class T, std::size_t R>
void launch(const device_map<R, compute_t<T>>& dm, tensor_view<const T, R, cuda_space> in,
            tensor_view<T, R, cuda_space> out) {
  using C = compute_t<T>;
  constexpr int RI = static_cast<int>(R);
  map_args<C, RI> p{};
  p.lead_count = 1;
  bool all_gather = true;
  for (std::size_t a = 0; a < R; ++a) {
    p.ax[a] = dm.axis(a);
    p.out_ext[a] = static_cast<std::int64_t>(out.extent(a));
    p.in_str[a] = in.stride(a);
    p.out_str[a] = out.stride(a);
    if (a + 1 < R) p.lead_count *= p.out_ext[a];
    all_gather = all_gather && dm.is_gather(a);
  }
  p.n_out = static_cast<std::int64_t>(out.extent(R - 1));
  p.inner_identity = dm.is_identity(R - 1);
  p.unit_inner = in.stride(R - 1) == 1 && out.stride(R - 1) == 1;
  if (p.lead_count == 0 || p.n_out == 0) return;
  const cudaStream_t s = current_stream();
  if (p.inner_identity || dm.has_chunks()) {
    // chunk_kernel: gather (all axes gathers) or leading sums (Sum) with an identity / gather last axis.
    constexpr std::int64_t V = 16 / static_cast<std::int64_t>(sizeof(T));
    auto rows_aligned = [](const auto& v) {
      bool ok = v.stride(R - 1) == 1 && reinterpret_cast<std::uintptr_t>(v.data()) % 16 == 0;
      for (std::size_t a = 0; a + 1 < R && ok; ++a) ok = (v.stride(a) * static_cast<std::ptrdiff_t>(sizeof(T))) % 16 == 0;
      return ok;
    };
    const bool in_vec = rows_aligned(in), out_vec = rows_aligned(out);
    const std::int64_t n_chunks = (p.n_out + V - 1) / V;
    const std::int64_t bx = std::min<std::int64_t>(256, (n_chunks + 31) / 32 * 32);
    const std::int64_t by = 256 / bx;
    int dev = 0, sms = 132;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      sms = 132;
    }
    const std::int64_t gy = std::min<std::int64_t>((n_chunks + bx - 1) / bx, 65535);
    const std::int64_t target = static_cast<std::int64_t>(sms) * 16;  // ~2 waves of 8 resident 256-thread blocks
    const std::int64_t gx = std::max<std::int64_t>(1, std::min<std::int64_t>((p.lead_count + by - 1) / by,
                                                                             std::max<std::int64_t>(1, (target + gy - 1) / gy)));
    const dim3 block(static_cast<unsigned>(bx), static_cast<unsigned>(by));
    const dim3 grid(grid_cap(gx, 1 << 20), static_cast<unsigned>(gy));
    const chunk_args<C> q = p.inner_identity ? chunk_args<C>{} : dm.chunks(static_cast<std::size_t>(V));
    if (all_gather) chunk_kernel<T, RI, false><<<grid, block, 0, s>>>(in.data(), out.data(), p, q, n_chunks, in_vec, out_vec);
    else chunk_kernel<T, RI, true><<<grid, block, 0, s>>>(in.data(), out.data(), p, q, n_chunks, in_vec, out_vec);
    check(cudaGetLastError(), "chunk_kernel launch");
    return;
  }
  if (all_gather) {
    // 16-byte path: identity last axis, unit strides, and every row start 16-byte aligned (base pointers
    // aligned and every leading stride a multiple of 16 bytes).
    bool vec = p.inner_identity && p.unit_inner &&
               (reinterpret_cast<std::uintptr_t>(in.data()) % 16 == 0) &&
               (reinterpret_cast<std::uintptr_t>(out.data()) % 16 == 0);
    for (std::size_t a = 0; a + 1 < R && vec; ++a)
      vec = (in.stride(a) * static_cast<std::ptrdiff_t>(sizeof(T))) % 16 == 0 &&
            (out.stride(a) * static_cast<std::ptrdiff_t>(sizeof(T))) % 16 == 0;
    constexpr std::int64_t V = 16 / static_cast<std::int64_t>(sizeof(T));
    const std::int64_t items = vec ? p.n_out / V + p.n_out % V : p.n_out;
    const std::int64_t bx = std::min<std::int64_t>(256, (items + 31) / 32 * 32);
    const std::int64_t by = 256 / bx;
    const dim3 block(static_cast<unsigned>(bx), static_cast<unsigned>(by));
    const dim3 grid(grid_cap((p.lead_count + by - 1) / by, 1 << 20), grid_cap((items + bx - 1) / bx, 65535));
    if (vec) gather_kernel<T, RI, true><<<grid, block, 0, s>>>(in.data(), out.data(), p);
    else gather_kernel<T, RI, false><<<grid, block, 0, s>>>(in.data(), out.data(), p);
    check(cudaGetLastError(), "gather_kernel launch");
  } else {
    const std::int64_t total = p.lead_count * p.n_out;
    general_kernel<T, RI><<<grid_cap((total + 255) / 256, 1 << 20), 256, 0, s>>>(in.data(), out.data(), p);
    check(cudaGetLastError(), "general_kernel launch");
  }
}

}  // namespace detail
}  // namespace cuda

/// The CUDA executor (see the file comment for its arithmetic and stream rules).
template <>
struct executor<cuda_space> {
  /// out = m(in) on the device: the map's arrays are uploaded for this call (stream-ordered) and freed after.
  template <class T, std::size_t R>
  static void apply(const tensor_map<R>& m, tensor_view<const T, R, cuda_space> in, tensor_view<T, R, cuda_space> out) {
    cuda::device_map<R, compute_t<T>> dm(m);
    cuda::detail::launch<T, R>(dm, in, out);
  }
  /// out = m(in) with a map already on the device (no upload): what the benchmark times.
  template <class T, std::size_t R>
  static void apply(const cuda::device_map<R, compute_t<T>>& dm, tensor_view<const T, R, cuda_space> in,
                    tensor_view<T, R, cuda_space> out, std::string_view name = "tensor") {
    growth::detail::check_extents<R>(name, "input shape", dm.in_extents(), in.extents());
    growth::detail::check_extents<R>(name, "output shape", dm.out_extents(), out.extents());
    cuda::detail::launch<T, R>(dm, in, out);
  }
  /// c = a . b; each element a sequential fma loop over k in compute_t, as executor<host_space>::matmul.
  template <class T>
  static void matmul(tensor_view<const T, 2, cuda_space> a, tensor_view<const T, 2, cuda_space> b,
                     tensor_view<T, 2, cuda_space> c) {
    if (a.extent(1) != b.extent(0))
      throw error("matmul inner extents", "b.extent(0) == " + std::to_string(a.extent(1)), std::to_string(b.extent(0)));
    if (c.extent(0) != a.extent(0) || c.extent(1) != b.extent(1))
      throw error("matmul output shape", growth::detail::shape_string(std::array<std::size_t, 2>{a.extent(0), b.extent(1)}),
                  growth::detail::shape_string(c.extents()));
    const auto n = static_cast<std::int64_t>(a.extent(0)), p = static_cast<std::int64_t>(b.extent(1));
    if (n * p == 0) return;
    cuda::detail::matmul_kernel<T><<<cuda::detail::grid_cap((n * p + 255) / 256, 1 << 20), 256, 0, cuda::current_stream()>>>(
        a.data(), b.data(), c.data(), n, static_cast<std::int64_t>(a.extent(1)), p, a.stride(0), a.stride(1), b.stride(0),
        b.stride(1), c.stride(0), c.stride(1));
    cuda::check(cudaGetLastError(), "matmul_kernel launch");
  }
  /// Copies a host tensor into device view `out` (same extents, any strides on either side). Returns once
  /// `src` may be reused (pageable copies are staged); the device side completes in stream order.
  template <class T, std::size_t R>
  static void upload(tensor_view<const T, R> src, tensor_view<T, R, cuda_space> out) {
    growth::detail::check_extents<R>("upload", "destination shape", src.extents(), out.extents());
    if (src.size() == 0) return;
    const cudaStream_t s = cuda::current_stream();
    if (src.is_contiguous() && out.is_contiguous()) {
      GROWTH_CUDA_CHECK(cudaMemcpyAsync(out.data(), src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice, s));
      return;
    }
    // Pack on the host (host identity map), copy, then scatter on the device (device identity map).
    tensor<T, R> packed(src.extents());
    tensor_map<R> id;
    for (std::size_t a = 0; a < R; ++a) id.axes[a] = axis_map::identity(src.extent(a));
    growth::detail::host_apply<T, R>(id, src, packed.view());
    T* tmp = nullptr;
    GROWTH_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&tmp), src.size() * sizeof(T), s));
    const cudaError_t e = cudaMemcpyAsync(tmp, packed.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice, s);
    if (e == cudaSuccess) {
      try {
        apply<T, R>(id, tensor_view<const T, R, cuda_space>(tmp, src.extents()), out);
      } catch (...) {
        (void)cudaFreeAsync(tmp, s);
        throw;
      }
    }
    (void)cudaFreeAsync(tmp, s);
    cuda::check(e, "cudaMemcpyAsync(upload)");
  }
  /// Copies device view `src` into host view `out` (any strides) and synchronises the current stream.
  template <class T, std::size_t R>
  static void download(tensor_view<const T, R, cuda_space> src, tensor_view<T, R> out) {
    growth::detail::check_extents<R>("download", "destination shape", src.extents(), out.extents());
    if (src.size() == 0) return;
    const cudaStream_t s = cuda::current_stream();
    if (src.is_contiguous() && out.is_contiguous()) {
      GROWTH_CUDA_CHECK(cudaMemcpyAsync(out.data(), src.data(), src.size() * sizeof(T), cudaMemcpyDeviceToHost, s));
      GROWTH_CUDA_CHECK(cudaStreamSynchronize(s));
      return;
    }
    tensor_map<R> id;
    for (std::size_t a = 0; a < R; ++a) id.axes[a] = axis_map::identity(src.extent(a));
    cuda::device_tensor<T, R> packed(src.extents());
    apply<T, R>(id, src, packed.view());
    tensor<T, R> host(src.extents());
    GROWTH_CUDA_CHECK(cudaMemcpyAsync(host.data(), packed.data(), src.size() * sizeof(T), cudaMemcpyDeviceToHost, s));
    GROWTH_CUDA_CHECK(cudaStreamSynchronize(s));
    growth::detail::host_apply<T, R>(id, tensor_view<const T, R>(host.view()), out);
  }
};

namespace cuda {

/// Host tensor -> device view (see executor<cuda_space>::upload).
template <class T, std::size_t R>
void upload(tensor_view<const T, R> src, tensor_view<T, R, cuda_space> out) {
  executor<cuda_space>::upload<T, R>(src, out);
}
/// Device view -> host view, synchronising the current stream.
template <class T, std::size_t R>
void download(tensor_view<const T, R, cuda_space> src, tensor_view<T, R> out) {
  executor<cuda_space>::download<T, R>(src, out);
}
/// Writes zeros into every element of a device view, through the index-map mechanism (an all-empty map
/// on axis 0 reads nothing).
template <class T, std::size_t R>
void zero(tensor_view<T, R, cuda_space> out) {
  const auto m = tensor_map<R>::along(out.extents(), 0, axis_map::zeros(out.extent(0), out.extent(0)));
  executor<cuda_space>::apply<T, R>(m, tensor_view<const T, R, cuda_space>(out), out);
}

}  // namespace cuda
}  // namespace growth
