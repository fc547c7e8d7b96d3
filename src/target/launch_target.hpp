// LaunchTarget: `syschaos inject ... -- COMMAND ARGS`, a command the engine starts itself,
// so that it is under control from its first instruction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "target/target.hpp"

namespace syschaos {

class LaunchTarget final : public Target {
 public:
  // Checks that argv is not empty and that argv[0] resolves to an executable file the way
  // execvp would resolve it. Error: "command not found: X".
  static Result<std::unique_ptr<LaunchTarget>> create(std::vector<std::string> argv);

  std::string describe() const override;  // "command sleep 10"
  // Nothing runs before the engine launches it.
  Result<std::vector<pid_t>> processes() override { return std::vector<pid_t>{}; }
  const std::vector<std::string>* command() const override { return &argv_; }

  // The file execvp would run now, e.g. "/usr/bin/sleep".
  const std::string& executable() const { return executable_; }

 private:
  LaunchTarget(std::vector<std::string> argv, std::string executable)
      : argv_(std::move(argv)), executable_(std::move(executable)) {}

  std::vector<std::string> argv_;
  std::string executable_;
};

// Resolves `name` as execvp does: a name with a slash is used as is, otherwise each entry of
// `search_path` (colon-separated; an empty entry is the current directory) is tried in order
// and the first executable regular file wins.
Result<std::string> find_executable(std::string_view name, std::string_view search_path);
// The search path execvp uses: $PATH, or the C library's default when PATH is unset.
std::string executable_search_path();

}  // namespace syschaos
