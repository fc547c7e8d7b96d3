#include "observe/interval_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/errno_names.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

namespace {

using Json = nlohmann::ordered_json;

// The optional integer resource fields after cpu_usage_ns and cpu_cores, in the order
// records list them, with their JSON/CSV names. One table keeps the writer, the reader and
// the CSV in step.
struct U64Field {
  const char* name;
  std::optional<uint64_t> ResourceStats::*member;
};
constexpr U64Field kResourceU64Fields[] = {
    {"memory_bytes", &ResourceStats::memory_bytes},
    {"memory_working_set_bytes", &ResourceStats::memory_working_set_bytes},
    {"memory_peak_bytes", &ResourceStats::memory_peak_bytes},
    {"memory_limit_bytes", &ResourceStats::memory_limit_bytes},
    {"oom_events", &ResourceStats::oom_events},
    {"oom_kills", &ResourceStats::oom_kills},
    {"io_read_bytes", &ResourceStats::io_read_bytes},
    {"io_write_bytes", &ResourceStats::io_write_bytes},
    {"pids", &ResourceStats::pids},
    {"net_rx_bytes", &ResourceStats::net_rx_bytes},
    {"net_tx_bytes", &ResourceStats::net_tx_bytes},
    {"net_rx_packets", &ResourceStats::net_rx_packets},
    {"net_tx_packets", &ResourceStats::net_tx_packets},
    {"net_rx_drops", &ResourceStats::net_rx_drops},
    {"net_tx_drops", &ResourceStats::net_tx_drops},
};

bool has_latency(const SyscallStats& stats) {
  for (uint64_t count : stats.latency_log2)
    if (count) return true;
  return false;
}

uint64_t quantile_ns(const SyscallStats& stats, double q) {
  return static_cast<uint64_t>(std::llround(stats.latency_quantile_ns(q)));
}

// "ENOENT" -> 2; "E200" (errno_name's form for a number glibc has no name for) -> 200.
std::optional<int> errno_from_name(std::string_view name) {
  if (name.size() > 1 && name[0] == 'E' && name[1] >= '0' && name[1] <= '9') {
    int value = 0;
    auto [end, ec] = std::from_chars(name.data() + 1, name.data() + name.size(), value);
    if (ec == std::errc() && end == name.data() + name.size() && value > 0) return value;
    return std::nullopt;
  }
  auto parsed = parse_errno(name);
  if (!parsed) return std::nullopt;
  return *parsed;
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string number_text(double value) { return fmt::format("{}", value); }

// Typed access to a record's fields; errors name the field.
class Fields {
 public:
  explicit Fields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  template <typename T>
  Result<std::optional<T>> optional(const char* name) const {
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) return std::optional<T>();
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) return bad(name, "a boolean");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string()) return bad(name, "a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) return bad(name, "a number");
    } else {
      if (!it->is_number_unsigned() && !(it->is_number_integer() && it->template get<int64_t>() >= 0))
        return bad(name, "a non-negative integer");
    }
    return std::optional<T>(it->template get<T>());
  }

  template <typename T>
  Result<T> required(const char* name) const {
    auto value = optional<T>(name);
    if (!value) return value.error();
    if (!*value) return Error(fmt::format("{}: missing field '{}'", where_, name));
    return **value;
  }

 private:
  Error bad(const char* name, const char* want) const {
    return Error(fmt::format("{}: field '{}' must be {}", where_, name, want));
  }
  const Json& object_;
  std::string where_;
};

// Assigns a field, or returns its error from the enclosing function.
#define SYSCHAOS_FIELD(target, expr)             \
  do {                                           \
    auto field_result_ = (expr);                 \
    if (!field_result_) return field_result_.error(); \
    target = std::move(*field_result_);          \
  } while (0)

Result<SyscallStats> syscall_from_json(const Json& object, size_t index) {
  std::string where = fmt::format("syscalls[{}]", index);
  if (!object.is_object()) return Error(where + ": not an object");
  Fields fields(object, where);
  SyscallStats stats;
  SYSCHAOS_FIELD(stats.name, fields.required<std::string>("name"));
  std::optional<int64_t> nr;
  auto nr_field = object.find("nr");
  if (nr_field != object.end()) {
    if (!nr_field->is_number_integer()) return Error(where + ": field 'nr' must be an integer");
    nr = nr_field->get<int64_t>();
  }
  stats.nr = static_cast<int>(nr.value_or(-1));
  SYSCHAOS_FIELD(stats.calls, fields.required<uint64_t>("calls"));
  SYSCHAOS_FIELD(stats.errors, fields.required<uint64_t>("errors"));
  std::optional<uint64_t> sum;
  SYSCHAOS_FIELD(sum, fields.optional<uint64_t>("latency_sum_ns"));
  stats.latency_sum_ns = sum.value_or(0);

  auto errnos = object.find("errnos");
  if (errnos != object.end()) {
    if (!errnos->is_object()) return Error(where + ": field 'errnos' must be an object");
    for (const auto& [name, count] : errnos->items()) {
      auto err = errno_from_name(name);
      if (!err) return Error(fmt::format("{}: unknown errno '{}' in 'errnos'", where, name));
      if (!count.is_number_unsigned())
        return Error(fmt::format("{}: errnos.{} must be a non-negative integer", where, name));
      stats.errnos.emplace_back(*err, count.get<uint64_t>());
    }
    std::sort(stats.errnos.begin(), stats.errnos.end());
  }
  auto buckets = object.find("latency_log2");
  if (buckets != object.end()) {
    if (!buckets->is_array() || buckets->size() > static_cast<size_t>(kLatencyBuckets))
      return Error(fmt::format("{}: 'latency_log2' must be an array of at most {} counts", where,
                               kLatencyBuckets));
    for (size_t i = 0; i < buckets->size(); ++i) {
      if (!(*buckets)[i].is_number_unsigned())
        return Error(fmt::format("{}: latency_log2[{}] must be a non-negative integer", where, i));
      stats.latency_log2[i] = (*buckets)[i].get<uint64_t>();
    }
  }
  return stats;
}

Result<ResourceStats> resources_from_json(const Json& object) {
  if (!object.is_object()) return Error("field 'resources' must be an object");
  Fields fields(object, "resources");
  ResourceStats resources;
  SYSCHAOS_FIELD(resources.cpu_usage_ns, fields.optional<uint64_t>("cpu_usage_ns"));
  for (const U64Field& field : kResourceU64Fields)
    SYSCHAOS_FIELD(resources.*field.member, fields.optional<uint64_t>(field.name));
  SYSCHAOS_FIELD(resources.cpu_cores, fields.optional<double>("cpu_cores"));
  SYSCHAOS_FIELD(resources.network_shared, fields.optional<bool>("network_shared"));
  std::optional<std::string> source;
  SYSCHAOS_FIELD(source, fields.optional<std::string>("source"));
  resources.source = source.value_or("");
  return resources;
}

}  // namespace

Result<IntervalFormat> interval_format_for_path(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) { return path.ends_with(suffix); };
  if (ends_with(".jsonl") || ends_with(".ndjson") || ends_with(".json")) return IntervalFormat::jsonl;
  if (ends_with(".csv")) return IntervalFormat::csv;
  return Error(fmt::format("cannot tell the output format of '{}': name it *.jsonl or *.csv", path));
}

std::string interval_to_jsonl(const Interval& interval, std::string_view target) {
  Json record;
  record["schema"] = kIntervalSchemaVersion;
  record["interval"] = interval.index;
  record["start"] = interval.start_unix;
  record["end"] = interval.end_unix;
  record["target"] = std::string(target);
  record["processes"] = interval.processes;
  record["alive"] = interval.target_alive;
  record["total_calls"] = interval.total_calls;
  record["total_errors"] = interval.total_errors;
  record["events_lost"] = interval.events_lost;

  Json syscalls = Json::array();
  for (const SyscallStats& stats : interval.syscalls) {
    Json entry;
    entry["name"] = stats.name;
    entry["nr"] = stats.nr;
    entry["calls"] = stats.calls;
    entry["errors"] = stats.errors;
    Json errnos = Json::object();
    for (const auto& [err, count] : stats.errnos) errnos[errno_name(err)] = count;
    entry["errnos"] = std::move(errnos);
    if (has_latency(stats)) {
      entry["latency_p50_ns"] = quantile_ns(stats, 0.5);
      entry["latency_p99_ns"] = quantile_ns(stats, 0.99);
    }
    entry["latency_sum_ns"] = stats.latency_sum_ns;
    // Trailing empty buckets are left out: most calls end in microseconds, and 40 numbers
    // per syscall per second would be mostly zeros.
    int used = kLatencyBuckets;
    while (used > 0 && stats.latency_log2[used - 1] == 0) --used;
    Json buckets = Json::array();
    for (int i = 0; i < used; ++i) buckets.push_back(stats.latency_log2[i]);
    entry["latency_log2"] = std::move(buckets);
    syscalls.push_back(std::move(entry));
  }
  record["syscalls"] = std::move(syscalls);

  Json resources = Json::object();
  const ResourceStats& r = interval.resources;
  if (!r.source.empty()) resources["source"] = r.source;
  if (r.cpu_usage_ns) resources["cpu_usage_ns"] = *r.cpu_usage_ns;
  if (r.cpu_cores && std::isfinite(*r.cpu_cores)) resources["cpu_cores"] = *r.cpu_cores;
  for (const U64Field& field : kResourceU64Fields)
    if (const auto& value = r.*field.member) resources[field.name] = *value;
  if (r.network_shared) resources["network_shared"] = *r.network_shared;
  record["resources"] = std::move(resources);
  return record.dump() + "\n";
}

Result<Interval> interval_from_json(std::string_view line, std::string* target) {
  Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return Error("not valid JSON");
  if (!record.is_object()) return Error("not a JSON object");
  Fields fields(record, "record");
  int64_t schema = 0;
  auto schema_field = record.find("schema");
  if (schema_field == record.end() || !schema_field->is_number_integer())
    return Error("missing field 'schema' (not a syschaos interval record?)");
  schema = schema_field->get<int64_t>();
  if (schema != kIntervalSchemaVersion)
    return Error(fmt::format("schema {} is not the one this syschaos reads ({})", schema,
                             kIntervalSchemaVersion));

  Interval interval;
  SYSCHAOS_FIELD(interval.index, fields.required<uint64_t>("interval"));
  SYSCHAOS_FIELD(interval.start_unix, fields.required<double>("start"));
  SYSCHAOS_FIELD(interval.end_unix, fields.required<double>("end"));
  std::optional<uint64_t> u64;
  SYSCHAOS_FIELD(u64, fields.optional<uint64_t>("processes"));
  interval.processes = u64.value_or(0);
  std::optional<bool> alive;
  SYSCHAOS_FIELD(alive, fields.optional<bool>("alive"));
  interval.target_alive = alive.value_or(true);
  SYSCHAOS_FIELD(u64, fields.optional<uint64_t>("events_lost"));
  interval.events_lost = u64.value_or(0);
  if (target) {
    std::optional<std::string> name;
    SYSCHAOS_FIELD(name, fields.optional<std::string>("target"));
    *target = name.value_or("");
  }

  auto syscalls = record.find("syscalls");
  if (syscalls == record.end() || !syscalls->is_array())
    return Error("missing field 'syscalls' (an array)");
  uint64_t sum_calls = 0, sum_errors = 0;
  for (size_t i = 0; i < syscalls->size(); ++i) {
    auto stats = syscall_from_json((*syscalls)[i], i);
    if (!stats) return stats.error();
    sum_calls += stats->calls;
    sum_errors += stats->errors;
    interval.syscalls.push_back(std::move(*stats));
  }
  // Totals are derivable; a record may leave them out.
  SYSCHAOS_FIELD(u64, fields.optional<uint64_t>("total_calls"));
  interval.total_calls = u64.value_or(sum_calls);
  SYSCHAOS_FIELD(u64, fields.optional<uint64_t>("total_errors"));
  interval.total_errors = u64.value_or(sum_errors);

  auto resources = record.find("resources");
  if (resources != record.end()) {
    auto parsed = resources_from_json(*resources);
    if (!parsed) return parsed.error();
    interval.resources = std::move(*parsed);
  }
  return interval;
}

std::string interval_csv_header() { return "schema,interval,start,end,target,metric,syscall,outcome,value\n"; }

std::string interval_to_csv(const Interval& interval, std::string_view target) {
  std::string prefix = fmt::format("{},{},{},{},{},", kIntervalSchemaVersion, interval.index,
                                   number_text(interval.start_unix), number_text(interval.end_unix),
                                   csv_field(target));
  std::string out;
  auto row = [&](std::string_view metric, std::string_view syscall, std::string_view outcome,
                 std::string_view value) {
    out += prefix;
    out += fmt::format("{},{},{},{}\n", metric, csv_field(syscall), csv_field(outcome), value);
  };
  row("processes", "", "", fmt::format("{}", interval.processes));
  row("alive", "", "", interval.target_alive ? "1" : "0");
  row("total_calls", "", "", fmt::format("{}", interval.total_calls));
  row("total_errors", "", "", fmt::format("{}", interval.total_errors));
  row("events_lost", "", "", fmt::format("{}", interval.events_lost));
  for (const SyscallStats& stats : interval.syscalls) {
    uint64_t failed = 0;
    for (const auto& [err, count] : stats.errnos) failed += count;
    if (stats.calls > failed) row("calls", stats.name, "success", fmt::format("{}", stats.calls - failed));
    for (const auto& [err, count] : stats.errnos) row("calls", stats.name, errno_name(err), fmt::format("{}", count));
    row("errors", stats.name, "", fmt::format("{}", stats.errors));
    if (has_latency(stats)) {
      row("latency_p50_ns", stats.name, "", fmt::format("{}", quantile_ns(stats, 0.5)));
      row("latency_p99_ns", stats.name, "", fmt::format("{}", quantile_ns(stats, 0.99)));
    }
    row("latency_sum_ns", stats.name, "", fmt::format("{}", stats.latency_sum_ns));
  }
  const ResourceStats& r = interval.resources;
  if (r.cpu_usage_ns) row("cpu_usage_ns", "", "", fmt::format("{}", *r.cpu_usage_ns));
  if (r.cpu_cores && std::isfinite(*r.cpu_cores)) row("cpu_cores", "", "", number_text(*r.cpu_cores));
  for (const U64Field& field : kResourceU64Fields)
    if (const auto& value = r.*field.member) row(field.name, "", "", fmt::format("{}", *value));
  if (r.network_shared) row("network_shared", "", "", *r.network_shared ? "1" : "0");
  return out;
}

Result<std::unique_ptr<IntervalWriter>> IntervalWriter::open(const std::string& path, std::string target,
                                                             std::optional<IntervalFormat> format) {
  if (!format) {
    auto from_name = interval_format_for_path(path);
    if (!from_name) return from_name.error();
    format = *from_name;
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Error::sys(fmt::format("open {}", path));
  std::unique_ptr<IntervalWriter> writer(
      new IntervalWriter(std::move(fd), path, std::move(target), *format));
  if (*format == IntervalFormat::csv) SYSCHAOS_TRY(writer->write_all(interval_csv_header()));
  return writer;
}

Result<void> IntervalWriter::write(const Interval& interval) {
  return write_all(format_ == IntervalFormat::jsonl ? interval_to_jsonl(interval, target_)
                                                    : interval_to_csv(interval, target_));
}

Result<void> IntervalWriter::write_all(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd_.get(), text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::sys(fmt::format("write {}", path_));
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

Result<std::vector<Interval>> read_intervals_jsonl(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  std::vector<Interval> intervals;
  std::string_view rest = *text;
  size_t line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    size_t end = rest.find('\n');
    bool terminated = end != std::string_view::npos;
    std::string_view line = rest.substr(0, terminated ? end : rest.size());
    rest.remove_prefix(terminated ? end + 1 : rest.size());
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto interval = interval_from_json(line);
    if (!interval) {
      if (!terminated) break;  // a record cut short at the end of the file
      return interval.error().context(fmt::format("{} line {}", path, line_number));
    }
    intervals.push_back(std::move(*interval));
  }
  return intervals;
}

}  // namespace syschaos
