// Data-parallel shares (train/data_parallel.hpp, reference::batch_slice): the share arithmetic, and that P
// shares of a batch, each run with its batch_slice, reproduce the whole batch's training pass: the same
// dropout masks for their rows (so the summed gradient equals the whole batch's to double rounding, which a
// single different mask bit would break), the loss sum and target count, plain and with mean embedding
// pooling, for even and uneven splits. The MPI runs of the tool are tests/tools/mpi_train_test.sh.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include <growth/reference/bert.hpp>
#include <growth/train/data_parallel.hpp>

#include "support/batches.hpp"
#include "support/configs.hpp"
#include "support/models.hpp"

namespace {

using growth::train::batch_share;
using growth::train::share_of;

TEST_CASE("share_of: consecutive rows, the first batch % P ranks one more, refused below one row per rank") {
  CHECK(share_of(7, 0, 3) == batch_share{0, 3});
  CHECK(share_of(7, 1, 3) == batch_share{3, 2});
  CHECK(share_of(7, 2, 3) == batch_share{5, 2});
  CHECK(share_of(8, 1, 2) == batch_share{4, 4});
  CHECK(share_of(5, 0, 1) == batch_share{0, 5});
  for (std::size_t b = 1; b < 20; ++b)
    for (std::size_t p = 1; p <= b; ++p) {
      std::size_t next = 0;
      for (std::size_t r = 0; r < p; ++r) {
        const auto s = share_of(b, r, p);
        CHECK(s.first == next);
        CHECK(s.rows >= 1);
        next += s.rows;
      }
      CHECK(next == b);
    }
  CHECK_THROWS_AS(share_of(2, 0, 3), growth::error);
  CHECK_THROWS_AS(share_of(4, 3, 3), growth::error);
}

TEST_CASE("batch_rows copies the rows of a share") {
  const auto c = growth::test::tiny_config();
  const auto b = growth::test::random_batch(c, 5, 6, 2, 3);
  const auto s = growth::train::batch_rows(b, {2, 2});
  CHECK(s.batch_size == 2);
  CHECK(s.seq_len == 6);
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(s.input_ids[i] == b.input_ids[12 + i]);
    CHECK(s.labels[i] == b.labels[12 + i]);
    CHECK(s.attention_mask[i] == b.attention_mask[12 + i]);
    CHECK(s.token_type_ids[i] == b.token_type_ids[12 + i]);
  }
  CHECK_THROWS_AS(growth::train::batch_rows(b, {4, 2}), growth::error);
}

/// Runs the whole batch and its P shares; the shares' gradients summed against the whole batch's.
void check_shares(std::size_t pool, std::size_t ranks, std::uint64_t seed) {
  auto c = growth::test::tiny_config();
  c.hidden_dropout_prob = 0.2;
  c.attention_probs_dropout_prob = 0.2;
  growth::reference::bert<double> m(c);
  growth::test::randomize(m, seed);
  auto b = growth::test::random_batch(c, 7, 12, 3, seed + 1);
  for (std::size_t i = 0; i < 7; ++i) b.attention_mask[i * 12 + 11 - i % 3] = 0;  // uneven padding: pooled lengths differ
  const std::uint64_t dseed = 1234 + seed;
  const auto whole = m.forward_backward(b, dseed, pool);
  const std::vector<double> g(m.flat_grads().begin(), m.flat_grads().end());

  growth::reference::batch_slice slice;
  for (const auto y : b.labels) slice.global_targets += y != growth::model::ignore_label ? 1 : 0;
  if (pool > 1) {
    const auto pl = growth::reference::make_pooled_layout(b, pool);
    slice.query_len = pl.query_len;
    slice.key_len = pl.key_len;
  }
  std::vector<double> sum(g.size(), 0.0);
  double loss_sum = 0;
  std::size_t targets = 0;
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto sh = share_of(b.batch_size, r, ranks);
    slice.row_offset = sh.first;
    const auto part = m.forward_backward(growth::train::batch_rows(b, sh), dseed, pool, slice);
    loss_sum += part.loss * static_cast<double>(part.targets);
    targets += part.targets;
    for (std::size_t i = 0; i < g.size(); ++i) sum[i] += m.flat_grads()[i];
  }
  CHECK(targets == whole.targets);
  CHECK(loss_sum / static_cast<double>(targets) == doctest::Approx(whole.loss).epsilon(1e-12));
  double worst = 0, norm = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    worst = std::max(worst, std::abs(sum[i] - g[i]));
    norm = std::max(norm, std::abs(g[i]));
  }
  INFO("pool " << pool << " ranks " << ranks << " seed " << seed << ": max |sum of shares - whole| " << worst << " of max |g| " << norm);
  CHECK(norm > 0);
  CHECK(worst <= 1e-12 * norm);

  // Without the slice a share draws its own masks: the sum is then a different gradient (the check above
  // can fail).
  if (ranks > 1) {
    std::vector<double> plain(g.size(), 0.0);
    for (std::size_t r = 0; r < ranks; ++r) {
      const auto sh = share_of(b.batch_size, r, ranks);
      growth::reference::batch_slice own;
      own.global_targets = slice.global_targets;
      own.query_len = slice.query_len;
      own.key_len = slice.key_len;
      m.forward_backward(growth::train::batch_rows(b, sh), dseed, pool, own);
      for (std::size_t i = 0; i < g.size(); ++i) plain[i] += m.flat_grads()[i];
    }
    double off = 0;
    for (std::size_t i = 0; i < g.size(); ++i) off = std::max(off, std::abs(plain[i] - g[i]));
    CHECK(off > 1e-6 * norm);
  }
}

TEST_CASE("shares of a batch with batch_slice sum to the whole batch's gradient, dropout on") {
  for (const std::size_t ranks : {1, 2, 3, 7})
    for (const std::uint64_t seed : {1, 2}) {
      check_shares(1, ranks, seed);
      check_shares(2, ranks, seed);
    }
}

TEST_CASE("the default batch_slice is the batch on its own: bit-identical to the call without it") {
  auto c = growth::test::tiny_config();
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  growth::reference::bert<double> m(c);
  growth::test::randomize(m, 5);
  const auto b = growth::test::random_batch(c, 3, 8, 2, 6);
  const auto r1 = m.forward_backward(b, 77);
  const std::vector<double> g1(m.flat_grads().begin(), m.flat_grads().end());
  const auto r2 = m.forward_backward(b, 77, std::nullopt, growth::reference::batch_slice{});
  CHECK(r1.loss == r2.loss);
  for (std::size_t i = 0; i < g1.size(); ++i) REQUIRE(g1[i] == m.flat_grads()[i]);
}

}  // namespace

// Decoder LMs (train/decoder_trainer.hpp): a share's mean-loss gradient scaled by its share of the global
// targets; the ranks' sum equals the whole batch's gradient (float rounding: the GEMMs sum other rows), and
// a config with dropout is refused (a share would draw other masks).
#include <growth/train/decoder_trainer.hpp>

#include "model/decoder_test_util.hpp"

TEST_CASE("decoder data-parallel shares sum to the whole batch's gradient, and dropout is refused") {
  for (const bool gpt2 : {false, true}) {
    CAPTURE(gpt2);
    auto c = gpt2 ? growth::test::small_gpt2() : growth::test::small_llama();
    c.attention_dropout = c.residual_dropout = c.embedding_dropout = 0;
    growth::reference::causal_lm<float> m(c);
    m.init(5);
    growth::model::clm_batch b(7, 6);
    growth::rng r(9, 1);
    for (std::size_t i = 0; i < b.input_ids.size(); ++i) {
      b.input_ids[i] = static_cast<std::int32_t>(r.next_u64() % c.vocab_size);
      b.labels[i] = b.input_ids[i];
    }
    for (std::size_t s = 4; s < 6; ++s) {  // right padding on row 2: fewer targets there
      b.attention_mask[2 * 6 + s] = 0;
      b.labels[2 * 6 + s] = growth::model::ignore_label;
    }
    const auto whole = m.forward_backward(b, 1);
    const std::vector<float> g(m.flat_grads().begin(), m.flat_grads().end());
    for (const std::size_t ranks : {2u, 3u}) {
      std::vector<double> sum(g.size(), 0.0);
      std::size_t targets = 0;
      for (std::size_t rank = 0; rank < ranks; ++rank) {
        const auto r2 = growth::train::decoder_family::forward_backward_share(m, b, 1, growth::train::share_of(7, rank, ranks));
        targets += r2.targets;
        for (std::size_t i = 0; i < g.size(); ++i) sum[i] += m.flat_grads()[i];
      }
      CHECK(targets == whole.targets);
      double num = 0, den = 0;
      for (std::size_t i = 0; i < g.size(); ++i) {
        num = std::max(num, std::fabs(sum[i] - static_cast<double>(g[i])));
        den = std::max(den, std::fabs(static_cast<double>(g[i])));
      }
      CHECK(num <= 1e-5 * den);
    }
    c.attention_dropout = 0.1;
    growth::reference::causal_lm<float> md(c);
    md.init(5);
    CHECK_THROWS_AS(growth::train::decoder_family::forward_backward_share(md, b, 1, growth::train::share_of(7, 0, 2)),
                    growth::error);
  }
}
