/// libFuzzer target: vocab.txt, through both loaders: growth::io::load_vocab (checkpoint vocabularies:
/// strict, unique UTF-8 tokens) and growth::data::wordpiece_tokenizer::from_file (HF semantics).
/// Invariants: a vocabulary that loads is saved and loads back equal; a tokenizer that builds turns any
/// text (a fixed sentence, and the input itself) into ids inside the vocabulary.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <growth/data/wordpiece.hpp>
#include <growth/io/checkpoint.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto in = fuzz::scratch() / "vocab.txt";
  const auto out = fuzz::scratch() / "vocab.out.txt";
  fuzz::put(in, text);
  try {
    const auto v = growth::io::load_vocab(in);
    growth::io::save_vocab(out, v);
    FUZZ_CHECK(growth::io::load_vocab(out) == v);
  } catch (const growth::error&) {
  }
  try {
    const auto tok = growth::data::wordpiece_tokenizer::from_file(in);
    for (std::string_view s : {std::string_view("In the beginning God created the [MASK] and the earth."), text}) {
      for (auto id : tok.encode(s)) FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
    }
  } catch (const growth::error&) {
  }
  return 0;
}
