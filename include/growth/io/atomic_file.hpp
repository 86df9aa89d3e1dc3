#pragma once
/// @file atomic_file.hpp
/// Crash-safe file writing: write_file_atomic(path, ...) writes a temp file in the same folder, fsyncs
/// it, renames it over the target and fsyncs the folder. A reader (or a crash at any moment) sees the
/// old complete file or the new complete file, never a half-written one. The temp file is removed when
/// the writer throws. POSIX only (the library targets Linux).
///
/// Also read_file(path): the whole file as bytes, with growth::error naming the file when it fails.
///
/// Both refuse what is not a regular file, in one place for every reader and writer of the library:
///  - reading (read_file, open_regular_file, used by the safetensors reader too): a FIFO, device, socket
///    or folder is refused. The file is opened with O_NONBLOCK and checked with fstat before any read, so
///    a FIFO never blocks (opening one for reading without a writer would wait forever).
///  - writing (check_write_target, called by write_file_atomic): the rename would silently REPLACE a
///    device node, FIFO or socket with a regular file (as root: /dev/null becomes a file), so an existing
///    target must be a regular file. A symbolic link is written THROUGH: the link is kept and the file it
///    resolves to is replaced atomically (the temp file goes beside the resolved file, so the rename stays
///    within one folder); a dangling link, or a link to a non-regular file, is refused.
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

/// What an lstat/stat mode is, in words, for "expected a regular file, got ...".
inline std::string file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}
}  // namespace detail

/// The file an atomic write of p really replaces: p itself, or for a symbolic link the file it resolves
/// to (written through, see the file comment). Throws growth::error naming p when p exists and is not a
/// regular file (device, FIFO, socket, folder), or is a dangling link or a link to such a thing. A path
/// that does not exist is fine (a new file).
inline std::filesystem::path check_write_target(const std::filesystem::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return p;
    throw error("output file " + p.string(), "a writable path", detail::errno_text(errno));
  }
  std::filesystem::path target = p;
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    target = std::filesystem::canonical(p, ec);
    if (ec) throw error("output file " + p.string(), "a regular file (or a link to one)", "a dangling symbolic link");
    if (::stat(target.c_str(), &st) != 0)
      throw error("output file " + p.string(), "a regular file (or a link to one)", detail::errno_text(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw error("output file " + p.string(), "a regular file or a new path (it would be replaced by a file)",
                detail::file_kind(st.st_mode) + (target == p ? std::string() : " (the link's target " + target.string() + ")"));
  return target;
}

/// Opens p for reading, refusing anything but a regular file without ever blocking (O_NONBLOCK, then
/// fstat; see the file comment). `what` names the file in errors ("safetensors file x"). Returns the fd
/// (the caller closes it); st receives fstat's result.
inline int open_regular_file(const std::filesystem::path& p, const std::string& what, struct stat& st) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw error(what, "readable", e == ENOENT ? std::string("missing") : detail::errno_text(e));
  }
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw error(what, "stat-able", detail::errno_text(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw error(what, "a regular file", detail::file_kind(st.st_mode));
  }
  // Regular files ignore O_NONBLOCK, but clear it so the fd behaves like any other for its users.
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

/// Writes the file by calling writer(stream) on a temp file beside p, then fsync + rename + folder fsync.
/// The folder must exist. If writer throws or a write fails, the temp file is removed and p is untouched.
inline void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& writer) {
  if (path.filename().empty()) throw error("output path", "a file name", "\"" + path.string() + "\"");
  const std::filesystem::path p = check_write_target(path);
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

/// Reads a whole file; growth::error naming it when it is missing, unreadable or not a regular file (a
/// FIFO is refused without blocking, a folder without the std::bad_alloc a stream read of one gives).
inline std::string read_file(const std::filesystem::path& p) {
  struct stat st {};
  const int fd = open_regular_file(p, "file " + p.string(), st);
  std::string s(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < s.size()) {
    const ssize_t n = ::read(fd, s.data() + got, s.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      throw error("file " + p.string(), std::to_string(s.size()) + " bytes",
                  n == 0 ? "a short read (" + std::to_string(got) + " bytes)" : detail::errno_text(e));
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return s;
}

}  // namespace growth::io
