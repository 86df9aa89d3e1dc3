#pragma once
/// @file kernels.hpp
/// Small building blocks of the reference BERT (Eigen): row-major matrix aliases, a deterministic
/// OpenMP row splitter, LayerNorm, erf-GELU and counter-based dropout, each with its backward beside it.
/// Every reduction runs in a fixed order that does not depend on the thread count, except inside the
/// matrix products (gemm below: its slabs or chunks, and so Eigen's blocking of each, depend on the thread
/// count, never on which thread takes which, so bits are reproducible per thread count).
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <type_traits>
#include <vector>

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

/// exp(x) as Eigen's float exp computes it (the Cephes polynomial of pexp_float: x = m ln 2 + r, exp(r) by
/// a degree-5 polynomial), with 2^m put in the exponent bits directly (pldexp_fast) instead of by the
/// generic pldexp, which also reaches the subnormal range. The same bits as Eigen's packet exp for every
/// float x in [-87.33, 88.37] (all of them checked once; tests/reference/test_kernels.cpp checks every
/// 997th bit pattern); below, results under 1.2e-38, and 0 from x < -87.69 on (Eigen returns subnormals
/// down to 2.9e-39: a masked attention key, exp(lowest - max), now gives 0, as in torch). One path for every element, a row's tail included
/// (Eigen's own exp takes std::exp there). 0.37 instead of 0.52 ns per element on one core of the
/// development VM. double: Eigen's exp.
template <class T>
struct exp_normal_op {
  template <class Packet>
  static Packet packet_exp(const Packet& x0) {
    namespace ei = Eigen::internal;
    const Packet one = ei::pset1<Packet>(1.0f), half = ei::pset1<Packet>(0.5f);
    const Packet x = ei::pmax(ei::pmin(x0, ei::pset1<Packet>(88.723f)), ei::pset1<Packet>(-88.723f));
    const Packet m = ei::pfloor(ei::pmadd(x, ei::pset1<Packet>(1.44269504088896341f), half));
    Packet r = ei::pmadd(m, ei::pset1<Packet>(-0.693359375f), x);
    r = ei::pmadd(m, ei::pset1<Packet>(2.12194440e-4f), r);
    const Packet r2 = ei::pmul(r, r), r3 = ei::pmul(r2, r);
    Packet y = ei::pmadd(ei::pset1<Packet>(1.9875691500E-4f), r, ei::pset1<Packet>(1.3981999507E-3f));
    Packet y1 = ei::pmadd(ei::pset1<Packet>(4.1665795894E-2f), r, ei::pset1<Packet>(1.6666665459E-1f));
    const Packet y2 = ei::padd(r, one);
    y = ei::pmadd(y, r, ei::pset1<Packet>(8.3334519073E-3f));
    y1 = ei::pmadd(y1, r, ei::pset1<Packet>(5.0000001201E-1f));
    y = ei::pmadd(y, r3, y1);
    y = ei::pmadd(y, r2, y2);
    return ei::pmax(ei::pldexp_fast_impl<Packet>::run(y, m), x0);
  }
  static constexpr bool vector = std::is_same_v<T, float> && Eigen::internal::packet_traits<float>::Vectorizable;
  T operator()(const T& x) const {
    if constexpr (vector) {
      using P = typename Eigen::internal::packet_traits<float>::type;
      return Eigen::internal::pfirst(packet_exp(Eigen::internal::pset1<P>(x)));
    } else {
      return std::exp(x);
    }
  }
  template <class Packet>
  Packet packetOp(const Packet& x) const {
    if constexpr (vector)
      return packet_exp(x);
    else
      return Eigen::internal::pexp(x);
  }
};

/// The threads a call can split its work over: 1 inside a parallel region (parallel_for runs a nested
/// loop serially, so a product called per (sequence, head) by the attention must not cut itself into
/// slabs that would then run one after the other, each packing the shared operand again).
inline int num_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

/// Runs f(i) for i in [0, n), on all threads when `parallel` and more than one thread is available. A
/// one-thread OpenMP region still allocates a team in libgomp on every entry, so the serial case never
/// enters one (the training step allocates nothing after warm-up; tests/reference/test_no_alloc.cpp).
template <class F>
void parallel_for(std::ptrdiff_t n, [[maybe_unused]] bool parallel, F&& f) {  // unused without OpenMP
#ifdef _OPENMP
  if (parallel && n > 1 && num_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

/// Runs f(t, team, barrier) once on each thread t of a team of about `threads` (team of them: OpenMP may
/// give fewer), called outside a parallel region; barrier() waits for the whole team.
template <class F>
void run_team([[maybe_unused]] int threads, F&& f) {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const auto barrier = [] {
#pragma omp barrier
    };
    f(omp_get_thread_num(), omp_get_num_threads(), barrier);
  }
#else
  f(0, 1, [] {});
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
  const std::size_t chunks = std::min(nt, n);
  parallel_for(static_cast<std::ptrdiff_t>(chunks), true, [&](std::ptrdiff_t c) {
    const auto uc = static_cast<std::size_t>(c);
    f(n * uc / chunks, n * (uc + 1) / chunks);
  });
}

/// What a per-thread scratch buffer (thread_buffer) holds: each use its own, since two may be alive at once.
/// attention_dropped / attention_grad: one (sequence, head) block's dropped probabilities and their
/// gradient, used while the block is in cache and never kept (the backward redraws the first from the
/// probabilities and the kept mask), so the attention writes no [B*A*Sq*Sk] buffer beyond the probabilities.
enum class scratch { packed_lhs, packed_rhs, packed_shared, column_sums, activation_row, attention_dropped, attention_grad };

/// This thread's scratch buffer for `use`, at least n elements, aligned: grown (only) when a larger one
/// is asked for, so a training step allocates nothing after warm-up. A caller that hands the pointer to
/// other threads must take it before the parallel region (inside it, each worker has its own buffer).
template <class T, scratch use>
T* thread_buffer(std::size_t n) {
  thread_local std::vector<T, Eigen::aligned_allocator<T>> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

/// Eigen's blocking sizes for one product, with packing buffers we own: Eigen's own product allocates
/// them on every call above 128 KB. The destructor hands nothing to Eigen to free.
template <class T>
class borrowed_blocking
    : public Eigen::internal::gemm_blocking_space<Eigen::ColMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false> {
  using base = Eigen::internal::gemm_blocking_space<Eigen::ColMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false>;

 public:
  borrowed_blocking(Eigen::Index m, Eigen::Index n, Eigen::Index k) : base(m, n, k, 1, true) {}
  borrowed_blocking(const borrowed_blocking&) = delete;
  borrowed_blocking& operator=(const borrowed_blocking&) = delete;
  ~borrowed_blocking() {
    this->m_blockA = nullptr;
    this->m_blockB = nullptr;
  }
  /// Points the blocking at this thread's buffers, grown (only) when a larger product comes.
  void borrow(std::size_t lhs_extra = 0) {
    // This thread's packing buffers, the largest product's so far: a [mc*kc (+ lhs_extra*kc)] packed lhs
    // block, a [kc*nc] packed rhs panel (mc, kc, nc: Eigen's blocking of the product).
    this->m_blockA = thread_buffer<T, scratch::packed_lhs>(static_cast<std::size_t>(this->m_mc * this->m_kc) +
                                                           lhs_extra * static_cast<std::size_t>(this->m_kc));
    this->m_blockB = thread_buffer<T, scratch::packed_rhs>(static_cast<std::size_t>(this->m_kc * this->m_nc));
  }
};

/// Column-major view of a row-major operand: a stored row-major (r x c) with row stride ld is the
/// column-major (c x r) matrix with column stride ld, i.e. its transpose.
template <bool Transposed>
inline constexpr int colmajor_order = Transposed ? Eigen::ColMajor : Eigen::RowMajor;

/// One column block of a product whose blocks share op(A): C_p (m x n) = alpha op(A) op(B_p) (+ bias on
/// every row), C_p row-major with row stride ldc, B_p stored as gemm's op(B) with stride ldb.
template <class T>
struct gemm_part {
  const T* b;
  Eigen::Index ldb;
  Eigen::Index n;
  T* c;
  Eigen::Index ldc;
  const T* bias;  // [n], or nullptr
};

/// Packed-lhs offsets are rounded up to this many elements: the GEBP kernel loads its lhs panels aligned.
inline constexpr Eigen::Index packed_align = 16;

inline constexpr Eigen::Index round_up(Eigen::Index x, Eigen::Index to) { return (x + to - 1) / to * to; }

/// n = sum n_p: the width of the parts' C_p side by side.
template <class T>
Eigen::Index parts_width(std::span<const gemm_part<T>> parts) {
  Eigen::Index n = 0;
  for (const auto& pt : parts) n += pt.n;
  return n;
}

/// Which side of C (m x n) the multi-thread drivers cut: its rows (op(A)'s rows, the same rows of every part)
/// when m >= n or there are several parts, else its columns (one part's op(B) columns).
template <class T>
bool cut_rows(Eigen::Index m, std::span<const gemm_part<T>> parts) {
  return m >= parts_width(parts) || parts.size() > 1;
}

/// One product C_p = alpha op(A) op(B_p) (+ C_p, or + bias) over parts sharing op(A), seen as Eigen's
/// column-major problem C' = L R with C' = [C_1 ... C_P]^T (n x m), L = the stacked op(B_p)^T (n x k), R =
/// op(A)^T (k x m), and Eigen's packing routines and GEBP micro-kernel over it. What the sequential and the
/// shared-packing drivers below have in common: the mappers, the blocking and the walk over the parts.
template <class T, bool TA, bool TB>
struct gemm_problem {
  using Index = Eigen::Index;
  static constexpr int lhs_order = colmajor_order<!TB>, rhs_order = colmajor_order<!TA>;
  using traits = Eigen::internal::gebp_traits<T, T>;
  using lhs_mapper = Eigen::internal::const_blas_data_mapper<T, Index, lhs_order>;
  using rhs_mapper = Eigen::internal::const_blas_data_mapper<T, Index, rhs_order>;
  using res_mapper = Eigen::internal::blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  using pack_lhs_t = Eigen::internal::gemm_pack_lhs<T, Index, lhs_mapper, traits::mr, traits::LhsProgress,
                                                    typename traits::LhsPacket4Packing, lhs_order>;
  using pack_rhs_t = Eigen::internal::gemm_pack_rhs<T, Index, rhs_mapper, traits::nr, rhs_order>;
  using gebp_t = Eigen::internal::gebp_kernel<T, T, Index, res_mapper, traits::mr, traits::nr, false, false>;

  rhs_mapper rhs;
  std::span<const gemm_part<T>> parts;
  T alpha;

  gemm_problem(const T* a, Index lda, std::span<const gemm_part<T>> parts_, T alpha_) : rhs(a, lda), parts(parts_), alpha(alpha_) {}

  /// Part pt's block of C_p^T, rows [i0, i0 + rows) x cols [j0, j0 + cols) (its C_p rows j0.., columns
  /// i0..), set to 0 or to the bias: done right before the kernel's first pass over the block, while it is
  /// in cache (the kernel only adds into C; clearing all of C first costs a pass over memory).
  void init(const gemm_part<T>& pt, Index i0, Index rows, Index j0, Index cols) const {
    for (Index j = j0; j < j0 + cols; ++j) {
      T* cr = pt.c + j * pt.ldc + i0;
      if (pt.bias)
        std::copy(pt.bias + i0, pt.bias + i0 + rows, cr);
      else
        std::fill(cr, cr + rows, T(0));
    }
  }
  /// Calls f(part, i0, rows, off) for the pieces of L's rows [i2, i2 + amc): part pt's rows [i0, i0 + rows)
  /// of its op(B_p)^T, packed at off * akc in the block (each piece's start rounded up to packed_align).
  /// Returns the block's packed height (the sum of the pieces' rounded heights).
  template <class F>
  Index for_each_piece(Index i2, Index amc, F&& f) const {
    Index first = 0, off = 0;  // first: the stacked row where the part starts
    for (const auto& pt : parts) {
      const Index lo = std::max(i2, first), hi = std::min(i2 + amc, first + pt.n);
      if (lo < hi) {
        f(pt, lo - first, hi - lo, off);
        off += round_up(hi - lo, packed_align);
      }
      first += pt.n;
    }
    return off;
  }
  /// Packs part pt's L rows [i0, i0 + rows), k-panel [k2, k2 + akc), to dst.
  void pack_l(T* dst, const gemm_part<T>& pt, Index i0, Index rows, Index k2, Index akc) const {
    pack_lhs_t()(dst, lhs_mapper(pt.b, pt.ldb).getSubMapper(i0, k2), akc, rows);
  }
  void pack_r(T* dst, Index k2, Index j2, Index akc, Index anc) const { pack_rhs_t()(dst, rhs.getSubMapper(k2, j2), akc, anc); }
  /// C'_p rows [i0, i0 + rows) x cols [j2, j2 + anc) (+)= alpha packed L block * packed R panel.
  void kernel(const gemm_part<T>& pt, Index i0, Index rows, Index j2, Index anc, const T* la, const T* rb, Index akc) const {
    const res_mapper res(pt.c, pt.ldc, 1);
    gebp_t()(res.getSubMapper(i0, j2), la, rb, rows, akc, anc, alpha);
  }
};

/// The whole product on the calling thread: Eigen's sequential general_matrix_matrix_product::run over the
/// parts' columns as one (blocks of mc x kc of L packed once per k panel, a block cut where a part ends;
/// kc x nc panels of R, packed once per block for all the parts in it), with three differences:
/// - the packing buffers are this thread's, reused across calls (no allocation after warm-up);
/// - a product that does not accumulate initialises each mc x nc block of C (to 0, or to the bias) just
///   before the kernel's first pass over it (gemm_problem::init);
/// - parts sharing op(A) (the Q, K and V projections of one input) pack each panel of R once for all of
///   them instead of once per product. With one part this is Eigen's loop; with several, each element of
///   C_p gets the same kernel calls over the same packed data as in a product of its own whenever Eigen's
///   blocking of the stacked product keeps the whole k in one panel and all parts in one block (kc = k and
///   mc >= sum n_p: the QKV projections here), so the same bits.
template <class T, bool TA, bool TB>
void gemm_slab(Eigen::Index m, Eigen::Index k, const T* a, Eigen::Index lda, std::span<const gemm_part<T>> parts, T alpha,
               bool accumulate) {
  using Eigen::Index;
  const gemm_problem<T, TA, TB> g(a, lda, parts, alpha);
  const Index n = parts_width(parts);
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (const auto& pt : parts) g.init(pt, 0, pt.n, 0, m);
    return;
  }
  borrowed_blocking<T> blocking(n, m, k);
  blocking.borrow(static_cast<std::size_t>(parts.size()) * packed_align);
  const Index kc = blocking.kc(), mc = std::min(n, blocking.mc()), nc = std::min(m, blocking.nc());
  T* block_a = blocking.blockA();  // [mc * kc (+ alignment per part)] packed block of L
  T* block_b = blocking.blockB();  // [kc * nc] packed panel of R
  const bool pack_rhs_once = mc != n && kc == k && nc == m;
  for (Index i2 = 0; i2 < n; i2 += mc) {
    const Index amc = std::min(i2 + mc, n) - i2;
    for (Index k2 = 0; k2 < k; k2 += kc) {
      const Index akc = std::min(k2 + kc, k) - k2;
      g.for_each_piece(i2, amc, [&](const gemm_part<T>& pt, Index i0, Index rows, Index off) { g.pack_l(block_a + off * akc, pt, i0, rows, k2, akc); });
      for (Index j2 = 0; j2 < m; j2 += nc) {
        const Index anc = std::min(j2 + nc, m) - j2;
        if (!pack_rhs_once || i2 == 0) g.pack_r(block_b, k2, j2, akc, anc);
        g.for_each_piece(i2, amc, [&](const gemm_part<T>& pt, Index i0, Index rows, Index off) {
          if (k2 == 0 && !accumulate) g.init(pt, i0, rows, j2, anc);
          g.kernel(pt, i0, rows, j2, anc, block_a + off * akc, block_b, akc);
        });
      }
    }
  }
}

/// The same product on `threads` threads (called outside a parallel region). One operand is packed once,
/// by all threads together, into one shared buffer; the other is cut into chunks that the threads take as
/// they come, each chunk packing its own piece of it:
/// - m >= n (the shared operand is L, the stacked weights side): chunks of R's columns (C's rows), w wide;
///   per chunk and k panel, R's piece is packed and multiplied with every packed block of L;
/// - n > m, one part: the shared operand is R, chunks of L's rows (C's columns), h high.
/// Two fixes over one slab per thread, each packing all of the shared operand (on two threads here 18%
/// more packing than one thread's, and the thread that finishes first waiting at the end): the shared
/// operand is packed once in all, and a thread that runs faster (a VM's cores do not run at one speed)
/// takes more chunks. Every element gets the kernel calls of its chunk whichever thread takes it, so the
/// result depends on the thread count only (through the chunk size), never on the schedule.
template <class T, bool TA, bool TB>
void gemm_shared(Eigen::Index m, Eigen::Index k, const T* a, Eigen::Index lda, std::span<const gemm_part<T>> parts, T alpha,
                 bool accumulate, int threads) {
  using Eigen::Index;
  using problem = gemm_problem<T, TA, TB>;
  const problem g(a, lda, parts, alpha);
  const Index n = parts_width(parts);
  if (m <= 0 || n <= 0 || k <= 0) {
    gemm_slab<T, TA, TB>(m, k, a, lda, parts, alpha, accumulate);
    return;
  }
  constexpr Index mr = problem::traits::mr, nr = problem::traits::nr;
  // 8 chunks per thread: the step's forward products (2048 x 768 x 256, 2048 x 1024 x 256) on two threads
  // ran at 0.99, 1.01, 1.05 and 1.13-1.17x the one-slab-per-thread driver with 1, 2, 4 and 8 (the gain is
  // the balance, not the packing saved); benchmarks/README.md, "Shared packing".
  constexpr Index chunks_per_thread = 8;
  const bool share_l = cut_rows(m, parts);  // C's rows cut: R's columns in chunks, L shared
  // Blocking: Eigen's for the whole product (kc and, for the shared operand's blocks, mc or nc).
  borrowed_blocking<T> blocking(n, m, k);
  const Index kc = blocking.kc();
  const Index split = share_l ? m : n;  // the side cut into chunks
  const Index step = share_l ? nr : mr;
  const Index cap = share_l ? std::min(m, blocking.nc()) : std::min(n, blocking.mc());
  // About chunks_per_thread chunks per thread, none narrower than min_chunk (unless that would leave a
  // thread without one), none wider than Eigen's block (nc, or mc: what its cache blocking would keep).
  const Index min_chunk = std::min<Index>(share_l ? 64 : 96, round_up((split + threads - 1) / threads, step));
  const Index want = round_up((split + threads * chunks_per_thread - 1) / (threads * chunks_per_thread), step);
  const Index chunk_size = std::max(step, std::min(std::max(want, min_chunk), cap / step * step));
  const Index chunks = (split + chunk_size - 1) / chunk_size;
  const Index mc = share_l ? std::min(n, blocking.mc()) : chunk_size;
  const Index nc = share_l ? chunk_size : std::min(m, blocking.nc());
  // The shared operand, packed block by block in loop order, every block at an offset rounded to packed_align.
  std::size_t shared_size = 0;
  if (share_l) {
    for (Index i2 = 0; i2 < n; i2 += mc) shared_size += static_cast<std::size_t>(g.for_each_piece(i2, std::min(i2 + mc, n) - i2, [](auto&&...) {}) * k);
  } else {
    for (Index k2 = 0; k2 < k; k2 += kc)
      for (Index j2 = 0; j2 < m; j2 += nc)
        shared_size += static_cast<std::size_t>(round_up((std::min(k2 + kc, k) - k2) * (std::min(j2 + nc, m) - j2), packed_align));
  }
  T* shared = thread_buffer<T, scratch::packed_shared>(shared_size);  // the calling thread's, taken before the region
  std::atomic<Index> next{0};
  run_team(threads, [&](int t, int team, auto&& barrier) {
    // Each thread packs its share of every block: rows (L) or columns (R) cut at multiples of mr or nr,
    // where Eigen's packed layout puts a row or column at its index times the panel depth.
    const auto cut = [&](Index len, Index unit, int i) { return std::min(len, round_up(len * i / team, unit)); };
    if (share_l) {
      std::size_t off = 0;
      for (Index i2 = 0; i2 < n; i2 += mc) {
        const Index amc = std::min(i2 + mc, n) - i2;
        const Index height = g.for_each_piece(i2, amc, [](auto&&...) {});
        for (Index k2 = 0; k2 < k; k2 += kc) {
          const Index akc = std::min(k2 + kc, k) - k2;
          g.for_each_piece(i2, amc, [&](const gemm_part<T>& pt, Index i0, Index rows, Index poff) {
            const Index lo = cut(rows, mr, t), hi = cut(rows, mr, t + 1);
            if (lo < hi) g.pack_l(shared + off + (poff + lo) * akc, pt, i0 + lo, hi - lo, k2, akc);
          });
          off += static_cast<std::size_t>(height * akc);
        }
      }
    } else {
      std::size_t off = 0;
      for (Index k2 = 0; k2 < k; k2 += kc) {
        const Index akc = std::min(k2 + kc, k) - k2;
        for (Index j2 = 0; j2 < m; j2 += nc) {
          const Index anc = std::min(j2 + nc, m) - j2;
          const Index lo = cut(anc, nr, t), hi = cut(anc, nr, t + 1);
          if (lo < hi) g.pack_r(shared + off + lo * akc, k2, j2 + lo, akc, hi - lo);
          off += static_cast<std::size_t>(round_up(akc * anc, packed_align));
        }
      }
    }
    barrier();
    if (share_l) {
      T* rb = thread_buffer<T, scratch::packed_rhs>(static_cast<std::size_t>(kc * chunk_size));  // [kc x w] R's piece
      for (Index c = next++; c < chunks; c = next++) {
        const Index j0 = c * chunk_size, w = std::min(j0 + chunk_size, m) - j0;
        for (Index k2 = 0; k2 < k; k2 += kc) {
          const Index akc = std::min(k2 + kc, k) - k2;
          g.pack_r(rb, k2, j0, akc, w);
          // Block (i2, k2) of L lies at base(i2) + height(i2) * k2, base(i2) the earlier blocks' height * k.
          std::size_t base = 0;
          for (Index i2 = 0; i2 < n; i2 += mc) {
            const Index amc = std::min(i2 + mc, n) - i2;
            const Index height = g.for_each_piece(i2, amc, [](auto&&...) {});
            const T* la = shared + base + static_cast<std::size_t>(height * k2);
            g.for_each_piece(i2, amc, [&](const gemm_part<T>& pt, Index i0, Index rows, Index poff) {
              if (k2 == 0 && !accumulate) g.init(pt, i0, rows, j0, w);
              g.kernel(pt, i0, rows, j0, w, la + poff * akc, rb, akc);
            });
            base += static_cast<std::size_t>(height * k);
          }
        }
      }
    } else {
      const gemm_part<T>& pt = parts[0];
      T* la = thread_buffer<T, scratch::packed_lhs>(static_cast<std::size_t>(kc * chunk_size));  // [h x kc] L's piece
      for (Index c = next++; c < chunks; c = next++) {
        const Index i0 = c * chunk_size, h = std::min(i0 + chunk_size, n) - i0;
        std::size_t off = 0;
        for (Index k2 = 0; k2 < k; k2 += kc) {
          const Index akc = std::min(k2 + kc, k) - k2;
          g.pack_l(la, pt, i0, h, k2, akc);
          for (Index j2 = 0; j2 < m; j2 += nc) {
            const Index anc = std::min(j2 + nc, m) - j2;
            if (k2 == 0 && !accumulate) g.init(pt, i0, h, j2, anc);
            g.kernel(pt, i0, h, j2, anc, la, shared + off, akc);
            off += static_cast<std::size_t>(round_up(akc * anc, packed_align));
          }
        }
      }
    }
  });
}

/// The same product on `threads` threads as one slab of C per thread (C's rows, or with one part the
/// longer side of C), each slab a gemm_slab that packs all of the operand the slabs share. Better than
/// gemm_shared when k is C's longest side (the weight gradients dW = dy^T x, k the tokens): the shared
/// operand is then the large one (k x the short side), which gemm_shared would read back from the shared
/// buffer once per chunk, where a slab packs each of its blocks into its own core's cache.
template <class T, bool TA, bool TB>
void gemm_slabs(Eigen::Index m, Eigen::Index k, const T* a, Eigen::Index lda, std::span<const gemm_part<T>> parts, T alpha,
                bool accumulate, int threads) {
  using Eigen::Index;
  constexpr std::size_t max_parts = 4;
  eigen_assert(parts.size() <= max_parts);
  const Index n = parts_width(parts);
  const bool split_m = cut_rows(m, parts);
  const auto slabs = static_cast<std::ptrdiff_t>(std::min<Index>(threads, (split_m ? m : n) / 16));
  parallel_for(slabs, true, [&](std::ptrdiff_t s) {
    if (split_m) {  // op(A) rows lo..hi: stored rows of A, or stored columns of A^T; the same rows of every C_p
      const Index lo = m * s / slabs, hi = m * (s + 1) / slabs;
      std::array<gemm_part<T>, max_parts> sub;
      for (std::size_t p = 0; p < parts.size(); ++p) {
        sub[p] = parts[p];
        sub[p].c += lo * parts[p].ldc;
      }
      gemm_slab<T, TA, TB>(hi - lo, k, a + (TA ? lo : lo * lda), lda, std::span<const gemm_part<T>>(sub.data(), parts.size()), alpha,
                           accumulate);
    } else {  // op(B) columns lo..hi: stored rows of B^T, or stored columns of B
      const gemm_part<T>& pt = parts[0];
      const Index lo = n * s / slabs, hi = n * (s + 1) / slabs;
      const gemm_part<T> part{pt.b + (TB ? lo * pt.ldb : lo), pt.ldb, hi - lo, pt.c + lo, pt.ldc, pt.bias ? pt.bias + lo : nullptr};
      gemm_slab<T, TA, TB>(m, k, a, lda, std::span(&part, 1), alpha, accumulate);
    }
  });
}

/// C_p = alpha op(A) op(B_p) (+ C_p, or + bias) on every thread when the product is worth it (gemm_shared,
/// or gemm_slabs when k is C's longest side), else on the calling thread (gemm_slab).
template <class T, bool TA, bool TB>
void gemm_run(Eigen::Index m, Eigen::Index k, const T* a, Eigen::Index lda, std::span<const gemm_part<T>> parts, T alpha,
              bool accumulate) {
  const Eigen::Index n = parts_width(parts);
  const int threads = num_threads();
  if (threads <= 1 || static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < 1 << 18 || std::max(m, n) < 32)
    gemm_slab<T, TA, TB>(m, k, a, lda, parts, alpha, accumulate);
  else if (k > std::max(m, n))
    gemm_slabs<T, TA, TB>(m, k, a, lda, parts, alpha, accumulate, threads);
  else
    gemm_shared<T, TA, TB>(m, k, a, lda, parts, alpha, accumulate, threads);
}

/// C = alpha op(A) op(B) (+ bias on every row, when given), or C += alpha op(A) op(B) when `accumulate`;
/// no allocation after the first call of each size on each thread.
template <class T, bool TA = false, bool TB = false>
void gemm(mref<T> c, cref<T> a, cref<T> b, bool accumulate = false, T alpha = T(1), const T* bias = nullptr) {
  const Eigen::Index m = c.rows(), n = c.cols(), k = TA ? a.rows() : a.cols();
  eigen_assert((TA ? a.cols() : a.rows()) == m && (TB ? b.rows() : b.cols()) == n && (TB ? b.cols() : b.rows()) == k);
  eigen_assert(!(accumulate && bias));
  const gemm_part<T> part{b.data(), b.outerStride(), n, c.data(), c.outerStride(), bias};
  gemm_run<T, TA, TB>(m, k, a.data(), a.outerStride(), std::span(&part, 1), alpha, accumulate);
}

/// y_p = x W_p^T + b_p for the weights W_p (n_p x k, row-major, as PyTorch stores them) sharing one input
/// x (m x k): the Q, K and V projections. One product over the stacked weights (gemm_problem's parts), so
/// each panel of x is packed once instead of once per weight (x is up to 2 MB here).
template <class T, std::size_t P>
void linear_shared_input(cref<T> x, const std::array<const T*, P>& w, const std::array<const T*, P>& bias,
                         std::array<mref<T>, P> y) {  // views, by value: their data is written
  const Eigen::Index m = x.rows(), k = x.cols();
  std::array<gemm_part<T>, P> parts;
  for (std::size_t p = 0; p < P; ++p) {
    eigen_assert(y[p].rows() == m);
    parts[p] = {w[p], k, y[p].cols(), y[p].data(), y[p].outerStride(), bias[p]};
  }
  gemm_run<T, false, true>(m, k, x.data(), x.outerStride(), std::span<const gemm_part<T>>(parts), T(1), false);
}

/// Column sums in an order fixed by the row count alone, whatever the thread count, gathered inside a pass
/// over whole rows (read as they are stored): the rows in blocks of 32, summed in order within a block into
/// that block's partial (any thread may take any block), then finish() adds the blocks in block order.
/// `sums` independent sums share the buffer (LayerNorm's backward gathers two). The buffer is the calling
/// thread's (thread_buffer): one instance per thread at a time (a second one may move the buffer).
template <class T>
class column_sum_blocks {
 public:
  static constexpr Eigen::Index block = 32;
  column_sum_blocks(Eigen::Index rows, Eigen::Index n, Eigen::Index sums = 1)
      : n_(n), sums_(sums), blocks_((rows + block - 1) / block) {
    // [blocks x sums x n] partials, taken here on the calling thread (the workers write into them)
    part_ = thread_buffer<T, scratch::column_sums>(static_cast<std::size_t>(blocks_ * sums_ * n_));
  }
  [[nodiscard]] Eigen::Index blocks() const { return blocks_; }
  /// Block b's partial of sum `which`, cleared.
  [[nodiscard]] T* start(Eigen::Index b, Eigen::Index which) const {
    T* p = part_ + (b * sums_ + which) * n_;
    std::fill(p, p + n_, T(0));
    return p;
  }
  /// dst[j] += the blocks' partials of sum `which`, in block order (columns split over the threads).
  void finish(Eigen::Index which, T* dst) const {
    parallel_rows(static_cast<std::size_t>(n_), static_cast<std::size_t>(blocks_), [&](std::size_t j0, std::size_t j1) {
      for (auto j = static_cast<Eigen::Index>(j0); j < static_cast<Eigen::Index>(j1); ++j) {
        T total = T(0);
        for (Eigen::Index b = 0; b < blocks_; ++b) total += part_[(b * sums_ + which) * n_ + j];
        dst[j] += total;
      }
    });
  }

 private:
  Eigen::Index n_, sums_, blocks_;
  T* part_ = nullptr;
};

/// db[0, n) += column sums over rows [0, rows) in column_sum_blocks' order, row(r, partial) adding row r
/// into its block's partial (and doing whatever else the pass does with that row while it is in cache).
template <class T, class Row>
void gather_column_sums(Eigen::Index rows, Eigen::Index n, T* db, Row&& row) {
  if (rows == 0 || n == 0) return;
  const column_sum_blocks<T> sums(rows, n);
  parallel_rows(static_cast<std::size_t>(sums.blocks()), static_cast<std::size_t>(sums.block * n), [&](std::size_t b0, std::size_t b1) {
    for (auto b = static_cast<Eigen::Index>(b0); b < static_cast<Eigen::Index>(b1); ++b) {
      T* pb = sums.start(b, 0);
      for (Eigen::Index r = b * sums.block, r1 = std::min(rows, r + sums.block); r < r1; ++r) row(r, pb);
    }
  });
  sums.finish(0, db);
}

/// db += the column sums of dy (a linear layer's bias gradient), or of dy * x elementwise when x is given
/// (row stride ldx), in column_sum_blocks' order. The threads take blocks of whole rows (splitting columns
/// instead had each thread stream every row, the prefetchers pulling in the other thread's half too: no
/// gain on 2 threads).
template <class T>
void add_column_sums(vmap<T> db, cref<T> dy, const T* x = nullptr, Eigen::Index ldx = 0) {
  const Eigen::Index n = dy.cols();
  gather_column_sums<T>(dy.rows(), n, db.data(), [&](Eigen::Index r, T* pb) {
    const T* dr = dy.row(r).data();
    if (x) {
      const T* xr = x + r * ldx;
      for (Eigen::Index j = 0; j < n; ++j) pb[j] += dr[j] * xr[j];
    } else {
      for (Eigen::Index j = 0; j < n; ++j) pb[j] += dr[j];
    }
  });
}

/// LayerNorm of row r (see layernorm_forward): the one definition the plain and the fused passes share, so
/// they give the same bits.
template <class T>
inline void layernorm_row(cref<T> x, Eigen::Index r, const T* gamma, const T* beta, T eps, mref<T> xhat, T* rstd,
                          mref<T> y) {
  const auto h = x.cols();
  cvmap<T> g(gamma, h), b(beta, h);
  const T mean = x.row(r).mean();
  const T var = (x.row(r).array() - mean).square().mean();
  const T rs = T(1) / std::sqrt(var + eps);
  xhat.row(r) = (x.row(r).array() - mean) * rs;
  y.row(r) = xhat.row(r).array() * g.array() + b.array();
  rstd[r] = rs;
}

/// LayerNorm over each row: y = (x - mean) * rstd * gamma + beta, rstd = 1/sqrt(var + eps), var biased
/// (as torch.nn.LayerNorm). Keeps xhat and rstd for the backward. y may alias x.
template <class T>
void layernorm_forward(cref<T> x, const T* gamma, const T* beta, T eps, mref<T> xhat, T* rstd, mref<T> y) {
  const auto n = static_cast<std::size_t>(x.rows());
  const auto h = x.cols();
  parallel_rows(n, static_cast<std::size_t>(h) * 8, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r)
      layernorm_row<T>(x, r, gamma, beta, eps, xhat, rstd, y);
  });
}

template <class T>
struct dropout;  // below

/// LayerNorm backward: dgamma += sum_rows dy*xhat, dbeta += sum_rows dy, and
/// dx = rstd * (dy*gamma - mean(dy*gamma) - xhat * mean(dy*gamma*xhat)). dx may alias dy. With a branch,
/// also branch = dropout'(dx) (dx * mask * scale, or a copy of dx when dropout is off): the gradient of a
/// residual branch's dropout input. One pass over blocks of rows: the two column sums (in
/// column_sum_blocks' order, the same as add_column_sums) are gathered from each row before dx replaces it.
template <class T>
void layernorm_backward_rows(cref<T> dy, cref<T> xhat, const T* rstd, const T* gamma, T* dgamma, T* dbeta, mref<T> dx,
                             const dropout<T>* drop, const std::uint8_t* mask, T* branch, Eigen::Index ldb) {
  const Eigen::Index rows = dy.rows(), h = dy.cols();
  if (rows == 0) return;
  cvmap<T> g(gamma, h);
  const T inv_h = T(1) / static_cast<T>(h);
  const column_sum_blocks<T> sums(rows, h, 2);  // 0: dgamma, 1: dbeta
  parallel_rows(static_cast<std::size_t>(sums.blocks()), static_cast<std::size_t>(sums.block * h * 10), [&](std::size_t b0, std::size_t b1) {
    for (auto b = static_cast<Eigen::Index>(b0); b < static_cast<Eigen::Index>(b1); ++b) {
      T* pg = sums.start(b, 0);
      T* pb = sums.start(b, 1);
      for (Eigen::Index r = b * sums.block, r1 = std::min(rows, r + sums.block); r < r1; ++r) {
        const T* dr = dy.row(r).data();
        const T* xr = xhat.row(r).data();
        for (Eigen::Index j = 0; j < h; ++j) {
          pg[j] += dr[j] * xr[j];
          pb[j] += dr[j];
        }
        const T a = (dy.row(r).array() * g.array()).sum() * inv_h;
        const T c = (dy.row(r).array() * g.array() * xhat.row(r).array()).sum() * inv_h;
        dx.row(r) = rstd[r] * (dy.row(r).array() * g.array() - a - xhat.row(r).array() * c);
        if (branch)  // no mask when dropout is off
          drop->apply_mask(dx.row(r).data(), drop->active ? mask + static_cast<std::size_t>(r * h) : nullptr,
                           static_cast<std::size_t>(h), branch + r * ldb);
      }
    }
  });
  sums.finish(0, dgamma);
  sums.finish(1, dbeta);
}

template <class T>
void layernorm_backward(cref<T> dy, cref<T> xhat, const T* rstd, const T* gamma, T* dgamma, T* dbeta, mref<T> dx) {
  layernorm_backward_rows<T>(dy, xhat, rstd, gamma, dgamma, dbeta, dx, nullptr, nullptr, nullptr, 0);
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

/// Counter-based dropout: element i of site s under seed k is kept iff 32 hashed bits of (k, s, i)
/// (growth::mask_bits) are >= p * 2^32. Nothing depends on thread count or evaluation order.
template <class T>
struct dropout {
  mask_bits bits;
  std::uint32_t threshold = 0;
  T scale = T(1);
  bool active = false;
  /// Added to every element index: a share of a batch (data-parallel training) passes the index its first
  /// element has in the whole batch, so it draws the whole batch's masks for its rows (0: the batch itself).
  std::uint64_t offset = 0;

  dropout() = default;
  dropout(double p, std::uint64_t seed, std::uint64_t site, bool train)
      : bits(mix64(seed ^ mix64(site + 0x5851f42d4c957f2dULL))),
        threshold(static_cast<std::uint32_t>(std::min(p * 4294967296.0, 4294967295.0))),
        scale(static_cast<T>(1.0 / (1.0 - p))),
        active(train && p > 0) {}
  [[nodiscard]] bool keep(std::uint64_t i) const { return bits(offset + i) >= threshold; }
  /// mask[j] = keep(first + j) for j in [0, n) (1 kept, 0 dropped), in one vectorised pass.
  void fill_mask(std::uint64_t first, std::size_t n, std::uint8_t* mask) const { bits.fill_at_least(offset + first, n, threshold, mask); }
  /// x[j] *= mask[j] * scale over n elements (the mask already drawn). A product, as torch's dropout
  /// (a dropped inf or NaN gives NaN), so that the loop vectorises: the mask widens to T.
  void scale_kept(T* x, const std::uint8_t* mask, std::size_t n) const { scale_kept(x, mask, n, x); }
  /// out[j] = x[j] * mask[j] * scale over n elements (out may be x).
  void scale_kept(const T* x, const std::uint8_t* mask, std::size_t n, T* out) const {
    for (std::size_t j = 0; j < n; ++j) out[j] = kept(x[j], mask[j]);
  }
  /// One element of scale_kept: x * (mask * scale), the one product every dropout path forms (the
  /// attention's backward draws its dropped probabilities again with it, so the bits must agree).
  [[nodiscard]] T kept(T x, std::uint8_t m) const { return x * (static_cast<T>(m) * scale); }

  /// out = dropout'(x) or dropout(x) with the mask already drawn: x * mask * scale when active, else a
  /// copy of x (nothing to do when out is x). n contiguous elements.
  void apply_mask(const T* x, const std::uint8_t* mask, std::size_t n, T* out) const {
    if (active) scale_kept(x, mask, n, out);
    else if (out != x) std::copy(x, x + n, out);
  }
  /// out = dropout(x) over n contiguous elements whose global indices start at first, drawing and keeping
  /// the mask when active (out may be x).
  void apply(const T* x, T* out, std::uint8_t* mask, std::size_t n, std::uint64_t first = 0) const {
    parallel_rows(n, 8, [&](std::size_t i0, std::size_t i1) {
      std::uint8_t* m = active ? mask + i0 : nullptr;  // the mask is not touched (may be empty) when off
      if (active) fill_mask(first + i0, i1 - i0, m);
      apply_mask(x + i0, m, i1 - i0, out + i0);
    });
  }
  /// x = dropout(x) in place (see above).
  void apply(T* x, std::uint8_t* mask, std::size_t n, std::uint64_t first = 0) const {
    if (active) apply(x, x, mask, n, first);
  }
  /// Backward: d *= mask * scale.
  void backward(T* d, const std::uint8_t* mask, std::size_t n) const {
    if (!active) return;
    parallel_rows(n, 4, [&](std::size_t i0, std::size_t i1) {
      scale_kept(d + i0, mask + i0, i1 - i0);
    });
  }
};

/// One attention row: the scores plus the key mask when one is given (key_bias: 0 or lowest(T) per key),
/// the softmax in place, p = e / sum e with e = exp(s - max s) (exp_normal_op; the sum in order, then one
/// multiply by its reciprocal per element, as torch's CPU softmax), then, when dropout is on, its
/// dropout with the mask kept: mask[j] = keep(first + j), dropped[j] = p[j] * (mask[j] * scale) (p stays
/// for the backward; redraw_dropped forms the same product). Two passes over the row besides the max:
/// exp, then normalise-and-drop. The encoder and the decoders share it.
template <class T>
inline void softmax_dropout_row(T* row, std::size_t n, const dropout<T>& drop, std::uint64_t first, std::uint8_t* mask,
                                T* dropped, const T* key_bias = nullptr) {
  vmap<T> p(row, static_cast<Eigen::Index>(n));
  if (key_bias) p += cvmap<T>(key_bias, static_cast<Eigen::Index>(n));
  const T mx = p.maxCoeff();
  p.array() = (p.array() - mx).unaryExpr(exp_normal_op<T>{});
  const T inv = T(1) / p.sum();
  if (!drop.active) {
    p *= inv;
    return;
  }
  drop.fill_mask(first, n, mask);
  for (std::size_t j = 0; j < n; ++j) {
    const T pj = row[j] * inv;
    row[j] = pj;
    dropped[j] = drop.kept(pj, mask[j]);
  }
}

/// The attention's dropped probabilities of one (sequence, head) block of n entries, in this thread's
/// scratch: where the forward writes them (nullptr when dropout is off: the product reads p itself).
template <class T>
T* dropped_scratch(const dropout<T>& drop, std::size_t n) {
  return drop.active ? thread_buffer<T, scratch::attention_dropped>(n) : nullptr;
}

/// The same block's dropped probabilities for the backward, drawn again from its probabilities p and the
/// kept mask: p * mask * scale into this thread's scratch, the forward's own product (softmax_dropout_row),
/// so the same bits; p itself when dropout is off (mask is then not read, and may be null).
template <class T>
const T* redraw_dropped(const T* p, const dropout<T>& drop, const std::uint8_t* mask, std::size_t n) {
  if (!drop.active) return p;
  T* out = thread_buffer<T, scratch::attention_dropped>(n);
  drop.scale_kept(p, mask, n, out);
  return out;
}

/// Backward of softmax_dropout_row, one row: dp (the gradient of the dropped probabilities) becomes the
/// gradient of the scores times `scale`: dp = dropout'(dp) (mask * keep scale, when dropout is on), then
/// dp = p * (dp - <p, dp>) * scale (the softmax Jacobian, p the row's probabilities before dropout).
template <class T>
inline void softmax_dropout_backward_row(const T* p, T* dp, std::size_t n, const dropout<T>& drop, const std::uint8_t* mask,
                                         T scale) {
  if (drop.active) drop.scale_kept(dp, mask, n);
  cvmap<T> pr(p, static_cast<Eigen::Index>(n));
  vmap<T> d(dp, static_cast<Eigen::Index>(n));
  const T dot = pr.dot(d);
  d.array() = pr.array() * (d.array() - dot) * scale;
}

/// Cross-entropy of one row of logits z (n classes) against class y, the one definition the models share:
/// returns lse(z) - z_y, with lse(z) = max z + log(sum exp(z - max z)) (the sum in T, the log in double),
/// and the arg max in *argmax when asked. With `gradient` the row becomes w (softmax(z) - onehot(y)), the
/// gradient of w times the loss (w = 1 / the targets the loss is averaged over), from a single exp per
/// logit: e = exp(z - max) is kept in the row and scaled by w / sum e. Without it the row is unchanged.
template <class T>
inline double cross_entropy_row(T* z, std::size_t n, std::int32_t y, T w, bool gradient, Eigen::Index* argmax = nullptr) {
  vmap<T> row(z, static_cast<Eigen::Index>(n));
  Eigen::Index arg = 0;
  const T mx = row.maxCoeff(&arg);
  if (argmax) *argmax = arg;
  const T zy = row(y);
  if (!gradient) return static_cast<double>(mx) + std::log(static_cast<double>((row.array() - mx).exp().sum())) - static_cast<double>(zy);
  row.array() = (row.array() - mx).exp();
  const T sum = row.sum();
  row *= w / sum;
  row(y) -= w;
  return static_cast<double>(mx) + std::log(static_cast<double>(sum)) - static_cast<double>(zy);
}

/// x[0, n) = 0, split over the threads.
template <class T>
void set_zero(T* x, std::size_t n) {
  parallel_rows(n, 1, [&](std::size_t i0, std::size_t i1) { std::fill(x + i0, x + i1, T(0)); });
}

/// y += bias on every row (a linear layer's bias), rows split over the threads.
template <class T>
void add_bias(mref<T> y, const T* bias) {
  cvmap<T> b(bias, y.cols());
  parallel_rows(static_cast<std::size_t>(y.rows()), static_cast<std::size_t>(y.cols()), [&](std::size_t r0, std::size_t r1) {
    const auto a = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
    y.middleRows(a, m).rowwise() += b;
  });
}

/// Bias + GELU in one pass: f += bias, g = GELU(f); the same operations per element as add_bias then
/// gelu_forward, done row by row while the row is in cache. With keep_derivative (a training forward) f
/// is then overwritten by GELU'(f) = Phi(f) + f phi(f), what the backward multiplies by
/// (gelu_backward_cached), so the backward evaluates neither erf nor exp: erf is computed once per element
/// per step instead of twice, on the row the forward has in L1.
template <class T>
void bias_gelu_forward(mref<T> f, const T* bias, mref<T> g, bool keep_derivative = false) {
  const T r2 = T(std::numbers::sqrt2 / 2);
  const T inv_sqrt_2pi = T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  const auto n = f.cols();
  cvmap<T> b(bias, n);
  parallel_rows(static_cast<std::size_t>(f.rows()), static_cast<std::size_t>(n) * 16, [&](std::size_t r0, std::size_t r1) {
    vmap<T> phi(thread_buffer<T, scratch::activation_row>(static_cast<std::size_t>(n)), n);  // [n] Phi(f) of a row
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      auto x = f.row(r).array();
      x += b.array();
      phi.array() = T(0.5) * (T(1) + (x * r2).erf());
      g.row(r).array() = x * phi.array();
      if (keep_derivative) x = phi.array() + x * (T(-0.5) * x.square()).unaryExpr(exp_normal_op<T>{}) * inv_sqrt_2pi;
    }
  });
}

/// GELU backward from bias_gelu_forward's kept derivative: d *= GELU'(f); with dbias, also
/// dbias += the column sums of the new d (the bias gradient of the layer that produced f), gathered from
/// each block of rows while it is in cache, in column_sum_blocks' order: the same bits as add_column_sums
/// after the product, without reading d (tokens x I, 8 MB here) back from memory.
template <class T>
void gelu_backward_cached(cref<T> derivative, mref<T> d, T* dbias = nullptr) {
  const Eigen::Index rows = d.rows(), n = d.cols();
  if (!dbias) {
    parallel_rows(static_cast<std::size_t>(rows), static_cast<std::size_t>(n), [&](std::size_t r0, std::size_t r1) {
      const auto a = static_cast<Eigen::Index>(r0), m = static_cast<Eigen::Index>(r1 - r0);
      d.middleRows(a, m).array() *= derivative.middleRows(a, m).array();
    });
    return;
  }
  gather_column_sums<T>(rows, n, dbias, [&](Eigen::Index r, T* pb) {
    T* dr = d.row(r).data();
    const T* fr = derivative.row(r).data();
    for (Eigen::Index j = 0; j < n; ++j) {
      dr[j] *= fr[j];
      pb[j] += dr[j];
    }
  });
}

/// The end of a residual branch in one pass per row: y = x + dropout(y + bias) (bias may be null), then
/// when gamma is given the LayerNorm ln = LN(y) with its caches (ln may alias y). Same operations, in the
/// same order, as add_bias, dropout::apply (on element indices r * H + j of y), the residual add and
/// layernorm_forward one after the other.
template <class T>
void residual_layernorm_forward(mref<T> y, const T* bias, const dropout<T>& drop, std::uint8_t* mask, cref<T> x,
                                const T* gamma, const T* beta, T eps, mref<T> xhat, T* rstd, mref<T> ln) {
  const auto h = y.cols();
  const auto uh = static_cast<std::size_t>(h);
  parallel_rows(static_cast<std::size_t>(y.rows()), uh * 12, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) {
      T* yr = y.row(r).data();
      const T* xr = x.row(r).data();
      if (bias)
        for (Eigen::Index j = 0; j < h; ++j) yr[j] += bias[j];
      if (drop.active) {
        const std::size_t first = static_cast<std::size_t>(r) * uh;
        drop.fill_mask(first, uh, mask + first);
        drop.scale_kept(yr, mask + first, uh);
      }
      for (Eigen::Index j = 0; j < h; ++j) yr[j] += xr[j];
      if (gamma) layernorm_row<T>(y, r, gamma, beta, eps, xhat, rstd, ln);
    }
  });
}

/// branch row r = dropout'(d row r): d * mask * scale when dropout is on (dropout::backward), else a copy.
template <class T>
inline void branch_from(cref<T> d, Eigen::Index r, const dropout<T>& drop, const std::uint8_t* mask, mref<T> branch) {
  const auto uh = static_cast<std::size_t>(d.cols());
  const std::uint8_t* m = drop.active ? mask + static_cast<std::size_t>(r) * uh : nullptr;  // no mask when off
  drop.apply_mask(d.row(r).data(), m, uh, branch.row(r).data());
}

/// LayerNorm backward (dx may alias dy) that also writes branch = dropout'(dx), the gradient of the
/// residual branch's dropout input, in the same pass over the rows (layernorm_backward_rows).
template <class T>
void layernorm_backward_branch(cref<T> dy, cref<T> xhat, const T* rstd, const T* gamma, T* dgamma, T* dbeta, mref<T> dx,
                               const dropout<T>& drop, const std::uint8_t* mask, mref<T> branch) {
  layernorm_backward_rows<T>(dy, xhat, rstd, gamma, dgamma, dbeta, dx, &drop, mask, branch.data(), branch.outerStride());
}

/// branch = dropout'(d) over all rows (the pre-LN residual branch, where no LayerNorm comes first).
template <class T>
void dropout_branch(cref<T> d, const dropout<T>& drop, const std::uint8_t* mask, mref<T> branch) {
  parallel_rows(static_cast<std::size_t>(d.rows()), static_cast<std::size_t>(d.cols()) * 2, [&](std::size_t r0, std::size_t r1) {
    for (auto r = static_cast<Eigen::Index>(r0); r < static_cast<Eigen::Index>(r1); ++r) branch_from<T>(d, r, drop, mask, branch);
  });
}

}  // namespace growth::reference::detail

template <class T>
struct Eigen::internal::functor_traits<growth::reference::detail::exp_normal_op<T>> {
  enum { Cost = 20 * NumTraits<T>::MulCost, PacketAccess = packet_traits<T>::HasExp };
};
