#pragma once
/// @file growth.hpp
/// Umbrella header: the core and every operator. Standard library only. The reference BERT
/// (growth/reference/), I/O (growth/io/) and the adapters (growth/adapters/) are included separately.
#include "version.hpp"
#include "core/concepts.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/index_map.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "core/unit_map.hpp"
#include "model/bert_config.hpp"
#include "model/bert_layout.hpp"
#include "model/parameter_set.hpp"
