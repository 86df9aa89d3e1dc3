// The progressive trainer on decoder LMs (train/decoder_trainer.hpp): G_stack's depth x4 on a tiny LLaMA
// (loss decreases, growth at the planned step, the stacked model trains on), exact growth (identity layers,
// FFN split, head duplication, grouped kv heads) keeps the validation loss at the growth point for LLaMA
// and GPT-2, and a resumed run repeats the uninterrupted one's rows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <growth/data/vocab_trainer.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/model/decoder_shape.hpp>
#include <growth/train/clm_data.hpp>
#include <growth/train/decoder_trainer.hpp>
#include <growth/train/setup.hpp>

#include "support/scratch_dir.hpp"
#include "threads.hpp"

namespace fs = std::filesystem;
using namespace growth;

namespace {

struct clm_fixture {
  std::vector<std::string> vocab;
  std::unique_ptr<train::clm_data_source> data;
};

/// 16-token blocks of the first 60 kB of the KJV corpus, a 300-piece WordPiece vocabulary.
clm_fixture& clm_data() {
  static clm_fixture f = [] {
    clm_fixture x;
    const std::string text = train::read_corpus(fs::path(GROWTH_SOURCE_DIR) / "data" / "kjv.txt", 60000);
    data::vocab_trainer_options vo;
    vo.vocab_size = 300;
    x.vocab = data::train_wordpiece_vocab(text, vo);
    data::wordpiece_tokenizer tok(x.vocab);
    train::data_options o;
    o.full_seq_len = 16;
    o.max_validation_sequences = 8;
    o.eval_batch_size = 8;
    x.data = std::make_unique<train::clm_data_source>(tok, data::tokenize_corpus(tok, text), o);
    return x;
  }();
  return f;
}

model::decoder_config base_config(bool gpt2) {
  model::decoder_config c;
  if (gpt2) {
    c.family = model::decoder_family::gpt2;
    c.model_type = "gpt2";
    c.hidden_act = "gelu_new";
    c.tie_word_embeddings = true;
    c.norm_eps = 1e-5;
  }
  c.vocab_size = clm_data().vocab.size();
  c.hidden_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = c.num_key_value_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 16;
  c.validate();
  return c;
}

train::decoder_trainer_options options(const model::decoder_config& base, const fs::path& out = {}) {
  train::decoder_trainer_options o;
  o.seed = 5;
  o.lr = 1e-2;
  o.warmup = 3;
  o.eval_every = 10;
  o.base = base;
  o.out_dir = out;
  return o;
}

sched::runtime_schedule two_stages(const model::shape& small, const model::shape& big, const growth::grow_options& enter,
                                   std::size_t steps) {
  sched::runtime_schedule s;
  s.run.vocab_size = clm_data().vocab.size();
  s.run.batch_size = 4;
  s.stages.push_back(sched::stage{.steps = steps, .shape = small});
  s.stages.push_back(sched::stage{.steps = steps, .shape = big, .enter = enter});
  s.validate();
  return s;
}

/// Records the validation loss of the model each stage starts with (on_stage runs after growth, before
/// the stage's first step).
struct stage_probe : train::trainer_observer {
  train::decoder_trainer* t = nullptr;
  std::vector<std::pair<std::size_t, double>> starts;  ///< (global step, validation loss)
  void on_stage(const train::stage_event& e) override {
    (void)e;
    starts.emplace_back(t->step(), t->evaluate());
  }
};

std::vector<train::log_row> without_wall(std::vector<train::log_row> rows) {
  for (auto& r : rows) r.wall_seconds = 0;
  return rows;
}

}  // namespace

TEST_CASE("decoder trainer: G_stack depth x4 on a tiny LLaMA grows at the planned step and trains on") {
  growth_tool::set_threads(1);
  auto& d = clm_data();
  const model::shape small{.layers = 1, .hidden = 16, .heads = 2, .ffn = 32, .seq_len = 16, .max_positions = 16,
                           .kv_heads = 1};
  model::shape big = small;
  big.layers = 4;
  const test::scratch_dir out("decoder_gstack");
  auto base = base_config(false);
  base.num_key_value_heads = 1;
  train::decoder_trainer t(two_stages(small, big, {.depth = growth::depth_mode::stack}, 30), *d.data,
                           options(base, out.path), d.vocab);
  CHECK(t.model().config().num_hidden_layers == 1);
  CHECK(t.model().config().num_key_value_heads == 1);
  const double initial = t.evaluate();
  CHECK(std::abs(initial - std::log(static_cast<double>(d.vocab.size()))) < 0.5);  // an untrained LM is near uniform
  stage_probe probe;
  probe.t = &t;
  const auto r = t.run(&probe);
  CHECK(r.complete);
  CHECK(r.steps == 60);
  REQUIRE(probe.starts.size() == 2);
  CHECK(probe.starts[1].first == 30);  // growth happens after stage 0's 30 steps
  CHECK(t.stage() == 1);
  CHECK(t.model().config().num_hidden_layers == 4);
  // The rows: stage 0 up to step 30, stage 1 after; the shapes name the model; FLOPs per step are each
  // stage's (the 4-layer model costs more per step, the LM head the same).
  REQUIRE(r.rows.size() == 6);
  for (const auto& row : r.rows) CHECK(row.stage == (row.step <= 30 ? 0u : 1u));
  CHECK(r.rows[2].shape == "L1-H16-A2-I32-S16-K1");
  CHECK(r.rows[5].shape == "L4-H16-A2-I32-S16-K1");
  const double f0 = r.rows[1].flops - r.rows[0].flops, f1 = r.rows[5].flops - r.rows[4].flops;
  const auto& run = t.schedule().run;
  CHECK(f0 == doctest::Approx(10 * train::decoder_training_flops_per_step(small, run, true)));
  CHECK(f1 == doctest::Approx(10 * train::decoder_training_flops_per_step(big, run, true)));
  CHECK(f1 > 2 * f0);
  // Training works before and after growth.
  CHECK(r.rows[2].val_loss < initial - 0.5);
  CHECK(r.rows[5].val_loss < r.rows[2].val_loss);
  // Checkpoints: stage-0 before growing, final after; both decoder folders of their stage's shape.
  const auto s0 = io::load_decoder_checkpoint(out.path / "stage-0");
  const auto fin = io::load_decoder_checkpoint(out.path / "final");
  CHECK(s0.config.num_hidden_layers == 1);
  CHECK(fin.config.num_hidden_layers == 4);
  CHECK(fin.config.num_key_value_heads == 1);
  CHECK(fin.opt.has_value());
  CHECK(fin.vocab == d.vocab);
}

TEST_CASE("decoder trainer: exact growth keeps the validation loss at the growth point (llama, gpt2)") {
  growth_tool::set_threads(1);
  auto& d = clm_data();
  for (bool gpt2 : {false, true}) {
    CAPTURE(gpt2);
    const model::shape small{.layers = 1, .hidden = 16, .heads = 2, .ffn = 32, .seq_len = 16, .max_positions = 16};
    // Depth x4 by identity layers, FFN split, heads duplicated at fixed head size (hidden replicated x2).
    const model::shape big{.layers = 4, .hidden = 32, .heads = 4, .ffn = 64, .seq_len = 16, .max_positions = 16};
    const growth::grow_options enter{.depth = growth::depth_mode::identity, .ffn = growth::ffn_mode::split,
                                     .hidden = growth::hidden_mode::replicate, .heads = growth::heads_mode::duplicate};
    train::decoder_trainer t(two_stages(small, big, enter, 20), *d.data, options(base_config(gpt2)), d.vocab);
    stage_probe probe;
    probe.t = &t;
    const auto r = t.run(&probe);
    REQUIRE(probe.starts.size() == 2);
    CHECK(probe.starts[1].first == 20);
    // The row at step 20 is the small model's validation loss; the grown model starts with the same one.
    const auto at20 = std::find_if(r.rows.begin(), r.rows.end(), [](const auto& row) { return row.step == 20; });
    REQUIRE(at20 != r.rows.end());
    CHECK(at20->stage == 0);
    CHECK(probe.starts[1].second == doctest::Approx(at20->val_loss).epsilon(1e-4));
    CHECK(t.model().config().hidden_size == 32);
    CHECK(r.rows.back().val_loss < at20->val_loss);
  }
}

TEST_CASE("decoder trainer: resuming from stage-0 repeats the uninterrupted run's rows") {
  growth_tool::set_threads(1);
  auto& d = clm_data();
  const model::shape small{.layers = 1, .hidden = 16, .heads = 2, .ffn = 32, .seq_len = 16, .max_positions = 16};
  model::shape big = small;
  big.layers = 2;
  const auto sch = two_stages(small, big, {.depth = growth::depth_mode::stack}, 10);
  const test::scratch_dir out("decoder_resume"), out2("decoder_resume2");
  const auto base = base_config(true);
  train::decoder_trainer full(sch, *d.data, options(base, out.path), d.vocab);
  const auto r = full.run();
  const auto info = train::read_resume_info<train::decoder_trainer_options>(out.path / "stage-0");
  CHECK(info.schedule == sch);
  CHECK(info.options.base == base);
  train::decoder_trainer again(info.schedule, *d.data, [&] {
    auto o = info.options;
    o.out_dir = out2.path;
    return o;
  }(), d.vocab);
  again.resume(out.path / "stage-0");
  CHECK(again.step() == 10);
  const auto r2 = again.run();
  CHECK(without_wall(r2.rows) == without_wall(r.rows));
  CHECK(r2.final_val_loss == r.final_val_loss);
}

TEST_CASE("decoder trainer: a plain run learns, and an interrupted run resumed from final repeats it") {
  growth_tool::set_threads(1);
  auto& d = clm_data();
  const model::shape s{.layers = 2, .hidden = 16, .heads = 2, .ffn = 32, .seq_len = 16, .max_positions = 16, .kv_heads = 1};
  sched::runtime_schedule sch;
  sch.run.vocab_size = d.vocab.size();
  sch.run.batch_size = 4;
  sch.stages.push_back(sched::stage{.steps = 30, .shape = s});
  auto base = base_config(false);
  base.num_key_value_heads = 1;
  train::decoder_trainer full(sch, *d.data, options(base), d.vocab);
  const double initial = full.evaluate();
  const auto r = full.run();
  CHECK(r.complete);
  REQUIRE(r.rows.size() == 3);
  CHECK(r.rows.back().val_loss < initial - 0.5);
  CHECK(r.rows[0].shape == "L2-H16-A2-I32-S16-K1");
  // FLOPs per step as the file comment defines them (3 x forward, batch 4).
  CHECK(r.rows[0].flops == doctest::Approx(10 * train::decoder_training_flops_per_step(s, sch.run, true)));

  const test::scratch_dir out("decoder_interrupt"), out2("decoder_interrupt2");
  train::decoder_trainer cut(sch, *d.data, options(base, out.path), d.vocab);
  struct stop_at : train::trainer_observer {
    train::decoder_trainer* t = nullptr;
    bool stop_requested() override { return t->step() >= 17; }
  } stop;
  stop.t = &cut;
  const auto rc = cut.run(&stop);
  CHECK(rc.interrupted);
  CHECK(rc.steps == 17);
  const auto info = train::read_resume_info<train::decoder_trainer_options>(out.path / "final");
  auto o = info.options;
  o.out_dir = out2.path;
  train::decoder_trainer more(info.schedule, *d.data, o, d.vocab);
  more.resume(out.path / "final");
  const auto r2 = more.run();
  CHECK(r2.complete);
  CHECK(without_wall(r2.rows) == without_wall(r.rows));
}

TEST_CASE("decoder shapes: to_decoder_config / shape_of round trip, kv_heads in schedule files") {
  const auto base = base_config(false);
  for (std::size_t kv : {0u, 1u, 2u}) {
    CAPTURE(kv);
    const model::shape s{.layers = 3, .hidden = 32, .heads = 4, .ffn = 48, .seq_len = 16, .max_positions = 64,
                         .kv_heads = kv == 0 ? 0 : kv};
    const auto c = model::to_decoder_config(s, 300, base);
    CHECK(c.num_key_value_heads == (kv == 0 ? 4u : kv));
    CHECK(c.max_position_embeddings == 64);
    CHECK(c.family == base.family);
    CHECK(model::shape_of(c, 16) == s);
    sched::runtime_schedule sch;
    sch.run.vocab_size = 300;
    sch.stages.push_back(sched::stage{.steps = 1, .shape = s});
    const std::string text = io::json(sch).dump();
    CHECK((text.find("kv_heads") != std::string::npos) == (kv != 0));  // BERT-style shapes are written as before
    CHECK(sched::parse_schedule(text) == sch);
  }
  model::shape bad{.layers = 1, .hidden = 32, .heads = 4, .ffn = 48, .seq_len = 16, .kv_heads = 3};
  CHECK_THROWS_WITH_AS((void)model::to_decoder_config(bad, 300, base), doctest::Contains("num_key_value_heads"),
                       growth::error);
  bad.kv_heads = 0;
  bad.pool_size = 2;
  CHECK_THROWS_AS((void)model::to_decoder_config(bad, 300, base), growth::error);
  CHECK_THROWS_WITH_AS((void)train::bert_family::stage_config({.layers = 1, .hidden = 32, .heads = 4, .ffn = 48,
                                                               .seq_len = 16, .kv_heads = 2},
                                                              300, model::bert_config{}),
                       doctest::Contains("kv_heads"), growth::error);
}
