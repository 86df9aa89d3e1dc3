#pragma once
// Helpers shared by the growth tool's subcommands (init, eval, inspect; others may use them):
//  - where the committed data lives (data_dir, default_corpus) and reading a text file with a clear error;
//  - loading a checkpoint folder into a reference::bert<float> (load_model);
//  - turning a text file into deterministic masked MLM batches (eval_data);
//  - evaluating a model over such batches (evaluate_mlm);
//  - writing an evaluation dump as safetensors with I64 id tensors (write_eval_dump).
// Everything throws growth::error naming the file / option / field, the expected and the actual value;
// main.cpp turns that into "growth: error: ..." and exit code 2.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

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

// ------------------------------------------------------------------------------------------------------------
// Option values checked the same way in every subcommand (main.cpp calls check_option_values once, after
// every subcommand has registered its options). CLI11 converts "-1" into an unsigned option by wrapping
// (--steps -1 would run 2^64 - 1 steps), and a few values allocate or spawn without bound; each rule is
// keyed by the option's type or name so a new subcommand gets them without doing anything.

/// Upper bounds by option name (inclusive): threads (libgomp aborts or crashes far beyond the core count),
/// parallel jobs, and the two sizes that multiply into every activation buffer.
constexpr std::size_t max_threads = 256;
constexpr std::size_t max_batch = 4096;
constexpr std::size_t max_seq_len = 8192;

namespace detail {
/// The value of an unsigned option: digits only (a leading '-' is refused, not wrapped).
inline std::string check_unsigned_text(const std::string& s, std::size_t upper) {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  if (i < s.size() && s[i] == '-') return "expected a non-negative integer, got " + s;
  if (upper == 0) return {};
  unsigned long long v = 0;
  const auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
  if (ec == std::errc() && end == s.data() + s.size() && v > upper)
    return "expected at most " + std::to_string(upper) + ", got " + s;
  return {};  // anything else is CLI11's conversion error
}
inline std::size_t upper_bound_of(const std::string& name) {
  if (name == "--threads" || name == "--jobs") return max_threads;
  if (name == "--batch" || name == "--batch-size") return max_batch;
  if (name == "--seq-len") return max_seq_len;
  return 0;
}
}  // namespace detail

/// Adds the checks above to every option of every subcommand of app: unsigned options refuse negative
/// values (and --threads, --jobs, --batch, --batch-size, --seq-len their bounds); --lr must be finite and > 0.
/// A failed check is a CLI::ValidationError ("--steps: expected a non-negative integer, got -1").
inline void check_option_values(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    for (CLI::Option* o : sub->get_options([](CLI::Option*) { return true; })) {
      const std::string name = o->get_lnames().empty() ? std::string() : "--" + o->get_lnames().front();
      if (o->get_type_name() == "UINT") {
        const std::size_t upper = detail::upper_bound_of(name);
        o->check(CLI::Validator([upper](std::string& v) { return detail::check_unsigned_text(v, upper); },
                                upper ? "0.." + std::to_string(upper) : std::string("NON-NEGATIVE")));
      } else if (name == "--lr") {
        o->check(CLI::Validator(
            [](std::string& v) -> std::string {
              char* end = nullptr;
              const double x = std::strtod(v.c_str(), &end);
              if (end == v.c_str() || *end != '\0') return {};  // CLI11 reports the conversion error
              if (!std::isfinite(x) || !(x > 0)) return "expected a finite learning rate > 0, got " + v;
              return {};
            },
            "> 0"));
      }
    }
  }
}

/// Refuses an output path that lies inside a folder the command reads (the input checkpoint): `what` names
/// the option ("--dump"), `folder_what` the folder's ("--model"). Paths are compared after resolving
/// symbolic links and "..", so a link into the folder is caught too.
inline void refuse_output_inside(const fs::path& out, const std::string& what, const fs::path& folder,
                                 const std::string& folder_what) {
  if (out.empty() || folder.empty()) return;
  std::error_code e1, e2;
  const fs::path o = fs::weakly_canonical(fs::absolute(out), e1), f = fs::weakly_canonical(fs::absolute(folder), e2);
  if (e1 || e2) return;  // unresolvable paths fail later with their own error
  const fs::path rel = o.lexically_relative(f);
  if (rel.empty() || *rel.begin() == "..") return;
  throw growth::error(what + " " + out.string(), "a path outside the " + folder_what + " folder " + folder.string() +
                                                     " (it would overwrite the input)",
                      "a path inside it");
}

/// An exclusive lock on an output folder, held while the object lives: flock(LOCK_EX | LOCK_NB) on the file
/// `<dir>/.growth.lock`, which then holds "pid P on host H: command line". Two `growth train` runs into one
/// --out would otherwise both report success while one's checkpoints silently replace the other's. The
/// kernel drops the lock when the process ends (even by SIGKILL), so a stale lock file is harmless; it is
/// never removed (removing it would race with a process opening it). The folder is created if missing.
class folder_lock {
 public:
  folder_lock(const fs::path& dir, const std::string& what) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) throw growth::error(what + " folder " + dir.string(), "a folder (created if missing)",
                                                          ec ? ec.message() : std::string("not a folder"));
    const fs::path p = dir / ".growth.lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw growth::error("lock file " + p.string(), "creatable", growth::io::detail::errno_text(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (e != EWOULDBLOCK) {  // a file system without locks: say so and go on unprotected
        fmt::print(stderr, "growth: warning: cannot lock {} ({}); concurrent runs into it are not detected\n", p.string(),
                   growth::io::detail::errno_text(e));
        return;
      }
      char buf[1024];
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string who = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
      while (!who.empty() && (who.back() == '\n' || who.back() == '\0')) who.pop_back();
      ::close(fd_);
      fd_ = -1;
      throw growth::error(what + " folder " + dir.string(), "not in use by another run (lock " + p.string() + ")",
                          "held by " + (who.empty() ? std::string("another process") : who));
    }
    std::string me = "pid " + std::to_string(::getpid());
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) me += " on host " + std::string(host);
    if (std::FILE* f = std::fopen("/proc/self/cmdline", "rb")) {
      char cmd[512];
      const std::size_t n = std::fread(cmd, 1, sizeof cmd, f);
      std::fclose(f);
      std::string c(cmd, n);
      for (char& ch : c)
        if (ch == '\0') ch = ' ';
      while (!c.empty() && c.back() == ' ') c.pop_back();
      if (!c.empty()) me += ": " + c;
    }
    me += "\n";
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
  }
  ~folder_lock() {
    if (fd_ >= 0) ::close(fd_);
  }
  folder_lock(const folder_lock&) = delete;
  folder_lock& operator=(const folder_lock&) = delete;

 private:
  int fd_ = -1;
};

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
    if (!fs::exists(dir / f) && !(f == std::string_view("model.safetensors") && growth::io::sharded_reader::present(dir, "model")))
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
  /// Batch k.
  [[nodiscard]] growth::model::mlm_batch batch(std::size_t k) const {
    const std::size_t begin = k * opt_.batch_size, end = std::min(num_sequences(), begin + opt_.batch_size);
    if (k >= num_batches()) throw growth::error("eval batch index", "< " + std::to_string(num_batches()), std::to_string(k));
    std::vector<std::size_t> rows;
    for (std::size_t i = begin; i < end; ++i) rows.push_back(i);
    return dataset_.make_batch(rows, opt_.seed);
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
    for (auto l : b.labels) n += l != growth::model::ignore_label;
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
inline void write_eval_dump(const fs::path& p, const growth::model::mlm_batch& b, const std::vector<float>& logits,
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

/// --max-shard-size on every command that writes a checkpoint (init, train, grow): Hugging Face's syntax
/// (io::parse_shard_size: "500MB", "5GB", "150KB", "1GiB"); model and optimizer sets larger than it are
/// written as an index + shards (io/sharded.hpp). Not given: one file each, as always.
inline void add_max_shard_size_option(CLI::App* sub, std::string& value) {
  sub->add_option("--max-shard-size", value,
                  "shard model/optimizer safetensors larger than this (HF syntax: 500MB, 5GB, 150KB, 1GiB)");
}
/// The option's value in bytes; 0 (no sharding) when it was not given. A bad size is an error naming it.
inline std::uint64_t max_shard_size_bytes(const std::string& value) {
  return value.empty() ? 0 : growth::io::parse_shard_size(value, "--max-shard-size");
}

}  // namespace growth_tool
