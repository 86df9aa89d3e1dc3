#pragma once
/// @file train/clm_data.hpp
/// The trainer's causal-LM data, the counterpart of data_source (train/data.hpp) for decoder LMs: a
/// full-length validation set and training batches at any sequence length that are a pure function of
/// (seed, global step, seq_len, batch size).
///
/// As for the MLM data, the split is made once at the target length: the stream is packed into blocks of
/// full_seq_len (data::clm_dataset), every validation_every-th block is validation, and the other blocks,
/// concatenated, are the training stream that each stage packs at its own seq_len with no further split (a
/// stage on shorter sequences never sees validation text). Training batch t of length S is epoch e = t / P,
/// batch t mod P of that packing's train_batch(seed, e, ...), P = full batches per epoch at length S.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/clm_data.hpp"
#include "../data/wordpiece.hpp"
#include "../model/batch.hpp"
#include "data.hpp"

namespace growth::train {

/// Training and validation next-token data over one token stream (see the file comment). data_options'
/// fields mean what they mean for data_source.
class clm_data_source {
 public:
  clm_data_source(data::wordpiece_tokenizer tok, const std::vector<std::int32_t>& stream, data_options opt = {})
      : tok_(std::move(tok)), opt_(opt) {
    if (opt.eval_batch_size == 0) throw error("data_options eval_batch_size", "> 0", "0");
    full_ = std::make_unique<data::clm_dataset>(
        stream, tok_, data::clm_packing_options{.seq_len = opt.full_seq_len, .validation_every = opt.validation_every,
                                                .keep_partial = false});
    train_stream_.reserve(full_->train_sequences().size() * opt.full_seq_len);
    for (std::size_t s : full_->train_sequences()) {
      const auto seq = full_->sequence(s);
      train_stream_.insert(train_stream_.end(), seq.begin(), seq.end());
    }
    valid_ = full_->validation_sequences();
    if (opt.max_validation_sequences > 0 && valid_.size() > opt.max_validation_sequences)
      valid_.resize(opt.max_validation_sequences);
    if (valid_.empty())
      throw error("validation set", "at least one full-length validation sequence of " + std::to_string(opt.full_seq_len) +
                                        " tokens", "none (corpus too small for this seq_len / validation_every)");
  }

  [[nodiscard]] const data::wordpiece_tokenizer& tokenizer() const { return tok_; }
  [[nodiscard]] const data_options& options() const { return opt_; }
  [[nodiscard]] std::size_t train_tokens() const { return train_stream_.size(); }
  [[nodiscard]] std::size_t validation_sequences() const { return valid_.size(); }

  /// The training set packed at seq_len (built on first use, then kept).
  const data::clm_dataset& train_set(std::size_t seq_len) {
    auto it = train_.find(seq_len);
    if (it != train_.end()) return *it->second;
    auto ds = std::make_unique<data::clm_dataset>(
        train_stream_, tok_, data::clm_packing_options{.seq_len = seq_len, .validation_every = 0, .keep_partial = false});
    return *train_.emplace(seq_len, std::move(ds)).first->second;
  }

  /// Training batch for global step `step` (0-based) at length seq_len: a pure function of its arguments.
  model::clm_batch train_batch(std::uint64_t seed, std::size_t step, std::size_t seq_len, std::size_t batch_size) {
    const auto& ds = train_set(seq_len);
    const std::size_t per_epoch = ds.train_batches_per_epoch(batch_size);
    if (per_epoch == 0)
      throw error("training data at seq_len " + std::to_string(seq_len),
                  "at least one batch of " + std::to_string(batch_size) + " sequences",
                  std::to_string(ds.train_sequences().size()) + " sequences");
    return ds.train_batch(seed, step / per_epoch, step % per_epoch, batch_size);
  }

  /// The validation batches: full length, in block order, eval_batch_size blocks each (built once).
  const std::vector<model::clm_batch>& validation_batches() {
    if (!valid_batches_.empty()) return valid_batches_;
    for (std::size_t b = 0; b < valid_.size(); b += opt_.eval_batch_size) {
      const std::size_t e = std::min(valid_.size(), b + opt_.eval_batch_size);
      valid_batches_.push_back(full_->make_batch(std::vector<std::size_t>(
          valid_.begin() + static_cast<std::ptrdiff_t>(b), valid_.begin() + static_cast<std::ptrdiff_t>(e))));
    }
    return valid_batches_;
  }

 private:
  data::wordpiece_tokenizer tok_;
  data_options opt_;
  std::unique_ptr<data::clm_dataset> full_;
  std::vector<std::int32_t> train_stream_;
  std::vector<std::size_t> valid_;
  std::map<std::size_t, std::unique_ptr<data::clm_dataset>> train_;
  std::vector<model::clm_batch> valid_batches_;
};

}  // namespace growth::train
