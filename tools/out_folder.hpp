#pragma once
// Checks of an output checkpoint folder (--out) shared by the subcommands that write one, made before
// anything is read or written:
//  - the path names a folder ("ckpt/" is "ckpt"; an empty path is refused);
//  - an existing --out is a folder, and a non-empty one is only replaced with --force (io::save_checkpoint
//    and grow then also refuse a folder holding anything but checkpoint files);
//  - its parent exists;
//  - (grow) --out is not the source folder itself under another spelling ("m", "m/", "./m", a symbolic
//    link to it): replacing the source would destroy it (and its trainer_state.json) while it is read; nor
//    a folder inside the source, which would nest a checkpoint in it.
#include <filesystem>
#include <string>

#include <growth/core/error.hpp>

namespace growth_tool {

namespace fs = std::filesystem;

/// Normalises and checks --out (see the file comment); returns the folder path without a trailing '/'.
inline fs::path check_out_folder(const std::string& out_arg, bool force, const char* flag = "--out") {
  using growth::error;
  fs::path out = out_arg;
  if (out.filename().empty()) out = out.parent_path();
  if (out.empty()) throw error(flag, "a folder path", "\"" + out_arg + "\" (empty)");
  if (fs::exists(out)) {
    if (!fs::is_directory(out)) throw error(std::string(flag) + " " + out.string(), "a folder (or nothing)", "a file");
    if (!fs::is_empty(out) && !force)
      throw error(std::string(flag) + " folder " + out.string(),
                  "a new or empty folder (or --force to replace a checkpoint)", "an existing non-empty folder");
  }
  if (!out.parent_path().empty() && !fs::is_directory(out.parent_path()))
    throw error(std::string(flag) + " folder " + out.string(), "a parent folder that exists",
                "missing " + out.parent_path().string());
  return out;
}

/// Refuses an --out that is the source folder `src` (another spelling of it included) or lies inside it.
/// weakly_canonical resolves ".", ".." and symbolic links of the existing part of each path.
inline void check_out_not_source(const fs::path& out, const fs::path& src, const char* src_flag = "--model") {
  using growth::error;
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
  const fs::path s = fs::weakly_canonical(fs::absolute(src), ec);
  const bool same = o == s || (fs::exists(out) && fs::exists(src) && fs::equivalent(out, src, ec));
  if (same)
    throw error("--out folder " + out.string(), std::string("another folder than ") + src_flag + " " + src.string() +
                " (it would replace the source)", "the same folder");
  // o inside s: s is a proper prefix of o, component by component.
  auto oi = o.begin();
  bool prefix = true;
  for (auto si = s.begin(); si != s.end(); ++si, ++oi) {
    if (si->empty()) continue;  // a trailing "" component
    if (oi == o.end() || *oi != *si) {
      prefix = false;
      break;
    }
  }
  if (prefix)
    throw error("--out folder " + out.string(), std::string("a folder outside ") + src_flag + " " + src.string(),
                "a folder inside it (" + o.string() + ")");
}

}  // namespace growth_tool
