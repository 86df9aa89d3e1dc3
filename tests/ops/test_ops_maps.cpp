// Every operator's index map and scale, checked against the operator's definition written as plain loops,
// on random shapes with several seeds (float and double; one float16 and one bfloat16 case).
#include <doctest/doctest.h>

#include <growth/ops.hpp>

#include "ops_test_util.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace growth;
using ops_test::random_tensor;

namespace {

std::size_t pick(rng& r, std::size_t lo, std::size_t hi) { return lo + r.below(hi - lo + 1); }

/// Checks an ffn_grow result against src/frac by plain loops (bit-exact: same arithmetic as the spec).
template <class T>
void check_ffn(const std::vector<std::int64_t>& src, const std::vector<double>& frac, std::size_t I, std::size_t d,
               std::uint64_t seed, const unit_map& map) {
  using C = compute_t<T>;
  const std::size_t In = src.size();
  auto w1 = random_tensor<T, 2>({I, d}, seed);
  auto b1 = random_tensor<T, 1>({I}, seed + 1);
  auto w2 = random_tensor<T, 2>({d, I}, seed + 2);
  tensor<T, 2> w1o({In, d});
  tensor<T, 1> b1o({In});
  tensor<T, 2> w2o({d, In});
  ffn_grow(map, w1, b1, w2, w1o, b1o, w2o);
  for (std::size_t j = 0; j < In; ++j) {
    const auto s = static_cast<std::size_t>(src[j]);
    for (std::size_t c = 0; c < d; ++c) REQUIRE(w1o(j, c) == w1(s, c));
    REQUIRE(b1o(j) == b1(s));
    for (std::size_t r = 0; r < d; ++r) REQUIRE(w2o(r, j) == T(static_cast<C>(w2(r, s)) * static_cast<C>(frac[j])));
  }
}

std::vector<double> equal_fracs(std::size_t I, const std::vector<std::int64_t>& src) {
  std::vector<std::size_t> cnt(I, 0);
  for (auto s : src) ++cnt[static_cast<std::size_t>(s)];
  std::vector<double> f;
  for (auto s : src) f.push_back(1.0 / static_cast<double>(cnt[static_cast<std::size_t>(s)]));
  return f;
}

}  // namespace

TEST_CASE("ffn_split split / split_random / split_asym: maps and application") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    rng r(seed, 3);
    const std::size_t I = pick(r, 1, 17), In = pick(r, I, 3 * I + 5), d = pick(r, 1, 9);
    CAPTURE(I);
    CAPTURE(In);
    // split: j < I keeps j, j >= I copies (j - I) mod I, equal split
    std::vector<std::int64_t> rr(In);
    for (std::size_t j = 0; j < In; ++j) rr[j] = static_cast<std::int64_t>(j < I ? j : (j - I) % I);
    const auto m_rr = ffn_split(I, In, ffn_mode::split);
    CHECK(ops_test::sources(m_rr.fan_out) == rr);
    CHECK(ops_test::sources(m_rr.fan_in) == rr);
    for (double w : ops_test::weights(m_rr.fan_out)) CHECK(w == 1.0);
    const auto fr = equal_fracs(I, rr);
    CHECK(ops_test::weights(m_rr.fan_in) == fr);
    check_ffn<float>(rr, fr, I, d, seed, m_rr);
    check_ffn<double>(rr, fr, I, d, seed, m_rr);

    // random: originals kept, the rest uniform old indices, reproducible from the seed
    const auto m_rn = ffn_split(I, In, ffn_mode::split_random, seed);
    const auto rn = ops_test::sources(m_rn.fan_out);
    for (std::size_t j = 0; j < In; ++j) {
      if (j < I) CHECK(rn[j] == static_cast<std::int64_t>(j));
      CHECK((rn[j] >= 0 && rn[j] < static_cast<std::int64_t>(I)));
    }
    CHECK(ops_test::sources(ffn_split(I, In, ffn_mode::split_random, seed).fan_out) == rn);
    CHECK(ops_test::sources(m_rn.fan_in) == rn);
    const auto frn = equal_fracs(I, rn);
    CHECK(ops_test::weights(m_rn.fan_in) == frn);
    check_ffn<float>(rn, frn, I, d, seed + 10, m_rn);

    // asymmetric: round-robin sources, fractions per old neuron sum to 1, bounded away from 0
    const auto m_as = ffn_split(I, In, ffn_mode::split_asym, seed);
    CHECK(ops_test::sources(m_as.fan_out) == rr);
    const auto fa = ops_test::weights(m_as.fan_in);
    std::vector<double> sum(I, 0.0);
    std::vector<std::size_t> cnt(I, 0);
    for (std::size_t j = 0; j < In; ++j) {
      sum[static_cast<std::size_t>(rr[j])] += fa[j];
      ++cnt[static_cast<std::size_t>(rr[j])];
    }
    for (std::size_t i = 0; i < I; ++i) CHECK(sum[i] == doctest::Approx(1.0).epsilon(1e-12));
    for (std::size_t j = 0; j < In; ++j) CHECK(fa[j] >= 1.0 / (3.0 * double(cnt[static_cast<std::size_t>(rr[j])])));
    if (In >= I + 1 && cnt[0] >= 2) CHECK(fa[0] != doctest::Approx(1.0 / double(cnt[0])));
    check_ffn<double>(rr, fa, I, d, seed + 20, m_as);
  }
}

TEST_CASE("ffn_unshare tiles k times and divides fan-in by k") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 5);
    const std::size_t s = pick(r, 1, 12), k = pick(r, 1, 5), d = pick(r, 1, 8);
    const auto m = ffn_unshare(s, k);
    std::vector<std::int64_t> src(s * k);
    for (std::size_t j = 0; j < src.size(); ++j) src[j] = static_cast<std::int64_t>(j % s);
    CHECK(ops_test::sources(m.fan_out) == src);
    CHECK(ops_test::sources(m.fan_in) == src);
    const std::vector<double> fr(src.size(), 1.0 / double(k));
    CHECK(ops_test::weights(m.fan_in) == fr);
    check_ffn<float>(src, fr, s, d, seed, m);
    check_ffn<double>(src, fr, s, d, seed, m);
  }
}

TEST_CASE("float16 and bfloat16: un-share and replicate round once from float") {
  const auto m = ffn_unshare(5, 3);
  check_ffn<float16>(ops_test::sources(m.fan_out), std::vector<double>(15, 1.0 / 3.0), 5, 4, 9, m);
  const auto h = hidden_replicate(6, 12);
  auto emb = random_tensor<bfloat16, 2>({7, 6}, 4);
  tensor<bfloat16, 2> out({7, 12});
  grow_matrix(axis_map::identity(7), h.fan_out, emb, out);
  auto w = random_tensor<bfloat16, 2>({3, 6}, 5);
  tensor<bfloat16, 2> wo({3, 12});
  grow_matrix(axis_map::identity(3), h.fan_in, w, wo);
  for (std::size_t i = 0; i < 7; ++i)
    for (std::size_t j = 0; j < 12; ++j) CHECK(out(i, j) == emb(i, j % 6));
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 12; ++j) CHECK(wo(i, j) == bfloat16(float(w(i, j % 6)) * 0.5f));
}

TEST_CASE("hidden_replicate: j -> j mod d, fan-in 1/k, on rows and columns") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 6);
    const std::size_t d = pick(r, 1, 10), k = pick(r, 1, 4), V = pick(r, 1, 13);
    const auto m = hidden_replicate(d, k * d);
    auto emb = random_tensor<float, 2>({V, d}, seed);
    tensor<float, 2> eo({V, k * d});
    grow_matrix(axis_map::identity(V), m.fan_out, emb, eo);
    auto w = random_tensor<double, 2>({d, d}, seed + 1);  // a (d, d) weight: rows fan_out, columns fan_in
    tensor<double, 2> wo({k * d, k * d});
    grow_matrix(m.fan_out, m.fan_in, w, wo);
    for (std::size_t i = 0; i < V; ++i)
      for (std::size_t j = 0; j < k * d; ++j) REQUIRE(eo(i, j) == emb(i, j % d));
    for (std::size_t i = 0; i < k * d; ++i)
      for (std::size_t j = 0; j < k * d; ++j) REQUIRE(wo(i, j) == w(i % d, j % d) * (1.0 / double(k)));
  }
}

TEST_CASE("hidden_mean_pad: new rows are the mean of the old units, new columns zero") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 7);
    const std::size_t d = pick(r, 1, 9), dn = pick(r, d, 2 * d + 3), n = pick(r, 1, 6);
    const auto m = hidden_mean_pad(d, dn);
    auto x = random_tensor<double, 2>({n, d}, seed);
    tensor<double, 2> xo({n, dn});
    grow_matrix(axis_map::identity(n), m.fan_out, x, xo);
    auto w = random_tensor<float, 2>({3, d}, seed + 2);
    tensor<float, 2> wo({3, dn});
    grow_matrix(axis_map::identity(3), m.fan_in, w, wo);
    for (std::size_t i = 0; i < n; ++i) {
      double mean = 0;
      for (std::size_t j = 0; j < d; ++j) mean += x(i, j);
      mean /= double(d);
      for (std::size_t j = 0; j < dn; ++j) CHECK(xo(i, j) == doctest::Approx(j < d ? x(i, j) : mean).epsilon(1e-12));
    }
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < dn; ++j) CHECK(wo(i, j) == (j < d ? w(i, j) : 0.0f));
    CHECK(mean_pad_gain_scale(d, dn) == doctest::Approx(std::sqrt(double(d) / double(dn))));
  }
}

TEST_CASE("heads_add: old channels kept, new channels fresh rows and zero columns") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 8);
    const std::size_t A = pick(r, 1, 4), An = pick(r, A, 7), hd = pick(r, 1, 5), d = pick(r, 1, 8);
    const auto m = heads_add(A, An, hd);
    auto q = random_tensor<float, 2>({A * hd, d}, seed);
    auto o = random_tensor<float, 2>({d, A * hd}, seed + 1);
    tensor<float, 2> qo({An * hd, d}), oo({d, An * hd});
    grow_matrix(m.fan_out, axis_map::identity(d), q, qo);
    fill_fresh(qo, 0, m.fresh, seed, 3, 0.02);
    grow_matrix(axis_map::identity(d), m.fan_in, o, oo);
    for (std::size_t c = 0; c < An * hd; ++c) {
      CHECK(m.fresh[c] == (c >= A * hd));
      for (std::size_t j = 0; j < d; ++j) {
        if (c < A * hd) {
          REQUIRE(qo(c, j) == q(c, j));
          REQUIRE(oo(j, c) == o(j, c));
        } else {
          REQUIRE(qo(c, j) == float(0.02 * philox_normal(seed, 3, c * d + j)));
          REQUIRE(oo(j, c) == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("heads_duplicate: head h copies h mod A, output columns split among replicas") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 9);
    const std::size_t A = pick(r, 1, 4), An = pick(r, A, 9), hd = pick(r, 1, 5), d = pick(r, 1, 6);
    const auto m = heads_duplicate(A, An, hd);
    std::vector<std::size_t> cnt(A, 0);
    for (std::size_t h = 0; h < An; ++h) ++cnt[h % A];
    auto o = random_tensor<double, 2>({d, A * hd}, seed);
    tensor<double, 2> oo({d, An * hd});
    grow_matrix(axis_map::identity(d), m.fan_in, o, oo);
    for (std::size_t h = 0; h < An; ++h)
      for (std::size_t c = 0; c < hd; ++c) {
        const std::size_t j = h * hd + c, s = (h % A) * hd + c;
        CHECK(ops_test::sources(m.fan_out)[j] == static_cast<std::int64_t>(s));
        for (std::size_t i = 0; i < d; ++i) REQUIRE(oo(i, j) == o(i, s) * (1.0 / double(cnt[h % A])));
      }
  }
}

TEST_CASE("position_grow: tile, interpolate, random") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 10);
    const std::size_t P = pick(r, 1, 9), Pn = pick(r, P, 3 * P + 2), d = pick(r, 1, 5);
    auto tab = random_tensor<double, 2>({P, d}, seed);
    // tile
    const auto t = position_grow(P, Pn, length_mode::tile);
    tensor<double, 2> to({Pn, d});
    grow_matrix(t.fan_out, axis_map::identity(d), tab, to);
    for (std::size_t j = 0; j < Pn; ++j)
      for (std::size_t c = 0; c < d; ++c) REQUIRE(to(j, c) == tab(j % P, c));
    // interpolate: x = j (P-1)/(P'-1), weights (1 - frac, frac)
    const auto ip = position_grow(P, Pn, length_mode::interpolate);
    const auto D = ops_test::dense(ip.fan_out);
    tensor<double, 2> io({Pn, d});
    grow_matrix(ip.fan_out, axis_map::identity(d), tab, io);
    for (std::size_t j = 0; j < Pn; ++j) {
      const double x = Pn == 1 ? 0.0 : double(j) * double(P - 1) / double(Pn - 1);
      const auto i0 = static_cast<std::size_t>(std::floor(x + 1e-12));
      const double f = x - double(i0);
      for (std::size_t i = 0; i < P; ++i) {
        const double want = i == i0 ? 1.0 - f : (i == i0 + 1 ? f : 0.0);
        CHECK(D[j][i] == doctest::Approx(want).epsilon(1e-12));
      }
      for (std::size_t c = 0; c < d; ++c) {
        const double want = (1.0 - f) * tab(i0, c) + (f > 1e-12 ? f * tab(i0 + 1, c) : 0.0);
        CHECK(io(j, c) == doctest::Approx(want).epsilon(1e-12));
      }
    }
    CHECK(ip.fan_out.row_size(0) == 1);
    CHECK(ip.fan_out.row_size(Pn - 1) == 1);
    // random: old rows kept, the rest fresh
    const auto rd = position_grow(P, Pn, length_mode::random);
    for (std::size_t j = 0; j < Pn; ++j) {
      CHECK(rd.fresh[j] == (j >= P));
      CHECK(ops_test::sources(rd.fan_out)[j] == (j < P ? static_cast<std::int64_t>(j) : -1));
    }
  }
}

TEST_CASE("mean_pool and unpool") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    rng r(seed, 11);
    const std::size_t n = pick(r, 1, 20), k = pick(r, 1, 5), d = pick(r, 1, 4);
    std::vector<std::uint8_t> valid(n);
    for (auto& v : valid) v = r.below(4) != 0 ? 1 : 0;
    const bool use_mask = seed % 2 == 0;
    const auto m = use_mask ? mean_pool(n, k, valid) : mean_pool(n, k);
    const std::size_t slots = 1 + (n - 1 + k - 1) / k;
    REQUIRE(m.out_extent() == slots);
    auto x = random_tensor<double, 2>({n, d}, seed);
    tensor<double, 2> y({slots, d});
    apply(tensor_map<2>{{m, axis_map::identity(d)}}, x, y);
    for (std::size_t c = 0; c < d; ++c) CHECK(y(0, c) == x(0, c));
    for (std::size_t s = 1; s < slots; ++s) {
      std::vector<double> sum(d, 0.0);
      std::size_t cnt = 0;
      for (std::size_t t = 1 + (s - 1) * k; t < std::min(n, 1 + s * k); ++t) {
        if (use_mask && !valid[t]) continue;
        ++cnt;
        for (std::size_t c = 0; c < d; ++c) sum[c] += x(t, c);
      }
      for (std::size_t c = 0; c < d; ++c)
        CHECK(y(s, c) == doctest::Approx(cnt ? sum[c] / double(cnt) : 0.0).epsilon(1e-12));
    }
    const auto u = unpool(n, k);
    tensor<double, 2> z({n, d});
    apply(tensor_map<2>{{u, axis_map::identity(d)}}, y, z);
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t c = 0; c < d; ++c) CHECK(z(t, c) == y(t == 0 ? 0 : 1 + (t - 1) / k, c));
  }
}

TEST_CASE("plan_depth: stack, interpolate, identity") {
  const auto st = plan_depth(3, 8, depth_mode::stack);
  CHECK(st.src == std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1});
  CHECK(st.output_ln_src == st.src);
  CHECK(std::none_of(st.inserted.begin(), st.inserted.end(), [](bool b) { return b; }));
  const auto ip = plan_depth(3, 8, depth_mode::interpolate);
  CHECK(ip.src == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1, 2, 2});
  const auto id = plan_depth(3, 6, depth_mode::identity);
  CHECK(id.src == std::vector<std::int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(id.inserted == std::vector<bool>{false, true, false, true, false, true});
  CHECK(id.attention_ln_unit == id.inserted);
  CHECK(id.output_ln_src == std::vector<std::int64_t>{-2, 0, -2, 1, -2, 2});
  const auto id2 = plan_depth(2, 5, depth_mode::identity);  // runs of 1 and 2
  CHECK(id2.src == std::vector<std::int64_t>{0, 0, 1, 1, 1});
  CHECK(id2.output_ln_src == std::vector<std::int64_t>{-2, 0, -2, -2, 1});
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    rng r(seed, 12);
    const std::size_t L = pick(r, 1, 12), Ln = pick(r, L, 3 * L);
    const auto p = plan_depth(L, Ln, depth_mode::identity);
    REQUIRE(p.src.size() == Ln);
    std::vector<std::int64_t> kept;
    std::size_t ins = 0;
    for (std::size_t i = 0; i < Ln; ++i) {
      if (p.inserted[i]) {
        ++ins;
        CHECK(i > 0);
        CHECK(p.src[i] == p.src[i - 1]);  // right after its old layer (or its run)
      } else {
        kept.push_back(p.src[i]);
      }
      // the last layer of each group carries the old layer's output LN, the others are unit
      const bool last = i + 1 == Ln || !p.inserted[i + 1];
      CHECK(p.output_ln_src[i] == (last ? p.src[i] : -2));
    }
    CHECK(ins == Ln - L);
    std::vector<std::int64_t> order(L);
    for (std::size_t l = 0; l < L; ++l) order[l] = static_cast<std::int64_t>(l);
    CHECK(kept == order);
  }
}

TEST_CASE("grow_layers and grow_layer_norms on layer-stacked tensors") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    rng r(seed, 13);
    const std::size_t L = pick(r, 1, 5), Ln = pick(r, L, 2 * L + 1), a = pick(r, 1, 6), b = pick(r, 1, 6);
    for (auto mode : {depth_mode::stack, depth_mode::interpolate, depth_mode::identity}) {
      const auto p = plan_depth(L, Ln, mode);
      auto w = random_tensor<float, 3>({L, a, b}, seed);
      tensor<float, 3> wo({Ln, a, b}), zo({Ln, a, b});
      grow_layers(p, w, wo, false);
      grow_layers(p, w, zo, true);
      for (std::size_t i = 0; i < Ln; ++i)
        for (std::size_t x = 0; x < a; ++x)
          for (std::size_t y = 0; y < b; ++y) {
            REQUIRE(wo(i, x, y) == w(static_cast<std::size_t>(p.src[i]), x, y));
            REQUIRE(zo(i, x, y) == (p.inserted[i] ? 0.0f : w(static_cast<std::size_t>(p.src[i]), x, y)));
          }
      auto g = random_tensor<double, 2>({L, a}, seed + 1);
      auto be = random_tensor<double, 2>({L, a}, seed + 2);
      tensor<double, 2> go({Ln, a}), bo({Ln, a});
      grow_layer_norms(p, depth_part::output_ln, g, be, go, bo);
      for (std::size_t i = 0; i < Ln; ++i)
        for (std::size_t x = 0; x < a; ++x) {
          const auto s = p.output_ln_src[i];
          CHECK(go(i, x) == (s < 0 ? 1.0 : g(static_cast<std::size_t>(s), x)));
          CHECK(bo(i, x) == (s < 0 ? 0.0 : be(static_cast<std::size_t>(s), x)));
        }
    }
  }
}

TEST_CASE("fill_fresh: values depend only on (seed, stream, element index)") {
  tensor<float, 2> all({6, 5}), some({6, 5}, 7.0f);
  fill_fresh(all, 0, std::vector<bool>(6, true), 42, 1, 1.0);
  const std::vector<bool> sel{false, true, true, false, true, false};
  fill_fresh(some, 0, sel, 42, 1, 1.0);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 5; ++j) {
      CHECK(all(i, j) == float(philox_normal(42, 1, i * 5 + j)));
      CHECK(some(i, j) == (sel[i] ? all(i, j) : 7.0f));
    }
  tensor<float, 2> cols({6, 5}, 7.0f);  // along axis 1
  fill_fresh(cols, 1, std::vector<bool>{false, true, false, false, true}, 42, 1, 1.0);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 5; ++j) CHECK(cols(i, j) == ((j == 1 || j == 4) ? all(i, j) : 7.0f));
}

TEST_CASE("depth_source and depth_inserted are plan_depth's layer choice, for every mode") {
  static_assert(depth_source(1, 2, 4, depth_mode::identity) == 0);  // constexpr: the schedule rules use it
  for (std::size_t L = 1; L <= 9; ++L)
    for (std::size_t L2 = L; L2 <= 3 * L + 2; ++L2)
      for (auto mode : {depth_mode::stack, depth_mode::interpolate, depth_mode::identity}) {
        const depth_plan p = plan_depth(L, L2, mode);
        // Reference, written independently: stack i mod L, interpolate floor(i L / L'), identity old layer l
        // followed by a run of floor((l+1) m / L) - floor(l m / L) inserted copies (m = L' - L).
        std::vector<std::size_t> src;
        std::vector<bool> ins;
        if (mode != depth_mode::identity) {
          for (std::size_t i = 0; i < L2; ++i) src.push_back(mode == depth_mode::stack ? i % L : i * L / L2);
          ins.assign(L2, false);
        } else {
          for (std::size_t l = 0; l < L; ++l) {
            src.push_back(l);
            ins.push_back(false);
            for (std::size_t r = 0; r < (l + 1) * (L2 - L) / L - l * (L2 - L) / L; ++r) {
              src.push_back(l);
              ins.push_back(true);
            }
          }
        }
        REQUIRE(src.size() == L2);
        // The plan's LayerNorm hand-off: unit attention LN in inserted layers; unit output LN in a layer
        // followed by an inserted one; the last layer of a run takes its source's output LN.
        for (std::size_t i = 0; i < L2; ++i) {
          CHECK(p.attention_ln_unit[i] == ins[i]);
          const bool next_ins = i + 1 < L2 && ins[i + 1];
          CHECK(p.output_ln_src[i] == (next_ins ? unit_layer_norm : static_cast<std::int64_t>(src[i])));
        }
        for (std::size_t i = 0; i < L2; ++i) {
          CHECK(src[i] == depth_source(i, L, L2, mode));
          CHECK(ins[i] == depth_inserted(i, L, L2, mode));
          CAPTURE(L);
          CAPTURE(L2);
          CAPTURE(i);
          CHECK(static_cast<std::size_t>(p.src[i]) == depth_source(i, L, L2, mode));
          CHECK(p.inserted[i] == depth_inserted(i, L, L2, mode));
        }
      }
}
