#pragma once
// The trainer tests' data: a WordPiece vocabulary and train::data_source (32-token sequences, 8 validation
// sequences) over the first `chars` bytes of the committed KJV corpus, built once per (chars, vocab size).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <growth/data/vocab_trainer.hpp>
#include <growth/train/data.hpp>
#include <growth/train/setup.hpp>

namespace growth_test {

struct corpus_fixture {
  std::vector<std::string> vocab;
  std::unique_ptr<growth::train::data_source> data;
};

inline corpus_fixture& corpus_data(std::size_t chars, std::size_t vocab_size) {
  static std::map<std::pair<std::size_t, std::size_t>, corpus_fixture> cache;
  auto [it, fresh] = cache.try_emplace({chars, vocab_size});
  if (fresh) {
    using namespace growth;
    const std::string text =
        train::read_corpus(std::filesystem::path(GROWTH_SOURCE_DIR) / "data" / "kjv.txt", chars);
    data::vocab_trainer_options vo;
    vo.vocab_size = vocab_size;
    it->second.vocab = data::train_wordpiece_vocab(text, vo);
    data::wordpiece_tokenizer tok(it->second.vocab);
    const auto stream = data::tokenize_corpus(tok, text);
    train::data_options o;
    o.full_seq_len = 32;
    o.max_validation_sequences = 8;
    o.eval_batch_size = 8;
    it->second.data = std::make_unique<train::data_source>(tok, stream, o);
  }
  return it->second;
}

}  // namespace growth_test
