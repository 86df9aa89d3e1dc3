#pragma once
/// @file tiny_checkpoint.hpp
/// The tiny checkpoint the optimizer-state fuzz target loads its inputs into, shared with make_seeds.cpp so
/// the committed seeds match it: a 1-layer BERT with hidden 4 and an 8-token vocabulary.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>

#include "../tests/support/configs.hpp"

namespace fuzz {

/// The micro config of the tests' checkpoint files (tests/support/configs.hpp).
inline growth::model::bert_config tiny_config() { return growth::test::micro_config(); }

inline std::vector<std::string> tiny_vocab() { return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##c"}; }

/// A complete tiny checkpoint in dir with parameters 0.01 * i and, when with_optimizer, moments too.
inline growth::io::checkpoint tiny_checkpoint(bool with_optimizer) {
  growth::io::checkpoint ck;
  ck.config = tiny_config();
  ck.vocab = tiny_vocab();
  std::size_t total = 0;
  for (const auto& s : growth::model::bert_parameters(ck.config)) total += s.numel();
  ck.params.resize(total);
  for (std::size_t i = 0; i < total; ++i) ck.params[i] = 0.01f * static_cast<float>(i % 97);
  if (with_optimizer) {
    growth::io::optimizer_state st;
    st.exp_avg.assign(total, 0.5f);
    st.exp_avg_sq.assign(total, 0.25f);
    st.step = 3;
    st.extra["lr"] = "0.001";
    ck.opt = std::move(st);
  }
  return ck;
}

}  // namespace fuzz
