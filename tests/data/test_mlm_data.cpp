#include <doctest/doctest.h>

#include <algorithm>
#include <growth/core/random.hpp>
#include <growth/data/mlm_data.hpp>
#include <growth/data/vocab_trainer.hpp>
#include <growth/io/atomic_file.hpp>

using namespace growth;
using namespace growth::data;

namespace {
wordpiece_tokenizer numbered_vocab(std::size_t n) {
  std::vector<std::string> v = special_token_strings();
  for (std::size_t i = v.size(); i < n; ++i) {
    std::string t(1, 'w');  // not "w" + ...: GCC 12 -Wrestrict false positive
    t += std::to_string(i);
    v.push_back(t);
  }
  return wordpiece_tokenizer(v);
}
std::vector<std::int32_t> random_stream(std::size_t n, std::int32_t vocab, std::uint64_t seed) {
  rng r(seed);
  std::vector<std::int32_t> s(n);
  for (auto& x : s) x = 5 + static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(vocab - 5)));
  return s;
}
}  // namespace

TEST_CASE("mlm_data: packing reproduces the stream, split is every k-th sequence") {
  const auto tok = numbered_vocab(50);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    rng r(seed);
    const std::size_t n = 1 + r.below(3000), S = 3 + r.below(60), k = 1 + r.below(7);
    const auto stream = random_stream(n, 50, seed);
    for (bool keep : {true, false}) {
      CAPTURE(n);
      CAPTURE(S);
      mlm_dataset ds(stream, tok, packing_options{S, k, keep});
      const std::size_t body = S - 2;
      CHECK(ds.num_sequences() == n / body + (keep && n % body ? 1 : 0));
      std::vector<std::int32_t> back;
      for (std::size_t i = 0; i < ds.num_sequences(); ++i) {
        const auto s = ds.sequence(i);
        CHECK(s[0] == tok.cls_id());
        std::size_t j = 1;
        while (s[j] != tok.sep_id()) back.push_back(s[j++]);
        for (++j; j < S; ++j) CHECK(s[j] == tok.pad_id());
      }
      const std::vector<std::int32_t> expect(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(
                                                                                 keep ? n : (n / body) * body));
      CHECK(back == expect);
      for (auto i : ds.validation_sequences()) CHECK(i % k == k - 1);
      CHECK(ds.train_sequences().size() + ds.validation_sequences().size() == ds.num_sequences());
    }
  }
  CHECK_THROWS_WITH_AS(mlm_dataset({5, 6, 99}, tok), "token stream element 2: expected an id in [0, 50), got 99",
                       growth::error);
  CHECK_THROWS_AS(mlm_dataset({5}, tok, packing_options{2, 0, true}), growth::error);
}

TEST_CASE("mlm_data: masking statistics follow BERT's 15% / 80-10-10 rule") {
  const std::int32_t V = 1000;
  const auto tok = numbered_vocab(V);
  const auto stream = random_stream(400000, V, 7);
  mlm_dataset ds(stream, tok, packing_options{128, 0, true});
  std::size_t eligible = 0, selected = 0, masked = 0, kept = 0, randomised = 0, violations = 0;
  std::vector<std::int32_t> in(128), lab(128);
  for (std::size_t i = 0; i < ds.num_sequences(); ++i) {
    ds.mask(i, 42, in.data(), lab.data());
    const auto src = ds.sequence(i);
    for (std::size_t j = 0; j < 128; ++j) {
      if (!ds.is_maskable(src[j])) {  // specials and padding are never selected
        violations += lab[j] != model::ignore_label || in[j] != src[j];
        continue;
      }
      ++eligible;
      if (lab[j] == model::ignore_label) {
        violations += in[j] != src[j];
        continue;
      }
      ++selected;
      violations += lab[j] != src[j];
      if (in[j] == tok.mask_id()) ++masked;
      else if (in[j] == src[j]) ++kept;
      else {
        ++randomised;
        violations += !ds.is_maskable(in[j]);
      }
    }
  }
  CHECK(violations == 0);
  const double sel = double(selected) / double(eligible);
  CHECK(sel == doctest::Approx(0.15).epsilon(0.02));  // 60k selections: sd of the rate ~0.0006
  CHECK(double(masked) / double(selected) == doctest::Approx(0.8).epsilon(0.02));
  CHECK(double(randomised) / double(selected) == doctest::Approx(0.1).epsilon(0.05));
  CHECK(double(kept) / double(selected) == doctest::Approx(0.1).epsilon(0.05));
}

TEST_CASE("mlm_data: masks depend only on (seed, sequence), validation masks are fixed") {
  const auto tok = numbered_vocab(300);
  const auto stream = random_stream(20000, 300, 11);
  mlm_dataset ds(stream, tok, packing_options{64, 10, true});
  // The same sequence masked inside different batches (sizes, positions) is identical.
  const std::vector<std::size_t> rows_a{3, 5, 8}, rows_b{8, 1};
  const auto a = ds.make_batch(rows_a, 99), b = ds.make_batch(rows_b, 99);
  CHECK(std::equal(a.input_ids.begin() + 128, a.input_ids.begin() + 192, b.input_ids.begin()));
  CHECK(std::equal(a.labels.begin() + 128, a.labels.begin() + 192, b.labels.begin()));
  const auto c = ds.make_batch(rows_a, 100);
  CHECK(c.labels != a.labels);
  CHECK(a.token_type_ids == std::vector<std::int32_t>(a.input_ids.size(), 0));
  CHECK(a.batch_size == 3);
  CHECK(a.seq_len == 64);
  // Training batches: each epoch is a permutation of the training sequences; deterministic.
  const std::size_t B = 8, steps = ds.train_batches_per_epoch(B);
  REQUIRE(steps > 2);
  std::vector<std::size_t> seen;
  for (std::size_t s = 0; s < steps; ++s) {
    const auto tb = ds.train_batch(5, 0, s, B);
    CHECK(tb.input_ids == ds.train_batch(5, 0, s, B).input_ids);
    seen.insert(seen.end(), tb.sequence_index.begin(), tb.sequence_index.end());
  }
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  CHECK(seen.size() == steps * B);
  CHECK(ds.epoch_order(5, 0) != ds.epoch_order(5, 1));
  CHECK(ds.train_batch(5, 0, 0, B).sequence_index != ds.train_batch(6, 0, 0, B).sequence_index);
  CHECK_THROWS_AS((void)ds.train_batch(5, 0, steps, B), growth::error);
  // Validation: fixed order and masks, independent of the training seed and of other instances.
  mlm_dataset other(stream, tok, packing_options{64, 10, true});
  REQUIRE(ds.validation_batches(4) > 1);
  for (std::size_t k = 0; k < ds.validation_batches(4); ++k) {
    const auto v1 = ds.validation_batch(k, 4), v2 = other.validation_batch(k, 4);
    CHECK(v1.input_ids == v2.input_ids);
    CHECK(v1.labels == v2.labels);
    for (auto i : v1.sequence_index) CHECK(i % 10 == 9);
  }
  // Padding rows: attention mask 0 on [PAD], never masked.
  const auto last = ds.make_batch({ds.num_sequences() - 1}, 1);
  const auto src = ds.sequence(ds.num_sequences() - 1);
  for (std::size_t j = 0; j < 64; ++j) {
    CHECK(last.attention_mask[j] == (src[j] != tok.pad_id() ? 1 : 0));
    if (src[j] == tok.pad_id()) CHECK(last.labels[j] == model::ignore_label);
  }
}

TEST_CASE("mlm_data: KJV end to end (vocabulary, tokenisation, truncation view)") {
  const std::string all = io::read_file(std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt");
  const std::string text = all.substr(0, all.find('\n', 200000) + 1);  // the first ~200 KB keeps the test fast
  vocab_trainer_options vo;
  vo.vocab_size = 1000;
  const wordpiece_tokenizer tok(train_wordpiece_vocab(text, vo));
  const auto stream = tokenize_corpus(tok, text);
  CHECK(stream.size() > 40000);
  CHECK(std::count(stream.begin(), stream.end(), tok.unk_id()) == 0);
  mlm_dataset full(stream, tok, packing_options{128, 20, true});
  mlm_dataset trunc(stream, tok, packing_options{32, 20, true});  // the paper's truncation view
  CHECK(trunc.num_sequences() >= 4 * full.num_sequences());
  // Masks per sequence scale with the length.
  const auto bf = full.validation_batch(0, 16), bt = trunc.validation_batch(0, 16);
  const double mf = double(bf.num_masked()) / double(bf.batch_size), mt = double(bt.num_masked()) / double(bt.batch_size);
  CHECK(mf > 2.5 * mt);
  const auto first = tok.encode("In the beginning God created the heaven and the earth.");
  CHECK(std::equal(first.begin(), first.end(), stream.begin()));
  CHECK(tok.decode(first) == "in the beginning god created the heaven and the earth .");
}
