// The reference models' fused kernels (reference/kernels.hpp) against their plain definitions: the GELU
// derivative kept by a training forward (and its backward with the bias gradient gathered in the same
// pass), column sums (bias and LayerNorm gradients) in an order that does not depend on the thread count,
// one attention row's softmax with its key mask and dropout, forward and backward, the float exp they
// use (exp_normal_op) against Eigen's, the matrix product's drivers (gemm) and the Q/K/V projections as
// one product (linear_shared_input).
#include <doctest/doctest.h>

#include <growth/reference/kernels.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace growth;
namespace rd = growth::reference::detail;

namespace {

template <class T>
rd::mat<T> random_mat(Eigen::Index r, Eigen::Index c, growth::rng& g, double scale = 2.0) {
  rd::mat<T> m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(scale * (g.uniform() - 0.5));
  return m;
}

template <class T>
bool same_bits(const T* a, const T* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(T)) == 0;
}

// Runs f with the OpenMP thread count set to n (where OpenMP is on), then restores it.
template <class F>
void with_threads([[maybe_unused]] int n, F&& f) {
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(n);
  f();
  omp_set_num_threads(before);
#else
  f();
#endif
}

}  // namespace

TEST_CASE_TEMPLATE("bias_gelu_forward: GELU unchanged by keeping the derivative, which times d is gelu_backward to rounding", T, float, double) {
  growth::rng g(4, 1);
  for (int trial = 0; trial < 6; ++trial) {
    const auto rows = static_cast<Eigen::Index>(1 + g.below(40)), cols = static_cast<Eigen::Index>(1 + g.below(300));
    const rd::mat<T> f0 = random_mat<T>(rows, cols, g, 8.0);
    std::vector<T> bias(static_cast<std::size_t>(cols));
    for (auto& b : bias) b = static_cast<T>(g.uniform() - 0.5);
    rd::mat<T> plain = f0, kept = f0, g_plain(rows, cols), g_kept(rows, cols);
    rd::bias_gelu_forward<T>(plain, bias.data(), g_plain, false);
    rd::bias_gelu_forward<T>(kept, bias.data(), g_kept, true);
    CHECK(same_bits(g_plain.data(), g_kept.data(), static_cast<std::size_t>(g_plain.size())));
    const rd::mat<T> d0 = random_mat<T>(rows, cols, g);
    rd::mat<T> d_plain = d0, d_kept = d0;
    rd::gelu_backward<T>(plain, d_plain);  // plain holds f + b, the pre-activation
    rd::gelu_backward_cached<T>(kept, d_kept);
    // the same expression, evaluated in one pass or in two (rounding, contraction into fma may differ)
    const double eps = std::numeric_limits<T>::epsilon();
    for (Eigen::Index i = 0; i < d0.size(); ++i)
      REQUIRE(std::abs(static_cast<double>(d_kept.data()[i] - d_plain.data()[i])) <=
              8 * eps * (std::abs(static_cast<double>(d_plain.data()[i])) + std::abs(static_cast<double>(d0.data()[i]))));
  }
}

TEST_CASE_TEMPLATE("add_column_sums: the double sums to rounding, the same bits on 1 and 2 threads", T, float, double) {
  growth::rng g(6, 2);
  for (int trial = 0; trial < 8; ++trial) {
    const auto rows = static_cast<Eigen::Index>(1 + g.below(700)), cols = static_cast<Eigen::Index>(1 + g.below(700));
    const rd::mat<T> dy = random_mat<T>(rows, cols, g), x = random_mat<T>(rows, cols, g);
    const bool product = trial % 2 == 1;
    std::vector<T> start(static_cast<std::size_t>(cols));
    for (auto& s : start) s = static_cast<T>(g.uniform());
    std::vector<T> one = start, two = start;
    with_threads(1, [&] { rd::add_column_sums<T>(rd::vmap<T>(one.data(), cols), dy, product ? x.data() : nullptr, cols); });
    with_threads(2, [&] { rd::add_column_sums<T>(rd::vmap<T>(two.data(), cols), dy, product ? x.data() : nullptr, cols); });
    CHECK(same_bits(one.data(), two.data(), one.size()));
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
    for (Eigen::Index j = 0; j < cols; ++j) {
      double want = static_cast<double>(start[static_cast<std::size_t>(j)]), scale = 1;
      for (Eigen::Index r = 0; r < rows; ++r) {
        const double v = static_cast<double>(dy(r, j)) * (product ? static_cast<double>(x(r, j)) : 1.0);
        want += v;
        scale += std::abs(v);
      }
      REQUIRE(std::abs(static_cast<double>(one[static_cast<std::size_t>(j)]) - want) <= tol * scale);
    }
  }
}

TEST_CASE_TEMPLATE("gelu_backward_cached with the bias gradient: the bits of the product then add_column_sums, on 1 and 2 threads", T, float, double) {
  growth::rng g(5, 4);
  for (int trial = 0; trial < 8; ++trial) {
    const auto rows = static_cast<Eigen::Index>(1 + g.below(900)), cols = static_cast<Eigen::Index>(1 + g.below(400));
    const rd::mat<T> kept = random_mat<T>(rows, cols, g), d0 = random_mat<T>(rows, cols, g);
    std::vector<T> start(static_cast<std::size_t>(cols));
    for (auto& v : start) v = static_cast<T>(g.uniform());
    // the two passes, as before the fusion
    rd::mat<T> d_two = d0;
    std::vector<T> db_two = start;
    rd::gelu_backward_cached<T>(kept, d_two);
    rd::add_column_sums<T>(rd::vmap<T>(db_two.data(), cols), d_two);
    for (const int threads : {1, 2}) {
      rd::mat<T> d_one = d0;
      std::vector<T> db_one = start;
      with_threads(threads, [&] { rd::gelu_backward_cached<T>(kept, d_one, db_one.data()); });
      CHECK(same_bits(d_one.data(), d_two.data(), static_cast<std::size_t>(d_two.size())));
      CHECK(same_bits(db_one.data(), db_two.data(), db_two.size()));
    }
  }
}

// gemm's drivers: one thread (gemm_slab), and on several threads either one slab per thread (gemm_slabs,
// when k is C's longest side) or one operand packed once into a shared buffer with the other cut into
// chunks the threads take as they come (gemm_shared: L shared when m >= n, R shared when n > m). Each
// category of shape below reaches one of them on 2 and 3 threads.
TEST_CASE_TEMPLATE("gemm: every driver and transposition to rounding, with accumulate and bias, the same bits on every run of a thread count", T, float,
                   double) {
  growth::rng g(29, 5);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  const auto draw = [&](std::uint64_t lo, std::uint64_t hi) { return static_cast<Eigen::Index>(lo + g.below(hi - lo + 1)); };
  for (int trial = 0; trial < 16; ++trial) {
    Eigen::Index m = 0, n = 0, k = 0;
    switch (trial % 4) {
      case 0: m = draw(200, 900), n = draw(64, 300), k = draw(32, 200); break;   // mostly m >= n: shared L
      case 1: m = draw(20, 150), n = draw(300, 1200), k = draw(48, 300); break;  // n > m: shared R
      case 2: m = draw(40, 200), n = draw(32, 200), k = draw(400, 1500); break;  // k longest: slabs
      default: m = draw(1, 40), n = draw(1, 40), k = draw(1, 60); break;         // small: one thread
    }
    const bool ta = g.below(2) == 1, tb = g.below(2) == 1, accumulate = g.below(2) == 1, with_bias = !accumulate && g.below(2) == 1;
    const rd::mat<T> a = ta ? random_mat<T>(k, m, g) : random_mat<T>(m, k, g);
    const rd::mat<T> b = tb ? random_mat<T>(n, k, g) : random_mat<T>(k, n, g);
    const rd::mat<T> c0 = random_mat<T>(m, n, g);
    std::vector<T> bias(static_cast<std::size_t>(n));
    for (auto& v : bias) v = static_cast<T>(g.uniform() - 0.5);
    const T alpha = static_cast<T>(0.75);
    Eigen::MatrixXd want = (ta ? Eigen::MatrixXd(a.template cast<double>().transpose()) : Eigen::MatrixXd(a.template cast<double>())) *
                           (tb ? Eigen::MatrixXd(b.template cast<double>().transpose()) : Eigen::MatrixXd(b.template cast<double>())) * 0.75;
    if (accumulate) want += c0.template cast<double>();
    if (with_bias) want.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias.data(), n).template cast<double>();
    const double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
    const auto run = [&] {
      rd::mat<T> c = c0;
      const T* bp = with_bias ? bias.data() : nullptr;
      if (!ta && !tb) rd::gemm<T, false, false>(c, a, b, accumulate, alpha, bp);
      if (!ta && tb) rd::gemm<T, false, true>(c, a, b, accumulate, alpha, bp);
      if (ta && !tb) rd::gemm<T, true, false>(c, a, b, accumulate, alpha, bp);
      if (ta && tb) rd::gemm<T, true, true>(c, a, b, accumulate, alpha, bp);
      return c;
    };
    for (const int threads : {1, 2, 3}) {
      CAPTURE(trial);
      CAPTURE(threads);
      with_threads(threads, [&] {
        const rd::mat<T> first = run();
        CHECK((first.template cast<double>() - want).cwiseAbs().maxCoeff() <= tol * scale * static_cast<double>(k + 1));
        for (int again = 0; again < 3; ++again) {
          const rd::mat<T> c = run();
          CHECK(same_bits(c.data(), first.data(), static_cast<std::size_t>(c.size())));
        }
      });
    }
  }
}

TEST_CASE_TEMPLATE("linear_shared_input: x W_p^T + b_p to rounding, the bits of separate products when one block holds the parts", T, float, double) {
  growth::rng g(17, 3);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  for (int trial = 0; trial < 12; ++trial) {
    // Small and large: some shapes keep k in one panel and the parts in one block, some cut both.
    const bool big = trial % 3 == 2;
    const auto m = static_cast<Eigen::Index>(1 + g.below(big ? 700 : 300)), k = static_cast<Eigen::Index>(1 + g.below(big ? 900 : 200));
    std::array<Eigen::Index, 3> n{};
    for (auto& v : n) v = static_cast<Eigen::Index>(1 + g.below(big ? 1100 : 300));
    const rd::mat<T> x = random_mat<T>(m, k, g);
    std::array<rd::mat<T>, 3> w{random_mat<T>(n[0], k, g), random_mat<T>(n[1], k, g), random_mat<T>(n[2], k, g)};
    std::array<std::vector<T>, 3> b;
    const bool with_bias = trial % 2 == 0;
    for (std::size_t p = 0; p < 3; ++p) {
      b[p].resize(static_cast<std::size_t>(n[p]));
      for (auto& v : b[p]) v = static_cast<T>(g.uniform() - 0.5);
    }
    const auto bias = [&](std::size_t p) -> const T* { return with_bias ? b[p].data() : nullptr; };
    // The stacked product's blocking as gemm_slab takes it on one thread.
    Eigen::internal::gemm_blocking_space<Eigen::ColMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false> stacked(
        n[0] + n[1] + n[2], m, k, 1, true);
    const bool one_block = stacked.kc() >= k && stacked.mc() >= n[0] + n[1] + n[2];
    for (const int threads : {1, 2}) {
      std::array<rd::mat<T>, 3> y, sep;
      for (std::size_t p = 0; p < 3; ++p) {
        y[p].resize(m, n[p]);
        sep[p].resize(m, n[p]);
      }
      with_threads(threads, [&] {
        rd::linear_shared_input<T, 3>(x, {w[0].data(), w[1].data(), w[2].data()}, {bias(0), bias(1), bias(2)}, {y[0], y[1], y[2]});
        for (std::size_t p = 0; p < 3; ++p) rd::gemm<T, false, true>(sep[p], x, w[p], false, T(1), bias(p));
      });
      for (std::size_t p = 0; p < 3; ++p) {
        Eigen::MatrixXd want = x.template cast<double>() * w[p].template cast<double>().transpose();
        if (with_bias) want.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b[p].data(), n[p]).template cast<double>();
        const double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
        CHECK((y[p].template cast<double>() - want).cwiseAbs().maxCoeff() <= tol * scale * static_cast<double>(k));
        if (one_block && threads == 1) CHECK(same_bits(y[p].data(), sep[p].data(), static_cast<std::size_t>(y[p].size())));
      }
    }
  }
}

TEST_CASE("softmax_dropout_row and its backward: the definitions, the masks of dropout::keep") {
  growth::rng g(8, 3);
  for (int trial = 0; trial < 10; ++trial) {
    const std::size_t n = 1 + static_cast<std::size_t>(g.below(300));
    const bool on = trial % 3 != 0;
    const rd::dropout<double> drop(0.1 + 0.5 * g.uniform(), g.next_u64(), g.below(9), on);
    const std::uint64_t first = g.next_u64() >> 20;
    std::vector<double> s(n), row(n), dropped(n, -1), key_bias(n, 0.0);
    for (auto& v : s) v = 6 * (g.uniform() - 0.5);
    row = s;
    // Half the trials mask some keys (bias lowest), never all: their probability is below every normal number.
    const bool masked = trial % 2 == 1;
    if (masked)
      for (std::size_t j = 1; j < n; ++j)
        if (g.uniform() < 0.3) key_bias[j] = std::numeric_limits<double>::lowest();
    std::vector<std::uint8_t> mask(n, 9);
    rd::softmax_dropout_row<double>(row.data(), n, drop, first, mask.data(), dropped.data(), masked ? key_bias.data() : nullptr);
    for (std::size_t j = 0; j < n; ++j) {
      if (key_bias[j] != 0) REQUIRE(row[j] < std::numeric_limits<double>::min());  // subnormal or 0 (0 in float)
      s[j] += key_bias[j];
    }
    double mx = s[0], z = 0, total = 0;
    for (double v : s) mx = std::max(mx, v);
    for (double v : s) z += std::exp(v - mx);
    for (std::size_t j = 0; j < n; ++j) {
      if (key_bias[j] == 0) REQUIRE(row[j] == doctest::Approx(std::exp(s[j] - mx) / z).epsilon(1e-13));
      total += row[j];
      if (on) {
        REQUIRE(mask[j] == (drop.keep(first + j) ? 1 : 0));
        REQUIRE(dropped[j] == (mask[j] ? row[j] * drop.scale : 0.0));
      }
    }
    CHECK(total == doctest::Approx(1.0).epsilon(1e-13));
    if (!on) CHECK(mask[0] == 9);  // untouched with dropout off
    // backward: dp = p * (dropout'(dp) - <p, dropout'(dp)>) * scale
    std::vector<double> dp(n), want(n);
    for (auto& v : dp) v = g.uniform() - 0.5;
    std::vector<double> dd = dp;
    if (on)
      for (std::size_t j = 0; j < n; ++j) dd[j] = mask[j] ? dd[j] * drop.scale : 0.0;
    double dot = 0;
    for (std::size_t j = 0; j < n; ++j) dot += row[j] * dd[j];
    const double scale = 0.125;
    rd::softmax_dropout_backward_row<double>(row.data(), dp.data(), n, drop, on ? mask.data() : nullptr, scale);
    for (std::size_t j = 0; j < n; ++j) REQUIRE(dp[j] == doctest::Approx(row[j] * (dd[j] - dot) * scale).epsilon(1e-12));
  }
}

TEST_CASE("exp_normal_op: Eigen's float exp, bit for bit, over [-87.33, 88.37], and 0 below -87.69") {
  using P = Eigen::internal::packet_traits<float>::type;
  const auto eigen_exp = [](float x) { return Eigen::internal::pfirst(Eigen::internal::pexp(Eigen::internal::pset1<P>(x))); };
  const rd::exp_normal_op<float> op;
  // Every 997th bit pattern whose float lies in [-87.33, 88.37] (about 2.2 million: both signs, every binade).
  long checked = 0, differing = 0;
  for (std::uint64_t u = 0; u <= 0xffffffffULL; u += 997) {
    const auto bits = static_cast<std::uint32_t>(u);
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (!(x >= -87.33f && x <= 88.37f)) continue;
    ++checked;
    const float a = eigen_exp(x), b = op(x);
    if (std::memcmp(&a, &b, sizeof a) != 0) ++differing;
  }
  CHECK(checked > 2000000);
  CHECK(differing == 0);
  // Below: at most 2^-126 * exp(0.35) (2^m with m = -126 times the polynomial, which may round to a
  // subnormal), and 0 once m <= -127 (x < -87.69); -inf and lowest give 0.
  for (float x = -87.33f; x > -200.0f; x -= 0.001f) {
    const float b = op(x);
    REQUIRE(b >= 0.0f);
    REQUIRE(b <= 1.2e-38f);
    if (x < -87.69f) REQUIRE(b == 0.0f);
  }
  CHECK(op(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(op(std::numeric_limits<float>::lowest()) == 0.0f);
  CHECK(op(0.0f) == 1.0f);
  // The packet path (a whole row) and the scalar path (a row's tail) give the same bits.
  growth::rng g(3, 1);
  rd::row_vec<float> v(37), w(37);
  for (Eigen::Index j = 0; j < v.size(); ++j) v(j) = static_cast<float>(60 * (g.uniform() - 0.9));
  w.array() = v.array().unaryExpr(op);
  for (Eigen::Index j = 0; j < v.size(); ++j) {
    const float s1 = op(v(j));
    REQUIRE(std::memcmp(&s1, &w(j), sizeof s1) == 0);
  }
}
