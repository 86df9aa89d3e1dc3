#pragma once
/// @file grow.hpp
/// Whole-model growth: one transition from a model of config `from` to one of config `to` of the same
/// architecture, in any combination of dimensions (depth, FFN width, hidden width, heads, position table),
/// out of the paper's low-cost variants (shared or factorised FFN, BERT only), with the AdamW moments
/// carried along. Two architectures have layout tables: BERT (bert_config, bert_layout.hpp) and the decoder
/// LMs (decoder_config, decoder_layout.hpp: LLaMA family, GPT-2). The loop below is written once: the table
/// is the only per-architecture fact it reads; what differs (legality, exactness, the depth hand-off, how the
/// hidden and head dimensions map) are per-architecture overloads of check_transition, exactness_of,
/// depth_plan_of, plan_hidden, plan_heads, position_map and ffn_map, called by the one plan_transition.
///
/// It is a loop over the layout (bert_layout.hpp), not a list of hand-written cases: every new parameter
/// is one old parameter (chosen by the layout table's growth fields and the depth plan) pushed through a tensor_map whose axis
/// maps come from the unit_map of the dimension each axis runs over (fan_out maps on producing axes,
/// fan_in maps on consuming axes). Order, as one composed map per parameter:
///   1. depth: new layer i reads old layer plan.src[i] (identity layers: residual-branch outputs zeroed,
///      LayerNorm hand-off; see ops/depth.hpp);
///   2. leaving a low-cost variant: a shared FFN is un-shared (tile x k, fan-in / k) and a factorised FFN is
///      multiplied out (W = U V) at the old width;
///   3. width: FFN neurons (split / asymmetric split), hidden units (replicate / mean-pad), heads
///      (add / duplicate);
///   4. length: the position-embedding table.
///
/// Optimizer state (policy map): Adam's m transforms like the GRADIENT, and v like its square. For an
/// exact operator the grown model's gradient is the small model's gradient pushed through the same index
/// maps with fan_out and fan_in swapped (a replica consumed with fraction p receives p times the gradient;
/// a column scaled by p sees the unscaled input), divided by any extra scale put on the weight itself
/// (the MLM head LayerNorm's 1/k). With m and v mapped this way, one AdamW step of the grown model gives
/// exactly the mapped gradients and moments of the small model's step (Staged Training's check), and the
/// per-coordinate update m/sqrt(v) is that of the source coordinate (global gradient-norm clipping
/// aside: the grown gradient has another norm). Zeroed, fresh and un-factorised
/// tensors start with zero moments, and so does every weight of an inserted identity layer except its
/// hand-off output LayerNorm (their gradient is exactly zero at the growth point: the layer's residual
/// outputs are zero). Position rows added by tile / interpolate copy (mix) the moments of the rows they
/// copy (a heuristic: those rows are unused by the old model).
///
/// Streaming: plan_growth() + grow_parameter() grow one parameter at a time (growth_sources() says which
/// old tensors it reads), so file-to-file growth never holds two whole models.
/// Policy reset: all moments zero (the paper's code).
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/unit_map.hpp"
#include "../ops/depth.hpp"
#include "../ops/heads.hpp"
#include "../ops/length.hpp"
#include "../ops/options.hpp"
#include "../ops/width.hpp"
#include "bert_config.hpp"
#include "bert_layout.hpp"
#include "decoder_config.hpp"
#include "decoder_layout.hpp"
#include "parameter_set.hpp"
#include "rules.hpp"
#include "shape.hpp"

namespace growth::model {

// The options are growth's one options struct (ops/options.hpp); model-level names of its enums.
using growth::grow_options;
using growth::optimizer_policy;

/// Adam moments of a model, as parameter sets laid out like the parameters.
template <class T, class Space = host_space>
struct moments {
  parameter_set<T, Space> m;
  parameter_set<T, Space> v;
};

/// Whether growing `from` into `to` with `opt` preserves the network's function exactly (up to float
/// rounding), and if not, why.
struct exactness {
  bool exact = true;
  std::vector<std::string> reasons;
};

/// The one place where exactness is derived (plan_transition, check_growth, grow(), `growth grow` and its
/// --check all report this). A transition is exact when the grown network computes the old one's logits
/// on every input the old one accepts (sequences of at most P = from.max_position_embeddings tokens), up to
/// float rounding. From the operators' definitions:
///   - depth: identity insertion is exact (residual branches zeroed; post-LN also needs the LayerNorm
///     hand-off of ops/depth.hpp, pre-LN needs none); stack / interpolate run old layers twice (f(f(x))).
///   - FFN: every split (round-robin, random, asymmetric: fractions of a neuron's fan-out sum to 1),
///     un-sharing (tile, fan-in / k) and un-factorising (W = U V) are exact.
///   - hidden: replicate keeps LayerNorm's mean and variance (uniform multiplicity) and is exact;
///     mean_pad changes the statistics of a post-LN residual stream (LN(x) over d' units of which the new
///     ones are means); in pre-LN BERT the embedding LN and the MLM head break it too (see below).
///   - heads: add (new output-projection columns 0) and duplicate (columns / count) are exact.
///   - positions: tile and random keep rows 0..P-1; interpolate moves row j to x = j (P-1)/(P'-1), so
///     every row 1..P-1 changes (P >= 2, P' > P).
///   - pooling: leaving mean embedding pooling (pool_size k > 1 -> 1) feeds every token instead of window
///     means: another function.
///   - config fields the operators do not map but the forward pass reads: layer_norm_eps, pre_layer_norm.
inline exactness exactness_of(const bert_config& from, const bert_config& to, const grow_options& o) {
  exactness e;
  auto inexact = [&](std::string why) {
    e.exact = false;
    e.reasons.push_back(std::move(why));
  };
  if (to.num_hidden_layers != from.num_hidden_layers && o.depth != depth_mode::identity)
    inexact(o.depth == depth_mode::stack ? "depth by stacking computes f(f(x))" : "depth by interpolation repeats layers");
  // Not in pre-LN BERT either: the embedding LayerNorm and the MLM head's GELU -> LayerNorm break the
  // [x ; mean x] form of the stream (docs/prelayernorm.md; measured by
  // tests/model/test_grow_exactness_property.cpp). An operator that closes those paths makes this
  // `&& !from.pre_layer_norm`, and the property test then checks it.
  if (to.hidden_size != from.hidden_size && o.hidden == hidden_mode::mean_pad)
    inexact(from.pre_layer_norm ? "hidden mean padding: the embedding LN and the MLM head break [x ; mean x] in pre-LN"
                                : "hidden mean padding is not exact in post-LN BERT");
  if (to.max_position_embeddings != from.max_position_embeddings && o.length == length_mode::interpolate &&
      from.max_position_embeddings >= 2)
    inexact("length interpolate changes position rows 1.." + std::to_string(from.max_position_embeddings - 1));
  if (from.pool_size > 1 && to.pool_size == 1)
    inexact("leaving mean pooling (pool_size " + std::to_string(from.pool_size) + " -> 1) changes the inputs of layer 0");
  if (to.layer_norm_eps != from.layer_norm_eps) inexact("layer_norm_eps changes");
  if (to.pre_layer_norm != from.pre_layer_norm) inexact("pre_layer_norm changes (another architecture)");
  return e;
}

/// Whether identity insertion (depth_mode::identity) needs the LayerNorm hand-off of ops/depth.hpp to be
/// exact: yes in post-LN BERT (a new layer computes LN_out(LN_att(x + 0) + 0) != x without it), no in pre-LN
/// (a new layer computes x + 0 + 0 = x: zeroing the residual-branch outputs is enough, and the hand-off would
/// change the old layer's FFN input). grow() applies the plan with or without it accordingly.
[[nodiscard]] inline bool identity_needs_ln_handoff(const bert_config& c) noexcept { return !c.pre_layer_norm; }

/// Whether hidden mean padding (hidden_mode::mean_pad, LEMON's average expansion) preserves this BERT's
/// function: no, in post-LN and in pre-LN alike. Average expansion keeps a LayerNorm's output on the old
/// units (and makes it 0 on the new ones, gains x sqrt(d/d')) only if the LN's input is [x ; mean(x) 1]:
/// then its mean is unchanged and its variance is var(x) d/d' (LN over d' units: sum (x_i - mu)^2 / d').
/// Linear producers keep that form (new rows = mean of old rows, so a sum of mean-padded terms is
/// mean-padded), but BERT has two non-linear producers of LN inputs: the embedding LayerNorm, whose output
/// IS the residual stream (its new units are the constant beta_new, not mean_i(gamma_i n_i + beta_i), which
/// varies per token unless gamma is uniform), and the MLM head's GELU before its LayerNorm
/// (GELU(mean t) != mean GELU(t) for any gains). Pre-LN fixes neither (measured in
/// tests/model/test_grow_preln.cpp, docs/prelayernorm.md); LEMON's exact setting is a pre-LN transformer
/// without an embedding LN whose head reads the final LN linearly. Use hidden_replicate (integer ratio).
[[nodiscard]] inline bool hidden_mean_pad_exact(const bert_config& /*c*/) noexcept { return false; }

// ------------------------------------------------------------------------------------------------------------
// Decoder LMs (decoder_config): exactness. Both families are pre-norm with the residual stream starting from
// linear embeddings (token embeddings, plus GPT-2's learned positions) and the head reading the final norm
// linearly, so every width operator has an exact form here. Legality is check_transition (below).

/// The norm eps a decoder grown from `from` to hidden size d' needs for hidden mean_pad to be exact:
/// eps d/d' (see exactness_of). Callers that build a target config (`growth grow --hidden mean-pad`) use it.
[[nodiscard]] inline double mean_pad_norm_eps(const decoder_config& from, std::size_t new_hidden) {
  return from.norm_eps * static_cast<double>(from.hidden_size) / static_cast<double>(new_hidden);
}

/// Whether growing decoder `from` into `to` with `o` preserves the logits on every input the old model
/// accepts (at most from.max_position_embeddings tokens), and if not, why. From the operators' definitions:
///   - depth: identity insertion is exact (pre-norm: zeroed o_proj / down_proj and their biases make a layer
///     compute x + 0 + 0 = x; no norm hand-off); stack (G_stack: the whole stack repeated) and interpolate
///     run old layers twice, f(f(x)).
///   - FFN: split / split_random / split_asym are exact (SwiGLU: a replica has the gate and up rows of its
///     source, hence the same silu(g) u, and the down columns' fractions sum to 1; GPT-2's GELU likewise).
///   - hidden replicate: exact under RMSNorm (the mean square of [x ; ... ; x] is that of x) and LayerNorm
///     (mean and variance unchanged); consumers' columns are divided by k, and the norm the tied head reads
///     (ln_site::head) by k, since the tied matrix's replicated columns sum k copies of every product; an
///     untied lm_head divides its columns like any consumer.
///   - hidden mean_pad, family llama: zero padding (ops/width.hpp hidden_zero_pad; the mean padding of the
///     name is LayerNorm's form): the stream becomes [x ; 0], RMSNorm over d' units sees the mean square
///     ms d/d', so with gains x sqrt(d/d') and eps x d/d' it returns the old output on the old units and 0 on
///     the new ones. Exact iff to.norm_eps == from.norm_eps d/d' (mean_pad_norm_eps); otherwise every norm's
///     output moves by a relative ~ eps (d'/d - 1) / (2 ms), reported inexact.
///   - hidden mean_pad, family gpt2: LEMON's average expansion (hidden_mean_pad): every producer of the stream
///     is linear (wte, wpe, c_proj rows and biases: new units are means), so the stream stays [x ; mean(x) 1];
///     LayerNorm then sees the same mean and variance var d/d', so with gains x sqrt(d/d') and eps x d/d' it
///     returns the old output on old units and beta_new on new ones, which every consumer reads through zero
///     columns. The tied head reads ln_f through the mean-padded embedding columns, so ln_f's new beta
///     entries are set to 0 (its new outputs are then exactly 0). Exact iff the eps is scaled as for llama.
///   - heads (grouped_heads_grow, ops/heads.hpp): add and duplicate are exact at fixed head size (rotary
///     embeddings act within a head, so they are unchanged).
///   - positions: GPT-2's table as BERT's (tile and random keep rows 0..P-1, interpolate moves rows
///     1..P-1). Rotary models have no table: growing max_position_embeddings maps nothing and is exact on
///     the old lengths (RoPE is the same function of the position at every length); what the grown model
///     does beyond P is RoPE extrapolation. Context extension by RoPE scaling (rope_scaling, NTK, YaRN) is
///     out of scope (io/decoder_config_json.hpp refuses rope_scaling).
///   - config fields the operators do not map but the forward pass reads: norm eps (except as mean_pad
///     needs), rope_theta.
inline exactness exactness_of(const decoder_config& from, const decoder_config& to, const grow_options& o) {
  exactness e;
  auto inexact = [&](std::string why) {
    e.exact = false;
    e.reasons.push_back(std::move(why));
  };
  if (to.num_hidden_layers != from.num_hidden_layers && o.depth != depth_mode::identity)
    inexact(o.depth == depth_mode::stack ? "depth by stacking computes f(f(x))" : "depth by interpolation repeats layers");
  const bool pad = to.hidden_size != from.hidden_size && o.hidden == hidden_mode::mean_pad;
  const double want_eps = pad ? mean_pad_norm_eps(from, to.hidden_size) : from.norm_eps;
  if (std::fabs(to.norm_eps - want_eps) > 1e-12 * want_eps) {
    if (pad)
      inexact(std::string(from.is_gpt2() ? "hidden average expansion" : "hidden zero padding") +
              " needs the norm eps scaled by d/d' (" + std::to_string(want_eps) + "), not " + std::to_string(to.norm_eps));
    else
      inexact("norm eps changes");
  }
  if (from.has_position_table() && to.max_position_embeddings != from.max_position_embeddings &&
      o.length == length_mode::interpolate && from.max_position_embeddings >= 2)
    inexact("length interpolate changes position rows 1.." + std::to_string(from.max_position_embeddings - 1));
  if (!from.is_gpt2() && to.rope_theta != from.rope_theta) inexact("rope_theta changes the rotary frequencies");
  return e;
}

/// Decoders are pre-norm: identity insertion needs no norm hand-off.
[[nodiscard]] inline bool identity_needs_ln_handoff(const decoder_config& /*c*/) noexcept { return false; }

namespace detail {

inline void require_grow(bool cond, const std::string& field, const std::string& expected, const std::string& actual) {
  if (!cond) throw error("target config field " + field, expected, actual);
}

/// Everything that is decided once per transition: the depth plan and the unit map of every dimension.
struct transition {
  depth_plan depth;
  unit_map hidden, attn, position;
  unit_map kv;   ///< key/value heads (dim::kv; BERT: the attention map, it has no grouped heads)
  unit_map qkv;  ///< a fused [q ; k ; v] axis (dim::qkv, GPT-2): the attn, kv, kv maps as three blocks
  std::vector<unit_map> ffn;  ///< per NEW layer: the FFN neuron map from its source layer's FFN
  double head_ln_scale = 1;   ///< extra scale on the MLM-head LayerNorm (tied decoder under replication)
  double ln_gain_scale = 1;   ///< extra scale on every LayerNorm gain (mean padding)
  /// Decoder zero padding (hidden_zero_pad): the new hidden units. Their consumer columns get fresh noise
  /// and their norm gains ln_gain_scale (both exact: the units are 0), so the units receive gradients.
  /// Empty: none.
  std::vector<bool> hidden_new;
  /// GPT-2 average expansion: the new hidden units, whose beta in the norm the tied head reads is set to 0.
  std::vector<bool> head_bias_zero;
  exactness exact;
};

/// Step 1: the transition is legal. The shared rules (model/rules.hpp), their failures in the words of the
/// target config's fields, then what only configs can get wrong (vocabularies, pre-LN).
inline void check_transition(const bert_config& from, const bert_config& to, const grow_options& o) {
  from.validate();
  to.validate();
  const rule_result r = check_growth_rules(
      dims_of(from), [&](std::size_t l) { return layer_state(from, l); }, dims_of(to),
      [&](std::size_t l) { return layer_state(to, l); }, o);
  const auto n = [](std::size_t v) { return std::to_string(v); };
  switch (r.code) {
    case rule::ok: break;
    case rule::shrinks: {
      const char* f = r.where == rule_field::layers   ? "num_hidden_layers"
                      : r.where == rule_field::hidden ? "hidden_size"
                      : r.where == rule_field::heads  ? "num_attention_heads"
                      : r.where == rule_field::ffn    ? "intermediate_size"
                                                      : "max_position_embeddings";
      require_grow(false, f, ">= " + n(r.expected) + " (growth never shrinks a dimension)", n(r.actual));
      break;
    }
    case rule::head_size_changed:
      throw error("target config fields hidden_size / num_attention_heads",
                  "head size " + n(r.expected) + " (heads grow at fixed head size)",
                  "head size " + n(r.actual) + " (" + n(to.hidden_size) + " / " + n(to.num_attention_heads) + ")");
    case rule::pool_changed:
      throw error("target config field growth.pool_size", "1 or " + n(from.pool_size), n(to.pool_size));
    case rule::not_integer_factor:
      throw error("target config field hidden_size", "a multiple of " + n(from.hidden_size) + " for --hidden replicate",
                  n(to.hidden_size));
    case rule::lowcost_entered:
      // Low-cost variants may be kept or left, never entered by growth.
      if (r.actual == static_cast<std::size_t>(ffn_state::shared)) {
        if (from.ffn_shared_layers.empty())
          throw error("target config field growth.ffn_shared_layers", "empty (growth cannot enter FFN sharing)",
                      "non-empty");
        throw error("target config field growth.ffn_shared_layers",
                    "only layers whose source layer " + n(r.source) + " is shared", "layer " + n(r.layer));
      }
      if (from.ffn_factorized_layers.empty())
        throw error("target config field growth.ffn_factorized_layers", "empty (growth cannot enter factorisation)",
                    "non-empty");
      throw error("target config field growth.ffn_factorized_layers",
                  "only layers whose source layer " + n(r.source) + " is factorised", "layer " + n(r.layer));
    case rule::lowcost_changed:
      throw error(r.where == rule_field::share_factor ? "target config field growth.ffn_share_factor"
                                                      : "target config field growth.ffn_rank",
                  n(r.expected), n(r.actual));
    case rule::ffn_grows_with_lowcost:
      throw error("target config field intermediate_size",
                  n(from.intermediate_size) + " while layer " + n(r.layer) + " stays factorised", n(to.intermediate_size));
    case rule::ffn_grow_op_mismatch:
      throw error("grow option ffn", "\"split\", \"split_random\" or \"split_asym\" (intermediate_size grows)",
                  "\"" + std::string(to_string(o.ffn)) + "\"");
  }
  require_grow(to.vocab_size == from.vocab_size, "vocab_size", n(from.vocab_size) + " (unchanged)", n(to.vocab_size));
  require_grow(to.type_vocab_size == from.type_vocab_size, "type_vocab_size", n(from.type_vocab_size) + " (unchanged)",
               n(to.type_vocab_size));
  // Post-LN and pre-LN have different layouts (pre-LN has the final LayerNorm): growth keeps the arrangement.
  require_grow(to.pre_layer_norm == from.pre_layer_norm, "growth.pre_layer_norm",
               std::string(from.pre_layer_norm ? "true" : "false") + " (growth keeps post-LN / pre-LN)",
               to.pre_layer_norm ? "true" : "false");
}

/// Step 2: the depth plan; pre-LN identity insertion needs no LayerNorm hand-off.
inline depth_plan depth_plan_of(const bert_config& from, const bert_config& to, const grow_options& o) {
  depth_plan d = plan_depth(from.num_hidden_layers, to.num_hidden_layers, o.depth);
  return identity_needs_ln_handoff(from) ? d : without_ln_handoff(d);
}

/// Step 3: hidden units (replicate: the tied decoder needs the head LN scaled by d/d'; mean padding: every LN
/// gain by sqrt(d/d')).
inline void plan_hidden(transition& t, const bert_config& from, const bert_config& to, const grow_options& o) {
  const std::size_t d = from.hidden_size, d2 = to.hidden_size;
  if (d2 == d) {
    t.hidden = unit_map::identity(d);
  } else if (o.hidden == hidden_mode::replicate) {
    t.hidden = hidden_replicate(d, d2);
    t.head_ln_scale = static_cast<double>(d) / static_cast<double>(d2);
  } else {
    t.hidden = hidden_mean_pad(d, d2);
    t.ln_gain_scale = std::sqrt(static_cast<double>(d) / static_cast<double>(d2));
  }
}

/// Step 4: attention channels, heads at fixed head size.
inline unit_map attention_map(const bert_config& from, const bert_config& to, const grow_options& o) {
  if (to.num_attention_heads == from.num_attention_heads) return unit_map::identity(from.hidden_size);
  if (o.heads == heads_mode::add) return heads_add(from.num_attention_heads, to.num_attention_heads, from.head_dim());
  return heads_duplicate(from.num_attention_heads, to.num_attention_heads, from.head_dim());
}

/// Step 4 for every head dimension: BERT's key/value heads are its query heads.
inline void plan_heads(transition& t, const bert_config& from, const bert_config& to, const grow_options& o) {
  t.attn = attention_map(from, to, o);
  t.kv = t.attn;
}

/// Step 5: the position table.
inline unit_map position_map(const bert_config& from, const bert_config& to, const grow_options& o) {
  if (to.max_position_embeddings == from.max_position_embeddings) return unit_map::identity(from.max_position_embeddings);
  return position_grow(from.max_position_embeddings, to.max_position_embeddings, o.length);
}

/// Step 6: new layer i's FFN neuron map from its source layer s's FFN: un-share (s shared, i not), then the
/// split (I -> I'); a shared FFN that stays shared is a smaller FFN of I/k neurons (same k, by the rules)
/// and the split grows it to I'/k, as it grows a standard FFN.
inline unit_map ffn_map(const bert_config& from, const bert_config& to, const grow_options& o, std::size_t i,
                        std::size_t s) {
  const std::size_t I = from.intermediate_size, I2 = to.intermediate_size;
  const std::uint64_t seed = o.seed * 1000003ULL + i;  // distinct per new layer: asymmetric fractions differ
  unit_map m = unit_map::identity(from.layer_intermediate_size(s));
  if (from.is_shared(s) && !to.is_shared(i)) m = ffn_unshare(from.layer_intermediate_size(s), from.ffn_share_factor);
  if (!to.is_shared(i) && I2 != I) {
    unit_map w = ffn_split(I, I2, o.ffn, seed);
    return unit_map{m.fan_out.then(w.fan_out), m.fan_in.then(w.fan_in), w.fresh};
  }
  if (to.is_shared(i) && to.layer_intermediate_size(i) != from.layer_intermediate_size(s))
    return ffn_split(from.layer_intermediate_size(s), to.layer_intermediate_size(i), o.ffn, seed);
  return m;
}

// ------------------------------------------------------------------------------------------------------------
// Decoder LMs: the per-architecture steps.

/// A decoder config field in its family's spelling (GPT-2's n_embd, n_layer, ...), for error messages.
inline std::string decoder_field(const decoder_config& c, const std::string& hf) {
  if (!c.is_gpt2()) return hf;
  if (hf == "hidden_size") return "n_embd";
  if (hf == "num_hidden_layers") return "n_layer";
  if (hf == "num_attention_heads") return "n_head";
  if (hf == "intermediate_size") return "n_inner";
  if (hf == "max_position_embeddings") return "n_positions";
  if (hf == "norm_eps") return "layer_norm_epsilon";
  return hf;
}

/// Step 1 (decoders): the transition is legal. The architecture is kept (family, model_type, tied head,
/// biases, vocabulary); no dimension shrinks; heads grow at fixed head size with grouped-query attention's
/// rule (grouped_heads_grow: key/value heads do not shrink, nor do the query heads per key/value head);
/// hidden replicate needs an integer factor; a growing FFN needs a split.
inline void check_transition(const decoder_config& from, const decoder_config& to, const grow_options& o) {
  from.validate();
  to.validate();
  const auto n = [](std::size_t v) { return std::to_string(v); };
  const auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  require_grow(to.family == from.family && to.model_type == from.model_type, "model_type",
               "\"" + from.model_type + "\" (growth keeps the architecture)", "\"" + to.model_type + "\"");
  require_grow(to.tie_word_embeddings == from.tie_word_embeddings, "tie_word_embeddings",
               b(from.tie_word_embeddings) + " (unchanged)", b(to.tie_word_embeddings));
  require_grow(to.qkv_bias == from.qkv_bias && to.o_bias == from.o_bias, "attention_bias",
               "the source's q/k/v and o_proj biases (unchanged)", "other biases");
  require_grow(to.mlp_bias == from.mlp_bias, "mlp_bias", b(from.mlp_bias) + " (unchanged)", b(to.mlp_bias));
  require_grow(to.vocab_size == from.vocab_size, "vocab_size", n(from.vocab_size) + " (unchanged)", n(to.vocab_size));
  const std::pair<const char*, std::pair<std::size_t, std::size_t>> dims[] = {
      {"num_hidden_layers", {from.num_hidden_layers, to.num_hidden_layers}},
      {"hidden_size", {from.hidden_size, to.hidden_size}},
      {"num_attention_heads", {from.num_attention_heads, to.num_attention_heads}},
      {"num_key_value_heads", {from.num_key_value_heads, to.num_key_value_heads}},
      {"intermediate_size", {from.intermediate_size, to.intermediate_size}},
      {"max_position_embeddings", {from.max_position_embeddings, to.max_position_embeddings}}};
  for (const auto& [f, v] : dims)
    require_grow(v.second >= v.first, decoder_field(from, f), ">= " + n(v.first) + " (growth never shrinks a dimension)",
                 n(v.second));
  if (to.head_size() != from.head_size())
    throw error("target config fields " + decoder_field(from, "hidden_size") + " / " +
                    decoder_field(from, "num_attention_heads") + (from.is_gpt2() ? "" : " / head_dim"),
                "head size " + n(from.head_size()) +
                    " (heads grow at fixed head size: rotary embeddings and the softmax temperature stay)",
                "head size " + n(to.head_size()));
  require_grow(to.group_size() >= from.group_size(), decoder_field(from, "num_attention_heads"),
               ">= " + n(from.group_size()) + " x num_key_value_heads " + n(to.num_key_value_heads) +
                   " (query heads per key/value head never shrink: every old query head keeps its key/value head)",
               n(to.num_attention_heads));
  if (to.hidden_size != from.hidden_size && o.hidden == hidden_mode::replicate)
    require_grow(to.hidden_size % from.hidden_size == 0, decoder_field(from, "hidden_size"),
                 "a multiple of " + n(from.hidden_size) + " for --hidden replicate", n(to.hidden_size));
  if (to.intermediate_size != from.intermediate_size && o.ffn != ffn_mode::split && o.ffn != ffn_mode::split_random &&
      o.ffn != ffn_mode::split_asym)
    throw error("grow option ffn", "\"split\", \"split_random\" or \"split_asym\" (intermediate_size grows)",
                "\"" + std::string(to_string(o.ffn)) + "\"");
}

/// Step 2 (decoders): pre-norm, so identity insertion needs no hand-off.
inline depth_plan depth_plan_of(const decoder_config& from, const decoder_config& to, const grow_options& o) {
  return without_ln_handoff(plan_depth(from.num_hidden_layers, to.num_hidden_layers, o.depth));
}

/// Step 3 (decoders): replicate (the norm a tied head reads scaled by d/d'), or mean_pad: zero padding under
/// RMSNorm, average expansion under GPT-2's LayerNorm, every gain by sqrt(d/d') (see exactness_of).
inline void plan_hidden(transition& t, const decoder_config& from, const decoder_config& to, const grow_options& o) {
  const std::size_t d = from.hidden_size, d2 = to.hidden_size;
  if (d2 == d) {
    t.hidden = unit_map::identity(d);
    return;
  }
  if (o.hidden == hidden_mode::replicate) {
    t.hidden = hidden_replicate(d, d2);
    t.head_ln_scale = static_cast<double>(d) / static_cast<double>(d2);
    return;
  }
  t.ln_gain_scale = mean_pad_gain_scale(d, d2);
  std::vector<bool> added(d2, false);
  for (std::size_t j = d; j < d2; ++j) added[j] = true;
  if (from.is_gpt2()) {
    t.hidden = hidden_mean_pad(d, d2);
    t.head_bias_zero = std::move(added);
  } else {
    t.hidden = hidden_zero_pad(d, d2);
    t.hidden_new = std::move(added);
  }
}

/// Blocks of unit maps side by side: block b maps its own old range to its own new range (GPT-2's fused
/// [q ; k ; v] axis as the attn, kv, kv maps).
inline unit_map concat_blocks(const std::vector<const unit_map*>& blocks) {
  std::size_t old_total = 0;
  for (const auto* b : blocks) old_total += b->old_extent();
  unit_map u{axis_map(old_total), axis_map(old_total), {}};
  std::size_t off = 0;
  for (const auto* b : blocks) {
    for (int which = 0; which < 2; ++which) {
      const axis_map& a = which == 0 ? b->fan_out : b->fan_in;
      axis_map& dst = which == 0 ? u.fan_out : u.fan_in;
      for (std::size_t i = 0; i < a.out_extent(); ++i) {
        dst.begin_row();
        for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e)
          dst.add_entry(a.index()[e] + static_cast<std::int64_t>(off), a.weight()[e]);
      }
    }
    u.fresh.insert(u.fresh.end(), b->fresh.begin(), b->fresh.end());
    off += b->old_extent();
  }
  return u;
}

/// Step 4 (decoders): query heads (dim::attn) and key/value heads (dim::kv) by grouped_heads_grow, and the
/// fused qkv axis as their three blocks.
inline void plan_heads(transition& t, const decoder_config& from, const decoder_config& to, const grow_options& o) {
  if (to.num_attention_heads == from.num_attention_heads && to.num_key_value_heads == from.num_key_value_heads) {
    t.attn = unit_map::identity(from.attn_width());
    t.kv = unit_map::identity(from.kv_width());
  } else {
    grouped_heads_maps g = grouped_heads_grow(from.num_attention_heads, from.num_key_value_heads, to.num_attention_heads,
                                              to.num_key_value_heads, from.head_size(), o.heads);
    t.attn = std::move(g.query);
    t.kv = std::move(g.kv);
  }
  if (from.is_gpt2()) t.qkv = concat_blocks({&t.attn, &t.kv, &t.kv});
}

/// Step 5 (decoders): GPT-2's position table as BERT's; rotary models have none (maps nothing).
inline unit_map position_map(const decoder_config& from, const decoder_config& to, const grow_options& o) {
  if (!from.has_position_table()) return unit_map::identity(0);
  if (to.max_position_embeddings == from.max_position_embeddings) return unit_map::identity(from.max_position_embeddings);
  return position_grow(from.max_position_embeddings, to.max_position_embeddings, o.length);
}

/// Step 6 (decoders): the FFN split of new layer i (every layer full: no low-cost variants).
inline unit_map ffn_map(const decoder_config& from, const decoder_config& to, const grow_options& o, std::size_t i,
                        std::size_t /*s*/) {
  const std::size_t I = from.intermediate_size, I2 = to.intermediate_size;
  if (I2 == I) return unit_map::identity(I);
  return ffn_split(I, I2, o.ffn, o.seed * 1000003ULL + i);  // the seed rule of BERT's ffn_map
}

// ------------------------------------------------------------------------------------------------------------
// The one loop, for every architecture.

/// Checks the transition, then plans every dimension's map.
template <class Config>
transition plan_transition(const Config& from, const Config& to, const grow_options& o) {
  check_transition(from, to, o);
  transition t;
  t.depth = depth_plan_of(from, to, o);
  t.exact = exactness_of(from, to, o);
  plan_hidden(t, from, to, o);
  plan_heads(t, from, to, o);
  t.position = position_map(from, to, o);
  for (std::size_t i = 0; i < to.num_hidden_layers; ++i)
    t.ffn.push_back(ffn_map(from, to, o, i, static_cast<std::size_t>(t.depth.src[i])));
  return t;
}

/// The axis map of one axis of a new parameter, for weights (grad = false) or for Adam's m (grad = true:
/// fan_out and fan_in swapped, see the file comment).
inline const axis_map& axis_for(const transition& t, const axis_spec& a, std::size_t new_layer, bool grad,
                                 const axis_map& identity_vocab, const axis_map& identity_type, const axis_map& identity_rank) {
  const bool out = (a.s == side::out) != grad;
  switch (a.d) {
    case dim::hidden: return out ? t.hidden.fan_out : t.hidden.fan_in;
    case dim::attn: return out ? t.attn.fan_out : t.attn.fan_in;
    case dim::kv: return out ? t.kv.fan_out : t.kv.fan_in;
    case dim::qkv: return out ? t.qkv.fan_out : t.qkv.fan_in;
    case dim::ffn: return out ? t.ffn[new_layer].fan_out : t.ffn[new_layer].fan_in;
    case dim::position: return t.position.fan_out;  // rows are looked up, never consumed: copy
    case dim::vocab: return identity_vocab;
    case dim::token_type: return identity_type;
    case dim::rank: return identity_rank;
  }
  return identity_vocab;
}

template <class T, std::size_t R>
tensor_map<R> scaled(tensor_map<R> m, double s) {
  if (s == 1.0) return m;
  axis_map& a = m.axes[0];
  axis_map b(a.in_extent());
  for (std::size_t i = 0; i < a.out_extent(); ++i) {
    b.begin_row();
    for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e) b.add_entry(a.index()[e], a.weight()[e] * s);
  }
  m.axes[0] = std::move(b);
  return m;
}

template <class T, class Space, std::size_t R>
void fill_value(tensor_view<T, R, Space> out, double value) {
  std::array<std::size_t, R> e = out.extents();
  tensor<T, R> host(e, T(static_cast<compute_t<T>>(value)));
  executor<Space>::template upload<T, R>(tensor_view<const T, R>(host.view()), out);
}

}  // namespace detail

/// Checks a transition and reports whether it is exact, without touching any tensor.
template <class Config>
exactness check_growth(const Config& from, const Config& to, const grow_options& o) {
  return detail::plan_transition(from, to, o).exact;
}

namespace detail {
// What the loop reads of a config beyond the table, per architecture.
inline std::string layer_prefix_of(const bert_config& /*c*/, std::size_t l) { return layer_prefix(l); }
inline std::string layer_prefix_of(const decoder_config& c, std::size_t l) { return layer_prefix(c, l); }
inline bool is_factorized_layer(const bert_config& c, std::size_t l) { return c.is_factorized(l); }
inline bool is_factorized_layer(const decoder_config& /*c*/, std::size_t /*l*/) { return false; }
inline std::size_t token_types_of(const bert_config& c) { return c.type_vocab_size; }
inline std::size_t token_types_of(const decoder_config& /*c*/) { return 0; }
inline std::size_t ffn_rank_of(const bert_config& c) { return c.ffn_rank; }
inline std::size_t ffn_rank_of(const decoder_config& /*c*/) { return 0; }
}  // namespace detail

/// A planned transition: the checked configs, the per-dimension maps and both layouts. Build it once
/// with plan_growth(), then grow every parameter with grow_parameter() (in any order, e.g. streaming one
/// tensor at a time from file to file) or all at once with grow(). grow_plan is BERT's, decoder_grow_plan
/// a decoder LM's.
template <class Config>
struct basic_grow_plan {
  Config from, to;
  grow_options options;
  detail::transition t;
  std::vector<param_spec> old_specs, new_specs;
  /// Identity maps of the dimensions growth never changes, built once (the vocabulary one is large:
  /// rebuilding it per parameter costs more than growing most tensors).
  axis_map id_vocab, id_type, id_rank;
};
using grow_plan = basic_grow_plan<bert_config>;
using decoder_grow_plan = basic_grow_plan<decoder_config>;

/// Checks the transition (throws growth::error naming the offending target field) and plans it.
template <class Config>
basic_grow_plan<Config> plan_growth(const Config& from, const Config& to, const grow_options& o) {
  basic_grow_plan<Config> p{from,
                            to,
                            o,
                            detail::plan_transition(from, to, o),
                            parameters_of(from),
                            parameters_of(to),
                            axis_map::identity(from.vocab_size),
                            axis_map::identity(detail::token_types_of(from)),
                            axis_map::identity(detail::ffn_rank_of(from))};
  return p;
}

namespace detail {

/// What new parameter `s` becomes: zero, a constant, a mapped source tensor, or an un-factorised one.
enum class grow_kind { mapped, zero, unit_gain, unit_bias, unfactor };
struct grow_source {
  grow_kind k = grow_kind::mapped;
  std::string src_name;  ///< the source parameter (for unfactor: the product W's name in the old layer)
  std::string u_name, v_name;  ///< unfactor only: the old layer's factors U and V of W = U V (the table's)
  double extra = 1;      ///< extra scale on the weight itself
};

/// The depth part of a layer parameter (ops/depth.hpp), from the table: residual-stream writers, the
/// attention and output LayerNorms, and every other weight.
inline depth_part depth_part_of(const param_spec& s) {
  if (s.residual_out) return depth_part::residual_out;
  if (s.site == ln_site::attention) return depth_part::attention_ln;
  if (s.site == ln_site::output) return depth_part::output_ln;
  return depth_part::weights;
}

/// Read off the layout table's growth fields (bert_layout.hpp), never off names or roles: a layer
/// parameter comes from the old layer ops/depth.hpp's depth_part_source names for its part (zero or a unit
/// LayerNorm where it names none), and is multiplied out of U V when it is a product whose source layer is
/// factorised; outside the layers, parameters map one to one (the head LN scaled, LN gains scaled).
template <class Config>
grow_source source_of(const basic_grow_plan<Config>& p, const param_spec& s) {
  const transition& t = p.t;
  grow_source g;
  const auto unit = [&] { return s.kind == param_kind::ln_gain ? grow_kind::unit_gain : grow_kind::unit_bias; };
  if (s.layer >= 0) {
    const std::int64_t from_layer = depth_part_source(t.depth, depth_part_of(s), static_cast<std::size_t>(s.layer));
    if (from_layer < 0) {
      g.k = s.is_layernorm() ? unit() : grow_kind::zero;
    } else {
      const auto fl = static_cast<std::size_t>(from_layer);
      g.src_name = layer_prefix_of(p.from, fl) + s.key;
      if (s.factor == factor_part::none && s.product == s.key && is_factorized_layer(p.from, fl)) {
        g.k = grow_kind::unfactor;
        // The factors are the old layer's rows whose product is this key.
        for (const param_spec& f : p.old_specs) {
          if (f.layer != from_layer || f.product != s.key) continue;
          if (f.factor == factor_part::u) g.u_name = f.name;
          if (f.factor == factor_part::v) g.v_name = f.name;
        }
      }
    }
  } else {
    g.src_name = s.name;
    if (s.site == ln_site::head) g.extra = t.head_ln_scale;
  }
  if (s.kind == param_kind::ln_gain) g.extra *= t.ln_gain_scale;
  return g;
}

}  // namespace detail

/// The source parameters (names in the old model) that new parameter `i` of the plan reads: none for
/// zeroed / unit tensors, one for a mapped tensor, two (U and V) for an un-factorised one.
template <class Config>
std::vector<std::string> growth_sources(const basic_grow_plan<Config>& p, std::size_t i) {
  const auto g = detail::source_of(p, p.new_specs.at(i));
  if (g.k == detail::grow_kind::unfactor) return {g.u_name, g.v_name};
  if (g.k == detail::grow_kind::mapped) return {g.src_name};
  return {};
}

/// Grows new parameter `i` of the plan: reads its sources (growth_sources) from `src` and writes
/// dst.at(new_specs[i].name); with opt_dst, also writes its Adam moments (policy of the plan's options;
/// opt_src must then hold the sources' moments for policy map). Sets only need to hold the names used.
/// Shapes are checked by apply() before each write; grow() checks every tensor before writing any.
template <class Config, class T, class Space>
void grow_parameter(const basic_grow_plan<Config>& p, std::size_t i, const parameter_set<T, Space>& src,
                    const parameter_set<T, Space>& dst, const moments<T, Space>* opt_src = nullptr,
                    const moments<T, Space>* opt_dst = nullptr) {
  using detail::grow_kind;
  const detail::transition& t = p.t;
  const grow_options& o = p.options;
  const param_spec& s = p.new_specs.at(i);
  const auto g = detail::source_of(p, s);
  const auto& out = dst.at(s.name);
  const std::size_t nl = s.layer >= 0 ? static_cast<std::size_t>(s.layer) : 0;
  const std::uint64_t stream = i + 1;  // distinct noise per parameter, independent of the growth order
  const double init_std = o.init_std >= 0 ? o.init_std : p.to.initializer_range;
  const axis_map& id_vocab = p.id_vocab;
  const axis_map& id_type = p.id_type;
  const axis_map& id_rank = p.id_rank;

  auto write = [&]<std::size_t R>(std::integral_constant<std::size_t, R>) {
    const auto ov = out.template as<R>();
    auto zero_moments = [&] {
      if (!opt_dst) return;
      detail::fill_value<T, Space, R>(opt_dst->m.at(s.name).template as<R>(), 0.0);
      detail::fill_value<T, Space, R>(opt_dst->v.at(s.name).template as<R>(), 0.0);
    };
    if (g.k == grow_kind::zero || g.k == grow_kind::unit_bias) {
      detail::fill_value<T, Space, R>(ov, 0.0);
      zero_moments();
      return;
    }
    if (g.k == grow_kind::unit_gain) {
      detail::fill_value<T, Space, R>(ov, 1.0);
      zero_moments();
      return;
    }
    tensor_map<R> wm, gm;
    for (std::size_t a = 0; a < R; ++a) {
      wm.axes[a] = detail::axis_for(t, s.axes[a], nl, false, id_vocab, id_type, id_rank);
      gm.axes[a] = detail::axis_for(t, s.axes[a], nl, true, id_vocab, id_type, id_rank);
    }
    if (g.k == grow_kind::unfactor) {
      if constexpr (R == 2) {
        // W = U V at the old width, then the width maps. Host only (needs a temporary).
        if constexpr (!std::is_same_v<Space, host_space>) {
          throw error("grow: un-factorising " + g.src_name, "host memory", "a device tensor (grow on the host)");
        } else {
          const auto& u = src.at(g.u_name);
          const auto& v = src.at(g.v_name);
          tensor<std::remove_const_t<T>, 2> w({u.shape[0], v.shape[1]});
          executor<Space>::template matmul<std::remove_const_t<T>>(u.template as<2>(), v.template as<2>(), w.view());
          apply(wm, w, ov, s.name);
          zero_moments();
        }
      }
      return;
    }
    apply(detail::scaled<T, R>(wm, g.extra), src.at(g.src_name).template as<R>(), ov, s.name);
    // Fresh rows of weight matrices: new heads' Q/K/V rows, random position rows. Biases of new units
    // stay zero, as at initialisation.
    if constexpr (R == 2) {
      for (std::size_t a = 0; a < R; ++a) {
        const unit_map* um = nullptr;
        if (s.axes[a].s == side::out && s.axes[a].d == dim::attn) um = &t.attn;
        if (s.axes[a].s == side::out && s.axes[a].d == dim::kv) um = &t.kv;
        if (s.axes[a].s == side::out && s.axes[a].d == dim::qkv) um = &t.qkv;
        if (s.axes[a].d == dim::position) um = &t.position;
        if (s.axes[a].s == side::out && s.axes[a].d == dim::ffn) um = &t.ffn[nl];
        if (s.axes[a].s == side::out && s.axes[a].d == dim::hidden) um = &t.hidden;
        if (um && !um->fresh.empty()) {
          bool any = false;
          for (bool f : um->fresh) any = any || f;
          if (any) fill_fresh(ov, a, um->fresh, o.seed, stream, init_std, s.name);
        }
        // Decoder zero padding: the new hidden units are 0 wherever they are read, so their consumer
        // columns may hold anything; fresh noise lets them learn (zero columns would keep them 0 forever).
        if (s.axes[a].s == side::in && s.axes[a].d == dim::hidden && !t.hidden_new.empty())
          fill_fresh(ov, a, t.hidden_new, o.seed, stream, init_std, s.name);
      }
    }
    if constexpr (R == 1) {
      // Zero padding: the new units' norm gains (they multiply 0; a unit gain, rescaled like the old ones, so
      // the units pass gradient). Average expansion: the tied head's norm gets beta 0 on the new units.
      if (s.kind == param_kind::ln_gain && s.axes[0].d == dim::hidden && !t.hidden_new.empty())
        fill_slices(ov, 0, t.hidden_new, t.ln_gain_scale, s.name);
      if (s.site == ln_site::head && s.kind == param_kind::ln_bias && !t.head_bias_zero.empty())
        fill_slices(ov, 0, t.head_bias_zero, 0.0, s.name);
    }
    if (!opt_dst) return;
    // An inserted identity layer's residual outputs are zero, so at the growth point every other weight
    // of it has zero gradient (nothing downstream reads it): like the gradient, its moments start at
    // zero. The exception is the output LayerNorm that took over the old layer's affine: it sees exactly
    // the old layer's LN gradient, so it takes that layer's moments. Pre-LN has no hand-off: every LN of an
    // inserted layer only feeds its zeroed branches, so all of them start at zero.
    const bool handoff_ln = identity_needs_ln_handoff(p.from) && s.site == ln_site::output;
    const bool inserted_zero_grad = s.layer >= 0 && t.depth.inserted[nl] && !handoff_ln;
    if (o.optimizer == optimizer_policy::reset || inserted_zero_grad) {
      zero_moments();
      return;
    }
    if (!opt_src) throw error("grow: optimizer policy map", "the source model's Adam moments", "none given");
    const auto gmap = detail::scaled<T, R>(gm, 1.0 / g.extra);
    tensor_map<R> g2;
    for (std::size_t a = 0; a < R; ++a) g2.axes[a] = gmap.axes[a].squared();
    apply(gmap, opt_src->m.at(g.src_name).template as<R>(), opt_dst->m.at(s.name).template as<R>(), s.name + ".exp_avg");
    apply(g2, opt_src->v.at(g.src_name).template as<R>(), opt_dst->v.at(s.name).template as<R>(),
          s.name + ".exp_avg_sq");
  };
  if (s.shape.size() == 1) write(std::integral_constant<std::size_t, 1>{});
  else write(std::integral_constant<std::size_t, 2>{});
}

/// Grows the parameters `src` of a model with config `from` into `dst`, laid out for config `to` (the
/// caller allocates dst with parameters_of(to)). With `opt_src`/`opt_dst`, Adam moments follow the
/// policy in `o`. Everything is checked before anything is written.
template <class Config, class T, class Space>
exactness grow(const Config& from, const parameter_set<T, Space>& src, const Config& to,
               const parameter_set<T, Space>& dst, const grow_options& o,
               const moments<T, Space>* opt_src = nullptr, const moments<T, Space>* opt_dst = nullptr) {
  const basic_grow_plan<Config> p = plan_growth(from, to, o);
  // Check every tensor before writing any.
  auto check_set = [](const std::vector<param_spec>& specs, const parameter_set<T, Space>& set, const char* what) {
    for (const auto& s : specs) {
      const auto* q = set.find(s.name);
      if (!q) throw error(std::string(what) + " parameter " + s.name, "present", "missing");
      if (q->shape != s.shape)
        throw error(std::string(what) + " parameter " + s.name, ::growth::detail::shape_string(s.shape),
                    ::growth::detail::shape_string(q->shape));
    }
  };
  check_set(p.old_specs, src, "source");
  check_set(p.new_specs, dst, "destination");
  if (opt_dst) {
    check_set(p.new_specs, opt_dst->m, "destination exp_avg");
    check_set(p.new_specs, opt_dst->v, "destination exp_avg_sq");
    if (o.optimizer == optimizer_policy::map) {
      if (!opt_src) throw error("grow: optimizer policy map", "the source model's Adam moments", "none given");
      check_set(p.old_specs, opt_src->m, "source exp_avg");
      check_set(p.old_specs, opt_src->v, "source exp_avg_sq");
    }
  }
  for (std::size_t i = 0; i < p.new_specs.size(); ++i) grow_parameter(p, i, src, dst, opt_src, opt_dst);
  return p.t.exact;
}

}  // namespace growth::model
