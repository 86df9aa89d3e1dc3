// Optimizer policy of whole-model growth (Staged Training's check): after growing with policy map, one
// step of the grown model gives the small model's gradients pushed through the gradient map, the mapped
// AdamW moments, and per-coordinate the source coordinate's update. Policy reset gives zero moments.
// Also: the replicas of a symmetric FFN split stay equal under training, those of an asymmetric split
// diverge.
#include <doctest/doctest.h>

#include "grow_test_util.hpp"

using namespace growth;
using namespace growth::test;
using growth::grow_options;

namespace {

struct trained {
  std::unique_ptr<ref_bert> net;
  std::unique_ptr<reference::adamw<float>> opt;
};

reference::adamw_options adam_opts() {
  reference::adamw_options a;
  a.max_grad_norm = 0;  // clipping uses the global norm, which growth changes
  a.weight_decay = 0.01;
  return a;
}

/// Growth through the moments machinery: pushes `g_src` (laid out like the small model) through the
/// gradient map of the transition into `out` (laid out like the big one); `sq_src` through its square.
void push_gradient_map(const bert_config& from, const bert_config& to, const grow_options& o,
                       std::vector<float>& g_src, std::vector<float>& sq_src, std::vector<float>& g_out,
                       std::vector<float>& sq_out) {
  const reference::flat_layout lf(from), lt(to);
  std::vector<float> wsrc(lf.total, 0.0f), wdst(lt.total, 0.0f);
  g_out.assign(lt.total, 0.0f);
  sq_out.assign(lt.total, 0.0f);
  model::moments<float> ms{lf.views(g_src.data()), lf.views(sq_src.data())};
  model::moments<float> md{lt.views(g_out.data()), lt.views(sq_out.data())};
  model::grow(from, lf.views(wsrc.data()), to, lt.views(wdst.data()), o, &ms, &md);
}

/// Max |a - b| over the parameters of `to` that have exactly one source tensor (mapped ones), relative to
/// max |b| over them; only where `mask` != 0 (the gradient map has a source: fresh units, e.g. the output
/// columns of added heads, have their own gradients and start with zero moments).
double mapped_rel_diff(const model::grow_plan& p, std::span<const float> a, std::span<const float> b,
                       const std::vector<float>& mask) {
  const reference::flat_layout lt(p.to);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < lt.specs.size(); ++i) {
    if (model::growth_sources(p, i).size() != 1) continue;
    for (std::size_t j = lt.offsets[i]; j < lt.offsets[i] + lt.specs[i].numel(); ++j) {
      if (mask[j] == 0.0f) continue;
      num = std::max(num, static_cast<double>(std::fabs(a[j] - b[j])));
      den = std::max(den, static_cast<double>(std::fabs(b[j])));
    }
  }
  return den > 0 ? num / den : num;
}

}  // namespace

TEST_CASE("grow optimizer policy map: gradients, moments and updates follow the small model") {
  for (std::uint64_t seed : {11, 12, 13, 14, 15, 16}) {
    bert_config from = random_config(seed);
    from.pre_layer_norm = seed >= 14;  // pre-LN: identity insertion without the LayerNorm hand-off
    from.num_hidden_layers = 2;
    bert_config to = from;
    to.num_hidden_layers = 3;
    to.intermediate_size = 2 * from.intermediate_size + 1;
    to.hidden_size = 2 * from.hidden_size;
    to.num_attention_heads = 2 * from.num_attention_heads;
    grow_options o;
    o.depth = depth_mode::identity;
    o.ffn = seed % 2 ? growth::ffn_mode::split_asym : growth::ffn_mode::split;
    o.heads = seed == 13 || seed == 16 ? growth::heads_mode::add : growth::heads_mode::duplicate;
    o.seed = seed;
    o.optimizer = growth::optimizer_policy::map;
    const auto plan = model::plan_growth(from, to, o);
    const double lr = 1e-3;

    auto small = random_model(from, seed);
    reference::adamw<float> sopt(from, adam_opts());
    const auto b1 = grow_batch(from, seed + 1), b2 = grow_batch(from, seed + 2);
    small->forward_backward(b1, 0);
    sopt.step(small->flat_params(), small->flat_grads(), lr);

    // Grow with the moments.
    ref_bert big(to);
    reference::adamw<float> bopt(to, adam_opts());
    {
      auto sm = sopt.first_moment(), sv = sopt.second_moment(), bm = bopt.first_moment(), bv = bopt.second_moment();
      model::moments<float> ms{sm, sv}, md{bm, bv};
      auto sp = small->parameters();
      auto bp = big.parameters();
      model::grow(from, sp, to, bp, o, &ms, &md);
      bopt.set_step_count(sopt.step_count());
    }
    // Snapshot before the second step.
    const std::vector<float> small_before(small->flat_params().begin(), small->flat_params().end());
    const std::vector<float> big_before(big.flat_params().begin(), big.flat_params().end());

    // Same batch through both.
    small->forward_backward(b2, 0);
    big.forward_backward(b2, 0);
    std::vector<float> g_small(small->flat_grads().begin(), small->flat_grads().end());
    std::vector<float> g_sq(g_small.size());
    for (std::size_t i = 0; i < g_sq.size(); ++i) g_sq[i] = g_small[i] * g_small[i];
    std::vector<float> g_mapped, g_sq_mapped;
    push_gradient_map(from, to, o, g_small, g_sq, g_mapped, g_sq_mapped);
    std::vector<float> ones_src(g_small.size(), 1.0f), ones_sq = ones_src, mask, mask_sq;
    push_gradient_map(from, to, o, ones_src, ones_sq, mask, mask_sq);
    INFO("seed " << seed << " pre-LN " << from.pre_layer_norm);
    CHECK(mapped_rel_diff(plan, big.flat_grads(), g_mapped, mask) < 1e-4);

    sopt.step(small->flat_params(), small->flat_grads(), lr);
    bopt.step(big.flat_params(), big.flat_grads(), lr);
    std::vector<float> m_small(sopt.first_moment_flat().begin(), sopt.first_moment_flat().end());
    std::vector<float> v_small(sopt.second_moment_flat().begin(), sopt.second_moment_flat().end());
    std::vector<float> m_mapped, v_mapped;
    push_gradient_map(from, to, o, m_small, v_small, m_mapped, v_mapped);
    CHECK(mapped_rel_diff(plan, bopt.first_moment_flat(), m_mapped, mask) < 1e-4);
    CHECK(mapped_rel_diff(plan, bopt.second_moment_flat(), v_mapped, mask) < 1e-4);

    // Weights: per coordinate, the update (p_after - keep * p_before) equals that of the source
    // coordinate. The maps here are gathers with a scale, so the source coordinate's update is
    // grow(update) / grow(ones) wherever grow(ones) != 0.
    const reference::flat_layout lf(from), lt(to);
    std::vector<float> upd_small(lf.total), ones(lf.total, 1.0f), g_upd(lt.total), g_ones(lt.total);
    for (std::size_t i = 0; i < lf.specs.size(); ++i) {
      const float keep = lf.specs[i].decay ? static_cast<float>(1.0 - lr * 0.01) : 1.0f;
      for (std::size_t j = lf.offsets[i]; j < lf.offsets[i] + lf.specs[i].numel(); ++j)
        upd_small[j] = small->flat_params()[j] - keep * small_before[j];
    }
    grow_options ow = o;
    ow.init_std = 0;  // fresh rows: zero in both, skipped below
    model::grow(from, lf.views(upd_small.data()), to, lt.views(g_upd.data()), ow);
    model::grow(from, lf.views(ones.data()), to, lt.views(g_ones.data()), ow);
    double worst = 0;
    std::size_t checked = 0;
    for (std::size_t i = 0; i < lt.specs.size(); ++i) {
      if (model::growth_sources(plan, i).size() != 1) continue;
      // inserted identity layers start with zero moments: their update is their own (except the post-LN
      // hand-off LayerNorm, which takes the old layer's moments and gradient)
      if (lt.specs[i].layer >= 0 && plan.t.depth.inserted[static_cast<std::size_t>(lt.specs[i].layer)] &&
          (!lt.specs[i].is_layernorm() || !model::identity_needs_ln_handoff(from)))
        continue;
      const float keep = lt.specs[i].decay ? static_cast<float>(1.0 - lr * 0.01) : 1.0f;
      for (std::size_t j = lt.offsets[i]; j < lt.offsets[i] + lt.specs[i].numel(); ++j) {
        if (g_ones[j] == 0.0f) continue;
        // Where sqrt(v) is not far above Adam's eps, eps (not scaled with the moments) decides the
        // update; the invariance m/sqrt(v) holds where eps is negligible.
        if (std::sqrt(bopt.second_moment_flat()[j] / (1 - 0.999 * 0.999)) < 1e-4) continue;
        const double want = g_upd[j] / g_ones[j];
        const double got = big.flat_params()[j] - keep * big_before[j];
        worst = std::max(worst, std::fabs(got - want));
        ++checked;
      }
    }
    CHECK(checked > 0);
    CHECK(worst < 2e-3 * lr);  // updates are ~lr

    // Policy reset: zero moments.
    reference::adamw<float> ropt(to, adam_opts());
    {
      auto m = ropt.first_moment(), v = ropt.second_moment();
      for (auto& x : ropt.first_moment_flat()) x = 5;
      for (auto& x : ropt.second_moment_flat()) x = 5;
      model::moments<float> md{m, v};
      auto sp = small->parameters();
      ref_bert big2(to);
      auto bp = big2.parameters();
      grow_options orr = o;
      orr.optimizer = growth::optimizer_policy::reset;
      model::grow(from, sp, to, bp, orr, static_cast<const model::moments<float>*>(nullptr), &md);
      bool zero = true;
      for (float x : ropt.first_moment_flat()) zero = zero && x == 0.0f;
      for (float x : ropt.second_moment_flat()) zero = zero && x == 0.0f;
      CHECK(zero);
    }
  }
}

TEST_CASE("grow symmetry: symmetric FFN split replicas stay equal, asymmetric ones diverge") {
  for (std::uint64_t seed : {21, 22}) {
    bert_config from = random_config(seed);
    from.hidden_dropout_prob = 0.1;
    from.attention_probs_dropout_prob = 0.1;
    bert_config to = from;
    to.intermediate_size = 2 * from.intermediate_size;
    const std::size_t I = from.intermediate_size;
    auto small = random_model(from, seed);
    double spread[2] = {0, 0};
    for (int asym = 0; asym < 2; ++asym) {
      grow_options o;
      o.ffn = asym ? growth::ffn_mode::split_asym : growth::ffn_mode::split;
      o.seed = seed;
      auto big = grow_model(*small, to, o);
      reference::adamw<float> opt(to, adam_opts());
      for (std::uint64_t k = 0; k < 4; ++k) {
        big->forward_backward(random_batch(to, 4, 6, 1, seed * 31 + k), seed + k);
        opt.step(big->flat_params(), big->flat_grads(), 1e-3);
      }
      auto p = big->parameters();
      double diff = 0, scale = 0;
      for (std::size_t l = 0; l < to.num_hidden_layers; ++l) {
        const auto w1 = p.at(model::layer_prefix(l) + "intermediate.dense.weight").as<2>();
        for (std::size_t j = 0; j < I; ++j)  // neuron j and its replica j + I (round-robin / asymmetric)
          for (std::size_t c = 0; c < to.hidden_size; ++c) {
            diff = std::max(diff, static_cast<double>(std::fabs(w1(j, c) - w1(j + I, c))));
            scale = std::max(scale, static_cast<double>(std::fabs(w1(j, c))));
          }
      }
      spread[asym] = diff / scale;
    }
    INFO("seed " << seed << " symmetric spread " << spread[0] << " asymmetric spread " << spread[1]);
    CHECK(spread[0] <= 1e-6);
    CHECK(spread[1] > 1e-5);
  }
}
