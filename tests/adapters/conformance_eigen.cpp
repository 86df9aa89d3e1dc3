// Compile-only conformance checks for adapters/eigen.hpp: which Eigen types model which growth
// concepts, with which rank, element type and constness. A failure here is a compile error.
#include <growth/adapters/eigen.hpp>
#include <growth/core/concepts.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace growth;

template <class T, std::size_t R, bool Mutable>
constexpr bool models() {
  static_assert(tensor_like<T>);
  static_assert(tensor_like<T&>);
  static_assert(host_tensor_like<T>);
  static_assert(mutable_tensor_like<T> == Mutable);
  static_assert(rank_of<T> == R);
  static_assert(std::is_same_v<space_of<T>, host_space>);
  return true;
}
template <class T>
constexpr bool read_only_twin() {
  static_assert(tensor_like<const T>);
  static_assert(!mutable_tensor_like<const T>);
  static_assert(!mutable_tensor_like<const T&>);
  static_assert(rank_of<const T> == rank_of<T>);
  return true;
}

using RowMajorXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajor34d = Eigen::Matrix<double, 3, 4, Eigen::RowMajor>;

// Matrices: dynamic and fixed, both storage orders, float and double: rank 2.
static_assert(models<Eigen::MatrixXf, 2, true>());
static_assert(models<Eigen::MatrixXd, 2, true>());
static_assert(models<RowMajorXf, 2, true>());
static_assert(models<Eigen::Matrix3f, 2, true>());
static_assert(models<RowMajor34d, 2, true>());
static_assert(std::is_same_v<value_type_of<Eigen::MatrixXd>, double>);
static_assert(std::is_same_v<value_type_of<Eigen::Matrix3f>, float>);
// Compile-time vectors: rank 1 (the documented rule), including fixed-size and row vectors.
static_assert(models<Eigen::VectorXf, 1, true>());
static_assert(models<Eigen::RowVectorXd, 1, true>());
static_assert(models<Eigen::Vector4f, 1, true>());
// Arrays.
static_assert(models<Eigen::ArrayXXf, 2, true>());
static_assert(models<Eigen::ArrayXd, 1, true>());
static_assert(models<Eigen::Array<double, 2, 5, Eigen::RowMajor>, 2, true>());
// Map: plain, with strides, of const.
static_assert(models<Eigen::Map<Eigen::MatrixXf>, 2, true>());
static_assert(models<Eigen::Map<RowMajorXf, 0, Eigen::OuterStride<>>, 2, true>());
static_assert(models<Eigen::Map<Eigen::MatrixXd, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>, 2, true>());
static_assert(models<Eigen::Map<Eigen::VectorXf, 0, Eigen::InnerStride<>>, 1, true>());
static_assert(models<Eigen::Map<const Eigen::MatrixXf>, 2, false>());
static_assert(std::is_same_v<value_type_of<Eigen::Map<const Eigen::MatrixXf>>, float>);
// Ref.
static_assert(models<Eigen::Ref<Eigen::MatrixXf>, 2, true>());
static_assert(models<Eigen::Ref<RowMajorXf, 0, Eigen::OuterStride<>>, 2, true>());
static_assert(models<Eigen::Ref<const Eigen::MatrixXd>, 2, false>());
static_assert(models<Eigen::Ref<Eigen::VectorXf>, 1, true>());
// Direct-access blocks.
static_assert(models<Eigen::Block<Eigen::MatrixXf>, 2, true>());
static_assert(models<Eigen::Block<Eigen::MatrixXf, 1, Eigen::Dynamic>, 1, true>());  // a row
static_assert(models<Eigen::Block<const Eigen::MatrixXf>, 2, false>());
// Transpose keeps direct access: a view with swapped strides (checked at run time in test_eigen.cpp).
static_assert(models<Eigen::Transpose<Eigen::MatrixXf>, 2, true>());
static_assert(models<Eigen::Transpose<const Eigen::MatrixXf>, 2, false>());
// const-qualified objects are read-only.
static_assert(read_only_twin<Eigen::MatrixXf>());
static_assert(read_only_twin<RowMajor34d>());
static_assert(read_only_twin<Eigen::VectorXd>());
static_assert(read_only_twin<Eigen::ArrayXXf>());
static_assert(read_only_twin<Eigen::Map<Eigen::MatrixXf>>());
static_assert(read_only_twin<Eigen::Ref<Eigen::MatrixXf>>());

// Not tensors: expressions without memory, unsupported scalars, unrelated types.
static_assert(!tensor_like<decltype(Eigen::MatrixXf() + Eigen::MatrixXf())>);
static_assert(!tensor_like<Eigen::MatrixXi>);
static_assert(!tensor_like<Eigen::Matrix<long double, 2, 2>>);
static_assert(!tensor_like<Eigen::half>);
static_assert(!tensor_like<int>);
static_assert(!tensor_like<std::vector<float>>);
static_assert(!tensor_like<std::string>);

}  // namespace
