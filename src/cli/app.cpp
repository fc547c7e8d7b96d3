#include "cli/app.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.hpp"

namespace syschaos::cli {

int run(int argc, char** argv) {
  CLI::App app{"syschaos: chaos engineering and observability at the system-call boundary"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "syschaos 0.1.0");
  Action action;
  register_inject(app, action);
  register_monitor(app, action);
  register_info(app, action);
  register_run(app, action);
  register_fs(app, action);
  register_fs_inject(app, action);
  register_failstop(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, not CLI11's usage dump: bad input must be easy to read in scripts and CI logs.
    std::fprintf(stderr, "syschaos: %s (see 'syschaos %s--help')\n", e.what(),
                 app.get_subcommands().empty() ? ""
                                               : (app.get_subcommands()[0]->get_name() + " ").c_str());
    return kExitUsage;
  }
  if (!action) return kExitUsage;
  return action();
}

}  // namespace syschaos::cli
