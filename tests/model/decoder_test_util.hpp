#pragma once
// Decoder LM configs and random parameter buffers for the decoder growth tests.
#include <cstdint>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/model/decoder_config.hpp>
#include <growth/model/decoder_layout.hpp>
#include <growth/model/grow.hpp>

namespace growth::test {

using model::decoder_config;

/// A small LLaMA-family config: heads x head_dim = hidden, kv heads a divisor of heads.
inline decoder_config small_llama(std::size_t hidden = 8, std::size_t heads = 4, std::size_t kv_heads = 2,
                                  bool tied = false, std::size_t layers = 2, std::size_t ffn = 12) {
  decoder_config c;
  c.vocab_size = 19;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.intermediate_size = ffn;
  c.max_position_embeddings = 16;
  c.tie_word_embeddings = tied;
  c.norm_eps = 1e-6;
  return c;
}

/// A small GPT-2 config.
inline decoder_config small_gpt2(std::size_t hidden = 8, std::size_t heads = 2, std::size_t layers = 2,
                                 std::size_t ffn = 16) {
  decoder_config c;
  c.family = model::decoder_family::gpt2;
  c.model_type = "gpt2";
  c.hidden_act = "gelu_new";
  c.tie_word_embeddings = true;
  c.norm_eps = 1e-5;
  c.vocab_size = 17;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = heads;
  c.intermediate_size = ffn;
  c.max_position_embeddings = 12;
  return c;
}

/// A flat parameter buffer (decoder_parameters order) of uniform values in [-0.5, 0.5).
inline std::vector<float> random_decoder_params(const decoder_config& c, std::uint64_t seed) {
  std::size_t n = 0;
  for (const auto& s : model::decoder_parameters(c)) n += s.numel();
  std::vector<float> v(n);
  rng r(seed, 11);
  for (auto& x : v) x = static_cast<float>(r.uniform() - 0.5);
  return v;
}

/// Views of a flat buffer by parameter name.
inline model::parameter_set<float> decoder_views(const decoder_config& c, std::vector<float>& buf) {
  return io::decoder_checkpoint::flat_views(c, buf);
}

/// Grows a flat buffer of config `from` into a new flat buffer of config `to`.
inline std::vector<float> grow_decoder_params(const decoder_config& from, std::vector<float>& src, const decoder_config& to,
                                              const growth::grow_options& o, model::exactness* ex = nullptr) {
  std::size_t n = 0;
  for (const auto& s : model::decoder_parameters(to)) n += s.numel();
  std::vector<float> dst(n);
  auto sv = decoder_views(from, src);
  auto dv = decoder_views(to, dst);
  const auto e = model::grow(from, sv, to, dv, o);
  if (ex) *ex = e;
  return dst;
}

}  // namespace growth::test
