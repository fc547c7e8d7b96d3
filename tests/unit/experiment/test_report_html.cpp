// report.html: the sections are there, the grid has the verdict colours and links, user
// strings are inert, odd data does not break the page, and a full campaign stays small.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "experiment/html_escape.hpp"
#include "experiment/report_html.hpp"
#include "sample_campaign.hpp"
#include "text_search.hpp"

namespace syschaos::experiment {
namespace {

using syschaos::testing::count_occurrences;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The <section> of one experiment.
std::string section_of(const std::string& html, const std::string& id) {
  size_t start = html.find("<section class=\"exp\" id=\"" + html_id("exp-", id) + "\"");
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</section>", start) - start);
}

CampaignResult small_campaign() {
  return testing::sample_campaign({"read", "openat"}, {"EIO", "ENOENT", "EACCES"}, {.phase_s = 10});
}

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(escape_html("plain ünïcödé ✓"), "plain ünïcödé ✓");
  EXPECT_EQ(escape_html(std::string("a\0b\x01" "c\n", 6)), "abc\n");
  EXPECT_EQ(escape_html("bad \xff\xfe utf8 \xc3"), "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD");
  EXPECT_EQ(escape_html("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

TEST(HtmlEscape, IdsAreSafeAndDistinct) {
  EXPECT_EQ(html_id("exp-", "openat-ENOENT_2"), "exp-openat-ENOENT_2");
  EXPECT_EQ(html_id("exp-", "a b\"<"), "exp-a.20b.22.3c");
  EXPECT_NE(html_id("", "a."), html_id("", "a.2e"));
  EXPECT_NE(html_id("", "a/b"), html_id("", "a.2fb"));
}

TEST(ReportHtml, IsOneSelfContainedPageThatLoadsNothing) {
  std::string html = render_report_html(small_campaign());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'; img-src data:\">"),
            std::string::npos);
  // Nothing that would fetch: no script, no external stylesheet, image, font, frame.
  std::string l = lower(html);
  for (const char* forbidden : {"<script", "<link", "<img", "<iframe", "<object", "<embed", "@import",
                                "url(", "src=", "http://", "https://"}) {
    // The only http URL allowed is the SVG namespace name, which is an identifier, not a fetch.
    std::string without_ns = std::regex_replace(l, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
    EXPECT_EQ(without_ns.find(forbidden), std::string::npos) << forbidden;
  }
}

TEST(ReportHtml, HasHeaderGridSummaryAndEveryExperiment) {
  CampaignResult c = small_campaign();
  std::string html = render_report_html(c);
  EXPECT_NE(html.find("<h1>nginx-demo syscall campaign</h1>"), std::string::npos);
  EXPECT_NE(html.find("syschaos 0.1.0"), std::string::npos);
  EXPECT_NE(html.find("6 experiments"), std::string::npos);
  EXPECT_NE(html.find("2026-11-23T13:00:00Z"), std::string::npos);
  // Verdict counts: sample_campaign cycles ok, degraded, outage, crash, no-recovery.
  EXPECT_NE(html.find("<span class=\"badge v-ok\">ok</span><b>2</b>"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge v-crash\">crash</span><b>1</b>"), std::string::npos);
  EXPECT_NE(html.find("id=\"overview\""), std::string::npos);
  EXPECT_NE(html.find("id=\"summary\""), std::string::npos);
  for (const char* header : {">perturbation</th>", ">HTTP effect</th>", ">syscall effect</th>", ">verdict</th>"})
    EXPECT_NE(html.find(header), std::string::npos) << header;
  EXPECT_EQ(count_occurrences(html, "<section class=\"exp\""), c.experiments.size());
  for (const auto& e : c.experiments) {
    std::string s = section_of(html, e.id);
    ASSERT_FALSE(s.empty()) << e.id;
    EXPECT_NE(s.find(escape_html(e.verdict.summary)), std::string::npos);
    EXPECT_NE(s.find("<table class=\"evidence\">"), std::string::npos);
    EXPECT_NE(s.find("<table class=\"checks\">"), std::string::npos);
    EXPECT_NE(s.find("Mann-Whitney U"), std::string::npos);
    const char* p_value = e.verdict.kind == VerdictKind::ok ? ">0.41<" : ">3.2e-09<";
    EXPECT_NE(s.find(p_value), std::string::npos) << "p-value in the evidence table";
    // Charts: requests, latency, one strip per syscall plus "all syscalls", resources.
    EXPECT_EQ(count_occurrences(s, "<svg class=\"chart\""), 2 + 1 + e.series.top_syscall_names.size() + 1) << e.id;
    EXPECT_NE(s.find("class=\"band-perturbation\""), std::string::npos);
    EXPECT_NE(s.find("class=\"band-recovery\""), std::string::npos);
    EXPECT_NE(s.find(escape_html(e.effects.http)), std::string::npos);
  }
}

TEST(ReportHtml, GridCellsAreColouredByVerdictAndLinkToTheExperiment) {
  CampaignResult c = small_campaign();
  std::string html = render_report_html(c);
  // Every colour class is defined in the stylesheet with the agreed colour.
  for (const char* rule : {"--ok:#1a7f37", "--degraded:#e3a008", "--outage:#d1242f", "--crash:#3d0a0a",
                           "--norecovery:#6f42c1", ".v-ok{background:var(--ok)", ".v-degraded{background:var(--degraded)",
                           ".v-outage{background:var(--outage)", ".v-crash{background:var(--crash)",
                           ".v-norecovery{background:var(--norecovery)"})
    EXPECT_NE(html.find(rule), std::string::npos) << rule;
  const char* classes[] = {"v-ok", "v-degraded", "v-outage", "v-crash", "v-norecovery"};
  const char* texts[] = {"ok", "degraded", "outage", "crash", "no-recovery"};
  size_t grid_start = html.find("<table class=\"grid\"");
  ASSERT_NE(grid_start, std::string::npos);
  std::string grid = html.substr(grid_start, html.find("</table>", grid_start) - grid_start);
  for (size_t r = 0; r < c.grid.syscalls.size(); ++r)
    for (size_t k = 0; k < c.grid.columns.size(); ++k) {
      const auto& id = c.grid.cells[r][k];
      auto e = std::find_if(c.experiments.begin(), c.experiments.end(), [&](auto& x) { return x.id == id; });
      int v = static_cast<int>(e->verdict.kind);
      // The colour class, the link to the section and the verdict as text (not colour only).
      std::string cell = std::string("<a class=\"") + classes[v] + "\" href=\"#" + html_id("exp-", id) + "\"";
      size_t at = grid.find(cell);
      ASSERT_NE(at, std::string::npos) << cell;
      EXPECT_NE(grid.find(std::string(">") + texts[v] + "</a>", at), std::string::npos);
    }
  // A cell without experiment, and one whose experiment did not run.
  c.grid.cells[0][1] = "";
  c.grid.cells[1][2] = "never-ran";
  html = render_report_html(c);
  EXPECT_NE(html.find("title=\"not part of the campaign\">—</span>"), std::string::npos);
  EXPECT_NE(html.find("title=\"did not run: never-ran\">not run</span>"), std::string::npos);
}

TEST(ReportHtml, WithoutAGridTheOverviewHasATilePerExperiment) {
  CampaignResult c = small_campaign();
  c.grid = {};
  std::string html = render_report_html(c);
  EXPECT_EQ(html.find("<table class=\"grid\""), std::string::npos);
  EXPECT_EQ(count_occurrences(html, "class=\"tile "), c.experiments.size());
  const auto& e = c.experiments[2];  // outage
  EXPECT_NE(html.find("<a role=\"listitem\" class=\"tile v-outage\" href=\"#" + html_id("exp-", e.id) + "\""),
            std::string::npos);
  EXPECT_NE(html.find("<span>" + escape_html(e.name) + "</span><b>outage</b></a>"), std::string::npos);
}

TEST(ReportHtml, UserStringsAreInert) {
  CampaignResult c = small_campaign();
  c.name = "<script>alert('campaign')</script>";
  auto& e = c.experiments[0];
  e.name = "<script>alert(1)</script>";
  e.id = "x\"><script>alert(2)</script>";
  c.grid.cells[0][0] = e.id;
  e.faults = {"read:error=EIO:path=<img src=x onerror=alert(3)>"};
  e.target = "container </section><h1>evil";
  e.verdict.summary = "<style>body{display:none}</style>";
  e.effects.http = "<iframe src=\"http://example.com\">";
  e.verdict.evidence[0].metric = "<b>metric</b>";
  e.verdict.evidence[0].note = "a & b";
  e.series.top_syscall_names[0] = "<svg onload=alert(4)>";
  for (auto& p : e.series.points) p.top_syscalls[0].name = e.series.top_syscall_names[0];
  e.crashes.push_back({3, "<script>crash</script>", 1, std::nullopt, false, false});
  e.command = CommandOutcome{"<script>cmd</script>", 1, 0, 0, 1, "</pre><script>out</script>"};
  e.series_file = "javascript\"onclick=\"x";
  c.grid.columns[0] = "<EIO>";
  std::string html = render_report_html(c);
  std::string l = lower(html);
  EXPECT_EQ(l.find("<script"), std::string::npos);
  EXPECT_EQ(l.find("<img"), std::string::npos);
  EXPECT_EQ(l.find("<iframe"), std::string::npos);
  EXPECT_EQ(l.find("<svg onload"), std::string::npos);
  EXPECT_EQ(l.find("<h1>evil"), std::string::npos);
  EXPECT_EQ(l.find("<b>metric"), std::string::npos);
  EXPECT_EQ(count_occurrences(l, "<style"), 1u);  // only the page's own
  EXPECT_EQ(l.find("\"onclick"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("<th scope=\"col\">&lt;EIO&gt;</th>"), std::string::npos);
  EXPECT_EQ(count_occurrences(html, "<section class=\"exp\""), c.experiments.size());
  EXPECT_EQ(count_occurrences(html, "</section>"), c.experiments.size());
  // The link from the grid still reaches the section, whatever the id holds.
  std::string anchor = html_id("exp-", e.id);
  EXPECT_NE(html.find("href=\"#" + anchor + "\""), std::string::npos);
  EXPECT_NE(html.find("id=\"" + anchor + "\""), std::string::npos);
}

TEST(ReportHtml, ExperimentsWithoutHttpOrMonitorSaySo) {
  CampaignResult c = testing::sample_campaign({"read"}, {"EIO", "EINTR"}, {.phase_s = 5, .http = false});
  c.experiments[1] = testing::sample_experiment("read", "EINTR", VerdictKind::ok,
                                                {.phase_s = 5, .http = true, .monitor = false});
  std::string html = render_report_html(c);
  std::string no_http = section_of(html, c.experiments[0].id);
  EXPECT_NE(no_http.find("No HTTP workload in this experiment"), std::string::npos);
  EXPECT_EQ(no_http.find("request rate and success rate"), std::string::npos);
  EXPECT_NE(no_http.find("all syscalls"), std::string::npos);
  std::string no_monitor = section_of(html, c.experiments[1].id);
  EXPECT_NE(no_monitor.find("No syscall monitor data"), std::string::npos);
  EXPECT_NE(no_monitor.find("No resource samples"), std::string::npos);
  EXPECT_NE(no_monitor.find("request rate and success rate"), std::string::npos);

  c.experiments[0].series = {};
  html = render_report_html(c);
  EXPECT_NE(section_of(html, c.experiments[0].id).find("No time series was recorded"), std::string::npos);
}

TEST(ReportHtml, OddValuesDoNotBreakThePage) {
  CampaignResult c = testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 1});
  auto& e = c.experiments[0];
  e.series.points.resize(1);  // a single point
  e.series.points[0].latency_p99_ms = std::nan("");
  e.series.points[0].request_rate = 1e300;
  e.series.points[0].cpu_cores = INFINITY;
  e.series.points[0].memory_bytes = UINT64_MAX;
  e.verdict.evidence[0].p_value = std::nan("");
  e.verdict.evidence[0].baseline = -INFINITY;
  e.duration_s = std::nan("");
  e.phases.clear();
  std::string html = render_report_html(c);
  std::string l = lower(html);
  EXPECT_EQ(l.find("nan"), std::string::npos);
  EXPECT_EQ(l.find(">inf"), std::string::npos);
  EXPECT_NE(html.find("<circle"), std::string::npos);
  EXPECT_NE(html.find("-∞"), std::string::npos);

  CampaignResult empty;
  html = render_report_html(empty);
  EXPECT_NE(html.find("No experiment in this campaign"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(ReportHtml, CrashesCommandsAndInterruptionsAreShown) {
  testing::SampleOptions o{.phase_s = 10, .command = true};
  CampaignResult c;
  c.experiments.push_back(testing::sample_experiment("read", "EIO", VerdictKind::crash, o));
  c.experiments[0].interrupted = true;
  c.experiments[0].crashes.push_back({25, "container restarted", 137, std::nullopt, true, true});
  std::string html = render_report_html(c);
  EXPECT_NE(html.find("Incomplete campaign"), std::string::npos);
  EXPECT_NE(html.find("Interrupted: this experiment was stopped"), std::string::npos);
  EXPECT_NE(html.find("(partial)"), std::string::npos);
  EXPECT_NE(html.find("class=\"marker\""), std::string::npos);
  EXPECT_NE(html.find("✖ crash"), std::string::npos);
  EXPECT_NE(html.find("✖ OOM"), std::string::npos);
  EXPECT_NE(html.find("process 4242 (nginx) killed by SIGSEGV"), std::string::npos);
  EXPECT_NE(html.find("signal 11"), std::string::npos);
  EXPECT_NE(html.find("OOM-killed"), std::string::npos);
  EXPECT_NE(html.find("Command workload"), std::string::npos);
  EXPECT_NE(html.find("redis-benchmark -q -n 1000"), std::string::npos);
  EXPECT_NE(html.find("✗ exit code 1"), std::string::npos);
  EXPECT_NE(html.find("class=\"band-down\""), std::string::npos);
}

TEST(ReportHtml, VerdictDetailsAreShown) {
  CampaignResult c;
  c.experiments.push_back(testing::sample_experiment("read", "EIO", VerdictKind::degraded, {.phase_s = 10}));
  auto& v = c.experiments[0].verdict;
  v.warnings = {"the baseline already breaks <http.success_rate >= 0.99>"};
  auto& check = v.checks[0];
  check.baseline = 0.98;
  check.holds_in_baseline = false;
  check.holds_in_recovery = false;
  check.recovery_differs_from_baseline = false;
  check.recovery_p_value = 0.27;
  check.recovery_bound = 0.95;
  std::string html = render_report_html(c);
  EXPECT_NE(html.find("<p class=\"warn\">⚠ the baseline already breaks &lt;http.success_rate &gt;= 0.99&gt;</p>"),
            std::string::npos);
  EXPECT_NE(html.find("✓ recovered</span> <span class=\"note\">(over the bound, but not significantly different "
                      "from the baseline, p = 0.27)"),
            std::string::npos);
  // Values carry the catalog's units.
  EXPECT_NE(html.find(">98.0% <span class=\"broken\">✗ already broken</span><"), std::string::npos)
      << "baseline success rate as a percentage";
  EXPECT_NE(html.find("bound 95.0%"), std::string::npos);
  // The syscall errors the experiment injects are significant but expected.
  EXPECT_NE(html.find("<tr class=\"expected has-note\"><td><code>syscall.<wbr>errors_<wbr>per_<wbr>second<wbr>{read}</code>"), std::string::npos);
  EXPECT_NE(html.find("yes, expected (the fault itself)"), std::string::npos);
  EXPECT_NE(html.find("[0.88, 0.97]"), std::string::npos) << "effect size confidence interval";
  EXPECT_NE(html.find("<tr class=\"noterow\"><td></td><td colspan=\"7\">errors of the syscall being injected into</td></tr>"),
            std::string::npos);
  // The judged part of the recovery (from 25 s) is marked on the charts.
  EXPECT_NE(html.find("class=\"band-judged\""), std::string::npos);
  v.recovery_window_start_s.reset();
  EXPECT_EQ(render_report_html(c).find("class=\"band-judged\""), std::string::npos);
}

TEST(ReportHtml, ReRenderedFromResultsJsonIsTheSamePage) {
  // `syschaos report DIR` re-renders from results.json: the page must depend on nothing that
  // results.json does not keep.
  testing::SampleOptions o{.phase_s = 8, .command = true};
  CampaignResult c = testing::sample_campaign({"read", "openat"}, {"EIO", "ENOENT", "EINTR"}, o);
  c.experiments[2].crashes.push_back({9.5, "container restarted", 137, std::nullopt, true, true});
  c.experiments[1].interrupted = true;
  auto back = parse_results_json(results_json_text(c));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(render_report_html(*back), render_report_html(c));
}

TEST(ReportHtml, FullChaosOrcaCampaignStaysSmall) {
  // ChaosOrca's matrix: 9 syscalls × 6 errnos, 3 phases of 120 s each.
  CampaignResult c = testing::sample_campaign(
      {"read", "write", "openat", "sendfile", "writev", "epoll_wait", "accept4", "close", "fstat"},
      {"EACCES", "EPERM", "ENOENT", "EIO", "EINTR", "ENOSYS"}, {.phase_s = 120});
  std::string html = render_report_html(c);
  EXPECT_EQ(count_occurrences(html, "<section class=\"exp\""), 54u);
  EXPECT_LT(html.size(), 4u * 1024 * 1024) << "downsampling should keep 54 experiments under 4 MiB";
}

}  // namespace
}  // namespace syschaos::experiment
