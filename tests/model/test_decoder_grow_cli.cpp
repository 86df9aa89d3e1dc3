// `growth grow` and `growth inspect` end to end on decoder LM folders: a LLaMA-style (GQA, untied) and a
// GPT-2 checkpoint grown by depth and width with --check (exact: max |dlogits| reported within tolerance,
// exact=yes), an inexact transition reported as such, mean padding's eps scaled, bad targets refused with
// the field named and nothing written.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include <growth/io/checkpoint.hpp>

#include "decoder_test_util.hpp"
#include "support/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace growth;
using namespace growth::test;

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

void save_random(const fs::path& dir, const decoder_config& c) {
  io::decoder_checkpoint ck;
  ck.config = c;
  ck.params = random_decoder_params(c, 21);
  io::save_checkpoint(dir, ck);
}

/// The value of "key=<number>" in a tool's output.
double value_of(const std::string& out, const std::string& key) {
  std::smatch m;
  const std::regex re(key + "=([-+0-9.eE]+|nan|inf)");
  REQUIRE(std::regex_search(out, m, re));
  return std::stod(m[1].str());
}

}  // namespace

TEST_CASE("growth grow (decoders): LLaMA GQA and GPT-2 by depth and width, --check exact") {
  test::scratch_dir d("dec_cli");
  struct family_case {
    decoder_config c;
    std::string target;
  };
  const family_case cases[] = {
      {small_llama(8, 4, 2, false),
       R"({"num_hidden_layers": 4, "hidden_size": 16, "num_attention_heads": 8, "num_key_value_heads": 4,
           "intermediate_size": 30})"},
      {small_gpt2(8, 2), R"({"n_layer": 4, "n_embd": 16, "n_head": 4, "n_inner": 40, "n_positions": 20})"}};
  for (const auto& fc : cases) {
    const fs::path src = d / (fc.c.model_type + "_small"), out = d / (fc.c.model_type + "_big");
    save_random(src, fc.c);
    write_text(d / "target.json", fc.target);
    const auto r = run("grow --model " + src.string() + " --out " + out.string() + " --to " + (d / "target.json").string() +
                       " --depth identity --ffn split-asym --heads add --check --seed 5");
    INFO(r.out);
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("exact=yes") != std::string::npos);
    CHECK(value_of(r.out, "relative") < 1e-4);
    CHECK(value_of(r.out, "loss_before") == doctest::Approx(value_of(r.out, "loss_after")).epsilon(1e-4));
    const auto grown = io::load_decoder_checkpoint(out);
    CHECK(grown.config.num_hidden_layers == 4);
    CHECK(grown.config.hidden_size == 16);
    CHECK(grown.config.model_type == fc.c.model_type);
    const auto ins = run("inspect --model " + out.string());
    INFO(ins.out);
    REQUIRE(ins.rc == 0);
    CHECK(ins.out.find("model_type=" + fc.c.model_type) != std::string::npos);
    CHECK(ins.out.find("vocab.txt: absent") != std::string::npos);
    CHECK(ins.out.find("total_parameters=" + std::to_string(model::parameter_count(grown.config))) != std::string::npos);
  }
}

TEST_CASE("growth grow (decoders): G_stack x4 is reported inexact, mean-pad scales the eps") {
  test::scratch_dir d("dec_cli2");
  const auto c = small_llama(8, 4, 2, true);
  save_random(d / "small", c);
  write_text(d / "stack.json", R"({"num_hidden_layers": 8})");
  const auto r = run("grow --model " + (d / "small").string() + " --out " + (d / "stacked").string() + " --to " +
                     (d / "stack.json").string() + " --depth stack --check");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("exact=no (depth by stacking computes f(f(x)))") != std::string::npos);
  CHECK(value_of(r.out, "relative") > 1e-3);
  write_text(d / "pad.json", R"({"hidden_size": 12, "num_attention_heads": 6, "num_key_value_heads": 3})");
  const auto p = run("grow --model " + (d / "small").string() + " --out " + (d / "padded").string() + " --to " +
                     (d / "pad.json").string() + " --hidden mean-pad --check");
  INFO(p.out);
  REQUIRE(p.rc == 0);
  CHECK(p.out.find("rms_norm_eps scaled by d/d'") != std::string::npos);
  CHECK(p.out.find("exact=yes") != std::string::npos);
  CHECK(value_of(p.out, "relative") < 1e-4);
  CHECK(io::load_decoder_checkpoint(d / "padded").config.norm_eps == doctest::Approx(c.norm_eps * 8 / 12));
}

TEST_CASE("growth grow (decoders): bad targets name the field and write nothing") {
  test::scratch_dir d("dec_cli3");
  save_random(d / "small", small_llama(8, 4, 2, false));
  const auto refused = [&](const std::string& target, const std::string& flags, const std::string& what) {
    write_text(d / "bad.json", target);
    const auto r = run("grow --model " + (d / "small").string() + " --out " + (d / "bad").string() + " --to " +
                       (d / "bad.json").string() + " " + flags);
    INFO(r.out);
    CHECK(r.rc != 0);
    CHECK(r.out.find(what) != std::string::npos);
    CHECK_FALSE(fs::exists(d / "bad"));
  };
  refused(R"({"vocab_size": 40})", "", "target config field vocab_size");
  refused(R"({"tie_word_embeddings": true})", "", "target config field tie_word_embeddings");
  refused(R"({"num_key_value_heads": 1})", "", "num_key_value_heads");
  refused(R"({"model_type": "gpt2"})", "", "model_type");
  refused(R"({"n_embd": 16})", "", "n_embd");  // GPT-2's spelling in a LLaMA target
  refused(R"({"num_hidden_layers": 3})", "--ffn unshare", "decoders have no shared");
  refused(R"({"num_hidden_layers": 3})", "--check text.txt", "--check");
}
