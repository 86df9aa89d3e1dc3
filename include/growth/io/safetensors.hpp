#pragma once
/// @file safetensors.hpp
/// Strict reader and atomic writer for the safetensors format (https://github.com/huggingface/safetensors):
///   [u64 little-endian N][N bytes of JSON header, padded with spaces][data section]
///   header = {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
/// with offsets relative to the start of the data section.
///
/// The reader checks everything before any tensor is handed out, because checkpoints come from outside:
/// the header length against the file size (and the reference implementation's 100 MB cap), JSON validity
/// (json.hpp's strict parser: duplicate names are rejected, names must be valid UTF-8), every tensor's keys and dtype,
/// the shape product without 64-bit overflow, byte count = product x dtype size, offsets in range, and
/// that the tensors tile the data section exactly (no overlap, no hole, nothing after the last one) as the
/// spec requires. Data is read with pread on demand, so opening a 400 MB checkpoint costs one header read.
/// read() converts F32/F64/F16/BF16 to the requested element type and reports NaN/Inf with the tensor name
/// unless reader_options::allow_nonfinite is set. Non-float dtypes of the spec (I64 position_ids buffers,
/// BOOL, U8, ...) are accepted structurally and listed, but read() refuses them.
///
/// The writer keeps tensors in the order they were added (no sorting), writes "__metadata__" first, pads
/// the header with spaces to a multiple of 8 bytes like the reference implementation, and writes the file
/// atomically (temp + fsync + rename).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "json.hpp"
#include "utf8.hpp"

namespace growth::io {

static_assert(std::endian::native == std::endian::little, "growth::io::safetensors assumes a little-endian host");

/// One tensor of a safetensors file.
struct tensor_info {
  growth::dtype type = growth::dtype::f32;  ///< meaningful only when is_float
  std::vector<std::size_t> shape;
  std::size_t begin = 0, end = 0;  ///< byte range in the data section
  std::string dtype_name;          ///< as written in the header ("F32", "I64", ...)
  bool is_float = true;            ///< F32, F64, F16 or BF16: readable by safetensors_reader::read
  std::size_t numel = 1;
};

struct reader_options {
  bool allow_nonfinite = false;  ///< accept NaN/Inf values in read() instead of throwing
};

namespace detail {
/// Element size of a safetensors dtype name; 0 when unknown.
inline std::size_t st_dtype_size(std::string_view n) {
  if (n == "F64" || n == "I64" || n == "U64") return 8;
  if (n == "F32" || n == "I32" || n == "U32") return 4;
  if (n == "F16" || n == "BF16" || n == "I16" || n == "U16") return 2;
  if (n == "BOOL" || n == "U8" || n == "I8" || n == "F8_E4M3" || n == "F8_E5M2") return 1;
  return 0;
}
inline bool st_float_dtype(std::string_view n, growth::dtype& d) {
  if (n == "F32") d = growth::dtype::f32;
  else if (n == "F64") d = growth::dtype::f64;
  else if (n == "F16") d = growth::dtype::f16;
  else if (n == "BF16") d = growth::dtype::bf16;
  else return false;
  return true;
}
template <class T>
inline constexpr bool st_element = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                   std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;
template <class T>
double as_double(T v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else return static_cast<double>(static_cast<float>(v));
}
template <class T, class S>
T convert_element(S v) {
  if constexpr (std::is_same_v<T, S>) return v;
  else if constexpr (std::is_same_v<T, double>) return as_double(v);
  else return T(static_cast<float>(v));  // also S = double: narrow through float, as T(float) is the only ctor
}
}  // namespace detail

class safetensors_reader {
 public:
  /// The reference implementation's cap on the header size (guards against hostile length fields).
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  /// Opens p and checks its header and the layout of every tensor (see the file comment); reads no data.
  explicit safetensors_reader(const std::filesystem::path& p, reader_options opt = {}) : path_(p), opt_(opt) {
    const std::string file = "safetensors file " + p.string();
    open_file(file);
    const json h = read_header(file);
    std::vector<std::pair<std::string, tensor_info>> items;
    for (const auto& [name, v] : as_object(h, file + ": header")) {
      if (name == "__metadata__") read_metadata(v, file);
      else items.emplace_back(name, read_tensor_entry(file + ": tensor " + name, v));  // NOLINT(performance-inefficient-string-concatenation)
    }
    tile_data_section(std::move(items), file);
  }

  /// Tensor names in file (data) order.
  [[nodiscard]] std::vector<std::string> names() const { return names_; }
  [[nodiscard]] bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  [[nodiscard]] const tensor_info& info(const std::string& name) const {
    auto it = infos_.find(name);
    if (it == infos_.end()) throw error(subject(name), "present in the file", "missing");
    return it->second;
  }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  /// Reads tensor `name` into dst, converting from F32/F64/F16/BF16 to T (float, double, float16 or
  /// bfloat16; same dtype copies the bits). The stored shape must equal expected_shape.
  template <class T>
  void read(const std::string& name, std::span<T> dst, const std::vector<std::size_t>& expected_shape) const {
    static_assert(detail::st_element<T>, "read<T>: T must be float, double, float16 or bfloat16");
    const tensor_info& t = info(name);
    if (t.shape != expected_shape)
      throw error(subject(name) + " shape", growth::detail::shape_string(expected_shape), growth::detail::shape_string(t.shape));
    read_into(name, t, dst);
  }
  /// Reads tensor `name` (any shape) as a flat row-major vector of T.
  template <class T>
  [[nodiscard]] std::vector<T> read(const std::string& name) const {
    static_assert(detail::st_element<T>, "read<T>: T must be float, double, float16 or bfloat16");
    const tensor_info& t = info(name);
    std::vector<T> out(t.numel);
    read_into(name, t, std::span<T>(out));
    return out;
  }

 private:
  // --- the constructor's steps ---

  /// Opens the file (refusing a FIFO, device or folder without blocking on it: atomic_file.hpp) and checks
  /// that it can hold the 8-byte header length.
  void open_file(const std::string& file) {
    struct stat st {};
    const int fd = open_regular_file(path_, file, st);
    fd_ = std::shared_ptr<int>(new int(fd), [](int* f) {
      ::close(*f);
      delete f;
    });
    file_size_ = static_cast<std::uint64_t>(st.st_size);
    if (file_size_ < 8) throw error(file, "at least 8 bytes (the header length)", std::to_string(file_size_) + " bytes");
  }

  /// Reads the little-endian u64 header length N (at most max_header_bytes and the file size - 8) and the N
  /// header bytes, and parses them as a JSON object. Sets data_start_ = 8 + N.
  [[nodiscard]] json read_header(const std::string& file) {
    unsigned char len_bytes[8];
    pread_exact(len_bytes, 8, 0, "the header length");
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | len_bytes[k];
    if (n > max_header_bytes) throw error(file + ": header length", "at most 100000000 bytes", std::to_string(n));
    if (n > file_size_ - 8)
      throw error(file + ": header length", "at most " + std::to_string(file_size_ - 8) + " (file size - 8)",
                  std::to_string(n));
    data_start_ = 8 + n;
    std::string header(n, '\0');
    pread_exact(header.data(), n, 8, "the header");
    if (header.empty() || header[0] != '{')
      throw error(file + ": header", "a JSON object starting with '{'",
                  header.empty() ? std::string("an empty header") : "'" + header.substr(0, 1) + "'");
    return parse_json(header, file + ": header");
  }

  /// "__metadata__": an object of strings.
  void read_metadata(const json& v, const std::string& file) {
    for (const auto& [k, mv] : as_object(v, file + ": __metadata__"))
      metadata_[k] = as_string(mv, file + ": __metadata__[\"" + k + "\"]");  // NOLINT(performance-inefficient-string-concatenation): a few keys
  }

  /// One tensor's entry {dtype, shape, data_offsets}: exactly those keys, a known dtype, a shape whose
  /// element and byte counts fit in 64 bits, and offsets [begin, end] in the data section spanning exactly
  /// numel x dtype size bytes.
  [[nodiscard]] tensor_info read_tensor_entry(const std::string& subj, const json& v) const {
    const std::uint64_t data_size = file_size_ - data_start_;
    if (!v.is_object()) throw error(subj, "an object {dtype, shape, data_offsets}", describe(v));
    for (const auto& kv : as_object(v))
      if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
        throw error(subj, "only the keys dtype, shape, data_offsets", "key \"" + kv.first + "\"");
    if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw error(subj, "the keys dtype, shape and data_offsets", v.dump());
    tensor_info t;
    t.dtype_name = as_string(v.at("dtype"), subj + " dtype");
    const std::size_t esize = detail::st_dtype_size(t.dtype_name);
    if (esize == 0)
      throw error(subj + " dtype", "a safetensors dtype (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL, ...)",
                  "\"" + t.dtype_name + "\"");
    t.is_float = detail::st_float_dtype(t.dtype_name, t.type);
    std::uint64_t numel = 1;
    for (const auto& d : as_array(v.at("shape"), subj + " shape")) {
      const std::size_t e = as_size(d, subj + " shape entry");
      t.shape.push_back(e);
      if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(e), &numel))
        throw error(subj + " shape", "an element count below 2^64", growth::detail::shape_string(t.shape) + " overflows");
    }
    const auto& offs = as_array(v.at("data_offsets"), subj + " data_offsets");
    if (offs.size() != 2) throw error(subj + " data_offsets", "[begin, end]", v.at("data_offsets").dump());
    t.begin = as_size(offs[0], subj + " data_offsets begin");
    t.end = as_size(offs[1], subj + " data_offsets end");
    if (t.end < t.begin)
      throw error(subj + " data_offsets", "begin <= end", "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]");
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(esize), &bytes))
      throw error(subj + " shape", "a byte count below 2^64", growth::detail::shape_string(t.shape) + " x " +
                                                                    std::to_string(esize) + " bytes overflows");
    if (t.end - t.begin != bytes)
      throw error(subj + " data_offsets", std::to_string(bytes) + " bytes (shape " + growth::detail::shape_string(t.shape) +
                                               " x " + std::to_string(esize) + "-byte " + t.dtype_name + ")",
                  std::to_string(t.end - t.begin) + " bytes");
    if (t.end > data_size)
      throw error(subj + " data_offsets", "within the data section of " + std::to_string(data_size) + " bytes",
                  "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]");
    t.numel = static_cast<std::size_t>(numel);
    return t;
  }

  /// The tensors must tile the data section: sorted by offsets, each starts where the previous ended and
  /// the last ends at the end of the file. Stores them in that (file) order.
  void tile_data_section(std::vector<std::pair<std::string, tensor_info>> items, const std::string& file) {
    std::vector<std::size_t> order(items.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return std::pair(items[a].second.begin, items[a].second.end) < std::pair(items[b].second.begin, items[b].second.end);
    });
    std::uint64_t cursor = 0;
    std::string prev = "the start of the data section";
    for (std::size_t i : order) {
      const auto& [name, t] = items[i];
      if (t.begin != cursor)
        throw error(file + ": tensor " + name + " data_offsets",  // NOLINT(performance-inefficient-string-concatenation): error path
                    "to begin at byte " + std::to_string(cursor) + " (right after " + prev + ")",
                    std::to_string(t.begin) + (t.begin < cursor ? " (overlapping)" : " (a hole)"));
      cursor = t.end;
      prev = "tensor " + name;
    }
    const std::uint64_t data_size = file_size_ - data_start_;
    if (cursor != data_size)
      throw error(file + ": data section", std::to_string(cursor) + " bytes (the end of " + prev + ")",
                  std::to_string(data_size) + " bytes (trailing bytes not covered by any tensor)");
    for (std::size_t i : order) {
      names_.push_back(items[i].first);
      infos_.emplace(items[i].first, std::move(items[i].second));
    }
  }

  // --- reading ---

  [[nodiscard]] std::string subject(const std::string& name) const {
    return "safetensors file " + path_.string() + ": tensor " + name;
  }
  void pread_exact(void* dst, std::uint64_t n, std::uint64_t off, const std::string& what) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t r = ::pread(*fd_, p, n, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        throw error("safetensors file " + path_.string(), "readable " + what,
                    r == 0 ? std::string("end of file (file changed while open?)") : detail::errno_text(errno));
      p += r;
      n -= static_cast<std::uint64_t>(r);
      off += static_cast<std::uint64_t>(r);
    }
  }

  template <class T>
  void read_into(const std::string& name, const tensor_info& t, std::span<T> dst) const {
    if (!t.is_float)
      throw error(subject(name) + " dtype", "F32, F64, F16 or BF16 to read as floating point", t.dtype_name);
    if (dst.size() != t.numel)
      throw error(subject(name) + " destination", std::to_string(t.numel) + " elements", std::to_string(dst.size()));
    if (t.numel == 0) return;
    if (t.type == dtype_of<T>()) {
      pread_exact(dst.data(), t.end - t.begin, data_start_ + t.begin, "tensor " + name);
    } else {
      std::vector<unsigned char> raw(t.end - t.begin);
      pread_exact(raw.data(), raw.size(), data_start_ + t.begin, "tensor " + name);
      switch (t.type) {
        case growth::dtype::f32: convert_from<float>(raw, dst); break;
        case growth::dtype::f64: convert_from<double>(raw, dst); break;
        case growth::dtype::f16: convert_from<float16>(raw, dst); break;
        case growth::dtype::bf16: convert_from<bfloat16>(raw, dst); break;
      }
    }
    if (!opt_.allow_nonfinite) {
      for (std::size_t i = 0; i < dst.size(); ++i) {
        const double v = detail::as_double(dst[i]);
        if (!std::isfinite(v))
          throw error(subject(name), "finite values (reader_options::allow_nonfinite accepts them)",
                      std::string(std::isnan(v) ? "NaN" : "Inf") + " at element " + std::to_string(i) +
                          (t.type != dtype_of<T>() ? " after conversion from " + t.dtype_name : std::string()));
      }
    }
  }
  template <class S, class T>
  static void convert_from(const std::vector<unsigned char>& raw, std::span<T> dst) {
    for (std::size_t i = 0; i < dst.size(); ++i) {
      S s;
      std::memcpy(&s, raw.data() + i * sizeof(S), sizeof(S));
      dst[i] = detail::convert_element<T>(s);
    }
  }

  std::filesystem::path path_;
  reader_options opt_;
  std::shared_ptr<int> fd_;
  std::uint64_t file_size_ = 0, data_start_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, tensor_info> infos_;
  std::map<std::string, std::string> metadata_;
};

class safetensors_writer {
 public:
  /// Adds a tensor; `data` holds product(shape) elements of `type`, row-major, and must outlive write().
  void add(std::string name, growth::dtype type, std::vector<std::size_t> shape, const void* data) {
    const std::string subj = "safetensors tensor " + name;
    if (name.empty()) throw error("safetensors tensor name", "non-empty", "\"\"");
    if (name == "__metadata__") throw error("safetensors tensor name", "not the reserved key __metadata__", name);
    if (!detail::valid_utf8(name)) throw error("safetensors tensor name", "valid UTF-8", "invalid bytes in " + name);
    for (const auto& e : entries_)
      if (e.name == name) throw error(subj, "a unique name", "a second tensor with that name");
    std::uint64_t numel = 1;
    for (auto s : shape)
      if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(s), &numel))
        throw error(subj + " shape", "an element count below 2^64", growth::detail::shape_string(shape));
    if (numel > 0 && data == nullptr) throw error(subj, "data", "a null pointer");
    entries_.push_back({std::move(name), type, std::move(shape), data, static_cast<std::size_t>(numel)});
  }
  template <class T>
  void add(std::string name, std::vector<std::size_t> shape, const T* data) {
    static_assert(detail::st_element<T>, "safetensors_writer::add<T>: T must be float, double, float16 or bfloat16");
    add(std::move(name), dtype_of<T>(), std::move(shape), static_cast<const void*>(data));
  }
  void set_metadata(std::string key, std::string value) {
    if (!detail::valid_utf8(key) || !detail::valid_utf8(value))
      throw error("safetensors metadata " + key, "valid UTF-8", "invalid bytes");
    metadata_[std::move(key)] = std::move(value);
  }

  /// The header bytes (length prefix excluded), padded with spaces to a multiple of 8.
  [[nodiscard]] std::string header() const {
    json h = json::object();
    if (!metadata_.empty()) h["__metadata__"] = metadata_;
    std::size_t off = 0;
    for (const auto& e : entries_) {
      json t = json::object();
      t["dtype"] = std::string(dtype_name(e.type));
      t["shape"] = e.shape;
      const std::size_t bytes = e.numel * dtype_size(e.type);
      t["data_offsets"] = json::array({off, off + bytes});
      off += bytes;
      h[e.name] = std::move(t);
    }
    std::string s = h.dump();
    s.append((8 - s.size() % 8) % 8, ' ');
    return s;
  }

  void write(const std::filesystem::path& p) const {
    const std::string h = header();
    write_file_atomic(p, [&](std::ostream& os) {
      unsigned char len[8];
      std::uint64_t n = h.size();
      for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>((n >> (8 * k)) & 0xff);
      os.write(reinterpret_cast<const char*>(len), 8);
      os.write(h.data(), static_cast<std::streamsize>(h.size()));
      for (const auto& e : entries_)
        os.write(static_cast<const char*>(e.data), static_cast<std::streamsize>(e.numel * dtype_size(e.type)));
    });
  }

 private:
  struct entry {
    std::string name;
    growth::dtype type;
    std::vector<std::size_t> shape;
    const void* data;
    std::size_t numel;
  };
  std::vector<entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace growth::io
