#pragma once
/// @file train/setup.hpp
/// Small pieces shared by `growth train`, `growth demo` and `growth study`: reading a corpus prefix,
/// rescaling a schedule's steps and the schedule shape of a config. (The thread count is process-wide
/// state the application sets: tools/progress.hpp, set_threads.)
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <string>

#include "../core/error.hpp"
#include "../io/atomic_file.hpp"
#include "../model/bert_config.hpp"
#include "../model/shape.hpp"
#include "../schedule/schedule.hpp"

namespace growth::train {

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

/// A schedule's stages rescaled to `steps` in total: proportions kept (rounded), every stage >= 1 step, the
/// last stage takes the remainder. Throws when steps < the number of stages.
inline sched::runtime_schedule rescale_steps(sched::runtime_schedule s, std::size_t steps) {
  if (steps < s.stages.size())
    throw error("total steps", ">= the schedule's " + std::to_string(s.stages.size()) + " stages", std::to_string(steps));
  std::size_t total = 0;
  for (const auto& st : s.stages) total += st.steps;
  std::size_t used = 0;
  for (std::size_t i = 0; i < s.stages.size(); ++i) {
    const std::size_t left = s.stages.size() - 1 - i;  // stages after this one, 1 step each at least
    std::size_t n = steps - used - left;
    if (left > 0) {
      const auto share = static_cast<std::size_t>(std::llround(static_cast<double>(s.stages[i].steps) *
                                                               static_cast<double>(steps) / static_cast<double>(total)));
      n = std::clamp<std::size_t>(share, 1, n);
    }
    s.stages[i].steps = n;
    used += n;
  }
  return s;
}

/// The schedule shape of a BERT config trained at seq_len: model/shape.hpp's shape_of, the inverse of
/// to_bert_config.
using model::shape_of;

}  // namespace growth::train
