#pragma once
/// @file train/finetune.hpp
/// Fine-tuning a pre-trained (or already fine-tuned) checkpoint on a downstream classification task
/// (data/classification_tasks.hpp) with the reference BertForSequenceClassification
/// (reference/bert_classifier.hpp), and the two baselines every result is reported beside: the majority
/// class and the bag-of-words logistic regression (data/bow_baseline.hpp).
///
/// Recipe (BERT's fine-tuning, Devlin et al. 2019 section 4, at our scale): AdamW (weight decay 0.01 on
/// weights, global gradient clipping at 1), linear warmup over the first 10% of the steps then linear
/// decay to 0, dropout as the config says; batch t holds the training examples t*B .. t*B + B - 1 of an
/// epoch-wise seeded permutation (epoch e = rng(seed, e)), so a run is a pure function of (checkpoint,
/// task, options). Sequences: at most min(max_seq_len, max_position_embeddings) tokens. The head is
/// initialised from `seed` when the checkpoint has none (HF: missing weights are initialised fresh).
/// The reported accuracy is on the test split with dropout off, after the last step.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../data/bow_baseline.hpp"
#include "../data/classification_tasks.hpp"
#include "../data/wordpiece.hpp"
#include "../io/classifier_checkpoint.hpp"
#include "../reference/adamw.hpp"
#include "../reference/bert_classifier.hpp"

namespace growth::train {

struct finetune_options {
  std::size_t steps = 300;
  double lr = 5e-4;  ///< small models pre-trained here want more than BERT-base's 2e-5 .. 5e-5
  std::uint64_t seed = 1;       ///< head init, batch order, dropout (the task split has its own seed)
  std::size_t batch_size = 16;
  double warmup_fraction = 0.1;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  std::size_t max_seq_len = 128;
  std::size_t eval_batch_size = 64;
  std::size_t max_eval_examples = 0;  ///< evaluate on the first n validation / test examples (0 = all)
};

struct finetune_step {
  std::size_t step = 0;  ///< 1-based
  std::size_t steps = 0;
  double loss = 0, accuracy = 0, lr = 0, grad_norm = 0;
};

struct finetune_result {
  std::string task;
  double accuracy = 0;             ///< test split, the fine-tuned model
  double validation_accuracy = 0;  ///< validation split, the fine-tuned model
  double majority = 0;             ///< test split, majority class of the training labels
  double bow = 0;                  ///< test split, bag-of-words logistic regression
  double final_loss = 0;           ///< mean training loss of the last 10% of the steps
  std::size_t test_examples = 0;
};

/// The sequence length a model uses for a task; throws growth::error when it has too few positions.
inline std::size_t task_seq_len(const model::bert_config& c, const data::classification_task& t, std::size_t max_seq_len) {
  const std::size_t need = data::min_positions(t.pair);
  if (c.max_position_embeddings < need)
    throw error("model max_position_embeddings",
                "at least " + std::to_string(need) + " for the " + (t.pair ? "pair " : "") + "task " + t.name +
                    (t.pair ? " ([CLS] A [SEP] B [SEP] with 6 tokens of each verse)" : " ([CLS] 6 tokens [SEP])"),
                std::to_string(c.max_position_embeddings));
  return std::max(need, std::min(max_seq_len, c.max_position_embeddings));
}

/// A classifier for task t from a loaded folder: the encoder's parameters copied, the head read when the
/// folder is a fine-tuned one with the same number of labels, else initialised from seed.
inline std::unique_ptr<reference::bert_classifier<float>> make_classifier(const io::classifier_checkpoint& ck,
                                                                          const data::classification_task& t, std::uint64_t seed) {
  auto m = std::make_unique<reference::bert_classifier<float>>(ck.config, t.label_names.size());
  m->init_head(seed);
  auto p = m->encoder().flat_params();
  if (p.size() != ck.encoder.size())
    throw error("checkpoint encoder parameters", std::to_string(p.size()) + " floats", std::to_string(ck.encoder.size()));
  std::copy(ck.encoder.begin(), ck.encoder.end(), p.begin());
  if (ck.head) std::copy(ck.head->begin(), ck.head->end(), m->head_params().begin());
  return m;
}

/// A classifier for task t on the weights of an in-memory pre-trained model (bert_parameters(c) order), its
/// head initialised from seed: what `growth study` fine-tunes at the end of each run.
inline std::unique_ptr<reference::bert_classifier<float>> make_classifier(const model::bert_config& c, std::span<const float> params,
                                                                          const data::classification_task& t, std::uint64_t seed) {
  auto m = std::make_unique<reference::bert_classifier<float>>(c, t.label_names.size());
  m->init_head(seed);
  auto p = m->encoder().flat_params();
  if (p.size() != params.size()) throw error("pre-trained parameters", std::to_string(p.size()) + " floats", std::to_string(params.size()));
  std::copy(params.begin(), params.end(), p.begin());
  return m;
}

/// Accuracy of m (dropout off) on the encoded examples, in batches of batch_size.
inline double evaluate_classifier(reference::bert_classifier<float>& m, const data::wordpiece_tokenizer& tok,
                                  const std::vector<data::encoded_example>& ex, bool pair, std::size_t seq_len,
                                  std::size_t batch_size) {
  if (ex.empty()) return 0;
  std::size_t hits = 0;
  std::vector<std::size_t> rows;
  for (std::size_t b = 0; b < ex.size(); b += batch_size) {
    rows.clear();
    for (std::size_t i = b; i < std::min(ex.size(), b + batch_size); ++i) rows.push_back(i);
    const auto bt = data::make_batch(tok, ex, rows, pair, seq_len);
    const auto r = m.evaluate(bt);
    for (std::size_t i = 0; i < rows.size(); ++i) hits += r.predictions[i] == bt.labels[i] ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(ex.size());
}

/// A task tokenised once for a vocabulary (the study fine-tunes many checkpoints of one vocabulary on it):
/// the training examples, and the first max_eval_examples validation and test examples (0 = all).
struct prepared_task {
  const data::classification_task* task = nullptr;
  std::vector<data::encoded_example> train, validation, test;
  double majority = 0;  ///< majority-class accuracy on `test`
};

inline prepared_task prepare_task(const data::classification_task& t, const data::wordpiece_tokenizer& tok,
                                  std::size_t max_eval_examples = 0) {
  auto cap = [&](const std::vector<data::text_example>& v) {
    const std::size_t n = max_eval_examples ? std::min(max_eval_examples, v.size()) : v.size();
    return std::span<const data::text_example>(v.data(), n);
  };
  prepared_task p;
  p.task = &t;
  p.train = data::encode_examples(tok, t.train);
  p.validation = data::encode_examples(tok, cap(t.validation));
  p.test = data::encode_examples(tok, cap(t.test));
  p.majority = data::majority_accuracy(t, cap(t.test));
  return p;
}

/// Fine-tunes m on a prepared task (file comment); on_step (optional) sees every step and returns false to
/// stop. o.max_eval_examples is the prepared task's (prepare_task), not read here.
inline finetune_result finetune(reference::bert_classifier<float>& m, const data::wordpiece_tokenizer& tok,
                                const prepared_task& p, const finetune_options& o,
                                const std::function<bool(const finetune_step&)>& on_step = {}) {
  const auto& t = *p.task;
  if (o.batch_size == 0) throw error("fine-tuning batch size", "> 0", "0");
  if (o.eval_batch_size == 0) throw error("fine-tuning eval batch size", "> 0", "0");
  if (p.train.empty()) throw error("task " + t.name + " training split", "at least one example", "none");
  if (m.num_labels() != t.label_names.size())
    throw error("classifier num_labels", std::to_string(t.label_names.size()) + " (task " + t.name + ")", std::to_string(m.num_labels()));
  const std::size_t seq_len = task_seq_len(m.config(), t, o.max_seq_len);
  const auto& train = p.train;

  reference::adamw_options ao;
  ao.weight_decay = o.weight_decay;
  ao.max_grad_norm = o.max_grad_norm;
  reference::classifier_adamw<float> opt(m, ao);
  const auto warmup = static_cast<std::size_t>(o.warmup_fraction * static_cast<double>(o.steps));
  const reference::lr_schedule sched{o.lr, warmup, o.steps};
  std::vector<std::size_t> perm;
  std::size_t perm_epoch = static_cast<std::size_t>(-1);
  std::vector<std::size_t> rows;
  finetune_result res;
  res.task = t.name;
  double tail_loss = 0;
  std::size_t tail = 0;
  const std::size_t tail_from = o.steps - std::min(o.steps, std::max<std::size_t>(1, o.steps / 10));
  for (std::size_t s = 0; s < o.steps; ++s) {
    rows.clear();
    for (std::size_t j = 0; j < o.batch_size; ++j) {
      const std::size_t pos = s * o.batch_size + j, epoch = pos / train.size();
      if (epoch != perm_epoch) {
        perm.resize(train.size());
        for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
        data::detail::seeded_shuffle(perm, o.seed, 0xf1e0000 + epoch);
        perm_epoch = epoch;
      }
      rows.push_back(perm[pos % train.size()]);
    }
    const auto bt = data::make_batch(tok, train, rows, t.pair, seq_len);
    const auto r = m.forward_backward(bt, mix64(o.seed ^ mix64(s + 1)));
    const double lr = sched.at(s + 1);
    const double norm = opt.step(m, lr);
    if (s >= tail_from) {
      tail_loss += r.loss;
      ++tail;
    }
    if (on_step && !on_step({s + 1, o.steps, r.loss, r.accuracy, lr, norm})) break;
  }
  res.final_loss = tail ? tail_loss / static_cast<double>(tail) : 0;
  res.validation_accuracy = evaluate_classifier(m, tok, p.validation, t.pair, seq_len, o.eval_batch_size);
  res.accuracy = evaluate_classifier(m, tok, p.test, t.pair, seq_len, o.eval_batch_size);
  res.test_examples = p.test.size();
  res.majority = p.majority;
  return res;
}

/// The same on a task tokenised here (o.max_eval_examples caps validation and test).
inline finetune_result finetune(reference::bert_classifier<float>& m, const data::wordpiece_tokenizer& tok,
                                const data::classification_task& t, const finetune_options& o,
                                const std::function<bool(const finetune_step&)>& on_step = {}) {
  return finetune(m, tok, prepare_task(t, tok, o.max_eval_examples), o, on_step);
}

/// The bag-of-words baseline's test accuracy on t (on the first max_eval_examples test examples when set,
/// like finetune's): data/bow_baseline.hpp.
inline double bow_accuracy(const data::classification_task& t, std::uint64_t seed, std::size_t max_eval_examples = 0) {
  if (!max_eval_examples) return data::bow_logistic_regression(t, seed).test_accuracy;
  data::classification_task c = t;
  if (c.validation.size() > max_eval_examples) c.validation.resize(max_eval_examples);
  if (c.test.size() > max_eval_examples) c.test.resize(max_eval_examples);
  return data::bow_logistic_regression(c, seed).test_accuracy;
}

}  // namespace growth::train
