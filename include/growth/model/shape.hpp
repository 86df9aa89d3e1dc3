#pragma once
/// @file shape.hpp
/// The structural description of a BERT's shape, shared by the compile-time schedule (a stage's shape is a
/// C++20 non-type template parameter, so only public scalar members), schedule files, the cost model and
/// the trainer; bert_config (bert_config.hpp) is built from it by to_bert_config().
///
/// Conventions (paper-notes.md sections 2-3):
///   - `ffn` is always the FULL (nominal) FFN size I. A shared layer holds I / ffn_share_factor neurons, a
///     factorised layer holds W = U V with rank ffn_rank; both are low-cost variants that a later stage leaves.
///   - Which layers are low-cost is the stride rule: layer i is shared iff ffn_shared_every > 0 and
///     i % ffn_shared_every == 0 (0 = none, 1 = every layer, 2 = even layers, ...), the reference code's
///     net2net_layers = n rule "i % (L / n) == 0" written with the stride g = L / n directly, so it stays
///     meaningful when L changes. ffn_factorized_every selects factorised layers the same way. config.json
///     keeps its explicit layer lists (growth.ffn_shared_layers, growth.ffn_factorized_layers): to_bert_config
///     writes the stride's list, and a config whose lists are not a stride is a BERT that no schedule shape
///     describes (shape_of, its inverse, refuses it).
///   - max_positions = 0 means "equal to seq_len" (see positions()). The sequence length is data only.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bert_config.hpp"
#include "rules.hpp"

namespace growth::model {

struct shape {
  std::size_t layers = 0;
  std::size_t hidden = 0;
  std::size_t heads = 0;
  std::size_t ffn = 0;      ///< full FFN intermediate size I
  std::size_t seq_len = 0;  ///< training sequence length S (data)
  std::size_t max_positions = 0;  ///< position-table rows; 0 = seq_len
  std::size_t ffn_share_factor = 1;      ///< k: shared layers hold ffn / k neurons
  std::size_t ffn_shared_every = 0;      ///< layer i shared iff every > 0 && i % every == 0
  std::size_t ffn_rank = 0;              ///< rank r of factorised layers (0 = off)
  std::size_t ffn_factorized_every = 0;  ///< layer i factorised iff every > 0 && i % every == 0
  std::size_t pool_size = 1;             ///< mean embedding pooling factor (1 = off)
  /// Key/value heads of a decoder with grouped-query attention (decoder_shape.hpp); 0 = heads (no grouping).
  /// BERT has no such field: its shapes keep 0.
  std::size_t kv_heads = 0;

  friend constexpr bool operator==(const shape&, const shape&) = default;
};

/// Rows of the position table: max_positions, or seq_len when max_positions is 0.
constexpr std::size_t positions(const shape& s) { return s.max_positions == 0 ? s.seq_len : s.max_positions; }
constexpr bool is_shared(const shape& s, std::size_t layer) {
  return s.ffn_shared_every > 0 && layer % s.ffn_shared_every == 0;
}
constexpr bool is_factorized(const shape& s, std::size_t layer) {
  return s.ffn_factorized_every > 0 && layer % s.ffn_factorized_every == 0;
}
/// A standard BERT: no shared or factorised layer and no pooling.
constexpr bool is_standard(const shape& s) {
  return s.ffn_shared_every == 0 && s.ffn_factorized_every == 0 && s.pool_size == 1;
}
/// The structure of one layer's FFN.
constexpr ffn_state layer_state(const shape& s, std::size_t layer) {
  return is_shared(s, layer) ? ffn_state::shared : is_factorized(s, layer) ? ffn_state::factorized : ffn_state::full;
}
/// The sizes the growth rules (rules.hpp) read.
constexpr growth_dims dims_of(const shape& s) {
  return {s.layers, s.hidden, s.heads, s.ffn, positions(s), s.ffn_share_factor, s.ffn_rank, s.pool_size};
}

/// What the shape rules (rules.hpp, check_shape_rules) read of a stage shape. With both strides set,
/// layer 0 is both shared and factorised (0 % g == 0).
constexpr shape_facts shape_facts_of(const shape& s) {
  const bool both = s.ffn_shared_every > 0 && s.ffn_factorized_every > 0;
  return {s.layers, s.hidden, s.heads, s.ffn, positions(s), s.pool_size, s.ffn_share_factor, s.ffn_rank,
          s.ffn_shared_every > 0, s.ffn_factorized_every > 0,
          both ? std::optional<std::size_t>(0) : std::nullopt};
}

/// The same queries on a BERT config (its explicit layer lists).
inline growth_dims dims_of(const bert_config& c) {
  return {c.num_hidden_layers,
          c.hidden_size,
          c.num_attention_heads,
          c.intermediate_size,
          c.max_position_embeddings,
          c.ffn_shared_layers.empty() ? 1 : c.ffn_share_factor,
          c.ffn_factorized_layers.empty() ? 0 : c.ffn_rank,
          c.pool_size};
}
inline ffn_state layer_state(const bert_config& c, std::size_t l) {
  return c.is_shared(l) ? ffn_state::shared : c.is_factorized(l) ? ffn_state::factorized : ffn_state::full;
}

/// The Hugging Face config of a shape (plus the low-cost fields of bert_config): the architecture fields
/// (dropout, initializer range, eps, type vocabulary, pad id, pre-LN) keep bert_config's defaults.
inline bert_config to_bert_config(const shape& s, std::size_t vocab_size) {
  bert_config c;
  c.vocab_size = vocab_size;
  c.hidden_size = s.hidden;
  c.num_hidden_layers = s.layers;
  c.num_attention_heads = s.heads;
  c.intermediate_size = s.ffn;
  c.max_position_embeddings = positions(s);
  for (std::size_t l = 0; l < s.layers; ++l) {
    if (is_shared(s, l)) c.ffn_shared_layers.push_back(l);
    if (is_factorized(s, l)) c.ffn_factorized_layers.push_back(l);
  }
  c.ffn_share_factor = s.ffn_shared_every > 0 ? s.ffn_share_factor : 1;
  c.ffn_rank = s.ffn_factorized_every > 0 ? s.ffn_rank : 0;
  c.pool_size = s.pool_size;
  return c;
}

/// The inverse of to_bert_config: the shape of config c trained at seq_len. Low-cost layers must be "every
/// g-th layer from layer 0" (throws growth::error naming the field otherwise); g is the smallest stride
/// that gives c's list, and max_positions is c's position rows. Hence shape_of(to_bert_config(s, v),
/// s.seq_len) == s for every valid s with max_positions set and strides below s.layers, and
/// to_bert_config(shape_of(c, n), c.vocab_size) has c's shape fields (tests/model: the round trip).
inline shape shape_of(const bert_config& c, std::size_t seq_len) {
  shape s{.layers = c.num_hidden_layers, .hidden = c.hidden_size, .heads = c.num_attention_heads,
          .ffn = c.intermediate_size, .seq_len = seq_len, .max_positions = c.max_position_embeddings};
  auto stride = [&](const std::vector<std::size_t>& layers, const char* field) -> std::size_t {
    if (layers.empty()) return 0;
    std::vector<std::size_t> have = layers;
    std::sort(have.begin(), have.end());
    for (std::size_t g = 1; g <= c.num_hidden_layers; ++g) {
      std::vector<std::size_t> want;
      for (std::size_t l = 0; l < c.num_hidden_layers; l += g) want.push_back(l);
      if (have == want) return g;
    }
    throw error(std::string("config field ") + field, "every g-th layer from layer 0 (a schedule shape)", "another set");
  };
  s.ffn_shared_every = stride(c.ffn_shared_layers, "growth.ffn_shared_layers");
  s.ffn_share_factor = s.ffn_shared_every ? c.ffn_share_factor : 1;
  s.ffn_factorized_every = stride(c.ffn_factorized_layers, "growth.ffn_factorized_layers");
  s.ffn_rank = s.ffn_factorized_every ? c.ffn_rank : 0;
  s.pool_size = c.pool_size;
  return s;
}

}  // namespace growth::model
