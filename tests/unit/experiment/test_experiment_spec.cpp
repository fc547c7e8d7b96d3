// The experiment spec: what parses, what each mistake says, and how a campaign matrix expands.
#include <gtest/gtest.h>

#include "experiment/campaign.hpp"
#include "experiment/experiment_spec.hpp"

namespace syschaos::experiment {
namespace {

const char* kMinimal = R"(
name: demo
target: {container: web}
workload:
  http: {url: "http://127.0.0.1:8080/", rate: 10}
phases: {baseline: 5s, perturbation: 6s, recovery: 7s}
experiments:
  - fault: "openat:error=ENOENT"
)";

std::string error_of(const std::string& yaml) {
  auto spec = parse_experiment_spec(yaml, "spec.yaml");
  EXPECT_FALSE(spec.ok()) << "expected an error for:\n" << yaml;
  return spec.ok() ? "" : spec.error().message();
}

TEST(ExperimentSpec, ParsesAMinimalSpecWithDefaults) {
  auto spec = parse_experiment_spec(kMinimal, "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->name, "demo");
  EXPECT_EQ(*spec->target.container, "web");
  EXPECT_EQ(spec->target.restart, RestartPolicy::on_crash);
  ASSERT_TRUE(spec->workload.http);
  EXPECT_EQ(spec->workload.http->rate_per_s, 10);
  EXPECT_EQ(spec->phases.baseline, std::chrono::seconds(5));
  EXPECT_EQ(spec->phases.perturbation, std::chrono::seconds(6));
  EXPECT_EQ(spec->phases.recovery, std::chrono::seconds(7));
  ASSERT_EQ(spec->experiments.size(), 1u);
  EXPECT_EQ(spec->experiments[0].id, "openat-ENOENT");
  EXPECT_EQ(spec->experiments[0].faults, std::vector<std::string>{"openat:error=ENOENT"});
  // Default hypothesis with an HTTP workload: alive and answering.
  ASSERT_EQ(spec->hypothesis.thresholds.size(), 2u);
  EXPECT_EQ(spec->hypothesis.thresholds[0].metric, "process.alive");
  EXPECT_EQ(spec->hypothesis.thresholds[1].metric, "http.success_rate");
  EXPECT_TRUE(spec->monitor);
  EXPECT_FALSE(spec->fingerprint.empty());
}

TEST(ExperimentSpec, MatrixExpandsSyscallsTimesErrorsTimesDelays) {
  auto spec = parse_experiment_spec(R"(
target: {pid: 1}
campaign:
  syscalls: [read, write, openat]
  errors: [none, EIO, ENOSPC]
  delays: [none, 1s]
  options: "prob=0.5"
  control: true
)", "m.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  // per syscall: EIO, EIO+1s, ENOSPC, ENOSPC+1s, delay 1s = 5 columns; plus one control.
  ASSERT_EQ(spec->experiments.size(), 1u + 3 * 5);
  EXPECT_EQ(spec->experiments[0].id, "control");
  EXPECT_TRUE(spec->experiments[0].faults.empty());
  EXPECT_EQ(spec->grid_rows, (std::vector<std::string>{"read", "write", "openat"}));
  EXPECT_EQ(spec->grid_columns,
            (std::vector<std::string>{"delay 1s", "EIO", "EIO + 1s", "ENOSPC", "ENOSPC + 1s"}));
  const auto& e = spec->experiments[3];  // read: EIO + 1s
  EXPECT_EQ(e.faults, std::vector<std::string>{"read:error=EIO:delay_enter=1s:prob=0.5"});
  EXPECT_EQ(*e.grid_row, "read");
  EXPECT_EQ(*e.grid_column, "EIO + 1s");
  // ids are unique and file-name safe
  std::set<std::string> ids;
  for (const auto& x : spec->experiments) {
    EXPECT_TRUE(ids.insert(x.id).second) << x.id;
    EXPECT_EQ(x.id.find('/'), std::string::npos);
    EXPECT_EQ(x.id.find(' '), std::string::npos);
  }
  // No monitor-dependent hypothesis, no HTTP: process.alive only.
  ASSERT_EQ(spec->hypothesis.thresholds.size(), 1u);
}

TEST(ExperimentSpec, DuplicateIdsGetASuffix) {
  auto spec = parse_experiment_spec(R"(
target: {pid: 1}
experiments:
  - fault: "read:error=EIO"
  - fault: "read:error=EIO"
  - {name: again, id: "read-EIO", fault: "read:error=EIO:when=2"}
)", "d.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->experiments[0].id, "read-EIO");
  EXPECT_EQ(spec->experiments[1].id, "read-EIO-2");
  EXPECT_EQ(spec->experiments[2].id, "read-EIO-3");
  EXPECT_EQ(spec->experiments[2].name, "again");
}

TEST(ExperimentSpec, FingerprintIgnoresTheOutputFolderOnly) {
  std::string base = kMinimal;
  auto a = parse_experiment_spec(base + "output: one\n", "a");
  auto b = parse_experiment_spec(base + "output: two\n", "b");
  auto c = parse_experiment_spec(base + "seed: 3\n", "c");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->fingerprint, b->fingerprint);
  EXPECT_NE(a->fingerprint, c->fingerprint);
}

TEST(ExperimentSpec, MistakesAreOneClearLine) {
  EXPECT_NE(error_of("target: {container: a}\nexperimnts: []\n").find("unknown key 'experimnts'"), std::string::npos);
  EXPECT_NE(error_of("target: {container: a, pid: 3}\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("exactly one of container, pid, command"),
            std::string::npos);
  EXPECT_NE(error_of("experiments: [{fault: 'read:error=EIO'}]\n").find("target is missing"), std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nexperiments: [{fault: 'read:error=EWHAT'}]\n").find("experiments[0]"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nexperiments: [{fault: 'nosuchcall:error=EIO'}]\n").find("experiments[0]"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nphases: {baseline: 0s}\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("phases.baseline must be longer than 0"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nphases: {baseline: soon}\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("phases.baseline"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nhypothesis: ['http.success_rate >= 0.9']\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("needs an HTTP workload"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nhypothesis: ['http.sucess_rate >= 0.9']\nworkload: {http: {url: 'http://127.0.0.1:1/', rate: 1}}\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("http.sucess_rate"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\n").find("nothing to run"), std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\ncampaign: {syscalls: [read]}\n").find("nothing to inject"), std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1, restart: always}\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("restart_command"),
            std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1}\nmonitor_interval: 10ms\nexperiments: [{fault: 'read:error=EIO'}]\n")
                .find("at least 100ms"),
            std::string::npos);
  EXPECT_NE(error_of("- just\n- a list\n").find("mapping"), std::string::npos);
  EXPECT_NE(error_of("target: {pid: 1\n").find("spec.yaml"), std::string::npos);  // YAML syntax
}

TEST(ExperimentSpec, RefusesNonLoopbackLoadWithoutSendingAnything) {
  auto msg = error_of(
      "target: {pid: 1}\nworkload: {http: {url: 'http://192.0.2.1/', rate: 1}}\nexperiments: [{fault: 'read:error=EIO'}]\n");
  EXPECT_NE(msg.find("not on loopback"), std::string::npos) << msg;
}

TEST(ExperimentSpec, IdsFromFaultTexts) {
  EXPECT_EQ(experiment_id_from("openat:error=ENOENT:path=*/index.html"), "openat-ENOENT-path-index.html");
  EXPECT_EQ(experiment_id_from("sendfile:delay_enter=1s"), "sendfile-delay-1s");
  EXPECT_EQ(experiment_id_from("read: EIO + 1s"), "read-EIO-1s");
}

TEST(Campaign, EtaAndSummaryTable) {
  EXPECT_EQ(format_eta(45), "45s");
  EXPECT_EQ(format_eta(750), "12m30s");
  EXPECT_EQ(format_eta(3720), "1h02m");
  EXPECT_EQ(format_eta(-5), "0s");
  CampaignResult c;
  ExperimentResult r;
  r.id = "read-EIO";
  r.name = "read: EIO";
  r.effects.http = "success 100% → 50%";
  r.effects.syscall = "12 call(s) perturbed";
  r.verdict.kind = VerdictKind::outage;
  c.experiments.push_back(r);
  std::string table = summary_table(c);
  EXPECT_NE(table.find("perturbation"), std::string::npos);
  EXPECT_NE(table.find("read: EIO"), std::string::npos);
  EXPECT_NE(table.find("outage"), std::string::npos);
  EXPECT_NE(table.find("success 100% → 50%"), std::string::npos);
}

}  // namespace
}  // namespace syschaos::experiment

namespace syschaos::experiment {
namespace {

// The examples in docs/ are specs users copy: they must parse, and say what they claim.
TEST(ExperimentSpecExamples, DocsExamplesParse) {
  auto demo = load_experiment_spec(PROJECT_SOURCE_DIR "/docs/examples/nginx-demo.yaml");
  ASSERT_TRUE(demo.ok()) << demo.error().message();
  EXPECT_EQ(demo->experiments.size(), 11u);
  EXPECT_EQ(demo->grid_rows.size(), 3u);
  EXPECT_EQ(demo->grid_columns.size(), 3u);
  auto matrix = load_experiment_spec(PROJECT_SOURCE_DIR "/docs/examples/chaosorca-matrix.yaml");
  ASSERT_TRUE(matrix.ok()) << matrix.error().message();
  EXPECT_EQ(matrix->experiments.size(), 9u * 13 + 1);
  EXPECT_EQ(matrix->grid_rows.size(), 9u);
  EXPECT_EQ(matrix->grid_columns.size(), 13u);
}

}  // namespace
}  // namespace syschaos::experiment
