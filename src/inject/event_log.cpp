#include "inject/event_log.hpp"

#include <nlohmann/json.hpp>

#include "core/errno_names.hpp"

namespace syschaos {

Result<std::unique_ptr<JsonlEventLog>> JsonlEventLog::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return Error::sys(fmt::format("open {}", path));
  return std::unique_ptr<JsonlEventLog>(new JsonlEventLog(f));
}

JsonlEventLog::~JsonlEventLog() {
  if (file_) std::fclose(file_);
}

void JsonlEventLog::on_event(const InjectionEvent& e) {
  nlohmann::json j;
  j["time"] = e.unix_time;
  j["t"] = std::chrono::duration<double>(e.since_arm).count();
  j["pid"] = e.pid;
  j["tid"] = e.tid;
  j["syscall"] = e.syscall;
  j["nr"] = e.nr;
  if (!e.paths.empty()) j["paths"] = e.paths;
  if (e.fd) j["fd"] = *e.fd;
  j["rule"] = e.rule;
  j["action"] = e.action;
  j["errno"] = e.err ? nlohmann::json(errno_name(e.err)) : nlohmann::json(nullptr);
  j["injected"] = e.injected;
  std::string line = j.dump();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), file_);
  // Line-buffered in effect: a reader tailing the file, or a crash, loses no whole event.
  std::fflush(file_);
}

}  // namespace syschaos
