// Consumer of growth::core alone (growth-core.pc): the core layer needs the standard library only, so
// neither Eigen nor (through the target) nlohmann-json may reach this translation unit. Grows a tensor
// with a gather map and includes every operator (ops.hpp).
#include <growth/core/index_map.hpp>
#include <growth/ops.hpp>
#include <growth/version.hpp>
#if __has_include(<Eigen/Core>)
#error "growth::core put Eigen on the include path"
#endif

#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
  growth::tensor<float, 1> in({2});
  in(0) = 1.0f;
  in(1) = 2.0f;
  const std::vector<std::int64_t> src{1, 0, 1};
  const std::vector<double> scale{1.0, 1.0, 0.5};
  const auto m = growth::tensor_map<1>::along({2}, 0, growth::axis_map::gather(2, src, scale));
  growth::tensor<float, 1> out({3});
  growth::apply(m, in, out, "core consumer");
  const bool ok = out(0) == 2.0f && out(1) == 1.0f && out(2) == 1.0f;
  std::printf("growth %s consumer %s (core)\n", GROWTH_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
