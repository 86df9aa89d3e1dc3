#pragma once
/// @file batch.hpp
/// A masked-language-model batch as Hugging Face BertForMaskedLM takes it: B x S int32 input_ids,
/// token_type_ids, attention_mask (1 = real token, 0 = padding) and labels (-100 = not a target).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"

namespace growth::reference {

inline constexpr std::int32_t ignore_label = -100;

struct batch {
  std::size_t batch_size = 0;
  std::size_t seq_len = 0;
  std::vector<std::int32_t> input_ids;       ///< B x S, row-major
  std::vector<std::int32_t> token_type_ids;  ///< B x S
  std::vector<std::int32_t> attention_mask;  ///< B x S, 1 or 0
  std::vector<std::int32_t> labels;          ///< B x S, token id or -100

  batch() = default;
  /// A batch of the given shape: ids = pad (0), types 0, mask 1, labels -100.
  batch(std::size_t b, std::size_t s)
      : batch_size(b), seq_len(s), input_ids(b * s, 0), token_type_ids(b * s, 0), attention_mask(b * s, 1),
        labels(b * s, ignore_label) {}
  [[nodiscard]] std::size_t tokens() const { return batch_size * seq_len; }

  /// Throws growth::error naming the field and the first bad entry when the batch does not fit config c.
  void validate(const model::bert_config& c) const {
    const std::size_t n = tokens();
    if (n == 0) throw error("batch", "batch_size > 0 and seq_len > 0", std::to_string(batch_size) + " x " + std::to_string(seq_len));
    if (seq_len > c.max_position_embeddings)
      throw error("batch seq_len", "<= max_position_embeddings " + std::to_string(c.max_position_embeddings),
                  std::to_string(seq_len));
    auto sized = [&](const std::vector<std::int32_t>& v, const char* name) {
      if (v.size() != n)
        throw error(std::string("batch ") + name, std::to_string(n) + " entries (B x S)", std::to_string(v.size()));
    };
    sized(input_ids, "input_ids");
    sized(token_type_ids, "token_type_ids");
    sized(attention_mask, "attention_mask");
    sized(labels, "labels");
    auto in_range = [&](const std::vector<std::int32_t>& v, const char* name, std::int64_t hi, bool allow_ignore) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t x = v[i];
        if ((x < 0 || x >= hi) && !(allow_ignore && x == ignore_label))
          throw error(std::string("batch ") + name + "[" + std::to_string(i) + "]",
                      "in [0, " + std::to_string(hi) + ")" + (allow_ignore ? " or -100" : ""), std::to_string(x));
      }
    };
    in_range(input_ids, "input_ids", static_cast<std::int64_t>(c.vocab_size), false);
    in_range(token_type_ids, "token_type_ids", static_cast<std::int64_t>(c.type_vocab_size), false);
    in_range(attention_mask, "attention_mask", 2, false);
    in_range(labels, "labels", static_cast<std::int64_t>(c.vocab_size), true);
  }
};

/// MLM loss (mean cross-entropy over the targets), argmax accuracy over them, and their count.
struct mlm_result {
  double loss = 0;
  double accuracy = 0;
  std::size_t targets = 0;
};

}  // namespace growth::reference
