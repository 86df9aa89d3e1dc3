// Compile-only conformance checks for the core types and adapters/raw.hpp, and for what must NOT
// model growth::tensor_like.
#include <growth/adapters/raw.hpp>
#include <growth/core/concepts.hpp>
#include <growth/core/tensor.hpp>

#include <array>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace growth;

struct not_a_tensor {
  float* data;
  std::size_t rows, cols;
};

// The library's own types.
static_assert(tensor_like<tensor<float, 2>> && mutable_tensor_like<tensor<float, 2>> && host_tensor_like<tensor<float, 2>>);
static_assert(tensor_like<const tensor<double, 3>> && !mutable_tensor_like<const tensor<double, 3>>);
static_assert(tensor_like<tensor<bfloat16, 1>> && tensor_like<tensor<float16, 4>>);
static_assert(mutable_tensor_like<tensor_view<float, 2>> && !mutable_tensor_like<tensor_view<const float, 2>>);
static_assert(rank_of<tensor_view<double, 4>> == 4 && std::is_same_v<value_type_of<tensor_view<const double, 1>>, double>);

// raw_view returns host views with the deduced rank and the right constness.
static_assert(std::is_same_v<decltype(raw_view(std::declval<float*>(), {2, 3})), tensor_view<float, 2>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<const double*>(), {2, 3, 4})), tensor_view<const double, 3>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<float*>(), {2, 3}, {1, 2})), tensor_view<float, 2>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<std::vector<float>&>(), {6})), tensor_view<float, 1>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<const std::vector<float>&>(), {2, 3})), tensor_view<const float, 2>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<std::span<const double>>(), {2, 3})), tensor_view<const double, 2>>);
static_assert(std::is_same_v<decltype(raw_view(std::declval<std::span<float, 6>>(), std::array<std::size_t, 2>{2, 3})),
                             tensor_view<float, 2>>);

// Not tensors.
static_assert(!tensor_like<int>);
static_assert(!tensor_like<float*>);
static_assert(!tensor_like<std::vector<float>>);
static_assert(!tensor_like<std::span<float>>);
static_assert(!tensor_like<std::array<float, 4>>);
static_assert(!tensor_like<std::string>);
static_assert(!tensor_like<std::map<int, float>>);
static_assert(!tensor_like<not_a_tensor>);
static_assert(!tensor_like<tensor<int, 2>>);  // int is not an element type
static_assert(!mutable_tensor_like<int> && !host_tensor_like<std::vector<double>>);

}  // namespace
