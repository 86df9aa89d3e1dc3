#pragma once
// Helpers of the growth tool for decoder LM folders (LLaMA family, GPT-2; model/decoder_config.hpp), the
// counterparts of common.hpp's BERT ones:
//  - is_decoder_folder: whether a --model folder holds a decoder (config.json's model_type);
//  - load_decoder_model: a decoder checkpoint folder into a reference::causal_lm<float> plus its WordPiece
//    tokenizer (vocab.txt, which growth init writes; a folder without one cannot tokenise a text here);
//  - clm_eval_data / evaluate_clm: next-token loss over a text, deterministic;
//  - write_clm_dump: an evaluation dump (input_ids, attention_mask, labels as I64, logits F32).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <growth/core/error.hpp>
#include <growth/data/clm_data.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/atomic_file.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/decoder_config_json.hpp>
#include <growth/io/json.hpp>
#include <growth/model/batch.hpp>
#include <growth/reference/causal_lm.hpp>

#include "common.hpp"

namespace growth_tool {

/// Whether `dir` is a checkpoint folder whose config.json names a decoder model_type (llama, mistral,
/// qwen2, gpt2). A folder without config.json is not (the BERT path then reports what is missing).
inline bool is_decoder_folder(const fs::path& dir) {
  if (dir.empty() || !fs::is_directory(dir) || !fs::exists(dir / "config.json")) return false;
  return growth::io::is_decoder_checkpoint(dir);
}

/// A decoder folder loaded into the reference model, plus its vocabulary as a tokenizer.
struct loaded_decoder {
  growth::model::decoder_config config;
  std::vector<std::string> vocab;
  std::unique_ptr<growth::reference::causal_lm<float>> model;
  std::unique_ptr<growth::data::wordpiece_tokenizer> tokenizer;
};

/// Loads `dir` strictly (io::load_decoder_checkpoint) into a reference::causal_lm<float>; the optimizer
/// state, if any, is not read. vocab.txt is required: the text is tokenised with it.
inline loaded_decoder load_decoder_model(const fs::path& dir) {
  if (!fs::exists(dir)) throw growth::error("--model folder " + dir.string(), "an existing checkpoint folder", "missing");
  if (!fs::exists(dir / "vocab.txt"))
    throw growth::error("checkpoint file " + (dir / "vocab.txt").string(),
                        "present in the --model folder (growth tokenises text with its WordPiece vocabulary)", "missing");
  auto ck = growth::io::load_decoder_checkpoint(dir, checkpoint_load_options(false));
  loaded_decoder m;
  m.config = ck.config;
  m.vocab = std::move(ck.vocab);
  m.model = std::make_unique<growth::reference::causal_lm<float>>(ck.config);
  auto dst = m.model->flat_params();
  // Both buffers follow model::decoder_parameters(config) order (checkpoint.hpp, reference/flat_buffer.hpp).
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

/// Next-token evaluation batches of a text, deterministic in (text, vocabulary, seq_len, batch_size): the
/// text tokenised line by line and packed into blocks of seq_len (data::clm_dataset, no validation split,
/// the last partial block padded and kept); batch k holds blocks [kB, (k+1)B) in text order.
class clm_eval_data {
 public:
  clm_eval_data(const growth::data::wordpiece_tokenizer& tok, const std::string& text, std::size_t seq_len,
                std::size_t batch_size, std::size_t max_batches)
      : batch_size_(batch_size),
        max_batches_(max_batches),
        dataset_(growth::data::tokenize_corpus(tok, text), tok,
                 growth::data::clm_packing_options{.seq_len = seq_len, .validation_every = 0, .keep_partial = true}) {
    if (batch_size == 0) throw growth::error("--batch-size", "a positive integer", "0");
    if (dataset_.num_sequences() == 0) throw growth::error("--text", "text that tokenises to at least one token", "none");
  }
  [[nodiscard]] std::size_t num_batches() const {
    const std::size_t all = (dataset_.num_sequences() + batch_size_ - 1) / batch_size_;
    return max_batches_ == 0 ? all : std::min(all, max_batches_);
  }
  [[nodiscard]] growth::model::clm_batch batch(std::size_t k) const {
    if (k >= num_batches()) throw growth::error("eval batch index", "< " + std::to_string(num_batches()), std::to_string(k));
    const std::size_t begin = k * batch_size_, end = std::min(dataset_.num_sequences(), begin + batch_size_);
    std::vector<std::size_t> rows;
    for (std::size_t i = begin; i < end; ++i) rows.push_back(i);
    return dataset_.make_batch(rows);
  }

 private:
  std::size_t batch_size_, max_batches_;
  growth::data::clm_dataset dataset_;
};

/// Mean next-token loss over every scored target of `data` (dropout off; each batch weighted by its
/// targets) and the number of targets. first_logits, if given, receives batch 0's B x S x V logits (a
/// separate forward pass, so the loss does not depend on --dump).
struct clm_eval_result {
  double loss = 0;
  std::size_t targets = 0, batches = 0;
};
inline clm_eval_result evaluate_clm(growth::reference::causal_lm<float>& model, const clm_eval_data& data,
                                    std::vector<float>* first_logits = nullptr) {
  clm_eval_result r;
  double sum = 0;
  for (std::size_t k = 0; k < data.num_batches(); ++k) {
    const auto b = data.batch(k);
    if (k == 0 && first_logits) (void)model.evaluate(b, first_logits);
    if (b.num_targets() == 0) continue;
    const auto m = model.evaluate(b);
    ++r.batches;
    sum += m.loss * static_cast<double>(m.targets);
    r.targets += m.targets;
  }
  if (r.targets == 0) throw growth::error("--text", "at least two tokens in a block (one next-token target)", "none");
  r.loss = sum / static_cast<double>(r.targets);
  return r;
}

/// Writes a safetensors file (atomically) holding batch b's input_ids, attention_mask and labels as I64
/// B x S and `logits` as F32 B x S x V, metadata {"format": "pt"}: the layout of common.hpp's BERT dump
/// without token_type_ids (a decoder has none), which scripts/hf_eval_dump.py reads.
inline void write_clm_dump(const fs::path& p, const growth::model::clm_batch& b, const std::vector<float>& logits,
                           std::size_t vocab_size) {
  const std::size_t n = b.batch_size * b.seq_len;
  if (logits.size() != n * vocab_size)
    throw growth::error("--dump logits", std::to_string(n * vocab_size) + " floats (B x S x V)", std::to_string(logits.size()));
  using growth::io::json;
  const std::pair<const char*, const std::vector<std::int32_t>*> ids[] = {
      {"input_ids", &b.input_ids}, {"attention_mask", &b.attention_mask}, {"labels", &b.labels}};
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
  for (const auto& e : ids) add(e.first, "I64", {b.batch_size, b.seq_len}, n * 8);
  add("logits", "F32", {b.batch_size, b.seq_len, vocab_size}, logits.size() * 4);
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes;
  bytes.reserve(8 + header.size() + off);
  for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * k)) & 0xff));
  bytes += header;
  for (const auto& e : ids)
    for (std::int32_t v : *e.second) {
      const auto u = static_cast<std::uint64_t>(static_cast<std::int64_t>(v));  // little-endian two's complement
      for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<char>((u >> (8 * k)) & 0xff));
    }
  bytes.append(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float));
  growth::io::write_file_atomic(p, bytes);
}

}  // namespace growth_tool
