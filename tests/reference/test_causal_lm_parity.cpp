// Parity of reference::causal_lm and reference::adamw with PyTorch, against golden files written once by
// tests/reference/golden/make_decoder_golden.py (Hugging Face LlamaForCausalLM with GQA, q/k/v biases, an
// untied head and a pad token; GPT2LMHeadModel; both written out in float64 torch).
// Compared: logits of every position, the loss, every gradient, the parameters after one AdamW step (fed
// the golden gradients, so the optimizer is tested on its own; clipping is active). Criterion per tensor as
// for BERT (test_parity.cpp): max |ours - torch| <= tol * max |torch| (tol 1e-10 in double, 1e-4 in float);
// gradients with max |torch| floored at 1e-3 x the largest gradient entry (GPT-2's key bias has an
// identically zero gradient: rounding noise on both sides).
// The golden files are safetensors, read here by a 30-line reader independent of the library's I/O.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <growth/reference/adamw.hpp>
#include <growth/reference/causal_lm.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

struct decoder_golden {
  nlohmann::json header;
  std::vector<char> data;

  explicit decoder_golden(const std::string& path) {
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

  growth::model::decoder_config config() const {
    const auto j = nlohmann::json::parse(header["__metadata__"]["config"].get<std::string>());
    growth::model::decoder_config c;
    c.model_type = j["model_type"];
    const bool gpt2 = c.model_type == "gpt2";
    c.family = gpt2 ? growth::model::decoder_family::gpt2 : growth::model::decoder_family::llama;
    c.vocab_size = j["vocab_size"];
    c.hidden_size = j["hidden_size"];
    c.intermediate_size = j["intermediate_size"];
    c.num_hidden_layers = j["num_hidden_layers"];
    c.num_attention_heads = j["num_attention_heads"];
    c.num_key_value_heads = j["num_key_value_heads"];
    c.max_position_embeddings = j["max_position_embeddings"];
    c.tie_word_embeddings = j["tie_word_embeddings"];
    if (gpt2) {
      c.norm_eps = j["layer_norm_epsilon"];
      c.hidden_act = "gelu_new";
    } else {
      c.norm_eps = j["rms_norm_eps"];
      c.rope_theta = j["rope_theta"];
      c.qkv_bias = j["qkv_bias"];
      c.o_bias = j["o_bias"];
      c.mlp_bias = j["mlp_bias"];
      if (j.contains("pad_token_id")) c.pad_token_id = j["pad_token_id"].get<std::size_t>();
    }
    return c;
  }
  growth::model::clm_batch batch() const {
    const auto shape = header["input_ids"]["shape"];
    growth::model::clm_batch b(shape[0].get<std::size_t>(), shape[1].get<std::size_t>());
    b.input_ids = i32("input_ids");
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
void check_decoder_parity(const std::string& file, double tol) {
  const decoder_golden g(std::string(GROWTH_SOURCE_DIR) + "/tests/reference/golden/" + file);
  const auto c = g.config();
  const auto b = g.batch();
  growth::reference::causal_lm<T> m(c);
  std::size_t tensors = 0;
  for (const auto& p : m.parameters()) {
    const auto v = g.f64("param." + p.name);
    REQUIRE(v.size() == p.numel());
    for (std::size_t i = 0; i < v.size(); ++i) p.data[i] = static_cast<T>(v[i]);
    ++tensors;
  }
  // Every parameter of the golden file is one of the model's (the table lists exactly HF's parameters).
  std::size_t golden_params = 0;
  for (const auto& [k, v] : g.header.items()) golden_params += k.rfind("param.", 0) == 0;
  CHECK(golden_params == tensors);

  // Logits of every position and the loss (evaluation).
  std::vector<float> logits;
  const auto ev = m.evaluate(b, &logits);
  const double e_logits = rel_max_diff(logits, g.f64("logits"));
  const double loss_ref = g.f64("loss")[0];
  MESSAGE(file << " " << sizeof(T) * 8 << "-bit: logits rel err " << e_logits << ", loss " << ev.loss << " vs " << loss_ref);
  CHECK(logits.size() == b.tokens() * c.vocab_size);
  CHECK(e_logits <= std::max(tol, 1e-7));  // logits come back as float
  CHECK(std::abs(ev.loss - loss_ref) <= tol * std::abs(loss_ref));
  CHECK(ev.targets == b.num_targets());

  // Loss and every gradient (training step with dropout off).
  const auto tr = m.forward_backward(b, 99);
  CHECK(std::abs(tr.loss - loss_ref) <= tol * std::abs(loss_ref));
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
    const double e = rel_max_diff(std::vector<T>(p.data, p.data + p.numel()), g.f64("adamw." + p.name));
    worst_step = std::max(worst_step, e);
    CHECK_MESSAGE(e <= tol, p.name << " after AdamW rel err " << e);
  }
  MESSAGE("  worst parameter rel err after one AdamW step " << worst_step);
}

}  // namespace

TEST_CASE("causal_lm: parity with PyTorch, llama (GQA, q/k/v bias, untied head, pad token), double") {
  check_decoder_parity<double>("tiny_llama.safetensors", 1e-10);
}
TEST_CASE("causal_lm: parity with PyTorch, llama (GQA, q/k/v bias, untied head, pad token), float") {
  check_decoder_parity<float>("tiny_llama.safetensors", 1e-4);
}
TEST_CASE("causal_lm: parity with PyTorch, gpt2, double") { check_decoder_parity<double>("tiny_gpt2.safetensors", 1e-10); }
TEST_CASE("causal_lm: parity with PyTorch, gpt2, float") { check_decoder_parity<float>("tiny_gpt2.safetensors", 1e-4); }
