#include "observe/prometheus_exporter.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/errno_names.hpp"

namespace syschaos {

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Sample values: integers exactly, other numbers in the shortest form that reads back the
// same double (Go's ParseFloat, which Prometheus uses, accepts it).
std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}
std::string format_value(uint64_t value) { return fmt::format("{}", value); }

using Labels = std::vector<std::pair<std::string_view, std::string>>;

// Accumulates one metric family: the HELP and TYPE lines, then its samples.
class Family {
 public:
  Family(std::string& out, const std::string& target, std::string_view name, std::string_view type,
         std::string_view help)
      : out_(out), target_(target), name_(name), type_(type), help_(help) {}

  template <typename Number>
  void sample(std::string_view suffix, const Labels& labels, Number value) {
    if (!header_written_) {
      out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, help_, name_, type_);
      header_written_ = true;
    }
    out_ += name_;
    out_ += suffix;
    out_ += fmt::format("{{target=\"{}\"", escape_label_value(target_));
    for (const auto& [key, value_text] : labels)
      out_ += fmt::format(",{}=\"{}\"", key, escape_label_value(value_text));
    out_ += "} ";
    out_ += format_value(value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  const std::string& target_;
  std::string_view name_, type_, help_;
  bool header_written_ = false;
};

bool is_ipv4_loopback(const in_addr& address) { return (ntohl(address.s_addr) >> 24) == 127; }

}  // namespace

void PrometheusState::add(const Interval& interval) {
  for (const SyscallStats& stats : interval.syscalls) {
    SyscallTotals& totals = syscalls[stats.name];
    totals.calls += stats.calls;
    totals.errors += stats.errors;
    uint64_t failed = 0;
    for (const auto& [err, count] : stats.errnos) {
      totals.outcomes[errno_name(err)] += count;
      failed += count;
    }
    // The errno breakdown is authoritative for failures; successes are the rest. The success
    // series exists from a syscall's first interval on, even at 0, so rate() sees its start.
    totals.outcomes["success"] += stats.calls > failed ? stats.calls - failed : 0;
    for (int i = 0; i < kLatencyBuckets; ++i) totals.latency_log2[i] += stats.latency_log2[i];
    totals.latency_sum_ns += stats.latency_sum_ns;
  }
  resources = interval.resources;
  processes = interval.processes;
  target_alive = interval.target_alive;
  events_lost += interval.events_lost;
  ++intervals;
  last_interval_seconds = interval.end_unix - interval.start_unix;
}

std::string latency_bucket_le(int bucket) {
  if (bucket >= kLatencyBuckets - 1) return "+Inf";
  // Division (not multiplication by 1e-9) is correctly rounded, so 2^k / 1e9 prints as its
  // short decimal form ("1.28e-07").
  return format_value(std::ldexp(1.0, bucket + 1) / 1e9);
}

std::string render_prometheus_text(const PrometheusState& state) {
  std::string out;
  const std::string& target = state.target;

  {
    Family family(out, target, "syschaos_syscalls_total", "counter",
                  "System calls the target completed, by syscall and outcome (success or the "
                  "errno name).");
    for (const auto& [name, totals] : state.syscalls)
      for (const auto& [outcome, count] : totals.outcomes)
        family.sample("", {{"syscall", name}, {"outcome", outcome}}, count);
  }
  {
    Family family(out, target, "syschaos_syscall_errors_total", "counter",
                  "System calls the target completed that returned an error, by syscall.");
    for (const auto& [name, totals] : state.syscalls) family.sample("", {{"syscall", name}}, totals.errors);
  }
  {
    Family family(out, target, "syschaos_syscall_duration_seconds", "histogram",
                  "Time from system call entry to exit, by syscall. Buckets are powers of two "
                  "nanoseconds; le is the bucket's exclusive upper bound.");
    for (const auto& [name, totals] : state.syscalls) {
      uint64_t cumulative = 0;
      for (int i = 0; i < kLatencyBuckets; ++i) cumulative += totals.latency_log2[i];
      // No histogram without latency data (the monitor may run with histograms off).
      if (cumulative == 0) continue;
      uint64_t count = cumulative;
      cumulative = 0;
      for (int i = 0; i < kLatencyBuckets; ++i) {
        cumulative += totals.latency_log2[i];
        family.sample("_bucket", {{"syscall", name}, {"le", latency_bucket_le(i)}}, cumulative);
      }
      family.sample("_sum", {{"syscall", name}}, static_cast<double>(totals.latency_sum_ns) / 1e9);
      family.sample("_count", {{"syscall", name}}, count);
    }
  }

  const ResourceStats& r = state.resources;
  auto gauge_or_counter = [&](std::string_view name, std::string_view type, std::string_view help,
                              const auto& value, auto convert) {
    if (!value) return;
    Family family(out, target, name, type, help);
    family.sample("", {}, convert(*value));
  };
  auto as_is = [](uint64_t v) { return v; };
  auto ns_to_seconds = [](uint64_t v) { return static_cast<double>(v) / 1e9; };
  gauge_or_counter("syschaos_cpu_seconds_total", "counter",
                   "CPU time the target used (user and system), cumulative as its cgroup counts it.",
                   r.cpu_usage_ns, ns_to_seconds);
  gauge_or_counter("syschaos_memory_bytes", "gauge",
                   "Memory the target uses now, page cache included (cgroup usage; summed RSS for "
                   "a process target).",
                   r.memory_bytes, as_is);
  gauge_or_counter("syschaos_memory_working_set_bytes", "gauge",
                   "Memory the target uses minus inactive file cache (what docker stats shows).",
                   r.memory_working_set_bytes, as_is);
  gauge_or_counter("syschaos_memory_peak_bytes", "gauge", "Highest memory use recorded for the target.",
                   r.memory_peak_bytes, as_is);
  gauge_or_counter("syschaos_memory_limit_bytes", "gauge", "The target's memory limit (absent when unlimited).",
                   r.memory_limit_bytes, as_is);
  gauge_or_counter("syschaos_oom_events_total", "counter",
                   "Times the target's cgroup hit its memory limit and the OOM killer was invoked.",
                   r.oom_events, as_is);
  gauge_or_counter("syschaos_oom_kills_total", "counter", "Processes of the target killed by the OOM killer.",
                   r.oom_kills, as_is);
  gauge_or_counter("syschaos_io_read_bytes_total", "counter", "Bytes the target read from block devices.",
                   r.io_read_bytes, as_is);
  gauge_or_counter("syschaos_io_write_bytes_total", "counter", "Bytes the target wrote to block devices.",
                   r.io_write_bytes, as_is);
  gauge_or_counter("syschaos_pids", "gauge", "Tasks (threads) of the target, as the pids controller counts them.",
                   r.pids, as_is);
  gauge_or_counter("syschaos_network_receive_bytes_total", "counter",
                   "Bytes received on the target's network namespace (all interfaces but lo, or lo "
                   "if it is the only one).",
                   r.net_rx_bytes, as_is);
  gauge_or_counter("syschaos_network_transmit_bytes_total", "counter",
                   "Bytes sent on the target's network namespace.", r.net_tx_bytes, as_is);
  gauge_or_counter("syschaos_network_receive_packets_total", "counter",
                   "Packets received on the target's network namespace.", r.net_rx_packets, as_is);
  gauge_or_counter("syschaos_network_transmit_packets_total", "counter",
                   "Packets sent on the target's network namespace.", r.net_tx_packets, as_is);
  gauge_or_counter("syschaos_network_receive_drops_total", "counter",
                   "Received packets dropped on the target's network namespace.", r.net_rx_drops, as_is);
  gauge_or_counter("syschaos_network_transmit_drops_total", "counter",
                   "Packets to send dropped on the target's network namespace.", r.net_tx_drops, as_is);
  gauge_or_counter("syschaos_network_shared", "gauge",
                   "1 when processes outside the target share its network namespace (host network), "
                   "so the network counters are not the target's alone.",
                   r.network_shared, [](bool shared) { return uint64_t{shared ? 1u : 0u}; });
  if (!r.source.empty()) {
    Family family(out, target, "syschaos_resource_source_info", "gauge",
                  "Where the resource metrics come from (cgroup v1, cgroup v2, cgroup v2+v1, processes).");
    family.sample("", {{"source", r.source}}, uint64_t{1});
  }

  if (state.intervals > 0) {
    Family(out, target, "syschaos_target_processes", "gauge", "Processes of the target at the end of the last interval.")
        .sample("", {}, state.processes);
    Family(out, target, "syschaos_target_up", "gauge", "1 while the target runs, 0 once it has exited.")
        .sample("", {}, uint64_t{state.target_alive ? 1u : 0u});
    Family(out, target, "syschaos_events_lost_total", "counter",
           "Slow or failed call events dropped from the event stream (the counts never lose any).")
        .sample("", {}, state.events_lost);
    Family(out, target, "syschaos_intervals_total", "counter", "Monitoring intervals completed.")
        .sample("", {}, state.intervals);
    Family(out, target, "syschaos_interval_seconds", "gauge", "Length of the last monitoring interval.")
        .sample("", {}, state.last_interval_seconds);
  }
  return out;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto usage = [&](std::string_view why) {
    return Error(fmt::format("bad listen address '{}': {} (want HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)",
                             text, why));
  };
  ListenAddress address;
  std::string_view host, port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return usage("unclosed [ or no port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return usage("no port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return usage("an IPv6 address needs brackets");
  }
  if (host.empty()) return usage("no host");
  unsigned port_number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || port_number > 65535)
    return usage("the port must be a number from 0 to 65535");
  address.port = static_cast<uint16_t>(port_number);
  address.host = host == "localhost" ? "127.0.0.1" : std::string(host);

  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, address.host.c_str(), &v4) == 1) {
    address.loopback = is_ipv4_loopback(v4);
  } else if (::inet_pton(AF_INET6, address.host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) {
      address.loopback = true;
    } else if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      in_addr mapped{};
      std::memcpy(&mapped, &v6.s6_addr[12], 4);
      address.loopback = is_ipv4_loopback(mapped);
    }
  } else {
    return usage("the host must be a numeric IP address or localhost");
  }
  return address;
}

struct PrometheusExporter::Impl {
  ListenAddress address;
  mutable std::mutex mutex;
  PrometheusState state;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> serving_ended{false};

  std::string render() const {
    PrometheusState copy;
    {
      std::lock_guard lock(mutex);
      copy = state;
    }
    return render_prometheus_text(copy);
  }
};

PrometheusExporter::PrometheusExporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PrometheusExporter::~PrometheusExporter() {
  // stop() acts only on a running accept loop (it is a no-op before the thread enters it),
  // so wait for the loop to run, or to have ended on its own, before stopping it.
  while (!impl_->server.is_running() && !impl_->serving_ended)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!impl_->serving_ended) impl_->server.stop();
  impl_->thread.join();
}

Result<std::unique_ptr<PrometheusExporter>> PrometheusExporter::start(const PrometheusOptions& options) {
  auto address = parse_listen_address(options.listen);
  if (!address) return address.error();
  if (!address->loopback && !options.allow_non_loopback)
    return Error(fmt::format(
        "refusing to serve metrics on {}: it is not a loopback address, and the metrics show what "
        "the target does; allow it explicitly to serve beyond this machine",
        options.listen));

  auto impl = std::make_unique<Impl>();
  impl->address = *address;
  impl->state.target = options.target;
  Impl* self = impl.get();

  // A scrape is small and rare: a few threads are plenty (the default is one per core, >= 8).
  impl->server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  // One request per connection. A kept-alive idle connection holds a worker in a wait that
  // does not notice stop(), so the exporter's owner (the monitor ending) would wait out the
  // keep-alive timeout; a new connection per scrape costs nothing at scrape rates. A client
  // that connects and sends nothing is likewise given up on after a short read timeout.
  impl->server.set_keep_alive_max_count(1);
  impl->server.set_read_timeout(2, 0);
  // SO_REUSEADDR only. httplib's default adds SO_REUSEPORT, which would let a second
  // exporter bind the same port silently and split the scrapes between the two.
  impl->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl->server.Get("/metrics", [self](const httplib::Request&, httplib::Response& response) {
    response.set_content(self->render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  impl->server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("syschaos exporter: metrics at /metrics\n", "text/plain; charset=utf-8");
  });

  std::string where = address->host.find(':') != std::string::npos
                          ? fmt::format("[{}]:{}", address->host, address->port)
                          : fmt::format("{}:{}", address->host, address->port);
  // httplib reports only success; the errno of the failed bind() or listen() is still set.
  errno = 0;
  if (address->port == 0) {
    int port = impl->server.bind_to_any_port(address->host);
    if (port <= 0) {
      int err = errno;
      return err ? Error::sys(fmt::format("bind {}", where), err)
                 : Error(fmt::format("cannot listen on {}", where));
    }
    impl->address.port = static_cast<uint16_t>(port);
  } else if (!impl->server.bind_to_port(address->host, address->port)) {
    int err = errno;
    return err ? Error::sys(fmt::format("bind {}", where), err)
               : Error(fmt::format("cannot listen on {}", where));
  }

  impl->thread = std::thread([self] {
    self->server.listen_after_bind();
    self->serving_ended = true;
  });
  return std::unique_ptr<PrometheusExporter>(new PrometheusExporter(std::move(impl)));
}

void PrometheusExporter::publish(const Interval& interval) {
  std::lock_guard lock(impl_->mutex);
  impl_->state.add(interval);
}

uint16_t PrometheusExporter::port() const { return impl_->address.port; }

std::string PrometheusExporter::url() const {
  const std::string& host = impl_->address.host;
  return host.find(':') != std::string::npos
             ? fmt::format("http://[{}]:{}/metrics", host, impl_->address.port)
             : fmt::format("http://{}:{}/metrics", host, impl_->address.port);
}

std::string PrometheusExporter::render() const { return impl_->render(); }

}  // namespace syschaos
