/// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) with the library's own writers, so
/// the seeds are valid files the fuzzer mutates from. Run by scripts/fuzz.sh when a corpus folder is missing;
/// the committed seeds were made with it:  make_seeds <fuzz/corpus>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>
#include <growth/io/safetensors.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/io/sharded.hpp>

#include "tiny_checkpoint.hpp"

namespace fs = std::filesystem;
using namespace growth;

namespace {
void text(const fs::path& p, const std::string& s) { io::write_file_atomic(p, s); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus folder>\n");
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* t : {"json", "config", "schedule", "vocab", "safetensors", "optimizer", "shard_index"})
    fs::create_directories(root / t);

  // json
  text(root / "json" / "object", R"({"a": [1, -2.5e-3, true, false, null], "b": {"c": "\u00e9\ud83d\ude00\n"}})");
  text(root / "json" / "numbers", "[0, -0, 1e308, 9223372036854775807, 18446744073709551616, 0.1, -1E-7]");
  text(root / "json" / "string", "\"tab\\t quote\\\" slash\\/ uni\\u0041 \xc3\xa9\"");

  // config.json: default BERT-base, a tiny one with low-cost fields, a partial override
  io::save_config(root / "config" / "bert_base.json", model::bert_config{});
  auto c = fuzz::tiny_config();
  c.num_hidden_layers = 2;
  c.ffn_shared_layers = {0};
  c.ffn_share_factor = 2;
  c.ffn_factorized_layers = {1};
  c.ffn_rank = 2;
  io::save_config(root / "config" / "tiny_lowcost.json", c);
  text(root / "config" / "partial.json", R"({"hidden_size": 256, "num_attention_heads": 4, "growth": {"pool_size": 2}})");

  // schedule
  {
    sched::runtime_schedule s;
    s.run = sched::run_settings{.vocab_size = 100, .batch_size = 4, .masked_per_mille = 150};
    model::shape a{.layers = 1, .hidden = 8, .heads = 2, .ffn = 16, .seq_len = 8};
    a.pool_size = 2;
    model::shape b{.layers = 2, .hidden = 16, .heads = 4, .ffn = 32, .seq_len = 16};
    s.stages.push_back(sched::stage{.steps = 3, .shape = a});
    s.stages.push_back(sched::stage{.steps = 5, .shape = b,
                                    .enter = {.depth = growth::depth_mode::stack, .ffn = growth::ffn_mode::split}});
    sched::save_schedule(root / "schedule" / "two_stage.json", s);
    text(root / "schedule" / "minimal.json",
         R"({"vocab_size": 10, "batch_size": 1, "stages": [{"steps": 1, "shape": {"layers": 1, "hidden": 4, "heads": 1, "ffn": 4, "seq_len": 4}}]})");
  }

  // vocab.txt
  {
    std::string v;
    for (const auto& t : fuzz::tiny_vocab()) v += t + "\n";
    text(root / "vocab" / "tiny.txt", v);
    text(root / "vocab" / "unicode.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n\xc3\xa9t\xc3\xa9\n##s\n\xe4\xb8\xad\n,\n");
  }

  // safetensors: every float dtype plus metadata; a non-float (I64) tensor; an empty file
  {
    std::vector<float> f{1.f, -2.f, 0.5f, 3.25f, 0.f, -0.f};
    std::vector<double> d{1.0, 2.0};
    std::vector<float16> h{float16(1.f), float16(-0.5f), float16(2.f)};
    std::vector<bfloat16> bf{bfloat16(3.f), bfloat16(-1.f)};
    io::safetensors_writer w;
    w.set_metadata("format", "pt");
    w.add<float>("bert.encoder.layer.0.attention.self.query.weight", {2, 3}, f.data());
    w.add<double>("d", {2}, d.data());
    w.add<float16>("h", {3}, h.data());
    w.add<bfloat16>("b", {1, 2}, bf.data());
    w.add<float>("empty", {0, 4}, nullptr);
    w.write(root / "safetensors" / "mixed.safetensors");
    io::safetensors_writer e;
    e.write(root / "safetensors" / "no_tensors.safetensors");
    // An I64 buffer like HF's position_ids (built by hand: the writer only writes float dtypes).
    const std::string hdr = R"({"position_ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]}})";
    std::string bytes(8, '\0');
    for (int k = 0; k < 8; ++k) bytes[static_cast<std::size_t>(k)] = static_cast<char>((hdr.size() >> (8 * k)) & 0xff);
    bytes += hdr;
    bytes += std::string(16, '\0');
    bytes[8 + hdr.size() + 8] = 1;
    text(root / "safetensors" / "i64.safetensors", bytes);
  }

  // optimizer.safetensors matching fuzz::tiny_config()
  {
    const auto tmp = fs::temp_directory_path() / "growth-make-seeds-ckpt";
    fs::remove_all(tmp);
    auto ck = fuzz::tiny_checkpoint(true);
    io::save_checkpoint(tmp, ck);
    fs::copy_file(tmp / "optimizer.safetensors", root / "optimizer" / "tiny.safetensors",
                  fs::copy_options::overwrite_existing);
    fs::remove_all(tmp);
  }
  // shard_index: the index of fuzz_shard_index's two fixed shards, as sharded_writer writes it; with
  // newer transformers' total_parameters; a one-shard index
  {
    const std::map<std::string, std::string> wm{{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}};
    text(root / "shard_index" / "two_shards.json", io::shard_index_json(40, wm));
    text(root / "shard_index" / "total_parameters.json",
         R"({"metadata": {"total_parameters": 10, "total_size": 40}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
    text(root / "shard_index" / "one_shard.json", R"({"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  }
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
