#pragma once
// Helpers of the reliability tests: scratch folders, crafted safetensors files, checks that an error names
// what it should, and listings of a folder (to prove a refused command wrote nothing).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <growth/io/checkpoint.hpp>

#include "support/configs.hpp"
#include "support/scratch_dir.hpp"

namespace rel {

/// A complete 1-layer checkpoint (hidden 4, 8-token vocabulary), every parameter 0.5.
inline growth::io::checkpoint tiny_checkpoint() {
  const growth::model::bert_config c = growth::test::micro_config();
  growth::io::checkpoint ck;
  ck.config = c;
  ck.vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"};
  ck.params.assign(growth::model::parameter_count(c), 0.5f);
  return ck;
}

/// A scratch folder (tests/support/scratch_dir.hpp) named growth_rel_<tag>_<pid>_<n>.
struct scratch_dir : growth::test::scratch_dir {
  explicit scratch_dir(const std::string& tag) : growth::test::scratch_dir(tag, "growth_rel_") {}
};

inline void put(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream os(p, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[static_cast<std::size_t>(k)] = static_cast<char>((n >> (8 * k)) & 0xff);
  return s;
}

/// A safetensors file: the length prefix (the real one unless `length` is given), the header, the data.
inline std::string st_file(std::string_view header, std::string_view data, std::int64_t length = -1) {
  return le64(length < 0 ? header.size() : static_cast<std::uint64_t>(length)) + std::string(header) + std::string(data);
}

/// Every entry below dir (relative paths), to compare before and after a refused operation.
inline std::set<std::string> listing(const std::filesystem::path& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    out.insert(std::filesystem::relative(e.path(), dir).string());
  return out;
}

inline bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

}  // namespace rel

/// Runs expr, which must throw growth::error whose message contains every one of the given fragments.
#define REL_REQUIRE_ERROR(expr, ...)                                                        \
  do {                                                                                      \
    bool rel_thrown_ = false;                                                               \
    try {                                                                                   \
      (void)(expr);                                                                         \
    } catch (const growth::error& rel_e_) {                                                 \
      rel_thrown_ = true;                                                                   \
      const std::string rel_msg_ = rel_e_.what();                                           \
      const std::vector<std::string> rel_frags_{__VA_ARGS__};                               \
      for (const std::string& rel_frag_ : rel_frags_) {                                     \
        INFO("message: ", rel_msg_);                                                        \
        CHECK_MESSAGE(rel::contains(rel_msg_, rel_frag_), "missing \"", rel_frag_, "\""); \
      }                                                                                     \
    }                                                                                       \
    CHECK_MESSAGE(rel_thrown_, #expr " did not throw growth::error");                       \
  } while (0)
