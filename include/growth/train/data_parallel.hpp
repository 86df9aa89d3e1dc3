#pragma once
/// @file train/data_parallel.hpp
/// Data-parallel training hooks of the progressive trainer (train/trainer.hpp). P ranks train one model in
/// lockstep: every rank builds the same global batch (a pure function of seed and step), takes its share
/// of consecutive rows (batch_share: uneven when P does not divide the batch), runs forward_backward on it
/// with a reference::batch_slice (the global batch's dropout masks for those rows, the gradient of the
/// share's summed loss over the global target count), then the flat gradient and the (loss sum, target
/// count) pair are summed over the ranks. The summed gradient is the global batch's gradient of its mean
/// loss, so AdamW (with its global gradient-norm clipping) runs on identical inputs on every rank and the
/// parameters stay identical everywhere; growth is a pure function of the state, so every rank grows into
/// the same model at the same step. Rank 0 alone writes checkpoints and the log (is_writer()).
///
/// `data_parallel` is the single-process default: rank 0 of 1, every sum the identity. A communicator is
/// any class with the members of data_parallel_of's requirements (rank, size, sum of float and double
/// spans, any, barrier); growth::mpi::data_parallel_comm (adapters/mpi_train.hpp) is the MPI one. The
/// wrapper keeps MPI out of this layer and the train layer out of the adapter.
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "../model/batch.hpp"

namespace growth::train {

/// A rank's rows of a global batch: [first, first + rows).
struct batch_share {
  std::size_t first = 0, rows = 0;
  friend bool operator==(const batch_share&, const batch_share&) = default;
};

/// Rank r of P takes batch / P rows, the first batch % P ranks one more, in rank order.
inline batch_share share_of(std::size_t batch, std::size_t rank, std::size_t ranks) {
  if (ranks == 0 || rank >= ranks) throw error("data-parallel rank", "a rank below the rank count", std::to_string(rank) + " of " + std::to_string(ranks));
  if (batch < ranks)
    throw error("data-parallel batch_size", "at least the rank count " + std::to_string(ranks) + " (every rank takes one row or more)",
                std::to_string(batch));
  const std::size_t base = batch / ranks, extra = batch % ranks;
  return {.first = rank * base + (rank < extra ? rank : extra), .rows = base + (rank < extra ? 1 : 0)};
}

namespace detail {
/// Rows [s.first, s.first + s.rows) of a batch whose listed fields are B x S row-major vectors, as a batch
/// of its own (the other fields keep their defaults).
template <class Batch, class... Field>
Batch batch_rows_of(const Batch& b, batch_share s, Field... fields) {
  if (s.first + s.rows > b.batch_size)
    throw error("batch share", "rows within the batch's " + std::to_string(b.batch_size),
                std::to_string(s.first) + " + " + std::to_string(s.rows));
  Batch r;
  r.batch_size = s.rows;
  r.seq_len = b.seq_len;
  const auto cut = [&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    const auto lo = v.begin() + static_cast<std::ptrdiff_t>(s.first * b.seq_len);
    return V(lo, lo + static_cast<std::ptrdiff_t>(s.rows * b.seq_len));
  };
  ((r.*fields = cut(b.*fields)), ...);
  return r;
}
}  // namespace detail

/// Rows [first, first + rows) of batch b as a batch of its own.
inline model::mlm_batch batch_rows(const model::mlm_batch& b, batch_share s) {
  using B = model::mlm_batch;
  return detail::batch_rows_of(b, s, &B::input_ids, &B::token_type_ids, &B::attention_mask, &B::labels);
}

/// Rows [first, first + rows) of a causal-LM batch as a batch of its own.
inline model::clm_batch batch_rows(const model::clm_batch& b, batch_share s) {
  using B = model::clm_batch;
  return detail::batch_rows_of(b, s, &B::input_ids, &B::attention_mask, &B::labels);
}

/// The trainer's view of the ranks. The default is one process: every collective is the identity.
class data_parallel {
 public:
  data_parallel() = default;
  data_parallel(const data_parallel&) = default;
  data_parallel& operator=(const data_parallel&) = default;
  virtual ~data_parallel() = default;
  [[nodiscard]] virtual std::size_t rank() const { return 0; }
  [[nodiscard]] virtual std::size_t size() const { return 1; }
  /// Replaces x by its element-wise sum over the ranks, bit-identical on every rank. Collective.
  virtual void sum(std::span<float> /*x*/) {}
  virtual void sum(std::span<double> /*x*/) {}
  /// True on every rank when it is true on any rank (a stop request, a fault). Collective.
  virtual bool any(bool x) { return x; }
  virtual void barrier() {}
  /// Writes checkpoints, the log and console output: rank 0.
  [[nodiscard]] bool is_writer() const { return rank() == 0; }
  [[nodiscard]] batch_share share(std::size_t batch) const { return share_of(batch, rank(), size()); }
};

/// data_parallel over a communicator object `Comm` with the same members (rank(), size(), sum(span<float>),
/// sum(span<double>), any(bool), barrier()); Comm is held by reference and must outlive this.
template <class Comm>
class data_parallel_of final : public data_parallel {
 public:
  explicit data_parallel_of(Comm& c) : c_(&c) {}
  [[nodiscard]] std::size_t rank() const override { return c_->rank(); }
  [[nodiscard]] std::size_t size() const override { return c_->size(); }
  void sum(std::span<float> x) override { c_->sum(x); }
  void sum(std::span<double> x) override { c_->sum(x); }
  bool any(bool x) override { return c_->any(x); }
  void barrier() override { c_->barrier(); }

 private:
  Comm* c_;
};

}  // namespace growth::train
