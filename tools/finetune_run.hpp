#pragma once
// Fine-tuning a checkpoint folder on a downstream task, shared by `growth finetune`, `growth study` and
// `growth demo --finetune` (library side: train/finetune.hpp; tasks: data/classification_tasks.hpp).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <growth/core/error.hpp>
#include <growth/data/classification_tasks.hpp>
#include <growth/io/classifier_checkpoint.hpp>
#include <growth/train/finetune.hpp>

#include "command.hpp"
#include "common.hpp"

namespace growth_tool {

/// Checks a --task value before anything is loaded.
inline void check_task_name(const std::string& task) {
  const auto& n = growth::data::task_names();
  if (std::find(n.begin(), n.end(), task) == n.end())
    throw growth::error("--task", "one of testament, book, next-verse", "\"" + task + "\"");
}

/// A checkpoint folder (pre-trained MLM or fine-tuned) loaded for a classifier of `num_labels` classes.
inline growth::io::classifier_checkpoint load_classifier_folder(const fs::path& dir, std::size_t num_labels) {
  if (!fs::exists(dir)) throw growth::error("--model folder " + dir.string(), "an existing checkpoint folder", "missing");
  if (!fs::is_directory(dir)) throw growth::error("--model folder " + dir.string(), "a folder", "a file");
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt"})
    if (!fs::exists(dir / f))
      throw growth::error("checkpoint file " + (dir / f).string(), "present in the --model folder", "missing");
  return growth::io::load_for_classification(dir, num_labels, growth::io::reader_options{globals().allow_nonfinite});
}

/// The task from the corpus lines (data/kjv.txt unless the caller read another file).
inline growth::data::classification_task load_task(const std::string& task, const std::string& corpus_text, std::uint64_t split_seed) {
  return growth::data::make_task(task, growth::data::split_lines(corpus_text), split_seed);
}

/// Fine-tunes `dir` on `task` (the classifier is returned through `model` when the caller wants to save it).
inline growth::train::finetune_result finetune_folder(const fs::path& dir, const growth::data::classification_task& task,
                                                      const growth::train::finetune_options& o, double bow,
                                                      const std::function<bool(const growth::train::finetune_step&)>& on_step = {},
                                                      std::unique_ptr<growth::reference::bert_classifier<float>>* model = nullptr,
                                                      growth::io::classifier_checkpoint* loaded = nullptr) {
  auto ck = load_classifier_folder(dir, task.label_names.size());
  (void)growth::train::task_seq_len(ck.config, task, o.max_seq_len);  // too few positions: an error before any work
  growth::data::wordpiece_tokenizer tok(ck.vocab);
  auto m = growth::train::make_classifier(ck, task, o.seed);
  auto r = growth::train::finetune(*m, tok, task, o, on_step);
  r.bow = bow;
  if (model) *model = std::move(m);
  if (loaded) *loaded = std::move(ck);
  return r;
}

}  // namespace growth_tool
