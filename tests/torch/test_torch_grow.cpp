// libtorch whole-model growth (adapters/torch_grow.hpp): growing a torch name -> tensor map (and its
// AdamW moments) gives bit for bit what growth::model::grow gives on plain host buffers with the same
// numbers; float16 / bfloat16 too; strict names and checks before writing; a grown libtorch BERT
// (examples/torch_bert.hpp) computes the same logits, and its new AdamW holds the mapped state: one more
// step of both models gives moments that are the mapped moments of the small model's step.
#include <doctest/doctest.h>

#include <growth/adapters/torch_grow.hpp>
#include <growth/core/random.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../../examples/torch_bert.hpp"
#include "support/configs.hpp"

// libtorch pulls in glog, whose CHECK (abort on failure) replaces doctest's: restore doctest's.
#undef CHECK
#define CHECK DOCTEST_CHECK

using namespace growth;
namespace tg = growth::torch_grow;

namespace {

model::bert_config small_config() {
  return test::tiny_bert({.vocab = 40, .hidden = 12, .layers = 2, .heads = 3, .intermediate = 20, .positions = 10});
}

/// Random torch tensors for config c; every second 2-D tensor is seen transposed-contiguous (column
/// major) so that strides reach growth.
tg::named_tensors random_params(const model::bert_config& c, at::ScalarType st, std::uint64_t seed, bool positive = false) {
  rng r(seed, 5);
  tg::named_tensors m;
  int k = 0;
  for (const auto& s : model::bert_parameters(c)) {
    std::vector<std::int64_t> shp(s.shape.begin(), s.shape.end());
    std::vector<float> vals(s.numel());
    for (auto& v : vals) v = positive ? static_cast<float>(std::fabs(r.normal())) : static_cast<float>(r.normal());
    at::Tensor t = torch::from_blob(vals.data(), shp, torch::kFloat).clone().to(st);
    if (shp.size() == 2 && (k++ % 2) == 1) t = t.t().contiguous().t();
    m[s.name] = t;
  }
  return m;
}

/// A host copy of a torch map: row-major buffers and a parameter_set over them.
template <class T>
struct host_copy {
  std::vector<std::vector<T>> bufs;
  model::parameter_set<T> set;
  host_copy(const model::bert_config& c, const tg::named_tensors* m) {
    const auto specs = model::bert_parameters(c);
    bufs.reserve(specs.size());
    for (const auto& s : specs) {
      bufs.emplace_back(s.numel(), T(0.0f));
      if (m) {
        const at::Tensor t = m->at(s.name).contiguous();
        std::memcpy(bufs.back().data(), t.data_ptr(), s.numel() * sizeof(T));
      }
      set.add(model::param_view<T>::make(s.name, s.shape, bufs.back().data()));
    }
  }
};

template <class T>
void check_bits(const model::bert_config& c, const tg::named_tensors& got, const host_copy<T>& want, const char* what) {
  for (const auto& s : model::bert_parameters(c)) {
    const at::Tensor t = got.at(s.name).contiguous();
    const auto& w = want.set.at(s.name);
    INFO(what << " " << s.name);
    REQUIRE(static_cast<std::size_t>(t.numel()) == w.numel());
    CHECK(std::memcmp(t.data_ptr(), w.data, w.numel() * sizeof(T)) == 0);
  }
}

struct transition_case {
  model::bert_config to;
  growth::grow_options o{.optimizer = growth::optimizer_policy::map};
};

std::vector<transition_case> transitions(const model::bert_config& from) {
  std::vector<transition_case> out;
  {  // exact: depth identity + FFN split + hidden x2 replicate + heads duplicate
    transition_case t{from};
    t.to.num_hidden_layers = 3;
    t.to.intermediate_size = 32;
    t.to.hidden_size = 24;
    t.to.num_attention_heads = 6;
    t.o.depth = depth_mode::identity;
    out.push_back(t);
  }
  {  // not exact: stacking, asymmetric split, mean padding, heads added (fresh rows), positions tiled
    transition_case t{from};
    t.to.num_hidden_layers = 4;
    t.to.intermediate_size = 27;
    t.to.hidden_size = 16;
    t.to.num_attention_heads = 4;
    t.to.max_position_embeddings = 16;
    t.o.depth = depth_mode::stack;
    t.o.ffn = growth::ffn_mode::split_asym;
    t.o.hidden = growth::hidden_mode::mean_pad;
    t.o.heads = growth::heads_mode::add;
    t.o.seed = 9;
    out.push_back(t);
  }
  return out;
}

template <class T>
void check_map_equals_host(at::ScalarType st, std::uint64_t seed) {
  const auto from = small_config();
  for (const auto& tc : transitions(from)) {
    const tg::named_tensors src = random_params(from, st, seed);
    tg::adam_state opt;
    opt.exp_avg = random_params(from, st, seed + 100);
    opt.exp_avg_sq = random_params(from, st, seed + 200, true);
    std::int64_t k = 0;
    for (const auto& s : model::bert_parameters(from)) opt.step[s.name] = 10 + (k++ % 3);

    const tg::grow_result r = tg::grow(from, src, tc.to, tc.o, &opt);

    host_copy<T> hs(from, &src), hm(from, &opt.exp_avg), hv(from, &opt.exp_avg_sq);
    host_copy<T> hd(tc.to, nullptr), hdm(tc.to, nullptr), hdv(tc.to, nullptr);
    const model::moments<T> ms{hm.set, hv.set}, md{hdm.set, hdv.set};
    const auto ex = model::grow(from, hs.set, tc.to, hd.set, tc.o, &ms, &md);
    CHECK(ex.exact == r.exact.exact);
    check_bits(tc.to, r.parameters, hd, "parameter");
    check_bits(tc.to, r.state.exp_avg, hdm, "exp_avg");
    check_bits(tc.to, r.state.exp_avg_sq, hdv, "exp_avg_sq");
    for (const auto& [n, t] : r.parameters) {
      CHECK((t.scalar_type() == st));
      CHECK(t.is_contiguous());
    }
    // Steps: from the source parameter, or the latest step when grown from nothing.
    const auto plan = model::plan_growth(from, tc.to, tc.o);
    for (std::size_t i = 0; i < plan.new_specs.size(); ++i) {
      const auto srcs = model::growth_sources(plan, i);
      INFO(plan.new_specs[i].name);
      CHECK(r.state.step.at(plan.new_specs[i].name) == (srcs.empty() ? 12 : opt.step.at(srcs[0])));
    }
  }
}

}  // namespace

TEST_CASE("torch map growth equals parameter_set growth, bit for bit (float, several seeds)") {
  for (std::uint64_t seed : {1u, 2u, 3u}) check_map_equals_host<float>(torch::kFloat, seed);
}

TEST_CASE("torch map growth equals parameter_set growth for double, float16 and bfloat16") {
  check_map_equals_host<double>(torch::kDouble, 4);
  check_map_equals_host<float16>(torch::kHalf, 5);
  check_map_equals_host<bfloat16>(torch::kBFloat16, 6);
}

TEST_CASE("policy reset gives no AdamW state, tie aliases are kept") {
  const auto from = small_config();
  auto tc = transitions(from)[0];
  tc.o.optimizer = growth::optimizer_policy::reset;
  tg::named_tensors src = random_params(from, torch::kFloat, 7);
  src["cls.predictions.decoder.weight"] = src.at("bert.embeddings.word_embeddings.weight");
  tg::adam_state opt;
  opt.exp_avg = random_params(from, torch::kFloat, 8);
  opt.exp_avg_sq = random_params(from, torch::kFloat, 9, true);
  const auto r = tg::grow(from, src, tc.to, tc.o, &opt);
  CHECK(r.state.empty());
  CHECK(r.state.step.empty());
  REQUIRE(r.parameters.count("cls.predictions.decoder.weight") == 1);
  CHECK(r.parameters.at("cls.predictions.decoder.weight").data_ptr() ==
        r.parameters.at("bert.embeddings.word_embeddings.weight").data_ptr());
}

TEST_CASE("strict names and checks before writing") {
  const auto from = small_config();
  const auto tc = transitions(from)[0];
  const tg::named_tensors src = random_params(from, torch::kFloat, 11);
  auto throws_with = [&](const tg::named_tensors& s, const std::string& needle, const tg::adam_state* opt = nullptr) {
    try {
      (void)tg::grow(from, s, tc.to, tc.o, opt);
      FAIL("no error for " << needle);
    } catch (const growth::error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  {  // names without the "bert." prefix are not guessed
    tg::named_tensors s = src;
    s["embeddings.word_embeddings.weight"] = s.at("bert.embeddings.word_embeddings.weight");
    throws_with(s, "embeddings.word_embeddings.weight");
    s.erase("bert.embeddings.word_embeddings.weight");
    throws_with(s, "bert.embeddings.word_embeddings.weight");
  }
  {  // wrong shape: names the tensor and both shapes
    tg::named_tensors s = src;
    s["bert.encoder.layer.1.output.dense.weight"] = torch::zeros({12, 21});
    throws_with(s, "bert.encoder.layer.1.output.dense.weight: expected [12, 20], got [12, 21]");
  }
  {  // an untied decoder is refused
    tg::named_tensors s = src;
    s["cls.predictions.decoder.weight"] = s.at("bert.embeddings.word_embeddings.weight").clone();
    throws_with(s, "cls.predictions.decoder.weight");
  }
  {  // policy map needs the state
    tg::adam_state empty;
    throws_with(src, "AdamW state", &empty);
  }
  {  // a mixed dtype is found before anything is written
    tg::named_tensors s = src;
    s["cls.predictions.bias"] = s.at("cls.predictions.bias").to(torch::kDouble);
    tg::named_tensors dst = tg::allocate(tc.to, torch::kFloat);
    for (auto& [n, t] : dst) t.fill_(7.0f);
    CHECK_THROWS_AS(tg::grow_into(from, s, tc.to, dst, tc.o), growth::error);
    for (const auto& [n, t] : dst) CHECK(t.eq(7.0f).all().item<bool>());
  }
}

namespace {

at::Tensor mlm_loss(const growth_example::torch_bert& m, const at::Tensor& ids, const at::Tensor& labels) {
  const at::Tensor logits = m.forward(ids);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}));
}

std::unique_ptr<torch::optim::AdamW> grouped_adamw(growth_example::torch_bert& m) {
  std::vector<at::Tensor> decay, no_decay;
  const auto params = m.named_parameters(true);
  for (const auto& s : model::bert_parameters(m.config())) (s.decay ? decay : no_decay).push_back(params[s.name]);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(0.01)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(1e-3));
}

}  // namespace

TEST_CASE("a grown libtorch BERT keeps its logits, and its new AdamW holds the mapped state") {
  torch::set_num_threads(1);
  const auto from = small_config();
  const auto tc = transitions(from)[0];  // exact
  growth_example::torch_bert small(from, 21);
  auto opt = grouped_adamw(small);
  torch::manual_seed(3);
  auto batch = [&] {
    at::Tensor ids = torch::randint(0, 40, {3, 8}, torch::kLong);
    return std::make_pair(ids, torch::randint(0, 40, {3, 8}, torch::kLong));
  };
  for (int i = 0; i < 3; ++i) {
    auto [ids, labels] = batch();
    opt->zero_grad();
    mlm_loss(small, ids, labels).backward();
    opt->step();
  }
  const tg::named_tensors sp = tg::parameters_of(small);
  const tg::adam_state old = tg::adamw_state(*opt, sp);
  CHECK(old.step.at("bert.embeddings.LayerNorm.bias") == 3);

  growth_example::torch_bert big(tc.to, 22);
  auto r = tg::grow_module(from, small, opt.get(), tc.to, big, tc.o);
  CHECK(r.exact.exact);
  REQUIRE(r.optimizer);
  const tg::named_tensors bp = tg::parameters_of(big);

  // Function preserved.
  const auto [probe, probe_labels] = batch();
  {
    torch::NoGradGuard ng;
    const double diff = (small.forward(probe) - big.forward(probe)).abs().max().item<double>();
    CHECK(diff < 1e-5);
  }
  // The installed state is exactly the map-based growth of the state; groups mirror the old ones.
  const tg::grow_result want = tg::grow(from, sp, tc.to, tc.o, &old);
  const tg::adam_state got = tg::adamw_state(*r.optimizer, bp);
  for (const auto& s : model::bert_parameters(tc.to)) {
    INFO(s.name);
    CHECK(torch::equal(got.exp_avg.at(s.name), want.state.exp_avg.at(s.name)));
    CHECK(torch::equal(got.exp_avg_sq.at(s.name), want.state.exp_avg_sq.at(s.name)));
    CHECK(torch::equal(bp.at(s.name), want.parameters.at(s.name)));
    CHECK(got.step.at(s.name) == 3);
  }
  REQUIRE(r.optimizer->param_groups().size() == 2);
  const auto& g0 = static_cast<const torch::optim::AdamWOptions&>(r.optimizer->param_groups()[0].options());
  const auto& g1 = static_cast<const torch::optim::AdamWOptions&>(r.optimizer->param_groups()[1].options());
  CHECK(g0.weight_decay() == doctest::Approx(0.01));
  CHECK(g1.weight_decay() == 0.0);
  std::size_t n_decay = 0;
  for (const auto& s : model::bert_parameters(tc.to)) n_decay += s.decay ? 1 : 0;
  CHECK(r.optimizer->param_groups()[0].params().size() == n_decay);

  // One more step on both with the same batch: the grown model's new moments are the mapped moments of
  // the small model's step (gradients map like m; rounding aside), wherever the gradient is mapped.
  const auto [ids, labels] = batch();
  opt->zero_grad();
  mlm_loss(small, ids, labels).backward();
  opt->step();
  r.optimizer->zero_grad();
  mlm_loss(big, ids, labels).backward();
  r.optimizer->step();
  const tg::adam_state small_after = tg::adamw_state(*opt, sp);
  const tg::grow_result mapped = tg::grow(from, sp, tc.to, tc.o, &small_after);
  const tg::adam_state big_after = tg::adamw_state(*r.optimizer, bp);
  const auto plan = model::plan_growth(from, tc.to, tc.o);
  std::size_t compared = 0;
  for (std::size_t i = 0; i < plan.new_specs.size(); ++i) {
    const auto& s = plan.new_specs[i];
    INFO(s.name);
    CHECK(big_after.step.at(s.name) == 4);
    const bool inserted = s.layer >= 0 && plan.t.depth.inserted[static_cast<std::size_t>(s.layer)];
    const bool handoff = s.site == model::ln_site::output;
    if (model::growth_sources(plan, i).empty() || (inserted && !handoff)) continue;  // zero moments by design
    ++compared;
    for (tg::named_tensors tg::adam_state::*which : {&tg::adam_state::exp_avg, &tg::adam_state::exp_avg_sq}) {
      const at::Tensor a = (big_after.*which).at(s.name), b = (mapped.state.*which).at(s.name);
      const double scale = b.abs().max().item<double>();
      const double err = (a - b).abs().max().item<double>();
      CHECK(err <= 1e-4 * scale + 1e-9);
    }
  }
  CHECK(compared > plan.new_specs.size() / 2);
}

TEST_CASE("grow_module with policy reset: fresh AdamW, training proceeds") {
  torch::set_num_threads(1);
  const auto from = small_config();
  auto tc = transitions(from)[0];
  tc.o.optimizer = growth::optimizer_policy::reset;
  growth_example::torch_bert small(from, 31);
  auto opt = grouped_adamw(small);
  const at::Tensor ids = torch::randint(0, 40, {2, 6}, torch::kLong);
  opt->zero_grad();
  mlm_loss(small, ids, ids).backward();
  opt->step();
  growth_example::torch_bert big(tc.to, 32);
  auto r = tg::grow_module(from, small, opt.get(), tc.to, big, tc.o);
  REQUIRE(r.optimizer);
  CHECK(r.optimizer->state().empty());
  r.optimizer->zero_grad();
  mlm_loss(big, ids, ids).backward();
  r.optimizer->step();
  const auto st = tg::adamw_state(*r.optimizer, tg::parameters_of(big));
  CHECK(st.step.at("cls.predictions.bias") == 1);
}
