/// A main() for the fuzz targets without libFuzzer: feeds every file of the given files/folders to
/// LLVMFuzzerTestOneInput once. tests/reliability builds each target with it (g++, the project's warnings
/// and sanitizers) and replays the committed seeds and fuzz/regressions/<target>/ in ctest, so every past
/// finding stays fixed even where clang's libFuzzer is not installed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
void run_file(const std::filesystem::path& p, std::size_t& n) {
  std::ifstream is(p, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), bytes.size());
  (void)LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  ++n;
}
}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p = argv[i];
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) run_file(f, n);
    } else if (std::filesystem::exists(p)) {
      run_file(p, n);
    }
  }
  std::printf("replayed %zu inputs\n", n);
  return 0;
}
