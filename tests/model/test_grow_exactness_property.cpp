// Property test of model::exactness_of, the one place that says whether a transition is exact: for random
// shapes, seeds, every combination of the grow flags and random changes of the target fields, grow the
// reference BERT and check
//   claimed exact  =>  logits unchanged (relative 1e-4, float), and the reason list is empty;
//   claimed inexact => at least one reason is named;
//   and the converse where the operators' definitions say the function must change (length interpolate
//   with rows 1..P-1 moved, leaving mean pooling, a layer_norm_eps change): claimed inexact AND measured.
#include <doctest/doctest.h>

#include <string>

#include "grow_test_util.hpp"

using namespace growth;
using namespace growth::test;
using growth::grow_options;

namespace {

struct draw_stats {
  std::size_t grown = 0, refused = 0, exact = 0, must_change = 0;
};

// One random transition for the given flags; returns false when grow() refused the target (a growth::error
// naming the field is a valid answer for a target the flags cannot reach, e.g. replicate to a non-multiple).
void one_case(const grow_options& o, std::uint64_t seed, draw_stats& st) {
  rng r(seed, 0x9e0);
  bert_config from = random_config(seed);
  // Post-LN over 2 units maps every input to (+-1) x gain + bias: a 2-wide model hides most changes.
  if (from.hidden_size == 2) from.hidden_size = 4;
  // Source variant: standard, shared FFN, factorised FFN or mean pooling.
  const auto variant = r.below(4);
  if (variant == 1) {
    from.ffn_share_factor = 2;
    from.intermediate_size = 2 * (2 + r.below(4));
    from.ffn_shared_layers = {0};
  } else if (variant == 2) {
    from.ffn_rank = 1 + r.below(2);
    from.ffn_factorized_layers = {0};
  } else if (variant == 3) {
    from.pool_size = 2;
  }
  from.pre_layer_norm = r.below(2) == 1;  // pre-LN: mean_pad is exact, identity needs no LN hand-off
  bert_config to = from;
  const std::size_t hd = from.head_dim();
  if (r.below(2)) to.num_hidden_layers += 1 + r.below(2);
  if (r.below(2)) {
    // Heads grow at fixed head size; hidden follows (a multiple of hidden or not: replicate refuses the latter).
    to.num_attention_heads = r.below(2) ? 2 * from.num_attention_heads : from.num_attention_heads + 1;
    to.hidden_size = to.num_attention_heads * hd;
  }
  if (r.below(2)) to.intermediate_size += 1 + r.below(6);
  if (r.below(2)) to.max_position_embeddings += 1 + r.below(9);
  if (from.pool_size > 1 && r.below(2)) to.pool_size = 1;
  if (r.below(4) == 0) to.layer_norm_eps = 0.05;  // large enough to show in the logits
  // Leaving the low-cost FFN (otherwise kept).
  if (!from.ffn_shared_layers.empty() && r.below(2)) {
    to.ffn_shared_layers.clear();
    to.ffn_share_factor = 1;
  }
  if (!from.ffn_factorized_layers.empty() && (r.below(2) || to.intermediate_size != from.intermediate_size)) {
    to.ffn_factorized_layers.clear();
    to.ffn_rank = 0;
  }
  grow_options g = o;
  g.seed = seed;

  auto small = random_model(from, seed);
  // Moments for both optimizer policies: any values (map reads them, reset ignores them).
  auto m_src = random_model(from, seed + 1), v_src = random_model(from, seed + 2);
  std::unique_ptr<ref_bert> big, m_dst, v_dst;
  model::exactness ex;
  try {
    to.validate();  // e.g. a shared FFN kept with an intermediate_size its factor does not divide
    big = std::make_unique<ref_bert>(to);
    m_dst = std::make_unique<ref_bert>(to);
    v_dst = std::make_unique<ref_bert>(to);
    const model::moments<float> ms{m_src->parameters(), v_src->parameters()};
    const model::moments<float> md{m_dst->parameters(), v_dst->parameters()};
    ex = model::grow(from, small->parameters(), to, big->parameters(), g, &ms, &md);
  } catch (const growth::error&) {
    ++st.refused;
    return;
  }
  ++st.grown;
  const auto claimed = model::exactness_of(from, to, g);
  REQUIRE(claimed.exact == ex.exact);
  REQUIRE(claimed.reasons == ex.reasons);
  const double d = relative_logit_diff(*small, *big, grow_batch(from, seed + 17));
  std::string why;
  for (const auto& s : ex.reasons) why += s + "; ";
  INFO("seed " << seed << " flags depth " << static_cast<int>(g.depth) << " ffn " << static_cast<int>(g.ffn)
               << " hidden " << static_cast<int>(g.hidden) << " heads " << static_cast<int>(g.heads) << " length "
               << static_cast<int>(g.length) << " optimizer " << static_cast<int>(g.optimizer) << " | L "
               << from.num_hidden_layers << "->" << to.num_hidden_layers << " H " << from.hidden_size << "->"
               << to.hidden_size << " A " << from.num_attention_heads << "->" << to.num_attention_heads << " I "
               << from.intermediate_size << "->" << to.intermediate_size << " P " << from.max_position_embeddings
               << "->" << to.max_position_embeddings << " pool " << from.pool_size << "->" << to.pool_size
               << " eps " << from.layer_norm_eps << "->" << to.layer_norm_eps << " variant " << variant
               << " pre-LN " << from.pre_layer_norm
               << " | diff " << d << " | reasons " << why);
  if (ex.exact) {
    ++st.exact;
    CHECK(ex.reasons.empty());
    CHECK(d < 1e-4);
  } else {
    CHECK_FALSE(ex.reasons.empty());
  }
  const bool interpolate_moves_rows = g.length == length_mode::interpolate &&
                                      to.max_position_embeddings > from.max_position_embeddings &&
                                      from.max_position_embeddings >= 2;
  const bool leaves_pooling = from.pool_size > 1 && to.pool_size == 1;
  const bool eps_changes = to.layer_norm_eps != from.layer_norm_eps;
  if (interpolate_moves_rows || leaves_pooling || eps_changes) {
    ++st.must_change;
    CHECK_FALSE(ex.exact);
    CHECK(d > 1e-4);
  }
}

}  // namespace

TEST_CASE("exactness_of: claimed exact <=> logits unchanged, over every combination of grow flags") {
  draw_stats st;
  std::uint64_t seed = 1;
  for (auto depth : {depth_mode::stack, depth_mode::interpolate, depth_mode::identity})
    for (auto ffn : {growth::ffn_mode::split, growth::ffn_mode::split_asym, growth::ffn_mode::split_random})
      for (auto hidden : {growth::hidden_mode::replicate, growth::hidden_mode::mean_pad})
        for (auto heads : {growth::heads_mode::add, growth::heads_mode::duplicate})
          for (auto length : {length_mode::tile, length_mode::interpolate, length_mode::random})
            for (auto opt : {growth::optimizer_policy::map, growth::optimizer_policy::reset}) {
              grow_options o;
              o.depth = depth;
              o.ffn = ffn;
              o.hidden = hidden;
              o.heads = heads;
              o.length = length;
              o.optimizer = opt;
              for (int k = 0; k < 20; ++k) one_case(o, seed++, st);
            }
  MESSAGE("grown " << st.grown << ", refused " << st.refused << ", claimed exact " << st.exact
                   << ", must change " << st.must_change);
  // The draw must exercise both sides of the property.
  CHECK(st.exact > 500);
  CHECK(st.grown - st.exact > 500);
  CHECK(st.must_change > 500);
}

TEST_CASE("exactness_of names the reasons of the transitions the tool used to call exact") {
  bert_config from = random_config(3);
  from.max_position_embeddings = 8;
  grow_options o;
  bert_config longer = from;
  longer.max_position_embeddings = 16;
  o.length = length_mode::interpolate;
  auto e = model::exactness_of(from, longer, o);
  CHECK_FALSE(e.exact);
  REQUIRE(e.reasons.size() == 1);
  CHECK(e.reasons[0] == "length interpolate changes position rows 1..7");
  o.length = length_mode::tile;
  CHECK(model::exactness_of(from, longer, o).exact);
  o.length = length_mode::random;
  CHECK(model::exactness_of(from, longer, o).exact);

  bert_config pooled = from;
  pooled.pool_size = 2;
  e = model::exactness_of(pooled, from, grow_options{});
  CHECK_FALSE(e.exact);
  CHECK(e.reasons.at(0).find("leaving mean pooling") != std::string::npos);

  bert_config eps = from;
  eps.layer_norm_eps = 1e-5;
  e = model::exactness_of(from, eps, grow_options{});
  CHECK_FALSE(e.exact);
  CHECK(e.reasons.at(0) == "layer_norm_eps changes");

  // Hidden mean padding: inexact in post-LN and (measured by the property test above) in pre-LN, each with
  // its own reason.
  bert_config wide = from;
  wide.num_attention_heads = from.num_attention_heads + 1;
  wide.hidden_size = wide.num_attention_heads * from.head_dim();
  o = grow_options{};
  o.hidden = growth::hidden_mode::mean_pad;
  CHECK_FALSE(model::exactness_of(from, wide, o).exact);
  bert_config pre = from, pre_wide = wide;
  pre.pre_layer_norm = pre_wide.pre_layer_norm = true;
  e = model::exactness_of(pre, pre_wide, o);
  CHECK_FALSE(e.exact);
  CHECK(e.reasons.at(0).find("in pre-LN") != std::string::npos);
}
