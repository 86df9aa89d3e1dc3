#pragma once
/// @file ops.hpp
/// Umbrella header for the growth operators: depth (stack, interpolate, exact identity insertion),
/// width (FFN split / un-share, hidden replicate / mean-pad, un-factorise), attention heads, length
/// (position tables, mean pooling) and the fresh-value fill helpers. Standard library only.
#include "ops/depth.hpp"
#include "ops/fill.hpp"
#include "ops/heads.hpp"
#include "ops/length.hpp"
#include "ops/options.hpp"
#include "ops/width.hpp"
