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
#include <growth/reference/bert.hpp>

#include "command.hpp"
#include "common.hpp"
#include "out_folder.hpp"

namespace growth_tool::cmd_init {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

struct init_args {
  std::string config, out, vocab, text, max_shard_size;
  std::uint64_t seed = 0;
  bool force = false;
};

/// The vocabulary the new checkpoint gets (see the file comment).
std::vector<std::string> make_vocab(const init_args& a, const growth::model::bert_config& cfg) {
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

void run_init(const init_args& a) {
  using growth::error;
  namespace fs = std::filesystem;
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
                             auto* sub = app.add_subcommand("init", "Write a randomly initialised BERT checkpoint folder");
                             sub->add_option("--config", args->config, "config.json (HF BertConfig + growth fields)")->required();
                             sub->add_option("--out", args->out, "checkpoint folder to create")->required();
                             sub->add_option("--seed", args->seed, "init seed (default 0)");
                             auto* v = sub->add_option("--vocab", args->vocab, "vocab.txt to copy into the checkpoint");
                             sub->add_option("--text", args->text, "text to train the vocabulary on (default data/kjv.txt)")
                                 ->excludes(v);
                             sub->add_flag("--force", args->force, "replace an existing checkpoint folder");
                             growth_tool::add_max_shard_size_option(sub, args->max_shard_size);
                             sub->callback([args] { run_init(*args); });
                           }};

}  // namespace growth_tool::cmd_init
