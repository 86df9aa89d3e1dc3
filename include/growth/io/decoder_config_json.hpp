#pragma once
/// @file decoder_config_json.hpp
/// growth::model::decoder_config <-> Hugging Face config.json, in each family's own spelling:
///   - llama / mistral / qwen2: LlamaConfig's fields (vocab_size, hidden_size, intermediate_size,
///     num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim, hidden_act,
///     max_position_embeddings, rms_norm_eps, rope_theta, attention_bias, mlp_bias, attention_dropout,
///     tie_word_embeddings, initializer_range, bos/eos/pad_token_id);
///   - gpt2: GPT2Config's (n_embd, n_layer, n_head, n_inner, n_positions, activation_function,
///     layer_norm_epsilon, resid_pdrop, embd_pdrop, attn_pdrop, initializer_range, bos/eos_token_id).
///
/// Read (from_json): model_type decides the family; missing fields get HF's defaults for that family;
/// wrong types or values throw growth::error naming the field. Fields that would make HF build another
/// function than the reference computes are refused, not ignored: rope_scaling other than null (context
/// extension by RoPE scaling is out of scope), a Mistral sliding window shorter than the context, Qwen2's
/// use_sliding_window, GPT-2's scale_attn_weights false or scale_attn_by_inverse_layer_idx true, n_ctx !=
/// n_positions. Other keys are HF bookkeeping (transformers_version, torch_dtype, use_cache,
/// pretraining_tp, summary_*, ...) and are ignored. validate() runs at the end.
///
/// Partial configs (apply_overrides): `growth grow --to target.json` names only the fields that change, in
/// the family's spelling; an unknown key is an error (a typo must not be a silent no-op).
#include <filesystem>
#include <string>
#include <string_view>

#include "../model/decoder_config.hpp"
#include "atomic_file.hpp"
#include "json.hpp"

namespace growth::io {

/// Whether an HF model_type is one of the decoder families (decoder_config.hpp).
inline bool is_decoder_model_type(std::string_view t) {
  return t == "llama" || t == "mistral" || t == "qwen2" || t == "gpt2";
}

/// The model_type of a config.json object ("bert" when absent: the folders growth wrote before decoders
/// always carry it, and so does every HF config).
inline std::string model_type_of(const json& j) {
  const json* t = io::find(j, "model_type");
  return t ? io::as_string(*t, "config field model_type") : std::string("bert");
}

/// The model_type of the config.json at p.
inline std::string model_type_of(const std::filesystem::path& p) {
  return model_type_of(parse_json(read_file(p), p.string()));
}

namespace detail {

inline std::string decoder_subject(std::string_view key) { return "config field " + std::string(key); }

/// An optional token id: an integer, null (none) or, for eos_token_id, a list (Llama 3 writes several; the
/// reference does not use eos, so a list keeps its first entry).
inline std::optional<std::size_t> token_id(const json& v, std::string_view key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_array() && key == "eos_token_id") {
    const auto& a = io::as_array(v, decoder_subject(key));
    if (a.empty()) return std::nullopt;
    return io::as_size(a.front(), decoder_subject(key) + " entry");
  }
  return io::as_size(v, decoder_subject(key));
}

/// Applies one key of config.json (family already set); returns false when the key is not a field of the
/// family. Keys HF uses for bookkeeping are not fields: the caller decides whether they are allowed.
inline bool apply_decoder_key(model::decoder_config& c, const std::string& k, const json& v) {
  const std::string subj = decoder_subject(k);
  auto size_field = [&](std::size_t& dst) { dst = io::as_size(v, subj); };
  auto real_field = [&](double& dst) { dst = io::as_double(v, subj); };
  auto require_bool = [&](bool want, const char* why) {
    if (io::as_bool(v, subj) != want) throw error(subj, std::string(want ? "true" : "false") + " (" + why + ")",
                                                  want ? "false" : "true");
  };
  if (k == "model_type") {
    if (io::as_string(v, subj) != c.model_type) throw error(subj, "\"" + c.model_type + "\"", io::describe(v));
    return true;
  }
  if (k == "architectures") {
    for (const auto& a : io::as_array(v, subj)) (void)io::as_string(a, subj + " entry");
    return true;
  }
  if (k == "vocab_size") size_field(c.vocab_size);
  else if (k == "initializer_range") real_field(c.initializer_range);
  else if (k == "bos_token_id") c.bos_token_id = token_id(v, k);
  else if (k == "eos_token_id") c.eos_token_id = token_id(v, k);
  else if (k == "pad_token_id") c.pad_token_id = token_id(v, k);
  else if (k == "tie_word_embeddings") c.tie_word_embeddings = io::as_bool(v, subj);
  if (k == "vocab_size" || k == "initializer_range" || k == "bos_token_id" || k == "eos_token_id" ||
      k == "pad_token_id" || k == "tie_word_embeddings")
    return true;  // the keys both families share (applied above): fields, not unknown keys
  if (c.is_gpt2()) {
    if (k == "n_embd") size_field(c.hidden_size);
    else if (k == "n_layer") size_field(c.num_hidden_layers);
    else if (k == "n_head") {
      size_field(c.num_attention_heads);
      c.num_key_value_heads = c.num_attention_heads;
    } else if (k == "n_inner") c.intermediate_size = v.is_null() ? 0 : io::as_size(v, subj);  // 0: 4 n_embd
    else if (k == "n_positions") size_field(c.max_position_embeddings);
    else if (k == "n_ctx") {
      // Old configs carry n_ctx beside n_positions; HF reads n_positions. Checked against it at the end.
      if (!v.is_null()) (void)io::as_size(v, subj);
    } else if (k == "activation_function") c.hidden_act = io::as_string(v, subj);
    else if (k == "layer_norm_epsilon") real_field(c.norm_eps);
    else if (k == "resid_pdrop") real_field(c.residual_dropout);
    else if (k == "embd_pdrop") real_field(c.embedding_dropout);
    else if (k == "attn_pdrop") real_field(c.attention_dropout);
    else if (k == "scale_attn_weights") require_bool(true, "attention scores divided by sqrt(head_dim)");
    else if (k == "scale_attn_by_inverse_layer_idx") require_bool(false, "no per-layer score scaling");
    else if (k == "add_cross_attention") require_bool(false, "a decoder-only LM");
    else if (k == "reorder_and_upcast_attn") (void)io::as_bool(v, subj);  // the same function, other rounding
    else return false;
    return true;
  }
  if (k == "hidden_size") size_field(c.hidden_size);
  else if (k == "intermediate_size") size_field(c.intermediate_size);
  else if (k == "num_hidden_layers") size_field(c.num_hidden_layers);
  else if (k == "num_attention_heads") size_field(c.num_attention_heads);
  else if (k == "num_key_value_heads") c.num_key_value_heads = v.is_null() ? 0 : io::as_size(v, subj);  // 0: heads
  else if (k == "head_dim") c.head_dim = v.is_null() ? 0 : io::as_size(v, subj);
  else if (k == "hidden_act") c.hidden_act = io::as_string(v, subj);
  else if (k == "max_position_embeddings") size_field(c.max_position_embeddings);
  else if (k == "rms_norm_eps") real_field(c.norm_eps);
  else if (k == "rope_theta") real_field(c.rope_theta);
  else if (k == "attention_dropout") real_field(c.attention_dropout);
  else if (k == "mlp_bias") c.mlp_bias = io::as_bool(v, subj);
  else if (k == "attention_bias" && c.model_type != "qwen2") c.qkv_bias = c.o_bias = io::as_bool(v, subj);
  else if (k == "rope_scaling") {
    if (!v.is_null()) throw error(subj, "null (RoPE scaling / context extension is out of scope)", io::describe(v));
  } else if (k == "use_sliding_window" && c.model_type == "qwen2") {
    require_bool(false, "full causal attention");
  } else if ((k == "sliding_window" && (c.model_type == "mistral" || c.model_type == "qwen2")) ||
             (k == "max_window_layers" && c.model_type == "qwen2")) {
    // Mistral's window is checked against max_position_embeddings at the end (a window as long as the
    // context changes nothing); Qwen2 reads its window only with use_sliding_window, refused above.
    if (!v.is_null()) (void)io::as_size(v, subj);
  } else {
    return false;
  }
  return true;
}

/// The checks that read two keys at once (run after every key is applied).
inline void check_decoder_pairs(const model::decoder_config& c, const json& j) {
  if (c.is_gpt2()) {
    if (const json* n_ctx = io::find(j, "n_ctx"); n_ctx && !n_ctx->is_null()) {
      const std::size_t v = io::as_size(*n_ctx, "config field n_ctx");
      if (v != c.max_position_embeddings)
        throw error("config field n_ctx", "n_positions " + std::to_string(c.max_position_embeddings), std::to_string(v));
    }
  }
  if (c.model_type == "mistral") {
    if (const json* w = io::find(j, "sliding_window"); w && !w->is_null()) {
      const std::size_t v = io::as_size(*w, "config field sliding_window");
      if (v < c.max_position_embeddings)
        throw error("config field sliding_window",
                    "null or >= max_position_embeddings " + std::to_string(c.max_position_embeddings) +
                        " (sliding-window attention is out of scope)",
                    std::to_string(v));
    }
  }
}

/// HF's defaults of a family, before any key is read.
inline model::decoder_config decoder_defaults(const std::string& model_type, std::string_view what) {
  model::decoder_config c;
  c.model_type = model_type;
  if (model_type == "gpt2") {
    c.family = model::decoder_family::gpt2;
    c.vocab_size = 50257;
    c.hidden_size = 768;
    c.num_hidden_layers = 12;
    c.num_attention_heads = c.num_key_value_heads = 12;
    c.intermediate_size = 0;  // n_inner null: 4 n_embd
    c.max_position_embeddings = 1024;
    c.norm_eps = 1e-5;
    c.tie_word_embeddings = true;
    c.hidden_act = "gelu_new";
    c.attention_dropout = c.residual_dropout = c.embedding_dropout = 0.1;
    c.bos_token_id = c.eos_token_id = 50256;
  } else if (model_type == "llama" || model_type == "mistral" || model_type == "qwen2") {
    c.family = model::decoder_family::llama;
    c.num_key_value_heads = 0;  // absent: equal to num_attention_heads
    if (model_type == "qwen2") c.qkv_bias = true;  // Qwen2 always has q/k/v biases and no o_proj bias
    if (model_type == "llama") {
      c.bos_token_id = 1;
      c.eos_token_id = 2;
    }
  } else {
    throw error(std::string(what) + " field model_type", "\"llama\", \"mistral\", \"qwen2\" or \"gpt2\"",
                "\"" + model_type + "\"");
  }
  return c;
}

/// Derived defaults once every key is read: GPT-2's n_inner null is 4 n_embd; an absent
/// num_key_value_heads is num_attention_heads.
inline void finish_decoder(model::decoder_config& c) {
  if (c.is_gpt2() && c.intermediate_size == 0) c.intermediate_size = 4 * c.hidden_size;
  if (c.num_key_value_heads == 0) c.num_key_value_heads = c.num_attention_heads;
}

}  // namespace detail
}  // namespace growth::io

namespace growth::model {

/// The config.json object for c, in its family's spelling (HF's field order).
inline void to_json(io::json& j, const decoder_config& c) {
  using io::json;
  auto id = [](const std::optional<std::size_t>& v) { return v ? json(*v) : json(nullptr); };
  j = json::object();
  if (c.is_gpt2()) {
    j["architectures"] = json::array({json("GPT2LMHeadModel")});
    j["model_type"] = "gpt2";
    j["vocab_size"] = c.vocab_size;
    j["n_positions"] = c.max_position_embeddings;
    j["n_embd"] = c.hidden_size;
    j["n_layer"] = c.num_hidden_layers;
    j["n_head"] = c.num_attention_heads;
    j["n_inner"] = c.intermediate_size;
    j["activation_function"] = c.hidden_act;
    j["resid_pdrop"] = c.residual_dropout;
    j["embd_pdrop"] = c.embedding_dropout;
    j["attn_pdrop"] = c.attention_dropout;
    j["layer_norm_epsilon"] = c.norm_eps;
    j["initializer_range"] = c.initializer_range;
    j["scale_attn_weights"] = true;
    j["bos_token_id"] = id(c.bos_token_id);
    j["eos_token_id"] = id(c.eos_token_id);
    j["tie_word_embeddings"] = true;
    return;
  }
  const char* arch = c.model_type == "mistral" ? "MistralForCausalLM" : c.model_type == "qwen2" ? "Qwen2ForCausalLM"
                                                                                                : "LlamaForCausalLM";
  j["architectures"] = json::array({json(arch)});
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  if (c.head_dim != 0) j["head_dim"] = c.head_dim;  // absent: hidden_size / num_attention_heads, as in HF
  j["hidden_act"] = c.hidden_act;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["initializer_range"] = c.initializer_range;
  j["rms_norm_eps"] = c.norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  if (c.model_type == "qwen2") {
    j["use_sliding_window"] = false;
  } else {
    if (c.qkv_bias != c.o_bias)
      throw error("config of model_type " + c.model_type, "q/k/v and o_proj biases together (attention_bias)",
                  "only one of them");
    j["attention_bias"] = c.qkv_bias;
  }
  if (c.model_type == "mistral") j["sliding_window"] = nullptr;
  j["attention_dropout"] = c.attention_dropout;
  j["mlp_bias"] = c.mlp_bias;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = id(c.bos_token_id);
  j["eos_token_id"] = id(c.eos_token_id);
  j["pad_token_id"] = id(c.pad_token_id);
}

/// Parses a full config.json object of a decoder family; missing fields get the family's HF defaults.
inline void from_json(const io::json& j, decoder_config& c) {
  c = io::detail::decoder_defaults(io::model_type_of(j), "config.json");
  for (const auto& [k, v] : io::as_object(j, "config.json")) (void)io::detail::apply_decoder_key(c, k, v);
  io::detail::check_decoder_pairs(c, j);
  io::detail::finish_decoder(c);
  c.validate();
}

}  // namespace growth::model

namespace growth::io {

/// base with the fields present in `overrides` replaced (the family's spelling), then validated. Every key
/// must be a field of base's family (or "model_type" / "architectures" agreeing with it).
inline model::decoder_config apply_overrides(model::decoder_config base, const json& overrides) {
  for (const auto& [k, v] : io::as_object(overrides, "config overrides")) {
    if (!detail::apply_decoder_key(base, k, v))
      throw error(detail::decoder_subject(k), "a field of a " + base.model_type + " config", "an unknown key");
  }
  detail::check_decoder_pairs(base, overrides);
  detail::finish_decoder(base);
  base.validate();
  return base;
}

/// Reads a decoder's config.json; field errors are prefixed with the file name.
inline model::decoder_config load_decoder_config(const std::filesystem::path& p) {
  const json j = parse_json(read_file(p), p.string());
  try {
    return j.get<model::decoder_config>();
  } catch (const error& e) {
    throw error(p.string() + ": " + e.what());
  }
}

inline void save_decoder_config(const std::filesystem::path& p, const model::decoder_config& c) {
  c.validate();
  write_file_atomic(p, json(c).dump(2) + "\n");
}

}  // namespace growth::io
