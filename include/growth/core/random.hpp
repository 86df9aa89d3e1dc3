#pragma once
/// @file random.hpp
/// Seeded, counter-based randomness: value i of stream (seed, stream) depends on nothing else, so results
/// are the same whatever the thread count, the backend or the order in which slices are produced.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace growth {

/// splitmix64 finaliser: a good 64-bit mix of a counter.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

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
  /// Value i of the stream, independent of any other call.
  static double normal_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t i) {
    rng r(seed ^ mix64(i + 1), stream);
    return r.normal();
  }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

}  // namespace growth
