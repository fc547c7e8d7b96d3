// FakeEngine: the test-input engine. It replays a scripted list of calls through the same
// FaultEvaluator the real engines use and records what each call would have seen, so the
// fault model is tested without a kernel (falcosecurity/libs' habit).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inject/engine.hpp"

namespace syschaos {

struct FakeCall {
  Nanos at{0};                 // time after arming
  pid_t tgid = 1;
  pid_t tid = 1;
  std::string syscall;         // name, resolved with the native table
  uint64_t args[6] = {};
  std::vector<std::string> paths;
  std::map<int, FdKind> fd_kinds;
  std::string comm = "app";
  bool exits_process = false;  // the process exits after this call
};

// What a scripted call ended with.
struct FakeOutcome {
  bool injected = false;
  int rule = -1;
  int err = 0;
  std::optional<int64_t> retval;
  int signal = 0;
  Nanos delay{0};  // delay_enter + delay_exit
};

class FakeEngine final : public Engine {
 public:
  explicit FakeEngine(std::vector<FakeCall> script) : script_(std::move(script)) {}
  std::string_view name() const override { return "fake"; }
  EngineCapabilities capabilities() const override;
  Result<EngineReport> run(Target& target, FaultEvaluator& faults, const EngineOptions& options) override;
  const std::vector<FakeOutcome>& outcomes() const { return outcomes_; }

 private:
  std::vector<FakeCall> script_;
  std::vector<FakeOutcome> outcomes_;
};

}  // namespace syschaos
