/// libFuzzer target: the optimizer-state file (optimizer.safetensors of a checkpoint folder: AdamW moments
/// "<param>.exp_avg" / ".exp_avg_sq" and the "step" metadata), loaded by growth::io::load_checkpoint into
/// a fixed tiny checkpoint folder.
/// Invariant: a folder that loads is saved (atomically, to a second folder) and loads back with
/// bit-identical moments, the same step and the same extra metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <growth/io/checkpoint.hpp>

#include "fuzz_common.hpp"
#include "tiny_checkpoint.hpp"

namespace {
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = [] {
    auto d = fuzz::scratch() / "ckpt";
    auto ck = fuzz::tiny_checkpoint(false);
    growth::io::save_checkpoint(d, ck);
    return d;
  }();
  const auto again = fuzz::scratch() / "ckpt2";
  fuzz::put(dir / "optimizer.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
  growth::io::checkpoint ck;
  try {
    ck = growth::io::load_checkpoint(dir);
  } catch (const growth::error&) {
    return 0;
  }
  FUZZ_CHECK(ck.opt.has_value());
  try {
    growth::io::save_checkpoint(again, ck);
    const auto ck2 = growth::io::load_checkpoint(again);
    FUZZ_CHECK(ck2.opt.has_value());
    FUZZ_CHECK(same_bits(ck2.opt->exp_avg, ck.opt->exp_avg));
    FUZZ_CHECK(same_bits(ck2.opt->exp_avg_sq, ck.opt->exp_avg_sq));
    FUZZ_CHECK(ck2.opt->step == ck.opt->step);
    FUZZ_CHECK(ck2.opt->extra == ck.opt->extra);
    FUZZ_CHECK(same_bits(ck2.params, ck.params));
  } catch (const growth::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    FUZZ_CHECK(!"a checkpoint that loaded failed to save or reload");
  }
  return 0;
}
