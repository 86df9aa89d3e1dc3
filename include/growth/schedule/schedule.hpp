#pragma once
/// @file schedule.hpp
/// A growth schedule as a type: `schedule<run_settings{...}, stage{...}, stage{...}, ...>`. Instantiating it
/// runs every rule of check.hpp at compile time; a broken schedule does not compile, and the error names the
/// rule in words (the static_assert message) and the stage, field and values (the template arguments of
/// growth::sched::schedule_diagnostic in the instantiation note). The runtime form is a runtime_schedule
/// (run settings + std::vector<stage>), which the trainer consumes and which schedule files hold (json.hpp).
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "check.hpp"
#include "cost.hpp"
#include "stage.hpp"

namespace growth::sched {

/// The runtime form of a schedule.
struct runtime_schedule {
  run_settings run{};
  std::vector<stage> stages;

  /// Throws growth::error naming the stage and field unless every rule of check.hpp holds.
  void validate(bool standard_end = true) const { sched::validate(stages, run, standard_end); }
  [[nodiscard]] constexpr check_result check() const { return check_schedule(stages, run); }
  [[nodiscard]] constexpr schedule_cost cost() const { return cost_of(stages, run); }
  friend bool operator==(const runtime_schedule&, const runtime_schedule&) = default;
};

/// One static_assert per rule; the template arguments say where (stage index, field) and what (expected and
/// actual values, as in check_result). Only the failing rule's assertion fires.
template <check_code Code, std::size_t Stage, field Field, std::size_t Expected, std::size_t Actual>
struct schedule_diagnostic {
  static constexpr check_code c = Code;
  static_assert(c != check_code::no_stages, "growth schedule: a schedule needs at least one stage");
  static_assert(c != check_code::not_positive,
                "growth schedule: steps, layers, hidden, heads, ffn, seq_len, pool_size, vocab_size, batch_size "
                "and masked_per_mille must be positive");
  static_assert(c != check_code::out_of_range, "growth schedule: masked_per_mille must be at most 999");
  static_assert(c != check_code::heads_not_divisor, "growth schedule: heads must divide hidden");
  static_assert(c != check_code::seq_len_exceeds_positions,
                "growth schedule: seq_len must not exceed max_positions (the position table)");
  static_assert(c != check_code::share_factor_too_small,
                "growth schedule: a shared FFN needs ffn_share_factor >= 2");
  static_assert(c != check_code::share_factor_not_divisor,
                "growth schedule: ffn_share_factor must divide ffn (non-integer factor)");
  static_assert(c != check_code::share_factor_without_sharing,
                "growth schedule: ffn_share_factor must be 1 when ffn_shared_every is 0");
  static_assert(c != check_code::rank_out_of_range,
                "growth schedule: ffn_rank must be in [1, min(hidden, ffn)] for a factorised FFN");
  static_assert(c != check_code::rank_without_factorization,
                "growth schedule: ffn_rank must be 0 when ffn_factorized_every is 0");
  static_assert(c != check_code::shared_and_factorized,
                "growth schedule: a stage uses FFN sharing or FFN factorisation, not both");
  static_assert(c != check_code::shrinks,
                "growth schedule: a dimension shrinks between consecutive stages (layers, hidden, heads, ffn, "
                "seq_len and max_positions must not decrease)");
  static_assert(c != check_code::head_size_changed,
                "growth schedule: the head size hidden/heads must stay constant when hidden or heads grow");
  static_assert(c != check_code::not_integer_factor,
                "growth schedule: non-integer factor: hidden replicate needs new hidden % old hidden == 0");
  static_assert(c != check_code::lowcost_entered,
                "growth schedule: a later stage cannot enter a low-cost variant (new FFN sharing or "
                "factorisation, or a larger pool_size)");
  static_assert(c != check_code::lowcost_changed,
                "growth schedule: ffn_share_factor / ffn_rank cannot change while a layer stays low-cost");
  static_assert(c != check_code::exit_op_mismatch,
                "growth schedule: a shared FFN is left only by enter.ffn = unshare, a factorised FFN only by "
                "enter.ffn = unfactorize");
  static_assert(c != check_code::ffn_grows_with_lowcost,
                "growth schedule: ffn grows only when the old and new layers are full (leave the low-cost FFN "
                "at the same ffn first)");
  static_assert(c != check_code::ffn_grow_op_mismatch,
                "growth schedule: a growing ffn needs enter.ffn = split, split_random or split_asym");
  static_assert(c != check_code::depth_pattern,
                "growth schedule: enter.depth = identity needs every old layer to have the same FFN structure");
  static_assert(c != check_code::last_not_standard,
                "growth schedule: the last stage must be a standard BERT (no FFN sharing, factorisation or pooling)");
  static_assert(c != check_code::pool_changed,
                "growth schedule: pool_size is kept or becomes 1 (no operator changes a pooling factor)");
  static constexpr bool ok = c == check_code::ok;
};

/// A growth schedule checked at compile time.
template <run_settings Run, stage... Stages>
struct schedule {
  static constexpr run_settings run = Run;
  static constexpr std::size_t size = sizeof...(Stages);
  static constexpr std::array<stage, size> stages{Stages...};
  static constexpr check_result result = check_schedule(std::span<const stage>(stages), Run);
  static_assert(schedule_diagnostic<result.code, result.stage, result.where, result.expected, result.actual>::ok,
                "growth schedule: invalid schedule (the failing rule is reported above)");

  /// The stages as a std::array (usable in constant expressions).
  static constexpr std::array<stage, size> as_array() { return stages; }
  /// The runtime form the trainer consumes.
  static constexpr runtime_schedule to_runtime() {
    return runtime_schedule{Run, std::vector<stage>(stages.begin(), stages.end())};
  }
  static constexpr schedule_cost cost() { return cost_of(std::span<const stage>(stages), Run); }
  static constexpr stage_cost cost_of_stage(std::size_t i) {
    return sched::cost_of_stage(std::span<const stage>(stages), i, Run);
  }
};

}  // namespace growth::sched
