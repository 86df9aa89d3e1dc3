#pragma once
/// @file utf8.hpp
/// UTF-8 encoding and strict decoding (no overlong forms, no surrogates, nothing above U+10FFFF), shared
/// by the safetensors writer's name checks, vocab.txt and the tokenizer (JSON text is checked by
/// nlohmann-json's lexer, json.hpp).
#include <cstddef>
#include <string>
#include <string_view>

namespace growth::io {

namespace detail {
/// Appends code point cp to s as UTF-8 (cp must be a valid scalar value).
inline void append_utf8(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Decodes one UTF-8 sequence starting at s[i]. On success returns the code point and advances i; on
/// invalid input (truncated, overlong, surrogate, > U+10FFFF, stray continuation byte) returns
/// char32_t(-1) and leaves i unchanged.
inline char32_t decode_utf8(std::string_view s, std::size_t& i) {
  constexpr char32_t bad = static_cast<char32_t>(-1);
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t n;
  char32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return bad;
  }
  if (i + n > s.size()) return bad;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  i += n;
  return cp;
}

/// True when s is valid UTF-8.
inline bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();)
    if (decode_utf8(s, i) == static_cast<char32_t>(-1)) return false;
  return true;
}
}  // namespace detail

}  // namespace growth::io
