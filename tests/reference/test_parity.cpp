// Parity of reference::bert and reference::adamw with PyTorch, against golden files written once by
// tests/reference/golden/make_golden.py (pure torch BertForMaskedLM with HF names, float64; tiny_preln: the
// pre-LN arrangement of HF RobertaPreLayerNorm).
// Compared: logits of every position, loss, every gradient, parameters after one AdamW step (fed the
// golden gradients, so the optimizer is tested on its own; clipping is active). Criterion per tensor:
//   max |ours - torch| <= tol * max |torch|   (tol 1e-10 in double, 1e-4 in float).
// The attention key bias has an identically zero gradient (softmax ignores a per-row constant), so both
// sides hold rounding noise there; gradients are therefore compared with max |torch| floored at 1e-3 x
// the largest gradient entry of the model.
// The golden files are safetensors; this test reads them with its own 30-line reader so that it does
// not depend on the library's I/O code.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

struct golden_file {
  nlohmann::json header;
  std::vector<char> data;

  explicit golden_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 8);  // little-endian host
    std::string h(n, '\0');
    f.read(h.data(), static_cast<std::streamsize>(n));
    header = nlohmann::json::parse(h);
    data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  template <class U>
  std::vector<U> get(const std::string& name, const char* dtype) const {
    REQUIRE_MESSAGE(header.contains(name), "golden tensor " << name << " missing");
    const auto& e = header[name];
    REQUIRE(e["dtype"].get<std::string>() == dtype);
    const auto b = e["data_offsets"][0].get<std::size_t>(), end = e["data_offsets"][1].get<std::size_t>();
    std::vector<U> v((end - b) / sizeof(U));
    std::memcpy(v.data(), data.data() + b, end - b);
    return v;
  }
  std::vector<double> f64(const std::string& name) const { return get<double>(name, "F64"); }
  std::vector<std::int32_t> i32(const std::string& name) const { return get<std::int32_t>(name, "I32"); }
  double meta(const std::string& k) const { return std::stod(header["__metadata__"][k].get<std::string>()); }

  growth::model::bert_config config() const {
    const auto j = nlohmann::json::parse(header["__metadata__"]["config"].get<std::string>());
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
  growth::model::mlm_batch batch() const {
    const auto ids = i32("input_ids");
    const auto shape = header["input_ids"]["shape"];
    growth::model::mlm_batch b(shape[0].get<std::size_t>(), shape[1].get<std::size_t>());
    b.input_ids = ids;
    b.token_type_ids = i32("token_type_ids");
    b.attention_mask = i32("attention_mask");
    b.labels = i32("labels");
    return b;
  }
};

template <class A, class B>
double rel_max_diff(const A& ours, const B& ref, double floor = 0) {
  double num = 0, den = floor;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(ours[i]) - static_cast<double>(ref[i])));
    den = std::max(den, std::abs(static_cast<double>(ref[i])));
  }
  return den > 0 ? num / den : num;
}

template <class T>
void check_parity(const std::string& file, double tol) {
  const golden_file g(std::string(GROWTH_SOURCE_DIR) + "/tests/reference/golden/" + file);
  const auto c = g.config();
  const auto b = g.batch();
  growth::reference::bert<T> m(c);
  for (const auto& p : m.parameters()) {
    const auto v = g.f64("param." + p.name);
    REQUIRE(v.size() == p.numel());
    for (std::size_t i = 0; i < v.size(); ++i) p.data[i] = static_cast<T>(v[i]);
  }

  // Logits of every position and the loss (evaluation).
  std::vector<float> logits;
  const auto ev = m.evaluate(b, &logits);
  const double e_logits = rel_max_diff(logits, g.f64("logits"));
  const double loss_ref = g.f64("loss")[0];
  MESSAGE(file << " " << sizeof(T) * 8 << "-bit: logits rel err " << e_logits << ", loss " << ev.loss << " vs "
               << loss_ref);
  CHECK(e_logits <= std::max(tol, 1e-7));  // logits come back as float
  CHECK(std::abs(ev.loss - loss_ref) <= tol * std::abs(loss_ref));

  // Loss and every gradient (training step with dropout off).
  const auto tr = m.forward_backward(b, 99);
  CHECK(std::abs(tr.loss - loss_ref) <= tol * std::abs(loss_ref));
  CHECK(tr.targets == static_cast<std::size_t>(std::count_if(b.labels.begin(), b.labels.end(), [](auto y) { return y != -100; })));
  double worst = 0, grad_scale = 0;
  std::string worst_name;
  for (const auto& p : m.gradients())
    for (double x : g.f64("grad." + p.name)) grad_scale = std::max(grad_scale, std::abs(x));
  for (const auto& p : m.gradients()) {
    const auto ref = g.f64("grad." + p.name);
    const double e = rel_max_diff(std::vector<T>(p.data, p.data + p.numel()), ref, 1e-3 * grad_scale);
    if (e > worst) {
      worst = e;
      worst_name = p.name;
    }
    CHECK_MESSAGE(e <= tol, p.name << " gradient rel err " << e);
  }
  MESSAGE("  worst gradient rel err " << worst << " (" << worst_name << ")");

  // One AdamW step from the golden parameters and gradients.
  growth::reference::adamw_options o;
  o.beta1 = g.meta("beta1");
  o.beta2 = g.meta("beta2");
  o.eps = g.meta("eps");
  o.weight_decay = g.meta("weight_decay");
  o.max_grad_norm = g.meta("max_grad_norm");
  growth::reference::adamw<T> opt(c, o);
  for (const auto& p : m.gradients()) {
    const auto v = g.f64("grad." + p.name);
    for (std::size_t i = 0; i < v.size(); ++i) p.data[i] = static_cast<T>(v[i]);
  }
  const double norm = opt.step(m.flat_params(), m.flat_grads(), g.meta("lr"));
  CHECK(norm > o.max_grad_norm);  // clipping was exercised
  double worst_step = 0;
  for (const auto& p : m.parameters()) {
    const auto ref = g.f64("adamw." + p.name);
    const double e = rel_max_diff(std::vector<T>(p.data, p.data + p.numel()), ref);
    worst_step = std::max(worst_step, e);
    CHECK_MESSAGE(e <= tol, p.name << " after AdamW rel err " << e);
  }
  MESSAGE("  worst parameter rel err after one AdamW step " << worst_step);
  CHECK(opt.step_count() == 1);
}

}  // namespace

TEST_CASE("reference bert: parity with PyTorch, standard config, double") { check_parity<double>("tiny.safetensors", 1e-10); }
TEST_CASE("reference bert: parity with PyTorch, standard config, float") { check_parity<float>("tiny.safetensors", 1e-4); }
TEST_CASE("reference bert: parity with PyTorch, shared + factorised layers, double") {
  check_parity<double>("tiny_lowcost.safetensors", 1e-10);
}
TEST_CASE("reference bert: parity with PyTorch, shared + factorised layers, float") {
  check_parity<float>("tiny_lowcost.safetensors", 1e-4);
}
TEST_CASE("reference bert: parity with PyTorch, pre-LN (shared + factorised layers), double") {
  check_parity<double>("tiny_preln.safetensors", 1e-10);
}
TEST_CASE("reference bert: parity with PyTorch, pre-LN (shared + factorised layers), float") {
  check_parity<float>("tiny_preln.safetensors", 1e-4);
}
