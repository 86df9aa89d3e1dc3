#pragma once
/// @file dtype.hpp
/// Storage-only 16-bit float types (IEEE binary16 and bfloat16) and the element-type list the operators
/// accept. Arithmetic always happens in float (see compute_t); these types only convert, with
/// round-to-nearest-even, so host and device produce the same bits.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#if defined(__CUDACC__)
#define GROWTH_HD __host__ __device__
#else
#define GROWTH_HD
#endif

namespace growth {

namespace detail {
GROWTH_HD inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
GROWTH_HD inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
GROWTH_HD inline std::uint64_t double_bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
GROWTH_HD inline double bits_double(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}
}  // namespace detail

/// bfloat16: the top 16 bits of a float32, rounded to nearest even; NaN stays NaN.
struct bfloat16 {
  std::uint16_t bits = 0;
  bfloat16() = default;
  GROWTH_HD explicit bfloat16(float f) {
    std::uint32_t u = detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<std::uint16_t>(u >> 16);
    }
  }
  GROWTH_HD explicit operator float() const { return detail::bits_float(static_cast<std::uint32_t>(bits) << 16); }
  static GROWTH_HD bfloat16 from_bits(std::uint16_t b) {
    bfloat16 r;
    r.bits = b;
    return r;
  }
  friend GROWTH_HD bool operator==(bfloat16 a, bfloat16 b) { return a.bits == b.bits; }
};

/// IEEE 754 binary16 with round-to-nearest-even, subnormals, infinities and NaN.
struct float16 {
  std::uint16_t bits = 0;
  float16() = default;
  GROWTH_HD explicit float16(float f) {
    const std::uint32_t u = detail::float_bits(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {  // NaN
      bits = static_cast<std::uint16_t>(sign | 0x7e00u);
      return;
    }
    if (a >= 0x477ff000u) {  // rounds to >= 65520: infinity
      bits = static_cast<std::uint16_t>(sign | 0x7c00u);
      return;
    }
    if (a < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
      // value * 2^24 rounded to nearest even integer gives the subnormal mantissa
      const float scaled = detail::bits_float(a) * 16777216.0f;  // exact: power-of-two scale
      // round half to even without relying on the current rounding mode
      auto i = static_cast<std::uint32_t>(scaled);
      const float frac = scaled - static_cast<float>(i);
      if (frac > 0.5f || (frac == 0.5f && (i & 1u))) ++i;
      bits = static_cast<std::uint16_t>(sign | i);
      return;
    }
    // normal: rebias exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even
    a += 0xc8000fffu + ((a >> 13) & 1u);  // 0xc8000000 == -(112 << 23) mod 2^32
    bits = static_cast<std::uint16_t>(sign | (a >> 13));
  }
  GROWTH_HD explicit operator float() const {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exp = (bits >> 10) & 0x1fu;
    const std::uint32_t man = bits & 0x3ffu;
    if (exp == 0) {
      const float m = static_cast<float>(man) * 5.9604644775390625e-8f;  // man * 2^-24, exact
      return sign ? -m : m;
    }
    if (exp == 31) return detail::bits_float(sign | 0x7f800000u | (man << 13));
    return detail::bits_float(sign | ((exp + 112u) << 23) | (man << 13));
  }
  static GROWTH_HD float16 from_bits(std::uint16_t b) {
    float16 r;
    r.bits = b;
    return r;
  }
  friend GROWTH_HD bool operator==(float16 a, float16 b) { return a.bits == b.bits; }
};

/// An element type the operators accept.
template <class T>
concept element = std::is_same_v<std::remove_const_t<T>, float> || std::is_same_v<std::remove_const_t<T>, double> ||
                  std::is_same_v<std::remove_const_t<T>, float16> || std::is_same_v<std::remove_const_t<T>, bfloat16>;

/// The type arithmetic is done in: double for double, float for everything else.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<std::remove_const_t<T>, double>, double, float>;

template <class T>
GROWTH_HD inline compute_t<T> to_compute(T v) {
  return static_cast<compute_t<T>>(v);
}
template <class T>
GROWTH_HD inline T from_compute(compute_t<T> v) {
  return T(v);
}

/// safetensors dtype names.
enum class dtype { f32, f64, f16, bf16 };
template <class T>
constexpr dtype dtype_of() {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, float>) return dtype::f32;
  else if constexpr (std::is_same_v<U, double>) return dtype::f64;
  else if constexpr (std::is_same_v<U, float16>) return dtype::f16;
  else return dtype::bf16;
}
constexpr std::string_view dtype_name(dtype d) {
  switch (d) {
    case dtype::f32: return "F32";
    case dtype::f64: return "F64";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
  }
  return "?";
}
constexpr std::size_t dtype_size(dtype d) { return d == dtype::f64 ? 8 : d == dtype::f32 ? 4 : 2; }

}  // namespace growth
