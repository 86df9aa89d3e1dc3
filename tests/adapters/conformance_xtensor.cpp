// Compile-only conformance checks for adapters/xtensor.hpp.
#include <growth/adapters/xtensor.hpp>
#include <growth/core/concepts.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace growth;

template <class T, std::size_t R, bool Mutable>
constexpr bool models() {
  static_assert(tensor_like<T> && tensor_like<T&>);
  static_assert(host_tensor_like<T>);
  static_assert(mutable_tensor_like<T> == Mutable);
  static_assert(rank_of<T> == R);
  static_assert(tensor_like<const T> && !mutable_tensor_like<const T>);
  return true;
}

static_assert(models<xt::xtensor<float, 1>, 1, true>());
static_assert(models<xt::xtensor<float, 2>, 2, true>());
static_assert(models<xt::xtensor<double, 3>, 3, true>());
static_assert(models<xt::xtensor<double, 4, xt::layout_type::column_major>, 4, true>());
static_assert(std::is_same_v<value_type_of<xt::xtensor<double, 2>>, double>);
static_assert(models<xt::xtensor_fixed<float, xt::xshape<2, 3>>, 2, true>());
static_assert(models<xt::xtensor_fixed<double, xt::xshape<4>>, 1, true>());
static_assert(std::is_same_v<value_type_of<const xt::xtensor<float, 2>>, float>);

// xt::adapt with a std::array shape has a static rank.
using adapt_ptr = decltype(xt::adapt(std::declval<float*>(), std::size_t{6}, xt::no_ownership(),
                                     std::declval<std::array<std::size_t, 2>>()));
static_assert(models<adapt_ptr, 2, true>());
using adapt_vec = decltype(xt::adapt(std::declval<std::vector<double>&>(), std::declval<std::array<std::size_t, 3>>()));
static_assert(models<adapt_vec, 3, true>());

// Dynamic rank: not a tensor_like, but growth::xt_view<R> gives one.
static_assert(!tensor_like<xt::xarray<float>>);
static_assert(std::is_same_v<decltype(xt_view<2>(std::declval<xt::xarray<float>&>())), tensor_view<float, 2>>);
static_assert(std::is_same_v<decltype(xt_view<3>(std::declval<const xt::xarray<double>&>())), tensor_view<const double, 3>>);

// Unsupported element types and expressions without memory.
static_assert(!tensor_like<xt::xtensor<int, 2>>);
static_assert(!tensor_like<decltype(std::declval<xt::xtensor<float, 2>&>() + std::declval<xt::xtensor<float, 2>&>())>);
static_assert(!tensor_like<std::vector<float>> && !tensor_like<std::string> && !tensor_like<int>);

}  // namespace
