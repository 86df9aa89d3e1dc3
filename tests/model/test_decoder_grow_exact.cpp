// Decoder growth on the reference causal LM: every exact operator, in both families (LLaMA with and without
// grouped-query attention, tied and untied head; GPT-2), keeps the logits (max |dlogits| / max |logits| <
// 1e-4) on random padded batches over random small shapes and seeds; a property test measures whatever
// exactness_of claims, both ways; the file-to-file path equals the in-memory one.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <growth/io/grow_files.hpp>
#include <growth/reference/causal_lm.hpp>

#include "decoder_test_util.hpp"
#include "support/scratch_dir.hpp"

using namespace growth;
using namespace growth::test;

namespace {

using ref_lm = reference::causal_lm<float>;

constexpr std::uint64_t seeds[] = {1, 2, 3};

/// A random LLaMA-family config from a seed: head size 2 or 4, 1..3 key/value heads of 1..3 query heads each,
/// tied or untied, q/k/v biases (qwen2 style) on odd seeds.
decoder_config random_llama(std::uint64_t seed) {
  rng r(seed, 41);
  const std::size_t hd = 2 * (1 + r.below(2)), kv = 1 + r.below(3), g = 1 + r.below(3);
  decoder_config c = small_llama(hd * kv * g, kv * g, kv, r.below(2) == 0, 1 + r.below(3), 4 + r.below(9));
  c.qkv_bias = seed % 2 == 1;
  c.mlp_bias = seed % 3 == 0;
  return c;
}

/// A random GPT-2 config from a seed.
decoder_config random_gpt2(std::uint64_t seed) {
  rng r(seed, 43);
  const std::size_t hd = 2 * (1 + r.below(2)), heads = 1 + r.below(3);
  return small_gpt2(hd * heads, heads, 1 + r.below(3), 4 + r.below(9));
}

std::unique_ptr<ref_lm> random_lm(const decoder_config& c, std::uint64_t seed) {
  auto m = std::make_unique<ref_lm>(c);
  auto v = random_decoder_params(c, seed);
  std::copy(v.begin(), v.end(), m->flat_params().begin());
  return m;
}

/// Random ids, right padding on the last row, every real next token scored.
model::clm_batch random_clm_batch(const decoder_config& c, std::uint64_t seed) {
  const std::size_t b = 3, s = std::min<std::size_t>(c.max_position_embeddings, 9);
  model::clm_batch bt(b, s);
  rng r(seed, 47);
  for (std::size_t i = 0; i < bt.tokens(); ++i) bt.input_ids[i] = static_cast<std::int32_t>(r.below(c.vocab_size));
  bt.labels = bt.input_ids;
  for (std::size_t j = s - 2; j < s; ++j) {
    bt.attention_mask[(b - 1) * s + j] = 0;
    bt.labels[(b - 1) * s + j] = model::ignore_label;
  }
  return bt;
}

/// max |logits_a - logits_b| / max |logits_a|.
double relative_diff(ref_lm& a, ref_lm& b, const model::clm_batch& bt) {
  std::vector<float> la, lb;
  a.evaluate(bt, &la);
  b.evaluate(bt, &lb);
  REQUIRE(la.size() == lb.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    num = std::max(num, std::fabs(static_cast<double>(la[i]) - lb[i]));
    den = std::max(den, std::fabs(static_cast<double>(la[i])));
  }
  return num / den;
}

std::string shape(const decoder_config& a, const decoder_config& b) {
  const auto n = [](std::size_t x) { return std::to_string(x); };
  return a.model_type + (a.tie_word_embeddings ? " tied" : " untied") + " L " + n(a.num_hidden_layers) + "->" +
         n(b.num_hidden_layers) + " H " + n(a.hidden_size) + "->" + n(b.hidden_size) + " A " +
         n(a.num_attention_heads) + "->" + n(b.num_attention_heads) + " KV " + n(a.num_key_value_heads) + "->" +
         n(b.num_key_value_heads) + " I " + n(a.intermediate_size) + "->" + n(b.intermediate_size) + " P " +
         n(a.max_position_embeddings) + "->" + n(b.max_position_embeddings);
}

/// Grows a random model of `from` into `to`; returns the relative logit change, the claim in *ex.
double grow_and_measure(const decoder_config& from, const decoder_config& to, const grow_options& o, std::uint64_t seed,
                        model::exactness* ex) {
  auto small = random_lm(from, seed);
  auto big = std::make_unique<ref_lm>(to);
  auto sv = small->parameters();
  auto dv = big->parameters();
  *ex = model::grow(from, sv, to, dv, o);
  return relative_diff(*small, *big, random_clm_batch(from, seed + 17));
}

void check_exact(const decoder_config& from, const decoder_config& to, const grow_options& o, std::uint64_t seed) {
  model::exactness ex;
  const double d = grow_and_measure(from, to, o, seed, &ex);
  INFO("seed " << seed << " " << shape(from, to) << (ex.reasons.empty() ? "" : " inexact: " + ex.reasons[0]));
  CHECK(ex.exact);
  CHECK(model::check_growth(from, to, o).exact);
  CHECK(d < 1e-4);
}

/// Both families' random configs for a seed.
std::vector<decoder_config> configs(std::uint64_t seed) { return {random_llama(seed), random_gpt2(seed)}; }

}  // namespace

TEST_CASE("decoder grow exact: depth identity insertion (zeroed o_proj / down_proj, no hand-off)") {
  for (auto seed : seeds)
    for (const auto& from : configs(seed))
      for (std::size_t extra : {std::size_t{1}, from.num_hidden_layers + 1}) {
        decoder_config to = from;
        to.num_hidden_layers += extra;
        grow_options o;
        o.depth = depth_mode::identity;
        check_exact(from, to, o, seed * 10 + extra);
      }
}

TEST_CASE("decoder grow exact: FFN split / split_random / split_asym (gate and up rows replicated)") {
  for (auto seed : seeds)
    for (const auto& from : configs(seed))
      for (auto mode : {ffn_mode::split, ffn_mode::split_random, ffn_mode::split_asym})
        for (std::size_t I2 : {2 * from.intermediate_size, from.intermediate_size + 3}) {
          decoder_config to = from;
          to.intermediate_size = I2;
          grow_options o;
          o.ffn = mode;
          o.seed = seed;
          check_exact(from, to, o, seed * 100 + I2);
        }
}

TEST_CASE("decoder grow exact: hidden replicate x2 / x3 with the heads grown at fixed head size") {
  for (auto seed : seeds)
    for (const auto& from : configs(seed))
      for (std::size_t k : {2, 3})
        for (auto heads : {heads_mode::duplicate, heads_mode::add}) {
          decoder_config to = from;
          to.hidden_size = k * from.hidden_size;
          to.num_attention_heads = k * from.num_attention_heads;
          to.num_key_value_heads = k * from.num_key_value_heads;
          grow_options o;
          o.hidden = hidden_mode::replicate;
          o.heads = heads;
          o.seed = seed;
          check_exact(from, to, o, seed * 7 + k);
        }
}

TEST_CASE("decoder grow exact: hidden replicate alone (LLaMA with an explicit head_dim keeps its heads)") {
  for (auto seed : seeds) {
    decoder_config from = random_llama(seed);
    from.head_dim = from.head_size();
    decoder_config to = from;
    to.hidden_size = 2 * from.hidden_size;
    check_exact(from, to, {}, seed);
  }
}

TEST_CASE("decoder grow exact: grouped-query heads add / duplicate, groups widened or multiplied") {
  for (auto seed : seeds) {
    decoder_config from = random_llama(seed);
    from.head_dim = from.head_size();  // heads grow without the hidden size
    const std::size_t A = from.num_attention_heads, G = from.num_key_value_heads, g = A / G;
    struct target { std::size_t A2, G2; };
    for (const target t : {target{2 * A, 2 * G}, target{2 * A, G}, target{(g + 2) * (2 * G + 1), 2 * G + 1},
                           target{(g + 1) * (G + 1), G + 1}}) {
      for (auto heads : {heads_mode::duplicate, heads_mode::add}) {
        decoder_config to = from;
        to.num_attention_heads = t.A2;
        to.num_key_value_heads = t.G2;
        grow_options o;
        o.heads = heads;
        o.seed = seed;
        check_exact(from, to, o, seed * 13 + t.A2);
      }
    }
  }
}

TEST_CASE("decoder grow exact: hidden mean_pad with the eps scaled (RMSNorm zero padding, GPT-2 average expansion)") {
  for (auto seed : seeds)
    for (const auto& from : configs(seed)) {
      // One more key/value group (LLaMA) or head (GPT-2): the hidden size grows by a non-multiple.
      decoder_config to = from;
      const std::size_t g = from.group_size();
      to.num_key_value_heads = from.num_key_value_heads + 1;
      to.num_attention_heads = to.num_key_value_heads * g;
      to.hidden_size = to.num_attention_heads * from.head_size();
      to.norm_eps = model::mean_pad_norm_eps(from, to.hidden_size);
      for (auto heads : {heads_mode::duplicate, heads_mode::add}) {
        grow_options o;
        o.hidden = hidden_mode::mean_pad;
        o.heads = heads;
        o.seed = seed;
        check_exact(from, to, o, seed * 3 + 1);
      }
    }
}

TEST_CASE("decoder grow exact: positions (GPT-2 tile / random, rotary context growth maps nothing)") {
  for (auto seed : seeds) {
    for (auto mode : {length_mode::tile, length_mode::random}) {
      const decoder_config from = random_gpt2(seed);
      decoder_config to = from;
      to.max_position_embeddings = 2 * from.max_position_embeddings + 3;
      grow_options o;
      o.length = mode;
      o.seed = seed;
      check_exact(from, to, o, seed + 31);
    }
    const decoder_config from = random_llama(seed);
    decoder_config to = from;
    to.max_position_embeddings = 4 * from.max_position_embeddings;
    check_exact(from, to, {}, seed + 37);
  }
}

TEST_CASE("decoder grow exact: everything at once") {
  for (auto seed : seeds)
    for (const auto& from : configs(seed)) {
      decoder_config to = from;
      to.num_hidden_layers = 2 * from.num_hidden_layers + 1;
      to.hidden_size = 2 * from.hidden_size;
      to.num_attention_heads = 2 * from.num_attention_heads;
      to.num_key_value_heads = 2 * from.num_key_value_heads;
      to.intermediate_size = 3 * from.intermediate_size - 1;
      to.max_position_embeddings = from.max_position_embeddings + 5;
      grow_options o;
      o.depth = depth_mode::identity;
      o.ffn = ffn_mode::split_asym;
      o.heads = heads_mode::add;
      o.seed = seed;
      check_exact(from, to, o, seed * 19);
    }
}

TEST_CASE("decoder grow property: exactness_of's claim is what the logits measure") {
  // Claimed exact: the logits stay (< 1e-4); claimed inexact: they move (> 1e-3), with a reason.
  for (auto seed : seeds)
    for (decoder_config from : configs(seed)) {
      from.norm_eps = 0.05;  // large enough that an unscaled eps is measurable
      struct probe {
        decoder_config to;
        grow_options o;
      };
      std::vector<probe> probes;
      {
        probe p{from, {}};
        p.to.num_hidden_layers = 2 * from.num_hidden_layers;
        p.o.depth = depth_mode::stack;
        probes.push_back(p);
        p.o.depth = depth_mode::interpolate;
        probes.push_back(p);
        p.o.depth = depth_mode::identity;
        probes.push_back(p);
      }
      for (bool scale_eps : {true, false}) {
        probe p{from, {}};
        p.to.num_key_value_heads = from.num_key_value_heads + 1;
        p.to.num_attention_heads = p.to.num_key_value_heads * from.group_size();
        p.to.hidden_size = p.to.num_attention_heads * from.head_size();
        p.to.norm_eps = scale_eps ? model::mean_pad_norm_eps(from, p.to.hidden_size) : from.norm_eps;
        p.o.hidden = hidden_mode::mean_pad;
        probes.push_back(p);
      }
      if (from.is_gpt2()) {
        probe p{from, {}};
        p.to.max_position_embeddings = 2 * from.max_position_embeddings;
        p.o.length = length_mode::interpolate;
        probes.push_back(p);
      }
      for (const auto& p : probes) {
        model::exactness ex;
        const double d = grow_and_measure(from, p.to, p.o, seed, &ex);
        INFO("seed " << seed << " " << shape(from, p.to) << " depth " << to_string(p.o.depth) << " hidden "
                     << to_string(p.o.hidden) << " eps " << p.to.norm_eps << " d " << d);
        if (ex.exact) {
          CHECK(d < 1e-4);
        } else {
          CHECK(!ex.reasons.empty());
          CHECK(d > 1e-3);
        }
      }
    }
}

TEST_CASE("decoder grow: grow_checkpoint_files equals load + grow + save, tensor for tensor") {
  for (const auto& from : {random_llama(4), random_gpt2(5)}) {
    test::scratch_dir d("dec_grow_files");
    io::decoder_checkpoint ck;
    ck.config = from;
    ck.params = random_decoder_params(from, 8);
    io::optimizer_state st;
    st.exp_avg = random_decoder_params(from, 9);
    st.exp_avg_sq = random_decoder_params(from, 10);
    for (auto& x : st.exp_avg_sq) x = x * x;
    st.step = 3;
    ck.opt = st;
    io::save_checkpoint(d / "src", ck);
    decoder_config to = from;
    to.num_hidden_layers += 1;
    to.hidden_size *= 2;
    to.num_attention_heads *= 2;
    to.num_key_value_heads *= 2;
    to.intermediate_size += 2;
    grow_options o;
    o.depth = depth_mode::identity;
    o.optimizer = optimizer_policy::map;
    const auto r = io::grow_checkpoint_files(d / "src", d / "out", to, o);
    CHECK(r.exact.exact);
    CHECK(r.optimizer);
    CHECK_FALSE(std::filesystem::exists(d / "out" / "vocab.txt"));
    const auto got = io::load_decoder_checkpoint(d / "out");
    CHECK(got.config == to);
    // In memory.
    std::vector<float> w(got.params.size()), m(w.size()), v(w.size());
    auto sv = decoder_views(from, ck.params);
    auto sm = decoder_views(from, ck.opt->exp_avg);
    auto svv = decoder_views(from, ck.opt->exp_avg_sq);
    auto dw = decoder_views(to, w);
    auto dm = decoder_views(to, m);
    auto dvv = decoder_views(to, v);
    const model::moments<float> ms{sm, svv}, md{dm, dvv};
    (void)model::grow(from, sv, to, dw, o, &ms, &md);
    CHECK(got.params == w);
    REQUIRE(got.opt);
    CHECK(got.opt->exp_avg == m);
    CHECK(got.opt->exp_avg_sq == v);
    CHECK(got.opt->step == 3);
  }
}

namespace {

/// g_src (laid out like `from`) through the gradient map of the transition (the map Adam's first moment
/// takes, model/grow.hpp) into g_out (laid out like `to`); mask: 1 where the map has a source.
void push_gradient_map(const decoder_config& from, const decoder_config& to, const grow_options& o,
                       std::vector<float>& g_src, std::vector<float>& g_out, std::vector<float>& mask) {
  std::vector<float> wsrc(g_src.size(), 0.0f), wdst, sq(g_src.size(), 0.0f), sq_out, ones(g_src.size(), 1.0f), ones_sq,
      ones_w(g_src.size(), 0.0f), ones_wdst, ones_out;
  std::size_t n = 0;
  for (const auto& s : model::decoder_parameters(to)) n += s.numel();
  wdst.assign(n, 0.0f);
  g_out.assign(n, 0.0f);
  sq_out.assign(n, 0.0f);
  ones_out.assign(n, 0.0f);
  ones_sq.assign(n, 0.0f);
  ones_wdst.assign(n, 0.0f);
  auto sv = decoder_views(from, wsrc);
  auto dv = decoder_views(to, wdst);
  const model::moments<float> ms{decoder_views(from, g_src), decoder_views(from, sq)},
      md{decoder_views(to, g_out), decoder_views(to, sq_out)};
  (void)model::grow(from, sv, to, dv, o, &ms, &md);
  std::vector<float> ones_sq_src(g_src.size(), 1.0f);
  const model::moments<float> os{decoder_views(from, ones), decoder_views(from, ones_sq_src)},
      od{decoder_views(to, ones_out), decoder_views(to, ones_sq)};
  auto sv2 = decoder_views(from, ones_w);
  auto dv2 = decoder_views(to, ones_wdst);
  (void)model::grow(from, sv2, to, dv2, o, &os, &od);
  mask.assign(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) mask[i] = ones_out[i] != 0.0f ? 1.0f : 0.0f;
}

}  // namespace

TEST_CASE("decoder grow optimizer map: the grown model's gradient is the small one's through the moment map") {
  // Staged Training's check, on the gradient: policy map maps Adam's m like the gradient (and v like its
  // square), which is right exactly when the grown model's gradient on a batch equals the small model's
  // pushed through that map; then the moments a step accumulates stay the mapped ones. Measured where the
  // map has a source (inserted layers and added heads start with zero moments).
  for (auto seed : seeds)
    for (const auto& from : configs(seed)) {
      decoder_config to = from;
      to.num_hidden_layers = from.num_hidden_layers + 1;
      to.intermediate_size = 2 * from.intermediate_size + 1;
      to.hidden_size = 2 * from.hidden_size;
      to.num_attention_heads = 2 * from.num_attention_heads;
      to.num_key_value_heads = 2 * from.num_key_value_heads;
      grow_options o;
      o.depth = depth_mode::identity;
      o.ffn = seed % 2 ? ffn_mode::split_asym : ffn_mode::split;
      o.heads = seed == 2 ? heads_mode::add : heads_mode::duplicate;
      o.seed = seed;
      o.optimizer = optimizer_policy::map;
      auto small = random_lm(from, seed);
      auto big = std::make_unique<ref_lm>(to);
      auto sv = small->parameters();
      auto dv = big->parameters();
      (void)model::grow(from, sv, to, dv, o);
      const auto b = random_clm_batch(from, seed + 5);
      small->forward_backward(b, 0);
      big->forward_backward(b, 0);
      std::vector<float> g_small(small->flat_grads().begin(), small->flat_grads().end()), g_mapped, mask;
      push_gradient_map(from, to, o, g_small, g_mapped, mask);
      double num = 0, den = 0;
      std::size_t checked = 0;
      const auto gb = big->flat_grads();
      for (std::size_t i = 0; i < gb.size(); ++i) {
        if (mask[i] == 0.0f) continue;
        ++checked;
        num = std::max(num, std::fabs(static_cast<double>(gb[i]) - g_mapped[i]));
        den = std::max(den, std::fabs(static_cast<double>(g_mapped[i])));
      }
      INFO("seed " << seed << " " << shape(from, to));
      CHECK(checked > gb.size() / 4);  // identity layers and added heads have no source
      CHECK(num / den < 1e-4);
    }
}
