// growth: the command-line tool. Subcommands live in cmd_*.cpp (see command.hpp).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <iostream>

#include <fmt/format.h>

#include <growth/core/error.hpp>
#include <growth/version.hpp>

#include "command.hpp"
#include "common.hpp"
#include "mpi_launch.hpp"

namespace {
/// stdout must have been written completely: `growth eval > /dev/full` is a failure, not exit 0 with
/// nothing written. stdout buffers (fmt::print writes to it), so the error shows only at the flush; std::cout is
/// checked too.
int check_stdout(int rc) {
  errno = 0;
  std::cout.flush();  // synced with stdio: this flushes stdout, and the failure sets errno
  const bool bad = std::fflush(stdout) != 0 || std::ferror(stdout) != 0 || !std::cout;
  if (!bad) return rc;
  const int e = errno;
  fmt::print(stderr, "growth: error: standard output: expected written completely, got {}\n",
             e ? growth::io::detail::errno_text(e) : "a write error");
  return rc == 0 ? 2 : rc;
}
}  // namespace

int main(int argc, char** argv) {
  growth_tool::mpi_launch mpi(&argc, &argv);  // under mpirun: MPI_Init here, MPI_Finalize at return
  CLI::App app{"growth " GROWTH_VERSION_STRING ": Transformer growth operators and a reference CPU BERT"};
  app.require_subcommand(1);
  app.set_version_flag("--version", GROWTH_VERSION_STRING);
  app.fallthrough();  // global options may follow the subcommand: `growth eval ... --allow-nonfinite`
  app.add_flag("--allow-nonfinite", growth_tool::globals().allow_nonfinite,
               "Read checkpoints whose weights hold NaN or Inf (refused by default, naming the tensor)");
  auto& reg = growth_tool::registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : reg) setup(app);
  growth_tool::check_option_values(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ValidationError& e) {
    // A value out of range (a negative count, --threads 100000): a bad option value like any other.
    fmt::print(stderr, "growth: error: {}\n", e.what());
    return 2;
  } catch (const CLI::ParseError& e) {
    return check_stdout(app.exit(e));
  } catch (const growth_tool::exit_request& e) {
    return check_stdout(e.code);
  } catch (const growth::error& e) {
    fmt::print(stderr, "growth: error: {}\n", e.what());
    return mpi.fail(check_stdout(2));  // a failed rank of a data-parallel run takes the job down
  } catch (const std::exception& e) {
    fmt::print(stderr, "growth: error: {}\n", e.what());
    return mpi.fail(check_stdout(2));
  }
  return check_stdout(0);
}
