#pragma once
// The finite-difference gradient check of the reference BERT tests (their tiny configs, batches and random
// parameters are in tests/support/): 4-point stencil, h = 1e-4: truncation O(h^4) ~ 1e-16, rounding noise
// ~ 1e-16 * loss / h ~ 1e-12.
// Criteria of gradcheck():
//   per tensor:  ||analytic - numeric||_2 / max(||analytic||_2, ||numeric||_2) <= 1e-6
//                (a tensor whose gradient is identically 0, the attention key bias, needs ||diff|| <= 1e-8)
//   per entry:   |analytic - numeric| <= 1e-6 * max(|analytic|, |numeric|) + 1e-10
// (the 1e-10 floor only matters for entries whose gradient is ~0, where finite differences are noise).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/model/bert_config.hpp>
#include <growth/reference/batch.hpp>
#include <growth/reference/bert.hpp>

#include "support/batches.hpp"
#include "support/configs.hpp"
#include "support/models.hpp"

namespace growth::test {

struct check_result {
  double worst_rel = 0;  // worst per-entry relative error among entries with |grad| > 1e-4
  std::string worst_name;
  double worst_tensor_rel = 0;
  std::string worst_tensor;
  std::size_t checked = 0;
  std::size_t failed = 0;
};

inline check_result gradcheck(const model::bert_config& c, const model::mlm_batch& b, std::uint64_t seed,
                              std::uint64_t dropout_seed) {
  reference::bert<double> m(c);
  randomize(m, seed);
  m.forward_backward(b, dropout_seed);
  const std::vector<double> analytic(m.flat_grads().begin(), m.flat_grads().end());
  auto p = m.flat_params();
  const double h = 1e-4;
  check_result res;
  const auto& L = m.layout();
  auto loss_at = [&](std::size_t k, double x) {
    const double keep = p[k];
    p[k] = x;
    const double l = m.forward_train(b, dropout_seed).loss;
    p[k] = keep;
    return l;
  };
  for (std::size_t i = 0; i < L.specs.size(); ++i) {
    double diff2 = 0, ana2 = 0, num2 = 0;
    for (std::size_t j = 0; j < L.specs[i].numel(); ++j) {
      const std::size_t k = L.offsets[i] + j;
      const double x = p[k];
      const double num =
          (-loss_at(k, x + 2 * h) + 8 * loss_at(k, x + h) - 8 * loss_at(k, x - h) + loss_at(k, x - 2 * h)) / (12 * h);
      const double ana = analytic[k];
      const double err = std::abs(num - ana);
      const double scale = std::max(std::abs(num), std::abs(ana));
      diff2 += err * err;
      ana2 += ana * ana;
      num2 += num * num;
      ++res.checked;
      if (err > 1e-6 * scale + 1e-10) {
        if (res.failed < 10)
          MESSAGE(L.specs[i].name << "[" << j << "]: analytic " << ana << " numeric " << num);
        ++res.failed;
      }
      if (scale > 1e-4 && err / scale > res.worst_rel) {
        res.worst_rel = err / scale;
        res.worst_name = L.specs[i].name + "[" + std::to_string(j) + "]";
      }
    }
    // A tensor whose gradient is identically zero (the key bias: softmax ignores a per-row constant)
    // has only finite-difference noise to compare; it must then be ~0 in absolute terms.
    const double norm = std::sqrt(std::max(ana2, num2));
    const double tensor_rel = norm < 1e-8 ? std::sqrt(diff2) / 1e-8 * 1e-6 : std::sqrt(diff2) / norm;
    if (tensor_rel > res.worst_tensor_rel) {
      res.worst_tensor_rel = tensor_rel;
      res.worst_tensor = L.specs[i].name;
    }
  }
  return res;
}

}  // namespace growth::test
