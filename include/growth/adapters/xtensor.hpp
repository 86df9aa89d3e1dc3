#pragma once
/// @file adapters/xtensor.hpp
/// Makes xtensor containers model growth::tensor_like, so they can be passed to growth::apply and
/// growth::view without copying. This is the only growth header that includes xtensor; it supports
/// both the flat header layout of xtensor <= 0.25 (Debian 12 ships 0.24: <xtensor/xtensor.hpp>) and the
/// layout of 0.26+ (<xtensor/containers/xtensor.hpp>).
///
/// Static rank (the rank is part of the type): every xt::xcontainer whose rank is known at compile
/// time models tensor_like directly:
///   xt::xtensor<T, N> (row- or column-major), xt::xtensor_fixed, and xt::adapt(...) over a pointer or a
///   std::vector when the shape is a std::array (those return xt::xtensor_adaptor).
/// Dynamic rank: xt::xarray and xt::adapt with a std::vector shape have no rank in their type, so they
/// do not model tensor_like; growth::xt_view<R>(a) checks a.dimension() == R at run time and returns a
/// growth::tensor_view<T, R> over the same memory.
///
/// xtensor gives axes of extent 1 a stride of 0 (its broadcasting convention); that is harmless here
/// because the only valid index on such an axis is 0. Element types: float and double (and the growth
/// 16-bit storage types, if someone stores them in xtensor). Constness follows xtensor's data().
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#if __has_include(<xtensor/containers/xtensor.hpp>)
#include <xtensor/containers/xadapt.hpp>
#include <xtensor/containers/xarray.hpp>
#include <xtensor/containers/xfixed.hpp>
#include <xtensor/containers/xtensor.hpp>
#else
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>
#endif

#include "../core/concepts.hpp"
#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace growth {

namespace detail {

/// An xtensor container (owning or adaptor) over strided memory.
template <class D>
concept xt_container = std::derived_from<D, xt::xcontainer<D>> && element<typename D::value_type>;

/// ... whose rank is a compile-time constant (xarray's rank is SIZE_MAX).
template <class D>
concept xt_static_container = xt_container<D> && requires {
  { D::rank } -> std::convertible_to<std::size_t>;
} && (D::rank != SIZE_MAX) && (D::rank >= 1);

}  // namespace detail

/// tensor_traits for static-rank xtensor containers (D may be const-qualified).
template <class D>
  requires detail::xt_static_container<std::remove_const_t<D>>
struct tensor_traits<D> {
  using value_type = std::remove_pointer_t<decltype(std::declval<D&>().data())>;
  using memory_space = host_space;
  static constexpr std::size_t rank = std::remove_const_t<D>::rank;

  static std::size_t extent(const D& t, std::size_t axis) { return static_cast<std::size_t>(t.shape()[axis]); }
  static std::ptrdiff_t stride(const D& t, std::size_t axis) { return static_cast<std::ptrdiff_t>(t.strides()[axis]); }
  // data_offset() is 0 for containers; added anyway so the pointer is the element at index 0...0.
  static value_type* data(D& t) { return t.data() + t.data_offset(); }
};

/// A rank-R view of any xtensor container, typically an xt::xarray or a dynamic-rank xt::adapt.
/// Throws growth::error when the container's run-time dimension is not R. The view does not own the
/// memory: keep the container alive (and do not resize it) while the view is used.
template <std::size_t R, class E>
  requires detail::xt_container<std::remove_const_t<E>>
auto xt_view(E& e) {
  using V = std::remove_pointer_t<decltype(e.data())>;
  if (e.dimension() != R)
    throw error("xt_view", "an xtensor container of rank " + std::to_string(R),
                "rank " + std::to_string(e.dimension()));
  std::array<std::size_t, R> ext{};
  std::array<std::ptrdiff_t, R> str{};
  for (std::size_t a = 0; a < R; ++a) {
    ext[a] = static_cast<std::size_t>(e.shape()[a]);
    str[a] = static_cast<std::ptrdiff_t>(e.strides()[a]);
  }
  return tensor_view<V, R>(e.data() + e.data_offset(), ext, str);
}

}  // namespace growth
