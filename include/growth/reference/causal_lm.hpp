#pragma once
/// @file causal_lm.hpp
/// growth::reference::causal_lm<T>: a CPU decoder-only causal language model in the two families of
/// model/decoder_config.hpp (Hugging Face LlamaForCausalLM and GPT2LMHeadModel), with forward, hand-written
/// backward and next-token loss, in Eigen. It is the oracle that proves the growth operators on decoders as
/// reference::bert does on BERT: parameters carry the HF names and storage layout of the layout table
/// (model/decoder_layout.hpp), in that order, in one flat buffer (flat_buffer.hpp).
///
/// Layout of a step, llm.c style as in bert.hpp: forward caches what backward needs, layer by layer; backward
/// walks the same code in reverse. Activations for a (batch, seq) shape are allocated on the first step with
/// that shape and reused afterwards (the workspace below: a shape on every buffer).
///
/// The model, for N = B x S token rows (row n is position s = n % S of sequence b = n / S):
///   LLaMA:  x_0 = embed_tokens[id]
///   GPT-2:  x_0 = Dropout_embd(wte[id] + wpe[s])
///   layer l (pre-norm in both):
///     u1 = Norm1(x);  q, k, v = projections of u1;  a = x + Dropout_resid(Out(Attn(q, k, v)))
///     u2 = Norm2(a);  y = a + Dropout_resid(FFN(u2))
///   logits = Norm_f(x_L) E^T, E = the token embeddings (tied) or lm_head.weight (untied); no bias.
/// Per family:
///   - LLaMA: Norm = RMSNorm, w * x / sqrt(mean(x^2) + eps) (no bias); q = u1 Wq^T (+ bq), k and v likewise
///     with num_key_value_heads heads; rotary embeddings on q and k (decoder_kernels.hpp, positions 0..S-1);
///     grouped-query attention: query head h reads key/value head h / (num_heads / num_kv_heads) (HF
///     repeat_kv); Out = o_proj (+ bias); FFN = down(silu(gate u2) * up u2) (+ biases with mlp_bias).
///     Only attention dropout exists (config attention_dropout).
///   - GPT-2: Norm = LayerNorm (gain, bias); c_attn is a Conv1D, [q ; k ; v] = u1 W + b with W stored
///     in x out (the transpose of a Linear), and likewise c_proj, c_fc, mlp.c_proj; FFN = c_proj(gelu_new(
///     c_fc u2)); lm_head tied to wte.
///   - Attn (both): per head softmax(q k^T / sqrt(head_dim) + mask) v, where the mask adds lowest(T) (HF adds
///     finfo.min) to the scores of keys after the query (causal) and of padded keys (attention_mask 0), then
///     dropout on the probabilities (inverted, counter-based: kernels.hpp).
///   - loss: position s of a row predicts labels[b, s + 1] (labels unshifted, HF's convention; -100 not
///     scored); the mean cross-entropy over the scored targets. The head is computed only for scored rows
///     during training (rows without a target do not touch the loss: exact, and cheaper), for every row
///     when logits are asked for.
///   - LLaMA with pad_token_id: embed_tokens is nn.Embedding(padding_idx = pad_token_id), so the lookup gives
///     its pad row no gradient (the tied head still does) and init zeroes it.
/// Dropout sites (seeded per step): 0 embeddings; layer l: 1 + 3l attention probabilities, 2 + 3l attention
/// output, 3 + 3l FFN output.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/batch.hpp"
#include "../model/decoder_config.hpp"
#include "../model/decoder_layout.hpp"
#include "../model/layout.hpp"
#include "../model/parameter_set.hpp"
#include "decoder_kernels.hpp"
#include "flat_buffer.hpp"
#include "kernels.hpp"

namespace growth::reference {

/// Mean next-token cross-entropy over the scored targets, and their count.
struct clm_result {
  double loss = 0;
  std::size_t targets = 0;
};

/// Throws growth::error naming the field and the first bad entry when batch b does not fit config c: a
/// non-empty B x S shape, S <= max_position_embeddings where there is a position table (GPT-2), three B x S
/// fields, ids and labels below the vocabulary size (labels may be -100), a mask of 0 and 1 that is right
/// padding (in each row, no 1 after a 0).
inline void validate_batch(const model::clm_batch& b, const model::decoder_config& c) {
  const std::size_t n = b.tokens();
  if (n == 0)
    throw error("batch", "batch_size > 0 and seq_len > 0", std::to_string(b.batch_size) + " x " + std::to_string(b.seq_len));
  if (c.has_position_table() && b.seq_len > c.max_position_embeddings)
    throw error("batch seq_len", "<= n_positions " + std::to_string(c.max_position_embeddings), std::to_string(b.seq_len));
  auto sized = [&](const std::vector<std::int32_t>& v, const char* name) {
    if (v.size() != n)
      throw error(std::string("batch ") + name, std::to_string(n) + " entries (B x S)", std::to_string(v.size()));
  };
  sized(b.input_ids, "input_ids");
  sized(b.attention_mask, "attention_mask");
  sized(b.labels, "labels");
  auto in_range = [&](const std::vector<std::int32_t>& v, const char* name, std::int64_t hi, bool allow_ignore) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t x = v[i];
      if ((x < 0 || x >= hi) && !(allow_ignore && x == model::ignore_label))
        throw error(std::string("batch ") + name + "[" + std::to_string(i) + "]",
                    "in [0, " + std::to_string(hi) + ")" + (allow_ignore ? " or -100" : ""), std::to_string(x));
    }
  };
  in_range(b.input_ids, "input_ids", static_cast<std::int64_t>(c.vocab_size), false);
  in_range(b.attention_mask, "attention_mask", 2, false);
  in_range(b.labels, "labels", static_cast<std::int64_t>(c.vocab_size), true);
  for (std::size_t r = 0; r < b.batch_size; ++r)
    for (std::size_t s = 1; s < b.seq_len; ++s)
      if (b.attention_mask[r * b.seq_len + s] && !b.attention_mask[r * b.seq_len + s - 1])
        throw error("batch attention_mask[" + std::to_string(r * b.seq_len + s) + "]", "right padding (no 1 after a 0 in a row)",
                    "1 after 0");
}

template <class T>
class causal_lm {
  static_assert(std::is_floating_point_v<T>, "causal_lm<T> needs float or double");
  using mat = detail::mat<T>;
  using cmap = detail::cmap<T>;
  using map = detail::map<T>;
  using cvmap = detail::cvmap<T>;
  using vmap = detail::vmap<T>;
  using index = Eigen::Index;

 public:
  using scalar = T;

  explicit causal_lm(const model::decoder_config& c) : cfg_(c) {
    cfg_.validate();
    layout_ = flat_layout(cfg_);
    params_.resize(layout_.total);
    grads_.resize(layout_.total);
    locate();
  }

  /// HF _init_weights per family: linear / Conv1D weights and embeddings N(0, initializer_range), biases 0,
  /// norm gains 1 (and LayerNorm biases 0); GPT-2 draws its c_proj weights (attn.c_proj, mlp.c_proj) from
  /// N(0, initializer_range / sqrt(2 n_layer)) as GPT2PreTrainedModel does; LLaMA zeroes the pad_token_id
  /// row of embed_tokens (nn.Embedding padding_idx). Parameter i draws from the counter-based stream
  /// (seed, i), so its values depend on nothing else.
  void init(std::uint64_t seed) {
    const double sd = cfg_.initializer_range;
    const double proj_sd = sd / std::sqrt(2.0 * static_cast<double>(cfg_.num_hidden_layers));
    for (std::size_t i = 0; i < layout_.specs.size(); ++i) {
      const auto& s = layout_.specs[i];
      T* p = params_.data() + layout_.offsets[i];
      const std::size_t n = s.numel();
      if (s.kind == model::param_kind::ln_gain) {
        std::fill(p, p + n, T(1));
      } else if (s.kind == model::param_kind::ln_bias || s.kind == model::param_kind::bias) {
        std::fill(p, p + n, T(0));
      } else {
        const bool c_proj = cfg_.is_gpt2() && (s.r == model::role::attention_output_weight || s.r == model::role::output_weight);
        const double spread = c_proj ? proj_sd : sd;
        rng r(seed, i);
        for (std::size_t j = 0; j < n; ++j) p[j] = static_cast<T>(r.normal() * spread);
      }
      if (s.r == model::role::word_embeddings && pad_row())
        std::fill(p + *cfg_.pad_token_id * cfg_.hidden_size, p + (*cfg_.pad_token_id + 1) * cfg_.hidden_size, T(0));
    }
  }

  [[nodiscard]] const model::decoder_config& config() const { return cfg_; }
  [[nodiscard]] const flat_layout& layout() const { return layout_; }
  [[nodiscard]] std::span<T> flat_params() { return params_.span(); }
  [[nodiscard]] std::span<const T> flat_params() const { return params_.span(); }
  [[nodiscard]] std::span<T> flat_grads() { return grads_.span(); }
  [[nodiscard]] std::span<const T> flat_grads() const { return grads_.span(); }
  /// Named views (HF names, decoder_parameters order) into the parameter / gradient buffers.
  [[nodiscard]] model::parameter_set<T> parameters() { return layout_.views(params_.data()); }
  [[nodiscard]] model::parameter_set<T> gradients() { return layout_.views(grads_.data()); }

  /// Training step's forward and backward (dropout on, seeded): sets the gradients (overwrites them).
  clm_result forward_backward(const model::clm_batch& b, std::uint64_t dropout_seed) {
    auto r = forward(b, true, dropout_seed, nullptr);
    backward(b);
    return r;
  }
  /// Training-mode forward only (the same dropout masks as forward_backward with this seed), no gradients.
  clm_result forward_train(const model::clm_batch& b, std::uint64_t dropout_seed) { return forward(b, true, dropout_seed, nullptr); }
  /// Evaluation: dropout off, no gradients. If logits is given it receives B x S x V logits (row-major,
  /// float) of every position, as HF computes them.
  clm_result evaluate(const model::clm_batch& b, std::vector<float>* logits = nullptr) { return forward(b, false, 0, logits); }

 private:
  static constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();  // an optional bias not in the table

  // ---------------------------------------------------------------------------------------------
  // Where each parameter lives in the flat buffers: one offset per role, bound from the layout table (a
  // layer's roles per layer, the rest once); roles the table does not list stay `absent`.
  struct role_offsets : model::per_role<std::size_t> {
    role_offsets() { this->at.fill(absent); }
  };
  struct offsets : role_offsets {
    std::vector<role_offsets> layer;
  };

  void locate() {
    off_.layer.assign(cfg_.num_hidden_layers, role_offsets{});
    layout_.bind(off_, off_.layer);
  }
  [[nodiscard]] bool pad_row() const { return !cfg_.is_gpt2() && cfg_.pad_token_id.has_value(); }
  [[nodiscard]] std::size_t head_offset() const {
    return cfg_.tie_word_embeddings ? off_[model::role::word_embeddings] : off_[model::role::lm_head_weight];
  }

  [[nodiscard]] cmap W(std::size_t o, std::size_t rows, std::size_t cols) const {
    return cmap(params_.data() + o, static_cast<index>(rows), static_cast<index>(cols));
  }
  [[nodiscard]] map dW(std::size_t o, std::size_t rows, std::size_t cols) {
    return map(grads_.data() + o, static_cast<index>(rows), static_cast<index>(cols));
  }
  [[nodiscard]] const T* P(std::size_t o) const { return o == absent ? nullptr : params_.data() + o; }
  [[nodiscard]] T* G(std::size_t o) { return o == absent ? nullptr : grads_.data() + o; }

  // ---------------------------------------------------------------------------------------------
  // Workspace, sized once per (batch, seq). Shapes: N = B*S token rows, H hidden, A = num_heads x head_dim
  // (query width), K = num_kv_heads x head_dim (key / value width), Q = A + 2K, I intermediate, V vocabulary,
  // nh query heads. The head reads M <= N rows (the scored rows, or all when logits are asked for); its
  // buffers have N rows and use the top M. xhat / rstd are a norm's caches: LayerNorm's normalised input and
  // 1/sigma, or RMSNorm's x * rstd and rstd.
  struct layer_cache {
    mat xhat1;             // [N, H] Norm1's cache
    std::vector<T> rstd1;  // [N]
    mat u1;                // [N, H] Norm1(x)
    mat qkv;               // [N, Q] [q ; k ; v], q and k after the rotary embedding (LLaMA)
    mat ctx;               // [N, A] attention output per head, heads side by side (before Out)
    mat h1;                // [N, H] x + attention branch
    mat xhat2;             // [N, H] Norm2's cache
    std::vector<T> rstd2;  // [N]
    mat u2;                // [N, H] Norm2(h1)
    mat f;                 // [N, I] LLaMA: gate_proj u2 (+ b); GPT-2: c_fc u2 + b
    mat up;                // [N, I] LLaMA: up_proj u2 (+ b); GPT-2: empty
    mat g;                 // [N, I] LLaMA: silu(f) * up; GPT-2: gelu_new(f)
    mat out;               // [N, H] layer output
    aligned_buffer<T> probs;          // [B*nh*S*S] softmax(q k^T / sqrt(d) + mask), (b, head) blocks
    std::vector<std::uint8_t> pmask;  // [B*nh*S*S] attention-probability dropout mask (attention dropout on only)
    std::vector<std::uint8_t> amask;  // [N*H] attention-output dropout mask (residual dropout on only)
    std::vector<std::uint8_t> omask;  // [N*H] FFN-output dropout mask (residual dropout on only)
  };
  struct workspace {
    std::size_t b = 0, s = 0;
    mat x0;                              // [N, H] embeddings (after dropout)
    std::vector<std::uint8_t> emask;     // [N*H] embedding dropout mask (GPT-2, embedding dropout on only)
    std::vector<T> key_bias;             // [N] 0 for a real token, lowest(T) for padding (as a key)
    detail::rotary_table<T> rope;        // [S x head_dim/2] cos / sin (LLaMA)
    std::vector<layer_cache> layers;
    std::vector<std::size_t> rows;       // [M] head rows (token index n)
    std::vector<std::int32_t> row_label; // [M] the label each head row is scored against (labels[n + 1] or -100)
    std::vector<double> row_loss;        // [N] per-row cross-entropy
    mat hsel;                            // [N, H] the head rows of the last layer's output
    mat fxhat;                           // [N, H] Norm_f's cache on the head rows
    std::vector<T> frstd;                // [N]
    mat z;                               // [N, H] Norm_f(hsel)
    mat logits;                          // [N, V] head logits; in training overwritten by dloss/dlogits
    mat dx, dtmp, du;                    // [N, H] d(residual stream), d(branch output), d(norm output)
    mat dqkv;                            // [N, Q]
    mat dctx;                            // [N, A]
    mat df, dup;                         // [N, I] d(f), d(up) (LLaMA) / d(f) (GPT-2)
  };

  void prepare(std::size_t b, std::size_t s) {
    if (ws_.b == b && ws_.s == s && !ws_.layers.empty()) return;
    const auto n = static_cast<index>(b * s), h = static_cast<index>(cfg_.hidden_size);
    const auto A = static_cast<index>(cfg_.attn_width()), K = static_cast<index>(cfg_.kv_width());
    const auto I = static_cast<index>(cfg_.intermediate_size), V = static_cast<index>(cfg_.vocab_size);
    const std::size_t nn = b * s, lp = b * cfg_.num_attention_heads * s * s;
    const bool attn_drop = cfg_.attention_dropout > 0, resid_drop = cfg_.residual_dropout > 0;
    ws_.x0.resize(n, h);
    ws_.emask.assign(cfg_.embedding_dropout > 0 ? nn * cfg_.hidden_size : 0, 0);
    ws_.key_bias.assign(nn, T(0));
    if (!cfg_.is_gpt2()) ws_.rope.build(cfg_.head_size(), s, cfg_.rope_theta);
    ws_.layers.resize(cfg_.num_hidden_layers);
    for (auto& c : ws_.layers) {
      for (mat* m : {&c.xhat1, &c.u1, &c.h1, &c.xhat2, &c.u2, &c.out}) m->resize(n, h);
      c.qkv.resize(n, A + 2 * K);
      c.ctx.resize(n, A);
      c.f.resize(n, I);
      c.up.resize(cfg_.is_gpt2() ? 0 : n, cfg_.is_gpt2() ? 0 : I);
      c.g.resize(n, I);
      c.rstd1.assign(nn, T(0));
      c.rstd2.assign(nn, T(0));
      c.probs.resize(lp);
      c.pmask.assign(attn_drop ? lp : 0, 0);
      c.amask.assign(resid_drop ? nn * cfg_.hidden_size : 0, 0);
      c.omask.assign(resid_drop ? nn * cfg_.hidden_size : 0, 0);
    }
    ws_.rows.reserve(nn);
    ws_.row_label.reserve(nn);
    ws_.row_loss.assign(nn, 0.0);
    for (mat* m : {&ws_.hsel, &ws_.fxhat, &ws_.z, &ws_.dx, &ws_.dtmp, &ws_.du}) m->resize(n, h);
    ws_.frstd.assign(nn, T(0));
    ws_.logits.resize(n, V);
    ws_.dqkv.resize(n, A + 2 * K);
    ws_.dctx.resize(n, A);
    ws_.df.resize(n, I);
    ws_.dup.resize(n, I);
    ws_.b = b;
    ws_.s = s;
  }

  [[nodiscard]] detail::dropout<T> embedding_dropout() const {
    return detail::dropout<T>(cfg_.embedding_dropout, seed_, 0, train_);
  }
  [[nodiscard]] detail::dropout<T> probs_dropout(std::size_t l) const {
    return detail::dropout<T>(cfg_.attention_dropout, seed_, 1 + 3 * l, train_);
  }
  [[nodiscard]] detail::dropout<T> residual_dropout(std::uint64_t site) const {
    return detail::dropout<T>(cfg_.residual_dropout, seed_, site, train_);
  }

  // A projection y = x W^T (+ bias) of a Linear weight stored (out, in), or y = x W (+ bias) of a Conv1D
  // weight stored (in, out) (GPT-2, conv_).
  template <class X, class Y>
  void project(const X& x, std::size_t w, std::size_t bias, std::size_t out, std::size_t in, Y&& y) const {
    const T* b = bias != absent ? P(bias) : nullptr;  // C starts as the bias
    if (conv_) detail::gemm<T, false, false>(y, x, W(w, in, out), false, T(1), b);
    else detail::gemm<T, false, true>(y, x, W(w, out, in), false, T(1), b);
  }
  // Its backward: dW += dy^T x (Linear) or x^T dy (Conv1D), db += colsum(dy); dx = dy W or dy W^T (+= when
  // accumulate).
  template <class DY, class X, class DX>
  void project_backward(const DY& dy, const X& x, std::size_t w, std::size_t bias, std::size_t out, std::size_t in, DX&& dx,
                        bool accumulate) {
    if (conv_) {
      detail::gemm<T, true, false>(dW(w, in, out), x, dy, true);
      detail::gemm<T, false, true>(dx, dy, W(w, in, out), accumulate);
    } else {
      detail::gemm<T, true, false>(dW(w, out, in), dy, x, true);
      detail::gemm<T>(dx, dy, W(w, out, in), accumulate);
    }
    if (bias != absent) detail::add_column_sums<T>(detail::vmap<T>(G(bias), static_cast<index>(out)), dy);
  }
  // The pre-norms: RMSNorm (LLaMA) or LayerNorm (GPT-2), gain at offset w, bias at b (GPT-2).
  template <class X, class Y>
  void norm(const X& x, std::size_t w, std::size_t b, mat& xhat, std::vector<T>& rstd, Y&& y) const {
    const T eps = static_cast<T>(cfg_.norm_eps);
    if (cfg_.is_gpt2()) detail::layernorm_forward<T>(x, P(w), P(b), eps, xhat.topRows(x.rows()), rstd.data(), y);
    else detail::rmsnorm_forward<T>(x, P(w), eps, xhat.topRows(x.rows()), rstd.data(), y);
  }
  template <class DY, class XH, class DX>
  void norm_backward(const DY& dy, const XH& xhat, const std::vector<T>& rstd, std::size_t w, std::size_t b, DX&& dx) {
    if (cfg_.is_gpt2()) detail::layernorm_backward<T>(dy, xhat, rstd.data(), P(w), G(w), G(b), dx);
    else detail::rmsnorm_backward<T>(dy, xhat, rstd.data(), P(w), G(w), dx);
  }

  // ---------------------------------------------------------------------------------------------
  // Forward (train or eval): fills the workspace caches, returns the loss.
  clm_result forward(const model::clm_batch& bt, bool train, std::uint64_t seed, std::vector<float>* logits_out) {
    using enum model::role;
    validate_batch(bt, cfg_);
    prepare(bt.batch_size, bt.seq_len);
    train_ = train;
    seed_ = seed;
    const std::size_t S = bt.seq_len, N = bt.tokens(), H = cfg_.hidden_size;

    // Embeddings: LLaMA the token row; GPT-2 token + position rows, then dropout.
    for (std::size_t n = 0; n < N; ++n) {
      const T* w = P(off_[word_embeddings]) + static_cast<std::size_t>(bt.input_ids[n]) * H;
      T* e = ws_.x0.data() + n * H;
      if (cfg_.is_gpt2()) {
        const T* p = P(off_[position_embeddings]) + (n % S) * H;
        for (std::size_t j = 0; j < H; ++j) e[j] = w[j] + p[j];
      } else {
        std::copy(w, w + H, e);
      }
    }
    if (cfg_.is_gpt2()) embedding_dropout().apply(ws_.x0.data(), ws_.emask.data(), N * H);
    for (std::size_t n = 0; n < N; ++n) ws_.key_bias[n] = bt.attention_mask[n] ? T(0) : std::numeric_limits<T>::lowest();

    for (std::size_t l = 0; l < cfg_.num_hidden_layers; ++l) layer_forward(l, l == 0 ? ws_.x0 : ws_.layers[l - 1].out);

    // Head rows: position s of a row is scored against labels[s + 1] (the last position never is); every
    // row when logits are asked for.
    ws_.rows.clear();
    ws_.row_label.clear();
    for (std::size_t n = 0; n < N; ++n) {
      const std::int32_t y = n % S + 1 < S ? bt.labels[n + 1] : model::ignore_label;
      if (logits_out || y != model::ignore_label) {
        ws_.rows.push_back(n);
        ws_.row_label.push_back(y);
      }
    }
    auto r = head_forward(train);
    if (logits_out) {
      const std::size_t V = cfg_.vocab_size;
      logits_out->assign(N * V, 0.0f);
      const T* src = ws_.logits.data();  // head_forward keeps raw logits when not training
      for (std::size_t t = 0; t < ws_.rows.size(); ++t)
        for (std::size_t i = 0; i < V; ++i) (*logits_out)[ws_.rows[t] * V + i] = static_cast<float>(src[t * V + i]);
    }
    return r;
  }

  void layer_forward(std::size_t l, const mat& x) {
    using enum model::role;
    const auto& o = off_.layer[l];
    auto& c = ws_.layers[l];
    const std::size_t H = cfg_.hidden_size, A = cfg_.attn_width(), K = cfg_.kv_width(), I = cfg_.intermediate_size;
    const auto iA = static_cast<index>(A), iK = static_cast<index>(K);

    // Attention: Norm1, projections (LLaMA: three Linears, then the rotary embedding on q and k; GPT-2: the
    // fused Conv1D c_attn), attention per head, Out, dropout, residual.
    norm(x, o[attention_ln_weight], o[attention_ln_bias], c.xhat1, c.rstd1, c.u1);
    if (cfg_.is_gpt2()) {
      project(c.u1, o[qkv_weight], o[qkv_bias], A + 2 * K, H, c.qkv);
    } else {
      // One product over the three weights (u1 packed once for them)
      const auto bias = [&](std::size_t b) { return b != absent ? P(b) : nullptr; };
      detail::linear_shared_input<T, 3>(c.u1, {P(o[query_weight]), P(o[key_weight]), P(o[value_weight])},
                                        {bias(o[query_bias]), bias(o[key_bias]), bias(o[value_bias])},
                                        {c.qkv.leftCols(iA), c.qkv.middleCols(iA, iK), c.qkv.rightCols(iK)});
      ws_.rope.apply(c.qkv, 0, cfg_.num_attention_heads, false);
      ws_.rope.apply(c.qkv, iA, cfg_.num_key_value_heads, false);
    }
    attention_forward(l);
    project(c.ctx, o[attention_output_weight], absent, H, A, c.h1);
    // h1 = x + dropout(h1 + bias) in one pass (no LayerNorm: gamma null).
    detail::residual_layernorm_forward<T>(c.h1, P(o[attention_output_bias]), residual_dropout(2 + 3 * l), c.amask.data(), x, nullptr,
                                          nullptr, T(0), c.xhat2, c.rstd2.data(), c.h1);

    // FFN: Norm2; LLaMA down(silu(gate u2) * up u2), GPT-2 c_proj(gelu_new(c_fc u2)); dropout, residual.
    norm(c.h1, o[output_ln_weight], o[output_ln_bias], c.xhat2, c.rstd2, c.u2);
    if (cfg_.is_gpt2()) {
      project(c.u2, o[intermediate_weight], o[intermediate_bias], I, H, c.f);
      detail::gelu_tanh_forward<T>(c.f, c.g, train_);  // a training forward keeps gelu_new'(f) in f
    } else {
      project(c.u2, o[gate_weight], o[gate_bias], I, H, c.f);
      project(c.u2, o[intermediate_weight], o[intermediate_bias], I, H, c.up);
      detail::swiglu_forward<T>(c.f, c.up, c.g);
    }
    project(c.g, o[output_weight], absent, H, I, c.out);
    detail::residual_layernorm_forward<T>(c.out, P(o[output_bias]), residual_dropout(3 + 3 * l), c.omask.data(), c.h1, nullptr, nullptr,
                                          T(0), c.xhat2, c.rstd2.data(), c.out);
  }

  // Per (sequence, query head h): S query rows attend over S key rows of key/value head h / group_size.
  void attention_forward(std::size_t l) {
    auto& c = ws_.layers[l];
    const std::size_t nh = cfg_.num_attention_heads, d = cfg_.head_size(), S = ws_.s, Bn = ws_.b, gs = cfg_.group_size();
    const std::size_t A = cfg_.attn_width(), K = cfg_.kv_width();
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    const T lowest = std::numeric_limits<T>::lowest();
    const auto drop = probs_dropout(l);
    const auto is = static_cast<index>(S), id = static_cast<index>(d);
    detail::parallel_for(static_cast<std::ptrdiff_t>(Bn * nh), S * S * d > 4096, [&](std::ptrdiff_t bh) {
      const std::size_t b = static_cast<std::size_t>(bh) / nh, h = static_cast<std::size_t>(bh) % nh, g = h / gs;
      const auto r0 = static_cast<index>(b * S), qc = static_cast<index>(h * d);
      const auto kc = static_cast<index>(A + g * d), vc = static_cast<index>(A + K + g * d);
      const std::size_t base = static_cast<std::size_t>(bh) * S * S;
      map p(c.probs.data() + base, is, is);
      detail::gemm<T, false, true>(p, c.qkv.block(r0, qc, is, id), c.qkv.block(r0, kc, is, id), false, scale);
      const T* kb = ws_.key_bias.data() + b * S;
      T* pd = detail::dropped_scratch(drop, S * S);  // [S, S]
      for (index i = 0; i < is; ++i) {
        // Causal mask (keys after the query) and padded keys: lowest(T), set rather than added so that a
        // key masked twice stays finite.
        T* row = p.row(i).data();
        for (index j = 0; j < is; ++j) row[j] = j > i ? lowest : (kb[j] != T(0) ? kb[j] : row[j]);
        const std::size_t at = base + static_cast<std::size_t>(i) * S;
        detail::softmax_dropout_row<T>(row, S, drop, at, drop.active ? c.pmask.data() + at : nullptr,
                                       drop.active ? pd + static_cast<std::size_t>(i) * S : nullptr);
      }
      detail::gemm<T>(c.ctx.block(r0, qc, is, id), cmap(drop.active ? pd : p.data(), is, is), c.qkv.block(r0, vc, is, id));
    });
  }

  clm_result head_forward(bool train) {
    using enum model::role;
    const std::size_t H = cfg_.hidden_size, V = cfg_.vocab_size, M = ws_.rows.size();
    const mat& xl = ws_.layers.back().out;
    clm_result res;
    if (M == 0) return res;
    const auto im = static_cast<index>(M);
    for (std::size_t t = 0; t < M; ++t) ws_.hsel.row(static_cast<index>(t)) = xl.row(static_cast<index>(ws_.rows[t]));
    auto z = ws_.z.topRows(im);
    auto lg = ws_.logits.topRows(im);
    norm(ws_.hsel.topRows(im), off_[encoder_final_ln_weight], off_[encoder_final_ln_bias], ws_.fxhat, ws_.frstd, z);
    detail::gemm<T, false, true>(lg, z, W(head_offset(), V, H));

    // Cross-entropy per scored row; in training the row becomes dloss/dlogits = (softmax - onehot) / targets.
    std::size_t targets = 0;
    for (auto y : ws_.row_label) targets += y != model::ignore_label ? 1 : 0;
    const T inv_targets = targets ? T(1) / static_cast<T>(targets) : T(0);
    detail::parallel_rows(M, V * 4, [&](std::size_t t0, std::size_t t1) {
      for (std::size_t t = t0; t < t1; ++t) {
        const std::int32_t y = ws_.row_label[t];
        auto row = lg.row(static_cast<index>(t));
        if (y == model::ignore_label) {
          ws_.row_loss[t] = 0;
          if (train) row.setZero();
          continue;
        }
        ws_.row_loss[t] = detail::cross_entropy_row<T>(row.data(), V, y, inv_targets, train);
      }
    });
    double loss = 0;
    for (std::size_t t = 0; t < M; ++t) loss += ws_.row_loss[t];
    res.targets = targets;
    if (targets) res.loss = loss / static_cast<double>(targets);
    return res;
  }

  // ---------------------------------------------------------------------------------------------
  // Backward, the forward read bottom to top. Gradients are overwritten.
  void backward(const model::clm_batch& bt) {
    using enum model::role;
    // The GPT-2 MLP caches gelu_new'(f) only in a training forward (gelu_tanh_forward).
    if (!train_) throw error("backward", "a training forward first", "an evaluation forward");
    detail::set_zero(grads_.data(), grads_.size());
    const std::size_t H = cfg_.hidden_size, V = cfg_.vocab_size, N = bt.tokens(), S = bt.seq_len, M = ws_.rows.size();
    detail::set_zero(ws_.dx.data(), static_cast<std::size_t>(ws_.dx.size()));

    if (M > 0) {
      // Head (tied: into the token embeddings' gradient), then Norm_f, scattered back onto the head rows.
      const auto im = static_cast<index>(M);
      auto dl = ws_.logits.topRows(im);
      auto dz = ws_.du.topRows(im);
      detail::gemm<T, true, false>(dW(head_offset(), V, H), dl, ws_.z.topRows(im), true);
      detail::gemm<T>(dz, dl, W(head_offset(), V, H));
      norm_backward(dz, ws_.fxhat.topRows(im), ws_.frstd, off_[encoder_final_ln_weight], off_[encoder_final_ln_bias], dz);
      for (std::size_t t = 0; t < M; ++t) ws_.dx.row(static_cast<index>(ws_.rows[t])) += dz.row(static_cast<index>(t));
    }

    for (std::size_t l = cfg_.num_hidden_layers; l-- > 0;) layer_backward(l);

    // Embeddings: GPT-2's dropout, then scatter-add into the tables (fixed order). LLaMA's pad row gets no
    // gradient from the lookup (nn.Embedding padding_idx).
    if (cfg_.is_gpt2()) embedding_dropout().backward(ws_.dx.data(), ws_.emask.data(), N * H);
    for (std::size_t n = 0; n < N; ++n) {
      const T* de = ws_.dx.data() + n * H;
      const auto id = static_cast<std::size_t>(bt.input_ids[n]);
      if (!(pad_row() && id == *cfg_.pad_token_id)) {
        T* gw = G(off_[word_embeddings]) + id * H;
        for (std::size_t j = 0; j < H; ++j) gw[j] += de[j];
      }
      if (cfg_.is_gpt2()) {
        T* gp = G(off_[position_embeddings]) + (n % S) * H;
        for (std::size_t j = 0; j < H; ++j) gp[j] += de[j];
      }
    }
  }

  // On entry ws_.dx = dloss/d(layer output); on exit dloss/d(layer input x).
  void layer_backward(std::size_t l) {
    using enum model::role;
    const auto& o = off_.layer[l];
    auto& c = ws_.layers[l];
    const std::size_t H = cfg_.hidden_size, A = cfg_.attn_width(), K = cfg_.kv_width(), I = cfg_.intermediate_size;
    const auto iA = static_cast<index>(A), iK = static_cast<index>(K);
    auto& dx = ws_.dx;

    // FFN branch: dropout, down / c_proj, activation, the in-projections into d(u2), Norm2; d(h1) = dx + that.
    detail::dropout_branch<T>(dx, residual_dropout(3 + 3 * l), c.omask.data(), ws_.dtmp);
    project_backward(ws_.dtmp, c.g, o[output_weight], o[output_bias], H, I, ws_.df, false);
    if (cfg_.is_gpt2()) {
      // f holds gelu_new'(f) (a training forward came first); the bias gradient, if any, is gathered here.
      detail::gelu_backward_cached<T>(c.f, ws_.df, G(o[intermediate_bias]));  // G: null when absent
      project_backward(ws_.df, c.u2, o[intermediate_weight], absent, I, H, ws_.du, false);
    } else {
      detail::swiglu_backward<T>(c.f, c.up, ws_.df, ws_.dup);
      project_backward(ws_.df, c.u2, o[gate_weight], o[gate_bias], I, H, ws_.du, false);
      project_backward(ws_.dup, c.u2, o[intermediate_weight], o[intermediate_bias], I, H, ws_.du, true);
    }
    norm_backward(ws_.du, c.xhat2, c.rstd2, o[output_ln_weight], o[output_ln_bias], ws_.du);
    dx += ws_.du;

    // Attention branch: dropout, Out, attention, rotary (inverse rotation), projections into d(u1), Norm1.
    detail::dropout_branch<T>(dx, residual_dropout(2 + 3 * l), c.amask.data(), ws_.dtmp);
    project_backward(ws_.dtmp, c.ctx, o[attention_output_weight], o[attention_output_bias], H, A, ws_.dctx, false);
    attention_backward(l);
    if (cfg_.is_gpt2()) {
      project_backward(ws_.dqkv, c.u1, o[qkv_weight], o[qkv_bias], A + 2 * K, H, ws_.du, false);
    } else {
      ws_.rope.apply(ws_.dqkv, 0, cfg_.num_attention_heads, true);
      ws_.rope.apply(ws_.dqkv, iA, cfg_.num_key_value_heads, true);
      project_backward(ws_.dqkv.leftCols(iA), c.u1, o[query_weight], o[query_bias], A, H, ws_.du, false);
      project_backward(ws_.dqkv.middleCols(iA, iK), c.u1, o[key_weight], o[key_bias], K, H, ws_.du, true);
      project_backward(ws_.dqkv.rightCols(iK), c.u1, o[value_weight], o[value_bias], K, H, ws_.du, true);
    }
    norm_backward(ws_.du, c.xhat1, c.rstd1, o[attention_ln_weight], o[attention_ln_bias], ws_.du);
    dx += ws_.du;
  }

  // d(ctx) -> d(q), d(k), d(v), per (sequence, key/value head g) so that the query heads sharing g add their
  // d(k), d(v) in a fixed order on one thread: for each query head h of the group,
  // dPd = dctx_h v^T, dv += Pd^T dctx_h, dP = dropout'(dPd), dS = P * (dP - rowsum(dP * P)) / sqrt(d),
  // dq_h = dS k, dk += dS^T q_h.
  void attention_backward(std::size_t l) {
    auto& c = ws_.layers[l];
    const std::size_t nh = cfg_.num_attention_heads, nkv = cfg_.num_key_value_heads, d = cfg_.head_size(), S = ws_.s,
                      Bn = ws_.b, gs = cfg_.group_size();
    const std::size_t A = cfg_.attn_width(), K = cfg_.kv_width();
    const T scale = T(1) / std::sqrt(static_cast<T>(d));
    const auto drop = probs_dropout(l);
    const auto is = static_cast<index>(S), id = static_cast<index>(d);
    detail::parallel_for(static_cast<std::ptrdiff_t>(Bn * nkv), S * S * d * gs > 4096, [&](std::ptrdiff_t bg) {
      const std::size_t b = static_cast<std::size_t>(bg) / nkv, g = static_cast<std::size_t>(bg) % nkv;
      const auto r0 = static_cast<index>(b * S);
      const auto kc = static_cast<index>(A + g * d), vc = static_cast<index>(A + K + g * d);
      for (std::size_t h = g * gs; h < (g + 1) * gs; ++h) {
        const bool first = h == g * gs;
        const auto qc = static_cast<index>(h * d);
        const std::size_t base = (b * nh + h) * S * S;
        cmap p(c.probs.data() + base, is, is);
        // The dropped probabilities drawn again, and d(probabilities): this thread's scratch, [S, S] each.
        cmap pd(detail::redraw_dropped(p.data(), drop, drop.active ? c.pmask.data() + base : nullptr, S * S), is, is);
        map dp(detail::thread_buffer<T, detail::scratch::attention_grad>(S * S), is, is);
        auto dctx = ws_.dctx.block(r0, qc, is, id);
        detail::gemm<T, false, true>(dp, dctx, c.qkv.block(r0, vc, is, id));
        detail::gemm<T, true, false>(ws_.dqkv.block(r0, vc, is, id), pd, dctx, !first);
        for (index i = 0; i < is; ++i) {
          const std::size_t at = static_cast<std::size_t>(i) * S;
          detail::softmax_dropout_backward_row<T>(p.row(i).data(), dp.row(i).data(), S, drop,
                                                  drop.active ? c.pmask.data() + base + at : nullptr, scale);
        }
        detail::gemm<T>(ws_.dqkv.block(r0, qc, is, id), dp, c.qkv.block(r0, kc, is, id));
        detail::gemm<T, true, false>(ws_.dqkv.block(r0, kc, is, id), dp, c.qkv.block(r0, qc, is, id), !first);
      }
    });
  }

  model::decoder_config cfg_;
  flat_layout layout_;
  offsets off_;
  bool conv_ = cfg_.is_gpt2();  // GPT-2's Conv1D weights are stored in x out
  aligned_buffer<T> params_;    // [P] every parameter, flat_layout order (P = layout_.total)
  aligned_buffer<T> grads_;     // [P] their gradients, the same layout
  workspace ws_;
  bool train_ = false;
  std::uint64_t seed_ = 0;
};

}  // namespace growth::reference
