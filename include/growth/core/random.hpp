#pragma once
/// @file random.hpp
/// Seeded, counter-based randomness: value i of stream (seed, stream) depends on nothing else, so results
/// are the same whatever the thread count, the backend or the order in which slices are produced.
///
/// Three generators:
/// - growth::rng, a splitmix64-based sequence for everything drawn a few numbers at a time (weight
///   initialisation, masks, shuffles, random maps); its sequence is pinned by tests and checkpoints.
/// - growth::mask_bits, 32 hashed bits per 64-bit index with 32-bit lane operations only, for the
///   reference models' dropout masks, drawn once per activation in every training step.
/// - Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel Random Numbers: As Easy as 1, 2, 3",
///   SC'11) for fresh slices (new heads' Q/K/V rows, new position rows, symmetry-breaking noise): a
///   bijection of a 128-bit counter under a 64-bit key, ten rounds of two 32x32->64-bit multiplies, fast
///   enough to fill large tables and vectorisable because element i needs only its own counter.
///   philox_normal(seed, stream, i) is defined with integer operations, IEEE add / multiply / divide /
///   sqrt and fixed polynomials (no libm call), so every compiler, flag set and device that rounds IEEE
///   double operations correctly gives the same bits; it is __host__ __device__ for a CUDA kernel.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>

#include "dtype.hpp"  // GROWTH_HD, double_bits / bits_double

namespace growth {

/// splitmix64 finaliser: a good 64-bit mix of a counter.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A 32-bit integer hash, xorshift-multiply twice then xorshift (C. Wellons' "lowbias32", found by his
/// hash-prospector search for low avalanche bias): a bijection of [0, 2^32). Only 32-bit lane operations,
/// so a loop over consecutive inputs vectorises on AVX2 (vpmulld), where splitmix64's 64-bit multiply has
/// no vector instruction. tests/core/test_random.cpp measures its avalanche and the masks' statistics.
constexpr std::uint32_t hash32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  return x ^ (x >> 16);
}

/// 32 counter-based bits per 64-bit index i under a 64-bit key (dropout masks: one Bernoulli draw per
/// activation, about 10^7 per training step):
///   bits(i) = hash32(hash32(lo(i) ^ k0) ^ hash32(hi(i) ^ k1)),   (k0, k1) = the key's halves,
/// a pure function of (key, i). Over consecutive i the high word is constant, so fill_at_least() computes
/// its hash once per run of 2^32 and the loop over the low word is 32-bit lane arithmetic only.
struct mask_bits {
  std::uint32_t k0 = 0, k1 = 0;
  constexpr mask_bits() = default;
  explicit constexpr mask_bits(std::uint64_t key) : k0(static_cast<std::uint32_t>(key)), k1(static_cast<std::uint32_t>(key >> 32)) {}
  [[nodiscard]] constexpr std::uint32_t operator()(std::uint64_t i) const {
    return hash32(hash32(static_cast<std::uint32_t>(i) ^ k0) ^ hash32(static_cast<std::uint32_t>(i >> 32) ^ k1));
  }
  /// out[j] = bits(first + j) >= threshold (1 or 0), j in [0, n): the same values as operator().
  void fill_at_least(std::uint64_t first, std::size_t n, std::uint32_t threshold, std::uint8_t* out) const {
    while (n > 0) {
      const auto lo = static_cast<std::uint32_t>(first);
      const std::uint32_t hi = hash32(static_cast<std::uint32_t>(first >> 32) ^ k1);
      // elements left before the low word wraps (the high word changes there)
      const std::uint64_t room = (std::uint64_t{1} << 32) - lo;
      const std::size_t len = room < n ? static_cast<std::size_t>(room) : n;
      const std::uint32_t key = k0;
      for (std::size_t j = 0; j < len; ++j)
        out[j] = static_cast<std::uint8_t>(hash32(hash32((lo + static_cast<std::uint32_t>(j)) ^ key) ^ hi) >= threshold);
      first += len;
      out += len;
      n -= len;
    }
  }
};

/// Deterministic generator: counter-based, cheap to copy, reproducible across platforms.
class rng {
 public:
  explicit constexpr rng(std::uint64_t seed, std::uint64_t stream = 0) : key_(mix64(seed ^ mix64(stream + 0x5851f42d4c957f2dULL))) {}
  constexpr std::uint64_t next_u64() { return mix64(key_ + 0x632be59bd9b4e019ULL * ++counter_); }
  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next_u64() % n; }
  /// Standard normal (Box-Muller in double; deterministic given the sequence).
  double normal() {
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

/// Philox4x32's 128-bit counter and its output, four 32-bit words.
struct philox_block {
  std::uint32_t v[4];
  friend constexpr bool operator==(const philox_block&, const philox_block&) = default;
};

namespace detail {
GROWTH_HD constexpr philox_block philox_round(const philox_block& c, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
  const std::uint64_t p0 = static_cast<std::uint64_t>(m0) * c.v[0];
  const std::uint64_t p1 = static_cast<std::uint64_t>(m1) * c.v[2];
  return {{static_cast<std::uint32_t>(p1 >> 32) ^ c.v[1] ^ k0, static_cast<std::uint32_t>(p1),
           static_cast<std::uint32_t>(p0 >> 32) ^ c.v[3] ^ k1, static_cast<std::uint32_t>(p0)}};
}
}  // namespace detail

/// Philox4x32-10 (Salmon et al. SC'11, section 3.3; constants and round as in their Random123 library):
/// each round multiplies words 0 and 2 by M0, M1 into 64-bit products (hi, lo) and sets
///   (v0, v1, v2, v3) <- (hi(M1 v2) ^ v1 ^ k0, lo(M1 v2), hi(M0 v0) ^ v3 ^ k1, lo(M0 v0)),
/// the key (k0, k1) advancing by the Weyl constants (W0, W1) between rounds.
GROWTH_HD constexpr philox_block philox4x32_10(philox_block ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  // ten rounds written out: straight-line code, which compilers vectorise across counters
  ctr = detail::philox_round(ctr, k0, k1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  ctr = detail::philox_round(ctr, k0 += w0, k1 += w1);
  return ctr;
}

namespace detail {

/// The double in [1, 2) whose 52 mantissa bits are the low 52 bits of b (exact).
GROWTH_HD inline double one_to_two(std::uint64_t b) { return bits_double(0x3FF0000000000000ULL | (b & 0x000FFFFFFFFFFFFFULL)); }

// Below, every multiply-add is an explicit std::fma and no other product feeds an addition unless it is
// exact, so the bits do not depend on whether a compiler contracts a * b + c (nvcc does by default).

/// ln(u) for u in (0, 1] (normal numbers), to about 1 ulp: u = 2^k m with m in [sqrt(1/2), sqrt(2)),
/// ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| <= 0.172 (terms to s^19;
/// the next is below 2^-55 of the sum), plus k ln 2 with ln 2 = hi + lo (fdlibm's split: k hi is exact).
GROWTH_HD inline double log_unit(double u) {
  const std::uint64_t b = double_bits(u);
  const std::uint64_t frac = b & 0x000FFFFFFFFFFFFFULL;
  // high = 1 when the mantissa is at least sqrt(2) (fraction bits 0x6A09E667F3BCD): halve it, one more in k.
  // (Integer arithmetic rather than branches or selects, here and below, so that loops vectorise.)
  const std::uint64_t high = (frac + (0x0010000000000000ULL - 0x6A09E667F3BCDULL)) >> 52;
  const double m = bits_double(frac | ((0x3FFULL - high) << 52));
  // k + 1024 = biased exponent + 1 + high, in [972, 1025]; as a double without an int64 -> double
  // conversion (AVX2 has none): the double 2^52 + n has n's bits as its mantissa
  const std::uint64_t kb = (b >> 52) + 1 + high;
  const double k = bits_double(0x4330000000000000ULL | kb) - (0x1.0p52 + 1024.0);
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 19;
  p = std::fma(p, s2, 1.0 / 17);
  p = std::fma(p, s2, 1.0 / 15);
  p = std::fma(p, s2, 1.0 / 13);
  p = std::fma(p, s2, 1.0 / 11);
  p = std::fma(p, s2, 1.0 / 9);
  p = std::fma(p, s2, 1.0 / 7);
  p = std::fma(p, s2, 1.0 / 5);
  p = std::fma(p, s2, 1.0 / 3);
  constexpr double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
  const double tail = std::fma(2.0 * s * s2, p, k * ln2_lo);
  return std::fma(k, ln2_hi, 2.0 * s + tail);  // k ln2_hi and 2 s are exact
}

/// cos and sin of 2 pi t for t in [0, 1): quadrant q = nearest integer to 4t (exact), x = (4t - q) pi/2 in
/// [-pi/4, pi/4], Taylor polynomials to x^16 and x^15 (remainders below 2^-55), rotated by q quarter turns.
GROWTH_HD inline void cos_sin_turn(double t, double& c, double& s) {
  constexpr double round_shift = 0x1.8p52, half_pi = 1.57079632679489661923;
  const double y = 4.0 * t;
  const double q = (y + round_shift) - round_shift;  // round to nearest integer, 0..4
  const double x = (y - q) * half_pi, x2 = x * x;
  double cp = 1.0 / 20922789888000.0;  // 1/16!
  cp = std::fma(cp, x2, -1.0 / 87178291200.0);
  cp = std::fma(cp, x2, 1.0 / 479001600.0);
  cp = std::fma(cp, x2, -1.0 / 3628800.0);
  cp = std::fma(cp, x2, 1.0 / 40320.0);
  cp = std::fma(cp, x2, -1.0 / 720.0);
  cp = std::fma(cp, x2, 1.0 / 24.0);
  cp = std::fma(cp, x2, -0.5);
  const double cx = std::fma(cp, x2, 1.0);
  double sp = -1.0 / 1307674368000.0;  // -1/15!
  sp = std::fma(sp, x2, 1.0 / 6227020800.0);
  sp = std::fma(sp, x2, -1.0 / 39916800.0);
  sp = std::fma(sp, x2, 1.0 / 362880.0);
  sp = std::fma(sp, x2, -1.0 / 5040.0);
  sp = std::fma(sp, x2, 1.0 / 120.0);
  sp = std::fma(sp, x2, -1.0 / 6.0);
  const double sx = std::fma(x * x2, sp, x);
  // quarter turns q mod 4 (q's integer bits): odd swaps cos and sin; cos is negated for 1, 2, sin for 2, 3
  const std::uint64_t quadrant = double_bits(q + 0x1.0p52) & 3u;
  const std::uint64_t swap = 0 - (quadrant & 1u);  // all ones when odd
  const std::uint64_t neg_c = ((quadrant ^ (quadrant >> 1)) & 1u) << 63, neg_s = (quadrant >> 1) << 63;
  const std::uint64_t cb = double_bits(cx), sb = double_bits(sx);
  c = bits_double(((sb & swap) | (cb & ~swap)) ^ neg_c);
  s = bits_double(((cb & swap) | (sb & ~swap)) ^ neg_s);
}

/// sqrt(a) for a in [0, 2^1000), within an ulp, from IEEE multiplies and fmas only (std::sqrt would
/// be exact too, but with errno handling compilers do not vectorise it): Newton's iteration for
/// 1/sqrt(a) from a bit-level first guess (relative error < 0.035, about squared by each step: 4e-11
/// after three), then r = a y and one Newton correction r += (y/2) (a - r^2), which squares it again.
GROWTH_HD inline double sqrt_newton(double a) {
  const double ac = a + 0x1.0p-200;  // equals a unless a = 0, where it keeps y finite (then r = 0 exactly)
  double y = bits_double(0x5FE6EB50C7B537A9ULL - (double_bits(ac) >> 1));
  const double h = 0.5 * ac;
  y = y * std::fma(-h * y, y, 1.5);
  y = y * std::fma(-h * y, y, 1.5);
  y = y * std::fma(-h * y, y, 1.5);
  const double r = a * y;
  return std::fma(0.5 * y, std::fma(-r, r, a), r);
}

/// Box-Muller (Box and Muller 1958) on two 32-bit words: u1 = 1 - a / 2^32 in (0, 1], t = b / 2^32 in
/// [0, 1), r = sqrt(-2 ln u1); z0 = r cos(2 pi t), z1 = r sin(2 pi t), two independent N(0, 1).
/// 32-bit uniforms (as cuRAND's Philox normals) cap |z| at sqrt(64 ln 2) = 6.66, a tail of
/// probability 3e-11, and let one Philox block give four normals.
GROWTH_HD inline void box_muller(std::uint32_t a, std::uint32_t b, double& z0, double& z1) {
  const double u1 = 2.0 - one_to_two(static_cast<std::uint64_t>(a) << 20);
  const double t = one_to_two(static_cast<std::uint64_t>(b) << 20) - 1.0;
  const double r = sqrt_newton(-2.0 * log_unit(u1));
  double c = 0, s = 0;
  cos_sin_turn(t, c, s);
  z0 = r * c;
  z1 = r * s;
}

/// Philox block q of stream `stream`: counter (q low, q high, stream low, stream high), key the seed's
/// halves (low, high).
GROWTH_HD constexpr philox_block philox_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t q) {
  return philox4x32_10({{static_cast<std::uint32_t>(q), static_cast<std::uint32_t>(q >> 32),
                         static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

}  // namespace detail

/// N(0, 1) value i of stream (seed, stream), a pure function of the three: with block q = i / 4 of
/// Philox4x32-10 (counter (q, stream), key seed) giving words (x0, x1, x2, x3), elements 4q, 4q + 1 are
/// Box-Muller's cosine and sine on (x0, x1), elements 4q + 2, 4q + 3 the same on (x2, x3).
GROWTH_HD inline double philox_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t i) {
  const philox_block x = detail::philox_at(seed, stream, i >> 2);
  const std::size_t h = (i >> 1) & 1u;
  double z0 = 0, z1 = 0;
  detail::box_muller(x.v[2 * h], x.v[2 * h + 1], z0, z1);
  return (i & 1) ? z1 : z0;
}

/// out[j] = philox_normal(seed, stream, first + j) for j < out.size(), the same bits, in batches laid out
/// so that the compiler vectorises each step across counters (Philox blocks, then Box-Muller pairs).
inline void philox_normals(std::uint64_t seed, std::uint64_t stream, std::uint64_t first, std::span<double> out) {
  double* o = out.data();
  std::size_t left = out.size();
  std::uint64_t i = first;  // index of *o
  for (; left > 0 && (i & 3) != 0; --left) *o++ = philox_normal(seed, stream, i++);
  constexpr std::size_t blocks = 32;  // Philox blocks per batch (128 normals): the arrays stay in L1
  std::uint32_t a[2 * blocks], b[2 * blocks];
  double z0[2 * blocks], z1[2 * blocks];
  for (; left >= 4 * blocks; left -= 4 * blocks, o += 4 * blocks, i += 4 * blocks) {
    const std::uint64_t q0 = i >> 2;
    for (std::size_t k = 0; k < blocks; ++k) {
      const philox_block x = detail::philox_at(seed, stream, q0 + k);
      a[2 * k] = x.v[0];
      b[2 * k] = x.v[1];
      a[2 * k + 1] = x.v[2];
      b[2 * k + 1] = x.v[3];
    }
    for (std::size_t k = 0; k < 2 * blocks; ++k) detail::box_muller(a[k], b[k], z0[k], z1[k]);
    for (std::size_t k = 0; k < 2 * blocks; ++k) {
      o[2 * k] = z0[k];
      o[2 * k + 1] = z1[k];
    }
  }
  for (; left > 0; --left) *o++ = philox_normal(seed, stream, i++);
}

}  // namespace growth
