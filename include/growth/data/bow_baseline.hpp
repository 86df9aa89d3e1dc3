#pragma once
/// @file bow_baseline.hpp
/// The bag-of-words baseline of the downstream tasks: multinomial logistic regression on word counts,
/// deterministic, standard library only.
///
/// Features: the basic tokenizer's words (lower-cased, punctuation split off: wordpiece.hpp step 2) of A
/// and, for a pair, of B in a separate feature space; a word is a feature when it occurs at least twice in
/// the training examples' segment; each segment's count vector is scaled to unit L2 norm; plus a bias.
/// Training: plain SGD on the mean cross-entropy, one example at a time in a seeded order per epoch,
/// learning rate lr / (1 + epoch), `epochs` epochs; the reported test accuracy is that of the epoch with
/// the best validation accuracy (the first on ties).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/random.hpp"
#include "classification_tasks.hpp"
#include "wordpiece.hpp"

namespace growth::data {

struct bow_options {
  std::size_t epochs = 8;
  double lr = 0.5;
  std::size_t min_count = 2;
};

struct bow_result {
  double validation_accuracy = 0;
  double test_accuracy = 0;
  std::size_t features = 0;
  std::size_t best_epoch = 0;  ///< 1-based
};

inline bow_result bow_logistic_regression(const classification_task& t, std::uint64_t seed, const bow_options& o = {}) {
  using sparse = std::vector<std::pair<std::size_t, double>>;
  const tokenizer_options topt;
  std::unordered_map<std::string, std::size_t> counts;
  auto words = [&](const std::string& s) {
    std::vector<std::string> w;
    basic_tokenize(s, topt, w);
    return w;
  };
  for (const auto& e : t.train) {
    for (const auto& w : words(e.a)) ++counts["a:" + w];
    if (t.pair)
      for (const auto& w : words(e.b)) ++counts["b:" + w];
  }
  std::vector<std::string> vocab;
  for (const auto& [w, n] : counts)
    if (n >= o.min_count) vocab.push_back(w);
  std::sort(vocab.begin(), vocab.end());  // the feature order does not depend on hashing
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < vocab.size(); ++i) index[vocab[i]] = i + 1;  // 0 = bias
  const std::size_t F = vocab.size() + 1, K = t.label_names.size();
  auto featurise = [&](const text_example& e) {
    sparse x{{0, 1.0}};
    for (int seg = 0; seg < (t.pair ? 2 : 1); ++seg) {
      std::unordered_map<std::size_t, double> c;
      for (const auto& w : words(seg == 0 ? e.a : e.b)) {
        const auto it = index.find((seg == 0 ? "a:" : "b:") + w);
        if (it != index.end()) c[it->second] += 1;
      }
      sparse part(c.begin(), c.end());
      std::sort(part.begin(), part.end());
      double n2 = 0;
      for (const auto& [f, v] : part) n2 += v * v;
      for (auto& [f, v] : part) x.emplace_back(f, v / std::sqrt(n2));
    }
    return x;
  };
  auto all = [&](const std::vector<text_example>& ex) {
    std::vector<sparse> out;
    out.reserve(ex.size());
    for (const auto& e : ex) out.push_back(featurise(e));
    return out;
  };
  const auto xtr = all(t.train), xva = all(t.validation), xte = all(t.test);
  std::vector<double> W(F * K, 0.0), z(K);
  auto scores = [&](const sparse& x) {
    std::fill(z.begin(), z.end(), 0.0);
    for (const auto& [f, v] : x)
      for (std::size_t k = 0; k < K; ++k) z[k] += W[f * K + k] * v;
  };
  auto accuracy = [&](const std::vector<sparse>& xs, const std::vector<text_example>& ex) {
    if (xs.empty()) return 0.0;
    std::size_t hit = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      scores(xs[i]);
      hit += static_cast<std::int32_t>(std::max_element(z.begin(), z.end()) - z.begin()) == ex[i].label ? 1 : 0;
    }
    return static_cast<double>(hit) / static_cast<double>(xs.size());
  };
  bow_result res;
  res.features = F;
  res.validation_accuracy = -1;
  std::vector<std::size_t> order(xtr.size());
  for (std::size_t epoch = 0; epoch < o.epochs; ++epoch) {
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    detail::seeded_shuffle(order, seed, 0xb0f + epoch);
    const double lr = o.lr / (1.0 + static_cast<double>(epoch));
    for (const std::size_t i : order) {
      scores(xtr[i]);
      const double mx = *std::max_element(z.begin(), z.end());
      double s = 0;
      for (auto& v : z) s += (v = std::exp(v - mx));
      for (auto& v : z) v /= s;
      z[static_cast<std::size_t>(t.train[i].label)] -= 1;  // dloss/dscores = softmax - onehot
      for (const auto& [f, v] : xtr[i])
        for (std::size_t k = 0; k < K; ++k) W[f * K + k] -= lr * z[k] * v;
    }
    const double va = accuracy(xva, t.validation);
    if (va > res.validation_accuracy) {
      res.validation_accuracy = va;
      res.test_accuracy = accuracy(xte, t.test);
      res.best_epoch = epoch + 1;
    }
  }
  return res;
}

}  // namespace growth::data
