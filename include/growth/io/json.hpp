#pragma once
/// @file json.hpp
/// A small, strict JSON value (RFC 8259) with a parser and a serialiser, standard library only.
/// Used for safetensors headers, config.json, trainer_state.json and schedule files.
///
/// Why our own: the library headers may depend on the standard library only. Strictness matters more
/// than speed here, because these files come from outside (downloaded checkpoints, hand-edited configs):
///  - no comments, no trailing commas, no leading zeros, no NaN/Infinity, no single quotes;
///  - strings must be valid UTF-8 (no overlong forms, no surrogates), control characters must be escaped,
///    \u escapes must form valid code points (surrogate pairs combined, lone surrogates rejected);
///  - duplicate keys in an object are rejected (RFC 8259 leaves them undefined; safetensors must not
///    silently keep one of two tensors with the same name);
///  - nesting deeper than max_depth is rejected before the stack can overflow;
///  - every error names the byte offset.
/// Objects keep their key order, so a file read and written back keeps its layout.
/// Numbers keep an exact int64 when the literal is an integer that fits, and a double always.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "utf8.hpp"

namespace growth::io {

class json;


class json {
 public:
  enum class kind { null, boolean, number, string, array, object };
  using array_t = std::vector<json>;
  using object_t = std::vector<std::pair<std::string, json>>;

  json() = default;
  json(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  json(bool b) : kind_(kind::boolean), bool_(b) {}  // NOLINT
  json(double d) : kind_(kind::number), num_(d) {  // NOLINT
    if (!std::isfinite(d)) throw error("json number", "a finite value", std::to_string(d));
  }
  json(float f) : json(static_cast<double>(f)) {}  // NOLINT
  /// Integers are stored exactly (and as a double); unsigned values above INT64_MAX are refused.
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  json(I v) : kind_(kind::number), num_(static_cast<double>(v)), is_int_(true) {  // NOLINT
    if constexpr (std::is_unsigned_v<I>) {
      if (static_cast<unsigned long long>(v) > static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max()))
        throw error("json integer", "at most 2^63-1", std::to_string(v));
    }
    int_ = static_cast<std::int64_t>(v);
  }
  json(std::string s) : kind_(kind::string), str_(std::move(s)) {}  // NOLINT
  json(std::string_view s) : json(std::string(s)) {}                // NOLINT
  json(const char* s) : json(std::string(s)) {}                     // NOLINT
  json(array_t a) : kind_(kind::array), arr_(std::move(a)) {}      // NOLINT
  json(object_t o) : kind_(kind::object), obj_(std::move(o)) {}    // NOLINT

  static json array(array_t a = {}) { return json(std::move(a)); }
  static json object(object_t o = {}) { return json(std::move(o)); }

  [[nodiscard]] kind type() const { return kind_; }
  [[nodiscard]] bool is_null() const { return kind_ == kind::null; }
  [[nodiscard]] bool is_bool() const { return kind_ == kind::boolean; }
  [[nodiscard]] bool is_number() const { return kind_ == kind::number; }
  /// True for a number that is an exact int64 (an integer literal, or built from an integer).
  [[nodiscard]] bool is_integer() const { return kind_ == kind::number && is_int_; }
  [[nodiscard]] bool is_string() const { return kind_ == kind::string; }
  [[nodiscard]] bool is_array() const { return kind_ == kind::array; }
  [[nodiscard]] bool is_object() const { return kind_ == kind::object; }

  /// The name of the kind, for error messages.
  static const char* kind_name(kind k) {
    switch (k) {
      case kind::null: return "null";
      case kind::boolean: return "a boolean";
      case kind::number: return "a number";
      case kind::string: return "a string";
      case kind::array: return "an array";
      case kind::object: return "an object";
    }
    return "?";
  }
  /// A short description of this value for error messages: its kind and, for scalars, its text.
  [[nodiscard]] std::string describe() const {
    if (kind_ == kind::array || kind_ == kind::object) return kind_name(kind_);
    std::string d = dump();
    if (d.size() > 60) d = d.substr(0, 57) + "...";
    return std::string(kind_name(kind_)) + " " + d;
  }

  [[nodiscard]] bool as_bool(std::string_view what = "json value") const {
    expect(kind::boolean, what);
    return bool_;
  }
  [[nodiscard]] double as_double(std::string_view what = "json value") const {
    expect(kind::number, what);
    return num_;
  }
  [[nodiscard]] std::int64_t as_int(std::string_view what = "json value") const {
    if (!is_integer()) throw error(what, "an integer", describe());
    return int_;
  }
  /// A non-negative integer as size_t.
  [[nodiscard]] std::size_t as_size(std::string_view what = "json value") const {
    if (!is_integer() || int_ < 0) throw error(what, "a non-negative integer", describe());
    return static_cast<std::size_t>(int_);
  }
  [[nodiscard]] const std::string& as_string(std::string_view what = "json value") const {
    expect(kind::string, what);
    return str_;
  }
  [[nodiscard]] const array_t& as_array(std::string_view what = "json value") const {
    expect(kind::array, what);
    return arr_;
  }
  [[nodiscard]] array_t& as_array(std::string_view what = "json value") {
    expect(kind::array, what);
    return arr_;
  }
  [[nodiscard]] const object_t& as_object(std::string_view what = "json value") const {
    expect(kind::object, what);
    return obj_;
  }
  [[nodiscard]] object_t& as_object(std::string_view what = "json value") {
    expect(kind::object, what);
    return obj_;
  }

  /// Member lookup in an object; nullptr when absent (or when this is not an object).
  [[nodiscard]] const json* find(std::string_view key) const {
    if (kind_ != kind::object) return nullptr;
    for (const auto& kv : obj_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  [[nodiscard]] bool contains(std::string_view key) const { return find(key) != nullptr; }
  /// Member lookup; growth::error naming the key when absent.
  [[nodiscard]] const json& at(std::string_view key) const {
    expect(kind::object, "json value");
    if (const json* v = find(key)) return *v;
    throw error("json key \"" + std::string(key) + "\"", "present", "missing");
  }
  [[nodiscard]] const json& at(std::size_t i) const {
    expect(kind::array, "json value");
    if (i >= arr_.size()) throw error("json array index", "< " + std::to_string(arr_.size()), std::to_string(i));
    return arr_[i];
  }
  /// Object member access; a null value becomes an empty object, an absent key is appended (key order kept).
  json& operator[](std::string_view key) {
    if (kind_ == kind::null) kind_ = kind::object;
    expect(kind::object, "json value");
    for (auto& kv : obj_)
      if (kv.first == key) return kv.second;
    obj_.emplace_back(std::string(key), json());
    return obj_.back().second;
  }
  /// Appends to an array; a null value becomes an empty array.
  void push_back(json v) {
    if (kind_ == kind::null) kind_ = kind::array;
    expect(kind::array, "json value");
    arr_.push_back(std::move(v));
  }
  /// Element count of an array or object, 0 for scalars.
  [[nodiscard]] std::size_t size() const {
    return kind_ == kind::array ? arr_.size() : kind_ == kind::object ? obj_.size() : 0;
  }

  /// Structural equality; numbers compare by value (an int64 and the equal double are equal); object key
  /// order does not matter.
  friend bool operator==(const json& a, const json& b) {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
      case kind::null: return true;
      case kind::boolean: return a.bool_ == b.bool_;
      case kind::number: return (a.is_int_ && b.is_int_) ? a.int_ == b.int_ : a.num_ == b.num_;
      case kind::string: return a.str_ == b.str_;
      case kind::array: return a.arr_ == b.arr_;
      case kind::object:
        if (a.obj_.size() != b.obj_.size()) return false;
        for (const auto& kv : a.obj_) {
          const json* o = b.find(kv.first);
          if (!o || !(*o == kv.second)) return false;
        }
        return true;
    }
    return false;
  }

  /// Serialises. indent < 0: compact ("{"a":1,"b":[1,2]}"); indent >= 0: pretty, with that many spaces
  /// per level and ": " after keys (the layout Python's json.dump(indent=n) writes). Non-ASCII text is
  /// written as UTF-8, control characters as escapes. Doubles use the shortest text that reads back to
  /// the same bits; an integral double gets ".0" so it stays a double when read back.
  [[nodiscard]] std::string dump(int indent = -1) const {
    std::string out;
    dump_to(out, indent, 0);
    return out;
  }

  /// Parses one JSON text (surrounding whitespace allowed, nothing else). Throws growth::error naming
  /// `what`, the problem and the byte offset.
  static json parse(std::string_view text, std::string_view what = "json", std::size_t max_depth = 128);

 private:
  friend class json_parser;
  void expect(kind k, std::string_view what) const {
    if (kind_ != k) throw error(what, kind_name(k), describe());
  }

  static void dump_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            static const char* hex = "0123456789abcdef";
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }

  void dump_to(std::string& out, int indent, int level) const {
    auto newline = [&](int lvl) {
      if (indent < 0) return;
      out += '\n';
      out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
    };
    switch (kind_) {
      case kind::null: out += "null"; break;
      case kind::boolean: out += bool_ ? "true" : "false"; break;
      case kind::number: {
        char buf[64];
        if (is_int_) {
          auto r = std::to_chars(buf, buf + sizeof buf, int_);
          out.append(buf, r.ptr);
        } else {
          auto r = std::to_chars(buf, buf + sizeof buf, num_);
          std::string_view t(buf, static_cast<std::size_t>(r.ptr - buf));
          out += t;
          if (t.find_first_of(".eEn") == std::string_view::npos) out += ".0";
        }
        break;
      }
      case kind::string: dump_string(out, str_); break;
      case kind::array:
        if (arr_.empty()) {
          out += "[]";
          break;
        }
        out += '[';
        for (std::size_t i = 0; i < arr_.size(); ++i) {
          if (i) out += ',';
          newline(level + 1);
          arr_[i].dump_to(out, indent, level + 1);
        }
        newline(level);
        out += ']';
        break;
      case kind::object:
        if (obj_.empty()) {
          out += "{}";
          break;
        }
        out += '{';
        for (std::size_t i = 0; i < obj_.size(); ++i) {
          if (i) out += ',';
          newline(level + 1);
          dump_string(out, obj_[i].first);
          out += indent < 0 ? ":" : ": ";
          obj_[i].second.dump_to(out, indent, level + 1);
        }
        newline(level);
        out += '}';
        break;
    }
  }

  kind kind_ = kind::null;
  bool bool_ = false;
  double num_ = 0;
  std::int64_t int_ = 0;
  bool is_int_ = false;
  std::string str_;
  array_t arr_;
  object_t obj_;
};

/// The recursive-descent parser behind json::parse.
class json_parser {
 public:
  json_parser(std::string_view text, std::string_view what, std::size_t max_depth)
      : s_(text), what_(what), max_depth_(max_depth) {}

  json run() {
    skip_ws();
    json v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("end of input after the value", quoted(peek_text()));
    return v;
  }

 private:
  [[noreturn]] void fail(std::string_view expected, const std::string& actual) const {
    throw error(std::string(what_) + " (byte " + std::to_string(pos_) + ")", expected, actual);
  }
  std::string peek_text() const {
    if (pos_ >= s_.size()) return "end of input";
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c < 0x20 || c >= 0x7f) {
      static const char* hex = "0123456789abcdef";
      return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
    }
    return std::string(1, static_cast<char>(c));
  }
  static std::string quoted(const std::string& t) {
    std::string q(1, '\'');
    q += t;
    q += '\'';
    return q;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      std::string w(1, '\'');  // built by append: GCC 12 warns falsely (-Wrestrict) on "'" + string
      w.append(word);
      w += '\'';
      fail(w, quoted(peek_text()));
    }
    pos_ += word.size();
  }

  json value(std::size_t depth) {
    if (pos_ >= s_.size()) fail("a value", "end of input");
    switch (s_[pos_]) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return json(string());
      case 't': literal("true"); return json(true);
      case 'f': literal("false"); return json(false);
      case 'n': literal("null"); return json();
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) return number();
        fail("a value", quoted(peek_text()));
    }
  }

  void check_depth(std::size_t depth) {
    if (depth > max_depth_) fail("nesting depth at most " + std::to_string(max_depth_), "deeper nesting");
  }

  json object(std::size_t depth) {
    check_depth(depth);
    ++pos_;  // '{'
    json out = json::object();
    auto& members = out.obj_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return out;
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("a string key", quoted(peek_text()));
      const std::size_t key_pos = pos_;
      std::string key = string();
      for (const auto& kv : members)
        if (kv.first == key) {
          pos_ = key_pos;
          fail("unique object keys", "duplicate key \"" + key + "\"");
        }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("':'", quoted(peek_text()));
      ++pos_;
      skip_ws();
      json v = value(depth);
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return out;
      }
      fail("',' or '}'", quoted(peek_text()));
    }
  }

  json array(std::size_t depth) {
    check_depth(depth);
    ++pos_;  // '['
    json out = json::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return out;
    }
    for (;;) {
      skip_ws();
      out.arr_.push_back(value(depth));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return out;
      }
      fail("',' or ']'", quoted(peek_text()));
    }
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("4 hex digits after \\u", "end of input");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else fail("a hex digit in \\u escape", quoted(peek_text()));
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("a closing '\"'", "end of input");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control characters in strings to be escaped", peek_text());
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) fail("an escape character", "end of input");
        const char e = s_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            unsigned cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail("a valid \\u escape", "a lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(pos_, 2) != "\\u") fail("a low surrogate after a high surrogate", quoted(peek_text()));
              pos_ += 2;
              const unsigned lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail("a low surrogate after a high surrogate", "another code unit");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            detail::append_utf8(out, static_cast<char32_t>(cp));
            break;
          }
          default: --pos_; fail("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)", "'\\" + peek_text() + "'");
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const std::size_t start = pos_;
      if (detail::decode_utf8(s_, pos_) == static_cast<char32_t>(-1)) fail("valid UTF-8", peek_text());
      out.append(s_.substr(start, pos_ - start));
    }
  }

  json number() {
    const std::size_t start = pos_;
    auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    if (s_[pos_] == '-') ++pos_;
    if (!digit()) fail("a digit", quoted(peek_text()));
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit()) fail("no leading zeros", quoted(std::string(s_.substr(start, pos_ - start + 1))));  // quoted(): GCC 12 -Wrestrict
    } else {
      while (digit()) ++pos_;
    }
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (!digit()) fail("a digit after '.'", quoted(peek_text()));
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit()) fail("a digit in the exponent", quoted(peek_text()));
      while (digit()) ++pos_;
    }
    const std::string_view t = s_.substr(start, pos_ - start);
    json v;
    v.kind_ = json::kind::number;
    if (integral) {
      std::int64_t i = 0;
      auto r = std::from_chars(t.data(), t.data() + t.size(), i);
      if (r.ec == std::errc() && r.ptr == t.data() + t.size()) {
        v.int_ = i;
        v.is_int_ = true;
        v.num_ = static_cast<double>(i);
        return v;
      }
      // An integer beyond int64: keep it as a double (not exact), like most JSON libraries.
    }
    double d = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), d);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(d)) {
      pos_ = start;
      fail("a number within double range", quoted(std::string(t)));
    }
    v.num_ = d;
    return v;
  }

  std::string_view s_;
  std::string_view what_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
};

inline json json::parse(std::string_view text, std::string_view what, std::size_t max_depth) {
  return json_parser(text, what, max_depth).run();
}

}  // namespace growth::io
