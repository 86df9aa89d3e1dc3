#pragma once
/// @file torch_grow.hpp
/// Whole-model growth of a libtorch BERT, with its torch::optim::AdamW state: a thin adapter that views
/// torch tensors as a growth::model::parameter_set (zero copy, through torch_view) and calls
/// growth::model::grow. No growth rule lives here: every operator, its exactness and its effect on the
/// Adam moments are those of model/grow.hpp.
///
/// Names are strict: a parameter map holds exactly the Hugging Face BertForMaskedLM names of
/// model::bert_parameters(config) (no "bert." prefix is added or removed), plus optionally the tie aliases
/// cls.predictions.decoder.weight / .bias, which must share storage with the word embeddings /
/// cls.predictions.bias (an untied decoder cannot be grown by the layout and is refused).
///
/// AdamW state (libtorch 1.13): Optimizer::state() is keyed by the parameter's TensorImpl address and
/// holds AdamWParamState {step, exp_avg, exp_avg_sq}. adamw_state() reads it by name; grow() maps it;
/// make_adamw() builds a new AdamW over the grown parameters, mirroring the old one's param groups and
/// options, and installs the grown state.
///   policy map:   exp_avg / exp_avg_sq mapped by model::grow (m like the gradient, v like its square);
///                 step: a new parameter takes the step of the old parameter it is grown from; one grown
///                 from nothing (zeroed, unit LayerNorm, inserted layer) takes the largest old step, so
///                 that every parameter keeps one bias-correction clock, as in a step-synchronous trainer.
///   policy reset: no state at all: libtorch's AdamW then starts every parameter at step 0 with zero
///                 moments (the paper's code).
/// amsgrad is refused (its max_exp_avg_sq has no mapping rule).
///
/// Element types: float, double, float16 (kHalf), bfloat16 (kBFloat16); all tensors of a call share one
/// dtype and device. Memory space: host (CPU) by default; cuda_space where adapters/cuda.cuh is included
/// and libtorch has CUDA (untested here: no CUDA libtorch on the build machine). Writing goes through raw
/// pointers under torch::NoGradGuard.
#include <torch/nn/module.h>
#include <torch/optim/adamw.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"
#include "../model/bert_layout.hpp"
#include "../model/grow.hpp"
#include "../model/parameter_set.hpp"
#include "torch.hpp"

namespace growth::torch_grow {

/// Parameters (or per-parameter optimizer tensors) by Hugging Face name.
using named_tensors = std::map<std::string, at::Tensor>;

/// AdamW state of a model, by parameter name.
struct adam_state {
  named_tensors exp_avg, exp_avg_sq;
  std::map<std::string, std::int64_t> step;
  [[nodiscard]] bool empty() const { return exp_avg.empty(); }
};

/// What grow() returns: the grown parameters (layout of `to`, plus the tie aliases where the source had
/// them), the grown AdamW state (empty when none was given or the policy is reset) and whether the
/// transition preserves the function.
struct grow_result {
  named_tensors parameters;
  adam_state state;
  model::exactness exact;
};

namespace detail {

inline std::string shape_of(const at::Tensor& t) { return ::growth::detail::shape_string(t.sizes()); }

/// Checks that `m` holds exactly the parameters of config c (names, shapes; tie aliases allowed when tied).
inline void check_names(const model::bert_config& c, const named_tensors& m, const std::string& what) {
  const auto specs = model::bert_parameters(c);
  for (const auto& s : specs) {
    auto it = m.find(s.name);
    if (it == m.end()) throw error(what + " parameter " + s.name, "present (Hugging Face BertForMaskedLM name)", "missing");
    if (!it->second.defined()) throw error(what + " parameter " + s.name, "a defined tensor", "an undefined tensor");
    std::vector<std::size_t> shp;
    for (auto d : it->second.sizes()) shp.push_back(static_cast<std::size_t>(d));
    if (shp != s.shape)
      throw error(what + " parameter " + s.name, ::growth::detail::shape_string(s.shape), shape_of(it->second));
  }
  for (const auto& [name, t] : m) {
    if (model::is_tied_alias(name)) {
      const std::string target = name == "cls.predictions.decoder.weight" ? "bert.embeddings.word_embeddings.weight"
                                                                          : "cls.predictions.bias";
      const at::Tensor& u = m.at(target);
      if (!t.defined() || t.data_ptr() != u.data_ptr() || !t.sizes().equals(u.sizes()) ||
          !t.strides().equals(u.strides()))
        throw error(what + " parameter " + name, "tied to " + target + " (same storage)", "a separate tensor");
      continue;
    }
    const bool known = std::any_of(specs.begin(), specs.end(), [&](const auto& s) { return s.name == name; });
    if (!known)
      throw error(what + " parameter " + name, "a BertForMaskedLM parameter name of the config", "an unknown name");
  }
}

/// One parameter as a param_view (named `name`, the layout name) over the torch tensor's storage, with
/// its strides; dtype, device and rank are checked by torch_view, whose errors name `what`.
template <class T, class Space>
model::param_view<T, Space> view_of(const at::Tensor& t, const std::string& name, const std::string& what) {
  model::param_view<T, Space> p;
  p.name = name;
  auto fill = [&](const auto& v) {
    for (std::size_t a = 0; a < v.rank; ++a) {
      p.shape.push_back(v.extent(a));
      p.strides.push_back(v.stride(a));
    }
    p.data = v.data();
  };
  if (t.dim() == 1) fill(torch_view<T, 1, Space>(t, what));
  else fill(torch_view<T, 2, Space>(t, what));
  return p;
}

template <class T, class Space>
model::parameter_set<T, Space> set_of(const model::bert_config& c, const named_tensors& m, const std::string& what) {
  model::parameter_set<T, Space> s;
  for (const auto& spec : model::bert_parameters(c))
    s.add(view_of<T, Space>(m.at(spec.name), spec.name, what + " parameter " + spec.name));
  return s;
}

/// Per new parameter, the AdamW step under policy map: that of the old parameter it is grown from, or
/// (grown from nothing) the largest old step.
inline std::map<std::string, std::int64_t> grown_steps(const model::bert_config& from, const model::bert_config& to,
                                                       const growth::grow_options& o,
                                                       const std::map<std::string, std::int64_t>& old) {
  const auto plan = model::plan_growth(from, to, o);
  std::int64_t latest = 0;
  for (const auto& [n, s] : old) latest = std::max(latest, s);
  std::map<std::string, std::int64_t> out;
  for (std::size_t i = 0; i < plan.new_specs.size(); ++i) {
    const auto srcs = model::growth_sources(plan, i);
    std::int64_t step = latest;
    if (!srcs.empty()) {
      auto it = old.find(srcs.front());
      if (it != old.end()) step = it->second;
    }
    out[plan.new_specs[i].name] = step;
  }
  return out;
}

/// Calls f(T{}) with T the growth element type of torch dtype st.
template <class F>
decltype(auto) dispatch(c10::ScalarType st, const std::string& what, F&& f) {
  switch (st) {
    case c10::ScalarType::Float: return f(float{});
    case c10::ScalarType::Double: return f(double{});
    case c10::ScalarType::Half: return f(float16{});
    case c10::ScalarType::BFloat16: return f(bfloat16{});
    default: throw error(what + " dtype", "Float, Double, Half or BFloat16", c10::toString(st));
  }
}

/// The key that matches a parameter across layers and variants: its in-layer key (the layout table's key),
/// or for a factor U / V the key of its product, so that U and V join their unfactorised weight's group.
inline const std::string& group_key(const model::param_spec& s) { return s.product.empty() ? s.key : s.product; }

/// The layout-table spec of every parameter of config c, by name.
inline std::map<std::string, model::param_spec> specs_by_name(const model::bert_config& c) {
  std::map<std::string, model::param_spec> m;
  for (auto& s : model::bert_parameters(c)) m.emplace(s.name, std::move(s));
  return m;
}

inline std::string state_key(const at::Tensor& t) { return c10::guts::to_string(t.unsafeGetTensorImpl()); }

}  // namespace detail

/// Destination tensors for config `to`: contiguous, uninitialised, with `like`'s dtype and device, and
/// requires_grad as `requires_grad`.
inline named_tensors allocate(const model::bert_config& to, const at::TensorOptions& like, bool requires_grad = false) {
  named_tensors m;
  for (const auto& s : model::bert_parameters(to)) {
    std::vector<std::int64_t> shp(s.shape.begin(), s.shape.end());
    m.emplace(s.name, torch::empty(shp, like.requires_grad(false)).set_requires_grad(requires_grad));
  }
  return m;
}

/// Grows `src` (config `from`) into the preallocated `dst` (config `to`) with model::grow; with
/// `opt_src` / `opt_dst`, also the Adam moments (opt_dst->exp_avg / exp_avg_sq preallocated like dst;
/// opt_src needed for policy map; step is not touched). Everything is checked before anything is written;
/// errors name the tensor, the expected and the actual value.
template <class Space = host_space>
model::exactness grow_into(const model::bert_config& from, const named_tensors& src, const model::bert_config& to,
                           const named_tensors& dst, const growth::grow_options& o, const adam_state* opt_src = nullptr,
                           const adam_state* opt_dst = nullptr) {
  from.validate();
  to.validate();
  detail::check_names(from, src, "source");
  detail::check_names(to, dst, "destination");
  const bool map = opt_dst && o.optimizer == growth::optimizer_policy::map;
  if (opt_dst) {
    detail::check_names(to, opt_dst->exp_avg, "destination exp_avg");
    detail::check_names(to, opt_dst->exp_avg_sq, "destination exp_avg_sq");
  }
  if (map) {
    if (!opt_src || opt_src->empty())
      throw error("torch_grow::grow optimizer policy map", "the source model's AdamW state", "none given");
    detail::check_names(from, opt_src->exp_avg, "source exp_avg");
    detail::check_names(from, opt_src->exp_avg_sq, "source exp_avg_sq");
  }
  const at::Tensor& first = src.at("bert.embeddings.word_embeddings.weight");
  torch::NoGradGuard no_grad;
  return detail::dispatch(first.scalar_type(), "source parameter bert.embeddings.word_embeddings.weight", [&](auto tag) {
    using T = decltype(tag);
    // Every view is built (and so dtype/device-checked) before model::grow writes anything.
    const auto s = detail::set_of<T, Space>(from, src, "source");
    const auto d = detail::set_of<T, Space>(to, dst, "destination");
    std::optional<model::moments<T, Space>> ms, md;
    if (opt_dst)
      md = model::moments<T, Space>{detail::set_of<T, Space>(to, opt_dst->exp_avg, "destination exp_avg"),
                                    detail::set_of<T, Space>(to, opt_dst->exp_avg_sq, "destination exp_avg_sq")};
    if (map)
      ms = model::moments<T, Space>{detail::set_of<T, Space>(from, opt_src->exp_avg, "source exp_avg"),
                                    detail::set_of<T, Space>(from, opt_src->exp_avg_sq, "source exp_avg_sq")};
    return model::grow<T, Space>(from, s, to, d, o, ms ? &*ms : nullptr, md ? &*md : nullptr);
  });
}

/// Grows named parameters `src` of a BERT with config `from` (and, optionally, their AdamW state) into
/// newly allocated tensors of config `to` (same dtype and device as the source; requires_grad as the
/// source's word embeddings). See the file comment for the state policy.
template <class Space = host_space>
grow_result grow(const model::bert_config& from, const named_tensors& src, const model::bert_config& to,
                 const growth::grow_options& o = {.optimizer = growth::optimizer_policy::map}, const adam_state* opt = nullptr) {
  detail::check_names(from, src, "source");
  const at::Tensor& first = src.at("bert.embeddings.word_embeddings.weight");
  grow_result r;
  r.parameters = allocate(to, first.options(), first.requires_grad());
  const bool map = opt && o.optimizer == growth::optimizer_policy::map;
  if (map) {
    r.state.exp_avg = allocate(to, first.options());
    r.state.exp_avg_sq = allocate(to, first.options());
  }
  r.exact = grow_into<Space>(from, src, to, r.parameters, o, opt, map ? &r.state : nullptr);
  if (map) r.state.step = detail::grown_steps(from, to, o, opt->step);
  // Keep the ties the source had.
  if (src.count("cls.predictions.decoder.weight"))
    r.parameters["cls.predictions.decoder.weight"] = r.parameters.at("bert.embeddings.word_embeddings.weight");
  if (src.count("cls.predictions.decoder.bias"))
    r.parameters["cls.predictions.decoder.bias"] = r.parameters.at("cls.predictions.bias");
  return r;
}

/// A module's parameters by name (Module::named_parameters, recursive). A module that registers its
/// submodules under the Hugging Face names (bert / embeddings / encoder / layer / 0 / attention / self ...)
/// yields exactly the layout's names; a tied decoder registered once appears once.
inline named_tensors parameters_of(const torch::nn::Module& m) {
  named_tensors out;
  for (const auto& item : m.named_parameters(true)) out.emplace(item.key(), item.value());
  return out;
}

/// The AdamW state of `params` in `opt`, by name. A parameter without state (no step taken yet) gets
/// zero moments and step 0, which is what libtorch would start it with. Throws for amsgrad.
inline adam_state adamw_state(const torch::optim::AdamW& opt, const named_tensors& params) {
  for (const auto& g : opt.param_groups())
    if (static_cast<const torch::optim::AdamWOptions&>(g.options()).amsgrad())
      throw error("AdamW option amsgrad", "false (max_exp_avg_sq has no growth rule)", "true");
  adam_state st;
  for (const auto& [name, p] : params) {
    if (model::is_tied_alias(name)) continue;
    auto it = opt.state().find(detail::state_key(p));
    if (it == opt.state().end()) {
      st.exp_avg[name] = torch::zeros_like(p, at::MemoryFormat::Contiguous);
      st.exp_avg_sq[name] = torch::zeros_like(p, at::MemoryFormat::Contiguous);
      st.step[name] = 0;
      continue;
    }
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    st.exp_avg[name] = s.exp_avg();
    st.exp_avg_sq[name] = s.exp_avg_sq();
    st.step[name] = s.step();
  }
  return st;
}

/// Installs `st` (by name) as the AdamW state of `params` in `opt` (each parameter must be in one of
/// opt's param groups). The state tensors are shared, not copied. An empty state clears opt's state.
inline void set_adamw_state(torch::optim::AdamW& opt, const named_tensors& params, const adam_state& st) {
  opt.state().clear();
  if (st.empty()) return;
  for (const auto& [name, p] : params) {
    if (model::is_tied_alias(name)) continue;
    auto m = st.exp_avg.find(name);
    auto v = st.exp_avg_sq.find(name);
    auto k = st.step.find(name);
    if (m == st.exp_avg.end() || v == st.exp_avg_sq.end() || k == st.step.end())
      throw error("AdamW state of parameter " + name, "exp_avg, exp_avg_sq and step", "missing");
    if (!m->second.sizes().equals(p.sizes()) || !v->second.sizes().equals(p.sizes()))
      throw error("AdamW state of parameter " + name, "shape " + detail::shape_of(p),
                  detail::shape_of(m->second) + " / " + detail::shape_of(v->second));
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(k->second);
    s->exp_avg(m->second);
    s->exp_avg_sq(v->second);
    opt.state()[detail::state_key(p)] = std::move(s);
  }
}

/// A new AdamW over `params` (the grown model, config `to`) with `like`'s defaults and param groups: each
/// new parameter joins the group of the old parameter (in `like_params`, config `from`) with the same
/// name, else of one with the same in-layer key in the layout table (detail::group_key), else group 0;
/// each group keeps its options (lr, betas, eps, weight_decay). Then installs `st` (empty: no state, i.e.
/// policy reset). Both maps must hold exactly their config's parameter names (check_names).
inline std::unique_ptr<torch::optim::AdamW> make_adamw(const model::bert_config& to, const named_tensors& params,
                                                      const adam_state& st, const torch::optim::AdamW& like,
                                                      const model::bert_config& from, const named_tensors& like_params) {
  detail::check_names(to, params, "make_adamw");
  detail::check_names(from, like_params, "make_adamw old");
  const auto old_specs = detail::specs_by_name(from), new_specs = detail::specs_by_name(to);
  std::map<std::string, std::size_t> group_of_key, group_of_name;
  std::map<std::string, std::string> name_of_impl;
  for (const auto& [n, p] : like_params)
    if (!model::is_tied_alias(n)) name_of_impl[detail::state_key(p)] = n;  // an alias shares its target's impl
  const auto& groups = like.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const auto& p : groups[g].params()) {
      auto it = name_of_impl.find(detail::state_key(p));
      if (it == name_of_impl.end()) continue;
      group_of_name[it->second] = g;
      group_of_key.emplace(detail::group_key(old_specs.at(it->second)), g);
    }
  std::vector<std::vector<at::Tensor>> members(std::max<std::size_t>(groups.size(), 1));
  for (const auto& [n, p] : params) {
    if (model::is_tied_alias(n)) continue;
    std::size_t g = 0;
    if (auto a = group_of_name.find(n); a != group_of_name.end()) g = a->second;
    else if (auto b = group_of_key.find(detail::group_key(new_specs.at(n))); b != group_of_key.end()) g = b->second;
    members[g].push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> new_groups;
  for (std::size_t g = 0; g < members.size(); ++g) {
    if (members[g].empty()) continue;
    if (g < groups.size() && groups[g].has_options())
      new_groups.emplace_back(members[g], groups[g].options().clone());
    else
      new_groups.emplace_back(members[g]);
  }
  auto opt = std::make_unique<torch::optim::AdamW>(
      new_groups, static_cast<const torch::optim::AdamWOptions&>(like.defaults()));
  set_adamw_state(*opt, params, st);
  return opt;
}

/// What grow_module() returns.
struct module_result {
  std::unique_ptr<torch::optim::AdamW> optimizer;  ///< over dst's parameters; null when no optimizer given
  model::exactness exact;
};

/// Grows module `src` (config `from`, HF-named parameters) into module `dst` (config `to`, already built;
/// its parameters are written in place, no copy), and `opt` (AdamW over src's parameters, may be null) into a new
/// AdamW over dst's parameters (make_adamw; state per the policy in `o`).
template <class Space = host_space>
module_result grow_module(const model::bert_config& from, const torch::nn::Module& src, const torch::optim::AdamW* opt,
                          const model::bert_config& to, torch::nn::Module& dst, const growth::grow_options& o = {.optimizer = growth::optimizer_policy::map}) {
  const named_tensors sp = parameters_of(src), dp = parameters_of(dst);
  detail::check_names(from, sp, "source");
  detail::check_names(to, dp, "destination");
  module_result r;
  if (!opt) {
    r.exact = grow_into<Space>(from, sp, to, dp, o);
    return r;
  }
  const adam_state old = adamw_state(*opt, sp);
  adam_state st;
  const bool map = o.optimizer == growth::optimizer_policy::map;
  if (map) {
    const at::TensorOptions like = dp.at("bert.embeddings.word_embeddings.weight").options();
    st.exp_avg = allocate(to, like);
    st.exp_avg_sq = allocate(to, like);
  }
  r.exact = grow_into<Space>(from, sp, to, dp, o, &old, map ? &st : nullptr);
  if (map) st.step = detail::grown_steps(from, to, o, old.step);
  r.optimizer = make_adamw(to, dp, st, *opt, from, sp);
  return r;
}

}  // namespace growth::torch_grow
