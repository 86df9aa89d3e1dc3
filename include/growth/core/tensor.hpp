#pragma once
/// @file tensor.hpp
/// growth::tensor_view (non-owning, strided, rank-R view: what every operator works on) and
/// growth::tensor (owning, row-major, host). libstdc++ 12 has no <mdspan>; this is the small part of it
/// we need. The memory space is part of the type, so a host loop can never be handed device memory.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "dtype.hpp"
#include "error.hpp"

namespace growth {

/// Where the elements of a view live. Adapters for other memories define their own tag types
/// (see adapters/cuda.cuh) and an executor for them.
struct host_space {
  static constexpr const char* name = "host";
};

template <class T, std::size_t Rank, class Space = host_space>
class tensor_view {
  static_assert(Rank >= 1 && Rank <= 4, "growth::tensor_view supports ranks 1 to 4");

 public:
  using value_type = std::remove_const_t<T>;
  using element_type = T;
  using memory_space = Space;
  using extents_type = std::array<std::size_t, Rank>;
  using strides_type = std::array<std::ptrdiff_t, Rank>;
  static constexpr std::size_t rank = Rank;

  tensor_view() = default;
  /// Row-major (C order) view of contiguous memory.
  tensor_view(T* data, const extents_type& extents) : data_(data), extents_(extents) {
    std::ptrdiff_t s = 1;
    for (std::size_t a = Rank; a-- > 0;) {
      strides_[a] = s;
      s *= static_cast<std::ptrdiff_t>(extents_[a]);
    }
  }
  /// Strided view; strides are in elements and may be any non-negative values.
  tensor_view(T* data, const extents_type& extents, const strides_type& strides)
      : data_(data), extents_(extents), strides_(strides) {}
  /// A view of non-const elements converts to a view of const ones.
  template <class U, std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>, int> = 0>
  tensor_view(const tensor_view<U, Rank, Space>& o)  // NOLINT(google-explicit-constructor)
      : data_(o.data()), extents_(o.extents()), strides_(o.strides()) {}

  [[nodiscard]] T* data() const { return data_; }
  [[nodiscard]] const extents_type& extents() const { return extents_; }
  [[nodiscard]] const strides_type& strides() const { return strides_; }
  [[nodiscard]] std::size_t extent(std::size_t a) const { return extents_[a]; }
  [[nodiscard]] std::ptrdiff_t stride(std::size_t a) const { return strides_[a]; }
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 1;
    for (auto e : extents_) n *= e;
    return n;
  }
  /// True when the elements are dense in row-major order.
  [[nodiscard]] bool is_contiguous() const {
    std::ptrdiff_t s = 1;
    for (std::size_t a = Rank; a-- > 0;) {
      if (extents_[a] != 1 && strides_[a] != s) return false;
      s *= static_cast<std::ptrdiff_t>(extents_[a]);
    }
    return true;
  }
  template <class... I>
  [[nodiscard]] T& operator()(I... idx) const
    requires(sizeof...(I) == Rank && std::is_same_v<Space, host_space>)
  {
    const std::array<std::size_t, Rank> i{static_cast<std::size_t>(idx)...};
    std::ptrdiff_t off = 0;
    for (std::size_t a = 0; a < Rank; ++a) off += static_cast<std::ptrdiff_t>(i[a]) * strides_[a];
    return data_[off];
  }

 private:
  T* data_ = nullptr;
  extents_type extents_{};
  strides_type strides_{};
};

/// Owning, row-major, host tensor. For tests, tools and temporary buffers.
template <class T, std::size_t Rank>
class tensor {
 public:
  using value_type = T;
  using extents_type = std::array<std::size_t, Rank>;
  static constexpr std::size_t rank = Rank;

  tensor() = default;
  explicit tensor(const extents_type& extents, T fill = T{}) : extents_(extents), data_(count(extents), fill) {}

  [[nodiscard]] tensor_view<T, Rank> view() { return {data_.data(), extents_}; }
  [[nodiscard]] tensor_view<const T, Rank> view() const { return {data_.data(), extents_}; }
  [[nodiscard]] T* data() { return data_.data(); }
  [[nodiscard]] const T* data() const { return data_.data(); }
  [[nodiscard]] const extents_type& extents() const { return extents_; }
  [[nodiscard]] std::size_t extent(std::size_t a) const { return extents_[a]; }
  [[nodiscard]] std::size_t size() const { return data_.size(); }
  [[nodiscard]] std::vector<T>& storage() { return data_; }
  [[nodiscard]] const std::vector<T>& storage() const { return data_; }
  template <class... I>
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return view()(idx...);
  }

 private:
  static std::size_t count(const extents_type& e) {
    std::size_t n = 1;
    for (auto v : e) n *= v;
    return n;
  }
  extents_type extents_{};
  std::vector<T> data_;
};

}  // namespace growth
