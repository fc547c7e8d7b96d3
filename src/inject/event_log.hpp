// JsonlEventLog: an EventSink writing one JSON object per matched call (--events FILE).
// Schema (stable; documented in docs/USAGE.md):
//   {"time": unix seconds, "t": seconds since arming, "pid", "tid", "syscall", "nr",
//    "paths": [...] (calls with path arguments), "fd": n (calls with an fd argument),
//    "rule": index from 0, "action": "error=ENOENT", "errno": "ENOENT" | null,
//    "injected": false with --dry-run}
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "inject/engine.hpp"

namespace syschaos {

class JsonlEventLog final : public EventSink {
 public:
  static Result<std::unique_ptr<JsonlEventLog>> open(const std::string& path);
  ~JsonlEventLog() override;
  void on_event(const InjectionEvent& event) override;

 private:
  explicit JsonlEventLog(std::FILE* file) : file_(file) {}
  std::FILE* file_;
};

}  // namespace syschaos
