#pragma once
/// @file io/grow_files.hpp
/// File-to-file whole-model growth that streams: each source tensor is read (pread) when a new tensor
/// needs it, and each new tensor is grown and written straight to the output file, so the process never
/// holds two whole models (peak memory ~ a few of the largest tensors; benchmarks/README.md measures it).
/// Used by `growth grow` and by benchmarks/bench_grow.cpp.
///
/// The output is a checkpoint folder in the io/checkpoint.hpp layout (config.json, model.safetensors,
/// vocab.txt, optimizer.safetensors when the source has one), written into a temp folder beside the
/// target and published atomically, exactly as io::save_checkpoint does. Everything that can be checked
/// (the transition, every source tensor's presence and shape, the output folder) is checked before
/// anything is written. The growth itself is model::plan_growth + model::grow_parameter, the same
/// arithmetic as in-memory model::grow, so the files equal a load + grow + save bit for bit.
///
/// Decoder LM folders (LLaMA family, GPT-2) grow by the same code: everything below is generic over the
/// config type (checkpoint_traits in io/checkpoint.hpp says how its config.json, vocab.txt and extra tensors
/// are handled); the target config's type picks the architecture, so a decoder source needs a decoder_config
/// target (its config.json is read as one; a BERT folder's config.json is refused by model_type).
///
/// Public API: grow_checkpoint_files(src, out, to, grow_options, grow_files_options) -> grow_files_report.
/// The steps it runs are named in growth::io::detail (open the source, check the output folder, write the
/// headers, stream the tensors).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"
#include "../model/grow.hpp"
#include "../model/parameter_set.hpp"
#include "atomic_file.hpp"
#include "checkpoint.hpp"
#include "config_json.hpp"
#include "safetensors.hpp"

namespace growth::io {

/// Options of grow_checkpoint_files beyond the growth operators.
struct grow_files_options {
  reader_options read{};  ///< how the source safetensors files are read (e.g. allow_nonfinite)
  /// Runs on the complete, fsynced temp folder before it is renamed into place (e.g. `growth grow --check`);
  /// when it throws, the temp folder is removed and the output folder is untouched. Empty = none.
  std::function<void(const std::filesystem::path&)> before_publish;
};

/// What grow_checkpoint_files did.
struct grow_files_report {
  model::exactness exact;                       ///< whether the transition preserves the function, and why not
  std::uintmax_t bytes_in = 0, bytes_out = 0;   ///< model.safetensors (+ optimizer.safetensors) sizes read / written
  bool optimizer = false;                       ///< the source had optimizer.safetensors (so has the output)
};

namespace detail {

/// Header of a safetensors file of F32 tensors (names, shapes), written by io::safetensors_writer so
/// the format lives in one place; the data is streamed afterwards in the same order.
inline std::string f32_safetensors_header(const std::vector<std::string>& names,
                                          const std::vector<std::vector<std::size_t>>& shapes,
                                          const std::map<std::string, std::string>& metadata) {
  static const float placeholder = 0;  // header() never reads tensor data
  safetensors_writer w;
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  for (std::size_t i = 0; i < names.size(); ++i) w.add<float>(names[i], shapes[i], &placeholder);
  return w.header();
}

/// The safetensors prefix: the header's length (8 bytes, little-endian) and the header.
inline void write_header(std::ostream& os, const std::string& h) {
  unsigned char len[8];
  const std::uint64_t n = h.size();
  for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>((n >> (8 * k)) & 0xff);
  os.write(reinterpret_cast<const char*>(len), 8);
  os.write(h.data(), static_cast<std::streamsize>(h.size()));
}

inline void write_floats(std::ostream& os, const std::vector<float>& v, const std::filesystem::path& file) {
  os.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!os) throw error("output file " + file.string(), "written completely", "a failed write (disk full?)");
}

/// Checks that `rd` holds every spec tensor (name + suffix) with its shape, and nothing unknown.
template <class Config>
void check_source_file(const safetensors_reader& rd, const Config& config, const std::vector<model::param_spec>& specs,
                       const std::vector<std::string>& suffixes) {
  std::map<std::string, bool> known;
  for (const auto& s : specs)
    for (const auto& suf : suffixes) {
      const std::string n = s.name + suf;
      known[n] = true;
      if (!rd.contains(n)) throw error(rd.path().string() + ": tensor " + n, "present (the source config needs it)", "missing");
      if (rd.info(n).shape != s.shape)
        throw error(rd.path().string() + ": tensor " + n, growth::detail::shape_string(s.shape),
                    growth::detail::shape_string(rd.info(n).shape));
    }
  for (const auto& n : rd.names()) {
    // HF's non-persistent buffer and tied aliases may be present; the tie is not re-checked here.
    if (known.count(n) || checkpoint_traits<Config>::alias_of(config, n)) continue;
    throw error(rd.path().string() + ": tensor " + n,
                "a " + checkpoint_traits<Config>::model_name(config) + " parameter of the source config", "an unknown tensor");
  }
}

/// The source checkpoint folder, opened and checked: its config, the growth plan to `to`, its vocabulary,
/// a reader of model.safetensors, and of optimizer.safetensors when its moments are mapped.
template <class Config>
struct grow_source {
  std::filesystem::path dir;
  Config from;
  model::basic_grow_plan<Config> plan;
  std::vector<std::string> vocab;
  safetensors_reader model_file;
  bool has_optimizer = false;                    ///< the folder has optimizer.safetensors
  std::optional<safetensors_reader> optimizer;   ///< opened only with optimizer policy map
  std::map<std::string, std::string> opt_meta;   ///< the output optimizer file's metadata (with "step")

  grow_source(const std::filesystem::path& src, const Config& to, const growth::grow_options& o,
              const reader_options& ro)
      : dir(src),
        from(checkpoint_traits<Config>::load_config(src / "config.json")),
        plan(model::plan_growth(from, to, o)),  // throws on a bad target, nothing written
        vocab(checked_vocab(src / "vocab.txt", from.vocab_size)),  // before model.safetensors is opened
        model_file(src / "model.safetensors", ro) {
    check_source_file(model_file, from, plan.old_specs, {""});
    const std::filesystem::path opt_path = src / "optimizer.safetensors";
    has_optimizer = std::filesystem::exists(opt_path);
    if (has_optimizer && o.optimizer == growth::optimizer_policy::map) {
      optimizer.emplace(opt_path, ro);
      check_source_file(*optimizer, from, plan.old_specs, {".exp_avg", ".exp_avg_sq"});
      opt_meta = optimizer->metadata();
      if (!opt_meta.count("step")) throw error(opt_path.string() + ": metadata step", "present", "missing");
      opt_meta["format"] = "pt";
    } else if (has_optimizer) {
      opt_meta = {{"format", "pt"}, {"step", "0"}};  // fresh Adam: bias correction restarts
    }
  }

 private:
  /// vocab.txt, checked; a decoder folder may have none (then empty, and the output has none either).
  static std::vector<std::string> checked_vocab(const std::filesystem::path& p, std::size_t vocab_size) {
    if (!checkpoint_traits<Config>::vocab_required && !std::filesystem::exists(p)) return {};
    auto v = read_vocab(p);
    check_vocab(v, vocab_size, p.string());
    return v;
  }
};

/// The output folder ("out/" -> "out"): nothing, or a folder of checkpoint files only (it is replaced).
inline std::filesystem::path checked_output_folder(std::filesystem::path out) {
  if (out.filename().empty()) out = out.parent_path();
  if (!std::filesystem::exists(out)) return out;
  if (!std::filesystem::is_directory(out)) throw error("output folder " + out.string(), "a folder (or nothing)", "a file");
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    const std::string n = e.path().filename().string();
    bool ok = false;
    for (const char* f : checkpoint_files) ok = ok || n == f;
    if (!ok)
      throw error("output folder " + out.string(), "only checkpoint files before it is replaced",
                  "an unrelated entry \"" + n + "\"");
  }
  return out;
}

/// The headers of the output model.safetensors and (with an optimizer) optimizer.safetensors, in the plan's
/// tensor order; the optimizer file holds each tensor's exp_avg then exp_avg_sq.
template <class Config>
std::pair<std::string, std::string> output_headers(const grow_source<Config>& s) {
  std::vector<std::string> names, opt_names;
  std::vector<std::vector<std::size_t>> shapes, opt_shapes;
  for (const auto& p : s.plan.new_specs) {
    names.push_back(p.name);
    shapes.push_back(p.shape);
    opt_names.push_back(p.name + ".exp_avg");
    opt_names.push_back(p.name + ".exp_avg_sq");
    opt_shapes.push_back(p.shape);
    opt_shapes.push_back(p.shape);
  }
  return {f32_safetensors_header(names, shapes, {{"format", "pt"}}),
          s.has_optimizer ? f32_safetensors_header(opt_names, opt_shapes, s.opt_meta) : std::string()};
}

/// Grows the new tensors one at a time: reads each one's sources from the files, grows it (with its
/// moments when they are mapped) and appends it to the output streams. Buffers are reused across tensors.
template <class Config>
class tensor_streamer {
 public:
  tensor_streamer(const grow_source<Config>& s, const growth::grow_options& o, const std::filesystem::path& out)
      : s_(s), map_moments_(o.optimizer == growth::optimizer_policy::map), out_(out) {}

  /// New tensor i to `os` (weights) and, with an optimizer, `oos` (exp_avg, exp_avg_sq; zero unless mapped).
  void grow_one(std::size_t i, std::ostream& os, std::ostream* oos) {
    const auto& spec = s_.plan.new_specs[i];
    model::parameter_set<float> sw, sm, sv, dw, dm, dv;
    std::vector<std::vector<float>> bufs;
    const auto srcs = model::growth_sources(s_.plan, i);
    bufs.reserve(3 * srcs.size());
    for (const auto& n : srcs) {
      const std::vector<std::size_t> shape = old_shape(n);
      sw.add(read_view(s_.model_file, n, n, shape, bufs));
      if (oos && map_moments_) {
        sm.add(read_view(*s_.optimizer, n + ".exp_avg", n, shape, bufs));
        sv.add(read_view(*s_.optimizer, n + ".exp_avg_sq", n, shape, bufs));
      }
    }
    w_.assign(spec.numel(), 0.0f);
    dw.add(model::param_view<float>::make(spec.name, spec.shape, w_.data()));
    if (oos) {
      m_.assign(spec.numel(), 0.0f);
      v_.assign(spec.numel(), 0.0f);
      dm.add(model::param_view<float>::make(spec.name, spec.shape, m_.data()));
      dv.add(model::param_view<float>::make(spec.name, spec.shape, v_.data()));
      const model::moments<float> ms{sm, sv}, md{dm, dv};
      model::grow_parameter(s_.plan, i, sw, dw, &ms, &md);
    } else {
      model::grow_parameter(s_.plan, i, sw, dw);
    }
    write_floats(os, w_, out_ / "model.safetensors");
    if (oos) {
      write_floats(*oos, m_, out_ / "optimizer.safetensors");
      write_floats(*oos, v_, out_ / "optimizer.safetensors");
    }
  }

 private:
  [[nodiscard]] std::vector<std::size_t> old_shape(const std::string& name) const {
    std::vector<std::size_t> shape;
    for (const auto& os : s_.plan.old_specs)
      if (os.name == name) shape = os.shape;
    return shape;
  }
  /// Reads tensor `stored` of `rd` into a new buffer of `bufs`; a view of it named `name` (the parameter).
  static model::param_view<float> read_view(const safetensors_reader& rd, const std::string& stored, const std::string& name,
                                            const std::vector<std::size_t>& shape, std::vector<std::vector<float>>& bufs) {
    bufs.emplace_back(rd.info(stored).numel);
    rd.read<float>(stored, std::span<float>(bufs.back()), shape);
    return model::param_view<float>::make(name, shape, bufs.back().data());
  }

  const grow_source<Config>& s_;
  bool map_moments_;
  std::filesystem::path out_;
  std::vector<float> w_, m_, v_;
};

/// Writes the grown checkpoint into the temp folder `tmp` (config, vocabulary, model and optimizer files,
/// each atomically) and fsyncs it.
template <class Config>
void write_grown_folder(const std::filesystem::path& tmp, const grow_source<Config>& s, const Config& to,
                        const growth::grow_options& o, const std::filesystem::path& out) {
  // (model, optimizer) headers; a pair, not a structured binding, because the lambdas below capture it and
  // clang 14 cannot capture structured bindings.
  const std::pair<std::string, std::string> headers = output_headers(s);
  tensor_streamer<Config> streamer(s, o, out);
  const std::size_t n = s.plan.new_specs.size();
  checkpoint_traits<Config>::save_config(tmp / "config.json", to);
  if (!s.vocab.empty()) save_vocab(tmp / "vocab.txt", s.vocab);
  write_file_atomic(tmp / "model.safetensors", [&](std::ostream& os) {
    write_header(os, headers.first);
    if (!s.has_optimizer) {
      for (std::size_t i = 0; i < n; ++i) streamer.grow_one(i, os, nullptr);
      return;
    }
    write_file_atomic(tmp / "optimizer.safetensors", [&](std::ostream& oos) {
      write_header(oos, headers.second);
      for (std::size_t i = 0; i < n; ++i) streamer.grow_one(i, os, &oos);
    });
  });
  fsync_dir(tmp);
}

}  // namespace detail

/// Grows the checkpoint folder `src` into `out` with target config `to` and operators `o` (see the file
/// comment). With optimizer policy reset the source's optimizer.safetensors is not read (only its presence
/// matters): the output gets zero moments and step 0.
template <class Config>
grow_files_report grow_checkpoint_files(const std::filesystem::path& src, const std::filesystem::path& out_arg,
                                        const Config& to, const growth::grow_options& o,
                                        const grow_files_options& fo = {}) {
  namespace fs = std::filesystem;
  const detail::grow_source<Config> s(src, to, o, fo.read);
  const fs::path out = detail::checked_output_folder(out_arg);
  detail::remove_stale_temp_dirs(out);
  const fs::path tmp = detail::make_temp_dir_beside(out);
  try {
    detail::write_grown_folder(tmp, s, to, o, out);
    if (fo.before_publish) fo.before_publish(tmp);
    detail::publish_dir(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  grow_files_report r;
  r.exact = s.plan.t.exact;
  r.optimizer = s.has_optimizer;
  r.bytes_in = fs::file_size(src / "model.safetensors") + (s.optimizer ? fs::file_size(src / "optimizer.safetensors") : 0);
  r.bytes_out = fs::file_size(out / "model.safetensors") + (s.has_optimizer ? fs::file_size(out / "optimizer.safetensors") : 0);
  return r;
}

}  // namespace growth::io
