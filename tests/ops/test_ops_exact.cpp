// Block-level function preservation, computed with Eigen in float32: FFN before/after every FFN operator,
// a LayerNorm'd residual stream and its consumer before/after hidden_replicate, multi-head attention
// before/after heads_add / heads_duplicate, and a post-LN encoder stack before/after identity insertion
// with the LayerNorm hand-off. Relative error <= 1e-5.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <growth/ops.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <vector>

using namespace growth;
using ops_test::random_tensor;

namespace {

using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using vec = Eigen::RowVectorXf;

mat M(const tensor<float, 2>& t) {
  return Eigen::Map<const mat>(t.data(), static_cast<Eigen::Index>(t.extent(0)), static_cast<Eigen::Index>(t.extent(1)));
}
vec V(const tensor<float, 1>& t) { return Eigen::Map<const vec>(t.data(), static_cast<Eigen::Index>(t.extent(0))); }
/// Layer l of a layer-stacked [L, a, b] tensor as a matrix, of a [L, a] tensor as a vector.
mat M(const tensor<float, 3>& t, std::size_t l) {
  return Eigen::Map<const mat>(t.data() + l * t.extent(1) * t.extent(2), static_cast<Eigen::Index>(t.extent(1)),
                               static_cast<Eigen::Index>(t.extent(2)));
}
vec V(const tensor<float, 2>& t, std::size_t l) {
  return Eigen::Map<const vec>(t.data() + l * t.extent(1), static_cast<Eigen::Index>(t.extent(1)));
}

float rel(const mat& a, const mat& b) { return (a - b).norm() / b.norm(); }

mat gelu(const mat& z) {
  return z.unaryExpr([](float v) { return 0.5f * v * (1.0f + std::erf(v / std::sqrt(2.0f))); });
}

mat linear(const mat& x, const mat& w, const vec& b) { return (x * w.transpose()).rowwise() + b; }

mat layer_norm(const mat& x, const vec& g, const vec& b, float eps) {
  mat y(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float mu = x.row(i).mean();
    const float var = (x.row(i).array() - mu).square().mean();
    y.row(i) = ((x.row(i).array() - mu) / std::sqrt(var + eps)).matrix().cwiseProduct(g) + b;
  }
  return y;
}

mat ffn(const mat& x, const tensor<float, 2>& w1, const tensor<float, 1>& b1, const tensor<float, 2>& w2, const vec& b2) {
  return linear(gelu(linear(x, M(w1), V(b1))), M(w2), b2);
}

/// Multi-head softmax attention with an output projection; q/k/v weights (A*hd, d), wo (d, A*hd).
mat attention(const mat& x, std::size_t heads, std::size_t hd, const tensor<float, 2>& wq, const tensor<float, 1>& bq,
              const tensor<float, 2>& wk, const tensor<float, 1>& bk, const tensor<float, 2>& wv,
              const tensor<float, 1>& bv, const tensor<float, 2>& wo, const vec& bo) {
  const mat q = linear(x, M(wq), V(bq)), k = linear(x, M(wk), V(bk)), v = linear(x, M(wv), V(bv));
  mat ctx(x.rows(), static_cast<Eigen::Index>(heads * hd));
  const auto h_ = static_cast<Eigen::Index>(hd);
  for (std::size_t h = 0; h < heads; ++h) {
    const auto c0 = static_cast<Eigen::Index>(h * hd);
    mat s = q.middleCols(c0, h_) * k.middleCols(c0, h_).transpose() / std::sqrt(float(hd));
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      s.row(i).array() -= s.row(i).maxCoeff();
      s.row(i) = s.row(i).array().exp().matrix();
      s.row(i) /= s.row(i).sum();
    }
    ctx.middleCols(c0, h_) = s * v.middleCols(c0, h_);
  }
  return linear(ctx, M(wo), bo);
}

}  // namespace

TEST_CASE("FFN block is preserved by ffn_split (3 modes), ffn_unshare and unfactorize") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const std::size_t d = 16, I = 24, n = 5;
    const mat x = M(random_tensor<float, 2>({n, d}, seed + 100));
    auto w1 = random_tensor<float, 2>({I, d}, seed, 0.3);
    auto b1 = random_tensor<float, 1>({I}, seed + 1, 0.3);
    auto w2 = random_tensor<float, 2>({d, I}, seed + 2, 0.3);
    const vec b2 = V(random_tensor<float, 1>({d}, seed + 3));
    const mat y = ffn(x, w1, b1, w2, b2);
    auto check = [&](const unit_map& m) {
      const std::size_t In = m.new_extent();
      tensor<float, 2> w1o({In, d}), w2o({d, In});
      tensor<float, 1> b1o({In});
      ffn_grow(m, w1, b1, w2, w1o, b1o, w2o);
      CHECK(rel(ffn(x, w1o, b1o, w2o, b2), y) <= 1e-5f);
    };
    check(ffn_split(I, 40, ffn_mode::split));
    check(ffn_split(I, 57, ffn_mode::split_random, seed));
    check(ffn_split(I, 70, ffn_mode::split_asym, seed));
    // un-share: a small FFN of 6 neurons equals the tiled full FFN of 24
    auto s1 = random_tensor<float, 2>({6, d}, seed + 4, 0.3);
    auto sb = random_tensor<float, 1>({6}, seed + 5, 0.3);
    auto s2 = random_tensor<float, 2>({d, 6}, seed + 6, 0.3);
    const mat ys = ffn(x, s1, sb, s2, b2);
    const auto um = ffn_unshare(6, 4);
    tensor<float, 2> f1({24, d}), f2({d, 24});
    tensor<float, 1> fb({24});
    ffn_grow(um, s1, sb, s2, f1, fb, f2);
    CHECK(rel(ffn(x, f1, fb, f2, b2), ys) <= 1e-5f);
    // un-factorise: W1 = U1 V1, W2 = U2 V2 (rank 4); the factorised FFN applies V then U
    const std::size_t r = 4;
    auto u1 = random_tensor<float, 2>({I, r}, seed + 7, 0.5);
    auto v1 = random_tensor<float, 2>({r, d}, seed + 8, 0.5);
    auto u2 = random_tensor<float, 2>({d, r}, seed + 9, 0.5);
    auto v2 = random_tensor<float, 2>({r, I}, seed + 10, 0.5);
    const mat h = gelu(((x * M(v1).transpose()) * M(u1).transpose()).rowwise() + V(b1));
    const mat yf = ((h * M(v2).transpose()) * M(u2).transpose()).rowwise() + b2;
    tensor<float, 2> W1({I, d}), W2({d, I});
    unfactorize(u1, v1, W1);
    unfactorize(u2, v2, W2);
    CHECK(rel(ffn(x, W1, b1, W2, b2), yf) <= 1e-5f);
  }
}

TEST_CASE("hidden_replicate: LayerNorm'd residual stream and its consumer") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const std::size_t d = 12, n = 6, o = 7;
    for (std::size_t k : {2u, 3u}) {
      const auto m = hidden_replicate(d, k * d);
      auto x = random_tensor<float, 2>({n, d}, seed, 2.0);
      auto g = random_tensor<float, 1>({d}, seed + 1);
      auto b = random_tensor<float, 1>({d}, seed + 2);
      auto w = random_tensor<float, 2>({o, d}, seed + 3);
      auto wb = random_tensor<float, 1>({o}, seed + 4);
      tensor<float, 2> xg({n, k * d}), wg({o, k * d});
      tensor<float, 1> gg({k * d}), bg({k * d});
      grow_matrix(axis_map::identity(n), m.fan_out, x, xg);  // the residual stream's units
      grow_vector(m.fan_out, g, gg);
      grow_vector(m.fan_out, b, bg);
      grow_matrix(axis_map::identity(o), m.fan_in, w, wg);  // a consumer of the stream
      const mat h = layer_norm(M(x), V(g), V(b), 1e-12f);
      const mat hg = layer_norm(M(xg), V(gg), V(bg), 1e-12f);
      mat h_rep(n, static_cast<Eigen::Index>(k * d));
      for (std::size_t c = 0; c < k; ++c) h_rep.middleCols(static_cast<Eigen::Index>(c * d), d) = h;
      CHECK(rel(hg, h_rep) <= 1e-5f);
      CHECK(rel(linear(hg, M(wg), V(wb)), linear(h, M(w), V(wb))) <= 1e-5f);
    }
  }
}

TEST_CASE("attention block is preserved by heads_add and heads_duplicate") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const std::size_t A = 3, hd = 4, d = 10, n = 6;
    const std::size_t c = A * hd;
    const mat x = M(random_tensor<float, 2>({n, d}, seed + 50));
    auto wq = random_tensor<float, 2>({c, d}, seed, 0.4);
    auto wk = random_tensor<float, 2>({c, d}, seed + 1, 0.4);
    auto wv = random_tensor<float, 2>({c, d}, seed + 2, 0.4);
    auto wo = random_tensor<float, 2>({d, c}, seed + 3, 0.4);
    auto bq = random_tensor<float, 1>({c}, seed + 4);
    auto bk = random_tensor<float, 1>({c}, seed + 5);
    auto bv = random_tensor<float, 1>({c}, seed + 6);
    const vec bo = V(random_tensor<float, 1>({d}, seed + 7));
    const mat y = attention(x, A, hd, wq, bq, wk, bk, wv, bv, wo, bo);
    for (int dup = 0; dup < 2; ++dup) {
      const std::size_t An = dup ? 7 : 5, cn = An * hd;
      const auto m = dup ? heads_duplicate(A, An, hd) : heads_add(A, An, hd);
      tensor<float, 2> q2({cn, d}), k2({cn, d}), v2({cn, d}), o2({d, cn});
      tensor<float, 1> bq2({cn}), bk2({cn}), bv2({cn});
      std::uint64_t stream = 0;
      for (auto [src, dst, bsrc, bdst] : {std::tuple{&wq, &q2, &bq, &bq2}, std::tuple{&wk, &k2, &bk, &bk2},
                                          std::tuple{&wv, &v2, &bv, &bv2}}) {
        grow_matrix(m.fan_out, axis_map::identity(d), *src, *dst);
        grow_vector(m.fan_out, *bsrc, *bdst);
        fill_fresh(*dst, 0, m.fresh, seed, ++stream, 0.5);
        fill_fresh(*bdst, 0, m.fresh, seed, 10 + stream, 0.5);
      }
      grow_matrix(axis_map::identity(d), m.fan_in, wo, o2);
      CHECK(rel(attention(x, An, hd, q2, bq2, k2, bk2, v2, bv2, o2, bo), y) <= 1e-5f);
    }
  }
}

namespace {
/// A post-LN encoder stack: a = LN_att(x + tanh(x Wa^T + ba) Wo^T + bo); y = LN_out(a + FFN(a)).
/// Parameters are layer-stacked, as grow_layers expects.
struct stack_params {
  tensor<float, 3> wa, wo, w1, w2;
  tensor<float, 2> ba, bo, b1, b2, ga, be_a, go, be_o;
};
mat run_stack(const stack_params& p, const mat& x0) {
  mat x = x0;
  for (std::size_t l = 0; l < p.wa.extent(0); ++l) {
    const mat att = linear(linear(x, M(p.wa, l), V(p.ba, l)).array().tanh().matrix(), M(p.wo, l), V(p.bo, l));
    const mat a = layer_norm(x + att, V(p.ga, l), V(p.be_a, l), 1e-12f);
    const mat f = linear(gelu(linear(a, M(p.w1, l), V(p.b1, l))), M(p.w2, l), V(p.b2, l));
    x = layer_norm(a + f, V(p.go, l), V(p.be_o, l), 1e-12f);
  }
  return x;
}
}  // namespace

TEST_CASE("depth identity insertion with the LayerNorm hand-off preserves a post-LN stack") {
  const std::size_t d = 16, I = 32, n = 5;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    for (auto LLn : {std::pair<std::size_t, std::size_t>{2, 3}, {3, 6}, {2, 7}, {3, 3}}) {
      // Plain variables, not a structured binding: clang 14 (the TSan tree) cannot capture bindings in
      // lambdas such as doctest's CAPTURE.
      const std::size_t L = LLn.first, Ln = LLn.second;
      stack_params p{random_tensor<float, 3>({L, d, d}, seed, 0.3), random_tensor<float, 3>({L, d, d}, seed + 1, 0.3),
                     random_tensor<float, 3>({L, I, d}, seed + 2, 0.3), random_tensor<float, 3>({L, d, I}, seed + 3, 0.3),
                     random_tensor<float, 2>({L, d}, seed + 4), random_tensor<float, 2>({L, d}, seed + 5),
                     random_tensor<float, 2>({L, I}, seed + 6), random_tensor<float, 2>({L, d}, seed + 7),
                     random_tensor<float, 2>({L, d}, seed + 8), random_tensor<float, 2>({L, d}, seed + 9),
                     random_tensor<float, 2>({L, d}, seed + 10), random_tensor<float, 2>({L, d}, seed + 11)};
      const mat x = M(random_tensor<float, 2>({n, d}, seed + 12, 3.0));
      const mat y = run_stack(p, x);
      const auto plan = plan_depth(L, Ln, depth_mode::identity);
      stack_params q{tensor<float, 3>({Ln, d, d}), tensor<float, 3>({Ln, d, d}), tensor<float, 3>({Ln, I, d}),
                     tensor<float, 3>({Ln, d, I}), tensor<float, 2>({Ln, d}), tensor<float, 2>({Ln, d}),
                     tensor<float, 2>({Ln, I}), tensor<float, 2>({Ln, d}), tensor<float, 2>({Ln, d}),
                     tensor<float, 2>({Ln, d}), tensor<float, 2>({Ln, d}), tensor<float, 2>({Ln, d})};
      grow_layers(plan, p.wa, q.wa, false);
      grow_layers(plan, p.ba, q.ba, false);
      grow_layers(plan, p.w1, q.w1, false);
      grow_layers(plan, p.b1, q.b1, false);
      grow_layers(plan, p.wo, q.wo, true);  // residual-branch outputs: zero in inserted layers
      grow_layers(plan, p.bo, q.bo, true);
      grow_layers(plan, p.w2, q.w2, true);
      grow_layers(plan, p.b2, q.b2, true);
      grow_layer_norms(plan, depth_part::attention_ln, p.ga, p.be_a, q.ga, q.be_a);
      grow_layer_norms(plan, depth_part::output_ln, p.go, p.be_o, q.go, q.be_o);
      CAPTURE(L);
      CAPTURE(Ln);
      CHECK(rel(run_stack(q, x), y) <= 1e-5f);
      if (Ln > L) {
        // without the hand-off (inserted layers keep the source layer's LayerNorms) it is not exact
        stack_params z = q;
        grow_layers(plan, p.ga, z.ga, false);
        grow_layers(plan, p.be_a, z.be_a, false);
        grow_layers(plan, p.go, z.go, false);
        grow_layers(plan, p.be_o, z.be_o, false);
        CHECK(rel(run_stack(z, x), y) > 1e-3f);
      }
    }
  }
}
