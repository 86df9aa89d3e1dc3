#pragma once
/// @file fill.hpp
/// Writing values that no index map can produce: seeded N(0, stddev) noise in "fresh" slices (new heads'
/// Q/K/V rows, new position rows) and constants (unit LayerNorm gains after a depth hand-off).
///
/// Values are made on the host and written with executor<Space>::upload, one contiguous run of selected
/// slices at a time, so the same code fills host, Eigen, libtorch and CUDA tensors. The noise is
/// counter-based (growth::rng::normal_at): element value depends only on (seed, stream, the element's
/// row-major index in the whole output tensor), never on run boundaries, thread count or backend.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace growth {

namespace detail {

/// Calls make(host_tensor, first_slice) for each maximal run of selected slices along `axis`, then
/// uploads the host tensor into the matching sub-view of `out`. make() fills the host tensor (row-major
/// with the run's extents).
template <class T, std::size_t R, class Space, class Make>
void fill_runs(tensor_view<T, R, Space> out, std::size_t axis, const std::vector<bool>& select, Make&& make) {
  const std::size_t n = out.extent(axis);
  std::size_t i = 0;
  while (i < n) {
    if (!select[i]) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && select[j]) ++j;
    auto ext = out.extents();
    ext[axis] = j - i;
    tensor<T, R> host(ext);
    make(host, i);
    tensor_view<T, R, Space> sub(out.data() + static_cast<std::ptrdiff_t>(i) * out.stride(axis), ext, out.strides());
    executor<Space>::template upload<T, R>(tensor_view<const T, R>(host.view()), sub);
    i = j;
  }
}

template <class Out>
void check_selection(std::string_view name, const Out& ov, std::size_t axis, const std::vector<bool>& select) {
  constexpr std::size_t R = std::remove_cvref_t<Out>::rank;
  if (axis >= R) throw error(std::string(name) + " axis", "< rank " + std::to_string(R), std::to_string(axis));
  if (select.size() != ov.extent(axis))
    throw error(std::string(name) + " slice mask", std::to_string(ov.extent(axis)) + " entries (extent of axis " +
                                                        std::to_string(axis) + ")",
                std::to_string(select.size()));
}

}  // namespace detail

/// Writes N(0, stddev) into the slices i along `axis` with fresh[i] == true; other slices are untouched.
/// Element e (row-major flat index in `out`) gets stddev * rng::normal_at(seed, stream, e), rounded to T.
/// Use distinct `stream`s for distinct tensors so two tensors grown with one seed get independent noise.
template <mutable_tensor_like Out>
void fill_fresh(Out&& out, std::size_t axis, const std::vector<bool>& fresh, std::uint64_t seed, std::uint64_t stream,
                double stddev, std::string_view name = "tensor") {
  using T = value_type_of<Out>;
  constexpr std::size_t R = rank_of<Out>;
  auto ov = view(out);
  detail::check_selection(name, ov, axis, fresh);
  if (!(stddev >= 0.0)) throw error(std::string(name) + " stddev", "a number >= 0", detail::to_string_any(stddev));
  const auto full = ov.extents();
  detail::fill_runs(ov, axis, fresh, [&](tensor<T, R>& host, std::size_t first) {
    const auto ext = host.extents();
    std::array<std::size_t, R> idx{};
    T* p = host.data();
    for (std::size_t e = 0; e < host.size(); ++e) {
      // index of this element in the whole output tensor, row-major
      std::size_t r = e;
      for (std::size_t a = R; a-- > 0;) {
        idx[a] = r % ext[a];
        r /= ext[a];
      }
      idx[axis] += first;
      std::uint64_t flat = 0;
      for (std::size_t a = 0; a < R; ++a) flat = flat * full[a] + idx[a];
      p[e] = from_compute<T>(static_cast<compute_t<T>>(stddev * rng::normal_at(seed, stream, flat)));
    }
  });
}

/// Writes `value` into the slices i along `axis` with select[i] == true (e.g. gamma = 1 of a unit
/// LayerNorm); other slices are untouched.
template <mutable_tensor_like Out>
void fill_slices(Out&& out, std::size_t axis, const std::vector<bool>& select, double value,
                 std::string_view name = "tensor") {
  using T = value_type_of<Out>;
  constexpr std::size_t R = rank_of<Out>;
  auto ov = view(out);
  detail::check_selection(name, ov, axis, select);
  const T v = from_compute<T>(static_cast<compute_t<T>>(value));
  detail::fill_runs(ov, axis, select, [&](tensor<T, R>& host, std::size_t) {
    for (auto& x : host.storage()) x = v;
  });
}

}  // namespace growth
