// Tests of growth schedules: the rules (at compile time and at run time, with messages), the cost model
// against hand-computed FLOPs, and schedule files (JSON round trip, strict reading).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <random>
#include <unistd.h>
#include <string>
#include <utility>
#include <vector>

#include <growth/io/json.hpp>
#include <growth/model/grow.hpp>
#include <growth/reference/flops.hpp>
#include <growth/schedule/check.hpp>
#include <growth/schedule/cost.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/schedule/presets.hpp>
#include <growth/schedule/schedule.hpp>
#include <growth/schedule/transition.hpp>

using namespace growth::sched;

namespace {

constexpr run_settings small_run{.vocab_size = 100, .batch_size = 8, .masked_per_mille = 125};

constexpr model_shape plain(std::size_t layers, std::size_t hidden, std::size_t heads, std::size_t ffn,
                            std::size_t seq) {
  return model_shape{.layers = layers, .hidden = hidden, .heads = heads, .ffn = ffn, .seq_len = seq};
}

template <std::size_t N>
constexpr check_result check(const std::array<stage, N>& s, const run_settings& r = small_run) {
  return check_schedule(std::span<const stage>(s), r);
}

// ---------------------------------------------------------------------------------------------------------
// Valid schedules compile (the static_asserts inside schedule<> run when the type is used).

using compound = presets::compound_grow_demo;
static_assert(compound::result.ok());
static_assert(compound::size == 3);

// Every dimension grows at once: depth (interpolate), hidden (replicate x2) with heads (duplicate, head size
// 32 kept), ffn (split), positions (tile), seq_len.
using everything_grows =
    schedule<small_run, stage{5, plain(2, 64, 2, 128, 32)},
             stage{5,
                   model_shape{.layers = 3, .hidden = 128, .heads = 4, .ffn = 320, .seq_len = 64, .max_positions = 128},
                   growth_ops{.depth = depth_op::interpolate, .ffn = ffn_op::split_asym, .hidden = hidden_op::replicate,
                              .heads = heads_op::duplicate, .length = length_op::interpolate, .seed = 7}}>;
static_assert(everything_grows::result.ok());

// Factorised FFN in even layers, left by unfactorize while depth grows by stacking.
using factorized_then_full =
    schedule<small_run,
             stage{5, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32, .ffn_rank = 16,
                                  .ffn_factorized_every = 2}},
             stage{5, plain(4, 64, 4, 256, 32), growth_ops{.depth = depth_op::stack, .ffn = ffn_op::unfactorize}}>;
static_assert(factorized_then_full::result.ok());

// Single standard stage.
using single = schedule<small_run, stage{1, plain(1, 8, 2, 16, 4)}>;
static_assert(single::result.ok());
static_assert(single::as_array()[0].shape.hidden == 8);

// ---------------------------------------------------------------------------------------------------------
// Each rule, checked at compile time through the same constexpr function the static_asserts use.

constexpr stage s0{10, plain(2, 64, 4, 256, 32)};
static_assert(check(std::array<stage, 1>{s0}).ok());
static_assert(check_schedule(std::span<const stage>{}, small_run).code == check_code::no_stages);
static_assert(check(std::array{stage{0, plain(2, 64, 4, 256, 32)}}).code == check_code::not_positive);
static_assert(check(std::array{stage{0, plain(2, 64, 4, 256, 32)}}).where == field::steps);
static_assert(check(std::array{s0}, run_settings{0, 8, 150}).where == field::vocab_size);
static_assert(check(std::array{s0}, run_settings{10, 8, 1001}).code == check_code::out_of_range);
static_assert(check(std::array{stage{1, plain(2, 64, 3, 256, 32)}}).code == check_code::heads_not_divisor);
static_assert(check(std::array{stage{1, model_shape{.layers = 1, .hidden = 8, .heads = 2, .ffn = 16, .seq_len = 64,
                                                    .max_positions = 32}}})
                  .code == check_code::seq_len_exceeds_positions);
// shrink, at stage 1 on each field
static_assert(check(std::array{s0, stage{1, plain(1, 64, 4, 256, 32)}}).where == field::layers);
static_assert(check(std::array{s0, stage{1, plain(2, 32, 2, 256, 32)}}).where == field::hidden);
static_assert(check(std::array{s0, stage{1, plain(2, 64, 4, 128, 32)}}).code == check_code::shrinks);
static_assert(check(std::array{s0, stage{1, plain(2, 64, 4, 256, 16)}}).stage == 1);
// head size must stay: 64/4 = 16 -> 128/4 = 32
static_assert(check(std::array{s0, stage{1, plain(2, 128, 4, 256, 32)}}).code == check_code::head_size_changed);
// hidden 64 -> 96 with heads 4 -> 6: replicate needs an integer factor, mean_pad does not
static_assert(check(std::array{s0, stage{1, plain(2, 96, 6, 256, 32)}}).code == check_code::not_integer_factor);
static_assert(check(std::array{s0, stage{1, plain(2, 96, 6, 256, 32), growth_ops{.hidden = hidden_op::mean_pad}}}).ok());
// the last stage must be standard; a low-cost variant cannot be entered later
constexpr model_shape shared2{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32, .ffn_share_factor = 4,
                              .ffn_shared_every = 1};
static_assert(check(std::array{stage{1, shared2}}).code == check_code::last_not_standard);
static_assert(check(std::array{s0, stage{1, shared2}, s0}).code == check_code::lowcost_entered);
// shared -> full needs unshare; the default split is refused
static_assert(check(std::array{stage{1, shared2}, stage{1, plain(2, 64, 4, 256, 32)}}).code ==
              check_code::exit_op_mismatch);
static_assert(check(std::array{stage{1, shared2}, stage{1, plain(2, 64, 4, 256, 32), growth_ops{.ffn = ffn_op::unshare}}})
                  .ok());
// share factor must divide ffn (non-integer factor)
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 250, .seq_len = 32,
                                                    .ffn_share_factor = 4, .ffn_shared_every = 1}}})
                  .code == check_code::share_factor_not_divisor);
// the FFN cannot grow while leaving sharing in the same step
static_assert(check(std::array{stage{1, shared2}, stage{1, plain(2, 64, 4, 512, 32), growth_ops{.ffn = ffn_op::unshare}}})
                  .code == check_code::ffn_grows_with_lowcost);
static_assert(check(std::array{s0, stage{1, plain(2, 64, 4, 512, 32), growth_ops{.ffn = ffn_op::unshare}}}).code ==
              check_code::ffn_grow_op_mismatch);
// pooling can only decrease
static_assert(check(std::array{s0, stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256,
                                                        .seq_len = 32, .pool_size = 2}}})
                  .code == check_code::lowcost_entered);

// the remaining stage-local rules
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32,
                                                    .ffn_share_factor = 1, .ffn_shared_every = 1}}})
                  .code == check_code::share_factor_too_small);
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32,
                                                    .ffn_share_factor = 2}}})
                  .code == check_code::share_factor_without_sharing);
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32,
                                                    .ffn_rank = 65, .ffn_factorized_every = 1}}})
                  .code == check_code::rank_out_of_range);
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32,
                                                    .ffn_rank = 8}}})
                  .code == check_code::rank_without_factorization);
static_assert(check(std::array{stage{1, model_shape{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32,
                                                    .ffn_share_factor = 4, .ffn_shared_every = 1, .ffn_rank = 8,
                                                    .ffn_factorized_every = 2}}})
                  .code == check_code::shared_and_factorized);
// the share factor cannot change while layers stay shared
static_assert(check(std::array{stage{1, shared2}, stage{1, [] {
                                                         auto s = shared2;
                                                         s.ffn_share_factor = 2;
                                                         return s;
                                                       }()}})
                  .code == check_code::lowcost_changed);

/// One failing schedule per check_code (except ok), for the message test below.
std::vector<std::pair<check_code, std::vector<stage>>> failing_examples() {
  auto with = [](model_shape s, auto f) {
    f(s);
    return s;
  };
  const stage full{1, plain(2, 64, 4, 256, 32)};
  return {
      {check_code::no_stages, {}},
      {check_code::not_positive, {stage{0, plain(2, 64, 4, 256, 32)}}},
      {check_code::heads_not_divisor, {stage{1, plain(2, 64, 3, 256, 32)}}},
      {check_code::seq_len_exceeds_positions, {stage{1, with(plain(2, 64, 4, 256, 32), [](auto& s) { s.max_positions = 16; })}}},
      {check_code::share_factor_too_small, {stage{1, with(shared2, [](auto& s) { s.ffn_share_factor = 1; })}}},
      {check_code::share_factor_not_divisor, {stage{1, with(shared2, [](auto& s) { s.ffn_share_factor = 3; })}}},
      {check_code::share_factor_without_sharing, {stage{1, with(shared2, [](auto& s) { s.ffn_shared_every = 0; })}}},
      {check_code::rank_out_of_range, {stage{1, with(full.shape, [](auto& s) { s.ffn_factorized_every = 1; })}}},
      {check_code::rank_without_factorization, {stage{1, with(full.shape, [](auto& s) { s.ffn_rank = 2; })}}},
      {check_code::shared_and_factorized,
       {stage{1, with(shared2, [](auto& s) { s.ffn_factorized_every = 2; s.ffn_rank = 2; })}}},
      {check_code::shrinks, {full, stage{1, plain(1, 64, 4, 256, 32)}}},
      {check_code::head_size_changed, {full, stage{1, plain(2, 128, 4, 256, 32)}}},
      {check_code::not_integer_factor, {full, stage{1, plain(2, 96, 6, 256, 32)}}},
      {check_code::lowcost_entered, {full, stage{1, shared2}, full}},
      {check_code::lowcost_changed, {stage{1, shared2}, stage{1, with(shared2, [](auto& s) { s.ffn_share_factor = 2; })}}},
      {check_code::exit_op_mismatch, {stage{1, shared2}, full}},
      {check_code::ffn_grows_with_lowcost, {stage{1, shared2}, stage{1, plain(2, 64, 4, 512, 32), growth_ops{.ffn = ffn_op::unshare}}}},
      {check_code::ffn_grow_op_mismatch, {full, stage{1, plain(2, 64, 4, 512, 32), growth_ops{.ffn = ffn_op::unfactorize}}}},
      {check_code::depth_pattern,
       {stage{1, with(shared2, [](auto& s) { s.ffn_shared_every = 2; })},
        stage{1, with(shared2, [](auto& s) { s.ffn_shared_every = 2; s.layers = 3; }), growth_ops{.depth = depth_op::identity}}}},
      {check_code::last_not_standard, {stage{1, with(full.shape, [](auto& s) { s.pool_size = 2; })}}},
  };
}

}  // namespace

TEST_CASE("every rule has a failing example and a message in words") {
  const auto examples = failing_examples();
  CHECK(examples.size() + 2 == static_cast<std::size_t>(check_code::last_not_standard) + 1);  // + ok, out_of_range
  for (const auto& example : examples) {
    const auto& [code, stages] = example;
    const int code_number = static_cast<int>(example.first);  // clang 14 cannot capture a binding
    CAPTURE(code_number);
    const auto r = check_schedule(stages, small_run);
    CHECK(r.code == code);
    try {
      validate(stages, small_run);
      FAIL("no error");
    } catch (const growth::error& e) {
      const std::string m = e.what();
      CAPTURE(m);
      CHECK(m.rfind("schedule ", 0) == 0);
      CHECK(m.find(": expected ") != std::string::npos);
      CHECK(m.find(", got ") != std::string::npos);
      CHECK(m.find('?') == std::string::npos);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

namespace {
std::string error_text(const std::vector<stage>& stages, const run_settings& run = small_run) {
  try {
    validate(stages, run);
  } catch (const growth::error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("run-time validation names the stage and field with expected and actual values") {
  CHECK(error_text({s0, stage{1, plain(2, 32, 2, 256, 32)}}) ==
        "schedule stage 1 field shape.hidden: expected at least 64 (the previous stage's value: no dimension "
        "shrinks), got 32");
  CHECK(error_text({s0, stage{1, plain(2, 96, 6, 256, 32)}}) ==
        "schedule stage 1 field shape.hidden: expected a multiple of the previous stage's 64 (enter.hidden = "
        "replicate needs an integer factor), got 96");
  CHECK(error_text({stage{1, shared2}, stage{1, plain(2, 64, 4, 256, 32)}}) ==
        "schedule stage 1 field enter.ffn: expected \"unshare\" (the operator that leaves this low-cost FFN), got "
        "\"split\"");
  CHECK(error_text({s0, stage{1, plain(2, 64, 3, 256, 32)}}) ==
        "schedule stage 1 field shape.heads: expected a divisor of shape.hidden 64, got 3");
  CHECK(error_text({stage{1, shared2}}) ==
        "schedule stage 0 field shape.ffn_shared_every: expected 0 in the last stage (it must be a standard BERT), "
        "got 1");
  CHECK(error_text({}) == "schedule field stages: expected at least 1 stage, got 0 stages");
  CHECK(error_text({s0}, run_settings{10, 0, 150}) ==
        "schedule field batch_size: expected a positive integer, got 0");
  CHECK(error_text({s0, s0, stage{1, shared2}, s0}).find("schedule stage 2 field shape.ffn_shared_every: expected "
                                                         "layer 0 not to enter") == 0);
  CHECK(error_text({s0}) == "(no error)");
}

TEST_CASE("the compile-time schedule converts to the runtime form and both validate the same") {
  const runtime_schedule r = compound::to_runtime();
  CHECK(r.run == compound::run);
  REQUIRE(r.stages.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(r.stages[i] == compound::stages[i]);
  CHECK_NOTHROW(r.validate());
  CHECK(r.check().ok());
  CHECK(r.cost().total == doctest::Approx(compound::cost().total));
  // Every stage is a valid growth::model::bert_config with the same low-cost layer lists.
  for (const auto& st : r.stages) {
    const auto c = to_bert_config(st.shape, r.run.vocab_size);
    CHECK_NOTHROW(c.validate());
    for (std::size_t l = 0; l < st.shape.layers; ++l) {
      CHECK(c.is_shared(l) == is_shared(st.shape, l));
      CHECK(c.layer_intermediate_size(l) == (is_shared(st.shape, l) ? 256u : 1024u));
    }
  }
}

TEST_CASE("depth growth traces each new layer's FFN structure back to the layer it copies") {
  // Old: 2 layers, layer 0 shared (every 2). Stacking to 4 gives shared layers 0 and 2: every 2 again.
  const model_shape old_s{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32, .ffn_share_factor = 4,
                          .ffn_shared_every = 2};
  model_shape new_s = old_s;
  new_s.layers = 4;
  const stage full{1, plain(4, 64, 4, 256, 32), growth_ops{.ffn = ffn_op::unshare}};
  CHECK(check(std::array{stage{1, old_s}, stage{1, new_s, growth_ops{.depth = depth_op::stack}}, full}).ok());
  // Interpolation gives new layers 0 and 1 from old layer 0: shared layers 0, 1 -- every-2 disagrees at layer 1.
  const auto r = check(std::array{stage{1, old_s}, stage{1, new_s, growth_ops{.depth = depth_op::interpolate}}, full});
  CHECK(r.code == check_code::exit_op_mismatch);  // layer 1 copied from a shared layer but full without unshare
  CHECK(r.stage == 1);
  // Identity insertion needs a uniform old structure.
  CHECK(check(std::array{stage{1, old_s}, stage{1, new_s, growth_ops{.depth = depth_op::identity}}, full}).code ==
        check_code::depth_pattern);
  CHECK(check(std::array{stage{1, shared2}, stage{1, [] {
                                                      auto s = shared2;
                                                      s.layers = 5;
                                                      return s;
                                                    }(),
                                                  growth_ops{.depth = depth_op::identity}},
                         stage{1, plain(5, 64, 4, 256, 32), growth_ops{.ffn = ffn_op::unshare}}})
            .ok());
}

TEST_CASE("describe_transition says which operators a stage change applies") {
  const auto& st = compound::stages;
  static_assert(describe_transition(st[0], st[1]) == transition{.depth = true});
  static_assert(describe_transition(st[1], st[2]) == transition{.ffn_unshare = true, .unpool = true});
  static_assert(describe_transition(st[1], st[2]).changes_parameters());
  constexpr auto all = describe_transition(everything_grows::stages[0], everything_grows::stages[1]);
  static_assert(all == transition{.depth = true, .ffn_split = true, .hidden = true, .heads = true, .positions = true,
                                  .seq_len = true});
  constexpr auto unf = describe_transition(factorized_then_full::stages[0], factorized_then_full::stages[1]);
  static_assert(unf.ffn_unfactorize && unf.depth && !unf.ffn_unshare);
  CHECK(describe_transition(st[0], st[0]) == transition{});
  CHECK_FALSE(describe_transition(st[0], st[0]).changes_parameters());
}

TEST_CASE("random valid schedules pass and a shrunk copy fails at the shrunk stage and field") {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    std::vector<stage> st;
    const std::size_t head_dim = 8 * pick(1, 4);
    model_shape s{.layers = pick(1, 3), .hidden = 0, .heads = pick(1, 3), .ffn = 16 * pick(1, 8), .seq_len = 8 * pick(1, 4)};
    s.hidden = s.heads * head_dim;
    const std::size_t n = pick(1, 6);
    for (std::size_t i = 0; i < n; ++i) {
      growth_ops op;
      op.depth = static_cast<depth_op>(pick(0, 2));
      op.ffn = static_cast<ffn_op>(pick(0, 2));
      op.hidden = hidden_op::mean_pad;
      op.heads = static_cast<heads_op>(pick(0, 1));
      op.length = static_cast<length_op>(pick(0, 2));
      op.seed = rng();
      if (i > 0) {
        s.layers += pick(0, 2);
        s.heads += pick(0, 1);
        s.hidden = s.heads * head_dim;
        s.ffn += 8 * pick(0, 3);
        s.seq_len += 8 * pick(0, 2);
      }
      st.push_back(stage{pick(1, 1000), s, op});
    }
    CAPTURE(seed);
    CHECK_NOTHROW(validate(st, small_run));
    const auto round = parse_schedule(growth::io::json(runtime_schedule{small_run, st}).dump());
    CHECK(round.stages == st);
    if (n >= 2) {
      const std::size_t i = pick(1, n - 1);
      auto bad = st;
      bad[i].shape.seq_len = bad[i - 1].shape.seq_len - 1;
      const auto r = check_schedule(bad, small_run);
      if (bad[i - 1].shape.seq_len > 1) {
        CHECK(r.code == check_code::shrinks);
        CHECK(r.stage == i);
        CHECK(r.where == field::seq_len);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cost model against FLOPs computed by hand (H=64, I=256, S=32, V=100, 12.5% masked -> m=4).

TEST_CASE("cost model: plain BERT") {
  constexpr model_shape a = plain(2, 64, 4, 256, 32);
  // per layer: QKVO 8*64*64*32 = 1,048,576; attention 4*32*32*64 = 262,144; FFN 4*64*256*32 = 2,097,152
  // two layers: 6,815,744; MLM head 4 * (2*64*64 + 2*64*100) = 83,968; total 6,899,712.
  static_assert(masked_tokens(32, 125) == 4.0);
  static_assert(forward_flops_per_sequence(a, 100, 4.0) == 6899712.0);
  CHECK(forward_flops_per_token(a, 100, 4.0) == doctest::Approx(6899712.0 / 32));
  CHECK(training_flops_per_step(a, small_run) == 3.0 * 8 * 6899712.0);
}

TEST_CASE("cost model: pooled and shared and factorised layers") {
  constexpr model_shape b{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32, .ffn_share_factor = 4,
                          .ffn_shared_every = 1, .pool_size = 2};
  // 28 unmasked tokens -> 1 + ceil(27/2) = 15 pooled slots, + 4 targets = 19 query tokens.
  static_assert(query_tokens(b, 4.0) == 19.0);
  // layer 0: Q,O on 19: 4*64*64*19 = 311,296; K,V on 32: 524,288; attention 4*19*32*64 = 155,648;
  //          shared FFN (64 neurons) 4*64*64*19 = 311,296 -> 1,302,528
  // layer 1: QKVO 8*64*64*19 = 622,592; attention 4*19*19*64 = 92,416; FFN 311,296 -> 1,026,304
  // + head 83,968 = 2,412,800
  static_assert(forward_flops_per_sequence(b, 100, 4.0) == 2412800.0);
  constexpr model_shape c{.layers = 2, .hidden = 64, .heads = 4, .ffn = 256, .seq_len = 32, .ffn_rank = 16,
                          .ffn_factorized_every = 2};
  // layer 0 factorised: FFN 4*16*(64+256)*32 = 655,360; layer 1 full 2,097,152; QKVO+attention 2*1,310,720
  static_assert(forward_flops_per_sequence(c, 100, 4.0) == 5457920.0);

  // Schedule: 100 steps of b, then 100 steps of the plain model; baseline 200 steps of the plain model.
  const std::vector<stage> st{stage{100, b}, stage{100, plain(2, 64, 4, 256, 32), growth_ops{.ffn = ffn_op::unshare}}};
  REQUIRE_NOTHROW(validate(st, small_run));
  const auto cost = cost_of(st, small_run);
  const double A = 3.0 * 8 * 6899712.0;
  const double B = 3.0 * 8 * 2412800.0;
  CHECK(cost.total == doctest::Approx(100 * A + 100 * B));
  CHECK(cost.baseline == doctest::Approx(200 * A));
  CHECK(cost.speedup() == doctest::Approx(2 * A / (A + B) - 1));
  CHECK(cost.steps == 200);
  CHECK(cost_of_stage(st, 0, small_run).share == doctest::Approx(B / (A + B)));
}

TEST_CASE("cost model agrees with the reference BERT's FLOP count on random unpooled shapes") {
  // growth::reference::training_flops_per_token (include/growth/reference/flops.hpp) counts the same matmuls
  // per token with the head on a fraction f of the tokens; pooling is the one thing only the schedule models.
  for (std::uint64_t seed : {11u, 12u, 13u, 14u, 15u, 16u, 17u, 18u}) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    model_shape s{.layers = pick(1, 6), .hidden = 0, .heads = pick(1, 8), .ffn = 8 * pick(1, 64), .seq_len = pick(2, 300)};
    s.hidden = s.heads * 4 * pick(1, 16);
    switch (pick(0, 2)) {
      case 1:
        s.ffn_share_factor = 4;
        s.ffn *= 4;
        s.ffn_shared_every = pick(1, 3);
        break;
      case 2:
        s.ffn_rank = pick(1, std::min(s.hidden, s.ffn));
        s.ffn_factorized_every = pick(1, 3);
        break;
      default: break;
    }
    const run_settings run{.vocab_size = pick(10, 5000), .batch_size = pick(1, 64), .masked_per_mille = pick(1, 999)};
    CAPTURE(seed);
    REQUIRE(check_stage(stage{1, s}, 0).ok());
    const auto config = to_bert_config(s, run.vocab_size);
    const double f = static_cast<double>(run.masked_per_mille) / 1000.0;
    const double ref = growth::reference::training_flops_per_token(config, s.seq_len, f) *
                       static_cast<double>(s.seq_len * run.batch_size);
    CHECK(training_flops_per_step(s, run) == doctest::Approx(ref).epsilon(1e-12));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Schedule files.

TEST_CASE("JSON round trip keeps every field") {
  runtime_schedule s = compound::to_runtime();
  s.stages[1].enter = growth_ops{.depth = depth_op::interpolate, .ffn = ffn_op::split_random,
                                 .hidden = hidden_op::mean_pad, .heads = heads_op::add, .length = length_op::random,
                                 .optimizer = optimizer_policy::map, .lr = lr_action::continue_schedule,
                                 .seed = 1234567890123ull};
  s.stages[2].shape.max_positions = 512;
  const std::string text = growth::io::json(s).dump(2);
  CHECK(parse_schedule(text) == s);
  CHECK(growth::io::json(parse_schedule(text)) == growth::io::json(s));

  const auto dir = std::filesystem::temp_directory_path() / ("growth_sched_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  save_schedule(dir / "s.json", s);
  CHECK(load_schedule(dir / "s.json") == s);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the committed CompoundGrow schedule file equals the compile-time preset") {
  const auto s = load_schedule(std::filesystem::path(GROWTH_SOURCE_DIR) / "schedules" / "compound_grow.json");
  CHECK(s == compound::to_runtime());
}

namespace {
std::string parse_error(const std::string& text) {
  try {
    (void)parse_schedule(text);
  } catch (const growth::error& e) {
    return e.what();
  }
  return "(no error)";
}
const std::string good_stage0 = R"({"steps": 10, "shape": {"layers": 2, "hidden": 64, "heads": 4, "ffn": 256, "seq_len": 32}})";
std::string with_stage1(const std::string& stage1) {
  return R"({"vocab_size": 100, "batch_size": 8, "stages": [)" + good_stage0 + "," + stage1 + "]}";
}
}  // namespace

TEST_CASE("schedule files are read strictly and errors name the stage and the field") {
  CHECK(parse_error(with_stage1(good_stage0)) == "(no error)");
  CHECK(parse_error(with_stage1(
            R"({"steps": 10, "shape": {"layers": 2, "hidden": "64", "heads": 4, "ffn": 256, "seq_len": 32}})")) ==
        "schedule stage 1 field shape.hidden: expected a non-negative integer, got a string \"64\"");
  CHECK(parse_error(with_stage1(R"({"steps": 10, "shape": {"layers": 2, "hidden": 64, "heads": 4, "ffn": 256}})")) ==
        "schedule stage 1 field shape.seq_len: expected present, got missing");
  CHECK(parse_error(with_stage1(
            R"({"steps": 10, "shape": {"layers": 2, "hidden": 64, "heads": 4, "ffn": 256, "seq_len": 32, "hiden": 3}})"))
            .find("schedule stage 1 field shape.hiden: expected one of the known keys") == 0);
  CHECK(parse_error(with_stage1(
            R"({"steps": 10, "shape": {"layers": 4, "hidden": 64, "heads": 4, "ffn": 256, "seq_len": 32},
                "enter": {"depth": "stak"}})")) ==
        "schedule stage 1 field enter.depth: expected \"stack\", \"interpolate\" or \"identity\", got \"stak\"");
  CHECK(parse_error(with_stage1(R"({"steps": -1, "shape": {}})")) ==
        "schedule stage 1 field steps: expected a non-negative integer, got a number -1");
  // A well-formed file with a shrinking stage fails validation with the same message as validate().
  CHECK(parse_error(with_stage1(
            R"({"steps": 10, "shape": {"layers": 1, "hidden": 64, "heads": 4, "ffn": 256, "seq_len": 32}})")) ==
        "schedule stage 1 field shape.layers: expected at least 2 (the previous stage's value: no dimension shrinks), "
        "got 1");
  CHECK(parse_error(R"({"vocab_size": 100, "stages": []})") ==
        "schedule field batch_size: expected present, got missing");
  CHECK(parse_error(R"({"vocab_size": 100, "batch_size": 8, "stages": {}})") ==
        "schedule field stages: expected an array, got an object");
  CHECK(parse_error(R"([1])").find("schedule field (top level)") == 0);
  CHECK(parse_error(R"({"vocab_size": 100,)").find("schedule") != std::string::npos);  // JSON syntax error
}

// ---------------------------------------------------------------------------------------------------------
// One rule set (model/rules.hpp): whatever the validator accepts, model-level planning accepts.

TEST_CASE("any schedule the validator accepts runs: plan_growth succeeds for every transition") {
  std::mt19937_64 rng(20261201);
  auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  std::size_t accepted = 0, transitions = 0, lowcost = 0, identity = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const std::size_t head_dim = 4 * pick(1, 2);
    model_shape s{.layers = pick(1, 4), .hidden = 0, .heads = pick(1, 2), .ffn = 8 * pick(1, 4), .seq_len = 4 * pick(1, 3)};
    s.hidden = s.heads * head_dim;
    switch (pick(0, 3)) {  // the first stage may be low-cost
      case 1: s.ffn_share_factor = 2; s.ffn_shared_every = pick(1, 2); break;
      case 2: s.ffn_rank = pick(1, 4); s.ffn_factorized_every = pick(1, 2); break;
      default: break;
    }
    s.pool_size = pick(0, 2) == 0 ? 2 : 1;
    std::vector<stage> st{stage{1, s}};
    for (std::size_t i = 1, n = pick(1, 3); i <= n; ++i) {
      model_shape t = st.back().shape;
      t.layers += pick(0, 3);
      if (pick(0, 2) == 0) { t.heads += 1; t.hidden = t.heads * head_dim; }
      if (pick(0, 2) == 0) t.ffn += 8 * pick(1, 2);
      if (pick(0, 2) == 0) t.seq_len += 4;
      if (pick(0, 1) == 0) { t.ffn_shared_every = 0; t.ffn_share_factor = 1; t.ffn_factorized_every = 0; t.ffn_rank = 0; }
      if (pick(0, 1) == 0) t.pool_size = 1;
      growth_ops op;
      op.depth = static_cast<depth_op>(pick(0, 2));
      op.ffn = static_cast<ffn_op>(pick(0, 4));
      op.hidden = static_cast<hidden_op>(pick(0, 1));
      op.heads = static_cast<heads_op>(pick(0, 1));
      op.length = static_cast<length_op>(pick(0, 2));
      op.seed = rng();
      st.push_back(stage{1, t, op});
    }
    if (!check_schedule(st, small_run, false).ok()) continue;
    ++accepted;
    for (std::size_t i = 1; i < st.size(); ++i) {
      const auto from = to_bert_config(st[i - 1].shape, small_run.vocab_size);
      const auto to = to_bert_config(st[i].shape, small_run.vocab_size);
      CAPTURE(trial);
      CAPTURE(i);
      CHECK_NOTHROW((void)growth::model::plan_growth(from, to, st[i].enter));
      ++transitions;
      lowcost += !is_standard(st[i - 1].shape);
      identity += st[i].enter.depth == depth_op::identity && st[i].shape.layers != st[i - 1].shape.layers;
    }
  }
  INFO("accepted " << accepted << " transitions " << transitions << " low-cost " << lowcost << " identity " << identity);
  CHECK(accepted > 200);
  CHECK(lowcost > 50);
  CHECK(identity > 50);
}

TEST_CASE("a pooled stage keeps its factor or leaves pooling (as model-level growth requires)") {
  model_shape p4 = plain(2, 64, 4, 256, 32);
  p4.pool_size = 4;
  model_shape p2 = p4;
  p2.pool_size = 2;
  const auto r = check_schedule(std::vector<stage>{stage{1, p4}, stage{1, p2}}, small_run, false);
  CHECK(r.code == check_code::pool_changed);
  CHECK(r.where == field::pool_size);
  CHECK_THROWS_WITH_AS(validate(std::vector<stage>{stage{1, p4}, stage{1, p2}}, small_run, false),
                       "schedule stage 1 field shape.pool_size: expected 1 or the previous stage's 4 (pooling is kept "
                       "or left; no operator changes its factor), got 2",
                       growth::error);
  CHECK_THROWS_AS((void)growth::model::plan_growth(to_bert_config(p4, 100), to_bert_config(p2, 100), {}), growth::error);
}

TEST_CASE("one shape description: a shape the schedule rules accept is a config bert_config::validate accepts") {
  std::mt19937_64 rng(7);
  auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  std::size_t accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    model_shape s{.layers = pick(1, 5), .hidden = 4 * pick(1, 8), .heads = pick(1, 4), .ffn = 4 * pick(1, 8),
                  .seq_len = pick(1, 16), .max_positions = pick(0, 1) ? 0 : pick(1, 20)};
    if (pick(0, 2) == 0) { s.ffn_shared_every = pick(1, 3); s.ffn_share_factor = pick(1, 4); }
    else if (pick(0, 1) == 0) { s.ffn_factorized_every = pick(1, 3); s.ffn_rank = pick(0, 40); }
    s.pool_size = pick(1, 3);
    if (!check_stage(stage{1, s}, 0).ok()) continue;
    ++accepted;
    CAPTURE(trial);
    CHECK_NOTHROW(to_bert_config(s, 50).validate());
    CHECK(growth::model::dims_of(to_bert_config(s, 50)) == growth::model::dims_of(s));
    // shape_of is to_bert_config's inverse (explicit position rows, strides below the layer count).
    if (s.max_positions != 0 && s.ffn_shared_every < s.layers && s.ffn_factorized_every < s.layers)
      CHECK(growth::model::shape_of(to_bert_config(s, 50), s.seq_len) == s);
  }
  CHECK(accepted > 300);
}
