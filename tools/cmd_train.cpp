// growth train: MLM training of a checkpoint folder with the reference BERT -- a plain run (one stage of the
// checkpoint's shape) or a progressive run (--schedule FILE.json, whose first stage must be the checkpoint's
// shape). A decoder folder (model_type llama / mistral / qwen2 / gpt2) trains the same way with the reference
// causal LM on next-token loss (train/decoder_trainer.hpp; blocks of the text, train/clm_data.hpp); its
// schedule's shapes may carry kv_heads, and growth between stages is model::grow on decoder configs.
// Progress bar on a terminal, periodic validation loss, CSV log, checkpoints into --out (stage-<i> at
// every stage boundary, final at the end or on Ctrl-C), --resume DIR continues a run bit for bit.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include <growth/data/mlm_data.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>
#include <growth/model/decoder_shape.hpp>
#include <growth/train/clm_data.hpp>
#include <growth/train/decoder_trainer.hpp>

#include "command.hpp"
#include "common.hpp"
#include "mpi_launch.hpp"

#include "decoder_common.hpp"
#include "optim_options.hpp"
#include "progress.hpp"
#include "threads.hpp"

namespace growth_tool::cmd_train {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct train_args {
  std::string model, text, out, schedule, resume, log, max_shard_size;
  std::size_t steps = 0, batch = 0, seq_len = 0, warmup = 0, eval_every = 50, threads = 0, max_validation = 256;
  optim_args optim{.lr = 5e-4};
  std::uint64_t seed = 0;
  bool warmup_set = false;
  std::size_t save_every = 0;
  std::vector<std::string> given;  ///< the options given on the command line (set by the callback)
};

/// Options that may accompany --resume: paths, threads and data flags that the checkpoint does not store.
/// Everything else defines the run and comes from the checkpoint; giving it anyway would be ignored.
bool allowed_with_resume(const std::string& name) {
  for (const char* n : {"--resume", "--out", "--text", "--log", "--threads", "--max-validation", "--save-every",
                        "--max-shard-size"})
    if (name == n) return true;
  return false;
}

/// "bytes N fnv1a64 H": identifies the training text in trainer_state (a resume with another text is refused).
std::string text_id(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return fmt::format("bytes {} fnv1a64 {:016x}", text.size(), h);
}

/// What defines a run: its schedule, options, vocabulary and (for a fresh run) the starting parameters.
template <class Options>
struct basic_train_plan {
  growth::sched::runtime_schedule sch;
  Options opt;
  std::vector<std::string> vocab;
  std::vector<float> init_params;
};
using train_plan = basic_train_plan<growth::train::trainer_options>;

/// A resumed run: everything that defines it comes from the checkpoint; only paths and threads from the
/// command line.
template <class Options = growth::train::trainer_options>
basic_train_plan<Options> plan_resumed(const train_args& a) {
  using namespace growth;
  for (const auto& g : a.given)
    if (!allowed_with_resume(g))
      throw error("growth train " + g, "not given with --resume (the run's settings come from the checkpoint " + a.resume +
                                           "; only --out, --text, --log, --threads, --max-validation, --save-every, "
                                           "--max-shard-size may be)",
                  "given");
  basic_train_plan<Options> p;
  const auto info = train::read_resume_info<Options>(a.resume);
  p.sch = info.schedule;
  p.opt = info.options;
  // Load everything, optimizer state included, so a broken folder is refused before anything is written
  // into --out (the token cache, the log).
  p.vocab = io::load_checkpoint<typename Options::config_type>(a.resume).vocab;
  if (info.complete) fmt::print("train: {} is the end of a complete run; nothing left to train\n", a.resume);
  return p;
}

/// The checkpoint must be the first stage's model.
void check_first_stage(const train_args& a, const growth::sched::runtime_schedule& sch, const growth::model::bert_config& have,
                       std::size_t seq) {
  using namespace growth;
  const auto want = train::stage_config(sch.stages[0].shape, have.vocab_size, have);
  if (want.num_hidden_layers != have.num_hidden_layers || want.hidden_size != have.hidden_size ||
      want.num_attention_heads != have.num_attention_heads || want.intermediate_size != have.intermediate_size ||
      want.max_position_embeddings != have.max_position_embeddings || want.ffn_shared_layers != have.ffn_shared_layers ||
      want.ffn_share_factor != have.ffn_share_factor || want.ffn_factorized_layers != have.ffn_factorized_layers ||
      want.ffn_rank != have.ffn_rank)
    throw error("checkpoint " + a.model + " config", "the first stage's model " +
                    train::shape_name(sch.stages[0].shape) + " with " +
                    std::to_string(want.max_position_embeddings) + " positions",
                train::shape_name(train::shape_of(have, seq)) + " with " + std::to_string(have.max_position_embeddings) +
                    " positions");
}

/// A decoder checkpoint must be the first stage's model (its shape, kv_heads included; the other fields are
/// the run's base config).
void check_first_stage(const train_args& a, const growth::sched::runtime_schedule& sch,
                       const growth::model::decoder_config& have, std::size_t seq) {
  using namespace growth;
  auto want = sch.stages[0].shape;
  want.seq_len = seq;
  const auto got = model::shape_of(have, seq);
  if (!(model::positions(want) == model::positions(got) && want.layers == got.layers && want.hidden == got.hidden &&
        want.heads == got.heads && (want.kv_heads ? want.kv_heads : want.heads) == (got.kv_heads ? got.kv_heads : got.heads) &&
        want.ffn == got.ffn && model::is_standard(want)))
    throw error("checkpoint " + a.model + " config", "the first stage's model " + train::shape_name(sch.stages[0].shape) +
                    " with " + std::to_string(model::positions(sch.stages[0].shape)) + " positions",
                train::shape_name(got) + " with " + std::to_string(have.max_position_embeddings) + " positions");
}

/// A fresh run from --model: a plain run of --steps or a progressive run of --schedule.
template <class Options = growth::train::trainer_options>
basic_train_plan<Options> plan_fresh(const train_args& a) {
  using namespace growth;
  if (a.model.empty()) throw error("growth train --model", "a checkpoint folder (or --resume DIR)", "none");
  basic_train_plan<Options> p;
  auto& sch = p.sch;
  auto& opt = p.opt;
  auto ck = io::load_checkpoint<typename Options::config_type>(a.model, growth_tool::checkpoint_load_options(false));
  p.vocab = ck.vocab;
  if (p.vocab.empty())  // a decoder folder may come without one (HF tokenizers); growth tokenises with WordPiece
    throw error("checkpoint file " + (std::filesystem::path(a.model) / "vocab.txt").string(), "present in the --model folder",
                "missing");
  const std::size_t seq = a.seq_len ? a.seq_len : std::min<std::size_t>(128, ck.config.max_position_embeddings);
  if (!a.schedule.empty()) {
    sch = sched::load_schedule(a.schedule);
    if (a.steps) sch = train::rescale_steps(sch, a.steps);
  } else {
    if (a.steps == 0) throw error("growth train --steps", "a positive number of steps", "0 / missing");
    sch.stages.push_back(sched::stage{.steps = a.steps, .shape = model::shape_of(ck.config, seq)});
    sch.run.batch_size = 32;
  }
  if (sch.run.vocab_size != ck.config.vocab_size)
    fmt::print("train: schedule vocab_size {} replaced by the model's {}\n", sch.run.vocab_size, ck.config.vocab_size);
  sch.run.vocab_size = ck.config.vocab_size;
  if (a.batch) sch.run.batch_size = a.batch;
  sch.validate();
  opt.seed = a.seed;
  apply_optim_options(a.optim, opt);
  std::size_t total = 0;
  for (const auto& s : sch.stages) total += s.steps;
  opt.warmup = a.warmup_set ? a.warmup : std::max<std::size_t>(1, total / 20);
  opt.eval_every = a.eval_every;
  opt.base = ck.config;
  check_first_stage(a, sch, ck.config, seq);
  p.init_params = std::move(ck.params);
  return p;
}

/// A resumed run must train on the text it was trained on (trainer_state.json's "data").
void refuse_other_text(const train_args& a, const std::string& text_path, const std::string& data_id) {
  using namespace growth;
  const auto ts_path = std::filesystem::path(a.resume) / "trainer_state.json";
  const auto ts = io::parse_json(io::read_file(ts_path), ts_path.string());
  if (const io::json* d = io::find(ts, "data"); d != nullptr && d->is_string() && io::as_string(*d) != data_id)
    throw error("--text " + text_path, "the text the run was trained on (" + io::as_string(*d) + ", " + ts_path.string() + ")",
                "another text (" + data_id + ")");
}

/// The end of a run: where it stopped, against the unigram entropy; an interrupted run exits 128 + signal.
void report_end(const growth::train::run_result& r, const std::filesystem::path& out, const std::filesystem::path& log_csv,
                double h1) {
  fmt::print("train: {} at step {}, validation loss {:.4f}, {:.3e} FLOPs, {:.1f} s; checkpoint {}, log {}\n",
             r.interrupted ? "interrupted" : "done", r.steps, r.final_val_loss, r.flops, r.wall_seconds, (out / "final").string(),
             log_csv.string());
  // The yardstick: a model that ignores the context cannot beat the unigram entropy of the tokens.
  fmt::print("train: validation loss {:.4f} vs unigram entropy {:.4f} nats of the text ({:+.4f})\n", r.final_val_loss, h1,
             r.final_val_loss - h1);
  if (r.interrupted) {
    // Not a success: a script or scheduler must see that the run did not finish (128 + signal, as a shell
    // reports a process killed by it). The state is safe in final; say where.
    const int sig = growth_tool::interrupt_signal().load() ? growth_tool::interrupt_signal().load() : SIGINT;
    std::fflush(stdout);
    fmt::print(stderr, "growth train: interrupted by {} at step {}; saved {} (continue with --resume {})\n",
               sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT", r.steps, (out / "final").string(),
               (out / "final").string());
    throw growth_tool::exit_request{128 + sig};
  }
}

/// Test hook of the data-parallel failure path (tests/tools/mpi_train_test.sh): GROWTH_TEST_EXIT_RANK=r and
/// GROWTH_TEST_EXIT_STEP=n make rank r die (exit status 3, no MPI_Finalize, as a crash) after global step n.
class fault_observer final : public growth::train::trainer_observer {
 public:
  fault_observer(growth::train::trainer_observer& inner, std::size_t rank) : inner_(inner) {
    const char* r = std::getenv("GROWTH_TEST_EXIT_RANK");
    const char* s = std::getenv("GROWTH_TEST_EXIT_STEP");
    if (r && s && std::strtoull(r, nullptr, 10) == rank) step_ = static_cast<std::size_t>(std::strtoull(s, nullptr, 10));
  }
  void on_stage(const growth::train::stage_event& e) override { inner_.on_stage(e); }
  void on_row(const growth::train::log_row& r) override { inner_.on_row(r); }
  void on_growth(const growth::train::growth_event& g) override { inner_.on_growth(g); }
  void on_step(const growth::train::step_event& e) override {
    inner_.on_step(e);
    if (step_ > 0 && e.step == step_) {
      fmt::print(stderr, "growth train: GROWTH_TEST_EXIT_STEP: this rank exits after step {}\n", e.step);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
  bool stop_requested() override { return inner_.stop_requested(); }
  void on_end(const growth::train::run_result& r) override { inner_.on_end(r); }

 private:
  growth::train::trainer_observer& inner_;
  std::size_t step_ = 0;
};

/// Trains the model family's checkpoint (train::bert_family or train::decoder_family).
template <class Family>
void run_train(const train_args& a) {
  namespace fs = std::filesystem;
  using namespace growth;
  // Under mpirun: data-parallel over the ranks; rank 0 alone prints (the others' stdout is discarded; their
  // errors still reach stderr), writes the log, the token cache and the checkpoints.
  train::data_parallel* dp = growth_tool::launched_data_parallel();
  const bool writer = dp == nullptr || dp->is_writer();
  if (!writer && std::freopen("/dev/null", "w", stdout) == nullptr) throw error("stdout of rank " + std::to_string(dp->rank()), "/dev/null", "not opened");
  growth_tool::set_threads(a.threads);
  growth_tool::install_sigint_handler();
  const std::uint64_t shard = growth_tool::max_shard_size_bytes(a.max_shard_size);
  const fs::path out = a.out;
  const std::string text_path = a.text.empty() ? std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt" : a.text;

  using options_t = train::basic_trainer_options<typename Family::config_t>;
  basic_train_plan<options_t> p = a.resume.empty() ? plan_fresh<options_t>(a) : plan_resumed<options_t>(a);
  auto& opt = p.opt;
  opt.out_dir = out;
  opt.log_csv = a.log.empty() ? out / "log.csv" : fs::path(a.log);
  opt.save_every = a.save_every;
  opt.max_shard_size = shard;
  // Refuse a bad log target now, not at the first row after minutes of training; and never write into the
  // checkpoint the run reads.
  (void)io::check_write_target(opt.log_csv);
  growth_tool::refuse_output_inside(opt.log_csv, "--log", a.model, "--model");
  growth_tool::refuse_output_inside(opt.log_csv, "--log", a.resume, "--resume");

  data::wordpiece_tokenizer tok(p.vocab);
  const std::string text = train::read_corpus(text_path);
  opt.data_id = text_id(text);
  if (!a.resume.empty()) refuse_other_text(a, text_path, opt.data_id);
  // Held until the run ends: a second `growth train` into the same --out fails here, naming this one.
  std::optional<growth_tool::folder_lock> lock;
  if (writer) lock.emplace(out, "--out");
  // Rank 0 tokenises (and writes the cache) first; the others then read the cache.
  std::vector<std::int32_t> stream;
  if (writer) stream = train::tokenize_cached(tok, text, out / "cache");
  if (dp) dp->barrier();
  if (!writer) stream = train::tokenize_cached(tok, text, out / "cache");
  train::data_options dopt;
  dopt.full_seq_len = p.sch.stages.back().shape.seq_len;
  dopt.max_validation_sequences = a.max_validation;
  typename Family::data_t data(tok, stream, dopt);
  fmt::print("train: {} stage(s), {} tokens of training text, {} validation sequences, {} threads\n", p.sch.stages.size(),
             data.train_tokens(), data.validation_sequences(), growth_tool::threads_in_use());

  if (dp) {
    fmt::print("train: data-parallel ranks={}: each rank trains its share of the {}-sequence batch, gradients summed "
               "before AdamW; rank 0 writes\n", dp->size(), p.sch.run.batch_size);
    (void)dp->share(p.sch.run.batch_size);  // every rank needs a row: refuse a batch below the rank count now
  }

  train::basic_progressive_trainer<Family> t(p.sch, data, opt, p.vocab);
  if (dp) t.set_data_parallel(*dp);
  if (!a.resume.empty()) t.resume(a.resume);
  else t.set_initial_parameters(p.init_params);
  growth_tool::console_observer progress(writer ? growth_tool::progress_mode::automatic : growth_tool::progress_mode::quiet,
                                         "train", out);
  fault_observer observer(progress, dp ? dp->rank() : 0);
  const auto r = t.run(&observer);
  report_end(r, out, opt.log_csv, growth::data::unigram_entropy(stream));
}

growth_tool::registrar reg{"train", [](CLI::App& app) {
  auto a = std::make_shared<train_args>();
  auto* sub = app.add_subcommand("train", "MLM (BERT) or next-token (decoder LM) training, plain or progressive, of a checkpoint");
  sub->add_option("--model", a->model, "checkpoint folder to start from (growth init writes one)");
  sub->add_option("--text", a->text, "training corpus (default: data/kjv.txt of the source tree)");
  sub->add_option("--steps", a->steps, "optimizer steps (with --schedule: rescales its stages to this total)");
  sub->add_option("--out", a->out, "folder for checkpoints, the log and the token cache")->required();
  sub->add_option("--batch", a->batch, "sequences per step (default 32, or the schedule's)");
  sub->add_option("--seq-len", a->seq_len, "sequence length of a plain run (default min(128, positions))");
  add_optim_options(sub, a->optim);
  sub->add_option("--warmup", a->warmup, "warmup steps per stage (default steps / 20)")->each([a](const std::string&) {
    a->warmup_set = true;
  });
  sub->add_option("--eval-every", a->eval_every, "steps between validation rows")->capture_default_str();
  sub->add_option("--max-validation", a->max_validation, "validation sequences used (0 = all)")->capture_default_str();
  sub->add_option("--schedule", a->schedule, "growth schedule JSON: a progressive run");
  sub->add_option("--resume", a->resume, "continue from a checkpoint folder written by growth train");
  sub->add_option("--seed", a->seed, "seed of data order, masks, dropout")->capture_default_str();
  sub->add_option("--log", a->log, "CSV log (default OUT/log.csv)");
  sub->add_option("--threads", a->threads, "threads (0 = default; results are deterministic per thread count)");
  sub->add_option("--save-every", a->save_every, "replace the checkpoint OUT/last every N steps (0 = never)");
  growth_tool::add_max_shard_size_option(sub, a->max_shard_size);
  sub->callback([a, sub] {
    for (const CLI::Option* o : sub->get_options([](const CLI::Option* x) { return x->count() > 0; }))
      if (!o->get_lnames().empty()) a->given.push_back("--" + o->get_lnames().front());
    // The folder it starts from decides the model family: a decoder (config.json model_type) or BERT.
    if (growth_tool::is_decoder_folder(a->resume.empty() ? a->model : a->resume))
      run_train<growth::train::decoder_family>(*a);
    else
      run_train<growth::train::bert_family>(*a);
  });
}};

}  // namespace growth_tool::cmd_train
