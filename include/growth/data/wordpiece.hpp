#pragma once
/// @file wordpiece.hpp
/// A tokenizer that reproduces Hugging Face's BertTokenizer (slow, Python) for uncased vocabularies:
///  1. special tokens written literally in the text ("[MASK]", ...) are kept whole (HF's added-token split);
///  2. basic tokenizer: drop NUL, U+FFFD and control characters, map whitespace to ' ', put spaces around
///     CJK ideographs, split on whitespace; per word: lower-case, strip accents (NFD + drop Mn), split every
///     punctuation character off as its own token (see unicode.hpp for exactly what is covered);
///  3. WordPiece: greedy longest-match-first from the left, continuation pieces prefixed "##"; a word longer
///     than max_input_chars_per_word (100) code points, or one that cannot be covered, becomes [UNK].
/// Invalid UTF-8 bytes in the input are read as U+FFFD and therefore dropped (Python would have refused to
/// decode the file).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/utf8.hpp"
#include "unicode.hpp"

namespace growth::data {

/// The five BERT special tokens. A vocabulary we train puts them first, in this order (ids 0..4).
inline const std::vector<std::string>& special_token_strings() {
  static const std::vector<std::string> s{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  return s;
}

struct tokenizer_options {
  bool lowercase = true;      ///< HF do_lower_case
  bool strip_accents = true;  ///< HF strip_accents=None follows do_lower_case; only applied when lowercasing
  bool tokenize_chinese_chars = true;
  std::size_t max_input_chars_per_word = 100;
};

namespace detail {
inline std::u32string decode_lossy(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char32_t c = io::detail::decode_utf8(s, i);
    if (c == static_cast<char32_t>(-1)) {
      out.push_back(0xFFFD);
      ++i;
    } else {
      out.push_back(c);
    }
  }
  return out;
}
inline std::string encode(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) io::detail::append_utf8(out, c);
  return out;
}
}  // namespace detail

/// HF BasicTokenizer on text without special tokens; appends the words to out.
inline void basic_tokenize(std::string_view text, const tokenizer_options& opt, std::vector<std::string>& out) {
  const std::u32string cps = detail::decode_lossy(text);
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(detail::encode(word));
    word.clear();
  };
  for (char32_t c : cps) {
    if (c == 0 || c == 0xFFFD || unicode::is_control(c)) continue;
    if (unicode::is_whitespace(c)) {
      flush();
      continue;
    }
    if (opt.tokenize_chinese_chars && unicode::is_chinese_char(c)) {
      flush();
      out.push_back(detail::encode(std::u32string(1, c)));
      continue;
    }
    if (opt.lowercase) {
      c = unicode::to_lower(c);
      if (opt.strip_accents) {
        if (unicode::is_combining_mark(c)) continue;
        c = unicode::strip_accent(c);
      }
    }
    if (unicode::is_punctuation(c)) {
      flush();
      out.push_back(detail::encode(std::u32string(1, c)));
      continue;
    }
    word.push_back(c);
  }
  flush();
}

class wordpiece_tokenizer {
 public:
  /// vocab: one token per id. The five special tokens must be present (anywhere).
  explicit wordpiece_tokenizer(std::vector<std::string> vocab, tokenizer_options opt = {})
      : vocab_(std::move(vocab)), opt_(opt) {
    if (vocab_.size() > static_cast<std::size_t>(INT32_MAX))
      throw error("vocabulary", "fewer than 2^31 tokens", std::to_string(vocab_.size()));
    // Like HF load_vocab (a dict filled line by line): a duplicated token maps to its last line.
    for (std::size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<std::int32_t>(i);
    std::int32_t* dst[] = {&pad_, &unk_, &cls_, &sep_, &mask_};
    const auto& sp = special_token_strings();
    for (std::size_t k = 0; k < sp.size(); ++k) {
      *dst[k] = token_to_id(sp[k]);
      if (*dst[k] < 0) throw error("vocabulary", "the special token " + sp[k], "missing");
    }
  }
  /// Reads vocab.txt (one token per line, id = line index; only "\n" is stripped, like HF load_vocab).
  static wordpiece_tokenizer from_file(const std::filesystem::path& p, tokenizer_options opt = {}) {
    const std::string text = io::read_file(p);
    std::vector<std::string> v;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      v.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    try {
      return wordpiece_tokenizer(std::move(v), opt);
    } catch (const error& e) {
      throw error(p.string() + ": " + e.what());
    }
  }

  [[nodiscard]] const std::vector<std::string>& vocab() const { return vocab_; }
  [[nodiscard]] std::size_t vocab_size() const { return vocab_.size(); }
  [[nodiscard]] const tokenizer_options& options() const { return opt_; }
  /// The id of a token, -1 when absent.
  [[nodiscard]] std::int32_t token_to_id(std::string_view t) const {
    auto it = ids_.find(std::string(t));
    return it == ids_.end() ? -1 : it->second;
  }
  [[nodiscard]] const std::string& id_to_token(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_.size())
      throw error("token id", "in [0, " + std::to_string(vocab_.size()) + ")", std::to_string(id));
    return vocab_[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] std::int32_t pad_id() const { return pad_; }
  [[nodiscard]] std::int32_t unk_id() const { return unk_; }
  [[nodiscard]] std::int32_t cls_id() const { return cls_; }
  [[nodiscard]] std::int32_t sep_id() const { return sep_; }
  [[nodiscard]] std::int32_t mask_id() const { return mask_; }
  [[nodiscard]] bool is_special(std::int32_t id) const {
    return id == pad_ || id == unk_ || id == cls_ || id == sep_ || id == mask_;
  }

  /// The word-level tokens of the basic tokenizer, with literal special tokens kept whole.
  [[nodiscard]] std::vector<std::string> basic_tokens(std::string_view text) const {
    std::vector<std::string> out;
    const auto& sp = special_token_strings();
    std::size_t pos = 0;
    while (pos < text.size()) {
      // earliest special token occurrence (longest on ties is irrelevant: no special is a prefix of another)
      std::size_t best = std::string_view::npos, len = 0;
      for (const auto& s : sp) {
        const std::size_t f = text.find(s, pos);
        if (f < best) best = f, len = s.size();
      }
      basic_tokenize(text.substr(pos, best == std::string_view::npos ? std::string_view::npos : best - pos), opt_, out);
      if (best == std::string_view::npos) break;
      out.emplace_back(text.substr(best, len));
      pos = best + len;
    }
    return out;
  }

  /// WordPiece pieces of one basic token, appended to out as ids.
  void wordpiece(const std::string& word, std::vector<std::int32_t>& out) const {
    if (const std::int32_t whole = token_to_id(word); whole >= 0) {  // fast path, also keeps specials whole
      out.push_back(whole);
      return;
    }
    // Code point boundaries (byte offsets) of the word.
    std::vector<std::size_t> cut{0};
    for (std::size_t i = 0; i < word.size();) {
      if (io::detail::decode_utf8(word, i) == static_cast<char32_t>(-1)) ++i;
      cut.push_back(i);
    }
    const std::size_t n = cut.size() - 1;
    if (n > opt_.max_input_chars_per_word) {
      out.push_back(unk_);
      return;
    }
    const std::size_t mark = out.size();
    std::string piece;
    for (std::size_t start = 0; start < n;) {
      std::int32_t found = -1;
      std::size_t end = n;
      for (; end > start; --end) {
        piece.assign(start > 0 ? "##" : "");
        piece.append(word, cut[start], cut[end] - cut[start]);
        found = token_to_id(piece);
        if (found >= 0) break;
      }
      if (found < 0) {  // the word cannot be covered: all of it becomes [UNK]
        out.resize(mark);
        out.push_back(unk_);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }

  /// Token ids of text (no [CLS]/[SEP] added).
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    for (const auto& w : basic_tokens(text)) wordpiece(w, ids);
    return ids;
  }
  /// Token strings of text (HF tokenizer.tokenize).
  [[nodiscard]] std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (auto id : encode(text)) out.push_back(vocab_[static_cast<std::size_t>(id)]);
    return out;
  }
  /// Joins tokens with spaces and glues "##" pieces to their word (HF convert_tokens_to_string).
  [[nodiscard]] std::string decode(const std::vector<std::int32_t>& ids) const {
    std::string s;
    for (auto id : ids) {
      const std::string& t = id_to_token(id);
      if (t.size() > 2 && t[0] == '#' && t[1] == '#') {
        s.append(t, 2);
      } else {
        if (!s.empty()) s += ' ';
        s += t;
      }
    }
    return s;
  }

 private:
  std::vector<std::string> vocab_;
  tokenizer_options opt_;
  std::unordered_map<std::string, std::int32_t> ids_;
  std::int32_t pad_ = -1, unk_ = -1, cls_ = -1, sep_ = -1, mask_ = -1;
};

}  // namespace growth::data
