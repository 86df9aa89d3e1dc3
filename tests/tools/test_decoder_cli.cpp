// `growth init`, `eval` and `train` on decoder LM folders, end to end through the built tool: tiny LLaMA
// (grouped kv heads) and GPT-2 models, checked against the library in-process (init weights, the printed
// loss, the dump), a plain and a progressive (G_stack depth x4) run, --resume, and bad input.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <growth/data/clm_data.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/decoder_config_json.hpp>
#include <growth/io/safetensors.hpp>
#include <growth/reference/causal_lm.hpp>
#include <growth/train/decoder_trainer.hpp>
#include <growth/train/setup.hpp>

#include "support/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace growth;

namespace {

struct cli_result {
  int rc;
  std::string out;
};

cli_result run(const std::string& args) {
  const std::string cmd = std::string(GROWTH_TOOL_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

/// The first 30 kB of the committed corpus: enough 16-token blocks for a validation split.
fs::path write_text(const test::scratch_dir& d) {
  const fs::path p = d / "text.txt";
  io::write_file_atomic(p, train::read_corpus(fs::path(GROWTH_SOURCE_DIR) / "data" / "kjv.txt", 30000));
  return p;
}

/// clm_loss and tokens of `growth eval`'s one line.
std::pair<double, std::size_t> parse_eval(const std::string& out) {
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(out, m, std::regex("clm_loss=([0-9.]+) tokens=([0-9]+)\n")), out);
  return {std::stod(m[1]), std::stoul(m[2])};
}

std::vector<std::int64_t> read_i64(const fs::path& p, const io::safetensors_reader& rd, const std::string& name) {
  const auto& info = rd.info(name);
  REQUIRE(info.dtype_name == "I64");
  const std::string bytes = io::read_file(p);
  std::uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);
  std::vector<std::int64_t> v(info.numel);
  std::memcpy(v.data(), bytes.data() + 8 + hlen + info.begin, v.size() * 8);
  return v;
}

/// Loads a folder and evaluates the text as `growth eval` defines it (blocks of seq, batches of 8).
struct in_process {
  io::decoder_checkpoint ck;
  std::unique_ptr<reference::causal_lm<float>> model;
  std::vector<model::clm_batch> batches;
  double loss = 0;
  std::size_t targets = 0;
  in_process(const fs::path& dir, const fs::path& text, std::size_t seq) : ck(io::load_decoder_checkpoint(dir)) {
    model = std::make_unique<reference::causal_lm<float>>(ck.config);
    std::copy(ck.params.begin(), ck.params.end(), model->flat_params().begin());
    const data::wordpiece_tokenizer tok(ck.vocab);
    const data::clm_dataset ds(data::tokenize_corpus(tok, io::read_file(text)), tok, {seq, 0, true});
    double sum = 0;
    for (std::size_t b = 0; b < ds.num_sequences(); b += 8) {
      std::vector<std::size_t> rows;
      for (std::size_t i = b; i < std::min(ds.num_sequences(), b + 8); ++i) rows.push_back(i);
      batches.push_back(ds.make_batch(rows));
      const auto r = model->evaluate(batches.back());
      sum += r.loss * static_cast<double>(r.targets);
      targets += r.targets;
    }
    loss = sum / static_cast<double>(targets);
  }
};

}  // namespace

TEST_CASE("growth init / eval on decoders: --arch llama with grouped kv heads, --config gpt2") {
  const test::scratch_dir d("decoder_cli_init");
  const auto text = write_text(d);
  const std::string common = " --text " + text.string() + " --seed 3";
  auto r = run("init --arch llama --layers 2 --hidden 16 --heads 4 --kv-heads 2 --ffn 24 --positions 32 --vocab-size 300 "
               "--out " + (d / "llama").string() + common);
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.find("init: wrote") != std::string::npos);
  const auto cfg = io::load_decoder_config(d / "llama" / "config.json");
  CHECK(cfg.model_type == "llama");
  CHECK(cfg.num_key_value_heads == 2);
  CHECK(cfg.intermediate_size == 24);
  CHECK(cfg.vocab_size == 300);
  const auto jc = io::parse_json(io::read_file(d / "llama" / "config.json"));
  CHECK(io::as_string(io::at(jc, "architectures")[0]) == "LlamaForCausalLM");
  // The weights are reference::causal_lm::init(seed) of that config, bit for bit.
  const auto ck = io::load_decoder_checkpoint(d / "llama");
  reference::causal_lm<float> fresh(cfg);
  fresh.init(3);
  REQUIRE(ck.params.size() == fresh.flat_params().size());
  CHECK(std::equal(ck.params.begin(), ck.params.end(), fresh.flat_params().begin()));
  CHECK(ck.vocab.size() == 300);

  io::write_file_atomic(d / "gpt2.json", R"({"model_type": "gpt2", "vocab_size": 300, "n_embd": 16, "n_layer": 2,
    "n_head": 2, "n_positions": 32, "bos_token_id": null, "eos_token_id": null})");
  r = run("init --config " + (d / "gpt2.json").string() + " --out " + (d / "gpt2").string() + common);
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(io::load_decoder_config(d / "gpt2" / "config.json").is_gpt2());

  for (const char* m : {"llama", "gpt2"}) {
    CAPTURE(m);
    r = run("eval --model " + (d / m).string() + " --text " + text.string() + " --seq-len 16 --dump " +
            (d / (std::string(m) + ".dump")).string());
    REQUIRE_MESSAGE(r.rc == 0, r.out);
    const auto [loss, tokens] = parse_eval(r.out);
    const in_process ref(d / m, text, 16);
    CHECK(tokens == ref.targets);
    CHECK(loss == doctest::Approx(ref.loss).epsilon(1e-6));
    CHECK(std::abs(loss - std::log(300.0)) < 0.5);  // untrained: near uniform
    // The dump: the first batch's ids, mask, labels and the logits of every position.
    const fs::path dump = d / (std::string(m) + ".dump");
    io::safetensors_reader rd(dump);
    const auto& b = ref.batches[0];
    CHECK_FALSE(rd.contains("token_type_ids"));
    for (const auto& [name, want] : {std::pair{"input_ids", &b.input_ids}, std::pair{"attention_mask", &b.attention_mask},
                                     std::pair{"labels", &b.labels}}) {
      const auto got = read_i64(dump, rd, name);
      CHECK(std::equal(got.begin(), got.end(), want->begin(), want->end()));
    }
    std::vector<float> logits;
    (void)ref.model->evaluate(b, &logits);
    CHECK(rd.info("logits").shape == std::vector<std::size_t>{b.batch_size, b.seq_len, 300});
    CHECK(rd.read<float>("logits") == logits);
  }
  // Bad input: an unknown family, size flags without --arch, sizes the family refuses, a too-long --seq-len.
  r = run("init --arch bert --out " + (d / "x").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("--arch: expected llama or gpt2, got bert") != std::string::npos);
  r = run("init --config " + (d / "gpt2.json").string() + " --layers 3 --out " + (d / "x").string());
  CHECK(r.rc != 0);
  r = run("init --arch llama --heads 4 --kv-heads 3 --out " + (d / "x").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("num_key_value_heads") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "x"));
  r = run("eval --model " + (d / "gpt2").string() + " --text " + text.string() + " --seq-len 33");
  CHECK(r.rc == 2);
  CHECK(r.out.find("max_position_embeddings = 32") != std::string::npos);
}

TEST_CASE("growth train on decoders: plain, progressive G_stack depth x4, --resume") {
  const test::scratch_dir d("decoder_cli_train");
  const auto text = write_text(d);
  auto r = run("init --arch gpt2 --layers 1 --hidden 16 --heads 2 --positions 16 --vocab-size 300 --text " +
               text.string() + " --out " + (d / "small").string());
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  const std::string train = "train --threads 1 --text " + text.string() + " --batch 4 --eval-every 5 --max-validation 8 ";

  // A plain run: one stage of the checkpoint's shape.
  r = run(train + "--model " + (d / "small").string() + " --steps 10 --lr 3e-3 --out " + (d / "plain").string());
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.find("train: done at step 10") != std::string::npos);
  const auto plain = io::load_decoder_checkpoint(d / "plain" / "final");
  CHECK(plain.config.num_hidden_layers == 1);
  CHECK(plain.opt.has_value());
  const auto log = io::read_file(d / "plain" / "log.csv");
  CHECK(log.find("L1-H16-A2-I64-S16") != std::string::npos);

  // G_stack's depth x4: 1 layer for 10 steps, stacked to 4, 10 more.
  io::write_file_atomic(d / "gstack.json", R"({"vocab_size": 300, "batch_size": 4, "stages": [
    {"steps": 10, "shape": {"layers": 1, "hidden": 16, "heads": 2, "ffn": 64, "seq_len": 16}},
    {"steps": 10, "shape": {"layers": 4, "hidden": 16, "heads": 2, "ffn": 64, "seq_len": 16},
     "enter": {"depth": "stack"}}]})");
  r = run(train + "--model " + (d / "small").string() + " --schedule " + (d / "gstack.json").string() + " --lr 3e-3 --out " +
          (d / "grown").string());
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.find("train: done at step 20") != std::string::npos);
  CHECK(io::load_decoder_checkpoint(d / "grown" / "stage-0").config.num_hidden_layers == 1);
  const auto grown = io::load_decoder_checkpoint(d / "grown" / "final");
  CHECK(grown.config.num_hidden_layers == 4);
  CHECK(grown.config.is_gpt2());
  const auto glog = io::read_file(d / "grown" / "log.csv");
  CHECK(glog.find("\n10,0,L1-H16-A2-I64-S16,") != std::string::npos);
  CHECK(glog.find("\n20,1,L4-H16-A2-I64-S16,") != std::string::npos);
  // The grown model evaluates through `growth eval` too.
  r = run("eval --model " + (d / "grown" / "final").string() + " --text " + text.string() + " --seq-len 16");
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(parse_eval(r.out).first < std::log(300.0));

  // --resume from the stage boundary repeats the run's log (wall time aside).
  r = run("train --threads 1 --text " + text.string() + " --max-validation 8 --resume " + (d / "grown" / "stage-0").string() +
          " --out " + (d / "resumed").string());
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  const auto strip_wall = [](const std::string& csv) {
    std::string out;
    std::size_t start = 0;
    while (start < csv.size()) {
      std::size_t nl = csv.find('\n', start);
      if (nl == std::string::npos) nl = csv.size();
      std::string line = csv.substr(start, nl - start);
      // step,stage,shape,tokens,flops,wall_seconds,...: drop the sixth column
      std::size_t c = 0;
      for (int k = 0; k < 5 && c != std::string::npos; ++k) c = line.find(',', c + 1);
      if (c != std::string::npos) line.erase(c, line.find(',', c + 1) - c);
      out += line + "\n";
      start = nl + 1;
    }
    return out;
  };
  CHECK(strip_wall(io::read_file(d / "resumed" / "log.csv")) == strip_wall(glog));

  // The first stage must be the checkpoint's model.
  io::write_file_atomic(d / "wrong.json", R"({"vocab_size": 300, "batch_size": 4, "stages": [
    {"steps": 10, "shape": {"layers": 2, "hidden": 16, "heads": 2, "ffn": 64, "seq_len": 16}}]})");
  r = run(train + "--model " + (d / "small").string() + " --schedule " + (d / "wrong.json").string() + " --out " +
          (d / "wrong").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("the first stage's model L2-H16-A2-I64-S16") != std::string::npos);
}
