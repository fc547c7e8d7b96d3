// docs/grafana-dashboard.json: valid JSON, a Prometheus data source variable, the panels the
// issue asks for, and no query naming a metric the exporter does not export.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "observe/prometheus_exporter.hpp"

namespace syschaos {
namespace {

using nlohmann::json;

std::filesystem::path dashboard_path() {
  // The dashboard lives in docs/ at the repository's top (set by tests/CMakeLists.txt).
  return std::filesystem::path(PROJECT_SOURCE_DIR) / "docs" / "grafana-dashboard.json";
}

json load_dashboard() {
  std::ifstream in(dashboard_path());
  EXPECT_TRUE(in) << "cannot open " << dashboard_path();
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> all_exprs(const json& dashboard) {
  std::vector<std::string> exprs;
  for (const auto& panel : dashboard["panels"])
    if (panel.contains("targets"))
      for (const auto& target : panel["targets"]) exprs.push_back(target.at("expr").get<std::string>());
  return exprs;
}

// An interval with every field set, so the exporter renders every family it has.
std::string render_everything() {
  Interval interval;
  interval.start_unix = 1;
  interval.end_unix = 2;
  SyscallStats openat;
  openat.name = "openat";
  openat.calls = 3;
  openat.errors = 1;
  openat.errnos = {{2, 1}};
  openat.latency_log2[10] = 3;
  interval.syscalls.push_back(openat);
  ResourceStats& r = interval.resources;
  r.cpu_usage_ns = r.memory_bytes = r.memory_peak_bytes = r.memory_limit_bytes = 1;
  r.memory_working_set_bytes = r.oom_events = r.oom_kills = r.io_read_bytes = r.io_write_bytes = 1;
  r.pids = r.net_rx_bytes = r.net_tx_bytes = r.net_rx_packets = r.net_tx_packets = 1;
  r.net_rx_drops = r.net_tx_drops = 1;
  r.cpu_cores = 1;
  r.network_shared = true;
  r.source = "cgroup v2";
  PrometheusState state;
  state.target = "t";
  state.add(interval);
  return render_prometheus_text(state);
}

TEST(GrafanaDashboard, IsValidJsonWithAPrometheusDataSourceVariable) {
  json dashboard = load_dashboard();
  ASSERT_FALSE(dashboard.is_discarded()) << dashboard_path() << " is not valid JSON";
  EXPECT_FALSE(dashboard.value("title", "").empty());
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  bool has_datasource_variable = false, has_target_variable = false;
  for (const auto& variable : dashboard["templating"]["list"]) {
    if (variable["type"] == "datasource" && variable["query"] == "prometheus" && variable["name"] == "datasource")
      has_datasource_variable = true;
    if (variable["name"] == "target") has_target_variable = true;
  }
  EXPECT_TRUE(has_datasource_variable);
  EXPECT_TRUE(has_target_variable);

  std::set<int> ids;
  for (const auto& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel.at("id").get<int>()).second) << "duplicate panel id";
    if (panel["type"] == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    ASSERT_FALSE(panel["targets"].empty()) << panel["title"];
    for (const auto& target : panel["targets"]) {
      EXPECT_EQ(target["datasource"]["uid"], "${datasource}") << panel["title"];
      EXPECT_NE(target["expr"].get<std::string>().find("target=~\"$target\""), std::string::npos)
          << target["expr"];
    }
  }
}

TEST(GrafanaDashboard, PanelsDoNotOverlap) {
  json dashboard = load_dashboard();
  ASSERT_FALSE(dashboard.is_discarded());
  std::vector<std::array<int, 4>> boxes;
  for (const auto& panel : dashboard["panels"]) {
    const auto& g = panel["gridPos"];
    std::array<int, 4> box = {g["x"].get<int>(), g["y"].get<int>(), g["w"].get<int>(), g["h"].get<int>()};
    EXPECT_LE(box[0] + box[2], 24) << panel["title"];
    for (const auto& other : boxes) {
      bool apart = box[0] + box[2] <= other[0] || other[0] + other[2] <= box[0] ||
                   box[1] + box[3] <= other[1] || other[1] + other[3] <= box[1];
      EXPECT_TRUE(apart) << panel["title"] << " overlaps another panel";
    }
    boxes.push_back(box);
  }
}

TEST(GrafanaDashboard, HasTheIssuesPanels) {
  json dashboard = load_dashboard();
  ASSERT_FALSE(dashboard.is_discarded());
  std::string exprs;
  for (const auto& e : all_exprs(dashboard)) exprs += e + "\n";
  for (const char* wanted : {
           "sum by (syscall) (rate(syschaos_syscalls_total",                  // syscalls/s
           "sum by (syscall, outcome) (rate(syschaos_syscalls_total",         // errors/s
           "histogram_quantile(0.5, sum by (syscall, le) (rate(syschaos_syscall_duration_seconds_bucket",
           "histogram_quantile(0.99, sum by (syscall, le) (rate(syschaos_syscall_duration_seconds_bucket",
           "rate(syschaos_cpu_seconds_total", "syschaos_memory_bytes", "rate(syschaos_io_read_bytes_total",
           "rate(syschaos_io_write_bytes_total", "rate(syschaos_network_receive_bytes_total",
           "rate(syschaos_network_transmit_bytes_total", "syschaos_pids{"}) {
    EXPECT_NE(exprs.find(wanted), std::string::npos) << "no panel queries " << wanted;
  }
}

TEST(GrafanaDashboard, QueriesOnlyMetricsTheExporterExports) {
  json dashboard = load_dashboard();
  ASSERT_FALSE(dashboard.is_discarded());
  std::string exported = render_everything();
  std::set<std::string> families;
  std::regex type_line("# TYPE (\\S+) (\\S+)");
  for (std::sregex_iterator it(exported.begin(), exported.end(), type_line), end; it != end; ++it) {
    families.insert((*it)[1]);
    if ((*it)[2] == "histogram")
      for (const char* suffix : {"_bucket", "_sum", "_count"}) families.insert((*it)[1].str() + suffix);
  }
  std::regex metric("syschaos_[a-z0-9_]+");
  size_t checked = 0;
  for (const std::string& expr : all_exprs(dashboard))
    for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
      EXPECT_EQ(families.count(it->str()), 1u) << it->str() << " in " << expr;
      ++checked;
    }
  EXPECT_GT(checked, 20u);
}

}  // namespace
}  // namespace syschaos
