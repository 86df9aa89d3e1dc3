// Mean embedding pooling (pool_size > 1) in reference::bert: the row layout against plain loops, a
// gradient check of every parameter in double (same criteria as test_gradcheck.cpp), the degenerate case
// where pooling changes nothing, determinism, evaluation logits, the pool size as a call argument (equal to
// a model configured with it), and the FLOP model against the schedule's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <growth/reference/bert.hpp>
#include <growth/reference/flops.hpp>
#include <growth/reference/pooling.hpp>
#include <growth/schedule/cost.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using growth::reference::bert;
using growth::test::gradcheck;
using growth::test::randomize;
using growth::model::ignore_label;

// Batch with per-sequence padding (sequence b has pad[b] trailing pad tokens) and random targets.
growth::model::mlm_batch pooled_batch(const growth::model::bert_config& c, std::size_t s, std::vector<std::size_t> pad,
                                     std::uint64_t seed) {
  const std::size_t b = pad.size();
  auto bt = growth::test::random_batch(c, b, s, 0, seed);
  for (std::size_t i = 0; i < b; ++i)
    for (std::size_t j = 0; j < pad[i]; ++j) {
      const std::size_t n = i * s + s - 1 - j;
      bt.attention_mask[n] = 0;
      bt.input_ids[n] = 0;
      bt.labels[n] = ignore_label;
    }
  for (std::size_t i = 0; i < b; ++i) bt.labels[i * s] = ignore_label;  // [CLS] is never a target
  return bt;
}

}  // namespace

TEST_CASE("pooling layout: query and key rows against plain loops") {
  auto c = growth::test::tiny_config();
  for (std::size_t k : {1u, 2u, 3u, 4u}) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      const std::size_t S = 11, H = 3;
      const auto bt = pooled_batch(c, S, {0, 3, 1}, seed * 10 + k);
      const auto pl = growth::reference::make_pooled_layout(bt, k);
      const std::size_t B = bt.batch_size, Q = pl.query_len, K = pl.key_len;
      // A random "embedding" per token and the rows the layout produces.
      std::vector<double> x(B * S * H), y((B * Q + B * K) * H, -1.0);
      growth::rng r(seed, 5);
      for (auto& v : x) v = r.normal();
      growth::apply(growth::tensor_map<2>::along({B * S, H}, 0, pl.gather),
                    growth::tensor_view<const double, 2>(x.data(), {B * S, H}),
                    growth::tensor_view<double, 2>(y.data(), {B * Q + B * K, H}));
      std::size_t target_index = 0;
      for (std::size_t b = 0; b < B; ++b) {
        std::vector<std::size_t> u, t;
        for (std::size_t s = 0; s < S; ++s) {
          if (bt.labels[b * S + s] != ignore_label)
            t.push_back(s);
          else if (bt.attention_mask[b * S + s])
            u.push_back(s);
        }
        REQUIRE(!u.empty());
        const std::size_t P = 1 + (u.size() - 1 + k - 1) / k;
        CHECK(pl.pooled[b] == P);
        CHECK(pl.targets[b] == t.size());
        CHECK(Q >= P + t.size());
        CHECK(K >= u.size() + t.size());
        for (std::size_t slot = 0; slot < Q; ++slot) {
          std::vector<double> want(H, 0.0);
          bool valid = true;
          if (slot == 0) {
            for (std::size_t j = 0; j < H; ++j) want[j] = x[(b * S + u[0]) * H + j];
          } else if (slot < P) {
            const std::size_t lo = 1 + (slot - 1) * k, hi = std::min(u.size(), 1 + slot * k);
            for (std::size_t i = lo; i < hi; ++i)
              for (std::size_t j = 0; j < H; ++j) want[j] += x[(b * S + u[i]) * H + j] / static_cast<double>(hi - lo);
          } else if (slot < P + t.size()) {
            for (std::size_t j = 0; j < H; ++j) want[j] = x[(b * S + t[slot - P]) * H + j];
            CHECK(pl.target_row[target_index] == b * Q + slot);
            CHECK(pl.target_token[target_index] == b * S + t[slot - P]);
            ++target_index;
          } else {
            valid = false;
          }
          CHECK(pl.query_valid[b * Q + slot] == (valid ? 1 : 0));
          for (std::size_t j = 0; j < H; ++j) CHECK(y[(b * Q + slot) * H + j] == doctest::Approx(want[j]).epsilon(1e-14));
        }
        for (std::size_t slot = 0; slot < K; ++slot) {
          const bool valid = slot < u.size() + t.size();
          CHECK(pl.key_valid[b * K + slot] == (valid ? 1 : 0));
          for (std::size_t j = 0; j < H; ++j) {
            const double want = !valid ? 0.0 : x[(b * S + (slot < u.size() ? u[slot] : t[slot - u.size()])) * H + j];
            CHECK(y[(B * Q + b * K + slot) * H + j] == want);
          }
        }
      }
      CHECK(target_index == pl.target_row.size());
      // scatter is the transpose: <gather x, y'> == <x, scatter y'>.
      std::vector<double> z(x.size());
      growth::apply(growth::tensor_map<2>::along({B * Q + B * K, H}, 0, pl.scatter),
                    growth::tensor_view<const double, 2>(y.data(), {B * Q + B * K, H}),
                    growth::tensor_view<double, 2>(z.data(), {B * S, H}));
      double lhs = 0, rhs = 0;
      for (std::size_t i = 0; i < y.size(); ++i) lhs += y[i] * y[i];
      for (std::size_t i = 0; i < x.size(); ++i) rhs += x[i] * z[i];
      CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
    }
  }
}

TEST_CASE("pooled bert: gradient check of every parameter, k = 2 and k = 3, padding, several targets") {
  for (std::size_t k : {2u, 3u}) {
    auto c = growth::test::tiny_config();
    c.pool_size = k;
    const auto b = pooled_batch(c, 9, {0, 2}, 20 + k);
    std::size_t targets = 0;
    for (auto y : b.labels) targets += y != ignore_label ? 1 : 0;
    REQUIRE(targets >= 3);
    const auto pl = growth::reference::make_pooled_layout(b, k);
    REQUIRE(pl.pooled[0] < pl.unmasked[0]);  // windows really average several tokens
    REQUIRE(pl.query_len > pl.pooled[1] + pl.targets[1]);  // and sequence 1 has padded query slots
    const auto r = gradcheck(c, b, 30 + k, 0);
    MESSAGE("k " << k << ": " << r.checked << " entries, worst tensor relative error " << r.worst_tensor_rel << " at "
                 << r.worst_tensor);
    CHECK(r.worst_tensor_rel <= 1e-6);
    CHECK(r.checked == growth::model::parameter_count(c));
    CHECK(r.failed == 0);
  }
}

TEST_CASE("pooled bert: gradient check with dropout on and low-cost FFN layers") {
  auto c = growth::test::tiny_lowcost_config();
  c.pool_size = 2;
  c.hidden_dropout_prob = 0.2;
  c.attention_probs_dropout_prob = 0.25;
  const auto b = pooled_batch(c, 8, {1, 0}, 41);
  const auto r = gradcheck(c, b, 42, 777);
  MESSAGE(r.checked << " entries, worst tensor relative error " << r.worst_tensor_rel << " at " << r.worst_tensor);
  CHECK(r.worst_tensor_rel <= 1e-6);
  CHECK(r.failed == 0);
}

TEST_CASE("pooled bert: stream of only [CLS] equals the standard model - otherwise differs but is finite") {
  auto c = growth::test::tiny_config();
  c.pool_size = 2;
  auto cs = c;
  cs.pool_size = 1;
  bert<double> pooled(c), standard(cs);
  randomize(pooled, 5);
  std::copy(pooled.flat_params().begin(), pooled.flat_params().end(), standard.flat_params().begin());
  // Every valid token but [CLS] is a target: queries = keys = [CLS ; targets] = the standard rows.
  auto b = pooled_batch(c, 6, {0, 2}, 8);
  for (std::size_t n = 0; n < b.tokens(); ++n)
    if (n % b.seq_len != 0 && b.attention_mask[n]) b.labels[n] = static_cast<std::int32_t>((n * 7) % c.vocab_size);
  const auto rp = pooled.forward_backward(b, 0);
  const std::vector<double> gp(pooled.flat_grads().begin(), pooled.flat_grads().end());
  const auto rs = standard.forward_backward(b, 0);
  CHECK(rp.targets == rs.targets);
  CHECK(rp.loss == doctest::Approx(rs.loss).epsilon(1e-12));
  CHECK(rp.accuracy == rs.accuracy);
  const auto gs = standard.flat_grads();
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < gp.size(); ++i) {
    diff = std::max(diff, std::abs(gp[i] - gs[i]));
    norm = std::max(norm, std::abs(gs[i]));
  }
  CHECK(diff <= 1e-12 * std::max(norm, 1.0));

  // A normal batch: the pooled loss is finite and differs from the standard one.
  const auto b2 = pooled_batch(c, 12, {0, 3}, 9);
  const auto p2 = pooled.evaluate(b2);
  const auto s2 = standard.evaluate(b2);
  CHECK(std::isfinite(p2.loss));
  CHECK(p2.targets == s2.targets);
  CHECK(std::abs(p2.loss - s2.loss) > 1e-6);
}

TEST_CASE("pooled bert with one layer equals the standard model (keys are full resolution)") {
  // With L = 1 only the target query rows reach the loss; they attend over [stream ; targets], which is
  // the standard model's set of valid tokens in another order (attention does not depend on key order),
  // so loss and every gradient must match the standard model for any k.
  for (std::size_t k : {2u, 3u, 5u}) {
    auto c = growth::test::tiny_config();
    c.num_hidden_layers = 1;
    c.pool_size = k;
    auto cs = c;
    cs.pool_size = 1;
    bert<double> pooled(c), standard(cs);
    randomize(pooled, 50 + k);
    std::copy(pooled.flat_params().begin(), pooled.flat_params().end(), standard.flat_params().begin());
    auto b = pooled_batch(c, 12, {0, 4, 1}, 60 + k);
    b.labels[12 + 11] = 3;  // a label on a padded token: scored, but not visible as a key (as in the standard path)
    const auto rp = pooled.forward_backward(b, 0);
    const std::vector<double> gp(pooled.flat_grads().begin(), pooled.flat_grads().end());
    const auto rs = standard.forward_backward(b, 0);
    CAPTURE(k);
    CHECK(rp.loss == doctest::Approx(rs.loss).epsilon(1e-12));
    const auto gs = standard.flat_grads();
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < gp.size(); ++i) {
      diff = std::max(diff, std::abs(gp[i] - gs[i]));
      norm = std::max(norm, std::abs(gs[i]));
    }
    CHECK(diff <= 1e-11 * norm);
    // With two layers the pooled rows matter: the losses differ.
    auto c2 = c;
    c2.num_hidden_layers = 2;
    auto cs2 = c2;
    cs2.pool_size = 1;
    bert<double> p2(c2), s2(cs2);
    randomize(p2, 70 + k);
    std::copy(p2.flat_params().begin(), p2.flat_params().end(), s2.flat_params().begin());
    CHECK(std::abs(p2.evaluate(b).loss - s2.evaluate(b).loss) > 1e-6);
  }
}

TEST_CASE("pooled bert: deterministic, float works, logits only at targets") {
  auto c = growth::test::tiny_config();
  c.pool_size = 3;
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  bert<float> m(c);
  m.init(3);
  const auto b = pooled_batch(c, 14, {0, 5, 2}, 11);
  const auto r1 = m.forward_backward(b, 99);
  const std::vector<float> g1(m.flat_grads().begin(), m.flat_grads().end());
  const auto r2 = m.forward_backward(b, 99);
  CHECK(r1.loss == r2.loss);
  CHECK(std::equal(g1.begin(), g1.end(), m.flat_grads().begin()));
  CHECK(std::isfinite(r1.loss));
  for (float g : g1) REQUIRE(std::isfinite(g));
  const auto r3 = m.forward_train(b, 100);
  CHECK(r3.loss != r1.loss);  // another dropout seed

  std::vector<float> logits;
  const auto e = m.evaluate(b, &logits);
  const auto e2 = m.evaluate(b);
  CHECK(e.loss == doctest::Approx(e2.loss).epsilon(1e-6));
  const std::size_t V = c.vocab_size;
  REQUIRE(logits.size() == b.tokens() * V);
  double loss = 0;
  std::size_t targets = 0;
  for (std::size_t n = 0; n < b.tokens(); ++n) {
    const float* row = logits.data() + n * V;
    if (b.labels[n] == ignore_label) {
      CHECK(std::all_of(row, row + V, [](float v) { return v == 0.0f; }));
      continue;
    }
    const double mx = *std::max_element(row, row + V);
    double sum = 0;
    for (std::size_t i = 0; i < V; ++i) sum += std::exp(row[i] - mx);
    loss += mx + std::log(sum) - row[b.labels[n]];
    ++targets;
  }
  CHECK(targets == e.targets);
  CHECK(loss / static_cast<double>(targets) == doctest::Approx(e.loss).epsilon(1e-4));
}

namespace {
bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool same_bits(const growth::reference::mlm_result& a, const growth::reference::mlm_result& b) {
  return std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 && std::memcmp(&a.accuracy, &b.accuracy, sizeof a.accuracy) == 0 &&
         a.targets == b.targets;
}
}  // namespace

TEST_CASE("pooling as an argument: pool size 1 on a pooled model equals a pool_size = 1 copy bit for bit") {
  // The trainer validated a pooled stage with a second model (pool_size = 1, the same weights); now it calls
  // evaluate(b, nullptr, 1) on the stage's own model, between pooled training steps. Both must agree bit for
  // bit, in both directions, after the workspace has held the other layout, post-LN and pre-LN.
  for (const bool pre_ln : {false, true}) {
    CAPTURE(pre_ln);
    auto c = growth::test::tiny_lowcost_config();
    c.pre_layer_norm = pre_ln;
    c.pool_size = 2;
    c.hidden_dropout_prob = 0.1;
    c.attention_probs_dropout_prob = 0.1;
    auto c1 = c;
    c1.pool_size = 1;
    bert<float> pooled(c), copy(c1), fresh(c);
    pooled.init(5);
    const auto train = pooled_batch(c, 13, {0, 4, 1}, 41);
    const auto eval = pooled_batch(c, 16, {2, 0}, 42);
    for (int step = 0; step < 3; ++step) {
      CAPTURE(step);
      // A pooled training step (it leaves the pooled workspace behind), then the copy takes the weights.
      const auto rt = pooled.forward_backward(train, 7 + static_cast<std::uint64_t>(step));
      std::copy(pooled.flat_params().begin(), pooled.flat_params().end(), copy.flat_params().begin());
      std::copy(pooled.flat_params().begin(), pooled.flat_params().end(), fresh.flat_params().begin());
      std::vector<float> la, lb;
      const auto a = pooled.evaluate(eval, &la, 1), b = copy.evaluate(eval, &lb);
      CHECK(same_bits(a, b));
      CHECK(same_bits(la, lb));
      CHECK(same_bits(pooled.evaluate(eval, nullptr, 1), copy.evaluate(eval)));
      // Back to pooling: the step after an unpooled evaluation equals the same step of a model that never
      // evaluated; the other direction (pooling asked of the pool_size = 1 copy) equals the pooled model.
      const auto rp = pooled.forward_backward(train, 100);
      const auto rf = fresh.forward_backward(train, 100);
      CHECK(same_bits(rp, rf));
      CHECK(same_bits(pooled.flat_grads(), fresh.flat_grads()));
      const auto rc = copy.forward_backward(train, 100, 2);
      CHECK(same_bits(rp, rc));
      CHECK(same_bits(pooled.flat_grads(), copy.flat_grads()));
      CHECK(same_bits(pooled.evaluate(eval), copy.evaluate(eval, nullptr, 2)));
      CHECK(!same_bits(pooled.evaluate(eval), pooled.evaluate(eval, nullptr, 1)));  // pooling does change the result
      // Move the weights on (a plain update, so the next step starts from other weights).
      auto p = pooled.flat_params();
      const auto g = pooled.flat_grads();
      for (std::size_t i = 0; i < p.size(); ++i) p[i] -= 0.05f * g[i];
      CHECK(std::isfinite(rt.loss));
    }
  }
  bert<float> m(growth::test::tiny_config());
  CHECK_THROWS_AS(m.evaluate(pooled_batch(growth::test::tiny_config(), 8, {0}, 3), nullptr, 0), growth::error);
}

TEST_CASE("pooled FLOP model agrees with the schedule's cost model") {
  using namespace growth::sched;
  for (std::uint64_t seed : {21u, 22u, 23u, 24u, 25u, 26u, 27u, 28u}) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    growth::model::shape s{.layers = pick(1, 6), .hidden = 0, .heads = pick(1, 8), .ffn = 8 * pick(1, 64), .seq_len = pick(2, 300)};
    s.hidden = s.heads * 4 * pick(1, 16);
    s.pool_size = pick(2, 8);
    if (pick(0, 1) == 1) {
      s.ffn_rank = pick(1, std::min(s.hidden, s.ffn));
      s.ffn_factorized_every = pick(1, 3);
    }
    const run_settings run{.vocab_size = pick(10, 5000), .batch_size = pick(1, 64), .masked_per_mille = pick(1, 1000)};
    CAPTURE(seed);
    const auto config = to_bert_config(s, run.vocab_size);
    REQUIRE(config.pool_size == s.pool_size);
    const double f = static_cast<double>(run.masked_per_mille) / 1000.0;
    const double ref = growth::reference::training_flops_per_token(config, s.seq_len, f) *
                       static_cast<double>(s.seq_len * run.batch_size);
    CHECK(training_flops_per_step(s, run) == doctest::Approx(ref).epsilon(1e-12));
    // Pooling never costs more than the unpooled model when at most half the tokens are targets.
    auto unpooled = config;
    unpooled.pool_size = 1;
    if (f <= 0.5)
      CHECK(growth::reference::training_flops_per_token(config, s.seq_len, f) <=
            growth::reference::training_flops_per_token(unpooled, s.seq_len, f) * (1 + 1e-12));
  }
}
