#pragma once
/// @file parameter_set.hpp
/// A model's parameters as named, dynamically-ranked views into somebody else's storage: the reference
/// BERT's flat buffer, tensors read from a checkpoint, libtorch parameters, CUDA buffers. Whole-model
/// growth and checkpoint I/O work on this, so they never care who owns the memory.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace growth::model {

template <class T, class Space = host_space>
struct param_view {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<std::ptrdiff_t> strides;  ///< in elements; row-major when built with make()
  T* data = nullptr;

  static param_view make(std::string name, std::vector<std::size_t> shape, T* data) {
    std::vector<std::ptrdiff_t> st(shape.size());
    std::ptrdiff_t s = 1;
    for (std::size_t a = shape.size(); a-- > 0;) {
      st[a] = s;
      s *= static_cast<std::ptrdiff_t>(shape[a]);
    }
    return {std::move(name), std::move(shape), std::move(st), data};
  }
  [[nodiscard]] std::size_t numel() const {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  /// The rank-R tensor_view of this parameter; throws growth::error naming it if the rank differs.
  template <std::size_t R>
  [[nodiscard]] tensor_view<T, R, Space> as() const {
    if (shape.size() != R)
      throw error("parameter " + name, "rank " + std::to_string(R), "rank " + std::to_string(shape.size()) + " " +
                                                                       detail::shape_string(shape));
    std::array<std::size_t, R> e{};
    std::array<std::ptrdiff_t, R> s{};
    for (std::size_t a = 0; a < R; ++a) {
      e[a] = shape[a];
      s[a] = strides[a];
    }
    return tensor_view<T, R, Space>(data, e, s);
  }
};

template <class T, class Space = host_space>
class parameter_set {
 public:
  using value_type = T;
  using memory_space = Space;

  void add(param_view<T, Space> p) {
    if (find(p.name)) throw error("parameter_set", "unique parameter names", "duplicate name " + p.name);
    items_.push_back(std::move(p));
  }
  [[nodiscard]] const param_view<T, Space>* find(const std::string& name) const {
    auto it = std::find_if(items_.begin(), items_.end(), [&](const auto& p) { return p.name == name; });
    return it == items_.end() ? nullptr : &*it;
  }
  [[nodiscard]] const param_view<T, Space>& at(const std::string& name) const {
    const auto* p = find(name);
    if (!p) throw error("parameter " + name, "present in the parameter set", "missing");
    return *p;
  }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] auto begin() const { return items_.begin(); }
  [[nodiscard]] auto end() const { return items_.end(); }

 private:
  std::vector<param_view<T, Space>> items_;
};

}  // namespace growth::model
