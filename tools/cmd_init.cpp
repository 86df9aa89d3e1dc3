// growth init: a randomly initialised BertForMaskedLM written as a checkpoint folder (config.json,
// model.safetensors, vocab.txt) that `growth eval`, `growth train` and transformers can load.
//
// Init is BERT's (HF _init_weights, reference::bert::init): weights and embeddings N(0, initializer_range)
// from the counter-based stream (seed, parameter index), the [PAD] row of the word embeddings 0, biases 0,
// LayerNorm weight 1 and bias 0.
//
// Vocabulary: --vocab FILE is copied as given (it may have fewer tokens than vocab_size, as HF allows; it
// must hold the five BERT special tokens). Otherwise a WordPiece vocabulary of vocab_size pieces is trained
// on --text (default: the committed corpus, data/kjv.txt). When the text yields fewer pieces than
// vocab_size, the vocabulary is PADDED with "[unused0]", "[unused1]", ... (as Google's BERT vocabularies
// are) so that vocab.txt has exactly vocab_size lines, and a note says so on stderr; the trained ids are
// unchanged. When the mandatory pieces (specials + every character seen) already exceed vocab_size, it is
// an error naming config field vocab_size.
//
// Decoder LMs (model/decoder_config.hpp): --config with a decoder config.json (model_type llama, mistral,
// qwen2 or gpt2, in that family's HF spelling; missing fields get HF's defaults), or --arch llama|gpt2 with
// the size flags (--layers, --hidden, --heads, --kv-heads, --ffn, --positions, --vocab-size,
// --tie-embeddings; token ids bos/eos/pad unset, as the WordPiece vocabulary has none of GPT-2's or LLaMA's).
// The folder (config.json in the family's spelling, model.safetensors with HF tensor names, vocab.txt)
// loads in `growth eval`, `growth train` and as LlamaForCausalLM / GPT2LMHeadModel in transformers. Init
// is HF's _init_weights of the family (reference::causal_lm::init).
//
// Nothing is written on error: everything is validated first, and io::save_checkpoint writes a temp folder
// and renames it into place. An existing --out folder is only replaced with --force.
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <growth/data/vocab_trainer.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>
#include <growth/io/decoder_config_json.hpp>
#include <growth/model/decoder_layout.hpp>
#include <growth/reference/bert.hpp>
#include <growth/reference/causal_lm.hpp>

#include "command.hpp"
#include "common.hpp"
#include "out_folder.hpp"

namespace growth_tool::cmd_init {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct init_args {
  std::string config, out, vocab, text, max_shard_size;
  std::uint64_t seed = 0;
  bool force = false;
  // --arch: a decoder of these sizes instead of --config.
  std::string arch;
  std::size_t layers = 2, hidden = 64, heads = 4, kv_heads = 0, ffn = 0, positions = 128, vocab_size = 2000;
  bool tie_embeddings = false;
};

/// The vocabulary the new checkpoint gets (see the file comment).
template <class Config>
std::vector<std::string> make_vocab(const init_args& a, const Config& cfg) {
  using growth::error;
  if (!a.vocab.empty()) {
    if (!std::filesystem::exists(a.vocab)) throw error("--vocab file " + a.vocab, "an existing file", "missing");
    auto v = growth::io::load_vocab(a.vocab);
    if (v.size() > cfg.vocab_size)
      throw error("--vocab file " + a.vocab, "at most config field vocab_size = " + std::to_string(cfg.vocab_size) + " tokens",
                  std::to_string(v.size()));
    try {
      growth::data::wordpiece_tokenizer check(v);
    } catch (const error& e) {
      throw error("--vocab file " + a.vocab + ": " + e.what());
    }
    return v;
  }
  const std::filesystem::path text_path = a.text.empty() ? growth_tool::default_corpus() : std::filesystem::path(a.text);
  const std::string text = growth_tool::read_text(text_path, "--text");
  growth::data::vocab_trainer_options vo;
  vo.vocab_size = cfg.vocab_size;
  auto v = growth::data::train_wordpiece_vocab(text, vo);
  if (v.size() > cfg.vocab_size)
    throw error("config field vocab_size",
                "at least " + std::to_string(v.size()) + " (the special tokens and every character of " +
                    text_path.string() + ")",
                std::to_string(cfg.vocab_size));
  if (v.size() <= growth::data::special_token_strings().size()) throw error("--text file " + text_path.string(), "text with at least one word", "none");
  if (v.size() < cfg.vocab_size) {
    const std::size_t trained = v.size();
    std::set<std::string> seen(v.begin(), v.end());
    for (std::size_t k = 0; v.size() < cfg.vocab_size; ++k) {
      std::string t = "[unused" + std::to_string(k) + "]";
      if (seen.insert(t).second) v.push_back(std::move(t));
    }
    fmt::print(stderr,
               "growth init: note: {} gives only {} WordPiece pieces; vocab.txt padded with {} [unusedN] tokens to "
               "vocab_size {}\n",
               text_path.string(), trained, cfg.vocab_size - trained, cfg.vocab_size);
  }
  return v;
}

/// The decoder config of --arch and the size flags (see the file comment), validated.
growth::model::decoder_config arch_config(const init_args& a) {
  using growth::error;
  growth::model::decoder_config c;
  if (a.arch == "gpt2") {
    c = growth::io::detail::decoder_defaults("gpt2", "--arch");
    if (a.kv_heads != 0 && a.kv_heads != a.heads)
      throw error("--kv-heads", "0 or --heads (GPT-2 has no grouped-query attention)", std::to_string(a.kv_heads));
    if (a.tie_embeddings) fmt::print(stderr, "growth init: note: GPT-2 always ties lm_head to wte\n");
  } else if (a.arch == "llama") {
    c = growth::io::detail::decoder_defaults("llama", "--arch");
    c.tie_word_embeddings = a.tie_embeddings;
  } else {
    throw error("--arch", "llama or gpt2", a.arch);
  }
  c.vocab_size = a.vocab_size;
  c.num_hidden_layers = a.layers;
  c.hidden_size = a.hidden;
  c.num_attention_heads = a.heads;
  c.num_key_value_heads = a.kv_heads == 0 ? a.heads : a.kv_heads;
  c.intermediate_size = a.ffn == 0 ? 4 * a.hidden : a.ffn;
  c.max_position_embeddings = a.positions;
  c.bos_token_id = c.eos_token_id = c.pad_token_id = std::nullopt;
  try {
    c.validate();
  } catch (const error& e) {
    throw error(std::string("--arch ") + a.arch + " sizes: " + e.what());
  }
  return c;
}

/// A decoder LM folder (see the file comment).
void run_init_decoder(const init_args& a, const growth::model::decoder_config& cfg) {
  const std::uint64_t shard = growth_tool::max_shard_size_bytes(a.max_shard_size);
  const std::filesystem::path out = growth_tool::check_out_folder(a.out, a.force);
  const auto vocab = make_vocab(a, cfg);
  growth::reference::causal_lm<float> model(cfg);
  model.init(a.seed);
  growth::io::save_checkpoint(out, cfg, model.parameters(), vocab, nullptr, growth::io::json(), shard);
  std::size_t n = 0;
  for (const auto& s : growth::model::decoder_parameters(cfg)) n += s.numel();
  fmt::print("init: wrote {} ({} {} parameters, {} vocabulary tokens, seed {})\n", out.string(), n, cfg.model_type,
             vocab.size(), a.seed);
}

void run_init(const init_args& a) {
  using growth::error;
  namespace fs = std::filesystem;
  if (!a.arch.empty()) return run_init_decoder(a, arch_config(a));
  if (a.config.empty()) throw error("growth init", "--config FILE or --arch llama|gpt2", "neither");
  if (fs::exists(a.config) && !fs::is_directory(a.config) &&
      growth::io::is_decoder_model_type(growth::io::model_type_of(fs::path(a.config))))
    return run_init_decoder(a, growth::io::load_decoder_config(a.config));
  if (!fs::exists(a.config)) throw error("--config file " + a.config, "an existing config.json", "missing");
  const auto cfg = growth::io::load_config(a.config);
  const std::uint64_t shard = growth_tool::max_shard_size_bytes(a.max_shard_size);
  const fs::path out = growth_tool::check_out_folder(a.out, a.force);  // shared with grow (out_folder.hpp)
  const auto vocab = make_vocab(a, cfg);

  // reference::bert refuses mean pooling (it has no parameters of its own); init the same parameter set
  // without it and save with the real config.
  auto init_cfg = cfg;
  init_cfg.pool_size = 1;
  growth::reference::bert<float> model(init_cfg);
  model.init(a.seed);
  growth::io::save_checkpoint(out, cfg, model.parameters(), vocab, nullptr, growth::io::json(), shard);
  std::size_t n = 0;
  for (const auto& s : growth::model::bert_parameters(cfg)) n += s.numel();
  fmt::print("init: wrote {} ({} parameters, {} vocabulary tokens, seed {})\n", out.string(), n, vocab.size(), a.seed);
}

growth_tool::registrar reg{"init", [](CLI::App& app) {
                             auto args = std::make_shared<init_args>();
                             auto* sub = app.add_subcommand("init", "Write a randomly initialised BERT or decoder LM checkpoint folder");
                             auto* config = sub->add_option("--config", args->config,
                                                            "config.json (HF BertConfig + growth fields, or a llama / "
                                                            "mistral / qwen2 / gpt2 config)");
                             sub->add_option("--out", args->out, "checkpoint folder to create")->required();
                             sub->add_option("--seed", args->seed, "init seed (default 0)");
                             auto* v = sub->add_option("--vocab", args->vocab, "vocab.txt to copy into the checkpoint");
                             sub->add_option("--text", args->text, "text to train the vocabulary on (default data/kjv.txt)")
                                 ->excludes(v);
                             sub->add_flag("--force", args->force, "replace an existing checkpoint folder");
                             growth_tool::add_max_shard_size_option(sub, args->max_shard_size);

                             auto* arch = sub->add_option("--arch", args->arch,
                                                          "a decoder LM of the size flags: llama or gpt2")
                                              ->excludes(config);
                             sub->add_option("--layers", args->layers, "decoder layers (--arch; default 2)")->needs(arch);
                             sub->add_option("--hidden", args->hidden, "decoder hidden size (--arch; default 64)")->needs(arch);
                             sub->add_option("--heads", args->heads, "attention heads (--arch; default 4)")->needs(arch);
                             sub->add_option("--kv-heads", args->kv_heads,
                                             "key/value heads, grouped-query attention (--arch llama; default = heads)")
                                 ->needs(arch);
                             sub->add_option("--ffn", args->ffn, "MLP intermediate size (--arch; default 4 x hidden)")->needs(arch);
                             sub->add_option("--positions", args->positions,
                                             "max_position_embeddings (--arch; default 128)")->needs(arch);
                             sub->add_option("--vocab-size", args->vocab_size, "vocabulary size (--arch; default 2000)")->needs(arch);
                             sub->add_flag("--tie-embeddings", args->tie_embeddings,
                                           "tie lm_head to the token embeddings (--arch llama; GPT-2 always ties)")->needs(arch);
                             sub->callback([args] { run_init(*args); });
                           }};

}  // namespace growth_tool::cmd_init
