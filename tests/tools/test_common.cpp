// Unit tests of tools/common.hpp (eval batches, evaluation, the eval dump) and the check of the dump the
// CLI test writes (GROWTH_CLI_DUMP / GROWTH_CLI_CKPT set by tests/tools/CMakeLists.txt's tools.cli.dump_check).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/safetensors.hpp>

#include "common.hpp"
#include "support/configs.hpp"
#include "support/scratch_dir.hpp"

namespace {

namespace fs = std::filesystem;

growth::model::bert_config tiny_config(std::size_t vocab) {
  return growth::test::tiny_bert({.vocab = vocab, .hidden = 8, .layers = 1, .heads = 2, .intermediate = 16, .positions = 32});
}

std::vector<std::string> tiny_vocab() {
  std::vector<std::string> v = growth::data::special_token_strings();
  for (const char* w : {"a", "b", "c", "d", "e", "the", "lord", "said", "."}) v.emplace_back(w);
  return v;
}

std::string tiny_text() {
  std::string t;
  for (int i = 0; i < 40; ++i) t += (i % 3 ? "the lord said a b c .\n" : "d e the a .\n");
  return t;
}

/// Reads I64 tensor `name` of a safetensors file by hand (safetensors_reader::read is float-only).
std::vector<std::int64_t> read_i64(const fs::path& p, const growth::io::safetensors_reader& rd, const std::string& name) {
  const auto& info = rd.info(name);
  REQUIRE(info.dtype_name == "I64");
  const std::string bytes = growth::io::read_file(p);
  std::uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);
  std::vector<std::int64_t> v(info.numel);
  REQUIRE(info.end - info.begin == v.size() * 8);
  std::memcpy(v.data(), bytes.data() + 8 + hlen + info.begin, v.size() * 8);
  return v;
}

/// Checks that `path` is a well-formed eval dump of the batch / logits given.
void check_dump(const fs::path& path, const growth::model::mlm_batch& b, const std::vector<float>& logits, std::size_t V) {
  growth::io::safetensors_reader rd(path);
  const std::vector<std::size_t> bs{b.batch_size, b.seq_len}, bsv{b.batch_size, b.seq_len, V};
  const std::pair<const char*, const std::vector<std::int32_t>*> ids[] = {
      {"input_ids", &b.input_ids}, {"token_type_ids", &b.token_type_ids}, {"attention_mask", &b.attention_mask}, {"labels", &b.labels}};
  for (const auto& entry : ids) {
    const auto& [name, want] = entry;
    const char* tensor = entry.first;  // clang 14 cannot capture a structured binding
    CAPTURE(tensor);
    REQUIRE(rd.contains(name));
    CHECK(rd.info(name).shape == bs);
    const auto got = read_i64(path, rd, name);
    REQUIRE(got.size() == want->size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == (*want)[i]);
  }
  REQUIRE(rd.contains("logits"));
  CHECK(rd.info("logits").dtype_name == "F32");
  CHECK(rd.info("logits").shape == bsv);
  const auto got = rd.read<float>("logits");
  REQUIRE(got.size() == logits.size());
  CHECK(std::memcmp(got.data(), logits.data(), got.size() * sizeof(float)) == 0);
  CHECK(rd.metadata().at("format") == "pt");
}

}  // namespace

TEST_CASE("eval_data: packing, deterministic masks independent of the batch size") {
  const growth::data::wordpiece_tokenizer tok(tiny_vocab());
  const std::string text = tiny_text();
  for (std::uint64_t seed : {0ULL, 1ULL, 77ULL}) {
    CAPTURE(seed);
    growth_tool::eval_data_options o{.seq_len = 12, .batch_size = 3, .max_batches = 0, .seed = seed};
    const growth_tool::eval_data a(tok, text, o);
    o.batch_size = 5;
    const growth_tool::eval_data b(tok, text, o);
    // Plain count: every line's pieces, packed S - 2 per sequence, last one partial.
    const std::size_t stream = growth::data::tokenize_corpus(tok, text).size();
    CHECK(a.num_sequences() == (stream + 9) / 10);
    CHECK(a.num_batches() == (a.num_sequences() + 2) / 3);
    // Row r of a (batch r/3) equals row r of b (batch r/5).
    for (std::size_t r = 0; r < a.num_sequences(); ++r) {
      const auto ba = a.batch(r / 3), bb = b.batch(r / 5);
      for (std::size_t j = 0; j < 12; ++j) {
        CHECK(ba.input_ids[(r % 3) * 12 + j] == bb.input_ids[(r % 5) * 12 + j]);
        CHECK(ba.labels[(r % 3) * 12 + j] == bb.labels[(r % 5) * 12 + j]);
        CHECK(ba.attention_mask[(r % 3) * 12 + j] == bb.attention_mask[(r % 5) * 12 + j]);
      }
    }
    o.max_batches = 2;
    CHECK(growth_tool::eval_data(tok, text, o).num_batches() == 2);
  }
  growth_tool::eval_data_options bad{.seq_len = 12, .batch_size = 0, .max_batches = 0, .seed = 0};
  CHECK_THROWS_WITH_AS(growth_tool::eval_data(tok, text, bad), doctest::Contains("--batch-size"), growth::error);
}

TEST_CASE("evaluate_mlm: target-weighted mean over batches equals one pass over each batch") {
  const auto vocab = tiny_vocab();
  const growth::data::wordpiece_tokenizer tok(vocab);
  auto cfg = tiny_config(vocab.size() + 3);
  growth::reference::bert<float> model(cfg);
  model.init(3);
  growth_tool::eval_data_options o{.seq_len = 16, .batch_size = 4, .max_batches = 0, .seed = 9};
  const growth_tool::eval_data data(tok, tiny_text(), o);
  std::vector<float> logits;
  const auto r = growth_tool::evaluate_mlm(model, data, &logits);
  double loss = 0, acc = 0;
  std::size_t n = 0;
  for (std::size_t k = 0; k < data.num_batches(); ++k) {
    const auto m = model.evaluate(data.batch(k));
    loss += m.loss * static_cast<double>(m.targets);
    acc += m.accuracy * static_cast<double>(m.targets);
    n += m.targets;
  }
  CHECK(r.targets == n);
  CHECK(r.loss == loss / static_cast<double>(n));  // same calls, same order: bit-identical
  CHECK(r.accuracy == acc / static_cast<double>(n));
  CHECK(std::abs(r.loss - std::log(static_cast<double>(cfg.vocab_size))) < 0.5);  // random init ~ uniform
  CHECK(logits.size() == 4 * 16 * cfg.vocab_size);

  // The dump round-trips through safetensors_reader.
  const fs::path p = fs::temp_directory_path() / ("growth_tools_dump_" + std::to_string(::getpid()) + ".safetensors");
  growth_tool::write_eval_dump(p, data.batch(0), logits, cfg.vocab_size);
  check_dump(p, data.batch(0), logits, cfg.vocab_size);
  fs::remove(p);
  CHECK_THROWS_WITH_AS(growth_tool::write_eval_dump(p, data.batch(0), std::vector<float>(3), cfg.vocab_size),
                       doctest::Contains("--dump logits"), growth::error);
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("cli dump: the file written by `growth eval --dump` (tools.cli.dump_check)") {
  const char* dump = std::getenv("GROWTH_CLI_DUMP");
  const char* ckpt = std::getenv("GROWTH_CLI_CKPT");
  if (!dump || !ckpt) return;  // only meaningful after the CLI fixture ran; ctest runs it as tools.cli.dump_check
  // Recompute the same first batch here (same options as cli_test.sh's dump step) and compare everything.
  auto m = growth_tool::load_model(ckpt);
  growth_tool::eval_data_options o{.seq_len = 32, .batch_size = 3, .max_batches = 1, .seed = 5};
  const growth_tool::eval_data data(*m.tokenizer, growth::io::read_file(fs::path(ckpt).parent_path() / "text.txt"), o);
  const auto b = data.batch(0);
  std::vector<float> logits;
  (void)m.model->evaluate(b, &logits);
  check_dump(dump, b, logits, m.config.vocab_size);
  std::size_t masked = 0;
  for (auto l : b.labels) masked += l != -100;
  CHECK(masked > 0);
}

TEST_CASE("check_option_values: negatives refused - bounds by name - --lr finite and positive") {
  CLI::App app;
  std::size_t steps = 0, threads = 0, batch = 0;
  std::uint64_t seed = 0;
  double lr = 1;
  auto* sub = app.add_subcommand("t");
  sub->add_option("--steps", steps);
  sub->add_option("--seed", seed);
  sub->add_option("--threads", threads);
  sub->add_option("--batch", batch);
  sub->add_option("--lr", lr);
  growth_tool::check_option_values(app);
  auto parse = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"growth", "t"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> p;
    for (auto& a : argv) p.push_back(a.data());
    app.parse(static_cast<int>(p.size()), p.data());
  };
  CHECK_THROWS_AS(parse({"--steps", "-1"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--steps=-1"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--seed", "-5"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--threads", "257"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--threads", "4294967296"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--batch", "4097"}), CLI::ValidationError);
  for (const char* bad : {"inf", "nan", "0", "-1", "-inf"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse({"--lr", bad}), CLI::ValidationError);
  }
  CHECK_NOTHROW(parse({"--steps", "7", "--seed", "18446744073709551615", "--threads", "256", "--batch", "4096", "--lr", "1e-3"}));
  CHECK(steps == 7);
  CHECK(threads == 256);
  CHECK(seed == 18446744073709551615ULL);
}

TEST_CASE("refuse_output_inside: inside the folder (directly or via .. or a link) is refused - beside it is not") {
  const growth::test::scratch_dir scratch("inside", "growth_tools_");
  const fs::path& d = scratch.path;
  fs::create_directories(d / "ckpt");
  fs::create_directories(d / "other");
  fs::create_symlink(d / "ckpt", d / "other" / "link");
  auto refused = [&](const fs::path& p) {
    try {
      growth_tool::refuse_output_inside(p, "--dump", d / "ckpt", "--model");
    } catch (const growth::error& e) {
      CHECK(std::string(e.what()).find("--model folder") != std::string::npos);
      return true;
    }
    return false;
  };
  CHECK(refused(d / "ckpt" / "model.safetensors"));
  CHECK(refused(d / "other" / ".." / "ckpt" / "new.safetensors"));
  CHECK(refused(d / "other" / "link" / "model.safetensors"));
  CHECK_FALSE(refused(d / "other" / "dump.safetensors"));
  CHECK_FALSE(refused(d / "ckpt2.safetensors"));
}

TEST_CASE("io: read_file refuses a FIFO and a folder without blocking - atomic writes refuse non-regular targets") {
  const growth::test::scratch_dir scratch("files", "growth_tools_");
  const fs::path& d = scratch.path;
  fs::create_directories(d / "folder");
  REQUIRE(::mkfifo((d / "fifo").c_str(), 0644) == 0);
  // A FIFO without a writer: a blocking open would never return (the test would hang, not fail).
  CHECK_THROWS_WITH_AS(growth::io::read_file(d / "fifo"), doctest::Contains("FIFO"), growth::error);
  CHECK_THROWS_WITH_AS(growth::io::read_file(d / "folder"), doctest::Contains("a folder"), growth::error);
  CHECK_THROWS_WITH_AS(growth::io::safetensors_reader(d / "fifo"), doctest::Contains("FIFO"), growth::error);
  CHECK_THROWS_WITH_AS(growth::io::write_file_atomic(d / "fifo", "x"), doctest::Contains("FIFO"), growth::error);
  CHECK(fs::is_fifo(d / "fifo"));
  CHECK_THROWS_WITH_AS(growth::io::write_file_atomic(d / "folder", "x"), doctest::Contains("a folder"), growth::error);
  // A symlink is written through: the link stays, its target gets the new bytes.
  growth::io::write_file_atomic(d / "real", "old");
  fs::create_symlink("real", d / "link");
  growth::io::write_file_atomic(d / "link", "new");
  CHECK(fs::is_symlink(d / "link"));
  CHECK(growth::io::read_file(d / "real") == "new");
  fs::create_symlink("missing", d / "dangling");
  CHECK_THROWS_WITH_AS(growth::io::write_file_atomic(d / "dangling", "x"), doctest::Contains("dangling"), growth::error);
  CHECK_FALSE(fs::exists(d / "missing"));
  // Nothing else was left behind (no temp files).
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) ++n;
  CHECK(n == 5);  // folder, fifo, real, link, dangling
}
