#pragma once
/// @file check.hpp
/// The rules a growth schedule must satisfy, written ONCE as constexpr functions that return a small result
/// (ok, or: which check failed, at which stage, on which field, with the expected and actual values). The
/// compile-time schedule turns a failed result into a static_assert with a clear message (schedule.hpp); the
/// run-time validator turns it into a growth::error naming the stage and the field (validate()).
///
/// Rules, per stage: steps and every dimension positive; heads divide hidden; seq_len <= position rows; a
/// shared FFN has share factor k >= 2 dividing ffn; a factorised FFN has rank in [1, min(hidden, ffn)]; FFN
/// sharing and factorisation are not both used; unused low-cost fields stay at their "off" value.
/// Between consecutive stages: no dimension shrinks (layers, hidden, heads, ffn, seq_len, positions) and the
/// pooling factor does not increase; the head size hidden/heads stays constant whenever hidden or heads change
/// (no operator grows the head size: it would change the 1/sqrt(d) softmax temperature, growth-methods.md 0.3);
/// hidden replicate needs an integer factor; every layer's FFN, traced back through the depth operator to
/// the old layer it copies, either keeps its structure or leaves a low-cost variant through the operator that
/// can leave it (shared -> full only by unshare, factorised -> full only by unfactorize; pooling -> plain needs
/// no operator); no layer enters a low-cost variant; the FFN grows only between full layers and only by a
/// split. The last stage is a standard BERT.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../model/rules.hpp"
#include "stage.hpp"

namespace growth::sched {

enum class check_code : std::uint8_t {
  ok,
  no_stages,
  not_positive,
  out_of_range,
  heads_not_divisor,
  seq_len_exceeds_positions,
  share_factor_too_small,
  share_factor_not_divisor,
  share_factor_without_sharing,
  rank_out_of_range,
  rank_without_factorization,
  shared_and_factorized,
  shrinks,
  head_size_changed,
  not_integer_factor,
  lowcost_entered,
  lowcost_changed,
  exit_op_mismatch,
  ffn_grows_with_lowcost,
  ffn_grow_op_mismatch,
  depth_pattern,
  last_not_standard,
  rewarm_steps,
  trigger_first,
  pool_changed,
};

/// The field a check is about; schedule-level fields carry no stage index.
enum class field : std::uint8_t {
  none,
  stages,
  vocab_size,
  batch_size,
  masked_per_mille,
  steps,
  layers,
  hidden,
  heads,
  ffn,
  seq_len,
  max_positions,
  ffn_share_factor,
  ffn_shared_every,
  ffn_rank,
  ffn_factorized_every,
  pool_size,
  enter_depth,
  enter_ffn,
  enter_hidden,
  enter_heads,
  enter_length,
  enter_rewarm_steps,
  enter_when,
};

/// The field's path in a schedule file.
constexpr std::string_view field_path(field f) {
  switch (f) {
    case field::none: return "";
    case field::stages: return "stages";
    case field::vocab_size: return "vocab_size";
    case field::batch_size: return "batch_size";
    case field::masked_per_mille: return "masked_per_mille";
    case field::steps: return "steps";
    case field::layers: return "shape.layers";
    case field::hidden: return "shape.hidden";
    case field::heads: return "shape.heads";
    case field::ffn: return "shape.ffn";
    case field::seq_len: return "shape.seq_len";
    case field::max_positions: return "shape.max_positions";
    case field::ffn_share_factor: return "shape.ffn_share_factor";
    case field::ffn_shared_every: return "shape.ffn_shared_every";
    case field::ffn_rank: return "shape.ffn_rank";
    case field::ffn_factorized_every: return "shape.ffn_factorized_every";
    case field::pool_size: return "shape.pool_size";
    case field::enter_depth: return "enter.depth";
    case field::enter_ffn: return "enter.ffn";
    case field::enter_hidden: return "enter.hidden";
    case field::enter_heads: return "enter.heads";
    case field::enter_length: return "enter.length";
    case field::enter_rewarm_steps: return "enter.rewarm_steps";
    case field::enter_when: return "enter.when";
  }
  return "?";
}

inline constexpr std::size_t no_stage = std::numeric_limits<std::size_t>::max();

/// The outcome of a check. `expected` and `actual` are numbers whose meaning depends on `code` (a bound, the
/// previous stage's value, a layer index or an enum value); describe() turns them into words.
struct check_result {
  check_code code = check_code::ok;
  std::size_t stage = no_stage;
  field where = field::none;
  std::size_t expected = 0;
  std::size_t actual = 0;
  [[nodiscard]] constexpr bool ok() const { return code == check_code::ok; }
};

namespace detail {

constexpr check_result fail(check_code c, std::size_t stage, field f, std::size_t expected, std::size_t actual) {
  return {c, stage, f, expected, actual};
}

constexpr bool uniform_ffn(const model_shape& s) {
  for (std::size_t l = 1; l < s.layers; ++l)
    if (layer_state(s, l) != layer_state(s, 0)) return false;
  return true;
}

}  // namespace detail

/// Run settings: vocab and batch positive, masked_per_mille in [1, 999] (the trainer masks each token with
/// probability masked_per_mille / 1000; 1000 would leave no unmasked context).
constexpr check_result check_settings(const run_settings& r) {
  using detail::fail;
  if (r.vocab_size == 0) return fail(check_code::not_positive, no_stage, field::vocab_size, 0, 0);
  if (r.batch_size == 0) return fail(check_code::not_positive, no_stage, field::batch_size, 0, 0);
  if (r.masked_per_mille == 0) return fail(check_code::not_positive, no_stage, field::masked_per_mille, 0, 0);
  if (r.masked_per_mille > 999)
    return fail(check_code::out_of_range, no_stage, field::masked_per_mille, 999, r.masked_per_mille);
  return {};
}

namespace detail {
/// A failure of the shape rules (model/rules.hpp) as a schedule check: the field of the schedule file.
constexpr check_result from_shape_rule(const model::shape_result& r, std::size_t i, const model_shape& s) {
  using model::rule_field;
  using model::shape_rule;
  const field f = r.where == rule_field::layers         ? field::layers
                  : r.where == rule_field::hidden       ? field::hidden
                  : r.where == rule_field::heads        ? field::heads
                  : r.where == rule_field::ffn          ? field::ffn
                  : r.where == rule_field::positions    ? field::max_positions
                  : r.where == rule_field::pool         ? field::pool_size
                  : r.where == rule_field::share_factor ? field::ffn_share_factor
                                                        : field::ffn_rank;
  switch (r.code) {
    case shape_rule::ok: return {};
    case shape_rule::not_positive: return fail(check_code::not_positive, i, f, 0, 0);
    case shape_rule::heads_not_divisor: return fail(check_code::heads_not_divisor, i, f, r.expected, r.actual);
    case shape_rule::shared_and_factorized:
      return fail(check_code::shared_and_factorized, i, field::ffn_factorized_every, 0, s.ffn_factorized_every);
    case shape_rule::share_factor_too_small: return fail(check_code::share_factor_too_small, i, f, r.expected, r.actual);
    case shape_rule::share_factor_not_divisor:
      return fail(check_code::share_factor_not_divisor, i, f, r.expected, r.actual);
    case shape_rule::share_factor_unused: return fail(check_code::share_factor_without_sharing, i, f, 1, r.actual);
    case shape_rule::rank_out_of_range: return fail(check_code::rank_out_of_range, i, f, r.expected, r.actual);
    case shape_rule::rank_unused: return fail(check_code::rank_without_factorization, i, f, 0, r.actual);
  }
  return {};
}
}  // namespace detail

/// One stage on its own: its steps and sequence length (data), then the shape rules of model/rules.hpp in
/// their schedule-stage context (the ones bert_config::validate applies to a config), then the sequence
/// fitting the position table and the stage's entry policy.
constexpr check_result check_stage(const stage& st, std::size_t i) {
  using detail::fail;
  const model_shape& s = st.shape;
  if (st.steps == 0) return fail(check_code::not_positive, i, field::steps, 0, 0);
  if (s.seq_len == 0) return fail(check_code::not_positive, i, field::seq_len, 0, 0);
  if (auto r = model::check_shape_rules(model::shape_facts_of(s), model::shape_context::schedule_stage); !r.ok())
    return detail::from_shape_rule(r, i, s);
  if (s.seq_len > positions(s))
    return fail(check_code::seq_len_exceeds_positions, i, field::seq_len, positions(s), s.seq_len);
  // lr = rewarm ramps over rewarm_steps (> 0, at most the stage); any other policy leaves the field 0.
  if (st.enter.lr == lr_action::rewarm && i > 0) {
    if (st.enter.rewarm_steps == 0) return fail(check_code::rewarm_steps, i, field::enter_rewarm_steps, 1, 0);
    if (st.enter.rewarm_steps > st.steps)
      return fail(check_code::out_of_range, i, field::enter_rewarm_steps, st.steps, st.enter.rewarm_steps);
  } else if (st.enter.rewarm_steps != 0) {
    return fail(check_code::rewarm_steps, i, field::enter_rewarm_steps, 0, st.enter.rewarm_steps);
  }
  // An automatic trigger ends the previous stage early: the first stage has none.
  if (i == 0 && st.enter.when == grow_trigger::automatic) return fail(check_code::trigger_first, i, field::enter_when, 0, 1);
  return {};
}

namespace detail {
/// A failure of the shared rules (model/rules.hpp) as a schedule check: the field of the schedule file.
constexpr check_result from_rule(const model::rule_result& r, std::size_t i, const model_shape& a, const model_shape& b) {
  using model::rule;
  using model::rule_field;
  switch (r.code) {
    case rule::ok: return {};
    case rule::shrinks: {
      const field f = r.where == rule_field::layers   ? field::layers
                      : r.where == rule_field::hidden ? field::hidden
                      : r.where == rule_field::heads  ? field::heads
                      : r.where == rule_field::ffn    ? field::ffn
                                                      : field::max_positions;
      return fail(check_code::shrinks, i, f, r.expected, r.actual);
    }
    case rule::head_size_changed: return fail(check_code::head_size_changed, i, field::heads, r.expected, r.actual);
    case rule::pool_changed:
      // Entering pooling (or a coarser one) and changing the factor while staying pooled are both refused;
      // the first keeps its old words.
      if (r.actual > r.expected) return fail(check_code::lowcost_entered, i, field::pool_size, r.expected, r.actual);
      return fail(check_code::pool_changed, i, field::pool_size, r.expected, r.actual);
    case rule::not_integer_factor: return fail(check_code::not_integer_factor, i, field::hidden, r.expected, r.actual);
    case rule::lowcost_entered: {
      const bool fact = r.actual == static_cast<std::size_t>(ffn_state::factorized) ||
                        layer_state(a, r.source) == ffn_state::factorized;
      return fail(check_code::lowcost_entered, i, fact ? field::ffn_factorized_every : field::ffn_shared_every, r.layer,
                  r.actual);
    }
    case rule::lowcost_changed:
      return fail(check_code::lowcost_changed, i,
                  r.where == rule_field::share_factor ? field::ffn_share_factor : field::ffn_rank, r.expected, r.actual);
    case rule::ffn_grows_with_lowcost: return fail(check_code::ffn_grows_with_lowcost, i, field::ffn, a.ffn, b.ffn);
    case rule::ffn_grow_op_mismatch: return fail(check_code::ffn_grow_op_mismatch, i, field::enter_ffn, 0, r.actual);
  }
  return {};
}
}  // namespace detail

/// Entering stage i (shape `to`, operators to.enter) from the previous stage (`from`). Both must pass
/// check_stage first. The growth rules are model/rules.hpp's, in its order (the ones model-level planning
/// applies); a schedule adds its own policy: the sequence length (data) does not shrink, identity insertion
/// needs a uniform FFN structure (kept from when the schedule traced identity layers approximately), a
/// layer that leaves a low-cost FFN names the operator that leaves it, and the FFN grows only between full
/// layers (model-level growth also splits a shared FFN that stays shared).
constexpr check_result check_transition(const stage& from, const stage& to, std::size_t i) {
  using detail::fail;
  const model_shape& a = from.shape;
  const model_shape& b = to.shape;
  const growth_ops& op = to.enter;
  const model::growth_dims da = model::dims_of(a), db = model::dims_of(b);
  // The sequence length (data) is reported before the position table that follows it (max_positions 0).
  const bool model_dims_kept = b.layers >= a.layers && b.hidden >= a.hidden && b.heads >= a.heads && b.ffn >= a.ffn;
  if (model_dims_kept && b.seq_len < a.seq_len) return fail(check_code::shrinks, i, field::seq_len, a.seq_len, b.seq_len);
  if (auto r = model::check_growth_dims(da, db, op); !r.ok()) return detail::from_rule(r, i, a, b);
  if (b.layers != a.layers && op.depth == depth_op::identity && !detail::uniform_ffn(a))
    return fail(check_code::depth_pattern, i, field::enter_depth, 0, 0);
  for (std::size_t l = 0; l < b.layers; ++l) {
    const std::size_t src = depth_source(l, a.layers, b.layers, op.depth);
    const ffn_state os = layer_state(a, src);
    const ffn_state ns = layer_state(b, l);
    if (auto r = model::check_growth_layer(da, os, db, ns, l, src); !r.ok()) return detail::from_rule(r, i, a, b);
    if (os == ffn_state::full) continue;
    // Schedule policy: the FFN grows between full layers only, and a layer leaving a low-cost FFN names the
    // operator that leaves it.
    if (a.ffn != b.ffn) return fail(check_code::ffn_grows_with_lowcost, i, field::ffn, a.ffn, b.ffn);
    if (ns == ffn_state::full) {
      const ffn_op needed = os == ffn_state::shared ? ffn_op::unshare : ffn_op::unfactorize;
      if (op.ffn != needed)
        return fail(check_code::exit_op_mismatch, i, field::enter_ffn, static_cast<std::size_t>(needed),
                    static_cast<std::size_t>(op.ffn));
    }
  }
  return detail::from_rule(model::check_growth_ffn_op(da, db, op), i, a, b);
}

/// Every rule, in order: settings, at least one stage, each stage then its transition, the last stage standard
/// (unless standard_end is false: a low-cost model trained on its own as a comparison, never a target).
/// Returns the first failure.
constexpr check_result check_schedule(std::span<const stage> stages, const run_settings& run, bool standard_end = true) {
  using detail::fail;
  if (auto r = check_settings(run); !r.ok()) return r;
  if (stages.empty()) return fail(check_code::no_stages, no_stage, field::stages, 1, 0);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (auto r = check_stage(stages[i], i); !r.ok()) return r;
    if (i > 0)
      if (auto r = check_transition(stages[i - 1], stages[i], i); !r.ok()) return r;
  }
  const std::size_t last = stages.size() - 1;
  if (!standard_end) return {};
  const model_shape& s = stages[last].shape;
  if (s.ffn_shared_every != 0) return fail(check_code::last_not_standard, last, field::ffn_shared_every, 0, s.ffn_shared_every);
  if (s.ffn_factorized_every != 0)
    return fail(check_code::last_not_standard, last, field::ffn_factorized_every, 0, s.ffn_factorized_every);
  if (s.pool_size != 1) return fail(check_code::last_not_standard, last, field::pool_size, 1, s.pool_size);
  return {};
}

/// The words for a failed check: {subject, expected, actual} as growth::error takes them.
/// Subject: "schedule stage <i> field <path>" or "schedule field <path>".
inline std::array<std::string, 3> describe(const check_result& r) {
  using std::to_string;
  std::string subject = "schedule";
  if (r.stage != no_stage) subject += " stage " + to_string(r.stage);
  subject += " field ";
  subject += field_path(r.where);
  const std::string e = to_string(r.expected);
  const std::string a = to_string(r.actual);
  auto ffn_name = [](std::size_t v) { return std::string(to_string(static_cast<ffn_op>(v))); };
  auto state_name = [](std::size_t v) { return std::string(to_string(static_cast<ffn_state>(v))); };
  switch (r.code) {
    case check_code::ok: return {subject, "valid", "valid"};
    case check_code::no_stages: return {subject, "at least 1 stage", "0 stages"};
    case check_code::not_positive: return {subject, "a positive integer", "0"};
    case check_code::out_of_range: return {subject, "at most " + e, a};
    case check_code::heads_not_divisor: return {subject, "a divisor of shape.hidden " + e, a};
    case check_code::seq_len_exceeds_positions: return {subject, "at most the position rows " + e, a};
    case check_code::share_factor_too_small: return {subject, "at least 2 when shape.ffn_shared_every > 0", a};
    case check_code::share_factor_not_divisor: return {subject, "a divisor of shape.ffn " + e, a};
    case check_code::share_factor_without_sharing: return {subject, "1 when shape.ffn_shared_every is 0", a};
    case check_code::rank_out_of_range: return {subject, "in [1, min(hidden, ffn)] = [1, " + e + "]", a};
    case check_code::rank_without_factorization: return {subject, "0 when shape.ffn_factorized_every is 0", a};
    case check_code::shared_and_factorized:
      return {subject, "0 when shape.ffn_shared_every > 0 (one low-cost FFN variant per stage)", a};
    case check_code::shrinks:
      return {subject, "at least " + e + " (the previous stage's value: no dimension shrinks)", a};
    case check_code::head_size_changed:
      return {subject, "head size hidden/heads = " + e + " as in the previous stage (no operator grows the head size)",
              "head size " + a};
    case check_code::not_integer_factor:
      return {subject, "a multiple of the previous stage's " + e + " (enter.hidden = replicate needs an integer factor)",
              a};
    case check_code::lowcost_entered:
      if (r.where == field::pool_size)
        return {subject, "at most the previous stage's " + e + " (no operator enters a low-cost variant)", a};
      return {subject, "layer " + e + " not to enter a low-cost FFN variant (no operator creates one)",
              "layer " + e + " becomes " + state_name(r.actual)};
    case check_code::lowcost_changed:
      return {subject, e + " as in the previous stage (a low-cost FFN keeps its factor until it is left)", a};
    case check_code::exit_op_mismatch:
      return {subject, "\"" + ffn_name(r.expected) + "\" (the operator that leaves this low-cost FFN)",
              "\"" + ffn_name(r.actual) + "\""};
    case check_code::ffn_grows_with_lowcost:
      return {subject, e + " (the FFN grows only between full layers: leave the low-cost FFN first)", a};
    case check_code::ffn_grow_op_mismatch:
      return {subject, "\"split\", \"split_random\" or \"split_asym\" (shape.ffn grows)", "\"" + ffn_name(r.actual) + "\""};
    case check_code::depth_pattern:
      return {subject, "\"stack\" or \"interpolate\" (identity insertion needs every old layer to have the same FFN)",
              "\"identity\""};
    case check_code::last_not_standard:
      return {subject, e + " in the last stage (it must be a standard BERT)", a};
    case check_code::trigger_first:
      return {subject, "\"fixed\" in the first stage (enter.when = \"auto\" ends the previous stage early)", "\"auto\""};
    case check_code::pool_changed:
      return {subject, "1 or the previous stage's " + e + " (pooling is kept or left; no operator changes its factor)", a};
    case check_code::rewarm_steps:
      return {subject, r.expected ? "at least 1 (enter.lr = \"rewarm\" ramps over enter.rewarm_steps)"
                                  : "0 (enter.rewarm_steps is used only with enter.lr = \"rewarm\" after stage 0)",
              a};
  }
  return {subject, "?", "?"};
}

/// Throws growth::error naming the stage and the field unless the schedule is valid.
inline void validate(std::span<const stage> stages, const run_settings& run, bool standard_end = true) {
  const check_result r = check_schedule(stages, run, standard_end);
  if (r.ok()) return;
  const auto d = describe(r);
  throw error(d[0], d[1], d[2]);
}

}  // namespace growth::sched
