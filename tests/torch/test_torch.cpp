// libtorch adapter: torch tensors (contiguous, transposed, sliced) through every operator of
// include/growth/ops/ give bit for bit what the same operator gives on growth::tensor, for float, double,
// half and bfloat16; dtype/rank/layout mismatches throw growth::error naming the tensor.
#include <doctest/doctest.h>

#include <growth/adapters/torch.hpp>
#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>
#include <growth/ops/depth.hpp>
#include <growth/ops/fill.hpp>
#include <growth/ops/heads.hpp>
#include <growth/ops/length.hpp>
#include <growth/ops/width.hpp>

#include <torch/torch.h>

// libtorch pulls in glog, whose CHECK aborts the process instead of recording a doctest failure.
#undef CHECK
#define CHECK DOCTEST_CHECK

#include <cstring>
#include <vector>

using namespace growth;

static_assert(tensor_like<torch_tensor<float, 2>>);
static_assert(mutable_tensor_like<torch_tensor<float16, 3>>);
static_assert(host_tensor_like<torch_tensor<bfloat16, 1>>);
static_assert(!mutable_tensor_like<torch_tensor<const double, 2>>);
static_assert(std::is_same_v<space_of<torch_tensor<float, 2, cuda_space>>, cuda_space>);

namespace {

template <class T>
at::ScalarType st() {
  return growth::detail::torch_scalar_type<T>();
}

/// A random torch tensor of `shape` whose values are exactly representable in T; `kind` picks the memory
/// layout it is seen through: 0 contiguous, 1 transposed (last two axes), 2 sliced with step 2 on the last axis.
template <class T>
at::Tensor random_torch(std::vector<std::int64_t> shape, int kind, std::uint64_t seed) {
  rng r(seed, 11);
  std::vector<std::int64_t> base = shape;
  if (kind == 1 && base.size() >= 2) std::swap(base[base.size() - 1], base[base.size() - 2]);
  if (kind == 2) base.back() = base.back() * 2 + 1;
  at::Tensor t = torch::empty(base, torch::dtype(st<T>()));
  auto* p = static_cast<T*>(t.data_ptr());
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = from_compute<T>(static_cast<compute_t<T>>(r.normal()));
  if (kind == 1 && base.size() >= 2) return t.transpose(-1, -2);
  if (kind == 2) return t.slice(-1, 1, base.back(), 2);
  return t;
}

/// A growth::tensor holding the same values (row-major copy through the identity map).
template <class T, std::size_t R>
tensor<T, R> to_growth(const at::Tensor& t) {
  auto v = torch_view<const T, R>(t);
  tensor<T, R> out(v.extents());
  tensor_map<R> id;
  for (std::size_t a = 0; a < R; ++a) id.axes[a] = axis_map::identity(v.extent(a));
  apply(id, v, out);
  return out;
}

/// Output torch tensor of `shape` seen through layout `kind` (pre-filled with a sentinel).
template <class T>
at::Tensor out_torch(std::vector<std::int64_t> shape, int kind) {
  std::vector<std::int64_t> base = shape;
  if (kind == 1 && base.size() >= 2) std::swap(base[base.size() - 1], base[base.size() - 2]);
  if (kind == 2) base.back() = base.back() * 2 + 1;
  at::Tensor t = torch::full(base, 7.0, torch::dtype(st<T>()));
  if (kind == 1 && base.size() >= 2) return t.transpose(-1, -2);
  if (kind == 2) return t.slice(-1, 1, base.back(), 2);
  return t;
}

template <class T, std::size_t R>
void check_same(const at::Tensor& got, const tensor<T, R>& want, const char* what) {
  const at::Tensor c = got.contiguous();
  REQUIRE(static_cast<std::size_t>(c.numel()) == want.size());
  INFO(what);
  CHECK(std::memcmp(c.data_ptr(), want.data(), want.size() * sizeof(T)) == 0);
}

template <class T>
void operators_match(std::uint64_t seed) {
  const std::size_t L = 2, H = 16, I = 24, heads = 2;
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    const int okind = (kind + 1) % 3;
    // grow_matrix with the width operators' maps (FFN split both sides, hidden replicate / mean-pad, heads)
    const unit_map maps[] = {ffn_split(I, 2 * I, ffn_mode::split_random, seed), ffn_split(I, 2 * I, ffn_mode::split_asym, seed),
                             hidden_replicate(I, 2 * I), hidden_mean_pad(I, 30), heads_duplicate(heads, 2 * heads, I / heads),
                             heads_add(heads, 3, I / heads)};
    for (const unit_map& u : maps) {
      const auto n = static_cast<std::int64_t>(u.new_extent());
      const at::Tensor w = random_torch<T>({static_cast<std::int64_t>(I), static_cast<std::int64_t>(I)}, kind, seed);
      at::Tensor wo = out_torch<T>({n, n}, okind);
      tensor<T, 2> ref({u.new_extent(), u.new_extent()});
      grow_matrix(u.fan_out, u.fan_in, torch_tensor<const T, 2>(w, "W"), torch_tensor<T, 2>(wo, "W out"));
      grow_matrix(u.fan_out, u.fan_in, to_growth<T, 2>(w), ref);
      check_same(wo, ref, "grow_matrix");
      const unit_map v = moment2_map(u);
      grow_matrix(v.fan_out, v.fan_in, torch_tensor<const T, 2>(w), torch_tensor<T, 2>(wo));
      grow_matrix(v.fan_out, v.fan_in, to_growth<T, 2>(w), ref);
      check_same(wo, ref, "grow_matrix moment2");
      // grow_vector (bias), through a sliced vector
      const at::Tensor b = random_torch<T>({static_cast<std::int64_t>(I)}, kind == 1 ? 0 : kind, seed + 1);
      at::Tensor bo = out_torch<T>({n}, okind == 1 ? 2 : okind);
      tensor<T, 1> bref({u.new_extent()});
      grow_vector(u.fan_out, torch_tensor<const T, 1>(b), torch_tensor<T, 1>(bo));
      grow_vector(u.fan_out, to_growth<T, 1>(b), bref);
      check_same(bo, bref, "grow_vector");
    }
    // ffn_grow with fresh rows (noise through upload)
    {
      const unit_map u = ffn_split(I, 2 * I, ffn_mode::split, seed);
      const at::Tensor w1 = random_torch<T>({2 * (std::int64_t)I, (std::int64_t)H}, kind, seed).slice(0, 0, (std::int64_t)I);
      const at::Tensor b1 = random_torch<T>({(std::int64_t)I}, 0, seed + 2);
      const at::Tensor w2 = random_torch<T>({(std::int64_t)H, (std::int64_t)I}, kind, seed + 3);
      at::Tensor w1o = out_torch<T>({2 * (std::int64_t)I, (std::int64_t)H}, okind), b1o = out_torch<T>({2 * (std::int64_t)I}, 0),
                 w2o = out_torch<T>({(std::int64_t)H, 2 * (std::int64_t)I}, okind);
      tensor<T, 2> w1r({2 * I, H}), w2r({H, 2 * I});
      tensor<T, 1> b1r({2 * I});
      ffn_grow(u, torch_tensor<const T, 2>(w1), torch_tensor<const T, 1>(b1), torch_tensor<const T, 2>(w2),
               torch_tensor<T, 2>(w1o), torch_tensor<T, 1>(b1o), torch_tensor<T, 2>(w2o), seed, 0.02);
      ffn_grow(u, to_growth<T, 2>(w1), to_growth<T, 1>(b1), to_growth<T, 2>(w2), w1r, b1r, w2r, seed, 0.02);
      check_same(w1o, w1r, "ffn_grow W1");
      check_same(b1o, b1r, "ffn_grow b1");
      check_same(w2o, w2r, "ffn_grow W2");
    }
    // position table growth and mean pooling (weighted sums)
    {
      const at::Tensor pos = random_torch<T>({20, (std::int64_t)H}, kind, seed + 4);
      for (length_mode mode : {length_mode::tile, length_mode::interpolate}) {
        const unit_map u = position_grow(20, 37, mode);
        at::Tensor po = out_torch<T>({37, (std::int64_t)H}, okind);
        tensor<T, 2> pr({37, H});
        grow_matrix(u.fan_out, axis_map::identity(H), torch_tensor<const T, 2>(pos), torch_tensor<T, 2>(po));
        grow_matrix(u.fan_out, axis_map::identity(H), to_growth<T, 2>(pos), pr);
        check_same(po, pr, "position_grow");
      }
      at::Tensor pooled = out_torch<T>({(std::int64_t)pooled_length(20, 3), (std::int64_t)H}, okind);
      tensor<T, 2> pooled_ref({pooled_length(20, 3), H});
      grow_matrix(mean_pool(20, 3), axis_map::identity(H), torch_tensor<const T, 2>(pos), torch_tensor<T, 2>(pooled));
      grow_matrix(mean_pool(20, 3), axis_map::identity(H), to_growth<T, 2>(pos), pooled_ref);
      check_same(pooled, pooled_ref, "mean_pool");
    }
    // depth: stacked layers [L, H, I] and LayerNorms [L, H]
    for (depth_mode mode : {depth_mode::stack, depth_mode::interpolate, depth_mode::identity}) {
      const depth_plan plan = plan_depth(L, 2 * L, mode);
      const at::Tensor w = random_torch<T>({(std::int64_t)L, (std::int64_t)H, (std::int64_t)I}, kind, seed + 5);
      at::Tensor wo = out_torch<T>({2 * (std::int64_t)L, (std::int64_t)H, (std::int64_t)I}, okind);
      tensor<T, 3> wr({2 * L, H, I});
      for (bool zero_inserted : {false, true}) {
        grow_layers(plan, torch_tensor<const T, 3>(w), torch_tensor<T, 3>(wo), zero_inserted);
        grow_layers(plan, to_growth<T, 3>(w), wr, zero_inserted);
        check_same(wo, wr, "grow_layers");
      }
      const at::Tensor g = random_torch<T>({(std::int64_t)L, (std::int64_t)H}, kind, seed + 6);
      const at::Tensor be = random_torch<T>({(std::int64_t)L, (std::int64_t)H}, kind, seed + 7);
      at::Tensor go = out_torch<T>({2 * (std::int64_t)L, (std::int64_t)H}, okind), bo = out_torch<T>({2 * (std::int64_t)L, (std::int64_t)H}, okind);
      tensor<T, 2> gr({2 * L, H}), br({2 * L, H});
      grow_layer_norms(plan, depth_part::attention_ln, torch_tensor<const T, 2>(g), torch_tensor<const T, 2>(be),
                       torch_tensor<T, 2>(go), torch_tensor<T, 2>(bo));
      grow_layer_norms(plan, depth_part::attention_ln, to_growth<T, 2>(g), to_growth<T, 2>(be), gr, br);
      check_same(go, gr, "grow_layer_norms gamma");
      check_same(bo, br, "grow_layer_norms beta");
    }
    // fill_fresh / fill_slices on a transposed output
    {
      std::vector<bool> sel{true, false, true, true, false};
      at::Tensor fo = out_torch<T>({5, 9}, okind);
      tensor<T, 2> fr({5, 9}, from_compute<T>(7.0f));
      fill_fresh(torch_tensor<T, 2>(fo), 0, sel, seed, 3, 0.5);
      fill_fresh(fr, 0, sel, seed, 3, 0.5);
      check_same(fo, fr, "fill_fresh");
      fill_slices(torch_tensor<T, 2>(fo), 1, std::vector<bool>{true, false, false, true, true, false, true, false, false}, -2.5);
      fill_slices(fr, 1, std::vector<bool>{true, false, false, true, true, false, true, false, false}, -2.5);
      check_same(fo, fr, "fill_slices");
    }
    // unfactorize (matmul)
    {
      const at::Tensor u = random_torch<T>({12, 5}, kind, seed + 8), v = random_torch<T>({5, 11}, kind, seed + 9);
      at::Tensor w = out_torch<T>({12, 11}, okind);
      tensor<T, 2> wr({12, 11});
      unfactorize(torch_tensor<const T, 2>(u), torch_tensor<const T, 2>(v), torch_tensor<T, 2>(w));
      unfactorize(to_growth<T, 2>(u), to_growth<T, 2>(v), wr);
      check_same(w, wr, "unfactorize");
    }
  }
}

}  // namespace

TEST_CASE("torch tensors through every operator equal growth::tensor bit for bit") {
  torch::NoGradGuard no_grad;
  for (std::uint64_t seed = 1; seed <= 2; ++seed) {
    CAPTURE(seed);
    SUBCASE("float") { operators_match<float>(seed); }
    SUBCASE("double") { operators_match<double>(seed); }
    SUBCASE("half") { operators_match<float16>(seed); }
    SUBCASE("bfloat16") { operators_match<bfloat16>(seed); }
  }
}

TEST_CASE("torch_view is zero-copy and keeps strides and storage offset") {
  at::Tensor t = torch::arange(60, torch::dtype(torch::kFloat)).reshape({5, 12});
  at::Tensor s = t.slice(0, 1, 4).slice(1, 2, 12, 3).t();  // [4, 3], strides {3, 12}
  auto v = torch_view<float, 2>(s);
  CHECK(v.extent(0) == 4);
  CHECK(v.extent(1) == 3);
  CHECK(v.stride(0) == 3);
  CHECK(v.stride(1) == 12);
  CHECK(v.data() == static_cast<float*>(t.data_ptr()) + 14);
  CHECK(v(1, 2) == s[1][2].item<float>());
  v(0, 0) = -1.0f;
  CHECK(t[1][2].item<float>() == -1.0f);
  // half and bfloat16 share bits with c10::Half / c10::BFloat16
  at::Tensor h = torch::tensor({1.5, -0.0, 65504.0}, torch::dtype(torch::kHalf));
  auto hv = torch_view<const float16, 1>(h);
  CHECK(static_cast<float>(hv(0)) == 1.5f);
  CHECK(hv(1).bits == 0x8000);
  CHECK(static_cast<float>(hv(2)) == 65504.0f);
  at::Tensor b = torch::tensor({3.0, 0.1}, torch::dtype(torch::kBFloat16));
  auto bv = torch_view<const bfloat16, 1>(b);
  CHECK(bv(0).bits == b[0].item<c10::BFloat16>().x);
  CHECK(bv(1).bits == b[1].item<c10::BFloat16>().x);
  CHECK(bfloat16(0.1f).bits == b[1].item<c10::BFloat16>().x);
}

TEST_CASE("mismatches throw growth::error naming the tensor, the expectation and the value") {
  at::Tensor t = torch::zeros({3, 4}, torch::dtype(torch::kFloat));
  CHECK_THROWS_WITH_AS((torch_view<double, 2>(t, "bert.encoder.layer.0.output.dense.weight")),
                       doctest::Contains("bert.encoder.layer.0.output.dense.weight dtype: expected Double, got Float"),
                       growth::error);
  CHECK_THROWS_WITH_AS((torch_view<float, 3>(t, "W")), doctest::Contains("W rank: expected 3, got 2 (shape [3, 4])"),
                       growth::error);
  CHECK_THROWS_WITH_AS((torch_view<float, 2>(at::Tensor(), "W")), doctest::Contains("W: expected a defined tensor"),
                       growth::error);
  CHECK_THROWS_WITH_AS((torch_view<float, 2, cuda_space>(t, "W")), doctest::Contains("W device: expected CUDA, got cpu"),
                       growth::error);
  CHECK_THROWS_WITH_AS((torch_tensor<float16, 2>(t, "M")), doctest::Contains("M dtype: expected Half, got Float"), growth::error);
  at::Tensor sp = torch::eye(3).to_sparse();
  CHECK_THROWS_WITH_AS((torch_view<float, 2>(sp, "S")), doctest::Contains("S layout: expected strided"), growth::error);
  // An operator given a wrong output shape names it and writes nothing.
  at::Tensor out = torch::full({5, 4}, 3.0);
  const axis_map rows = axis_map::identity(3);
  CHECK_THROWS_WITH_AS((grow_matrix(rows, axis_map::identity(4), torch_tensor<float, 2>(t), torch_tensor<float, 2>(out), "Wq")),
                       doctest::Contains("Wq (output shape): expected [3, 4], got [5, 4]"), growth::error);
  CHECK(out.eq(3.0).all().item<bool>());
}
