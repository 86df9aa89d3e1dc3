// Interrupted training, through the real `growth train` tool (a child process):
//  - the same command twice gives the same loss curve bit for bit (determinism per seed and thread count);
//  - SIGINT, SIGTERM and SIGHUP make the trainer finish its step, write `final` and exit with 128 + the
//    signal (an interrupted run is not a success); --resume from it then ends with the same log rows
//    (losses bit for bit) as an uninterrupted run;
//  - --save-every N replaces the checkpoint `last` every N steps; after a SIGKILL, --resume from it ends
//    bit for bit like an uninterrupted plain run;
//  - two `growth train` into one --out: the second fails at once naming the first's pid (the folder lock);
//  - SIGKILL at random moments (a schedule of one-step stages writes a checkpoint after every step, so
//    many kills land inside a checkpoint write): every checkpoint folder left behind loads, and --resume
//    from the last one ends with the same log rows as the uninterrupted run.
// Rows are compared through trainer_state.json, whose doubles are JSON numbers that read back bit-exactly.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/io/json.hpp>

#include "rel_util.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t n_stages = 24;  // one step each: a checkpoint after every step

/// Starts `growth <args...>` with stdout/stderr appended to log; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string tool = GROWTH_TOOL_PATH;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}
/// Waits for pid; returns its exit code, or 128 + signal when a signal ended it.
int wait_for(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
int run(const std::vector<std::string>& args, const fs::path& log) { return wait_for(spawn(args, log)); }

std::string slurp(const fs::path& p) {
  std::ifstream is(p);
  return std::string((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
}

/// The log rows of a checkpoint's trainer_state.json, wall time left out (it is the only inexact field).
std::vector<std::string> rows_of(const fs::path& ckpt) {
  const auto ts = growth::io::parse_json(growth::io::read_file(ckpt / "trainer_state.json"));
  std::vector<std::string> out;
  for (const auto& r : growth::io::as_array(ts.at("rows"))) {
    auto copy = r;
    copy.erase("wall_seconds");
    out.push_back(copy.dump());
  }
  return out;
}

/// The shared inputs: a tiny model, its vocabulary, a corpus excerpt and a schedule of one-step stages.
struct fixture {
  rel::scratch_dir dir{"interrupt"};
  fs::path model, corpus, schedule;
  fixture() {
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (char c = 'a'; c <= 'z'; ++c) vocab += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
    for (const char* p : {".", ",", ":", ";", "?", "!", "'", "-", "(", ")"}) vocab += std::string(p) + "\n";
    for (char c = '0'; c <= '9'; ++c) vocab += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
    std::size_t v = 0;
    for (char c : vocab) v += c == '\n';
    rel::put(dir / "vocab.txt", vocab);
    rel::put(dir / "config.json", "{\"vocab_size\": " + std::to_string(v) +
                                      ", \"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                                      "\"intermediate_size\": 32, \"max_position_embeddings\": 16, \"type_vocab_size\": 2}");
    const std::string kjv = slurp(fs::path(GROWTH_SOURCE_DIR) / "data" / "kjv.txt");
    REQUIRE(kjv.size() > 30000);
    rel::put(dir / "corpus.txt", kjv.substr(0, kjv.find('\n', 30000) + 1));
    std::string s = "{\"vocab_size\": " + std::to_string(v) + ", \"batch_size\": 4, \"stages\": [";
    for (std::size_t i = 0; i < n_stages; ++i)
      s += std::string(i ? ", " : "") +
           R"({"steps": 1, "shape": {"layers": 1, "hidden": 16, "heads": 2, "ffn": 32, "seq_len": 16}})";
    s += "]}";
    rel::put(dir / "schedule.json", s);
    model = dir / "model";
    corpus = dir / "corpus.txt";
    schedule = dir / "schedule.json";
    REQUIRE(run({"init", "--config", (dir / "config.json").string(), "--vocab", (dir / "vocab.txt").string(), "--out",
                 model.string(), "--seed", "3"},
                dir / "init.log") == 0);
  }
  /// Data flags, given to fresh runs and to --resume alike (the corpus and validation size are not stored).
  [[nodiscard]] std::vector<std::string> data_flags() const {
    return {"--text", corpus.string(), "--max-validation", "8", "--threads", "1"};
  }
  [[nodiscard]] std::vector<std::string> train_args(const fs::path& out) const {
    std::vector<std::string> a{"train", "--model", model.string(), "--schedule", schedule.string(), "--out", out.string(),
                               "--seed", "11", "--lr", "0.002", "--warmup", "1", "--eval-every", "1"};
    for (const auto& f : data_flags()) a.push_back(f);
    return a;
  }
  /// A plain run (one stage of n_stages steps) with a checkpoint `last` every save_every steps.
  [[nodiscard]] std::vector<std::string> plain_args(const fs::path& out, std::size_t steps, std::size_t save_every) const {
    std::vector<std::string> a{"train", "--model", model.string(), "--steps", std::to_string(steps), "--batch", "4",
                               "--seq-len", "16", "--out", out.string(), "--seed", "11", "--lr", "0.002", "--warmup", "1",
                               "--eval-every", "1", "--save-every", std::to_string(save_every)};
    for (const auto& f : data_flags()) a.push_back(f);
    return a;
  }
  [[nodiscard]] std::vector<std::string> resume_args(const fs::path& from, const fs::path& out) const {
    std::vector<std::string> a{"train", "--resume", from.string(), "--out", out.string()};
    for (const auto& f : data_flags()) a.push_back(f);
    return a;
  }
};

fixture& shared() {
  static fixture f;
  return f;
}

/// The uninterrupted reference run (and how long it took).
struct reference_run {
  std::vector<std::string> rows;
  double seconds = 0;
};
const reference_run& reference() {
  static const reference_run r = [] {
    auto& f = shared();
    const auto out = f.dir / "ref";
    const auto t0 = clock_type::now();
    REQUIRE(run(f.train_args(out), f.dir / "ref.log") == 0);
    reference_run x;
    x.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    x.rows = rows_of(out / "final");
    return x;
  }();
  return r;
}

}  // namespace

TEST_CASE("growth train is deterministic: the same command twice gives the same loss curve bit for bit") {
  auto& f = shared();
  const auto& ref = reference();
  REQUIRE(ref.rows.size() == n_stages);
  REQUIRE(run(f.train_args(f.dir / "again"), f.dir / "again.log") == 0);
  CHECK(rows_of(f.dir / "again" / "final") == ref.rows);
  // Every stage checkpoint of the two runs holds the same parameters bit for bit.
  for (std::size_t i = 0; i < n_stages; i += 7) {
    const auto a = growth::io::load_checkpoint(f.dir / "ref" / ("stage-" + std::to_string(i)));
    const auto b = growth::io::load_checkpoint(f.dir / "again" / ("stage-" + std::to_string(i)));
    CHECK(a.params == b.params);
    CHECK(a.opt->exp_avg_sq == b.opt->exp_avg_sq);
  }
}

TEST_CASE("SIGINT during training writes a final checkpoint and exits 130 - --resume finishes bit for bit") {
  auto& f = shared();
  const auto& ref = reference();
  const auto out = f.dir / "sigint";
  const pid_t pid = spawn(f.train_args(out), f.dir / "sigint.log");
  // Wait until training is under way (a checkpoint exists, so the handler is installed), then interrupt.
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (!fs::exists(out / "stage-1") && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGINT);
  const int rc = wait_for(pid);
  INFO(slurp(f.dir / "sigint.log"));
  CHECK(rc == 128 + SIGINT);  // handled (not killed by it) and reported as not finished
  CHECK(rel::contains(slurp(f.dir / "sigint.log"), "interrupted by SIGINT"));
  REQUIRE(fs::exists(out / "final" / "trainer_state.json"));
  const auto ts = growth::io::parse_json(growth::io::read_file(out / "final" / "trainer_state.json"));
  const auto stopped_at = growth::io::as_size(ts.at("step"));
  CHECK_FALSE(growth::io::as_bool(ts.at("complete")));
  CHECK(stopped_at < n_stages);
  CHECK(rel::contains(slurp(f.dir / "sigint.log"), "interrupted"));
  CHECK_NOTHROW(growth::io::load_checkpoint(out / "final"));
  REQUIRE(run(f.resume_args(out / "final", out), f.dir / "sigint-resume.log") == 0);
  CHECK(rows_of(out / "final") == ref.rows);
}

TEST_CASE("SIGKILL at random moments: every checkpoint left loads, and --resume ends bit for bit") {
  auto& f = shared();
  const auto& ref = reference();
  std::mt19937_64 rng(20240611);
  const int kills = 10;
  int resumed = 0, before_first_checkpoint = 0, inside_write = 0;
  for (int k = 0; k < kills; ++k) {
    const auto out = f.dir / ("kill-" + std::to_string(k));
    // The reference run's duration includes process start and tokenisation; spread kills over all of it.
    const double delay = std::uniform_real_distribution<double>(0.0, ref.seconds)(rng);
    const pid_t pid = spawn(f.train_args(out), f.dir / "kill.log");
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    ::kill(pid, SIGKILL);
    const int rc = wait_for(pid);
    CAPTURE(k);
    CAPTURE(delay);
    CAPTURE(rc);
    // Every published checkpoint folder is complete and loads; in-flight temp folders start with '.'.
    std::size_t last = 0;
    bool any = false;
    if (fs::exists(out)) {
      for (const auto& e : fs::directory_iterator(out)) {
        const std::string n = e.path().filename().string();
        // A temp folder left behind: the kill landed inside a checkpoint write (save_checkpoint's ".<name>.tmp-").
        if (n[0] == '.' && n.find(".tmp-") != std::string::npos) ++inside_write;
        if (n.rfind("stage-", 0) != 0 && n != "final") continue;
        CAPTURE(n);
        CHECK_NOTHROW(growth::io::load_checkpoint(e.path()));
        CHECK_NOTHROW(growth::io::safetensors_reader(e.path() / "optimizer.safetensors"));
        if (n.rfind("stage-", 0) == 0) {
          const std::size_t i = std::stoul(n.substr(6));
          if (!any || i > last) last = i;
          any = true;
        }
      }
    }
    if (rc == 0) {  // the kill came after the run ended
      CHECK(rows_of(out / "final") == ref.rows);
      continue;
    }
    if (!any) {
      ++before_first_checkpoint;
      continue;
    }
    const auto from = out / ("stage-" + std::to_string(last));
    REQUIRE(run(f.resume_args(from, out), f.dir / "kill-resume.log") == 0);
    CHECK(rows_of(out / "final") == ref.rows);
    ++resumed;
    std::error_code ec;
    fs::remove_all(out, ec);
  }
  MESSAGE(resumed << " of " << kills << " kills resumed from a checkpoint, " << before_first_checkpoint
                  << " came before the first checkpoint, " << inside_write
                  << " left a half-written checkpoint temp folder (ignored, as it should be)");
  CHECK(resumed >= 1);
}

TEST_CASE("SIGTERM and SIGHUP are handled like SIGINT: final checkpoint, exit 128 + signal, --resume bit for bit") {
  auto& f = shared();
  const auto& ref = reference();
  for (const int sig : {SIGTERM, SIGHUP}) {
    CAPTURE(sig);
    const auto out = f.dir / ("sig" + std::to_string(sig));
    const auto log = f.dir / ("sig" + std::to_string(sig) + ".log");
    const pid_t pid = spawn(f.train_args(out), log);
    const auto deadline = clock_type::now() + std::chrono::seconds(30);
    while (!fs::exists(out / "stage-1") && clock_type::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ::kill(pid, sig);
    const int rc = wait_for(pid);
    INFO(slurp(log));
    CHECK(rc == 128 + sig);  // 143 / 129: handled, not killed by the signal
    REQUIRE(fs::exists(out / "final" / "trainer_state.json"));
    const auto ts = growth::io::parse_json(growth::io::read_file(out / "final" / "trainer_state.json"));
    CHECK_FALSE(growth::io::as_bool(ts.at("complete")));
    CHECK(rel::contains(slurp(log), sig == SIGTERM ? "interrupted by SIGTERM" : "interrupted by SIGHUP"));
    CHECK(rel::contains(slurp(log), (out / "final").string()));  // says where it saved
    REQUIRE(run(f.resume_args(out / "final", out), f.dir / "sig-resume.log") == 0);
    CHECK(rows_of(out / "final") == ref.rows);
  }
}

TEST_CASE("--save-every: `last` is replaced every N steps, and --resume from it after SIGKILL ends bit for bit") {
  auto& f = shared();
  // The uninterrupted plain run; with --save-every 5 over 24 steps, `last` is the state after step 20.
  const auto ref_out = f.dir / "plain-ref";
  REQUIRE(run(f.plain_args(ref_out, n_stages, 5), f.dir / "plain-ref.log") == 0);
  const auto ref_rows = rows_of(ref_out / "final");
  REQUIRE(ref_rows.size() == n_stages);
  const auto last_ts = growth::io::parse_json(growth::io::read_file(ref_out / "last" / "trainer_state.json"));
  CHECK(growth::io::as_size(last_ts.at("step")) == 20);
  CHECK(rows_of(ref_out / "last").size() == 20);

  // Killed (no chance to write `final`) once a `last` exists; every step writes one, so it lands mid-run.
  const auto out = f.dir / "plain-kill";
  const pid_t pid = spawn(f.plain_args(out, n_stages, 1), f.dir / "plain-kill.log");
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (!fs::exists(out / "last" / "trainer_state.json") && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(pid, SIGKILL);
  const int rc = wait_for(pid);
  INFO(slurp(f.dir / "plain-kill.log"));
  REQUIRE(rc == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(out / "final"));
  REQUIRE_NOTHROW(growth::io::load_checkpoint(out / "last"));
  const auto ts = growth::io::parse_json(growth::io::read_file(out / "last" / "trainer_state.json"));
  const std::size_t saved_at = growth::io::as_size(ts.at("step"));
  CHECK(saved_at >= 1);
  CHECK(saved_at < n_stages);
  REQUIRE(run(f.resume_args(out / "last", out), f.dir / "plain-resume.log") == 0);
  CHECK(rows_of(out / "final") == ref_rows);
}

TEST_CASE("two growth train runs into one --out: the second is refused naming the first (pid), the first goes on") {
  auto& f = shared();
  const auto out = f.dir / "locked";
  const auto log1 = f.dir / "lock-first.log";
  // Long enough that it is still running when the second starts; ended by SIGTERM below.
  const pid_t pid = spawn(f.plain_args(out, 100000000, 0), log1);
  const std::string holder = "pid " + std::to_string(pid);
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (!(fs::exists(out / ".growth.lock") && rel::contains(slurp(out / ".growth.lock"), holder)) &&
         clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(rel::contains(slurp(out / ".growth.lock"), holder));
  const auto log2 = f.dir / "lock-second.log";
  const int rc2 = run(f.plain_args(out, 2, 0), log2);
  CHECK(rc2 == 2);
  const std::string msg = slurp(log2);
  INFO(msg);
  CHECK(rel::contains(msg, "growth: error: --out folder"));
  CHECK(rel::contains(msg, "held by " + holder));
  ::kill(pid, SIGTERM);
  const int rc1 = wait_for(pid);
  INFO(slurp(log1));
  CHECK(rc1 == 128 + SIGTERM);
  CHECK_NOTHROW(growth::io::load_checkpoint(out / "final"));
  // The lock went with the process (the lock file stays, harmlessly): a new run into the folder succeeds.
  CHECK(run(f.plain_args(out, 2, 0), f.dir / "lock-third.log") == 0);
}
