#pragma once
/// @file bert_config.hpp
/// The shape of a BERT: Hugging Face BertConfig fields, plus the low-cost variants of the CompoundGrow
/// paper (stored under a "growth" key in config.json so the folder stays a loadable HF checkpoint).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "rules.hpp"

namespace growth::model {

struct bert_config {
  // Hugging Face BertConfig fields.
  std::size_t vocab_size = 30522;
  std::size_t hidden_size = 768;
  std::size_t num_hidden_layers = 12;
  std::size_t num_attention_heads = 12;
  std::size_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::size_t max_position_embeddings = 512;
  std::size_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  std::size_t pad_token_id = 0;

  // Low-cost variants (paper-notes.md section 2 and 3). Empty / 0 / 1 means "standard BERT".
  /// Layers whose FFN is shared (literally smaller: intermediate_size / ffn_share_factor neurons).
  std::vector<std::size_t> ffn_shared_layers;
  std::size_t ffn_share_factor = 1;  ///< k = 1/rho
  /// Layers whose two FFN matrices are factorised W = U V with rank ffn_rank.
  std::vector<std::size_t> ffn_factorized_layers;
  std::size_t ffn_rank = 0;
  /// Mean embedding pooling factor (1 = off).
  std::size_t pool_size = 1;

  /// Encoder layer arrangement. false (default): post-LN, Hugging Face BertForMaskedLM,
  /// y = LN(x + F(x)). true: pre-LN (Xiong et al. 2020, arXiv 2002.04745; numerically HF
  /// RobertaPreLayerNorm): a = x + Attn(LN1(x)), y = a + FFN(LN2(a)), and a final LayerNorm after the
  /// last layer, before the MLM head (docs/prelayernorm.md). Stored as growth.pre_layer_norm in config.json.
  /// Not a low-cost variant: it is an architecture, kept across growth (is_standard() ignores it).
  bool pre_layer_norm = false;

  friend bool operator==(const bert_config&, const bert_config&) = default;

  [[nodiscard]] std::size_t head_dim() const { return hidden_size / num_attention_heads; }
  [[nodiscard]] bool is_shared(std::size_t layer) const {
    return std::find(ffn_shared_layers.begin(), ffn_shared_layers.end(), layer) != ffn_shared_layers.end();
  }
  [[nodiscard]] bool is_factorized(std::size_t layer) const {
    return std::find(ffn_factorized_layers.begin(), ffn_factorized_layers.end(), layer) != ffn_factorized_layers.end();
  }
  /// FFN neurons of a layer: intermediate_size, or intermediate_size / k for a shared layer.
  [[nodiscard]] std::size_t layer_intermediate_size(std::size_t layer) const {
    return is_shared(layer) ? intermediate_size / ffn_share_factor : intermediate_size;
  }
  [[nodiscard]] bool is_standard() const {
    return ffn_shared_layers.empty() && ffn_factorized_layers.empty() && pool_size == 1;
  }

  /// Throws growth::error naming the field when the config is not a valid BERT: the shape rules of
  /// rules.hpp (check_shape_rules, config context: shared layers need k >= 1, unused low-cost fields are
  /// ignored), then what only a config has (vocabularies, activation, eps, dropouts, pad id, list indices).
  void validate() const {
    const auto positive = [](std::size_t v, const char* field) {
      if (v == 0) throw error(std::string("config field ") + field, "a positive integer", "0");
    };
    positive(vocab_size, "vocab_size");
    check_shape();
    positive(type_vocab_size, "type_vocab_size");
    if (hidden_act != "gelu")
      throw error("config field hidden_act", "\"gelu\" (erf form)", "\"" + hidden_act + "\"");
    if (!(layer_norm_eps > 0)) throw error("config field layer_norm_eps", "a positive number", std::to_string(layer_norm_eps));
    if (!(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1))
      throw error("config field hidden_dropout_prob", "in [0, 1)", std::to_string(hidden_dropout_prob));
    if (!(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1))
      throw error("config field attention_probs_dropout_prob", "in [0, 1)", std::to_string(attention_probs_dropout_prob));
    if (pad_token_id >= vocab_size)
      throw error("config field pad_token_id", "< vocab_size " + std::to_string(vocab_size), std::to_string(pad_token_id));
    for (auto l : ffn_shared_layers) {
      if (l >= num_hidden_layers)
        throw error("config field growth.ffn_shared_layers", "layer indices < " + std::to_string(num_hidden_layers),
                    std::to_string(l));
    }
    for (auto l : ffn_factorized_layers) {
      if (l >= num_hidden_layers)
        throw error("config field growth.ffn_factorized_layers",
                    "layer indices < " + std::to_string(num_hidden_layers), std::to_string(l));
    }
    // Refuse sizes that would allocate absurd memory before anything is allocated (hostile configs).
    // Every size goes to double before any arithmetic: a size_t sum of hostile sizes could wrap around.
    const auto d = [](std::size_t v) { return static_cast<double>(v); };
    const double params = (d(vocab_size) + d(max_position_embeddings) + d(type_vocab_size)) * d(hidden_size) +
                          d(num_hidden_layers) * (4.0 * d(hidden_size) * d(hidden_size) +
                                                  2.0 * d(hidden_size) * d(intermediate_size));
    if (params > 4e9)
      throw error("config", "at most 4e9 parameters", std::to_string(params) + " parameters (refused before allocating)");
  }

 private:
  /// The shape rules on this config, failures in its field names.
  void check_shape() const {
    shape_facts f{num_hidden_layers, hidden_size, num_attention_heads, intermediate_size, max_position_embeddings,
                  pool_size, ffn_share_factor, ffn_rank, !ffn_shared_layers.empty(), !ffn_factorized_layers.empty(),
                  std::nullopt};
    for (auto l : ffn_factorized_layers)
      if (!f.shared_and_factorized && is_shared(l)) f.shared_and_factorized = l;
    const shape_result r = check_shape_rules(f, shape_context::config);
    const auto field = [&]() -> std::string {
      switch (r.where) {
        case rule_field::layers: return "num_hidden_layers";
        case rule_field::hidden: return "hidden_size";
        case rule_field::heads: return "num_attention_heads";
        case rule_field::ffn: return "intermediate_size";
        case rule_field::positions: return "max_position_embeddings";
        case rule_field::pool: return "growth.pool_size";
        case rule_field::share_factor: return "growth.ffn_share_factor";
        default: return "growth.ffn_rank";
      }
    };
    const std::string subject = "config field " + field();
    switch (r.code) {
      case shape_rule::ok: return;
      case shape_rule::not_positive: throw error(subject, "a positive integer", "0");
      case shape_rule::heads_not_divisor:
        throw error(subject, "a divisor of hidden_size " + std::to_string(hidden_size), std::to_string(r.actual));
      case shape_rule::shared_and_factorized:
        throw error("config field growth.ffn_factorized_layers", "layers not also in ffn_shared_layers",
                    "layer " + std::to_string(r.layer) + " in both");
      case shape_rule::share_factor_too_small:
      case shape_rule::share_factor_not_divisor:
      case shape_rule::share_factor_unused:  // not in the config context
        throw error(subject, "a divisor of intermediate_size " + std::to_string(intermediate_size),
                    std::to_string(r.actual));
      case shape_rule::rank_out_of_range:
      case shape_rule::rank_unused:  // not in the config context
        throw error(subject, "in [1, min(hidden_size, intermediate_size)]", std::to_string(r.actual));
    }
  }
};

}  // namespace growth::model
