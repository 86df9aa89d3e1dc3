#pragma once
/// @file rules.hpp
/// The legality rules of one growth transition, written once as constexpr functions, and the depth
/// operator's layer choice they trace layers through. Three callers: the compile-time schedule checks and
/// the JSON validator (schedule/check.hpp: check_transition) and model-level planning (model/grow.hpp:
/// plan_transition, which turns a failure into growth::error with the field of the target config). A
/// schedule check adds schedule-only policy on top (the exit operator must be named, the FFN grows only
/// between full layers, the sequence length, the last stage is standard); model planning adds what a
/// schedule cannot express (vocabularies, pre-LN, entering a variant the source does not have at all).
/// Hence: every transition a schedule accepts passes these rules, so plan_growth accepts it
/// (tests/schedule/test_schedule.cpp checks this on random valid schedules).
///
/// The shape rules of one model shape on its own (check_shape_rules, at the end) live here too: called by
/// sched::check_stage for a schedule stage and bert_config::validate for a config, with shape_context for
/// the two rules whose meaning differs between them.
///
/// The rules (L layers, d hidden, A heads, I FFN neurons, P positions, k share factor, r rank, p pooling):
///   - no dimension shrinks (L, d, A, I, P);
///   - the head size d/A stays (no operator grows it: it would change the softmax temperature 1/sqrt(d/A));
///   - p' is 1 (pooling left) or p (kept): no operator changes a pooling factor;
///   - hidden replicate needs d' % d == 0;
///   - every new layer, traced to the old layer it copies (depth_source), keeps that layer's FFN structure
///     (full, shared, factorised) or becomes full; a layer that stays shared keeps k, one that stays
///     factorised keeps r and I (U V has no neuron axis to split);
///   - a growing FFN (I' > I) needs a split (split, split_random, split_asym).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "../ops/depth.hpp"
#include "../ops/options.hpp"

namespace growth::model {

// The depth operator's layer choice is ops/depth.hpp's depth_source (plan_depth is built from it).
using growth::depth_inserted;
using growth::depth_source;

// ------------------------------------------------------------------------------------------------------------
// Transition rules.

/// The structure of one layer's FFN.
enum class ffn_state : std::uint8_t { full, shared, factorized };
inline constexpr growth::detail::enum_names<ffn_state, 3> ffn_state_names{
    {ffn_state::full, ffn_state::shared, ffn_state::factorized}, {"full", "shared", "factorized"}};
constexpr std::string_view to_string(ffn_state e) { return ffn_state_names.name(e); }

/// The sizes the rules read, from a schedule shape or a BERT config. share_factor is 1 and rank 0 when no
/// layer uses the variant.
struct growth_dims {
  std::size_t layers = 0, hidden = 0, heads = 0, ffn = 0, positions = 0;
  std::size_t share_factor = 1, rank = 0, pool = 1;
  friend constexpr bool operator==(const growth_dims&, const growth_dims&) = default;
};

enum class rule : std::uint8_t {
  ok,
  shrinks,                ///< expected: old value, actual: new value
  head_size_changed,      ///< expected / actual: old / new head size
  pool_changed,           ///< expected: old p, actual: new p
  not_integer_factor,     ///< expected: old d, actual: new d
  lowcost_entered,        ///< layer, source; actual: the new layer's ffn_state
  lowcost_changed,        ///< expected / actual: old / new k or r
  ffn_grows_with_lowcost, ///< a layer stays factorised while I grows; expected / actual: old / new I
  ffn_grow_op_mismatch,   ///< actual: the ffn_mode
};

/// Which size a rule is about.
enum class rule_field : std::uint8_t { none, layers, hidden, heads, ffn, positions, share_factor, rank, pool, ffn_op };

struct rule_result {
  rule code = rule::ok;
  rule_field where = rule_field::none;
  std::size_t expected = 0, actual = 0;
  std::size_t layer = 0, source = 0;  ///< per-layer rules: the new layer and its source layer
  [[nodiscard]] constexpr bool ok() const { return code == rule::ok; }
};

/// The rules on whole sizes: no shrinking, pooling kept or left, fixed head size, hidden replicate's factor.
constexpr rule_result check_growth_dims(const growth_dims& a, const growth_dims& b, const grow_options& op) {
  const std::pair<rule_field, std::pair<std::size_t, std::size_t>> dims[] = {
      {rule_field::layers, {a.layers, b.layers}}, {rule_field::hidden, {a.hidden, b.hidden}},
      {rule_field::heads, {a.heads, b.heads}},    {rule_field::ffn, {a.ffn, b.ffn}},
      {rule_field::positions, {a.positions, b.positions}}};
  for (const auto& [f, v] : dims)
    if (v.second < v.first) return {rule::shrinks, f, v.first, v.second};
  if (b.pool != 1 && b.pool != a.pool) return {rule::pool_changed, rule_field::pool, a.pool, b.pool};
  if (a.hidden / a.heads != b.hidden / b.heads)
    return {rule::head_size_changed, rule_field::heads, a.hidden / a.heads, b.hidden / b.heads};
  if (b.hidden != a.hidden && op.hidden == hidden_mode::replicate && b.hidden % a.hidden != 0)
    return {rule::not_integer_factor, rule_field::hidden, a.hidden, b.hidden};
  return {};
}

/// The rules on new layer l, whose source (depth_source) is old layer s: old state os, new state ns.
constexpr rule_result check_growth_layer(const growth_dims& a, ffn_state os, const growth_dims& b, ffn_state ns,
                                         std::size_t l, std::size_t s) {
  if (ns == ffn_state::full) return {};
  const rule_field f = ns == ffn_state::shared ? rule_field::share_factor : rule_field::rank;
  if (ns != os) return {rule::lowcost_entered, f, 0, static_cast<std::size_t>(ns), l, s};
  if (ns == ffn_state::shared && a.share_factor != b.share_factor)
    return {rule::lowcost_changed, f, a.share_factor, b.share_factor, l, s};
  if (ns == ffn_state::factorized && a.rank != b.rank) return {rule::lowcost_changed, f, a.rank, b.rank, l, s};
  if (ns == ffn_state::factorized && a.ffn != b.ffn) return {rule::ffn_grows_with_lowcost, rule_field::ffn, a.ffn, b.ffn, l, s};
  return {};
}

/// The FFN operator: a growing FFN needs a split.
constexpr rule_result check_growth_ffn_op(const growth_dims& a, const growth_dims& b, const grow_options& op) {
  if (b.ffn != a.ffn && op.ffn != ffn_mode::split && op.ffn != ffn_mode::split_random && op.ffn != ffn_mode::split_asym)
    return {rule::ffn_grow_op_mismatch, rule_field::ffn_op, 0, static_cast<std::size_t>(op.ffn)};
  return {};
}

/// Every rule, first failure first: sizes, each new layer traced to its source, the FFN operator.
/// old_state(l) / new_state(l) give layer l's ffn_state.
template <class OldState, class NewState>
constexpr rule_result check_growth_rules(const growth_dims& a, OldState&& old_state, const growth_dims& b,
                                         NewState&& new_state, const grow_options& op) {
  if (auto r = check_growth_dims(a, b, op); !r.ok()) return r;
  for (std::size_t l = 0; l < b.layers; ++l) {
    const std::size_t s = depth_source(l, a.layers, b.layers, op.depth);
    if (auto r = check_growth_layer(a, old_state(s), b, new_state(l), l, s); !r.ok()) return r;
  }
  return check_growth_ffn_op(a, b, op);
}

// ------------------------------------------------------------------------------------------------------------
// Shape rules: one model shape on its own, written once for a schedule stage (model::shape, low-cost layers
// by stride) and a BERT config (bert_config, explicit layer lists). Each caller adds only what its own
// description has: a stage its steps and sequence length, a config its vocabularies, dropouts and lists.

/// Where a shape is written down. Two rules depend on it, and only these:
///   - the share factor k: a stage needs k >= 2, because a stride pattern with k = 1 names shared layers
///     that share nothing (a meaningless stage); a config's explicit list with k = 1 is a valid no-op
///     (layers marked shared at full size: the same network as without the list), so it needs k >= 1;
///   - unused fields: a stage keeps k = 1 and r = 0 when no layer uses the variant (a stage file states
///     every field, and a stray one is a mistake); a config ignores them (config.json may carry them).
enum class shape_context : std::uint8_t { schedule_stage, config };

enum class shape_rule : std::uint8_t {
  ok,
  not_positive,              ///< a size is 0
  heads_not_divisor,         ///< expected: hidden, actual: heads
  shared_and_factorized,     ///< layer: the first layer both shared and factorised
  share_factor_too_small,    ///< expected: the least k, actual: k
  share_factor_not_divisor,  ///< expected: ffn, actual: k
  share_factor_unused,       ///< schedule stage only: k != 1 with no shared layer; actual: k
  rank_out_of_range,         ///< expected: min(hidden, ffn), actual: r
  rank_unused,               ///< schedule stage only: r != 0 with no factorised layer; actual: r
};

struct shape_result {
  shape_rule code = shape_rule::ok;
  rule_field where = rule_field::none;
  std::size_t expected = 0, actual = 0;
  std::size_t layer = 0;  ///< shared_and_factorized: the layer
  [[nodiscard]] constexpr bool ok() const { return code == shape_rule::ok; }
};

/// A shape as the shape rules read it. share_factor and rank as written, also when no layer uses them.
struct shape_facts {
  std::size_t layers = 0, hidden = 0, heads = 0, ffn = 0, positions = 0, pool = 1;
  std::size_t share_factor = 1, rank = 0;
  bool any_shared = false, any_factorized = false;
  /// A layer that is both shared and factorised, if any (found by the caller: a stride shape's layer 0
  /// whenever both strides are set, a config's first listed factorised layer that is also shared).
  std::optional<std::size_t> shared_and_factorized;
};

/// Every shape rule, first failure first: L, d, A, I, P, p positive; A divides d; no layer both shared and
/// factorised; with shared layers k >= 2 (stage) or >= 1 (config) and
/// k divides I; with factorised layers r in [1, min(d, I)]; in a stage, unused k = 1 and r = 0.
constexpr shape_result check_shape_rules(const shape_facts& s, shape_context ctx) {
  const std::pair<rule_field, std::size_t> positive[] = {
      {rule_field::layers, s.layers}, {rule_field::hidden, s.hidden},       {rule_field::heads, s.heads},
      {rule_field::ffn, s.ffn},       {rule_field::positions, s.positions}, {rule_field::pool, s.pool}};
  for (const auto& [f, v] : positive)
    if (v == 0) return {shape_rule::not_positive, f, 0, 0};
  if (s.hidden % s.heads != 0) return {shape_rule::heads_not_divisor, rule_field::heads, s.hidden, s.heads};
  if (s.shared_and_factorized)
    return {shape_rule::shared_and_factorized, rule_field::rank, 0, 0, *s.shared_and_factorized};
  const bool stage = ctx == shape_context::schedule_stage;
  if (s.any_shared) {
    const std::size_t least = stage ? 2 : 1;
    if (s.share_factor < least) return {shape_rule::share_factor_too_small, rule_field::share_factor, least, s.share_factor};
    if (s.ffn % s.share_factor != 0)
      return {shape_rule::share_factor_not_divisor, rule_field::share_factor, s.ffn, s.share_factor};
  } else if (stage && s.share_factor != 1) {
    return {shape_rule::share_factor_unused, rule_field::share_factor, 1, s.share_factor};
  }
  if (s.any_factorized) {
    const std::size_t max_rank = s.hidden < s.ffn ? s.hidden : s.ffn;
    if (s.rank == 0 || s.rank > max_rank) return {shape_rule::rank_out_of_range, rule_field::rank, max_rank, s.rank};
  } else if (stage && s.rank != 0) {
    return {shape_rule::rank_unused, rule_field::rank, 0, s.rank};
  }
  return {};
}

}  // namespace growth::model
