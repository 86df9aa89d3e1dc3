// growth: the command-line tool. Subcommands live in cmd_*.cpp (see command.hpp).
#include <algorithm>
#include <cstdio>
#include <exception>

#include <growth/core/error.hpp>
#include <growth/version.hpp>

#include "command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"growth " GROWTH_VERSION_STRING ": Transformer growth operators and a reference CPU BERT"};
  app.require_subcommand(1);
  app.set_version_flag("--version", GROWTH_VERSION_STRING);
  app.fallthrough();  // global options may follow the subcommand: `growth eval ... --allow-nonfinite`
  app.add_flag("--allow-nonfinite", growth_tool::globals().allow_nonfinite,
               "Read checkpoints whose weights hold NaN or Inf (refused by default, naming the tensor)");
  auto& reg = growth_tool::registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : reg) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const growth::error& e) {
    std::fprintf(stderr, "growth: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "growth: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
