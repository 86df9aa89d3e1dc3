#pragma once
/// @file checkpoint.hpp
/// Checkpoint folders in the Hugging Face layout, so transformers' BertForMaskedLM.from_pretrained(dir)
/// can load what we write:
///   config.json            (config_json.hpp; includes the "growth" low-cost fields)
///   model.safetensors      (F32, every tensor of model::bert_parameters(config), metadata {"format": "pt"}
///                           which transformers requires; the tied decoder weight is not written)
///   vocab.txt              (one token per line, id = line number)
///   optimizer.safetensors  (optional: AdamW moments "<param>.exp_avg" / "<param>.exp_avg_sq", F32; the step
///                           count in metadata "step", the caller's lr-schedule state as other metadata)
///   trainer_state.json     (optional: free-form JSON the trainer passes in)
///
/// Saving is atomic for the folder as a whole: everything is written into a sibling temp folder
/// ".<name>.tmp-<pid>-<start time>-XXXXXX", fsynced, and then swapped in with renameat2(RENAME_EXCHANGE) (or a plain rename
/// when the folder does not exist yet), so a crash leaves either the old or the new checkpoint, never a
/// mix of files from two steps. An existing folder is only replaced when it holds nothing but checkpoint
/// files (so a mistyped path cannot wipe unrelated data). Everything is validated before anything is
/// written. Temp folders of killed writers (named after a process that is gone) are removed by the next
/// save to the same folder (detail::remove_stale_temp_dirs).
///
/// Loading is strict: every parameter of bert_parameters(config) must be present with its exact shape
/// (F32, F16, BF16 or F64 accepted, converted to float); tied aliases (cls.predictions.decoder.weight /
/// .bias) may be present and must then equal the tensors they alias; HF's non-persistent buffer
/// bert.embeddings.position_ids is ignored; any other tensor is an error (unless allow_unknown_tensors).
///
/// Decoder LMs (model/decoder_config.hpp: LLaMA family, GPT-2) use the same folder, written by the same
/// code: basic_checkpoint<Config> and the functions below are generic over the config type, and only
/// checkpoint_traits<Config> differs (which config.json spelling, which tensors may be present besides the
/// table's). For a decoder:
///   config.json            in the family's own spelling (io/decoder_config_json.hpp)
///   model.safetensors      every tensor of model::decoder_parameters(config) under its HF name; a tied
///                          lm_head is not written
///   vocab.txt              optional (Hugging Face decoder folders have a tokenizer.json / merges instead):
///                          written when the caller gives a vocabulary, read when present
///   optimizer.safetensors, trainer_state.json as for BERT.
/// Loading is strict as for BERT: a tied lm_head.weight may be present and must equal the token
/// embeddings; the non-persistent buffers older transformers versions saved (model::is_tied_alias) are
/// ignored. checkpoint_kind_of(dir) tells the two kinds of folder apart by config.json's model_type.
#include <fcntl.h>
#include <cstdio>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28; <cstdio> includes <stdio.h>)
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "../model/bert_layout.hpp"
#include "../model/decoder_layout.hpp"
#include "../model/parameter_set.hpp"
#include "atomic_file.hpp"
#include "config_json.hpp"
#include "decoder_config_json.hpp"
#include "json.hpp"
#include "safetensors.hpp"
#include "utf8.hpp"

namespace growth::io {

/// AdamW state as flat float buffers in parameters_of(config) order (same layout as checkpoint::params).
struct optimizer_state {
  std::vector<float> exp_avg;
  std::vector<float> exp_avg_sq;
  std::uint64_t step = 0;
  std::map<std::string, std::string> extra;  ///< lr-schedule state etc., stored as safetensors metadata
};

/// What save_checkpoint takes for the optimizer: views of m and v (same names and shapes as the params).
template <class T>
struct optimizer_views {
  const model::parameter_set<T>& exp_avg;
  const model::parameter_set<T>& exp_avg_sq;
  std::uint64_t step = 0;
  std::map<std::string, std::string> extra;
};

/// What checkpoint I/O needs to know about an architecture, by config type: how config.json is read and
/// written, whether vocab.txt is required, and which tensors a folder may hold besides the layout table's.
template <class Config>
struct checkpoint_traits;

template <>
struct checkpoint_traits<model::bert_config> {
  static constexpr bool vocab_required = true;
  static std::string model_name(const model::bert_config& /*c*/) { return "BertForMaskedLM"; }
  static model::bert_config load_config(const std::filesystem::path& p) { return io::load_config(p); }
  static void save_config(const std::filesystem::path& p, const model::bert_config& c) { io::save_config(p, c); }
  /// A tensor a folder may hold that is not a parameter: std::nullopt when `name` is not one, "" when it is
  /// skipped (HF's non-persistent buffer), else the parameter it must equal (a tie).
  static std::optional<std::string> alias_of(const model::bert_config& /*c*/, const std::string& name) {
    if (name == "bert.embeddings.position_ids") return std::string();
    if (name == "cls.predictions.decoder.weight") return std::string("bert.embeddings.word_embeddings.weight");
    if (name == "cls.predictions.decoder.bias") return std::string("cls.predictions.bias");
    return std::nullopt;
  }
};

template <>
struct checkpoint_traits<model::decoder_config> {
  static constexpr bool vocab_required = false;
  static std::string model_name(const model::decoder_config& c) {
    return c.is_gpt2() ? "GPT2LMHeadModel" : "LlamaForCausalLM";
  }
  static model::decoder_config load_config(const std::filesystem::path& p) { return io::load_decoder_config(p); }
  static void save_config(const std::filesystem::path& p, const model::decoder_config& c) {
    io::save_decoder_config(p, c);
  }
  static std::optional<std::string> alias_of(const model::decoder_config& c, const std::string& name) {
    if (!model::is_tied_alias(c, name)) return std::nullopt;
    if (c.tie_word_embeddings && name == "lm_head.weight")
      return std::string(c.is_gpt2() ? "transformer.wte.weight" : "model.embed_tokens.weight");
    return std::string();  // an old non-persistent buffer
  }
};

/// A checkpoint folder in memory, for the architecture of Config (bert_config: `checkpoint`;
/// decoder_config: `decoder_checkpoint`).
template <class Config>
struct basic_checkpoint {
  Config config;
  std::vector<std::string> vocab;  ///< empty: a decoder folder without vocab.txt
  std::vector<float> params;  ///< flat, parameters_of(config) order, each row-major
  std::optional<optimizer_state> opt;
  json trainer_state;  ///< null when the folder has no trainer_state.json

  /// Views of params (or of another buffer with the same layout, e.g. opt->exp_avg) by parameter name.
  [[nodiscard]] model::parameter_set<float> views(std::vector<float>& buffer) const {
    return flat_views(config, buffer);
  }
  [[nodiscard]] model::parameter_set<float> views() { return flat_views(config, params); }

  /// Parameter views over a flat buffer laid out in parameters_of(c) order.
  static model::parameter_set<float> flat_views(const Config& c, std::vector<float>& buffer) {
    model::parameter_set<float> set;
    std::size_t off = 0;
    const auto specs = model::parameters_of(c);
    std::size_t total = 0;
    for (const auto& s : specs) total += s.numel();
    if (buffer.size() != total)
      throw error("flat parameter buffer", std::to_string(total) + " floats", std::to_string(buffer.size()));
    for (const auto& s : specs) {
      set.add(model::param_view<float>::make(s.name, s.shape, buffer.data() + off));
      off += s.numel();
    }
    return set;
  }
};

/// A BERT checkpoint folder (the type every BERT caller uses).
using checkpoint = basic_checkpoint<model::bert_config>;
/// A decoder LM checkpoint folder (LLaMA family, GPT-2).
using decoder_checkpoint = basic_checkpoint<model::decoder_config>;

/// The two kinds of checkpoint folder.
enum class checkpoint_kind : std::uint8_t { bert, decoder };

/// Which kind of folder `dir` is, by its config.json's model_type (llama / mistral / qwen2 / gpt2: decoder;
/// anything else: bert, whose reader then names a wrong model_type).
inline checkpoint_kind checkpoint_kind_of(const std::filesystem::path& dir) {
  return is_decoder_model_type(model_type_of(dir / "config.json")) ? checkpoint_kind::decoder : checkpoint_kind::bert;
}
inline bool is_decoder_checkpoint(const std::filesystem::path& dir) {
  return checkpoint_kind_of(dir) == checkpoint_kind::decoder;
}

struct load_options {
  bool allow_unknown_tensors = false;  ///< ignore tensors that are not BertForMaskedLM parameters
  bool allow_nonfinite = false;        ///< accept NaN/Inf in tensors
  bool load_optimizer = true;          ///< read optimizer.safetensors when present
};

namespace detail {

inline const char* const checkpoint_files[] = {"config.json", "model.safetensors", "vocab.txt",
                                               "optimizer.safetensors", "trainer_state.json"};

/// Contiguous float copy of a (possibly strided, any element type) parameter view, or a direct pointer
/// when it is already dense float.
template <class T>
const float* dense_float(const model::param_view<T>& p, std::vector<float>& scratch) {
  using U = std::remove_const_t<T>;
  bool dense = true;
  std::ptrdiff_t s = 1;
  for (std::size_t a = p.shape.size(); a-- > 0;) {
    if (p.shape[a] != 1 && p.strides[a] != s) dense = false;
    s *= static_cast<std::ptrdiff_t>(p.shape[a]);
  }
  if constexpr (std::is_same_v<U, float>) {
    if (dense) return p.data;
  }
  const std::size_t n = p.numel();
  scratch.resize(n);
  std::vector<std::size_t> idx(p.shape.size(), 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::ptrdiff_t off = 0;
    for (std::size_t a = 0; a < idx.size(); ++a) off += static_cast<std::ptrdiff_t>(idx[a]) * p.strides[a];
    scratch[i] = static_cast<float>(p.data[off]);
    for (std::size_t a = idx.size(); a-- > 0;) {  // odometer increment, last axis fastest (row-major)
      if (++idx[a] < p.shape[a]) break;
      idx[a] = 0;
    }
  }
  return scratch.data();
}

/// Checks that `set` holds exactly the parameters of `specs` with their shapes.
template <class T>
void check_parameter_set(const model::parameter_set<T>& set, const std::vector<model::param_spec>& specs,
                         const std::string& what) {
  for (const auto& s : specs) {
    const auto* p = set.find(s.name);
    if (!p) throw error(what + " parameter " + s.name, "present (config needs it)", "missing");
    if (p->shape != s.shape)
      throw error(what + " parameter " + s.name + " shape", growth::detail::shape_string(s.shape),
                  growth::detail::shape_string(p->shape));
  }
  if (set.size() != specs.size()) {
    for (const auto& p : set) {
      bool known = false;
      for (const auto& s : specs) known = known || s.name == p.name;
      if (!known) throw error(what + " parameter " + p.name, "a parameter of this config", "an unknown name");
    }
  }
}

inline void check_vocab(const std::vector<std::string>& vocab, std::size_t vocab_size, const std::string& what) {
  if (vocab.empty()) throw error(what, "at least one token", "an empty vocabulary");
  if (vocab.size() > vocab_size)
    throw error(what, "at most vocab_size = " + std::to_string(vocab_size) + " tokens", std::to_string(vocab.size()));
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    const auto& t = vocab[i];
    if (t.find('\n') != std::string::npos || t.find('\r') != std::string::npos)
      throw error(what + " token " + std::to_string(i), "no line breaks", "a token containing one");
    if (!valid_utf8(t)) throw error(what + " token " + std::to_string(i), "valid UTF-8", "invalid bytes");
    auto [it, fresh] = seen.emplace(t, i);
    if (!fresh)
      throw error(what + " token \"" + t + "\"", "unique tokens",  // NOLINT(performance-inefficient-string-concatenation): error path
                  "lines " + std::to_string(it->second + 1) + " and " + std::to_string(i + 1));
  }
}

/// Start time of process `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), or nullopt when
/// no such process exists. (pid, start time) names a process uniquely: a reused pid has another start time.
inline std::optional<std::uint64_t> process_start_time(long pid) {
  // A stream read: /proc files report size 0, so read_file (which reads st_size bytes) would see nothing.
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!f || !std::getline(f, stat)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::size_t pos = close + 1;
  for (int field = 3; field <= 22; ++field) {
    while (pos < stat.size() && stat[pos] == ' ') ++pos;
    const std::size_t end = stat.find(' ', pos);
    if (field == 22) {
      try {
        return std::stoull(stat.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
      } catch (...) {
        return std::nullopt;
      }
    }
    if (end == std::string::npos) return std::nullopt;
    pos = end;
  }
  return std::nullopt;
}

/// The temp-folder prefix of dir: ".<name>.tmp-". A temp folder is "<prefix><pid>-<start time>-XXXXXX": the
/// creating process is in the name (not in a file inside, which publishing would carry into the
/// checkpoint), so a later run can tell a stale one (its process is gone) from one being written.
inline std::string temp_dir_prefix(const std::filesystem::path& dir) { return "." + dir.filename().string() + ".tmp-"; }

/// Creates a fresh temp folder beside dir, named after this process (see temp_dir_prefix).
inline std::filesystem::path make_temp_dir_beside(const std::filesystem::path& dir) {
  const long pid = static_cast<long>(::getpid());
  const auto start = process_start_time(pid).value_or(0);
  std::string t = (dir.parent_path() / (temp_dir_prefix(dir) + std::to_string(pid) + "-" + std::to_string(start) +
                                        "-XXXXXX"))
                      .string();
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw error("checkpoint folder " + dir.string(), "a temp folder creatable beside it",
                                          errno_text(errno));
  return std::filesystem::path(buf.data());
}

/// Moves the fully written temp folder to dir (swap when dir exists), removes the old one, fsyncs parent.
inline void publish_dir(const std::filesystem::path& tmp, const std::filesystem::path& dir) {
  const std::string what = "checkpoint folder " + dir.string();
  if (std::filesystem::exists(dir)) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
      // File systems without RENAME_EXCHANGE: move the old folder aside, then rename (two steps; a crash in
      // between leaves the complete old folder under ".<name>.old-XXXXXX" and the new one in the temp).
      const int e = errno;
      if (e != EINVAL && e != ENOSYS) throw error(what, "replaceable (renameat2)", errno_text(e));
      const auto old = make_temp_dir_beside(dir.parent_path() / (dir.filename().string() + ".old"));
      std::filesystem::remove(old);
      std::filesystem::rename(dir, old);
      std::filesystem::rename(tmp, dir);
      std::filesystem::remove_all(old);
    } else {
      std::filesystem::remove_all(tmp);  // now holds the old checkpoint
    }
  } else {
    std::filesystem::rename(tmp, dir);
  }
  fsync_dir(dir.parent_path());
}

/// Removes the temp folders of dir left by killed processes (SIGKILL, power loss: the catch that removes a
/// temp folder never ran): every "<prefix><pid>-<start>-XXXXXX" folder beside dir whose process (pid with
/// that start time) no longer exists. Left alone: folders of live processes (a concurrent writer), names
/// in any other form (an older version's, or not ours), and everything while an interrupted two-step swap
/// (".<name>.old.tmp-*", publish_dir's fallback) is beside dir, since its temp folder may then hold the only
/// complete new checkpoint. Returns the folders removed.
inline std::vector<std::filesystem::path> remove_stale_temp_dirs(const std::filesystem::path& dir_arg) {
  namespace fs = std::filesystem;
  fs::path dir = dir_arg;
  if (dir.filename().empty()) dir = dir.parent_path();
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  const std::string prefix = temp_dir_prefix(dir), old_prefix = "." + dir.filename().string() + ".old.tmp-";
  std::vector<fs::path> stale;
  std::error_code ec;
  fs::directory_iterator it(parent, ec);
  if (ec) return {};
  for (const auto& e : it) {
    const std::string n = e.path().filename().string();
    if (n.rfind(old_prefix, 0) == 0) return {};
    if (n.rfind(prefix, 0) != 0 || !e.is_directory(ec) || e.is_symlink(ec)) continue;
    // "<pid>-<start>-XXXXXX"
    const std::string rest = n.substr(prefix.size());
    const auto d1 = rest.find('-'), d2 = d1 == std::string::npos ? d1 : rest.find('-', d1 + 1);
    if (d2 == std::string::npos || rest.size() - d2 - 1 != 6) continue;
    const std::string pid_s = rest.substr(0, d1), start_s = rest.substr(d1 + 1, d2 - d1 - 1);
    auto digits = [](const std::string& x) {
      return !x.empty() && x.size() < 19 && x.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!digits(pid_s) || !digits(start_s)) continue;
    const auto live = process_start_time(std::stol(pid_s));
    if (live && *live == std::stoull(start_s)) continue;  // its process is still running
    stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
  return stale;
}

inline std::vector<std::string> read_vocab(const std::filesystem::path& p) {
  const std::string text = read_file(p);
  std::vector<std::string> vocab;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    vocab.push_back(text.substr(start, nl - start));  // like HF load_vocab: only "\n" is stripped
    start = nl + 1;
  }
  return vocab;
}

}  // namespace detail

/// Writes vocab.txt atomically (one token per line).
inline void save_vocab(const std::filesystem::path& p, const std::vector<std::string>& vocab) {
  detail::check_vocab(vocab, vocab.size(), "vocabulary");
  std::string s;
  for (const auto& t : vocab) {
    s += t;
    s += '\n';
  }
  write_file_atomic(p, s);
}
/// Reads vocab.txt (one token per line, id = line index).
inline std::vector<std::string> load_vocab(const std::filesystem::path& p) {
  auto v = detail::read_vocab(p);
  detail::check_vocab(v, v.size(), p.string());
  return v;
}

/// Saves a checkpoint folder (see the file comment). params (and the optional m / v) must hold exactly
/// the parameters of parameters_of(config) with their shapes; any element type and strides; written F32.
/// A decoder's vocab may be empty (no vocab.txt is written).
template <class Config, class T>
  requires requires { checkpoint_traits<Config>::vocab_required; }
void save_checkpoint(const std::filesystem::path& dir, const Config& config,
                     const model::parameter_set<T>& params, const std::vector<std::string>& vocab,
                     const optimizer_views<std::type_identity_t<T>>* opt = nullptr,
                     const json& trainer_state = json()) {
  using traits = checkpoint_traits<Config>;
  // Validate everything before touching the disk.
  config.validate();
  const auto specs = model::parameters_of(config);
  detail::check_parameter_set(params, specs, "checkpoint");
  if (opt) {
    detail::check_parameter_set(opt->exp_avg, specs, "optimizer exp_avg");
    detail::check_parameter_set(opt->exp_avg_sq, specs, "optimizer exp_avg_sq");
    if (opt->extra.count("step")) throw error("optimizer extra metadata", "no key \"step\" (use the step field)", "\"step\"");
  }
  const bool write_vocab = traits::vocab_required || !vocab.empty();
  if (write_vocab) detail::check_vocab(vocab, config.vocab_size, "checkpoint vocabulary");
  std::filesystem::path target = dir;
  if (target.filename().empty()) target = target.parent_path();  // "ckpt/" -> "ckpt"
  if (std::filesystem::exists(target)) {
    if (!std::filesystem::is_directory(target))
      throw error("checkpoint folder " + target.string(), "a folder (or nothing)", "a file");
    for (const auto& e : std::filesystem::directory_iterator(target)) {
      const std::string n = e.path().filename().string();
      bool ok = false;
      for (const char* f : detail::checkpoint_files) ok = ok || n == f;
      if (!ok)
        throw error("checkpoint folder " + target.string(),
                    "only checkpoint files before it is replaced", "an unrelated entry \"" + n + "\"");
    }
  }

  detail::remove_stale_temp_dirs(target);
  const auto tmp = detail::make_temp_dir_beside(target);
  try {
    traits::save_config(tmp / "config.json", config);
    if (write_vocab) save_vocab(tmp / "vocab.txt", vocab);
    {
      std::vector<std::vector<float>> scratch(specs.size());
      safetensors_writer w;
      w.set_metadata("format", "pt");
      for (std::size_t i = 0; i < specs.size(); ++i)
        w.add<float>(specs[i].name, specs[i].shape, detail::dense_float(params.at(specs[i].name), scratch[i]));
      w.write(tmp / "model.safetensors");
    }
    if (opt) {
      std::vector<std::vector<float>> scratch(2 * specs.size());
      safetensors_writer w;
      w.set_metadata("format", "pt");
      w.set_metadata("step", std::to_string(opt->step));
      for (const auto& [k, v] : opt->extra) w.set_metadata(k, v);
      for (std::size_t i = 0; i < specs.size(); ++i) {
        w.add<float>(specs[i].name + ".exp_avg", specs[i].shape,
                     detail::dense_float(opt->exp_avg.at(specs[i].name), scratch[2 * i]));
        w.add<float>(specs[i].name + ".exp_avg_sq", specs[i].shape,
                     detail::dense_float(opt->exp_avg_sq.at(specs[i].name), scratch[2 * i + 1]));
      }
      w.write(tmp / "optimizer.safetensors");
    }
    if (!trainer_state.is_null()) write_file_atomic(tmp / "trainer_state.json", trainer_state.dump(2) + "\n");
    detail::fsync_dir(tmp);
    detail::publish_dir(tmp, target);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

/// Saves a loaded (or assembled) checkpoint struct.
template <class Config>
void save_checkpoint(const std::filesystem::path& dir, basic_checkpoint<Config>& ck) {
  auto p = ck.views();
  if (ck.opt) {
    auto m = ck.views(ck.opt->exp_avg);
    auto v = ck.views(ck.opt->exp_avg_sq);
    optimizer_views<float> ov{m, v, ck.opt->step, ck.opt->extra};
    save_checkpoint(dir, ck.config, p, ck.vocab, &ov, ck.trainer_state);
  } else {
    save_checkpoint(dir, ck.config, p, ck.vocab, nullptr, ck.trainer_state);
  }
}

/// Loads a checkpoint folder strictly (see the file comment): load_checkpoint(dir) a BERT folder,
/// load_checkpoint<model::decoder_config>(dir) (or load_decoder_checkpoint) a decoder one.
template <class Config = model::bert_config>
basic_checkpoint<Config> load_checkpoint(const std::filesystem::path& dir, const load_options& opt = {}) {
  using traits = checkpoint_traits<Config>;
  basic_checkpoint<Config> ck;
  ck.config = traits::load_config(dir / "config.json");
  if (traits::vocab_required || std::filesystem::exists(dir / "vocab.txt")) {
    ck.vocab = detail::read_vocab(dir / "vocab.txt");
    detail::check_vocab(ck.vocab, ck.config.vocab_size, (dir / "vocab.txt").string());
  }
  const auto specs = model::parameters_of(ck.config);
  std::size_t total = 0;
  for (const auto& s : specs) total += s.numel();

  // Reads every spec tensor named prefix+name+suffix into a flat buffer; checks the file has nothing else.
  auto read_all = [&](const safetensors_reader& rd, const std::string& suffix, std::vector<float>& out) {
    out.assign(total, 0.0f);
    std::size_t off = 0;
    for (const auto& s : specs) {
      rd.read<float>(s.name + suffix, std::span<float>(out.data() + off, s.numel()), s.shape);
      off += s.numel();
    }
  };
  {
    safetensors_reader rd(dir / "model.safetensors", reader_options{opt.allow_nonfinite});
    read_all(rd, "", ck.params);
    std::set<std::string> known;
    for (const auto& s : specs) known.insert(s.name);
    auto views = ck.views();
    for (const auto& n : rd.names()) {
      if (known.count(n)) continue;
      const std::optional<std::string> alias = traits::alias_of(ck.config, n);
      if (alias && alias->empty()) continue;  // a non-persistent buffer
      if (alias) {
        const std::string& target = *alias;
        const auto& tv = views.at(target);
        std::vector<float> alias(tv.numel());
        rd.read<float>(n, std::span<float>(alias), tv.shape);
        for (std::size_t i = 0; i < alias.size(); ++i)
          if (alias[i] != tv.data[i])
            throw error("checkpoint " + (dir / "model.safetensors").string() + ": tensor " + n,
                        "equal to the tied " + target, "a difference at element " + std::to_string(i));
        continue;
      }
      if (!opt.allow_unknown_tensors)
        throw error("checkpoint " + (dir / "model.safetensors").string() + ": tensor " + n,
                    "a " + traits::model_name(ck.config) + " parameter of this config", "an unknown tensor");
    }
  }
  const auto opt_path = dir / "optimizer.safetensors";
  if (opt.load_optimizer && std::filesystem::exists(opt_path)) {
    safetensors_reader rd(opt_path, reader_options{opt.allow_nonfinite});
    optimizer_state st;
    read_all(rd, ".exp_avg", st.exp_avg);
    read_all(rd, ".exp_avg_sq", st.exp_avg_sq);
    if (rd.names().size() != 2 * specs.size()) {
      for (const auto& n : rd.names()) {
        const bool ok = (n.size() > 8 && n.compare(n.size() - 8, 8, ".exp_avg") == 0) ||
                        (n.size() > 11 && n.compare(n.size() - 11, 11, ".exp_avg_sq") == 0);
        std::string base = n.substr(0, n.rfind(".exp_avg"));
        bool known = false;
        for (const auto& s : specs) known = known || s.name == base;
        if (!ok || !known)
          throw error("checkpoint " + opt_path.string() + ": tensor " + n, "<parameter>.exp_avg or .exp_avg_sq",
                      "an unknown tensor");
      }
    }
    for (const auto& [k, v] : rd.metadata()) {
      if (k == "format") continue;
      if (k == "step") {
        char* end = nullptr;
        errno = 0;
        const unsigned long long s = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-')
          throw error("checkpoint " + opt_path.string() + ": metadata step", "a non-negative integer", "\"" + v + "\"");
        st.step = s;
      } else {
        st.extra[k] = v;
      }
    }
    if (!rd.metadata().count("step"))
      throw error("checkpoint " + opt_path.string() + ": metadata step", "present", "missing");
    ck.opt = std::move(st);
  }
  const auto ts = dir / "trainer_state.json";
  if (std::filesystem::exists(ts)) ck.trainer_state = parse_json(read_file(ts), ts.string());
  return ck;
}

/// Loads a decoder LM checkpoint folder strictly (see the file comment).
inline decoder_checkpoint load_decoder_checkpoint(const std::filesystem::path& dir, const load_options& opt = {}) {
  return load_checkpoint<model::decoder_config>(dir, opt);
}

}  // namespace growth::io
