#pragma once
/// @file fuzz_common.hpp
/// Shared helpers of the libFuzzer targets in fuzz/: a per-process scratch folder on tmpfs (the file
/// parsers take paths, so each input is written to a file first), and FUZZ_CHECK, which aborts (a libFuzzer
/// finding) when a round-trip invariant fails. Only growth::error may escape a parser: the targets catch
/// exactly that type, so any other exception (std::bad_alloc, std::out_of_range, filesystem_error, ...)
/// is an uncaught exception and therefore a finding too.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

/// A scratch folder private to this process (tmpfs when available, so writes cost microseconds).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string t = base + "/growth-fuzz-XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) std::abort();
    std::filesystem::path p(buf.data());
    // Removed at exit so fuzzing runs do not fill tmpfs.
    static struct cleaner {
      std::filesystem::path p;
      ~cleaner() {
        std::error_code ec;
        std::filesystem::remove_all(p, ec);
      }
    } c{p};
    return p;
  }();
  return dir;
}

/// Writes bytes to path (plain write: the parsers, not the writer, are under test here).
inline void put(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream os(p, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!os) std::abort();
}

[[noreturn]] inline void invariant_failed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "FUZZ INVARIANT FAILED: %s at %s:%d\n", cond, file, line);
  std::abort();
}

}  // namespace fuzz

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::fuzz::invariant_failed(#cond, __FILE__, __LINE__))
