// `growth finetune` end to end on a tiny random checkpoint: the final line, the fine-tuned folder (HF
// names, config fields, CSV log), fine-tuning a fine-tuned folder again, and the errors (bad task name,
// too few positions for the pair task), which write nothing.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/io/classifier_checkpoint.hpp>
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

/// A tiny random MLM checkpoint with a few KJV words in its vocabulary.
void make_checkpoint(const fs::path& dir, std::size_t positions) {
  std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "and", "of", "to", "that",
                                 "in", "he", "shall", "unto", "i", "his", "a", "lord", "they", "be", "is", "jesus", ",", ".", ":"};
  const model::bert_config c = test::tiny_bert({.vocab = vocab.size(), .hidden = 8, .layers = 1, .heads = 2, .intermediate = 16, .positions = positions});
  reference::bert<float> net(c);
  net.init(3);
  auto p = net.parameters();
  io::save_checkpoint(dir, c, p, vocab);
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

TEST_CASE("growth finetune: end to end, then again from the fine-tuned folder, then the errors") {
  const fs::path root = fs::path(GROWTH_BINARY_DIR) / "tests" / "finetune" / "cli_work";
  fs::remove_all(root);
  fs::create_directories(root);
  make_checkpoint(root / "pre", 32);
  make_checkpoint(root / "short", 12);
  const std::string common = " --steps 4 --batch 4 --max-eval 40 --progress lines";

  const auto ok = run("finetune --model " + (root / "pre").string() + " --task next-verse --out " + (root / "ft").string() + common);
  INFO(ok.out);
  REQUIRE(ok.rc == 0);
  const std::string line = last_line(ok.out);
  CHECK(line.starts_with("task=next-verse accuracy="));
  CHECK(line.find(" majority=") != std::string::npos);
  CHECK(line.find(" bow=") != std::string::npos);
  CHECK(ok.out.find("[finetune next-verse] step 4/4") != std::string::npos);
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "finetune.csv", "finetune.json"}) CHECK(fs::exists(root / "ft" / f));
  const auto j = io::parse_json(io::read_file(root / "ft" / "config.json"), "config.json");
  CHECK(j["architectures"][0] == "BertForSequenceClassification");
  CHECK(j["num_labels"] == 2);
  CHECK(j["id2label"]["1"] == "next");
  const std::string csv = io::read_file(root / "ft" / "finetune.csv");
  CHECK(csv.starts_with("step,loss,accuracy,lr,grad_norm\n1,"));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
  const auto res = io::parse_json(io::read_file(root / "ft" / "finetune.json"), "finetune.json");
  CHECK(res["test_examples"] == 40);
  CHECK(res["majority"].get<double>() >= 0.3);

  // The fine-tuned folder fine-tunes again (its head is read: same label count) and is deterministic.
  const auto again = run("finetune --model " + (root / "ft").string() + " --task next-verse --out " + (root / "ft2").string() + common);
  INFO(again.out);
  CHECK(again.rc == 0);
  const auto again2 = run("finetune --model " + (root / "ft").string() + " --task next-verse --out " + (root / "ft3").string() + common);
  CHECK(last_line(again.out) == last_line(again2.out));
  // ... and a task with another label count starts a fresh head on the same encoder.
  const auto other = run("finetune --model " + (root / "ft").string() + " --task testament --out " + (root / "ft4").string() + common);
  INFO(other.out);
  CHECK(other.rc == 0);
  CHECK(last_line(other.out).starts_with("task=testament "));

  // Errors: a bad task name, too few positions for the pair task; nothing written.
  const auto bad = run("finetune --model " + (root / "pre").string() + " --task sentiment --out " + (root / "bad").string() + common);
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("--task") != std::string::npos);
  CHECK(bad.out.find("testament, book, next-verse") != std::string::npos);
  CHECK(!fs::exists(root / "bad"));
  const auto shortm = run("finetune --model " + (root / "short").string() + " --task next-verse --out " + (root / "bad").string() + common);
  CHECK(shortm.rc == 2);
  CHECK(shortm.out.find("max_position_embeddings") != std::string::npos);
  CHECK(shortm.out.find("next-verse") != std::string::npos);
  CHECK(!fs::exists(root / "bad"));
  // A one-verse task fits 12 positions.
  CHECK(run("finetune --model " + (root / "short").string() + " --task testament --out " + (root / "ok12").string() + common).rc == 0);
  fs::remove_all(root);
}
