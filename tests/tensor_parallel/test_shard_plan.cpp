// Shard-local growth (ops/shard.hpp), simulated in one process: every operator kind, P = 2, 3, 4, uneven
// partitions (empty ranks included), random shapes and seeds; each rank's result must equal the same
// slices of the unsharded apply bit for bit.
#include <doctest/doctest.h>

#include <growth/ops/heads.hpp>
#include <growth/ops/length.hpp>
#include <growth/ops/width.hpp>

#include <string>

#include "shard_sim.hpp"

using growth::axis_map;
using growth::partition;
using growth::tensor_map;
using growth::unit_map;

namespace {

using namespace tp_test;

template <class T>
void check_all_ops(std::uint64_t seeds) {
  for (op o : all_ops) {
    for (std::size_t P = 2; P <= 4; ++P) {
      for (std::uint64_t seed = 0; seed < seeds; ++seed) {
        growth::rng r(seed * 131 + P, static_cast<std::uint64_t>(o));
        const unit_map u = make_unit_map(o, r), other = make_unit_map(all_ops[r.below(12)], r);
        const bool any_fresh = std::find(u.fresh.begin(), u.fresh.end(), true) != u.fresh.end();
        CAPTURE(static_cast<int>(o));
        CAPTURE(P);
        CAPTURE(seed);
        // a weight (out x in): this operator's fan_out on the rows, another's fan_in on the columns ...
        {
          tensor_map<2> m{{u.fan_out, other.fan_in}};
          const auto in = tp_test::random_tensor<T, 2>(m.in_extents(), seed);
          const auto [pin, pout] = random_layout(m, P, r);
          std::optional<tp_test::fresh_spec> f;
          if (any_fresh) f = tp_test::fresh_spec{0, u.fresh, seed, 5, 0.02};
          CHECK(tp_test::simulate(m, in, pin, pout, f).identical);
        }
        // ... a consumer: another's fan_out on the rows, this operator's fan_in on the columns ...
        {
          tensor_map<2> m{{other.fan_out, u.fan_in}};
          const auto in = tp_test::random_tensor<T, 2>(m.in_extents(), seed + 1);
          const auto [pin, pout] = random_layout(m, P, r);
          CHECK(tp_test::simulate(m, in, pin, pout).identical);
        }
        // ... and a vector (bias, LayerNorm parameter).
        {
          tensor_map<1> m{{u.fan_out}};
          const auto in = tp_test::random_tensor<T, 1>(m.in_extents(), seed + 2);
          const auto [pin, pout] = random_layout(m, P, r);
          std::optional<tp_test::fresh_spec> f;
          if (any_fresh) f = tp_test::fresh_spec{0, u.fresh, seed, 9, 0.5};
          CHECK(tp_test::simulate(m, in, pin, pout, f).identical);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("sharded apply equals the unsharded apply bit for bit: every operator, P = 2, 3, 4, uneven partitions") {
  check_all_ops<float>(8);
  check_all_ops<double>(3);
}

TEST_CASE("the plan lists exactly the slices a rank reads from its peers") {
  // FFN 4 -> 8 neurons, round robin: new neuron j >= 4 copies j - 4. W1 (8 x 3) rows on 2 ranks, evenly.
  const unit_map u = growth::ffn_split(4, 8, growth::ffn_mode::split);
  tensor_map<2> m{{u.fan_out, axis_map::identity(3)}};
  const auto pin = partition::even(4, 2, 0), pout = partition::even(8, 2, 0);
  const auto p0 = growth::plan_shard(m, pin, pout, 0), p1 = growth::plan_shard(m, pin, pout, 1);
  // rank 0 computes old neurons 0..3 and holds 0..1: it receives 2..3 from rank 1.
  CHECK(p0.recv[1] == std::vector<growth::slice_range>{{2, 4}});
  CHECK(p0.recv[0].empty());
  CHECK(p0.out_local == std::vector<growth::slice_range>{{0, 2}});
  CHECK(p0.out_remote == std::vector<growth::slice_range>{{2, 4}});
  // rank 1 computes new neurons 4..7 = copies of 0..3 and holds 2..3: it receives 0..1 from rank 0.
  CHECK(p1.recv[0] == std::vector<growth::slice_range>{{0, 2}});
  CHECK(p1.out_local == std::vector<growth::slice_range>{{6, 8}});
  CHECK(p0.send[1] == p1.recv[0]);
  CHECK(p1.send[0] == p0.recv[1]);
  CHECK(p0.slice_elements == 3);
  CHECK(p0.recv_elements() == 6);
  CHECK(p0.exchange_anywhere);
}

TEST_CASE("rank-aligned FFN splits and head growth move nothing on Megatron layouts") {
  for (std::size_t P = 2; P <= 4; ++P) {
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
      growth::rng r(seed, 17 + P);
      const std::size_t d = 2 + r.below(5);
      for (auto mode : {growth::ffn_mode::split, growth::ffn_mode::split_random, growth::ffn_mode::split_asym}) {
        std::vector<std::size_t> old_sizes(P), new_sizes(P);
        for (std::size_t q = 0; q < P; ++q) {
          old_sizes[q] = 1 + r.below(5);
          new_sizes[q] = old_sizes[q] + r.below(6);
        }
        const auto old_p = partition::from_sizes(old_sizes, 0);
        const auto g = growth::ffn_split_aligned(old_p, new_sizes, mode, seed);
        // W1 (I x d) column parallel (rows), b1, W2 (d x I) row parallel (columns)
        tensor_map<2> w1{{g.map.fan_out, axis_map::identity(d)}};
        tensor_map<1> b1{{g.map.fan_out}};
        tensor_map<2> w2{{axis_map::identity(d), g.map.fan_in}};
        const auto a = tp_test::simulate(w1, tp_test::random_tensor<float, 2>(w1.in_extents(), seed), old_p, g.out);
        const auto b = tp_test::simulate(b1, tp_test::random_tensor<float, 1>(b1.in_extents(), seed), old_p, g.out);
        const auto c = tp_test::simulate(w2, tp_test::random_tensor<float, 2>(w2.in_extents(), seed),
                                         growth::on_axis(old_p, 1), growth::on_axis(g.out, 1));
        CHECK(a.identical);
        CHECK(b.identical);
        CHECK(c.identical);
        CHECK(a.moved + b.moved + c.moved == 0);
        CHECK_FALSE(growth::plan_shard(w1, old_p, g.out, 0).exchange_anywhere);
        // Exact like ffn_split: the replicas of each old neuron share its column (fractions sum to 1).
        std::vector<double> sum(old_p.extent(), 0.0);
        for (std::size_t j = 0; j < g.map.fan_in.out_extent(); ++j)
          sum[static_cast<std::size_t>(g.map.fan_in.index()[j])] += g.map.fan_in.weight()[j];
        for (double s : sum) CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
      }
      for (auto mode : {growth::heads_mode::add, growth::heads_mode::duplicate}) {
        const std::size_t hd = 1 + r.below(3);
        std::vector<std::size_t> old_heads(P), new_heads(P);
        for (std::size_t q = 0; q < P; ++q) {
          old_heads[q] = 1 + r.below(3);
          new_heads[q] = old_heads[q] + r.below(3);
        }
        const auto heads_p = partition::from_sizes(old_heads, 0);
        const auto g = growth::heads_grow_aligned(heads_p, new_heads, hd, mode);
        const auto old_c = growth::scaled_partition(heads_p, hd);
        tensor_map<2> q{{g.map.fan_out, axis_map::identity(d)}};
        tensor_map<2> o{{axis_map::identity(d), g.map.fan_in}};
        std::optional<tp_test::fresh_spec> f;
        if (mode == growth::heads_mode::add) f = tp_test::fresh_spec{0, g.map.fresh, seed, 2, 0.02};
        const auto a = tp_test::simulate(q, tp_test::random_tensor<double, 2>(q.in_extents(), seed), old_c, g.out, f);
        const auto c = tp_test::simulate(o, tp_test::random_tensor<double, 2>(o.in_extents(), seed),
                                         growth::on_axis(old_c, 1), growth::on_axis(g.out, 1));
        CHECK(a.identical);
        CHECK(c.identical);
        CHECK(a.moved + c.moved == 0);
      }
    }
  }
}

TEST_CASE("Megatron layout: hidden growth, vocabulary-parallel embeddings and replicated tables move nothing") {
  for (std::size_t P = 2; P <= 4; ++P) {
    const unit_map h = growth::hidden_replicate(4, 8), mp = growth::hidden_mean_pad(4, 6);
    const unit_map pos = growth::position_grow(5, 9, growth::length_mode::interpolate);
    // Q (attn x hidden) column parallel: hidden is the whole in axis.
    tensor_map<2> q{{axis_map::identity(6), h.fan_in}};
    growth::rng r(P, 1);
    const auto qp = partition::from_sizes(random_sizes(6, P, r), 0);
    auto a = tp_test::simulate(q, tp_test::random_tensor<float, 2>(q.in_extents(), 1), qp, qp);
    // word embeddings (vocab x hidden), vocabulary parallel, hidden mean-padded
    tensor_map<2> we{{axis_map::identity(11), mp.fan_out}};
    const auto vp = growth::tp_partition(growth::tp_split::vocab_parallel, we.in_extents(), P);
    auto b = tp_test::simulate(we, tp_test::random_tensor<float, 2>(we.in_extents(), 2), vp, vp);
    // position table replicated
    tensor_map<2> pt{{pos.fan_out, h.fan_out}};
    auto c = tp_test::simulate(pt, tp_test::random_tensor<float, 2>(pt.in_extents(), 3), partition::replicated(P),
                               partition::replicated(P));
    CHECK(a.identical);
    CHECK(b.identical);
    CHECK(c.identical);
    CHECK(a.moved + b.moved + c.moved == 0);
  }
}

TEST_CASE("a split input and a replicated output is an all-gather of the referenced slices") {
  const unit_map u = growth::hidden_mean_pad(6, 9);  // new rows average every old row
  tensor_map<1> m{{u.fan_out}};
  const auto r = tp_test::simulate(m, tp_test::random_tensor<double, 1>(m.in_extents(), 4), partition::even(6, 3, 0),
                                   partition::replicated(3));
  CHECK(r.identical);
  CHECK(r.moved == 3 * 4);  // each of 3 ranks receives the 4 old rows it does not hold
}

TEST_CASE("tp_partition follows Megatron: column parallel rows, row parallel columns, row parallel biases replicated") {
  const std::array<std::size_t, 2> w{10, 7};
  const std::array<std::size_t, 1> b{10};
  CHECK(growth::tp_partition(growth::tp_split::column_parallel, w, 3).axis() == 0);
  CHECK(growth::tp_partition(growth::tp_split::row_parallel, w, 3).axis() == 1);
  CHECK(growth::tp_partition(growth::tp_split::row_parallel, b, 3).is_replicated());
  CHECK(growth::tp_partition(growth::tp_split::replicated, w, 3).is_replicated());
  const auto p = growth::tp_partition(growth::tp_split::column_parallel, w, 3);
  CHECK(p.range(0, 10) == std::pair<std::size_t, std::size_t>{0, 4});
  CHECK(p.range(1, 10) == std::pair<std::size_t, std::size_t>{4, 7});
  CHECK(p.range(2, 10) == std::pair<std::size_t, std::size_t>{7, 10});
  CHECK(p.owner(6) == 1);
  const auto e = partition::from_sizes(std::vector<std::size_t>{0, 3, 0, 2}, 0);
  CHECK(e.owner(0) == 1);
  CHECK(e.owner(3) == 3);
}

TEST_CASE("plan_shard rejects layouts that do not fit the map, naming the tensor") {
  tensor_map<2> m{{axis_map::identity(4), axis_map::identity(3)}};
  CHECK_THROWS_WITH_AS(growth::plan_shard(m, partition::even(5, 2, 0), partition::even(4, 2, 0), 0, "w1"),
                       doctest::Contains("w1 input partition extent"), growth::error);
  CHECK_THROWS_WITH_AS(growth::plan_shard(m, partition::even(4, 2, 0), partition::even(3, 2, 1), 0, "w1"),
                       doctest::Contains("w1 output partition axis"), growth::error);
  CHECK_THROWS_WITH_AS(growth::plan_shard(m, partition::even(4, 2, 0), partition::even(4, 3, 0), 0, "w1"),
                       doctest::Contains("w1 output partition ranks"), growth::error);
  CHECK_THROWS_AS(growth::ffn_split_aligned(partition::from_sizes(std::vector<std::size_t>{0, 2}, 0),
                                            std::vector<std::size_t>{1, 2}, growth::ffn_mode::split),
                  growth::error);
}
