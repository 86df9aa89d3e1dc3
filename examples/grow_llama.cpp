// Growing a LLaMA-style decoder end to end, the way a user does it with the CLI:
//   1. a small LLaMA-style causal LM (grouped-query attention: 4 query heads on 2 key/value heads, SwiGLU,
//      RMSNorm, rotary positions, untied lm_head) initialised by the reference model (reference::causal_lm,
//      HF's init) and written as a Hugging Face folder (io::save_checkpoint: config.json, model.safetensors);
//   2. `growth grow --check` by depth (identity insertion, 2 -> 4 layers) and width (hidden 32 -> 64, heads
//      4/2 -> 8/4 duplicated, FFN 64 -> 160 split asymmetrically): the tool runs old and grown model on
//      random token ids before publishing and must report exact=yes with max |dlogits| within 1e-4 relative;
//   3. G_stack (Du et al. 2024): the grown model stacked x2 (4 -> 8 layers), which must be reported inexact
//      with its reason and a measurable logit change;
//   4. the grown folders are loaded back strictly and their shapes checked.
// Usage: grow_llama <path of the growth tool> <work folder>. Prints "grow_llama: OK" on success.
#include <cstdio>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>

#include <growth/io/checkpoint.hpp>
#include <growth/reference/causal_lm.hpp>

namespace fs = std::filesystem;
using namespace growth;

namespace {

std::string run(const std::string& cmd) {
  std::printf("$ %s\n", cmd.c_str());
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  std::fputs(out.c_str(), stdout);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw std::runtime_error("command failed: " + cmd);
  return out;
}

double value_of(const std::string& out, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(key + "=([-+0-9.eE]+|nan|inf)")))
    throw std::runtime_error("no " + key + "= in the output");
  return std::stod(m[1].str());
}

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("expected " + what);
}

void write_text(const fs::path& p, const std::string& s) {
  FILE* f = std::fopen(p.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + p.string());
  std::fputs(s.c_str(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: grow_llama <growth tool> <work folder>\n");
    return 2;
  }
  try {
    const std::string tool = argv[1];
    const fs::path work = argv[2];
    fs::remove_all(work);
    fs::create_directories(work);

    // 1. The small model.
    model::decoder_config c;  // LlamaConfig spelling in config.json
    c.vocab_size = 64;
    c.hidden_size = 32;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.intermediate_size = 64;
    c.max_position_embeddings = 64;
    c.tie_word_embeddings = false;
    reference::causal_lm<float> net(c);
    net.init(1);
    auto params = net.parameters();
    io::save_checkpoint(work / "small", c, params, {});
    std::printf("wrote %s (%zu parameters)\n", (work / "small").c_str(), model::parameter_count(c));

    // 2. Depth and width, exact, checked by the tool.
    write_text(work / "wide.json", R"({"num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 8,
  "num_key_value_heads": 4, "intermediate_size": 160})");
    const std::string grown = run(tool + " grow --model " + (work / "small").string() + " --out " +
                                  (work / "grown").string() + " --to " + (work / "wide.json").string() +
                                  " --depth identity --heads duplicate --ffn split-asym --check --seed 7");
    expect(grown.find("exact=yes") != std::string::npos, "exact=yes");
    expect(value_of(grown, "relative") < 1e-4, "max |dlogits| within 1e-4 relative");

    // 3. G_stack x2 on the grown model: not function-preserving, and the tool says so.
    write_text(work / "stack.json", R"({"num_hidden_layers": 8})");
    const std::string stacked = run(tool + " grow --model " + (work / "grown").string() + " --out " +
                                    (work / "stacked").string() + " --to " + (work / "stack.json").string() +
                                    " --depth stack --check");
    expect(stacked.find("exact=no (depth by stacking computes f(f(x)))") != std::string::npos, "stacking reported inexact");
    expect(value_of(stacked, "relative") > 1e-4, "stacking to move the logits");

    // 4. The folders load back strictly with the target shapes.
    const auto g = io::load_decoder_checkpoint(work / "grown");
    expect(g.config.num_hidden_layers == 4 && g.config.hidden_size == 64 && g.config.num_attention_heads == 8 &&
               g.config.num_key_value_heads == 4 && g.config.intermediate_size == 160,
           "the grown config");
    const auto s = io::load_decoder_checkpoint(work / "stacked");
    expect(s.config.num_hidden_layers == 8, "8 stacked layers");
    run(tool + " inspect --model " + (work / "stacked").string());
    std::printf("grow_llama: OK\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grow_llama: FAIL: %s\n", e.what());
    return 1;
  }
}
