#pragma once
/// @file presets.hpp
/// Ready-made schedules. The paper's exact CompoundGrow schedule was not recovered (paper-notes.md 4.2), so
/// these follow the order the reference code suggests: (1) a low-cost model with reduced depth, FFN sharing
/// and embedding pooling; (2) stacking to full depth, still low-cost; (3) un-sharing the FFN and un-pooling
/// into the standard BERT. The step split follows the operator comparison's 70% low-cost / 30% full.
#include "schedule.hpp"
#include "stage.hpp"

namespace growth::sched::presets {

/// Demo-sized CompoundGrow toward L=4, H=256, A=4, I=1024, S=128 (vocab 8192, batch 32, 15% masked).
/// schedules/compound_grow.json holds the same schedule as a file.
using compound_grow_demo = schedule<
    run_settings{.vocab_size = 8192, .batch_size = 32, .masked_per_mille = 150},
    // (1) half depth, FFN shared in every layer (k = 4: 256 neurons), mean pooling k = 2.
    stage{.steps = 3000,
          .shape = {.layers = 2, .hidden = 256, .heads = 4, .ffn = 1024, .seq_len = 128,
                    .ffn_share_factor = 4, .ffn_shared_every = 1, .pool_size = 2}},
    // (2) stack to full depth (layer i copies layer i mod 2), keeping the low-cost variants.
    stage{.steps = 4000,
          .shape = {.layers = 4, .hidden = 256, .heads = 4, .ffn = 1024, .seq_len = 128,
                    .ffn_share_factor = 4, .ffn_shared_every = 1, .pool_size = 2},
          .enter = {.depth = depth_mode::stack}},
    // (3) un-share the FFN (tile x 4, W_out / 4: exact) and un-pool: the standard BERT.
    stage{.steps = 3000,
          .shape = {.layers = 4, .hidden = 256, .heads = 4, .ffn = 1024, .seq_len = 128},
          .enter = {.ffn = ffn_mode::unshare}}>;

}  // namespace growth::sched::presets
