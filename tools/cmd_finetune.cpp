// growth finetune: fine-tunes a checkpoint (pre-trained BertForMaskedLM, or an earlier fine-tuned folder)
// on a downstream task of the corpus with the reference BertForSequenceClassification, and reports its
// test accuracy beside the majority class and a bag-of-words logistic regression (docs/cli.md).
//
// --out DIR receives a folder that transformers loads as BertForSequenceClassification (config.json with
// num_labels / id2label / label2id, model.safetensors, vocab.txt: io/classifier_checkpoint.hpp) plus
// finetune.csv (one row per step: step,loss,accuracy,lr,grad_norm) and finetune.json (the result). The
// last line on stdout is
//   task=<name> accuracy=<test accuracy> majority=<majority-class test accuracy> bow=<bag-of-words test accuracy>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "finetune_run.hpp"
#include "out_folder.hpp"
#include "progress.hpp"

namespace growth_tool::cmd_finetune {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct finetune_args {
  std::string model, task, out, text, progress = "auto";
  growth::train::finetune_options o;
  std::uint64_t split_seed = 1;
  bool force = false;
};

void run_finetune(const finetune_args& a) {
  using growth::error;
  check_task_name(a.task);
  const auto out = check_out_folder(a.out, a.force);
  check_out_not_source(out, a.model);
  progress_mode mode = progress_mode::automatic;
  if (a.progress == "bar") mode = progress_mode::bar;
  else if (a.progress == "lines") mode = progress_mode::lines;
  else if (a.progress == "quiet") mode = progress_mode::quiet;
  else if (a.progress != "auto") throw error("--progress", "auto, bar, lines or quiet", "\"" + a.progress + "\"");
  const bool tty = ::isatty(::fileno(stdout)) != 0;
  const bool bar = mode == progress_mode::bar || (mode == progress_mode::automatic && tty);
  const bool quiet = mode == progress_mode::quiet;

  const std::string text = read_text(a.text.empty() ? default_corpus() : fs::path(a.text), "--text");
  const auto task = load_task(a.task, text, a.split_seed);
  const double bow = growth::train::bow_accuracy(task, a.split_seed, a.o.max_eval_examples);
  install_sigint_handler();
  std::string csv = "step,loss,accuracy,lr,grad_norm\n";
  const std::size_t every = std::max<std::size_t>(1, a.o.steps / 20);
  bool interrupted = false;
  auto on_step = [&](const growth::train::finetune_step& s) {
    csv += fmt::format("{},{:.6f},{:.6f},{:.6e},{:.6f}\n", s.step, s.loss, s.accuracy, s.lr, s.grad_norm);
    if (bar && !quiet) {
      fmt::print("\r[finetune {}] step {}/{} loss {:.4f} acc {:.3f} lr {:.2e}   ", a.task, s.step, s.steps, s.loss, s.accuracy, s.lr);
      std::fflush(stdout);
    } else if (!quiet && (s.step % every == 0 || s.step == s.steps)) {
      fmt::print("[finetune {}] step {}/{} loss {:.4f} acc {:.3f} lr {:.2e}\n", a.task, s.step, s.steps, s.loss, s.accuracy, s.lr);
      std::fflush(stdout);
    }
    interrupted = interrupt_flag().load();
    return !interrupted;
  };
  std::unique_ptr<growth::reference::bert_classifier<float>> m;
  growth::io::classifier_checkpoint ck;
  const auto r = finetune_folder(a.model, task, a.o, bow, on_step, &m, &ck);
  if (bar && !quiet) fmt::print("\n");
  if (interrupted) {
    fmt::print(stderr, "growth finetune: interrupted; nothing written\n");
    throw exit_request{128 + interrupt_signal().load()};
  }
  growth::io::json j;
  j["task"] = r.task;
  j["accuracy"] = r.accuracy;
  j["validation_accuracy"] = r.validation_accuracy;
  j["majority"] = r.majority;
  j["bow"] = r.bow;
  j["final_train_loss"] = r.final_loss;
  j["test_examples"] = r.test_examples;
  j["steps"] = a.o.steps;
  j["lr"] = a.o.lr;
  j["batch"] = a.o.batch_size;
  j["seed"] = a.o.seed;
  j["split_seed"] = a.split_seed;
  j["model"] = a.model;
  auto enc = m->encoder().parameters();
  auto head = m->head_parameters();
  growth::io::save_classifier_checkpoint(out, ck.config, enc, head, task.label_names, ck.vocab,
                                         {{"finetune.csv", csv}, {"finetune.json", j.dump(2) + "\n"}});
  if (!quiet) fmt::print("validation_accuracy={:.4f} test_examples={} out={}\n", r.validation_accuracy, r.test_examples, out.string());
  fmt::print("task={} accuracy={:.4f} majority={:.4f} bow={:.4f}\n", r.task, r.accuracy, r.majority, r.bow);
}

growth_tool::registrar reg{"finetune", [](CLI::App& app) {
  auto a = std::make_shared<finetune_args>();
  auto* sub = app.add_subcommand("finetune", "Fine-tune a checkpoint on a corpus task (BertForSequenceClassification)");
  sub->add_option("--model", a->model, "checkpoint folder (pre-trained, or fine-tuned)")->required();
  sub->add_option("--task", a->task, "testament, book or next-verse (data/README.md)")->required();
  sub->add_option("--out", a->out, "folder for the fine-tuned checkpoint, finetune.csv and finetune.json")->required();
  sub->add_option("--steps", a->o.steps, "optimizer steps")->capture_default_str();
  sub->add_option("--lr", a->o.lr, "peak learning rate (10% warmup, then linear decay)")->capture_default_str();
  sub->add_option("--seed", a->o.seed, "seed of the head init, batch order and dropout")->capture_default_str();
  sub->add_option("--batch", a->o.batch_size, "examples per step")->capture_default_str();
  sub->add_option("--seq-len", a->o.max_seq_len, "longest sequence (capped at max_position_embeddings)")->capture_default_str();
  sub->add_option("--split-seed", a->split_seed, "seed of the task's train / validation / test split")->capture_default_str();
  sub->add_option("--max-eval", a->o.max_eval_examples, "evaluate on the first N validation / test examples (0 = all)")
      ->capture_default_str();
  sub->add_option("--text", a->text, "corpus (default: data/kjv.txt of the source tree)");
  sub->add_option("--progress", a->progress, "auto, bar, lines or quiet")->capture_default_str();
  sub->add_flag("--force", a->force, "replace an existing fine-tuned --out folder");
  sub->callback([a] { run_finetune(*a); });
}};

}  // namespace growth_tool::cmd_finetune
