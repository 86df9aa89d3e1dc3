#pragma once
/// @file bert_layout.hpp
/// The BERT parameter layout, written once: every parameter's Hugging Face name, its shape as a function
/// of the config, the role it plays and which model dimension each of its axes belongs to. Checkpoint I/O,
/// the reference model's flat buffers, the optimizer and whole-model growth all loop over this list.
///
/// Weights are stored as PyTorch stores them: nn.Linear weight is (out, in), row-major.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bert_config.hpp"

namespace growth::model {

/// Which model dimension an axis runs over. Growth picks the axis's map from this.
enum class dim {
  hidden,      ///< the residual stream (hidden_size)
  attn,        ///< the concatenated heads (num_heads x head_dim; equals hidden_size in HF BERT)
  ffn,         ///< FFN neurons of the parameter's layer
  rank,        ///< rank of a factorised FFN matrix
  vocab,       ///< vocabulary
  position,    ///< max_position_embeddings
  token_type,  ///< type_vocab_size
};

/// Whether an axis produces values along its dimension (rows of an out x in weight, biases, LN params,
/// embeddings) or consumes them (columns: the fan-in). Growth scales fan-in axes, copies fan-out axes.
enum class side { out, in };

/// Which parameter of BertForMaskedLM this is (its name in words). Growth does not switch on it: it reads
/// the semantic fields of param_spec (kind, residual_out, site, factor, product) instead.
enum class role {
  word_embeddings,
  position_embeddings,
  token_type_embeddings,
  embeddings_ln_weight,
  embeddings_ln_bias,
  query_weight,
  query_bias,
  key_weight,
  key_bias,
  value_weight,
  value_bias,
  attention_output_weight,
  attention_output_bias,
  attention_ln_weight,  ///< post-LN: LN after attention + residual; pre-LN: LN1, before attention
  attention_ln_bias,
  intermediate_weight,    ///< FFN in: (I, H)
  intermediate_bias,      ///< (I)
  intermediate_weight_u,  ///< factorised FFN in: W1 = U1 V1, U1 (I, r)
  intermediate_weight_v,  ///< V1 (r, H)
  output_weight,          ///< FFN out: (H, I)
  output_bias,            ///< (H)
  output_weight_u,        ///< factorised FFN out: W2 = U2 V2, U2 (H, r)
  output_weight_v,        ///< V2 (r, I)
  output_ln_weight,  ///< post-LN: LN after FFN + residual; pre-LN: LN2, before the FFN
  output_ln_bias,
  encoder_final_ln_weight,  ///< pre-LN only: the LayerNorm after the last layer (bert.LayerNorm)
  encoder_final_ln_bias,
  head_dense_weight,  ///< cls.predictions.transform.dense
  head_dense_bias,
  head_ln_weight,
  head_ln_bias,
  head_output_bias,  ///< cls.predictions.bias (the decoder weight is tied to word_embeddings)
};

/// The number of roles: role's enumerators run densely from 0 to head_output_bias, the last.
inline constexpr std::size_t role_count = static_cast<std::size_t>(role::head_output_bias) + 1;

/// One value per role, indexed by the role itself: how a model binds its parameters from the layout table
/// (the reference model keeps one flat-buffer offset per role, per layer and once outside the layers).
template <class V>
struct per_role {
  std::array<V, role_count> at{};
  constexpr V& operator[](role r) { return at[static_cast<std::size_t>(r)]; }
  constexpr const V& operator[](role r) const { return at[static_cast<std::size_t>(r)]; }
};

struct axis_spec {
  dim d;
  side s;
};

/// What kind of tensor a parameter is: growth fills, scales and zeroes by kind.
enum class param_kind : std::uint8_t {
  weight,     ///< a linear map's weight (out x in)
  bias,       ///< a linear map's bias
  ln_gain,    ///< LayerNorm gamma (unit LN: 1; mean padding scales it)
  ln_bias,    ///< LayerNorm beta (unit LN: 0)
  embedding,  ///< a lookup table (rows looked up, never consumed)
};

/// Which LayerNorm a LayerNorm parameter belongs to, and so its rule at depth growth (ops/depth.hpp's
/// hand-off for identity insertion in post-LN):
///   embeddings, final: outside the layers, copied;
///   attention: per layer; unit (gamma 1, beta 0) in an inserted layer (plan attention_ln_unit);
///   output: per layer; takes the affine of plan.output_ln_src (unit where that is unit_layer_norm), and in
///     an inserted layer that took the old affine it carries the old layer's Adam moments;
///   head: the MLM head's, scaled by d/d' under hidden replication (the tied decoder reads the embeddings).
enum class ln_site : std::uint8_t { none, embeddings, attention, output, final, head };

/// A factorised matrix W = U V (paper-notes.md section 2): which factor a parameter is.
enum class factor_part : std::uint8_t { none, u, v };

struct param_spec {
  std::string name;
  role r;
  int layer = -1;  ///< encoder layer, -1 outside the encoder
  std::vector<std::size_t> shape;
  std::vector<axis_spec> axes;  ///< one per shape entry
  bool decay = true;            ///< AdamW weight decay applies (false for LayerNorm and biases)
  param_kind kind = param_kind::weight;
  /// Writes the residual stream from inside a layer (attention output dense, FFN output dense): zeroed in
  /// an inserted identity layer, so the layer adds 0 to the stream.
  bool residual_out = false;
  ln_site site = ln_site::none;
  /// The name inside its layer (without "bert.encoder.layer.N."; the whole name outside the encoder): the
  /// key that matches the same parameter in another layer.
  std::string key;
  factor_part factor = factor_part::none;
  /// For a factor U or V: the in-layer key of the product W = U V. For a weight that a low-cost layer
  /// stores factorised: its own key (growth multiplies the source layer's U V out into it). Else empty.
  std::string product;
  [[nodiscard]] std::size_t numel() const {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  [[nodiscard]] bool is_layernorm() const { return kind == param_kind::ln_gain || kind == param_kind::ln_bias; }
};

/// The extent of dimension d in layer `layer` of a model with config c.
inline std::size_t extent_of(const bert_config& c, dim d, int layer) {
  switch (d) {
    case dim::hidden:
    case dim::attn: return c.hidden_size;  // BERT's attention width is its hidden size
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
