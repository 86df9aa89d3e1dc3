// Compile-fail test: the hidden size shrinks from stage 0 to stage 1, so instantiating the schedule must stop
// at the "dimension shrinks" static_assert (ctest checks the message). With GROWTH_SCHEDULE_CONTROL defined the
// same file uses a valid stage 1 and must compile: that proves the failure comes from the rule, not a typo.
#include <growth/schedule/schedule.hpp>

using namespace growth;  // the operator vocabulary (ops/options.hpp) and model::shape
using namespace growth::sched;

#ifdef GROWTH_SCHEDULE_CONTROL
constexpr std::size_t second_hidden = 256;
#else
constexpr std::size_t second_hidden = 128;  // shrinks from 256
#endif

using shrinking = schedule<run_settings{1000, 8, 150},
                           stage{10, model::shape{.layers = 2, .hidden = 256, .heads = 4, .ffn = 512, .seq_len = 64}},
                           stage{10, model::shape{.layers = 4, .hidden = second_hidden, .heads = 4, .ffn = 512,
                                                 .seq_len = 64}}>;

static_assert(shrinking::size == 2);
