#pragma once
/// @file train/trainer.hpp
/// The progressive trainer: runs a run-time growth schedule (sched::runtime_schedule) on a reference model:
/// basic_progressive_trainer<Family>, where the family says which model, data, growth and checkpoints
/// (progressive_trainer = the BERT family, masked LM; train/decoder_trainer.hpp's decoder_trainer = the
/// decoder LMs, causal LM; what follows says BERT, and holds for decoders with next-token loss instead of
/// masked targets and no low-cost variants). Each stage trains its model shape for its steps; at a stage
/// boundary the model grows into the next stage's shape with the stage's `enter` operators
/// (growth::model::grow: parameters and AdamW moments by the optimizer policy), the learning rate restarts
/// its warmup or continues the global schedule, and training goes on. A plain run is a one-stage schedule:
/// there is one code path.
///
/// Length operator. A pooled stage (pool_size k > 1) trains reference::bert's mean embedding pooling
/// (reference/pooling.hpp, paper-notes.md 2.3(b)): the model reads the full-length batch, pools unmasked
/// tokens k:1 after the embeddings and predicts the masked targets at full resolution. FLOPs are the
/// schedule cost model's pooled count (equal to reference::training_flops_per_token). A data-truncation
/// stage is a stage with a shorter seq_len and pool_size 1.
///
/// Validation. The same full-length, fixed-mask validation set (train/data.hpp) at every eval interval,
/// whatever the stage: a truncated stage's model is evaluated directly on full-length sequences (its
/// position table is full size); a pooled stage is evaluated with pooling switched off, i.e. its weights
/// run with pool size 1 (reference::bert::evaluate's pool_size; pooling has no parameters and growing out
/// of it copies them 1:1, so this is exactly the model the next stage starts from); a shared-FFN or
/// shallower model is evaluated as it is. Dropout is off in evaluation.
///
/// Learning rate: schedule/learning_rate.hpp. One curve family (`lr_schedule`: linear, cosine, wsd) with
/// `warmup` steps to `lr` and a floor lr * min_lr_ratio; each stage's `enter.lr` says what happens at growth:
/// restart_warmup starts a fresh curve over the stages up to the next restart (the reference code's
/// per-stage schedule), continue_schedule keeps the global curve, rewarm ramps the global curve up over
/// enter.rewarm_steps. Past the schedule's end (the demo's extension) the floor holds.
///
/// Log. One row per eval interval (every eval_every global steps), at the end of each stage and at the end:
/// step, stage, shape (e.g. L4-H128-A2-I512-S128), tokens, cumulative training FLOPs (sched cost model of
/// the trained shape, equal to reference::training_flops_per_token), wall seconds of training (growth
/// included; evaluation and checkpoint writing excluded), train loss (mean over the interval), validation loss.
///
/// Checkpoints (io/checkpoint.hpp HF folders with optimizer state and trainer_state.json) in out_dir:
/// stage-<i> after stage i's last step (before growing), final at the end or when interrupted. The
/// trainer state holds the step counters, FLOPs and wall time so far, the interval's loss accumulators
/// (bit-exact), the log rows, the schedule and the options. Resuming from any of them gives the same rows
/// (wall time aside) as an uninterrupted run: batches, masks and dropout seeds are pure functions of
/// (seed, global step), parameters and moments are stored exactly (float32), and growth at a boundary is
/// a pure function of the stage-<i> state. Deterministic for a given seed and thread count (Eigen's
/// parallel GEMM splits work by thread count).
///
/// Observer and interruption: run() prints nothing; it reports stage starts, log rows, automatic growths,
/// every step and the end to a trainer_observer, and polls its stop_requested() after every step. When that
/// returns true the trainer finishes the current step, writes `final` and returns with interrupted = true.
/// The tool's observer (tools/progress.hpp) prints the progress and stops on SIGINT, SIGTERM and SIGHUP.
///
/// Periodic checkpoints: with save_every = N > 0, the folder `last` is replaced (atomically, as every
/// checkpoint) after every N-th global step, so a SIGKILL or power cut loses at most N steps; resuming
/// from it continues bit for bit like stage-<i> and final.
///
/// Data-parallel: set_data_parallel (train/data_parallel.hpp) trains each global batch as P ranks' shares
/// with summed gradients; rank 0 alone writes checkpoints and the log, and trainer_state.json records the
/// rank count ("ranks"). The state does not depend on P, so a checkpoint resumes at any P.
///
/// Divergence: a non-finite training loss or gradient norm is a growth::error naming the step; the
/// diverged state is not written as a checkpoint (the ones already written are kept).
#include <algorithm>
#include <charconv>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../io/atomic_file.hpp"
#include "../io/checkpoint.hpp"
#include "../io/json.hpp"
#include "../io/schedule_json.hpp"
#include "../model/grow.hpp"
#include "../reference/adamw.hpp"
#include "../reference/bert.hpp"
#include "../schedule/cost.hpp"
#include "../schedule/learning_rate.hpp"
#include "../schedule/schedule.hpp"
#include "data.hpp"
#include "data_parallel.hpp"
#include "growth_trigger.hpp"

namespace growth::train {

// ------------------------------------------------------------------------------------------------------------
// Shapes.

/// "L4-H128-A2-I512-S128", with "-share<k>" / "-rank<r>" for low-cost FFNs ("-K<k>": a decoder's k grouped
/// key/value heads).
inline std::string shape_name(const model::shape& s) {
  std::string r = "L" + std::to_string(s.layers) + "-H" + std::to_string(s.hidden) + "-A" + std::to_string(s.heads) +
                  "-I" + std::to_string(s.ffn) + "-S" + std::to_string(s.seq_len);
  if (s.ffn_shared_every > 0) r += "-share" + std::to_string(s.ffn_share_factor);
  if (s.ffn_factorized_every > 0) r += "-rank" + std::to_string(s.ffn_rank);
  if (s.pool_size > 1) r += "-pool" + std::to_string(s.pool_size);
  if (s.kv_heads != 0 && s.kv_heads != s.heads) r += "-K" + std::to_string(s.kv_heads);  // decoders: grouped kv heads
  return r;
}

/// The BERT config of a trained shape; non-shape fields (dropout, init range, eps, type vocab, pad id,
/// pre-LN) come from `base`.
inline model::bert_config stage_config(const model::shape& trained, std::size_t vocab_size,
                                       const model::bert_config& base) {
  model::bert_config c = sched::to_bert_config(trained, vocab_size);
  c.hidden_dropout_prob = base.hidden_dropout_prob;
  c.attention_probs_dropout_prob = base.attention_probs_dropout_prob;
  c.initializer_range = base.initializer_range;
  c.layer_norm_eps = base.layer_norm_eps;
  c.type_vocab_size = base.type_vocab_size;
  c.pad_token_id = base.pad_token_id;
  c.pre_layer_norm = base.pre_layer_norm;
  return c;
}

// ------------------------------------------------------------------------------------------------------------
// Options, log rows, results.

/// The options of a run; Config is the model family's config type (bert_config, or decoder_config for the
/// decoder trainer, train/decoder_trainer.hpp), whose non-shape fields `base` supplies.
template <class Config>
struct basic_trainer_options {
  using config_type = Config;
  std::uint64_t seed = 0;
  double lr = 1e-3;               ///< peak learning rate
  std::size_t warmup = 0;         ///< warmup steps (of each segment: the first stage and every restart)
  double min_lr_ratio = 0.1;      ///< the decay ends at lr * min_lr_ratio
  sched::lr_family lr_schedule = sched::lr_family::linear;  ///< the curve's family
  double decay_fraction = 0.2;    ///< wsd: the last fraction of each segment decays
  reference::adamw_options adam{};
  std::size_t eval_every = 50;    ///< global steps between validation rows (0 = only at stage ends)
  /// Keep training the last stage past the schedule's end until the validation loss is <= target_loss
  /// (checked at every row), but never beyond max_total_steps global steps. Unset: stop at the end.
  std::optional<double> target_loss;
  std::size_t max_total_steps = 0;
  std::filesystem::path out_dir;  ///< checkpoints (empty = none)
  std::filesystem::path log_csv;  ///< CSV log, rewritten atomically at every row (empty = none)
  /// Replace the checkpoint `last` every save_every global steps (0 = never). Not stored in trainer_state:
  /// it does not change the run, and a resumed run takes it from its own command line.
  std::size_t save_every = 0;
  /// Checkpoints shard their model / optimizer tensor sets above this many bytes (0 = one file each;
  /// io/sharded.hpp). Like save_every, not stored in trainer_state: it changes files, not the run.
  std::uint64_t max_shard_size = 0;
  /// Identifies the training text (e.g. its size and hash), written into trainer_state as "data" so a resume
  /// can refuse another text; not part of the run's options (empty = not written).
  std::string data_id;
  Config base{};                  ///< non-shape config fields (dropout, initializer_range, ...)
  /// A stage entered with enter.when = auto ends the previous stage when Staged Training's rule fires
  /// (growth_trigger.hpp) against this curve: the target model's validation loss against training FLOPs
  /// (required by such a schedule; not stored in trainer_state, a resumed run's schedule holds the outcome).
  std::vector<curve_point> target_curve;
  trigger_options trigger{};
  /// Accept a schedule whose last stage is a low-cost model (shared/factorised FFN, pooling): the demo trains
  /// CompoundGrow's first-stage model on its own as a comparison. Never a target to publish.
  bool lowcost_end = false;
};
using trainer_options = basic_trainer_options<model::bert_config>;

struct log_row {
  std::size_t step = 0, stage = 0;
  std::string shape;
  double tokens = 0, flops = 0, wall_seconds = 0, train_loss = 0, val_loss = 0;
  friend bool operator==(const log_row&, const log_row&) = default;

  /// The one schema of a row: f(name, field, csv_format) for every field in column order. The name is the
  /// CSV column and the JSON key; the CSV format is printf's.
  template <class Row, class F>
  static void for_each_field(Row& r, F&& f) {
    f("step", r.step, "%zu");
    f("stage", r.stage, "%zu");
    f("shape", r.shape, "%s");
    f("tokens", r.tokens, "%.0f");
    f("flops", r.flops, "%.6e");
    f("wall_seconds", r.wall_seconds, "%.3f");
    f("train_loss", r.train_loss, "%.6f");
    f("val_loss", r.val_loss, "%.6f");
  }
};

inline std::string csv_header() {
  std::string s;
  const log_row none;
  log_row::for_each_field(none, [&](const char* name, const auto&, const char*) {
    if (!s.empty()) s += ',';
    s += name;
  });
  return s + "\n";
}
inline std::string csv_line(const log_row& r) {
  std::string s;
  log_row::for_each_field(r, [&](const char*, const auto& v, const char* format) {
    char buf[128];
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
      s += v;  // "%s"
    } else {
      std::snprintf(buf, sizeof buf, format, v);
      s += buf;
    }
    s += ',';
  });
  s.back() = '\n';
  return s;
}
inline std::string csv_text(const std::vector<log_row>& rows) {
  std::string s = csv_header();
  for (const auto& r : rows) s += csv_line(r);
  return s;
}

/// An automatic growth (enter.when = auto): the step at which stage `stage` ended early, and why.
struct growth_event {
  std::size_t step = 0, stage = 0;
  std::string why;
  std::size_t steps_early = 0;  ///< the steps stage `stage` had left, moved to the next stage
};

struct run_result {
  std::vector<log_row> rows;
  std::vector<growth_event> growths;  ///< the automatic growths of this run() call
  bool complete = false;     ///< the schedule (and any extension) ran to its end
  bool interrupted = false;  ///< stopped by the observer's stop request; `final` holds the state
  std::size_t steps = 0;
  double flops = 0, wall_seconds = 0, final_val_loss = 0;
};

/// A stage starts training: at the start of run() when the run is at a stage's first step, and after every
/// growth into the next stage.
struct stage_event {
  std::size_t stage = 0, stages = 0;  ///< the stage (0-based) and the schedule's number of stages
  model::shape shape;           ///< the stage's trained shape (train::shape_name names it)
  std::size_t steps = 0;              ///< the stage's steps
};

/// After every training step: where the run is, and what a progress display needs.
struct step_event {
  std::size_t step = 0;            ///< global steps done
  std::size_t cap = 0;             ///< the last global step of this run: the schedule's end, or the extension's cap
  std::size_t stage = 0, stages = 0;
  std::size_t steps_this_run = 0;  ///< steps trained since this run() call began
  double seconds_this_run = 0;     ///< wall seconds since this run() call began (evaluation and checkpoints included)
  double train_loss = 0;           ///< mean training loss of the current log interval (0 right after a row)
  double val_loss = 0;             ///< the latest row's validation loss (0 before the first row)
  double lr = 0;                   ///< the learning rate of the step
};

/// What progressive_trainer::run() reports while it runs; the trainer prints nothing itself. Every member
/// has a no-op default, so an observer overrides only what it needs; all are called on the thread that
/// calls run(). Per training step the order is: on_row (when the step ends a log interval or a stage),
/// on_growth (when an automatic growth fires after that row), on_step, then stop_requested(); on_stage
/// when a stage begins, on_end once when run() returns. The tool's console_observer (tools/progress.hpp)
/// prints the progress bar or lines and stops on a signal.
struct trainer_observer {
  trainer_observer() = default;
  trainer_observer(const trainer_observer&) = default;
  trainer_observer& operator=(const trainer_observer&) = default;
  virtual ~trainer_observer() = default;
  virtual void on_stage(const stage_event& /*e*/) {}
  virtual void on_row(const log_row& /*r*/) {}
  virtual void on_growth(const growth_event& /*g*/) {}
  virtual void on_step(const step_event& /*e*/) {}
  /// Polled after every step: true stops the run there as an interruption (resumable from `final`).
  virtual bool stop_requested() { return false; }
  /// The run returns `r` (its `final` checkpoint, if any, is written).
  virtual void on_end(const run_result& /*r*/) {}
};

namespace detail {
/// A double of trainer_state.json. Doubles are written as JSON numbers, which read back bit-exactly
/// (shortest round-trip text). Compatibility: states written before nlohmann-json hold the 16 hex digits
/// of the double's bits instead; those are read too.
inline double state_double(const io::json& j, std::string_view what) {
  if (!j.is_string()) return io::as_double(j, what);
  const std::string& s = j.get_ref<const std::string&>();
  std::uint64_t bits = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), bits, 16);
  if (s.size() != 16 || ec != std::errc() || end != s.data() + s.size())
    throw error(what, "a number (or, in older files, the 16 hex digits of its bits)", io::describe(j));
  return std::bit_cast<double>(bits);
}
}  // namespace detail

// ------------------------------------------------------------------------------------------------------------
// trainer_state.json: rows, options and resume info <-> JSON (nlohmann-json conversions, found by ADL: `io::json j =
// options;`, `j.get<log_row>()`). The options are stored so --resume needs nothing else.

/// JSON form of a row (trainer_state.json "rows"): the fields of log_row::for_each_field under their names.
inline void to_json(io::json& j, const log_row& r) {
  j = io::json::object();
  log_row::for_each_field(r, [&](const char* name, const auto& v, const char*) { j[name] = v; });
}
inline void from_json(const io::json& j, log_row& r) {
  log_row::for_each_field(r, [&](const char* name, auto& v, const char*) {
    const std::string what = std::string("trainer_state row ") + name;
    const io::json& x = io::at(j, name, "trainer_state row");
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::string>) v = io::as_string(x, what);
    else if constexpr (std::is_same_v<T, double>) v = detail::state_double(x, what);
    else v = io::as_size(x, what);
  });
}

namespace detail {
/// The base config fields trainer_state.json stores for a config type: specialised per model family (the
/// decoder's in train/decoder_trainer.hpp), so the options' JSON is written in one place.
template <class Config>
struct base_fields;
/// BERT: dropout, init range, pre-LN.
template <>
struct base_fields<model::bert_config> {
  static void write(io::json& j, const model::bert_config& b) {
    j["hidden_dropout_prob"] = b.hidden_dropout_prob;
    j["attention_probs_dropout_prob"] = b.attention_probs_dropout_prob;
    j["initializer_range"] = b.initializer_range;
    j["pre_layer_norm"] = b.pre_layer_norm;
  }
  /// Reads them back (pre_layer_norm may be absent in states written before it existed).
  static void read(const io::json& j, model::bert_config& b) {
    const auto what = [](const char* k) { return std::string("trainer_state options.") + k; };
    const auto real = [&](const char* k) { return state_double(io::at(j, k, "trainer_state options"), what(k)); };
    b.hidden_dropout_prob = real("hidden_dropout_prob");
    b.attention_probs_dropout_prob = real("attention_probs_dropout_prob");
    b.initializer_range = real("initializer_range");
    if (const io::json* p = io::find(j, "pre_layer_norm")) b.pre_layer_norm = io::as_bool(*p, what("pre_layer_norm"));
  }
};
}  // namespace detail

/// The options that define the run (not paths, save_every, data_id, target_curve, trigger); the base
/// config's fields last (detail::base_fields of the config type).
template <class Config>
void to_json(io::json& j, const basic_trainer_options<Config>& o) {
  j = io::json::object();
  j["seed"] = o.seed;
  j["lr"] = o.lr;
  j["warmup"] = o.warmup;
  j["min_lr_ratio"] = o.min_lr_ratio;
  j["weight_decay"] = o.adam.weight_decay;
  j["max_grad_norm"] = o.adam.max_grad_norm;
  j["beta1"] = o.adam.beta1;
  j["beta2"] = o.adam.beta2;
  j["lr_schedule"] = std::string(sched::to_string(o.lr_schedule));
  j["decay_fraction"] = o.decay_fraction;
  j["eval_every"] = o.eval_every;
  j["target_loss"] = o.target_loss ? io::json(*o.target_loss) : io::json();
  j["max_total_steps"] = o.max_total_steps;
  detail::base_fields<Config>::write(j, o.base);
}
/// Applies stored options onto `o` (`j.get_to(o)`; the fields to_json leaves out keep o's values).
/// Compatibility: the seed may be a decimal string and doubles 16 hex digits (states written before
/// nlohmann-json); beta1, beta2, lr_schedule, decay_fraction and pre_layer_norm may be absent (states
/// written before those fields existed mean the defaults of that time).
template <class Config>
void from_json(const io::json& j, basic_trainer_options<Config>& o) {
  const auto field = [&](const char* k) -> const io::json& { return io::at(j, k, "trainer_state options"); };
  const auto what = [](const char* k) { return std::string("trainer_state options.") + k; };
  const auto real = [&](const char* k) { return detail::state_double(field(k), what(k)); };
  o.seed = io::as_uint64(field("seed"), what("seed"));
  o.lr = real("lr");
  o.warmup = io::as_size(field("warmup"), what("warmup"));
  o.min_lr_ratio = real("min_lr_ratio");
  o.adam.weight_decay = real("weight_decay");
  o.adam.max_grad_norm = real("max_grad_norm");
  if (io::find(j, "beta1")) o.adam.beta1 = real("beta1");
  if (io::find(j, "beta2")) o.adam.beta2 = real("beta2");
  if (const io::json* f = io::find(j, "lr_schedule")) {
    const std::string& n = io::as_string(*f, what("lr_schedule"));
    const auto fam = sched::lr_family_names.parse(n);
    if (!fam) throw error(what("lr_schedule"), sched::lr_family_names.alternatives(), "\"" + n + "\"");
    o.lr_schedule = *fam;
  }
  if (io::find(j, "decay_fraction")) o.decay_fraction = real("decay_fraction");
  o.eval_every = io::as_size(field("eval_every"), what("eval_every"));
  o.target_loss = field("target_loss").is_null() ? std::nullopt : std::optional<double>(real("target_loss"));
  o.max_total_steps = io::as_size(field("max_total_steps"), what("max_total_steps"));
  detail::base_fields<Config>::read(j, o.base);
}

/// What a checkpoint's trainer_state says about the run it belongs to.
template <class Options>
struct basic_resume_info {
  sched::runtime_schedule schedule;
  Options options;
  bool complete = false;
};
using resume_info = basic_resume_info<trainer_options>;
template <class Options>
void from_json(const io::json& j, basic_resume_info<Options>& r) {
  r.schedule = io::at(j, "schedule", "trainer_state").get<sched::runtime_schedule>();
  io::at(j, "options", "trainer_state").get_to(r.options);
  r.complete = io::as_bool(io::at(j, "complete", "trainer_state"), "trainer_state complete");
}
template <class Options = trainer_options>
basic_resume_info<Options> read_resume_info(const std::filesystem::path& dir) {
  const auto p = dir / "trainer_state.json";
  if (!std::filesystem::exists(p)) throw error("resume folder " + dir.string(), "a trainer_state.json", "none");
  return io::parse_json(io::read_file(p), p.string()).get<basic_resume_info<Options>>();
}

// ------------------------------------------------------------------------------------------------------------
// The trainer.

/// What the trainer needs of a model family, for BERT (masked LM on train::data_source). The decoder family
/// (causal LM on train::clm_data_source) is train/decoder_trainer.hpp's decoder_family; the trainer calls only
/// these members (model, optimizer and checkpoint writing are the same generic calls for both: the model's and
/// adamw's constructors take either config, io::save_checkpoint is a template over it), so both run the same
/// loop, checkpoints and resume.
struct bert_family {
  using config_t = model::bert_config;
  using model_t = reference::bert<float>;
  using optim_t = reference::adamw<float>;
  using data_t = data_source;
  using checkpoint_t = io::checkpoint;
  static constexpr std::size_t min_seq_len = 3;  ///< [CLS] token [SEP]

  static config_t stage_config(const model::shape& s, std::size_t vocab_size, const config_t& base) {
    if (s.kv_heads != 0 && s.kv_heads != s.heads)
      throw error("schedule shape kv_heads", "0 or heads (BERT has no grouped-query attention)", std::to_string(s.kv_heads));
    return train::stage_config(s, vocab_size, base);
  }
  static double flops_per_step(const model::shape& s, const sched::run_settings& run, const config_t& /*base*/) {
    return sched::training_flops_per_step(s, run);
  }
  static model::mlm_batch train_batch(data_t& d, std::uint64_t seed, std::size_t step, const model::shape& s,
                                      const sched::run_settings& run) {
    return d.train_batch(seed, step, s.seq_len, run.batch_size, run.masked_per_mille);
  }
  using batch_t = model::mlm_batch;
  /// Data-parallel forward and backward of this rank's share sh of the global batch b: the global batch's
  /// dropout masks and target count (reference::batch_slice), a pooled stage's layout padded to the global
  /// batch's lengths. The caller sums gradients and (loss sum, targets) over the ranks.
  static reference::mlm_result forward_backward_share(model_t& m, const model::mlm_batch& b, std::uint64_t dropout_seed,
                                                      const batch_share& sh) {
    reference::batch_slice slice{.row_offset = sh.first};
    for (const auto y : b.labels) slice.global_targets += y != model::ignore_label ? 1 : 0;
    if (const std::size_t k = m.config().pool_size; k > 1) {
      const auto pl = reference::make_pooled_layout(b, k);
      slice.query_len = pl.query_len;
      slice.key_len = pl.key_len;
    }
    return m.forward_backward(batch_rows(b, sh), dropout_seed, std::nullopt, slice);
  }
  /// Mean validation loss over the full-length validation set (dropout off).
  static double evaluate(model_t& m, data_t& d, const sched::run_settings& run) {
    double sum = 0;
    std::size_t n = 0;
    for (const auto& b : d.validation_batches(run.masked_per_mille)) {
      // As the full model reads the data: pooling off (pool size 1), whatever the stage trains with.
      const auto r = m.evaluate(b, nullptr, 1);
      sum += r.loss * static_cast<double>(r.targets);
      n += r.targets;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  }
  static void grow(const config_t& from, const model::parameter_set<float>& src, const config_t& to,
                   const model::parameter_set<float>& dst, const growth::grow_options& go, const model::moments<float>* ms,
                   const model::moments<float>* md) {
    model::grow(from, src, to, dst, go, ms, md);
  }
  static checkpoint_t load_checkpoint(const std::filesystem::path& dir) { return io::load_checkpoint(dir); }
};

template <class Family>
class basic_progressive_trainer {
 public:
  using family = Family;
  using config_t = typename Family::config_t;
  using model_t = typename Family::model_t;
  using optim_t = typename Family::optim_t;
  using data_t = typename Family::data_t;
  using options_t = basic_trainer_options<config_t>;

  /// The schedule is validated; data must tokenise with `vocab` (written into every checkpoint) and have
  /// full_seq_len = the last stage's seq_len.
  basic_progressive_trainer(sched::runtime_schedule schedule, data_t& data, options_t opt,
                            std::vector<std::string> vocab)
      : sched_(std::move(schedule)), data_(data), opt_(std::move(opt)), vocab_(std::move(vocab)) {
    sched_.validate(!opt_.lowcost_end);
    if (sched_.run.vocab_size < vocab_.size())
      throw error("schedule vocab_size", ">= the vocabulary's " + std::to_string(vocab_.size()) + " tokens",
                  std::to_string(sched_.run.vocab_size));
    if (data.options().full_seq_len != sched_.stages.back().shape.seq_len)
      throw error("data full_seq_len", "the last stage's seq_len " + std::to_string(sched_.stages.back().shape.seq_len),
                  std::to_string(data.options().full_seq_len));
    for (std::size_t i = 0; i < sched_.stages.size(); ++i)
      if (sched_.stages[i].shape.seq_len < Family::min_seq_len)
        throw error("schedule stage " + std::to_string(i) + " trained seq_len", ">= " + std::to_string(Family::min_seq_len),
                    std::to_string(sched_.stages[i].shape.seq_len));
    lr_curve().validate();
    for (std::size_t i = 1; i < sched_.stages.size(); ++i)
      if (sched_.stages[i].enter.when == sched::grow_trigger::automatic && opt_.target_curve.size() < 2)
        throw error("schedule stage " + std::to_string(i) + " enter.when = \"auto\"",
                    "a target curve of at least 2 points (trainer_options::target_curve)",
                    std::to_string(opt_.target_curve.size()) + " point(s)");
    total_steps_ = 0;
    for (const auto& s : sched_.stages) total_steps_ += s.steps;
    build(0);
    model_->init(opt_.seed);
  }

  [[nodiscard]] const sched::runtime_schedule& schedule() const { return sched_; }
  [[nodiscard]] model_t& model() { return *model_; }
  [[nodiscard]] const options_t& options() const { return opt_; }
  [[nodiscard]] std::size_t step() const { return st_.step; }
  [[nodiscard]] std::size_t stage() const { return st_.stage; }
  [[nodiscard]] std::size_t schedule_steps() const { return total_steps_; }
  [[nodiscard]] const std::vector<log_row>& rows() const { return st_.rows; }
  [[nodiscard]] config_t config_of(std::size_t stage) const {
    return Family::stage_config(sched_.stages[stage].shape, sched_.run.vocab_size, opt_.base);
  }
  /// Training FLOPs of one optimizer step of a stage (the sched cost model on the trained shape).
  [[nodiscard]] double flops_per_step(std::size_t stage) const {
    return Family::flops_per_step(sched_.stages[stage].shape, sched_.run, opt_.base);
  }

  /// Starts from given weights instead of the seeded init (flat, the layout order of config_of(0)).
  void set_initial_parameters(const std::vector<float>& flat) {
    if (st_.step != 0) throw error("set_initial_parameters", "before the first step", "step " + std::to_string(st_.step));
    auto p = model_->flat_params();
    if (flat.size() != p.size())
      throw error("initial parameters", std::to_string(p.size()) + " floats (stage 0 config)", std::to_string(flat.size()));
    std::copy(flat.begin(), flat.end(), p.begin());
  }

  /// Restores the state of a checkpoint folder written by this trainer. Its schedule and options must be
  /// this trainer's (read_resume_info gives them).
  void resume(const std::filesystem::path& dir) {
    auto ck = Family::load_checkpoint(dir);
    const io::json& ts = ck.trainer_state;
    if (ts.is_null()) throw error("resume folder " + dir.string(), "a trainer_state.json", "none");
    const auto stored = ts.template get<basic_resume_info<options_t>>();
    if (!(stored.schedule == sched_))
      throw error("resume folder " + dir.string() + " schedule", "this run's schedule", "a different one");
    if (stored.options.seed != opt_.seed || stored.options.lr != opt_.lr || stored.options.warmup != opt_.warmup)
      throw error("resume folder " + dir.string() + " options", "this run's seed, lr and warmup", "different ones");
    const auto field = [&](const char* k) -> const io::json& { return io::at(ts, k, "trainer_state"); };
    const auto size = [&](const char* k) { return io::as_size(field(k), std::string("trainer_state ") + k); };
    const auto real = [&](const char* k) { return detail::state_double(field(k), std::string("trainer_state ") + k); };
    state s;
    s.step = size("step");
    s.stage = size("stage");
    s.stage_step = size("stage_step");
    s.flops = real("flops");
    s.tokens = real("tokens");
    s.wall = real("wall_seconds");
    s.loss_sum = real("loss_sum");
    s.loss_count = size("loss_count");
    s.complete = stored.complete;
    for (const auto& r : io::as_array(field("rows"), "trainer_state rows")) s.rows.push_back(r.template get<log_row>());
    if (s.stage >= sched_.stages.size())
      throw error("trainer_state stage", "< " + std::to_string(sched_.stages.size()), std::to_string(s.stage));
    const auto cfg = config_of(s.stage);
    if (ck.config.num_hidden_layers != cfg.num_hidden_layers || ck.config.hidden_size != cfg.hidden_size ||
        ck.config.intermediate_size != cfg.intermediate_size || ck.config.max_position_embeddings != cfg.max_position_embeddings)
      throw error("resume folder " + dir.string() + " config", "stage " + std::to_string(s.stage) + "'s model", "another shape");
    if (!ck.opt) throw error("resume folder " + dir.string(), "optimizer.safetensors", "none");
    restore(std::move(s), ck.params, ck.opt->exp_avg, ck.opt->exp_avg_sq, ck.opt->step);
  }

  /// Continues, under this trainer's schedule, a run that `other` trained up to its current step t (it
  /// stopped there by pause_at, or at a stage end). The fork is refused unless both runs are the same run up
  /// to t: equal run settings; equal stages before `other`'s current stage, and that stage equal but for its
  /// length, which must cover t here too; the same learning rate at every step 1..t (checked step by step:
  /// under wsd a short budget's stable phase is a prefix of a long one's; a stage that continues a global
  /// linear decay needs equal totals); equal seed, AdamW options, eval interval and base config. Batches,
  /// masks and dropout are functions of (seed, step), so the continued run is bit-identical to the one this
  /// trainer would train from step 0. A study trains a shared low-cost stage once and forks it into several
  /// growth operators; the demo trains one stable baseline and forks a decay at each budget.
  void continue_from(const basic_progressive_trainer& other) {
    if (st_.step != 0) throw error("continue_from", "a trainer that has not trained", "step " + std::to_string(st_.step));
    const state& o = other.st_;
    const std::size_t s = o.stage;
    if (o.step == 0) throw error("continue_from: the other run", "at least one step trained", "step 0");
    if (s >= sched_.stages.size())
      throw error("continue_from: this schedule", "a stage " + std::to_string(s), std::to_string(sched_.stages.size()) + " stage(s)");
    if (!(sched_.run == other.sched_.run))
      throw error("continue_from: run settings", "the other run's (vocab, batch, masking)", "different ones");
    for (std::size_t i = 0; i < s; ++i)
      if (!(sched_.stages[i] == other.sched_.stages[i]))
        throw error("continue_from: stage " + std::to_string(i), "the other run's stage " + std::to_string(i), "a different one");
    sched::stage here = sched_.stages[s];
    here.steps = other.sched_.stages[s].steps;
    if (!(here == other.sched_.stages[s]))
      throw error("continue_from: stage " + std::to_string(s), "the other run's stage (its length aside)", "a different one");
    if (sched_.stages[s].steps < o.stage_step)
      throw error("continue_from: stage " + std::to_string(s) + " steps", "at least the other run's " + std::to_string(o.stage_step),
                  std::to_string(sched_.stages[s].steps));
    const options_t& a = other.opt_;
    if (a.seed != opt_.seed || !(a.adam == opt_.adam) || a.eval_every != opt_.eval_every)
      throw error("continue_from: options", "the other run's seed, AdamW options and eval interval", "different ones");
    for (std::size_t t = 1, st = 0, ss = 0; t <= o.step; ++t) {  // (st, ss): stage and 1-based stage step of t
      if (++ss > sched_.stages[st].steps && st < s) { ++st; ss = 1; }
      if (lr_at(st, ss, t) != other.lr_at(st, ss, t))
        throw error("continue_from: learning rate at step " + std::to_string(t), fmt_lr(other.lr_at(st, ss, t)) + " (the other run's)",
                    fmt_lr(lr_at(st, ss, t)));
    }
    if (!(config_of(s) == other.config_of(s)))
      throw error("continue_from: stage " + std::to_string(s) + " model config", "the other run's", "a different one (base options)");
    auto& om = *other.optim_;
    restore(o, other.model_->flat_params(), om.first_moment_flat(), om.second_moment_flat(), om.step_count());
    st_.complete = false;
  }

  /// Runs (or continues) the schedule, then the optional extension toward target_loss, reporting to
  /// `observer` (none: a silent run that stops only at its end or at pause_at).
  run_result run(trainer_observer* observer = nullptr) {
    trainer_observer silent;
    obs_ = observer ? observer : &silent;
    const auto run_start = clock::now();
    const std::size_t start_step = st_.step;
    const std::size_t cap = run_cap();
    bool interrupted = false, paused = false;
    announce_stage();
    while (!st_.complete) {
      // Stage boundary: grow into the next stage (also right after resuming from a stage-<i> checkpoint).
      if (st_.stage_step >= sched_.stages[st_.stage].steps && st_.stage + 1 < sched_.stages.size()) {
        const auto g0 = clock::now();
        grow_into(st_.stage + 1);
        st_.wall += std::chrono::duration<double>(clock::now() - g0).count();  // growth counts as training time
        announce_stage();
        continue;
      }
      const bool in_schedule = st_.step < total_steps_;
      if (!in_schedule && !extending()) break;
      train_step();
      const bool stage_end = in_schedule && st_.stage_step == sched_.stages[st_.stage].steps;
      const bool periodic = opt_.eval_every > 0 && st_.step % opt_.eval_every == 0;
      const bool at_cap = !in_schedule && st_.step >= cap;  // the extension's last step
      if (periodic || stage_end || at_cap) add_row();
      const bool triggered = periodic && in_schedule && !stage_end && auto_trigger();
      if (stage_end || triggered) checkpoint("stage-" + std::to_string(st_.stage));
      if (opt_.save_every > 0 && st_.step % opt_.save_every == 0) checkpoint("last");
      report_step(run_start, start_step, cap);
      if (st_.step >= total_steps_ && !extending()) {
        st_.complete = true;
        break;
      }
      if (pause_at_ > 0 && st_.step >= pause_at_) {
        paused = true;
        break;
      }
      if (dp_ ? dp_->any(obs_->stop_requested()) : obs_->stop_requested()) {  // every rank stops at the same step
        interrupted = true;
        break;
      }
    }
    if (st_.step >= total_steps_ && !extending()) st_.complete = true;
    if (!paused) checkpoint("final");
    run_result r;
    r.rows = st_.rows;
    r.growths = std::exchange(growths_, {});
    r.complete = st_.complete;
    r.interrupted = interrupted && !st_.complete;
    r.steps = st_.step;
    r.flops = st_.flops;
    r.wall_seconds = st_.wall;
    r.final_val_loss = st_.rows.empty() ? 0.0 : st_.rows.back().val_loss;
    obs_->on_end(r);
    obs_ = nullptr;
    return r;
  }

  /// Mean validation loss over the full-length validation set (dropout off).
  double evaluate() { return Family::evaluate(*model_, data_, sched_.run); }

  /// The learning-rate curve of this run (schedule/learning_rate.hpp).
  [[nodiscard]] sched::lr_curve lr_curve() const {
    return {.family = opt_.lr_schedule, .peak = opt_.lr, .warmup = opt_.warmup, .min_ratio = opt_.min_lr_ratio,
            .decay_fraction = opt_.decay_fraction};
  }
  /// The learning rate of a step (1-based stage step and global step).
  [[nodiscard]] double lr_at(std::size_t stage, std::size_t stage_step, std::size_t global_step) const {
    return sched::lr_at(lr_curve(), sched_.stages, stage, stage_step, global_step);
  }

  /// Trains data-parallel over dp's ranks (train/data_parallel.hpp; dp must outlive the run): each rank
  /// trains its share of every global batch, gradients and losses are summed over the ranks before AdamW,
  /// only dp.is_writer() writes checkpoints and the log. Every rank calls run() with the same schedule,
  /// options, data and starting state. Unset (the default): one process.
  void set_data_parallel(data_parallel& dp) { dp_ = &dp; }

  /// Stops run() after global step `step` as at the end of the schedule, but resumable: run() may be called
  /// again (after another pause_at) and goes on as if it had never stopped. 0 = no pause. A study or the
  /// demo pauses a run where another one forks from it (continue_from).
  void pause_at(std::size_t step) { pause_at_ = step; }

 private:
  using clock = std::chrono::steady_clock;
  struct state {
    std::size_t step = 0, stage = 0, stage_step = 0;
    double flops = 0, tokens = 0, wall = 0;
    double loss_sum = 0;
    std::size_t loss_count = 0;
    bool complete = false;
    std::vector<log_row> rows;
  };

  [[nodiscard]] std::size_t run_cap() const {
    return opt_.target_loss ? std::max(total_steps_, opt_.max_total_steps) : total_steps_;
  }
  /// Past the schedule's end: keep going while a target is set, not reached, and the cap is not hit.
  [[nodiscard]] bool extending() const {
    if (!opt_.target_loss || st_.step < total_steps_ || st_.step >= run_cap()) return false;
    return st_.rows.empty() || st_.rows.back().val_loss > *opt_.target_loss;
  }

  /// Installs a saved state: the stage's model and optimizer with the given weights and moments.
  void restore(state s, std::span<const float> params, std::span<const float> m, std::span<const float> v,
               std::size_t step_count) {
    build(s.stage);
    const auto p = model_->flat_params();
    if (params.size() != p.size() || m.size() != p.size() || v.size() != p.size())
      throw error("restored state of stage " + std::to_string(s.stage), std::to_string(p.size()) + " parameters and moments",
                  std::to_string(params.size()) + "/" + std::to_string(m.size()) + "/" + std::to_string(v.size()));
    std::copy(params.begin(), params.end(), p.begin());
    std::copy(m.begin(), m.end(), optim_->first_moment_flat().begin());
    std::copy(v.begin(), v.end(), optim_->second_moment_flat().begin());
    optim_->set_step_count(step_count);
    st_ = std::move(s);
  }

  void build(std::size_t stage) {
    const auto cfg = config_of(stage);
    model_ = std::make_unique<model_t>(cfg);
    optim_ = std::make_unique<optim_t>(cfg, opt_.adam);
  }

  void grow_into(std::size_t next) {
    const auto from = config_of(st_.stage), to = config_of(next);
    const growth::grow_options& go = sched_.stages[next].enter;  // the schedule holds model::grow's options
    auto nm = std::make_unique<model_t>(to);
    auto no = std::make_unique<optim_t>(to, opt_.adam);
    const model::moments<float> ms{optim_->first_moment(), optim_->second_moment()};
    const model::moments<float> md{no->first_moment(), no->second_moment()};
    Family::grow(from, model_->parameters(), to, nm->parameters(), go, &ms, &md);
    // Bias correction: mapped moments keep their step count; reset moments start over.
    no->set_step_count(go.optimizer == growth::optimizer_policy::map ? optim_->step_count() : 0);
    model_ = std::move(nm);
    optim_ = std::move(no);
    st_.stage = next;
    st_.stage_step = 0;
  }

  void train_step() {
    const auto t0 = clock::now();
    const auto shape = sched_.stages[st_.stage].shape;
    const auto b = Family::train_batch(data_, opt_.seed, st_.step, shape, sched_.run);
    const std::uint64_t dropout_seed = mix64(opt_.seed ^ mix64(st_.step + 0x5eedULL));
    const auto r = dp_ ? train_share(b, dropout_seed) : model_->forward_backward(b, dropout_seed);
    // Divergence stops the run before the state is updated or saved (see the file comment).
    if (!std::isfinite(r.loss)) diverged("training loss", r.loss, st_.step + 1);
    const double lr = lr_at(st_.stage, st_.stage_step + 1, st_.step + 1);
    const double grad_norm = optim_->step(model_->flat_params(), model_->flat_grads(), lr);
    if (!std::isfinite(grad_norm)) diverged("gradient norm", grad_norm, st_.step + 1);
    ++st_.step;
    ++st_.stage_step;
    st_.flops += flops_per_step(st_.stage);
    st_.tokens += static_cast<double>(b.tokens());
    st_.loss_sum += r.loss;
    ++st_.loss_count;
    last_lr_ = lr;
    st_.wall += std::chrono::duration<double>(clock::now() - t0).count();
  }

  /// Data-parallel forward and backward: this rank's share of the global batch b (the global batch's masks
  /// and target count: reference::batch_slice), then the gradient and (loss sum, targets) summed over the
  /// ranks. Returns the global batch's mean loss and target count.
  auto train_share(const typename Family::batch_t& b, std::uint64_t dropout_seed) {
    const batch_share sh = dp_->share(b.batch_size);
    auto r = Family::forward_backward_share(*model_, b, dropout_seed, sh);
    dp_->sum(model_->flat_grads());
    double sums[2] = {r.loss * static_cast<double>(r.targets), static_cast<double>(r.targets)};
    dp_->sum(std::span<double>(sums));
    r.targets = static_cast<std::size_t>(sums[1]);
    r.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
    return r;
  }

  [[noreturn]] void diverged(const char* what, double v, std::size_t step) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    throw error(std::string(what) + " at step " + std::to_string(step) + " (stage " + std::to_string(st_.stage) + ")",
                "a finite value (the run diverged: try a lower learning rate)",
                std::string(buf) + "; not checkpointed, " +
                    (last_saved_.empty() ? std::string("no checkpoint written yet") : "last checkpoint " + last_saved_.string()));
  }

  /// After a periodic row inside stage s: if stage s+1 is entered automatically and the rule fires on stage
  /// s's rows so far, stage s ends here and its remaining steps move to stage s+1 (the total is unchanged).
  bool auto_trigger() {
    const std::size_t s = st_.stage;
    if (s + 1 >= sched_.stages.size() || sched_.stages[s + 1].enter.when != sched::grow_trigger::automatic) return false;
    std::vector<curve_point> small;
    for (const auto& r : st_.rows)
      if (r.stage == s) small.push_back({r.flops, r.val_loss});
    const trigger_decision d = should_grow(small, opt_.target_curve, opt_.trigger);
    if (!d.fire) return false;
    const std::size_t left = sched_.stages[s].steps - st_.stage_step;
    sched_.stages[s].steps = st_.stage_step;
    sched_.stages[s + 1].steps += left;
    growths_.push_back({st_.step, s, d.why, left});
    obs_->on_growth(growths_.back());
    return true;
  }

  void add_row() {
    log_row r;
    r.step = st_.step;
    r.stage = st_.stage;
    r.shape = shape_name(sched_.stages[st_.stage].shape);
    r.tokens = st_.tokens;
    r.flops = st_.flops;
    r.wall_seconds = st_.wall;
    r.train_loss = st_.loss_count ? st_.loss_sum / static_cast<double>(st_.loss_count) : 0.0;
    r.val_loss = evaluate();
    if (!std::isfinite(r.val_loss)) diverged("validation loss", r.val_loss, st_.step);
    st_.loss_sum = 0;
    st_.loss_count = 0;
    st_.rows.push_back(r);
    if (!opt_.log_csv.empty() && (!dp_ || dp_->is_writer())) io::write_file_atomic(opt_.log_csv, csv_text(st_.rows));
    obs_->on_row(r);
  }

  void announce_stage() {
    if (st_.stage_step != 0) return;
    obs_->on_stage({.stage = st_.stage, .stages = sched_.stages.size(), .shape = sched_.stages[st_.stage].shape,
                    .steps = sched_.stages[st_.stage].steps});
  }

  void report_step(clock::time_point run_start, std::size_t start_step, std::size_t cap) {
    obs_->on_step({.step = st_.step, .cap = cap, .stage = st_.stage, .stages = sched_.stages.size(),
                   .steps_this_run = st_.step - start_step,
                   .seconds_this_run = std::chrono::duration<double>(clock::now() - run_start).count(),
                   .train_loss = st_.loss_count ? st_.loss_sum / static_cast<double>(st_.loss_count) : 0.0,
                   .val_loss = st_.rows.empty() ? 0.0 : st_.rows.back().val_loss, .lr = last_lr_});
  }

  void checkpoint(const std::string& name) {
    if (opt_.out_dir.empty()) return;
    io::json ts = io::json::object();
    ts["step"] = st_.step;
    ts["stage"] = st_.stage;
    ts["stage_step"] = st_.stage_step;
    ts["flops"] = st_.flops;
    ts["tokens"] = st_.tokens;
    ts["wall_seconds"] = st_.wall;
    ts["loss_sum"] = st_.loss_sum;
    ts["loss_count"] = st_.loss_count;
    ts["complete"] = st_.complete;
    ts["lr"] = last_lr_;
    ts["ranks"] = dp_ ? dp_->size() : 1;  // data-parallel ranks (informational: a resume may use any count)
    ts["schedule"] = sched_;
    ts["options"] = opt_;
    if (!opt_.data_id.empty()) ts["data"] = opt_.data_id;
    ts["rows"] = st_.rows;
    ts["csv"] = csv_text(st_.rows);
    // Weights can overflow to Inf after a step whose loss was still finite; never save such a state.
    for (const float x : model_->flat_params())
      if (!std::isfinite(x)) diverged("parameters", static_cast<double>(x), st_.step);
    if (dp_ && !dp_->is_writer()) {  // rank 0 writes; the others hold the same state
      last_saved_ = opt_.out_dir / name;
      return;
    }
    std::filesystem::create_directories(opt_.out_dir);
    const auto params = model_->parameters();
    const auto m = optim_->first_moment();
    const auto v = optim_->second_moment();
    io::optimizer_views<float> ov{m, v, optim_->step_count(), {}};
    io::save_checkpoint(opt_.out_dir / name, model_->config(), params, vocab_, &ov, ts, opt_.max_shard_size);
    last_saved_ = opt_.out_dir / name;
  }

  sched::runtime_schedule sched_;
  data_t& data_;
  options_t opt_;
  std::vector<std::string> vocab_;
  std::size_t total_steps_ = 0;
  std::unique_ptr<model_t> model_;
  std::unique_ptr<optim_t> optim_;
  state st_;
  double last_lr_ = 0;
  std::size_t pause_at_ = 0;
  std::vector<growth_event> growths_;
  std::filesystem::path last_saved_;  ///< the latest checkpoint written (named by a divergence error)
  trainer_observer* obs_ = nullptr;  ///< during run(): the caller's observer, or a silent one
  data_parallel* dp_ = nullptr;      ///< set_data_parallel's ranks (null: one process)

  static std::string fmt_lr(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
  }
};

/// The BERT trainer (masked LM), as before the family parameter existed.
using progressive_trainer = basic_progressive_trainer<bert_family>;

}  // namespace growth::train
