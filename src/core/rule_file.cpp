#include "core/rule_file.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "core/fault_parser.hpp"

namespace syschaos {

namespace {

std::string scalar_list(const YAML::Node& node, char sep) {
  if (!node.IsSequence()) return node.as<std::string>();
  std::string out;
  for (size_t i = 0; i < node.size(); ++i) out += (i ? std::string(1, sep) : "") + node[i].as<std::string>();
  return out;
}

Result<FaultRule> rule_from_map(const YAML::Node& node) {
  FaultRule rule;
  bool saw_error = false;
  if (!node["syscalls"]) return Error("missing 'syscalls' (e.g. syscalls: [openat])");
  std::string set_text = scalar_list(node["syscalls"], ',');
  auto set = SyscallTable::native().parse_set(set_text);
  if (!set) return set.error();
  rule.syscalls = *set;
  std::string source = set_text;
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    if (key == "syscalls") continue;
    const YAML::Node& v = kv.second;
    std::vector<std::string> values;
    if (key == "error" && v.IsMap()) {
      std::string joined;
      for (const auto& e : v)
        joined += (joined.empty() ? "" : "|") + e.first.as<std::string>() + "*" + e.second.as<std::string>();
      values.push_back(joined);
    } else if (key == "error" && v.IsSequence()) {
      values.push_back(scalar_list(v, '|'));
    } else if (v.IsSequence() && (key == "path" || key == "comm" || key == "fd")) {
      for (const auto& item : v) values.push_back(item.as<std::string>());
    } else if (v.IsScalar()) {
      values.push_back(v.as<std::string>());
    } else {
      return Error(fmt::format("'{}' must be a single value", key));
    }
    for (const auto& value : values) {
      SYSCHAOS_TRY(apply_fault_key(rule, key, value, saw_error));
      source += ":" + key + "=" + value;
    }
  }
  rule.source = source;
  SYSCHAOS_TRY(validate_rule(rule));
  return rule;
}

}  // namespace

Result<RuleSet> parse_rule_text(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Error(fmt::format("{}: not valid YAML/JSON: {}", origin, e.what()));
  }
  YAML::Node list = root;
  if (root.IsMap()) {
    if (!root["faults"]) return Error(fmt::format("{}: expected a list of rules or a 'faults:' list", origin));
    list = root["faults"];
  }
  if (!list.IsSequence() || list.size() == 0)
    return Error(fmt::format("{}: expected a non-empty list of rules", origin));
  RuleSet rules;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& entry = list[i];
    int line = entry.Mark().line + 1;
    auto where = [&] { return fmt::format("{}: rule {} (line {})", origin, i + 1, line); };
    try {
      if (entry.IsScalar()) {
        auto rule = parse_fault(entry.as<std::string>());
        if (!rule) return rule.error().context(where());
        rules.push_back(std::move(*rule));
      } else if (entry.IsMap()) {
        auto rule = rule_from_map(entry);
        if (!rule) return rule.error().context(where());
        rules.push_back(std::move(*rule));
      } else {
        return Error(fmt::format("{}: a rule is a string or a map", where()));
      }
    } catch (const YAML::Exception& e) {
      return Error(fmt::format("{}: {}", where(), e.what()));
    }
  }
  return rules;
}

Result<RuleSet> load_rule_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::sys(fmt::format("open {}", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_rule_text(buf.str(), path);
}

}  // namespace syschaos
