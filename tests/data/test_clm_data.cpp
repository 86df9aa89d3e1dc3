// Causal-LM data (data/clm_data.hpp, train/clm_data.hpp): packing, split, labels, determinism, and that the
// training stream never holds validation text.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include <growth/core/random.hpp>
#include <growth/data/clm_data.hpp>
#include <growth/train/clm_data.hpp>

using namespace growth;
using namespace growth::data;

namespace {
wordpiece_tokenizer clm_vocab(std::size_t n) {
  std::vector<std::string> v = special_token_strings();
  for (std::size_t i = v.size(); i < n; ++i) {
    std::string t(1, 'w');
    t += std::to_string(i);
    v.push_back(t);
  }
  return wordpiece_tokenizer(v);
}
std::vector<std::int32_t> clm_stream(std::size_t n, std::int32_t vocab, std::uint64_t seed) {
  rng r(seed);
  std::vector<std::int32_t> s(n);
  for (auto& x : s) x = 5 + static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(vocab - 5)));
  return s;
}
}  // namespace

TEST_CASE("clm_data: blocks reproduce the stream, labels are the unshifted ids, split is every k-th block") {
  const auto tok = clm_vocab(40);
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    rng r(seed);
    const std::size_t n = 1 + r.below(2000), S = 2 + r.below(50), k = 1 + r.below(6);
    const auto stream = clm_stream(n, 40, seed);
    for (bool keep : {true, false}) {
      CAPTURE(n);
      CAPTURE(S);
      clm_dataset ds(stream, tok, clm_packing_options{S, k, keep});
      CHECK(ds.num_sequences() == n / S + (keep && n % S ? 1 : 0));
      std::vector<std::int32_t> back;
      std::vector<std::size_t> all(ds.num_sequences());
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
      const auto b = ds.make_batch(all);
      REQUIRE(b.input_ids.size() == all.size() * S);
      std::size_t targets = 0;
      for (std::size_t i = 0; i < all.size(); ++i) {
        for (std::size_t j = 0; j < S; ++j) {
          const std::size_t at = i * S + j;
          if (b.attention_mask[at]) {
            back.push_back(b.input_ids[at]);
            CHECK(b.labels[at] == b.input_ids[at]);
            targets += j > 0;
          } else {
            CHECK(b.input_ids[at] == tok.pad_id());
            CHECK(b.labels[at] == model::ignore_label);
          }
        }
      }
      const std::vector<std::int32_t> expect(stream.begin(),
                                             stream.begin() + static_cast<std::ptrdiff_t>(keep ? n : (n / S) * S));
      CHECK(back == expect);
      CHECK(b.num_targets() == targets);
      for (auto i : ds.validation_sequences()) CHECK(i % k == k - 1);
      CHECK(ds.train_sequences().size() + ds.validation_sequences().size() == ds.num_sequences());
    }
  }
  CHECK_THROWS_WITH_AS(clm_dataset({5, 6, 99}, tok), "token stream element 2: expected an id in [0, 40), got 99",
                       growth::error);
  CHECK_THROWS_AS(clm_dataset({5}, tok, clm_packing_options{1, 0, true}), growth::error);
}

TEST_CASE("clm_data: the epoch order is a seeded permutation of the training blocks") {
  const auto tok = clm_vocab(30);
  const clm_dataset ds(clm_stream(3000, 30, 9), tok, clm_packing_options{16, 10, false});
  const auto a = ds.epoch_order(5, 0), again = ds.epoch_order(5, 0), other = ds.epoch_order(5, 1),
             seed = ds.epoch_order(6, 0);
  CHECK(a == again);
  CHECK(a != other);
  CHECK(a != seed);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == ds.train_sequences());
  const std::size_t B = 4;
  REQUIRE(ds.train_batches_per_epoch(B) == ds.train_sequences().size() / B);
  const auto b = ds.train_batch(5, 0, 2, B);
  CHECK(b.sequence_index == std::vector<std::size_t>(a.begin() + 8, a.begin() + 12));
  CHECK(b.num_targets() == B * 15);
  CHECK_THROWS_AS((void)ds.train_batch(5, 0, ds.train_batches_per_epoch(B), B), growth::error);
}

TEST_CASE("clm_data_source: validation blocks stay out of the training stream at every length") {
  const auto tok = clm_vocab(60);
  const auto stream = clm_stream(6000, 60, 11);
  train::data_options o;
  o.full_seq_len = 32;
  o.validation_every = 5;
  o.eval_batch_size = 3;
  train::clm_data_source src(tok, stream, o);
  const clm_dataset full(stream, tok, clm_packing_options{32, 5, false});
  CHECK(src.validation_sequences() == full.validation_sequences().size());
  CHECK(src.train_tokens() == full.train_sequences().size() * 32);
  // The validation batches are the full-length validation blocks, in order.
  std::vector<std::int32_t> valid_ids;
  for (const auto& b : src.validation_batches()) {
    CHECK(b.seq_len == 32);
    CHECK(b.batch_size <= 3);
    valid_ids.insert(valid_ids.end(), b.input_ids.begin(), b.input_ids.end());
  }
  std::vector<std::int32_t> expect;
  for (auto i : full.validation_sequences()) {
    const auto s = full.sequence(i);
    expect.insert(expect.end(), s.begin(), s.end());
  }
  CHECK(valid_ids == expect);
  // Every training batch at a shorter length is a run of training text: its windows of 8 ids occur in the
  // concatenated training blocks (random ids make a chance match with validation text negligible).
  std::vector<std::int32_t> train_text;
  for (auto i : full.train_sequences()) {
    const auto s = full.sequence(i);
    train_text.insert(train_text.end(), s.begin(), s.end());
  }
  for (std::size_t step : {0u, 3u, 50u}) {
    const auto b = src.train_batch(7, step, 16, 4);
    for (std::size_t r = 0; r < b.batch_size; ++r) {
      const auto first = b.input_ids.begin() + static_cast<std::ptrdiff_t>(r * 16);
      CHECK(std::search(train_text.begin(), train_text.end(), first, first + 16) != train_text.end());
    }
    const auto again = src.train_batch(7, step, 16, 4);
    CHECK(again.input_ids == b.input_ids);
  }
  o.full_seq_len = 5000;
  CHECK_THROWS_AS(train::clm_data_source(tok, stream, o), growth::error);
}
