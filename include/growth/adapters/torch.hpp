#pragma once
/// @file torch.hpp
/// libtorch adapter: a torch::Tensor (at::Tensor) seen as a growth tensor, with no copy.
///
/// A torch tensor has a runtime dtype and rank, growth a compile-time element type and rank, so the
/// adapter is typed: growth::torch_view<T, R>(t) checks at run time that t is a defined, strided tensor of
/// rank R whose dtype matches T (float <-> kFloat, double <-> kDouble, growth::float16 <-> kHalf,
/// growth::bfloat16 <-> kBFloat16: the same 16 bits, so no conversion) on the device that the memory
/// space names (host_space <-> CPU; cuda_space <-> CUDA, usable only where adapters/cuda.cuh is included
/// and libtorch was built with CUDA), and returns a tensor_view over t's storage with t's strides (any
/// strides: transposed, sliced and expanded tensors work; expanded ones must not be outputs). Mismatches
/// throw growth::error naming the tensor, the expected and the actual value.
///
/// growth::torch_tensor<T, R> wraps a tensor (sharing its storage) so that it models growth::tensor_like
/// and can be passed to every operator directly.
///
/// Writing goes through raw pointers: do it under torch::NoGradGuard on tensors autograd does not need
/// (parameters between steps, optimizer state). On CUDA, set growth::cuda::stream_guard to libtorch's
/// current stream so growth's kernels are ordered with torch's.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace growth {

struct cuda_space;  // defined in adapters/cuda.cuh

namespace detail {

template <class T>
constexpr c10::ScalarType torch_scalar_type() {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, float>) return c10::ScalarType::Float;
  else if constexpr (std::is_same_v<U, double>) return c10::ScalarType::Double;
  else if constexpr (std::is_same_v<U, float16>) return c10::ScalarType::Half;
  else return c10::ScalarType::BFloat16;
}
static_assert(sizeof(c10::Half) == sizeof(float16) && sizeof(c10::BFloat16) == sizeof(bfloat16),
              "growth: c10::Half / c10::BFloat16 must be 16-bit storage like growth::float16 / growth::bfloat16");

template <class Space>
constexpr c10::DeviceType torch_device_type() {
  if constexpr (std::is_same_v<Space, host_space>) return c10::DeviceType::CPU;
  else return c10::DeviceType::CUDA;
}

template <class T, std::size_t R, class Space>
void check_torch(const at::Tensor& t, std::string_view name) {
  static_assert(element<T>, "growth::torch_view: T is float, double, growth::float16 or growth::bfloat16");
  const std::string n(name);
  if (!t.defined()) throw error(n, "a defined tensor", "an undefined tensor");
  if (t.layout() != c10::Layout::Strided)
    throw error(n + " layout", "strided", detail::to_string_any(t.layout()));
  if (t.scalar_type() != torch_scalar_type<T>())
    throw error(n + " dtype", c10::toString(torch_scalar_type<T>()), c10::toString(t.scalar_type()));
  if (t.dim() != static_cast<std::int64_t>(R))
    throw error(n + " rank", std::to_string(R), std::to_string(t.dim()) + " (shape " + shape_string(t.sizes()) + ")");
  if (t.device().type() != torch_device_type<Space>())
    throw error(n + " device", c10::DeviceTypeName(torch_device_type<Space>()), t.device().str());
  for (std::size_t a = 0; a < R; ++a)
    if (t.stride(static_cast<std::int64_t>(a)) < 0)
      throw error(n + " stride " + std::to_string(a), "non-negative", std::to_string(t.stride(static_cast<std::int64_t>(a))));
}

}  // namespace detail

/// Zero-copy typed view of a torch tensor (checked as described in the file comment). T may be const.
template <class T, std::size_t R, class Space = host_space>
tensor_view<T, R, Space> torch_view(const at::Tensor& t, std::string_view name = "torch tensor") {
  detail::check_torch<std::remove_const_t<T>, R, Space>(t, name);
  std::array<std::size_t, R> ext{};
  std::array<std::ptrdiff_t, R> str{};
  for (std::size_t a = 0; a < R; ++a) {
    ext[a] = static_cast<std::size_t>(t.size(static_cast<std::int64_t>(a)));
    str[a] = static_cast<std::ptrdiff_t>(t.stride(static_cast<std::int64_t>(a)));
  }
  // data_ptr() already includes the storage offset.
  return tensor_view<T, R, Space>(static_cast<T*>(t.data_ptr()), ext, str);
}

/// A torch tensor (sharing storage) typed for growth: models tensor_like, so operators accept it directly.
/// Checked once at construction.
template <class T, std::size_t R, class Space = host_space>
class torch_tensor {
 public:
  explicit torch_tensor(at::Tensor t, std::string_view name = "torch tensor") : t_(std::move(t)) {
    detail::check_torch<std::remove_const_t<T>, R, Space>(t_, name);
  }
  [[nodiscard]] const at::Tensor& tensor() const { return t_; }
  [[nodiscard]] T* data() const { return static_cast<T*>(t_.data_ptr()); }

 private:
  at::Tensor t_;
};

template <class T, std::size_t R, class Space>
struct tensor_traits<torch_tensor<T, R, Space>> {
  using value_type = T;
  using memory_space = Space;
  static constexpr std::size_t rank = R;
  static std::size_t extent(const torch_tensor<T, R, Space>& t, std::size_t a) {
    return static_cast<std::size_t>(t.tensor().size(static_cast<std::int64_t>(a)));
  }
  static std::ptrdiff_t stride(const torch_tensor<T, R, Space>& t, std::size_t a) {
    return static_cast<std::ptrdiff_t>(t.tensor().stride(static_cast<std::int64_t>(a)));
  }
  static T* data(const torch_tensor<T, R, Space>& t) { return t.data(); }
};
template <class T, std::size_t R, class Space>
struct tensor_traits<const torch_tensor<T, R, Space>> : tensor_traits<torch_tensor<T, R, Space>> {};

}  // namespace growth
