// Philox4x32-10 against the published known-answer vectors, the normals' batch path against the scalar
// definition, reproducibility whatever the thread count, and the normals' moments.
#include <doctest/doctest.h>

#include <growth/core/random.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>
#include <thread>
#include <vector>

using namespace growth;

namespace {

// Known-answer vectors of Random123 (kat_vectors, "philox4x32 10"), the reference implementation of
// Salmon et al., SC'11: counter, key, output.
constexpr philox_block kat_zero = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
constexpr philox_block kat_ones = philox4x32_10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu,
                                                0xffffffffu);
constexpr philox_block kat_pi = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                                              0x299f31d0u);
static_assert(kat_zero == philox_block{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
static_assert(kat_ones == philox_block{{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
static_assert(kat_pi == philox_block{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors at run time too") {
  volatile std::uint32_t zero = 0;  // keeps the call out of constant evaluation
  const philox_block z = philox4x32_10({{zero, zero, zero, zero}}, zero, zero);
  CHECK(z.v[0] == 0x6627e8d5u);
  CHECK(z.v[1] == 0xe169c58du);
  CHECK(z.v[2] == 0xbc57ac4cu);
  CHECK(z.v[3] == 0x9b00dbd8u);
  const philox_block p = philox4x32_10({{0x243f6a88u + zero, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                                       0x299f31d0u + zero);
  CHECK(p == philox_block{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("philox_normals gives philox_normal's bits for any start and length") {
  for (const std::uint64_t first : {0ULL, 1ULL, 2ULL, 3ULL, 127ULL, 1000003ULL, (1ULL << 40) - 5})
    for (const std::size_t n : {0UL, 1UL, 5UL, 127UL, 128UL, 129UL, 1000UL}) {
      std::vector<double> v(n);
      philox_normals(9, 4, first, v);
      for (std::size_t j = 0; j < n; ++j) REQUIRE(same_bits(v[j], philox_normal(9, 4, first + j)));
    }
}

TEST_CASE("philox_normal: seed, stream and index each change the value") {
  CHECK(philox_normal(1, 0, 0) != philox_normal(2, 0, 0));
  CHECK(philox_normal(1, 0, 0) != philox_normal(1, 1, 0));
  CHECK(philox_normal(1, 0, 0) != philox_normal(1, 0, 1));
  CHECK(philox_normal(1ULL << 33, 0, 0) != philox_normal(0, 0, 0));  // the seed's high word is used
  CHECK(philox_normal(0, 1ULL << 33, 0) != philox_normal(0, 0, 0));  // so is the stream's
  CHECK(philox_normal(0, 0, 4ULL << 33) != philox_normal(0, 0, 0));  // and the counter's
}

TEST_CASE("philox normals are the same whatever the thread count") {
  const std::size_t n = 100003;
  std::vector<double> one(n);
  philox_normals(123, 7, 0, one);
  for (const std::size_t threads : {2UL, 3UL, 8UL}) {
    std::vector<double> many(n);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const std::size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        philox_normals(123, 7, lo, std::span<double>(many).subspan(lo, hi - lo));
      });
    for (auto& th : pool) th.join();
    for (std::size_t j = 0; j < n; ++j) REQUIRE(same_bits(many[j], one[j]));
  }
}

TEST_CASE("philox normals have mean 0, variance 1, normal tails") {
  const std::size_t n = 1 << 21;
  std::vector<double> z(n);
  philox_normals(2024, 3, 0, z);
  double s = 0, s2 = 0, s4 = 0, max_abs = 0;
  std::size_t in1 = 0, in2 = 0;
  for (const double x : z) {
    s += x;
    s2 += x * x;
    s4 += x * x * x * x;
    in1 += std::abs(x) < 1.0;
    in2 += std::abs(x) < 2.0;
    max_abs = std::max(max_abs, std::abs(x));
  }
  const double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n / (var * var);
  // standard errors: mean 1/sqrt(n) = 7e-4, variance sqrt(2/n) = 1e-3, kurtosis sqrt(24/n) = 3.4e-3
  CHECK(std::abs(mean) < 4e-3);
  CHECK(std::abs(var - 1.0) < 5e-3);
  CHECK(std::abs(kurt - 3.0) < 2e-2);
  CHECK(std::abs(double(in1) / n - 0.682689) < 2e-3);
  CHECK(std::abs(double(in2) / n - 0.954500) < 1e-3);
  CHECK(max_abs <= 6.67);  // 32-bit uniforms cap |z| at sqrt(64 ln 2)
  // element pairs (cosine, sine halves) are uncorrelated
  double c = 0;
  for (std::size_t j = 0; j + 1 < n; j += 2) c += z[j] * z[j + 1];
  CHECK(std::abs(c / (n / 2)) < 5e-3);
}

TEST_CASE("the generator's log, sqrt and sincos agree with libm to rounding level") {
  rng r(5, 6);
  double max_log = 0, max_sqrt = 0, max_trig = 0;
  for (int i = 0; i < 200000; ++i) {
    const double u = i < 53 ? std::ldexp(1.0, -i) : 1.0 - r.uniform();
    max_log = std::max(max_log, std::abs(detail::log_unit(u) - std::log(u)) / std::max(1e-300, std::abs(std::log(u))));
    const double a = -2.0 * std::log(u);
    max_sqrt = std::max(max_sqrt, std::abs(detail::sqrt_newton(a) - std::sqrt(a)) / std::max(1e-300, std::sqrt(a)));
    const double t = r.uniform();
    double c = 0, s = 0;
    detail::cos_sin_turn(t, c, s);
    max_trig = std::max({max_trig, std::abs(c - std::cos(2 * std::numbers::pi * t)), std::abs(s - std::sin(2 * std::numbers::pi * t))});
  }
  CHECK(max_log < 1e-15);
  CHECK(max_sqrt < 5e-16);
  CHECK(max_trig < 2e-15);
  CHECK(detail::sqrt_newton(0.0) == 0.0);
  CHECK(detail::log_unit(1.0) == 0.0);
}

// mask_bits (dropout masks): the vectorised fill equals the scalar definition, also where the low word
// wraps; the masks keep 1 - p of the elements, independently across elements and sites; hash32's
// avalanche is close to 1/2 per output bit.
TEST_CASE("mask_bits: fill_at_least equals the scalar bits, across the 2^32 boundary too") {
  growth::rng r(11, 3);
  for (int trial = 0; trial < 40; ++trial) {
    const mask_bits bits(r.next_u64());
    const auto threshold = static_cast<std::uint32_t>(r.next_u64());
    // half the trials start just below a multiple of 2^32, so the fill crosses it
    const std::uint64_t hi = r.below(1000);
    const std::uint64_t first = trial % 2 ? (hi << 32) - r.below(300) : r.next_u64() >> 8;
    const std::size_t n = 1 + static_cast<std::size_t>(r.below(700));
    std::vector<std::uint8_t> m(n + 1, 7);
    bits.fill_at_least(first, n, threshold, m.data());
    for (std::size_t j = 0; j < n; ++j) REQUIRE(m[j] == (bits(first + j) >= threshold ? 1 : 0));
    CHECK(m[n] == 7);  // nothing written past n
  }
}

TEST_CASE("mask_bits: the kept fraction is 1 - p, and masks of different keys and neighbours are independent") {
  growth::rng r(5, 8);
  for (int trial = 0; trial < 12; ++trial) {
    const double p = 0.02 + 0.9 * r.uniform();
    const auto threshold = static_cast<std::uint32_t>(p * 4294967296.0);
    const mask_bits a(mix64(r.next_u64())), b(mix64(r.next_u64()));
    const std::size_t n = 200000;
    const std::uint64_t first = r.next_u64() >> 4;
    std::vector<std::uint8_t> ma(n), mb(n);
    a.fill_at_least(first, n, threshold, ma.data());
    b.fill_at_least(first, n, threshold, mb.data());
    double keep = 0, both = 0, next = 0;
    for (std::size_t j = 0; j < n; ++j) {
      keep += ma[j];
      both += ma[j] & mb[j];
      if (j + 1 < n) next += ma[j] & ma[j + 1];
    }
    const double q = 1 - p, nn = static_cast<double>(n);
    // 6 standard deviations of a binomial count
    CHECK(std::abs(keep - nn * q) < 6 * std::sqrt(nn * q * p));
    CHECK(std::abs(both - nn * q * q) < 6 * std::sqrt(nn * q * q * (1 - q * q)));
    CHECK(std::abs(next - (nn - 1) * q * q) < 6 * std::sqrt(nn * q * q * (1 - q * q)));
  }
}

TEST_CASE("hash32: flipping one input bit flips each output bit with probability close to 1/2") {
  growth::rng r(2, 9);
  constexpr int samples = 20000;
  double worst = 0;
  for (int in = 0; in < 32; ++in) {
    std::array<int, 32> flips{};
    for (int s = 0; s < samples; ++s) {
      const auto x = static_cast<std::uint32_t>(r.next_u64());
      const std::uint32_t d = hash32(x) ^ hash32(x ^ (1u << in));
      for (int out = 0; out < 32; ++out) flips[static_cast<std::size_t>(out)] += (d >> out) & 1u;
    }
    for (int f : flips) worst = std::max(worst, std::abs(static_cast<double>(f) / samples - 0.5));
  }
  // 1/2 within 0.03 (5 standard deviations of a 20000-sample proportion are 0.018)
  CHECK(worst < 0.03);
}
