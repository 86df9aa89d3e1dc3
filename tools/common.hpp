#pragma once
// Helpers shared by the growth tool's subcommands (init, eval, inspect; others may use them):
//  - where the committed data lives (data_dir, default_corpus) and reading a text file with a clear error;
//  - loading a checkpoint folder into a reference::bert<float> (load_model);
//  - turning a text file into deterministic masked MLM batches (eval_data);
//  - evaluating a model over such batches (evaluate_mlm);
//  - writing an evaluation dump as safetensors with I64 id tensors (write_eval_dump).
// Everything throws growth::error naming the file / option / field, the expected and the actual value;
// main.cpp turns that into "growth: error: ..." and exit code 2.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <growth/core/error.hpp>
#include <growth/data/mlm_data.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/json.hpp>
#include <growth/reference/batch.hpp>
#include <growth/reference/bert.hpp>

#include "command.hpp"

namespace growth_tool {

namespace fs = std::filesystem;

/// The folder holding the committed corpus: $GROWTH_DATA_DIR when set and non-empty, otherwise
/// <source dir>/data (GROWTH_SOURCE_DIR is a compile definition of the tool target).
inline fs::path data_dir() {
  if (const char* d = std::getenv("GROWTH_DATA_DIR"); d != nullptr && *d != '\0') return fs::path(d);
#ifdef GROWTH_SOURCE_DIR
  return fs::path(GROWTH_SOURCE_DIR) / "data";
#else
  return fs::path("data");
#endif
}

/// The default training text: data_dir()/kjv.txt.
inline fs::path default_corpus() { return data_dir() / "kjv.txt"; }

/// Reads a whole text file; `what` names it in errors ("--text"), which also reject an empty file.
inline std::string read_text(const fs::path& p, const std::string& what) {
  if (!fs::exists(p)) throw growth::error(what + " file " + p.string(), "an existing file", "missing");
  if (fs::is_directory(p)) throw growth::error(what + " file " + p.string(), "a file", "a folder");
  std::string text = growth::io::read_file(p);
  if (text.empty()) throw growth::error(what + " file " + p.string(), "some text", "an empty file");
  return text;
}

/// io::load_options for reading a checkpoint in this process: strict, except where the command line says
/// --allow-nonfinite. `optimizer`: read optimizer.safetensors too.
inline growth::io::load_options checkpoint_load_options(bool optimizer) {
  growth::io::load_options lo;
  lo.load_optimizer = optimizer;
  lo.allow_nonfinite = globals().allow_nonfinite;
  return lo;
}

/// A checkpoint folder loaded into the reference model, plus its vocabulary as a tokenizer.
struct loaded_model {
  growth::model::bert_config config;
  std::vector<std::string> vocab;
  std::unique_ptr<growth::reference::bert<float>> model;  // unique_ptr: bert is large and not meant to move
  std::unique_ptr<growth::data::wordpiece_tokenizer> tokenizer;
};

/// Loads `dir` strictly (io::load_checkpoint: config, every parameter with its exact shape, vocab) into a
/// reference::bert<float>. The optimizer state, if any, is not read. Errors name the folder or the file.
inline loaded_model load_model(const fs::path& dir) {
  if (!fs::exists(dir)) throw growth::error("--model folder " + dir.string(), "an existing checkpoint folder", "missing");
  if (!fs::is_directory(dir)) throw growth::error("--model folder " + dir.string(), "a folder", "a file");
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt"})
    if (!fs::exists(dir / f))
      throw growth::error("checkpoint file " + (dir / f).string(), "present in the --model folder", "missing");
  auto ck = growth::io::load_checkpoint(dir, checkpoint_load_options(false));
  loaded_model m;
  m.config = ck.config;
  m.vocab = std::move(ck.vocab);
  m.model = std::make_unique<growth::reference::bert<float>>(ck.config);
  auto dst = m.model->flat_params();
  // Both buffers follow model::bert_parameters(config) order (checkpoint.hpp, reference/flat_buffer.hpp).
  if (dst.size() != ck.params.size())
    throw growth::error("checkpoint " + dir.string() + " parameters", std::to_string(dst.size()) + " floats",
                        std::to_string(ck.params.size()));
  std::copy(ck.params.begin(), ck.params.end(), dst.begin());
  try {
    m.tokenizer = std::make_unique<growth::data::wordpiece_tokenizer>(m.vocab);
  } catch (const growth::error& e) {
    throw growth::error((dir / "vocab.txt").string() + ": " + e.what());
  }
  return m;
}

/// Options of the masked evaluation data.
struct eval_data_options {
  std::size_t seq_len = 128;
  std::size_t batch_size = 8;
  std::size_t max_batches = 0;  ///< 0 = every batch the text gives
  std::uint64_t seed = 0;       ///< the masking seed
};

/// Masked MLM batches of a text, deterministic in (text, vocabulary, seq_len, batch_size, seed).
///
/// The text is tokenised line by line and packed into [CLS] chunk [SEP] sequences of seq_len
/// (data::mlm_dataset, validation_every = 0 so every sequence is used; the last partial one is padded
/// and kept). Batch k holds sequences [kB, (k+1)B) in text order (the last batch may be smaller), masked
/// with BERT's 15% / 80-10-10 rule from the stream rng(seed, sequence index): the same sequence gets the
/// same mask whatever the batch size.
class eval_data {
 public:
  eval_data(const growth::data::wordpiece_tokenizer& tok, const std::string& text, const eval_data_options& o)
      : opt_(o),
        dataset_(growth::data::tokenize_corpus(tok, text), tok,
                 growth::data::packing_options{.seq_len = o.seq_len, .validation_every = 0, .keep_partial = true}) {
    if (o.batch_size == 0) throw growth::error("--batch-size", "a positive integer", "0");
    if (dataset_.num_sequences() == 0) throw growth::error("--text", "text that tokenises to at least one token", "none");
  }
  [[nodiscard]] std::size_t num_sequences() const { return dataset_.num_sequences(); }
  [[nodiscard]] std::size_t num_batches() const {
    const std::size_t all = (num_sequences() + opt_.batch_size - 1) / opt_.batch_size;
    return opt_.max_batches == 0 ? all : std::min(all, opt_.max_batches);
  }
  /// Batch k as the reference model takes it.
  [[nodiscard]] growth::reference::batch batch(std::size_t k) const {
    const std::size_t begin = k * opt_.batch_size, end = std::min(num_sequences(), begin + opt_.batch_size);
    if (k >= num_batches()) throw growth::error("eval batch index", "< " + std::to_string(num_batches()), std::to_string(k));
    std::vector<std::size_t> rows;
    for (std::size_t i = begin; i < end; ++i) rows.push_back(i);
    auto mb = dataset_.make_batch(rows, opt_.seed);
    growth::reference::batch b;
    b.batch_size = mb.batch_size;
    b.seq_len = mb.seq_len;
    b.input_ids = std::move(mb.input_ids);
    b.token_type_ids = std::move(mb.token_type_ids);
    b.attention_mask = std::move(mb.attention_mask);
    b.labels = std::move(mb.labels);
    return b;
  }

 private:
  eval_data_options opt_;
  growth::data::mlm_dataset dataset_;
};

/// Aggregate MLM result over several batches: loss and accuracy are means over all masked targets
/// (each batch weighted by its number of targets), targets = how many masked positions were scored.
struct eval_result {
  double loss = 0, accuracy = 0;
  std::size_t targets = 0, batches = 0;
};

/// Evaluates (dropout off) every batch of `data`; batches without targets are skipped. If first_logits is
/// given it receives the B x S x V float logits of batch 0 (one extra forward pass of that batch).
inline eval_result evaluate_mlm(growth::reference::bert<float>& model, const eval_data& data,
                                std::vector<float>* first_logits = nullptr) {
  eval_result r;
  double loss_sum = 0, correct = 0;
  for (std::size_t k = 0; k < data.num_batches(); ++k) {
    const auto b = data.batch(k);
    std::size_t n = 0;
    for (auto l : b.labels) n += l != growth::reference::ignore_label;
    // Logits are a separate call: asking for them computes the MLM head on every row, which changes
    // the GEMM shapes and so the last bits of the loss; the printed figures must not depend on --dump.
    if (k == 0 && first_logits) (void)model.evaluate(b, first_logits);
    if (n == 0) continue;
    const auto m = model.evaluate(b);
    ++r.batches;
    loss_sum += m.loss * static_cast<double>(m.targets);
    correct += m.accuracy * static_cast<double>(m.targets);
    r.targets += m.targets;
  }
  if (r.targets == 0)
    throw growth::error("--text", "at least one masked target (more text or another --seed)", "none");
  r.loss = loss_sum / static_cast<double>(r.targets);
  r.accuracy = correct / static_cast<double>(r.targets);
  return r;
}

/// Writes a safetensors file (atomically) holding batch b's input_ids, token_type_ids, attention_mask and
/// labels as I64 B x S (PyTorch's dtype for ids; labels -100 where not a target) and `logits` as F32
/// B x S x V, with metadata {"format": "pt"}. Written here rather than with io::safetensors_writer because
/// that writer only knows floating-point dtypes.
inline void write_eval_dump(const fs::path& p, const growth::reference::batch& b, const std::vector<float>& logits,
                            std::size_t vocab_size) {
  const std::size_t n = b.batch_size * b.seq_len;
  if (logits.size() != n * vocab_size)
    throw growth::error("--dump logits", std::to_string(n * vocab_size) + " floats (B x S x V)", std::to_string(logits.size()));
  using growth::io::json;
  struct entry {
    const char* name;
    const std::vector<std::int32_t>* ids;
  };
  const entry ids[] = {{"input_ids", &b.input_ids},
                       {"token_type_ids", &b.token_type_ids},
                       {"attention_mask", &b.attention_mask},
                       {"labels", &b.labels}};
  json h = json::object();
  json meta = json::object();
  meta["format"] = "pt";
  h["__metadata__"] = std::move(meta);
  std::size_t off = 0;
  auto add = [&](const char* name, const char* dtype, std::vector<std::size_t> shape, std::size_t bytes) {
    json t = json::object();
    t["dtype"] = dtype;
    json s = json::array();
    for (auto d : shape) s.push_back(d);
    t["shape"] = std::move(s);
    t["data_offsets"] = json::array({json(off), json(off + bytes)});
    off += bytes;
    h[name] = std::move(t);
  };
  for (const auto& e : ids) add(e.name, "I64", {b.batch_size, b.seq_len}, n * 8);
  add("logits", "F32", {b.batch_size, b.seq_len, vocab_size}, logits.size() * 4);
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes;
  bytes.reserve(8 + header.size() + off);
  for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * k)) & 0xff));
  bytes += header;
  for (const auto& e : ids)
    for (std::int32_t v : *e.ids) {
      const auto u = static_cast<std::uint64_t>(static_cast<std::int64_t>(v));  // little-endian two's complement
      for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<char>((u >> (8 * k)) & 0xff));
    }
  bytes.append(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float));
  growth::io::write_file_atomic(p, bytes);
}

}  // namespace growth_tool
