/// libFuzzer target: growth::io::parse_json (nlohmann-json with the strict callback).
/// Invariant: a text that parses dumps (compact and pretty) to text that re-parses to an equal value, and
/// dumping is a fixed point (dump(parse(dump(v))) == dump(v)).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <growth/io/json.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  growth::io::json v;
  try {
    v = growth::io::parse_json(text, "fuzz");
  } catch (const growth::error&) {
    return 0;
  }
  const std::string compact = v.dump();
  const std::string pretty = v.dump(2);
  try {
    const auto a = growth::io::parse_json(compact, "compact");
    const auto b = growth::io::parse_json(pretty, "pretty");
    FUZZ_CHECK(a == v);
    FUZZ_CHECK(b == v);
    FUZZ_CHECK(a.dump() == compact);
    FUZZ_CHECK(b.dump(2) == pretty);
  } catch (const growth::error&) {
    FUZZ_CHECK(!"the dump of a parsed value failed to parse");
  }
  return 0;
}
