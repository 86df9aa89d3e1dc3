// Sharded tensor sets (io/sharded.hpp): Hugging Face's size strings and shard assignment, the index text,
// round trips in both layouts (files, checkpoints, streaming growth), and every strictness error.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/grow_files.hpp>
#include <growth/io/sharded.hpp>

#include "support/configs.hpp"
#include "test_helpers.hpp"

using namespace growth;
using namespace growth::io;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> vocab_of(std::size_t n) {
  std::vector<std::string> v{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (std::size_t i = v.size(); i < n; ++i) v.push_back("tok" + std::to_string(i));
  return v;
}
std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  std::vector<float> b(n);
  rng r(seed);
  for (auto& x : b) x = static_cast<float>(r.normal());
  return b;
}
model::bert_config small_config() {
  return test::tiny_bert({.vocab = 13, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12, .positions = 16});
}
/// A checkpoint of small_config with random weights and moments (step 7) in dir, sharded above max bytes.
void save_random(const fs::path& dir, std::uint64_t max, std::uint64_t seed = 1) {
  const auto c = small_config();
  auto p = random_floats(model::parameter_count(c), seed), m = random_floats(p.size(), seed + 1),
       v = random_floats(p.size(), seed + 2);
  for (auto& x : v) x = x * x;
  auto ps = checkpoint::flat_views(c, p), ms = checkpoint::flat_views(c, m), vs = checkpoint::flat_views(c, v);
  optimizer_views<float> ov{ms, vs, 7, {{"lr", "0.001"}}};
  save_checkpoint(dir, c, ps, vocab_of(c.vocab_size), &ov, json(), max);
}
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> n;
  for (const auto& e : fs::directory_iterator(dir)) n.push_back(e.path().filename().string());
  std::sort(n.begin(), n.end());
  return n;
}
/// Three F32 tensors a [4], b [2,3], c [5] (16, 24, 20 bytes) written as a set under max.
void write_abc(const fs::path& dir, std::uint64_t max, const std::map<std::string, std::string>& meta = {{"format", "pt"}}) {
  static const std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8, 9, 10}, c{11, 12, 13, 14, 15};
  sharded_writer w(dir, "model", {{"a", dtype::f32, {4}}, {"b", dtype::f32, {2, 3}}, {"c", dtype::f32, {5}}}, meta, max);
  w.write_next(std::span<const float>(a));
  w.write_next(std::span<const float>(b));
  w.write_next(std::span<const float>(c));
  w.finish();
}
#define CHECK_ERROR(expr, ...)                                                   \
  do {                                                                           \
    std::string msg_;                                                            \
    try {                                                                        \
      (void)(expr);                                                              \
    } catch (const growth::error& e_) {                                          \
      msg_ = e_.what();                                                          \
    }                                                                            \
    INFO(msg_);                                                                  \
    REQUIRE(!msg_.empty());                                                      \
    for (const char* f_ : {__VA_ARGS__}) CHECK(msg_.find(f_) != std::string::npos); \
  } while (0)

}  // namespace

TEST_CASE("parse_shard_size: Hugging Face's convert_file_size_to_int") {
  CHECK(parse_shard_size("500MB") == 500'000'000ULL);
  CHECK(parse_shard_size("5GB") == 5'000'000'000ULL);
  CHECK(parse_shard_size("150KB") == 150'000ULL);
  CHECK(parse_shard_size("1GiB") == (1ULL << 30));
  CHECK(parse_shard_size("3MiB") == 3ULL * (1ULL << 20));
  CHECK(parse_shard_size("2KiB") == 2048ULL);
  CHECK(parse_shard_size("2kib") == 2048ULL);  // units in any case
  CHECK(parse_shard_size("10mb") == 10'000'000ULL / 8);  // a lower-case final b: bits, as HF
  CHECK(parse_shard_size("8Mb") == 1'000'000ULL);
  CHECK(parse_shard_size("12Kb") == 1'500ULL);
  CHECK(parse_shard_size("5gB") == 5'000'000'000ULL);
  CHECK(parse_shard_size("1000") == 1000ULL);  // HF's int form: bytes
  CHECK(parse_shard_size("007KB") == 7000ULL);
  for (const char* bad : {"", "MB", "GiB", "5 MB", " 5MB", "-5MB", "+5MB", "1.5GB", "5TB", "5B", "5XB", "abc", "5MBs", "0x10"})
    CHECK_ERROR(parse_shard_size(bad), "--max-shard-size", "KB, MB, GB");
  CHECK_ERROR(parse_shard_size("0MB"), "--max-shard-size", "a positive size", "\"0MB\"");
  CHECK_ERROR(parse_shard_size("0"), "a positive size");
  CHECK_ERROR(parse_shard_size("7b"), "KB, MB, GB");
  CHECK(parse_shard_size("1kb") == 125ULL);  // 1000 bits
  CHECK_ERROR(parse_shard_size("0kb"), "a positive size");
  CHECK_ERROR(parse_shard_size("99999999999999999999KB"), "below 2^64");
  CHECK_ERROR(parse_shard_size("20000000000GB"), "below 2^64");
  CHECK_ERROR(parse_shard_size("5XB", "--foo"), "--foo");
}

TEST_CASE("plan_shards: huggingface_hub's assignment (its own test vectors)") {
  // split_state_dict_into_shards_factory's test: sizes 6, 10, 30, 2, 2 at max 10 give
  // [layer_1], [layer_3], [layer_2], [layer_4, layer_5]: the oversized tensor gets its shard when met.
  CHECK(plan_shards({6, 10, 30, 2, 2}, 10) == std::vector<std::size_t>{0, 2, 1, 3, 3});
  CHECK(plan_shards({6, 10, 30, 2, 2}, 100) == std::vector<std::size_t>{0, 0, 0, 0, 0});
  CHECK(plan_shards({6, 10, 30, 2, 2}, 0) == std::vector<std::size_t>{0, 0, 0, 0, 0});
  CHECK(plan_shards({5, 5, 5}, 10) == std::vector<std::size_t>{0, 0, 1});  // exactly at the limit fits
  CHECK(plan_shards({11, 11}, 10) == std::vector<std::size_t>{0, 1});
  CHECK(plan_shards({}, 10).empty());
  CHECK(shard_file_name("model", 1, 3) == "model-00001-of-00003.safetensors");
  CHECK(shard_file_name("optimizer", 12, 123456) == "optimizer-00012-of-123456.safetensors");
  CHECK(is_tensor_set_file("model", "model-00002-of-00003.safetensors"));
  CHECK(is_tensor_set_file("model", "model.safetensors.index.json"));
  CHECK(is_tensor_set_file("model", "model.safetensors"));
  CHECK(!is_tensor_set_file("model", "model-0002-of.safetensors"));
  CHECK(!is_tensor_set_file("model", "optimizer-00001-of-00002.safetensors"));
  CHECK(!is_tensor_set_file("model", "model-00001-of-00002.safetensors.tmp"));
}

TEST_CASE("sharded_writer: one file below the limit (the bytes of safetensors_writer), HF's index above it") {
  io_test::scratch_dir dir("shw");
  fs::create_directories(dir / "one");
  write_abc(dir / "one", 0);
  fs::create_directories(dir / "fits");
  write_abc(dir / "fits", 60);  // 16 + 24 + 20 = 60 bytes: fits exactly
  const std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8, 9, 10}, c{11, 12, 13, 14, 15};
  safetensors_writer w;
  w.set_metadata("format", "pt");
  w.add<float>("a", {4}, a.data());
  w.add<float>("b", {2, 3}, b.data());
  w.add<float>("c", {5}, c.data());
  w.write(dir / "ref.safetensors");
  CHECK(read_file(dir / "one" / "model.safetensors") == read_file(dir / "ref.safetensors"));
  CHECK(read_file(dir / "fits" / "model.safetensors") == read_file(dir / "ref.safetensors"));
  CHECK(listing(dir / "one") == std::vector<std::string>{"model.safetensors"});

  fs::create_directories(dir / "three");
  write_abc(dir / "three", 40);  // a+b = 40 fits, c starts shard 2
  CHECK(listing(dir / "three") == std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                                           "model.safetensors.index.json"});
  // Python: json.dumps({"metadata": {"total_size": 60}, "weight_map": {...}}, indent=2, sort_keys=True) + "\n"
  CHECK(read_file(dir / "three" / "model.safetensors.index.json") ==
        "{\n  \"metadata\": {\n    \"total_size\": 60\n  },\n  \"weight_map\": {\n"
        "    \"a\": \"model-00001-of-00002.safetensors\",\n    \"b\": \"model-00001-of-00002.safetensors\",\n"
        "    \"c\": \"model-00002-of-00002.safetensors\"\n  }\n}\n");
  const sharded_reader rd(dir / "three", "model");
  CHECK(rd.sharded());
  CHECK(rd.names() == std::vector<std::string>{"a", "b", "c"});
  CHECK(rd.read<float>("b") == b);
  CHECK(rd.read<float>("c") == c);
  CHECK(rd.metadata().at("format") == "pt");
  CHECK(rd.path_of("c").filename() == "model-00002-of-00002.safetensors");
  CHECK(rd.files().size() == 2);
  const sharded_reader one(dir / "one", "model");
  CHECK(!one.sharded());
  CHECK(one.read<float>("a") == a);
  CHECK(one.path() == dir / "one" / "model.safetensors");

  // Sorted weight_map, non-ASCII names escaped as Python's ensure_ascii does; every tensor over the limit.
  fs::create_directories(dir / "names");
  {
    const std::vector<float> x{1};
    sharded_writer nw(dir / "names", "model", {{"z", dtype::f32, {1}}, {"\xc3\xa9", dtype::f32, {1}}, {"A", dtype::f32, {1}}}, {}, 1);
    for (int i = 0; i < 3; ++i) nw.write_next(std::span<const float>(x));
    nw.finish();
  }
  CHECK(read_file(dir / "names" / "model.safetensors.index.json") ==
        "{\n  \"metadata\": {\n    \"total_size\": 12\n  },\n  \"weight_map\": {\n"
        "    \"A\": \"model-00003-of-00003.safetensors\",\n    \"z\": \"model-00001-of-00003.safetensors\",\n"
        "    \"\\u00e9\": \"model-00002-of-00003.safetensors\"\n  }\n}\n");
  CHECK(sharded_reader(dir / "names", "model").read<float>("\xc3\xa9") == std::vector<float>{1});
}

TEST_CASE("sharded_reader: every disagreement between the index and the shards is an error naming the file") {
  io_test::scratch_dir dir("shstrict");
  const fs::path good = dir / "good";
  fs::create_directories(good);
  write_abc(good, 40);
  const std::string index = read_file(good / "model.safetensors.index.json");
  CHECK_NOTHROW(sharded_reader(good, "model"));
  int n = 0;
  // A copy of the good set whose index text is `text` (the shards as written).
  auto with_index = [&](const std::string& text) {
    const fs::path d = dir / ("case" + std::to_string(n++));
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(good)) fs::copy_file(e.path(), d / e.path().filename());
    write_file_atomic(d / "model.safetensors.index.json", text);
    return d;
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = index;
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    return t;
  };
  const std::string w1 = "\"model-00001-of-00002.safetensors\"", w2 = "\"model-00002-of-00002.safetensors\"";

  // A tensor of a shard that the index does not name.
  CHECK_ERROR(sharded_reader(with_index(replaced("    \"b\": " + w1 + ",\n", "")), "model"), "model-00001-of-00002.safetensors",
              "tensor b", "a tensor the index does not name");
  // A tensor the index maps to a shard that lacks it.
  CHECK_ERROR(sharded_reader(with_index(replaced("\"c\": " + w2, "\"c\": " + w2 + ",\n    \"ghost\": " + w2)), "model"),
              "model-00002-of-00002.safetensors", "tensor ghost", "present (the index model.safetensors.index.json maps it");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"c\": " + w2, "\"c\": " + w1)), "model"), "model-00001-of-00002.safetensors",
              "tensor c", "missing");
  // total_size (and total_parameters) must be the shards' sums.
  CHECK_ERROR(sharded_reader(with_index(replaced("\"total_size\": 60", "\"total_size\": 61")), "model"),
              "model.safetensors.index.json: metadata total_size", "60 (the bytes", "61");
  CHECK_NOTHROW(sharded_reader(with_index(replaced("\"total_size\": 60", "\"total_parameters\": 15, \"total_size\": 60")), "model"));
  CHECK_ERROR(sharded_reader(with_index(replaced("\"total_size\": 60", "\"total_parameters\": 14, \"total_size\": 60")), "model"),
              "metadata total_parameters", "15");
  // The index's own structure.
  CHECK_ERROR(sharded_reader(with_index("[]"), "model"), "model.safetensors.index.json", "an object");
  CHECK_ERROR(sharded_reader(with_index("{\"weight_map\": {\"a\": \"x.safetensors\"}}"), "model"), "key \"metadata\"", "missing");
  CHECK_ERROR(sharded_reader(with_index("{\"metadata\": {\"total_size\": 1}}"), "model"), "key \"weight_map\"", "missing");
  CHECK_ERROR(sharded_reader(with_index("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {}}"), "model"), "weight_map",
              "at least one tensor");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"metadata\"", "\"extra\": 1, \"metadata\"")), "model"),
              "only the keys metadata and weight_map", "key \"extra\"");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"total_size\": 60", "\"total_size\": 60, \"format\": \"pt\"")), "model"),
              "metadata", "key \"format\"");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"total_size\": 60", "\"total_size\": -1")), "model"), "total_size",
              "a non-negative integer");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"c\": " + w2, "\"c\": 3")), "model"), "weight_map[\"c\"]", "a string");
  CHECK_ERROR(sharded_reader(with_index(replaced("\"c\": " + w2, "\"c\": " + w2 + ",\n    \"c\": " + w2)), "model"),
              "duplicate key \"c\"");
  for (const char* bad : {"../good/model-00002-of-00002.safetensors", "sub/x.safetensors", ".hidden.safetensors", "x.bin", ""})
    CHECK_ERROR(sharded_reader(with_index(replaced("\"c\": " + w2, "\"c\": \"" + std::string(bad) + "\"")), "model"),
                "weight_map[\"c\"]", "a plain \"*.safetensors\" file name");
  CHECK_ERROR(sharded_reader(with_index("{\"metadata\": "), "model"), "model.safetensors.index.json (byte");
  // A shard the index lists but the folder lacks; a broken shard; a shard file nobody references.
  {
    const auto d = with_index(index);
    fs::remove(d / "model-00002-of-00002.safetensors");
    CHECK_ERROR(sharded_reader(d, "model"), "model-00002-of-00002.safetensors", "missing");
    write_file_atomic(d / "model-00002-of-00002.safetensors", std::string("abc"));
    CHECK_ERROR(sharded_reader(d, "model"), "model-00002-of-00002.safetensors", "at least 8 bytes");
  }
  {
    const auto d = with_index(index);
    fs::copy_file(d / "model-00002-of-00002.safetensors", d / "model-00003-of-00003.safetensors");
    CHECK_ERROR(sharded_reader(d, "model"), "model-00003-of-00003.safetensors", "an unreferenced shard file");
  }
  // A tensor in two shards (the index maps it to one of them).
  {
    const auto d = with_index(index);
    const std::vector<float> a{1, 2, 3, 4}, c{11, 12, 13, 14, 15};
    safetensors_writer w;
    w.set_metadata("format", "pt");
    w.add<float>("a", {4}, a.data());
    w.add<float>("c", {5}, c.data());
    w.write(d / "model-00002-of-00002.safetensors");
    write_file_atomic(d / "model.safetensors.index.json", replaced("\"total_size\": 60", "\"total_size\": 76"));
    CHECK_ERROR(sharded_reader(d, "model"), "model-00002-of-00002.safetensors", "tensor a", "a second copy");
  }
  // Shards that disagree on __metadata__.
  {
    const auto d = with_index(index);
    const std::vector<float> c{11, 12, 13, 14, 15};
    safetensors_writer w;
    w.set_metadata("format", "tf");
    w.add<float>("c", {5}, c.data());
    w.write(d / "model-00002-of-00002.safetensors");
    CHECK_ERROR(sharded_reader(d, "model"), "model-00002-of-00002.safetensors: __metadata__", "different metadata");
  }
  // Both layouts in one folder.
  {
    const auto d = with_index(index);
    fs::copy_file(good / "model-00002-of-00002.safetensors", d / "model.safetensors");
    CHECK_ERROR(sharded_reader(d, "model"), "one of model.safetensors or model.safetensors.index.json", "both");
  }
  // Neither: the single file is reported missing, as before sharding.
  CHECK_ERROR(sharded_reader(dir / "nothing", "model"), "nothing/model.safetensors", "missing");
  CHECK_ERROR(sharded_reader(good, "model").read<float>("zz"), "model.safetensors.index.json: tensor zz", "missing");
}

TEST_CASE("parse_shard_index: structure alone") {
  const auto ix = parse_shard_index(R"({"metadata": {"total_size": 8}, "weight_map": {"b": "s2.safetensors", "a": "s1.safetensors"}})", "idx");
  CHECK(ix.total_size == 8);
  CHECK(!ix.total_parameters);
  REQUIRE(ix.weight_map.size() == 2);
  CHECK(ix.weight_map[0] == std::pair<std::string, std::string>{"b", "s2.safetensors"});
  CHECK_ERROR(parse_shard_index(R"({"metadata": {"total_size": 8}, "weight_map": {"": "s.safetensors"}})", "idx"), "non-empty");
  CHECK_ERROR(parse_shard_index(R"({"metadata": {"total_size": 8}, "weight_map": {"__metadata__": "s.safetensors"}})", "idx"),
              "reserved");
  CHECK_ERROR(parse_shard_index(R"({"metadata": 3, "weight_map": {"a": "s.safetensors"}})", "idx"), "idx: metadata", "an object");
}

TEST_CASE("checkpoint: sharded round trip (model and optimizer), and re-saving in the other layout") {
  io_test::scratch_dir dir("shckpt");
  save_random(dir / "one", 0);
  save_random(dir / "many", 300);  // the word embeddings (13 x 8 floats = 416 bytes) exceed it: a shard of its own
  const auto a = load_checkpoint(dir / "one"), b = load_checkpoint(dir / "many");
  CHECK(a.params == b.params);
  REQUIRE(b.opt);
  CHECK(a.opt->exp_avg == b.opt->exp_avg);
  CHECK(a.opt->exp_avg_sq == b.opt->exp_avg_sq);
  CHECK(b.opt->step == 7);
  CHECK(b.opt->extra.at("lr") == "0.001");
  const auto names = listing(dir / "many");
  CHECK(std::count(names.begin(), names.end(), "model.safetensors") == 0);
  CHECK(std::count(names.begin(), names.end(), "model.safetensors.index.json") == 1);
  CHECK(std::count(names.begin(), names.end(), "optimizer.safetensors.index.json") == 1);
  const sharded_reader m(dir / "many", "model"), o(dir / "many", "optimizer");
  CHECK(m.files().size() > 2);
  CHECK(o.files().size() > m.files().size());
  for (const auto& f : o.files()) CHECK(safetensors_reader(f).metadata().at("step") == "7");  // every shard
  for (const auto& f : m.files()) CHECK(fs::file_size(f) > 0);
  // Unsharded output is byte-identical whether or not a limit is given that the set fits under.
  save_random(dir / "big_limit", 1'000'000'000);
  CHECK(read_file(dir / "big_limit" / "model.safetensors") == read_file(dir / "one" / "model.safetensors"));
  CHECK(read_file(dir / "big_limit" / "optimizer.safetensors") == read_file(dir / "one" / "optimizer.safetensors"));
  // Re-saving replaces the whole folder: no shard of the old layout survives, and back again.
  auto ck = load_checkpoint(dir / "many");
  save_checkpoint(dir / "many", ck);
  CHECK(listing(dir / "many") == listing(dir / "one"));
  save_checkpoint(dir / "many", ck, 300);
  CHECK(listing(dir / "many") == names);
  CHECK(load_checkpoint(dir / "many").params == a.params);
  // Errors through load_checkpoint name the shard file.
  {
    fs::copy(dir / "many", dir / "broken");
    const auto first = sharded_reader(dir / "broken", "model").files().front();
    write_file_atomic(first, std::string(7, 'x'));
    const std::string name = first.filename().string();
    CHECK_ERROR(load_checkpoint(dir / "broken"), name.c_str(), "at least 8 bytes");
  }
  // An unrelated file still protects a folder from replacement; shard files do not.
  write_file_atomic(dir / "many" / "notes.txt", std::string("x"));
  CHECK_ERROR(save_checkpoint(dir / "many", ck), "unrelated entry \"notes.txt\"");
}

TEST_CASE("grow_checkpoint_files: sharded source and output equal the unsharded growth bit for bit") {
  io_test::scratch_dir dir("shgrow");
  save_random(dir / "one", 0, 11);
  save_random(dir / "many", 250, 11);
  auto to = small_config();
  to.num_hidden_layers = 4;
  to.hidden_size = 16;
  to.num_attention_heads = 4;
  to.intermediate_size = 24;
  growth::grow_options o;
  o.optimizer = growth::optimizer_policy::map;
  const auto r1 = grow_checkpoint_files(dir / "one", dir / "g1", to, o);
  const auto r2 = grow_checkpoint_files(dir / "many", dir / "g2", to, o);  // sharded in, one file out
  grow_files_options fo;
  fo.max_shard_size = 700;
  const auto r3 = grow_checkpoint_files(dir / "many", dir / "g3", to, o, fo);  // sharded in and out
  const auto r4 = grow_checkpoint_files(dir / "one", dir / "g4", to, o, fo);   // one file in, sharded out
  CHECK(read_file(dir / "g1" / "model.safetensors") == read_file(dir / "g2" / "model.safetensors"));
  CHECK(read_file(dir / "g1" / "optimizer.safetensors") == read_file(dir / "g2" / "optimizer.safetensors"));
  CHECK(r1.bytes_out == r2.bytes_out);
  CHECK(r2.bytes_in > r1.bytes_in);  // more headers
  const sharded_reader m3(dir / "g3", "model");
  CHECK(m3.sharded());
  CHECK(m3.files().size() > 2);
  for (const char* d : {"g3", "g4"}) {
    INFO(d);
    const auto g = load_checkpoint(dir / d), ref = load_checkpoint(dir / "g1");
    CHECK(g.params == ref.params);
    REQUIRE(g.opt);
    CHECK(g.opt->exp_avg == ref.opt->exp_avg);
    CHECK(g.opt->exp_avg_sq == ref.opt->exp_avg_sq);
    CHECK(g.opt->step == ref.opt->step);
  }
  CHECK(read_file(dir / "g3" / "model.safetensors.index.json") == read_file(dir / "g4" / "model.safetensors.index.json"));
  CHECK(r3.bytes_out == r4.bytes_out);
  // Re-growing over a sharded output folder (its shard files count as checkpoint files).
  CHECK_NOTHROW(grow_checkpoint_files(dir / "one", dir / "g3", to, o));
  CHECK(!fs::exists(dir / "g3" / "model.safetensors.index.json"));
  CHECK(read_file(dir / "g3" / "model.safetensors") == read_file(dir / "g1" / "model.safetensors"));
}
