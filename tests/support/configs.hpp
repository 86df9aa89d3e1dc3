#pragma once
// The BERT configs of the tests, in one place: a factory for any small shape, the tiny config of the
// gradient check and the golden files, its low-cost variant, random small shapes for the growth property
// tests (post-LN and pre-LN), and the micro config of the checkpoint-file tests and fuzz targets.
// Standard library and growth core only, so fuzz/ (clang-14, no Eigen) can include it too.
#include <cstddef>
#include <cstdint>

#include <growth/core/random.hpp>
#include <growth/model/bert_config.hpp>

namespace growth::test {

/// The shape fields of a BERT config, named so that a call reads like the config it makes:
/// tiny_bert({.vocab = 23, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 16, .positions = 16}).
struct bert_shape {
  std::size_t vocab = 0;
  std::size_t hidden = 0;
  std::size_t layers = 0;
  std::size_t heads = 0;
  std::size_t intermediate = 0;
  std::size_t positions = 0;
  std::size_t types = 2;  ///< bert_config's default
};

/// A config of shape s; every other field (dropout, eps, activation, low-cost variants) keeps
/// bert_config's default.
inline model::bert_config tiny_bert(const bert_shape& s) {
  model::bert_config c;
  c.vocab_size = s.vocab;
  c.hidden_size = s.hidden;
  c.num_hidden_layers = s.layers;
  c.num_attention_heads = s.heads;
  c.intermediate_size = s.intermediate;
  c.max_position_embeddings = s.positions;
  c.type_vocab_size = s.types;
  return c;
}

/// The tiny config of the gradient check and the golden file: L=2, H=8, A=2, I=16, V=23, dropout off.
inline model::bert_config tiny_config() {
  model::bert_config c =
      tiny_bert({.vocab = 23, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 16, .positions = 16, .types = 2});
  c.hidden_dropout_prob = 0;
  c.attention_probs_dropout_prob = 0;
  c.layer_norm_eps = 1e-12;
  return c;
}

/// Tiny low-cost config: layer 0 factorised (rank 3), layer 1 shared (I/2), layer 2 standard.
inline model::bert_config tiny_lowcost_config() {
  auto c = tiny_config();
  c.num_hidden_layers = 3;
  c.ffn_factorized_layers = {0};
  c.ffn_rank = 3;
  c.ffn_shared_layers = {1};
  c.ffn_share_factor = 2;
  return c;
}

/// A random small config: heads in [1, 3], head size in {2, 4}, 1..3 layers, FFN 4..12, dropout off
/// (growth is checked in evaluation mode; the training tests set their own dropout).
inline model::bert_config random_config(std::uint64_t seed) {
  rng r(seed, 0xc0f1);
  model::bert_config c = tiny_config();
  c.num_attention_heads = 1 + r.below(3);
  c.hidden_size = c.num_attention_heads * (r.below(2) == 0 ? 2 : 4);
  c.num_hidden_layers = 1 + r.below(3);
  c.intermediate_size = 4 + r.below(9);
  c.vocab_size = 20 + r.below(20);
  c.max_position_embeddings = 8 + r.below(9);
  return c;
}

/// random_config(seed) as a pre-LN BERT (docs/prelayernorm.md).
inline model::bert_config random_preln_config(std::uint64_t seed) {
  model::bert_config c = random_config(seed);
  c.pre_layer_norm = true;
  return c;
}

/// The micro config of the checkpoint-file tests and the optimizer fuzz target: 1 layer, hidden 4, one head,
/// an 8-token vocabulary, 4 positions, one token type.
inline model::bert_config micro_config() {
  return tiny_bert({.vocab = 8, .hidden = 4, .layers = 1, .heads = 1, .intermediate = 4, .positions = 4, .types = 1});
}

}  // namespace growth::test
