#include <doctest/doctest.h>

#include <growth/io/atomic_file.hpp>
#include <growth/io/json.hpp>

#include "test_helpers.hpp"

using growth::io::json;

TEST_CASE("json: parse and dump round trip keeps key order and exact integers") {
  const std::string text =
      R"({"z":1,"a":[true,false,null],"n":-0.5,"big":9007199254740993,"e":1e-12,"s":"h\u00e9\"\\\n\t\/x","o":{}})";
  const json v = json::parse(text);
  REQUIRE(v.is_object());
  CHECK(v.as_object()[0].first == "z");
  CHECK(v.as_object()[1].first == "a");
  CHECK(v.at("big").is_integer());
  CHECK(v.at("big").as_int() == 9007199254740993LL);  // not representable in a double
  CHECK(v.at("n").as_double() == -0.5);
  CHECK(!v.at("n").is_integer());
  CHECK(v.at("e").as_double() == 1e-12);
  CHECK(v.at("s").as_string() == "h\xc3\xa9\"\\\n\t/x");
  CHECK(v.at("a").at(2).is_null());
  const std::string compact = v.dump();
  CHECK(json::parse(compact) == v);
  CHECK(compact == R"({"z":1,"a":[true,false,null],"n":-0.5,"big":9007199254740993,"e":1e-12,"s":"hé\"\\\n\t/x","o":{}})");
  const std::string pretty = v.dump(2);
  CHECK(json::parse(pretty) == v);
  CHECK(pretty.find("\n  \"z\": 1,\n") != std::string::npos);
}

TEST_CASE("json: doubles round trip bit-exactly and integral doubles stay doubles") {
  for (double d : {0.1, 1.0 / 3.0, 1e-12, 6.02214076e23, -2.5e-308, 0.02, 1.0, 3.0e10}) {
    const json v(d);
    const json back = json::parse(v.dump());
    CHECK(back.as_double() == d);
    CHECK(!back.is_integer());
  }
  CHECK(json(1.0).dump() == "1.0");
  CHECK(json(std::size_t{768}).dump() == "768");
  CHECK(json(1e-12).dump() == "1e-12");
}

TEST_CASE("json: surrogate pairs and UTF-8") {
  CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");
  CHECK(json::parse("\"\xe6\x97\xa5\"").as_string() == "\xe6\x97\xa5");
  CHECK(json(std::string("\x01")).dump() == "\"\\u0001\"");
}

TEST_CASE("json: malformed inputs are rejected with the byte offset") {
  struct bad {
    std::string text, fragment;
  };
  const bad cases[] = {
      {"", "end of input"},
      {"{", "a string key"},
      {"[1,]", "a value"},
      {"{\"a\":1,}", "a string key"},
      {"01", "no leading zeros"},
      {"-", "a digit"},
      {"1.", "a digit after '.'"},
      {"1e", "a digit in the exponent"},
      {"NaN", "a value"},
      {"Infinity", "a value"},
      {"1e999", "a number within double range"},
      {"'a'", "a value"},
      {"\"abc", "a closing"},
      {"\"a\tb\"", "control characters"},
      {"\"\\x\"", "a valid escape"},
      {"\"\\ud800\"", "a low surrogate"},
      {"\"\\udc00\"", "lone low surrogate"},
      {"\"\xc3\x28\"", "valid UTF-8"},
      {"\"\xc0\xaf\"", "valid UTF-8"},          // overlong '/'
      {"\"\xed\xa0\x80\"", "valid UTF-8"},      // encoded surrogate
      {"{\"a\":1,\"a\":2}", "duplicate key \"a\""},
      {"[1] 2", "end of input after the value"},
      {"tru", "'true'"},
      {"{\"a\" 1}", "':'"},
      {"[1 2]", "',' or ']'"},
      {"/* c */ 1", "a value"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_THROWS_WITH_AS(json::parse(c.text, "test.json"), doctest::Contains(c.fragment.c_str()), growth::error);
    CHECK_THROWS_WITH_AS(json::parse(c.text, "test.json"), doctest::Contains("test.json (byte "), growth::error);
  }
  CHECK_THROWS_WITH_AS(json::parse("[1,]"), doctest::Contains("(byte 3)"), growth::error);
}

TEST_CASE("json: depth limit") {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  CHECK_NOTHROW(json::parse(deep));
  std::string too_deep(200, '[');
  too_deep += std::string(200, ']');
  CHECK_THROWS_WITH_AS(json::parse(too_deep), doctest::Contains("nesting depth at most 128"), growth::error);
  std::string hostile(1000000, '[');  // would overflow the stack without the limit
  CHECK_THROWS_AS(json::parse(hostile), growth::error);
}

TEST_CASE("json: typed accessors name the value") {
  const json v = json::parse(R"({"a":"x","b":-1,"c":1.5})");
  CHECK_THROWS_WITH_AS((void)v.at("a").as_int("field a"), "field a: expected an integer, got a string \"x\"",
                       growth::error);
  CHECK_THROWS_WITH_AS((void)v.at("b").as_size("field b"), "field b: expected a non-negative integer, got a number -1",
                       growth::error);
  CHECK_THROWS_WITH_AS((void)v.at("c").as_int("field c"), doctest::Contains("expected an integer, got a number 1.5"),
                       growth::error);
  CHECK_THROWS_WITH_AS((void)v.at("missing"), "json key \"missing\": expected present, got missing", growth::error);
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
