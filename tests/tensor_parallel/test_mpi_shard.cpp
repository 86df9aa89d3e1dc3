// The MPI executor (adapters/mpi.hpp) under mpirun: every rank grows its own shard with one Alltoallv of
// the planned slices; each shard must equal the same slices of the unsharded apply bit for bit (every
// rank computes the unsharded reference itself: it is a test), for every operator kind, with random uneven
// layouts, random shapes and seeds. Prints one line on rank 0; exits non-zero on any failure.
#include <growth/adapters/mpi.hpp>

#include <cstdio>
#include <cstring>
#include <exception>

#include "shard_sim.hpp"

namespace {

using namespace tp_test;

struct tally {
  long cases = 0, failed = 0, collectives = 0;
  unsigned long long sent = 0, received = 0, planned = 0;
};

template <class T, std::size_t R>
void check_case(const tensor_map<R>& m, const growth::tensor<T, R>& in, const partition& pin, const partition& pout,
                const std::optional<tp_test::fresh_spec>& fresh, bool expect_no_exchange, tally& t, const char* what) {
  const std::size_t rank = growth::mpi::rank(MPI_COMM_WORLD);
  growth::tensor<T, R> ref(m.out_extents());
  growth::apply(m, in, ref);
  if (fresh) growth::fill_fresh(ref, fresh->axis, fresh->mask, fresh->seed, fresh->stream, fresh->stddev);
  const auto plan = growth::plan_shard(m, pin, pout, rank, what);
  const auto local = tp_test::slice(in, plan.axis, plan.in.begin, plan.in.end);
  growth::tensor<T, R> out(plan.out_extents);
  const auto st = growth::mpi::grow_shard<T, R>(MPI_COMM_WORLD, m, pin, pout, local.view(), out.view(), what);
  if (fresh)
    growth::fill_fresh_shard<T, R>(plan, out.view(), m.out_extents(), fresh->axis, fresh->mask, fresh->seed,
                                   fresh->stream, fresh->stddev, what);
  const auto want = tp_test::slice(ref, plan.axis, plan.out.begin, plan.out.end);
  bool ok = want.size() == out.size() && (out.size() == 0 || std::memcmp(want.data(), out.data(), out.size() * sizeof(T)) == 0);
  ok = ok && st.received_bytes == plan.recv_elements() * sizeof(T) && st.sent_bytes == plan.send_elements() * sizeof(T);
  ok = ok && st.collective == plan.exchange_anywhere;
  if (expect_no_exchange) ok = ok && !st.collective && st.received_bytes == 0;
  ++t.cases;
  if (!ok) {
    ++t.failed;
    std::fprintf(stderr, "rank %zu: FAIL %s (case %ld)\n", rank, what, t.cases);
  }
  t.collectives += st.collective ? 1 : 0;
  t.sent += st.sent_bytes;
  t.received += st.received_bytes;
  t.planned += plan.recv_elements() * sizeof(T);
}

template <class T>
void random_cases(std::size_t P, std::uint64_t seeds, tally& t) {
  for (op o : all_ops) {
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
      growth::rng r(seed * 977 + P, 40 + static_cast<std::uint64_t>(o));
      const unit_map u = make_unit_map(o, r), other = make_unit_map(all_ops[r.below(12)], r);
      const bool any_fresh = std::find(u.fresh.begin(), u.fresh.end(), true) != u.fresh.end();
      {
        tensor_map<2> m{{u.fan_out, other.fan_in}};
        const auto in = tp_test::random_tensor<T, 2>(m.in_extents(), seed);
        const auto [pin, pout] = random_layout(m, P, r);
        std::optional<tp_test::fresh_spec> f;
        if (any_fresh) f = tp_test::fresh_spec{0, u.fresh, seed, 5, 0.02};
        check_case(m, in, pin, pout, f, false, t, "weight (fan_out rows)");
      }
      {
        tensor_map<2> m{{other.fan_out, u.fan_in}};
        const auto in = tp_test::random_tensor<T, 2>(m.in_extents(), seed + 1);
        const auto [pin, pout] = random_layout(m, P, r);
        check_case(m, in, pin, pout, std::nullopt, false, t, "weight (fan_in columns)");
      }
      {
        tensor_map<1> m{{u.fan_out}};
        const auto in = tp_test::random_tensor<T, 1>(m.in_extents(), seed + 2);
        const auto [pin, pout] = random_layout(m, P, r);
        check_case(m, in, pin, pout, std::nullopt, false, t, "vector");
      }
    }
  }
}

/// Rank-aligned FFN splits on W1 (column parallel), W2 (row parallel): no collective at all.
void aligned_cases(std::size_t P, tally& t) {
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    growth::rng r(seed, 300 + P);
    std::vector<std::size_t> old_sizes(P), new_sizes(P);
    for (std::size_t q = 0; q < P; ++q) {
      old_sizes[q] = 1 + r.below(6);
      new_sizes[q] = old_sizes[q] + r.below(7);
    }
    const auto old_p = partition::from_sizes(old_sizes, 0);
    for (auto mode : {growth::ffn_mode::split, growth::ffn_mode::split_random, growth::ffn_mode::split_asym}) {
      const auto g = growth::ffn_split_aligned(old_p, new_sizes, mode, seed);
      tensor_map<2> w1{{g.map.fan_out, axis_map::identity(5)}};
      tensor_map<2> w2{{axis_map::identity(5), g.map.fan_in}};
      check_case(w1, tp_test::random_tensor<float, 2>(w1.in_extents(), seed), old_p, g.out, std::nullopt, true, t,
                 "aligned W1");
      check_case(w2, tp_test::random_tensor<float, 2>(w2.in_extents(), seed), growth::on_axis(old_p, 1),
                 growth::on_axis(g.out, 1), std::nullopt, true, t, "aligned W2");
    }
  }
}

int run() {
  const std::size_t P = growth::mpi::size(MPI_COMM_WORLD), rank = growth::mpi::rank(MPI_COMM_WORLD);
  tally t;
  random_cases<float>(P, 6, t);
  random_cases<double>(P, 2, t);
  aligned_cases(P, t);
  long failed = 0;
  unsigned long long sent = 0, received = 0, planned = 0;
  MPI_Allreduce(&t.failed, &failed, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&t.sent, &sent, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&t.received, &received, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&t.planned, &planned, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  // Every byte sent is received by someone, and what moved is exactly what the plans listed.
  if (sent != received || received != planned) ++failed;
  if (rank == 0)
    std::printf("mpi shard tests: ranks=%zu cases=%ld collectives=%ld bytes moved=%llu failed=%ld %s\n", P, t.cases,
                t.collectives, received, failed, failed == 0 ? "OK" : "FAIL");
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 1;
  try {
    rc = run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test_mpi_shard: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Finalize();
  return rc;
}
