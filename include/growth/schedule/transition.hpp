#pragma once
/// @file transition.hpp
/// What happens when a schedule enters a stage: which dimensions change and therefore which of the stage's
/// growth operators (stage::enter) the trainer must apply. An operator whose dimension does not change is
/// not applied. Assumes the two stages passed check_transition (check.hpp).
#include "check.hpp"
#include "stage.hpp"

namespace growth::sched {

struct transition {
  bool depth = false;            ///< layers grow: enter.depth
  bool ffn_split = false;        ///< the full FFN grows: enter.ffn (split, split_random or split_asym)
  bool ffn_unshare = false;      ///< some layer leaves FFN sharing: enter.ffn = unshare
  bool ffn_unfactorize = false;  ///< some layer leaves FFN factorisation: enter.ffn = unfactorize
  bool hidden = false;           ///< hidden grows: enter.hidden
  bool heads = false;            ///< heads grow: enter.heads
  bool positions = false;        ///< the position table grows: enter.length
  bool unpool = false;           ///< pool_size decreases: no parameter changes, the model reads other data
  bool seq_len = false;          ///< the sequence length grows: data only

  /// True when some parameter tensor changes shape or value (so the optimizer policy matters).
  [[nodiscard]] constexpr bool changes_parameters() const {
    return depth || ffn_split || ffn_unshare || ffn_unfactorize || hidden || heads || positions;
  }
  friend constexpr bool operator==(const transition&, const transition&) = default;
};

/// The changes between two consecutive stages. A layer leaves a low-cost FFN when the new stage has fewer
/// low-cost layers after tracing each new layer to its source layer; with the rules of check.hpp that is
/// exactly "the old stage had such layers and some new layer is full while its source was not".
constexpr transition describe_transition(const stage& from, const stage& to) {
  const model::shape& a = from.shape;
  const model::shape& b = to.shape;
  transition t;
  t.depth = b.layers != a.layers;
  t.hidden = b.hidden != a.hidden;
  t.heads = b.heads != a.heads;
  t.positions = positions(b) != positions(a);
  t.unpool = b.pool_size < a.pool_size;
  t.seq_len = b.seq_len != a.seq_len;
  t.ffn_split = b.ffn != a.ffn;
  for (std::size_t l = 0; l < b.layers; ++l) {
    const ffn_state os = layer_state(a, depth_source(l, a.layers, b.layers, to.enter.depth));
    if (layer_state(b, l) != ffn_state::full) continue;
    t.ffn_unshare = t.ffn_unshare || os == ffn_state::shared;
    t.ffn_unfactorize = t.ffn_unfactorize || os == ffn_state::factorized;
  }
  return t;
}

}  // namespace growth::sched
