#pragma once
/// @file train/setup.hpp
/// Small pieces shared by `growth train` and `growth demo`: the thread count (Eigen and OpenMP together,
/// since results are deterministic per thread count) and reading a corpus prefix.
#include <Eigen/Core>
#include <cstddef>
#include <filesystem>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/error.hpp"
#include "../io/atomic_file.hpp"

namespace growth::train {

/// Uses n threads for Eigen's GEMM and the reference model's OpenMP loops (0 = leave the defaults).
inline void set_threads(std::size_t n) {
  if (n == 0) return;
  Eigen::setNbThreads(static_cast<int>(n));
#ifdef _OPENMP
  omp_set_num_threads(static_cast<int>(n));
#endif
}

/// The threads Eigen will use.
inline std::size_t threads_in_use() { return static_cast<std::size_t>(Eigen::nbThreads()); }

/// Reads a text file; with max_chars > 0 keeps only the lines that fit in the first max_chars bytes (cut at a
/// line break so no word is split).
inline std::string read_corpus(const std::filesystem::path& p, std::size_t max_chars = 0) {
  if (!std::filesystem::exists(p)) throw error("corpus file " + p.string(), "an existing file", "missing");
  std::string text = io::read_file(p);
  if (max_chars > 0 && text.size() > max_chars) {
    const std::size_t nl = text.rfind('\n', max_chars);
    text.resize(nl == std::string::npos ? max_chars : nl + 1);
  }
  if (text.empty()) throw error("corpus file " + p.string(), "some text", "an empty file");
  return text;
}

}  // namespace growth::train
