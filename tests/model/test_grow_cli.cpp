// `growth grow` end to end on a tiny random checkpoint: an exact transition (with --check) and a bad
// target (non-zero exit, no output folder).
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>

namespace fs = std::filesystem;
using namespace growth;

namespace {

struct run_result {
  int rc;
  std::string out;
};

run_result run(const std::string& args) {
  const std::string cmd = std::string(GROWTH_TOOL_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

void write_text(const fs::path& p, const std::string& s) {
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  std::fputs(s.c_str(), f);
  std::fclose(f);
}

/// A tiny random checkpoint (with optimizer state) in `dir`.
model::bert_config make_checkpoint(const fs::path& dir) {
  std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "in",   "the",  "beginning",
                                 "god",   "created", "heaven", "and",  "earth",  "was", "without", "form",
                                 "void",  "darkness", "upon", "face", "of",     "deep", ".",     ","};
  model::bert_config c;
  c.vocab_size = vocab.size();
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  reference::bert<float> net(c);
  net.init(3);
  for (auto& x : net.flat_params()) x += 0.05f;  // non-zero biases
  reference::adamw<float> opt(c, {});
  for (std::size_t i = 0; i < opt.first_moment_flat().size(); ++i) {
    opt.first_moment_flat()[i] = 1e-3f * static_cast<float>(i % 7);
    opt.second_moment_flat()[i] = 1e-6f * static_cast<float>(1 + i % 5);
  }
  auto p = net.parameters();
  auto m = opt.first_moment();
  auto v = opt.second_moment();
  io::optimizer_views<float> ov{m, v, 10, {}};
  io::save_checkpoint(dir, c, p, vocab, &ov);
  return c;
}

}  // namespace

TEST_CASE("growth grow: exact transition end to end, then a bad target") {
  const fs::path root = fs::path(GROWTH_BINARY_DIR) / "tests" / "model" / "cli_work";
  fs::remove_all(root);
  fs::create_directories(root);
  const auto c = make_checkpoint(root / "small");
  write_text(root / "text.txt",
             "in the beginning god created the heaven and the earth.\nand the earth was without form, and void; "
             "and darkness was upon the face of the deep.\n");
  write_text(root / "target.json",
             "{\"num_hidden_layers\": 4, \"intermediate_size\": 30, \"hidden_size\": 16, \"num_attention_heads\": 4}");
  const auto ok = run("grow --model " + (root / "small").string() + " --out " + (root / "big").string() + " --to " +
                      (root / "target.json").string() +
                      " --depth identity --ffn split-asym --heads add --seed 5 --check " + (root / "text.txt").string());
  INFO(ok.out);
  REQUIRE(ok.rc == 0);
  CHECK(ok.out.find("exact=yes") != std::string::npos);
  const auto pos = ok.out.find("max_abs_logit_diff=");
  REQUIRE(pos != std::string::npos);
  const double diff = std::stod(ok.out.substr(pos + 19));
  CHECK(diff < 1e-4);
  CHECK(ok.out.find("loss_before=") != std::string::npos);
  // The output is a valid checkpoint with the target config and mapped optimizer state.
  const auto ck = io::load_checkpoint(root / "big");
  CHECK(ck.config.num_hidden_layers == 4);
  CHECK(ck.config.hidden_size == 16);
  CHECK(ck.config.intermediate_size == 30);
  REQUIRE(ck.opt.has_value());
  CHECK(ck.opt->step == 10);
  CHECK(ck.vocab.size() == c.vocab_size);

  // Policy reset: zero moments, step 0.
  const auto rs = run("grow --model " + (root / "small").string() + " --out " + (root / "reset").string() + " --to " +
                      (root / "target.json").string() + " --depth identity --optimizer reset");
  REQUIRE(rs.rc == 0);
  const auto ckr = io::load_checkpoint(root / "reset");
  REQUIRE(ckr.opt.has_value());
  CHECK(ckr.opt->step == 0);
  bool zero = true;
  for (float x : ckr.opt->exp_avg) zero = zero && x == 0.0f;
  CHECK(zero);

  // Bad targets: shrinking, head size change. Non-zero exit, message names the field, nothing written.
  write_text(root / "bad.json", "{\"hidden_size\": 4, \"num_attention_heads\": 1}");
  const auto bad = run("grow --model " + (root / "small").string() + " --out " + (root / "bad_out").string() +
                       " --to " + (root / "bad.json").string());
  CHECK(bad.rc != 0);
  CHECK(bad.out.find("hidden_size") != std::string::npos);
  CHECK_FALSE(fs::exists(root / "bad_out"));
  write_text(root / "bad2.json", "{\"hidden_size\": 16}");
  const auto bad2 = run("grow --model " + (root / "small").string() + " --out " + (root / "bad_out").string() +
                        " --to " + (root / "bad2.json").string());
  CHECK(bad2.rc != 0);
  CHECK(bad2.out.find("head size") != std::string::npos);
  CHECK_FALSE(fs::exists(root / "bad_out"));
  // No temp folder left behind either.
  for (const auto& e : fs::directory_iterator(root)) CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}
