#include "observe/bpf_diagnostics.hpp"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace syschaos {

namespace {

// libbpf's print callback carries no user pointer, so the active capture's buffer is global.
// capture_mutex serializes captures; buffer_mutex guards the buffer against a libbpf call
// made on another thread while a capture is active.
std::mutex capture_mutex;
std::mutex buffer_mutex;
std::vector<std::string>* active_buffer = nullptr;
std::string pending_partial;  // text of a line libbpf has not finished yet
libbpf_print_fn_t previous_print = nullptr;

int capture_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char stack_buf[1024];
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(stack_buf, sizeof(stack_buf), format, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string text;
  if (static_cast<size_t>(n) < sizeof(stack_buf)) {
    text.assign(stack_buf, static_cast<size_t>(n));
  } else {
    text.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(text.data(), text.size(), format, args);
    text.resize(static_cast<size_t>(n));
  }
  std::lock_guard lock(buffer_mutex);
  if (!active_buffer) return 0;
  pending_partial += text;
  size_t start = 0;
  for (size_t nl; (nl = pending_partial.find('\n', start)) != std::string::npos; start = nl + 1)
    active_buffer->push_back(pending_partial.substr(start, nl - start));
  pending_partial.erase(0, start);
  return n;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view without_libbpf_prefix(std::string_view s) {
  s = trim(s);
  if (starts_with(s, "libbpf: ")) s.remove_prefix(8);
  return s;
}

// Verifier statistics printed after the verdict; never the reason.
bool is_verifier_statistics(std::string_view line) {
  return starts_with(line, "processed ") || starts_with(line, "verification time") ||
         starts_with(line, "stack depth") || starts_with(line, "mark_precise") ||
         starts_with(line, "peak_states");
}

// libbpf's load-probe failure goes on with advice about RLIMIT_MEMLOCK that does not apply
// to a missing privilege; its first sentence is the fact.
std::string first_sentence(std::string_view text) {
  size_t end = text.find(". ");
  return std::string(end == std::string_view::npos ? text : text.substr(0, end));
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() : exclusive_(capture_mutex) {
  std::lock_guard lock(buffer_mutex);
  active_buffer = new std::vector<std::string>();
  pending_partial.clear();
  previous_print = libbpf_set_print(capture_print);
}

LibbpfLogCapture::~LibbpfLogCapture() {
  libbpf_set_print(previous_print);
  std::lock_guard lock(buffer_mutex);
  delete active_buffer;
  active_buffer = nullptr;
  pending_partial.clear();
}

std::vector<std::string> LibbpfLogCapture::lines() const {
  std::lock_guard lock(buffer_mutex);
  std::vector<std::string> out = active_buffer ? *active_buffer : std::vector<std::string>{};
  if (!pending_partial.empty()) out.push_back(pending_partial);
  return out;
}

std::string relevant_libbpf_line(const std::vector<std::string>& lines) {
  // A verifier rejection: "prog 'x': BPF program load failed: ..." followed by the log
  // between BEGIN and END markers, whose last non-statistics line is the verdict.
  for (size_t end = lines.size(); end-- > 0;) {
    if (!contains(lines[end], "-- END PROG LOAD LOG --")) continue;
    std::string prog;
    for (size_t begin = end; begin-- > 0;) {
      if (!contains(lines[begin], "-- BEGIN PROG LOAD LOG --")) continue;
      std::string_view marker = without_libbpf_prefix(lines[begin]);
      size_t colon = marker.find("': ");
      if (starts_with(marker, "prog '") && colon != std::string_view::npos)
        prog = std::string(marker.substr(0, colon + 1));
      for (size_t i = end; i-- > begin + 1;) {
        std::string_view line = trim(lines[i]);
        if (line.empty() || is_verifier_statistics(line)) continue;
        return prog.empty() ? std::string(line) : fmt::format("{}: {}", prog, line);
      }
      break;
    }
  }
  for (const std::string& raw : lines) {
    std::string_view line = without_libbpf_prefix(raw);
    if (contains(line, "failed") || contains(line, "Error") || contains(line, "error"))
      return std::string(line);
  }
  return {};
}

Error bpf_step_error(BpfStep step, std::string_view what, int err,
                     const std::vector<std::string>& libbpf_log) {
  std::string detail = relevant_libbpf_line(libbpf_log);
  if (detail.empty()) detail = std::strerror(err);
  // EACCES with a verifier log is a rejected program, not a missing privilege: the
  // verifier's verdict (the detail) names the instruction instead.
  bool verifier_rejected = false;
  for (const std::string& line : libbpf_log)
    if (contains(line, "BEGIN PROG LOAD LOG")) verifier_rejected = true;
  if ((step == BpfStep::kOpen || step == BpfStep::kLoad) && (err == EPERM || err == EACCES) &&
      !verifier_rejected)
    return Error(fmt::format("loading BPF programs needs root or CAP_BPF+CAP_PERFMON: {}",
                             first_sentence(detail)),
                 err);
  switch (step) {
    case BpfStep::kOpen:
      return Error(fmt::format("opening {} failed: {}", what, detail), err);
    case BpfStep::kLoad:
      return Error(fmt::format("loading {} into the kernel failed: {}", what, detail), err);
    case BpfStep::kAttach:
      if (err == ENOENT || err == EINVAL || err == ESRCH || err == EOPNOTSUPP)
        return Error(fmt::format("attaching to {} failed ({}): the kernel needs BTF-enabled raw "
                                 "tracepoints (Linux >= 5.5) and syscall tracepoints "
                                 "(CONFIG_FTRACE_SYSCALLS=y)",
                                 what, std::strerror(err)),
                     err);
      return Error(fmt::format("attaching to {} failed: {}", what, detail), err);
  }
  return Error(fmt::format("{}: {}", what, detail), err);
}

}  // namespace syschaos
