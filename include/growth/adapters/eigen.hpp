#pragma once
/// @file adapters/eigen.hpp
/// Makes Eigen dense objects with direct memory access model growth::tensor_like, so they can be
/// passed to growth::apply and growth::view without copying. This is the only growth header that
/// includes Eigen.
///
/// Covered: Eigen::Matrix and Eigen::Array (row- and column-major, fixed and dynamic sizes),
/// Eigen::Map (with any inner/outer stride), Eigen::Ref, and direct-access Eigen::Block; element types
/// float and double (Eigen scalars that are not a growth::element are not adapted).
///
/// Rank rule: a type that is a vector *at compile time* (Eigen's IsVectorAtCompileTime:
/// VectorXf, RowVector4d, Map<VectorXf>, a row()/col() block ...) is a rank-1 tensor of size() elements;
/// every other type is a rank-2 tensor [rows, cols], even when it happens to have one row or column
/// at run time. The rank is part of the type, so it must be decidable at compile time.
///
/// Axis 0 is always the row index and axis 1 the column index, whatever the storage order; the strides
/// say where the elements are (row-major: [outerStride, innerStride], column-major: [innerStride,
/// outerStride]), so a column-major matrix is simply a transposed-stride view and needs no copy.
///
/// Constness follows Eigen: the elements are writable exactly when Eigen's data() on the object
/// returns a non-const pointer. const Matrix, Map<const ...>, Ref<const ...> and a const-qualified
/// Map/Ref are read-only (growth::mutable_tensor_like is false for them).
#include <concepts>
#include <cstddef>
#include <type_traits>

#include <Eigen/Core>

#include "../core/concepts.hpp"
#include "../core/dtype.hpp"
#include "../core/tensor.hpp"

namespace growth {

namespace detail {

/// An Eigen dense object whose coefficients live in memory with a constant inner and outer stride.
template <class D>
concept eigen_direct_access = std::derived_from<D, Eigen::DenseBase<D>> &&
                              (static_cast<unsigned>(D::Flags) & Eigen::DirectAccessBit) != 0 &&
                              element<typename D::Scalar>;

}  // namespace detail

/// tensor_traits for Eigen (D may be const-qualified; see the file comment for the rank rule).
template <class D>
  requires detail::eigen_direct_access<std::remove_const_t<D>>
struct tensor_traits<D> {
 private:
  using plain = std::remove_const_t<D>;

 public:
  using value_type = std::remove_pointer_t<decltype(std::declval<D&>().data())>;
  using memory_space = host_space;
  static constexpr std::size_t rank = plain::IsVectorAtCompileTime ? 1 : 2;

  static std::size_t extent(const D& t, std::size_t axis) {
    if constexpr (rank == 1) {
      return static_cast<std::size_t>(t.size());
    } else {
      return static_cast<std::size_t>(axis == 0 ? t.rows() : t.cols());
    }
  }
  static std::ptrdiff_t stride(const D& t, std::size_t axis) {
    if constexpr (rank == 1) {
      // For vectors Eigen's innerStride() is the step between consecutive coefficients.
      return static_cast<std::ptrdiff_t>(t.innerStride());
    } else {
      // The inner (contiguous-ish) axis is the column axis for row-major storage, the row axis otherwise.
      const bool inner = (axis == 1) == static_cast<bool>(plain::IsRowMajor);
      return static_cast<std::ptrdiff_t>(inner ? t.innerStride() : t.outerStride());
    }
  }
  static value_type* data(D& t) { return t.data(); }
};

}  // namespace growth
