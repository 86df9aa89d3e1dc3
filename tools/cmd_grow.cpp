// growth grow: grows a checkpoint folder into a bigger one (whole-model growth, model/grow.hpp), file to
// file and streaming (io/grow_files.hpp). Optionally checks the result on a masked batch of a text.
// Decoder LM folders (config.json's model_type llama / mistral / qwen2 / gpt2) grow by the same code with a
// decoder target config; their --check runs both models (reference::causal_lm) on random token ids.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <growth/core/random.hpp>
#include <growth/data/mlm_data.hpp>
#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>
#include <growth/io/decoder_config_json.hpp>
#include <growth/io/grow_files.hpp>
#include <growth/model/grow.hpp>
#include <growth/reference/bert.hpp>
#include <growth/reference/causal_lm.hpp>

#include "command.hpp"
#include "common.hpp"
#include "out_folder.hpp"

namespace growth_tool::cmd_grow {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace growth;

struct grow_args {
  std::string model, out, to, depth = "stack", ffn = "split", hidden = "replicate", heads = "duplicate",
                              length = "tile", optimizer = "map", check, max_shard_size;
  std::uint64_t seed = 0;
  bool force = false;
  bool check_given = false;  ///< --check was given (a decoder's takes no text)
};

/// --check's relative tolerance: max |logit change| / max |logit| of a transition called exact (float
/// rounding of the grown network's longer sums stays orders of magnitude below it).
constexpr double check_tolerance = 1e-4;

/// Loads a checkpoint folder into a reference BERT (parameters in bert_parameters order, like the file).
std::unique_ptr<reference::bert<float>> load_reference(const fs::path& dir) {
  auto ck = io::load_checkpoint(dir, growth_tool::checkpoint_load_options(false));
  auto net = std::make_unique<reference::bert<float>>(ck.config);
  std::copy(ck.params.begin(), ck.params.end(), net->flat_params().begin());
  return net;
}

/// --check's masked batch of `text`, tokenised with the source vocabulary. Built before anything is grown,
/// so a missing, unreadable or non-regular text file (io::read_file refuses it) or one without a token
/// is reported with nothing written.
model::mlm_batch check_batch(const fs::path& src, const fs::path& text, const model::bert_config& from) {
  const auto tok = data::wordpiece_tokenizer(io::load_vocab(src / "vocab.txt"));
  std::string bytes;
  try {
    bytes = io::read_file(text);
  } catch (const error& e) {
    throw error("--check text: " + std::string(e.what()));
  }
  const auto stream = data::tokenize_corpus(tok, bytes);
  if (stream.empty()) throw error("--check text " + text.string(), "at least one token", "none");
  data::packing_options pack;
  pack.seq_len = std::min<std::size_t>(from.max_position_embeddings, 128);
  pack.validation_every = 0;
  const data::mlm_dataset ds(stream, tok, pack);
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < std::min<std::size_t>(ds.num_sequences(), 8); ++i) rows.push_back(i);
  return ds.make_batch(rows, data::mlm_dataset::validation_mask_seed);
}

/// Evaluates the source and the grown checkpoint (the unpublished temp folder) on the check batch; returns
/// the line to print. A transition called exact whose logits moved by more than check_tolerance is an
/// error: said loudly on stderr, and thrown, so the caller publishes nothing.
std::string check_grown(const fs::path& before, const fs::path& after, const model::mlm_batch& b,
                        const model::exactness& claimed) {
  auto a = load_reference(before);
  auto g = load_reference(after);
  std::vector<float> la, lg;
  const auto ra = a->evaluate(b, &la);
  const auto rg = g->evaluate(b, &lg);
  double d = 0, scale = 0;
  // NaN-aware maxima (std::max(d, NaN) keeps d): a NaN logit is a change, never "unchanged".
  for (std::size_t i = 0; i < la.size(); ++i) {
    const double x = std::fabs(static_cast<double>(la[i]) - static_cast<double>(lg[i]));
    if (!std::isnan(d) && !(x <= d)) d = x;  // once NaN, stays NaN
    scale = std::max(scale, static_cast<double>(std::fabs(la[i])));
  }
  const std::string line = fmt::format("max_abs_logit_diff={:.6g} loss_before={:.6f} loss_after={:.6f}", d, ra.loss, rg.loss);
  const double rel = scale > 0 ? d / scale : d;
  if (claimed.exact && !(rel <= check_tolerance)) {
    fmt::print(stderr,
               "grow: CHECK FAILED: the transition is exact by the operators' definitions, but the logits changed "
               "({}, relative {:.3g} > {:.0e}); nothing was written\n",
               line, rel, check_tolerance);
    throw error("--check", "logits unchanged within " + std::to_string(check_tolerance) +
                               " relative (the transition is exact)",
                "max_abs_logit_diff=" + std::to_string(d) + " (relative " + std::to_string(rel) + ")");
  }
  return line;
}

/// The operators named by the flags (the names tables' spellings with '-' for '_'; CLI::IsMember admits
/// only valid ones).
growth::grow_options grow_options_of(const grow_args& a) {
  growth::grow_options o;
  auto parsed = [](const auto& names, const std::string& flag) { return growth::parse_option(names, flag).value(); };
  o.depth = parsed(depth_mode_names, a.depth);
  o.ffn = parsed(ffn_mode_names, a.ffn);
  o.hidden = parsed(hidden_mode_names, a.hidden);
  o.heads = parsed(heads_mode_names, a.heads);
  o.length = parsed(length_mode_names, a.length);
  o.optimizer = parsed(optimizer_policy_names, a.optimizer);
  o.seed = a.seed;
  return o;
}

/// --check's batch for a decoder: 4 rows of random token ids (seeded by --seed), min(32,
/// max_position_embeddings) long, every next token scored.
model::clm_batch decoder_check_batch(const model::decoder_config& c, std::uint64_t seed) {
  const std::size_t b = 4, s = std::min<std::size_t>(c.max_position_embeddings, 32);
  model::clm_batch bt(b, s);
  rng r(seed, 0xc4ecULL);
  for (std::size_t i = 0; i < bt.tokens(); ++i) bt.input_ids[i] = static_cast<std::int32_t>(r.below(c.vocab_size));
  bt.labels = bt.input_ids;
  return bt;
}

/// A decoder folder in the reference causal LM (parameters in decoder_parameters order, like the file).
std::unique_ptr<reference::causal_lm<float>> load_decoder_reference(const fs::path& dir) {
  auto ck = io::load_decoder_checkpoint(dir, growth_tool::checkpoint_load_options(false));
  auto net = std::make_unique<reference::causal_lm<float>>(ck.config);
  std::copy(ck.params.begin(), ck.params.end(), net->flat_params().begin());
  return net;
}

/// The decoder form of check_grown: both models' logits on the random batch.
std::string check_grown_decoder(const fs::path& before, const fs::path& after, const model::clm_batch& b,
                                const model::exactness& claimed) {
  auto a = load_decoder_reference(before);
  auto g = load_decoder_reference(after);
  std::vector<float> la, lg;
  const auto ra = a->evaluate(b, &la);
  const auto rg = g->evaluate(b, &lg);
  double d = 0, scale = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    const double x = std::fabs(static_cast<double>(la[i]) - static_cast<double>(lg[i]));
    if (!std::isnan(d) && !(x <= d)) d = x;  // NaN-aware, as check_grown
    scale = std::max(scale, static_cast<double>(std::fabs(la[i])));
  }
  const double rel = scale > 0 ? d / scale : d;
  const std::string line = fmt::format("max_abs_logit_diff={:.6g} relative={:.3g} loss_before={:.6f} loss_after={:.6f}",
                                       d, rel, ra.loss, rg.loss);
  if (claimed.exact && !(rel <= check_tolerance)) {
    fmt::print(stderr,
               "grow: CHECK FAILED: the transition is exact by the operators' definitions, but the logits changed "
               "({}, > {:.0e}); nothing was written\n",
               line, check_tolerance);
    throw error("--check", "logits unchanged within " + std::to_string(check_tolerance) +
                               " relative (the transition is exact)",
                "max_abs_logit_diff=" + std::to_string(d) + " (relative " + std::to_string(rel) + ")");
  }
  return line;
}

/// `growth grow` on a decoder folder: target.json in the family's spelling (io/decoder_config_json.hpp).
void run_grow_decoder(const grow_args& a, const fs::path& src, const fs::path& out, std::uint64_t max_shard_size) {
  const model::decoder_config from = io::load_decoder_config(src / "config.json");
  if (a.ffn == "unshare" || a.ffn == "unfactorize")
    throw error("--ffn " + a.ffn, "split, split-random or split-asym (decoders have no shared / factorised FFNs)",
                "\"" + a.ffn + "\"");
  if (!a.check.empty())
    throw error("--check " + a.check, "no text for a decoder folder (its check runs random token ids)", "a text file");
  const fs::path to_path(a.to);
  const io::json overrides = io::parse_json(io::read_file(to_path), to_path.string());
  model::decoder_config to;
  try {
    to = io::apply_overrides(from, overrides);
  } catch (const error& e) {
    throw error(to_path.string() + ": " + e.what());
  }
  const growth::grow_options o = grow_options_of(a);
  // --hidden mean-pad is exact only with the norm eps scaled by d/d' (model::exactness_of): unless
  // target.json sets the eps, the target gets that eps, and the line below says so.
  const char* eps_key = from.is_gpt2() ? "layer_norm_epsilon" : "rms_norm_eps";
  bool eps_scaled = false;
  if (o.hidden == hidden_mode::mean_pad && to.hidden_size != from.hidden_size && overrides.is_object() &&
      !overrides.contains(eps_key)) {
    to.norm_eps = model::mean_pad_norm_eps(from, to.hidden_size);
    eps_scaled = true;
  }
  std::optional<model::clm_batch> cb;
  if (a.check_given) cb = decoder_check_batch(from, a.seed);
  const model::exactness claimed = model::exactness_of(from, to, o);
  std::string check_line;
  io::grow_files_options fo;
  fo.read.allow_nonfinite = growth_tool::globals().allow_nonfinite;
  fo.max_shard_size = max_shard_size;
  fo.before_publish = [&](const fs::path& tmp) {
    if (cb) check_line = check_grown_decoder(src, tmp, *cb, claimed);
  };
  const auto r = io::grow_checkpoint_files(src, out, to, o, fo);
  fmt::print("grew {} -> {} ({}): layers {}->{} hidden {}->{} heads {}->{} kv_heads {}->{} ffn {}->{} positions {}->{}{}\n",
             a.model, a.out, from.model_type, from.num_hidden_layers, to.num_hidden_layers, from.hidden_size,
             to.hidden_size, from.num_attention_heads, to.num_attention_heads, from.num_key_value_heads,
             to.num_key_value_heads, from.intermediate_size, to.intermediate_size, from.max_position_embeddings,
             to.max_position_embeddings, r.optimizer ? " (with optimizer state)" : "");
  if (eps_scaled) fmt::print("{} scaled by d/d' for mean padding: {:g} -> {:g}\n", eps_key, from.norm_eps, to.norm_eps);
  fmt::print("exact={}", r.exact.exact ? "yes" : "no");
  for (const auto& why : r.exact.reasons) fmt::print(" ({})", why);
  fmt::print("\n");
  if (cb) fmt::print("{}\n", check_line);
}

void run_grow(const grow_args& a) {
  const fs::path src(a.model);
  const std::uint64_t shard = growth_tool::max_shard_size_bytes(a.max_shard_size);
  const fs::path out = growth_tool::check_out_folder(a.out, a.force);
  growth_tool::check_out_not_source(out, src);
  if (io::is_decoder_checkpoint(src)) {
    run_grow_decoder(a, src, out, shard);
    return;
  }
  if (a.check_given && a.check.empty())
    throw error("--check", "a text file (a BERT folder's check masks a batch of it)", "none");
  const model::bert_config from = io::load_config(src / "config.json");
  const fs::path to_path(a.to);
  model::bert_config to = from;
  io::json overrides = io::parse_json(io::read_file(to_path), to_path.string());
  // --ffn unshare / unfactorize: leaving the low-cost variant is implied by the source config; the flag
  // asserts that the source has it and (unless target.json says otherwise) drops it from the target.
  const bool sets_growth = overrides.is_object() && overrides.contains("growth");
  if (a.ffn == "unshare") {
    if (from.ffn_shared_layers.empty())
      throw error("--ffn unshare", "a source config with growth.ffn_shared_layers", "none (standard FFNs)");
    if (!sets_growth) {
      to.ffn_shared_layers.clear();
      to.ffn_share_factor = 1;
    }
  }
  if (a.ffn == "unfactorize") {
    if (from.ffn_factorized_layers.empty())
      throw error("--ffn unfactorize", "a source config with growth.ffn_factorized_layers", "none (standard FFNs)");
    if (!sets_growth) {
      to.ffn_factorized_layers.clear();
      to.ffn_rank = 0;
    }
  }
  try {
    to = io::apply_overrides(to, overrides);
  } catch (const error& e) {
    throw error(to_path.string() + ": " + e.what());
  }
  const growth::grow_options o = grow_options_of(a);
  // --check runs on the complete temp folder, before it is published (a failing check writes nothing).
  std::optional<model::mlm_batch> cb;
  if (!a.check.empty()) cb = check_batch(src, fs::path(a.check), from);
  const model::exactness claimed = model::exactness_of(from, to, o);
  std::string check_line;
  io::grow_files_options fo;
  fo.read.allow_nonfinite = growth_tool::globals().allow_nonfinite;
  fo.max_shard_size = shard;
  fo.before_publish = [&](const fs::path& tmp) {
    if (cb) check_line = check_grown(src, tmp, *cb, claimed);
  };
  const auto r = io::grow_checkpoint_files(src, out, to, o, fo);
  fmt::print("grew {} -> {}: layers {}->{} hidden {}->{} heads {}->{} ffn {}->{} positions {}->{}{}\n", a.model, a.out,
             from.num_hidden_layers, to.num_hidden_layers, from.hidden_size, to.hidden_size, from.num_attention_heads,
             to.num_attention_heads, from.intermediate_size, to.intermediate_size, from.max_position_embeddings,
             to.max_position_embeddings, r.optimizer ? " (with optimizer state)" : "");
  fmt::print("exact={}", r.exact.exact ? "yes" : "no");
  for (const auto& why : r.exact.reasons) fmt::print(" ({})", why);
  fmt::print("\n");
  if (cb) fmt::print("{}\n", check_line);
}

growth_tool::registrar reg{"grow", [](CLI::App& app) {
  auto args = std::make_shared<grow_args>();
  auto* sub = app.add_subcommand("grow", "Grow a BERT or decoder LM checkpoint into a bigger one (depth, width, heads, length)");
  sub->add_option("--model", args->model, "Source checkpoint folder")->required();
  sub->add_option("--out", args->out, "Output checkpoint folder")->required();
  sub->add_option("--to", args->to,
                  "JSON file with the target config fields that change (BertConfig, or the decoder family's spelling)")
      ->required();
  sub->add_option("--depth", args->depth, "Depth operator")->check(CLI::IsMember({"stack", "interpolate", "identity"}));
  sub->add_option("--ffn", args->ffn, "FFN operator (unshare / unfactorize leave the source's low-cost FFNs)")
      ->check(CLI::IsMember({"split", "split-asym", "split-random", "unshare", "unfactorize"}));
  sub->add_option("--hidden", args->hidden, "Hidden-size operator")->check(CLI::IsMember({"replicate", "mean-pad"}));
  sub->add_option("--heads", args->heads, "Attention-head operator")->check(CLI::IsMember({"add", "duplicate"}));
  sub->add_option("--length", args->length, "Position-table operator")
      ->check(CLI::IsMember({"tile", "interpolate", "random"}));
  sub->add_option("--optimizer", args->optimizer, "Adam moments: map them or reset them")
      ->check(CLI::IsMember({"map", "reset"}));
  sub->add_option("--seed", args->seed, "Seed of fresh values (new heads, random positions, asymmetric split)");
  auto* check = sub->add_option("--check", args->check,
                                "Compare both models' logits and loss before writing (BERT: on a masked batch of this "
                                "text file; decoders: on random token ids, no file); an exact transition whose logits "
                                "change is an error")
                    ->expected(0, 1);
  sub->add_flag("--force", args->force, "Replace an existing checkpoint folder --out");
  growth_tool::add_max_shard_size_option(sub, args->max_shard_size);
  sub->callback([args, check] {
    args->check_given = check->count() > 0;
    run_grow(*args);
  });
}};

}  // namespace growth_tool::cmd_grow
