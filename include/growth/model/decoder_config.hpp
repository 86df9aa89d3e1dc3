#pragma once
/// @file decoder_config.hpp
/// The shape of a decoder-only causal language model, in the two families growth has layout tables for
/// (decoder_layout.hpp):
///   - llama: Hugging Face LlamaForCausalLM (model_type "llama", and the same graph as "mistral" without a
///     sliding window and "qwen2" with q/k/v biases): RMSNorm, SwiGLU MLP (gate_proj, up_proj, down_proj),
///     rotary position embeddings (rotate_half convention, base rope_theta), grouped-query attention
///     (num_key_value_heads key/value heads, each shared by num_attention_heads / num_key_value_heads query
///     heads), tied or untied lm_head.
///   - gpt2: Hugging Face GPT2LMHeadModel: pre-LN with LayerNorm (gain and bias), learned position table,
///     fused q/k/v projection (c_attn), GELU tanh approximation ("gelu_new"), biases everywhere, lm_head
///     tied to the token embeddings. Its Conv1D weights are stored in x out (the table says so).
///
/// The fields are HF's (GPT-2's n_embd, n_layer, n_head, n_inner, n_positions, layer_norm_epsilon map to
/// hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings,
/// norm_eps); io/decoder_config_json.hpp reads and writes config.json in each family's own spelling.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "../core/error.hpp"

namespace growth::model {

enum class decoder_family : std::uint8_t { llama, gpt2 };

struct decoder_config {
  decoder_family family = decoder_family::llama;
  /// HF model_type written back to config.json: "llama", "mistral" or "qwen2" (family llama), "gpt2".
  std::string model_type = "llama";
  std::size_t vocab_size = 32000;
  std::size_t hidden_size = 4096;
  std::size_t num_hidden_layers = 32;
  std::size_t num_attention_heads = 32;
  std::size_t num_key_value_heads = 32;  ///< GPT-2: equal to num_attention_heads (no grouping)
  std::size_t head_dim = 0;              ///< 0: hidden_size / num_attention_heads (HF's default)
  std::size_t intermediate_size = 11008;
  std::size_t max_position_embeddings = 2048;  ///< GPT-2: rows of the position table (n_positions)
  double norm_eps = 1e-6;                      ///< rms_norm_eps (llama) / layer_norm_epsilon (gpt2)
  double rope_theta = 10000;                   ///< llama only
  bool tie_word_embeddings = false;            ///< GPT-2: always true
  bool qkv_bias = false;  ///< llama: biases on q/k/v (attention_bias; always on in qwen2)
  bool o_bias = false;    ///< llama: bias on o_proj (attention_bias; never in qwen2)
  bool mlp_bias = false;  ///< llama: biases on gate/up/down (mlp_bias)
  std::string hidden_act = "silu";  ///< llama "silu"; gpt2 "gelu_new"
  double initializer_range = 0.02;
  /// Dropout in training (inverted; the reference applies none in eval): on attention probabilities
  /// (llama attention_dropout, gpt2 attn_pdrop), on each residual branch's output (gpt2 resid_pdrop) and on
  /// the embeddings (gpt2 embd_pdrop). LLaMA has only the first, default 0.
  double attention_dropout = 0;
  double residual_dropout = 0;
  double embedding_dropout = 0;
  std::optional<std::size_t> bos_token_id, eos_token_id, pad_token_id;

  friend bool operator==(const decoder_config&, const decoder_config&) = default;

  [[nodiscard]] bool is_gpt2() const { return family == decoder_family::gpt2; }
  /// Channels per head.
  [[nodiscard]] std::size_t head_size() const {
    return head_dim != 0 ? head_dim : (num_attention_heads ? hidden_size / num_attention_heads : 0);
  }
  /// Width of the concatenated query heads (model::dim::attn).
  [[nodiscard]] std::size_t attn_width() const { return num_attention_heads * head_size(); }
  /// Width of the concatenated key (or value) heads (model::dim::kv).
  [[nodiscard]] std::size_t kv_width() const { return num_key_value_heads * head_size(); }
  /// Query heads per key/value head.
  [[nodiscard]] std::size_t group_size() const {
    return num_key_value_heads ? num_attention_heads / num_key_value_heads : 0;
  }
  /// A learned position table (GPT-2); rotary models have none.
  [[nodiscard]] bool has_position_table() const { return is_gpt2(); }

  /// Throws growth::error naming the field when the config is not a model of its family.
  void validate() const {
    const auto positive = [](std::size_t v, const char* field) {
      if (v == 0) throw error(std::string("config field ") + field, "a positive integer", "0");
    };
    const auto s = [](std::size_t v) { return std::to_string(v); };
    positive(vocab_size, "vocab_size");
    positive(hidden_size, "hidden_size");
    positive(num_hidden_layers, "num_hidden_layers");
    positive(num_attention_heads, "num_attention_heads");
    positive(num_key_value_heads, "num_key_value_heads");
    positive(intermediate_size, "intermediate_size");
    positive(max_position_embeddings, "max_position_embeddings");
    if (num_attention_heads % num_key_value_heads != 0)
      throw error("config field num_key_value_heads", "a divisor of num_attention_heads " + s(num_attention_heads),
                  s(num_key_value_heads));
    if (head_dim == 0 && hidden_size % num_attention_heads != 0)
      throw error("config field num_attention_heads", "a divisor of hidden_size " + s(hidden_size) + " (no head_dim given)",
                  s(num_attention_heads));
    if (!(norm_eps > 0)) throw error("config field norm eps", "a positive number", std::to_string(norm_eps));
    if (is_gpt2()) {
      if (model_type != "gpt2") throw error("config field model_type", "\"gpt2\" (family gpt2)", "\"" + model_type + "\"");
      if (num_key_value_heads != num_attention_heads)
        throw error("config field num_key_value_heads", "n_head " + s(num_attention_heads) + " (GPT-2 has no grouped heads)",
                    s(num_key_value_heads));
      if (head_size() * num_attention_heads != hidden_size)
        throw error("config field head_dim", "n_embd / n_head (GPT-2)", s(head_size()));
      if (hidden_act != "gelu_new")
        throw error("config field activation_function", "\"gelu_new\" (GELU, tanh approximation)", "\"" + hidden_act + "\"");
      if (!tie_word_embeddings)
        throw error("config field tie_word_embeddings", "true (GPT-2 ties lm_head to wte)", "false");
      if (qkv_bias || o_bias || mlp_bias)
        throw error("config field attention_bias / mlp_bias", "unset (GPT-2 has every bias)", "set");
    } else {
      if (model_type != "llama" && model_type != "mistral" && model_type != "qwen2")
        throw error("config field model_type", "\"llama\", \"mistral\" or \"qwen2\" (family llama)",
                    "\"" + model_type + "\"");
      if (hidden_act != "silu") throw error("config field hidden_act", "\"silu\" (SwiGLU)", "\"" + hidden_act + "\"");
      if (head_size() % 2 != 0)
        throw error("config field head_dim", "an even number (rotary embeddings rotate channel pairs)", s(head_size()));
      if (!(rope_theta > 0)) throw error("config field rope_theta", "a positive number", std::to_string(rope_theta));
    }
    for (const auto& [p, field] : {std::pair{attention_dropout, "attention dropout"},
                                   std::pair{residual_dropout, "resid_pdrop"}, std::pair{embedding_dropout, "embd_pdrop"}}) {
      if (!(p >= 0 && p < 1)) throw error(std::string("config field ") + field, "in [0, 1)", std::to_string(p));
    }
    if (!is_gpt2() && (residual_dropout != 0 || embedding_dropout != 0))
      throw error("config field resid_pdrop / embd_pdrop", "0 (family llama has attention dropout only)", "non-zero");
    for (const auto& [id, field] : {std::pair{bos_token_id, "bos_token_id"}, std::pair{eos_token_id, "eos_token_id"},
                                    std::pair{pad_token_id, "pad_token_id"}}) {
      if (id && *id >= vocab_size) throw error(std::string("config field ") + field, "< vocab_size " + s(vocab_size), s(*id));
    }
    // Refuse sizes no checkpoint has before anything is allocated (hostile configs): the bound is far above
    // BERT's 4e9 because decoders are grown file to file, a tensor at a time (io/grow_files.hpp). Every
    // size goes to double first so a hostile product cannot wrap around.
    const auto d = [](std::size_t v) { return static_cast<double>(v); };
    const double per_layer = d(hidden_size) * (d(attn_width()) * 2 + d(kv_width()) * 2) +
                             d(hidden_size) * d(intermediate_size) * (is_gpt2() ? 2 : 3);
    const double params = d(vocab_size) * d(hidden_size) * (tie_word_embeddings ? 1 : 2) +
                          (is_gpt2() ? d(max_position_embeddings) * d(hidden_size) : 0) + d(num_hidden_layers) * per_layer;
    if (params > 1e12)
      throw error("config", "at most 1e12 parameters", std::to_string(params) + " parameters (refused before allocating)");
  }
};

}  // namespace growth::model
