/// libFuzzer target: config.json (growth::io::load_config) and partial configs (apply_overrides).
/// Invariants: a config that loads is saved and loads back to the same config.json object; validate()
/// refuses absurd sizes before anything is allocated (libFuzzer's -malloc_limit_mb catches a miss).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <growth/io/config_json.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto in = fuzz::scratch() / "config.json";
  const auto out = fuzz::scratch() / "config.out.json";
  fuzz::put(in, text);
  try {
    (void)growth::io::apply_overrides(growth::model::bert_config{}, growth::io::parse_json(text, "overrides"));
  } catch (const growth::error&) {
  }
  growth::model::bert_config c;
  try {
    c = growth::io::load_config(in);
  } catch (const growth::error&) {
    return 0;
  }
  try {
    growth::io::save_config(out, c);
    const auto c2 = growth::io::load_config(out);
    FUZZ_CHECK(growth::io::json(c2) == growth::io::json(c));
  } catch (const growth::error&) {
    FUZZ_CHECK(!"a loaded config failed to save or reload");
  }
  return 0;
}
