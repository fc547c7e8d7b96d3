// Each subcommand lives in its own file and registers itself here: it adds its options to
// the CLI11 app and, when chosen, sets `action` to the function that runs it.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace syschaos::cli {

using Action = std::function<int()>;

void register_inject(CLI::App& app, Action& action);
void register_info(CLI::App& app, Action& action);
void register_monitor(CLI::App& app, Action& action);
void register_fs(CLI::App& app, Action& action);  // fs mount|rules|recover (fs_command.cpp)
void register_fs_inject(CLI::App& app, Action& action);  // fs inject|restore (fs_inject_command.cpp)
void register_failstop(CLI::App& app, Action& action);
void register_run(CLI::App& app, Action& action);  // run SPEC, report DIR (run_command.cpp)  // failstop freeze|crash|kill|run|omit|duplicate|restore

}  // namespace syschaos::cli
