// growth demo: the main job. Builds a WordPiece vocabulary and MLM data from the KJV corpus, trains the
// full-size target BERT for N steps (the baseline), trains CompoundGrow (depth by stacking, FFN by sharing,
// length by mean embedding pooling) for the same N steps, keeps
// training its last stage until it reaches the baseline's final validation loss (at most 1.5 N steps in
// all), and prints the comparison: losses at equal steps, wall-clock and FLOPs, and the paper's speedups
// (cost_baseline / cost_method - 1). Writes both CSV logs and an SVG figure into --out.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <growth/data/vocab_trainer.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/report/svg_plot.hpp>
#include <growth/schedule/json.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>

#include "command.hpp"

namespace growth_tool::cmd_demo {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct demo_args {
  std::size_t steps = 500, layers = 4, hidden = 128, heads = 2, ffn = 512, seq_len = 128, batch = 16;
  std::size_t vocab = 4000, threads = 2, eval_every = 0, warmup = 0, max_validation = 128, corpus_chars = 0;
  std::uint64_t seed = 0;
  double lr = 1e-3;
  std::string schedule, out = "results", text;
};

/// The default CompoundGrow toward the target (schedule/presets.hpp's order and split): (1) half depth,
/// FFN shared (k = 4), pooling 2, 30% of the steps; (2) stacked to full depth, still low-cost, 40%;
/// (3) FFN un-shared and pooling off: the target BERT, 30%.
growth::sched::runtime_schedule default_compound(const demo_args& a) {
  using namespace growth::sched;
  model_shape full{.layers = a.layers, .hidden = a.hidden, .heads = a.heads, .ffn = a.ffn, .seq_len = a.seq_len};
  const std::size_t k = a.ffn % 4 == 0 ? 4 : (a.ffn % 2 == 0 ? 2 : 1);
  model_shape low = full;
  if (k > 1) {
    low.ffn_share_factor = k;
    low.ffn_shared_every = 1;
  }
  low.pool_size = 2;
  model_shape half = low;
  half.layers = std::max<std::size_t>(1, a.layers / 2);
  runtime_schedule s;
  s.run = run_settings{.vocab_size = a.vocab, .batch_size = a.batch, .masked_per_mille = 150};
  const std::size_t s1 = a.steps * 3 / 10, s2 = a.steps * 4 / 10, s3 = a.steps - s1 - s2;
  if (half.layers < low.layers) {
    s.stages.push_back(stage{.steps = std::max<std::size_t>(1, s1), .shape = half});
    s.stages.push_back(stage{.steps = std::max<std::size_t>(1, s2), .shape = low, .enter = {.depth = depth_op::stack}});
  } else {
    s.stages.push_back(stage{.steps = std::max<std::size_t>(1, s1 + s2), .shape = low});
  }
  s.stages.push_back(stage{.steps = std::max<std::size_t>(1, s3), .shape = full, .enter = {.ffn = k > 1 ? ffn_op::unshare : ffn_op::split}});
  s.validate();
  return s;
}

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f%%", 100.0 * x);
  return b;
}

void run_demo(const demo_args& a) {
  namespace fs = std::filesystem;
  using namespace growth;
  train::set_threads(a.threads);
  train::install_sigint_handler();
  const fs::path out = a.out;
  fs::create_directories(out);
  const std::string text_path = a.text.empty() ? std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt" : a.text;

  // 1. Vocabulary and data.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string text = train::read_corpus(text_path, a.corpus_chars);
  data::vocab_trainer_options vo;
  vo.vocab_size = a.vocab;
  auto vocab = data::train_wordpiece_vocab(text, vo);
  io::write_file_atomic(out / "vocab.txt", [&] {
    std::string s;
    for (const auto& t : vocab) s += t + "\n";
    return s;
  }());
  data::wordpiece_tokenizer tok(vocab);
  const auto stream = train::tokenize_cached(tok, text, out / "cache");
  train::data_options dopt;
  dopt.full_seq_len = a.seq_len;
  dopt.max_validation_sequences = a.max_validation;
  dopt.eval_batch_size = 32;
  train::data_source data(tok, stream, dopt);
  const double prep = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("demo: corpus %s, %zu bytes -> vocabulary %zu pieces, %zu tokens; %zu validation sequences of %zu (%.1fs); %zu threads\n",
              text_path.c_str(), text.size(), vocab.size(), stream.size(), data.validation_sequences(), a.seq_len, prep,
              train::threads_in_use());

  // 2. Baseline: the target model for N steps (a one-stage schedule).
  sched::runtime_schedule base;
  base.run = sched::run_settings{.vocab_size = vocab.size(), .batch_size = a.batch, .masked_per_mille = 150};
  base.stages.push_back(sched::stage{
      .steps = a.steps,
      .shape = {.layers = a.layers, .hidden = a.hidden, .heads = a.heads, .ffn = a.ffn, .seq_len = a.seq_len}});
  base.validate();
  // 3. CompoundGrow for the same N steps.
  sched::runtime_schedule comp = a.schedule.empty() ? default_compound(a) : train::rescale_steps(sched::load_schedule(a.schedule), a.steps);
  comp.run.vocab_size = vocab.size();
  comp.run.batch_size = a.batch;
  comp.validate();
  const auto& last = comp.stages.back().shape;
  if (last.layers != a.layers || last.hidden != a.hidden || last.heads != a.heads || last.ffn != a.ffn || last.seq_len != a.seq_len)
    throw error("compound schedule's last stage", train::shape_name(base.stages[0].shape), train::shape_name(last));

  train::trainer_options to;
  to.seed = a.seed;
  to.lr = a.lr;
  to.warmup = a.warmup ? a.warmup : std::max<std::size_t>(1, a.steps / 20);
  to.eval_every = a.eval_every ? a.eval_every : std::max<std::size_t>(1, a.steps / 20);
  to.base.vocab_size = vocab.size();

  auto tb = to;
  tb.label = "baseline";
  tb.out_dir = out / "checkpoints" / "baseline";
  tb.log_csv = out / "baseline.csv";
  train::progressive_trainer baseline(base, data, tb, vocab);
  const auto rb = baseline.run();
  if (rb.interrupted) return;
  const double target = rb.final_val_loss;

  // 4. CompoundGrow, extended on its last stage until it reaches the baseline's loss (<= 1.5 N steps).
  auto tc = to;
  tc.label = "compound";
  tc.out_dir = out / "checkpoints" / "compound";
  tc.log_csv = out / "compound.csv";
  tc.target_loss = target;
  tc.max_total_steps = a.steps + a.steps / 2;
  train::progressive_trainer compound(comp, data, tc, vocab);
  const auto rc = compound.run();
  if (rc.interrupted) return;

  // 5. Comparison.
  const train::log_row* at_n = nullptr;
  const train::log_row* hit = nullptr;
  for (const auto& r : rc.rows) {
    if (r.step == a.steps) at_n = &r;
    if (!hit && r.val_loss <= target) hit = &r;
  }
  if (!at_n) throw error("compound log", "a row at step " + std::to_string(a.steps), "none");
  const auto& bn = rb.rows.back();
  std::printf("\n%-34s %12s %12s\n", "", "baseline", "compound");
  std::printf("%-34s %12.4f %12.4f\n", "validation loss at equal steps", bn.val_loss, at_n->val_loss);
  std::printf("%-34s %12zu %12zu\n", "steps", bn.step, at_n->step);
  std::printf("%-34s %12.1f %12.1f\n", "training wall-clock (s)", bn.wall_seconds, at_n->wall_seconds);
  std::printf("%-34s %12.3e %12.3e\n", "training FLOPs", bn.flops, at_n->flops);
  if (hit) {
    std::printf("%-34s %12s %12zu\n", "steps to baseline's final loss", "", hit->step);
    std::printf("%-34s %12s %12.1f\n", "wall-clock to baseline's loss (s)", "", hit->wall_seconds);
    std::printf("%-34s %12s %12.3e\n", "FLOPs to baseline's loss", "", hit->flops);
  } else {
    std::printf("compound did not reach the baseline's final loss %.4f within %zu steps (best %.4f)\n", target,
                tc.max_total_steps, rc.rows.back().val_loss);
  }
  const double sw = bn.wall_seconds / at_n->wall_seconds - 1, sf = bn.flops / at_n->flops - 1;
  std::printf("%-34s %12s %12s\n", "speedup at equal steps (wall)", "", pct(sw).c_str());
  std::printf("%-34s %12s %12s\n", "speedup at equal steps (FLOPs)", "", pct(sf).c_str());
  std::string tw = "none", tf = "none";
  if (hit) {
    tw = pct(bn.wall_seconds / hit->wall_seconds - 1);
    tf = pct(bn.flops / hit->flops - 1);
    std::printf("%-34s %12s %12s\n", "speedup to baseline's loss (wall)", "", tw.c_str());
    std::printf("%-34s %12s %12s\n", "speedup to baseline's loss (FLOPs)", "", tf.c_str());
  }
  const auto pred = comp.cost();
  std::printf("schedule cost model: predicted FLOPs speedup at equal steps %s\n",
              pct(pred.speedup()).c_str());

  // 7. Figure.
  report::series sb{"baseline", {}, {}}, sc{"CompoundGrow", {}, {}}, fb = sb, fc = sc;
  for (const auto& r : rb.rows) {
    sb.x.push_back(r.wall_seconds); sb.y.push_back(r.val_loss);
    fb.x.push_back(r.flops); fb.y.push_back(r.val_loss);
  }
  for (const auto& r : rc.rows) {
    sc.x.push_back(r.wall_seconds); sc.y.push_back(r.val_loss);
    fc.x.push_back(r.flops); fc.y.push_back(r.val_loss);
  }
  std::vector<report::panel> panels{{"validation loss vs wall-clock", "training seconds", "validation MLM loss", {sb, sc}},
                                    {"validation loss vs FLOPs", "training FLOPs", "validation MLM loss", {fb, fc}}};
  io::write_file_atomic(out / "curves.svg", report::render_svg(panels, "CompoundGrow vs baseline (" +
                                                                           train::shape_name(base.stages[0].shape) + ")"));
  char line[512];
  std::snprintf(line, sizeof line,
                "summary baseline_loss=%.4f compound_loss=%.4f speedup_wall_equal_steps=%s speedup_flops_equal_steps=%s "
                "speedup_wall_to_target=%s speedup_flops_to_target=%s",
                bn.val_loss, at_n->val_loss, pct(sw).c_str(), pct(sf).c_str(), tw.c_str(), tf.c_str());
  io::write_file_atomic(out / "summary.txt", std::string(line) + "\n");
  std::printf("results: %s/{baseline.csv,compound.csv,curves.svg,summary.txt}\n", out.c_str());
  std::printf("%s\n", line);
  std::fflush(stdout);
}

growth_tool::registrar reg{"demo", [](CLI::App& app) {
  auto a = std::make_shared<demo_args>();
  auto* sub = app.add_subcommand("demo", "Baseline vs CompoundGrow on the KJV corpus with the reference BERT");
  sub->add_option("--steps", a->steps, "training steps N of each run")->capture_default_str();
  sub->add_option("--layers", a->layers, "target layers")->capture_default_str();
  sub->add_option("--hidden", a->hidden, "target hidden size")->capture_default_str();
  sub->add_option("--heads", a->heads, "target attention heads")->capture_default_str();
  sub->add_option("--ffn", a->ffn, "target FFN size")->capture_default_str();
  sub->add_option("--seq-len", a->seq_len, "target sequence length")->capture_default_str();
  sub->add_option("--batch", a->batch, "sequences per step")->capture_default_str();
  sub->add_option("--vocab", a->vocab, "WordPiece vocabulary size")->capture_default_str();
  sub->add_option("--lr", a->lr, "peak learning rate")->capture_default_str();
  sub->add_option("--warmup", a->warmup, "warmup steps per stage (0 = N/20)")->capture_default_str();
  sub->add_option("--eval-every", a->eval_every, "steps between validation rows (0 = N/20)")->capture_default_str();
  sub->add_option("--max-validation", a->max_validation, "validation sequences used (0 = all)")->capture_default_str();
  sub->add_option("--schedule", a->schedule, "CompoundGrow schedule file (its steps are rescaled to N)");
  sub->add_option("--text", a->text, "corpus (default: data/kjv.txt of the source tree)");
  sub->add_option("--corpus-chars", a->corpus_chars, "use only the first N bytes of the corpus (0 = all)");
  sub->add_option("--out", a->out, "results folder")->capture_default_str();
  sub->add_option("--seed", a->seed, "seed")->capture_default_str();
  sub->add_option("--threads", a->threads, "threads (results are deterministic per thread count)")->capture_default_str();
  sub->callback([a] { run_demo(*a); });
}};

}  // namespace growth_tool::cmd_demo
