#pragma once
/// @file options.hpp
/// The growth vocabulary, written once: one enum per operator choice, one names table per enum (the
/// spellings of schedule files and of `growth grow` flags), and one options struct, grow_options, which
/// whole-model growth (model/grow.hpp), the torch adapter, the CLI and the schedule (growth::grow_options is
/// this struct: stage::enter) all take. It is structural (public scalar and enum members only), so a stage
/// holding it stays a C++20 non-type template parameter for the compile-time schedule.
///
/// Leaving a low-cost FFN (one rule). Which layers leave FFN sharing or factorisation is decided by the two
/// configs (a layer is un-shared / multiplied out when its source layer is low-cost and it is not): only
/// the operators `unshare` and `unfactorize` can do that, so the configs imply them and model-level growth
/// needs no option for it. `ffn` names the operator of the FFN's NEURON count: a growing FFN needs a split
/// (split, split_random, split_asym) at every level (model/rules.hpp). A schedule additionally names the
/// exit operator in enter.ffn (unshare / unfactorize) so that a file says what happens at the boundary;
/// the schedule validator requires it to match (check_code::exit_op_mismatch), model-level growth accepts
/// any value there.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace growth {

namespace detail {
/// A two-way table enum <-> name. Parse accepts every listed name (aliases included); name() returns the
/// first name listed for a value, which is what files are written with.
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

/// Depth (ops/depth.hpp): stack = Gong et al. (new layer i copies old i mod L), interpolate = new layer i
/// copies old floor(i L / L'), identity = old layers kept, new ones exact identities.
enum class depth_mode : std::uint8_t { stack, interpolate, identity };

/// FFN (ops/width.hpp): split = round-robin replication, split_random = seeded random sources, split_asym =
/// asymmetric fan-in fractions (all exact); unshare = the paper's tile x k and W_out / k (leaves FFN
/// sharing), unfactorize = W := U V (leaves factorisation). ffn_split takes the same enum and refuses
/// unshare / unfactorize (they are not splits).
enum class ffn_mode : std::uint8_t {
  split,
  split_random,
  split_asym,
  unshare,
  unfactorize,
};

/// Hidden size (ops/width.hpp): replicate every unit k times (exact, needs d' % d == 0) or LEMON mean padding.
enum class hidden_mode : std::uint8_t { replicate, mean_pad };
/// Attention heads at fixed head size (ops/heads.hpp): fresh heads with zero output columns, or duplicates.
enum class heads_mode : std::uint8_t { add, duplicate };
/// Position table (ops/length.hpp).
enum class length_mode : std::uint8_t { tile, interpolate, random };
/// Adam moments at growth: mapped through the operator (model/grow.hpp), or reset to zero (the paper's code).
enum class optimizer_policy : std::uint8_t { map, reset };
/// Learning rate at growth (schedule/learning_rate.hpp): restart_warmup = a fresh curve with its own warmup
/// over the stages up to the next restart (reference code); continue_schedule = the global curve goes on;
/// rewarm = the global curve, ramped up linearly over the stage's first `rewarm_steps` steps.
enum class lr_action : std::uint8_t { restart_warmup, continue_schedule, rewarm };
/// When growth happens: after the previous stage's `steps` (fixed), or earlier, when Staged Training's rule
/// fires (automatic: train/growth_trigger.hpp; the steps it saves go to the next stage).
enum class grow_trigger : std::uint8_t { fixed, automatic };

/// Everything a growth step is told, besides the two shapes. The operator fields are consulted only when
/// their dimension changes. lr, rewarm_steps and when are read by the trainer (schedule stages), not by
/// the operators. Defaults are the schedule's (the paper's code: optimizer reset); model-level callers that
/// carry Adam's moments set optimizer = map.
struct grow_options {
  depth_mode depth = depth_mode::stack;
  ffn_mode ffn = ffn_mode::split;
  hidden_mode hidden = hidden_mode::replicate;
  heads_mode heads = heads_mode::duplicate;
  length_mode length = length_mode::tile;
  optimizer_policy optimizer = optimizer_policy::reset;
  lr_action lr = lr_action::restart_warmup;
  std::size_t rewarm_steps = 0;  ///< lr = rewarm: steps of the linear ramp (> 0)
  grow_trigger when = grow_trigger::fixed;
  std::uint64_t seed = 0;  ///< seed of the operators' random parts (fresh rows, random/asymmetric splits)
  /// Standard deviation of fresh values (new heads' Q/K/V rows, random position rows); < 0: the target
  /// config's initializer_range. Not in schedule files.
  double init_std = -1;

  friend constexpr bool operator==(const grow_options&, const grow_options&) = default;
};

// Names, as written in schedule files and `growth grow` flags. One table per enum, used for both directions.
inline constexpr detail::enum_names<depth_mode, 3> depth_mode_names{
    {depth_mode::stack, depth_mode::interpolate, depth_mode::identity}, {"stack", "interpolate", "identity"}};
inline constexpr detail::enum_names<ffn_mode, 5> ffn_mode_names{
    {ffn_mode::split, ffn_mode::split_random, ffn_mode::split_asym, ffn_mode::unshare, ffn_mode::unfactorize},
    {"split", "split_random", "split_asym", "unshare", "unfactorize"}};
inline constexpr detail::enum_names<hidden_mode, 2> hidden_mode_names{{hidden_mode::replicate, hidden_mode::mean_pad},
                                                                      {"replicate", "mean_pad"}};
inline constexpr detail::enum_names<heads_mode, 2> heads_mode_names{{heads_mode::add, heads_mode::duplicate},
                                                                    {"add", "duplicate"}};
inline constexpr detail::enum_names<length_mode, 3> length_mode_names{
    {length_mode::tile, length_mode::interpolate, length_mode::random}, {"tile", "interpolate", "random"}};
inline constexpr detail::enum_names<optimizer_policy, 2> optimizer_policy_names{
    {optimizer_policy::map, optimizer_policy::reset}, {"map", "reset"}};
// "restart" and "continue" are accepted as short spellings; files are written with the first name.
inline constexpr detail::enum_names<lr_action, 5> lr_action_names{
    {lr_action::restart_warmup, lr_action::continue_schedule, lr_action::rewarm, lr_action::restart_warmup,
     lr_action::continue_schedule},
    {"restart_warmup", "continue_schedule", "rewarm", "restart", "continue"}};
inline constexpr detail::enum_names<grow_trigger, 2> grow_trigger_names{{grow_trigger::fixed, grow_trigger::automatic},
                                                                        {"fixed", "auto"}};

constexpr std::string_view to_string(depth_mode e) { return depth_mode_names.name(e); }
constexpr std::string_view to_string(ffn_mode e) { return ffn_mode_names.name(e); }
constexpr std::string_view to_string(hidden_mode e) { return hidden_mode_names.name(e); }
constexpr std::string_view to_string(heads_mode e) { return heads_mode_names.name(e); }
constexpr std::string_view to_string(length_mode e) { return length_mode_names.name(e); }
constexpr std::string_view to_string(optimizer_policy e) { return optimizer_policy_names.name(e); }
constexpr std::string_view to_string(lr_action e) { return lr_action_names.name(e); }
constexpr std::string_view to_string(grow_trigger e) { return grow_trigger_names.name(e); }

/// The CLI spelling of a name: `growth grow` flags write '-' where schedule files write '_'
/// ("split-asym", "mean-pad"); both are accepted by parse_option().
inline std::string cli_spelling(std::string_view name) {
  std::string s(name);
  for (auto& c : s)
    if (c == '_') c = '-';
  return s;
}
/// Parses a schedule-file or CLI spelling ('-' read as '_').
template <class E, std::size_t N>
std::optional<E> parse_option(const detail::enum_names<E, N>& names, std::string_view text) {
  std::string s(text);
  for (auto& c : s)
    if (c == '-') c = '_';
  return names.parse(s);
}

}  // namespace growth
