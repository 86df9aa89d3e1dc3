#pragma once
/// @file layout.hpp
/// The schema of a layout table, shared by every architecture: a table lists each parameter's Hugging Face
/// name, its shape, the role it plays and which model dimension each of its axes runs over, plus the
/// growth semantics the operators read (kind, residual writer, norm site, factor). Architectures supply
/// tables (bert_layout.hpp, decoder_layout.hpp); checkpoint I/O, the reference models' flat buffers, the
/// optimizer and whole-model growth loop over them, so a new architecture is a new table.
///
/// Axes are listed in storage order, so a weight stored in x out (GPT-2's Conv1D, the transpose of an
/// nn.Linear) is {in axis, out axis}: the operators map each axis by its (dim, side) and need no special case.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace growth::model {

/// Which model dimension an axis runs over. Growth picks the axis's map from this.
enum class dim {
  hidden,      ///< the residual stream (hidden_size)
  attn,        ///< the concatenated query heads (num_heads x head_dim; equals hidden_size in HF BERT)
  kv,          ///< the concatenated key/value heads of grouped-query attention (num_key_value_heads x head_dim)
  qkv,         ///< a fused [query ; key ; value] projection axis (GPT-2's c_attn: 3 x attn, three attn blocks)
  ffn,         ///< FFN neurons of the parameter's layer
  rank,        ///< rank of a factorised FFN matrix
  vocab,       ///< vocabulary
  position,    ///< max_position_embeddings
  token_type,  ///< type_vocab_size
};

/// Whether an axis produces values along its dimension (rows of an out x in weight, biases, LN params,
/// embeddings) or consumes them (columns: the fan-in). Growth scales fan-in axes, copies fan-out axes.
enum class side { out, in };

/// Which parameter this is (its name in words), across the architectures that have a layout table
/// (bert_layout.hpp: BertForMaskedLM; decoder_layout.hpp: LLaMA-family and GPT-2 causal LMs). A role names
/// the function, so one role covers the same parameter in every family (query_weight is BERT's
/// attention.self.query and LLaMA's self_attn.q_proj). Growth does not switch on it: it reads the semantic
/// fields of param_spec (kind, residual_out, site, factor, product) instead.
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
  attention_ln_weight,  ///< post-LN: LN after attention + residual; pre-LN: LN1, before attention (LLaMA
                        ///< input_layernorm, GPT-2 ln_1)
  attention_ln_bias,
  intermediate_weight,    ///< FFN in: (I, H) (LLaMA up_proj; GPT-2 c_fc, stored (H, I))
  intermediate_bias,      ///< (I)
  intermediate_weight_u,  ///< factorised FFN in: W1 = U1 V1, U1 (I, r)
  intermediate_weight_v,  ///< V1 (r, H)
  output_weight,          ///< FFN out: (H, I) (LLaMA down_proj; GPT-2 mlp.c_proj, stored (I, H))
  output_bias,            ///< (H)
  output_weight_u,        ///< factorised FFN out: W2 = U2 V2, U2 (H, r)
  output_weight_v,        ///< V2 (r, I)
  output_ln_weight,  ///< post-LN: LN after FFN + residual; pre-LN: LN2, before the FFN (LLaMA
                     ///< post_attention_layernorm, GPT-2 ln_2)
  output_ln_bias,
  encoder_final_ln_weight,  ///< pre-LN: the norm after the last layer (bert.LayerNorm, LLaMA model.norm, GPT-2 ln_f)
  encoder_final_ln_bias,
  head_dense_weight,  ///< cls.predictions.transform.dense
  head_dense_bias,
  head_ln_weight,
  head_ln_bias,
  head_output_bias,  ///< cls.predictions.bias (the decoder weight is tied to word_embeddings)
  // Decoder LMs (decoder_layout.hpp).
  gate_weight,  ///< SwiGLU gate: (I, H) (LLaMA mlp.gate_proj); FFN(x) = down(silu(gate x) * up x)
  gate_bias,    ///< (I), only with mlp_bias
  qkv_weight,   ///< fused [q ; k ; v] projection (GPT-2 attn.c_attn, Conv1D: stored (H, 3A))
  qkv_bias,     ///< (3A)
  lm_head_weight,  ///< an untied LM head (V, H) (lm_head.weight; absent when tied to word_embeddings)
};

/// The number of roles: role's enumerators run densely from 0 to lm_head_weight, the last.
inline constexpr std::size_t role_count = static_cast<std::size_t>(role::lm_head_weight) + 1;

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
///   head: the norm whose output a head tied to the word embeddings reads (BERT's MLM-head LayerNorm; a tied
///     decoder LM's final norm): scaled by d/d' under hidden replication (the tied matrix's replicated
///     columns sum k copies of every product).
enum class ln_site : std::uint8_t { none, embeddings, attention, output, final, head };

/// A factorised matrix W = U V (paper-notes.md section 2): which factor a parameter is.
enum class factor_part : std::uint8_t { none, u, v };

struct param_spec {
  std::string name;
  role r;
  int layer = -1;  ///< transformer layer, -1 outside the layers
  std::vector<std::size_t> shape;
  std::vector<axis_spec> axes;  ///< one per shape entry
  bool decay = true;            ///< AdamW weight decay applies (false for LayerNorm and biases)
  param_kind kind = param_kind::weight;
  /// Writes the residual stream from inside a layer (attention output dense, FFN output dense): zeroed in
  /// an inserted identity layer, so the layer adds 0 to the stream.
  bool residual_out = false;
  ln_site site = ln_site::none;
  /// The name inside its layer (without the layer prefix, e.g. "bert.encoder.layer.N." or
  /// "model.layers.N."; the whole name outside the layers): the key that matches the same parameter in
  /// another layer.
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

}  // namespace growth::model
