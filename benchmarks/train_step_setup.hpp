#pragma once
// The training step that bench_train_step times and profile_train_step runs under perf: the reference
// BERT L=4, H=256, A=4, I=1024, V=8192 (5.46 M parameters), seq 128, batch 16, 15% MLM targets,
// dropout 0.1, float, AdamW with clipping.
#include <cstddef>
#include <cstdint>
#include <growth/core/random.hpp>
#include <growth/model/batch.hpp>
#include <growth/model/bert_config.hpp>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>

#include "../tests/support/configs.hpp"

namespace growth::bench {

inline growth::model::bert_config train_step_config() {
  return growth::test::tiny_bert(
      {.vocab = 8192, .hidden = 256, .layers = 4, .heads = 4, .intermediate = 1024, .positions = 512});
}

inline constexpr std::size_t train_step_batch_size = 16, train_step_seq = 128;

inline growth::model::mlm_batch train_step_batch(const growth::model::bert_config& c) {
  growth::model::mlm_batch b(train_step_batch_size, train_step_seq);
  growth::rng r(1, 2);
  for (std::size_t i = 0; i < b.tokens(); ++i) {
    b.input_ids[i] = static_cast<std::int32_t>(1 + r.below(c.vocab_size - 1));
    if (r.uniform() < 0.15) b.labels[i] = static_cast<std::int32_t>(r.below(c.vocab_size));
  }
  return b;
}

/// The model, its optimizer and the batch, after one warm-up step (which allocates the workspace).
struct train_step_fixture {
  growth::model::bert_config config = train_step_config();
  growth::model::mlm_batch batch = train_step_batch(config);
  growth::reference::bert<float> model{config};
  growth::reference::adamw<float> optimizer{config, {}};
  std::uint64_t steps = 0;

  train_step_fixture() {
    model.init(1);
    step();
  }
  /// One training step (forward, backward, AdamW at lr 1e-4); returns the loss.
  double step() {
    const auto r = model.forward_backward(batch, ++steps);
    optimizer.step(model.flat_params(), model.flat_grads(), 1e-4);
    return r.loss;
  }
};

}  // namespace growth::bench
