// Consumer of growth::io alone (growth-io.pc): writes a BERT config.json and reads it back. The io layer
// brings nlohmann-json with it, so a consumer may use it without finding it itself.
#include <growth/io/config_json.hpp>
#include <growth/version.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

int main() {
  growth::model::bert_config c;
  c.hidden_size = 64;
  c.num_attention_heads = 2;
  c.intermediate_size = 128;
  const auto p = std::filesystem::temp_directory_path() / ("growth_io_consumer_" + std::to_string(GROWTH_VERSION_MAJOR) + ".json");
  growth::io::save_config(p, c);
  const auto back = growth::io::load_config(p);
  const bool ok = back.hidden_size == 64 && nlohmann::json::parse("{\"a\": 1}").at("a") == 1;
  std::filesystem::remove(p);
  std::printf("growth %s consumer %s (io)\n", GROWTH_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
