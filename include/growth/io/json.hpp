#pragma once
/// @file json.hpp
/// JSON for the io layer: nlohmann-json's ordered_json (objects keep their key order, so a file read and
/// written back keeps its layout), a strict parser, and typed accessors whose errors name the field.
/// Used for safetensors headers, config.json, trainer_state.json and schedule files.
///
/// parse_json is stricter than nlohmann's default, because these files come from outside (downloaded
/// checkpoints, hand-edited configs). nlohmann already refuses comments, trailing commas, leading zeros,
/// NaN/Infinity, single quotes, unescaped control characters, invalid UTF-8 (overlong forms, encoded
/// surrogates) and lone surrogate escapes, and numbers outside double range. Its parser callback adds:
///  - duplicate keys in an object are refused (RFC 8259 leaves them undefined; safetensors must not
///    silently keep one of two tensors with the same name);
///  - nesting deeper than max_depth is refused (hostile nesting would otherwise build a deep value).
/// Every error is a growth::error naming the source and the byte offset where the problem was found.
///
/// Numbers: a non-negative integer literal is kept as an exact uint64, a negative one as an int64, anything
/// else as a double. Doubles are written with the shortest text that reads back to the same bits, and an
/// integral double gets ".0" so it stays a double when read back.
///
/// The accessors (as_size, as_string, ..., at, find) throw growth::error(what, expected, got) instead of
/// nlohmann's exceptions, which name neither the field nor the value, and refuse what nlohmann's get<T>()
/// would convert silently (a negative or fractional number read as a size).
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"

namespace growth::io {

using json = nlohmann::ordered_json;

/// "a string \"x\"", "a number -1", "an object": the kind of v and, for scalars, its text.
inline std::string describe(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  std::string d = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (d.size() > 60) d = d.substr(0, 57) + "...";
  if (v.is_null()) return d;
  return (v.is_boolean() ? "a boolean " : v.is_number() ? "a number " : "a string ") + d;
}

inline bool as_bool(const json& v, std::string_view what = "json value") {
  if (!v.is_boolean()) throw error(what, "a boolean", describe(v));
  return v.get<bool>();
}
inline double as_double(const json& v, std::string_view what = "json value") {
  if (!v.is_number()) throw error(what, "a number", describe(v));
  return v.get<double>();
}
inline std::int64_t as_int(const json& v, std::string_view what = "json value") {
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
    throw error(what, "an integer", describe(v));
  return v.get<std::int64_t>();
}
/// A non-negative integer (up to 2^64-1) as size_t.
inline std::size_t as_size(const json& v, std::string_view what = "json value") {
  if (v.is_number_unsigned()) return v.get<std::size_t>();
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0) throw error(what, "a non-negative integer", describe(v));
  return static_cast<std::size_t>(v.get<std::int64_t>());
}
/// A non-negative integer up to 2^64-1 (a seed). Compatibility: also a decimal string, which is how files
/// written before nlohmann-json (whose parser stopped at 2^63-1) stored such values.
inline std::uint64_t as_uint64(const json& v, std::string_view what = "json value") {
  std::uint64_t out = 0;
  if (!v.is_string()) return as_size(v, what);
  const auto& s = v.get_ref<const std::string&>();
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    throw error(what, "a non-negative integer below 2^64 (or a decimal string of one)", describe(v));
  return out;
}
inline const std::string& as_string(const json& v, std::string_view what = "json value") {
  if (!v.is_string()) throw error(what, "a string", describe(v));
  return v.get_ref<const std::string&>();
}
inline const json::array_t& as_array(const json& v, std::string_view what = "json value") {
  if (!v.is_array()) throw error(what, "an array", describe(v));
  return v.get_ref<const json::array_t&>();
}
/// The members of an object, in file order: `for (const auto& [key, value] : as_object(v, what))`.
inline const json::object_t& as_object(const json& v, std::string_view what = "json value") {
  if (!v.is_object()) throw error(what, "an object", describe(v));
  return v.get_ref<const json::object_t&>();
}
/// Member lookup; nullptr when absent or when v is not an object.
inline const json* find(const json& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  const auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}
/// Member lookup; growth::error naming `what` and the key when v is not an object or the key is absent.
inline const json& at(const json& v, std::string_view key, std::string_view what = "json") {
  (void)as_object(v, what);
  if (const json* m = find(v, key)) return *m;
  throw error(std::string(what) + " key \"" + std::string(key) + "\"", "present", "missing");
}

namespace detail {
/// A char iterator that counts the bytes nlohmann's lexer has consumed, so that errors found in the parser
/// callback (which is not told the position) name a byte offset too.
struct counting_iterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  const char* p = nullptr;
  std::size_t* consumed = nullptr;
  reference operator*() const { return *p; }
  counting_iterator& operator++() {
    ++p;
    ++*consumed;
    return *this;
  }
  bool operator==(const counting_iterator& o) const { return p == o.p; }
};

/// Printable text of a library message: bytes outside printable ASCII (the lexer quotes what it read,
/// which may be invalid UTF-8) become \xNN.
inline std::string printable(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Splits nlohmann's parse_error text ("... column C: syntax error while parsing value - unexpected ']';
/// expected '[', '{', or a literal", or "... - invalid string: ill-formed UTF-8 byte; last read: '\"\xc3'")
/// into growth::error's expected / got.
[[noreturn]] inline void throw_parse_error(const std::string& subject, std::string_view msg) {
  if (const auto c = msg.find(": "); c != std::string_view::npos) msg.remove_prefix(c + 2);  // "[json...] ...column C: "
  if (const auto d = msg.find(" - "); d != std::string_view::npos) msg.remove_prefix(d + 3);  // "syntax error while parsing X - "
  // "<problem>[; expected <what>][; last read: '<text>'][; expected <what>]": the quoted text may hold
  // anything, so the parser's expectation is searched after it first.
  std::string_view last_read;
  if (const auto l = msg.find("; last read: "); l != std::string_view::npos) {
    last_read = msg.substr(l + 13);
    msg = msg.substr(0, l);
  }
  std::string_view expected = msg.substr(0, 15) == "invalid string:" ? "a valid string" : "valid JSON";
  for (std::string_view* part : {&last_read, &msg}) {
    if (const auto e = part->rfind("; expected "); e != std::string_view::npos) {
      expected = part->substr(e + 11);
      *part = part->substr(0, e);
      break;
    }
  }
  if (msg.substr(0, 11) == "unexpected ") msg.remove_prefix(11);
  std::string got = printable(msg);
  if (!last_read.empty()) got += " (last read: " + printable(last_read) + ")";
  throw error(subject, printable(expected), got);
}
}  // namespace detail

/// Parses one JSON text (surrounding whitespace allowed, nothing else). Throws growth::error naming
/// `what` and the byte offset (0-based) where the problem was found.
inline json parse_json(std::string_view text, std::string_view what = "json", std::size_t max_depth = 128) {
  std::size_t consumed = 0;
  const auto at_byte = [&](std::size_t n) { return std::string(what) + " (byte " + std::to_string(n) + ")"; };
  const auto here = [&] { return at_byte(consumed == 0 ? 0 : consumed - 1); };
  // keys[d]: the keys seen so far in the open object whose members are at depth d.
  std::vector<std::unordered_set<std::string>> keys;
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    const auto d = static_cast<std::size_t>(depth);
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (d + 1 > max_depth) throw error(here(), "nesting depth at most " + std::to_string(max_depth), "deeper nesting");
        if (event == json::parse_event_t::object_start) {
          if (keys.size() < d + 2) keys.resize(d + 2);
          keys[d + 1].clear();
        }
        break;
      case json::parse_event_t::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!keys[d].insert(k).second)
          throw error(here(), "unique object keys", "duplicate key \"" + k + "\"");
        break;
      }
      default: break;
    }
    return true;
  };
  const detail::counting_iterator first{text.data(), &consumed}, last{text.data() + text.size(), &consumed};
  try {
    return json::parse(first, last, check);
  } catch (const json::parse_error& e) {
    detail::throw_parse_error(at_byte(e.byte == 0 ? 0 : e.byte - 1), e.what());
  } catch (const json::out_of_range& e) {  // 406: a number outside double range ("1e999")
    std::string_view m = e.what();
    if (const auto q = m.find('\''); q != std::string_view::npos) m.remove_prefix(q);
    throw error(here(), "a number within double range", detail::printable(m));
  }
}

}  // namespace growth::io
