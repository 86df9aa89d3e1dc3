#pragma once
// Tiny decoder configs, batches and random parameters for the reference causal LM tests, and its
// finite-difference gradient check (the same stencil and criteria as common.hpp's BERT check: 4-point
// stencil, h = 1e-4; per tensor ||analytic - numeric|| / max(||analytic||, ||numeric||) <= 1e-6, per entry
// |analytic - numeric| <= 1e-6 max(|analytic|, |numeric|) + 1e-10).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/model/batch.hpp>
#include <growth/model/decoder_config.hpp>
#include <growth/reference/causal_lm.hpp>

namespace growth::test {

/// LLaMA family: 2 layers, 4 query heads over 2 key/value heads (GQA), head_dim 4 (so the attention width
/// 16 differs from hidden 8, as an explicit head_dim allows), tied head, no biases.
inline model::decoder_config tiny_llama() {
  model::decoder_config c;
  c.family = model::decoder_family::llama;
  c.model_type = "llama";
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  c.norm_eps = 1e-6;
  c.rope_theta = 100;  // small base: every channel pair turns noticeably over a few positions
  c.tie_word_embeddings = true;
  return c;
}

/// LLaMA family with every bias (q/k/v, o_proj, MLP: qkv_bias, o_bias, mlp_bias) and an untied lm_head;
/// hidden 12 over 6 query heads of 2 channels, 3 key/value heads.
inline model::decoder_config tiny_llama_biased() {
  auto c = tiny_llama();
  c.hidden_size = 12;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 3;
  c.head_dim = 0;
  c.intermediate_size = 10;
  c.tie_word_embeddings = false;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  return c;
}

/// GPT-2: 2 layers, 2 heads of 4 channels, learned positions, tied head.
inline model::decoder_config tiny_gpt2() {
  model::decoder_config c;
  c.family = model::decoder_family::gpt2;
  c.model_type = "gpt2";
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 10;
  c.norm_eps = 1e-5;
  c.hidden_act = "gelu_new";
  c.tie_word_embeddings = true;
  return c;
}

/// B x S batch: random ids, the last `pad` positions of the last row padded (mask 0, label -100), labels =
/// ids elsewhere with one more -100 in row 0.
inline model::clm_batch random_clm_batch(const model::decoder_config& c, std::size_t B, std::size_t S, std::size_t pad,
                                         std::uint64_t seed) {
  model::clm_batch b(B, S);
  rng r(seed, 99);
  for (std::size_t n = 0; n < B * S; ++n) {
    b.input_ids[n] = static_cast<std::int32_t>(r.uniform() * static_cast<double>(c.vocab_size)) % static_cast<std::int32_t>(c.vocab_size);
    b.labels[n] = b.input_ids[n];
  }
  for (std::size_t s = S - pad; s < S; ++s) {
    b.attention_mask[(B - 1) * S + s] = 0;
    b.labels[(B - 1) * S + s] = model::ignore_label;
  }
  if (S > 3) b.labels[2] = model::ignore_label;
  return b;
}

/// Parameters far from init: N(0, spread) everywhere, norm gains 1 + N(0, spread); one stream per tensor.
template <class T>
void randomize(reference::causal_lm<T>& m, std::uint64_t seed, double spread = 0.4) {
  auto p = m.flat_params();
  const auto& L = m.layout();
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    rng r(seed, 2000 + i);
    const bool gain = L.specs[i].kind == model::param_kind::ln_gain;
    for (std::size_t j = 0; j < L.specs[i].numel(); ++j)
      p[L.offsets[i] + j] = static_cast<T>((gain ? 1.0 : 0.0) + spread * r.normal());
  }
}

struct clm_check_result {
  double worst_tensor_rel = 0;
  std::string worst_tensor;
  std::size_t checked = 0;
  std::size_t failed = 0;
};

inline clm_check_result clm_gradcheck(const model::decoder_config& c, const model::clm_batch& b, std::uint64_t seed,
                                      std::uint64_t dropout_seed) {
  reference::causal_lm<double> m(c);
  randomize(m, seed);
  m.forward_backward(b, dropout_seed);
  const std::vector<double> analytic(m.flat_grads().begin(), m.flat_grads().end());
  auto p = m.flat_params();
  const double h = 1e-4;
  const auto& L = m.layout();
  auto loss_at = [&](std::size_t k, double x) {
    const double keep = p[k];
    p[k] = x;
    const double l = m.forward_train(b, dropout_seed).loss;
    p[k] = keep;
    return l;
  };
  clm_check_result res;
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    double diff2 = 0, ana2 = 0, num2 = 0;
    for (std::size_t j = 0; j < L.specs[i].numel(); ++j) {
      const std::size_t k = L.offsets[i] + j;
      const double x = p[k];
      const double num = (-loss_at(k, x + 2 * h) + 8 * loss_at(k, x + h) - 8 * loss_at(k, x - h) + loss_at(k, x - 2 * h)) / (12 * h);
      const double ana = analytic[k];
      const double err = std::abs(num - ana);
      diff2 += err * err;
      ana2 += ana * ana;
      num2 += num * num;
      ++res.checked;
      if (err > 1e-6 * std::max(std::abs(num), std::abs(ana)) + 1e-10) {
        if (res.failed < 10) MESSAGE(L.specs[i].name << "[" << j << "]: analytic " << ana << " numeric " << num);
        ++res.failed;
      }
    }
    // A tensor whose gradient is identically zero (the key bias: softmax ignores a per-row constant) has
    // only finite-difference noise to compare; it must then be ~0 in absolute terms.
    const double norm = std::sqrt(std::max(ana2, num2));
    const double rel = norm < 1e-8 ? std::sqrt(diff2) / 1e-8 * 1e-6 : std::sqrt(diff2) / norm;
    if (rel > res.worst_tensor_rel) {
      res.worst_tensor_rel = rel;
      res.worst_tensor = L.specs[i].name;
    }
  }
  return res;
}

}  // namespace growth::test
