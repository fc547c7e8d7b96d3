#include "cli/live_view.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "core/errno_names.hpp"

namespace syschaos::cli {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u]) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string human_ns(double ns) {
  if (ns <= 0) return "-";
  if (ns < 1e3) return fmt::format("{:.0f}ns", ns);
  if (ns < 1e6) return fmt::format("{:.1f}us", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.1f}ms", ns / 1e6);
  return fmt::format("{:.2f}s", ns / 1e9);
}

LiveView::LiveView(std::FILE* out, std::string title, size_t max_rows)
    : out_(out), title_(std::move(title)), max_rows_(max_rows), tty_(::isatty(::fileno(out)) == 1) {}

std::string LiveView::render(const Interval& iv, const std::string& title, size_t max_rows) {
  double secs = iv.end_unix > iv.start_unix ? iv.end_unix - iv.start_unix : 1.0;
  std::string s = fmt::format("syschaos monitor: {}   interval {} ({:.1f}s)   {} process(es){}\n", title,
                              iv.index, secs, iv.processes, iv.target_alive ? "" : "   TARGET EXITED");
  const auto& r = iv.resources;
  std::string res;
  if (r.cpu_cores) res += fmt::format("CPU {:.2f} cores  ", *r.cpu_cores);
  if (r.memory_bytes) res += "MEM " + human_bytes(static_cast<double>(*r.memory_bytes));
  if (r.memory_peak_bytes) res += " (peak " + human_bytes(static_cast<double>(*r.memory_peak_bytes)) + ")";
  if (r.memory_bytes) res += "  ";
  if (r.pids) res += fmt::format("PIDS {}  ", *r.pids);
  if (r.oom_events && *r.oom_events) res += fmt::format("OOM {}  ", *r.oom_events);
  if (!res.empty()) s += res + "\n";
  s += fmt::format("{} calls/s, {} errors/s{}\n", static_cast<uint64_t>(iv.total_calls / secs),
                   static_cast<uint64_t>(iv.total_errors / secs),
                   iv.events_lost ? fmt::format(", {} slow-call events lost", iv.events_lost) : "");
  s += fmt::format("{:<18} {:>10} {:>9} {:>6}  {:<18} {:>9} {:>9}\n", "SYSCALL", "CALLS/s", "ERR/s",
                   "ERR%", "TOP ERRNO", "P50", "P99");
  size_t rows = 0;
  for (const auto& sc : iv.syscalls) {
    if (rows++ >= max_rows) break;
    std::string top;
    uint64_t top_n = 0;
    for (const auto& [err, n] : sc.errnos)
      if (n > top_n) {
        top_n = n;
        top = fmt::format("{} ({})", errno_name(err), n);
      }
    double err_pct = sc.calls ? 100.0 * static_cast<double>(sc.errors) / static_cast<double>(sc.calls) : 0;
    s += fmt::format("{:<18} {:>10.0f} {:>9.0f} {:>5.1f}%  {:<18} {:>9} {:>9}\n", sc.name,
                     static_cast<double>(sc.calls) / secs, static_cast<double>(sc.errors) / secs, err_pct, top,
                     human_ns(sc.latency_quantile_ns(0.5)), human_ns(sc.latency_quantile_ns(0.99)));
  }
  if (iv.syscalls.size() > max_rows) s += fmt::format("... {} more syscalls\n", iv.syscalls.size() - max_rows);
  return s;
}

void LiveView::on_interval(const Interval& interval) {
  std::string frame = render(interval, title_, max_rows_);
  if (tty_) {
    std::fputs("\x1b[H\x1b[2J", out_);  // home and clear: redraw in place like top
  } else {
    frame += "\n";
  }
  std::fputs(frame.c_str(), out_);
  std::fflush(out_);
}

}  // namespace syschaos::cli
