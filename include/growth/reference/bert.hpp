#pragma once
/// @file bert.hpp
/// growth::reference::bert<T>: a CPU BertForMaskedLM (Hugging Face architecture, post-LN) with
/// forward, hand-written backward and MLM loss, in Eigen. It is the oracle that proves the growth
/// operators: parameters carry the HF names and PyTorch's (out, in) row-major layout.
///
/// Layout of a step, llm.c style: forward caches what backward needs, layer by layer; backward walks
/// the same code in reverse. All activations for a (batch, seq) shape are allocated on the first step
/// with that shape and reused afterwards (the workspace below: a shape on every buffer); the GEMM packing
/// buffers are per thread and reused as well (kernels.hpp), so a step allocates nothing after warm-up
/// (tests/reference/test_no_alloc.cpp).
///
/// Semantics that matter for parity with HF:
///  - embeddings = LN(word[id] + position[s] + type[t]) then dropout; the pad_token_id row of the word
///    embeddings gets no gradient from the lookup (nn.Embedding(padding_idx)), only from the tied decoder;
///  - attention scores get (1 - mask) * lowest(T) added (HF adds finfo.min), softmax, dropout on probs;
///  - GELU is the erf form; LayerNorm eps from the config;
///  - the MLM head (dense, GELU, LN, decoder tied to word embeddings + cls.predictions.bias) is computed
///    only for target rows during training: rows with label -100 do not touch the loss, so this is exact
///    and saves (1 - target fraction) of the head's FLOPs;
///  - low-cost variants: shared layers have a literally smaller FFN (layer_intermediate_size), factorised
///    layers compute x W1^T as (x V1^T) U1^T (no nonlinearity between) and likewise for W2.
///  - mean embedding pooling (pool size k > 1: the config's pool_size unless the call passes another;
///    paper-notes.md 2.3(b); row layout in pooling.hpp): the model reads the standard batch; every token
///    is embedded at its original position (LN, dropout as above); layer 0's queries and residual are
///    [mean-pooled unmasked stream ; targets], its keys and values [full-resolution unmasked stream ;
///    targets]; layers >= 1 attend over [pooled ; targets]; the head reads the target slots. Sequences are
///    padded to the batch maximum (pad slots masked as keys, their outputs unused). Pooling has no
///    parameters, so the parameter layout equals the standard one.
///
/// Pre-LN (config pre_layer_norm; Xiong et al. 2020, arXiv 2002.04745; numerically HF
/// RobertaPreLayerNorm apart from its position ids, docs/prelayernorm.md). Embeddings as above; layer l:
///     u1 = LN1(x),  a = x + Dropout(Wo Attn(u1) + bo),  u2 = LN2(a),  y = a + Dropout(W2 GELU(W1 u2 + b1) + b2)
/// (LN1 = attention_ln_*, LN2 = output_ln_*), then the final LayerNorm LN_f (encoder_final_ln_*) on the rows
/// the MLM head reads (LN is row-wise, so this is LN_f of the whole last layer restricted to those rows),
/// then the same head. Dropout sites, shared / factorised FFNs and pooling work unchanged: they only
/// change the FFN or the rows (with pooling, layer 0's LN1 normalises the query rows and the key rows).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/bert_config.hpp"
#include "../model/bert_layout.hpp"
#include "../model/parameter_set.hpp"
#include "../model/batch.hpp"
#include "batch.hpp"
#include "flat_buffer.hpp"
#include "kernels.hpp"
#include "pooling.hpp"

namespace growth::reference {

template <class T>
class bert {
  static_assert(std::is_floating_point_v<T>, "bert<T> needs float or double");
  using mat = detail::mat<T>;
  using cmap = detail::cmap<T>;
  using map = detail::map<T>;
  using cvmap = detail::cvmap<T>;
  using vmap = detail::vmap<T>;
  using row_vec = detail::row_vec<T>;
  using index = Eigen::Index;

 public:
  using scalar = T;

  explicit bert(const model::bert_config& c) : cfg_(c) {
    cfg_.validate();
    layout_ = flat_layout(cfg_);
    params_.resize(layout_.total);
    grads_.resize(layout_.total);
    locate();
  }

  /// BERT init (HF _init_weights): weights and embeddings N(0, initializer_range), the pad_token_id row
  /// of the word embeddings 0, biases 0, LayerNorm weight 1 and bias 0. Parameter i draws from the
  /// counter-based stream (seed, i), so the values do not depend on anything else.
  void init(std::uint64_t seed) {
    const auto sd = static_cast<T>(cfg_.initializer_range);
    for (std::size_t i = 0; i < layout_.specs.size(); ++i) {
      const auto& s = layout_.specs[i];
      T* p = params_.data() + layout_.offsets[i];
      const std::size_t n = s.numel();
      const bool is_bias = s.shape.size() == 1;
      if (s.is_layernorm()) {
        const bool weight = s.name.ends_with(".weight");
        std::fill(p, p + n, weight ? T(1) : T(0));
      } else if (is_bias) {
        std::fill(p, p + n, T(0));
      } else {
        rng r(seed, i);
        for (std::size_t j = 0; j < n; ++j) p[j] = static_cast<T>(r.normal()) * sd;
      }
      if (s.r == model::role::word_embeddings) std::fill(p + cfg_.pad_token_id * cfg_.hidden_size, p + (cfg_.pad_token_id + 1) * cfg_.hidden_size, T(0));
    }
  }

  [[nodiscard]] const model::bert_config& config() const { return cfg_; }
  [[nodiscard]] const flat_layout& layout() const { return layout_; }
  [[nodiscard]] std::span<T> flat_params() { return params_.span(); }
  [[nodiscard]] std::span<const T> flat_params() const { return params_.span(); }
  [[nodiscard]] std::span<T> flat_grads() { return grads_.span(); }
  [[nodiscard]] std::span<const T> flat_grads() const { return grads_.span(); }
  /// Named views (HF names) into the parameter / gradient buffers.
  [[nodiscard]] model::parameter_set<T> parameters() { return layout_.views(params_.data()); }
  [[nodiscard]] model::parameter_set<T> gradients() { return layout_.views(grads_.data()); }

  // Every pass takes the mean embedding pooling it applies as pool_size: k > 1 pools the unmasked stream
  // k:1 (file comment), 1 reads every token at full resolution; unset = the config's pool_size. Pooling
  // has no parameters, so the same weights run either way: a pooled stage is validated with pooling off
  // by evaluate(b, nullptr, 1) (train/trainer.hpp).

  /// Training step's forward and backward (dropout on, seeded): sets the gradients (overwrites them).
  /// `slice` places b inside a larger global batch (reference/batch.hpp batch_slice: data-parallel
  /// shares): the masks are the global batch's for these rows and the gradient is of this share's summed
  /// loss over the global target count; r.loss stays this share's own mean.
  mlm_result forward_backward(const model::mlm_batch& b, std::uint64_t dropout_seed,
                              std::optional<std::size_t> pool_size = std::nullopt, const batch_slice& slice = {}) {
    auto r = forward(b, true, dropout_seed, nullptr, pool_size, true, slice);
    backward(b);
    return r;
  }
  /// Training-mode forward only (same dropout masks as forward_backward with this seed), no gradients.
  mlm_result forward_train(const model::mlm_batch& b, std::uint64_t dropout_seed,
                           std::optional<std::size_t> pool_size = std::nullopt) {
    return forward(b, true, dropout_seed, nullptr, pool_size);
  }
  /// Evaluation: dropout off, no gradients. If logits is given it receives B x S x V logits (row-major,
  /// float), computed for every position as HF does. With pooling (pool_size > 1) only the target
  /// positions (label != -100) have logits; every other row is 0 (the pooled model has no output there).
  mlm_result evaluate(const model::mlm_batch& b, std::vector<float>* logits = nullptr,
                      std::optional<std::size_t> pool_size = std::nullopt) {
    return forward(b, false, 0, logits, pool_size);
  }

  /// Encoder only, for heads other than the MLM head (sequence classification, bert_classifier.hpp): the
  /// embeddings and every layer at full resolution (no pooling: a classifier reads every token), dropout on
  /// when train (seeded like forward_train). Returns the last layer's output, B*S x H row-major (pre-LN:
  /// before the final LayerNorm, which the caller's head applies). The batch's labels are not read.
  std::span<const T> encode(const model::mlm_batch& b, bool train, std::uint64_t dropout_seed) {
    forward(b, train, dropout_seed, nullptr, std::size_t{1}, false);
    const auto& out = ws_.layers.back().out;
    return {out.data(), static_cast<std::size_t>(out.size())};
  }
  /// Backward of the last encode (same batch): d_out = dloss/d(its output), B*S x H. Sets the gradients
  /// (overwrites them; the MLM head's are 0).
  void encoder_backward(const model::mlm_batch& b, std::span<const T> d_out) {
    detail::set_zero(grads_.data(), grads_.size());
    if (d_out.size() != static_cast<std::size_t>(ws_.dx.size()))
      throw error("encoder_backward d_out", std::to_string(ws_.dx.size()) + " entries (B*S x H)", std::to_string(d_out.size()));
    std::copy(d_out.begin(), d_out.end(), ws_.dx.data());
    backward_encoder(b);
  }

 private:
  // ---------------------------------------------------------------------------------------------
  // Where each parameter lives in the flat buffers.
  // Where each parameter lives in the flat buffers: one offset per role, read from the layout table (a
  // layer's roles per layer, the rest once), so the model names a parameter by its role, o[query_weight].
  struct layer_offsets : model::per_role<std::size_t> {
    std::size_t inter = 0;  // this layer's FFN width
    bool factorized = false;
  };
  struct offsets : model::per_role<std::size_t> {
    std::vector<layer_offsets> layer;
  };

  void locate() {
    off_.layer.assign(cfg_.num_hidden_layers, {});
    for (std::size_t l = 0; l < cfg_.num_hidden_layers; ++l) {
      off_.layer[l].inter = cfg_.layer_intermediate_size(l);
      off_.layer[l].factorized = cfg_.is_factorized(l);
    }
    for (std::size_t i = 0; i < layout_.specs.size(); ++i) {
      const auto& s = layout_.specs[i];
      if (s.layer >= 0) off_.layer[static_cast<std::size_t>(s.layer)][s.r] = layout_.offsets[i];
      else off_[s.r] = layout_.offsets[i];
    }
  }

  // Parameter / gradient access as Eigen maps.
  [[nodiscard]] cmap W(std::size_t o, std::size_t rows, std::size_t cols) const {
    return cmap(params_.data() + o, static_cast<index>(rows), static_cast<index>(cols));
  }
  [[nodiscard]] cvmap B(std::size_t o, std::size_t n) const { return cvmap(params_.data() + o, static_cast<index>(n)); }
  [[nodiscard]] map dW(std::size_t o, std::size_t rows, std::size_t cols) {
    return map(grads_.data() + o, static_cast<index>(rows), static_cast<index>(cols));
  }
  [[nodiscard]] vmap dB(std::size_t o, std::size_t n) { return vmap(grads_.data() + o, static_cast<index>(n)); }
  [[nodiscard]] const T* P(std::size_t o) const { return params_.data() + o; }
  [[nodiscard]] T* G(std::size_t o) { return grads_.data() + o; }

  // ---------------------------------------------------------------------------------------------
  // Workspace: every activation backward needs, sized once per (batch, seq, query rows, layer-0 keys,
  // pooled). Shapes below: B sequences of S tokens, H hidden, V vocabulary, A heads, I_l layer l's FFN
  // width, R = max(ffn_rank, 1). Encoder rows are B*Sq (Sq = S without pooling, the query length Q of
  // pooling.hpp with it); layer 0's keys and values are B*Sk0 rows (Sk0 = S, or the key length K); layer
  // l's keys Sk_l = Sk0 for l = 0, Sq otherwise. The MLM head reads M <= B*S rows (the targets, or every
  // position when logits are asked for); its buffers have B*S rows and use the top M.
  // Post-LN: h1 = LN1(x + attention), out = LN2(h1 + FFN(h1)); xhat1 / xhat2, rstd1 / rstd2 their LN caches.
  // Pre-LN:  u1 = LN1(x) (rows1 x H: the B*Sq query rows, then in layer 0 of a pooled model the B*Sk0 key
  //          rows), h1 = x + attention (B*Sq x H), u2 = LN2(h1) (B*Sq x H), out = h1 + FFN(u2); xhat1 /
  //          rstd1 have rows1 rows. u1 and u2 are empty in post-LN.
  struct layer_cache {
    mat q;      // [B*Sq, H] query projection
    mat k, v;   // [B*Sk_l, H] key and value projections
    mat ctx;    // [B*Sq, H] attention output per head, heads side by side (before the output dense)
    mat h1;     // [B*Sq, H] post-LN: LN1(x + attention); pre-LN: x + attention
    mat xhat1;  // [rows1, H] LN1's normalised input (rows1 = B*Sq, + B*Sk0 in layer 0 pooled pre-LN)
    mat t1;     // [B*Sq, R] factorised layers only: x V1^T
    mat f;      // [B*Sq, I_l] FFN pre-activation
    mat g;      // [B*Sq, I_l] GELU(f)
    mat t2;     // [B*Sq, R] factorised layers only: g V2^T
    mat xhat2;  // [B*Sq, H] LN2's normalised input
    mat out;    // [B*Sq, H] layer output
    mat u1;     // [rows1, H] pre-LN only: LN1(x)
    mat u2;     // [B*Sq, H] pre-LN only: LN2(h1)
    std::vector<T> rstd1;  // [rows1] LN1's 1/sigma per row
    std::vector<T> rstd2;  // [B*Sq] LN2's 1/sigma per row
    aligned_buffer<T> probs;       // [B*A*Sq*Sk_l] softmax(q k^T / sqrt(d) + mask), (b, head) blocks
    std::vector<std::uint8_t> pmask;  // [B*A*Sq*Sk_l] attention-probability dropout mask (dropout on only)
    std::vector<std::uint8_t> amask;  // [B*Sq*H] attention-output dropout mask
    std::vector<std::uint8_t> omask;  // [B*Sq*H] FFN-output dropout mask
  };
  struct workspace {
    std::size_t b = 0, s = 0, sq = 0, sk0 = 0;  // B, S, Sq, Sk0 of the shapes below
    bool pooled = false;                        // the last forward pooled (pool size > 1): backward follows it
    mat emb_xhat;                  // [B*S, H] embedding LN's normalised input
    mat emb_ln;                    // [B*S, H] LN(word + position + type)
    mat x0;                        // [B*S, H] emb_ln after dropout: the encoder's input tokens
    std::vector<T> emb_rstd;       // [B*S] embedding LN's 1/sigma per row
    std::vector<std::uint8_t> emask;  // [B*S*H] embedding dropout mask
    std::vector<layer_cache> layers;  // [L]
    std::vector<T> key_bias;   // [B*Sq] 0 or lowest(T) per key of layers >= 1
    std::vector<T> key_bias0;  // [B*Sk0] the same for layer 0's keys
    // Pooling only (else empty): layer 0's [query rows ; key rows] = gather(x0), and their gradient.
    pooled_layout pool;  // the row layout of the last pooled batch (pooling.hpp)
    mat xqk;   // [B*Sq + B*Sk0, H] gathered query rows, then key rows
    mat dqk;   // [B*Sq + B*Sk0, H] their gradient
    mat demb;  // [B*S, H] d(x0) = scatter(dqk)
    // MLM head over selected rows; rows index the encoder rows, row_token the B*S tokens.
    std::vector<std::size_t> rows;       // [M] (capacity B*S) encoder row of each head row
    std::vector<std::size_t> row_token;  // [M] token b*S + s of each head row
    std::vector<std::int32_t> row_label;  // [M] its label (-100 = not a target)
    std::vector<double> row_loss;        // [B*S] cross-entropy of head row t (top M used)
    std::vector<std::uint8_t> row_hit;   // [B*S] 1 if head row t's argmax is its label
    mat hsel;    // [B*S, H] the encoder output at the head rows (pre-LN: after LN_f)
    mat ht;      // [B*S, H] dense(hsel); reused as d(hsel) in backward
    mat hxhat;   // [B*S, H] head LN's normalised input
    mat z;       // [B*S, H] LN(GELU(ht)): the decoder's input
    mat logits;  // [B*S, V] decoder output; in training overwritten by dloss/dlogits
    mat hd;      // [B*S, H] d(z), then back through the head LN and GELU
    std::vector<T> hrstd;  // [B*S] head LN's 1/sigma per row
    // Pre-LN only (else empty): the final LayerNorm over the head rows (hsel holds its output).
    mat fxhat;              // [B*S, H] LN_f's normalised input
    mat du1;                // [B*Sq (+ B*Sk0 pooled), H] d(u1) of the layer being differentiated
    std::vector<T> frstd;   // [B*S] LN_f's 1/sigma per row
    // Gradient scratch.
    mat dx;    // [B*Sq, H] d(layer output), then d(layer input)
    mat dtmp;  // [B*Sq, H] d(dropout input) of a residual branch; pre-LN d(u2)
    mat dq;    // [B*Sq, H] d(q)
    mat dk;    // [B*Sk0, H] d(k) (layer 0 is the widest)
    mat dv;    // [B*Sk0, H] d(v)
    mat dctx;  // [B*Sq, H] d(ctx)
    mat dg;    // [B*Sq, max_l I_l] d(f) / d(g) (left I_l columns used)
    mat dt;    // [B*Sq, R] d(t1) / d(t2) of factorised layers
  };

  void prepare(std::size_t b, std::size_t s, std::size_t sq, std::size_t sk0, bool pooled) {
    if (ws_.b == b && ws_.s == s && ws_.sq == sq && ws_.sk0 == sk0 && ws_.pooled == pooled) return;
    const auto ne = static_cast<index>(b * s), n = static_cast<index>(b * sq), nk = static_cast<index>(b * sk0);
    const auto h = static_cast<index>(cfg_.hidden_size);
    const std::size_t pp = b * cfg_.num_attention_heads * sq * sq, pp0 = b * cfg_.num_attention_heads * sq * sk0;
    index imax = 0;
    for (const auto& L : off_.layer) imax = std::max(imax, static_cast<index>(L.inter));
    const auto r = static_cast<index>(std::max<std::size_t>(cfg_.ffn_rank, 1));
    const bool attn_drop = cfg_.attention_probs_dropout_prob > 0;
    ws_.emb_xhat.resize(ne, h);
    ws_.emb_ln.resize(ne, h);
    ws_.x0.resize(ne, h);
    ws_.emb_rstd.assign(static_cast<std::size_t>(ne), T(0));
    ws_.emask.assign(static_cast<std::size_t>(ne * h), 0);
    const bool pre_ln = cfg_.pre_layer_norm;
    ws_.fxhat.resize(pre_ln ? ne : 0, h);
    ws_.frstd.assign(pre_ln ? static_cast<std::size_t>(ne) : 0, T(0));
    ws_.du1.resize(pre_ln ? (pooled ? n + nk : n) : 0, h);
    ws_.xqk.resize(pooled ? n + nk : 0, h);
    ws_.dqk.resize(pooled ? n + nk : 0, h);
    ws_.demb.resize(pooled ? ne : 0, h);
    ws_.layers.resize(cfg_.num_hidden_layers);
    for (std::size_t l = 0; l < cfg_.num_hidden_layers; ++l) {
      auto& c = ws_.layers[l];
      const auto I = static_cast<index>(off_.layer[l].inter);
      for (mat* m : {&c.q, &c.ctx, &c.h1, &c.xhat1, &c.xhat2, &c.out}) m->resize(n, h);
      const index rows1 = pre_ln && pooled && l == 0 ? n + nk : n;  // pre-LN LN1 rows (see layer_cache)
      c.u1.resize(pre_ln ? rows1 : 0, h);
      c.u2.resize(pre_ln ? n : 0, h);
      if (pre_ln) c.xhat1.resize(rows1, h);
      c.k.resize(l == 0 ? nk : n, h);
      c.v.resize(l == 0 ? nk : n, h);
      const std::size_t lp = l == 0 ? pp0 : pp;
      c.f.resize(n, I);
      c.g.resize(n, I);
      if (off_.layer[l].factorized) {
        c.t1.resize(n, r);
        c.t2.resize(n, r);
      }
      c.rstd1.assign(static_cast<std::size_t>(pre_ln ? rows1 : n), T(0));
      c.rstd2.assign(static_cast<std::size_t>(n), T(0));
      c.probs.resize(lp);
      c.pmask.assign(attn_drop ? lp : 0, 0);
      c.amask.assign(static_cast<std::size_t>(n * h), 0);
      c.omask.assign(static_cast<std::size_t>(n * h), 0);
    }
    ws_.key_bias.assign(static_cast<std::size_t>(n), T(0));
    ws_.key_bias0.assign(static_cast<std::size_t>(nk), T(0));
    ws_.rows.reserve(static_cast<std::size_t>(ne));
    ws_.row_token.reserve(static_cast<std::size_t>(ne));
    ws_.row_label.reserve(static_cast<std::size_t>(ne));
    ws_.row_loss.assign(static_cast<std::size_t>(ne), 0.0);
    ws_.row_hit.assign(static_cast<std::size_t>(ne), 0);
    for (mat* m : {&ws_.hsel, &ws_.ht, &ws_.hxhat, &ws_.z, &ws_.hd}) m->resize(ne, h);
    ws_.logits.resize(ne, static_cast<index>(cfg_.vocab_size));
    ws_.hrstd.assign(static_cast<std::size_t>(ne), T(0));
    for (mat* m : {&ws_.dx, &ws_.dtmp, &ws_.dq, &ws_.dctx}) m->resize(n, h);
    ws_.dk.resize(nk, h);  // sk0 >= sq: layer 0 is the widest
    ws_.dv.resize(nk, h);
    ws_.dg.resize(n, imax);
    ws_.dt.resize(n, r);
    ws_.b = b;
    ws_.s = s;
    ws_.sq = sq;
    ws_.sk0 = sk0;
    ws_.pooled = pooled;
  }

  // Dropout sites: 0 = embeddings; layer l: 1+3l attention probs, 2+3l attention output, 3+3l FFN output.
  // A share of a global batch (slice_.row_offset > 0) offsets every mask index by its first row's index in
  // the global batch: row_offset x the elements per sequence of the masked tensor (S*H for the embeddings,
  // Sq*H for the branches, A*Sq*Sk_l for the probabilities), so it draws the global batch's masks.
  [[nodiscard]] detail::dropout<T> hidden_dropout(std::uint64_t site) const {
    auto d = detail::dropout<T>(cfg_.hidden_dropout_prob, seed_, site, train_);
    d.offset = static_cast<std::uint64_t>(slice_.row_offset) * (site == 0 ? ws_.s : ws_.sq) * cfg_.hidden_size;
    return d;
  }
  [[nodiscard]] detail::dropout<T> probs_dropout(std::size_t l) const {
    auto d = detail::dropout<T>(cfg_.attention_probs_dropout_prob, seed_, 1 + 3 * l, train_);
    d.offset = static_cast<std::uint64_t>(slice_.row_offset) * cfg_.num_attention_heads * ws_.sq * (l == 0 ? ws_.sk0 : ws_.sq);
    return d;
  }

  // y = x W^T + bias for a (out, in) weight at offset w.
  template <class X, class Y>
  void linear(const X& x, std::size_t w, std::size_t bias, std::size_t out, std::size_t in, Y&& y) const {
    detail::gemm<T, false, true>(y, x, W(w, out, in), false, T(1), P(bias));  // C starts as the bias
  }
  // Backward of y = x W^T (+ b): dW += dy^T x, db += colsum(dy); dx = dy W (or += when accumulate).
  template <class DY, class X, class DX>
  void linear_backward(const DY& dy, const X& x, std::size_t w, std::size_t bias, std::size_t out, std::size_t in,
                       DX&& dx, bool accumulate, bool has_bias = true) {
    detail::gemm<T, true, false>(dW(w, out, in), dy, x, true);
    if (has_bias) detail::add_column_sums<T>(dB(bias, out), dy);
    detail::gemm<T>(dx, dy, W(w, out, in), accumulate);
  }

  // ---------------------------------------------------------------------------------------------
  // Forward (train or eval) with pool size pool_size (unset: the config's). Fills the workspace caches
  // (backward reads them, pooled or not as this pass was), returns loss and accuracy.
  mlm_result forward(const model::mlm_batch& bt, bool train, std::uint64_t seed, std::vector<float>* logits_out,
                     std::optional<std::size_t> pool_size, bool head = true, const batch_slice& slice = {}) {
    using enum model::role;
    validate_batch(bt, cfg_);
    slice_ = slice;
    const std::size_t k = pool_size.value_or(cfg_.pool_size);
    if (k == 0) throw error("pool size", "at least 1", "0");
    const bool pooled = k > 1;
    if (pooled) {
      ws_.pool = make_pooled_layout(bt, k, slice.query_len, slice.key_len);
      prepare(bt.batch_size, bt.seq_len, ws_.pool.query_len, ws_.pool.key_len, true);
    } else {
      prepare(bt.batch_size, bt.seq_len, bt.seq_len, bt.seq_len, false);
    }
    train_ = train;
    seed_ = seed;
    const std::size_t S = bt.seq_len, N = bt.tokens(), H = cfg_.hidden_size;
    const T eps = static_cast<T>(cfg_.layer_norm_eps);

    // Embeddings: word + position + token type, LayerNorm, dropout.
    detail::parallel_rows(N, H * 3, [&](std::size_t n0, std::size_t n1) {
      for (std::size_t n = n0; n < n1; ++n) {
        const T* w = P(off_[word_embeddings]) + static_cast<std::size_t>(bt.input_ids[n]) * H;
        const T* p = P(off_[position_embeddings]) + (n % S) * H;
        const T* t = P(off_[token_type_embeddings]) + static_cast<std::size_t>(bt.token_type_ids[n]) * H;
        T* e = ws_.emb_ln.data() + n * H;
        for (std::size_t j = 0; j < H; ++j) e[j] = w[j] + p[j] + t[j];
      }
    });
    detail::layernorm_forward<T>(ws_.emb_ln, P(off_[embeddings_ln_weight]), P(off_[embeddings_ln_bias]), eps, ws_.emb_xhat, ws_.emb_rstd.data(),
                                 ws_.emb_ln);
    // x0 = dropout(emb_ln), the mask kept (one pass: the copy and the dropout together)
    hidden_dropout(0).apply(ws_.emb_ln.data(), ws_.x0.data(), ws_.emask.data(), N * H);

    constexpr T lowest = std::numeric_limits<T>::lowest();
    ws_.rows.clear();
    ws_.row_token.clear();
    ws_.row_label.clear();
    if (pooled) {
      // Layer 0's query rows [pooled ; targets] and key rows [stream ; targets] in one map application.
      const auto& pl = ws_.pool;
      const auto nqk = static_cast<std::size_t>(ws_.xqk.rows());
      growth::apply(tensor_map<2>::along({N, H}, 0, pl.gather),
                    tensor_view<const T, 2>(ws_.x0.data(), {N, H}), tensor_view<T, 2>(ws_.xqk.data(), {nqk, H}),
                    "pooled embeddings");
      for (std::size_t i = 0; i < pl.query_valid.size(); ++i) ws_.key_bias[i] = pl.query_valid[i] ? T(0) : lowest;
      for (std::size_t i = 0; i < pl.key_valid.size(); ++i) ws_.key_bias0[i] = pl.key_valid[i] ? T(0) : lowest;
      const auto nq = static_cast<index>(bt.batch_size * ws_.sq), nk = static_cast<index>(bt.batch_size * ws_.sk0);
      layer_forward(0, ws_.xqk.topRows(nq), ws_.xqk.bottomRows(nk));
      // MLM head rows: the target slots (also when logits are requested: nothing else has an output).
      for (std::size_t t = 0; t < pl.target_row.size(); ++t) {
        ws_.rows.push_back(pl.target_row[t]);
        ws_.row_token.push_back(pl.target_token[t]);
        ws_.row_label.push_back(bt.labels[pl.target_token[t]]);
      }
    } else {
      for (std::size_t n = 0; n < N; ++n) ws_.key_bias[n] = bt.attention_mask[n] ? T(0) : lowest;
      ws_.key_bias0 = ws_.key_bias;
      layer_forward(0, ws_.x0, ws_.x0);
      // MLM head rows: the targets (training / plain evaluation) or every position (logits requested).
      for (std::size_t n = 0; n < N; ++n) {
        if (head && (logits_out || bt.labels[n] != model::ignore_label)) {
          ws_.rows.push_back(n);
          ws_.row_token.push_back(n);
          ws_.row_label.push_back(bt.labels[n]);
        }
      }
    }
    for (std::size_t l = 1; l < cfg_.num_hidden_layers; ++l) layer_forward(l, ws_.layers[l - 1].out, ws_.layers[l - 1].out);

    if (!head) return {};
    auto r = head_forward(train);
    if (logits_out) {
      const std::size_t V = cfg_.vocab_size;
      logits_out->assign(N * V, 0.0f);
      const T* src = ws_.logits.data();  // head_forward keeps raw logits when not training
      for (std::size_t t = 0; t < ws_.row_token.size(); ++t)
        for (std::size_t i = 0; i < V; ++i) (*logits_out)[ws_.row_token[t] * V + i] = static_cast<float>(src[t * V + i]);
    }
    return r;
  }

  // Encoder layer l: queries (and the residual) from xq, keys and values from xkv (the same rows except in
  // layer 0 of a pooled model).
  void layer_forward(std::size_t l, detail::cref<T> xq, detail::cref<T> xkv) {
    using enum model::role;
    const auto& o = off_.layer[l];
    auto& c = ws_.layers[l];
    const std::size_t H = cfg_.hidden_size, I = o.inter, R = cfg_.ffn_rank, N = ws_.b * ws_.sq;
    const T eps = static_cast<T>(cfg_.layer_norm_eps);
    const bool pre = cfg_.pre_layer_norm;
    const auto in = static_cast<index>(N);

    // Pre-LN: u1 = LN1(x) on the query rows, and on the key rows when they differ (layer 0, pooled).
    const bool split_kv = l == 0 && ws_.pooled;
    if (pre) {
      detail::layernorm_forward<T>(xq, P(o[attention_ln_weight]), P(o[attention_ln_bias]), eps, c.xhat1.topRows(in), c.rstd1.data(),
                                   c.u1.topRows(in));
      if (split_kv) {
        const index nk = xkv.rows();
        detail::layernorm_forward<T>(xkv, P(o[attention_ln_weight]), P(o[attention_ln_bias]), eps, c.xhat1.bottomRows(nk),
                                     c.rstd1.data() + N, c.u1.bottomRows(nk));
      }
    }
    const detail::cref<T> qin = pre ? detail::cref<T>(c.u1.topRows(in)) : xq;
    const detail::cref<T> kvin = pre ? (split_kv ? detail::cref<T>(c.u1.bottomRows(xkv.rows())) : qin) : xkv;

    // Self-attention: q, k, v projections, then per (sequence, head) softmax(q k^T / sqrt(d) + mask) v.
    // One product when they read the same rows (x packed once for the three), else q, then k and v.
    if (qin.data() == kvin.data() && qin.rows() == kvin.rows()) {
      detail::linear_shared_input<T, 3>(qin, {P(o[query_weight]), P(o[key_weight]), P(o[value_weight])},
                                        {P(o[query_bias]), P(o[key_bias]), P(o[value_bias])}, {c.q, c.k, c.v});
    } else {
      linear(qin, o[query_weight], o[query_bias], H, H, c.q);
      detail::linear_shared_input<T, 2>(kvin, {P(o[key_weight]), P(o[value_weight])}, {P(o[key_bias]), P(o[value_bias])},
                                        {c.k, c.v});
    }
    attention_forward(l);

    // Attention output dense, dropout, residual; post-LN: LayerNorm (h1 = LN1(x + .)), pre-LN: u2 = LN2(h1).
    // (bias, dropout, residual and LayerNorm in one pass over the rows: detail::residual_layernorm_forward)
    detail::gemm<T, false, true>(c.h1, c.ctx, W(o[attention_output_weight], H, H));
    if (pre)
      detail::residual_layernorm_forward<T>(c.h1, P(o[attention_output_bias]), hidden_dropout(2 + 3 * l), c.amask.data(), xq, P(o[output_ln_weight]),
                                            P(o[output_ln_bias]), eps, c.xhat2, c.rstd2.data(), c.u2);
    else
      detail::residual_layernorm_forward<T>(c.h1, P(o[attention_output_bias]), hidden_dropout(2 + 3 * l), c.amask.data(), xq, P(o[attention_ln_weight]),
                                            P(o[attention_ln_bias]), eps, c.xhat1, c.rstd1.data(), c.h1);
    const mat& fin = pre ? c.u2 : c.h1;  // the FFN's input

    // FFN: dense (or factorised U V), GELU, dense (or U V), dropout, residual, post-LN: LayerNorm.
    if (o.factorized) {
      detail::gemm<T, false, true>(c.t1, fin, W(o[intermediate_weight_v], R, H));
      detail::gemm<T, false, true>(c.f, c.t1, W(o[intermediate_weight_u], I, R));
    } else {
      detail::gemm<T, false, true>(c.f, fin, W(o[intermediate_weight], I, H));
    }
    // f += b1, g = GELU(f) in one pass; a training forward then keeps GELU'(f) in f for the backward
    detail::bias_gelu_forward<T>(c.f, P(o[intermediate_bias]), c.g, train_);
    if (o.factorized) {
      detail::gemm<T, false, true>(c.t2, c.g, W(o[output_weight_v], R, I));
      detail::gemm<T, false, true>(c.out, c.t2, W(o[output_weight_u], H, R));
    } else {
      detail::gemm<T, false, true>(c.out, c.g, W(o[output_weight], H, I));
    }
    // Bias, dropout, residual and (post-LN) LayerNorm in one pass; pre-LN has no LayerNorm here.
    detail::residual_layernorm_forward<T>(c.out, P(o[output_bias]), hidden_dropout(3 + 3 * l), c.omask.data(), c.h1,
                                          pre ? nullptr : P(o[output_ln_weight]), P(o[output_ln_bias]), eps, c.xhat2, c.rstd2.data(), c.out);
  }

  // Per (sequence, head): Sq query rows attend over Sk key rows (Sq = Sk = S without pooling).
  void attention_forward(std::size_t l) {
    auto& c = ws_.layers[l];
    const std::size_t A = cfg_.num_attention_heads, d = cfg_.head_dim(), Sq = ws_.sq, Bn = ws_.b;
    const std::size_t Sk = l == 0 ? ws_.sk0 : ws_.sq;
    const T* key_bias = l == 0 ? ws_.key_bias0.data() : ws_.key_bias.data();
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    const auto drop = probs_dropout(l);
    const auto is = static_cast<index>(Sq), ik = static_cast<index>(Sk), id = static_cast<index>(d);
    const auto pairs = static_cast<std::ptrdiff_t>(Bn * A);
    detail::parallel_for(pairs, Sq * Sk * d > 4096, [&](std::ptrdiff_t bh) {
      const std::size_t b = static_cast<std::size_t>(bh) / A, h = static_cast<std::size_t>(bh) % A;
      const index r0 = static_cast<index>(b * Sq), k0 = static_cast<index>(b * Sk), c0 = static_cast<index>(h * d);
      const std::size_t base = static_cast<std::size_t>(bh) * Sq * Sk;
      map p(c.probs.data() + base, is, ik);
      detail::gemm<T, false, true>(p, c.q.block(r0, c0, is, id), c.k.block(k0, c0, ik, id), false, scale);
      // Mask, softmax and the probabilities' dropout row by row, while the row is in L1 (the scale
      // 1/sqrt(d) is the product's alpha). The dropped probabilities go to this thread's scratch.
      T* pd = detail::dropped_scratch(drop, Sq * Sk);  // [Sq, Sk]
      for (index i = 0; i < is; ++i) {
        const std::size_t at = base + static_cast<std::size_t>(i) * Sk;
        detail::softmax_dropout_row<T>(p.row(i).data(), Sk, drop, at, drop.active ? c.pmask.data() + at : nullptr,
                                       drop.active ? pd + static_cast<std::size_t>(i) * Sk : nullptr, key_bias + b * Sk);
      }
      detail::gemm<T>(c.ctx.block(r0, c0, is, id), cmap(drop.active ? pd : p.data(), is, ik), c.v.block(k0, c0, ik, id));
    });
  }

  mlm_result head_forward(bool train) {
    using enum model::role;
    const std::size_t H = cfg_.hidden_size, V = cfg_.vocab_size, M = ws_.rows.size();
    const mat& xl = ws_.layers.back().out;
    mlm_result res;
    if (M == 0) return res;
    const auto im = static_cast<index>(M);
    for (std::size_t t = 0; t < M; ++t) ws_.hsel.row(static_cast<index>(t)) = xl.row(static_cast<index>(ws_.rows[t]));
    auto hsel = ws_.hsel.topRows(im);
    // Pre-LN: the final LayerNorm, in place on the head rows.
    if (cfg_.pre_layer_norm)
      detail::layernorm_forward<T>(hsel, P(off_[encoder_final_ln_weight]), P(off_[encoder_final_ln_bias]), static_cast<T>(cfg_.layer_norm_eps),
                                   ws_.fxhat.topRows(im), ws_.frstd.data(), hsel);
    auto ht = ws_.ht.topRows(im);
    auto z = ws_.z.topRows(im);
    auto lg = ws_.logits.topRows(im);
    linear(hsel, off_[head_dense_weight], off_[head_dense_bias], H, H, ht);
    detail::gelu_forward<T>(ht, z);
    detail::layernorm_forward<T>(z, P(off_[head_ln_weight]), P(off_[head_ln_bias]), static_cast<T>(cfg_.layer_norm_eps),
                                 ws_.hxhat.topRows(im), ws_.hrstd.data(), z);
    linear(z, off_[word_embeddings], off_[head_output_bias], V, H, lg);

    // Cross-entropy per target row; in training the row becomes dloss/dlogits = (softmax - onehot) / targets.
    std::size_t targets = 0;
    for (auto y : ws_.row_label) targets += y != model::ignore_label ? 1 : 0;
    const std::size_t norm = slice_.global_targets ? slice_.global_targets : targets;  // the global batch's mean
    const T inv_targets = norm ? T(1) / static_cast<T>(norm) : T(0);
    detail::parallel_rows(M, V * 4, [&](std::size_t t0, std::size_t t1) {
      for (std::size_t t = t0; t < t1; ++t) {
        const std::int32_t y = ws_.row_label[t];
        auto row = lg.row(static_cast<index>(t));
        if (y == model::ignore_label) {
          ws_.row_loss[t] = 0;
          ws_.row_hit[t] = 0;
          if (train) row.setZero();
          continue;
        }
        index arg = 0;
        ws_.row_loss[t] = detail::cross_entropy_row<T>(row.data(), V, y, inv_targets, train, &arg);
        ws_.row_hit[t] = arg == y ? 1 : 0;
      }
    });
    double loss = 0;
    std::size_t hits = 0;
    for (std::size_t t = 0; t < M; ++t) {
      loss += ws_.row_loss[t];
      hits += ws_.row_hit[t];
    }
    res.targets = targets;
    if (targets) {
      res.loss = loss / static_cast<double>(targets);
      res.accuracy = static_cast<double>(hits) / static_cast<double>(targets);
    }
    return res;
  }

  // ---------------------------------------------------------------------------------------------
  // Backward, the forward read bottom to top. Gradients are overwritten.
  void backward(const model::mlm_batch& bt) {
    using enum model::role;
    detail::set_zero(grads_.data(), grads_.size());
    const std::size_t H = cfg_.hidden_size, V = cfg_.vocab_size;
    const std::size_t M = ws_.rows.size();
    detail::set_zero(ws_.dx.data(), static_cast<std::size_t>(ws_.dx.size()));

    if (M > 0) {
      const auto im = static_cast<index>(M);
      auto dl = ws_.logits.topRows(im);
      auto z = ws_.z.topRows(im);
      auto hd = ws_.hd.topRows(im);
      // Decoder (tied to word embeddings) + output bias.
      linear_backward(dl, z, off_[word_embeddings], off_[head_output_bias], V, H, hd, false);
      // Head LayerNorm, GELU, dense.
      detail::layernorm_backward<T>(hd, ws_.hxhat.topRows(im), ws_.hrstd.data(), P(off_[head_ln_weight]), G(off_[head_ln_weight]),
                                    G(off_[head_ln_bias]), hd);
      detail::gelu_backward<T>(ws_.ht.topRows(im), hd);
      auto dsel = ws_.ht.topRows(im);  // ht is no longer needed: reuse it for d(hsel)
      linear_backward(hd, ws_.hsel.topRows(im), off_[head_dense_weight], off_[head_dense_bias], H, H, dsel, false);
      if (cfg_.pre_layer_norm)
        detail::layernorm_backward<T>(dsel, ws_.fxhat.topRows(im), ws_.frstd.data(), P(off_[encoder_final_ln_weight]), G(off_[encoder_final_ln_weight]),
                                      G(off_[encoder_final_ln_bias]), dsel);
      for (std::size_t t = 0; t < M; ++t) ws_.dx.row(static_cast<index>(ws_.rows[t])) += dsel.row(static_cast<index>(t));
    }
    backward_encoder(bt);
  }

  // The encoder's part of backward: on entry ws_.dx = dloss/d(last layer output); gradients accumulate.
  void backward_encoder(const model::mlm_batch& bt) {
    using enum model::role;
    // The FFN caches GELU'(f) only in a training forward (bias_gelu_forward).
    if (!train_) throw error("backward", "a training forward first", "an evaluation forward");
    const std::size_t H = cfg_.hidden_size, N = bt.tokens(), S = bt.seq_len;
    for (std::size_t l = cfg_.num_hidden_layers; l-- > 1;) layer_backward(l, ws_.layers[l - 1].out, ws_.layers[l - 1].out);
    mat* demb = &ws_.dx;
    if (ws_.pooled) {
      // Layer 0 gives d(query rows) in dx and d(key rows) in the bottom of dqk; the transposed gather
      // map sums them back onto the embedded tokens.
      const auto nq = static_cast<index>(ws_.b * ws_.sq), nk = static_cast<index>(ws_.b * ws_.sk0);
      layer_backward(0, ws_.xqk.topRows(nq), ws_.xqk.bottomRows(nk), ws_.dqk.bottomRows(nk), false);
      ws_.dqk.topRows(nq) = ws_.dx;
      const auto nqk = static_cast<std::size_t>(ws_.dqk.rows());
      growth::apply(tensor_map<2>::along({nqk, H}, 0, ws_.pool.scatter),
                    tensor_view<const T, 2>(ws_.dqk.data(), {nqk, H}), tensor_view<T, 2>(ws_.demb.data(), {N, H}),
                    "pooled embedding gradient");
      demb = &ws_.demb;
    } else {
      layer_backward(0, ws_.x0, ws_.x0, ws_.dx, true);
    }

    // Embeddings: dropout, LayerNorm, then scatter-add into the three tables (fixed order).
    hidden_dropout(0).backward(demb->data(), ws_.emask.data(), N * H);
    detail::layernorm_backward<T>(*demb, ws_.emb_xhat, ws_.emb_rstd.data(), P(off_[embeddings_ln_weight]), G(off_[embeddings_ln_weight]),
                                  G(off_[embeddings_ln_bias]), *demb);
    // The threads take slabs of columns, each adding every row in order: no two threads touch one entry.
    detail::parallel_rows(H, N * 3, [&](std::size_t j0, std::size_t j1) {
      for (std::size_t n = 0; n < N; ++n) {
        const T* de = demb->data() + n * H;
        const auto id = static_cast<std::size_t>(bt.input_ids[n]);
        T* gw = G(off_[word_embeddings]) + id * H;
        T* gp = G(off_[position_embeddings]) + (n % S) * H;
        T* gt = G(off_[token_type_embeddings]) + static_cast<std::size_t>(bt.token_type_ids[n]) * H;
        const bool to_word = id != cfg_.pad_token_id;  // nn.Embedding(padding_idx): no gradient to the pad row
        for (std::size_t j = j0; j < j1; ++j) {
          if (to_word) gw[j] += de[j];
          gp[j] += de[j];
          gt[j] += de[j];
        }
      }
    });
  }

  // On entry ws_.dx = dloss/d(layer output); on exit dloss/d(xq), plus d(xkv) in dxkv: accumulated into
  // dx when shared_kv (xq and xkv are the same rows), else written to dxkv.
  void layer_backward(std::size_t l, detail::cref<T> xq, detail::cref<T> xkv) {
    layer_backward(l, xq, xkv, ws_.dx, true);
  }
  template <class DXKV>
  void layer_backward(std::size_t l, detail::cref<T> xq, detail::cref<T> xkv, DXKV&& dxkv, bool shared_kv) {
    using enum model::role;
    const auto& o = off_.layer[l];
    auto& c = ws_.layers[l];
    const std::size_t H = cfg_.hidden_size, I = o.inter, R = cfg_.ffn_rank, N = ws_.b * ws_.sq;
    const auto in = static_cast<index>(N);
    auto& dx = ws_.dx;
    auto& dtmp = ws_.dtmp;
    auto dg = ws_.dg.leftCols(static_cast<index>(I));
    const bool pre = cfg_.pre_layer_norm;
    const mat& fin = pre ? c.u2 : c.h1;  // the FFN's input

    // Post-LN: output LayerNorm (in place). Both: the residual keeps dx as (part of) d(h1) and dropout gives
    // d(FFN out).
    // (LayerNorm backward, the copy into dtmp and dropout's backward in one pass over the rows)
    if (!pre)
      detail::layernorm_backward_branch<T>(dx, c.xhat2, c.rstd2.data(), P(o[output_ln_weight]), G(o[output_ln_weight]), G(o[output_ln_bias]), dx,
                                           hidden_dropout(3 + 3 * l), c.omask.data(), dtmp);
    else
      detail::dropout_branch<T>(dx, hidden_dropout(3 + 3 * l), c.omask.data(), dtmp);
    if (o.factorized) {
      auto dt = ws_.dt.topRows(in);
      linear_backward(dtmp, c.t2, o[output_weight_u], o[output_bias], H, R, dt, false);
      linear_backward(dt, c.g, o[output_weight_v], 0, R, I, dg, false, false);
    } else {
      linear_backward(dtmp, c.g, o[output_weight], o[output_bias], H, I, dg, false);
    }
    // f holds GELU'(f) (a training forward came first); the intermediate bias gradient is gathered here.
    detail::gelu_backward_cached<T>(c.f, dg, G(o[intermediate_bias]));
    // d(FFN input): post-LN adds it to dx = d(h1); pre-LN writes d(u2) to dtmp, then d(h1) = dx + LN2'(d(u2)).
    auto& dfin = pre ? dtmp : dx;
    if (o.factorized) {
      auto dt = ws_.dt.topRows(in);
      linear_backward(dg, c.t1, o[intermediate_weight_u], 0, I, R, dt, false, false);
      linear_backward(dt, fin, o[intermediate_weight_v], 0, R, H, dfin, !pre, false);
    } else {
      linear_backward(dg, fin, o[intermediate_weight], 0, I, H, dfin, !pre, false);
    }
    if (pre) {
      detail::layernorm_backward<T>(dtmp, c.xhat2, c.rstd2.data(), P(o[output_ln_weight]), G(o[output_ln_weight]), G(o[output_ln_bias]), dtmp);
      dx += dtmp;
    }

    // Post-LN: attention LayerNorm. Both: residual (dx stays as d(xin) so far), dropout, output dense.
    if (!pre)
      detail::layernorm_backward_branch<T>(dx, c.xhat1, c.rstd1.data(), P(o[attention_ln_weight]), G(o[attention_ln_weight]), G(o[attention_ln_bias]), dx,
                                           hidden_dropout(2 + 3 * l), c.amask.data(), dtmp);
    else
      detail::dropout_branch<T>(dx, hidden_dropout(2 + 3 * l), c.amask.data(), dtmp);
    linear_backward(dtmp, c.ctx, o[attention_output_weight], o[attention_output_bias], H, H, ws_.dctx, false);

    attention_backward(l);
    const auto nk = static_cast<index>(ws_.b * (l == 0 ? ws_.sk0 : ws_.sq));
    if (pre) {
      // Pre-LN: Q/K/V read u1 = LN1(x): d(u1) into du1 (query rows, then the key rows when not shared),
      // through LN1, then d(x) = dx + LN1'(d(u1)) (and d(xkv) = LN1'(d(u1 key rows)) when not shared).
      auto du1q = ws_.du1.topRows(in);
      const auto u1q = c.u1.topRows(in);
      linear_backward(ws_.dq, u1q, o[query_weight], o[query_bias], H, H, du1q, false);
      if (shared_kv) {
        linear_backward(ws_.dk.topRows(nk), u1q, o[key_weight], o[key_bias], H, H, du1q, true);
        linear_backward(ws_.dv.topRows(nk), u1q, o[value_weight], o[value_bias], H, H, du1q, true);
      } else {
        auto du1k = ws_.du1.middleRows(in, nk);
        const auto u1k = c.u1.middleRows(in, nk);
        linear_backward(ws_.dk.topRows(nk), u1k, o[key_weight], o[key_bias], H, H, du1k, false);
        linear_backward(ws_.dv.topRows(nk), u1k, o[value_weight], o[value_bias], H, H, du1k, true);
        detail::layernorm_backward<T>(du1k, c.xhat1.middleRows(in, nk), c.rstd1.data() + N, P(o[attention_ln_weight]), G(o[attention_ln_weight]),
                                      G(o[attention_ln_bias]), du1k);
        dxkv = du1k;
      }
      detail::layernorm_backward<T>(du1q, c.xhat1.topRows(in), c.rstd1.data(), P(o[attention_ln_weight]), G(o[attention_ln_weight]), G(o[attention_ln_bias]),
                                    du1q);
      dx += du1q;
      return;
    }
    linear_backward(ws_.dq, xq, o[query_weight], o[query_bias], H, H, dx, true);
    if (shared_kv) {
      linear_backward(ws_.dk.topRows(nk), xkv, o[key_weight], o[key_bias], H, H, dx, true);
      linear_backward(ws_.dv.topRows(nk), xkv, o[value_weight], o[value_bias], H, H, dx, true);
    } else {
      linear_backward(ws_.dk.topRows(nk), xkv, o[key_weight], o[key_bias], H, H, dxkv, false);
      linear_backward(ws_.dv.topRows(nk), xkv, o[value_weight], o[value_bias], H, H, dxkv, true);
    }
  }

  // d(ctx) -> d(q), d(k), d(v): dPd = dctx v^T, dv = Pd^T dctx, dP = dropout'(dPd),
  // dS = P * (dP - rowsum(dP * P)), dq = dS k / sqrt(d), dk = dS^T q / sqrt(d).
  void attention_backward(std::size_t l) {
    auto& c = ws_.layers[l];
    const std::size_t A = cfg_.num_attention_heads, d = cfg_.head_dim(), Sq = ws_.sq, Bn = ws_.b;
    const std::size_t Sk = l == 0 ? ws_.sk0 : ws_.sq;
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    const auto drop = probs_dropout(l);
    const auto is = static_cast<index>(Sq), ik = static_cast<index>(Sk), id = static_cast<index>(d);
    const auto pairs = static_cast<std::ptrdiff_t>(Bn * A);
    detail::parallel_for(pairs, Sq * Sk * d > 4096, [&](std::ptrdiff_t bh) {
      const std::size_t b = static_cast<std::size_t>(bh) / A, h = static_cast<std::size_t>(bh) % A;
      const index r0 = static_cast<index>(b * Sq), k0 = static_cast<index>(b * Sk), c0 = static_cast<index>(h * d);
      const std::size_t base = static_cast<std::size_t>(bh) * Sq * Sk;
      cmap p(c.probs.data() + base, is, ik);
      // The dropped probabilities drawn again, and d(probabilities): this thread's scratch, [Sq, Sk] each.
      cmap pd(detail::redraw_dropped(p.data(), drop, drop.active ? c.pmask.data() + base : nullptr, Sq * Sk), is, ik);
      map dp(detail::thread_buffer<T, detail::scratch::attention_grad>(Sq * Sk), is, ik);
      auto dctx = ws_.dctx.block(r0, c0, is, id);
      detail::gemm<T, false, true>(dp, dctx, c.v.block(k0, c0, ik, id));
      detail::gemm<T, true, false>(ws_.dv.block(k0, c0, ik, id), pd, dctx);
      for (index i = 0; i < is; ++i) {
        const std::size_t at = static_cast<std::size_t>(i) * Sk;
        detail::softmax_dropout_backward_row<T>(p.row(i).data(), dp.row(i).data(), Sk, drop,
                                                drop.active ? c.pmask.data() + base + at : nullptr, scale);
      }
      detail::gemm<T>(ws_.dq.block(r0, c0, is, id), dp, c.k.block(k0, c0, ik, id));
      detail::gemm<T, true, false>(ws_.dk.block(k0, c0, ik, id), dp, c.q.block(r0, c0, is, id));
    });
  }

  model::bert_config cfg_;
  flat_layout layout_;
  offsets off_;
  aligned_buffer<T> params_;  // [P] every parameter, flat_layout order (P = layout_.total)
  aligned_buffer<T> grads_;   // [P] their gradients, the same layout
  workspace ws_;
  bool train_ = false;
  std::uint64_t seed_ = 0;
  batch_slice slice_{};  // the current pass's place in a global batch (forward sets it)
};

}  // namespace growth::reference
