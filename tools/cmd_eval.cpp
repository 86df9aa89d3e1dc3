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
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"

namespace growth_tool::cmd_eval {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct eval_args {
  std::string model, text, dump;
  std::size_t seq_len = 0, batches = 0, batch_size = 8;
  std::uint64_t seed = 0;
};

void run_eval(const eval_args& a) {
  using growth::error;
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
  if (!a.dump.empty()) {
    const std::filesystem::path d(a.dump);
    if (d.filename().empty() || std::filesystem::is_directory(d))
      throw error("--dump " + a.dump, "a file path", "a folder");
    if (!d.parent_path().empty() && !std::filesystem::is_directory(d.parent_path()))
      throw error("--dump " + a.dump, "a path in an existing folder", "missing folder " + d.parent_path().string());
    // Checked before evaluating, and never inside the checkpoint being read (--dump m/model.safetensors).
    (void)growth::io::check_write_target(d);
    growth_tool::refuse_output_inside(d, "--dump", a.model, "--model");
  }
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
                             auto* sub = app.add_subcommand("eval", "Masked-LM loss and accuracy of a checkpoint on a text");
                             sub->add_option("--model", args->model, "checkpoint folder")->required();
                             sub->add_option("--text", args->text, "text file to evaluate on")->required();
                             sub->add_option("--seq-len", args->seq_len,
                                             "sequence length (default min(128, max_position_embeddings))");
                             sub->add_option("--batches", args->batches, "evaluate at most N batches (default: all)");
                             sub->add_option("--batch-size", args->batch_size, "sequences per batch (default 8)");
                             sub->add_option("--seed", args->seed, "masking seed (default 0)");
                             sub->add_option("--dump", args->dump,
                                             "write the first batch's ids, labels and logits to this .safetensors");
                             sub->callback([args] { run_eval(*args); });
                           }};

}  // namespace growth_tool::cmd_eval
