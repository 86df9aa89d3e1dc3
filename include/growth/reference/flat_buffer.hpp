#pragma once
/// @file flat_buffer.hpp
/// One flat, aligned buffer holding every parameter of a model (or gradient, or Adam moment) back to back in
/// the order of its layout table (growth::model::bert_parameters(config), decoder_parameters(config), or any
/// param_spec list), with no padding. Parameters, gradients and the two
/// AdamW moments all use this same layout, so element i means the same scalar in each of them and the
/// optimizer is one loop. Named views (growth::model::parameter_set, HF names) are built on top.
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../model/bert_config.hpp"
#include "../model/bert_layout.hpp"
#include "../model/decoder_config.hpp"
#include "../model/decoder_layout.hpp"
#include "../model/layout.hpp"
#include "../model/parameter_set.hpp"

namespace growth::reference {

/// Offsets of every parameter of a layout table inside a flat buffer (same order as the table).
struct flat_layout {
  std::vector<model::param_spec> specs;
  std::vector<std::size_t> offsets;  ///< offsets[i] = first element of specs[i]
  std::size_t total = 0;
  std::string model_name = "model";  ///< what index_of's error calls the model ("BERT config", ...)

  flat_layout() = default;
  /// Any layout table, packed in its order.
  explicit flat_layout(std::vector<model::param_spec> table, std::string what = "model")
      : specs(std::move(table)), model_name(std::move(what)) {
    offsets.reserve(specs.size());
    for (const auto& s : specs) {
      offsets.push_back(total);
      total += s.numel();
    }
  }
  explicit flat_layout(const model::bert_config& c) : flat_layout(model::bert_parameters(c), "BERT config") {}
  explicit flat_layout(const model::decoder_config& c) : flat_layout(model::decoder_parameters(c), "decoder config") {}
  /// Index in specs of the parameter called `name`; throws growth::error naming it if absent.
  [[nodiscard]] std::size_t index_of(const std::string& name) const {
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (specs[i].name == name) return i;
    throw error("parameter " + name, "a parameter of this " + model_name, "missing");
  }
  /// Binds every parameter's offset by role (model::per_role): a layer's parameters into layers[layer],
  /// the rest into outside. Roles a table does not list keep the value they had (a model presets them to
  /// mark absent parameters, e.g. optional biases).
  template <class Outside, class Layer>
  void bind(Outside& outside, std::vector<Layer>& layers) const {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& s = specs[i];
      if (s.layer >= 0) {
        const auto l = static_cast<std::size_t>(s.layer);
        if (l >= layers.size()) throw error("parameter " + s.name, "a layer below " + std::to_string(layers.size()), std::to_string(l));
        layers[l][s.r] = offsets[i];
      } else {
        outside[s.r] = offsets[i];
      }
    }
  }
  /// Named row-major views of a buffer laid out like this.
  template <class T>
  [[nodiscard]] model::parameter_set<T> views(T* base) const {
    model::parameter_set<T> set;
    for (std::size_t i = 0; i < specs.size(); ++i)
      set.add(model::param_view<T>::make(specs[i].name, specs[i].shape, base + offsets[i]));
    return set;
  }
};

/// Zero-initialised buffer of T aligned to 64 bytes (a cache line; enough for any SIMD load).
template <class T>
class aligned_buffer {
 public:
  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t n) { resize(n); }
  void resize(std::size_t n) {
    if (n == size_) return;
    data_.reset();
    size_ = 0;
    if (n == 0) return;
    const std::size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    data_.reset(static_cast<T*>(p));
    size_ = n;
    for (std::size_t i = 0; i < n; ++i) data_[i] = T(0);
  }
  [[nodiscard]] T* data() { return data_.get(); }
  [[nodiscard]] const T* data() const { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::span<T> span() { return {data_.get(), size_}; }
  [[nodiscard]] std::span<const T> span() const { return {data_.get(), size_}; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  struct free_deleter {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T[], free_deleter> data_;
  std::size_t size_ = 0;
};

}  // namespace growth::reference
