#pragma once
/// @file concepts.hpp
/// The tensor concepts. An operator needs four things from a tensor: its element type, its rank, its
/// extents and strides, and a pointer to its first element. A type models growth::tensor_like when
/// growth::tensor_traits<T> is specialised with exactly these (adapters/*.hpp do that for Eigen,
/// xtensor, libtorch, CUDA buffers and raw memory). growth::view(t) then turns any such object into a
/// growth::tensor_view without copying, and the operators only ever see views.
#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>

#include "dtype.hpp"
#include "tensor.hpp"

namespace growth {

/// Customisation point. A specialisation provides:
///   using value_type;                 // element type (may be const-qualified for read-only types)
///   using memory_space;               // growth::host_space or an adapter's space tag
///   static constexpr std::size_t rank;
///   static std::size_t extent(const T&, std::size_t axis);
///   static std::ptrdiff_t stride(const T&, std::size_t axis);   // in elements
///   static value_type* data(T&);       // first element
template <class T>
struct tensor_traits;

template <class T, std::size_t R, class S>
struct tensor_traits<tensor_view<T, R, S>> {
  using value_type = T;
  using memory_space = S;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const tensor_view<T, R, S>& t, std::size_t a) { return t.extent(a); }
  static std::ptrdiff_t stride(const tensor_view<T, R, S>& t, std::size_t a) { return t.stride(a); }
  static T* data(const tensor_view<T, R, S>& t) { return t.data(); }
};

/// A const view object still views mutable elements (like std::span<T> const).
template <class T, std::size_t R, class S>
struct tensor_traits<const tensor_view<T, R, S>> : tensor_traits<tensor_view<T, R, S>> {};

template <class T, std::size_t R>
struct tensor_traits<tensor<T, R>> {
  using value_type = T;
  using memory_space = host_space;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const tensor<T, R>& t, std::size_t a) { return t.extent(a); }
  static std::ptrdiff_t stride(const tensor<T, R>& t, std::size_t a) { return t.view().stride(a); }
  static T* data(tensor<T, R>& t) { return t.data(); }
};
template <class T, std::size_t R>
struct tensor_traits<const tensor<T, R>> {
  using value_type = const T;
  using memory_space = host_space;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const tensor<T, R>& t, std::size_t a) { return t.extent(a); }
  static std::ptrdiff_t stride(const tensor<T, R>& t, std::size_t a) { return t.view().stride(a); }
  static const T* data(const tensor<T, R>& t) { return t.data(); }
};

namespace detail {
template <class T>
using traits_of = tensor_traits<std::remove_reference_t<T>>;
}

/// Anything the operators can read or write: element type, rank, extents, strides, data.
template <class T>
concept tensor_like = requires(std::remove_reference_t<T>& t, std::size_t a) {
  typename detail::traits_of<T>::value_type;
  typename detail::traits_of<T>::memory_space;
  requires element<typename detail::traits_of<T>::value_type>;
  { detail::traits_of<T>::rank } -> std::convertible_to<std::size_t>;
  { detail::traits_of<T>::extent(t, a) } -> std::convertible_to<std::size_t>;
  { detail::traits_of<T>::stride(t, a) } -> std::convertible_to<std::ptrdiff_t>;
  { detail::traits_of<T>::data(t) } -> std::same_as<typename detail::traits_of<T>::value_type*>;
};

/// A tensor whose elements the operators may write.
template <class T>
concept mutable_tensor_like =
    tensor_like<T> && !std::is_const_v<typename detail::traits_of<T>::value_type>;

/// A tensor in host memory (elements addressable from the CPU).
template <class T>
concept host_tensor_like =
    tensor_like<T> && std::is_same_v<typename detail::traits_of<T>::memory_space, host_space>;

template <tensor_like T>
using value_type_of = std::remove_const_t<typename detail::traits_of<T>::value_type>;
template <tensor_like T>
inline constexpr std::size_t rank_of = detail::traits_of<T>::rank;
template <tensor_like T>
using space_of = typename detail::traits_of<T>::memory_space;

/// The zero-copy view of any tensor_like object.
template <tensor_like T>
auto view(T&& t) {
  using tr = detail::traits_of<T>;
  using V = typename tr::value_type;
  constexpr std::size_t R = tr::rank;
  std::array<std::size_t, R> ext{};
  std::array<std::ptrdiff_t, R> str{};
  for (std::size_t a = 0; a < R; ++a) {
    ext[a] = tr::extent(t, a);
    str[a] = tr::stride(t, a);
  }
  return tensor_view<V, R, typename tr::memory_space>(tr::data(t), ext, str);
}

}  // namespace growth
