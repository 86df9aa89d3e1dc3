// A minimal downstream program of growth::growth (growth.pc): includes the umbrella header and the Eigen
// adapter (growth::growth brings Eigen), grows a tensor with a gather map and checks the result. Used by
// every package test (find_package, add_subdirectory, pkg-config), beside one consumer per layer
// (consumer_<layer>.cpp).
#include <growth/growth.hpp>
#ifdef GROWTH_CONSUMER_EIGEN
#include <growth/adapters/eigen.hpp>
#endif

#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
  growth::tensor<float, 2> in({2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) in(i, j) = float(10 * i + j);
  const std::vector<std::int64_t> src{1, 0, 1};
  const std::vector<double> scale{1.0, 1.0, 0.5};
  const auto m = growth::tensor_map<2>::along({2, 3}, 0, growth::axis_map::gather(2, src, scale));
  growth::tensor<float, 2> out({3, 3});
  growth::apply(m, in, out, "consumer");
  int bad = 0;
  for (std::size_t j = 0; j < 3; ++j) {
    bad += out(0, j) != in(1, j);
    bad += out(1, j) != in(0, j);
    bad += out(2, j) != 0.5f * in(1, j);
  }
#ifdef GROWTH_CONSUMER_EIGEN
  Eigen::MatrixXf ein(2, 3), eout(3, 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) ein(i, j) = in(std::size_t(i), std::size_t(j));
  growth::apply(m, ein, eout, "consumer eigen");
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) bad += eout(i, j) != out(std::size_t(i), std::size_t(j));
  std::printf("eigen adapter ok\n");
#endif
  std::printf("growth %s consumer %s\n", GROWTH_VERSION_STRING, bad == 0 ? "ok" : "FAILED");
  return bad == 0 ? 0 : 1;
}
