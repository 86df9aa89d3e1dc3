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

namespace growth::sched {

/// Depth operator (matches growth::ops depth_mode): stack = Gong et al. (new layer i copies old i mod L),
/// interpolate = new layer i copies old floor(i L / L'), identity = old layers kept, new ones exact identities.
enum class depth_op : std::uint8_t { stack, interpolate, identity };
/// FFN operator (matches growth::ops split_mode and the un-sharing / un-factorising operators):
/// split = round-robin replication, split_random = seeded random sources, split_asym = asymmetric fan-in
/// fractions, unshare = the paper's tile x k and W_out / k (leaves FFN sharing), unfactorize = W := U V.
enum class ffn_op : std::uint8_t { split, split_random, split_asym, unshare, unfactorize };
/// Hidden-size operator: replicate every unit k times (exact, needs d' % d == 0) or LEMON mean padding.
enum class hidden_op : std::uint8_t { replicate, mean_pad };
/// Attention heads at fixed head size: fresh heads with zero output columns, or duplicated heads.
enum class heads_op : std::uint8_t { add, duplicate };
/// Position-table growth (matches growth::ops length_mode).
enum class length_op : std::uint8_t { tile, interpolate, random };
/// Adam moments at growth: mapped through the operator, or reset to zero (the reference code resets).
enum class optimizer_policy : std::uint8_t { map, reset };
/// Learning rate at growth (schedule/learning_rate.hpp): restart_warmup = a fresh curve with its own warmup
/// over the stages up to the next restart (reference code); continue_schedule = the global curve goes on;
/// rewarm = the global curve, ramped up linearly over the stage's first `rewarm_steps` steps.
enum class lr_action : std::uint8_t { restart_warmup, continue_schedule, rewarm };
/// The family of the learning-rate curve (schedule/learning_rate.hpp): linear decay, cosine, or
/// warmup-stable-decay.
enum class lr_family : std::uint8_t { linear, cosine, wsd };
/// When the previous stage ends: after its `steps` (fixed), or earlier, when Staged Training's rule fires
/// (automatic: train/growth_trigger.hpp; the steps it saves go to this stage, so the total is unchanged).
enum class grow_trigger : std::uint8_t { fixed, automatic };

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

struct growth_ops {
  depth_op depth = depth_op::stack;
  ffn_op ffn = ffn_op::split;
  hidden_op hidden = hidden_op::replicate;
  heads_op heads = heads_op::duplicate;
  length_op length = length_op::tile;
  optimizer_policy optimizer = optimizer_policy::reset;
  lr_action lr = lr_action::restart_warmup;
  std::size_t rewarm_steps = 0;  ///< lr = rewarm: steps of the linear ramp (> 0)
  grow_trigger when = grow_trigger::fixed;
  std::uint64_t seed = 0;  ///< seed of the operators' random parts (fresh rows, random/asymmetric splits)

  friend constexpr bool operator==(const growth_ops&, const growth_ops&) = default;
};

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
enum class ffn_state : std::uint8_t { full, shared, factorized };
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
template <class E, std::size_t N>
struct enum_names {
  E values[N];
  std::string_view names[N];
  [[nodiscard]] constexpr std::string_view name(E e) const {
    for (std::size_t i = 0; i < N; ++i)
      if (values[i] == e) return names[i];
    return "?";
  }
  [[nodiscard]] constexpr std::optional<E> parse(std::string_view s) const {
    for (std::size_t i = 0; i < N; ++i)
      if (names[i] == s) return values[i];
    return std::nullopt;
  }
  /// "a", "b" or "c": for error messages.
  [[nodiscard]] std::string alternatives() const {
    std::string r;
    for (std::size_t i = 0; i < N; ++i) {
      if (i > 0) r += (i + 1 == N) ? " or " : ", ";
      r += '"';
      r += names[i];
      r += '"';
    }
    return r;
  }
};
}  // namespace detail

inline constexpr detail::enum_names<depth_op, 3> depth_op_names{
    {depth_op::stack, depth_op::interpolate, depth_op::identity}, {"stack", "interpolate", "identity"}};
inline constexpr detail::enum_names<ffn_op, 5> ffn_op_names{
    {ffn_op::split, ffn_op::split_random, ffn_op::split_asym, ffn_op::unshare, ffn_op::unfactorize},
    {"split", "split_random", "split_asym", "unshare", "unfactorize"}};
inline constexpr detail::enum_names<hidden_op, 2> hidden_op_names{{hidden_op::replicate, hidden_op::mean_pad},
                                                                  {"replicate", "mean_pad"}};
inline constexpr detail::enum_names<heads_op, 2> heads_op_names{{heads_op::add, heads_op::duplicate}, {"add", "duplicate"}};
inline constexpr detail::enum_names<length_op, 3> length_op_names{
    {length_op::tile, length_op::interpolate, length_op::random}, {"tile", "interpolate", "random"}};
inline constexpr detail::enum_names<optimizer_policy, 2> optimizer_policy_names{
    {optimizer_policy::map, optimizer_policy::reset}, {"map", "reset"}};
// "restart" and "continue" are accepted as short spellings; files are written with the first name.
inline constexpr detail::enum_names<lr_action, 5> lr_action_names{
    {lr_action::restart_warmup, lr_action::continue_schedule, lr_action::rewarm, lr_action::restart_warmup,
     lr_action::continue_schedule},
    {"restart_warmup", "continue_schedule", "rewarm", "restart", "continue"}};
inline constexpr detail::enum_names<grow_trigger, 2> grow_trigger_names{{grow_trigger::fixed, grow_trigger::automatic},
                                                                        {"fixed", "auto"}};
inline constexpr detail::enum_names<lr_family, 3> lr_family_names{{lr_family::linear, lr_family::cosine, lr_family::wsd},
                                                                  {"linear", "cosine", "wsd"}};
inline constexpr detail::enum_names<ffn_state, 3> ffn_state_names{
    {ffn_state::full, ffn_state::shared, ffn_state::factorized}, {"full", "shared", "factorized"}};

constexpr std::string_view to_string(depth_op e) { return depth_op_names.name(e); }
constexpr std::string_view to_string(ffn_op e) { return ffn_op_names.name(e); }
constexpr std::string_view to_string(hidden_op e) { return hidden_op_names.name(e); }
constexpr std::string_view to_string(heads_op e) { return heads_op_names.name(e); }
constexpr std::string_view to_string(length_op e) { return length_op_names.name(e); }
constexpr std::string_view to_string(optimizer_policy e) { return optimizer_policy_names.name(e); }
constexpr std::string_view to_string(lr_action e) { return lr_action_names.name(e); }
constexpr std::string_view to_string(lr_family e) { return lr_family_names.name(e); }
constexpr std::string_view to_string(grow_trigger e) { return grow_trigger_names.name(e); }
constexpr std::string_view to_string(ffn_state e) { return ffn_state_names.name(e); }

}  // namespace growth::sched
