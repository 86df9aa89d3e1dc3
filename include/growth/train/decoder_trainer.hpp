#pragma once
/// @file train/decoder_trainer.hpp
/// The progressive trainer on decoder LMs (model/decoder_config.hpp: LLaMA family, GPT-2): the same
/// basic_progressive_trainer loop as BERT's (train/trainer.hpp: schedules, growth at stage boundaries with the
/// stage's `enter` operators and the AdamW moments, learning-rate curves, log rows, checkpoints, --resume),
/// with the decoder family below: reference::causal_lm<float>, next-token loss on train::clm_data_source
/// (train/clm_data.hpp), growth by model::grow on decoder configs, decoder checkpoint folders
/// (io/checkpoint.hpp's decoder_checkpoint).
///
/// Stage models: model::to_decoder_config(stage shape, vocab, options.base) (model/decoder_shape.hpp): the
/// shape gives layers, hidden, heads, kv_heads, ffn and max_positions; family, norm eps, rope_theta, tying,
/// biases, dropout and init range come from the base config (the starting checkpoint's). Decoders have no
/// low-cost FFN variants and no pooling.
///
/// Validation: the mean next-token loss over the full-length validation blocks (dropout off), every stage on
/// the same blocks. A shorter stage's model reads them directly (rotary models have no position table; a
/// GPT-2 stage's table must hold the full length: its max_positions).
///
/// FLOPs (the convention of model/flops.hpp: matmuls only, 2 per multiply-add, training = 3 x forward), per
/// sequence of S tokens and per layer: q, k, v and o projections 2 S H (2 A + 2 K) with A = heads x head
/// size and K = kv_heads x head size; scores and context 2 * 2 S S A (the full square, as for BERT: the
/// reference computes it); FFN 2 S H I times 3 (LLaMA's gate, up, down) or 2 (GPT-2's c_fc, c_proj); the LM
/// head 2 H V on the S - 1 scored positions of a full block (the reference runs it on scored rows only).
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../io/checkpoint.hpp"
#include "../io/decoder_config_json.hpp"
#include "../model/decoder_config.hpp"
#include "../model/decoder_shape.hpp"
#include "../model/grow.hpp"
#include "../reference/adamw.hpp"
#include "../reference/causal_lm.hpp"
#include "clm_data.hpp"
#include "trainer.hpp"

namespace growth::train {

/// Forward FLOPs of one full block of a decoder stage shape (see the file comment); `gated`: LLaMA's
/// three-matrix SwiGLU FFN, else GPT-2's two-matrix MLP.
constexpr double decoder_forward_flops_per_sequence(const model::shape& s, std::size_t vocab_size, bool gated) {
  const auto S = static_cast<double>(s.seq_len), H = static_cast<double>(s.hidden), I = static_cast<double>(s.ffn);
  const double head = s.heads ? H / static_cast<double>(s.heads) : 0.0;
  const double A = static_cast<double>(s.heads) * head;
  const double K = static_cast<double>(s.kv_heads == 0 ? s.heads : s.kv_heads) * head;
  const double layer = 2.0 * S * H * (2.0 * A + 2.0 * K) + 2.0 * 2.0 * S * S * A + (gated ? 3.0 : 2.0) * 2.0 * S * H * I;
  return static_cast<double>(s.layers) * layer + (S - 1.0) * 2.0 * H * static_cast<double>(vocab_size);
}

/// Training FLOPs of one optimizer step (batch_size blocks): 3 x forward.
constexpr double decoder_training_flops_per_step(const model::shape& s, const sched::run_settings& run, bool gated) {
  return 3.0 * static_cast<double>(run.batch_size) * decoder_forward_flops_per_sequence(s, run.vocab_size, gated);
}

namespace detail {
/// trainer_state.json options of a decoder run: the base config as its config.json object ("decoder_base").
template <>
struct base_fields<model::decoder_config> {
  static void write(io::json& j, const model::decoder_config& b) { j["decoder_base"] = io::json(b); }
  static void read(const io::json& j, model::decoder_config& b) {
    try {
      b = io::at(j, "decoder_base", "trainer_state options").get<model::decoder_config>();
    } catch (const error& e) {
      throw error(std::string("trainer_state options.decoder_base: ") + e.what());
    }
  }
};
}  // namespace detail

/// What the trainer needs of the decoder LMs (see bert_family in trainer.hpp).
struct decoder_family {
  using config_t = model::decoder_config;
  using model_t = reference::causal_lm<float>;
  using optim_t = reference::adamw<float>;
  using data_t = clm_data_source;
  using checkpoint_t = io::decoder_checkpoint;
  static constexpr std::size_t min_seq_len = 2;  ///< a token and the next one

  static config_t stage_config(const model::shape& s, std::size_t vocab_size, const config_t& base) {
    return model::to_decoder_config(s, vocab_size, base);
  }
  static double flops_per_step(const model::shape& s, const sched::run_settings& run, const config_t& base) {
    return decoder_training_flops_per_step(s, run, !base.is_gpt2());
  }
  static model::clm_batch train_batch(data_t& d, std::uint64_t seed, std::size_t step, const model::shape& s,
                                      const sched::run_settings& run) {
    return d.train_batch(seed, step, s.seq_len, run.batch_size);
  }
  using batch_t = model::clm_batch;
  /// Data-parallel forward and backward of this rank's share sh of the global batch b: the share's mean-loss
  /// gradient times (share targets / global targets) is the share's part of the global batch's mean-loss
  /// gradient, so the ranks' sum is the whole batch's. Dropout masks are keyed on positions within the
  /// batch the model sees, so a share would draw other masks than the single process: data-parallel decoder
  /// training is refused while the config has any dropout (BERT keys them on global rows: batch_slice).
  static reference::clm_result forward_backward_share(model_t& m, const model::clm_batch& b, std::uint64_t dropout_seed,
                                                      const batch_share& sh) {
    const auto& c = m.config();
    if (c.attention_dropout != 0 || c.residual_dropout != 0 || c.embedding_dropout != 0)
      throw error("data-parallel decoder training", "a config without dropout (attention_dropout, resid_pdrop, embd_pdrop 0)",
                  "dropout on");
    const std::size_t global = b.num_targets();
    reference::clm_result r = m.forward_backward(batch_rows(b, sh), dropout_seed);
    const float scale = global ? static_cast<float>(static_cast<double>(r.targets) / static_cast<double>(global)) : 0.0f;
    for (float& g : m.flat_grads()) g *= scale;
    return r;
  }
  /// Mean next-token loss over the validation blocks (dropout off), weighted by their targets.
  static double evaluate(model_t& m, data_t& d, const sched::run_settings& /*run*/) {
    double sum = 0;
    std::size_t n = 0;
    for (const auto& b : d.validation_batches()) {
      const auto r = m.evaluate(b);
      sum += r.loss * static_cast<double>(r.targets);
      n += r.targets;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  }
  /// Growth between stages: model::grow on decoder configs (model/grow.hpp, the decoder layout tables).
  static void grow(const config_t& from, const model::parameter_set<float>& src, const config_t& to,
                   const model::parameter_set<float>& dst, const growth::grow_options& go, const model::moments<float>* ms,
                   const model::moments<float>* md) {
    model::grow(from, src, to, dst, go, ms, md);
  }
  static checkpoint_t load_checkpoint(const std::filesystem::path& dir) { return io::load_decoder_checkpoint(dir); }
};

using decoder_trainer_options = basic_trainer_options<model::decoder_config>;
using decoder_resume_info = basic_resume_info<decoder_trainer_options>;
/// The decoder LM trainer.
using decoder_trainer = basic_progressive_trainer<decoder_family>;

}  // namespace growth::train
