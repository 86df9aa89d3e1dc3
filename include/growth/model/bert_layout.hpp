#pragma once
/// @file bert_layout.hpp
/// The BERT parameter layout, written once: every parameter's Hugging Face name, its shape as a function
/// of the config, the role it plays and which model dimension each of its axes belongs to (the schema is
/// layout.hpp's). Checkpoint I/O, the reference model's flat buffers, the optimizer and whole-model growth
/// all loop over this list.
///
/// Weights are stored as PyTorch stores them: nn.Linear weight is (out, in), row-major.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bert_config.hpp"
#include "layout.hpp"

namespace growth::model {

/// The extent of dimension d in layer `layer` of a model with config c.
inline std::size_t extent_of(const bert_config& c, dim d, int layer) {
  switch (d) {
    case dim::hidden:
    case dim::attn:
    case dim::kv: return c.hidden_size;  // BERT's attention width is its hidden size (no grouped heads)
    case dim::qkv: return 3 * c.hidden_size;  // not in BERT's table (separate q, k, v)
    case dim::ffn: return layer >= 0 ? c.layer_intermediate_size(static_cast<std::size_t>(layer)) : c.intermediate_size;
    case dim::rank: return c.ffn_rank;
    case dim::vocab: return c.vocab_size;
    case dim::position: return c.max_position_embeddings;
    case dim::token_type: return c.type_vocab_size;
  }
  return 0;
}

inline std::string layer_prefix(std::size_t l) { return "bert.encoder.layer." + std::to_string(l) + "."; }

/// Every parameter of BertForMaskedLM with config c, in a fixed order (the order of the flat buffers).
/// The tied decoder weight (cls.predictions.decoder.weight) is not listed: it is word_embeddings.
///
/// Pre-LN (c.pre_layer_norm, docs/prelayernorm.md): the same list and order with two LayerNorms renamed
/// where HF RobertaPreLayerNorm puts them, LN1 "...attention.LayerNorm.*" (role attention_ln_*, before
/// attention) and LN2 "...intermediate.LayerNorm.*" (role output_ln_*, before the FFN), plus the final
/// LayerNorm "bert.LayerNorm.*" (role encoder_final_ln_*) after the last layer, before the MLM head. The
/// "bert." / "cls." prefixes stay (scripts/export_roberta_prelayernorm.py renames to HF's).
inline std::vector<param_spec> bert_parameters(const bert_config& c) {
  std::vector<param_spec> p;
  // The growth semantics follow from where a parameter sits; one row per parameter below.
  struct sem {
    param_kind kind = param_kind::weight;
    bool residual_out = false;
    ln_site site = ln_site::none;
    factor_part factor = factor_part::none;
    const char* product = "";
  };
  auto add = [&](std::string name, role r, int layer, std::vector<axis_spec> axes, bool decay, sem m) {
    std::string key = layer >= 0 ? name.substr(layer_prefix(static_cast<std::size_t>(layer)).size()) : name;
    param_spec s{std::move(name), r, layer, {}, std::move(axes), decay, m.kind, m.residual_out, m.site,
                 std::move(key), m.factor, m.product};
    for (auto a : s.axes) s.shape.push_back(extent_of(c, a.d, layer));
    p.push_back(std::move(s));
  };
  const sem W{}, Bias{param_kind::bias}, Emb{param_kind::embedding};
  auto ln = [](ln_site site, bool gain) { return sem{gain ? param_kind::ln_gain : param_kind::ln_bias, false, site}; };
  const sem Wres{param_kind::weight, true}, Bres{param_kind::bias, true};
  const axis_spec H_out{dim::hidden, side::out}, H_in{dim::hidden, side::in};
  const axis_spec A_out{dim::attn, side::out}, A_in{dim::attn, side::in};
  const axis_spec I_out{dim::ffn, side::out}, I_in{dim::ffn, side::in};
  const axis_spec R_out{dim::rank, side::out}, R_in{dim::rank, side::in};

  add("bert.embeddings.word_embeddings.weight", role::word_embeddings, -1, {{dim::vocab, side::out}, H_out}, true, Emb);
  add("bert.embeddings.position_embeddings.weight", role::position_embeddings, -1, {{dim::position, side::out}, H_out}, true, Emb);
  add("bert.embeddings.token_type_embeddings.weight", role::token_type_embeddings, -1, {{dim::token_type, side::out}, H_out}, true, Emb);
  add("bert.embeddings.LayerNorm.weight", role::embeddings_ln_weight, -1, {H_out}, false, ln(ln_site::embeddings, true));
  add("bert.embeddings.LayerNorm.bias", role::embeddings_ln_bias, -1, {H_out}, false, ln(ln_site::embeddings, false));
  for (std::size_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = layer_prefix(l);
    const int L = static_cast<int>(l);
    add(pre + "attention.self.query.weight", role::query_weight, L, {A_out, H_in}, true, W);
    add(pre + "attention.self.query.bias", role::query_bias, L, {A_out}, false, Bias);
    add(pre + "attention.self.key.weight", role::key_weight, L, {A_out, H_in}, true, W);
    add(pre + "attention.self.key.bias", role::key_bias, L, {A_out}, false, Bias);
    add(pre + "attention.self.value.weight", role::value_weight, L, {A_out, H_in}, true, W);
    add(pre + "attention.self.value.bias", role::value_bias, L, {A_out}, false, Bias);
    add(pre + "attention.output.dense.weight", role::attention_output_weight, L, {H_out, A_in}, true, Wres);
    add(pre + "attention.output.dense.bias", role::attention_output_bias, L, {H_out}, false, Bres);
    const std::string ln1 = c.pre_layer_norm ? "attention.LayerNorm." : "attention.output.LayerNorm.";
    add(pre + ln1 + "weight", role::attention_ln_weight, L, {H_out}, false, ln(ln_site::attention, true));
    add(pre + ln1 + "bias", role::attention_ln_bias, L, {H_out}, false, ln(ln_site::attention, false));
    if (c.is_factorized(l)) {
      add(pre + "intermediate.dense.weight_u", role::intermediate_weight_u, L, {I_out, R_in}, true,
          {param_kind::weight, false, ln_site::none, factor_part::u, "intermediate.dense.weight"});
      add(pre + "intermediate.dense.weight_v", role::intermediate_weight_v, L, {R_out, H_in}, true,
          {param_kind::weight, false, ln_site::none, factor_part::v, "intermediate.dense.weight"});
    } else {
      add(pre + "intermediate.dense.weight", role::intermediate_weight, L, {I_out, H_in}, true,
          {param_kind::weight, false, ln_site::none, factor_part::none, "intermediate.dense.weight"});
    }
    add(pre + "intermediate.dense.bias", role::intermediate_bias, L, {I_out}, false, Bias);
    if (c.is_factorized(l)) {
      add(pre + "output.dense.weight_u", role::output_weight_u, L, {H_out, R_in}, true,
          {param_kind::weight, true, ln_site::none, factor_part::u, "output.dense.weight"});
      add(pre + "output.dense.weight_v", role::output_weight_v, L, {R_out, I_in}, true,
          {param_kind::weight, false, ln_site::none, factor_part::v, "output.dense.weight"});
    } else {
      add(pre + "output.dense.weight", role::output_weight, L, {H_out, I_in}, true,
          {param_kind::weight, true, ln_site::none, factor_part::none, "output.dense.weight"});
    }
    add(pre + "output.dense.bias", role::output_bias, L, {H_out}, false, Bres);
    const std::string ln2 = c.pre_layer_norm ? "intermediate.LayerNorm." : "output.LayerNorm.";
    add(pre + ln2 + "weight", role::output_ln_weight, L, {H_out}, false, ln(ln_site::output, true));
    add(pre + ln2 + "bias", role::output_ln_bias, L, {H_out}, false, ln(ln_site::output, false));
  }
  if (c.pre_layer_norm) {
    add("bert.LayerNorm.weight", role::encoder_final_ln_weight, -1, {H_out}, false, ln(ln_site::final, true));
    add("bert.LayerNorm.bias", role::encoder_final_ln_bias, -1, {H_out}, false, ln(ln_site::final, false));
  }
  add("cls.predictions.transform.dense.weight", role::head_dense_weight, -1, {H_out, H_in}, true, W);
  add("cls.predictions.transform.dense.bias", role::head_dense_bias, -1, {H_out}, false, Bias);
  add("cls.predictions.transform.LayerNorm.weight", role::head_ln_weight, -1, {H_out}, false, ln(ln_site::head, true));
  add("cls.predictions.transform.LayerNorm.bias", role::head_ln_bias, -1, {H_out}, false, ln(ln_site::head, false));
  add("cls.predictions.bias", role::head_output_bias, -1, {{dim::vocab, side::out}}, false, Bias);
  return p;
}

/// The layout table of a config, by overload: the name architecture-generic code (checkpoint I/O, growth)
/// calls, so one template serves every table (decoder_layout.hpp has the decoder overload).
inline std::vector<param_spec> parameters_of(const bert_config& c) { return bert_parameters(c); }

/// Names that may appear in a Hugging Face checkpoint and are ties of listed parameters.
inline bool is_tied_alias(const std::string& name) {
  return name == "cls.predictions.decoder.weight" || name == "cls.predictions.decoder.bias";
}

/// Total parameter count.
inline std::size_t parameter_count(const bert_config& c) {
  std::size_t n = 0;
  for (const auto& s : bert_parameters(c)) n += s.numel();
  return n;
}

}  // namespace growth::model
