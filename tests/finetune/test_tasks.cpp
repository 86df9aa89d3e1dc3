// The downstream tasks of data/classification_tasks.hpp on data/kjv.txt: the book table identifies the
// books, labels, the next-verse pairs, the seeded split, the encoding; the majority and bag-of-words
// baselines (data/bow_baseline.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <growth/data/bow_baseline.hpp>
#include <growth/data/classification_tasks.hpp>
#include <growth/io/atomic_file.hpp>

namespace {

const std::vector<std::string>& verses() {
  static const auto v = growth::data::split_lines(growth::io::read_file(std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt"));
  return v;
}

std::size_t line_of(const std::string& verse) {
  const auto& v = verses();
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), verse) - v.begin());
}

// Some verses repeat word for word (the refrains of Psalm 107, ...): only unique ones have one line.
bool unique_verse(const std::string& verse) { return std::count(verses().begin(), verses().end(), verse) == 1; }

}  // namespace

TEST_CASE("kjv books: the verse counts sum to the corpus and each book starts where its first verse is") {
  using growth::data::kjv_books;
  std::size_t total = 0, ot = 0;
  for (std::size_t b = 0; b < kjv_books().size(); ++b) {
    total += kjv_books()[b].verses;
    if (b < growth::data::kjv_old_testament_books) ot += kjv_books()[b].verses;
  }
  CHECK(total == 31102);
  CHECK(ot == 23145);
  REQUIRE(verses().size() == 31102);
  const auto book = growth::data::kjv_book_of_lines(verses().size());
  // First verses of a few books (public text) sit at the line the table says.
  CHECK(verses()[0].starts_with("In the beginning God created"));
  CHECK(book[line_of("The book of the generation of Jesus Christ, the son of David, the son of Abraham.")] == 39);  // Matthew 1:1
  CHECK(book[line_of("The book of the generation of Jesus Christ, the son of David, the son of Abraham.") - 1] == 38);  // Malachi 4:6
  CHECK(book[line_of("Adam, Sheth, Enosh,")] == 12);  // 1 Chronicles 1:1
  CHECK(book[line_of("The song of songs, which is Solomon's.")] == 21);
  CHECK(book.back() == 65);
  CHECK_THROWS_AS(growth::data::kjv_book_of_lines(100), growth::error);
}

TEST_CASE("tasks: labels, sizes, a disjoint seeded split, and determinism") {
  using growth::data::make_task;
  const auto t = make_task("testament", verses(), 1);
  CHECK(t.label_names == std::vector<std::string>{"old", "new"});
  CHECK(!t.pair);
  CHECK(t.train.size() == 24881);
  CHECK(t.validation.size() == 3110);
  CHECK(t.test.size() == 3111);
  std::size_t nt = 0;
  for (const auto* split : {&t.train, &t.validation, &t.test})
    for (const auto& e : *split) nt += e.label == 1 ? 1 : 0;
  CHECK(nt == 7957);  // every New Testament verse, once
  const auto again = make_task("testament", verses(), 1);
  CHECK(again.test.front().a == t.test.front().a);
  CHECK(again.train.back().a == t.train.back().a);
  const auto other = make_task("testament", verses(), 2);
  CHECK(other.test.front().a != t.test.front().a);

  const auto b = make_task("book", verses(), 1);
  CHECK(b.label_names.size() == 66);
  CHECK(b.label_names[39] == "Matthew");
  const auto book = growth::data::kjv_book_of_lines(verses().size());
  for (std::size_t i = 0; i < 50; ++i)
    if (unique_verse(b.test[i].a)) CHECK(b.test[i].label == static_cast<int>(book[line_of(b.test[i].a)]));

  CHECK_THROWS_WITH_AS(make_task("sentiment", verses(), 1), doctest::Contains("testament, book, next-verse"), growth::error);
}

TEST_CASE("tasks: next-verse pairs are balanced, positives follow A, negatives come from A's book") {
  const auto t = growth::data::make_task("next-verse", verses(), 3);
  CHECK(t.pair);
  const auto book = growth::data::kjv_book_of_lines(verses().size());
  for (const auto* split : {&t.train, &t.validation, &t.test}) {
    std::size_t pos = 0;
    for (const auto& e : *split) pos += e.label == 1 ? 1 : 0;
    CHECK(std::abs(static_cast<double>(pos) / static_cast<double>(split->size()) - 0.5) < 0.01);
  }
  for (std::size_t i = 0; i < 200; ++i) {
    const auto& e = t.test[i];
    if (!unique_verse(e.a) || !unique_verse(e.b)) continue;
    const std::size_t a = line_of(e.a), b = line_of(e.b);
    CHECK(book[a] == book[b]);
    if (e.label == 1) CHECK(verses()[a + 1] == e.b);
    else CHECK(verses()[a + 1] != e.b);
    CHECK(e.a != e.b);
  }
}

TEST_CASE("tasks: encoding is [CLS] A [SEP] B [SEP] with segments, truncated longest first") {
  using namespace growth::data;
  wordpiece_tokenizer tok({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"});
  const std::vector<encoded_example> ex{{{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6}, 1}, {{7}, {6}, 0}};
  const std::vector<std::size_t> rows{0, 1};
  const auto bt = make_batch(tok, ex, rows, true, 16);
  REQUIRE(bt.inputs.seq_len == 16);  // 10 + 3 + 3 = 16 fits
  CHECK(bt.inputs.input_ids[0] == 2);
  CHECK(bt.inputs.input_ids[11] == 3);
  CHECK(bt.inputs.token_type_ids[11] == 0);
  CHECK(bt.inputs.token_type_ids[12] == 1);
  CHECK(bt.inputs.input_ids[15] == 3);
  CHECK(bt.inputs.token_type_ids[15] == 1);
  // Row 1: [CLS] c [SEP] b [SEP] then padding.
  const std::vector<int> row1(bt.inputs.input_ids.begin() + 16, bt.inputs.input_ids.begin() + 21);
  CHECK(row1 == std::vector<int>{2, 7, 3, 6, 3});
  CHECK(bt.inputs.attention_mask[16 + 5] == 0);
  CHECK(bt.inputs.input_ids[16 + 5] == 0);
  CHECK(bt.labels == std::vector<std::int32_t>{1, 0});
  // 15 positions: A loses one token (the longer segment), B keeps its 3.
  const auto cut = make_batch(tok, ex, std::vector<std::size_t>{0}, true, 15);
  CHECK(cut.inputs.seq_len == 15);
  CHECK(cut.inputs.input_ids[10] == 3);
  CHECK(std::count(cut.inputs.input_ids.begin(), cut.inputs.input_ids.end(), 6) == 3);
  // Both segments at the budget: B is cut first on a tie, then they alternate.
  const std::vector<encoded_example> tie{{{5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6, 6, 6, 6, 6, 6}, 0}};
  const auto tb = make_batch(tok, tie, std::vector<std::size_t>{0}, true, 15);
  CHECK(std::count(tb.inputs.input_ids.begin(), tb.inputs.input_ids.end(), 5) == 6);
  CHECK(std::count(tb.inputs.input_ids.begin(), tb.inputs.input_ids.end(), 6) == 6);
  CHECK_THROWS_AS(make_batch(tok, ex, rows, true, 14), growth::error);
  // One segment: [CLS] A [SEP], types 0.
  const auto single = make_batch(tok, ex, std::vector<std::size_t>{1}, false, 8);
  CHECK(single.inputs.input_ids == std::vector<std::int32_t>{2, 7, 3});
  CHECK(single.inputs.token_type_ids == std::vector<std::int32_t>{0, 0, 0});
}

TEST_CASE("baselines: majority class and bag-of-words logistic regression, deterministic") {
  const auto t = growth::data::make_task("testament", verses(), 1);
  const double maj = growth::data::majority_accuracy(t, t.test);
  CHECK(maj > 0.7);  // 23145 / 31102 of the verses are Old Testament
  CHECK(maj < 0.8);
  growth::data::bow_options o;
  o.epochs = 2;
  const auto r = growth::data::bow_logistic_regression(t, 1, o);
  const auto r2 = growth::data::bow_logistic_regression(t, 1, o);
  MESSAGE("testament: majority " << maj << ", bag of words " << r.test_accuracy << " (" << r.features << " features)");
  CHECK(r.test_accuracy == r2.test_accuracy);
  CHECK(r.test_accuracy > maj + 0.1);  // words do tell the testaments apart
}
