#pragma once
/// @file classifier_layout.hpp
/// The sequence-classification head of Hugging Face BertForSequenceClassification, written once beside
/// bert_layout.hpp (its companion table): the pooler (dense + tanh on the [CLS] row, HF
/// "bert.pooler.dense.*") and the classifier ("classifier.*", num_labels outputs). The encoder below it is
/// bert_parameters(c) without the MLM head (the "cls.*" rows). The reference classifier's flat head buffer,
/// its optimizer and the fine-tuned checkpoint I/O all loop over this list.
///
/// Weights are stored as PyTorch stores them: nn.Linear weight is (out, in), row-major.
#include <cstddef>
#include <string>
#include <vector>

#include "bert_config.hpp"
#include "bert_layout.hpp"

namespace growth::model {

/// Which parameter of the classification head this is.
enum class classifier_role {
  pooler_dense_weight,  ///< bert.pooler.dense.weight (H, H)
  pooler_dense_bias,    ///< bert.pooler.dense.bias (H)
  classifier_weight,    ///< classifier.weight (num_labels, H)
  classifier_bias,      ///< classifier.bias (num_labels)
};

struct classifier_param_spec {
  std::string name;
  classifier_role r;
  std::vector<std::size_t> shape;
  param_kind kind = param_kind::weight;
  bool decay = true;  ///< AdamW weight decay applies (weights, not biases: as bert_parameters)
  [[nodiscard]] std::size_t numel() const {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

/// The head's parameters in a fixed order (the order of the reference classifier's head buffer).
inline std::vector<classifier_param_spec> classifier_parameters(const bert_config& c, std::size_t num_labels) {
  const std::size_t H = c.hidden_size;
  return {
      {"bert.pooler.dense.weight", classifier_role::pooler_dense_weight, {H, H}, param_kind::weight, true},
      {"bert.pooler.dense.bias", classifier_role::pooler_dense_bias, {H}, param_kind::bias, false},
      {"classifier.weight", classifier_role::classifier_weight, {num_labels, H}, param_kind::weight, true},
      {"classifier.bias", classifier_role::classifier_bias, {num_labels}, param_kind::bias, false},
  };
}

/// Whether an encoder-table row belongs to the MLM head (cls.*), which BertForSequenceClassification lacks.
inline bool is_mlm_head_parameter(const param_spec& s) { return s.name.starts_with("cls."); }

}  // namespace growth::model

#include <cstdint>

#include "batch.hpp"

namespace growth::model {

/// A sequence-classification batch: the encoder's inputs as an mlm_batch (its labels stay -100, the
/// encoder does not read them) and one class label per sequence, in [0, num_labels).
struct classification_batch {
  mlm_batch inputs;
  std::vector<std::int32_t> labels;  ///< [B]
};

}  // namespace growth::model
