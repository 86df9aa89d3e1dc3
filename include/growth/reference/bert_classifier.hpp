#pragma once
/// @file bert_classifier.hpp
/// growth::reference::bert_classifier<T>: Hugging Face BertForSequenceClassification on the reference
/// encoder (bert.hpp), forward, hand-written backward, cross-entropy loss and AdamW.
///
///     x = encoder(input_ids, token_type_ids, attention_mask)[:, 0]      ([CLS], the first token)
///     (pre-LN: x = LN_f(x), the final LayerNorm bert.LayerNorm, applied row-wise as in bert.hpp)
///     p = tanh(Wp x + bp)                                               (bert.pooler.dense)
///     z = Wc Dropout(p) + bc                                            (classifier, num_labels logits)
///     loss = mean_b CE(z_b, y_b)                                        (HF single_label_classification)
///
/// Dropout is HF's classifier dropout (hidden_dropout_prob, the config has no classifier_dropout), seeded
/// like the encoder's sites (site 3 L + 1, after the encoder's 3 L + 1 sites 0 .. 3 L). The head's
/// parameters are the table of model/classifier_layout.hpp in one flat buffer; the encoder is a
/// reference::bert<T> whose MLM head parameters (cls.*) are unused here (their gradients are 0).
///
/// Pre-LN maps to HF RobertaPreLayerNorm's sequence classification at evaluation (its head is
/// dense + tanh + out_proj on the first token after the final LayerNorm; in training it adds one dropout
/// before the dense): docs/cli.md, "growth finetune".
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../model/classifier_layout.hpp"
#include "adamw.hpp"
#include "bert.hpp"

namespace growth::reference {

/// Mean cross-entropy over the batch, argmax accuracy, and the predicted class of every sequence.
struct classification_result {
  double loss = 0;
  double accuracy = 0;
  std::vector<std::int32_t> predictions;
};

template <class T>
class bert_classifier {
  using mat = detail::mat<T>;
  using cmap = detail::cmap<T>;
  using map = detail::map<T>;
  using index = Eigen::Index;

 public:
  using scalar = T;

  bert_classifier(const model::bert_config& c, std::size_t num_labels)
      : enc_(c), num_labels_(num_labels), specs_(model::classifier_parameters(c, num_labels)) {
    if (num_labels < 2) throw error("classifier num_labels", "at least 2", std::to_string(num_labels));
    std::size_t total = 0;
    for (const auto& s : specs_) {
      off_.push_back(total);
      total += s.numel();
    }
    head_params_.resize(total);
    head_grads_.resize(total);
  }

  /// BERT init of everything (bert::init(seed)) and of the head (init_head(seed)).
  void init(std::uint64_t seed) {
    enc_.init(seed);
    init_head(seed);
  }
  /// HF _init_weights for the head: weights N(0, initializer_range), biases 0; head parameter i draws
  /// from the counter-based stream (seed, 0xc1a5 + i), independent of the encoder's streams.
  void init_head(std::uint64_t seed) {
    const auto sd = static_cast<T>(enc_.config().initializer_range);
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      T* p = head_params_.data() + off_[i];
      const std::size_t n = specs_[i].numel();
      if (specs_[i].kind == model::param_kind::bias) {
        std::fill(p, p + n, T(0));
        continue;
      }
      rng r(seed, 0xc1a5 + i);
      for (std::size_t j = 0; j < n; ++j) p[j] = static_cast<T>(r.normal()) * sd;
    }
  }

  [[nodiscard]] bert<T>& encoder() { return enc_; }
  [[nodiscard]] const bert<T>& encoder() const { return enc_; }
  [[nodiscard]] const model::bert_config& config() const { return enc_.config(); }
  [[nodiscard]] std::size_t num_labels() const { return num_labels_; }
  [[nodiscard]] const std::vector<model::classifier_param_spec>& head_specs() const { return specs_; }
  [[nodiscard]] const std::vector<std::size_t>& head_offsets() const { return off_; }
  [[nodiscard]] std::span<T> head_params() { return head_params_.span(); }
  [[nodiscard]] std::span<const T> head_params() const { return head_params_.span(); }
  [[nodiscard]] std::span<T> head_grads() { return head_grads_.span(); }
  /// Named views (HF names) of the head's parameters / gradients.
  [[nodiscard]] model::parameter_set<T> head_parameters() { return views(head_params_.data()); }
  [[nodiscard]] model::parameter_set<T> head_gradients() { return views(head_grads_.data()); }
  [[nodiscard]] model::parameter_set<T> views(T* base) const {
    model::parameter_set<T> set;
    for (std::size_t i = 0; i < specs_.size(); ++i)
      set.add(model::param_view<T>::make(specs_[i].name, specs_[i].shape, base + off_[i]));
    return set;
  }

  /// Training step's forward and backward (dropout on, seeded): sets every gradient (encoder and head).
  classification_result forward_backward(const model::classification_batch& b, std::uint64_t dropout_seed) {
    auto r = forward(b, true, dropout_seed);
    backward(b);
    return r;
  }
  /// Training-mode forward only (the masks of forward_backward with this seed).
  classification_result forward_train(const model::classification_batch& b, std::uint64_t dropout_seed) {
    return forward(b, true, dropout_seed);
  }
  /// Evaluation: dropout off, no gradients. logits (optional) receives B x num_labels.
  classification_result evaluate(const model::classification_batch& b, std::vector<double>* logits = nullptr) {
    auto r = forward(b, false, 0);
    if (logits) logits->assign(raw_logits_.begin(), raw_logits_.end());
    return r;
  }

 private:
  // Head offsets by role (the table's order).
  [[nodiscard]] std::size_t at(model::classifier_role r) const {
    for (std::size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].r == r) return off_[i];
    return 0;
  }
  [[nodiscard]] detail::dropout<T> head_dropout() const {
    return detail::dropout<T>(enc_.config().hidden_dropout_prob, seed_, 3 * enc_.config().num_hidden_layers + 1, train_);
  }

  classification_result forward(const model::classification_batch& bt, bool train, std::uint64_t seed) {
    using enum model::classifier_role;
    const auto& c = enc_.config();
    const std::size_t B = bt.inputs.batch_size, S = bt.inputs.seq_len, H = c.hidden_size, K = num_labels_;
    if (bt.labels.size() != B)
      throw error("classification batch labels", std::to_string(B) + " entries (one per sequence)", std::to_string(bt.labels.size()));
    for (std::size_t i = 0; i < B; ++i)
      if (bt.labels[i] < 0 || static_cast<std::size_t>(bt.labels[i]) >= K)
        throw error("classification batch labels[" + std::to_string(i) + "]", "in [0, " + std::to_string(K) + ")",
                    std::to_string(bt.labels[i]));
    train_ = train;
    seed_ = seed;
    const auto out = enc_.encode(bt.inputs, train, seed);
    const auto ib = static_cast<index>(B), ih = static_cast<index>(H), ik = static_cast<index>(K);
    x_.resize(ib, ih);
    for (std::size_t b = 0; b < B; ++b)
      std::copy_n(out.data() + b * S * H, H, x_.data() + b * H);  // [CLS] = position 0 of each sequence
    u_ = x_;
    if (c.pre_layer_norm) {
      const auto v = enc_.layout().index_of("bert.LayerNorm.weight"), w = enc_.layout().index_of("bert.LayerNorm.bias");
      fxhat_.resize(ib, ih);
      frstd_.assign(B, T(0));
      detail::layernorm_forward<T>(x_, enc_.flat_params().data() + enc_.layout().offsets[v],
                                   enc_.flat_params().data() + enc_.layout().offsets[w], static_cast<T>(c.layer_norm_eps), fxhat_,
                                   frstd_.data(), u_);
    }
    pooled_.resize(ib, ih);
    detail::gemm<T, false, true>(pooled_, u_, cmap(head_params_.data() + at(pooler_dense_weight), ih, ih));
    detail::add_bias<T>(pooled_, head_params_.data() + at(pooler_dense_bias));
    pooled_ = pooled_.array().tanh().matrix();
    dropped_ = pooled_;
    dmask_.assign(B * H, 0);
    head_dropout().apply(dropped_.data(), dmask_.data(), B * H);
    logits_.resize(ib, ik);
    detail::gemm<T, false, true>(logits_, dropped_, cmap(head_params_.data() + at(classifier_weight), ik, ih));
    detail::add_bias<T>(logits_, head_params_.data() + at(classifier_bias));
    raw_logits_.assign(logits_.data(), logits_.data() + B * K);

    // Cross-entropy per sequence; logits_ becomes dloss/dlogits = (softmax - onehot) / B.
    classification_result res;
    res.predictions.resize(B);
    double loss = 0;
    std::size_t hits = 0;
    for (std::size_t b = 0; b < B; ++b) {
      index arg = 0;
      const auto y = bt.labels[b];
      loss += detail::cross_entropy_row<T>(logits_.row(static_cast<index>(b)).data(), static_cast<std::size_t>(logits_.cols()), y,
                                           T(1) / static_cast<T>(B), true, &arg);
      res.predictions[b] = static_cast<std::int32_t>(arg);
      hits += arg == y ? 1 : 0;
    }
    res.loss = loss / static_cast<double>(B);
    res.accuracy = static_cast<double>(hits) / static_cast<double>(B);
    return res;
  }

  // Backward of the last forward, top to bottom; every gradient is overwritten.
  void backward(const model::classification_batch& bt) {
    using enum model::classifier_role;
    const auto& c = enc_.config();
    const std::size_t B = bt.inputs.batch_size, S = bt.inputs.seq_len, H = c.hidden_size, K = num_labels_;
    const auto ib = static_cast<index>(B), ih = static_cast<index>(H), ik = static_cast<index>(K);
    detail::set_zero(head_grads_.data(), head_grads_.size());
    T* g = head_grads_.data();
    const T* p = head_params_.data();
    // Classifier: dWc = dz^T Dropout(p), dbc = colsum(dz), d(dropped) = dz Wc.
    detail::gemm<T, true, false>(map(g + at(classifier_weight), ik, ih), logits_, dropped_, true);
    detail::add_column_sums<T>(detail::vmap<T>(g + at(classifier_bias), ik), logits_);
    dpooled_.resize(ib, ih);
    detail::gemm<T>(dpooled_, logits_, cmap(p + at(classifier_weight), ik, ih));
    head_dropout().backward(dpooled_.data(), dmask_.data(), B * H);
    // tanh' = 1 - p^2, then the pooler dense.
    dpooled_.array() *= (T(1) - pooled_.array().square());
    detail::gemm<T, true, false>(map(g + at(pooler_dense_weight), ih, ih), dpooled_, u_, true);
    detail::add_column_sums<T>(detail::vmap<T>(g + at(pooler_dense_bias), ih), dpooled_);
    du_.resize(ib, ih);
    detail::gemm<T>(du_, dpooled_, cmap(p + at(pooler_dense_weight), ih, ih));
    // Pre-LN: through the final LayerNorm (its gradients kept aside: encoder_backward overwrites all).
    std::vector<T> dgamma, dbeta;
    if (c.pre_layer_norm) {
      dgamma.assign(H, T(0));
      dbeta.assign(H, T(0));
      const auto v = enc_.layout().index_of("bert.LayerNorm.weight");
      detail::layernorm_backward<T>(du_, fxhat_, frstd_.data(), enc_.flat_params().data() + enc_.layout().offsets[v], dgamma.data(),
                                    dbeta.data(), du_);
    }
    dout_.assign(B * S * H, T(0));
    for (std::size_t b = 0; b < B; ++b) std::copy_n(du_.data() + b * H, H, dout_.data() + b * S * H);
    enc_.encoder_backward(bt.inputs, dout_);
    if (c.pre_layer_norm) {
      auto gr = enc_.flat_grads();
      const auto& L = enc_.layout();
      const auto v = L.offsets[L.index_of("bert.LayerNorm.weight")], w = L.offsets[L.index_of("bert.LayerNorm.bias")];
      for (std::size_t j = 0; j < H; ++j) {
        gr[v + j] += dgamma[j];
        gr[w + j] += dbeta[j];
      }
    }
  }

  bert<T> enc_;
  std::size_t num_labels_;
  std::vector<model::classifier_param_spec> specs_;
  std::vector<std::size_t> off_;
  aligned_buffer<T> head_params_, head_grads_;
  bool train_ = false;
  std::uint64_t seed_ = 0;
  // Caches of the last forward: [B, H] except logits_ [B, K] (dloss/dlogits after forward).
  mat x_, u_, fxhat_, pooled_, dropped_, logits_, dpooled_, du_;
  std::vector<T> frstd_, raw_logits_, dout_;
  std::vector<std::uint8_t> dmask_;
};

/// AdamW over the whole classifier (reference/adamw.hpp's update for the encoder, the same update for the
/// head), with one global gradient-norm clip over both as torch.nn.utils.clip_grad_norm_ over all
/// parameters: coefficient max_grad_norm / (norm + 1e-6) when below 1.
template <class T>
class classifier_adamw {
 public:
  classifier_adamw(const bert_classifier<T>& m, adamw_options o)
      : enc_opt_(m.config(), no_clip(o)), opt_(o), m_(m.head_specs().size()), v_(m.head_specs().size()) {
    for (std::size_t i = 0; i < m.head_specs().size(); ++i) {
      m_[i].assign(m.head_specs()[i].numel(), T(0));
      v_[i].assign(m.head_specs()[i].numel(), T(0));
    }
  }
  /// One update with learning rate lr; returns the global gradient norm before clipping.
  double step(bert_classifier<T>& m, double lr) {
    auto ge = m.encoder().flat_grads();
    auto gh = m.head_grads();
    const double ne = adamw<T>::grad_norm(ge), nh = adamw<T>::grad_norm(gh);
    const double norm = std::sqrt(ne * ne + nh * nh);
    if (opt_.max_grad_norm > 0) {
      const double coef = opt_.max_grad_norm / (norm + 1e-6);
      if (coef < 1.0) {
        const auto k = static_cast<T>(coef);
        for (auto& x : ge) x *= k;
        for (auto& x : gh) x *= k;
      }
    }
    enc_opt_.step(m.encoder().flat_params(), ge, lr);
    ++step_;
    const double t = static_cast<double>(step_);
    const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
    const T step_size = static_cast<T>(lr / (1.0 - std::pow(opt_.beta1, t)));
    const T bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(opt_.beta2, t)));
    const T eps = static_cast<T>(opt_.eps);
    auto ph = m.head_params();
    const detail::adamw_coefficients<T> coef{T(1), b1, b2, step_size, bc2_sqrt, eps};  // clipped above
    for (std::size_t i = 0; i < m.head_specs().size(); ++i) {
      const T keep = m.head_specs()[i].decay ? static_cast<T>(1.0 - lr * opt_.weight_decay) : T(1);
      const std::size_t o = m.head_offsets()[i];
      detail::adamw_update<T>(ph.data() + o, gh.data() + o, m_[i].data(), v_[i].data(), m_[i].size(), coef, keep);
    }
    return norm;
  }

 private:
  static adamw_options no_clip(adamw_options o) {
    o.max_grad_norm = 0;  // clipped globally above
    return o;
  }
  adamw<T> enc_opt_;
  adamw_options opt_;
  std::vector<std::vector<T>> m_, v_;  // the head's moments, one vector per head parameter
  std::size_t step_ = 0;
};

}  // namespace growth::reference
