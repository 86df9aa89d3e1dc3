#pragma once
/// @file batch.hpp
/// What the reference BERT checks of a batch (the type itself is model::mlm_batch, data/batch.hpp) and
/// what it returns for one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../model/batch.hpp"
#include "../model/bert_config.hpp"

namespace growth::reference {

/// Throws growth::error naming the field and the first bad entry when batch b does not fit config c: a
/// non-empty B x S shape, S <= max_position_embeddings, four B x S fields, ids and labels below the
/// vocabulary size (labels may be -100), token types below type_vocab_size, a mask of 0 and 1.
inline void validate_batch(const model::mlm_batch& b, const model::bert_config& c) {
  const std::size_t n = b.tokens();
  if (n == 0)
    throw error("batch", "batch_size > 0 and seq_len > 0", std::to_string(b.batch_size) + " x " + std::to_string(b.seq_len));
  if (b.seq_len > c.max_position_embeddings)
    throw error("batch seq_len", "<= max_position_embeddings " + std::to_string(c.max_position_embeddings),
                std::to_string(b.seq_len));
  auto sized = [&](const std::vector<std::int32_t>& v, const char* name) {
    if (v.size() != n)
      throw error(std::string("batch ") + name, std::to_string(n) + " entries (B x S)", std::to_string(v.size()));
  };
  sized(b.input_ids, "input_ids");
  sized(b.token_type_ids, "token_type_ids");
  sized(b.attention_mask, "attention_mask");
  sized(b.labels, "labels");
  auto in_range = [&](const std::vector<std::int32_t>& v, const char* name, std::int64_t hi, bool allow_ignore) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t x = v[i];
      if ((x < 0 || x >= hi) && !(allow_ignore && x == model::ignore_label))
        throw error(std::string("batch ") + name + "[" + std::to_string(i) + "]",
                    "in [0, " + std::to_string(hi) + ")" + (allow_ignore ? " or -100" : ""), std::to_string(x));
    }
  };
  in_range(b.input_ids, "input_ids", static_cast<std::int64_t>(c.vocab_size), false);
  in_range(b.token_type_ids, "token_type_ids", static_cast<std::int64_t>(c.type_vocab_size), false);
  in_range(b.attention_mask, "attention_mask", 2, false);
  in_range(b.labels, "labels", static_cast<std::int64_t>(c.vocab_size), true);
}

/// Where a batch sits inside a larger global batch: data-parallel training (train/data_parallel.hpp) gives
/// each rank a share of consecutive rows of the global batch. With it, forward_backward on the share draws
/// exactly the dropout masks the whole batch draws for those rows (masks are keyed on element indices of
/// the global batch: index offset row_offset x elements per sequence) and normalises the gradient by the
/// global batch's target count, so the shares' gradients sum to the whole batch's gradient. The default
/// ({}) is the batch on its own: nothing changes.
struct batch_slice {
  std::size_t row_offset = 0;      ///< the share's first row in the global batch
  std::size_t global_targets = 0;  ///< the global batch's MLM targets (0 = this batch's own count)
  /// Pooled passes: the global batch's pooled layout lengths (query rows Q, layer-0 key rows K per
  /// sequence; 0 = this batch's). A share pads its layout to them, so its per-sequence element counts,
  /// hence its mask indices, are the global batch's.
  std::size_t query_len = 0, key_len = 0;
};

/// MLM loss (mean cross-entropy over the targets), argmax accuracy over them, and their count.
struct mlm_result {
  double loss = 0;
  double accuracy = 0;
  std::size_t targets = 0;
};

}  // namespace growth::reference
