#pragma once
/// @file pooling.hpp
/// The row layout of the paper's mean embedding pooling (paper-notes.md 2.3(b)) for one batch, as index
/// maps over the embedded tokens (the B*S rows of the embedding output).
///
/// Per sequence b: targets = positions with label != -100 (in position order); the unmasked stream =
/// the other positions with attention_mask = 1, in position order ([CLS] first). With n_u unmasked tokens,
/// m targets and pool size k:
///   query rows (Q per sequence):  [mean_pool(stream) (P = 1 + ceil((n_u-1)/k) slots, 0 if n_u = 0) ;
///                                  the m targets ; zero padding up to Q = max_b (P + m)]
///   key rows (K per sequence):    [the n_u stream tokens ; the m targets ; padding up to K = max_b (n_u+m)]
/// Both are ONE axis_map (`gather`, (B*Q + B*K) x (B*S): query rows first, then key rows), built from
/// growth::mean_pool, applied with growth::apply; its transpose (`scatter`) carries the gradient back.
/// The model reads the query rows in every layer and the key rows as layer 0's keys and values.
/// Edge cases, chosen to match the standard path: a label on a padded position is still a target (the
/// standard model scores it too) but, as there, it is not visible as a key; the first stream token is
/// kept alone as "[CLS]" whatever its id; a sequence without unmasked tokens has no pooled slot (its
/// queries are its targets).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../ops/length.hpp"
#include "../model/batch.hpp"

namespace growth::reference {

namespace detail {
/// The transpose of a map: out_j = sum over rows i holding an entry (j, w) of w * in_i. Entries of each
/// output row are in increasing i, so applying it is deterministic.
inline axis_map transpose(const axis_map& m) {
  const std::size_t n_in = m.in_extent(), n_out = m.out_extent();
  std::vector<std::size_t> count(n_in + 1, 0);
  for (auto j : m.index()) ++count[static_cast<std::size_t>(j) + 1];
  for (std::size_t j = 0; j < n_in; ++j) count[j + 1] += count[j];
  std::vector<std::int64_t> src(m.index().size());
  std::vector<double> w(m.index().size());
  std::vector<std::size_t> fill(count.begin(), count.end() - 1);
  for (std::size_t i = 0; i < n_out; ++i)
    for (std::size_t e = m.offsets()[i]; e < m.offsets()[i + 1]; ++e) {
      const auto j = static_cast<std::size_t>(m.index()[e]);
      src[fill[j]] = static_cast<std::int64_t>(i);
      w[fill[j]++] = m.weight()[e];
    }
  axis_map t(n_out);
  t.reserve(n_in, src.size());
  for (std::size_t j = 0; j < n_in; ++j) {
    t.begin_row();
    for (std::size_t e = count[j]; e < count[j + 1]; ++e) t.add_entry(src[e], w[e]);
  }
  return t;
}
}  // namespace detail

/// Row layout of one pooled batch (see the file comment). T = the batch's number of targets.
struct pooled_layout {
  std::size_t batch_size = 0, seq_len = 0, pool_size = 1;  ///< B, S, k
  std::size_t query_len = 0;  ///< Q: query rows per sequence (>= 1)
  std::size_t key_len = 0;    ///< K: layer-0 key rows per sequence (>= Q)
  std::vector<std::size_t> unmasked;  ///< [B] n_u per sequence
  std::vector<std::size_t> pooled;    ///< [B] P per sequence
  std::vector<std::size_t> targets;   ///< [B] m per sequence
  std::vector<std::uint8_t> query_valid;  ///< [B*Q] 1 if the slot is visible as a key in layers >= 1
  std::vector<std::uint8_t> key_valid;    ///< [B*K] 1 if the row is visible as a key in layer 0
                                          ///< (pad slots 0; a target takes its token's attention_mask)
  std::vector<std::size_t> target_row;    ///< [T] per target (batch order): its query row b*Q + P_b + j
  std::vector<std::size_t> target_token;  ///< [T] per target: its token index b*S + position
  axis_map gather;   ///< [B*Q + B*K] rows <- [B*S] embedded tokens
  axis_map scatter;  ///< [B*S] rows <- [B*Q + B*K]: the transpose of gather
};

/// Builds the layout of batch bt for pool size k >= 1 (bt must already be validated). min_query_len and
/// min_key_len pad Q and K to at least those lengths (a data-parallel share takes the global batch's;
/// padding slots are invisible keys and no targets, as a shorter sequence's).
inline pooled_layout make_pooled_layout(const model::mlm_batch& bt, std::size_t k, std::size_t min_query_len = 0,
                                        std::size_t min_key_len = 0) {
  if (k == 0) throw error("pool size", "at least 1", "0");
  pooled_layout p;
  const std::size_t Bn = bt.batch_size, S = bt.seq_len;
  p.batch_size = Bn;
  p.seq_len = S;
  p.pool_size = k;
  std::vector<std::vector<std::size_t>> stream(Bn), tgt(Bn);
  for (std::size_t b = 0; b < Bn; ++b) {
    for (std::size_t s = 0; s < S; ++s) {
      const std::size_t n = b * S + s;
      if (bt.labels[n] != model::ignore_label)
        tgt[b].push_back(s);
      else if (bt.attention_mask[n] != 0)
        stream[b].push_back(s);
    }
    p.unmasked.push_back(stream[b].size());
    p.pooled.push_back(stream[b].empty() ? 0 : pooled_length(stream[b].size(), k));
    p.targets.push_back(tgt[b].size());
    p.query_len = std::max(p.query_len, p.pooled[b] + p.targets[b]);
    p.key_len = std::max(p.key_len, p.unmasked[b] + p.targets[b]);
  }
  p.query_len = std::max<std::size_t>({p.query_len, 1, min_query_len});
  p.key_len = std::max<std::size_t>({p.key_len, 1, min_key_len});
  const std::size_t Q = p.query_len, K = p.key_len;
  p.query_valid.assign(Bn * Q, 0);
  p.key_valid.assign(Bn * K, 0);
  p.gather = axis_map(Bn * S);
  p.gather.reserve(Bn * (Q + K), 2 * Bn * S);
  auto token = [&](std::size_t b, std::size_t s) { return static_cast<std::int64_t>(b * S + s); };
  // Query rows: pooled slots (mean_pool over the stream, indices mapped back to tokens), then targets.
  for (std::size_t b = 0; b < Bn; ++b) {
    std::size_t slot = 0;
    if (!stream[b].empty()) {
      const axis_map mp = mean_pool(stream[b].size(), k);
      for (std::size_t i = 0; i < mp.out_extent(); ++i, ++slot) {
        p.gather.begin_row();
        for (std::size_t e = mp.offsets()[i]; e < mp.offsets()[i + 1]; ++e)
          p.gather.add_entry(token(b, stream[b][static_cast<std::size_t>(mp.index()[e])]), mp.weight()[e]);
        p.query_valid[b * Q + slot] = 1;
      }
    }
    for (std::size_t j = 0; j < tgt[b].size(); ++j, ++slot) {
      p.gather.push_row_entry(token(b, tgt[b][j]), 1.0);
      p.query_valid[b * Q + slot] = bt.attention_mask[b * S + tgt[b][j]] != 0 ? 1 : 0;
      p.target_row.push_back(b * Q + slot);
      p.target_token.push_back(b * S + tgt[b][j]);
    }
    for (; slot < Q; ++slot) p.gather.push_empty_row();
  }
  // Key rows: the full-resolution stream, then targets.
  for (std::size_t b = 0; b < Bn; ++b) {
    std::size_t slot = 0;
    for (std::size_t s : stream[b]) {
      p.gather.push_row_entry(token(b, s), 1.0);
      p.key_valid[b * K + slot++] = 1;
    }
    for (std::size_t s : tgt[b]) {
      p.gather.push_row_entry(token(b, s), 1.0);
      p.key_valid[b * K + slot++] = bt.attention_mask[b * S + s] != 0 ? 1 : 0;
    }
    for (; slot < K; ++slot) p.gather.push_empty_row();
  }
  p.scatter = detail::transpose(p.gather);
  return p;
}

}  // namespace growth::reference
