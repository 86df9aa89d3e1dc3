// "No allocation in the training step after warm-up": counts every call to malloc / calloc / realloc /
// aligned_alloc / posix_memalign / memalign in this process (operator new, Eigen's aligned_malloc and the
// OpenMP runtime all end there) while the reference BERT and AdamW take training steps, on one thread and
// on two; then the same for the reference causal LM. The count must be zero after the first (warm-up) step.
//
// glibc lets a program interpose the allocator by defining these symbols; the originals stay reachable as
// __libc_*. Sanitizer builds interpose the allocator themselves, so this binary is not built there.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <growth/reference/adamw.hpp>
#include <growth/reference/bert.hpp>
#include <growth/reference/causal_lm.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "support/batches.hpp"
#include "support/configs.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};
inline void note() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t s) {
  note();
  return __libc_calloc(n, s);
}
void* realloc(void* p, std::size_t n) {
  note();
  return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(std::size_t a, std::size_t n) {
  note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** p, std::size_t a, std::size_t n) {
  note();
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12;  // ENOMEM
}
}

namespace {

/// Allocations during `steps` training steps (forward, backward, AdamW) after one warm-up step.
std::size_t allocations_per_steps(const growth::model::bert_config& c, const growth::model::mlm_batch& b, int steps) {
  growth::reference::bert<float> m(c);
  m.init(1);
  growth::reference::adamw<float> opt(c, {});
  std::uint64_t step = 0;
  m.forward_backward(b, ++step);  // warm-up: the workspace is sized here
  opt.step(m.flat_params(), m.flat_grads(), 1e-4f);
  allocations = 0;
  counting = true;
  for (int i = 0; i < steps; ++i) {
    m.forward_backward(b, ++step);
    opt.step(m.flat_params(), m.flat_grads(), 1e-4f);
  }
  counting = false;
  return allocations.load();
}

growth::model::bert_config step_config(bool lowcost) {
  growth::model::bert_config c = growth::test::tiny_bert(
      {.vocab = 512, .hidden = 64, .layers = 3, .heads = 4, .intermediate = 256, .positions = 64});
  if (lowcost) {
    c.ffn_shared_layers = {0};
    c.ffn_share_factor = 4;
    c.ffn_factorized_layers = {1};
    c.ffn_rank = 16;
  }
  return c;
}

}  // namespace

TEST_CASE("training step: no allocation after the warm-up step (1 and 2 threads, standard and low-cost, post- and pre-LN)") {
  for (int threads : {1, 2}) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    for (bool lowcost : {false, true}) {
      for (bool pre_ln : {false, true}) {
        auto c = step_config(lowcost);
        c.pre_layer_norm = pre_ln;
        const auto b = growth::test::random_batch(c, 4, 64, 5, 11);
        CAPTURE(threads);
        CAPTURE(lowcost);
        CAPTURE(pre_ln);
        CHECK(allocations_per_steps(c, b, 3) == 0);
      }
    }
  }
}

// The reference causal LM (reference/causal_lm.hpp) likewise: both families, with every dropout they have.
namespace {

std::size_t decoder_allocations_per_steps(const growth::model::decoder_config& c, const growth::model::clm_batch& b, int steps) {
  growth::reference::causal_lm<float> m(c);
  m.init(1);
  growth::reference::adamw<float> opt(c, {});
  std::uint64_t step = 0;
  m.forward_backward(b, ++step);  // warm-up: the workspace is sized here
  opt.step(m.flat_params(), m.flat_grads(), 1e-4f);
  allocations = 0;
  counting = true;
  for (int i = 0; i < steps; ++i) {
    m.forward_backward(b, ++step);
    opt.step(m.flat_params(), m.flat_grads(), 1e-4f);
  }
  counting = false;
  return allocations.load();
}

growth::model::decoder_config decoder_step_config(bool gpt2) {
  growth::model::decoder_config c;
  c.vocab_size = 512;
  c.hidden_size = 64;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = gpt2 ? 4 : 2;
  c.intermediate_size = 192;
  c.max_position_embeddings = 64;
  c.attention_dropout = 0.1;
  if (gpt2) {
    c.family = growth::model::decoder_family::gpt2;
    c.model_type = "gpt2";
    c.hidden_act = "gelu_new";
    c.tie_word_embeddings = true;
    c.residual_dropout = c.embedding_dropout = 0.1;
  } else {
    c.qkv_bias = true;
  }
  return c;
}

}  // namespace

TEST_CASE("causal LM training step: no allocation after the warm-up step (1 and 2 threads, llama and gpt2)") {
  for (int threads : {1, 2}) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    for (bool gpt2 : {false, true}) {
      const auto c = decoder_step_config(gpt2);
      growth::model::clm_batch b(4, 48);
      growth::rng r(3, 4);
      for (std::size_t i = 0; i < b.tokens(); ++i) {
        b.input_ids[i] = static_cast<std::int32_t>(r.below(c.vocab_size));
        b.labels[i] = b.input_ids[i];
      }
      for (std::size_t s = 40; s < 48; ++s) {
        b.attention_mask[3 * 48 + s] = 0;
        b.labels[3 * 48 + s] = growth::model::ignore_label;
      }
      CAPTURE(threads);
      CAPTURE(gpt2);
      CHECK(decoder_allocations_per_steps(c, b, 3) == 0);
    }
  }
}
