#pragma once
/// @file mlm_data.hpp
/// Masked-LM data: a token stream packed into fixed-length sequences, a deterministic train/validation
/// split, batching, and BERT's masking rule.
///
/// Packing: the stream (tokenize_corpus: the text line by line, all lines concatenated) is cut into
/// consecutive chunks of seq_len - 2 tokens; each becomes [CLS] chunk [SEP], so sequence i covers stream
/// tokens [i (S-2), (i+1)(S-2)). The final partial chunk is kept and padded with [PAD] (attention_mask 0)
/// when keep_partial, dropped otherwise. The paper's truncation view (the same model trained on shorter
/// sequences first, with proportionally fewer masks) is simply another mlm_dataset with a smaller seq_len:
/// masking is a per-token rate, so the number of predictions scales with the length.
///
/// Split: sequence i goes to validation when validation_every > 0 and i % validation_every ==
/// validation_every - 1 (5% for the default 20), to training otherwise. Fixed by the packing alone, so any
/// two runs with the same corpus, vocabulary and seq_len validate on the same text.
///
/// Masking (BERT, Devlin et al. 2019; HF DataCollatorForLanguageModeling): every position whose token is
/// not [PAD], [CLS], [SEP] or [MASK] is selected with probability mask_prob (0.15; a schedule's
/// masked_per_mille / 1000 in training); a selected position gets [MASK]
/// with probability 0.8, a random token with 0.1 (uniform over the vocabulary minus those four special
/// tokens), and keeps its token with 0.1. labels = the original id at selected positions, -100 elsewhere.
/// The random stream is growth::rng(seed, sequence index), so a sequence's mask depends only on the seed
/// and on which sequence it is: not on the batch size, the batch order or the thread that builds it.
/// Training uses seed mix64(seed, epoch) (fresh masks each epoch, like RoBERTa's dynamic masking);
/// validation always uses validation_mask_seed, so validation losses are comparable across runs, models
/// and growth stages.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/batch.hpp"
#include "wordpiece.hpp"

namespace growth::data {

struct masking_options {
  double mask_prob = 0.15;       ///< fraction of eligible tokens selected for prediction
  double replace_mask = 0.8;     ///< of the selected: replaced by [MASK]
  double replace_random = 0.1;   ///< of the selected: replaced by a random token (the rest stay unchanged)
};

struct packing_options {
  std::size_t seq_len = 128;
  std::size_t validation_every = 20;  ///< every k-th sequence is validation; 0 = no validation split
  bool keep_partial = true;           ///< pad and keep the last partial chunk
};

/// Tokenises a text line by line into one stream of ids (no [CLS]/[SEP]).
inline std::vector<std::int32_t> tokenize_corpus(const wordpiece_tokenizer& tok, std::string_view text) {
  std::vector<std::int32_t> ids;
  std::vector<std::string> words;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    for (const auto& w : tok.basic_tokens(text.substr(start, nl - start))) tok.wordpiece(w, ids);
    start = nl + 1;
  }
  return ids;
}

class mlm_dataset {
 public:
  static constexpr std::uint64_t validation_mask_seed = 0x7a11da7e5eedULL;

  mlm_dataset(const std::vector<std::int32_t>& stream, const wordpiece_tokenizer& tok, packing_options pack = {},
              masking_options mask = {})
      : pack_(pack),
        mask_opt_(mask),
        vocab_size_(static_cast<std::int32_t>(tok.vocab_size())),
        pad_(tok.pad_id()),
        cls_(tok.cls_id()),
        sep_(tok.sep_id()),
        mask_(tok.mask_id()) {
    if (pack.seq_len < 3) throw error("packing seq_len", "at least 3 ([CLS] token [SEP])", std::to_string(pack.seq_len));
    check_masking(mask);
    if (vocab_size_ <= 4) throw error("vocabulary", "regular tokens besides the special ones", "none");
    for (std::size_t i = 0; i < stream.size(); ++i)
      if (stream[i] < 0 || stream[i] >= vocab_size_)
        throw error("token stream element " + std::to_string(i), "an id in [0, " + std::to_string(vocab_size_) + ")",
                    std::to_string(stream[i]));
    const std::size_t body = pack.seq_len - 2;
    std::size_t n = stream.size() / body;
    if (pack.keep_partial && stream.size() % body != 0) ++n;
    ids_.assign(n * pack.seq_len, pad_);
    for (std::size_t s = 0; s < n; ++s) {
      std::int32_t* row = ids_.data() + s * pack.seq_len;
      const std::size_t begin = s * body, len = std::min(body, stream.size() - begin);
      row[0] = cls_;
      std::copy(stream.begin() + static_cast<std::ptrdiff_t>(begin),
                stream.begin() + static_cast<std::ptrdiff_t>(begin + len), row + 1);
      row[len + 1] = sep_;
      const bool valid = pack.validation_every > 0 && s % pack.validation_every == pack.validation_every - 1;
      (valid ? valid_ : train_).push_back(s);
    }
  }

  static void check_masking(const masking_options& mask) {
    if (!(mask.mask_prob >= 0 && mask.mask_prob <= 1 && mask.replace_mask >= 0 && mask.replace_random >= 0 &&
          mask.replace_mask + mask.replace_random <= 1))
      throw error("masking_options", "probabilities in [0, 1] with replace_mask + replace_random <= 1",
                  std::to_string(mask.mask_prob) + ", " + std::to_string(mask.replace_mask) + ", " +
                      std::to_string(mask.replace_random));
  }

  [[nodiscard]] std::size_t seq_len() const { return pack_.seq_len; }
  [[nodiscard]] std::size_t num_sequences() const { return ids_.size() / pack_.seq_len; }
  [[nodiscard]] const std::vector<std::size_t>& train_sequences() const { return train_; }
  [[nodiscard]] const std::vector<std::size_t>& validation_sequences() const { return valid_; }
  /// The unmasked ids of packed sequence i ([CLS] ... [SEP] [PAD]...).
  [[nodiscard]] std::span<const std::int32_t> sequence(std::size_t i) const {
    if (i >= num_sequences()) throw error("sequence index", "< " + std::to_string(num_sequences()), std::to_string(i));
    return {ids_.data() + i * pack_.seq_len, pack_.seq_len};
  }
  [[nodiscard]] bool is_maskable(std::int32_t id) const { return id != pad_ && id != cls_ && id != sep_ && id != mask_; }

  /// Masks sequence i with the stream growth::rng(seed, i); writes S input ids and S labels.
  void mask(std::size_t i, std::uint64_t seed, std::int32_t* input_ids, std::int32_t* labels) const {
    mask(i, seed, input_ids, labels, mask_opt_);
  }
  /// The same with other masking options (e.g. a schedule's masked_per_mille); checked like the constructor's.
  void mask(std::size_t i, std::uint64_t seed, std::int32_t* input_ids, std::int32_t* labels,
            const masking_options& mask_opt) const {
    check_masking(mask_opt);
    const auto src = sequence(i);
    rng r(seed, i);
    for (std::size_t j = 0; j < src.size(); ++j) {
      const std::int32_t t = src[j];
      input_ids[j] = t;
      labels[j] = model::ignore_label;
      if (!is_maskable(t) || !(r.uniform() < mask_opt.mask_prob)) continue;
      labels[j] = t;
      const double v = r.uniform();
      if (v < mask_opt.replace_mask) {
        input_ids[j] = mask_;
      } else if (v < mask_opt.replace_mask + mask_opt.replace_random) {
        std::int32_t x;
        do x = static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(vocab_size_)));
        while (!is_maskable(x));
        input_ids[j] = x;
      }
    }
  }

  /// A batch of the given sequences, masked with seed.
  [[nodiscard]] model::mlm_batch make_batch(const std::vector<std::size_t>& sequences, std::uint64_t seed) const {
    return make_batch(sequences, seed, mask_opt_);
  }
  [[nodiscard]] model::mlm_batch make_batch(const std::vector<std::size_t>& sequences, std::uint64_t seed,
                                     const masking_options& mask_opt) const {
    check_masking(mask_opt);
    model::mlm_batch b;
    b.batch_size = sequences.size();
    b.seq_len = pack_.seq_len;
    const std::size_t n = b.batch_size * b.seq_len;
    b.input_ids.resize(n);
    b.labels.resize(n);
    b.token_type_ids.assign(n, 0);
    b.attention_mask.resize(n);
    b.sequence_index = sequences;
    for (std::size_t r = 0; r < sequences.size(); ++r) {
      mask(sequences[r], seed, b.input_ids.data() + r * b.seq_len, b.labels.data() + r * b.seq_len, mask_opt);
      const auto src = sequence(sequences[r]);
      for (std::size_t j = 0; j < b.seq_len; ++j) b.attention_mask[r * b.seq_len + j] = src[j] != pad_ ? 1 : 0;
    }
    return b;
  }

  /// The training sequences of an epoch in shuffled order (Fisher-Yates with growth::rng(seed, epoch)).
  [[nodiscard]] std::vector<std::size_t> epoch_order(std::uint64_t seed, std::size_t epoch) const {
    std::vector<std::size_t> order = train_;
    rng r(seed ^ 0x0123456789abcdefULL, epoch);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);
    return order;
  }
  /// Full training batches per epoch (the incomplete last one is dropped so every step has batch_size rows).
  [[nodiscard]] std::size_t train_batches_per_epoch(std::size_t batch_size) const {
    return batch_size == 0 ? 0 : train_.size() / batch_size;
  }
  /// Training batch `step` of `epoch`: rows from epoch_order, masked with mix64(seed, epoch).
  [[nodiscard]] model::mlm_batch train_batch(std::uint64_t seed, std::size_t epoch, std::size_t step, std::size_t batch_size) const {
    return train_batch(seed, epoch, step, batch_size, mask_opt_);
  }
  [[nodiscard]] model::mlm_batch train_batch(std::uint64_t seed, std::size_t epoch, std::size_t step, std::size_t batch_size,
                                      const masking_options& mask_opt) const {
    const std::size_t per_epoch = train_batches_per_epoch(batch_size);
    if (step >= per_epoch)
      throw error("train_batch step", "< " + std::to_string(per_epoch) + " batches of " + std::to_string(batch_size) +
                                          " per epoch", std::to_string(step));
    const auto order = epoch_order(seed, epoch);
    std::vector<std::size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(step * batch_size),
                                  order.begin() + static_cast<std::ptrdiff_t>((step + 1) * batch_size));
    return make_batch(rows, mix64(seed ^ mix64(epoch)), mask_opt);
  }
  /// Validation batches in fixed order; the last one may be smaller.
  [[nodiscard]] std::size_t validation_batches(std::size_t batch_size) const {
    return batch_size == 0 ? 0 : (valid_.size() + batch_size - 1) / batch_size;
  }
  /// Validation batch k, always masked with validation_mask_seed.
  [[nodiscard]] model::mlm_batch validation_batch(std::size_t k, std::size_t batch_size) const {
    if (k >= validation_batches(batch_size))
      throw error("validation_batch index", "< " + std::to_string(validation_batches(batch_size)), std::to_string(k));
    const std::size_t begin = k * batch_size, end = std::min(valid_.size(), begin + batch_size);
    return make_batch(std::vector<std::size_t>(valid_.begin() + static_cast<std::ptrdiff_t>(begin),
                                               valid_.begin() + static_cast<std::ptrdiff_t>(end)),
                      validation_mask_seed);
  }

 private:
  packing_options pack_;
  masking_options mask_opt_;
  std::int32_t vocab_size_, pad_, cls_, sep_, mask_;
  std::vector<std::int32_t> ids_;  ///< num_sequences x seq_len, unmasked
  std::vector<std::size_t> train_, valid_;
};

/// Entropy (nats) of the token frequencies of a stream, H = -sum_t p_t log p_t: the MLM loss plateau of a
/// model that ignores context and predicts every masked token from its frequency alone. A trained model
/// must get well below it to show it uses the context.
template <class Int>
double unigram_entropy(const std::vector<Int>& ids) {
  std::map<Int, std::size_t> n;
  for (Int t : ids) ++n[t];
  double h = 0;
  const double total = static_cast<double>(ids.size());
  for (const auto& [t, c] : n) {
    const double p = static_cast<double>(c) / total;
    h -= p * std::log(p);
  }
  return h;
}

}  // namespace growth::data
