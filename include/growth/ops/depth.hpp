#pragma once
/// @file depth.hpp
/// Depth growth: which old layer each new layer is made from (a depth_plan), the axis maps that apply a
/// plan to layer-stacked tensors (axis 0 = layer), and the LayerNorm hand-off that makes identity
/// insertion exact in post-LN BERT.
///
/// Modes (L old layers, L' >= L new ones):
///   stack       src[i] = i mod L (Gong et al. progressive stacking; the paper's depth operator). Not
///               function-preserving: [f_0..f_{L-1}, f_0..] computes f o f.
///   interpolate src[i] = floor(i * L / L') (each old layer repeated in place). Not function-preserving.
///   identity    the old layers keep their order; the L' - L new layers are spread evenly, each inserted
///               right after an old layer l (src = l, inserted = true), with the hand-off below. Exact.
///
/// Identity insertion in post-LN BERT. A post-LN layer computes
///     a = LN_att(x + Attn(x)),   y = LN_out(a + FFN(a)).
/// Zeroing the residual-branch outputs (attention output dense W,b and FFN output dense W,b) of a new
/// layer makes Attn = FFN = 0, but the layer still returns LN_out(LN_att(x)) != x: a zeroed branch alone
/// is NOT exact in post-LN (it is in pre-LN). The hand-off fixes this without touching any other weight.
/// For an old layer l followed by a run of inserted layers n_1..n_m:
///   - l's output LN becomes unit (gamma = 1, beta = 0), so l outputs the normalised n = (x - mu)/sigma
///     (sigma = sqrt(var + eps)) instead of gamma_l * n + beta_l;
///   - every inserted layer's attention LN is unit, and n_1..n_{m-1}'s output LN is unit: each computes
///     LN(n + 0) = n / sqrt(var(n) + eps) with mean(n) = 0 and var(n) = var/(var + eps), i.e. n up to a
///     relative 1/2 * eps / sigma^2 (about 1e-12 .. 1e-7 for BERT activations, eps = 1e-12): float-exact;
///   - n_m's output LN takes l's old affine (gamma_l, beta_l), so n_m outputs gamma_l * n + beta_l, which
///     is exactly what l used to output. The rest of the network sees the old activations.
/// The inserted layers keep l's other weights (Q/K/V, FFN input), so the zeroed output projections get
/// non-zero gradients at the first step and the new layers start to learn.
///
/// Identity insertion in pre-LN BERT (Xiong et al. 2020, arXiv 2002.04745; docs/prelayernorm.md). A pre-LN
/// layer computes a = x + Attn(LN1(x)), y = a + FFN(LN2(a)): with the residual-branch outputs zeroed,
/// Attn = FFN = 0 whatever LN1 and LN2 are, so y = x exactly (not just to float precision: x + 0 = x).
/// No hand-off: it would even be wrong there (a unit LN2 in old layer l changes l's FFN input). Use
/// without_ln_handoff(plan_depth(L, L', identity)): every layer's LayerNorms come from its source layer.
///
/// Adam moments follow the weights through the same map (a gather of whole layers, weight 1, so the
/// first and second moment use the same map); zeroed slices (residual outputs of inserted layers, unit
/// LayerNorms) get zero moments, as for freshly initialised parameters.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "fill.hpp"
#include "options.hpp"

namespace growth {

struct depth_plan {
  std::vector<std::int64_t> src;            ///< new layer i takes its weights from old layer src[i]
  std::vector<bool> inserted;               ///< identity layer: residual-branch outputs are zeroed
  std::vector<bool> attention_ln_unit;      ///< new layer i's attention LayerNorm becomes gamma=1, beta=0
  std::vector<std::int64_t> output_ln_src;  ///< output LN affine from this old layer; -2 = unit LN
  std::size_t old_layers = 0;               ///< L; 0 = unknown (then taken from the tensor or max(src) + 1)

  [[nodiscard]] std::size_t new_layers() const { return src.size(); }
};

/// Marks output_ln_src for a unit LayerNorm (gamma = 1, beta = 0).
inline constexpr std::int64_t unit_layer_norm = -2;

/// Identity insertion puts floor((l+1) m / L) - floor(l m / L) new layers after old layer l (m = L' - L),
/// which spreads the m insertions as evenly as integers allow (m = L gives one after every layer); old
/// layer l lands at new index l + floor(l m / L).
constexpr std::size_t identity_position(std::size_t l, std::size_t old_layers, std::size_t new_layers) {
  return l + l * (new_layers - old_layers) / old_layers;
}

/// The old layer whose weights new layer i takes, for every mode: stack i mod L, interpolate
/// floor(i L / L'), identity the old layer that new layer i is or follows. The one definition: plan_depth
/// builds its plan from it, and the schedule rules (model/rules.hpp) trace layers through it.
/// Requires 1 <= L <= L' and i < L'.
constexpr std::size_t depth_source(std::size_t i, std::size_t old_layers, std::size_t new_layers, depth_mode mode) {
  if (mode == depth_mode::stack) return i % old_layers;
  if (mode == depth_mode::interpolate) return i * old_layers / new_layers;
  std::size_t l = 0;
  while (l + 1 < old_layers && identity_position(l + 1, old_layers, new_layers) <= i) ++l;
  return l;
}

/// Whether new layer i is an inserted identity layer (its residual-branch outputs are zeroed).
constexpr bool depth_inserted(std::size_t i, std::size_t old_layers, std::size_t new_layers, depth_mode mode) {
  return mode == depth_mode::identity &&
         identity_position(depth_source(i, old_layers, new_layers, mode), old_layers, new_layers) != i;
}

/// Builds the plan for growing old_layers -> new_layers (new_layers >= old_layers >= 1).
inline depth_plan plan_depth(std::size_t old_layers, std::size_t new_layers, depth_mode mode) {
  if (old_layers == 0) throw error("plan_depth old_layers", "at least 1", "0");
  if (new_layers < old_layers)
    throw error("plan_depth new_layers", ">= old_layers " + std::to_string(old_layers) + " (depth cannot shrink)",
                std::to_string(new_layers));
  depth_plan p;
  p.old_layers = old_layers;
  for (std::size_t i = 0; i < new_layers; ++i) {
    p.src.push_back(static_cast<std::int64_t>(depth_source(i, old_layers, new_layers, mode)));
    p.inserted.push_back(depth_inserted(i, old_layers, new_layers, mode));
  }
  // LayerNorm hand-off (identity only; see the file comment): an old layer followed by inserted layers gets
  // a unit output LN, every inserted layer a unit attention LN, and the last of a run the old layer's
  // output LN. stack / interpolate copy every LN from the source layer.
  p.attention_ln_unit = p.inserted;
  p.output_ln_src = p.src;
  for (std::size_t i = 0; i < new_layers; ++i) {
    const bool next_inserted = i + 1 < new_layers && p.inserted[i + 1];
    if (next_inserted) p.output_ln_src[i] = unit_layer_norm;
  }
  return p;
}

/// The same plan without the LayerNorm hand-off (pre-LN identity insertion, see the file comment): no
/// attention LN becomes unit, and every layer's output LN comes from its source layer (output_ln_src = src).
/// The layer choice (src) and the zeroed residual outputs (inserted) are unchanged.
inline depth_plan without_ln_handoff(depth_plan p) {
  p.attention_ln_unit.assign(p.src.size(), false);
  p.output_ln_src = p.src;
  return p;
}

/// Which kind of per-layer parameter a layer map is for.
enum class depth_part {
  weights,       ///< every parameter not listed below: copied from src
  residual_out,  ///< attention output dense W,b and FFN output dense W,b: zero in inserted layers
  attention_ln,  ///< attention LayerNorm gamma/beta: zero rows where the LN becomes unit (fill gamma = 1)
  output_ln,     ///< output LayerNorm gamma/beta: from output_ln_src, zero rows where unit (fill gamma = 1)
};

namespace detail {
inline void check_plan(const depth_plan& p, std::string_view what) {
  const std::size_t n = p.src.size();
  if (p.inserted.size() != n || p.attention_ln_unit.size() != n || p.output_ln_src.size() != n)
    throw error(std::string(what) + " depth_plan", "src, inserted, attention_ln_unit, output_ln_src of equal length",
                "lengths " + std::to_string(n) + ", " + std::to_string(p.inserted.size()) + ", " +
                    std::to_string(p.attention_ln_unit.size()) + ", " + std::to_string(p.output_ln_src.size()));
}
}  // namespace detail

/// Where new layer i's tensor of this part comes from: an old layer, or -1 (zero for weights and biases,
/// unit gamma = 1 / beta = 0 for LayerNorms). The one statement of the parts' rules: depth_layer_map and
/// model-level growth (model/grow.hpp) both read it.
inline std::int64_t depth_part_source(const depth_plan& p, depth_part part, std::size_t i) {
  switch (part) {
    case depth_part::weights: return p.src[i];
    case depth_part::residual_out: return p.inserted[i] ? -1 : p.src[i];
    case depth_part::attention_ln: return p.attention_ln_unit[i] ? -1 : p.src[i];
    case depth_part::output_ln: return p.output_ln_src[i] < 0 ? -1 : p.output_ln_src[i];
  }
  return p.src[i];
}

/// The axis map along the layer axis for one part (in_extent = old layers, out_extent = new layers).
/// Rows with no entry are zero layers; for LayerNorm gains, depth_unit_layers() says which to set to 1.
/// old_layers = 0 takes plan.old_layers (or max(src) + 1 for a hand-written plan).
inline axis_map depth_layer_map(const depth_plan& p, depth_part part, std::size_t old_layers = 0) {
  detail::check_plan(p, "depth_layer_map");
  if (old_layers != 0 && p.old_layers != 0 && old_layers != p.old_layers)
    throw error("depth_layer_map old layers (layer axis extent)", std::to_string(p.old_layers) + " (from the plan)",
                std::to_string(old_layers));
  if (old_layers == 0) old_layers = p.old_layers;
  if (old_layers == 0)
    for (auto s : p.src) old_layers = std::max<std::size_t>(old_layers, static_cast<std::size_t>(s + 1));
  std::vector<std::int64_t> src(p.src.size());
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = depth_part_source(p, part, i);
  return axis_map::gather(old_layers, src);
}

/// New layers whose LayerNorm of this part is unit (gamma = 1, beta = 0). All false for other parts.
inline std::vector<bool> depth_unit_layers(const depth_plan& p, depth_part part) {
  detail::check_plan(p, "depth_unit_layers");
  std::vector<bool> u(p.src.size(), false);
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (part == depth_part::attention_ln) u[i] = p.attention_ln_unit[i];
    if (part == depth_part::output_ln) u[i] = p.output_ln_src[i] < 0;
  }
  return u;
}

/// Grows a layer-stacked tensor (axis 0 = layer, any trailing shape kept): new layer i = old layer
/// src[i]; with zero_inserted, inserted layers are zero (use it for residual-branch outputs and for their
/// Adam moments).
template <tensor_like In, mutable_tensor_like Out>
void grow_layers(const depth_plan& plan, In&& in, Out&& out, bool zero_inserted, std::string_view name = "layers") {
  constexpr std::size_t R = rank_of<In>;
  auto iv = view(in);
  auto m = tensor_map<R>::along(iv.extents(), 0,
                                depth_layer_map(plan, zero_inserted ? depth_part::residual_out : depth_part::weights,
                                                iv.extent(0)));
  apply(m, in, out, name);
}

/// Grows a layer-stacked LayerNorm gamma/beta pair ([L, d] each) for the attention or output LN part:
/// copied from the plan's source layer, or gamma = 1, beta = 0 where the LN becomes unit.
/// Adam moments: use grow_layers-style apply with depth_layer_map(plan, part) (unit rows get zero moments).
template <tensor_like GIn, tensor_like BIn, mutable_tensor_like GOut, mutable_tensor_like BOut>
void grow_layer_norms(const depth_plan& plan, depth_part part, GIn&& gamma_in, BIn&& beta_in, GOut&& gamma_out,
                      BOut&& beta_out, std::string_view name = "layer_norm") {
  if (part != depth_part::attention_ln && part != depth_part::output_ln)
    throw error(std::string(name) + " part", "attention_ln or output_ln", "another depth_part");
  constexpr std::size_t R = rank_of<GIn>;
  const auto g = view(gamma_in);
  const auto b = view(beta_in);
  if (g.extents() != view(beta_in).extents())
    throw error(std::string(name) + " beta shape", detail::shape_string(g.extents()), detail::shape_string(b.extents()));
  auto m = tensor_map<R>::along(g.extents(), 0, depth_layer_map(plan, part, g.extent(0)));
  // check both outputs before writing either
  detail::check_extents<R>(std::string(name) + " gamma", "output shape", m.out_extents(), view(gamma_out).extents());
  detail::check_extents<R>(std::string(name) + " beta", "output shape", m.out_extents(), view(beta_out).extents());
  apply(m, gamma_in, gamma_out, std::string(name) + " gamma");
  apply(m, beta_in, beta_out, std::string(name) + " beta");
  fill_slices(gamma_out, 0, depth_unit_layers(plan, part), 1.0, std::string(name) + " gamma");
}

}  // namespace growth
