/// libFuzzer target: the index of a sharded tensor set ("model.safetensors.index.json", io/sharded.hpp),
/// parsed by growth::io::parse_shard_index and opened by growth::io::sharded_reader over two fixed shard
/// files (tensor "a" [4] in model-00001-of-00002.safetensors, "b" [2, 3] in model-00002-of-00002.safetensors),
/// so the index is checked against real shards: names, files, total_size, stray shards.
/// Invariants: a parsed index written back with shard_index_json parses to the same total_size and the same
/// tensor -> file map; a reader that opens lists exactly the index's tensors, each in the file the index
/// names, and reads each back.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <growth/io/sharded.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = [] {
    auto d = fuzz::scratch() / "shards";
    std::filesystem::create_directories(d);
    static const std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8, 9, 10};
    growth::io::sharded_writer w(d, "model", {{"a", growth::dtype::f32, {4}}, {"b", growth::dtype::f32, {2, 3}}},
                                 {{"format", "pt"}}, 20);
    w.write_next(std::span<const float>(a));
    w.write_next(std::span<const float>(b));
    w.finish();
    return d;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  growth::io::shard_index ix;
  try {
    ix = growth::io::parse_shard_index(text, "fuzz index");
  } catch (const growth::error&) {
    return 0;
  }
  std::map<std::string, std::string> wm(ix.weight_map.begin(), ix.weight_map.end());
  FUZZ_CHECK(wm.size() == ix.weight_map.size());  // names are unique (the parser refuses duplicate keys)
  try {
    const auto again = growth::io::parse_shard_index(growth::io::shard_index_json(ix.total_size, wm), "again");
    FUZZ_CHECK(again.total_size == ix.total_size);
    const std::map<std::string, std::string> back(again.weight_map.begin(), again.weight_map.end());
    FUZZ_CHECK(back == wm);
  } catch (const growth::error&) {
    FUZZ_CHECK(!"a written index failed to parse");
  }
  fuzz::put(dir / "model.safetensors.index.json", text);
  try {
    const growth::io::sharded_reader rd(dir, "model", growth::io::reader_options{.allow_nonfinite = true});
    FUZZ_CHECK(rd.names().size() == wm.size());
    for (const auto& n : rd.names()) {
      FUZZ_CHECK(wm.count(n) == 1);
      FUZZ_CHECK(rd.path_of(n).filename().string() == wm.at(n));
      FUZZ_CHECK(rd.read<float>(n).size() == rd.info(n).numel);
    }
  } catch (const growth::error&) {
  }
  return 0;
}
