#pragma once
/// @file decoder_layout.hpp
/// The layout tables of the decoder LMs (decoder_config.hpp), in the schema of layout.hpp: every parameter's
/// Hugging Face name, shape, role, axes and growth semantics. Growth, checkpoint I/O and the reference
/// causal LM loop over these lists exactly as they do over bert_parameters().
///
/// The semantics the operators read, per family:
///   - residual writers (zeroed in an inserted identity layer): o_proj / attn.c_proj and down_proj /
///     mlp.c_proj, weight and bias. Both families are pre-norm, so a layer whose residual writers are zero
///     computes x + 0 + 0 = x: identity insertion needs no norm hand-off.
///   - norm sites: input_layernorm / ln_1 (attention), post_attention_layernorm / ln_2 (output), and the
///     final norm (model.norm / ln_f), which is site head when lm_head is tied to the token embeddings (its
///     output is what the tied matrix reads: scaled by d/d' under hidden replication) and site final otherwise.
///   - RMSNorm has a gain and no bias (param_kind ln_gain only); GPT-2's LayerNorms have both.
///   - axes: q_proj rows run over dim::attn (num_heads x head_dim), k_proj / v_proj rows over dim::kv
///     (num_key_value_heads x head_dim); GPT-2's fused c_attn columns over dim::qkv ([q ; k ; v], three
///     attn blocks). GPT-2's Conv1D weights are stored in x out, so their axes are listed {in, out}.
#include <cstddef>
#include <string>
#include <vector>

#include "decoder_config.hpp"
#include "layout.hpp"

namespace growth::model {

/// The extent of dimension d in a decoder with config c (the same in every layer: no low-cost variants).
inline std::size_t extent_of(const decoder_config& c, dim d, int /*layer*/) {
  switch (d) {
    case dim::hidden: return c.hidden_size;
    case dim::attn: return c.attn_width();
    case dim::kv: return c.kv_width();
    case dim::qkv: return c.attn_width() + 2 * c.kv_width();
    case dim::ffn: return c.intermediate_size;
    case dim::vocab: return c.vocab_size;
    case dim::position: return c.has_position_table() ? c.max_position_embeddings : 0;
    case dim::token_type:
    case dim::rank: return 0;  // no token types, no factorised FFN
  }
  return 0;
}

/// "model.layers.N." (llama) or "transformer.h.N." (gpt2).
inline std::string layer_prefix(const decoder_config& c, std::size_t l) {
  return (c.is_gpt2() ? "transformer.h." : "model.layers.") + std::to_string(l) + ".";
}

/// Every parameter of the causal LM with config c, in a fixed order (HF's module order; the order of the
/// reference model's flat buffers). A tied lm_head is not listed: it is the token-embedding matrix.
inline std::vector<param_spec> decoder_parameters(const decoder_config& c) {
  std::vector<param_spec> p;
  struct sem {
    param_kind kind = param_kind::weight;
    bool residual_out = false;
    ln_site site = ln_site::none;
  };
  auto add = [&](std::string name, role r, int layer, std::vector<axis_spec> axes, bool decay, sem m) {
    std::string key = layer >= 0 ? name.substr(layer_prefix(c, static_cast<std::size_t>(layer)).size()) : name;
    param_spec s{std::move(name), r, layer, {}, std::move(axes), decay, m.kind, m.residual_out, m.site, std::move(key), factor_part::none, ""};
    for (auto a : s.axes) s.shape.push_back(extent_of(c, a.d, layer));
    p.push_back(std::move(s));
  };
  const sem W{}, Bias{param_kind::bias}, Emb{param_kind::embedding};
  const sem Wres{param_kind::weight, true}, Bres{param_kind::bias, true};
  auto gain = [](ln_site site) { return sem{param_kind::ln_gain, false, site}; };
  auto beta = [](ln_site site) { return sem{param_kind::ln_bias, false, site}; };
  const axis_spec H_out{dim::hidden, side::out}, H_in{dim::hidden, side::in};
  const axis_spec A_out{dim::attn, side::out}, A_in{dim::attn, side::in};
  const axis_spec KV_out{dim::kv, side::out}, QKV_out{dim::qkv, side::out};
  const axis_spec I_out{dim::ffn, side::out}, I_in{dim::ffn, side::in};
  const axis_spec V_out{dim::vocab, side::out};
  const ln_site final_site = c.tie_word_embeddings ? ln_site::head : ln_site::final;

  if (c.is_gpt2()) {
    add("transformer.wte.weight", role::word_embeddings, -1, {V_out, H_out}, true, Emb);
    add("transformer.wpe.weight", role::position_embeddings, -1, {{dim::position, side::out}, H_out}, true, Emb);
    for (std::size_t l = 0; l < c.num_hidden_layers; ++l) {
      const std::string pre = layer_prefix(c, l);
      const int L = static_cast<int>(l);
      add(pre + "ln_1.weight", role::attention_ln_weight, L, {H_out}, false, gain(ln_site::attention));
      add(pre + "ln_1.bias", role::attention_ln_bias, L, {H_out}, false, beta(ln_site::attention));
      add(pre + "attn.c_attn.weight", role::qkv_weight, L, {H_in, QKV_out}, true, W);  // Conv1D: in x out
      add(pre + "attn.c_attn.bias", role::qkv_bias, L, {QKV_out}, false, Bias);
      add(pre + "attn.c_proj.weight", role::attention_output_weight, L, {A_in, H_out}, true, Wres);
      add(pre + "attn.c_proj.bias", role::attention_output_bias, L, {H_out}, false, Bres);
      add(pre + "ln_2.weight", role::output_ln_weight, L, {H_out}, false, gain(ln_site::output));
      add(pre + "ln_2.bias", role::output_ln_bias, L, {H_out}, false, beta(ln_site::output));
      add(pre + "mlp.c_fc.weight", role::intermediate_weight, L, {H_in, I_out}, true, W);
      add(pre + "mlp.c_fc.bias", role::intermediate_bias, L, {I_out}, false, Bias);
      add(pre + "mlp.c_proj.weight", role::output_weight, L, {I_in, H_out}, true, Wres);
      add(pre + "mlp.c_proj.bias", role::output_bias, L, {H_out}, false, Bres);
    }
    add("transformer.ln_f.weight", role::encoder_final_ln_weight, -1, {H_out}, false, gain(final_site));
    add("transformer.ln_f.bias", role::encoder_final_ln_bias, -1, {H_out}, false, beta(final_site));
    return p;
  }

  add("model.embed_tokens.weight", role::word_embeddings, -1, {V_out, H_out}, true, Emb);
  for (std::size_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = layer_prefix(c, l);
    const int L = static_cast<int>(l);
    add(pre + "self_attn.q_proj.weight", role::query_weight, L, {A_out, H_in}, true, W);
    if (c.qkv_bias) add(pre + "self_attn.q_proj.bias", role::query_bias, L, {A_out}, false, Bias);
    add(pre + "self_attn.k_proj.weight", role::key_weight, L, {KV_out, H_in}, true, W);
    if (c.qkv_bias) add(pre + "self_attn.k_proj.bias", role::key_bias, L, {KV_out}, false, Bias);
    add(pre + "self_attn.v_proj.weight", role::value_weight, L, {KV_out, H_in}, true, W);
    if (c.qkv_bias) add(pre + "self_attn.v_proj.bias", role::value_bias, L, {KV_out}, false, Bias);
    add(pre + "self_attn.o_proj.weight", role::attention_output_weight, L, {H_out, A_in}, true, Wres);
    if (c.o_bias) add(pre + "self_attn.o_proj.bias", role::attention_output_bias, L, {H_out}, false, Bres);
    add(pre + "mlp.gate_proj.weight", role::gate_weight, L, {I_out, H_in}, true, W);
    if (c.mlp_bias) add(pre + "mlp.gate_proj.bias", role::gate_bias, L, {I_out}, false, Bias);
    add(pre + "mlp.up_proj.weight", role::intermediate_weight, L, {I_out, H_in}, true, W);
    if (c.mlp_bias) add(pre + "mlp.up_proj.bias", role::intermediate_bias, L, {I_out}, false, Bias);
    add(pre + "mlp.down_proj.weight", role::output_weight, L, {H_out, I_in}, true, Wres);
    if (c.mlp_bias) add(pre + "mlp.down_proj.bias", role::output_bias, L, {H_out}, false, Bres);
    add(pre + "input_layernorm.weight", role::attention_ln_weight, L, {H_out}, false, gain(ln_site::attention));
    add(pre + "post_attention_layernorm.weight", role::output_ln_weight, L, {H_out}, false, gain(ln_site::output));
  }
  add("model.norm.weight", role::encoder_final_ln_weight, -1, {H_out}, false, gain(final_site));
  if (!c.tie_word_embeddings) add("lm_head.weight", role::lm_head_weight, -1, {V_out, H_in}, true, W);
  return p;
}

/// The layout table of a config, by overload (bert_layout.hpp has the BERT one).
inline std::vector<param_spec> parameters_of(const decoder_config& c) { return decoder_parameters(c); }

/// Names a Hugging Face checkpoint of this family may hold that are not parameters of the table: the tied
/// lm_head (a copy of the token embeddings) and the non-persistent buffers older transformers versions
/// saved (GPT-2's causal-mask "attn.bias" / "attn.masked_bias", LLaMA's "rotary_emb.inv_freq"). Readers skip
/// them; writers never write them.
inline bool is_tied_alias(const decoder_config& c, const std::string& name) {
  const auto ends_with = [&](const char* suffix) {
    const std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (c.tie_word_embeddings && name == "lm_head.weight") return true;
  if (c.is_gpt2()) return name.rfind("transformer.h.", 0) == 0 && (ends_with(".attn.bias") || ends_with(".attn.masked_bias"));
  return name.rfind("model.layers.", 0) == 0 && ends_with(".self_attn.rotary_emb.inv_freq");
}

/// Total parameter count.
inline std::size_t parameter_count(const decoder_config& c) {
  std::size_t n = 0;
  for (const auto& s : decoder_parameters(c)) n += s.numel();
  return n;
}

}  // namespace growth::model
