// How a tensor-parallel (Megatron-style) trainer grows its BERT without gathering any tensor:
//
//   mpirun -np P tensor_parallel_grow          P = 2, 3 or 4 (heads and FFN neurons are split evenly)
//
// Every rank holds its shard of every parameter and of its Adam moments (model/tensor_parallel.hpp says
// which axis each parameter is split along: Q/K/V and FFN-in by rows, attention-output and FFN-out by
// columns, embeddings by vocabulary rows, the rest replicated). At the growth point each rank
//   1. plans the transition for the layout:  tp = model::plan_tp_growth(from, to, options, P)
//   2. allocates its new shards:             model::tp_shard_extents(tp_partition_of(tp, spec, true), ...)
//   3. grows each parameter and its moments: mpi::grow_parameter_shard / mpi::grow_moments_shard
// Step 3 is collective: the ranks exchange exactly the slices the plan lists (with the rank-aligned head and
// FFN maps of plan_tp_growth: none, so no MPI call is made at all) and apply the local maps.
//
// To show that this is growth and not an approximation of it, every rank here also builds the whole small
// model (a real trainer never does) and checks its shards against model::grow_parameter on the whole model,
// bit for bit. It then grows the same shards again with the global-order operators of `growth grow` (new
// heads and neurons after all old ones, so replicas land on other ranks and MPI_Alltoallv moves them),
// checked the same way against model::grow_parameter of that plan, and prints per parameter kind the bytes
// received by all ranks together in both runs and the bytes of the grown tensors (parameters and moments).
#include <growth/adapters/mpi.hpp>
#include <growth/core/random.hpp>
#include <growth/model/grow.hpp>
#include <growth/model/tensor_parallel.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

using namespace growth;

namespace {

/// A whole model's parameters in one buffer per tensor.
struct model_store {
  std::vector<std::vector<float>> data;
  model::parameter_set<float> set;
  explicit model_store(const std::vector<model::param_spec>& specs, std::uint64_t seed = 0, bool random = false) {
    data.reserve(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      data.emplace_back(specs[i].numel(), 0.0f);
      if (random) {
        rng r(seed, 1000 + i);
        for (auto& x : data.back()) x = static_cast<float>(0.3 * r.normal());
      }
      set.add(model::param_view<float>::make(specs[i].name, specs[i].shape, data.back().data()));
    }
  }
};

template <std::size_t R>
std::array<std::size_t, R> extents_of(const std::vector<std::size_t>& shape) {
  std::array<std::size_t, R> e{};
  for (std::size_t a = 0; a < R; ++a) e[a] = shape[a];
  return e;
}

/// This rank's shard of a whole tensor (what a trainer would already hold).
template <std::size_t R>
tensor<float, R> shard_of(const model::param_view<float>& p, const partition& layout, std::size_t rank) {
  const auto v = tensor_view<const float, R>(p.as<R>());
  std::size_t axis = 0, b = 0, e = v.extent(0);
  if (!layout.is_replicated()) {
    axis = layout.axis();
    std::tie(b, e) = layout.range(rank, v.extent(axis));
  }
  tensor<float, R> t(model::tp_shard_extents<R>(layout, p.shape, rank));
  detail::copy_view<float, R>(detail::slices_of(v, axis, b, e), t.view());
  return t;
}

struct row {
  std::string split;
  unsigned long long aligned = 0, global = 0, full = 0;
};

const char* split_name(tp_split s) {
  switch (s) {
    case tp_split::column_parallel: return "column";
    case tp_split::row_parallel: return "row";
    case tp_split::vocab_parallel: return "vocab";
    case tp_split::replicated: return "replicated";
  }
  return "?";
}

/// Grows new parameter i of plan `tp` shard-locally on every rank and checks this rank's shards of the
/// parameter and its moments against the whole-model growth (big, m_big, v_big) with the same plan.
/// Returns the bytes this rank received.
template <std::size_t R>
unsigned long long grow_one(const model::tp_grow_plan& tp, std::size_t i, const model_store& small,
                            const model_store& m_small, const model_store& v_small, const model_store& big,
                            const model_store& m_big, const model_store& v_big, std::size_t rank, bool& same) {
  const auto& spec = tp.plan.new_specs[i];
  const auto g = model::tp_parameter_growth<R>(tp, i);
  // The trainer's shards of the source parameter and its moments (constants read nothing).
  tensor<float, R> src, m_src, v_src;
  if (g.k == model::tp_parameter<R>::kind::mapped) {
    src = shard_of<R>(small.set.at(g.src_name), g.in, rank);
    m_src = shard_of<R>(m_small.set.at(g.src_name), g.in, rank);
    v_src = shard_of<R>(v_small.set.at(g.src_name), g.in, rank);
  }
  const auto ext = model::tp_shard_extents<R>(g.out, spec.shape, rank);
  tensor<float, R> dst(ext), m_dst(ext), v_dst(ext);
  const auto a = mpi::grow_parameter_shard<float, R>(MPI_COMM_WORLD, tp, i, src.view(), dst.view());
  const auto b = mpi::grow_moments_shard<float, R>(MPI_COMM_WORLD, tp, i, m_src.view(), v_src.view(), m_dst.view(),
                                                    v_dst.view());
  const auto equal = [&](const model_store& whole, const tensor<float, R>& shard) {
    const auto want = shard_of<R>(whole.set.at(spec.name), g.out, rank);
    return want.size() == shard.size() && std::memcmp(want.data(), shard.data(), shard.size() * sizeof(float)) == 0;
  };
  same = same && equal(big, dst) && equal(m_big, m_dst) && equal(v_big, v_dst);
  return a.received_bytes + b.received_bytes;
}

/// The whole grown model, its moments, grown on one process with plan p (the reference of the check).
struct whole_growth {
  model_store big, m_big, v_big;
  whole_growth(const model::grow_plan& p, const model_store& small, const model_store& m_small, const model_store& v_small)
      : big(p.new_specs), m_big(p.new_specs), v_big(p.new_specs) {
    const model::moments<float> ms{m_small.set, v_small.set}, md{m_big.set, v_big.set};
    for (std::size_t i = 0; i < p.new_specs.size(); ++i) model::grow_parameter(p, i, small.set, big.set, &ms, &md);
  }
};

int run() {
  const std::size_t P = mpi::size(MPI_COMM_WORLD), rank = mpi::rank(MPI_COMM_WORLD);
  model::bert_config from;
  from.vocab_size = 1000;
  from.hidden_size = 256;
  from.num_hidden_layers = 2;
  from.num_attention_heads = 4;
  from.intermediate_size = 1024;
  from.max_position_embeddings = 128;
  model::bert_config to = from;
  to.hidden_size = 512;
  to.num_hidden_layers = 4;
  to.num_attention_heads = 8;
  to.intermediate_size = 2048;
  to.max_position_embeddings = 256;
  grow_options o;
  o.depth = depth_mode::identity;
  o.hidden = hidden_mode::replicate;
  o.ffn = ffn_mode::split_asym;
  o.heads = heads_mode::add;
  o.length = length_mode::random;
  o.optimizer = optimizer_policy::map;
  o.seed = 7;

  // 1. The plan (the same on every rank: no communication).
  const model::tp_grow_plan tp = model::plan_tp_growth(from, to, o, P);
  model::tp_grow_plan global = tp;  // the same layouts with `growth grow`'s global-order maps, for the table
  global.plan = model::plan_growth(from, to, o);

  // The whole models, for the check only.
  const model_store small(tp.plan.old_specs, 1, true), m_small(tp.plan.old_specs, 2, true);
  model_store v_small(tp.plan.old_specs, 3, true);
  for (auto& v : v_small.data)  // second moments are non-negative
    for (auto& x : v) x = x * x;
  const whole_growth want(tp.plan, small, m_small, v_small), want_global(global.plan, small, m_small, v_small);

  // 2 and 3: every rank grows its shards, parameter by parameter; then the same with the global-order maps,
  // whose replicas live on other ranks (the MPI_Alltoallv path).
  std::map<std::string, row> rows;  // per parameter kind (its key, over all layers)
  bool same = true;
  for (std::size_t i = 0; i < tp.plan.new_specs.size(); ++i) {
    const auto& spec = tp.plan.new_specs[i];
    row& r = rows[spec.key];
    r.split = split_name(model::tp_split_of(spec));
    r.full += 3ULL * spec.numel() * sizeof(float);  // the parameter and its two moments
    if (spec.shape.size() == 1) {
      r.aligned += grow_one<1>(tp, i, small, m_small, v_small, want.big, want.m_big, want.v_big, rank, same);
      r.global += grow_one<1>(global, i, small, m_small, v_small, want_global.big, want_global.m_big, want_global.v_big, rank, same);
    } else {
      r.aligned += grow_one<2>(tp, i, small, m_small, v_small, want.big, want.m_big, want.v_big, rank, same);
      r.global += grow_one<2>(global, i, small, m_small, v_small, want_global.big, want_global.m_big, want_global.v_big, rank, same);
    }
  }
  const int ok = same ? 1 : 0;
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  unsigned long long aligned = 0, global_bytes = 0, full = 0;
  for (auto& [key, r] : rows) {
    unsigned long long sum[2] = {0, 0}, mine[2] = {r.aligned, r.global};
    MPI_Allreduce(mine, sum, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    r.aligned = sum[0];
    r.global = sum[1];
    aligned += r.aligned;
    global_bytes += r.global;
    full += r.full;
  }
  if (rank == 0) {
    std::printf("ranks=%zu  BERT L %zu->%zu H %zu->%zu A %zu->%zu I %zu->%zu P %zu->%zu (parameters + Adam moments, float)\n",
                P, from.num_hidden_layers, to.num_hidden_layers, from.hidden_size, to.hidden_size,
                from.num_attention_heads, to.num_attention_heads, from.intermediate_size, to.intermediate_size,
                from.max_position_embeddings, to.max_position_embeddings);
    std::printf("%-44s %-10s %14s %14s %14s\n", "parameter (all layers)", "split", "moved aligned", "moved global",
                "grown bytes");
    for (const auto& [key, r] : rows)
      std::printf("%-44s %-10s %14llu %14llu %14llu\n", key.c_str(), r.split.c_str(), r.aligned, r.global, r.full);
    std::printf("total: shard-local growth moved %llu bytes (%.2f%% of the grown %llu); global-order operators on the "
                "same layout moved %llu (%.2f%%)\n",
                aligned, 100.0 * static_cast<double>(aligned) / static_cast<double>(full), full, global_bytes,
                100.0 * static_cast<double>(global_bytes) / static_cast<double>(full));
    std::printf("shards equal the unsharded grow bit for bit: %s\n", all_ok ? "yes" : "NO (FAIL)");
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 1;
  try {
    rc = run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensor_parallel_grow: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Finalize();
  return rc;
}
