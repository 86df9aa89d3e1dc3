#pragma once
/// @file adapters/raw.hpp
/// Raw host memory as growth tensors: growth::raw_view builds a growth::tensor_view<T, R> (which models
/// growth::tensor_like) from a pointer, a std::span or a std::vector plus extents and, optionally,
/// strides. Standard library only.
///
///   float* p = ...;                         // 3 x 4, row-major
///   auto v  = growth::raw_view(p, {3, 4});
///   auto vt = growth::raw_view(p, {4, 3}, {1, 4});   // the transpose, same memory
///   std::vector<double> buf(12);
///   auto w  = growth::raw_view(buf, {3, 4});         // checks buf.size() == 12
///
/// Extents and strides are counted in elements; a braced list deduces the rank. Without strides the
/// memory is row-major (C order). Views never own memory; raw_view refuses a temporary std::vector at
/// compile time because the view would dangle.
///
/// Checks (growth::error, before anything is returned): strides must be non-negative, a null pointer is
/// accepted only for an empty tensor, and for a span/vector every addressed element must lie inside it
/// (a dense view must cover it exactly, so a wrong shape is caught rather than silently truncated).
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace growth {

namespace detail {

template <class C>
struct is_std_span : std::false_type {};
template <class T, std::size_t E>
struct is_std_span<std::span<T, E>> : std::true_type {};
template <class C>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

/// std::span or std::vector (possibly const): contiguous memory that knows its size.
template <class C>
concept raw_container = is_std_span<std::remove_cvref_t<C>>::value || is_std_vector<std::remove_cvref_t<C>>::value;

/// A temporary std::vector would be destroyed before the view is used.
template <class C>
inline constexpr bool raw_dangles = is_std_vector<std::remove_cvref_t<C>>::value && !std::is_lvalue_reference_v<C>;

template <class C>
using raw_element_t = std::remove_pointer_t<decltype(std::declval<C&>().data())>;

inline constexpr std::size_t raw_unsized = static_cast<std::size_t>(-1);

/// The one place that validates and builds a raw view. `size` is the container's element count, or
/// raw_unsized for a bare pointer; `dense` says the strides were derived (row-major), not given.
template <class T, std::size_t R>
tensor_view<T, R> make_raw_view(T* data, std::size_t size, const std::array<std::size_t, R>& ext,
                                const std::array<std::ptrdiff_t, R>& str, bool dense) {
  std::size_t count = 1;
  std::size_t reach = 1;  // one past the largest addressed offset
  for (std::size_t a = 0; a < R; ++a) {
    if (str[a] < 0)
      throw error("raw_view stride " + std::to_string(a), "a non-negative stride (in elements)", std::to_string(str[a]));
    count *= ext[a];
    if (ext[a] > 0) reach += (ext[a] - 1) * static_cast<std::size_t>(str[a]);
  }
  if (count == 0) reach = 0;
  if (data == nullptr && count != 0)
    throw error("raw_view data", "a non-null pointer for extents " + shape_string(ext), "nullptr");
  if (size != raw_unsized) {
    if (dense && size != count)
      throw error("raw_view buffer size", std::to_string(count) + " elements for extents " + shape_string(ext),
                  std::to_string(size));
    if (!dense && size < reach)
      throw error("raw_view buffer size",
                  "at least " + std::to_string(reach) + " elements for extents " + shape_string(ext) + " and strides " +
                      shape_string(str),
                  std::to_string(size));
  }
  return tensor_view<T, R>(data, ext, str);
}

template <std::size_t R>
std::array<std::ptrdiff_t, R> row_major_strides(const std::array<std::size_t, R>& ext) {
  std::array<std::ptrdiff_t, R> s{};
  std::ptrdiff_t n = 1;
  for (std::size_t a = R; a-- > 0;) {
    s[a] = n;
    n *= static_cast<std::ptrdiff_t>(ext[a]);
  }
  return s;
}

template <class V, std::size_t R>
std::array<V, R> to_array(const V (&v)[R]) {
  std::array<V, R> a{};
  for (std::size_t i = 0; i < R; ++i) a[i] = v[i];
  return a;
}

}  // namespace detail

// ---- pointer + extents [+ strides] ---------------------------------------------------------------

/// Row-major view of `data` with the given extents.
template <class T, std::size_t R>
tensor_view<T, R> raw_view(T* data, const std::array<std::size_t, R>& extents) {
  return detail::make_raw_view<T, R>(data, detail::raw_unsized, extents, detail::row_major_strides(extents), true);
}
template <class T, std::size_t R>
tensor_view<T, R> raw_view(T* data, const std::size_t (&extents)[R]) {
  return raw_view(data, detail::to_array(extents));
}
/// Strided view of `data` (strides in elements, non-negative).
template <class T, std::size_t R>
tensor_view<T, R> raw_view(T* data, const std::array<std::size_t, R>& extents, const std::array<std::ptrdiff_t, R>& strides) {
  return detail::make_raw_view<T, R>(data, detail::raw_unsized, extents, strides, false);
}
template <class T, std::size_t R>
tensor_view<T, R> raw_view(T* data, const std::size_t (&extents)[R], const std::ptrdiff_t (&strides)[R]) {
  return raw_view(data, detail::to_array(extents), detail::to_array(strides));
}

// ---- std::span / std::vector + extents [+ strides] (size-checked) -------------------------------

/// Row-major view of a span or vector; its size must equal the product of the extents.
template <class C, std::size_t R>
  requires detail::raw_container<C>
tensor_view<detail::raw_element_t<C>, R> raw_view(C&& c, const std::array<std::size_t, R>& extents) {
  static_assert(!detail::raw_dangles<C>, "growth::raw_view: a view of a temporary std::vector would dangle");
  return detail::make_raw_view<detail::raw_element_t<C>, R>(c.data(), c.size(), extents,
                                                            detail::row_major_strides(extents), true);
}
template <class C, std::size_t R>
  requires detail::raw_container<C>
tensor_view<detail::raw_element_t<C>, R> raw_view(C&& c, const std::size_t (&extents)[R]) {
  return raw_view(std::forward<C>(c), detail::to_array(extents));
}
/// Strided view of a span or vector; every addressed element must lie inside it.
template <class C, std::size_t R>
  requires detail::raw_container<C>
tensor_view<detail::raw_element_t<C>, R> raw_view(C&& c, const std::array<std::size_t, R>& extents,
                                                  const std::array<std::ptrdiff_t, R>& strides) {
  static_assert(!detail::raw_dangles<C>, "growth::raw_view: a view of a temporary std::vector would dangle");
  return detail::make_raw_view<detail::raw_element_t<C>, R>(c.data(), c.size(), extents, strides, false);
}
template <class C, std::size_t R>
  requires detail::raw_container<C>
tensor_view<detail::raw_element_t<C>, R> raw_view(C&& c, const std::size_t (&extents)[R],
                                                  const std::ptrdiff_t (&strides)[R]) {
  return raw_view(std::forward<C>(c), detail::to_array(extents), detail::to_array(strides));
}

}  // namespace growth
