#pragma once
// Scratch folders for the io tests (tests/support/scratch_dir.hpp), named growth_io_<tag>_<pid>_<n>.
#include <string>

#include "support/scratch_dir.hpp"

namespace io_test {
struct scratch_dir : growth::test::scratch_dir {
  explicit scratch_dir(const std::string& tag) : growth::test::scratch_dir(tag, "growth_io_") {}
};
}  // namespace io_test
