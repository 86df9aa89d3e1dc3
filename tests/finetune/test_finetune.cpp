// The fine-tuned checkpoint folder (io/classifier_checkpoint.hpp: HF BertForSequenceClassification names
// and config fields, MLM checkpoints load with a fresh seeded head) and the fine-tuning loop
// (train/finetune.hpp: learns a task a word decides, deterministic, refuses too few positions).
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/io/classifier_checkpoint.hpp>
#include <growth/io/safetensors.hpp>
#include <growth/train/finetune.hpp>

#include "support/configs.hpp"
#include "support/scratch_dir.hpp"

namespace {

using growth::reference::bert_classifier;

const std::vector<std::string> tiny_vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "alpha", "beta", "gamma", "delta", "x"};

growth::model::bert_config tiny(std::size_t positions = 16) {
  auto c = growth::test::tiny_bert({.vocab = tiny_vocab.size(), .hidden = 16, .layers = 2, .heads = 2, .intermediate = 32, .positions = positions});
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  return c;
}

// label 1 when the verse contains "x": a task one word decides.
growth::data::classification_task word_task(bool pair = false) {
  growth::data::classification_task t;
  t.name = "has-x";
  t.pair = pair;
  t.label_names = {"no", "yes"};
  growth::rng r(5, 0);
  const char* words[] = {"alpha", "beta", "gamma", "delta"};
  for (std::size_t i = 0; i < 400; ++i) {
    std::string s;
    const std::size_t n = 2 + r.below(5), at = r.below(n);
    const bool yes = i % 2 == 0;
    for (std::size_t k = 0; k < n; ++k) s += std::string(k ? " " : "") + (yes && k == at ? "x" : words[r.below(4)]);
    growth::data::text_example e{s, pair ? "beta" : "", yes ? 1 : 0};
    (i < 300 ? t.train : i < 350 ? t.validation : t.test).push_back(e);
  }
  return t;
}

std::set<std::string> tensor_names(const std::filesystem::path& p) {
  const growth::io::safetensors_reader rd(p);
  const auto n = rd.names();
  return {n.begin(), n.end()};
}

}  // namespace

TEST_CASE("classifier checkpoint: HF BertForSequenceClassification names and config, round trip") {
  growth::test::scratch_dir tmp("cls_ckpt");
  const auto c = tiny();
  bert_classifier<float> m(c, 3);
  m.init(7);
  auto enc = m.encoder().parameters();
  auto head = m.head_parameters();
  growth::io::save_classifier_checkpoint(tmp / "ft", c, enc, head, {"a", "b", "c"}, tiny_vocab, {{"finetune.csv", "step\n"}});
  // Every encoder tensor, the pooler and the classifier; no MLM head.
  std::set<std::string> expect;
  for (const auto& s : growth::model::bert_parameters(c))
    if (!s.name.starts_with("cls.")) expect.insert(s.name);
  for (const char* n : {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}) expect.insert(n);
  CHECK(tensor_names(tmp / "ft" / "model.safetensors") == expect);
  CHECK(std::filesystem::exists(tmp / "ft" / "finetune.csv"));
  const auto j = growth::io::parse_json(growth::io::read_file(tmp / "ft" / "config.json"), "config.json");
  CHECK(j["architectures"][0] == "BertForSequenceClassification");
  CHECK(j["num_labels"] == 3);
  CHECK(j["id2label"]["2"] == "c");
  CHECK(j["label2id"]["b"] == 1);
  CHECK(growth::io::load_config(tmp / "ft" / "config.json") == c);

  const auto back = growth::io::load_for_classification(tmp / "ft", 3);
  CHECK(back.fine_tuned);
  REQUIRE(back.head);
  CHECK(std::equal(back.head->begin(), back.head->end(), m.head_params().begin()));
  const auto& L = m.encoder().layout();
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    if (L.specs[i].name.starts_with("cls.")) continue;
    CHECK(std::equal(back.encoder.begin() + static_cast<std::ptrdiff_t>(L.offsets[i]),
                     back.encoder.begin() + static_cast<std::ptrdiff_t>(L.offsets[i] + L.specs[i].numel()),
                     m.encoder().flat_params().begin() + static_cast<std::ptrdiff_t>(L.offsets[i])));
  }
  // Another label count: the encoder loads, the head does not.
  const auto other = growth::io::load_for_classification(tmp / "ft", 2);
  CHECK(other.fine_tuned);
  CHECK(other.folder_num_labels == 3);
  CHECK(!other.head);
  // A folder with unrelated files is not replaced.
  growth::io::write_file_atomic(tmp / "ft" / "notes.txt", "mine");
  CHECK_THROWS_AS(growth::io::save_classifier_checkpoint(tmp / "ft", c, enc, head, {"a", "b", "c"}, tiny_vocab), growth::error);
}

TEST_CASE("classifier checkpoint: an MLM checkpoint loads with no head, which is then initialised from the seed") {
  growth::test::scratch_dir tmp("cls_mlm");
  const auto c = tiny();
  growth::reference::bert<float> mlm(c);
  mlm.init(3);
  auto p = mlm.parameters();
  growth::io::save_checkpoint(tmp / "mlm", c, p, tiny_vocab);
  const auto ck = growth::io::load_for_classification(tmp / "mlm", 2);
  CHECK(!ck.fine_tuned);
  CHECK(!ck.head);
  CHECK(std::equal(ck.encoder.begin(), ck.encoder.end(), mlm.flat_params().begin()));
  const auto t = word_task();
  auto a = growth::train::make_classifier(ck, t, 11), b = growth::train::make_classifier(ck, t, 11), d = growth::train::make_classifier(ck, t, 12);
  CHECK(std::equal(a->head_params().begin(), a->head_params().end(), b->head_params().begin()));
  CHECK(!std::equal(a->head_params().begin(), a->head_params().end(), d->head_params().begin()));
  // HF init: weights N(0, 0.02), biases 0.
  const auto hv = a->head_parameters();
  CHECK(hv.at("classifier.bias").data[0] == 0.0f);
  double s2 = 0;
  const auto& w = hv.at("bert.pooler.dense.weight");
  for (std::size_t i = 0; i < w.numel(); ++i) s2 += static_cast<double>(w.data[i]) * w.data[i];
  CHECK(std::sqrt(s2 / static_cast<double>(w.numel())) == doctest::Approx(0.02).epsilon(0.2));
}

TEST_CASE("finetune: learns a task one word decides, deterministically") {
  const auto c = tiny();
  const auto t = word_task();
  growth::data::wordpiece_tokenizer tok(tiny_vocab);
  growth::train::finetune_options o;
  o.steps = 80;
  o.lr = 3e-3;
  o.batch_size = 16;
  auto run = [&] {
    bert_classifier<float> m(c, 2);
    m.init(1);
    std::size_t seen = 0;
    const auto r = growth::train::finetune(m, tok, t, o, [&](const growth::train::finetune_step& s) {
      ++seen;
      CHECK(s.step == seen);
      return true;
    });
    CHECK(seen == o.steps);
    return r;
  };
  const auto r = run(), r2 = run();
  MESSAGE("has-x: accuracy " << r.accuracy << " majority " << r.majority << " final loss " << r.final_loss);
  CHECK(r.accuracy == r2.accuracy);
  CHECK(r.final_loss == r2.final_loss);
  CHECK(r.majority == doctest::Approx(0.5));
  CHECK(r.accuracy >= 0.9);
  CHECK(r.test_examples == 50);
}

TEST_CASE("finetune: a pair task needs enough positions, and the error names the field") {
  const auto t = word_task(true);
  const auto c = tiny(12);
  CHECK_THROWS_WITH_AS(growth::train::task_seq_len(c, t, 128), doctest::Contains("max_position_embeddings"), growth::error);
  CHECK(growth::train::task_seq_len(tiny(16), t, 128) == 16);
  CHECK(growth::train::task_seq_len(c, word_task(false), 128) == 12);
}
