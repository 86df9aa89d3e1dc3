// Decoder growth without a forward pass: G_stack's stacking maps every layer as defined, the grouped-query
// head maps keep every query head with (a copy of) its key/value head, illegal targets are refused with an
// error naming the target field, and inexact transitions are reported with their reason.
#include <doctest/doctest.h>

#include <string>

#include "decoder_test_util.hpp"

using namespace growth;
using namespace growth::test;

TEST_CASE("decoder grow: stacking (G_stack, growth factors 2 and 4) repeats the whole stack") {
  for (std::size_t L : {1, 2, 3, 6}) {
    for (std::size_t k : {2, 4}) {
      const depth_plan p = plan_depth(L, k * L, depth_mode::stack);
      REQUIRE(p.src.size() == k * L);
      for (std::size_t i = 0; i < k * L; ++i) {
        CHECK(p.src[i] == static_cast<std::int64_t>(i % L));  // [0..L-1] x k: G_stack's stacking_list
        CHECK_FALSE(p.inserted[i]);
      }
    }
  }
  // Whole-model: every parameter of new layer i is old layer i mod L's, bit for bit; the rest is copied.
  for (const auto& from : {small_llama(8, 4, 2, false, 3), small_llama(8, 4, 1, true, 2), small_gpt2(8, 2, 3)}) {
    for (std::size_t k : {2, 4}) {
      decoder_config to = from;
      to.num_hidden_layers = k * from.num_hidden_layers;
      auto src = random_decoder_params(from, 3 + k);
      grow_options o;
      o.depth = depth_mode::stack;
      model::exactness ex;
      auto dst = grow_decoder_params(from, src, to, o, &ex);
      CHECK_FALSE(ex.exact);
      REQUIRE(ex.reasons.size() == 1);
      CHECK(ex.reasons[0].find("stacking") != std::string::npos);
      auto sv = decoder_views(from, src);
      auto dv = decoder_views(to, dst);
      for (const auto& s : model::decoder_parameters(to)) {
        const std::string old = s.layer < 0 ? s.name
                                            : model::layer_prefix(from, static_cast<std::size_t>(s.layer) %
                                                                             from.num_hidden_layers) + s.key;
        const auto& a = sv.at(old);
        const auto& b = dv.at(s.name);
        REQUIRE(a.numel() == b.numel());
        bool same = true;
        for (std::size_t e = 0; e < a.numel(); ++e) same = same && a.data[e] == b.data[e];
        INFO(s.name << " from " << old);
        CHECK(same);
      }
    }
  }
}

TEST_CASE("decoder grow: grouped-query head maps keep every query head with its key/value head") {
  struct heads { std::size_t A, G, A2, G2; };
  for (const heads h : {heads{4, 2, 8, 4}, heads{4, 2, 8, 2}, heads{4, 1, 12, 2}, heads{6, 3, 10, 5}, heads{2, 2, 6, 6},
                        heads{4, 4, 8, 4}}) {
    for (auto mode : {heads_mode::add, heads_mode::duplicate}) {
      const std::size_t hd = 3, g = h.A / h.G, g2 = h.A2 / h.G2;
      const auto m = grouped_heads_grow(h.A, h.G, h.A2, h.G2, hd, mode);
      REQUIRE(m.query.new_extent() == h.A2 * hd);
      REQUIRE(m.kv.new_extent() == h.G2 * hd);
      std::vector<double> column_sum(h.A * hd, 0.0);
      for (std::size_t q = 0; q < h.A2; ++q) {
        // channel 0 of new query head q: its source head (or fresh)
        const auto& fo = m.query.fan_out;
        const std::size_t row = q * hd;
        if (fo.row_size(row) == 0) {
          CHECK(m.query.fresh[row]);
          CHECK(m.query.fan_in.row_size(row) == 0);  // invisible: zero output columns
          continue;
        }
        const auto src_head = static_cast<std::size_t>(fo.index()[fo.offsets()[row]]) / hd;
        const std::size_t kv_new = q / g2, kv_old_of_src = src_head / g;
        const auto& ko = m.kv.fan_out;
        REQUIRE(ko.row_size(kv_new * hd) == 1);
        CHECK(static_cast<std::size_t>(ko.index()[ko.offsets()[kv_new * hd]]) / hd == kv_old_of_src);
        for (std::size_t c = 0; c < hd; ++c) {
          const auto& fi = m.query.fan_in;
          REQUIRE(fi.row_size(row + c) == 1);
          column_sum[static_cast<std::size_t>(fi.index()[fi.offsets()[row + c]])] += fi.weight()[fi.offsets()[row + c]];
        }
      }
      for (double x : column_sum) CHECK(x == doctest::Approx(1.0));  // every old head's output columns, once
    }
  }
  CHECK_THROWS_WITH(grouped_heads_grow(4, 2, 4, 4, 2, heads_mode::add), doctest::Contains("per key/value head"));
}

namespace {
void check_refused(const decoder_config& from, decoder_config to, const std::string& field, grow_options o = {}) {
  INFO("field " << field);
  CHECK_THROWS_WITH(model::plan_growth(from, to, o), doctest::Contains(field.c_str()));
}
}  // namespace

TEST_CASE("decoder grow: illegal targets name the target field") {
  const decoder_config l = small_llama();
  const decoder_config g = small_gpt2();
  {
    auto t = l;
    t.model_type = "mistral";
    check_refused(l, t, "target config field model_type");
  }
  {
    auto t = l;
    t.tie_word_embeddings = true;
    check_refused(l, t, "target config field tie_word_embeddings");
  }
  {
    auto t = l;
    t.qkv_bias = true;
    check_refused(l, t, "target config field attention_bias");
  }
  {
    auto t = l;
    t.mlp_bias = true;
    check_refused(l, t, "target config field mlp_bias");
  }
  {
    auto t = l;
    t.vocab_size = 20;
    check_refused(l, t, "target config field vocab_size");
  }
  {
    auto t = l;
    t.num_hidden_layers = 1;
    check_refused(l, t, "target config field num_hidden_layers");
  }
  {
    auto t = g;
    t.num_hidden_layers = 1;
    check_refused(g, t, "target config field n_layer");
  }
  {
    auto t = l;
    t.num_key_value_heads = 1;
    check_refused(l, t, "target config field num_key_value_heads");
  }
  {
    auto t = l;  // 4 heads, 2 groups -> 4 heads, 4 groups: the group size would shrink 2 -> 1
    t.num_key_value_heads = 4;
    check_refused(l, t, "target config field num_attention_heads");
  }
  {
    auto t = l;  // hidden 8 -> 16 at 4 heads: head size 2 -> 4
    t.hidden_size = 16;
    check_refused(l, t, "head size 2");
  }
  {
    auto t = g;
    t.hidden_size = 12;
    t.num_attention_heads = 3;
    t.num_key_value_heads = 3;
    check_refused(g, t, "target config field n_embd");  // replicate needs a multiple
  }
  {
    auto t = l;
    t.intermediate_size = 20;
    grow_options o;
    o.ffn = ffn_mode::unshare;
    check_refused(l, t, "grow option ffn", o);
  }
  {
    auto t = l;
    t.max_position_embeddings = 8;
    check_refused(l, t, "target config field max_position_embeddings");
  }
}

TEST_CASE("decoder grow: inexact transitions say why") {
  const decoder_config l = small_llama();
  const decoder_config g = small_gpt2();
  grow_options o;
  {
    auto t = l;
    t.num_hidden_layers = 3;
    o.depth = depth_mode::interpolate;
    const auto e = model::check_growth(l, t, o);
    CHECK_FALSE(e.exact);
    CHECK(e.reasons.at(0).find("interpolation") != std::string::npos);
    o.depth = depth_mode::identity;
    CHECK(model::check_growth(l, t, o).exact);
  }
  {
    auto t = l;  // zero padding without the eps scaled
    t.hidden_size = 12;
    t.num_attention_heads = 6;
    t.num_key_value_heads = 3;
    grow_options m;
    m.hidden = hidden_mode::mean_pad;
    auto e = model::check_growth(l, t, m);
    CHECK_FALSE(e.exact);
    CHECK(e.reasons.at(0).find("zero padding needs the norm eps scaled") != std::string::npos);
    t.norm_eps = model::mean_pad_norm_eps(l, t.hidden_size);
    CHECK(model::check_growth(l, t, m).exact);
  }
  {
    auto t = g;
    t.max_position_embeddings = 20;
    grow_options m;
    m.length = length_mode::interpolate;
    CHECK_FALSE(model::check_growth(g, t, m).exact);
    m.length = length_mode::tile;
    CHECK(model::check_growth(g, t, m).exact);
  }
  {
    auto t = l;  // rotary: a longer context maps nothing and is exact on the old lengths
    t.max_position_embeddings = 64;
    CHECK(model::check_growth(l, t, o).exact);
    t.rope_theta = 500000;
    const auto e = model::check_growth(l, t, o);
    CHECK_FALSE(e.exact);
    CHECK(e.reasons.at(0).find("rope_theta") != std::string::npos);
  }
  {
    auto t = l;
    t.norm_eps = 1e-5;
    CHECK_FALSE(model::check_growth(l, t, o).exact);
  }
}
