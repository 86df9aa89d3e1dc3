// growth version: prints the library version.
#include <cstdio>

#include <growth/version.hpp>

#include "command.hpp"

namespace growth_tool::cmd_version {  // named, not anonymous: the tool is a unity build (tools/CMakeLists.txt)
growth_tool::registrar reg{"version", [](CLI::App& app) {
                             auto* sub = app.add_subcommand("version", "Print the library version");
                             sub->callback([] { std::printf("growth %s\n", GROWTH_VERSION_STRING); });
                           }};
}
