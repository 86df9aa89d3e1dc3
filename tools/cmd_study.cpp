// growth study: reproduces the paper's comparisons at small scale with the progressive trainer and publishes
// them: <out>/RESULTS.md (tables with mean ± std over seeds, the paper's claim beside each row and whether we
// agree) and <out>/results/*.svg (validation-loss curves). The configurations are study/study.hpp's list.
//
// Runs go to a pool of --jobs workers (default 2) with --threads each (default 1), so the CPU use stays at
// jobs * threads. Every run's CSV log is kept in <out>/runs/; a run whose CSV and key (schedule + options)
// are already there is not trained again, so an interrupted study resumes where it stopped.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <growth/data/vocab_trainer.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/report/svg_plot.hpp>
#include <growth/schedule/json.hpp>
#include <growth/study/study.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>
#include <growth/train/trainer.hpp>

#include "command.hpp"

namespace growth_tool::cmd_study {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace growth;

struct study_args {
  std::string out = "results/study", scale = "small", text, command_line;
  std::size_t seeds = 3, steps = 0, jobs = 2, threads = 1;
};

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

/// One unit of work: the runs of one seed whose schedules share their first (low-cost) stage. That stage is
/// trained once and continued into each run's growth (progressive_trainer::continue_from), which gives the
/// runs bit-for-bit what training each from step 0 gives; a run that shares nothing is a group of one.
struct job {
  std::vector<const study::config*> cfgs;
  std::uint64_t seed = 0;
};

void run_study(const study_args& a) {
  const auto t_start = std::chrono::steady_clock::now();
  study::scale_spec sc = study::scale_of(a.scale);
  if (a.steps) sc.steps = a.steps;
  if (a.seeds < 1) throw error("--seeds", ">= 1", "0");
  if (a.jobs < 1) throw error("--jobs", ">= 1", "0");
  const std::size_t eval_every = sc.eval_every ? sc.eval_every : std::max<std::size_t>(1, sc.steps / 20);
  const fs::path out = a.out;
  fs::create_directories(out / "runs");
  fs::create_directories(out / "results");
  train::install_sigint_handler();

  // 1. Data (as `growth demo`): WordPiece vocabulary from the corpus prefix, full-length validation set.
  const std::string text_path = a.text.empty() ? std::string(GROWTH_SOURCE_DIR) + "/data/kjv.txt" : a.text;
  const std::string text = train::read_corpus(text_path, sc.corpus_chars);
  data::vocab_trainer_options vo;
  vo.vocab_size = sc.vocab;
  const auto vocab = data::train_wordpiece_vocab(text, vo);
  data::wordpiece_tokenizer tok(vocab);
  const auto stream = train::tokenize_cached(tok, text, out / "cache");
  train::data_options dopt;
  dopt.full_seq_len = sc.seq_len;
  dopt.max_validation_sequences = sc.max_validation;
  train::data_source data(tok, stream, dopt);
  std::printf("study: scale %s, corpus %zu bytes -> vocabulary %zu, %zu tokens, %zu validation sequences of %zu; "
              "%zu seeds, %zu jobs x %zu threads\n",
              sc.name.c_str(), text.size(), vocab.size(), stream.size(), data.validation_sequences(), sc.seq_len, a.seeds,
              a.jobs, a.threads);

  const auto configs = study::study_configs(sc, vocab.size());
  // The data source builds its per-length training sets and the validation batches lazily; build them all
  // here, before the workers share it (they then only read).
  data.validation_batches();
  for (const auto& c : configs)
    for (const auto& st : c.schedule.stages) data.train_set(st.shape.seq_len);

  // 2. Runs: phase 0 = everything but the extended runs, phase 1 = those (they need the baseline's loss).
  std::map<std::string, std::vector<study::run_record>> recs;
  for (const auto& c : configs) recs[c.name].resize(a.seeds);
  std::mutex print_mu;
  std::atomic<std::size_t> done{0};
  std::size_t total_runs = configs.size() * a.seeds;
  auto key_of = [&](const study::config& c, std::uint64_t seed, double target) {
    // Everything a run's result depends on: a run whose key differs is trained again.
    return sched::to_json(c.schedule).dump() + "\nseed " + std::to_string(seed) + " lr " + study::fmt("%.9g", sc.lr) +
           " eval_every " + std::to_string(eval_every) + " threads " + std::to_string(a.threads) + " target " +
           study::fmt("%.6f", target) + "\ndropout " + study::fmt("%.9g", sc.dropout) + " init_range " +
           study::fmt("%.9g", sc.init_range) + " corpus_bytes " + std::to_string(text.size()) + " tokens " +
           std::to_string(stream.size()) + " vocab " + std::to_string(vocab.size()) + " validation " +
           std::to_string(data.validation_sequences()) + "\n";
  };
  auto options_of = [&](const study::config& c, std::uint64_t seed, double target, const fs::path& csv,
                        const std::string& label) {
    train::trainer_options to;
    to.seed = seed;
    to.lr = sc.lr;
    to.warmup = std::max<std::size_t>(1, sc.steps / 20);
    to.eval_every = eval_every;
    to.base.vocab_size = vocab.size();
    to.base.hidden_dropout_prob = sc.dropout;
    to.base.attention_probs_dropout_prob = sc.dropout;
    to.base.initializer_range = sc.init_range;
    to.log_csv = csv;
    to.progress = train::progress_mode::quiet;
    to.label = label;
    if (c.extend_to_baseline) {
      to.target_loss = target;
      to.max_total_steps = sc.steps + sc.steps / 2;
    }
    return to;
  };
  auto run_group = [&](const job& j) {
    struct member {
      const study::config* cfg;
      study::run_record* rec;
      std::string base, key;
      fs::path csv, keyf;
    };
    std::vector<member> todo;
    for (const auto* c : j.cfgs) {
      member m{c, &recs[c->name][j.seed], c->name + "-seed" + std::to_string(j.seed), "", {}, {}};
      m.csv = out / "runs" / (m.base + ".csv");
      m.keyf = out / "runs" / (m.base + ".key");
      double target = 0;
      if (c->extend_to_baseline) {
        const auto& b = recs.at("baseline")[j.seed];
        target = b.rows.empty() ? 0 : b.rows.back().val_loss;
      }
      m.key = key_of(*c, j.seed, target);
      m.rec->config = c->name;
      m.rec->seed = j.seed;
      m.rec->target = target;
      std::error_code ec;
      if (fs::exists(m.csv, ec) && fs::exists(m.keyf, ec) && io::read_file(m.keyf) == m.key) {
        m.rec->rows = parse_csv(io::read_file(m.csv));
        std::lock_guard lk(print_mu);
        std::printf("[%zu/%zu] %s: cached\n", ++done, total_runs, m.base.c_str());
        std::fflush(stdout);
        continue;
      }
      fs::remove(m.keyf, ec);
      todo.push_back(std::move(m));
    }
    if (todo.empty()) return;
    train::set_threads(a.threads);
    // The shared first stage, trained once (only when two or more runs still need it).
    std::unique_ptr<train::progressive_trainer> stem;
    if (todo.size() > 1) {
      const auto& c = *todo.front().cfg;
      auto to = options_of(c, j.seed, todo.front().rec->target, {}, c.name + "-seed" + std::to_string(j.seed) + "-stage0");
      to.stop_after_step = c.schedule.stages[0].steps;
      stem = std::make_unique<train::progressive_trainer>(c.schedule, data, to, vocab);
      if (stem->run().rows.empty() || train::interrupt_flag().load()) return;
    }
    for (auto& m : todo) {
      if (train::interrupt_flag().load()) return;
      train::progressive_trainer tr(m.cfg->schedule, data, options_of(*m.cfg, j.seed, m.rec->target, m.csv, m.base), vocab);
      if (stem) tr.continue_from(*stem);
      const auto r = tr.run();
      m.rec->rows = r.rows;
      if (r.interrupted) return;
      io::write_file_atomic(m.keyf, m.key);
      std::lock_guard lk(print_mu);
      std::printf("[%zu/%zu] %s: %zu steps, val_loss %.4f, %.1fs%s\n", ++done, total_runs, m.base.c_str(), r.steps,
                  r.final_val_loss, r.wall_seconds, stem ? " (first stage shared)" : "");
      std::fflush(stdout);
    }
  };
  auto run_phase = [&](bool extended) {
    std::vector<job> jobs;
    // Seeds outermost so that a partial study has every configuration at its first seeds.
    for (std::size_t s = 0; s < a.seeds; ++s)
      for (const auto& c : configs) {
        if (c.extend_to_baseline != extended) continue;
        auto it = std::find_if(jobs.begin(), jobs.end(), [&](const job& g) {
          return g.seed == s && study::shares_first_stage(*g.cfgs.front(), c);
        });
        if (it != jobs.end()) it->cfgs.push_back(&c);
        else jobs.push_back({{&c}, s});
      }
    // Within a seed, the largest groups first, so that the pool does not end on one long group.
    std::stable_sort(jobs.begin(), jobs.end(), [](const job& x, const job& y) {
      return x.seed != y.seed ? x.seed < y.seed : x.cfgs.size() > y.cfgs.size();
    });
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errs(a.jobs);
    auto worker = [&](std::size_t w) {
      try {
#ifdef _OPENMP
        omp_set_num_threads(static_cast<int>(a.threads));
#endif
        for (std::size_t i; (i = next++) < jobs.size();) {
          if (train::interrupt_flag().load()) return;
          run_group(jobs[i]);
        }
      } catch (...) {
        errs[w] = std::current_exception();
        train::interrupt_flag().store(true);
      }
    };
    std::vector<std::thread> ts;
    for (std::size_t w = 0; w < a.jobs; ++w) ts.emplace_back(worker, w);
    for (auto& t : ts) t.join();
    for (auto& e : errs)
      if (e) std::rethrow_exception(e);
  };
  run_phase(false);
  if (train::interrupt_flag().load()) {
    std::printf("study interrupted; finished runs are kept in %s/runs (run again to resume)\n", out.c_str());
    return;
  }
  run_phase(true);
  if (train::interrupt_flag().load()) {
    std::printf("study interrupted; finished runs are kept in %s/runs (run again to resume)\n", out.c_str());
    return;
  }
  const double study_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  // 3. Publish.
  study::report_context ctx;
  ctx.command = a.command_line;
  ctx.commit = shell_out("git -C '" + std::string(GROWTH_SOURCE_DIR) + "' rev-parse HEAD 2>/dev/null");
  const std::string dirty = shell_out("git -C '" + std::string(GROWTH_SOURCE_DIR) + "' status --porcelain 2>/dev/null | head -1");
  if (ctx.commit.empty()) ctx.commit = "unknown (not a git checkout)";
  else if (!dirty.empty()) ctx.commit += " (working tree had uncommitted changes)";
  ctx.machine = std::to_string(std::thread::hardware_concurrency()) + " logical CPUs (nproc), " + cpu_model();
  ctx.load = shell_out("cut -d' ' -f1-3 /proc/loadavg 2>/dev/null");
  {
    char b[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(b, sizeof b, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    ctx.date = b;
  }
  ctx.corpus = text_path.substr(text_path.find_last_of('/') + 1) + ", first " + std::to_string(text.size()) + " bytes, " +
               std::to_string(stream.size()) + " tokens; vocabulary " + std::to_string(vocab.size()) + " WordPiece pieces; " +
               std::to_string(data.validation_sequences()) + " validation sequences of " + std::to_string(sc.seq_len) + " tokens";
  ctx.seeds = a.seeds;
  ctx.jobs = a.jobs;
  ctx.threads = a.threads;
  ctx.eval_every = eval_every;
  ctx.study_seconds = study_seconds;
  ctx.unigram_entropy = study::unigram_entropy(stream);
  const auto files = study::write_report(out, sc, configs, recs, ctx);
  std::printf("study: %s/RESULTS.md and %zu figures in %s/results (%.0fs)\n", out.c_str(), files, out.c_str(), study_seconds);
}

growth_tool::registrar reg{"study", [](CLI::App& app) {
  auto a = std::make_shared<study_args>();
  auto* sub = app.add_subcommand("study", "Reproduce the paper's comparisons at small scale and write RESULTS.md");
  sub->add_option("--out", a->out, "results folder (RESULTS.md, results/*.svg, runs/*.csv)")->capture_default_str();
  sub->add_option("--scale", a->scale, "smoke (~1 min), small (the full model, N/10) or full (66 min on 2 cores: docs/RESULTS.md)")->capture_default_str();
  sub->add_option("--seeds", a->seeds, "seeds per configuration")->capture_default_str();
  sub->add_option("--steps", a->steps, "total steps N of every run (0 = the scale's)")->capture_default_str();
  sub->add_option("--jobs", a->jobs, "runs trained at the same time")->capture_default_str();
  sub->add_option("--threads", a->threads, "threads per run (results are deterministic per thread count)")->capture_default_str();
  sub->add_option("--text", a->text, "corpus (default: data/kjv.txt of the source tree)");
  sub->callback([a] {
    std::string cmd = "growth study --out " + a->out + " --scale " + a->scale + " --seeds " + std::to_string(a->seeds) +
                      " --jobs " + std::to_string(a->jobs) + " --threads " + std::to_string(a->threads);
    if (a->steps) cmd += " --steps " + std::to_string(a->steps);
    if (!a->text.empty()) cmd += " --text " + a->text;
    a->command_line = cmd;
    run_study(*a);
  });
}};

}  // namespace growth_tool::cmd_study
