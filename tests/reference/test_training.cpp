// Training sanity (a tiny model overfits one batch), determinism, input validation, the AdamW pieces
// (schedule, decay mask) and the FLOP model, each against plain loops or hand counts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>
#include <growth/reference/flops.hpp>
#include <string>
#include <vector>

#include "common.hpp"

using growth::reference::adamw;
using growth::reference::bert;

TEST_CASE("reference bert: a tiny model overfits one batch") {
  auto c = growth::test::tiny_config();
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  const auto b = growth::test::random_batch(c, 4, 12, 3, 5);
  bert<float> m(c);
  m.init(42);
  growth::reference::adamw_options o;
  o.weight_decay = 0.01;
  adamw<float> opt(c, o);
  const growth::reference::lr_schedule sched{5e-3, 5, 60};
  const double first = m.evaluate(b).loss;
  for (std::size_t step = 1; step <= 50; ++step) {
    m.forward_backward(b, step);
    opt.step(m.flat_params(), m.flat_grads(), sched.at(step));
  }
  const auto last = m.evaluate(b);
  MESSAGE("loss " << first << " -> " << last.loss << ", accuracy " << last.accuracy << " over " << last.targets);
  CHECK(first > 2.5);  // ~ log(23) at init
  CHECK(last.loss < 0.25 * first);
  CHECK(last.accuracy > 0.8);
}

TEST_CASE("reference bert: training is deterministic for a seed") {
  auto c = growth::test::tiny_lowcost_config();
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  const auto b = growth::test::random_batch(c, 3, 9, 2, 6);
  auto run = [&](std::uint64_t seed) {
    bert<float> m(c);
    m.init(7);
    adamw<float> opt(c, {});
    for (std::size_t s = 1; s <= 3; ++s) {
      m.forward_backward(b, seed + s);
      opt.step(m.flat_params(), m.flat_grads(), 1e-3);
    }
    return std::vector<float>(m.flat_params().begin(), m.flat_params().end());
  };
  const auto a = run(1), a2 = run(1), d = run(2);
  CHECK(std::memcmp(a.data(), a2.data(), a.size() * sizeof(float)) == 0);
  CHECK(a != d);  // a different dropout seed gives a different trajectory
}

TEST_CASE("reference bert: dropout is off in evaluation and seeded in training") {
  auto c = growth::test::tiny_config();
  c.hidden_dropout_prob = 0.3;
  c.attention_probs_dropout_prob = 0.3;
  const auto b = growth::test::random_batch(c, 2, 7, 0, 8);
  bert<double> m(c);
  m.init(3);
  const double e1 = m.evaluate(b).loss, e2 = m.evaluate(b).loss;
  CHECK(e1 == e2);
  const double t1 = m.forward_train(b, 5).loss, t2 = m.forward_train(b, 5).loss, t3 = m.forward_train(b, 6).loss;
  CHECK(t1 == t2);
  CHECK(t1 != t3);
  CHECK(t1 != e1);
}

TEST_CASE("reference bert: init follows BERT (N(0, range), zero biases, LN 1/0, zero pad row)") {
  const auto c = growth::test::tiny_config();
  bert<double> m(c);
  m.init(11);
  const auto ps = m.parameters();
  const auto& w = ps.at("bert.encoder.layer.0.intermediate.dense.weight");
  double s2 = 0;
  for (std::size_t i = 0; i < w.numel(); ++i) s2 += w.data[i] * w.data[i];
  const double sd = std::sqrt(s2 / static_cast<double>(w.numel()));
  CHECK(sd > 0.5 * c.initializer_range);
  CHECK(sd < 1.5 * c.initializer_range);
  CHECK(ps.at("bert.embeddings.LayerNorm.weight").data[3] == 1.0);
  CHECK(ps.at("bert.embeddings.LayerNorm.bias").data[3] == 0.0);
  CHECK(ps.at("cls.predictions.bias").data[5] == 0.0);
  const auto& we = ps.at("bert.embeddings.word_embeddings.weight");
  for (std::size_t j = 0; j < c.hidden_size; ++j) CHECK(we.data[c.pad_token_id * c.hidden_size + j] == 0.0);
  CHECK(m.flat_params().size() == growth::model::parameter_count(c));
  // Views are the flat buffer, in layout order.
  CHECK(ps.begin()->data == m.flat_params().data());
}

TEST_CASE("reference bert: bad input names the field") {
  const auto c = growth::test::tiny_config();
  bert<float> m(c);
  auto b = growth::test::random_batch(c, 2, 5, 0, 1);
  auto expect_error = [&](const growth::model::mlm_batch& bad, const std::string& needle) {
    try {
      m.evaluate(bad);
      FAIL("no error for " << needle);
    } catch (const growth::error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  auto bad = b;
  bad.input_ids[3] = 23;
  expect_error(bad, "input_ids[3]");
  bad = b;
  bad.labels[1] = -5;
  expect_error(bad, "labels[1]");
  bad = b;
  bad.attention_mask.pop_back();
  expect_error(bad, "attention_mask");
  bad = growth::test::random_batch(c, 1, 17, 0, 1);
  expect_error(bad, "seq_len");
  auto pooled = c;
  pooled.pool_size = 2;
  CHECK_NOTHROW(bert<float>{pooled});  // pooling is implemented (tests/reference/test_pooling.cpp)
  pooled.pool_size = 0;
  CHECK_THROWS_AS(bert<float>{pooled}, growth::error);
  adamw<float> opt(c, {});
  std::vector<float> small(3);
  CHECK_THROWS_AS(opt.step(small, small, 1e-3), growth::error);
}

TEST_CASE("reference adamw: matches a plain loop of torch.optim.AdamW, decay only where param_spec says") {
  const auto c = growth::test::tiny_lowcost_config();
  bert<double> m(c);
  growth::rng r(3, 1);
  for (auto& x : m.flat_params()) x = r.normal();
  growth::reference::adamw_options o;
  o.weight_decay = 0.1;
  o.max_grad_norm = 0;  // off here; clipping is covered by the parity test
  adamw<double> opt(c, o);
  const auto& L = m.layout();
  std::vector<double> p(m.flat_params().begin(), m.flat_params().end()), mm(p.size(), 0), vv(p.size(), 0);
  for (std::size_t t = 1; t <= 3; ++t) {
    for (auto& g : m.flat_grads()) g = r.normal();
    const std::vector<double> g(m.flat_grads().begin(), m.flat_grads().end());
    const double lr = 0.01 * static_cast<double>(t);
    opt.step(m.flat_params(), m.flat_grads(), lr);
    for (std::size_t i = 0; i < L.specs.size(); ++i) {
      for (std::size_t j = 0; j < L.specs[i].numel(); ++j) {
        const std::size_t k = L.offsets[i] + j;
        if (L.specs[i].decay) p[k] *= 1 - lr * o.weight_decay;
        mm[k] = o.beta1 * mm[k] + (1 - o.beta1) * g[k];
        vv[k] = o.beta2 * vv[k] + (1 - o.beta2) * g[k] * g[k];
        const double mh = mm[k] / (1 - std::pow(o.beta1, static_cast<double>(t)));
        const double vh = vv[k] / (1 - std::pow(o.beta2, static_cast<double>(t)));
        p[k] -= lr * mh / (std::sqrt(vh) + o.eps);
      }
    }
  }
  double worst = 0;
  for (std::size_t k = 0; k < p.size(); ++k) worst = std::max(worst, std::abs(p[k] - m.flat_params()[k]));
  CHECK(worst < 1e-12);
  CHECK(opt.first_moment().at("bert.encoder.layer.0.intermediate.dense.weight_u").numel() == 16 * 3);
  CHECK(opt.second_moment().size() == L.specs.size());
}

TEST_CASE("reference adamw: linear warmup then linear decay") {
  const growth::reference::lr_schedule s{1.0, 10, 110};
  CHECK(s.at(1) == doctest::Approx(0.1));
  CHECK(s.at(10) == doctest::Approx(1.0));
  CHECK(s.at(60) == doctest::Approx(0.5));
  CHECK(s.at(110) == 0.0);
  CHECK(s.at(500) == 0.0);
  const growth::reference::lr_schedule constant{0.5, 0, 0};
  CHECK(constant.at(7) == 0.5);
}

TEST_CASE("reference flops: hand count") {
  growth::model::bert_config c;  // BERT-base
  const double H = 768, I = 3072, V = 30522, S = 128;
  const double layer = 8 * H * H + 4 * H * I + 4 * S * H;
  const double fwd = 12 * layer + 0.15 * (2 * H * H + 2 * H * V);
  CHECK(growth::reference::forward_flops_per_token(c, 128, 0.15) == doctest::Approx(fwd));
  CHECK(growth::reference::training_flops_per_token(c, 128, 0.15) == doctest::Approx(3 * fwd));
  c.ffn_factorized_layers = {0};
  c.ffn_rank = 64;
  c.ffn_shared_layers = {1};
  c.ffn_share_factor = 4;
  const double l0 = 8 * H * H + 4 * 64 * (H + I) + 4 * S * H, l1 = 8 * H * H + 4 * H * (I / 4) + 4 * S * H;
  CHECK(growth::reference::forward_flops_per_token(c, 128, 0.15) == doctest::Approx(fwd - 2 * layer + l0 + l1));
}
