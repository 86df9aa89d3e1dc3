#pragma once
// Simulates P ranks in one process: every rank's plan, its shard of the input, the exchange as a loop over
// the packed send buffers, the local apply and the fresh fill; compares each rank's output with the same
// slices of the unsharded apply (+ fill_fresh) bit for bit.
#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>
#include <growth/core/tensor.hpp>
#include <growth/ops/fill.hpp>
#include <growth/ops/heads.hpp>
#include <growth/ops/length.hpp>
#include <growth/ops/shard.hpp>
#include <growth/ops/width.hpp>

#include <algorithm>

#include <cstring>
#include <optional>
#include <vector>

namespace tp_test {

template <class T, std::size_t R>
growth::tensor<T, R> random_tensor(const std::array<std::size_t, R>& ext, std::uint64_t seed) {
  growth::tensor<T, R> t(ext);
  growth::rng r(seed, 91);
  for (auto& x : t.storage()) x = T(static_cast<growth::compute_t<T>>(r.normal()));
  return t;
}

/// The slices [b, e) of `axis` of t, as a row-major tensor.
template <class T, std::size_t R>
growth::tensor<T, R> slice(const growth::tensor<T, R>& t, std::size_t axis, std::size_t b, std::size_t e) {
  auto ext = t.extents();
  ext[axis] = e - b;
  growth::tensor<T, R> s(ext);
  growth::detail::copy_view<T, R>(growth::detail::slices_of(t.view(), axis, b, e), s.view());
  return s;
}

/// Fresh slices of the output: along `axis`, mask over the whole axis (simulate fills one; `expected`, when
/// given, replaces the unsharded apply as the reference).
struct fresh_spec {
  std::size_t axis = 0;
  std::vector<bool> mask;
  std::uint64_t seed = 7, stream = 3;
  double stddev = 0.02;
};

struct sim_result {
  bool identical = true;
  std::size_t moved = 0, full_out = 0;  // elements received by all ranks, elements of the grown tensor
};

template <class T, std::size_t R>
sim_result simulate(const growth::tensor_map<R>& m, const growth::tensor<T, R>& in, const growth::partition& pin,
                    const growth::partition& pout, const std::optional<fresh_spec>& fresh = std::nullopt,
                    const growth::tensor<T, R>* expected = nullptr) {
  growth::tensor<T, R> ref(m.out_extents());
  if (expected) {
    ref = *expected;
  } else {
    growth::apply(m, in, ref);
    if (fresh) growth::fill_fresh(ref, fresh->axis, fresh->mask, fresh->seed, fresh->stream, fresh->stddev);
  }
  const auto plans = growth::plan_shards(m, pin, pout);
  const std::size_t P = plans.size();
  std::vector<growth::tensor<T, R>> local(P);
  std::vector<std::vector<T>> sendbuf(P);
  std::vector<std::vector<std::size_t>> sendoff(P);
  for (std::size_t r = 0; r < P; ++r) {
    local[r] = slice(in, plans[r].axis, plans[r].in.begin, plans[r].in.end);
    sendoff[r] = growth::pack_sends<T, R>(plans[r], local[r].view(), sendbuf[r]);
  }
  sim_result res;
  res.full_out = ref.size();
  for (std::size_t r = 0; r < P; ++r) {
    std::vector<T> recv;
    for (std::size_t q = 0; q < P; ++q)
      recv.insert(recv.end(), sendbuf[q].begin() + static_cast<std::ptrdiff_t>(sendoff[q][r]),
                  sendbuf[q].begin() + static_cast<std::ptrdiff_t>(sendoff[q][r + 1]));
    res.moved += recv.size();
    growth::tensor<T, R> out(plans[r].out_extents);
    growth::apply_shard<T, R>(plans[r], local[r].view(), recv, out.view());
    if (fresh)
      growth::fill_fresh_shard<T, R>(plans[r], out.view(), m.out_extents(), fresh->axis, fresh->mask, fresh->seed,
                                     fresh->stream, fresh->stddev);
    const auto want = slice(ref, plans[r].axis, plans[r].out.begin, plans[r].out.end);
    if (want.size() != out.size() || (out.size() > 0 && std::memcmp(want.data(), out.data(), out.size() * sizeof(T)) != 0))
      res.identical = false;
  }
  return res;
}

// ---- Random operators and layouts, shared by the simulated and the MPI tests ----
using growth::axis_map;
using growth::partition;
using growth::tensor_map;
using growth::unit_map;

enum class op {
  identity,
  zeros,
  ffn_split,
  ffn_split_random,
  ffn_split_asym,
  hidden_replicate,
  hidden_mean_pad,
  heads_add,
  heads_duplicate,
  pos_tile,
  pos_interpolate,
  pos_random,
};
constexpr op all_ops[] = {op::identity,         op::zeros,           op::ffn_split,  op::ffn_split_random,
                          op::ffn_split_asym,   op::hidden_replicate, op::hidden_mean_pad, op::heads_add,
                          op::heads_duplicate,  op::pos_tile,        op::pos_interpolate, op::pos_random};

/// The unit map of one operator on a dimension of random size (depth is per tensor: identity, or the zeroed
/// residual outputs of an inserted layer).
inline unit_map make_unit_map(op o, growth::rng& r) {
  // Every draw in its own statement: the order of function arguments is unspecified, and the cases must be
  // the same whichever compiler built the test.
  const std::size_t n = 1 + r.below(9);
  const std::size_t grown = n + r.below(2 * n + 1);
  const std::uint64_t seed = r.below(1000);
  const std::size_t hd = 1 + r.below(3), a = 1 + r.below(4);
  const std::size_t a2 = a + r.below(4);
  switch (o) {
    case op::identity: return unit_map::identity(n);
    case op::zeros: return unit_map{axis_map::zeros(n, n), axis_map::zeros(n, n), std::vector<bool>(n, false)};
    case op::ffn_split: return growth::ffn_split(n, grown, growth::ffn_mode::split, seed);
    case op::ffn_split_random: return growth::ffn_split(n, grown, growth::ffn_mode::split_random, seed);
    case op::ffn_split_asym: return growth::ffn_split(n, grown, growth::ffn_mode::split_asym, seed);
    case op::hidden_replicate: return growth::hidden_replicate(n, n * (1 + seed % 3));
    case op::hidden_mean_pad: return growth::hidden_mean_pad(n, n + seed % (n + 1));
    case op::heads_add: return growth::heads_add(a, a2, hd);
    case op::heads_duplicate: return growth::heads_duplicate(a, a2, hd);
    case op::pos_tile: return growth::position_grow(n, grown, growth::length_mode::tile);
    case op::pos_interpolate: return growth::position_grow(n, grown, growth::length_mode::interpolate);
    case op::pos_random: return growth::position_grow(n, grown, growth::length_mode::random);
  }
  return unit_map::identity(n);
}

/// Random contiguous sizes summing to n over P ranks (some may be empty).
inline std::vector<std::size_t> random_sizes(std::size_t n, std::size_t P, growth::rng& r) {
  std::vector<std::size_t> cut{0, n};
  for (std::size_t i = 0; i + 1 < P; ++i) cut.push_back(r.below(n + 1));
  std::sort(cut.begin(), cut.end());
  std::vector<std::size_t> s;
  for (std::size_t i = 0; i + 1 < cut.size(); ++i) s.push_back(cut[i + 1] - cut[i]);
  return s;
}

/// A random layout of a tensor grown by m: split along a random axis (both sides, random uneven sizes), or
/// one or both sides replicated.
template <std::size_t R>
std::pair<partition, partition> random_layout(const tensor_map<R>& m, std::size_t P, growth::rng& r) {
  const std::size_t axis = r.below(R);
  const auto kind = r.below(8);
  const auto split_in = [&] { return partition::from_sizes(random_sizes(m.axes[axis].in_extent(), P, r), axis); };
  const auto split_out = [&] { return partition::from_sizes(random_sizes(m.axes[axis].out_extent(), P, r), axis); };
  if (kind == 0) return {partition::replicated(P), partition::replicated(P)};
  if (kind == 1) return {partition::replicated(P), split_out()};
  if (kind == 2) return {split_in(), partition::replicated(P)};
  return {split_in(), split_out()};
}

}  // namespace tp_test
