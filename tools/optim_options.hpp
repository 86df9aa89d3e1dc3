#pragma once
// The optimizer and learning-rate options shared by `growth train`, `growth demo` and `growth study`: one
// set of flags, one validation, one translation into train::trainer_options.
#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

#include <growth/core/error.hpp>
#include <growth/schedule/learning_rate.hpp>
#include <growth/train/trainer.hpp>

namespace growth_tool {

struct optim_args {
  double lr = 1e-3;
  std::string lr_schedule = "linear";
  double min_lr_ratio = 0.1, decay_fraction = 0.2;
  double beta1 = 0.9, beta2 = 0.999, weight_decay = 0.01, max_grad_norm = 1.0;
};

namespace detail {
/// CLI11 check: a finite number in [lo, hi] (lo excluded when open_lo).
inline CLI::Validator finite_in(double lo, double hi, bool open_lo, std::string what) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(s, &used);
          if (used != s.size()) return what + ": expected a number, got \"" + s + "\"";
        } catch (const std::exception&) {
          return what + ": expected a number, got \"" + s + "\"";
        }
        if (!std::isfinite(v) || v > hi || (open_lo ? v <= lo : v < lo))
          return what + ": expected a finite value in " + (open_lo ? "(" : "[") + std::to_string(lo) + ", " +
                 std::to_string(hi) + "], got " + s;
        return {};
      },
      "", what);
}
}  // namespace detail

/// Adds --lr, --lr-schedule, --min-lr-ratio, --decay-fraction, --beta1, --beta2, --weight-decay and
/// --max-grad-norm to `sub`, with `a`'s values as defaults.
inline void add_optim_options(CLI::App* sub, optim_args& a) {
  using detail::finite_in;
  sub->add_option("--lr", a.lr, "peak learning rate")->capture_default_str()->check(finite_in(0, 1e3, true, "--lr"));
  sub->add_option("--lr-schedule", a.lr_schedule, "learning-rate curve: linear, cosine or wsd (warmup-stable-decay)")
      ->capture_default_str()
      ->check(CLI::IsMember({"linear", "cosine", "wsd"}));
  sub->add_option("--min-lr-ratio", a.min_lr_ratio, "the curve ends at lr * this (0 = fully decayed)")
      ->capture_default_str()
      ->check(finite_in(0, 1, false, "--min-lr-ratio"));
  sub->add_option("--decay-fraction", a.decay_fraction, "wsd: the last fraction of the budget that decays")
      ->capture_default_str()
      ->check(finite_in(0, 1, true, "--decay-fraction"));
  sub->add_option("--beta1", a.beta1, "AdamW beta1")->capture_default_str()->check(finite_in(0, 1, false, "--beta1"));
  sub->add_option("--beta2", a.beta2, "AdamW beta2 (0.98: the fast-BERT recipes)")
      ->capture_default_str()
      ->check(finite_in(0, 1, false, "--beta2"));
  sub->add_option("--weight-decay", a.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str()
      ->check(finite_in(0, 1, false, "--weight-decay"));
  sub->add_option("--max-grad-norm", a.max_grad_norm, "global gradient-norm clipping (0 = off)")
      ->capture_default_str()
      ->check(finite_in(0, 1e6, false, "--max-grad-norm"));
}

/// Copies the options into trainer options (warmup and everything else are the caller's).
template <class Config>  // the options of either trainer (BERT, decoder)
void apply_optim_options(const optim_args& a, growth::train::basic_trainer_options<Config>& o) {
  o.lr = a.lr;
  const auto fam = growth::sched::lr_family_names.parse(a.lr_schedule);
  if (!fam) throw growth::error("--lr-schedule", growth::sched::lr_family_names.alternatives(), "\"" + a.lr_schedule + "\"");
  o.lr_schedule = *fam;
  o.min_lr_ratio = a.min_lr_ratio;
  o.decay_fraction = a.decay_fraction;
  o.adam.beta1 = a.beta1;
  o.adam.beta2 = a.beta2;
  o.adam.weight_decay = a.weight_decay;
  o.adam.max_grad_norm = a.max_grad_norm;
}

}  // namespace growth_tool
