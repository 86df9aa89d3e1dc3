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

}  // namespace growth::model
