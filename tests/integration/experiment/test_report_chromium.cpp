// report.html in a real browser (Debian's chromium, headless): it renders, the charts and
// the grid are in the DOM, the screenshot is not blank, and the page makes no request.
//
// How "no request leaves the machine" is checked: chromium writes a NetLog
// (--log-net-log), the record of every request its network stack starts. Each
// URL_REQUEST_START_JOB carries the request's initiator: requests made on behalf of a page
// have the page's origin ("null" for a file:// page) and a network isolation key naming
// file://; the browser's own background requests (component updater, account checks) have
// the initiator "not an origin". The test fails on any request the page initiated. Two
// control runs keep the check honest: a page without the Content-Security-Policy and with
// an <img> pointing at the network must be caught by the same detector, and the report with
// that <img> slipped in must still make no request (the CSP blocks it).
//
// The browser itself is boxed in too, because tests may only talk to loopback: every proxyable
// request (background ones included) is sent to a proxy at 127.0.0.1:9, where nothing
// listens, so nothing leaves the machine even if a flag below stops working.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "../../unit/experiment/sample_campaign.hpp"
#include "experiment/report_html.hpp"
#include "process_runner.hpp"
#include "text_search.hpp"

namespace syschaos::experiment {
namespace {

using syschaos::testing::count_occurrences;

namespace fs = std::filesystem;
using nlohmann::json;

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    std::string path = std::string("/usr/bin/") + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

class ReportInChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    if (chromium_.empty()) GTEST_SKIP() << "chromium is not installed";
    char tmpl[] = "/tmp/syschaos-report-chromium-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  struct BrowserRun {
    int exit_code = -1;
    std::string dom;    // --dump-dom output
    std::string err;
    json net_log;       // parsed --log-net-log file
  };

  // One headless chromium run on a file, with a fresh profile and its own NetLog.
  BrowserRun run_browser(const std::string& file, const std::vector<std::string>& mode) {
    static int run = 0;
    const std::string tag = std::to_string(++run);
    const std::string net_log = dir_ + "/net-" + tag + ".json";
    std::vector<std::string> argv = {
        chromium_, "--headless=new", "--no-sandbox", "--disable-gpu",
        "--user-data-dir=" + dir_ + "/profile-" + tag,
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-default-apps",
        "--disable-sync", "--disable-background-networking", "--disable-component-update",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-breakpad",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        "--hide-scrollbars", "--log-net-log=" + net_log};
    argv.insert(argv.end(), mode.begin(), mode.end());
    argv.push_back("file://" + file);

    BrowserRun r;
    syschaos::testing::BackgroundProcess browser(argv);
    r.exit_code = browser.wait(std::chrono::seconds(90));
    if (r.exit_code == -1) {
      // The browser runs in its own process group (process_runner): end it and its helpers.
      ::kill(-browser.pid(), SIGKILL);
      browser.wait(std::chrono::seconds(10));
    }
    r.dom = browser.out();
    r.err = browser.err();
    std::string text = syschaos::testing::read_file(net_log);
    r.net_log = json::parse(text, nullptr, false);
    if (r.net_log.is_discarded()) {
      // A NetLog cut short (browser killed) lacks its closing brackets.
      r.net_log = json::parse(text + "]}", nullptr, false);
    }
    return r;
  }

  // URLs of the requests a page initiated (see the comment at the top).
  static std::vector<std::string> page_requests(const json& net_log) {
    std::vector<std::string> urls;
    int start_job = -1;
    for (auto& [name, id] : net_log.at("constants").at("logEventTypes").items())
      if (name == "URL_REQUEST_START_JOB") start_job = id.get<int>();
    EXPECT_NE(start_job, -1) << "this chromium's NetLog has no URL_REQUEST_START_JOB events";
    for (const auto& event : net_log.at("events")) {
      // The begin event carries the request; the end event only its net_error.
      if (event.value("type", -1) != start_job || !event.contains("params")) continue;
      const auto& params = event.at("params");
      if (!params.contains("url")) continue;
      std::string initiator = params.value("initiator", "");
      std::string isolation = params.value("network_isolation_key", "");
      if (initiator != "not an origin" || isolation.find("file://") != std::string::npos)
        urls.push_back(params.value("url", "?"));
    }
    return urls;
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  // A campaign with every verdict, a crash, a command workload, an experiment without HTTP,
  // and names that would fetch something if they were not escaped.
  static CampaignResult campaign() {
    CampaignResult c = testing::sample_campaign({"read", "openat", "sendfile"}, {"EIO", "ENOENT", "EINTR"},
                                                {.phase_s = 20, .command = true});
    c.experiments[1].name = "<img src=\"http://192.0.2.1/escaped-name.png\">";
    c.experiments[2].faults = {"sendfile:error=EIO:path=<link rel=stylesheet href=http://192.0.2.1/x.css>"};
    c.experiments[5] = testing::sample_experiment("openat", "EINTR", VerdictKind::degraded,
                                                  {.phase_s = 20, .http = false});
    c.complete = true;
    return c;
  }

  std::string chromium_;
  std::string dir_;
};

TEST_F(ReportInChromium, RendersChartsGridAndSections) {
  CampaignResult c = campaign();
  std::string path = write("report.html", render_report_html(c));
  BrowserRun r = run_browser(path, {"--dump-dom"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& dom = r.dom;
  ASSERT_NE(dom.find("</html>"), std::string::npos) << "no DOM dumped: " << r.err;
  // The DOM is chromium's parse of the page, not our text: the grid table, every section and
  // every chart survived parsing as elements.
  EXPECT_NE(dom.find("<table class=\"grid\""), std::string::npos);
  EXPECT_EQ(count_occurrences(dom, "<section class=\"exp\""), c.experiments.size());
  size_t charts = 0;
  for (const auto& e : c.experiments) {
    bool http = e.series.points.front().request_rate.has_value();
    charts += (http ? 2 : 0) + 1 + e.series.top_syscall_names.size() + 1;
  }
  EXPECT_EQ(count_occurrences(dom, "<svg class=\"chart\""), charts);
  EXPECT_GT(count_occurrences(dom, "<path class=\"line\""), 0u);
  EXPECT_GT(count_occurrences(dom, "<rect class=\"band-perturbation\""), 0u);
  for (VerdictKind kind : {VerdictKind::ok, VerdictKind::degraded, VerdictKind::outage, VerdictKind::crash,
                           VerdictKind::no_recovery}) {
    const char* css[] = {"v-ok", "v-degraded", "v-outage", "v-crash", "v-norecovery"};
    size_t expected = std::count_if(c.experiments.begin(), c.experiments.end(),
                                    [&](const ExperimentResult& e) { return e.verdict.kind == kind; });
    ASSERT_GT(expected, 0u);
    EXPECT_EQ(count_occurrences(dom, std::string("<a class=\"") + css[static_cast<int>(kind)] + "\""), expected);
  }
  // Hostile names stayed text: no element was created from them.
  EXPECT_EQ(dom.find("<img"), std::string::npos);
  EXPECT_EQ(dom.find("<link"), std::string::npos);
  EXPECT_NE(dom.find("&lt;img src=\"http://192.0.2.1/escaped-name.png\"&gt;"), std::string::npos);
}

TEST_F(ReportInChromium, ScreenshotIsNotBlank) {
  std::string report = write("report.html", render_report_html(campaign()));
  std::string blank = write("blank.html", "<!DOCTYPE html><html><body></body></html>");
  const std::string shot = dir_ + "/report.png", blank_shot = dir_ + "/blank.png";
  ASSERT_EQ(run_browser(report, {"--window-size=1200,2400", "--screenshot=" + shot}).exit_code, 0);
  ASSERT_EQ(run_browser(blank, {"--window-size=1200,2400", "--screenshot=" + blank_shot}).exit_code, 0);
  std::string png = syschaos::testing::read_file(shot);
  std::string empty = syschaos::testing::read_file(blank_shot);
  ASSERT_GT(png.size(), 24u);
  ASSERT_EQ(png.substr(1, 3), "PNG");
  // IHDR: width and height, big-endian, at bytes 16..23.
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 1200u);
  EXPECT_EQ(be32(20), 2400u);
  // A blank page of the same size compresses to a few kB; text, tables and charts do not.
  // The control screenshot makes the threshold this chromium's, not a guess.
  ASSERT_GT(empty.size(), 0u);
  EXPECT_GT(png.size(), 8 * empty.size()) << "report " << png.size() << " bytes, blank " << empty.size();
  const char* keep = std::getenv("SYSCHAOS_KEEP_REPORT_SCREENSHOT");
  if (keep && *keep) fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
}

TEST_F(ReportInChromium, NoRequestLeavesTheMachine) {
  const std::string html = render_report_html(campaign());
  BrowserRun report = run_browser(write("report.html", html), {"--dump-dom"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  ASSERT_FALSE(report.net_log.is_discarded()) << "no NetLog written";
  EXPECT_EQ(page_requests(report.net_log), std::vector<std::string>{});

  // Control 1: the detector sees a page's request (same page, no CSP, one network <img>).
  std::string no_csp = std::regex_replace(html, std::regex("<meta http-equiv=\"Content-Security-Policy\"[^>]*>"), "");
  ASSERT_NE(no_csp.size(), html.size());
  const std::string probe = "<img alt=\"\" src=\"http://192.0.2.1/syschaos-probe.png\">";
  no_csp.insert(no_csp.find("<body>") + 6, probe);
  BrowserRun control = run_browser(write("control.html", no_csp), {"--dump-dom"});
  ASSERT_EQ(control.exit_code, 0) << control.err;
  ASSERT_FALSE(control.net_log.is_discarded());
  auto seen = page_requests(control.net_log);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "http://192.0.2.1/syschaos-probe.png"), seen.end())
      << "the NetLog check cannot see page requests on this chromium";

  // Control 2: with the report's CSP in place, the same <img> is blocked.
  std::string with_probe = html;
  with_probe.insert(with_probe.find("<body>") + 6, probe);
  BrowserRun blocked = run_browser(write("blocked.html", with_probe), {"--dump-dom"});
  ASSERT_EQ(blocked.exit_code, 0) << blocked.err;
  ASSERT_FALSE(blocked.net_log.is_discarded());
  EXPECT_EQ(page_requests(blocked.net_log), std::vector<std::string>{});
  EXPECT_NE(blocked.dom.find("syschaos-probe.png"), std::string::npos);  // the element is there
}

}  // namespace
}  // namespace syschaos::experiment
