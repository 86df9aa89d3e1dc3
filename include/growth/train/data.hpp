#pragma once
/// @file train/data.hpp
/// The trainer's data: a corpus tokenised once (cached on disk, keyed by a hash of the vocabulary and of
/// the text), a full-length validation set with fixed masks, and training batches at any sequence length
/// that are a pure function of (seed, global step, seq_len).
///
/// Why the split is made at full length and training sequences are re-packed from the training part only:
/// a truncated stage trains on shorter sequences, and packing the whole stream again at that length would
/// put validation text into its training data. Here the stream is packed once at the target length; every
/// validation_every-th sequence is validation (data::mlm_dataset's rule); the bodies of the other
/// sequences are concatenated into the training stream, which each stage packs at its own seq_len with no
/// further split. Masking keeps one rate at every length (the schedule's masked_per_mille, BERT's 150 =
/// 15% by default), so a sequence half as long gets half the predictions (the paper's truncation view).
/// The validation set is masked at the same rate (one fixed-mask set per rate).
///
/// Determinism: training batch t (0-based global step) of length S is epoch e = t / P, batch t mod P of
/// data::mlm_dataset::train_batch(seed, e, ...), P = full batches per epoch at length S: rows and masks
/// depend only on (seed, t, S, batch size), never on what ran before, so a resumed run sees the same data.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../model/batch.hpp"
#include "../data/mlm_data.hpp"
#include "../data/wordpiece.hpp"
#include "../io/atomic_file.hpp"

namespace growth::train {

/// FNV-1a 64 over bytes, continuing from h.
inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// Hash of a vocabulary (tokens and their order).
inline std::uint64_t vocab_hash(const std::vector<std::string>& vocab) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& t : vocab) {
    h = fnv1a(t, h);
    h = fnv1a(std::string_view("\n", 1), h);
  }
  return h;
}

/// Tokenises `text` line by line (data::tokenize_corpus). With a non-empty cache_dir the ids are cached in
/// cache_dir/tokens-<vocab hash>-<text hash>.bin (raw int32, written atomically) and read back next time;
/// a cache file whose size is not a multiple of 4 or holds out-of-range ids is ignored and rewritten.
inline std::vector<std::int32_t> tokenize_cached(const data::wordpiece_tokenizer& tok, std::string_view text,
                                                 const std::filesystem::path& cache_dir) {
  if (cache_dir.empty()) return data::tokenize_corpus(tok, text);
  char name[96];
  std::snprintf(name, sizeof name, "tokens-%016llx-%016llx.bin", static_cast<unsigned long long>(vocab_hash(tok.vocab())),
                static_cast<unsigned long long>(fnv1a(text)));
  const auto path = cache_dir / name;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    const std::string bytes = io::read_file(path);
    if (bytes.size() % sizeof(std::int32_t) == 0) {
      std::vector<std::int32_t> ids(bytes.size() / sizeof(std::int32_t));
      std::memcpy(ids.data(), bytes.data(), bytes.size());
      bool ok = true;
      for (auto id : ids) ok = ok && id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size();
      if (ok) return ids;
    }
  }
  auto ids = data::tokenize_corpus(tok, text);
  std::filesystem::create_directories(cache_dir);
  io::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(std::int32_t)));
  return ids;
}

struct data_options {
  std::size_t full_seq_len = 128;         ///< the target length: validation sequences have it
  std::size_t validation_every = 20;      ///< every k-th full-length sequence is validation (5%)
  std::size_t max_validation_sequences = 0;  ///< use only the first n validation sequences (0 = all)
  std::size_t eval_batch_size = 32;       ///< sequences per validation forward pass
};

/// A schedule's masked_per_mille (MLM targets per 1000 tokens) as masking options: mask_prob =
/// masked_per_mille / 1000 (150 gives 0.15 bit for bit: both are the double nearest 0.15), BERT's 80/10/10.
inline data::masking_options masking_of(std::size_t masked_per_mille) {
  if (masked_per_mille < 1 || masked_per_mille > 999)
    throw error("masked_per_mille", "in [1, 999] (MLM targets per 1000 tokens)", std::to_string(masked_per_mille));
  data::masking_options m;
  m.mask_prob = static_cast<double>(masked_per_mille) / 1000.0;
  return m;
}

/// Training and validation data over one token stream (see the file comment).
class data_source {
 public:
  data_source(data::wordpiece_tokenizer tok, const std::vector<std::int32_t>& stream, data_options opt = {})
      : tok_(std::move(tok)), opt_(opt) {
    if (opt.eval_batch_size == 0) throw error("data_options eval_batch_size", "> 0", "0");
    data::packing_options full;
    full.seq_len = opt.full_seq_len;
    full.validation_every = opt.validation_every;
    full.keep_partial = false;
    full_ = std::make_unique<data::mlm_dataset>(stream, tok_, full);
    // Training stream: the bodies ([CLS] and [SEP] stripped) of the full-length training sequences.
    const std::size_t body = opt.full_seq_len - 2;
    train_stream_.reserve(full_->train_sequences().size() * body);
    for (std::size_t s : full_->train_sequences()) {
      const auto seq = full_->sequence(s);
      train_stream_.insert(train_stream_.end(), seq.begin() + 1, seq.begin() + 1 + static_cast<std::ptrdiff_t>(body));
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
  const data::mlm_dataset& train_set(std::size_t seq_len) {
    auto it = train_.find(seq_len);
    if (it != train_.end()) return *it->second;
    data::packing_options p;
    p.seq_len = seq_len;
    p.validation_every = 0;
    p.keep_partial = false;
    auto ds = std::make_unique<data::mlm_dataset>(train_stream_, tok_, p);
    return *train_.emplace(seq_len, std::move(ds)).first->second;
  }

  /// Training batch for global step `step` (0-based) at length seq_len, masked_per_mille targets per 1000
  /// tokens: a pure function of its arguments.
  model::mlm_batch train_batch(std::uint64_t seed, std::size_t step, std::size_t seq_len, std::size_t batch_size,
                               std::size_t masked_per_mille = 150) {
    const auto mask = masking_of(masked_per_mille);
    const auto& ds = train_set(seq_len);
    const std::size_t per_epoch = ds.train_batches_per_epoch(batch_size);
    if (per_epoch == 0)
      throw error("training data at seq_len " + std::to_string(seq_len),
                  "at least one batch of " + std::to_string(batch_size) + " sequences",
                  std::to_string(ds.train_sequences().size()) + " sequences");
    return ds.train_batch(seed, step / per_epoch, step % per_epoch, batch_size, mask);
  }

  /// The validation batches: full length, fixed masks (data::mlm_dataset::validation_mask_seed) at
  /// masked_per_mille, built once per rate.
  const std::vector<model::mlm_batch>& validation_batches(std::size_t masked_per_mille = 150) {
    const auto mask = masking_of(masked_per_mille);
    auto& batches = valid_batches_[masked_per_mille];
    if (!batches.empty()) return batches;
    for (std::size_t b = 0; b < valid_.size(); b += opt_.eval_batch_size) {
      const std::size_t e = std::min(valid_.size(), b + opt_.eval_batch_size);
      std::vector<std::size_t> rows(valid_.begin() + static_cast<std::ptrdiff_t>(b), valid_.begin() + static_cast<std::ptrdiff_t>(e));
      batches.push_back(full_->make_batch(rows, data::mlm_dataset::validation_mask_seed, mask));
    }
    return batches;
  }

 private:
  data::wordpiece_tokenizer tok_;
  data_options opt_;
  std::unique_ptr<data::mlm_dataset> full_;
  std::vector<std::int32_t> train_stream_;
  std::vector<std::size_t> valid_;
  std::map<std::size_t, std::unique_ptr<data::mlm_dataset>> train_;
  std::map<std::size_t, std::vector<model::mlm_batch>> valid_batches_;  ///< per masked_per_mille
};

}  // namespace growth::train
