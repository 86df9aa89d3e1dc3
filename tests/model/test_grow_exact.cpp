// Whole-model growth on the reference BERT: every exact operator and exact combinations keep the
// logits (max |dlogits| / max |logits| < 1e-4) on a random padded batch, over random small shapes and
// several seeds.
#include <doctest/doctest.h>

#include "grow_test_util.hpp"

using namespace growth;
using namespace growth::test;
using growth::grow_options;

namespace {
constexpr std::uint64_t seeds[] = {1, 2, 3, 4};
}

TEST_CASE("grow exact: depth identity L -> L'") {
  for (auto seed : seeds) {
    const bert_config from = random_config(seed);
    rng r(seed, 5);
    for (std::size_t extra : {std::size_t{1}, 1 + r.below(2 * from.num_hidden_layers + 1)}) {
      bert_config to = from;
      to.num_hidden_layers = from.num_hidden_layers + extra;
      grow_options o;
      o.depth = depth_mode::identity;
      check_exact(from, to, o, seed * 10 + extra);
    }
  }
}

TEST_CASE("grow exact: FFN split round-robin / random / asymmetric, I' multiple or not") {
  for (auto seed : seeds) {
    const bert_config from = random_config(seed);
    for (auto mode : {growth::ffn_mode::split, growth::ffn_mode::split_random, growth::ffn_mode::split_asym}) {
      for (std::size_t I2 : {2 * from.intermediate_size, from.intermediate_size + 3, 3 * from.intermediate_size - 1}) {
        bert_config to = from;
        to.intermediate_size = I2;
        grow_options o;
        o.ffn = mode;
        o.seed = seed;
        check_exact(from, to, o, seed * 100 + I2);
      }
    }
  }
}

TEST_CASE("grow exact: hidden replicate x2 and x3 with heads duplicate and heads add") {
  for (auto seed : seeds) {
    const bert_config from = random_config(seed);
    for (std::size_t k : {2, 3}) {
      for (auto heads : {growth::heads_mode::duplicate, growth::heads_mode::add}) {
        bert_config to = from;
        to.hidden_size = k * from.hidden_size;
        to.num_attention_heads = k * from.num_attention_heads;  // head size fixed: HF's all_head_size = hidden
        grow_options o;
        o.hidden = growth::hidden_mode::replicate;
        o.heads = heads;
        o.seed = seed;
        check_exact(from, to, o, seed * 7 + k);
      }
    }
  }
}

TEST_CASE("grow exact: position table tile / random on inputs shorter than the old table") {
  for (auto seed : seeds) {
    const bert_config from = random_config(seed);
    for (auto mode : {length_mode::tile, length_mode::random}) {
      bert_config to = from;
      to.max_position_embeddings = from.max_position_embeddings * 2 + 3;
      grow_options o;
      o.length = mode;
      o.seed = seed;
      check_exact(from, to, o, seed + 31);
    }
  }
}

TEST_CASE("grow exact: un-sharing a shared-FFN model (with and without FFN split)") {
  for (auto seed : seeds) {
    bert_config from = random_config(seed);
    from.num_hidden_layers = 3;
    from.intermediate_size = 4 * (1 + seed % 3);
    from.ffn_share_factor = seed % 2 == 0 ? 2 : 4;
    from.ffn_shared_layers = {0, 2};
    for (std::size_t I2 : {from.intermediate_size, from.intermediate_size + 5}) {
      bert_config to = from;
      to.ffn_shared_layers.clear();
      to.ffn_share_factor = 1;
      to.intermediate_size = I2;
      grow_options o;
      o.seed = seed;
      check_exact(from, to, o, seed + 41 + I2);
    }
  }
}

TEST_CASE("grow exact: un-factorising a factorised model (with FFN split and hidden x2)") {
  for (auto seed : seeds) {
    bert_config from = random_config(seed);
    from.num_hidden_layers = 2;
    from.ffn_factorized_layers = {seed % 2};
    from.ffn_rank = 1 + seed % 2;
    {
      bert_config to = from;
      to.ffn_factorized_layers.clear();
      to.ffn_rank = 0;
      check_exact(from, to, grow_options{}, seed + 51);
    }
    {
      bert_config to = from;
      to.ffn_factorized_layers.clear();
      to.ffn_rank = 0;
      to.intermediate_size = from.intermediate_size * 2 + 1;
      to.hidden_size = 2 * from.hidden_size;
      to.num_attention_heads = 2 * from.num_attention_heads;
      grow_options o;
      o.ffn = growth::ffn_mode::split_asym;
      o.seed = seed;
      check_exact(from, to, o, seed + 61);
    }
    {  // a factorised layer may also stay factorised while the model grows around it
      bert_config to = from;
      to.hidden_size = 2 * from.hidden_size;
      to.num_attention_heads = 2 * from.num_attention_heads;
      to.num_hidden_layers = 3;
      grow_options o;
      o.depth = depth_mode::identity;
      check_exact(from, to, o, seed + 71);
    }
  }
}

TEST_CASE("grow exact: depth identity + FFN split + heads add + hidden x2 in one transition") {
  for (auto seed : seeds) {
    const bert_config from = random_config(seed + 100);
    bert_config to = from;
    to.num_hidden_layers = 2 * from.num_hidden_layers + 1;
    to.intermediate_size = 2 * from.intermediate_size + 1;
    to.hidden_size = 2 * from.hidden_size;
    to.num_attention_heads = 2 * from.num_attention_heads;
    to.max_position_embeddings = from.max_position_embeddings + 4;
    grow_options o;
    o.depth = depth_mode::identity;
    o.ffn = growth::ffn_mode::split_asym;
    o.heads = growth::heads_mode::add;
    o.length = length_mode::tile;
    o.seed = seed;
    check_exact(from, to, o, seed + 81);
  }
}

TEST_CASE("check_growth reports the non-exact operators") {
  const bert_config from = random_config(9);
  bert_config deeper = from;
  deeper.num_hidden_layers += 1;
  grow_options o;
  o.depth = depth_mode::stack;
  auto e = model::check_growth(from, deeper, o);
  CHECK_FALSE(e.exact);
  REQUIRE(e.reasons.size() == 1);
  CHECK(e.reasons[0].find("stacking") != std::string::npos);
  bert_config wider = from;
  wider.hidden_size += from.hidden_size / from.num_attention_heads;
  wider.num_attention_heads += 1;
  o = grow_options{};
  o.hidden = growth::hidden_mode::mean_pad;
  CHECK_FALSE(model::check_growth(from, wider, o).exact);
  o.depth = depth_mode::identity;
  CHECK(model::check_growth(from, deeper, o).exact);
}

TEST_CASE("grow exact: depth identity in a factorised BERT zeroes U of the inserted layers' FFN output W2 = U2 V2") {
  // The layout table marks output.dense.weight_u as writing the residual stream (W2 = U2 V2 = 0 with U2 = 0;
  // V2 keeps its values so U2's gradient is not zero), so an inserted factorised layer is an identity too.
  for (auto seed : seeds) {
    bert_config from = random_config(seed);
    from.ffn_rank = 2;
    for (std::size_t l = 0; l < from.num_hidden_layers; ++l) from.ffn_factorized_layers.push_back(l);
    bert_config to = from;
    to.num_hidden_layers = 2 * from.num_hidden_layers;
    to.ffn_factorized_layers.clear();
    for (std::size_t l = 0; l < to.num_hidden_layers; ++l) to.ffn_factorized_layers.push_back(l);
    grow_options o;
    o.depth = depth_mode::identity;
    check_exact(from, to, o, seed * 13 + 1);
  }
}
