// reference::bert_classifier (Hugging Face BertForSequenceClassification): gradients against central finite
// differences in double (the 4-point stencil and criteria of common.hpp), and parity with PyTorch against
// golden files written once by tests/reference/golden/make_golden_classifier.py (logits, loss, every
// gradient, one AdamW step with global clipping; criterion max |ours - torch| <= tol * max |torch|, tol
// 1e-10 in double; gradients floored at 1e-3 x the largest gradient entry, see test_parity.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <growth/reference/bert_classifier.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/configs.hpp"
#include "support/models.hpp"

namespace {

using growth::model::classification_batch;
using growth::reference::bert_classifier;

// Sentence pairs [CLS] A [SEP] B [SEP] with segments 0 / 1, one padded row (as the golden file's batch).
classification_batch pair_batch(const growth::model::bert_config& c, std::size_t k, std::uint64_t seed) {
  growth::rng r(seed, 3);
  classification_batch b{growth::model::mlm_batch(3, 7), {}};
  const std::size_t len[3][2] = {{2, 2}, {1, 3}, {2, 1}};
  for (std::size_t s = 0; s < 3; ++s) {
    const std::size_t la = len[s][0], lb = len[s][1];
    for (std::size_t t = 0; t < 7; ++t) {
      const std::size_t i = s * 7 + t;
      b.inputs.input_ids[i] = static_cast<std::int32_t>(3 + r.below(c.vocab_size - 3));
      b.inputs.token_type_ids[i] = t >= 2 + la && t <= 2 + la + lb ? 1 : 0;
      if (t > 2 + la + lb) {
        b.inputs.input_ids[i] = 0;
        b.inputs.attention_mask[i] = 0;
      }
    }
    b.labels.push_back(static_cast<std::int32_t>(r.below(k)));
  }
  return b;
}

void randomize(bert_classifier<double>& m, std::uint64_t seed) {
  growth::test::randomize(m.encoder(), seed);
  growth::rng r(seed, 99);
  for (auto& x : m.head_params()) x = 0.4 * r.normal();
}

struct fd_result {
  std::size_t checked = 0, failed = 0;
  double worst_tensor_rel = 0;
  std::string worst_tensor;
};

// Every entry of every encoder parameter except the MLM head (cls.*, unused by the classifier), and of the
// head, against the 4-point stencil.
fd_result gradcheck(const growth::model::bert_config& c, std::size_t k, std::uint64_t seed, std::uint64_t dropout_seed) {
  bert_classifier<double> m(c, k);
  randomize(m, seed);
  const auto b = pair_batch(c, k, seed);
  m.forward_backward(b, dropout_seed);
  const std::vector<double> ge(m.encoder().flat_grads().begin(), m.encoder().flat_grads().end());
  const std::vector<double> gh(m.head_grads().begin(), m.head_grads().end());
  const double h = 1e-4;
  fd_result res;
  auto check = [&](const std::string& name, double* p, const double* ana, std::size_t n) {
    double diff2 = 0, ana2 = 0, num2 = 0;
    auto loss_at = [&](std::size_t j, double x) {
      const double keep = p[j];
      p[j] = x;
      const double l = m.forward_train(b, dropout_seed).loss;
      p[j] = keep;
      return l;
    };
    for (std::size_t j = 0; j < n; ++j) {
      const double x = p[j];
      const double num = (-loss_at(j, x + 2 * h) + 8 * loss_at(j, x + h) - 8 * loss_at(j, x - h) + loss_at(j, x - 2 * h)) / (12 * h);
      const double err = std::abs(num - ana[j]), scale = std::max(std::abs(num), std::abs(ana[j]));
      diff2 += err * err;
      ana2 += ana[j] * ana[j];
      num2 += num * num;
      ++res.checked;
      if (err > 1e-6 * scale + 1e-10) {
        if (res.failed < 10) MESSAGE(name << "[" << j << "]: analytic " << ana[j] << " numeric " << num);
        ++res.failed;
      }
    }
    const double norm = std::sqrt(std::max(ana2, num2));
    const double rel = norm < 1e-8 ? std::sqrt(diff2) / 1e-8 * 1e-6 : std::sqrt(diff2) / norm;
    if (rel > res.worst_tensor_rel) {
      res.worst_tensor_rel = rel;
      res.worst_tensor = name;
    }
  };
  const auto& L = m.encoder().layout();
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    if (growth::model::is_mlm_head_parameter(L.specs[i])) continue;
    check(L.specs[i].name, m.encoder().flat_params().data() + L.offsets[i], ge.data() + L.offsets[i], L.specs[i].numel());
  }
  for (std::size_t i = 0; i < m.head_specs().size(); ++i)
    check(m.head_specs()[i].name, m.head_params().data() + m.head_offsets()[i], gh.data() + m.head_offsets()[i],
          m.head_specs()[i].numel());
  return res;
}

}  // namespace

TEST_CASE("bert_classifier: gradient check of every parameter (post-LN, pre-LN + low-cost, dropout)") {
  struct variant {
    const char* what;
    growth::model::bert_config c;
    std::uint64_t dropout_seed;
  };
  auto post = growth::test::tiny_config();
  auto pre = growth::test::tiny_lowcost_config();
  pre.pre_layer_norm = true;
  auto drop = post;
  drop.hidden_dropout_prob = 0.2;
  drop.attention_probs_dropout_prob = 0.25;
  const variant variants[] = {{"post-LN", post, 0}, {"pre-LN, shared + factorised FFN", pre, 0}, {"dropout", drop, 4242}};
  for (const auto& v : variants) {
    const std::string what = v.what;
    CAPTURE(what);
    const auto r = gradcheck(v.c, 3, 11, v.dropout_seed);
    MESSAGE(what << ": " << r.checked << " entries, worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
    CHECK(r.failed == 0);
    CHECK(r.worst_tensor_rel <= 1e-6);
    CHECK(r.checked > 0);
  }
}

namespace {

struct cls_golden {
  nlohmann::json header;
  std::vector<char> data;
  explicit cls_golden(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 8);
    std::string h(n, '\0');
    f.read(h.data(), static_cast<std::streamsize>(n));
    header = nlohmann::json::parse(h);
    data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  template <class U>
  std::vector<U> get(const std::string& name) const {
    REQUIRE_MESSAGE(header.contains(name), "golden tensor " << name << " missing");
    const auto b = header[name]["data_offsets"][0].get<std::size_t>(), e = header[name]["data_offsets"][1].get<std::size_t>();
    std::vector<U> v((e - b) / sizeof(U));
    std::memcpy(v.data(), data.data() + b, e - b);
    return v;
  }
  std::string meta(const std::string& k) const { return header["__metadata__"][k].get<std::string>(); }
  growth::model::bert_config config() const {
    const auto j = nlohmann::json::parse(meta("config"));
    growth::model::bert_config c;
    c.vocab_size = j["vocab_size"];
    c.hidden_size = j["hidden_size"];
    c.num_hidden_layers = j["num_hidden_layers"];
    c.num_attention_heads = j["num_attention_heads"];
    c.intermediate_size = j["intermediate_size"];
    c.max_position_embeddings = j["max_position_embeddings"];
    c.type_vocab_size = j["type_vocab_size"];
    c.layer_norm_eps = j["layer_norm_eps"];
    c.pad_token_id = j["pad_token_id"];
    c.hidden_dropout_prob = j["hidden_dropout_prob"];
    c.attention_probs_dropout_prob = j["attention_probs_dropout_prob"];
    c.ffn_shared_layers = j["ffn_shared_layers"].get<std::vector<std::size_t>>();
    c.ffn_share_factor = j["ffn_share_factor"];
    c.ffn_factorized_layers = j["ffn_factorized_layers"].get<std::vector<std::size_t>>();
    c.ffn_rank = j["ffn_rank"];
    c.pre_layer_norm = j.value("pre_layer_norm", false);
    return c;
  }
};

double rel_max(const std::vector<double>& ours, const std::vector<double>& ref, double floor = 0) {
  REQUIRE(ours.size() == ref.size());
  double num = 0, den = floor;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num = std::max(num, std::abs(ours[i] - ref[i]));
    den = std::max(den, std::abs(ref[i]));
  }
  return den > 0 ? num / den : num;
}

void check_golden(const std::string& file) {
  const cls_golden g(std::string(GROWTH_SOURCE_DIR) + "/tests/reference/golden/" + file);
  const auto c = g.config();
  const std::size_t k = std::stoul(g.meta("num_labels"));
  bert_classifier<double> m(c, k);
  auto enc = m.encoder().parameters();
  auto head = m.head_parameters();
  auto load = [&](growth::model::parameter_set<double>& set, const std::string& prefix) {
    for (const auto& p : set) {
      if (p.name.starts_with("cls.")) continue;
      const auto v = g.get<double>(prefix + p.name);
      REQUIRE(v.size() == p.numel());
      std::copy(v.begin(), v.end(), p.data);
    }
  };
  load(enc, "param.");
  load(head, "param.");
  const auto shape = g.header["input_ids"]["shape"];
  classification_batch b{growth::model::mlm_batch(shape[0].get<std::size_t>(), shape[1].get<std::size_t>()), g.get<std::int32_t>("labels")};
  b.inputs.input_ids = g.get<std::int32_t>("input_ids");
  b.inputs.token_type_ids = g.get<std::int32_t>("token_type_ids");
  b.inputs.attention_mask = g.get<std::int32_t>("attention_mask");

  std::vector<double> logits;
  const auto ev = m.evaluate(b, &logits);
  const double loss_ref = g.get<double>("loss")[0];
  MESSAGE(file << ": logits rel err " << rel_max(logits, g.get<double>("logits")) << ", loss " << ev.loss << " vs " << loss_ref);
  CHECK(rel_max(logits, g.get<double>("logits")) <= 1e-10);
  CHECK(std::abs(ev.loss - loss_ref) <= 1e-10 * std::abs(loss_ref));

  const auto tr = m.forward_backward(b, 0);
  CHECK(std::abs(tr.loss - loss_ref) <= 1e-10 * std::abs(loss_ref));
  double gmax = 0;
  for (auto x : m.encoder().flat_grads()) gmax = std::max(gmax, std::abs(x));
  for (auto x : m.head_grads()) gmax = std::max(gmax, std::abs(x));
  auto grads_match = [&](growth::model::parameter_set<double> set) {
    for (const auto& p : set) {
      if (p.name.starts_with("cls.")) continue;
      CAPTURE(p.name);
      const std::vector<double> ours(p.data, p.data + p.numel());
      CHECK(rel_max(ours, g.get<double>("grad." + p.name), 1e-3 * gmax) <= 1e-10);
    }
  };
  grads_match(m.encoder().gradients());
  grads_match(m.head_gradients());

  // One AdamW step from our (golden-equal) gradients.
  growth::reference::adamw_options o;
  o.beta1 = std::stod(g.meta("beta1"));
  o.beta2 = std::stod(g.meta("beta2"));
  o.eps = std::stod(g.meta("eps"));
  o.weight_decay = std::stod(g.meta("weight_decay"));
  o.max_grad_norm = std::stod(g.meta("max_grad_norm"));
  growth::reference::classifier_adamw<double> opt(m, o);
  opt.step(m, std::stod(g.meta("lr")));
  auto params_match = [&](growth::model::parameter_set<double> set) {
    for (const auto& p : set) {
      if (p.name.starts_with("cls.")) continue;
      CAPTURE(p.name);
      const std::vector<double> ours(p.data, p.data + p.numel());
      CHECK(rel_max(ours, g.get<double>("adamw." + p.name)) <= 1e-10);
    }
  };
  params_match(m.encoder().parameters());
  params_match(m.head_parameters());
}

}  // namespace

TEST_CASE("bert_classifier: parity with PyTorch BertForSequenceClassification (post-LN, sentence pairs)") {
  check_golden("tiny_cls.safetensors");
}

TEST_CASE("bert_classifier: parity with PyTorch, pre-LN with shared and factorised FFN layers") {
  check_golden("tiny_cls_preln.safetensors");
}

TEST_CASE("bert_classifier: bad labels and num_labels are growth::error") {
  const auto c = growth::test::tiny_config();
  CHECK_THROWS_AS(bert_classifier<double>(c, 1), growth::error);
  bert_classifier<double> m(c, 2);
  m.init(1);
  auto b = pair_batch(c, 2, 1);
  b.labels[1] = 2;
  CHECK_THROWS_AS(m.evaluate(b), growth::error);
  b.labels.pop_back();
  CHECK_THROWS_AS(m.evaluate(b), growth::error);
}
