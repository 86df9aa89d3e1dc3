#pragma once
// A scratch folder per test: a fresh folder under the system temporary directory, named
// <prefix><tag>_<pid>_<n> so that parallel ctest processes and repeated uses in one process never share one,
// and removed (with everything in it) when the test ends.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace growth::test {

struct scratch_dir {
  std::filesystem::path path;
  explicit scratch_dir(const std::string& tag, const std::string& prefix = "growth_test_") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           (prefix + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::filesystem::path operator/(const std::string& s) const { return path / s; }
};

}  // namespace growth::test
