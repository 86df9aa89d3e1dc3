#pragma once
// The growth tool's subcommands register themselves here: each tools/cmd_<name>.cpp defines one
// static growth_tool::registrar, so adding a subcommand never touches main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace growth_tool {

/// setup(app) adds a subcommand and its options to app, and sets its callback.
using setup_fn = std::function<void(CLI::App& app)>;

inline std::vector<std::pair<std::string, setup_fn>>& registry() {
  static std::vector<std::pair<std::string, setup_fn>> r;
  return r;
}

/// Options of the `growth` command itself, given before or after the subcommand (main.cpp sets them).
struct global_options {
  /// --allow-nonfinite: read checkpoints whose tensors hold NaN or Inf instead of refusing them (the refusal
  /// names the tensor; io::load_options::allow_nonfinite / io::reader_options::allow_nonfinite).
  bool allow_nonfinite = false;
};

inline global_options& globals() {
  static global_options g;
  return g;
}

/// Thrown by a subcommand that ends without an error but must not exit 0 (an interrupted `growth train`:
/// 128 + the signal). main.cpp returns `code`; the subcommand has already said why.
struct exit_request {
  int code = 1;
};

struct registrar {
  registrar(std::string name, setup_fn f) { registry().emplace_back(std::move(name), std::move(f)); }
};

}  // namespace growth_tool
