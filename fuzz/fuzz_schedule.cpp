/// libFuzzer target: schedule JSON (growth::sched::parse_schedule).
/// Invariant: a schedule that parses is written back (to_json) and re-parses to an equal schedule, and its
/// JSON text is a fixed point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <growth/io/schedule_json.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  growth::sched::runtime_schedule s;
  try {
    s = growth::sched::parse_schedule(text, "fuzz schedule");
  } catch (const growth::error&) {
    return 0;
  }
  try {
    const std::string dumped = growth::io::json(s).dump(2);
    const auto s2 = growth::sched::parse_schedule(dumped, "dumped schedule");
    FUZZ_CHECK(s2 == s);
    FUZZ_CHECK(growth::io::json(s2).dump(2) == dumped);
  } catch (const growth::error&) {
    FUZZ_CHECK(!"a parsed schedule failed to re-parse");
  }
  return 0;
}
