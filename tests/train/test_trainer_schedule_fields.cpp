// Schedule fields the trainer used to accept and then ignore or refuse late: `enter.ffn: split_random`
// (validated, then refused by the trainer's old translation into model options after the first stage had
// trained; the schedule now holds growth::grow_options itself) and `masked_per_mille`
// (it changed only the FLOP count: masking was always 15%).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <growth/data/vocab_trainer.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>

#include "threads.hpp"  // tools/threads.hpp: the thread count
#include "train_fixture.hpp"

namespace fs = std::filesystem;
using namespace growth;

namespace {

/// Vocabulary and data over the first 60 kB of the KJV, built once.
growth_test::corpus_fixture& data_60k() { return growth_test::corpus_data(60000, 200); }

train::trainer_options quiet_options(std::uint64_t seed = 3) {
  train::trainer_options o;
  o.seed = seed;
  o.lr = 2e-3;
  o.eval_every = 0;
  return o;
}

std::size_t targets(const model::mlm_batch& b) {
  std::size_t n = 0;
  for (auto l : b.labels) n += l != -100;
  return n;
}

}  // namespace

TEST_CASE("schedule with enter.ffn split_random trains through its growth") {
  growth_tool::set_threads(1);
  auto& d = data_60k();
  sched::runtime_schedule s;
  s.run = sched::run_settings{.vocab_size = d.vocab.size(), .batch_size = 4, .masked_per_mille = 150};
  const model::shape small{.layers = 1, .hidden = 16, .heads = 2, .ffn = 24, .seq_len = 32};
  model::shape big = small;
  big.ffn = 40;  // not a multiple: every old neuron gets 1 or 2 seeded replicas
  s.stages.push_back(sched::stage{.steps = 3, .shape = small});
  s.stages.push_back(sched::stage{.steps = 3, .shape = big, .enter = {.ffn = growth::ffn_mode::split_random, .seed = 11}});
  s.validate();
  // Round trip through the JSON form, as `growth train --schedule` reads it.
  const auto parsed = sched::parse_schedule(growth::io::json(s).dump(2));
  CHECK(parsed.stages[1].enter.ffn == growth::ffn_mode::split_random);
  static_assert(std::is_same_v<growth::grow_options, growth::grow_options>);  // no translation to refuse it
  train::progressive_trainer t(parsed, *d.data, quiet_options(), d.vocab);
  const auto r = t.run(nullptr);
  CHECK(r.complete);
  CHECK(r.steps == 6);
  CHECK(t.stage() == 1);
  CHECK(t.model().config().intermediate_size == 40);
  for (const auto& row : r.rows) CHECK(std::isfinite(row.val_loss));
}

TEST_CASE("masked_per_mille sets the masking rate of training and validation batches") {
  auto& d = data_60k();
  // The default is 150 and bit-identical to BERT's 0.15.
  CHECK(train::masking_of(150).mask_prob == 0.15);
  const auto b_default = d.data->train_batch(5, 2, 32, 8);
  const auto b150 = d.data->train_batch(5, 2, 32, 8, 150);
  CHECK(b_default.labels == b150.labels);
  CHECK(b_default.input_ids == b150.input_ids);
  // The number of targets follows the field (same sequences, same random stream: 300 selects a superset).
  std::size_t t150 = 0, t300 = 0, t50 = 0;
  for (std::size_t step = 0; step < 8; ++step) {
    t150 += targets(d.data->train_batch(5, step, 32, 8, 150));
    t300 += targets(d.data->train_batch(5, step, 32, 8, 300));
    t50 += targets(d.data->train_batch(5, step, 32, 8, 50));
  }
  const double tokens = 8.0 * 8.0 * 30.0;  // maskable positions: 8 steps x 8 rows x (32 - [CLS] - [SEP])
  CHECK(static_cast<double>(t150) / tokens == doctest::Approx(0.15).epsilon(0.25));
  CHECK(static_cast<double>(t300) / tokens == doctest::Approx(0.30).epsilon(0.2));
  CHECK(static_cast<double>(t50) / tokens == doctest::Approx(0.05).epsilon(0.4));
  CHECK(t50 < t150);
  CHECK(t150 < t300);
  std::size_t v150 = 0, v300 = 0;
  for (const auto& b : d.data->validation_batches(150)) v150 += targets(b);
  for (const auto& b : d.data->validation_batches(300)) v300 += targets(b);
  CHECK(v300 > v150 + v150 / 2);
  std::size_t vdef = 0;
  for (const auto& b : d.data->validation_batches()) vdef += targets(b);
  CHECK(vdef == v150);
  // Out of range: refused with the field's name.
  CHECK_THROWS_WITH_AS(train::masking_of(1000), doctest::Contains("masked_per_mille"), growth::error);
  CHECK_THROWS_WITH_AS(train::masking_of(0), doctest::Contains("masked_per_mille"), growth::error);
}

TEST_CASE("the trainer masks at the schedule's masked_per_mille") {
  growth_tool::set_threads(1);
  auto& d = data_60k();
  auto run_with = [&](std::size_t per_mille) {
    sched::runtime_schedule s;
    s.run = sched::run_settings{.vocab_size = d.vocab.size(), .batch_size = 4, .masked_per_mille = per_mille};
    s.stages.push_back(sched::stage{.steps = 2, .shape = {.layers = 1, .hidden = 16, .heads = 2, .ffn = 24, .seq_len = 32}});
    s.validate();
    train::progressive_trainer t(s, *d.data, quiet_options(), d.vocab);
    return t.run(nullptr).rows.back();
  };
  const auto a = run_with(150), b = run_with(400);
  // Other targets (validation) and other training batches: other losses; the FLOP counts differ too.
  CHECK(a.val_loss != b.val_loss);
  CHECK(a.train_loss != b.train_loss);
  CHECK(a.flops < b.flops);
}

TEST_CASE("schedule validator: masked_per_mille in [1, 999]") {
  auto schedule_text = [](std::size_t per_mille) {
    return "{\"vocab_size\": 100, \"batch_size\": 4, \"masked_per_mille\": " + std::to_string(per_mille) +
           ", \"stages\": [{\"steps\": 1, \"shape\": {\"layers\": 1, \"hidden\": 8, \"heads\": 2, \"ffn\": 8, "
           "\"seq_len\": 8}}]}";
  };
  CHECK_NOTHROW(sched::parse_schedule(schedule_text(1)));
  CHECK_NOTHROW(sched::parse_schedule(schedule_text(999)));
  CHECK_THROWS_WITH_AS(sched::parse_schedule(schedule_text(1000)), doctest::Contains("masked_per_mille"), growth::error);
  CHECK_THROWS_WITH_AS(sched::parse_schedule(schedule_text(0)), doctest::Contains("masked_per_mille"), growth::error);
}
