#pragma once
/// @file error.hpp
/// growth::error: the one exception type of the library. Every message names the tensor or argument,
/// what was expected and what was found, so a user can fix the input without reading our code.
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace growth {

class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
  /// "<subject>: expected <expected>, got <actual>"
  error(std::string_view subject, std::string_view expected, std::string_view actual)
      : std::runtime_error(std::string(subject) + ": expected " + std::string(expected) + ", got " +
                           std::string(actual)) {}
};

namespace detail {

template <class Seq>
std::string shape_string(const Seq& s) {
  std::ostringstream os;
  os << '[';
  bool first = true;
  for (auto v : s) {
    if (!first) os << ", ";
    os << v;
    first = false;
  }
  os << ']';
  return os.str();
}

template <class T>
std::string to_string_any(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

/// Throws growth::error(subject, expected, actual) unless cond holds.
inline void require(bool cond, std::string_view subject, std::string_view expected, std::string_view actual) {
  if (!cond) throw error(subject, expected, actual);
}

}  // namespace detail
}  // namespace growth
