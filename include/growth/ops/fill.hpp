#pragma once
/// @file fill.hpp
/// Writing values that no index map can produce: seeded N(0, stddev) noise in "fresh" slices (new heads'
/// Q/K/V rows, new position rows) and constants (unit LayerNorm gains after a depth hand-off).
///
/// Values are made on the host, one contiguous run of selected slices at a time: written in place in host
/// memory, uploaded with executor<Space>::upload elsewhere, so the same code fills host, Eigen, libtorch
/// and CUDA tensors. The noise is counter-based (growth::philox_normal, Philox4x32-10 of Salmon et al.
/// SC'11): an element's value depends only on (seed, stream, the element's row-major index in the whole
/// output tensor), never on run boundaries, thread count or backend.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/index_map.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace growth {

namespace detail {

/// Calls make(host_view, first_slice) for each maximal run of selected slices along `axis`; make() fills
/// the view (host memory, the run's extents). Host outputs are written in place; for other memory spaces
/// make() fills a row-major host tensor, which executor<Space>::upload copies into the sub-view of `out`.
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
    tensor_view<T, R, Space> sub(out.data() + static_cast<std::ptrdiff_t>(i) * out.stride(axis), ext, out.strides());
    if constexpr (std::is_same_v<Space, host_space>) {
      make(sub, i);
    } else {
      tensor<T, R> host(ext);
      make(host.view(), i);
      executor<Space>::template upload<T, R>(tensor_view<const T, R>(host.view()), sub);
    }
    i = j;
  }
}

/// Calls row(p, stride, count, first) for each row (last axis) of host view v: p points at its first
/// element, `first` is the row-major flat index of that element in the whole tensor of extents `full`,
/// of which v is the block starting at slice `offset` along `axis`. A row's elements have consecutive
/// flat indices first, first + 1, ...
template <class T, std::size_t R, class Row>
void for_each_row(tensor_view<T, R> v, const std::array<std::size_t, R>& full, std::size_t axis, std::size_t offset,
                  Row&& row) {
  const auto ext = v.extents();
  const std::size_t len = ext[R - 1];
  std::size_t rows = 1;
  for (std::size_t a = 0; a + 1 < R; ++a) rows *= ext[a];
  if (len == 0) return;
  std::array<std::size_t, R> idx{};
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t rest = r;
    for (std::size_t a = R - 1; a-- > 0;) {
      idx[a] = rest % ext[a];
      rest /= ext[a];
    }
    std::ptrdiff_t off = 0;
    for (std::size_t a = 0; a + 1 < R; ++a) off += static_cast<std::ptrdiff_t>(idx[a]) * v.stride(a);
    std::uint64_t flat = 0;
    for (std::size_t a = 0; a < R; ++a) flat = flat * full[a] + idx[a] + (a == axis ? offset : 0);
    row(v.data() + off, v.stride(R - 1), len, flat);
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
/// Element e (row-major flat index in `out`) gets stddev * philox_normal(seed, stream, e), rounded to T:
/// Philox4x32-10 with Box-Muller (core/random.hpp), so the values do not depend on run boundaries, thread
/// count or backend, and a row is generated in vectorised batches (philox_normals).
/// Use distinct `stream`s for distinct tensors so two tensors grown with one seed get independent noise.
template <mutable_tensor_like Out>
void fill_fresh(Out&& out, std::size_t axis, const std::vector<bool>& fresh, std::uint64_t seed, std::uint64_t stream,
                double stddev, std::string_view name = "tensor") {
  using T = value_type_of<Out>;
  using C = compute_t<T>;
  constexpr std::size_t R = rank_of<Out>;
  auto ov = view(out);
  detail::check_selection(name, ov, axis, fresh);
  if (!(stddev >= 0.0)) throw error(std::string(name) + " stddev", "a number >= 0", detail::to_string_any(stddev));
  const auto full = ov.extents();
  std::vector<double> z;  // one row of normals, shape (extent of the last axis)
  detail::fill_runs(ov, axis, fresh, [&](tensor_view<T, R> block, std::size_t first) {
    detail::for_each_row(block, full, axis, first, [&](T* p, std::ptrdiff_t s, std::size_t len, std::uint64_t flat) {
      z.resize(len);
      philox_normals(seed, stream, flat, z);
      for (std::size_t j = 0; j < len; ++j) p[static_cast<std::ptrdiff_t>(j) * s] = from_compute<T>(static_cast<C>(stddev * z[j]));
    });
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
  const auto full = ov.extents();
  detail::fill_runs(ov, axis, select, [&](tensor_view<T, R> block, std::size_t first) {
    detail::for_each_row(block, full, axis, first, [&](T* p, std::ptrdiff_t s, std::size_t len, std::uint64_t) {
      for (std::size_t j = 0; j < len; ++j) p[static_cast<std::ptrdiff_t>(j) * s] = v;
    });
  });
}

}  // namespace growth
