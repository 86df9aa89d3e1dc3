// CUDA executor tests: every map shape the operators build (gathers with scales, zero rows, tiling,
// per-column split weights, weighted sums, squared and composed maps, zero fill), matmul, upload/download
// and the 16-bit conversions, on the device versus the host executor on the same bytes: BIT-IDENTICAL, for
// float, double, float16 and bfloat16, contiguous, misaligned, padded and transposed layouts, several seeds.
// No GPU: the host-only checks run, then the test prints SKIPPED and exits 0.
#include <growth/adapters/cuda.cuh>
#include <growth/core/random.hpp>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if __has_include(<growth/ops/width.hpp>) && __has_include(<growth/ops/heads.hpp>) && \
    __has_include(<growth/ops/length.hpp>) && __has_include(<growth/ops/depth.hpp>) && defined(GROWTH_TEST_OPS)
#include <growth/ops/depth.hpp>
#include <growth/ops/heads.hpp>
#include <growth/ops/length.hpp>
#include <growth/ops/width.hpp>
#define GROWTH_HAVE_OPS 1
#endif

using namespace growth;

namespace {

int g_checks = 0, g_failures = 0;

void expect(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

template <class F>
void expect_throws(F&& f, const std::string& needle, const std::string& what) {
  try {
    f();
  } catch (const growth::error& e) {
    expect(std::string(e.what()).find(needle) != std::string::npos,
           what + ": message '" + e.what() + "' lacks '" + needle + "'");
    return;
  }
  expect(false, what + ": no growth::error thrown");
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "float";
  else if constexpr (std::is_same_v<T, double>) return "double";
  else if constexpr (std::is_same_v<T, float16>) return "float16";
  else return "bfloat16";
}

/// A strided layout: axis order perm (perm[R-1] innermost), `pad` extra elements per axis, element offset.
template <std::size_t R>
struct layout {
  std::array<std::size_t, R> ext{};
  std::array<std::ptrdiff_t, R> str{};
  std::size_t offset = 0, span = 0;
};
template <std::size_t R>
layout<R> make_layout(const std::array<std::size_t, R>& ext, int kind) {
  // kind 0: contiguous; 1: contiguous at element offset 1 (misaligned); 2: padded rows; 3: transposed (reversed)
  layout<R> l;
  l.ext = ext;
  std::array<std::size_t, R> perm{};
  for (std::size_t a = 0; a < R; ++a) perm[a] = kind == 3 ? R - 1 - a : a;
  const std::size_t pad = kind == 2 ? 3 : 0;
  std::ptrdiff_t s = 1;
  for (std::size_t k = R; k-- > 0;) {
    l.str[perm[k]] = s;
    s *= static_cast<std::ptrdiff_t>(ext[perm[k]] + pad);
  }
  l.offset = kind == 1 ? 1 : 0;
  l.span = l.offset + static_cast<std::size_t>(s);
  return l;
}

template <class T>
T random_value(rng& r) {
  const double u = r.uniform();
  double x = r.normal() * 3.0;
  if (u < 0.03) x = 0.0;
  else if (u < 0.05) x = -0.0;
  else if (u < 0.07) x = r.normal() * 1e-6;  // subnormal territory for float16
  return from_compute<T>(static_cast<compute_t<T>>(x));
}

template <class T>
std::vector<T> random_buffer(std::size_t n, std::uint64_t seed) {
  rng r(seed, 17);
  std::vector<T> v(n);
  for (auto& x : v) x = random_value<T>(r);
  return v;
}
template <class T>
std::vector<T> sentinel_buffer(std::size_t n) {
  std::vector<T> v(n);
  std::memset(static_cast<void*>(v.data()), 0x5b, n * sizeof(T));
  return v;
}

template <class T>
void to_device(cuda::buffer<T>& d, const std::vector<T>& h) {
  GROWTH_CUDA_CHECK(cudaMemcpy(d.data(), h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
}
template <class T>
std::vector<T> to_host(const cuda::buffer<T>& d) {
  std::vector<T> h(d.size());
  GROWTH_CUDA_CHECK(cudaMemcpy(h.data(), d.data(), h.size() * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b, std::string& where) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      where = "first difference at element " + std::to_string(i) + " of " + std::to_string(a.size()) + ": host " +
              std::to_string(static_cast<double>(to_compute(a[i]))) + " device " +
              std::to_string(static_cast<double>(to_compute(b[i])));
      return false;
    }
  return true;
}

/// Applies m on the host and on the device to the same input bytes, output layouts pre-filled with the same
/// sentinel, and compares the whole output buffers (so gaps in strided outputs are checked too).
template <class T, std::size_t R>
void check_map(const std::string& what, const tensor_map<R>& m, std::uint64_t seed) {
  for (int in_kind = 0; in_kind < 4; ++in_kind) {
    const int out_kind = (in_kind + static_cast<int>(seed)) % 4;
    const auto li = make_layout<R>(m.in_extents(), in_kind);
    const auto lo = make_layout<R>(m.out_extents(), out_kind);
    const auto hin = random_buffer<T>(li.span, seed * 131 + static_cast<std::uint64_t>(in_kind));
    auto hout = sentinel_buffer<T>(lo.span);
    cuda::buffer<T> din(li.span), dout(lo.span);
    to_device(din, hin);
    to_device(dout, hout);
    apply(m, tensor_view<const T, R>(hin.data() + li.offset, li.ext, li.str),
          tensor_view<T, R>(hout.data() + lo.offset, lo.ext, lo.str), what);
    apply(m, cuda::device_view<const T, R>(din.data() + li.offset, li.ext, li.str),
          cuda::device_view<T, R>(dout.data() + lo.offset, lo.ext, lo.str), what);
    GROWTH_CUDA_CHECK(cudaDeviceSynchronize());
    std::string where;
    expect(same_bits(hout, to_host(dout), where), what + " <" + type_name<T>() + "> seed " + std::to_string(seed) +
                                                      " layouts " + std::to_string(in_kind) + "/" +
                                                      std::to_string(out_kind) + ": " + where);
  }
}

std::size_t pick(rng& r, std::size_t lo, std::size_t hi) { return lo + r.below(hi - lo + 1); }

/// Gather rows: src in [0, n) or -1 (zero row), scales from the operators' repertoire.
axis_map random_gather(rng& r, std::size_t in, std::size_t out, bool with_zero = true, bool unit = false) {
  std::vector<std::int64_t> src(out);
  std::vector<double> sc(out);
  const double scales[] = {1.0, 0.5, 1.0 / 3.0, 2.0, 0.25, 0.7};
  for (std::size_t i = 0; i < out; ++i) {
    src[i] = (with_zero && r.uniform() < 0.15) ? -1 : static_cast<std::int64_t>(r.below(in));
    sc[i] = unit ? 1.0 : (r.uniform() < 0.5 ? scales[r.below(6)] : r.normal());
  }
  return axis_map::gather(in, src, sc);
}
/// Weighted sums: each output row sums 0..3 source rows (interpolation, mean pooling, mean padding).
axis_map random_sums(rng& r, std::size_t in, std::size_t out) {
  axis_map m(in);
  for (std::size_t i = 0; i < out; ++i) {
    m.begin_row();
    const std::size_t k = r.below(4);
    for (std::size_t e = 0; e < k; ++e) m.add_entry(static_cast<std::int64_t>(r.below(in)), r.normal());
  }
  return m;
}
/// Asymmetric split along the last axis: old column c kept with weight (1 - p_c), its copy gets p_c.
axis_map asymmetric_split(rng& r, std::size_t in, std::size_t out) {
  std::vector<std::int64_t> src(out);
  std::vector<double> w(out, 1.0);
  for (std::size_t i = 0; i < in; ++i) src[i] = static_cast<std::int64_t>(i);
  for (std::size_t i = in; i < out; ++i) {
    src[i] = static_cast<std::int64_t>(r.below(in));
    const double p = r.uniform();
    w[i] = p;
    w[static_cast<std::size_t>(src[i])] *= 1.0 - p;
  }
  return axis_map::gather(in, src, w);
}

template <class T>
void map_cases(std::uint64_t seed) {
  rng r(seed, 3);
  const std::size_t odd = pick(r, 1, 67), wide = 8 * pick(r, 8, 40);
  {  // rank 1: bias / LayerNorm vector
    const std::size_t n = pick(r, 1, 300);
    check_map<T, 1>("rank1 gather", tensor_map<1>{{random_gather(r, n, pick(r, 1, 400))}}, seed);
    check_map<T, 1>("rank1 identity copy", tensor_map<1>{{axis_map::identity(n)}}, seed);
    check_map<T, 1>("rank1 sums", tensor_map<1>{{random_sums(r, n, pick(r, 1, 300))}}, seed);
    check_map<T, 1>("rank1 zeros", tensor_map<1>{{axis_map::zeros(n, n)}}, seed);
  }
  {  // rank 2: weight matrices
    const std::size_t a = pick(r, 1, 70), b = r.uniform() < 0.5 ? odd : wide;
    check_map<T, 2>("rows gather, cols identity", tensor_map<2>{{random_gather(r, a, pick(r, 1, 90)), axis_map::identity(b)}}, seed);
    check_map<T, 2>("rows unit gather (raw copy)",
                    tensor_map<2>{{random_gather(r, a, pick(r, 1, 90), false, true), axis_map::identity(b)}}, seed);
    check_map<T, 2>("rows gather, cols gather",
                    tensor_map<2>{{random_gather(r, a, pick(r, 1, 90)), random_gather(r, b, pick(r, 1, 130))}}, seed);
    check_map<T, 2>("asymmetric split of columns",
                    tensor_map<2>{{axis_map::identity(a), asymmetric_split(r, b, b + pick(r, 0, 50))}}, seed);
    check_map<T, 2>("weighted sums on rows",
                    tensor_map<2>{{random_sums(r, a, pick(r, 1, 60)), axis_map::identity(b)}}, seed);
    check_map<T, 2>("weighted sums on columns",
                    tensor_map<2>{{random_gather(r, a, pick(r, 1, 60)), random_sums(r, b, pick(r, 1, 90))}}, seed);
    check_map<T, 2>("weighted sums on both",
                    tensor_map<2>{{random_sums(r, a, pick(r, 1, 40)), random_sums(r, b, pick(r, 1, 40))}}, seed);
    const axis_map g = random_gather(r, a, pick(r, 1, 50));
    const axis_map s = random_sums(r, b, pick(r, 1, 50));
    check_map<T, 2>("squared maps (Adam v)", tensor_map<2>{{g.squared(), s.squared()}}, seed);
    const axis_map g2 = random_gather(r, g.out_extent(), pick(r, 1, 50));
    check_map<T, 2>("composed maps (then)", tensor_map<2>{{g.then(g2), axis_map::identity(b)}}, seed);
    check_map<T, 2>("zero map", tensor_map<2>::along({a, b}, 0, axis_map::zeros(a, a)), seed);
  }
  {  // rank 3: stacked layers [L, out, in], tiling
    const std::size_t L = pick(r, 1, 4), a = pick(r, 1, 20), b = r.uniform() < 0.5 ? odd : wide;
    std::vector<std::int64_t> tile(2 * L);
    for (std::size_t i = 0; i < 2 * L; ++i) tile[i] = static_cast<std::int64_t>(i % L);
    check_map<T, 3>("tiling layers", tensor_map<3>{{axis_map::gather(L, tile), axis_map::identity(a), axis_map::identity(b)}},
                    seed);
    check_map<T, 3>("tiling + gathers",
                    tensor_map<3>{{axis_map::gather(L, tile), random_gather(r, a, pick(r, 1, 30)), random_gather(r, b, pick(r, 1, 30))}},
                    seed);
    check_map<T, 3>("general rank 3",
                    tensor_map<3>{{random_sums(r, L, pick(r, 1, 5)), random_gather(r, a, pick(r, 1, 20)), random_sums(r, b, pick(r, 1, 20))}},
                    seed);
  }
  {  // rank 4: [L, heads, head_dim, in]
    const std::size_t L = pick(r, 1, 3), h = pick(r, 1, 4), d = pick(r, 1, 8), b = pick(r, 1, 40);
    check_map<T, 4>("rank4 gathers",
                    tensor_map<4>{{random_gather(r, L, pick(r, 1, 4)), random_gather(r, h, pick(r, 1, 6)),
                                   axis_map::identity(d), random_gather(r, b, pick(r, 1, 40))}},
                    seed);
    check_map<T, 4>("rank4 general",
                    tensor_map<4>{{random_sums(r, L, pick(r, 1, 3)), random_gather(r, h, pick(r, 1, 6)),
                                   random_sums(r, d, pick(r, 1, 8)), random_sums(r, b, pick(r, 1, 20))}},
                    seed);
  }
}

template <class T>
void matmul_cases(std::uint64_t seed) {
  rng r(seed, 5);
  for (int rep = 0; rep < 3; ++rep) {
    const std::size_t n = pick(r, 1, 40), K = pick(r, 1, 70), p = pick(r, 1, 50);
    const int ka = static_cast<int>(r.below(4)), kb = static_cast<int>(r.below(4)), kc = static_cast<int>(r.below(4));
    const auto la = make_layout<2>({n, K}, ka), lb = make_layout<2>({K, p}, kb), lc = make_layout<2>({n, p}, kc);
    const auto ha = random_buffer<T>(la.span, seed + 11 + rep), hb = random_buffer<T>(lb.span, seed + 29 + rep);
    auto hc = sentinel_buffer<T>(lc.span);
    cuda::buffer<T> da(la.span), db(lb.span), dc(lc.span);
    to_device(da, ha);
    to_device(db, hb);
    to_device(dc, hc);
    executor<host_space>::matmul<T>({ha.data() + la.offset, la.ext, la.str}, {hb.data() + lb.offset, lb.ext, lb.str},
                                    {hc.data() + lc.offset, lc.ext, lc.str});
    executor<cuda_space>::matmul<T>({da.data() + la.offset, la.ext, la.str}, {db.data() + lb.offset, lb.ext, lb.str},
                                    {dc.data() + lc.offset, lc.ext, lc.str});
    std::string where;
    expect(same_bits(hc, to_host(dc), where),
           std::string("matmul <") + type_name<T>() + "> " + std::to_string(n) + "x" + std::to_string(K) + "x" +
               std::to_string(p) + ": " + where);
  }
}

template <class T>
void transfer_cases(std::uint64_t seed) {
  rng r(seed, 7);
  const std::array<std::size_t, 3> ext{pick(r, 1, 5), pick(r, 1, 9), pick(r, 1, 33)};
  for (int kind = 0; kind < 4; ++kind) {
    const auto lh = make_layout<3>(ext, kind), ld = make_layout<3>(ext, (kind + 1) % 4);
    const auto hin = random_buffer<T>(lh.span, seed + static_cast<std::uint64_t>(kind));
    auto back = sentinel_buffer<T>(lh.span);
    cuda::buffer<T> d(ld.span);
    to_device(d, sentinel_buffer<T>(ld.span));
    cuda::upload<T, 3>({hin.data() + lh.offset, ext, lh.str}, cuda::device_view<T, 3>(d.data() + ld.offset, ext, ld.str));
    cuda::download<T, 3>(cuda::device_view<const T, 3>(d.data() + ld.offset, ext, ld.str),
                         {back.data() + lh.offset, ext, lh.str});
    // Elements inside the view must round-trip; gaps keep the sentinel.
    auto want = sentinel_buffer<T>(lh.span);
    tensor_map<3> id{{axis_map::identity(ext[0]), axis_map::identity(ext[1]), axis_map::identity(ext[2])}};
    apply(id, tensor_view<const T, 3>(hin.data() + lh.offset, ext, lh.str), tensor_view<T, 3>(want.data() + lh.offset, ext, lh.str));
    std::string where;
    expect(same_bits(want, back, where), std::string("upload/download <") + type_name<T>() + "> layout " +
                                             std::to_string(kind) + ": " + where);
  }
  // cuda::zero through the zero map
  cuda::device_tensor<T, 2> z({7, 13});
  cuda::upload<T, 2>(tensor_view<const T, 2>(random_buffer<T>(91, seed).data(), {7, 13}), z.view());
  cuda::zero<T, 2>(z.view());
  tensor<T, 2> hz({7, 13}, from_compute<T>(1.0f));
  cuda::download<T, 2>(z.view(), hz.view());
  bool all_zero = true;
  for (const T& v : hz.storage()) all_zero = all_zero && to_compute(v) == 0 && !std::signbit(static_cast<double>(to_compute(v)));
  expect(all_zero, std::string("cuda::zero <") + type_name<T>() + ">");
}

#if defined(GROWTH_HAVE_OPS)
/// The operators' own maps (include/growth/ops/), applied through growth::apply on both executors.
template <class T>
void op_cases(std::uint64_t seed) {
  const std::size_t L = 2, H = 16, F = 24, heads = 2;
  const unit_map ffn = ffn_split(F, 2 * F, ffn_mode::split_random, seed);
  const unit_map asym = ffn_split(F, 2 * F, ffn_mode::split_asym, seed);
  const unit_map hid = hidden_replicate(H, 2 * H);
  const unit_map pad = hidden_mean_pad(H, 24);
  const unit_map hds = heads_duplicate(heads, 2 * heads, H / heads);
  for (const unit_map* u : {&ffn, &asym, &hid, &pad, &hds}) {
    check_map<T, 2>("op fan_out x fan_in", tensor_map<2>{{u->fan_out, u->fan_in}}, seed);
    const unit_map v = moment2_map(*u);
    check_map<T, 2>("op moment2 map", tensor_map<2>{{v.fan_out, v.fan_in}}, seed);
    check_map<T, 1>("op bias map", tensor_map<1>{{u->fan_out}}, seed);
  }
  const unit_map pos = position_grow(20, 33, length_mode::interpolate);
  check_map<T, 2>("op position grow", tensor_map<2>{{pos.fan_out, axis_map::identity(H)}}, seed);
  check_map<T, 2>("op mean_pool", tensor_map<2>{{mean_pool(20, 3), axis_map::identity(H)}}, seed);
  const auto plan = plan_depth(L, 2 * L, depth_mode::stack);
  check_map<T, 3>("op depth stack",
                  tensor_map<3>{{depth_layer_map(plan, depth_part::residual_out, L), axis_map::identity(H), axis_map::identity(F)}}, seed);

  // The operator functions themselves on device tensors vs host tensors.
  auto host_random = [&](auto t, std::uint64_t s) {
    rng r(seed * 1000 + s, 23);
    for (auto& x : t.storage()) x = random_value<T>(r);
    return t;
  };
  auto dev = [](const auto& h) {
    using H = std::remove_cvref_t<decltype(h)>;
    cuda::device_tensor<T, H::rank> d(h.extents());
    cuda::upload<T, H::rank>(h.view(), d.view());
    return d;
  };
  auto same = [&](const auto& d, const auto& h, const char* what) {
    using H = std::remove_cvref_t<decltype(h)>;
    H back(h.extents());
    cuda::download<T, H::rank>(d.view(), back.view());
    std::string where;
    expect(same_bits(h.storage(), back.storage(), where), std::string(what) + " <" + type_name<T>() + ">: " + where);
  };
  {  // ffn_grow (grow_matrix, grow_vector, fill_fresh through upload)
    const auto w1 = host_random(tensor<T, 2>({F, H}), 1);
    const auto b1 = host_random(tensor<T, 1>({F}), 2);
    const auto w2 = host_random(tensor<T, 2>({H, F}), 3);
    tensor<T, 2> w1o({2 * F, H}), w2o({H, 2 * F});
    tensor<T, 1> b1o({2 * F});
    auto dw1 = dev(w1), dw2 = dev(w2), dw1o = dev(w1o), dw2o = dev(w2o);
    auto db1 = dev(b1), db1o = dev(b1o);
    const unit_map u = ffn_split(F, 2 * F, ffn_mode::split, seed);
    ffn_grow(u, w1, b1, w2, w1o, b1o, w2o, seed, 0.02);
    ffn_grow(u, dw1, db1, dw2, dw1o, db1o, dw2o, seed, 0.02);
    same(dw1o, w1o, "ffn_grow W1");
    same(db1o, b1o, "ffn_grow b1");
    same(dw2o, w2o, "ffn_grow W2");
  }
  {  // grow_layers, grow_layer_norms (fill_slices), unfactorize (matmul)
    const auto w = host_random(tensor<T, 3>({L, H, F}), 4);
    tensor<T, 3> wo({2 * L, H, F});
    auto dw = dev(w), dwo = dev(wo);
    for (depth_mode mode : {depth_mode::stack, depth_mode::interpolate, depth_mode::identity}) {
      const auto p = plan_depth(L, 2 * L, mode);
      grow_layers(p, w, wo, true);
      grow_layers(p, dw, dwo, true);
      same(dwo, wo, "grow_layers");
      const auto g = host_random(tensor<T, 2>({L, H}), 5), b = host_random(tensor<T, 2>({L, H}), 6);
      tensor<T, 2> go({2 * L, H}), bo({2 * L, H});
      auto dg = dev(g), db = dev(b), dgo = dev(go), dbo = dev(bo);
      grow_layer_norms(p, depth_part::output_ln, g, b, go, bo);
      grow_layer_norms(p, depth_part::output_ln, dg, db, dgo, dbo);
      same(dgo, go, "grow_layer_norms gamma");
      same(dbo, bo, "grow_layer_norms beta");
    }
    const auto uu = host_random(tensor<T, 2>({13, 7}), 7), vv = host_random(tensor<T, 2>({7, 19}), 8);
    tensor<T, 2> ww({13, 19});
    auto du = dev(uu), dv = dev(vv), dww = dev(ww);
    unfactorize(uu, vv, ww);
    unfactorize(du, dv, dww);
    same(dww, ww, "unfactorize");
  }
}
#endif

/// Device conversion kernels for the 16-bit types, checked against the host over every bit pattern.
template <class T>
__global__ void to_float_kernel(const std::uint16_t* bits, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<float>(T::from_bits(bits[i]));
}
// The executor's fast hardware conversions (cuda::detail::dev_*) must equal dtype.hpp's bit for bit.
template <class T>
__global__ void to_float_fast_kernel(const std::uint16_t* bits, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = cuda::detail::dev_to_compute<T>(T::from_bits(bits[i]));
}
template <class T>
__global__ void from_float_fast_kernel(const float* in, std::uint16_t* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = cuda::detail::dev_from_compute<T>(in[i]).bits;
}
template <class T>
__global__ void from_float_kernel(const float* in, std::uint16_t* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = T(in[i]).bits;
}

template <class T>
void conversion_cases() {
  std::vector<std::uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<std::uint16_t>(i);
  cuda::buffer<std::uint16_t> dbits(65536);
  cuda::buffer<float> dflt(65536);
  to_device(dbits, all);
  to_float_kernel<T><<<256, 256>>>(dbits.data(), dflt.data(), 65536);
  GROWTH_CUDA_CHECK(cudaGetLastError());
  const auto got = to_host(dflt);
  bool ok = true;
  for (int i = 0; i < 65536 && ok; ++i) {
    const float h = static_cast<float>(T::from_bits(all[i]));
    ok = std::memcmp(&h, &got[i], 4) == 0;
  }
  expect(ok, std::string(type_name<T>()) + " -> float on device, all 65536 patterns");

  // float -> T over a stride through all 2^32 float patterns plus every rounding boundary neighbourhood.
  std::vector<float> f;
  for (std::uint64_t u = 0; u < (1ull << 32); u += 4099) f.push_back(growth::detail::bits_float(static_cast<std::uint32_t>(u)));
  for (std::uint32_t hb = 0; hb < 65536; hb += 7) {
    const float c = static_cast<float>(T::from_bits(static_cast<std::uint16_t>(hb)));
    const std::uint32_t u = growth::detail::float_bits(c);
    for (int d = -2; d <= 2; ++d) f.push_back(growth::detail::bits_float(u + static_cast<std::uint32_t>(d * 4096)));
    for (int d = -2; d <= 2; ++d) f.push_back(growth::detail::bits_float(u + static_cast<std::uint32_t>(d)));
  }
  const int n = static_cast<int>(f.size());
  cuda::buffer<float> din(f.size());
  cuda::buffer<std::uint16_t> dout(f.size());
  to_device(din, f);
  from_float_kernel<T><<<(n + 255) / 256, 256>>>(din.data(), dout.data(), n);
  GROWTH_CUDA_CHECK(cudaGetLastError());
  const auto out = to_host(dout);
  ok = true;
  for (int i = 0; i < n && ok; ++i) ok = T(f[i]).bits == out[i];
  expect(ok, std::string("float -> ") + type_name<T>() + " on device, " + std::to_string(n) + " values");

  from_float_fast_kernel<T><<<(n + 255) / 256, 256>>>(din.data(), dout.data(), n);
  GROWTH_CUDA_CHECK(cudaGetLastError());
  const auto out_fast = to_host(dout);
  ok = true;
  for (int i = 0; i < n && ok; ++i) ok = T(f[i]).bits == out_fast[i];
  expect(ok, std::string("float -> ") + type_name<T>() + " on device (executor's hardware cvt), " + std::to_string(n) + " values");
  to_float_fast_kernel<T><<<256, 256>>>(dbits.data(), dflt.data(), 65536);
  GROWTH_CUDA_CHECK(cudaGetLastError());
  const auto got_fast = to_host(dflt);
  ok = true;
  for (int i = 0; i < 65536 && ok; ++i) {
    const float h = static_cast<float>(T::from_bits(all[i]));
    ok = std::memcmp(&h, &got_fast[i], 4) == 0;
  }
  expect(ok, std::string(type_name<T>()) + " -> float on device (executor's hardware cvt), all 65536 patterns");
}

/// philox_normal on the device (the same __host__ __device__ code as fill_fresh's host path) must give the
/// host's bits, so a device-side fill of fresh slices would equal the host one; and the KAT on the device.
__global__ void philox_kernel(std::uint64_t seed, std::uint64_t stream, std::uint64_t first, double* out,
                              std::uint32_t* kat, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = philox_normal(seed, stream, first + static_cast<std::uint64_t>(i));
  if (i == 0) {
    const philox_block b = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
    for (int k = 0; k < 4; ++k) kat[k] = b.v[k];
  }
}

void philox_cases() {
  const int n = 1 << 16;
  const std::uint64_t first = (1ull << 36) + 3;
  cuda::buffer<double> dout(n);
  cuda::buffer<std::uint32_t> dkat(4);
  philox_kernel<<<n / 256, 256>>>(12345, 6, first, dout.data(), dkat.data(), n);
  GROWTH_CUDA_CHECK(cudaGetLastError());
  const auto got = to_host(dout);
  const auto kat = to_host(dkat);
  std::vector<double> want(n);
  philox_normals(12345, 6, first, want);
  expect(std::memcmp(got.data(), want.data(), n * sizeof(double)) == 0, "philox_normal on device equals the host's bits");
  expect(kat[0] == 0x6627e8d5u && kat[1] == 0xe169c58du && kat[2] == 0xbc57ac4cu && kat[3] == 0x9b00dbd8u,
         "Philox4x32-10 known answer on device");
}

/// Checks that need no GPU: errors are raised on the host before anything is launched.
void host_only_cases(bool have_gpu) {
  std::vector<float> dummy(64);
  auto in = cuda::device_view<const float, 2>(dummy.data(), {3, 4});
  auto out = cuda::device_view<float, 2>(dummy.data(), {3, 5});
  const auto m = tensor_map<2>::along({3, 4}, 0, axis_map::identity(3));
  expect_throws([&] { apply(m, in, out, "W_q"); }, "W_q (output shape): expected [3, 4], got [3, 5]",
                "device apply shape mismatch");
  axis_map bad(3);
  bad.push_row_entry(5, 1.0);
  tensor_map<2> mb{{bad, axis_map::identity(4)}};
  expect_throws([&] { apply(mb, in, cuda::device_view<float, 2>(dummy.data(), {1, 4}), "W_k"); },
                "W_k axis 0 source index: expected in [0, 3), got 5", "device apply bad index");
  expect_throws([] { cuda::check(cudaErrorInvalidValue, "cudaMemcpy(x)"); },
                "CUDA call cudaMemcpy(x): expected cudaSuccess, got cudaErrorInvalidValue", "cuda::check message");
  if (!have_gpu)
    expect_throws([&] { cuda::upload<float, 2>({dummy.data(), {3, 4}, {1, 3}}, cuda::device_view<float, 2>(nullptr, {3, 4})); },
                  "CUDA call cudaMallocAsync", "upload without a device names the failing call");
  static_assert(tensor_like<cuda::device_tensor<float, 3>>);
  static_assert(mutable_tensor_like<cuda::device_tensor<float16, 2>>);
  static_assert(std::is_same_v<space_of<cuda::device_tensor<bfloat16, 2>>, cuda_space>);
  static_assert(!host_tensor_like<tensor_view<float, 2, cuda_space>>);
}

template <class T>
void all_cases() {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    map_cases<T>(seed);
    matmul_cases<T>(seed);
    transfer_cases<T>(seed);
#if defined(GROWTH_HAVE_OPS)
    op_cases<T>(seed);
#endif
  }
}

}  // namespace

int main() {
  std::string why;
  const int n = cuda::device_count(&why);
  try {
    host_only_cases(n > 0);
    if (n == 0) {
      std::printf("cuda_tests: host-only checks: %d checks, %d failures\n", g_checks, g_failures);
      std::printf("cuda_tests: SKIPPED device checks: no CUDA device (%s)\n", why.c_str());
      return g_failures == 0 ? 0 : 1;
    }
    cudaDeviceProp prop{};
    GROWTH_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("cuda_tests: device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    conversion_cases<float16>();
    conversion_cases<bfloat16>();
    philox_cases();
    all_cases<float>();
    all_cases<double>();
    all_cases<float16>();
    all_cases<bfloat16>();
    // A non-default stream through stream_guard.
    cudaStream_t s;
    GROWTH_CUDA_CHECK(cudaStreamCreate(&s));
    {
      cuda::stream_guard g(s);
      expect(cuda::current_stream() == s, "stream_guard sets the current stream");
      map_cases<float>(9);
    }
    expect(cuda::current_stream() == nullptr, "stream_guard restores the previous stream");
    GROWTH_CUDA_CHECK(cudaStreamDestroy(s));
  } catch (const std::exception& e) {
    std::printf("FAIL: exception: %s\n", e.what());
    return 1;
  }
  std::printf("cuda_tests: %d checks, %d failures%s\n", g_checks, g_failures,
#if defined(GROWTH_HAVE_OPS)
              " (operators' maps included)"
#else
              " (operators' maps not compiled in)"
#endif
  );
  return g_failures == 0 ? 0 : 1;
}
