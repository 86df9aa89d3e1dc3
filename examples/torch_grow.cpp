// Grow a libtorch BERT mid-training, with its AdamW state, using growth::torch_grow (which calls
// growth::model::grow: the same whole-model growth as the reference trainer).
//
// A small BertForMaskedLM (examples/torch_bert.hpp, Hugging Face parameter names) is trained a few AdamW
// steps on random token runs, then grown with exact operators: depth 2 -> 3 by identity insertion, FFN
// 64 -> 128 by neuron splitting, hidden 32 -> 64 by replication with the heads duplicated (2 -> 4 at head
// size 16). The MLM logits before and after growth are compared (printed as "logit max abs diff"), then
// training continues with the grown AdamW (moments mapped, step kept).
#include <growth/adapters/torch_grow.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <exception>

#include "torch_bert.hpp"

namespace {

struct batch {
  at::Tensor ids, labels;
};

/// Runs of consecutive token ids from a random start (so a masked token is predictable from its
/// neighbours and the loss can fall); 15% of the positions are replaced by [MASK] (id 1) and predicted.
batch make_batch(std::int64_t vocab, std::int64_t b, std::int64_t s) {
  batch out;
  const at::Tensor start = torch::randint(0, vocab - 2, {b, 1}, torch::kLong);
  out.labels = (start + torch::arange(s, torch::kLong).unsqueeze(0)).remainder(vocab - 2) + 2;
  const at::Tensor masked = torch::rand({b, s}) < 0.15;
  out.ids = torch::where(masked, torch::ones_like(out.labels), out.labels);
  out.labels = torch::where(masked, out.labels, torch::full_like(out.labels, -100));
  return out;
}

double train_step(growth_example::torch_bert& m, torch::optim::AdamW& opt, const batch& b) {
  opt.zero_grad();
  const at::Tensor logits = m.forward(b.ids);
  const at::Tensor loss = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), b.labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  loss.backward();
  opt.step();
  return loss.item<double>();
}

/// AdamW with the usual BERT grouping: no weight decay on biases and LayerNorm.
std::unique_ptr<torch::optim::AdamW> make_optimizer(growth_example::torch_bert& m) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& s : growth::model::bert_parameters(m.config()))
    (s.decay ? decay : no_decay).push_back(m.named_parameters(true)[s.name]);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(2e-3).weight_decay(0.01)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(2e-3).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(2e-3));
}

}  // namespace

int main() try {
  torch::set_num_threads(1);
  growth::model::bert_config small;
  small.vocab_size = 128;
  small.hidden_size = 32;
  small.num_hidden_layers = 2;
  small.num_attention_heads = 2;
  small.intermediate_size = 64;
  small.max_position_embeddings = 32;
  growth::model::bert_config big = small;
  big.num_hidden_layers = 3;
  big.hidden_size = 64;
  big.num_attention_heads = 4;
  big.intermediate_size = 128;

  growth_example::torch_bert model(small, 1);
  auto opt = make_optimizer(model);
  torch::manual_seed(7);
  for (int step = 1; step <= 20; ++step)
    std::printf("small step %d  loss %.4f\n", step, train_step(model, *opt, make_batch(128, 8, 16)));

  growth::grow_options o;
  o.depth = growth::depth_mode::identity;
  o.ffn = growth::ffn_mode::split;
  o.hidden = growth::hidden_mode::replicate;
  o.heads = growth::heads_mode::duplicate;
  o.optimizer = growth::optimizer_policy::map;

  growth_example::torch_bert grown(big, 2);
  auto r = growth::torch_grow::grow_module(small, model, opt.get(), big, grown, o);
  std::printf("grown %zu -> %zu parameters (exact transition: %s)\n", growth::model::parameter_count(small),
              growth::model::parameter_count(big), r.exact.exact ? "yes" : "no");

  const batch probe = make_batch(128, 4, 16);
  double diff = 0;
  {
    torch::NoGradGuard no_grad;
    diff = (model.forward(probe.ids) - grown.forward(probe.ids)).abs().max().item<double>();
  }
  const double tol = 1e-4;
  std::printf("logit max abs diff %.3g (tolerance %.0e) %s\n", diff, tol, diff <= tol ? "OK" : "FAIL");

  for (int step = 21; step <= 30; ++step)
    std::printf("grown step %d  loss %.4f\n", step, train_step(grown, *r.optimizer, make_batch(128, 8, 16)));
  return diff <= tol ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "torch_grow: %s\n", e.what());
  return 2;
}
