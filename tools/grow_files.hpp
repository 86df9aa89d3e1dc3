#pragma once
// File-to-file whole-model growth that streams: each source tensor is read (pread) when a new tensor
// needs it, and each new tensor is grown and written straight to the output file, so the process never
// holds two whole models (peak memory ~ a few of the largest tensors). Used by `growth grow` and by
// benchmarks/bench_grow.cpp.
//
// The output is a checkpoint folder in the io/checkpoint.hpp layout (config.json, model.safetensors,
// vocab.txt, optimizer.safetensors when the source has one), written into a temp folder beside the
// target and published atomically, exactly as io::save_checkpoint does. Everything that can be checked
// (the transition, every source tensor's presence and shape, the output folder) is checked before
// anything is written.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/model/grow.hpp>

#include "command.hpp"

namespace growth_tool {

namespace fs = std::filesystem;

/// Header of a safetensors file of F32 tensors (names, shapes), written by io::safetensors_writer so
/// the format lives in one place; the data is streamed afterwards in the same order.
inline std::string f32_safetensors_header(const std::vector<std::string>& names,
                                          const std::vector<std::vector<std::size_t>>& shapes,
                                          const std::map<std::string, std::string>& metadata) {
  static const float placeholder = 0;  // header() never reads tensor data
  growth::io::safetensors_writer w;
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  for (std::size_t i = 0; i < names.size(); ++i) w.add<float>(names[i], shapes[i], &placeholder);
  return w.header();
}

inline void write_header(std::ostream& os, const std::string& h) {
  unsigned char len[8];
  const std::uint64_t n = h.size();
  for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>((n >> (8 * k)) & 0xff);
  os.write(reinterpret_cast<const char*>(len), 8);
  os.write(h.data(), static_cast<std::streamsize>(h.size()));
}

inline void write_floats(std::ostream& os, const std::vector<float>& v, const fs::path& file) {
  os.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!os) throw growth::error("output file " + file.string(), "written completely", "a failed write (disk full?)");
}

/// Checks that `rd` holds every spec tensor (name + suffix) with its shape, and nothing unknown.
inline void check_source_file(const growth::io::safetensors_reader& rd, const std::vector<growth::model::param_spec>& specs,
                              const std::vector<std::string>& suffixes) {
  std::map<std::string, bool> known;
  for (const auto& s : specs)
    for (const auto& suf : suffixes) {
      const std::string n = s.name + suf;
      known[n] = true;
      if (!rd.contains(n))
        throw growth::error(rd.path().string() + ": tensor " + n, "present (the source config needs it)", "missing");
      if (rd.info(n).shape != s.shape)
        throw growth::error(rd.path().string() + ": tensor " + n, growth::detail::shape_string(s.shape),
                            growth::detail::shape_string(rd.info(n).shape));
    }
  for (const auto& n : rd.names()) {
    // HF's non-persistent buffer and tied aliases may be present; the tie is not re-checked here.
    if (known.count(n) || n == "bert.embeddings.position_ids" || growth::model::is_tied_alias(n)) continue;
    throw growth::error(rd.path().string() + ": tensor " + n, "a BertForMaskedLM parameter of the source config",
                        "an unknown tensor");
  }
}

struct grow_files_report {
  growth::model::exactness exact;
  std::uintmax_t bytes_in = 0, bytes_out = 0;  ///< model.safetensors (+ optimizer.safetensors) sizes
  bool optimizer = false;
};

/// Grows the checkpoint folder `src` into `out` with target config `to` (see the file comment).
/// before_publish (optional) runs on the complete, fsynced temp folder before it is renamed into place
/// (e.g. `growth grow --check`); when it throws, the temp folder is removed and `out` is untouched.
/// With optimizer policy reset the source's optimizer.safetensors is not read (only its presence
/// matters): the output gets zero moments and step 0.
inline grow_files_report grow_checkpoint_files(const fs::path& src, const fs::path& out_arg,
                                               const growth::model::bert_config& to,
                                               const growth::model::grow_options& o,
                                               const std::function<void(const fs::path&)>& before_publish = {}) {
  namespace io = growth::io;
  namespace model = growth::model;
  const model::bert_config from = io::load_config(src / "config.json");
  const model::grow_plan plan = model::plan_growth(from, to, o);  // throws on a bad target, nothing written
  auto vocab = io::detail::read_vocab(src / "vocab.txt");
  io::detail::check_vocab(vocab, from.vocab_size, (src / "vocab.txt").string());

  const io::reader_options ro{growth_tool::globals().allow_nonfinite};
  const io::safetensors_reader rd(src / "model.safetensors", ro);
  check_source_file(rd, plan.old_specs, {""});
  const fs::path opt_path = src / "optimizer.safetensors";
  std::optional<io::safetensors_reader> ord;
  std::map<std::string, std::string> opt_meta;
  const bool has_opt = fs::exists(opt_path);
  if (has_opt && o.optimizer == model::optimizer_policy::map) {
    ord.emplace(opt_path, ro);
    check_source_file(*ord, plan.old_specs, {".exp_avg", ".exp_avg_sq"});
    opt_meta = ord->metadata();
    if (!opt_meta.count("step"))
      throw growth::error(opt_path.string() + ": metadata step", "present", "missing");
    opt_meta["format"] = "pt";
  } else if (has_opt) {
    opt_meta = {{"format", "pt"}, {"step", "0"}};  // fresh Adam: bias correction restarts
  }

  fs::path out = out_arg;
  if (out.filename().empty()) out = out.parent_path();
  if (fs::exists(out)) {
    if (!fs::is_directory(out)) throw growth::error("output folder " + out.string(), "a folder (or nothing)", "a file");
    for (const auto& e : fs::directory_iterator(out)) {
      const std::string n = e.path().filename().string();
      bool ok = false;
      for (const char* f : io::detail::checkpoint_files) ok = ok || n == f;
      if (!ok)
        throw growth::error("output folder " + out.string(), "only checkpoint files before it is replaced",
                            "an unrelated entry \"" + n + "\"");
    }
  }

  std::vector<std::string> names, opt_names;
  std::vector<std::vector<std::size_t>> shapes, opt_shapes;
  for (const auto& s : plan.new_specs) {
    names.push_back(s.name);
    shapes.push_back(s.shape);
    opt_names.push_back(s.name + ".exp_avg");
    opt_names.push_back(s.name + ".exp_avg_sq");
    opt_shapes.push_back(s.shape);
    opt_shapes.push_back(s.shape);
  }
  const std::string header = f32_safetensors_header(names, shapes, {{"format", "pt"}});
  const std::string opt_header = has_opt ? f32_safetensors_header(opt_names, opt_shapes, opt_meta) : std::string();

  // One pass over the new tensors; each reads its sources from the files and is written at once.
  std::vector<float> w, m, v;
  auto grow_one = [&](std::size_t i, std::ostream& os, std::ostream* oos) {
    const auto& s = plan.new_specs[i];
    model::parameter_set<float> sw, sm, sv, dw, dm, dv;
    std::vector<std::vector<float>> bufs;
    const auto srcs = model::growth_sources(plan, i);
    bufs.reserve(3 * srcs.size());
    for (const auto& n : srcs) {
      std::vector<std::size_t> shape;
      for (const auto& os_ : plan.old_specs)
        if (os_.name == n) shape = os_.shape;
      bufs.emplace_back(rd.info(n).numel);
      rd.read<float>(n, std::span<float>(bufs.back()), shape);
      sw.add(model::param_view<float>::make(n, shape, bufs.back().data()));
      if (oos && o.optimizer == model::optimizer_policy::map) {
        bufs.emplace_back(rd.info(n).numel);
        ord->read<float>(n + ".exp_avg", std::span<float>(bufs.back()), shape);
        sm.add(model::param_view<float>::make(n, shape, bufs.back().data()));
        bufs.emplace_back(rd.info(n).numel);
        ord->read<float>(n + ".exp_avg_sq", std::span<float>(bufs.back()), shape);
        sv.add(model::param_view<float>::make(n, shape, bufs.back().data()));
      }
    }
    w.assign(s.numel(), 0.0f);
    dw.add(model::param_view<float>::make(s.name, s.shape, w.data()));
    if (oos) {
      m.assign(s.numel(), 0.0f);
      v.assign(s.numel(), 0.0f);
      dm.add(model::param_view<float>::make(s.name, s.shape, m.data()));
      dv.add(model::param_view<float>::make(s.name, s.shape, v.data()));
      const model::moments<float> ms{sm, sv}, md{dm, dv};
      model::grow_parameter(plan, i, sw, dw, &ms, &md);
    } else {
      model::grow_parameter(plan, i, sw, dw);
    }
    write_floats(os, w, out / "model.safetensors");
    if (oos) {
      write_floats(*oos, m, out / "optimizer.safetensors");
      write_floats(*oos, v, out / "optimizer.safetensors");
    }
  };

  io::detail::remove_stale_temp_dirs(out);
  const fs::path tmp = io::detail::make_temp_dir_beside(out);
  try {
    io::save_config(tmp / "config.json", to);
    io::save_vocab(tmp / "vocab.txt", vocab);
    io::write_file_atomic(tmp / "model.safetensors", [&](std::ostream& os) {
      write_header(os, header);
      if (!has_opt) {
        for (std::size_t i = 0; i < plan.new_specs.size(); ++i) grow_one(i, os, nullptr);
        return;
      }
      io::write_file_atomic(tmp / "optimizer.safetensors", [&](std::ostream& oos) {
        write_header(oos, opt_header);
        for (std::size_t i = 0; i < plan.new_specs.size(); ++i) grow_one(i, os, &oos);
      });
    });
    io::detail::fsync_dir(tmp);
    if (before_publish) before_publish(tmp);
    io::detail::publish_dir(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  grow_files_report r;
  r.exact = plan.t.exact;
  r.optimizer = has_opt;
  r.bytes_in = fs::file_size(src / "model.safetensors") + (ord ? fs::file_size(opt_path) : 0);
  r.bytes_out = fs::file_size(out / "model.safetensors") + (has_opt ? fs::file_size(out / "optimizer.safetensors") : 0);
  return r;
}

}  // namespace growth_tool
