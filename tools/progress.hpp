#pragma once
// The tool's side of a training run: the SIGINT/SIGTERM/SIGHUP stop flag and the console observer that
// prints a run's progress (a train::trainer_observer; the library's trainer prints nothing). Used by
// `growth train`, `growth demo` and `growth study`.
//
// Output (the same as when the trainer printed it itself; exit codes and the stderr line: docs/cli.md):
//   stage start   "[label] stage 2/3: L4-H64-A2-I256-S32 for 70 steps" (+ " (mean embedding pooling k=2; ...)")
//   lines mode    one line per log row: "[label] step N stage S SHAPE train_loss .. val_loss .. flops .. wall ..s"
//   bar mode      one "\r"-rewritten line after every step: stage, step/cap, loss, val, lr, ETA
//   automatic growth "[label] automatic growth after step N (stage S ends K steps early): why"
//   interrupted   "[label] interrupted at step N; state saved in OUT/final"
//   quiet         nothing
// `automatic` is bar when stdout is a terminal, lines otherwise.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <growth/train/trainer.hpp>

namespace growth_tool {

// ------------------------------------------------------------------------------------------------------------
// Stop on a signal.

/// The stop flag every run of this process polls after each step (console_observer::stop_requested).
inline std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> f{false};
  return f;
}
/// The signal that set interrupt_flag() (0 while none did).
inline std::atomic<int>& interrupt_signal() {
  static std::atomic<int> s{0};
  return s;
}
namespace detail {
inline void on_sigint(int sig) {
  interrupt_signal().store(sig);
  interrupt_flag().store(true);
  std::signal(sig, SIG_DFL);  // a second Ctrl-C (or kill) ends the process at once
}
}  // namespace detail
/// SIGINT, SIGTERM and SIGHUP set interrupt_flag() (the trainer then finishes its step, checkpoints and
/// returns). SIGTERM and SIGHUP are what timeout(1), systemd and Slurm send before killing.
inline void install_sigint_handler() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, detail::on_sigint);
}

// ------------------------------------------------------------------------------------------------------------
// Console output of a run.

enum class progress_mode { automatic, bar, lines, quiet };

/// Prints a run's progress as the file comment shows, and stops the run when interrupt_flag() is set. The
/// bar's ETA is the run's own pace: seconds per step since this run() call began, times the steps left.
class console_observer final : public growth::train::trainer_observer {
 public:
  /// `out_dir` only names the folder in the "interrupted" line (empty: "(no --out)").
  console_observer(progress_mode mode, std::string label, std::filesystem::path out_dir)
      : label_(std::move(label)), out_dir_(std::move(out_dir)) {
    const bool tty = ::isatty(::fileno(stdout)) != 0;
    bar_ = mode == progress_mode::bar || (mode == progress_mode::automatic && tty);
    quiet_ = mode == progress_mode::quiet;
  }

  void on_stage(const growth::train::stage_event& e) override {
    if (quiet_) return;
    if (bar_) fmt::print("\n");
    fmt::print("[{}] stage {}/{}: {} for {} steps", label_, e.stage + 1, e.stages, growth::train::shape_name(e.shape), e.steps);
    if (e.shape.pool_size > 1) fmt::print(" (mean embedding pooling k={}; validated with pooling off)", e.shape.pool_size);
    fmt::print("\n");
    std::fflush(stdout);
  }

  void on_row(const growth::train::log_row& r) override {
    if (!bar_ && !quiet_)
      fmt::print("[{}] step {} stage {} {} train_loss {:.4f} val_loss {:.4f} flops {:.3e} wall {:.1f}s\n", label_, r.step,
                 r.stage, r.shape, r.train_loss, r.val_loss, r.flops, r.wall_seconds);
    std::fflush(stdout);
  }

  void on_growth(const growth::train::growth_event& g) override {
    if (!quiet_)
      fmt::print("{}[{}] automatic growth after step {} (stage {} ends {} steps early): {}\n", bar_ ? "\n" : "", label_,
                 g.step, g.stage + 1, g.steps_early, g.why);
  }

  void on_step(const growth::train::step_event& e) override {
    if (!bar_ || quiet_) return;
    const double eta = e.steps_this_run ? e.seconds_this_run / static_cast<double>(e.steps_this_run) *
                                              static_cast<double>(e.cap > e.step ? e.cap - e.step : 0)
                                        : 0.0;
    fmt::print("\r[{}] stage {}/{} step {}/{} loss {:.4f} val {:.4f} lr {:.2e} ETA {:.0f}s   ", label_, e.stage + 1, e.stages,
               e.step, e.cap, e.train_loss, e.val_loss, e.lr, eta);
    std::fflush(stdout);
  }

  bool stop_requested() override { return interrupt_flag().load(); }

  void on_end(const growth::train::run_result& r) override {
    if (bar_ && !quiet_) fmt::print("\n");
    if (r.interrupted && !quiet_)
      fmt::print("[{}] interrupted at step {}; state saved in {}\n", label_, r.steps,
                 out_dir_.empty() ? std::string("(no --out)") : (out_dir_ / "final").string());
  }

 private:
  std::string label_;
  std::filesystem::path out_dir_;
  bool bar_ = false, quiet_ = false;
};

/// A quiet run that stops on interrupt_flag(): the many runs of `growth demo` and `growth study`. One
/// object for all of them: a quiet observer keeps no state, so concurrent runs may share it.
inline console_observer& quiet_observer() {
  static console_observer q{progress_mode::quiet, "", {}};
  return q;
}

}  // namespace growth_tool
