// `growth grow` end to end on a tiny random checkpoint: an exact transition (with --check) and a bad
// target (non-zero exit, no output folder).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>

#include "support/configs.hpp"

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
  const model::bert_config c = test::tiny_bert(
      {.vocab = vocab.size(), .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12, .positions = 16});
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

namespace {

const char* const kjv_lines =
    "in the beginning god created the heaven and the earth.\nand the earth was without form, and void; "
    "and darkness was upon the face of the deep.\n";

/// A fresh work folder with a tiny checkpoint "small" (optimizer state included) and a text.
fs::path cli_root(const std::string& name) {
  const fs::path root = fs::path(GROWTH_BINARY_DIR) / "tests" / "model" / ("cli_" + name);
  fs::remove_all(root);
  fs::create_directories(root);
  make_checkpoint(root / "small");
  write_text(root / "text.txt", kjv_lines);
  return root;
}

std::string grow_cmd(const fs::path& root, const std::string& out, const std::string& target, const std::string& flags = "") {
  write_text(root / "target.json", target);
  return "grow --model " + (root / "small").string() + " --out " + out + " --to " + (root / "target.json").string() +
         " " + flags;
}

bool has(const std::string& s, const std::string& x) { return s.find(x) != std::string::npos; }

}  // namespace

TEST_CASE("growth grow --check: transitions that change the logits are not called exact") {
  const auto root = cli_root("claims");
  const std::string check = " --check " + (root / "text.txt").string();
  struct claim {
    const char* target;
    const char* flags;
    const char* reason;
  };
  const claim cases[] = {
      {"{\"max_position_embeddings\": 32}", "--length interpolate", "length interpolate changes position rows 1..15"},
      {"{\"layer_norm_eps\": 0.01}", "", "layer_norm_eps changes"},
  };
  int k = 0;
  for (const auto& c : cases) {
    const auto r = run(grow_cmd(root, (root / ("o" + std::to_string(k++))).string(), c.target, c.flags + check));
    INFO(r.out);
    CHECK(r.rc == 0);
    CHECK(has(r.out, "exact=no"));
    CHECK(has(r.out, c.reason));
    const auto pos = r.out.find("max_abs_logit_diff=");
    REQUIRE(pos != std::string::npos);
    CHECK(std::stod(r.out.substr(pos + 19)) > 1e-5);  // and the change is real
  }
  // Leaving mean pooling: a pooled source.
  {
    auto ck = io::load_checkpoint(root / "small");
    ck.config.pool_size = 2;
    io::save_checkpoint(root / "pooled", ck);
    write_text(root / "unpool.json", "{\"growth\": {\"pool_size\": 1}}");
    const auto r = run("grow --model " + (root / "pooled").string() + " --out " + (root / "unpooled").string() +
                       " --to " + (root / "unpool.json").string() + check);
    INFO(r.out);
    CHECK(r.rc == 0);
    CHECK(has(r.out, "exact=no"));
    CHECK(has(r.out, "leaving mean pooling"));
  }
  // Tile stays exact, and --check agrees.
  const auto t = run(grow_cmd(root, (root / "tiled").string(), "{\"max_position_embeddings\": 32}", "--length tile" + check));
  INFO(t.out);
  CHECK(t.rc == 0);
  CHECK(has(t.out, "exact=yes"));
}

TEST_CASE("growth grow --check runs before publishing: a failing check writes nothing and says so") {
  const auto root = cli_root("checkfail");
  // A NaN in a weight (read with --allow-nonfinite) makes the logits NaN: an exact transition whose logits
  // are not "unchanged" is an error, and the output is never published.
  {
    auto ck = io::load_checkpoint(root / "small");
    ck.params[ck.params.size() / 2] = std::nanf("");
    io::save_checkpoint(root / "nan", ck);
  }
  write_text(root / "target.json", "{\"intermediate_size\": 20}");
  const std::string out = (root / "grown").string();
  const auto r = run("--allow-nonfinite grow --model " + (root / "nan").string() + " --out " + out + " --to " +
                     (root / "target.json").string() + " --check " + (root / "text.txt").string());
  INFO(r.out);
  CHECK(r.rc == 2);
  CHECK(has(r.out, "CHECK FAILED"));
  CHECK(has(r.out, "--check"));
  CHECK_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(root)) CHECK_FALSE(has(e.path().filename().string(), ".tmp-"));
  // --check's text is validated before anything is grown: missing, a folder.
  for (const std::string& bad : std::vector<std::string>{(root / "missing.txt").string(), root.string()}) {
    const auto m = run(grow_cmd(root, out, "{\"intermediate_size\": 20}", "--check " + bad));
    INFO(m.out);
    CHECK(m.rc == 2);
    CHECK(has(m.out, "--check text"));
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("growth grow --out: never the source, never inside it, an existing checkpoint only with --force") {
  const auto root = cli_root("out");
  const std::string t = "{\"intermediate_size\": 20}";
  const auto before = fs::file_size(root / "small" / "model.safetensors");
  for (const std::string& same : std::vector<std::string>{(root / "small").string(), (root / "small").string() + "/",
                                 (root / "." / "small").string(), (root / "small" / ".." / "small").string()}) {
    const auto r = run(grow_cmd(root, same, t, "--force"));
    INFO(same << ": " << r.out);
    CHECK(r.rc == 2);
    CHECK(has(r.out, "it would replace the source"));
  }
  fs::create_directory_symlink(root / "small", root / "link");
  const auto l = run(grow_cmd(root, (root / "link").string(), t, "--force"));
  CHECK(l.rc == 2);
  CHECK(has(l.out, "it would replace the source"));
  const auto in = run(grow_cmd(root, (root / "small" / "nested").string(), t));
  INFO(in.out);
  CHECK(in.rc == 2);
  CHECK(has(in.out, "inside"));
  CHECK_FALSE(fs::exists(root / "small" / "nested"));
  CHECK(fs::file_size(root / "small" / "model.safetensors") == before);
  // An existing checkpoint: refused without --force, replaced with it.
  REQUIRE(run(grow_cmd(root, (root / "big").string(), t)).rc == 0);
  const auto again = run(grow_cmd(root, (root / "big").string(), "{\"intermediate_size\": 24}"));
  INFO(again.out);
  CHECK(again.rc == 2);
  CHECK(has(again.out, "--force"));
  CHECK(io::load_config(root / "big" / "config.json").intermediate_size == 20);
  CHECK(run(grow_cmd(root, (root / "big").string(), "{\"intermediate_size\": 24}", "--force")).rc == 0);
  CHECK(io::load_config(root / "big" / "config.json").intermediate_size == 24);
}

TEST_CASE("growth grow --optimizer reset does not read the source optimizer state") {
  const auto root = cli_root("reset");
  // Cut optimizer.safetensors short: map must refuse it, reset must not even read it.
  const auto opt = root / "small" / "optimizer.safetensors";
  fs::resize_file(opt, fs::file_size(opt) / 2);
  const std::string t = "{\"intermediate_size\": 20}";
  const auto m = run(grow_cmd(root, (root / "mapped").string(), t, "--optimizer map"));
  CHECK(m.rc == 2);
  CHECK(has(m.out, "optimizer.safetensors"));
  const auto r = run(grow_cmd(root, (root / "reset").string(), t, "--optimizer reset"));
  INFO(r.out);
  REQUIRE(r.rc == 0);
  const auto ck = io::load_checkpoint(root / "reset");
  REQUIRE(ck.opt.has_value());
  CHECK(ck.opt->step == 0);
  bool zero = true;
  for (float x : ck.opt->exp_avg_sq) zero = zero && x == 0.0f;
  CHECK(zero);
  // inspect validates the optimizer file it calls present.
  const auto i = run("inspect --model " + (root / "small").string());
  CHECK(i.rc == 2);
  CHECK(has(i.out, "optimizer.safetensors"));
  const auto ok = run("inspect --model " + (root / "reset").string());
  CHECK(ok.rc == 0);
  CHECK(has(ok.out, "optimizer.safetensors: present (valid, step 0)"));
}

TEST_CASE("growth grow --ffn split on a shared-FFN model splits the shared FFN and keeps it shared") {
  const auto root = cli_root("shared");
  auto ck = io::load_checkpoint(root / "small");
  // A shared source: every layer's FFN has intermediate_size / 2 = 6 neurons.
  model::bert_config c = ck.config;
  c.ffn_shared_layers = {0, 1};
  c.ffn_share_factor = 2;
  reference::bert<float> net(c);
  net.init(4);
  io::save_checkpoint(root / "shared", c, net.parameters(), ck.vocab);
  write_text(root / "target.json", "{\"intermediate_size\": 20}");
  const auto r = run("grow --model " + (root / "shared").string() + " --out " + (root / "g").string() + " --to " +
                     (root / "target.json").string() + " --ffn split --check " + (root / "text.txt").string());
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(has(r.out, "exact=yes"));
  const auto g = io::load_config(root / "g" / "config.json");
  CHECK(g.ffn_shared_layers == std::vector<std::size_t>{0, 1});
  CHECK(g.layer_intermediate_size(0) == 10);
}

TEST_CASE("growth grow: a write error names the file, and stale temp folders beside --out are cleaned") {
  const auto root = cli_root("writes");
  write_text(root / "target.json", "{\"intermediate_size\": 20}");
  // File size limit 4 KiB (SIGXFSZ ignored, so write() fails with EFBIG, as on a full disk).
  const std::string cmd = "sh -c \"trap '' XFSZ; ulimit -f 4; " + std::string(GROWTH_TOOL_PATH) + " grow --model " +
                          (root / "small").string() + " --out " + (root / "big").string() + " --to " +
                          (root / "target.json").string() + "\" 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  INFO(out);
  CHECK(WEXITSTATUS(st) == 2);
  CHECK(has(out, "model.safetensors"));
  CHECK_FALSE(fs::exists(root / "big"));
  // A temp folder of a process that is gone (pid 2^22 + 1 is above Linux's pid_max limit) is removed by the
  // next grow to that output; a name in another form is left alone.
  const fs::path stale = root / ".big.tmp-4194305-777-a1b2c3", foreign = root / ".big.tmp-q1w2e3";
  fs::create_directories(stale);
  fs::create_directories(foreign);
  write_text(stale / "model.safetensors", std::string(4096, 'x'));
  REQUIRE(run(grow_cmd(root, (root / "big").string(), "{\"intermediate_size\": 20}")).rc == 0);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(foreign));
}

TEST_CASE("growth inspect: a vocabulary without BERT's special tokens is refused") {
  const auto root = cli_root("inspect_vocab");
  auto vocab = io::load_vocab(root / "small" / "vocab.txt");
  vocab[2] = "cls";  // [CLS] renamed
  io::save_vocab(root / "small" / "vocab.txt", vocab);
  const auto r = run("inspect --model " + (root / "small").string());
  INFO(r.out);
  CHECK(r.rc == 2);
  CHECK(has(r.out, "vocab.txt"));
  CHECK(has(r.out, "[CLS]"));
}
