// growth inspect: what a checkpoint folder holds. Prints the config summary (including the low-cost growth
// fields), every parameter with its shape and element count, the total count, and the forward FLOPs per
// token (reference/flops.hpp: matrix products only, MLM head on the 15% masked targets) at
// seq_len = max_position_embeddings and at 128. The folder is loaded strictly (io::load_checkpoint), so a
// missing tensor or a wrong shape is an error naming it. A decoder LM folder (config.json's model_type llama /
// mistral / qwen2 / gpt2) prints its family's fields, vocab.txt (optional there), the optimizer state and
// every parameter the same way, and the causal LM's FLOPs per token (reference/decoder_flops.hpp, every next
// token scored).
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/decoder_config_json.hpp>
#include <growth/reference/decoder_flops.hpp>
#include <growth/reference/flops.hpp>

#include "command.hpp"
#include "common.hpp"

namespace growth_tool::cmd_inspect {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

std::string layer_list(const std::vector<std::size_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

/// `growth inspect` on a decoder folder (loaded strictly, with its optimizer state when present).
void run_inspect_decoder(const std::filesystem::path& dir) {
  const auto ck = growth::io::load_decoder_checkpoint(dir, growth_tool::checkpoint_load_options(true));
  const auto& c = ck.config;
  fmt::print("checkpoint: {}\n", dir.string());
  fmt::print("config: model_type={} family={} layers={} hidden={} heads={} kv_heads={} head_dim={} intermediate={} "
             "vocab_size={} max_position={}\n",
             c.model_type, c.is_gpt2() ? "gpt2" : "llama", c.num_hidden_layers, c.hidden_size, c.num_attention_heads,
             c.num_key_value_heads, c.head_size(), c.intermediate_size, c.vocab_size, c.max_position_embeddings);
  if (c.is_gpt2())
    fmt::print("config: norm=layernorm eps={:g} positions=learned hidden_act={} tie_word_embeddings=true "
               "initializer_range={:g}\n",
               c.norm_eps, c.hidden_act, c.initializer_range);
  else
    fmt::print("config: norm=rmsnorm eps={:g} positions=rotary rope_theta={:g} hidden_act={} tie_word_embeddings={} "
               "qkv_bias={} o_bias={} mlp_bias={} initializer_range={:g}\n",
               c.norm_eps, c.rope_theta, c.hidden_act, c.tie_word_embeddings, c.qkv_bias, c.o_bias, c.mlp_bias,
               c.initializer_range);
  if (ck.vocab.empty())
    fmt::print("vocab.txt: absent\n");
  else
    fmt::print("vocab.txt: {} tokens\n", ck.vocab.size());
  if (ck.opt)
    fmt::print("optimizer.safetensors: present (valid, step {})\n", ck.opt->step);
  else
    fmt::print("optimizer.safetensors: absent\n");
  fmt::print("parameters:\n");
  std::size_t total = 0;
  for (const auto& s : growth::model::decoder_parameters(c)) {
    fmt::print("  {:<60} {:<16} {}\n", s.name, growth::detail::shape_string(s.shape), s.numel());
    total += s.numel();
  }
  fmt::print("total_parameters={}\n", total);
  const std::size_t lengths[] = {c.max_position_embeddings, std::size_t{128}};
  for (std::size_t n : lengths)
    fmt::print("forward_flops_per_token(seq_len={})={:.6g} training_flops_per_token(seq_len={})={:.6g}\n", n,
               growth::reference::forward_flops_per_token(c, n, 1.0), n,
               growth::reference::training_flops_per_token(c, n, 1.0));
}

void run_inspect(const std::string& dir_arg) {
  using growth::error;
  namespace fs = std::filesystem;
  const fs::path dir(dir_arg);
  if (!fs::exists(dir)) throw error("--model folder " + dir.string(), "an existing checkpoint folder", "missing");
  if (!fs::is_directory(dir)) throw error("--model folder " + dir.string(), "a folder", "a file");
  if (fs::exists(dir / "config.json") && growth::io::is_decoder_checkpoint(dir)) {
    run_inspect_decoder(dir);
    return;
  }
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt"})
    if (!fs::exists(dir / f) && !(f == std::string_view("model.safetensors") && growth::io::sharded_reader::present(dir, "model")))
      throw error("checkpoint file " + (dir / f).string(), "present in the --model folder", "missing");
  // The optimizer state is loaded (and so validated: every moment present with its shape, step metadata)
  // when present: "present" means usable by --resume, and a broken file is reported as the error it is.
  const auto ck = growth::io::load_checkpoint(dir, growth_tool::checkpoint_load_options(true));
  const auto& c = ck.config;
  // Like init --vocab: BERT's five special tokens are required (eval, train and grow --check need them).
  try {
    growth::data::wordpiece_tokenizer check(ck.vocab);
  } catch (const error& e) {
    throw error((dir / "vocab.txt").string() + ": " + e.what());
  }

  fmt::print("checkpoint: {}\n", dir.string());
  fmt::print("config: layers={} hidden={} heads={} head_dim={} intermediate={} vocab_size={} max_position={} "
             "type_vocab={}\n",
              c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.head_dim(), c.intermediate_size, c.vocab_size,
              c.max_position_embeddings, c.type_vocab_size);
  fmt::print("config: hidden_act={} dropout={:g} attention_dropout={:g} layer_norm_eps={:g} initializer_range={:g} pad_token_id={}\n",
              c.hidden_act, c.hidden_dropout_prob, c.attention_probs_dropout_prob, c.layer_norm_eps,
              c.initializer_range, c.pad_token_id);
  if (c.is_standard()) {
    fmt::print("growth: standard BERT (no shared / factorised FFN, no pooling)\n");
  } else {
    fmt::print("growth: ffn_shared_layers={} ffn_share_factor={} ffn_factorized_layers={} ffn_rank={} pool_size={}\n",
                layer_list(c.ffn_shared_layers), c.ffn_share_factor, layer_list(c.ffn_factorized_layers),
                c.ffn_rank, c.pool_size);
  }
  fmt::print("vocab.txt: {} tokens\n", ck.vocab.size());
  // Sharded sets (io/sharded.hpp) say so; a single-file checkpoint prints exactly what it always did.
  for (const char* base : {"model", "optimizer"}) {
    if (!fs::exists(dir / growth::io::index_file_name(base))) continue;
    const growth::io::sharded_reader rd(dir, base);
    fmt::print("{}: {} shards, {} tensors, {} bytes\n", growth::io::index_file_name(base), rd.files().size(),
               rd.names().size(), rd.file_bytes());
  }
  if (ck.opt)
    fmt::print("optimizer.safetensors: present (valid, step {})\n", ck.opt->step);
  else
    fmt::print("optimizer.safetensors: absent\n");

  fmt::print("parameters:\n");
  std::size_t total = 0;
  for (const auto& s : growth::model::bert_parameters(c)) {
    fmt::print("  {:<60} {:<16} {}\n", s.name, growth::detail::shape_string(s.shape), s.numel());
    total += s.numel();
  }
  fmt::print("total_parameters={}\n", total);
  const double f = 0.15;
  const std::size_t lengths[] = {c.max_position_embeddings, std::size_t{128}};
  for (std::size_t s : lengths)
    fmt::print("forward_flops_per_token(seq_len={})={:.6g} training_flops_per_token(seq_len={})={:.6g}\n", s,
                growth::reference::forward_flops_per_token(c, s, f), s,
                growth::reference::training_flops_per_token(c, s, f));
}

growth_tool::registrar reg{"inspect", [](CLI::App& app) {
                             auto dir = std::make_shared<std::string>();
                             auto* sub = app.add_subcommand("inspect", "Summarise a checkpoint folder");
                             sub->add_option("--model", *dir, "checkpoint folder")->required();
                             sub->callback([dir] { run_inspect(*dir); });
                           }};

}  // namespace growth_tool::cmd_inspect
