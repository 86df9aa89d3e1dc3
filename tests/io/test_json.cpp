#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <iterator>
#include <string>

#include <growth/io/atomic_file.hpp>
#include <growth/io/json.hpp>

#include "test_helpers.hpp"

using growth::io::json;
using growth::io::parse_json;
namespace io = growth::io;

TEST_CASE("json: parse and dump round trip keeps key order and exact integers") {
  const std::string text =
      R"({"z":1,"a":[true,false,null],"n":-0.5,"big":9007199254740993,"e":1e-12,"s":"h\u00e9\"\\\n\t\/x","o":{}})";
  const json v = parse_json(text);
  REQUIRE(v.is_object());
  CHECK(io::as_object(v).begin()->first == "z");
  CHECK(std::next(io::as_object(v).begin())->first == "a");
  CHECK(v.at("big").is_number_integer());
  CHECK(io::as_int(v.at("big")) == 9007199254740993LL);  // not representable in a double
  CHECK(io::as_double(v.at("n")) == -0.5);
  CHECK(!v.at("n").is_number_integer());
  CHECK(io::as_double(v.at("e")) == 1e-12);
  CHECK(io::as_string(v.at("s")) == "h\xc3\xa9\"\\\n\t/x");
  CHECK(v.at("a").at(2).is_null());
  const std::string compact = v.dump();
  CHECK(parse_json(compact) == v);
  CHECK(compact == R"({"z":1,"a":[true,false,null],"n":-0.5,"big":9007199254740993,"e":1e-12,"s":"hé\"\\\n\t/x","o":{}})");
  const std::string pretty = v.dump(2);
  CHECK(parse_json(pretty) == v);
  CHECK(pretty.find("\n  \"z\": 1,\n") != std::string::npos);
}

TEST_CASE("json: doubles round trip bit-exactly and integral doubles stay doubles") {
  // Awkward doubles: no short decimal (0.1 + 0.2), subnormal, the extremes, negative zero, integral ones.
  for (double d : {0.1, 0.1 + 0.2, 1.0 / 3.0, 1e-12, 6.02214076e23, -2.5e-308, 0.02, 1.0, 3.0e10, 4.9406564584124654e-324,
                   2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 9007199254740993.0, 123456789.123456789}) {
    CAPTURE(d);
    const json back = parse_json(json(d).dump());
    CHECK(std::bit_cast<std::uint64_t>(io::as_double(back)) == std::bit_cast<std::uint64_t>(d));
    CHECK(!back.is_number_integer());
  }
  CHECK(json(1.0).dump() == "1.0");
  CHECK(json(0.1 + 0.2).dump() == "0.30000000000000004");
  CHECK(json(std::size_t{768}).dump() == "768");
  CHECK(json(1e-12).dump() == "1e-12");
  CHECK(io::as_size(parse_json("18446744073709551615")) == 18446744073709551615ULL);  // uint64 exact
}

TEST_CASE("json: surrogate pairs and UTF-8") {
  CHECK(io::as_string(parse_json(R"("\ud83d\ude00")")) == "\xf0\x9f\x98\x80");
  CHECK(io::as_string(parse_json("\"\xe6\x97\xa5\"")) == "\xe6\x97\xa5");
  CHECK(json(std::string("\x01")).dump() == "\"\\u0001\"");
}

TEST_CASE("json: malformed inputs are rejected with the byte offset") {
  struct bad {
    std::string text, fragment;
  };
  // The fragments are nlohmann-json's words for the problem.
  const bad cases[] = {
      {"", "got end of input"},
      {"{", "expected string literal"},
      {"[1,]", "got ']'"},
      {"{\"a\":1,}", "expected string literal, got '}'"},
      {"01", "expected end of input, got number literal"},
      {"-", "expected digit after '-'"},
      {"1.", "expected digit after '.'"},
      {"1e", "digit after exponent"},
      {"NaN", "invalid literal"},
      {"Infinity", "invalid literal"},
      {"1e999", "a number within double range, got '1e999'"},
      {"[-1e400]", "a number within double range"},
      {"'a'", "invalid literal"},
      {"\"abc", "missing closing quote"},
      {"\"a\tb\"", "control character U+0009 (HT) must be escaped"},
      {"\"\\x\"", "forbidden character after backslash"},
      {"\"\\ud800\"", "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"},
      {"\"\\udc00\"", "surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF"},
      {"\"\xc3\x28\"", "ill-formed UTF-8"},
      {"\"\xc0\xaf\"", "ill-formed UTF-8"},          // overlong '/'
      {"\"\xed\xa0\x80\"", "ill-formed UTF-8"},      // encoded surrogate
      {"{\"a\":1,\"a\":2}", "expected unique object keys, got duplicate key \"a\""},
      {"{\"o\":{\"a\":1},\"p\":{\"b\":{\"a\":2,\"a\":3}}}", "duplicate key \"a\""},
      {"[1] 2", "expected end of input"},
      {"tru", "invalid literal (last read: 'tru')"},
      {"{\"a\" 1}", "expected ':'"},
      {"[1 2]", "expected ']'"},
      {"/* c */ 1", "invalid literal"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_THROWS_WITH_AS(parse_json(c.text, "test.json"), doctest::Contains(c.fragment.c_str()), growth::error);
    CHECK_THROWS_WITH_AS(parse_json(c.text, "test.json"), doctest::Contains("test.json (byte "), growth::error);
  }
  CHECK_THROWS_WITH_AS(parse_json("[1,]"), "json (byte 3): expected '[', '{', or a literal, got ']'", growth::error);
  // Keys may repeat in different objects.
  CHECK_NOTHROW(parse_json(R"({"a":{"a":1},"b":{"a":2},"c":[{"a":3},{"a":4}]})"));
  // Invalid bytes are shown escaped, not copied into the message.
  CHECK_THROWS_WITH_AS(parse_json("\"\xff\""), doctest::Contains("\\xff"), growth::error);
}

TEST_CASE("json: depth limit") {
  std::string deep(128, '[');
  deep += std::string(128, ']');
  CHECK_NOTHROW(parse_json(deep));
  CHECK_THROWS_WITH_AS(parse_json(R"({"a":)" + std::string(128, '[')), doctest::Contains("nesting depth at most 128"),
                       growth::error);
  const std::string too_deep = std::string(200, '[') + std::string(200, ']');
  CHECK_THROWS_WITH_AS(parse_json(too_deep), "json (byte 128): expected nesting depth at most 128, got deeper nesting",
                       growth::error);
  std::string hostile(1000000, '[');  // would build a million nested arrays without the limit
  CHECK_THROWS_AS(parse_json(hostile), growth::error);
  CHECK_THROWS_AS(parse_json(std::string(3, '['), "shallow", 2), growth::error);
}

TEST_CASE("json: typed accessors name the value") {
  const json v = parse_json(R"({"a":"x","b":-1,"c":1.5,"d":18446744073709551615,"s":"123"})");
  CHECK_THROWS_WITH_AS((void)io::as_int(v.at("a"), "field a"), "field a: expected an integer, got a string \"x\"",
                       growth::error);
  CHECK_THROWS_WITH_AS((void)io::as_size(v.at("b"), "field b"), "field b: expected a non-negative integer, got a number -1",
                       growth::error);
  CHECK_THROWS_WITH_AS((void)io::as_int(v.at("c"), "field c"), doctest::Contains("expected an integer, got a number 1.5"),
                       growth::error);
  CHECK_THROWS_WITH_AS((void)io::as_size(v.at("c"), "field c"), doctest::Contains("expected a non-negative integer"),
                       growth::error);
  CHECK_THROWS_WITH_AS((void)io::as_int(v.at("d"), "field d"), doctest::Contains("expected an integer"), growth::error);
  CHECK_THROWS_WITH_AS((void)io::as_bool(v.at("b"), "field b"), "field b: expected a boolean, got a number -1", growth::error);
  CHECK_THROWS_WITH_AS((void)io::at(v, "missing"), "json key \"missing\": expected present, got missing", growth::error);
  CHECK_THROWS_WITH_AS((void)io::at(v.at("a"), "k", "field a"), "field a: expected an object, got a string \"x\"",
                       growth::error);
  CHECK(io::find(v, "missing") == nullptr);
  CHECK(io::find(v.at("a"), "a") == nullptr);
  CHECK(io::find(v, "b") == &v.at("b"));
  // as_uint64: an integer, or (files written before nlohmann-json) a decimal string.
  CHECK(io::as_uint64(v.at("d")) == 18446744073709551615ULL);
  CHECK(io::as_uint64(v.at("s")) == 123);
  CHECK_THROWS_WITH_AS((void)io::as_uint64(v.at("a"), "seed"), doctest::Contains("seed: expected a non-negative integer below 2^64"),
                       growth::error);
  CHECK_THROWS_AS((void)io::as_uint64(json("18446744073709551616")), growth::error);
  json built;
  built["x"] = 1;
  built["y"].push_back("s");
  built["x"] = 2;
  CHECK(built.dump() == R"({"x":2,"y":["s"]})");
}

TEST_CASE("atomic_file: writes, replaces, leaves no temp files, and cleans up on a throwing writer") {
  io_test::scratch_dir dir("atomic");
  const auto p = dir / "f.txt";
  growth::io::write_file_atomic(p, "first");
  CHECK(growth::io::read_file(p) == "first");
  growth::io::write_file_atomic(p, "second");
  CHECK(growth::io::read_file(p) == "second");
  CHECK_THROWS_AS(growth::io::write_file_atomic(p,
                                                [](std::ostream& os) {
                                                  os << "partial";
                                                  throw growth::error("boom");
                                                }),
                  growth::error);
  CHECK(growth::io::read_file(p) == "second");
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
  CHECK_THROWS_WITH_AS(growth::io::read_file(dir / "nope"), doctest::Contains("missing"), growth::error);
  CHECK_THROWS_AS(growth::io::write_file_atomic(dir / "no_such_dir" / "x", "y"), growth::error);
}
