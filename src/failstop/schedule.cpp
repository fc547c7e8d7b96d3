#include "failstop/schedule.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "core/errno_names.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

std::string Step::describe() const {
  if (action == Action::kWait) return "wait " + format_duration(wait);
  std::string names;
  for (size_t i = 0; i < targets.size(); ++i) names += (i ? "," : "") + targets[i];
  return fmt::format("{} {} (select {}, {}{})", mode_name(failure.mode), names, select.to_string(),
                     trigger.to_string(), hold ? ", for " + format_duration(*hold) : "");
}

namespace {

std::string scalar(const YAML::Node& node, std::string_view what) {
  if (!node.IsScalar()) throw std::runtime_error(fmt::format("{} must be a single value", what));
  return node.as<std::string>();
}

Result<TargetSpec> parse_target(const std::string& name, const YAML::Node& node) {
  if (!node.IsMap() || node.size() != 1)
    return Error(fmt::format("target '{}' must be one of {{container: NAME}}, {{pid: N}}, {{cgroup: DIR}}", name));
  auto key = node.begin()->first.as<std::string>();
  auto value = scalar(node.begin()->second, "target " + name);
  TargetSpec spec;
  if (key == "container") spec.container = value;
  else if (key == "cgroup") spec.cgroup = value;
  else if (key == "pid") {
    try {
      spec.pid = std::stoi(value);
    } catch (const std::exception&) {
      return Error(fmt::format("target '{}': pid must be a number, not '{}'", name, value));
    }
  } else {
    return Error(fmt::format("target '{}': unknown kind '{}' (container, pid or cgroup)", name, key));
  }
  return spec;
}

Result<Step> parse_step(const YAML::Node& node, const Schedule& schedule, size_t index) {
  if (!node.IsMap()) return Error("a step must be a mapping, e.g. {crash: a}");
  Step step;
  bool have_action = false;
  std::optional<std::string> every, prob;
  bool have_signal = false;
  int triggers = 0;
  for (const auto& item : node) {
    std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    if (key == "freeze" || key == "crash" || key == "kill") {
      if (have_action) return Error("a step has one action (freeze, crash, kill or wait)");
      have_action = true;
      step.failure.mode = *parse_mode(key);
      if (value.IsSequence())
        for (const auto& t : value) step.targets.push_back(t.as<std::string>());
      else
        step.targets.push_back(scalar(value, key));
      for (const auto& t : step.targets) {
        bool known = std::any_of(schedule.targets.begin(), schedule.targets.end(),
                                 [&](const auto& named) { return named.first == t; });
        if (!known) return Error(fmt::format("unknown target '{}' (define it under targets:)", t));
      }
    } else if (key == "wait") {
      if (have_action) return Error("a step has one action (freeze, crash, kill or wait)");
      have_action = true;
      step.action = Step::Action::kWait;
      auto d = parse_duration(scalar(value, key), "s");
      if (!d) return d.error().context("wait");
      step.wait = *d;
    } else if (key == "select") {
      auto s = parse_selection(scalar(value, key));
      if (!s) return s.error();
      step.select = *s;
    } else if (key == "signal") {
      auto sig = parse_signal(scalar(value, key));
      if (!sig) return sig.error().context("signal");
      step.failure.signal = *sig;
      have_signal = true;
    } else if (key == "freezer") {
      auto f = parse_freezer_choice(scalar(value, key));
      if (!f) return f.error();
      step.failure.freezer = *f;
    } else if (key == "for") {
      auto d = parse_duration(scalar(value, key), "s");
      if (!d) return d.error().context("for");
      step.hold = *d;
    } else if (key == "after" || key == "after_cpu" || key == "after_syscall" || key == "rate") {
      ++triggers;
      std::string v = scalar(value, key);
      auto t = key == "after"       ? trigger_after(v)
               : key == "after_cpu" ? trigger_after_cpu(v)
               : key == "rate"      ? trigger_rate(v)
                                    : trigger_after_syscall(v);
      if (!t) return t.error();
      step.trigger = *t;
    } else if (key == "every") {
      ++triggers;
      every = scalar(value, key);
    } else if (key == "prob") {
      prob = scalar(value, key);
    } else {
      return Error(fmt::format("unknown key '{}'", key));
    }
  }
  if (!have_action) return Error("a step needs an action: freeze, crash, kill or wait");
  if (triggers > 1) return Error("a step has at most one trigger (after, after_cpu, after_syscall, every, rate)");
  if (every.has_value() != prob.has_value()) return Error("every and prob go together");
  if (every) {
    auto t = trigger_tick(*every, *prob);
    if (!t) return t.error();
    step.trigger = *t;
  }
  if (step.action == Step::Action::kWait && (triggers || step.hold || !step.targets.empty()))
    return Error("a wait step takes no target, trigger or for");
  if (step.hold && step.failure.mode == Mode::kKill) return Error("for: a kill cannot be undone");
  // Only a kill sends a signal: on a freeze or a crash the key would be silently ignored.
  if (have_signal && (step.action != Step::Action::kFail || step.failure.mode != Mode::kKill))
    return Error("signal: only a kill step sends a signal");
  // Caught here, not when the step comes up: by then earlier steps would have acted.
  if (step.action == Step::Action::kFail && step.select.kind == Selection::Kind::kCount &&
      step.select.value > static_cast<double>(step.targets.size()))
    return Error(fmt::format("select {} but the step names only {} target(s)", step.select.value, step.targets.size()));
  (void)index;
  return step;
}

}  // namespace

Result<Schedule> parse_schedule(std::string_view yaml_text) {
  Schedule schedule;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return Error("schedule: the file must be a mapping with targets: and steps:");
    for (const auto& item : root) {
      std::string key = item.first.as<std::string>();
      if (key != "seed" && key != "targets" && key != "steps")
        return Error(fmt::format("schedule: unknown key '{}' (seed, targets, steps)", key));
    }
    if (root["seed"]) schedule.seed = root["seed"].as<uint64_t>();
    if (!root["targets"] || !root["targets"].IsMap() || root["targets"].size() == 0)
      return Error("schedule: targets: must name at least one target");
    for (const auto& item : root["targets"]) {
      std::string name = item.first.as<std::string>();
      auto spec = parse_target(name, item.second);
      if (!spec) return spec.error().context("schedule");
      schedule.targets.emplace_back(name, *spec);
    }
    if (!root["steps"] || !root["steps"].IsSequence() || root["steps"].size() == 0)
      return Error("schedule: steps: must list at least one step");
    size_t index = 0;
    for (const auto& node : root["steps"]) {
      ++index;
      auto step = parse_step(node, schedule, index);
      if (!step) return step.error().context(fmt::format("schedule: step {}", index));
      schedule.steps.push_back(std::move(*step));
    }
  } catch (const std::exception& e) {
    return Error(fmt::format("schedule: {}", e.what()));
  }
  return schedule;
}

Result<Schedule> load_schedule(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  auto schedule = parse_schedule(*text);
  if (!schedule) return schedule.error().context(path);
  return schedule;
}

}  // namespace syschaos::failstop
