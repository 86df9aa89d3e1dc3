// growth version: prints the library version.
#include <fmt/format.h>

#include <growth/version.hpp>

#include "command.hpp"

namespace growth_tool::cmd_version {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)
growth_tool::registrar reg{"version", [](CLI::App& app) {
                             auto* sub = app.add_subcommand("version", "Print the library version");
                             sub->callback([] { fmt::print("growth {}\n", GROWTH_VERSION_STRING); });
                           }};
}
