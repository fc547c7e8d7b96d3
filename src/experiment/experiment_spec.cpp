#include "experiment/experiment_spec.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "core/fault_parser.hpp"

namespace syschaos::experiment {

namespace {

// yaml-cpp throws on type mismatches; every throw is caught in parse_experiment_spec and
// becomes one line naming the key.
struct SpecError {
  std::string message;
};

[[noreturn]] void fail(const std::string& message) { throw SpecError{message}; }

void check_keys(const YAML::Node& node, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!node.IsMap()) fail(fmt::format("{} must be a mapping", where));
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(fmt::format("{}: unknown key '{}' (known: {})", where, key, list));
    }
  }
}

std::string scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) fail(fmt::format("{} must be a single value", where));
  return node.as<std::string>();
}

Nanos duration_of(const YAML::Node& node, const std::string& where, bool allow_zero = false) {
  auto d = parse_duration(scalar(node, where), "s");
  if (!d) fail(fmt::format("{}: {}", where, d.error().message()));
  if (!allow_zero && d->count() <= 0) fail(fmt::format("{} must be longer than 0", where));
  return *d;
}

std::vector<std::string> string_list(const YAML::Node& node, const std::string& where) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.as<std::string>());
  } else if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(scalar(item, where + " item"));
  } else {
    fail(fmt::format("{} must be a value or a list", where));
  }
  return out;
}

// A command as a list (argv) or a string (split on blanks; use a list for quoting).
std::vector<std::string> argv_of(const YAML::Node& node, const std::string& where) {
  if (node.IsSequence()) return string_list(node, where);
  std::istringstream words(scalar(node, where));
  std::vector<std::string> argv;
  for (std::string w; words >> w;) argv.push_back(w);
  if (argv.empty()) fail(where + " is empty");
  return argv;
}

RestartPolicy restart_policy(const std::string& text) {
  if (text == "never") return RestartPolicy::never;
  if (text == "on-crash" || text == "on_crash") return RestartPolicy::on_crash;
  if (text == "always") return RestartPolicy::always;
  fail(fmt::format("target.restart: '{}' is not one of never, on-crash, always", text));
}

TargetSection parse_target(const YAML::Node& node) {
  check_keys(node, "target", {"container", "pid", "command", "restart", "restart_command", "ready_url", "ready_timeout"});
  TargetSection t;
  int kinds = 0;
  if (node["container"]) {
    t.container = scalar(node["container"], "target.container");
    ++kinds;
  }
  if (node["pid"]) {
    long pid = 0;
    try {
      pid = node["pid"].as<long>();
    } catch (const YAML::Exception&) {
      fail("target.pid must be a process id");
    }
    if (pid <= 0) fail("target.pid must be a positive process id");
    t.pid = static_cast<pid_t>(pid);
    ++kinds;
  }
  if (node["command"]) {
    t.command = argv_of(node["command"], "target.command");
    ++kinds;
  }
  if (kinds != 1) fail("target: give exactly one of container, pid, command");
  if (node["restart"]) t.restart = restart_policy(scalar(node["restart"], "target.restart"));
  if (node["restart_command"]) t.restart_command = scalar(node["restart_command"], "target.restart_command");
  if (node["ready_url"]) {
    t.ready_url = scalar(node["ready_url"], "target.ready_url");
    // The readiness probe sends requests too: the same loopback-only rule as the load.
    HttpWorkloadSpec probe;
    probe.urls = {t.ready_url};
    probe.rate_per_s = 1;
    if (auto v = validate(probe); !v) fail("target.ready_url: " + v.error().message());
  }
  if (node["ready_timeout"]) t.ready_timeout = duration_of(node["ready_timeout"], "target.ready_timeout");
  if (t.pid && t.restart != RestartPolicy::never && t.restart_command.empty()) {
    // A bare pid cannot be brought back; say so rather than fail in the middle of a campaign.
    if (node["restart"])
      fail("target.restart needs target.restart_command for a pid target (syschaos cannot restart a process it did not start)");
    t.restart = RestartPolicy::never;
  }
  return t;
}

HttpWorkloadSpec parse_http(const YAML::Node& node) {
  check_keys(node, "workload.http", {"url", "urls", "rate", "concurrency", "timeout", "max_in_flight", "keep_alive"});
  HttpWorkloadSpec h;
  if (node["url"]) h.urls.push_back(scalar(node["url"], "workload.http.url"));
  if (node["urls"]) {
    auto more = string_list(node["urls"], "workload.http.urls");
    h.urls.insert(h.urls.end(), more.begin(), more.end());
  }
  try {
    if (node["rate"]) h.rate_per_s = node["rate"].as<double>();
    if (node["concurrency"]) h.concurrency = node["concurrency"].as<int>();
    if (node["max_in_flight"]) h.max_in_flight = node["max_in_flight"].as<int>();
  } catch (const YAML::Exception&) {
    fail("workload.http: rate, concurrency and max_in_flight must be numbers");
  }
  if (node["keep_alive"]) h.keep_alive = node["keep_alive"].as<bool>();
  if (node["timeout"])
    h.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(node["timeout"], "workload.http.timeout"));
  // validate() names the HTTP workload itself in its messages.
  if (auto v = validate(h); !v) fail(v.error().message());
  return h;
}

WorkloadSection parse_workload(const YAML::Node& node) {
  check_keys(node, "workload", {"http", "command"});
  WorkloadSection w;
  if (node["http"]) w.http = parse_http(node["http"]);
  if (node["command"]) {
    w.command = scalar(node["command"], "workload.command");
    if (w.command.empty()) fail("workload.command is empty");
  }
  return w;
}

// Checks a fault the way `inject --fault` would, so a campaign cannot fail on its 40th
// experiment because of a typo.
void check_fault(const std::string& text, const std::string& where) {
  auto rule = parse_fault(text);
  if (!rule) fail(fmt::format("{}: {}", where, rule.error().message()));
}

std::string unique_id(std::string id, std::set<std::string>& used) {
  if (id.empty()) id = "experiment";
  std::string candidate = id;
  for (int n = 2; used.count(candidate); ++n) candidate = fmt::format("{}-{}", id, n);
  used.insert(candidate);
  return candidate;
}

void parse_experiments(const YAML::Node& node, ExperimentSpec& spec, std::set<std::string>& used) {
  if (!node.IsSequence()) fail("experiments must be a list");
  size_t index = 0;
  for (const auto& item : node) {
    std::string where = fmt::format("experiments[{}]", index++);
    check_keys(item, where, {"name", "id", "fault", "faults"});
    PlannedExperiment e;
    if (item["fault"]) e.faults.push_back(scalar(item["fault"], where + ".fault"));
    if (item["faults"]) {
      auto more = string_list(item["faults"], where + ".faults");
      e.faults.insert(e.faults.end(), more.begin(), more.end());
    }
    for (const auto& f : e.faults) check_fault(f, where);
    std::string joined;
    for (const auto& f : e.faults) joined += (joined.empty() ? "" : " + ") + f;
    e.name = item["name"] ? scalar(item["name"], where + ".name") : (joined.empty() ? "control (no fault)" : joined);
    std::string id = item["id"] ? experiment_id_from(scalar(item["id"], where + ".id"))
                                : experiment_id_from(joined.empty() ? "control" : joined);
    e.id = unique_id(id, used);
    spec.experiments.push_back(std::move(e));
  }
}

void parse_campaign(const YAML::Node& node, ExperimentSpec& spec, std::set<std::string>& used) {
  check_keys(node, "campaign", {"syscalls", "errors", "delays", "options", "control"});
  if (!node["syscalls"]) fail("campaign.syscalls is missing");
  auto syscalls = string_list(node["syscalls"], "campaign.syscalls");
  std::vector<std::string> errors = {"none"};
  if (node["errors"]) errors = string_list(node["errors"], "campaign.errors");
  std::vector<std::string> delays = {"none"};
  if (node["delays"]) delays = string_list(node["delays"], "campaign.delays");
  std::string options;
  if (node["options"]) {
    options = scalar(node["options"], "campaign.options");
    while (!options.empty() && options.front() == ':') options.erase(0, 1);
  }
  bool control = node["control"] ? node["control"].as<bool>() : false;
  if (syscalls.empty()) fail("campaign.syscalls is empty");

  // Columns: every error × delay except none × none.
  struct Column {
    std::string error, delay, label;
  };
  std::vector<Column> columns;
  for (const auto& err : errors) {
    for (const auto& delay : delays) {
      bool no_err = err == "none", no_delay = delay == "none" || delay == "0";
      if (no_err && no_delay) continue;
      std::string label = no_err ? "delay " + delay : no_delay ? err : err + " + " + delay;
      columns.push_back({no_err ? "" : err, no_delay ? "" : delay, label});
    }
  }
  if (columns.empty()) fail("campaign: errors and delays are all 'none': nothing to inject");

  if (control) {
    PlannedExperiment e;
    e.id = unique_id("control", used);
    e.name = "control (no fault)";
    spec.experiments.push_back(std::move(e));
  }
  for (const auto& sc : syscalls) {
    spec.grid_rows.push_back(sc);
    for (const auto& col : columns) {
      std::string fault = sc;
      if (!col.error.empty()) fault += ":error=" + col.error;
      if (!col.delay.empty()) fault += ":delay_enter=" + col.delay;
      if (!options.empty()) fault += ":" + options;
      check_fault(fault, fmt::format("campaign ({})", fault));
      PlannedExperiment e;
      e.faults = {fault};
      e.name = sc + ": " + col.label;
      e.id = unique_id(experiment_id_from(sc + "-" + col.label), used);
      e.grid_row = sc;
      e.grid_column = col.label;
      spec.experiments.push_back(std::move(e));
    }
  }
  for (const auto& col : columns) spec.grid_columns.push_back(col.label);
}

// FNV-1a, 64 bits: a stable digest (std::hash is allowed to differ between runs).
std::string digest(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

std::string TargetSection::describe() const {
  if (container) return "container " + *container;
  if (pid) return fmt::format("pid {}", *pid);
  std::string cmd;
  for (const auto& a : command) cmd += (cmd.empty() ? "" : " ") + a;
  return "command " + cmd;
}

std::string experiment_id_from(const std::string& text) {
  std::string id;
  bool dash = false;
  for (char c : text) {
    bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    if (keep) {
      if (dash && !id.empty()) id += '-';
      id += c;
      dash = false;
    } else {
      dash = true;
    }
  }
  // "error" and "delay_enter" say nothing in an id: "openat-error-ENOENT" -> "openat-ENOENT".
  for (const char* noise : {"-error-", "-delay_enter-"}) {
    for (size_t at; (at = id.find(noise)) != std::string::npos;)
      id.replace(at, std::string(noise).size(), std::string(noise) == "-error-" ? "-" : "-delay-");
  }
  if (id.size() > 80) id = id.substr(0, 80);
  return id;
}

Result<ExperimentSpec> parse_experiment_spec(const std::string& yaml_text, const std::string& origin) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return Error(fmt::format("{}: an experiment spec is a YAML mapping", origin));
    check_keys(root, "spec", {"name", "target", "workload", "phases", "hypothesis", "monitor",
                              "monitor_interval", "seed", "output", "experiments", "campaign"});
    ExperimentSpec spec;
    spec.source_path = origin;
    spec.name = root["name"] ? scalar(root["name"], "name") : "syschaos experiment";
    if (!root["target"]) fail("target is missing (container, pid or command)");
    spec.target = parse_target(root["target"]);
    if (root["workload"]) spec.workload = parse_workload(root["workload"]);
    if (root["phases"]) {
      const auto& p = root["phases"];
      check_keys(p, "phases", {"baseline", "perturbation", "recovery"});
      if (p["baseline"]) spec.phases.baseline = duration_of(p["baseline"], "phases.baseline");
      if (p["perturbation"]) spec.phases.perturbation = duration_of(p["perturbation"], "phases.perturbation");
      if (p["recovery"]) spec.phases.recovery = duration_of(p["recovery"], "phases.recovery", true);
    }
    if (root["monitor"]) spec.monitor = root["monitor"].as<bool>();
    if (root["monitor_interval"]) {
      spec.monitor_interval = duration_of(root["monitor_interval"], "monitor_interval");
      if (spec.monitor_interval < std::chrono::milliseconds(100))
        fail("monitor_interval must be at least 100ms");
    }
    if (root["seed"]) spec.seed = root["seed"].as<uint64_t>();
    spec.output = root["output"] ? scalar(root["output"], "output") : "syschaos-results";

    std::vector<std::string> hypothesis_texts;
    if (root["hypothesis"]) {
      hypothesis_texts = string_list(root["hypothesis"], "hypothesis");
    } else {
      // The default claim: the service stays up and, under HTTP load, keeps answering.
      hypothesis_texts.push_back("process.alive");
      if (spec.workload.http) hypothesis_texts.push_back("http.success_rate >= 0.99");
    }
    for (const auto& text : hypothesis_texts) {
      auto t = parse_threshold(text);
      if (!t) fail(fmt::format("hypothesis '{}': {}", text, t.error().message()));
      if (t->metric.rfind("http.", 0) == 0 && !spec.workload.http)
        fail(fmt::format("hypothesis '{}' needs an HTTP workload (workload.http)", text));
      if (t->metric.rfind("syscall.", 0) == 0 && !spec.monitor)
        fail(fmt::format("hypothesis '{}' needs the syscall monitor (monitor: true)", text));
      if (t->metric.rfind("command.", 0) == 0 && spec.workload.command.empty())
        fail(fmt::format("hypothesis '{}' needs a command workload (workload.command)", text));
      spec.hypothesis.thresholds.push_back(std::move(*t));
    }

    std::set<std::string> used;
    if (root["experiments"]) parse_experiments(root["experiments"], spec, used);
    if (root["campaign"]) parse_campaign(root["campaign"], spec, used);
    if (spec.experiments.empty()) fail("nothing to run: give experiments (a list) or campaign (a matrix)");
    if (!spec.workload.http && spec.workload.command.empty() && !spec.monitor)
      fail("nothing to observe: give a workload (http or command) or keep the monitor on");

    // The fingerprint covers what defines the results, not where they go.
    YAML::Node defining = YAML::Clone(root);
    defining.remove("output");
    YAML::Emitter out;
    out << defining;
    spec.fingerprint = digest(out.c_str());
    return spec;
  } catch (const SpecError& e) {
    return Error(fmt::format("{}: {}", origin, e.message));
  } catch (const YAML::Exception& e) {
    return Error(fmt::format("{}: {}", origin, e.what()));
  }
}

Result<ExperimentSpec> load_experiment_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::sys(fmt::format("open {}", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_experiment_spec(text.str(), path);
}

}  // namespace syschaos::experiment
