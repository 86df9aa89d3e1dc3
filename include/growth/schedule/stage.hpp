#pragma once
/// @file stage.hpp
/// One stage of a progressive-training schedule: how long it runs, the model shape trained during it, and the
/// growth operators used to ENTER it from the previous stage. The same literal types serve compile time (they
/// are structural, so a stage can be a C++20 non-type template parameter: only public scalar and enum members,
/// no strings or vectors) and run time (a std::vector<stage> read from a JSON schedule file).
///
/// Conventions (paper-notes.md sections 2-3):
///   - `ffn` is always the FULL (nominal) FFN size I. A shared layer holds I / ffn_share_factor neurons, a
///     factorised layer holds W = U V with rank ffn_rank; both are low-cost variants that a later stage leaves.
///   - Which layers are low-cost: layer i is shared iff ffn_shared_every > 0 and i % ffn_shared_every == 0
///     (0 = none, 1 = every layer, 2 = even layers, ...). This is the reference code's net2net_layers = n rule
///     "i % (L / n) == 0" written with the stride g = L / n directly, so it stays meaningful when L changes.
///     ffn_factorized_every selects factorised layers the same way. A stage may use one of the two, not both
///     (the reference code asserts the same).
///   - max_positions = 0 means "equal to seq_len" (see positions()).
///   - The sequence length itself is data only; growing the position table uses the length operator.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../model/bert_config.hpp"
#include "../model/rules.hpp"
#include "../ops/options.hpp"

namespace growth::sched {

// The operator vocabulary is growth's one vocabulary (ops/options.hpp); these are its schedule-level names.
using depth_op = growth::depth_mode;
using ffn_op = growth::ffn_mode;
using hidden_op = growth::hidden_mode;
using heads_op = growth::heads_mode;
using length_op = growth::length_mode;
using growth::grow_trigger;
using growth::lr_action;
using growth::optimizer_policy;
/// The family of the learning-rate curve (schedule/learning_rate.hpp): linear decay, cosine, or
/// warmup-stable-decay.
enum class lr_family : std::uint8_t { linear, cosine, wsd };

struct model_shape {
  std::size_t layers = 0;
  std::size_t hidden = 0;
  std::size_t heads = 0;
  std::size_t ffn = 0;      ///< full FFN intermediate size I
  std::size_t seq_len = 0;  ///< training sequence length S (data)
  std::size_t max_positions = 0;  ///< position-table rows; 0 = seq_len
  std::size_t ffn_share_factor = 1;      ///< k: shared layers hold ffn / k neurons
  std::size_t ffn_shared_every = 0;      ///< layer i shared iff every > 0 && i % every == 0
  std::size_t ffn_rank = 0;              ///< rank r of factorised layers (0 = off)
  std::size_t ffn_factorized_every = 0;  ///< layer i factorised iff every > 0 && i % every == 0
  std::size_t pool_size = 1;             ///< mean embedding pooling factor (1 = off)

  friend constexpr bool operator==(const model_shape&, const model_shape&) = default;
};

/// The operators (and learning-rate / trigger policy) used to enter a stage: growth::grow_options itself,
/// the struct model-level growth takes, so the trainer hands it over as it is.
using growth_ops = growth::grow_options;

/// A stage: train `shape` for `steps` optimizer steps; `enter` says how the previous stage's model grows into
/// this one (ignored for the first stage; an operator is only consulted when its dimension changes).
struct stage {
  std::size_t steps = 0;
  model_shape shape{};
  growth_ops enter{};

  friend constexpr bool operator==(const stage&, const stage&) = default;
};

/// Settings of a whole run that the cost model needs and that do not change between stages.
struct run_settings {
  std::size_t vocab_size = 30522;
  std::size_t batch_size = 256;         ///< sequences per optimizer step
  std::size_t masked_per_mille = 150;   ///< masked (MLM target) tokens per 1000 tokens; BERT: 15%

  friend constexpr bool operator==(const run_settings&, const run_settings&) = default;
};

// ------------------------------------------------------------------------------------------------------------
// Shape queries.

/// Rows of the position table: max_positions, or seq_len when max_positions is 0.
constexpr std::size_t positions(const model_shape& s) { return s.max_positions == 0 ? s.seq_len : s.max_positions; }
constexpr bool is_shared(const model_shape& s, std::size_t layer) {
  return s.ffn_shared_every > 0 && layer % s.ffn_shared_every == 0;
}
constexpr bool is_factorized(const model_shape& s, std::size_t layer) {
  return s.ffn_factorized_every > 0 && layer % s.ffn_factorized_every == 0;
}
/// A standard BERT: no shared or factorised layer and no pooling.
constexpr bool is_standard(const model_shape& s) {
  return s.ffn_shared_every == 0 && s.ffn_factorized_every == 0 && s.pool_size == 1;
}

/// The structure of one layer's FFN.
using model::ffn_state;  // model/rules.hpp
constexpr ffn_state layer_state(const model_shape& s, std::size_t layer) {
  return is_shared(s, layer) ? ffn_state::shared : is_factorized(s, layer) ? ffn_state::factorized : ffn_state::full;
}

/// The Hugging Face config of a stage's model (plus the low-cost fields of growth::model::bert_config).
inline model::bert_config to_bert_config(const model_shape& s, std::size_t vocab_size) {
  model::bert_config c;
  c.vocab_size = vocab_size;
  c.hidden_size = s.hidden;
  c.num_hidden_layers = s.layers;
  c.num_attention_heads = s.heads;
  c.intermediate_size = s.ffn;
  c.max_position_embeddings = positions(s);
  for (std::size_t l = 0; l < s.layers; ++l) {
    if (is_shared(s, l)) c.ffn_shared_layers.push_back(l);
    if (is_factorized(s, l)) c.ffn_factorized_layers.push_back(l);
  }
  c.ffn_share_factor = s.ffn_shared_every > 0 ? s.ffn_share_factor : 1;
  c.ffn_rank = s.ffn_factorized_every > 0 ? s.ffn_rank : 0;
  c.pool_size = s.pool_size;
  return c;
}

// ------------------------------------------------------------------------------------------------------------
// Names, as written in schedule files. One table per enum, used for both directions.

namespace detail {
using growth::detail::enum_names;
}  // namespace detail

// The operators' tables are ops/options.hpp's; the schedule-level names refer to the same objects.
inline constexpr const auto& depth_op_names = growth::depth_mode_names;
inline constexpr const auto& ffn_op_names = growth::ffn_mode_names;
inline constexpr const auto& hidden_op_names = growth::hidden_mode_names;
inline constexpr const auto& heads_op_names = growth::heads_mode_names;
inline constexpr const auto& length_op_names = growth::length_mode_names;
using growth::grow_trigger_names;
using growth::lr_action_names;
using growth::optimizer_policy_names;
inline constexpr detail::enum_names<lr_family, 3> lr_family_names{{lr_family::linear, lr_family::cosine, lr_family::wsd},
                                                                  {"linear", "cosine", "wsd"}};
using model::ffn_state_names;

using growth::to_string;
constexpr std::string_view to_string(lr_family e) { return lr_family_names.name(e); }
using model::to_string;

}  // namespace growth::sched
