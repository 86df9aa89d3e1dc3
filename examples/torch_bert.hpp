#pragma once
/// @file torch_bert.hpp
/// A compact libtorch BertForMaskedLM (post-LN encoder, erf-GELU, MLM head with the decoder tied to the
/// word embeddings, no dropout) whose named_parameters() are exactly the Hugging Face names of
/// growth::model::bert_parameters(config). Used by examples/torch_grow.cpp and tests/torch/.
///
/// Compact on purpose: the module tree is made of plain torch::nn::Module nodes created from the dotted
/// HF names (register_parameter refuses dots), and the forward pass is functional over a name -> tensor
/// map that shares the registered parameters. Standard BERT only (no shared / factorised FFN).
#include <growth/model/bert_config.hpp>
#include <growth/model/bert_layout.hpp>

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

namespace growth_example {

class torch_bert : public torch::nn::Module {
 public:
  /// HF-style initialisation: weights N(0, initializer_range), biases 0, LayerNorm gains 1.
  torch_bert(const growth::model::bert_config& c, std::uint64_t seed, torch::Dtype dtype = torch::kFloat) : c_(c) {
    c.validate();
    torch::manual_seed(seed);
    for (const auto& s : growth::model::bert_parameters(c)) {
      std::vector<std::int64_t> shp(s.shape.begin(), s.shape.end());
      at::Tensor t;
      if (s.is_layernorm() && s.name.ends_with("weight")) t = torch::ones(shp);
      else if (s.shape.size() == 1) t = torch::zeros(shp);
      else t = torch::randn(shp) * c.initializer_range;
      add(s.name, t.to(dtype));
    }
  }

  [[nodiscard]] const growth::model::bert_config& config() const { return c_; }

  /// MLM logits (batch, seq, vocab) of token ids (batch, seq); token type 0, positions 0..seq-1.
  at::Tensor forward(const at::Tensor& ids) const {
    const auto& c = c_;
    const std::int64_t B = ids.size(0), S = ids.size(1), H = static_cast<std::int64_t>(c.hidden_size);
    const std::int64_t nh = static_cast<std::int64_t>(c.num_attention_heads), hd = H / nh;
    const double eps = c.layer_norm_eps;
    auto P = [&](const std::string& n) -> const at::Tensor& { return p_.at(n); };
    auto ln = [&](const at::Tensor& x, const std::string& n) {
      return torch::layer_norm(x, {H}, P(n + ".weight"), P(n + ".bias"), eps);
    };
    auto lin = [&](const at::Tensor& x, const std::string& n) {
      return torch::linear(x, P(n + ".weight"), P(n + ".bias"));
    };
    const at::Tensor pos = torch::arange(S, torch::kLong);
    at::Tensor x = torch::embedding(P("bert.embeddings.word_embeddings.weight"), ids) +
                   torch::embedding(P("bert.embeddings.position_embeddings.weight"), pos).unsqueeze(0) +
                   P("bert.embeddings.token_type_embeddings.weight")[0];
    x = ln(x, "bert.embeddings.LayerNorm");
    for (std::size_t l = 0; l < c.num_hidden_layers; ++l) {
      const std::string pre = growth::model::layer_prefix(l);
      auto heads = [&](const at::Tensor& t) { return t.view({B, S, nh, hd}).transpose(1, 2); };
      const at::Tensor q = heads(lin(x, pre + "attention.self.query"));
      const at::Tensor k = heads(lin(x, pre + "attention.self.key"));
      const at::Tensor v = heads(lin(x, pre + "attention.self.value"));
      const at::Tensor probs = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(hd)), -1);
      const at::Tensor ctx = torch::matmul(probs, v).transpose(1, 2).reshape({B, S, H});
      const at::Tensor a = ln(x + lin(ctx, pre + "attention.output.dense"), pre + "attention.output.LayerNorm");
      const at::Tensor h = torch::gelu(lin(a, pre + "intermediate.dense"));
      x = ln(a + lin(h, pre + "output.dense"), pre + "output.LayerNorm");
    }
    const at::Tensor t = ln(torch::gelu(lin(x, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm");
    return torch::linear(t, P("bert.embeddings.word_embeddings.weight"), P("cls.predictions.bias"));
  }

 private:
  /// Registers tensor t as parameter `name` (dotted HF name) in a tree of plain modules.
  void add(const std::string& name, const at::Tensor& t) {
    torch::nn::Module* m = this;
    std::string path;
    std::size_t b = 0;
    for (std::size_t e = name.find('.'); e != std::string::npos; b = e + 1, e = name.find('.', b)) {
      const std::string part = name.substr(b, e - b);
      path += part + ".";
      auto it = nodes_.find(path);
      if (it == nodes_.end())
        it = nodes_.emplace(path, m->register_module(part, std::make_shared<torch::nn::Module>())).first;
      m = it->second.get();
    }
    p_[name] = m->register_parameter(name.substr(b), t);
  }

  growth::model::bert_config c_;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> nodes_;
  std::map<std::string, at::Tensor> p_;
};

}  // namespace growth_example
