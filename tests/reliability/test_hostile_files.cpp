// Hostile and malformed files: every parser must refuse them with a growth::error that names the tensor or
// field, what it expected and what it got -- before allocating what the file asks for, and without writing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>
#include <growth/io/safetensors.hpp>
#include <growth/io/schedule_json.hpp>

#include "rel_util.hpp"

using growth::io::safetensors_reader;

namespace {
std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}
}  // namespace

TEST_CASE("safetensors: header length and file size") {
  rel::scratch_dir d("st_len");
  const auto p = d / "m.safetensors";
  const std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";

  rel::put(p, "");
  REL_REQUIRE_ERROR(safetensors_reader(p), "m.safetensors", "at least 8 bytes", "0 bytes");
  rel::put(p, "\x01\x02\x03");
  REL_REQUIRE_ERROR(safetensors_reader(p), "at least 8 bytes", "3 bytes");
  // The length field claims more than the file holds.
  rel::put(p, rel::st_file(h, f32_bytes({1.f}), static_cast<std::int64_t>(h.size()) + 1000));
  REL_REQUIRE_ERROR(safetensors_reader(p), "header length", "file size - 8", std::to_string(h.size() + 1000));
  // A length near 2^64 (must not wrap around in "8 + n").
  rel::put(p, rel::st_file(h, f32_bytes({1.f}), std::numeric_limits<std::int64_t>::max()));
  REL_REQUIRE_ERROR(safetensors_reader(p), "header length", "at most 100000000");
  // Above the reference implementation's 100 MB cap even though we never read that far.
  rel::put(p, rel::st_file(h, f32_bytes({1.f}), 100'000'001));
  REL_REQUIRE_ERROR(safetensors_reader(p), "header length", "100000000");
  // Truncated data section: header promises 4 bytes, file has 2.
  rel::put(p, rel::st_file(h, std::string(2, '\0')));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w data_offsets", "within the data section of 2 bytes");
  // Not JSON / not an object.
  rel::put(p, rel::st_file("[1,2]   ", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "header", "'{'");
  rel::put(p, rel::st_file("{\"w\":", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "header", "end of input");
}

TEST_CASE("safetensors: offsets that overlap, leave holes or run past the end") {
  rel::scratch_dir d("st_offs");
  const auto p = d / "m.safetensors";
  const std::string data = f32_bytes({1.f, 2.f});
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                           data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor b data_offsets", "overlapping");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets", "a hole");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "data section", "trailing bytes");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets", "within the data section of 8 bytes");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets", "begin <= end");
  // Offsets near 2^64 (end - begin must not be trusted before comparing).
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets", "within the data section");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets begin", "a non-negative integer");
  rel::put(p, rel::st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", data));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor a data_offsets", "[begin, end]");
}

TEST_CASE("safetensors: shape products that overflow 64 bits, and dtype/shape/byte-count disagreement") {
  rel::scratch_dir d("st_shape");
  const auto p = d / "m.safetensors";
  rel::put(p, rel::st_file(R"({"big":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", f32_bytes({1.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor big shape", "below 2^64", "overflows");
  // numel fits but numel * 4 bytes does not.
  rel::put(p, rel::st_file(R"({"big":{"dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,4]}})", f32_bytes({1.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor big shape", "byte count below 2^64");
  // A zero in the shape after an overflowing prefix is still refused (the product is checked as it goes).
  rel::put(p, rel::st_file(R"({"z":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor z shape", "overflows");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w data_offsets", "4 bytes (shape [2] x 2-byte F16)", "8 bytes");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w data_offsets", "12 bytes", "8 bytes");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w dtype", "\"F31\"");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w shape entry", "a non-negative integer");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w", "key \"extra\"");
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F32","shape":[2]}})", f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w", "data_offsets");
  // An I64 tensor opens (HF position_ids) but cannot be read as floating point.
  rel::put(p, rel::st_file(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')));
  const safetensors_reader r(p);
  REL_REQUIRE_ERROR(r.read<float>("ids"), "tensor ids dtype", "I64");
  REL_REQUIRE_ERROR(r.read<float>("nope"), "tensor nope", "missing");
  std::vector<float> dst(2);
  REL_REQUIRE_ERROR(r.read<float>("ids", std::span<float>(dst), {2}), "tensor ids shape", "[2]", "[1]");
}

TEST_CASE("safetensors: duplicate names and non-UTF-8 names") {
  rel::scratch_dir d("st_names");
  const auto p = d / "m.safetensors";
  rel::put(p, rel::st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           f32_bytes({1.f, 2.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "duplicate key \"w\"");
  for (const std::string bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "a\xe2\x82"}) {
    CAPTURE(bad.size());
    rel::put(p, rel::st_file("{\"w" + bad + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1.f})));
    REL_REQUIRE_ERROR(safetensors_reader(p), "ill-formed UTF-8");
  }
  // A lone surrogate written as an escape is refused too.
  rel::put(p, rel::st_file(R"({"w\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1.f})));
  REL_REQUIRE_ERROR(safetensors_reader(p), "surrogate");
  // The writer refuses what the reader would refuse.
  growth::io::safetensors_writer w;
  float x = 1.f;
  REL_REQUIRE_ERROR(w.add<float>("bad\xff", {1}, &x), "tensor name", "valid UTF-8");
  w.add<float>("w", {1}, &x);
  REL_REQUIRE_ERROR(w.add<float>("w", {1}, &x), "tensor w", "unique");
  REL_REQUIRE_ERROR(w.add<float>("__metadata__", {1}, &x), "__metadata__");
}

TEST_CASE("safetensors: NaN/Inf weights are reported with the tensor name unless allowed") {
  rel::scratch_dir d("st_nan");
  const auto p = d / "m.safetensors";
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  growth::io::safetensors_writer w;
  const std::vector<float> a{1.f, nan, 3.f}, b{-inf, 0.f};
  const std::vector<growth::float16> h{growth::float16(1.f), growth::float16(inf)};
  w.add<float>("layer.weight", {3}, a.data());
  w.add<float>("layer.bias", {2}, b.data());
  w.add<growth::float16>("half", {2}, h.data());
  w.write(p);
  const safetensors_reader strict(p);
  REL_REQUIRE_ERROR(strict.read<float>("layer.weight"), "tensor layer.weight", "finite", "NaN at element 1");
  REL_REQUIRE_ERROR(strict.read<float>("layer.bias"), "tensor layer.bias", "Inf at element 0");
  REL_REQUIRE_ERROR(strict.read<float>("half"), "tensor half", "Inf at element 1", "F16");
  const safetensors_reader lax(p, growth::io::reader_options{.allow_nonfinite = true});
  const auto v = lax.read<float>("layer.weight");
  CHECK(std::isnan(v[1]));
  CHECK(std::isinf(lax.read<float>("half")[1]));
}

TEST_CASE("metadata and structure: __metadata__ must map strings to strings") {
  rel::scratch_dir d("st_meta");
  const auto p = d / "m.safetensors";
  rel::put(p, rel::st_file(R"({"__metadata__":{"format":1}})", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "__metadata__[\"format\"]", "a string");
  rel::put(p, rel::st_file(R"({"__metadata__":[]})", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "__metadata__", "an object");
  rel::put(p, rel::st_file(R"({"w":[]})", ""));
  REL_REQUIRE_ERROR(safetensors_reader(p), "tensor w", "an object");
}

TEST_CASE("config.json: sizes that would allocate terabytes are refused before allocating") {
  rel::scratch_dir d("cfg");
  const auto p = d / "config.json";
  rel::put(p, R"({"vocab_size": 1000000000, "hidden_size": 100000, "num_attention_heads": 1})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config.json", "at most 4e9 parameters", "refused before allocating");
  // Sizes near 2^64 whose size_t products would wrap to something small.
  rel::put(p, R"({"vocab_size": 9223372036854775807, "hidden_size": 9223372036854775807, "num_attention_heads": 1,
                  "intermediate_size": 9223372036854775807, "num_hidden_layers": 9223372036854775807})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "at most 4e9 parameters");
  rel::put(p, R"({"num_hidden_layers": 4000000})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "at most 4e9 parameters");
  // Wrong types and values name the field.
  rel::put(p, R"({"hidden_size": "768"})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config field hidden_size", "a non-negative integer", "a string");
  rel::put(p, R"({"hidden_size": -768})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config field hidden_size", "-768");
  rel::put(p, R"({"hidden_size": 1e400})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config.json", "within double range");
  rel::put(p, R"({"num_attention_heads": 7})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config field num_attention_heads", "a divisor of hidden_size 768", "7");
  rel::put(p, R"({"model_type": "gpt2"})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config field model_type", "\"bert\"");
  rel::put(p, R"({"growth": {"ffn_rnak": 3}})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "config field growth.ffn_rnak", "an unknown key");
  rel::put(p, R"({"hidden_size": 768, "hidden_size": 1024})");
  REL_REQUIRE_ERROR(growth::io::load_config(p), "duplicate key \"hidden_size\"");
  rel::put(p, std::string(100000, '[') + std::string(100000, ']'));
  REL_REQUIRE_ERROR(growth::io::load_config(p), "nesting depth at most 128");
  REL_REQUIRE_ERROR(growth::io::load_config(d / "missing.json"), "missing.json", "missing");
  // Overrides: a typo is an error, not a silent no-op.
  REL_REQUIRE_ERROR(growth::io::apply_overrides(growth::model::bert_config{}, growth::io::parse_json(R"({"hiden_size": 8})", "overrides")), "hiden_size",
                    "an unknown key");
}

TEST_CASE("vocab.txt: duplicates, invalid UTF-8, missing special tokens") {
  rel::scratch_dir d("vocab");
  const auto p = d / "vocab.txt";
  rel::put(p, "[PAD]\n[UNK]\na\nb\na\n");
  REL_REQUIRE_ERROR(growth::io::load_vocab(p), "token \"a\"", "unique", "lines 3 and 5");
  rel::put(p, "[PAD]\n\xff\xfe\n");
  REL_REQUIRE_ERROR(growth::io::load_vocab(p), "token 1", "valid UTF-8");
  rel::put(p, "");
  REL_REQUIRE_ERROR(growth::io::load_vocab(p), "vocab.txt", "an empty vocabulary");
  rel::put(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
  REL_REQUIRE_ERROR(growth::data::wordpiece_tokenizer::from_file(p), "vocabulary", "[MASK]", "missing");
}

TEST_CASE("schedule JSON: every error names the stage and the field") {
  using growth::sched::parse_schedule;
  const std::string shape = R"("shape": {"layers": 1, "hidden": 4, "heads": 1, "ffn": 4, "seq_len": 4})";
  REL_REQUIRE_ERROR(parse_schedule(R"({"vocab_size": 10, "batch_size": 1, "stages": [{"steps": 1, )" + shape + R"(, "enter": {"depth": "magic"}}]})"),
                    "schedule stage 0 field enter.depth", "\"magic\"");
  REL_REQUIRE_ERROR(parse_schedule(R"({"vocab_size": 10, "batch_size": 1, "stages": [{"steps": 1, )" + shape + R"(, "stepz": 2}]})"),
                    "schedule stage 0 field stepz", "an unknown key");
  REL_REQUIRE_ERROR(parse_schedule(R"({"vocab_size": 10, "batch_size": 1, "stages": [{"steps": -1, )" + shape + "}]}"),
                    "schedule stage 0 field steps", "a non-negative integer");
  REL_REQUIRE_ERROR(parse_schedule(R"({"vocab_size": 10, "batch_size": 1, "stages": []})"), "stage");
  REL_REQUIRE_ERROR(parse_schedule(R"({"vocab_size": 10, "batch_size": 1, "stages": [{"steps": 1, )" + shape +
                                   R"(, "enter": {"seed": "18446744073709551616"}}]})"),
                    "schedule stage 0 field enter.seed", "below 2^64");
}

TEST_CASE("checkpoint folders: a hostile model file, a NaN weight and a huge config are refused - nothing is written") {
  rel::scratch_dir d("ckpt");
  growth::io::checkpoint ck = rel::tiny_checkpoint();
  const auto dir = d / "ck";
  growth::io::save_checkpoint(dir, ck);
  CHECK_NOTHROW(growth::io::load_checkpoint(dir));

  // NaN in one weight: named, and accepted with the flag.
  {
    auto bad = ck;
    bad.params[3] = std::numeric_limits<float>::quiet_NaN();
    growth::io::save_checkpoint(dir, bad);
    const auto before = rel::listing(d.path);
    REL_REQUIRE_ERROR(growth::io::load_checkpoint(dir), "model.safetensors", "tensor bert.embeddings.word_embeddings.weight",
                      "NaN at element 3");
    CHECK(rel::listing(d.path) == before);
    CHECK(std::isnan(growth::io::load_checkpoint(dir, {.allow_nonfinite = true}).params[3]));
  }
  // A config that would need terabytes: refused by load_checkpoint before any tensor buffer is allocated.
  rel::put(dir / "config.json", R"({"vocab_size": 100000000000, "hidden_size": 1024, "num_attention_heads": 16})");
  REL_REQUIRE_ERROR(growth::io::load_checkpoint(dir), "config.json", "refused before allocating");
  // A model file whose tensor has the wrong shape for the config.
  growth::io::save_checkpoint(dir, ck);
  {
    growth::io::safetensors_reader r(dir / "model.safetensors");
    growth::io::safetensors_writer w;
    std::vector<std::vector<float>> keep;
    for (const auto& n : r.names()) {
      keep.push_back(r.read<float>(n));
      auto shape = r.info(n).shape;
      if (n == "cls.predictions.bias") {
        keep.back().push_back(0.f);
        shape[0] += 1;
      }
      w.add<float>(n, shape, keep.back().data());
    }
    w.write(dir / "model.safetensors");
  }
  REL_REQUIRE_ERROR(growth::io::load_checkpoint(dir), "tensor cls.predictions.bias shape", "[8]", "[9]");
  // Saving invalid input writes nothing at all (no temp folder left behind either).
  const auto before = rel::listing(d.path);
  auto bad = ck;
  bad.params.pop_back();
  REL_REQUIRE_ERROR(growth::io::save_checkpoint(d / "new", bad), "flat parameter buffer");
  bad = ck;
  bad.vocab[5] = "b";
  REL_REQUIRE_ERROR(growth::io::save_checkpoint(d / "new", bad), "token \"b\"", "unique");
  CHECK(rel::listing(d.path) == before);
  // A folder with unrelated files is not replaced.
  rel::put(d / "ck" / "notes.txt", "mine");
  REL_REQUIRE_ERROR(growth::io::save_checkpoint(dir, ck), "checkpoint folder", "unrelated entry \"notes.txt\"");
  CHECK(std::filesystem::exists(d / "ck" / "notes.txt"));
}
