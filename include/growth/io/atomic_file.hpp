#pragma once
/// @file atomic_file.hpp
/// Crash-safe file writing: write_file_atomic(path, ...) writes a temp file in the same folder, fsyncs
/// it, renames it over the target and fsyncs the folder. A reader (or a crash at any moment) sees the
/// old complete file or the new complete file, never a half-written one. The temp file is removed when
/// the writer throws. POSIX only (the library targets Linux).
///
/// Also read_file(path): the whole file as bytes, with growth::error naming the file when it fails.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace growth::io {

namespace detail {
inline std::string errno_text(int e) { return std::string(std::strerror(e)) + " (errno " + std::to_string(e) + ")"; }

/// fsync a folder so a rename inside it is durable.
inline void fsync_dir(const std::filesystem::path& dir) {
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw error("folder " + d, "openable for fsync", errno_text(errno));
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  // Some file systems do not support fsync on folders (EINVAL); the rename is still atomic there.
  if (rc != 0 && e != EINVAL) throw error("folder " + d, "fsync to succeed", errno_text(e));
}

/// Creates a unique temp file "<dir>/.<name>.tmp-XXXXXX"; returns its fd and path.
inline int make_temp_beside(const std::filesystem::path& target, std::string& tmp_path) {
  const auto dir = target.parent_path();
  std::string name = ".";  // built by appending: GCC 12 reports a false -Wrestrict on "." + std::string
  name += target.filename().string();
  name += ".tmp-XXXXXX";
  tmp_path = (dir / name).string();
  std::vector<char> buf(tmp_path.begin(), tmp_path.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd < 0) throw error("file " + target.string(), "a temp file creatable beside it", errno_text(errno));
  tmp_path.assign(buf.data());
  return fd;
}
}  // namespace detail

/// Writes the file by calling writer(stream) on a temp file beside p, then fsync + rename + folder fsync.
/// The folder must exist. If writer throws or a write fails, the temp file is removed and p is untouched.
inline void write_file_atomic(const std::filesystem::path& p, const std::function<void(std::ostream&)>& writer) {
  if (p.filename().empty()) throw error("output path", "a file name", "\"" + p.string() + "\"");
  std::string tmp;
  const int fd = detail::make_temp_beside(p, tmp);
  try {
    {
      std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
      if (!os) throw error("file " + tmp, "writable", "open failed");
      writer(os);
      os.flush();
      if (!os) throw error("file " + p.string(), "written completely", "a write error (disk full?)");
    }
    // mkstemp creates 0600; give the file the usual permissions (0666 & ~umask) like any new file.
    const mode_t um = ::umask(0);
    ::umask(um);
    ::fchmod(fd, 0666 & ~um);
    if (::fsync(fd) != 0) throw error("file " + p.string(), "fsync to succeed", detail::errno_text(errno));
    ::close(fd);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), p.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw error("file " + p.string(), "rename of the temp file to succeed", detail::errno_text(e));
  }
  detail::fsync_dir(p.parent_path());
}

/// Writes bytes to p atomically (see above).
inline void write_file_atomic(const std::filesystem::path& p, std::string_view bytes) {
  write_file_atomic(p, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

/// Reads a whole file; growth::error naming it when it is missing or unreadable.
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream is(p, std::ios::binary);
  if (!is) throw error("file " + p.string(), "readable", std::filesystem::exists(p) ? "open failed" : "missing");
  std::string s;
  is.seekg(0, std::ios::end);
  const auto n = is.tellg();
  if (n < 0) throw error("file " + p.string(), "seekable", "tellg failed");
  s.resize(static_cast<std::size_t>(n));
  is.seekg(0);
  is.read(s.data(), n);
  if (!is) throw error("file " + p.string(), std::to_string(n) + " bytes", "a short read");
  return s;
}

}  // namespace growth::io
