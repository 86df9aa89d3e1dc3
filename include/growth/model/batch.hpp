#pragma once
/// @file model/batch.hpp
/// The batch types: the one masked-language-model batch type and the one causal-LM batch type (below).
/// The masked-language-model batch: what data::mlm_dataset builds, what the trainer feeds and
/// what reference::bert reads. Laid out as Hugging Face BertForMaskedLM takes its inputs: B x S int32,
/// row-major (token b*S + s is position s of sequence b). Standard library only (the core layer), so the data
/// and the reference layers can both include it.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace growth::model {

/// The label of a position that is not an MLM target (PyTorch CrossEntropyLoss's default ignore_index,
/// which HF's masked-LM loss uses).
inline constexpr std::int32_t ignore_label = -100;

struct mlm_batch {
  std::size_t batch_size = 0;
  std::size_t seq_len = 0;
  std::vector<std::int32_t> input_ids;       ///< [B*S], after masking
  std::vector<std::int32_t> token_type_ids;  ///< [B*S] (all 0 from single-segment packing)
  std::vector<std::int32_t> attention_mask;  ///< [B*S], 1 = real token, 0 = [PAD]
  std::vector<std::int32_t> labels;          ///< [B*S], the original id at target positions, -100 elsewhere
  /// [B]: which packed sequence of its mlm_dataset each row is (empty for a batch built by hand). The model
  /// does not read it.
  std::vector<std::size_t> sequence_index;

  mlm_batch() = default;
  /// A batch of the given shape: ids = 0 (pad), types 0, mask 1, labels -100.
  mlm_batch(std::size_t b, std::size_t s)
      : batch_size(b), seq_len(s), input_ids(b * s, 0), token_type_ids(b * s, 0), attention_mask(b * s, 1),
        labels(b * s, ignore_label) {}

  [[nodiscard]] std::size_t tokens() const { return batch_size * seq_len; }
  /// The number of MLM targets (labels != -100).
  [[nodiscard]] std::size_t num_masked() const {
    std::size_t n = 0;
    for (auto l : labels) n += l != ignore_label;
    return n;
  }
};

/// The one causal-language-model batch type (decoder LMs, decoder_config.hpp), laid out as Hugging Face's
/// *ForCausalLM take their inputs: B x S int32, row-major. Labels are NOT shifted (HF's convention): the
/// model predicts labels[b, s + 1] from positions 0..s, so position s's logits are scored against
/// labels[b, s + 1], and the last position of each row is never scored. ignore_label (-100) marks label
/// positions that do not count (padding, or the first token of a document when several are packed).
struct clm_batch {
  std::size_t batch_size = 0;
  std::size_t seq_len = 0;
  std::vector<std::int32_t> input_ids;       ///< [B*S]
  std::vector<std::int32_t> attention_mask;  ///< [B*S], 1 = real token, 0 = padding (right padding only)
  std::vector<std::int32_t> labels;          ///< [B*S], usually input_ids with padding set to -100
  /// [B]: which sequence of its dataset each row is (empty for a batch built by hand); the model ignores it.
  std::vector<std::size_t> sequence_index;

  clm_batch() = default;
  /// A batch of the given shape: ids = 0, mask 1, labels -100.
  clm_batch(std::size_t b, std::size_t s)
      : batch_size(b), seq_len(s), input_ids(b * s, 0), attention_mask(b * s, 1), labels(b * s, ignore_label) {}

  [[nodiscard]] std::size_t tokens() const { return batch_size * seq_len; }
  /// The number of scored next-token predictions: positions s < S - 1 whose label[s + 1] != -100.
  [[nodiscard]] std::size_t num_targets() const {
    std::size_t n = 0;
    for (std::size_t b = 0; b < batch_size; ++b)
      for (std::size_t s = 1; s < seq_len; ++s) n += labels[b * seq_len + s] != ignore_label;
    return n;
  }
};

}  // namespace growth::model
