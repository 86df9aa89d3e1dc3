// Expectations mirror Hugging Face BertTokenizer (do_lower_case=True) behaviour, written by hand.
#include <doctest/doctest.h>

#include <growth/data/wordpiece.hpp>

using namespace growth::data;

namespace {
using strings = std::vector<std::string>;
wordpiece_tokenizer make_tok(strings extra) {
  strings v = special_token_strings();
  for (auto& t : extra) v.push_back(std::move(t));
  return wordpiece_tokenizer(v);
}
const strings base_vocab{"hello", "world", ",", "!", "?", "un", "##aff", "##able", "'", "don", "t",
                         "$",     "5",     "ca", "va", "naive", "cafe", "a", "##a", "\xe6\x97\xa5" /*日*/,
                         "\xe6\x9c\xac" /*本*/, "\xce\xb1\xce\xbb\xcf\x86\xce\xb1" /*αλφα*/, "\xc2\xab", "\xc2\xbb", "quoted",
                         "##s", "the", "##e", "th", "low", "##er"};
}  // namespace

TEST_CASE("wordpiece: BertTokenizer basics") {
  const auto tok = make_tok(base_vocab);
  CHECK(tok.tokenize("Hello, World!") == strings{"hello", ",", "world", "!"});
  CHECK(tok.tokenize("H\xc3\xa9llo") == strings{"hello"});  // Héllo: accent stripped after lower-casing
  CHECK(tok.tokenize("HE\xcc\x81LLO") == strings{"hello"});  // E + combining acute
  CHECK(tok.tokenize("unaffable") == strings{"un", "##aff", "##able"});
  CHECK(tok.tokenize("don't") == strings{"don", "'", "t"});
  CHECK(tok.tokenize("$5") == strings{"$", "5"});  // ASCII symbols count as punctuation in HF
  CHECK(tok.tokenize("\xc3\x87" "a va? Na\xc3\xafve caf\xc3\xa9") ==
        strings{"ca", "va", "?", "naive", "cafe"});  // Ça va? Naïve café
  CHECK(tok.tokenize("\xce\x86\xce\xbb\xcf\x86\xce\xb1") == strings{"\xce\xb1\xce\xbb\xcf\x86\xce\xb1"});  // Άλφα
  CHECK(tok.tokenize("\xc2\xabquoted\xc2\xbb") == strings{"\xc2\xab", "quoted", "\xc2\xbb"});  // «quoted»
  CHECK(tok.tokenize("lower") == strings{"low", "##er"});
  CHECK(tok.tokenize("  \t\n ").empty());
  CHECK(tok.tokenize("").empty());
}

TEST_CASE("wordpiece: CJK characters are split, unknown ones become [UNK]") {
  const auto tok = make_tok(base_vocab);
  // 日本語: each ideograph is its own word; 語 is not in the vocabulary.
  CHECK(tok.tokenize("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e") == strings{"\xe6\x97\xa5", "\xe6\x9c\xac", "[UNK]"});
  CHECK(tok.tokenize("hello\xe6\x97\xa5world") == strings{"hello", "\xe6\x97\xa5", "world"});
}

TEST_CASE("wordpiece: long and uncoverable words become a single [UNK]") {
  const auto tok = make_tok(base_vocab);
  const std::string w100(100, 'a'), w101(101, 'a');
  const auto p100 = tok.tokenize(w100);
  REQUIRE(p100.size() == 100);
  CHECK(p100[0] == "a");
  CHECK(p100[99] == "##a");
  CHECK(tok.tokenize(w101) == strings{"[UNK]"});
  CHECK(tok.tokenize("unaffablez hello") == strings{"[UNK]", "hello"});  // no partial pieces kept
  CHECK(tok.tokenize("xyz") == strings{"[UNK]"});
}

TEST_CASE("wordpiece: special tokens, control characters, whitespace") {
  const auto tok = make_tok(base_vocab);
  CHECK(tok.tokenize("hello [MASK] world") == strings{"hello", "[MASK]", "world"});
  CHECK(tok.tokenize("HELLO[MASK]!") == strings{"hello", "[MASK]", "!"});
  CHECK(tok.tokenize("[CLS] hello [SEP]") == strings{"[CLS]", "hello", "[SEP]"});
  CHECK(tok.tokenize("[mask]") == strings{"[UNK]", "[UNK]", "[UNK]"});  // lower-case is not special: [ mask ]
  CHECK(tok.tokenize("hel\x01lo") == strings{"hello"});                // control characters are removed
  CHECK(tok.tokenize("hel\xe2\x80\x8blo") == strings{"hello"});        // zero-width space (Cf) too
  CHECK(tok.tokenize("hello\xc2\xa0world") == strings{"hello", "world"});  // NBSP is whitespace
  CHECK(tok.tokenize("hel\xfflo") == strings{"hello"});  // invalid UTF-8 byte read as U+FFFD, dropped
}

TEST_CASE("wordpiece: ids, decode, vocabulary errors") {
  const auto tok = make_tok(base_vocab);
  CHECK(tok.pad_id() == 0);
  CHECK(tok.unk_id() == 1);
  CHECK(tok.cls_id() == 2);
  CHECK(tok.sep_id() == 3);
  CHECK(tok.mask_id() == 4);
  const auto ids = tok.encode("unaffable hello");
  CHECK(ids == std::vector<std::int32_t>{tok.token_to_id("un"), tok.token_to_id("##aff"), tok.token_to_id("##able"),
                                         tok.token_to_id("hello")});
  CHECK(tok.decode(ids) == "unaffable hello");
  CHECK(tok.token_to_id("nope") == -1);
  CHECK_THROWS_AS((void)tok.id_to_token(1000), growth::error);
  CHECK_THROWS_WITH_AS(wordpiece_tokenizer(strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}),
                       "vocabulary: expected the special token [MASK], got missing", growth::error);
  tokenizer_options cased;
  cased.lowercase = false;
  strings v = special_token_strings();
  v.push_back("Hello");
  v.push_back("H\xc3\xa9llo");
  const wordpiece_tokenizer ct(v, cased);
  CHECK(ct.tokenize("Hello H\xc3\xa9llo hello") == strings{"Hello", "H\xc3\xa9llo", "[UNK]"});
}
