// Compile-fail test: hidden grows 256 -> 384 (with heads 4 -> 6, so the head size stays 64) by
// enter.hidden = replicate, which needs an integer factor; the schedule must stop at the "non-integer factor"
// static_assert. With GROWTH_SCHEDULE_CONTROL defined, the growth uses mean_pad (any size) and must compile.
#include <growth/schedule/schedule.hpp>

using namespace growth;  // the operator vocabulary (ops/options.hpp) and model::shape
using namespace growth::sched;

#ifdef GROWTH_SCHEDULE_CONTROL
constexpr hidden_mode op = hidden_mode::mean_pad;
#else
constexpr hidden_mode op = hidden_mode::replicate;  // 384 % 256 != 0
#endif

using non_integer = schedule<run_settings{1000, 8, 150},
                             stage{10, model::shape{.layers = 2, .hidden = 256, .heads = 4, .ffn = 512, .seq_len = 64}},
                             stage{10, model::shape{.layers = 2, .hidden = 384, .heads = 6, .ffn = 512, .seq_len = 64},
                                   grow_options{.hidden = op, .heads = heads_mode::add}}>;

static_assert(non_integer::size == 2);
