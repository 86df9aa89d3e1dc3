#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <growth/core/random.hpp>
#include <growth/io/safetensors.hpp>
#include <limits>

#include "test_helpers.hpp"

using namespace growth;
using namespace growth::io;

namespace {
// Writes [u64 len][header][data] by hand, to build malformed files the writer would never produce.
void write_raw(const std::filesystem::path& p, const std::string& header, std::size_t data_bytes,
               std::uint64_t len_override = ~0ULL) {
  std::string s(8, '\0');
  const std::uint64_t n = len_override == ~0ULL ? header.size() : len_override;
  for (int k = 0; k < 8; ++k) s[static_cast<std::size_t>(k)] = static_cast<char>((n >> (8 * k)) & 0xff);
  s += header;
  s.append(data_bytes, '\0');
  write_file_atomic(p, s);
}
std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.normal());
  return v;
}
}  // namespace

TEST_CASE("safetensors: round trip F32/F64/F16/BF16 with metadata, file order and alignment") {
  io_test::scratch_dir dir("st_rt");
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    rng r(seed);
    const std::size_t a = 1 + r.below(7), b = 1 + r.below(9);
    auto f32 = random_floats(a * b, seed);
    std::vector<double> f64(a);
    for (std::size_t i = 0; i < a; ++i) f64[i] = r.normal() * 1e-3;
    std::vector<float16> f16(b);
    std::vector<bfloat16> bf16(a * b);
    for (std::size_t i = 0; i < b; ++i) f16[i] = float16(f32[i]);
    for (std::size_t i = 0; i < a * b; ++i) bf16[i] = bfloat16(f32[i]);
    safetensors_writer w;
    w.add("w.f16", {b}, f16.data());  // odd byte count first: later tensors are unaligned, must still read
    w.add("w.f32", {a, b}, f32.data());
    w.add("w.f64", {a}, f64.data());
    w.add("w.bf16", {a, b}, bf16.data());
    w.add("scalar", std::vector<std::size_t>{}, f32.data());
    w.add("empty", {0, 3}, static_cast<const float*>(nullptr));
    w.set_metadata("format", "pt");
    w.set_metadata("step", "42");
    const auto p = dir / ("t" + std::to_string(seed) + ".safetensors");
    w.write(p);
    CHECK(w.header().size() % 8 == 0);

    safetensors_reader rd(p);
    CHECK(rd.names() == std::vector<std::string>{"w.f16", "w.f32", "w.f64", "w.bf16", "scalar", "empty"});
    CHECK(rd.metadata().at("step") == "42");
    CHECK(rd.info("w.f32").shape == std::vector<std::size_t>{a, b});
    CHECK(rd.info("w.bf16").type == dtype::bf16);
    CHECK(rd.read<float>("w.f32") == f32);
    CHECK(rd.read<double>("w.f64") == f64);
    auto h = rd.read<float>("w.f16");
    for (std::size_t i = 0; i < b; ++i) CHECK(h[i] == static_cast<float>(f16[i]));
    auto hb = rd.read<float16>("w.f16");
    for (std::size_t i = 0; i < b; ++i) CHECK(hb[i].bits == f16[i].bits);
    auto bb = rd.read<double>("w.bf16");
    for (std::size_t i = 0; i < a * b; ++i) CHECK(bb[i] == static_cast<double>(static_cast<float>(bf16[i])));
    auto d2f = rd.read<float>("w.f64");
    for (std::size_t i = 0; i < a; ++i) CHECK(d2f[i] == static_cast<float>(f64[i]));
    CHECK(rd.read<float>("scalar") == std::vector<float>{f32[0]});
    CHECK(rd.read<float>("empty").empty());
    std::vector<float> dst(a * b);
    rd.read<float>("w.f32", std::span<float>(dst), {a, b});
    CHECK(dst == f32);
    const std::string want = "tensor w.f32 shape: expected [" + std::to_string(b) + ", " + std::to_string(a) +
                             "], got [" + std::to_string(a) + ", " + std::to_string(b) + "]";
    CHECK_THROWS_WITH_AS(rd.read<float>("w.f32", std::span<float>(dst), {b, a}), doctest::Contains(want.c_str()),
                         growth::error);
    CHECK_THROWS_WITH_AS((void)rd.info("absent"), doctest::Contains("tensor absent: expected present in the file"),
                         growth::error);
  }
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) files += e.path().extension() == ".safetensors";
  CHECK(files == 3);
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("safetensors: header bytes match the reference layout") {
  const float x[2] = {1.0f, 2.0f};
  safetensors_writer w;
  w.add("a", {2}, x);
  const std::string h = w.header();
  CHECK(h.rfind(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 0) == 0);
  CHECK(h.size() % 8 == 0);
}

TEST_CASE("safetensors: non-finite values are reported with the tensor name unless allowed") {
  io_test::scratch_dir dir("st_nan");
  std::vector<float> v{1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  std::vector<double> big{1e300};
  safetensors_writer w;
  w.add("bad", {3}, v.data());
  w.add("big", {1}, big.data());
  w.write(dir / "n.safetensors");
  safetensors_reader rd(dir / "n.safetensors");
  CHECK_THROWS_WITH_AS((void)rd.read<float>("bad"), doctest::Contains("tensor bad: expected finite values"),
                       growth::error);
  CHECK_THROWS_WITH_AS((void)rd.read<float>("bad"), doctest::Contains("got NaN at element 1"), growth::error);
  CHECK(rd.read<double>("big")[0] == 1e300);
  CHECK_THROWS_WITH_AS((void)rd.read<float>("big"), doctest::Contains("Inf at element 0 after conversion from F64"),
                       growth::error);
  safetensors_reader lax(dir / "n.safetensors", reader_options{true});
  CHECK(std::isnan(lax.read<float>("bad")[1]));
}

TEST_CASE("safetensors: malformed files are rejected with messages naming the problem") {
  io_test::scratch_dir dir("st_bad");
  struct bad {
    std::string name, header;
    std::size_t data;
    std::string fragment;
  };
  const bad cases[] = {
      {"not_json", "{\"a\":", 0, "header (byte 5): expected '[', '{', or a literal, got end of input"},
      {"not_object", "[1,2]      ", 0, "header: expected a JSON object starting with '{'"},
      {"bad_dtype", R"({"t":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", 4, "tensor t dtype: expected a safetensors dtype"},
      {"neg_shape", R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "tensor t shape entry: expected a non-negative integer"},
      {"overflow", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4, "tensor t shape: expected an element count below 2^64"},
      {"byte_overflow", R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4, "expected a byte count below 2^64"},
      {"wrong_bytes", R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12, "tensor t data_offsets: expected 16 bytes (shape [2, 2] x 4-byte F32), got 12 bytes"},
      {"out_of_range", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8, "tensor t data_offsets: expected within the data section of 8 bytes"},
      {"reversed", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4, "expected begin <= end"},
      {"overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "tensor b data_offsets: expected to begin at byte 8 (right after tensor a), got 4 (overlapping)"},
      {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12, "got 8 (a hole)"},
      {"not_from_zero", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "expected to begin at byte 0 (right after the start of the data section), got 4"},
      {"trailing", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, "data section: expected 4 bytes (the end of tensor a), got 8 bytes"},
      {"duplicate", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "duplicate key \"a\""},
      {"bad_utf8_name", "{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "ill-formed UTF-8 byte"},
      {"missing_key", R"({"a":{"dtype":"F32","shape":[1]}})", 4, "tensor a: expected the keys dtype, shape and data_offsets"},
      {"extra_key", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4, "tensor a: expected only the keys"},
      {"offsets_len", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "tensor a data_offsets: expected [begin, end]"},
      {"meta_not_string", R"({"__metadata__":{"k":1}})", 0, "__metadata__[\"k\"]: expected a string, got a number 1"},
      {"shape_not_array", R"({"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4, "tensor a shape: expected an array"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto p = dir / (c.name + ".safetensors");
    write_raw(p, c.header, c.data);
    CHECK_THROWS_WITH_AS(safetensors_reader{p}, doctest::Contains(c.fragment.c_str()), growth::error);
    CHECK_THROWS_WITH_AS(safetensors_reader{p}, doctest::Contains(p.string().c_str()), growth::error);
  }
  // Header length larger than the file, hostile header length, truncated file.
  write_raw(dir / "long.safetensors", "{}", 0, 1000);
  CHECK_THROWS_WITH_AS(safetensors_reader{dir / "long.safetensors"},
                       doctest::Contains("header length: expected at most 2 (file size - 8), got 1000"), growth::error);
  write_raw(dir / "huge.safetensors", "{}", 0, 1ULL << 62);
  CHECK_THROWS_WITH_AS(safetensors_reader{dir / "huge.safetensors"},
                       doctest::Contains("expected at most 100000000 bytes"), growth::error);
  write_file_atomic(dir / "short.safetensors", std::string("abc"));
  CHECK_THROWS_WITH_AS(safetensors_reader{dir / "short.safetensors"},
                       doctest::Contains("expected at least 8 bytes (the header length), got 3 bytes"), growth::error);
  CHECK_THROWS_WITH_AS(safetensors_reader{dir / "absent.safetensors"}, doctest::Contains("got missing"), growth::error);
  // An empty file with only "{}" is valid; padded headers are valid.
  write_raw(dir / "empty.safetensors", "{}      ", 0);
  CHECK(safetensors_reader(dir / "empty.safetensors").names().empty());
  // Non-float dtypes are valid files but cannot be read as floats.
  write_raw(dir / "i64.safetensors", R"({"position_ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]}})", 16);
  safetensors_reader i64(dir / "i64.safetensors");
  CHECK(!i64.info("position_ids").is_float);
  CHECK_THROWS_WITH_AS((void)i64.read<float>("position_ids"),
                       doctest::Contains("tensor position_ids dtype: expected F32, F64, F16 or BF16"), growth::error);
}

TEST_CASE("safetensors: writer rejects bad names before writing") {
  safetensors_writer w;
  const float x = 1;
  w.add("a", {1}, &x);
  CHECK_THROWS_WITH_AS(w.add("a", {1}, &x), "safetensors tensor a: expected a unique name, got a second tensor with that name",
                       growth::error);
  CHECK_THROWS_AS(w.add("__metadata__", {1}, &x), growth::error);
  CHECK_THROWS_AS(w.add("", {1}, &x), growth::error);
  CHECK_THROWS_AS(w.add("\xff", {1}, &x), growth::error);
  CHECK_THROWS_AS(w.add("n", {2}, static_cast<const float*>(nullptr)), growth::error);
}
