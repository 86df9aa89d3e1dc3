#pragma once
/// @file decoder_shape.hpp
/// A decoder LM's schedule shape (model::shape, shape.hpp) and back: the structural fields of a
/// decoder_config (decoder_config.hpp) that growth changes between stages, so one schedule format and one
/// trainer serve BERT and decoders. The fields a shape does not hold (family, model_type, norm eps,
/// rope_theta, tied head, biases, dropout, initializer range, token ids) come from a `base` config.
///
/// Mapping: layers = num_hidden_layers, hidden = hidden_size, heads = num_attention_heads, kv_heads =
/// num_key_value_heads (0 in a shape = heads, no grouping), ffn = intermediate_size, max_positions =
/// max_position_embeddings (the rows of GPT-2's table; a rotary model's context length), seq_len = the
/// training length (data). head_dim is hidden / heads (HF's default): growth keeps the head size fixed
/// (rotary embeddings unchanged), so a config with another head_dim is no schedule shape. Decoders have no
/// low-cost FFN variants and no pooling: those fields must keep their defaults.
#include <cstddef>
#include <string>

#include "../core/error.hpp"
#include "decoder_config.hpp"
#include "shape.hpp"

namespace growth::model {

/// The decoder config of a shape: base's other fields, validated (throws growth::error naming the field).
inline decoder_config to_decoder_config(const shape& s, std::size_t vocab_size, const decoder_config& base) {
  if (!is_standard(s))
    throw error("decoder stage shape", "no shared or factorised FFN and no pooling (BERT-only variants)",
                "a low-cost shape");
  decoder_config c = base;
  c.vocab_size = vocab_size;
  c.num_hidden_layers = s.layers;
  c.hidden_size = s.hidden;
  c.num_attention_heads = s.heads;
  c.num_key_value_heads = s.kv_heads == 0 ? s.heads : s.kv_heads;
  c.head_dim = 0;
  c.intermediate_size = s.ffn;
  c.max_position_embeddings = positions(s);
  c.validate();
  return c;
}

/// The shape of decoder config c trained at seq_len (the inverse of to_decoder_config): kv_heads is 0 when c
/// has no grouping, so an ungrouped decoder's shape is written like a BERT's.
inline shape shape_of(const decoder_config& c, std::size_t seq_len) {
  if (c.head_dim != 0 && c.head_dim * c.num_attention_heads != c.hidden_size)
    throw error("config field head_dim", "hidden_size / num_attention_heads = " +
                    std::to_string(c.num_attention_heads ? c.hidden_size / c.num_attention_heads : 0) +
                    " (a schedule shape has no head_dim)",
                std::to_string(c.head_dim));
  return shape{.layers = c.num_hidden_layers, .hidden = c.hidden_size, .heads = c.num_attention_heads,
               .ffn = c.intermediate_size, .seq_len = seq_len, .max_positions = c.max_position_embeddings,
               .kv_heads = c.num_key_value_heads == c.num_attention_heads ? 0 : c.num_key_value_heads};
}

}  // namespace growth::model
