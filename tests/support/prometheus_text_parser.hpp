// A strict parser of the Prometheus text exposition format 0.0.4, for tests: every line must
// be a HELP, a TYPE or a sample line, names and labels must follow Prometheus's rules, and
// each family's structure is checked (counters end in _total, histogram buckets are
// cumulative and end with +Inf equal to _count). Shared by the unit and integration tests.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace syschaos::testing {

struct PromSample {
  std::string name;  // with _bucket/_sum/_count suffix where present
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string type;
  std::string help;
  std::vector<PromSample> samples;
};

struct PromText {
  std::vector<PromFamily> families;
  std::vector<std::string> errors;  // empty when the text is valid

  const PromFamily* family(const std::string& name) const {
    for (const auto& f : families)
      if (f.name == name) return &f;
    return nullptr;
  }
  // The value of the one sample of `name` whose labels include all of `labels`.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> found;
    for (const auto& f : families)
      for (const auto& s : f.samples) {
        if (s.name != name) continue;
        bool match = true;
        for (const auto& [k, v] : labels) {
          auto it = s.labels.find(k);
          if (it == s.labels.end() || it->second != v) match = false;
        }
        if (!match) continue;
        if (found) return std::nullopt;  // ambiguous
        found = s.value;
      }
    return found;
  }
};

inline bool valid_metric_name(const std::string& name) {
  static const std::regex re("^[a-zA-Z_:][a-zA-Z0-9_:]*$");
  return std::regex_match(name, re);
}
inline bool valid_label_name(const std::string& name) {
  static const std::regex re("^[a-zA-Z_][a-zA-Z0-9_]*$");
  return std::regex_match(name, re) && name.rfind("__", 0) != 0;
}

inline std::optional<double> parse_prom_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  // strtod also accepts "inf", "nan", hex: Prometheus (Go ParseFloat) spells them differently.
  if (text.find_first_of("xXiInN") != std::string::npos) return std::nullopt;
  return v;
}

// Parses one sample line into `sample`; returns an error text or "".
inline std::string parse_prom_sample(const std::string& line, PromSample& sample) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  sample.name = line.substr(0, i);
  if (!valid_metric_name(sample.name)) return "bad metric name '" + sample.name + "'";
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t eq = line.find('=', i);
      if (eq == std::string::npos) return "label without '='";
      std::string key = line.substr(i, eq - i);
      if (!valid_label_name(key)) return "bad label name '" + key + "'";
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      ++i;
      std::string value;
      for (;;) {
        if (i >= line.size()) return "unterminated label value";
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return "dangling backslash";
          char e = line[i++];
          if (e == 'n') value += '\n';
          else if (e == '\\') value += '\\';
          else if (e == '"') value += '"';
          else return std::string("bad escape \\") + e;
        } else {
          value += c;
        }
      }
      if (!sample.labels.emplace(key, value).second) return "duplicate label '" + key + "'";
      if (i < line.size() && line[i] == ',') ++i;
      else if (i < line.size() && line[i] == '}') continue;
      else return "expected ',' or '}' after a label";
    }
  }
  if (i >= line.size() || line[i] != ' ') return "no space before the value";
  std::string rest = line.substr(i + 1);
  // An optional timestamp may follow; this exporter never writes one.
  if (rest.find(' ') != std::string::npos) return "unexpected timestamp or trailing text";
  auto value = parse_prom_value(rest);
  if (!value) return "bad value '" + rest + "'";
  sample.value = *value;
  return "";
}

inline std::string family_of(const std::string& sample_name, const std::set<std::string>& histograms) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (sample_name.size() > s.size() && sample_name.compare(sample_name.size() - s.size(), s.size(), s) == 0) {
      std::string base = sample_name.substr(0, sample_name.size() - s.size());
      if (histograms.count(base)) return base;
    }
  }
  return sample_name;
}

inline PromText parse_prometheus_text(const std::string& text) {
  PromText out;
  if (!text.empty() && text.back() != '\n') out.errors.push_back("text does not end with a newline");
  std::istringstream in(text);
  std::string line;
  int number = 0;
  std::set<std::string> declared, histograms;
  std::set<std::string> series_seen;
  PromFamily* current = nullptr;
  auto error = [&](const std::string& what) {
    out.errors.push_back("line " + std::to_string(number) + ": " + what + ": " + line);
  };
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) {
      error("empty line");
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) {
      std::string rest = line.substr(7);
      std::string name = rest.substr(0, rest.find(' '));
      if (!valid_metric_name(name)) error("bad name in HELP");
      if (declared.count(name)) error("family declared twice");
      declared.insert(name);
      out.families.push_back(PromFamily{name, "", rest.size() > name.size() ? rest.substr(name.size() + 1) : "", {}});
      current = &out.families.back();
      if (current->help.empty()) error("empty HELP");
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      if (!current || current->name != name) error("TYPE does not follow the family's HELP");
      else if (!current->samples.empty()) error("TYPE after samples");
      static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
      if (!kTypes.count(type)) error("unknown type");
      if (current) current->type = type;
      if (type == "histogram") histograms.insert(name);
      continue;
    }
    if (line[0] == '#') continue;  // a comment
    PromSample sample;
    std::string problem = parse_prom_sample(line, sample);
    if (!problem.empty()) {
      error(problem);
      continue;
    }
    std::string family = family_of(sample.name, histograms);
    if (!current || current->name != family) {
      error("sample outside its family's block (or before HELP/TYPE)");
      continue;
    }
    std::string key = sample.name;
    for (const auto& [k, v] : sample.labels) key += "|" + k + "=" + v;
    if (!series_seen.insert(key).second) error("duplicate series");
    current->samples.push_back(std::move(sample));
  }

  // Family rules.
  for (const PromFamily& f : out.families) {
    if (f.type.empty()) out.errors.push_back(f.name + ": no TYPE");
    if (f.samples.empty()) out.errors.push_back(f.name + ": no samples");
    if (f.type == "counter" && (f.name.size() < 6 || f.name.compare(f.name.size() - 6, 6, "_total") != 0))
      out.errors.push_back(f.name + ": a counter's name must end in _total");
    for (const PromSample& s : f.samples) {
      if (f.type == "counter" && !(s.value >= 0)) out.errors.push_back(f.name + ": negative counter");
    }
    if (f.type != "histogram") continue;
    // Group by labels other than le; check each group.
    std::map<std::string, std::vector<const PromSample*>> buckets;
    std::map<std::string, double> counts, sums;
    for (const PromSample& s : f.samples) {
      std::string group;
      for (const auto& [k, v] : s.labels)
        if (k != "le") group += k + "=" + v + ",";
      if (s.name == f.name + "_bucket") {
        if (!s.labels.count("le")) out.errors.push_back(f.name + ": bucket without le");
        buckets[group].push_back(&s);
      } else if (s.name == f.name + "_count") {
        counts[group] = s.value;
      } else if (s.name == f.name + "_sum") {
        sums[group] = s.value;
      } else {
        out.errors.push_back(f.name + ": unexpected sample " + s.name);
      }
    }
    for (const auto& [group, list] : buckets) {
      double last_le = -INFINITY, last_value = 0;
      for (const PromSample* s : list) {
        auto le = parse_prom_value(s->labels.at("le"));
        if (!le) {
          out.errors.push_back(f.name + ": bad le");
          continue;
        }
        if (!(*le > last_le)) out.errors.push_back(f.name + "{" + group + "}: le not increasing");
        if (s->value < last_value) out.errors.push_back(f.name + "{" + group + "}: buckets not cumulative");
        last_le = *le;
        last_value = s->value;
      }
      if (!std::isinf(last_le)) out.errors.push_back(f.name + "{" + group + "}: last bucket is not +Inf");
      if (!counts.count(group)) out.errors.push_back(f.name + "{" + group + "}: no _count");
      else if (counts[group] != last_value) out.errors.push_back(f.name + "{" + group + "}: +Inf bucket != _count");
      if (!sums.count(group)) out.errors.push_back(f.name + "{" + group + "}: no _sum");
    }
  }
  return out;
}

}  // namespace syschaos::testing
