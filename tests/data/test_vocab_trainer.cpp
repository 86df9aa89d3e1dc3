#include <doctest/doctest.h>

#include <algorithm>
#include <growth/data/vocab_trainer.hpp>
#include <growth/io/atomic_file.hpp>
#include <set>

using namespace growth::data;

namespace {
std::string kjv_head(std::size_t lines) {
  const std::string all = growth::io::read_file(std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt");
  std::size_t pos = 0;
  for (std::size_t i = 0; i < lines && pos != std::string::npos; ++i) pos = all.find('\n', pos + 1);
  return all.substr(0, pos == std::string::npos ? all.size() : pos + 1);
}
}  // namespace

TEST_CASE("vocab_trainer: special tokens first, then the alphabet, then merges") {
  const std::string text = "low low low low low lower lower newest newest newest newest newest newest widest widest widest\n";
  vocab_trainer_options opt;
  opt.vocab_size = 40;
  const auto v = train_wordpiece_vocab(text, opt);
  REQUIRE(v.size() <= 40);
  CHECK(std::vector<std::string>(v.begin(), v.begin() + 5) == special_token_strings());
  // Alphabet: plain characters sorted, then ## characters sorted.
  const std::vector<std::string> plain{"d", "e", "i", "l", "n", "o", "r", "s", "t", "w"};
  CHECK(std::vector<std::string>(v.begin() + 5, v.begin() + 15) == plain);
  const std::vector<std::string> cont{"##d", "##e", "##i", "##o", "##r", "##s", "##t", "##w"};
  CHECK(std::vector<std::string>(v.begin() + 15, v.begin() + 23) == cont);
  // The most frequent pairs are merged first: "##e" "##s" (newest x6 + widest x3 = 9), then "##es" "##t".
  REQUIRE(v.size() > 24);
  CHECK(v[23] == "##es");
  CHECK(v[24] == "##est");
  CHECK(std::find(v.begin(), v.end(), "low") != v.end());
  CHECK(std::find(v.begin(), v.end(), "newest") != v.end());
  std::set<std::string> unique(v.begin(), v.end());
  CHECK(unique.size() == v.size());
  // Every word of the training text tokenises without [UNK].
  wordpiece_tokenizer tok(v);
  for (const auto& t : tok.tokenize(text)) CHECK(t != "[UNK]");
  CHECK(tok.tokenize("newest") == std::vector<std::string>{"newest"});
}

TEST_CASE("vocab_trainer: deterministic, exact size on real text, min_frequency honoured") {
  const std::string text = kjv_head(1500);
  vocab_trainer_options opt;
  opt.vocab_size = 600;
  const auto a = train_wordpiece_vocab(text, opt);
  const auto b = train_wordpiece_vocab(text, opt);
  CHECK(a == b);
  CHECK(a.size() == 600);
  CHECK(std::find(a.begin(), a.end(), "the") != a.end());
  CHECK(std::find(a.begin(), a.end(), "and") != a.end());
  // Feeding the same text line by line or at once gives the same vocabulary.
  vocab_trainer t(opt);
  t.add_text(text);
  CHECK(t.train() == a);
  wordpiece_tokenizer tok(a);
  std::size_t unk = 0, n = 0;
  for (auto id : tok.encode(text)) {
    unk += id == tok.unk_id();
    ++n;
  }
  CHECK(unk == 0);
  CHECK(n > 0);
  // A huge min_frequency leaves only specials + alphabet.
  opt.min_frequency = 1u << 30;
  const auto c = train_wordpiece_vocab(text, opt);
  CHECK(c.size() < 100);
  for (const auto& s : c) CHECK(growth::io::detail::valid_utf8(s));
  // Too small a vocabulary for the alphabet is an error.
  opt.vocab_size = 10;
  CHECK_THROWS_WITH_AS(train_wordpiece_vocab(text, opt), doctest::Contains("vocab_trainer vocab_size: expected at least"),
                       growth::error);
}
