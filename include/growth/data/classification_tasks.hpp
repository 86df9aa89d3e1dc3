#pragma once
/// @file classification_tasks.hpp
/// Downstream classification tasks built from the committed corpus (data/kjv.txt, one verse per line;
/// labels from the public verse counts of kjv_books.hpp), their deterministic train / validation / test
/// split, and their encoding into BERT inputs (data/README.md, "Downstream tasks"):
///   testament  : which testament verse v is from (2 classes: old, new);
///   book       : which of the 66 books verse v is from (66 classes, canonical order);
///   next-verse : a pair (A, B), A a verse that is not the last of its book: is B the verse that follows A?
///                Balanced: every other anchor (in the seeded order) gets its true next verse (label 1,
///                "next"), the others a random verse of the same book that is neither A nor A's successor
///                (label 0, "not_next"). Word counts barely tell these apart: it needs context.
/// Split: the examples in a seeded random order (Fisher-Yates over rng(seed, stream of the task)); the
/// first 80% train, the next 10% validation, the last 10% test (rounded down; test takes the rest).
/// Encoding (BERT's): [CLS] A [SEP] for one verse, [CLS] A [SEP] B [SEP] for a pair with token_type_ids 0
/// up to and including the first [SEP] and 1 after it; sequences longer than the model's positions are
/// truncated longest-first (HF's default: one token off the longer segment at a time); a batch is padded
/// to its longest sequence ([PAD], attention_mask 0).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/classifier_layout.hpp"
#include "kjv_books.hpp"
#include "wordpiece.hpp"

namespace growth::data {

/// One example: a verse (b empty) or a pair of verses, and its class.
struct text_example {
  std::string a, b;
  std::int32_t label = 0;
};

struct classification_task {
  std::string name;
  bool pair = false;                     ///< examples are (A, B) pairs
  std::vector<std::string> label_names;  ///< label i's name (config.json id2label)
  std::vector<text_example> train, validation, test;
};

/// The tasks make_task builds, in the order `growth study` reports them.
inline const std::vector<std::string>& task_names() {
  static const std::vector<std::string> n{"testament", "book", "next-verse"};
  return n;
}

/// Fewest positions a model needs for a task: [CLS] + 6 tokens + [SEP] for one verse, [CLS] + 6 + [SEP] +
/// 6 + [SEP] for a pair (fewer would leave too little of each verse to classify).
inline std::size_t min_positions(bool pair) { return pair ? 15 : 8; }

/// The lines of a text (a trailing newline does not make an empty last line).
inline std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

namespace detail {
template <class V>
void seeded_shuffle(std::vector<V>& v, std::uint64_t seed, std::uint64_t stream) {
  rng r(seed, stream);
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
}
inline void split_80_10_10(std::vector<text_example>&& all, classification_task& t) {
  const std::size_t n = all.size(), ntr = n * 8 / 10, nva = n / 10;
  t.train.assign(std::make_move_iterator(all.begin()), std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(ntr)));
  t.validation.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(ntr)),
                      std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(ntr + nva)));
  t.test.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(ntr + nva)), std::make_move_iterator(all.end()));
}
}  // namespace detail

/// Builds task `name` over the verses (data/kjv.txt's lines) with split seed `seed`. Throws growth::error
/// for an unknown task name or a corpus that is not the 31,102 KJV verses.
inline classification_task make_task(std::string_view name, const std::vector<std::string>& verses, std::uint64_t seed) {
  const auto& names = task_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) throw error("task", "one of testament, book, next-verse", "\"" + std::string(name) + "\"");
  const auto stream = 0x7a5c0000ULL + static_cast<std::uint64_t>(it - names.begin());
  const auto book = kjv_book_of_lines(verses.size());
  classification_task t;
  t.name = std::string(name);
  std::vector<text_example> all;
  if (name == "testament" || name == "book") {
    const bool testament = name == "testament";
    if (testament) t.label_names = {"old", "new"};
    else
      for (const auto& b : kjv_books()) t.label_names.emplace_back(b.name);
    for (std::size_t i = 0; i < verses.size(); ++i) {
      const auto label = testament ? (book[i] >= kjv_old_testament_books ? 1 : 0) : book[i];
      all.push_back({verses[i], {}, static_cast<std::int32_t>(label)});
    }
    detail::seeded_shuffle(all, seed, stream);
  } else {  // next-verse
    t.pair = true;
    t.label_names = {"not_next", "next"};
    std::vector<std::size_t> first(kjv_books().size() + 1, 0);  // first line of each book, then the end
    for (std::size_t b = 0; b < kjv_books().size(); ++b) first[b + 1] = first[b] + kjv_books()[b].verses;
    std::vector<std::size_t> anchors;
    for (std::size_t i = 0; i + 1 < verses.size(); ++i)
      if (book[i] == book[i + 1]) anchors.push_back(i);
    detail::seeded_shuffle(anchors, seed, stream);
    rng r(seed, stream + 0x100);
    for (std::size_t k = 0; k < anchors.size(); ++k) {
      const std::size_t i = anchors[k], lo = first[book[i]], n = first[book[i] + 1] - lo;
      if (k % 2 == 0) {
        all.push_back({verses[i], verses[i + 1], 1});
        continue;
      }
      // A verse of the same book other than A and its successor: n - 2 choices (every book has >= 13).
      std::size_t j = lo + r.below(n - 2);
      if (j >= i) ++j;
      if (j >= i + 1) ++j;
      all.push_back({verses[i], verses[j], 0});
    }
  }
  detail::split_80_10_10(std::move(all), t);
  return t;
}

/// An example as WordPiece ids (without special tokens).
struct encoded_example {
  std::vector<std::int32_t> a, b;
  std::int32_t label = 0;
};

inline std::vector<std::int32_t> encode_text(const wordpiece_tokenizer& tok, std::string_view text) {
  std::vector<std::int32_t> ids;
  for (const auto& w : tok.basic_tokens(text)) tok.wordpiece(w, ids);
  return ids;
}

inline std::vector<encoded_example> encode_examples(const wordpiece_tokenizer& tok, std::span<const text_example> ex) {
  std::vector<encoded_example> out;
  out.reserve(ex.size());
  for (const auto& e : ex) out.push_back({encode_text(tok, e.a), e.b.empty() ? std::vector<std::int32_t>{} : encode_text(tok, e.b), e.label});
  return out;
}

/// The batch of examples ex[rows[0]], ex[rows[1]], ... at most max_len positions each (file comment).
/// pair: whether the examples are pairs (B may then be empty only if the text was).
inline model::classification_batch make_batch(const wordpiece_tokenizer& tok, std::span<const encoded_example> ex,
                                              std::span<const std::size_t> rows, bool pair, std::size_t max_len) {
  if (max_len < min_positions(pair))
    throw error("sequence length", "at least " + std::to_string(min_positions(pair)), std::to_string(max_len));
  const std::size_t specials = pair ? 3 : 2, budget = max_len - specials;
  std::vector<std::size_t> la(rows.size()), lb(rows.size());
  std::size_t S = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& e = ex[rows[r]];
    std::size_t a = e.a.size(), b = pair ? e.b.size() : 0;
    while (a + b > budget) (a > b ? a : b) -= 1;  // longest first (ties: B, as HF drops from the second)
    la[r] = a;
    lb[r] = b;
    S = std::max(S, a + b + specials);
  }
  model::classification_batch bt{model::mlm_batch(rows.size(), S), {}};
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& e = ex[rows[r]];
    std::int32_t* ids = bt.inputs.input_ids.data() + r * S;
    std::int32_t* tt = bt.inputs.token_type_ids.data() + r * S;
    std::int32_t* am = bt.inputs.attention_mask.data() + r * S;
    std::size_t p = 0;
    ids[p++] = tok.cls_id();
    for (std::size_t i = 0; i < la[r]; ++i) ids[p++] = e.a[i];
    ids[p++] = tok.sep_id();
    if (pair) {
      for (std::size_t i = 0; i < lb[r]; ++i) tt[p] = 1, ids[p++] = e.b[i];
      tt[p] = 1;
      ids[p++] = tok.sep_id();
    }
    for (std::size_t q = p; q < S; ++q) {
      ids[q] = tok.pad_id();
      am[q] = 0;
    }
    bt.labels.push_back(e.label);
  }
  return bt;
}

/// Accuracy of always answering the most frequent training label (ties: the smaller label) on `eval`.
inline double majority_accuracy(const classification_task& t, std::span<const text_example> eval) {
  std::vector<std::size_t> count(t.label_names.size(), 0);
  for (const auto& e : t.train) ++count[static_cast<std::size_t>(e.label)];
  const auto major = static_cast<std::int32_t>(std::max_element(count.begin(), count.end()) - count.begin());
  if (eval.empty()) return 0;
  std::size_t hit = 0;
  for (const auto& e : eval) hit += e.label == major ? 1 : 0;
  return static_cast<double>(hit) / static_cast<double>(eval.size());
}

}  // namespace growth::data
