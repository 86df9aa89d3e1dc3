// growth eval: masked-LM loss and accuracy of a checkpoint on a text file, with the reference CPU BERT.
//
// The text is tokenised with the checkpoint's vocab.txt, packed into [CLS] ... [SEP] sequences of
// --seq-len, batched in text order and masked deterministically from --seed (common.hpp, eval_data), then
// evaluated with dropout off. Prints exactly one line on stdout:
//   mlm_loss=<mean cross-entropy over masked targets> mlm_accuracy=<argmax accuracy over them> tokens=<n>
// where n is the number of masked targets scored (not the number of input tokens).
//
// --dump FILE.safetensors writes the first batch (input_ids, token_type_ids, attention_mask, labels as
// I64 B x S; logits F32 B x S x V) so another implementation can recompute the logits
// (scripts/hf_eval_dump.py).
//
// A decoder folder (config.json model_type llama, mistral, qwen2 or gpt2) is evaluated with the reference
// causal LM instead (decoder_common.hpp): the text is packed into blocks of --seq-len tokens (no special
// tokens; the last block padded), batched in text order, and scored by next-token cross-entropy with
// dropout off. Prints exactly one line:
//   clm_loss=<mean cross-entropy over next-token targets> tokens=<n>
// where n is the number of targets scored (S - 1 per full block). --seed is unused (nothing is random);
// --dump writes input_ids, attention_mask, labels (I64) and logits (F32), without token_type_ids.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "decoder_common.hpp"

namespace growth_tool::cmd_eval {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct eval_args {
  std::string model, text, dump;
  std::size_t seq_len = 0, batches = 0, batch_size = 8;
  std::uint64_t seed = 0;
};

/// --dump is checked before evaluating, and never inside the checkpoint being read (--dump m/model.safetensors).
void check_dump_target(const eval_args& a) {
  using growth::error;
  if (a.dump.empty()) return;
  const std::filesystem::path d(a.dump);
  if (d.filename().empty() || std::filesystem::is_directory(d)) throw error("--dump " + a.dump, "a file path", "a folder");
  if (!d.parent_path().empty() && !std::filesystem::is_directory(d.parent_path()))
    throw error("--dump " + a.dump, "a path in an existing folder", "missing folder " + d.parent_path().string());
  (void)growth::io::check_write_target(d);
  growth_tool::refuse_output_inside(d, "--dump", a.model, "--model");
}

/// A decoder folder: next-token loss (see the file comment).
void run_eval_decoder(const eval_args& a) {
  using growth::error;
  auto m = growth_tool::load_decoder_model(a.model);
  const std::string text = growth_tool::read_text(a.text, "--text");
  const std::size_t P = m.config.max_position_embeddings;
  const std::size_t seq = a.seq_len ? a.seq_len : std::min<std::size_t>(128, P);
  if (seq < 2) throw error("--seq-len", "at least 2 (a token and the next one)", std::to_string(seq));
  if (seq > P)
    throw error("--seq-len", "<= config field max_position_embeddings = " + std::to_string(P), std::to_string(seq));
  check_dump_target(a);
  const growth_tool::clm_eval_data data(*m.tokenizer, text, seq, a.batch_size, a.batches);
  std::vector<float> logits;
  const auto r = growth_tool::evaluate_clm(*m.model, data, a.dump.empty() ? nullptr : &logits);
  if (!std::isfinite(r.loss))
    throw error("clm_loss of --model " + a.model, "a finite value (the weights overflow in the forward pass)",
                std::to_string(r.loss));
  if (!a.dump.empty()) growth_tool::write_clm_dump(a.dump, data.batch(0), logits, m.config.vocab_size);
  fmt::print("clm_loss={:.6f} tokens={}\n", r.loss, r.targets);
}

void run_eval(const eval_args& a) {
  using growth::error;
  if (growth_tool::is_decoder_folder(a.model)) return run_eval_decoder(a);
  auto m = growth_tool::load_model(a.model);
  const std::string text = growth_tool::read_text(a.text, "--text");
  growth_tool::eval_data_options o;
  o.seq_len = a.seq_len ? a.seq_len : std::min<std::size_t>(128, m.config.max_position_embeddings);
  if (o.seq_len < 3) throw error("--seq-len", "at least 3 ([CLS] token [SEP])", std::to_string(o.seq_len));
  if (o.seq_len > m.config.max_position_embeddings)
    throw error("--seq-len", "<= config field max_position_embeddings = " + std::to_string(m.config.max_position_embeddings),
                std::to_string(o.seq_len));
  o.batch_size = a.batch_size;
  o.max_batches = a.batches;
  o.seed = a.seed;
  check_dump_target(a);
  const growth_tool::eval_data data(*m.tokenizer, text, o);
  std::vector<float> logits;
  const auto r = growth_tool::evaluate_mlm(*m.model, data, a.dump.empty() ? nullptr : &logits);
  // A loss of NaN or Inf (weights that overflow) is no measurement: an error, not "mlm_loss=-nan".
  if (!std::isfinite(r.loss))
    throw error("mlm_loss of --model " + a.model, "a finite value (the weights overflow in the forward pass)",
                std::to_string(r.loss));
  if (!a.dump.empty()) growth_tool::write_eval_dump(a.dump, data.batch(0), logits, m.config.vocab_size);
  fmt::print("mlm_loss={:.6f} mlm_accuracy={:.6f} tokens={}\n", r.loss, r.accuracy, r.targets);
}

growth_tool::registrar reg{"eval", [](CLI::App& app) {
                             auto args = std::make_shared<eval_args>();
                             auto* sub = app.add_subcommand("eval", "Masked-LM loss and accuracy (BERT) or next-token loss (decoder) of a checkpoint on a text");
                             sub->add_option("--model", args->model, "checkpoint folder")->required();
                             sub->add_option("--text", args->text, "text file to evaluate on")->required();
                             sub->add_option("--seq-len", args->seq_len,
                                             "sequence length (default min(128, max_position_embeddings))");
                             sub->add_option("--batches", args->batches, "evaluate at most N batches (default: all)");
                             sub->add_option("--batch-size", args->batch_size, "sequences per batch (default 8)");
                             sub->add_option("--seed", args->seed, "masking seed (default 0; BERT only)");
                             sub->add_option("--dump", args->dump,
                                             "write the first batch's ids, labels and logits to this .safetensors");
                             sub->callback([args] { run_eval(*args); });
                           }};

}  // namespace growth_tool::cmd_eval
