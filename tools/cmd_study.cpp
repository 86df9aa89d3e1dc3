// growth study: reproduces the paper's comparisons at small scale with the progressive trainer and publishes
// them: <out>/RESULTS.md (the baseline's budget curve, tables with mean ± std over seeds, the paper's claim
// beside each row and whether we agree, every grown run's speedup read off the budget curve with its kind) and
// <out>/results/*.svg (validation-loss curves). The configurations and the protocol are tools/study_report.hpp's.
//
// Runs go to growth_tool::run_jobs (tools/job_pool.hpp): --jobs workers (default 2) with --threads each
// (default 1), so the CPU use stays at jobs * threads. Runs of a seed that share their first steps (the
// baseline's budgets; runs with the same low-cost stage) are one job: the shared steps are trained once and
// forked. Every run's CSV log is kept in <out>/runs/; a run whose CSV and key (schedule + options) are already
// there is not trained again, so an interrupted study resumes where it stopped.
//
// Time: `--scale full --seeds 3 --jobs 2 --threads 1` takes about 45 min on this project's 2-core VM
// (tools/study_report.hpp, scale_of, has the estimate); `--scale smoke` well under a minute.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <growth/data/vocab_trainer.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/io/schedule_json.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>
#include <growth/train/finetune.hpp>

#include "command.hpp"
#include "job_pool.hpp"
#include "progress.hpp"
#include "threads.hpp"
#include "study_report.hpp"
#include "svg_plot.hpp"

namespace growth_tool::cmd_study {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace growth;

struct study_args {
  std::string out = "results/study", scale = "small", text, command_line;
  std::size_t seeds = 3, steps = 0, jobs = 2, threads = 1;
  std::size_t finetune_steps = SIZE_MAX;  ///< SIZE_MAX = the scale's (finetune_budget), 0 = no fine-tuning
};

/// The downstream fine-tuning budget of a scale (RESULTS.md section 6), the same for every run: steps,
/// batch, learning rate, and the validation / test examples scored. Measured at full scale (L4 H64, 32
/// positions, 200 steps, one thread): 2-3 s of one core per task and run, about 7 min of one core for the
/// 54 runs x 3 tasks of `--scale full --seeds 3`.
train::finetune_options finetune_budget(const study::scale_spec& sc, std::size_t steps) {
  train::finetune_options o;
  const bool smoke = sc.name == "smoke";
  o.steps = steps != SIZE_MAX ? steps : smoke ? 4 : sc.name == "small" ? 100 : 200;
  o.batch_size = smoke ? 8 : 16;
  o.lr = 5e-4;
  o.max_seq_len = sc.seq_len;
  o.max_eval_examples = smoke ? 64 : 1000;
  return o;
}

std::string shell_out(const std::string& cmd) {
  std::string r;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) r += buf;
    ::pclose(p);
  }
  while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) r.pop_back();
  return r;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown";
}

/// Parses a trainer CSV log (train::csv_text's format).
std::vector<train::log_row> parse_csv(const std::string& text) {
  std::vector<train::log_row> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    if (f.size() != 8) throw error("study run log line", "8 comma-separated fields", "\"" + line + "\"");
    train::log_row r;
    r.step = std::stoull(f[0]);
    r.stage = std::stoull(f[1]);
    r.shape = f[2];
    r.tokens = std::stod(f[3]);
    r.flops = std::stod(f[4]);
    r.wall_seconds = std::stod(f[5]);
    r.train_loss = std::stod(f[6]);
    r.val_loss = std::stod(f[7]);
    rows.push_back(std::move(r));
  }
  return rows;
}

/// One unit of work: runs of one seed that share their first steps. The stem trains those steps once and each
/// member forks from it at its fork step (progressive_trainer::continue_from, bit-for-bit what training the
/// member from step 0 gives); the member with fork step 0 is the stem itself, trained on to its end. The
/// baseline's budgets are one job (the N-step stable run, forked where each smaller budget's decay begins);
/// runs whose first stage is the same (study::shares_first_stage) are one job forked at that stage's end; every
/// other run is a job of one.
struct job {
  struct member {
    const study::config* cfg;
    std::size_t fork_step = 0;  ///< 0 = the stem itself
  };
  std::uint64_t seed = 0;
  const study::config* stem = nullptr;
  std::vector<member> members;
  double cost = 0;  ///< FLOPs of the members' schedules (order of the pool only)
};

/// The jobs of a study: seeds outermost (a partial study has every configuration at its first seeds), and
/// within a seed the costliest jobs first, so that the pool does not end on one long job.
std::vector<job> jobs_of(const study::scale_spec& sc, const std::vector<study::config>& configs, std::size_t seeds) {
  std::vector<job> jobs;
  for (std::uint64_t seed = 0; seed < seeds; ++seed) {
    const auto first = jobs.size();
    for (const auto& c : configs) {
      if (c.is_baseline()) {  // one job: the full budget's run is the stem
        const auto& full = study::detail::find_config(configs, study::budget_name(1.0));
        auto it = std::find_if(jobs.begin() + static_cast<std::ptrdiff_t>(first), jobs.end(),
                               [&](const job& j) { return j.stem == &full; });
        if (it == jobs.end()) it = jobs.insert(jobs.end(), job{seed, &full, {}, 0});
        const std::size_t f = &c == &full ? 0 : study::budget_fork_step(sc, c.schedule.stages[0].steps);
        if (&c != &full && f == 0) jobs.push_back({seed, &c, {{&c, 0}}, 0});  // no common prefix (not wsd)
        else it->members.push_back({&c, f});
        continue;
      }
      auto it = std::find_if(jobs.begin() + static_cast<std::ptrdiff_t>(first), jobs.end(),
                             [&](const job& j) { return study::shares_first_stage(*j.stem, c); });
      if (it != jobs.end()) it->members.push_back({&c, c.schedule.stages[0].steps});
      else jobs.push_back({seed, &c, {{&c, 0}}, 0});
    }
    for (auto j = jobs.begin() + static_cast<std::ptrdiff_t>(first); j != jobs.end(); ++j)
      for (const auto& m : j->members)
        for (const auto& st : m.cfg->schedule.stages)
          j->cost += static_cast<double>(st.steps) * sched::training_flops_per_step(st.shape, m.cfg->schedule.run);
    std::stable_sort(jobs.begin() + static_cast<std::ptrdiff_t>(first), jobs.end(),
                     [](const job& x, const job& y) { return x.cost > y.cost; });
  }
  return jobs;
}

/// The corpus (as `growth demo`): WordPiece vocabulary from the corpus prefix, the token stream and the data
/// source with its full-length validation set.
struct study_corpus {
  std::string path, text;
  std::vector<std::string> vocab;
  std::vector<std::int32_t> stream;
  std::unique_ptr<train::data_source> data;
  // Downstream fine-tuning (empty tasks when off): tasks from data/kjv.txt, split seed 1, tokenised once
  // with the study's vocabulary.
  train::finetune_options ft;
  std::unique_ptr<data::wordpiece_tokenizer> tok;
  std::vector<data::classification_task> tasks;
  std::vector<train::prepared_task> prepared;
  std::map<std::string, std::pair<double, double>> baselines;  ///< task -> (majority, bag of words)
};

study_corpus prepare_corpus(const study_args& a, const study::scale_spec& sc, const fs::path& out) {
  study_corpus d;
  d.path = a.text.empty() ? std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt" : a.text;
  d.text = train::read_corpus(d.path, sc.corpus_chars);
  data::vocab_trainer_options vo;
  vo.vocab_size = sc.vocab;
  d.vocab = data::train_wordpiece_vocab(d.text, vo);
  data::wordpiece_tokenizer tok(d.vocab);
  d.stream = train::tokenize_cached(tok, d.text, out / "cache");
  train::data_options dopt;
  dopt.full_seq_len = sc.seq_len;
  dopt.max_validation_sequences = sc.max_validation;
  d.data = std::make_unique<train::data_source>(tok, d.stream, dopt);
  d.ft = finetune_budget(sc, a.finetune_steps);
  if (d.ft.steps > 0) {
    const auto verses = data::split_lines(train::read_corpus(std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt"));
    d.tok = std::make_unique<data::wordpiece_tokenizer>(d.vocab);
    d.tasks.reserve(data::task_names().size());  // prepared tasks point into it: no reallocation after
    for (const auto& n : data::task_names()) {
      d.tasks.push_back(data::make_task(n, verses, 1));
      d.prepared.push_back(train::prepare_task(d.tasks.back(), *d.tok, d.ft.max_eval_examples));
      d.baselines[n] = {d.prepared.back().majority, train::bow_accuracy(d.tasks.back(), 1, d.ft.max_eval_examples)};
    }
  }
  return d;
}

/// Trains the jobs (or reads their runs from <out>/runs) into the records, one seed's run per slot.
struct study_runner {
  const study_args& a;
  const study::scale_spec& sc;
  study_corpus& d;
  fs::path out;
  std::map<std::string, std::vector<study::run_record>> recs;
  std::mutex print_mu;
  std::atomic<std::size_t> done{0};
  std::size_t total_runs = 0;

  /// A member of a job, with where its log and key live.
  struct pending {
    const study::config* cfg;
    std::size_t fork_step;
    study::run_record* rec;
    std::string base, key;
    fs::path csv, keyf;
    [[nodiscard]] fs::path finetune_file() const { return fs::path(csv).replace_extension(".finetune.json"); }
  };

  /// What a run's fine-tuning results depend on beyond the run: the budget and the tasks.
  [[nodiscard]] std::string finetune_key(const pending& m) const {
    const auto& o = d.ft;
    return m.key + fmt::format("finetune steps {} batch {} lr {} seq {} eval {} warmup {} tasks {}\n", o.steps, o.batch_size, o.lr,
                               o.max_seq_len, o.max_eval_examples, o.warmup_fraction, d.tasks.size());
  }
  /// Fine-tunes a finished run's final model on every task (seed = the run's seed), records and caches it.
  void finetune_run(const pending& m, const reference::bert<float>& model) {
    if (d.tasks.empty()) return;
    io::json acc = io::json::object();
    std::string line;
    for (std::size_t i = 0; i < d.tasks.size(); ++i) {
      auto o = d.ft;
      o.seed = m.rec->seed;
      auto c = train::make_classifier(model.config(), model.flat_params(), d.tasks[i], o.seed);
      const auto r = train::finetune(*c, *d.tok, d.prepared[i], o);
      m.rec->finetune[d.tasks[i].name] = r.accuracy;
      acc[d.tasks[i].name] = r.accuracy;
      line += fmt::format(" {} {:.3f}", d.tasks[i].name, r.accuracy);
    }
    io::json j;
    j["key"] = finetune_key(m);
    j["accuracy"] = acc;
    io::write_file_atomic(m.finetune_file(), j.dump(2) + "\n");
    std::lock_guard lk(print_mu);
    fmt::print("  {}: fine-tuned test accuracy{}\n", m.base, line);
    std::fflush(stdout);
  }
  /// Reads a run's cached fine-tuning results; false when they are missing or stale.
  bool load_finetune(pending& m) {
    if (d.tasks.empty()) return true;
    std::error_code ec;
    if (!fs::exists(m.finetune_file(), ec)) return false;
    const auto j = io::parse_json(io::read_file(m.finetune_file()), m.finetune_file().string());
    if (!j.contains("key") || j["key"] != finetune_key(m) || !j.contains("accuracy")) return false;
    for (const auto& t : d.tasks) {
      if (!j["accuracy"].contains(t.name)) return false;
      m.rec->finetune[t.name] = j["accuracy"][t.name].get<double>();
    }
    return true;
  }

  study_runner(const study_args& args, const study::scale_spec& s, study_corpus& corpus, fs::path o,
               const std::vector<study::config>& configs)
      : a(args), sc(s), d(corpus), out(std::move(o)), total_runs(configs.size() * args.seeds) {
    for (const auto& c : configs) recs[c.name].resize(a.seeds);
  }

  [[nodiscard]] train::trainer_options options_of(std::uint64_t seed, const fs::path& csv) const {
    auto to = study::run_options(sc, d.vocab.size(), seed);
    to.log_csv = csv;
    return to;
  }
  /// Everything a run's result depends on: a run whose key differs is trained again.
  [[nodiscard]] std::string key_of(const study::config& c, std::uint64_t seed) const {
    return io::json(c.schedule).dump() + "\n" + io::json(options_of(seed, {})).dump() + "\nthreads " +
           std::to_string(a.threads) + " corpus_bytes " + std::to_string(d.text.size()) + " tokens " + std::to_string(d.stream.size()) +
           " vocab " + std::to_string(d.vocab.size()) + " validation " + std::to_string(d.data->validation_sequences()) + "\n";
  }
  /// Reads a cached run; returns false when it has to be trained.
  bool load_cached(pending& m) {
    std::error_code ec;
    // A run counts as cached with its fine-tuning results (when fine-tuning is on): they need its model.
    if (!(fs::exists(m.csv, ec) && fs::exists(m.keyf, ec) && io::read_file(m.keyf) == m.key && load_finetune(m))) {
      fs::remove(m.keyf, ec);
      return false;
    }
    m.rec->rows = parse_csv(io::read_file(m.csv));
    std::lock_guard lk(print_mu);
    fmt::print("[{}/{}] {}: cached\n", ++done, total_runs, m.base);
    std::fflush(stdout);
    return true;
  }
  /// Records a finished run; returns false when it was interrupted.
  bool finish(const pending& m, const train::run_result& r, const std::string& how, const reference::bert<float>& model) {
    if (!r.complete) return false;
    m.rec->rows = r.rows;
    io::write_file_atomic(m.keyf, m.key);
    {
      std::lock_guard lk(print_mu);
      fmt::print("[{}/{}] {}: {} steps, val_loss {:.4f}, {:.1f}s{}\n", ++done, total_runs, m.base, r.steps, r.final_val_loss,
                 r.wall_seconds, how);
      std::fflush(stdout);
    }
    finetune_run(m, model);
    return true;
  }
  /// The job's members that are not cached yet.
  std::vector<pending> members_to_train(const job& j) {
    std::vector<pending> todo;
    for (const auto& jm : j.members) {
      pending m{jm.cfg, jm.fork_step, &recs[jm.cfg->name][j.seed], jm.cfg->name + "-seed" + std::to_string(j.seed), "", {}, {}};
      m.csv = out / "runs" / (m.base + ".csv");
      m.keyf = out / "runs" / (m.base + ".key");
      m.key = key_of(*jm.cfg, j.seed);
      m.rec->config = jm.cfg->name;
      m.rec->seed = j.seed;
      if (!load_cached(m)) todo.push_back(std::move(m));
    }
    return todo;
  }
  void run_job(const job& j) {
    std::vector<pending> todo = members_to_train(j);
    if (todo.empty()) return;
    set_threads(a.threads);
    if (todo.size() == 1) {  // nothing to share: train it from step 0 (what a fork gives, bit for bit)
      const auto& m = todo.front();
      train::progressive_trainer tr(m.cfg->schedule, *d.data, options_of(j.seed, m.csv), d.vocab);
      const auto r = tr.run(&quiet_observer());
      (void)finish(m, r, "", tr.model());
      return;
    }
    run_forks(j, todo);
  }
  /// Trains the stem once, forking each member at its fork step (earliest first); the member with fork step 0
  /// is the stem itself, trained on to its end.
  void run_forks(const job& j, std::vector<pending>& todo) {
    std::stable_sort(todo.begin(), todo.end(), [](const pending& x, const pending& y) {
      return (x.fork_step == 0 ? SIZE_MAX : x.fork_step) < (y.fork_step == 0 ? SIZE_MAX : y.fork_step);
    });
    const pending* stem_member = todo.back().fork_step == 0 ? &todo.back() : nullptr;
    // The stem logs to its own CSV only when it is a member that still has to be trained.
    train::progressive_trainer stem(j.stem->schedule, *d.data,
                                    options_of(j.seed, stem_member ? stem_member->csv : fs::path{}), d.vocab);
    for (const auto& m : todo) {
      if (m.fork_step == 0) break;
      if (stem.step() < m.fork_step) {
        stem.pause_at(m.fork_step);
        (void)stem.run(&quiet_observer());
        if (interrupt_flag().load() || stem.step() != m.fork_step) return;
      }
      train::progressive_trainer tr(m.cfg->schedule, *d.data, options_of(j.seed, m.csv), d.vocab);
      tr.continue_from(stem);
      const auto r = tr.run(&quiet_observer());
      if (!finish(m, r, " (forked from " + j.stem->name + " at step " + std::to_string(m.fork_step) + ")", tr.model())) return;
    }
    if (stem_member) {
      stem.pause_at(0);
      const auto r = stem.run(&quiet_observer());
      (void)finish(*stem_member, r, " (stem of " + std::to_string(j.members.size()) + " runs)", stem.model());
    }
  }
};

/// How the study ran, for the top of RESULTS.md: command, commit, machine, load, date, corpus, settings.
study::report_context report_context_of(const study_args& a, const study::scale_spec& sc, const study_corpus& d,
                                        double study_seconds) {
  study::report_context ctx;
  ctx.command = a.command_line;
  ctx.commit = shell_out("git -C '" + std::string(GROWTH_SOURCE_DIR) + "' rev-parse HEAD 2>/dev/null");
  const std::string dirty = shell_out("git -C '" + std::string(GROWTH_SOURCE_DIR) + "' status --porcelain 2>/dev/null | head -1");
  if (ctx.commit.empty()) ctx.commit = "unknown (not a git checkout)";
  else if (!dirty.empty()) ctx.commit += " (working tree had uncommitted changes)";
  ctx.machine = std::to_string(std::thread::hardware_concurrency()) + " logical CPUs (nproc), " + cpu_model();
  ctx.load = shell_out("cut -d' ' -f1-3 /proc/loadavg 2>/dev/null");
  ctx.date = fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(std::time(nullptr)));
  ctx.corpus = d.path.substr(d.path.find_last_of('/') + 1) + ", first " + std::to_string(d.text.size()) + " bytes, " +
               std::to_string(d.stream.size()) + " tokens; vocabulary " + std::to_string(d.vocab.size()) + " WordPiece pieces; " +
               std::to_string(d.data->validation_sequences()) + " validation sequences of " + std::to_string(sc.seq_len) + " tokens";
  ctx.seeds = a.seeds;
  ctx.jobs = a.jobs;
  ctx.threads = a.threads;
  ctx.eval_every = sc.eval_interval();
  ctx.study_seconds = study_seconds;
  ctx.unigram_entropy = study::unigram_entropy(d.stream);
  if (!d.tasks.empty()) {
    for (const auto& t : d.tasks) ctx.finetune_tasks.push_back(t.name);
    ctx.finetune_baselines = d.baselines;
    ctx.finetune_recipe = fmt::format("{} steps of batch {}, lr {} (10% warmup, linear decay), at most {} tokens, scored on the first {} "
                                      "test examples of each task (split seed 1)",
                                      d.ft.steps, d.ft.batch_size, d.ft.lr, d.ft.max_seq_len, d.ft.max_eval_examples);
  }
  return ctx;
}

void run_study(const study_args& a) {
  const auto t_start = std::chrono::steady_clock::now();
  study::scale_spec sc = study::scale_of(a.scale);
  if (a.steps) {
    sc.steps = a.steps;
    sc.eval_every = 0;  // N / 20
  }
  if (a.seeds < 1) throw error("--seeds", ">= 1", "0");
  if (a.jobs < 1) throw error("--jobs", ">= 1", "0");
  const fs::path out = a.out;
  fs::create_directories(out / "runs");
  fs::create_directories(out / "results");
  install_sigint_handler();

  // 1. Data.
  study_corpus d = prepare_corpus(a, sc, out);
  fmt::print("study: scale {}, corpus {} bytes -> vocabulary {}, {} tokens, {} validation sequences of {}; "
             "{} seeds, {} jobs x {} threads\n",
             sc.name, d.text.size(), d.vocab.size(), d.stream.size(), d.data->validation_sequences(), sc.seq_len, a.seeds, a.jobs,
             a.threads);
  const auto configs = study::study_configs(sc, d.vocab.size());
  // The data source builds its per-length training sets and the validation batches lazily; build them all
  // here, before the workers share it (they then only read).
  d.data->validation_batches();
  for (const auto& c : configs)
    for (const auto& st : c.schedule.stages) d.data->train_set(st.shape.seq_len);

  // 2. Runs.
  study_runner runner(a, sc, d, out, configs);
  const auto jobs = jobs_of(sc, configs, a.seeds);
  std::vector<std::function<void()>> work;
  work.reserve(jobs.size());
  for (const auto& j : jobs) work.push_back([&runner, &j] { runner.run_job(j); });
  growth_tool::run_jobs(a.jobs, a.threads, work);
  if (interrupt_flag().load()) {
    fmt::print("study interrupted; finished runs are kept in {}/runs (run again to resume)\n", out.string());
    const int sig = interrupt_signal().load();
    throw exit_request{128 + (sig ? sig : 2)};  // interrupted runs exit non-zero (docs/cli.md)
  }
  const double study_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  // 3. Publish.
  const auto ctx = report_context_of(a, sc, d, study_seconds);
  const auto files = study::write_report(out, sc, configs, runner.recs, ctx);
  fmt::print("study: {}/RESULTS.md and {} figures in {}/results ({:.0f}s)\n", out.string(), files, out.string(), study_seconds);
}

growth_tool::registrar reg{"study", [](CLI::App& app) {
  auto a = std::make_shared<study_args>();
  auto* sub = app.add_subcommand("study", "Reproduce the paper's comparisons at small scale and write RESULTS.md");
  sub->add_option("--out", a->out, "results folder (RESULTS.md, results/*.svg, runs/*.csv)")->capture_default_str();
  sub->add_option("--scale", a->scale, "smoke (ctest, < 1 min), small (the full scale's model, N/10) or full (about 45 min with --seeds 3 --jobs 2 --threads 1 on 2 cores: docs/RESULTS.md)")->capture_default_str();
  sub->add_option("--seeds", a->seeds, "seeds per configuration")->capture_default_str();
  sub->add_option("--steps", a->steps, "budget N: steps of the full baseline and of every grown run (0 = the scale's; validation then every N/20)")->capture_default_str();
  sub->add_option("--jobs", a->jobs, "runs trained at the same time")->capture_default_str();
  sub->add_option("--threads", a->threads, "threads per run (results are deterministic per thread count)")->capture_default_str();
  sub->add_option("--text", a->text, "corpus (default: data/kjv.txt of the source tree)");
  sub->add_option("--finetune-steps", a->finetune_steps,
                  "fine-tuning steps per downstream task and run (0 = no fine-tuning; default: smoke 4, small 100, full 200)");
  sub->callback([a] {
    std::string cmd = "growth study --out " + a->out + " --scale " + a->scale + " --seeds " + std::to_string(a->seeds) +
                      " --jobs " + std::to_string(a->jobs) + " --threads " + std::to_string(a->threads);
    if (a->steps) cmd += " --steps " + std::to_string(a->steps);
    if (!a->text.empty()) cmd += " --text " + a->text;
    if (a->finetune_steps != SIZE_MAX) cmd += " --finetune-steps " + std::to_string(a->finetune_steps);
    a->command_line = cmd;
    run_study(*a);
  });
}};

}  // namespace growth_tool::cmd_study
