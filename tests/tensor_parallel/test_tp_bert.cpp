// Whole-BERT growth on a Megatron layout (model/tensor_parallel.hpp), simulated in one process: the
// rank-aligned plan is exact (logits unchanged), moves nothing, and every rank's shard of every parameter
// and Adam moment equals the same slices of model::grow_parameter on the whole model, bit for bit.
#include <doctest/doctest.h>

#include <growth/model/tensor_parallel.hpp>

#include <cstring>
#include <string>

#include "model/grow_test_util.hpp"
#include "shard_sim.hpp"

using namespace growth;
using namespace growth::test;

namespace {

template <std::size_t R>
tensor<float, R> copy_param(const model::param_view<float>& p) {
  std::array<std::size_t, R> e{};
  for (std::size_t a = 0; a < R; ++a) e[a] = p.shape[a];
  tensor<float, R> t(e);
  detail::copy_view<float, R>(tensor_view<const float, R>(p.template as<R>()), t.view());
  return t;
}

struct tally {
  std::size_t mapped = 0, moved = 0;
  bool identical = true;
};

template <std::size_t R>
void check_parameter(const model::tp_grow_plan& tp, std::size_t i, const model::parameter_set<float>& src,
                     const model::parameter_set<float>& dst, const model::moments<float>& ms,
                     const model::moments<float>& md, tally& t) {
  const auto g = model::tp_parameter_growth<R>(tp, i);
  if (g.k != model::tp_parameter<R>::kind::mapped) return;
  ++t.mapped;
  std::optional<tp_test::fresh_spec> f;
  REQUIRE(g.fresh.size() <= 1);
  if (!g.fresh.empty()) f = tp_test::fresh_spec{g.fresh[0].axis, g.fresh[0].mask, g.seed, g.stream, g.stddev};
  const auto want = copy_param<R>(dst.at(g.name));
  const auto r = tp_test::simulate(g.weight, copy_param<R>(src.at(g.src_name)), g.in, g.out, f, &want);
  INFO(g.name);
  CHECK(r.identical);
  t.identical = t.identical && r.identical;
  t.moved += r.moved;
  if (g.zero_moments) return;
  const auto wm = copy_param<R>(md.m.at(g.name)), wv = copy_param<R>(md.v.at(g.name));
  const auto a = tp_test::simulate(g.exp_avg, copy_param<R>(ms.m.at(g.src_name)), g.in, g.out, std::nullopt, &wm);
  const auto b = tp_test::simulate(g.exp_avg_sq, copy_param<R>(ms.v.at(g.src_name)), g.in, g.out, std::nullopt, &wv);
  CHECK(a.identical);
  CHECK(b.identical);
  t.moved += a.moved + b.moved;
}

}  // namespace

TEST_CASE("tensor-parallel BERT growth: exact, nothing moves, every shard equals grow_parameter's slices") {
  for (std::size_t P = 2; P <= 4; ++P) {
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
      rng r(seed, 0x7e + P);
      model::bert_config from = tiny_config();
      from.num_attention_heads = P + r.below(2);
      from.hidden_size = from.num_attention_heads * 2;
      from.intermediate_size = P + r.below(8);
      from.num_hidden_layers = 1 + r.below(2);
      model::bert_config to = from;
      to.num_hidden_layers += r.below(3);
      to.num_attention_heads = 2 * from.num_attention_heads;  // head size 2 kept: hidden replicate x 2
      to.hidden_size = 2 * from.hidden_size;
      to.intermediate_size += 1 + r.below(10);
      to.max_position_embeddings += r.below(6);
      grow_options o;
      o.seed = seed;
      o.depth = depth_mode::identity;
      o.hidden = hidden_mode::replicate;
      o.ffn = std::array{ffn_mode::split, ffn_mode::split_random, ffn_mode::split_asym}[seed % 3];
      o.heads = seed % 2 == 0 ? heads_mode::add : heads_mode::duplicate;
      o.length = seed % 2 == 0 ? length_mode::tile : length_mode::random;
      o.optimizer = optimizer_policy::map;
      INFO("P " << P << " seed " << seed << transition{from, to});
      const auto tp = model::plan_tp_growth(from, to, o, P);
      CHECK(tp.plan.t.exact.exact);
      auto small = random_model(from, seed), m_src = random_model(from, seed + 1), v_src = random_model(from, seed + 2);
      auto big = std::make_unique<ref_bert>(to), m_dst = std::make_unique<ref_bert>(to), v_dst = std::make_unique<ref_bert>(to);
      const auto src = small->parameters(), dst = big->parameters();
      const model::moments<float> ms{m_src->parameters(), v_src->parameters()}, md{m_dst->parameters(), v_dst->parameters()};
      for (std::size_t i = 0; i < tp.plan.new_specs.size(); ++i) model::grow_parameter(tp.plan, i, src, dst, &ms, &md);
      // The rank-aligned transition is the same exact operator up to a permutation of heads and neurons.
      CHECK(relative_logit_diff(*small, *big, grow_batch(from, seed + 17)) < 1e-4);
      tally t;
      for (std::size_t i = 0; i < tp.plan.new_specs.size(); ++i) {
        if (tp.plan.new_specs[i].shape.size() == 1) check_parameter<1>(tp, i, src, dst, ms, md, t);
        else check_parameter<2>(tp, i, src, dst, ms, md, t);
      }
      CHECK(t.mapped > 0);
      CHECK(t.identical);
      CHECK(t.moved == 0);
    }
  }
}

TEST_CASE("tp_split_of places BERT's parameters as Megatron does") {
  const auto specs = model::bert_parameters(tiny_config());
  const auto split = [&](const std::string& name) {
    for (const auto& s : specs)
      if (s.name == name) return model::tp_split_of(s);
    FAIL("no parameter " << name);
    return tp_split::replicated;
  };
  const std::string l = "bert.encoder.layer.0.";
  CHECK(split(l + "attention.self.query.weight") == tp_split::column_parallel);
  CHECK(split(l + "attention.self.key.bias") == tp_split::column_parallel);
  CHECK(split(l + "attention.output.dense.weight") == tp_split::row_parallel);
  CHECK(split(l + "attention.output.dense.bias") == tp_split::replicated);
  CHECK(split(l + "intermediate.dense.weight") == tp_split::column_parallel);
  CHECK(split(l + "intermediate.dense.bias") == tp_split::column_parallel);
  CHECK(split(l + "output.dense.weight") == tp_split::row_parallel);
  CHECK(split(l + "output.LayerNorm.weight") == tp_split::replicated);
  CHECK(split("bert.embeddings.word_embeddings.weight") == tp_split::vocab_parallel);
  CHECK(split("bert.embeddings.position_embeddings.weight") == tp_split::replicated);
  CHECK(split("cls.predictions.bias") == tp_split::vocab_parallel);
  CHECK(split("cls.predictions.transform.dense.weight") == tp_split::replicated);
}

TEST_CASE("plan_tp_growth refuses what it cannot grow shard-locally, naming the field") {
  auto from = tiny_config();  // 2 heads
  auto to = from;
  to.intermediate_size = 20;
  CHECK_THROWS_WITH_AS(model::plan_tp_growth(from, to, grow_options{}, 3), doctest::Contains("num_attention_heads"),
                       growth::error);
  auto lc = tiny_lowcost_config();
  CHECK_THROWS_WITH_AS(model::plan_tp_growth(lc, lc, grow_options{}, 2), doctest::Contains("ffn_shared_layers"),
                       growth::error);
}
