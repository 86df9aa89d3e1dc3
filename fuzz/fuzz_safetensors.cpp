/// libFuzzer target: the safetensors reader (header length, JSON header, dtypes, shapes, data ranges) and
/// read() with NaN/Inf checks.
/// Invariants: every tensor of a file that opens can be read (or is refused with growth::error, e.g. for
/// NaN); a file of float tensors written back with safetensors_writer re-opens with the same names,
/// dtypes, shapes, metadata and bit-identical data.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <growth/io/safetensors.hpp>

#include "fuzz_common.hpp"

namespace {
using growth::io::safetensors_reader;

/// The raw bytes of a float tensor (read in its own dtype, so bits are copied, not converted).
std::vector<unsigned char> raw_bytes(const safetensors_reader& r, const std::string& name) {
  const auto& t = r.info(name);
  std::vector<unsigned char> out;
  auto grab = [&](auto v) {
    out.resize(v.size() * sizeof(v[0]));
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  };
  switch (t.type) {
    case growth::dtype::f32: grab(r.read<float>(name)); break;
    case growth::dtype::f64: grab(r.read<double>(name)); break;
    case growth::dtype::f16: grab(r.read<growth::float16>(name)); break;
    case growth::dtype::bf16: grab(r.read<growth::bfloat16>(name)); break;
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::scratch() / "in.safetensors";
  const auto out = fuzz::scratch() / "out.safetensors";
  fuzz::put(in, std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const safetensors_reader strict(in);
    for (const auto& n : strict.names()) {
      try {
        (void)strict.read<float>(n);  // NaN/Inf and non-float dtypes are refused with growth::error
      } catch (const growth::error&) {
      }
    }
  } catch (const growth::error&) {
    return 0;
  }
  // The file opened: write it back and compare.
  const safetensors_reader r(in, growth::io::reader_options{.allow_nonfinite = true});
  bool all_float = true;
  for (const auto& n : r.names()) all_float = all_float && r.info(n).is_float;
  if (!all_float) return 0;
  std::vector<std::vector<unsigned char>> bytes;
  growth::io::safetensors_writer w;
  try {
    for (const auto& n : r.names()) {
      bytes.push_back(raw_bytes(r, n));
      const auto& t = r.info(n);
      w.add(n, t.type, t.shape, bytes.back().empty() ? nullptr : bytes.back().data());
    }
    for (const auto& [k, v] : r.metadata()) w.set_metadata(k, v);
    w.write(out);
    const safetensors_reader r2(out, growth::io::reader_options{.allow_nonfinite = true});
    const auto names = r.names();
    FUZZ_CHECK(r2.names() == names);
    FUZZ_CHECK(r2.metadata() == r.metadata());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& n = names[i];
      FUZZ_CHECK(r2.info(n).type == r.info(n).type);
      FUZZ_CHECK(r2.info(n).shape == r.info(n).shape);
      FUZZ_CHECK(raw_bytes(r2, n) == bytes[i]);
    }
  } catch (const growth::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    FUZZ_CHECK(!"a file that opened failed to write back or re-open");
  }
  return 0;
}
