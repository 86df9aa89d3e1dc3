#include <doctest/doctest.h>

#include <growth/core/index_map.hpp>
#include <growth/core/random.hpp>

using namespace growth;

TEST_CASE("axis_map gather with scale and zero rows") {
  tensor<float, 2> in({3, 4});
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j) in(i, j) = float(10 * i + j);
  std::vector<std::int64_t> src{2, -1, 0, 1, 2};
  std::vector<double> sc{1.0, 1.0, 0.5, 2.0, 1.0};
  tensor_map<2> m;
  m.axes[0] = axis_map::gather(3, src, sc);
  m.axes[1] = axis_map::identity(4);
  tensor<float, 2> out({5, 4});
  apply(m, in, out, "t");
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(out(0, j) == in(2, j));
    CHECK(out(1, j) == 0.0f);
    CHECK(out(2, j) == 0.5f * in(0, j));
    CHECK(out(3, j) == 2.0f * in(1, j));
  }
}

TEST_CASE("general path sums rows in order") {
  tensor<double, 2> in({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) in(i, j) = double(i * 3 + j + 1);
  axis_map rows(2);
  rows.begin_row();
  rows.add_entry(0, 0.25);
  rows.add_entry(1, 0.75);
  axis_map cols(3);
  cols.begin_row();
  cols.add_entry(2, 1.0);
  cols.add_entry(0, 1.0);
  tensor_map<2> m{{rows, cols}};
  tensor<double, 2> out({1, 1});
  apply(m, in, out);
  CHECK(out(0, 0) == doctest::Approx(0.25 * (3 + 1) + 0.75 * (6 + 4)));
}

TEST_CASE("shape mismatch names the tensor") {
  tensor<float, 2> in({3, 4}), out({3, 5});
  auto m = tensor_map<2>::along({3, 4}, 0, axis_map::identity(3));
  CHECK_THROWS_WITH_AS(apply(m, in, out, "W1"), doctest::Contains("W1 (output shape): expected [3, 4], got [3, 5]"),
                       growth::error);
}
