#pragma once
/// @file clm_data.hpp
/// Causal-LM data: a token stream packed into fixed-length blocks, the same deterministic train/validation
/// split as the masked-LM data (mlm_data.hpp), batching, and next-token labels (model::clm_batch).
///
/// Packing (GPT-2 / HF run_clm's group_texts): the stream (tokenize_corpus: the text line by line, all lines
/// concatenated) is cut into consecutive blocks of seq_len tokens, so block i covers stream tokens
/// [i S, (i+1) S). No [CLS] / [SEP] is added: a decoder reads running text. The final partial block is kept
/// and padded with [PAD] (attention_mask 0, label -100) when keep_partial, dropped otherwise.
///
/// Labels follow HF's convention (model/batch.hpp): labels = input_ids, NOT shifted, with -100 at padding;
/// the model scores position s's logits against labels[s + 1], so a full block of S tokens gives S - 1
/// targets.
///
/// Split: block i goes to validation when validation_every > 0 and i % validation_every ==
/// validation_every - 1 (mlm_dataset's rule), to training otherwise; fixed by the packing alone.
/// Training order: an epoch is a Fisher-Yates shuffle of the training blocks with growth::rng(seed, epoch)
/// (the same stream mlm_dataset uses), cut into full batches; nothing is random besides the order.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/batch.hpp"
#include "mlm_data.hpp"
#include "wordpiece.hpp"

namespace growth::data {

struct clm_packing_options {
  std::size_t seq_len = 128;
  std::size_t validation_every = 20;  ///< every k-th block is validation; 0 = no validation split
  bool keep_partial = true;           ///< pad and keep the last partial block
};

class clm_dataset {
 public:
  clm_dataset(const std::vector<std::int32_t>& stream, const wordpiece_tokenizer& tok, clm_packing_options pack = {})
      : pack_(pack), pad_(tok.pad_id()) {
    if (pack.seq_len < 2)
      throw error("packing seq_len", "at least 2 (a token and the next one to predict)", std::to_string(pack.seq_len));
    const auto vocab = static_cast<std::int32_t>(tok.vocab_size());
    for (std::size_t i = 0; i < stream.size(); ++i)
      if (stream[i] < 0 || stream[i] >= vocab)
        throw error("token stream element " + std::to_string(i), "an id in [0, " + std::to_string(vocab) + ")",
                    std::to_string(stream[i]));
    const std::size_t S = pack.seq_len;
    std::size_t n = stream.size() / S;
    if (pack.keep_partial && stream.size() % S != 0) ++n;
    ids_.assign(n * S, pad_);
    lengths_.resize(n);
    for (std::size_t s = 0; s < n; ++s) {
      const std::size_t begin = s * S, len = std::min(S, stream.size() - begin);
      std::copy(stream.begin() + static_cast<std::ptrdiff_t>(begin),
                stream.begin() + static_cast<std::ptrdiff_t>(begin + len), ids_.begin() + static_cast<std::ptrdiff_t>(s * S));
      lengths_[s] = len;
      const bool valid = pack.validation_every > 0 && s % pack.validation_every == pack.validation_every - 1;
      (valid ? valid_ : train_).push_back(s);
    }
  }

  [[nodiscard]] std::size_t seq_len() const { return pack_.seq_len; }
  [[nodiscard]] std::size_t num_sequences() const { return lengths_.size(); }
  [[nodiscard]] const std::vector<std::size_t>& train_sequences() const { return train_; }
  [[nodiscard]] const std::vector<std::size_t>& validation_sequences() const { return valid_; }
  /// The ids of block i (padded with [PAD] past its length).
  [[nodiscard]] std::span<const std::int32_t> sequence(std::size_t i) const {
    if (i >= num_sequences()) throw error("sequence index", "< " + std::to_string(num_sequences()), std::to_string(i));
    return {ids_.data() + i * pack_.seq_len, pack_.seq_len};
  }
  /// Real (unpadded) tokens of block i.
  [[nodiscard]] std::size_t length(std::size_t i) const {
    if (i >= num_sequences()) throw error("sequence index", "< " + std::to_string(num_sequences()), std::to_string(i));
    return lengths_[i];
  }

  /// A batch of the given blocks: input_ids, attention_mask (1 on real tokens), labels = input_ids with -100
  /// at padding (unshifted, model/batch.hpp).
  [[nodiscard]] model::clm_batch make_batch(const std::vector<std::size_t>& sequences) const {
    model::clm_batch b;
    b.batch_size = sequences.size();
    b.seq_len = pack_.seq_len;
    const std::size_t n = b.batch_size * b.seq_len;
    b.input_ids.resize(n);
    b.attention_mask.resize(n);
    b.labels.resize(n);
    b.sequence_index = sequences;
    for (std::size_t r = 0; r < sequences.size(); ++r) {
      const auto src = sequence(sequences[r]);
      const std::size_t len = lengths_[sequences[r]];
      for (std::size_t j = 0; j < b.seq_len; ++j) {
        const std::size_t k = r * b.seq_len + j;
        b.input_ids[k] = src[j];
        b.attention_mask[k] = j < len ? 1 : 0;
        b.labels[k] = j < len ? src[j] : model::ignore_label;
      }
    }
    return b;
  }

  /// The training blocks of an epoch in shuffled order (Fisher-Yates with growth::rng(seed, epoch), as
  /// mlm_dataset::epoch_order).
  [[nodiscard]] std::vector<std::size_t> epoch_order(std::uint64_t seed, std::size_t epoch) const {
    std::vector<std::size_t> order = train_;
    rng r(seed ^ 0x0123456789abcdefULL, epoch);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);
    return order;
  }
  /// Full training batches per epoch (the incomplete last one is dropped).
  [[nodiscard]] std::size_t train_batches_per_epoch(std::size_t batch_size) const {
    return batch_size == 0 ? 0 : train_.size() / batch_size;
  }
  /// Training batch `step` of `epoch`: rows from epoch_order.
  [[nodiscard]] model::clm_batch train_batch(std::uint64_t seed, std::size_t epoch, std::size_t step,
                                             std::size_t batch_size) const {
    const std::size_t per_epoch = train_batches_per_epoch(batch_size);
    if (step >= per_epoch)
      throw error("train_batch step", "< " + std::to_string(per_epoch) + " batches of " + std::to_string(batch_size) +
                                          " per epoch", std::to_string(step));
    const auto order = epoch_order(seed, epoch);
    return make_batch(std::vector<std::size_t>(order.begin() + static_cast<std::ptrdiff_t>(step * batch_size),
                                               order.begin() + static_cast<std::ptrdiff_t>((step + 1) * batch_size)));
  }

 private:
  clm_packing_options pack_;
  std::int32_t pad_;
  std::vector<std::int32_t> ids_;       ///< num_sequences x seq_len
  std::vector<std::size_t> lengths_;    ///< real tokens per block
  std::vector<std::size_t> train_, valid_;
};

}  // namespace growth::data
