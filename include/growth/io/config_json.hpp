#pragma once
/// @file config_json.hpp
/// growth::model::bert_config <-> Hugging Face config.json.
///
/// Written: the HF BertConfig fields (architectures ["BertForMaskedLM"], model_type "bert", sizes,
/// hidden_act, dropouts, initializer_range, layer_norm_eps, pad_token_id, position_embedding_type
/// "absolute") plus a "growth" object with the low-cost variant fields (ffn_shared_layers,
/// ffn_share_factor, ffn_factorized_layers, ffn_rank, pool_size, and "pre_layer_norm": true for a pre-LN
/// model; absent = false = post-LN). HF keeps unknown keys as attributes, so the folder stays loadable by
/// transformers (a pre-LN folder loads there as a post-LN BertForMaskedLM, i.e. wrongly: docs/prelayernorm.md).
///
/// nlohmann-json conversions (ADL, namespace growth::model): `io::json j = config;` writes it and
/// `j.get<model::bert_config>()` reads it.
///
/// Read (from_json): missing fields get HF's BertConfig defaults (the bert_config defaults);
/// wrong types or values throw growth::error naming the field; model_type must be "bert" and
/// position_embedding_type "absolute" when present; other HF bookkeeping keys (transformers_version,
/// torch_dtype, use_cache, ...) are ignored; unknown keys inside "growth" are errors (they are ours, so a
/// typo would silently change nothing). validate() runs at the end.
///
/// Partial configs (apply_overrides): `growth grow --to target.json` names only the fields that change.
/// Every key must be a known field (a typo is an error, not a silent no-op), except the HF bookkeeping
/// keys, so a full config.json is also a valid override.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "../model/bert_config.hpp"
#include "atomic_file.hpp"
#include "json.hpp"

namespace growth::io {

namespace detail {
/// Keys HF writes into config.json that do not change the architecture we build.
inline bool is_hf_bookkeeping_key(std::string_view k) {
  static const char* const keys[] = {"architectures",      "model_type",         "transformers_version",
                                     "torch_dtype",        "use_cache",          "classifier_dropout",
                                     "gradient_checkpointing", "_name_or_path",  "is_decoder",
                                     "add_cross_attention", "chunk_size_feed_forward", "output_attentions",
                                     "output_hidden_states", "return_dict",      "bos_token_id",
                                     "eos_token_id",        "tie_word_embeddings", "id2label",
                                     "label2id",            "problem_type",       "tokenizer_class",
                                     "directionality",      "pooler_fc_size",     "pooler_num_attention_heads",
                                     "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type"};
  for (const char* key : keys)
    if (k == key) return true;
  return false;
}

inline std::string field_subject(std::string_view key) { return "config field " + std::string(key); }

inline std::vector<std::size_t> layer_list(const json& v, std::string_view key) {
  std::vector<std::size_t> out;
  for (const auto& e : io::as_array(v, field_subject(key))) out.push_back(io::as_size(e, field_subject(key) + " entry"));
  return out;
}

/// Applies one top-level key; returns false when the key is not a config field.
inline bool apply_config_key(model::bert_config& c, const std::string& k, const json& v, bool strict_growth) {
  const std::string subj = field_subject(k);
  auto size_field = [&](std::size_t& dst) { dst = io::as_size(v, subj); };
  auto prob_field = [&](double& dst) { dst = io::as_double(v, subj); };
  if (k == "vocab_size") size_field(c.vocab_size);
  else if (k == "hidden_size") size_field(c.hidden_size);
  else if (k == "num_hidden_layers") size_field(c.num_hidden_layers);
  else if (k == "num_attention_heads") size_field(c.num_attention_heads);
  else if (k == "intermediate_size") size_field(c.intermediate_size);
  else if (k == "hidden_act") c.hidden_act = io::as_string(v, subj);
  else if (k == "hidden_dropout_prob") prob_field(c.hidden_dropout_prob);
  else if (k == "attention_probs_dropout_prob") prob_field(c.attention_probs_dropout_prob);
  else if (k == "max_position_embeddings") size_field(c.max_position_embeddings);
  else if (k == "type_vocab_size") size_field(c.type_vocab_size);
  else if (k == "initializer_range") prob_field(c.initializer_range);
  else if (k == "layer_norm_eps") prob_field(c.layer_norm_eps);
  else if (k == "pad_token_id") size_field(c.pad_token_id);
  else if (k == "position_embedding_type") {
    if (io::as_string(v, subj) != "absolute") throw error(subj, "\"absolute\"", io::describe(v));
  } else if (k == "model_type") {
    if (io::as_string(v, subj) != "bert") throw error(subj, "\"bert\"", io::describe(v));
  } else if (k == "architectures") {
    for (const auto& a : io::as_array(v, subj)) (void)io::as_string(a, subj + " entry");
  } else if (k == "is_decoder" || k == "add_cross_attention") {
    // HF would build another model (causal self-attention, or cross-attention layers): refuse, not ignore.
    if (io::as_bool(v, subj)) throw error(subj, "false (a BertForMaskedLM encoder)", "true");
  } else if (k == "tie_word_embeddings") {
    // Our MLM decoder IS the word-embedding matrix; an untied one is a separate tensor we do not have.
    if (!io::as_bool(v, subj)) throw error(subj, "true (the MLM decoder is tied to the word embeddings)", "false");
  } else if (k == "growth") {
    for (const auto& [gk, gv] : io::as_object(v, subj)) {
      const std::string gs = field_subject("growth." + gk);
      if (gk == "ffn_shared_layers") c.ffn_shared_layers = layer_list(gv, "growth." + gk);
      else if (gk == "ffn_share_factor") c.ffn_share_factor = io::as_size(gv, gs);
      else if (gk == "ffn_factorized_layers") c.ffn_factorized_layers = layer_list(gv, "growth." + gk);
      else if (gk == "ffn_rank") c.ffn_rank = io::as_size(gv, gs);
      else if (gk == "pool_size") c.pool_size = io::as_size(gv, gs);
      else if (gk == "pre_layer_norm") c.pre_layer_norm = io::as_bool(gv, gs);
      else if (strict_growth)
        throw error(gs,
                    "one of ffn_shared_layers, ffn_share_factor, ffn_factorized_layers, ffn_rank, pool_size, "
                    "pre_layer_norm",
                    "an unknown key");
    }
  } else {
    return false;
  }
  return true;
}
}  // namespace detail
}  // namespace growth::io

namespace growth::model {

/// The config.json object for c (HF field order, then "growth").
inline void to_json(io::json& j, const bert_config& c) {
  using io::json;
  j = json::object();
  j["architectures"] = json::array({json("BertForMaskedLM")});
  j["model_type"] = "bert";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["intermediate_size"] = c.intermediate_size;
  j["hidden_act"] = c.hidden_act;
  j["hidden_dropout_prob"] = c.hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["type_vocab_size"] = c.type_vocab_size;
  j["initializer_range"] = c.initializer_range;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["pad_token_id"] = c.pad_token_id;
  j["position_embedding_type"] = "absolute";
  json g = json::object();
  g["ffn_shared_layers"] = c.ffn_shared_layers;
  g["ffn_share_factor"] = c.ffn_share_factor;
  g["ffn_factorized_layers"] = c.ffn_factorized_layers;
  g["ffn_rank"] = c.ffn_rank;
  g["pool_size"] = c.pool_size;
  // Written only when set, so post-LN folders stay byte-identical to those written before the field existed.
  if (c.pre_layer_norm) g["pre_layer_norm"] = true;
  j["growth"] = std::move(g);
}

/// Parses a full config.json object; missing fields get HF defaults, unknown HF keys are ignored.
inline void from_json(const io::json& j, bert_config& c) {
  c = bert_config{};
  for (const auto& [k, v] : io::as_object(j, "config.json")) (void)io::detail::apply_config_key(c, k, v, true);
  c.validate();
}

}  // namespace growth::model

namespace growth::io {

/// Returns base with the fields present in `overrides` replaced, then validated. Every key must be a
/// config field or HF bookkeeping; anything else is an error naming the key.
inline model::bert_config apply_overrides(model::bert_config base, const json& overrides) {
  for (const auto& [k, v] : io::as_object(overrides, "config overrides")) {
    if (!detail::apply_config_key(base, k, v, true) && !detail::is_hf_bookkeeping_key(k))
      throw error(detail::field_subject(k), "a BertConfig field or \"growth\"", "an unknown key");
  }
  base.validate();
  return base;
}

/// Reads config.json; field errors are prefixed with the file name.
inline model::bert_config load_config(const std::filesystem::path& p) {
  const json j = parse_json(read_file(p), p.string());
  try {
    return j.get<model::bert_config>();
  } catch (const error& e) {
    throw error(p.string() + ": " + e.what());
  }
}
inline void save_config(const std::filesystem::path& p, const model::bert_config& c) {
  c.validate();
  write_file_atomic(p, json(c).dump(2) + "\n");
}

}  // namespace growth::io
