#pragma once
/// @file stage.hpp
/// One stage of a progressive-training schedule: how long it runs, the model shape trained during it, and the
/// growth operators used to ENTER it from the previous stage. The same literal types serve compile time (they
/// are structural, so a stage can be a C++20 non-type template parameter: only public scalar and enum members,
/// no strings or vectors) and run time (a std::vector<stage> read from a JSON schedule file).
///
/// The shape is model::shape (model/shape.hpp: its conventions, the stride rule for low-cost layers).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../model/bert_config.hpp"
#include "../model/rules.hpp"
#include "../model/shape.hpp"
#include "../ops/options.hpp"

namespace growth::sched {

// The operator vocabulary is growth's one vocabulary (ops/options.hpp); these are its schedule-level names.
using growth::grow_trigger;
using growth::lr_action;
using growth::optimizer_policy;
/// The family of the learning-rate curve (schedule/learning_rate.hpp): linear decay, cosine, or
/// warmup-stable-decay.
enum class lr_family : std::uint8_t { linear, cosine, wsd };

/// A stage: train `shape` (model/shape.hpp's structural description) for `steps` optimizer steps; `enter` says
/// how the previous stage's model grows into this one: growth::grow_options itself, the struct model-level
/// growth takes, so the trainer hands it over as it is (ignored for the first stage; an operator is only
/// consulted when its dimension changes).
struct stage {
  std::size_t steps = 0;
  model::shape shape{};
  grow_options enter{};

  friend constexpr bool operator==(const stage&, const stage&) = default;
};

/// Settings of a whole run that the cost model needs and that do not change between stages.
struct run_settings {
  std::size_t vocab_size = 30522;
  std::size_t batch_size = 256;         ///< sequences per optimizer step
  std::size_t masked_per_mille = 150;   ///< masked (MLM target) tokens per 1000 tokens; BERT: 15%

  friend constexpr bool operator==(const run_settings&, const run_settings&) = default;
};

// Shape queries and the Hugging Face config of a shape: model/shape.hpp.
using model::ffn_state;
using model::is_factorized;
using model::is_shared;
using model::is_standard;
using model::layer_state;
using model::positions;
using model::to_bert_config;

// ------------------------------------------------------------------------------------------------------------
// Names, as written in schedule files. One table per enum, used for both directions.

namespace detail {
using growth::detail::enum_names;
}  // namespace detail

// The operators' tables are ops/options.hpp's; the schedule-level names refer to the same objects.
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
