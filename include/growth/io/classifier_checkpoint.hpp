#pragma once
/// @file classifier_checkpoint.hpp
/// Fine-tuned checkpoint folders that transformers loads as BertForSequenceClassification:
///   config.json        config_json.hpp's fields with "architectures": ["BertForSequenceClassification"],
///                      "num_labels", "id2label" {"0": name, ...}, "label2id" {name: 0, ...} and
///                      "problem_type": "single_label_classification"
///   model.safetensors  F32: the encoder (model::bert_parameters(config) without the MLM head cls.*) and the
///                      head (model::classifier_parameters: bert.pooler.dense.*, classifier.*), HF names
///   vocab.txt          the tokenizer
///   plus the caller's extra files (growth finetune: finetune.csv, finetune.json), written in the same
///   atomic folder swap as checkpoint.hpp's (temp folder beside, fsync, renameat2).
/// Loading (load_for_classification) takes either folder kind: a pre-trained BertForMaskedLM checkpoint
/// (checkpoint.hpp: the head is then absent, and the caller initialises it fresh, as HF does for weights a
/// checkpoint lacks) or a fine-tuned one (the head is read when its num_labels matches). Every encoder
/// tensor must be present with its exact shape; unknown tensors are an error.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "../model/bert_layout.hpp"
#include "../model/classifier_layout.hpp"
#include "checkpoint.hpp"

namespace growth::io {

struct classifier_checkpoint {
  model::bert_config config;
  std::vector<std::string> vocab;
  std::vector<float> encoder;              ///< bert_parameters(config) order; cls.* rows 0 when the folder lacks them
  std::optional<std::vector<float>> head;  ///< classifier_parameters(config, num_labels) order, when read
  bool fine_tuned = false;                 ///< the folder is a BertForSequenceClassification (has a head)
  std::size_t folder_num_labels = 0;       ///< the folder's num_labels (0: an MLM checkpoint)
};

/// Loads `dir` for a classifier with num_labels classes (see the file comment).
inline classifier_checkpoint load_for_classification(const std::filesystem::path& dir, std::size_t num_labels,
                                                     const reader_options& ro = {}) {
  classifier_checkpoint ck;
  ck.config = load_config(dir / "config.json");
  ck.vocab = detail::read_vocab(dir / "vocab.txt");
  detail::check_vocab(ck.vocab, ck.config.vocab_size, (dir / "vocab.txt").string());
  const auto specs = model::bert_parameters(ck.config);
  std::size_t total = 0;
  for (const auto& s : specs) total += s.numel();
  ck.encoder.assign(total, 0.0f);
  const safetensors_reader rd(dir / "model.safetensors", ro);
  const std::string file = (dir / "model.safetensors").string();
  std::set<std::string> known{"bert.embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"};
  std::size_t off = 0;
  for (const auto& s : specs) {
    known.insert(s.name);
    // The MLM head is optional (a fine-tuned folder has none); the encoder is not.
    if (!model::is_mlm_head_parameter(s) || rd.contains(s.name))
      rd.read<float>(s.name, std::span<float>(ck.encoder.data() + off, s.numel()), s.shape);
    off += s.numel();
  }
  if (rd.contains("classifier.weight")) {
    ck.fine_tuned = true;
    const auto& shape = rd.info("classifier.weight").shape;
    ck.folder_num_labels = shape.empty() ? 0 : shape[0];
  }
  for (const auto& s : model::classifier_parameters(ck.config, ck.folder_num_labels)) known.insert(s.name);
  for (const auto& n : rd.names()) {
    if (known.count(n)) continue;
    std::string subject = "checkpoint " + file;
    subject += ": tensor ";
    subject += n;
    throw error(subject, "a BertForMaskedLM or BertForSequenceClassification parameter", "an unknown tensor");
  }
  if (ck.fine_tuned && ck.folder_num_labels == num_labels) {
    const auto hs = model::classifier_parameters(ck.config, num_labels);
    std::size_t n = 0;
    for (const auto& s : hs) n += s.numel();
    std::vector<float> h(n);
    std::size_t o = 0;
    for (const auto& s : hs) {
      rd.read<float>(s.name, std::span<float>(h.data() + o, s.numel()), s.shape);
      o += s.numel();
    }
    ck.head = std::move(h);
  }
  return ck;
}

/// config.json of a fine-tuned folder (the file comment's fields on top of the BertConfig ones).
inline json classifier_config_json(const model::bert_config& c, const std::vector<std::string>& label_names) {
  json j = c;
  j["architectures"] = json::array({"BertForSequenceClassification"});
  j["num_labels"] = label_names.size();
  json id2label = json::object(), label2id = json::object();
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    id2label[std::to_string(i)] = label_names[i];
    label2id[label_names[i]] = i;
  }
  j["id2label"] = std::move(id2label);
  j["label2id"] = std::move(label2id);
  j["problem_type"] = "single_label_classification";
  return j;
}

/// Saves a fine-tuned folder (file comment). encoder: every parameter of bert_parameters(config) (the cls.*
/// rows are not written); head: every parameter of classifier_parameters(config, label_names.size()).
/// extra_files: name -> contents, written into the folder in the same swap. An existing folder is only
/// replaced when it holds nothing but these files.
template <class T>
void save_classifier_checkpoint(const std::filesystem::path& dir, const model::bert_config& config,
                                const model::parameter_set<T>& encoder, const model::parameter_set<T>& head,
                                const std::vector<std::string>& label_names, const std::vector<std::string>& vocab,
                                const std::map<std::string, std::string>& extra_files = {}) {
  config.validate();
  const auto specs = model::bert_parameters(config);
  const auto hspecs = model::classifier_parameters(config, label_names.size());
  detail::check_parameter_set(encoder, specs, "classifier encoder");
  for (const auto& s : hspecs) {
    const auto* p = head.find(s.name);
    if (!p) throw error("classifier head parameter " + s.name, "present", "missing");
    if (p->shape != s.shape)
      throw error("classifier head parameter " + s.name + " shape", growth::detail::shape_string(s.shape), growth::detail::shape_string(p->shape));
  }
  detail::check_vocab(vocab, config.vocab_size, "checkpoint vocabulary");
  std::filesystem::path target = dir;
  if (target.filename().empty()) target = target.parent_path();
  if (std::filesystem::exists(target)) {
    if (!std::filesystem::is_directory(target)) throw error("checkpoint folder " + target.string(), "a folder (or nothing)", "a file");
    for (const auto& e : std::filesystem::directory_iterator(target)) {
      const std::string n = e.path().filename().string();
      const bool ok = n == "config.json" || n == "model.safetensors" || n == "vocab.txt" || extra_files.count(n);
      if (!ok)
        throw error("checkpoint folder " + target.string(), "only fine-tuned checkpoint files before it is replaced",
                    "an unrelated entry \"" + n + "\"");
    }
  }
  detail::remove_stale_temp_dirs(target);
  const auto tmp = detail::make_temp_dir_beside(target);
  try {
    write_file_atomic(tmp / "config.json", classifier_config_json(config, label_names).dump(2) + "\n");
    save_vocab(tmp / "vocab.txt", vocab);
    {
      std::vector<std::vector<float>> scratch(specs.size() + hspecs.size());
      safetensors_writer w;
      w.set_metadata("format", "pt");
      for (std::size_t i = 0; i < specs.size(); ++i)
        if (!model::is_mlm_head_parameter(specs[i]))
          w.add<float>(specs[i].name, specs[i].shape, detail::dense_float(encoder.at(specs[i].name), scratch[i]));
      for (std::size_t i = 0; i < hspecs.size(); ++i)
        w.add<float>(hspecs[i].name, hspecs[i].shape, detail::dense_float(head.at(hspecs[i].name), scratch[specs.size() + i]));
      w.write(tmp / "model.safetensors");
    }
    for (const auto& [name, text] : extra_files) write_file_atomic(tmp / name, text);
    detail::fsync_dir(tmp);
    detail::publish_dir(tmp, target);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace growth::io
