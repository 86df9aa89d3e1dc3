#pragma once
/// @file unicode.hpp
/// The character classes Hugging Face's BasicTokenizer uses (tokenization_bert.py), as small tables so the
/// library needs no ICU. Coverage, stated honestly:
///  - is_whitespace: exactly HF's rule (space, \t \n \r, and category Zs, which is a closed list).
///  - is_control: HF treats every category C* as control. We cover Cc, Cf (complete list of the common
///    ones: soft hyphen, bidi marks, zero-width characters, BOM, ...) and the private-use areas (Co).
///    Unassigned code points (Cn) are not detected, so they are kept rather than removed.
///  - is_punctuation: HF's ASCII symbol ranges plus Unicode P* for Latin-1, Greek, Armenian, Hebrew,
///    Arabic, Devanagari, Thai, General Punctuation, brackets of the math/dingbat blocks, Supplemental
///    Punctuation, CJK Symbols and Punctuation, CJK compatibility / small / fullwidth forms.
///  - is_chinese_char: exactly HF's CJK ranges.
///  - to_lower: ASCII, Latin-1, Latin Extended-A, Greek (without final-sigma context: Σ always -> σ),
///    Cyrillic (U+0400-U+042F) and fullwidth Latin. Python's str.lower covers all of Unicode.
///  - strip_accent (NFD, then drop Mn): Latin-1 Supplement and Latin Extended-A letters map to their base
///    letter when NFD decomposes them (é -> e, ç -> c, ő -> o; æ, ø, ß, đ, ł stay), Greek tonos/dialytika
///    vowels, Cyrillic й ё ї ў; standalone combining marks (U+0300-U+036F, U+1AB0-U+1AFF,
///    U+1DC0-U+1DFF, U+20D0-U+20FF, U+FE20-U+FE2F) are dropped.
#include <cstddef>
#include <cstdint>
#include <string>

namespace growth::data::unicode {

namespace detail {
struct range {
  char32_t lo, hi;
};
template <std::size_t N>
constexpr bool in_ranges(char32_t c, const range (&r)[N]) {
  for (const auto& x : r)
    if (c >= x.lo && c <= x.hi) return true;
  return false;
}
}  // namespace detail

constexpr bool is_whitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  // Zs
  return c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F || c == 0x3000;
}

constexpr bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // HF counts these as whitespace
  constexpr detail::range r[] = {
      {0x0000, 0x001F}, {0x007F, 0x009F},                                       // Cc
      {0x00AD, 0x00AD}, {0x0600, 0x0605}, {0x061C, 0x061C}, {0x06DD, 0x06DD},   // Cf
      {0x070F, 0x070F}, {0x08E2, 0x08E2}, {0x180E, 0x180E}, {0x200B, 0x200F},
      {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F}, {0xFEFF, 0xFEFF},
      {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x13438},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
      {0xD800, 0xDFFF},                                                         // Cs
      {0xE000, 0xF8FF}, {0xF0000, 0xFFFFD}, {0x100000, 0x10FFFD},               // Co
  };
  return detail::in_ranges(c, r);
}

constexpr bool is_punctuation(char32_t c) {
  // HF: every non-alphanumeric ASCII symbol counts, even $ + < = > ^ ` | ~ (not P* in Unicode).
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  if (c < 0x80) return false;
  constexpr detail::range r[] = {
      {0x00A1, 0x00A1}, {0x00A7, 0x00A7}, {0x00AB, 0x00AB}, {0x00B6, 0x00B7}, {0x00BB, 0x00BB}, {0x00BF, 0x00BF},
      {0x037E, 0x037E}, {0x0387, 0x0387}, {0x055A, 0x055F}, {0x0589, 0x058A}, {0x05BE, 0x05BE}, {0x05C0, 0x05C0},
      {0x05C3, 0x05C3}, {0x05C6, 0x05C6}, {0x05F3, 0x05F4}, {0x0609, 0x060A}, {0x060C, 0x060D}, {0x061B, 0x061B},
      {0x061E, 0x061F}, {0x066A, 0x066D}, {0x06D4, 0x06D4}, {0x0964, 0x0965}, {0x0970, 0x0970}, {0x0E4F, 0x0E4F},
      {0x0E5A, 0x0E5B}, {0x2010, 0x2027}, {0x2030, 0x2043}, {0x2045, 0x2051}, {0x2053, 0x205E}, {0x207D, 0x207E},
      {0x208D, 0x208E}, {0x2308, 0x230B}, {0x2329, 0x232A}, {0x2768, 0x2775}, {0x27C5, 0x27C6}, {0x27E6, 0x27EF},
      {0x2983, 0x2998}, {0x29D8, 0x29DB}, {0x29FC, 0x29FD}, {0x2CF9, 0x2CFC}, {0x2CFE, 0x2CFF}, {0x2E00, 0x2E2E},
      {0x2E30, 0x2E4F}, {0x3001, 0x3003}, {0x3008, 0x3011}, {0x3014, 0x301F}, {0x3030, 0x3030}, {0x303D, 0x303D},
      {0x30A0, 0x30A0}, {0x30FB, 0x30FB}, {0xFE10, 0xFE19}, {0xFE30, 0xFE52}, {0xFE54, 0xFE61}, {0xFE63, 0xFE63},
      {0xFE68, 0xFE68}, {0xFE6A, 0xFE6B}, {0xFF01, 0xFF03}, {0xFF05, 0xFF0A}, {0xFF0C, 0xFF0F}, {0xFF1A, 0xFF1B},
      {0xFF1F, 0xFF20}, {0xFF3B, 0xFF3D}, {0xFF3F, 0xFF3F}, {0xFF5B, 0xFF5B}, {0xFF5D, 0xFF5D}, {0xFF5F, 0xFF65},
  };
  return detail::in_ranges(c, r);
}

/// HF _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana).
constexpr bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/// Nonspacing combining marks (category Mn) that NFD produces or text carries on its own.
constexpr bool is_combining_mark(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F);
}

constexpr char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0x00C0 && c <= 0x00DE && c != 0x00D7) return c + 0x20;
  if (c == 0x0130) return 'i';  // İ -> i + U+0307; the dot is a combining mark that accent stripping drops
  if ((c >= 0x0100 && c <= 0x0137) || (c >= 0x014A && c <= 0x0177)) return (c % 2 == 0) ? c + 1 : c;
  if ((c >= 0x0139 && c <= 0x0148) || (c >= 0x0179 && c <= 0x017E)) return (c % 2 == 1) ? c + 1 : c;
  if (c == 0x0178) return 0x00FF;
  if ((c >= 0x0391 && c <= 0x03A1) || (c >= 0x03A3 && c <= 0x03AB)) return c + 0x20;
  if (c == 0x0386) return 0x03AC;
  if (c >= 0x0388 && c <= 0x038A) return c + 0x25;
  if (c == 0x038C) return 0x03CC;
  if (c == 0x038E || c == 0x038F) return c + 0x3F;
  if (c >= 0x0410 && c <= 0x042F) return c + 0x20;
  if (c >= 0x0400 && c <= 0x040F) return c + 0x50;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 0x20;
  return c;
}

/// The base character of c after NFD (c itself when it does not decompose or is not covered).
constexpr char32_t strip_accent(char32_t c) {
  if (c >= 0x00C0 && c <= 0x017F) {
    constexpr const char* table =
        "AAAAAA.CEEEEIIII.NOOOOO..UUUUY.."  // U+00C0
        "aaaaaa.ceeeeiiii.nooooo..uuuuy.y"  // U+00E0
        "AaAaAaCcCcCcCcDd..EeEeEeEeEeGgGg"  // U+0100
        "GgGgHh..IiIiIiIiI...JjKk.LlLlLl."  // U+0120
        "...NnNnNn...OoOoOo..RrRrRrSsSsSs"  // U+0140
        "SsTtTt..UuUuUuUuUuUuWwYyYZzZzZz.";  // U+0160
    static_assert(std::char_traits<char>::length(table) == 0x180 - 0xC0, "one entry per code point");
    const char b = table[c - 0x00C0];
    return b == '.' ? c : static_cast<char32_t>(b);
  }
  switch (c) {
    case 0x03AC: return 0x03B1;  // ά -> α
    case 0x03AD: return 0x03B5;
    case 0x03AE: return 0x03B7;
    case 0x03AF: case 0x03CA: case 0x0390: return 0x03B9;
    case 0x03CC: return 0x03BF;
    case 0x03CD: case 0x03CB: case 0x03B0: return 0x03C5;
    case 0x03CE: return 0x03C9;
    case 0x0386: return 0x0391;
    case 0x0388: return 0x0395;
    case 0x0389: return 0x0397;
    case 0x038A: case 0x03AA: return 0x0399;
    case 0x038C: return 0x039F;
    case 0x038E: case 0x03AB: return 0x03A5;
    case 0x038F: return 0x03A9;
    case 0x0439: return 0x0438;  // й -> и
    case 0x0419: return 0x0418;
    case 0x0451: return 0x0435;  // ё -> е
    case 0x0401: return 0x0415;
    case 0x0457: return 0x0456;  // ї -> і
    case 0x0407: return 0x0406;
    case 0x045E: return 0x0443;  // ў -> у
    case 0x040E: return 0x0423;
    default: return c;
  }
}

}  // namespace growth::data::unicode
