#pragma once
/// @file sharded.hpp
/// One set of tensors stored as Hugging Face stores it (transformers' save_pretrained, huggingface_hub's
/// split_state_dict_into_shards_factory): either one file "<base>.safetensors", or an index
/// "<base>.safetensors.index.json" plus shard files "<base>-0000k-of-0000n.safetensors":
///
///   {"metadata": {"total_size": <bytes of all tensor data>}, "weight_map": {"<tensor>": "<shard file>", ...}}
///
/// written as Python's json.dumps(index, indent=2, sort_keys=True) + "\n" (keys sorted, two-space indent,
/// non-ASCII escaped). The names are generic ("model", "optimizer", or any other base); nothing here knows
/// BERT.
///
///  - sharded_reader: the calls of safetensors_reader (names, contains, info, metadata, read) over either
///    layout, plus path_of(tensor) for errors. Strict, as safetensors_reader is: the index has exactly the
///    keys above ("total_parameters" of newer transformers is accepted and checked), every weight_map file is
///    a plain name in the folder, every tensor is named once and lies in the shard the index names (no tensor
///    missing from its shard, no tensor of a shard absent from the index or mapped elsewhere), total_size is
///    the sum of the tensors' bytes, every shard has the same __metadata__, no shard file of the pattern
///    lies in the folder unreferenced, and a folder holding both layouts is refused (which one is meant?).
///  - sharded_writer: streams tensors, given their names, dtypes and shapes up front, into one file (below
///    the limit: the same bytes as safetensors_writer) or into shards and the index. Each file is written
///    into a temp file beside it and renamed when complete (atomic_file.hpp), so the writer holds no tensor
///    data: peak memory is the caller's one tensor. The assignment of tensors to shards is
///    huggingface_hub's: in order, a tensor that would tip the current shard over max_shard_size starts a
///    new one; a tensor larger than the limit gets a shard of its own, numbered when it is met (so before
///    the shard still being filled).
///  - parse_shard_size: transformers' convert_file_size_to_int ("5GB" = 5 * 10^9, "5GiB" = 5 * 2^30, a
///    lower-case final "b" means bits: "8Mb" = 10^6 bytes), plus a bare integer as bytes (HF's int form).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "json.hpp"
#include "safetensors.hpp"

namespace growth::io {

// --- names ---

/// "<base>.safetensors"
inline std::string single_file_name(std::string_view base) { return std::string(base) + ".safetensors"; }
/// "<base>.safetensors.index.json"
inline std::string index_file_name(std::string_view base) { return std::string(base) + ".safetensors.index.json"; }
/// "<base>-0000k-of-0000n.safetensors" (k counts from 1; at least five digits, as Python's {:05d}).
inline std::string shard_file_name(std::string_view base, std::size_t k, std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", k, n);
  return std::string(base) + buf;
}

namespace detail {
/// True when `name` is "<base>-<digits>-of-<digits>.safetensors" (a shard file name of base).
inline bool is_shard_pattern(std::string_view base, std::string_view name) {
  if (name.size() <= base.size() + 1 || name.substr(0, base.size()) != base || name[base.size()] != '-') return false;
  std::string_view rest = name.substr(base.size() + 1);
  constexpr std::string_view ext = ".safetensors";
  if (rest.size() <= ext.size() || rest.substr(rest.size() - ext.size()) != ext) return false;
  rest.remove_suffix(ext.size());
  const auto of = rest.find("-of-");
  if (of == std::string_view::npos) return false;
  const auto digits = [](std::string_view d) {
    if (d.empty()) return false;
    for (const char c : d)
      if (c < '0' || c > '9') return false;
    return true;
  };
  return digits(rest.substr(0, of)) && digits(rest.substr(of + 4));
}
}  // namespace detail

/// True when `name` is a file of base's tensor set in either layout: "<base>.safetensors", its index, or a
/// shard file name of the pattern. (The checkpoint writers replace a folder only if it holds such files.)
inline bool is_tensor_set_file(std::string_view base, std::string_view name) {
  return name == single_file_name(base) || name == index_file_name(base) || detail::is_shard_pattern(base, name);
}

// --- sizes ---

/// Parses a shard size the way transformers' convert_file_size_to_int does (see the file comment): digits
/// followed by KiB / MiB / GiB (2^10, 2^20, 2^30) or KB / MB / GB (10^3, 10^6, 10^9), the unit in any case;
/// a unit written with a lower-case final "b" ("Mb") counts bits (the bytes are divided by 8, rounding
/// down). A bare integer is bytes. The result must be positive and fit in 64 bits. `what` names the option.
inline std::uint64_t parse_shard_size(std::string_view s, std::string_view what = "--max-shard-size") {
  const std::string quoted = "\"" + std::string(s) + "\"";
  const char* const expected = "a positive integer followed by KB, MB, GB (powers of 10), KiB, MiB, GiB (powers of 2) "
                               "or nothing (bytes), e.g. 500MB or 5GB";
  struct unit {
    std::string_view name;
    std::uint64_t factor;
    bool bits_allowed;
  };
  // Longest suffixes first: "GiB" before "B"-ended two-letter units (HF tests GIB, MIB, KIB, then GB, MB, KB).
  static constexpr unit units[] = {{"GIB", 1ULL << 30, false}, {"MIB", 1ULL << 20, false}, {"KIB", 1ULL << 10, false},
                                   {"GB", 1'000'000'000ULL, true}, {"MB", 1'000'000ULL, true}, {"KB", 1'000ULL, true}};
  std::string upper(s);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view digits = s;
  std::uint64_t factor = 1;
  bool bits = false;
  for (const auto& u : units) {
    if (upper.size() >= u.name.size() && std::string_view(upper).substr(upper.size() - u.name.size()) == u.name) {
      digits = s.substr(0, s.size() - u.name.size());
      factor = u.factor;
      bits = u.bits_allowed && s.back() == 'b';
      break;
    }
  }
  if (digits.empty()) throw error(what, expected, quoted + (s.empty() ? " (empty)" : " (no number)"));
  for (const char c : digits)
    if (c < '0' || c > '9') throw error(what, expected, quoted);
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  std::uint64_t bytes = 0;
  if (ec != std::errc() || end != digits.data() + digits.size() || __builtin_mul_overflow(n, factor, &bytes))
    throw error(what, "a size below 2^64 bytes", quoted);
  if (bits) bytes /= 8;
  if (bytes == 0) throw error(what, "a positive size (at least one byte)", quoted);
  return bytes;
}

// --- the index ---

/// A parsed "<base>.safetensors.index.json".
struct shard_index {
  std::uint64_t total_size = 0;
  std::optional<std::uint64_t> total_parameters;  ///< newer transformers write it; checked when present
  std::vector<std::pair<std::string, std::string>> weight_map;  ///< tensor -> shard file, in file order
};

/// Parses and checks an index text (structure only; the shards are checked by sharded_reader). `file`
/// names it in errors. Refused: anything but {"metadata": {"total_size": n[, "total_parameters": n]},
/// "weight_map": {tensor: file}}, an empty weight_map or tensor name, and a shard file that is not a plain
/// "*.safetensors" name in the same folder (no '/', no "..", no hidden file).
inline shard_index parse_shard_index(std::string_view text, const std::string& file) {
  const json j = parse_json(text, file);
  shard_index ix;
  const auto& top = as_object(j, file);
  for (const auto& [k, v] : top)
    if (k != "metadata" && k != "weight_map")
      throw error(file, "only the keys metadata and weight_map", "key \"" + k + "\"");
  const json& meta = at(j, "metadata", file);
  for (const auto& [k, v] : as_object(meta, file + ": metadata"))
    if (k != "total_size" && k != "total_parameters")
      throw error(file + ": metadata", "only the keys total_size and total_parameters", "key \"" + k + "\"");
  ix.total_size = as_size(at(meta, "total_size", file + ": metadata"), file + ": metadata total_size");
  if (const json* tp = find(meta, "total_parameters")) ix.total_parameters = as_size(*tp, file + ": metadata total_parameters");
  const auto& wm = as_object(at(j, "weight_map", file), file + ": weight_map");
  if (wm.empty()) throw error(file + ": weight_map", "at least one tensor", "an empty object");
  for (const auto& [name, v] : wm) {
    const std::string subj = file + ": weight_map[\"" + name + "\"]";  // NOLINT(performance-inefficient-string-concatenation)
    if (name.empty()) throw error(file + ": weight_map", "non-empty tensor names", "\"\"");
    if (name == "__metadata__") throw error(subj, "a tensor name (not the reserved __metadata__)", "__metadata__");
    const std::string& f = as_string(v, subj);
    constexpr std::string_view ext = ".safetensors";
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f[0] == '.' ||
        f.find('\0') != std::string::npos || f.size() <= ext.size() || f.compare(f.size() - ext.size(), ext.size(), ext) != 0)
      throw error(subj, "a plain \"*.safetensors\" file name in the index's folder", "\"" + f + "\"");
    ix.weight_map.emplace_back(name, f);
  }
  return ix;
}

/// The index text of a sharded set, as transformers writes it: json.dumps(index, indent=2, sort_keys=True)
/// + "\n" (keys in code-point order, which is UTF-8 byte order; non-ASCII as \u escapes).
inline std::string shard_index_json(std::uint64_t total_size, const std::map<std::string, std::string>& weight_map) {
  json wm = json::object();
  for (const auto& [k, v] : weight_map) wm[k] = v;  // std::map: sorted; ordered_json keeps that order
  json meta = json::object();
  meta["total_size"] = total_size;
  json j = json::object();
  j["metadata"] = std::move(meta);
  j["weight_map"] = std::move(wm);
  return j.dump(2, ' ', true) + "\n";
}

/// Which shard each tensor goes to (0-based, in file-number order) under huggingface_hub's rule (file
/// comment), for tensors of `bytes` bytes in order. max_shard_size 0: no limit (one shard).
inline std::vector<std::size_t> plan_shards(const std::vector<std::uint64_t>& bytes, std::uint64_t max_shard_size) {
  std::vector<std::size_t> shard(bytes.size(), 0);
  if (max_shard_size == 0) return shard;
  // Shards are numbered as they are closed; the one being filled gets its number when it is closed.
  std::size_t next = 0;
  std::vector<std::size_t> open_members;
  std::uint64_t open_size = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] > max_shard_size) {  // a shard of its own, listed now
      shard[i] = next++;
      continue;
    }
    if (open_size + bytes[i] > max_shard_size) {  // tips over: close the current shard (never empty here)
      for (const std::size_t m : open_members) shard[m] = next;
      ++next;
      open_members.clear();
      open_size = 0;
    }
    open_members.push_back(i);
    open_size += bytes[i];
  }
  for (const std::size_t m : open_members) shard[m] = next;
  return shard;
}

// --- reading ---

/// A tensor set in either layout (see the file comment), read through the calls of safetensors_reader.
class sharded_reader {
 public:
  /// The index size this reader accepts (an index lists names; 100 MB is far beyond any real one).
  static constexpr std::uint64_t max_index_bytes = 100'000'000;

  /// True when dir holds base's set in either layout (which may still be invalid).
  static bool present(const std::filesystem::path& dir, std::string_view base) {
    std::error_code ec;
    return std::filesystem::exists(dir / single_file_name(base), ec) || std::filesystem::exists(dir / index_file_name(base), ec);
  }

  /// Opens base's set in dir: "<base>.safetensors", or the index and its shards (checked as the file comment
  /// says). With neither present, the error names the single file as missing (as before sharding).
  sharded_reader(const std::filesystem::path& dir, std::string base, reader_options opt = {}) : dir_(dir), base_(std::move(base)) {
    const auto single = dir / single_file_name(base_), index = dir / index_file_name(base_);
    std::error_code ec;
    const bool has_index = std::filesystem::exists(index, ec);
    if (has_index && std::filesystem::exists(single, ec))
      throw error("checkpoint folder " + dir.string(), "one of " + single_file_name(base_) + " or " + index_file_name(base_),
                  "both (which one is meant?)");
    if (!has_index) {
      shards_.emplace_back(single, opt);
      description_ = single;
      for (const auto& n : shards_[0].names()) where_.emplace(n, 0);
      names_ = shards_[0].names();
      return;
    }
    description_ = index;
    open_index(index, opt);
  }

  /// Whether the set is an index + shards.
  [[nodiscard]] bool sharded() const { return description_.filename() == index_file_name(base_); }
  /// The single file, or the index: what names the set in errors.
  [[nodiscard]] const std::filesystem::path& path() const { return description_; }
  /// The file that holds tensor `name` (its shard).
  [[nodiscard]] const std::filesystem::path& path_of(const std::string& name) const { return shards_[shard_of(name)].path(); }
  /// The safetensors files (one, or the shards in file-name order).
  [[nodiscard]] std::vector<std::filesystem::path> files() const {
    std::vector<std::filesystem::path> f;
    for (const auto& s : shards_) f.push_back(s.path());
    return f;
  }
  /// Sum of the safetensors files' sizes (headers included, index excluded).
  [[nodiscard]] std::uintmax_t file_bytes() const {
    std::uintmax_t b = 0;
    for (const auto& s : shards_) b += std::filesystem::file_size(s.path());
    return b;
  }

  /// Tensor names: file order, shard after shard.
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
  [[nodiscard]] bool contains(const std::string& name) const { return where_.count(name) != 0; }
  [[nodiscard]] const tensor_info& info(const std::string& name) const { return shards_[shard_of(name)].info(name); }
  /// The __metadata__ (equal in every shard).
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return shards_[0].metadata(); }

  template <class T>
  void read(const std::string& name, std::span<T> dst, const std::vector<std::size_t>& expected_shape) const {
    shards_[shard_of(name)].read(name, dst, expected_shape);
  }
  template <class T>
  [[nodiscard]] std::vector<T> read(const std::string& name) const {
    return shards_[shard_of(name)].template read<T>(name);
  }

 private:
  [[nodiscard]] std::size_t shard_of(const std::string& name) const {
    if (shards_.size() == 1) return 0;  // the file's own errors, exactly as a safetensors_reader gives them
    const auto it = where_.find(name);
    if (it == where_.end()) throw error(description_.string() + ": tensor " + name, "present in the tensor set", "missing");
    return it->second;
  }

  void open_index(const std::filesystem::path& index, const reader_options& opt) {
    const std::string file = "safetensors index " + index.string();
    std::error_code ec;
    const auto size = std::filesystem::file_size(index, ec);
    if (!ec && size > max_index_bytes)
      throw error(file, "at most " + std::to_string(max_index_bytes) + " bytes", std::to_string(size) + " bytes");
    const shard_index ix = parse_shard_index(read_file(index), file);
    // Shard files in file-name order; each opened (and its header checked) once.
    std::map<std::string, std::size_t> file_no;
    for (const auto& [t, f] : ix.weight_map) file_no.emplace(f, 0);
    std::size_t k = 0;
    for (auto& [f, no] : file_no) {
      no = k++;
      shards_.emplace_back(dir_ / f, opt);
    }
    std::map<std::string, std::string> mapped;  // tensor -> file (names are unique: the parser refuses duplicates)
    for (const auto& [t, f] : ix.weight_map) mapped.emplace(t, f);
    for (const auto& [t, f] : ix.weight_map) {
      const auto& sh = shards_[file_no.at(f)];
      if (!sh.contains(t))
        throw error("safetensors file " + sh.path().string() + ": tensor " + t,
                    "present (the index " + index.filename().string() + " maps it to this shard)", "missing");
    }
    std::uint64_t total = 0, params = 0;
    for (const auto& [f, no] : file_no) {
      const auto& sh = shards_[no];
      for (const auto& t : sh.names()) {
        const auto m = mapped.find(t);
        if (m == mapped.end())
          throw error("safetensors file " + sh.path().string() + ": tensor " + t,
                      "listed in the index " + index.filename().string(), "a tensor the index does not name");
        if (m->second != f)
          throw error("safetensors file " + sh.path().string() + ": tensor " + t,
                      "only in " + m->second + " (where the index " + index.filename().string() + " maps it)",
                      "a second copy in " + f);
        const auto& inf = sh.info(t);
        total += inf.end - inf.begin;
        params += inf.numel;
        where_.emplace(t, no);
        names_.push_back(t);
      }
      if (sh.metadata() != shards_[0].metadata())
        throw error("safetensors file " + sh.path().string() + ": __metadata__",
                    "the same as in " + shards_[0].path().filename().string() + " (every shard of one set agrees)",
                    "different metadata");
    }
    if (total != ix.total_size)
      throw error(file + ": metadata total_size", std::to_string(total) + " (the bytes of the shards' tensors)",
                  std::to_string(ix.total_size));
    if (ix.total_parameters && *ix.total_parameters != params)
      throw error(file + ": metadata total_parameters", std::to_string(params) + " (the shards' element count)",
                  std::to_string(*ix.total_parameters));
    // A shard of this set's pattern that the index does not reference: a leftover of another save, or a
    // file the index lost. Either way the folder does not say what the set is.
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      const std::string n = e.path().filename().string();
      if (detail::is_shard_pattern(base_, n) && !file_no.count(n))
        throw error("safetensors file " + e.path().string(), "referenced by the index " + index.filename().string(),
                    "an unreferenced shard file");
    }
    if (ec) throw error("checkpoint folder " + dir_.string(), "listable", ec.message());
  }

  std::filesystem::path dir_;
  std::string base_;
  std::filesystem::path description_;
  std::vector<safetensors_reader> shards_;
  std::map<std::string, std::size_t> where_;
  std::vector<std::string> names_;
};

// --- writing ---

namespace detail {
/// One output file written like write_file_atomic, but as a stream the caller fills over time: a temp
/// file beside the target, renamed over it by commit() after fsync; removed by the destructor otherwise.
class atomic_output {
 public:
  explicit atomic_output(const std::filesystem::path& path) : target_(check_write_target(path)) {
    fd_ = make_temp_beside(target_, tmp_);
    os_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!os_) {
      discard();
      throw error("file " + tmp_, "writable", "open failed");
    }
  }
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;
  ~atomic_output() { discard(); }

  void write(const void* data, std::uint64_t bytes) {
    os_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!os_) throw error("output file " + target_.string(), "written completely", "a failed write (disk full?)");
  }
  void commit() {
    os_.flush();
    if (!os_) throw error("file " + target_.string(), "written completely", "a write error (disk full?)");
    os_.close();
    const mode_t um = ::umask(0);  // mkstemp creates 0600; the usual 0666 & ~umask, as write_file_atomic
    ::umask(um);
    ::fchmod(fd_, 0666 & ~um);
    if (::fsync(fd_) != 0) throw error("file " + target_.string(), "fsync to succeed", errno_text(errno));
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), target_.c_str()) != 0)
      throw error("file " + target_.string(), "rename of the temp file to succeed", errno_text(errno));
    tmp_.clear();
  }

 private:
  void discard() {
    if (os_.is_open()) os_.close();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
  }
  std::filesystem::path target_;
  std::string tmp_;
  int fd_ = -1;
  std::ofstream os_;
};
}  // namespace detail

/// Streams a tensor set into a folder in either layout (see the file comment).
class sharded_writer {
 public:
  struct tensor {
    std::string name;
    growth::dtype type = growth::dtype::f32;
    std::vector<std::size_t> shape;
  };

  /// Plans the files of `tensors` (in this order) under max_shard_size (0: one file) and validates names
  /// and shapes (safetensors_writer's rules). Nothing is written until the first write_next.
  sharded_writer(std::filesystem::path dir, std::string base, std::vector<tensor> tensors,
                 const std::map<std::string, std::string>& metadata, std::uint64_t max_shard_size)
      : dir_(std::move(dir)), base_(std::move(base)), tensors_(std::move(tensors)) {
    std::vector<std::uint64_t> bytes;
    static const char placeholder = 0;  // header() reads no data
    safetensors_writer check;
    for (const auto& t : tensors_) {
      check.add(t.name, t.type, t.shape, &placeholder);  // names unique, valid; element count in 64 bits
      std::uint64_t n = dtype_size(t.type);
      for (const auto s : t.shape)
        if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(s), &n))
          throw error("safetensors tensor " + t.name + " shape", "a byte count below 2^64", growth::detail::shape_string(t.shape));
      bytes.push_back(n);
    }
    shard_ = plan_shards(bytes, max_shard_size);
    std::size_t n_shards = 1;
    for (const auto s : shard_) n_shards = std::max(n_shards, s + 1);
    shards_.resize(n_shards);
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      auto& sh = shards_[shard_[i]];
      sh.remaining++;
      sh.bytes += bytes[i];
      total_size_ += bytes[i];
    }
    for (std::size_t k = 0; k < n_shards; ++k) {
      shards_[k].file = n_shards == 1 ? single_file_name(base_) : shard_file_name(base_, k + 1, n_shards);
      safetensors_writer w;
      for (const auto& [key, v] : metadata) w.set_metadata(key, v);
      for (std::size_t i = 0; i < tensors_.size(); ++i)
        if (shard_[i] == k) w.add(tensors_[i].name, tensors_[i].type, tensors_[i].shape, &placeholder);
      shards_[k].header = w.header();
    }
  }

  /// Whether the set is written as an index and shards.
  [[nodiscard]] bool sharded() const { return shards_.size() > 1; }
  /// The safetensors file names, in shard order (one name when not sharded).
  [[nodiscard]] std::vector<std::string> file_names() const {
    std::vector<std::string> f;
    for (const auto& s : shards_) f.push_back(s.file);
    return f;
  }

  /// Writes the next tensor's data (its dtype, row-major, numel x dtype size bytes); a shard's file is
  /// opened at its first tensor and published at its last.
  void write_next(const void* data) {
    if (next_ >= tensors_.size())
      throw error("sharded_writer " + (dir_ / base_).string(), std::to_string(tensors_.size()) + " tensors", "one more");
    const std::size_t k = shard_[next_];
    auto& sh = shards_[k];
    if (!sh.out) {
      sh.out = std::make_unique<detail::atomic_output>(dir_ / sh.file);
      unsigned char len[8];
      const std::uint64_t n = sh.header.size();
      for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>((n >> (8 * b)) & 0xff);
      sh.out->write(len, 8);
      sh.out->write(sh.header.data(), sh.header.size());
    }
    const auto& t = tensors_[next_];
    std::uint64_t bytes = dtype_size(t.type);
    for (const auto s : t.shape) bytes *= s;
    if (bytes > 0 && data == nullptr) throw error("safetensors tensor " + t.name, "data", "a null pointer");
    sh.out->write(data, bytes);
    ++next_;
    if (--sh.remaining == 0) {
      sh.out->commit();
      sh.out.reset();
    }
  }
  template <class T>
  void write_next(std::span<const T> data) {
    const auto& t = tensors_.at(next_);
    if (t.type != dtype_of<T>()) throw error("safetensors tensor " + t.name, std::string(dtype_name(t.type)), std::string(dtype_name(dtype_of<T>())));
    write_next(static_cast<const void*>(data.data()));
  }

  /// After the last tensor: publishes a file with no tensors (an empty set) and, when sharded, the index.
  void finish() {
    if (next_ != tensors_.size())
      throw error("sharded_writer " + (dir_ / base_).string(), std::to_string(tensors_.size()) + " tensors written",
                  std::to_string(next_));
    if (tensors_.empty()) {  // no write_next opened the single file
      detail::atomic_output o(dir_ / shards_[0].file);
      unsigned char len[8];
      const std::uint64_t n = shards_[0].header.size();
      for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>((n >> (8 * b)) & 0xff);
      o.write(len, 8);
      o.write(shards_[0].header.data(), shards_[0].header.size());
      o.commit();
    }
    if (sharded()) {
      std::map<std::string, std::string> wm;
      for (std::size_t i = 0; i < tensors_.size(); ++i) wm[tensors_[i].name] = shards_[shard_[i]].file;
      write_file_atomic(dir_ / index_file_name(base_), shard_index_json(total_size_, wm));
    }
  }

 private:
  struct shard {
    std::string file, header;
    std::size_t remaining = 0;
    std::uint64_t bytes = 0;
    std::unique_ptr<detail::atomic_output> out;
  };
  std::filesystem::path dir_;
  std::string base_;
  std::vector<tensor> tensors_;
  std::vector<std::size_t> shard_;
  std::vector<shard> shards_;
  std::uint64_t total_size_ = 0;
  std::size_t next_ = 0;
};

}  // namespace growth::io
