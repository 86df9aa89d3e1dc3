// The reference causal LM (reference/causal_lm.hpp) without PyTorch: every gradient against finite
// differences in double (both families; GQA, tied and untied heads, biases on and off, dropout), causality,
// right padding, init, batch validation and one AdamW step against torch.optim.AdamW's update written out.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <growth/core/error.hpp>
#include <growth/model/decoder_layout.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/causal_lm.hpp>
#include <string>
#include <vector>

#include "causal_lm_common.hpp"

namespace {

using growth::model::decoder_config;
using growth::reference::causal_lm;

void check_gradients(const char* what, const decoder_config& c, std::uint64_t seed, std::uint64_t dropout_seed) {
  const std::string name(what);
  CAPTURE(name);
  const auto b = growth::test::random_clm_batch(c, 2, 6, 2, seed);
  const auto r = growth::test::clm_gradcheck(c, b, seed, dropout_seed);
  MESSAGE(name << ": " << r.checked << " entries, worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
  CHECK(r.checked == growth::model::parameter_count(c));
  CHECK(r.worst_tensor_rel <= 1e-6);
  CHECK(r.failed == 0);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, std::size_t from, std::size_t to) {
  float m = 0;
  for (std::size_t i = from; i < to; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("causal_lm: gradient check, llama with GQA, tied head, no biases") {
  check_gradients("llama tied", growth::test::tiny_llama(), 1, 0);
}

TEST_CASE("causal_lm: gradient check, llama with GQA, untied head, every bias") {
  check_gradients("llama untied biased", growth::test::tiny_llama_biased(), 2, 0);
}

TEST_CASE("causal_lm: gradient check, llama with attention dropout (fixed seed fixes the masks)") {
  auto c = growth::test::tiny_llama_biased();
  c.attention_dropout = 0.3;
  check_gradients("llama dropout", c, 3, 4242);
}

TEST_CASE("causal_lm: gradient check, gpt2") { check_gradients("gpt2", growth::test::tiny_gpt2(), 4, 0); }

TEST_CASE("causal_lm: gradient check, gpt2 with every dropout") {
  auto c = growth::test::tiny_gpt2();
  c.attention_dropout = 0.2;
  c.residual_dropout = 0.25;
  c.embedding_dropout = 0.15;
  check_gradients("gpt2 dropout", c, 5, 777);
}

// The logits at position s depend on tokens 0..s only: changing every later token (and later padding) leaves
// them bit for bit the same (masked scores give probabilities exactly 0).
TEST_CASE("causal_lm: causality, logits at s unchanged when later tokens change") {
  for (const auto& c : {growth::test::tiny_llama(), growth::test::tiny_llama_biased(), growth::test::tiny_gpt2()}) {
    CAPTURE(c.model_type);
    causal_lm<float> m(c);
    growth::test::randomize(m, 11, 0.3);
    const std::size_t B = 2, S = 8, V = c.vocab_size;
    const auto b = growth::test::random_clm_batch(c, B, S, 0, 12);
    std::vector<float> ref;
    m.evaluate(b, &ref);
    for (std::size_t s = 0; s + 1 < S; ++s) {
      auto b2 = b;
      for (std::size_t r = 0; r < B; ++r)
        for (std::size_t t = s + 1; t < S; ++t) b2.input_ids[r * S + t] = static_cast<std::int32_t>((b.input_ids[r * S + t] + 1 + t) % V);
      std::vector<float> got;
      m.evaluate(b2, &got);
      for (std::size_t r = 0; r < B; ++r) {
        CAPTURE(s);
        CHECK(max_abs_diff(got, ref, r * S * V, (r * S + s + 1) * V) == 0.0f);
        CHECK(max_abs_diff(got, ref, (r * S + s + 1) * V, (r * S + S) * V) > 0.0f);  // the later positions did change
      }
    }
  }
}

// Right padding: a sequence of length L padded to S (any pad ids, mask 0, labels -100) has the logits of
// the same sequence alone at its L positions, and the same loss.
TEST_CASE("causal_lm: right padding changes nothing at the real positions") {
  for (const auto& c : {growth::test::tiny_llama(), growth::test::tiny_llama_biased(), growth::test::tiny_gpt2()}) {
    CAPTURE(c.model_type);
    causal_lm<double> m(c);
    growth::test::randomize(m, 21, 0.3);
    const std::size_t L = 5, S = 8, V = c.vocab_size;
    const auto alone = growth::test::random_clm_batch(c, 1, L, 0, 22);
    growth::model::clm_batch padded(2, S);
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t s = 0; s < S; ++s) {
        const std::size_t n = r * S + s;
        padded.input_ids[n] = s < L ? alone.input_ids[s] : static_cast<std::int32_t>((3 * s + r) % V);
        padded.attention_mask[n] = s < L ? 1 : 0;
        padded.labels[n] = s < L ? alone.labels[s] : growth::model::ignore_label;
      }
    std::vector<float> la, lp;
    const auto ra = m.evaluate(alone, &la);
    const auto rp = m.evaluate(padded, &lp);
    CHECK(rp.targets == 2 * ra.targets);
    CHECK(rp.loss == doctest::Approx(ra.loss).epsilon(1e-12));
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t i = 0; i < L * V; ++i) CHECK(lp[r * S * V + i] == doctest::Approx(la[i]).epsilon(1e-6));
    // The padded positions' logits are not scored: the training loss and gradients match too.
    auto g_alone = [&](const growth::model::clm_batch& bt) {
      m.forward_backward(bt, 0);
      return std::vector<double>(m.flat_grads().begin(), m.flat_grads().end());
    };
    const auto ga = g_alone(alone);
    const auto gp = g_alone(padded);
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < ga.size(); ++i) {
      worst = std::max(worst, std::abs(ga[i] - gp[i]));
      scale = std::max(scale, std::abs(ga[i]));
    }
    CHECK(worst <= 1e-12 * scale);
  }
}

TEST_CASE("causal_lm: next-token loss scores labels[s + 1] at position s") {
  const auto c = growth::test::tiny_gpt2();
  causal_lm<double> m(c);
  growth::test::randomize(m, 31, 0.3);
  auto b = growth::test::random_clm_batch(c, 1, 5, 0, 32);
  b.labels = {7, 3, growth::model::ignore_label, 1, 4};  // the first label is never scored
  std::vector<float> lg;
  const auto r = m.evaluate(b, &lg);
  const std::size_t V = c.vocab_size;
  double want = 0;
  for (std::size_t s = 0; s + 1 < 5; ++s) {
    const auto y = b.labels[s + 1];
    if (y == growth::model::ignore_label) continue;
    double mx = -1e300, sum = 0;
    for (std::size_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(lg[s * V + v]));
    for (std::size_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(lg[s * V + v]) - mx);
    want += mx + std::log(sum) - lg[s * V + static_cast<std::size_t>(y)];
  }
  CHECK(r.targets == 3);
  CHECK(b.num_targets() == 3);
  CHECK(r.loss == doctest::Approx(want / 3).epsilon(1e-6));
  // Eval without logits computes the scored rows only: the same loss.
  CHECK(m.evaluate(b).loss == doctest::Approx(r.loss).epsilon(1e-12));
}

TEST_CASE("causal_lm: init follows HF _init_weights per family") {
  SUBCASE("gpt2: c_proj weights scaled by 1/sqrt(2 n_layer), LayerNorm 1 / 0, biases 0") {
    auto c = growth::test::tiny_gpt2();
    c.hidden_size = 64;
    c.intermediate_size = 256;
    c.num_hidden_layers = 8;
    c.initializer_range = 0.05;
    causal_lm<float> m(c);
    m.init(7);
    auto rms = [](const auto& p) {
      double s = 0;
      for (std::size_t i = 0; i < p.numel(); ++i) s += static_cast<double>(p.data[i]) * p.data[i];
      return std::sqrt(s / static_cast<double>(p.numel()));
    };
    auto P = m.parameters();
    CHECK(rms(P.at("transformer.h.3.mlp.c_fc.weight")) == doctest::Approx(0.05).epsilon(0.03));
    CHECK(rms(P.at("transformer.h.3.mlp.c_proj.weight")) == doctest::Approx(0.05 / 4).epsilon(0.03));
    CHECK(rms(P.at("transformer.h.3.attn.c_proj.weight")) == doctest::Approx(0.05 / 4).epsilon(0.05));
    CHECK(rms(P.at("transformer.wpe.weight")) == doctest::Approx(0.05).epsilon(0.05));
    CHECK(rms(P.at("transformer.h.0.attn.c_attn.bias")) == 0.0);
    CHECK(rms(P.at("transformer.ln_f.bias")) == 0.0);
    for (std::size_t i = 0; i < c.hidden_size; ++i) CHECK(P.at("transformer.h.1.ln_2.weight").data[i] == 1.0f);
    // Counter-based streams: the same seed gives the same values, another seed others.
    causal_lm<float> m2(c);
    m2.init(7);
    CHECK(std::equal(m.flat_params().begin(), m.flat_params().end(), m2.flat_params().begin()));
    m2.init(8);
    CHECK(!std::equal(m.flat_params().begin(), m.flat_params().end(), m2.flat_params().begin()));
  }
  SUBCASE("llama: pad row of embed_tokens zero, RMSNorm gains 1, biases 0") {
    auto c = growth::test::tiny_llama_biased();
    c.pad_token_id = 3;
    causal_lm<float> m(c);
    m.init(9);
    auto P = m.parameters();
    const auto& e = P.at("model.embed_tokens.weight");
    for (std::size_t j = 0; j < c.hidden_size; ++j) {
      CHECK(e.data[3 * c.hidden_size + j] == 0.0f);
      CHECK(P.at("model.norm.weight").data[j] == 1.0f);
      CHECK(P.at("model.layers.1.self_attn.o_proj.bias").data[j] == 0.0f);
    }
    CHECK(e.data[4 * c.hidden_size] != 0.0f);
    CHECK(P.at("lm_head.weight").data[0] != 0.0f);
  }
}

// nn.Embedding(padding_idx = pad_token_id): the lookup gives the pad row no gradient; a tied head still does.
TEST_CASE("causal_lm: llama pad row gets no gradient from the lookup") {
  auto c = growth::test::tiny_llama_biased();  // untied: the head does not touch embed_tokens
  c.pad_token_id = 0;
  causal_lm<double> m(c);
  growth::test::randomize(m, 41, 0.3);
  auto b = growth::test::random_clm_batch(c, 2, 6, 0, 42);
  b.input_ids[1] = 0;
  b.input_ids[4] = 1;
  m.forward_backward(b, 0);
  auto G = m.gradients();
  const auto& ge = G.at("model.embed_tokens.weight");
  double pad = 0, other = 0;
  for (std::size_t j = 0; j < c.hidden_size; ++j) {
    pad += std::abs(ge.data[j]);
    other += std::abs(ge.data[c.hidden_size + j]);
  }
  CHECK(pad == 0.0);
  CHECK(other > 0.0);
}

TEST_CASE("causal_lm: bad batches are refused with the field named") {
  const auto c = growth::test::tiny_gpt2();
  causal_lm<float> m(c);
  auto b = growth::test::random_clm_batch(c, 1, 4, 0, 1);
  auto bad = b;
  bad.input_ids[2] = 13;
  CHECK_THROWS_WITH_AS(m.evaluate(bad), doctest::Contains("input_ids[2]"), growth::error);
  bad = b;
  bad.attention_mask = {1, 0, 1, 1};
  CHECK_THROWS_WITH_AS(m.evaluate(bad), doctest::Contains("right padding"), growth::error);
  bad = b;
  bad.labels.pop_back();
  CHECK_THROWS_WITH_AS(m.evaluate(bad), doctest::Contains("labels"), growth::error);
  auto longer = growth::test::random_clm_batch(c, 1, 11, 0, 1);  // n_positions 10
  CHECK_THROWS_WITH_AS(m.evaluate(longer), doctest::Contains("seq_len"), growth::error);
}

// One AdamW step over the decoder's flat buffers against torch.optim.AdamW's update written out per scalar
// (weight decay only where the table says decay: not on norm gains, LayerNorm biases or biases), with
// clipping active.
TEST_CASE("causal_lm: AdamW step uses the decoder table's decay flags") {
  for (const auto& c : {growth::test::tiny_llama_biased(), growth::test::tiny_gpt2()}) {
    CAPTURE(c.model_type);
    causal_lm<double> m(c);
    growth::test::randomize(m, 51, 0.3);
    const auto b = growth::test::random_clm_batch(c, 2, 6, 1, 52);
    growth::reference::adamw_options o;
    o.weight_decay = 0.1;
    o.max_grad_norm = 0.5;
    growth::reference::adamw<double> opt(c, o);
    growth::reference::adamw<double> again(m.layout(), o);  // from the model's layout: the same optimizer
    std::vector<double> p(m.flat_params().begin(), m.flat_params().end()), mom(p.size(), 0), vel(p.size(), 0);
    std::vector<double> p2 = p;
    const double lr = 1e-2;
    for (std::size_t t = 1; t <= 2; ++t) {
      m.forward_backward(b, 0);
      std::vector<double> g(m.flat_grads().begin(), m.flat_grads().end());
      std::vector<double> g2 = g;
      double sq = 0;
      for (double x : g) sq += x * x;
      const double norm = std::sqrt(sq);
      const double clip = std::min(1.0, o.max_grad_norm / (norm + 1e-6));
      CHECK(clip < 1.0);
      const auto& L = m.layout();
      for (std::size_t i = 0; i < L.specs.size(); ++i) {
        const bool decay = L.specs[i].decay;
        CHECK(decay == (L.specs[i].kind == growth::model::param_kind::weight || L.specs[i].kind == growth::model::param_kind::embedding));
        for (std::size_t j = L.offsets[i]; j < L.offsets[i] + L.specs[i].numel(); ++j) {
          const double gj = g[j] * clip;
          if (decay) p[j] *= 1 - lr * o.weight_decay;
          mom[j] = o.beta1 * mom[j] + (1 - o.beta1) * gj;
          vel[j] = o.beta2 * vel[j] + (1 - o.beta2) * gj * gj;
          const double mh = mom[j] / (1 - std::pow(o.beta1, static_cast<double>(t)));
          p[j] -= lr * mh / (std::sqrt(vel[j]) / std::sqrt(1 - std::pow(o.beta2, static_cast<double>(t))) + o.eps);
        }
      }
      CHECK(opt.step(m.flat_params(), m.flat_grads(), lr) == doctest::Approx(norm).epsilon(1e-12));
      CHECK(again.step(std::span<double>(p2), std::span<double>(g2), lr) == doctest::Approx(norm).epsilon(1e-12));
      double worst = 0;
      for (std::size_t j = 0; j < p.size(); ++j) {
        worst = std::max(worst, std::abs(m.flat_params()[j] - p[j]));
        worst = std::max(worst, std::abs(p2[j] - p[j]));
      }
      CHECK(worst <= 1e-14);
    }
    CHECK(opt.first_moment().at(m.layout().specs[0].name).numel() == m.layout().specs[0].numel());
  }
}
