// A real database under ChaosFS faults: sqlite3 commits transactions while writes and
// fsyncs fail at random and requests are delayed. The writer records every transaction
// sqlite3 reported committed. After the faults are removed, PRAGMA integrity_check is "ok"
// (through ChaosFS and on the backing file directly) and no recorded transaction is missing.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

RunResult sql(const std::string& db, const std::string& statements) {
  return run_command({"sqlite3", "-bail", db, statements}, 60s);
}

void run_workload(const std::string& journal_mode) {
  ChaosMount cm("sqlite-" + journal_mode);
  ASSERT_TRUE(cm.ready());
  std::string db = cm.m("test.db");
  auto init = sql(db, "PRAGMA journal_mode=" + journal_mode +
                          "; CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB, tag TEXT);");
  ASSERT_EQ(init.exit_code, 0) << init.err;
  ASSERT_TRUE(cm.replace(
      "faults:\n"
      "  - methods: [write]\n    path: 'test.db*'\n    percent: 1\n    fault: EIO\n"
      "  - methods: [fsync]\n    percent: 2\n    fault: {EIO: 1, ENOSPC: 1}\n"
      "  - methods: [read, write, fsync]\n    percent: 30\n    latency: {delay: 2ms, jitter: 1ms}\n"));
  std::set<int> committed;
  int failed = 0;
  for (int i = 1; i <= 120; ++i) {
    // Several rows per transaction, spread over pages, so a transaction spans many writes.
    std::ostringstream s;
    s << "PRAGMA journal_mode=" << journal_mode << "; BEGIN;";
    for (int k = 0; k < 5; ++k)
      s << "INSERT INTO t(id, payload, tag) VALUES(" << i * 10 + k << ", randomblob(1500), 'tx" << i << "');";
    s << "UPDATE t SET tag = tag || '+' WHERE id % 7 = " << i % 7 << "; COMMIT;";
    auto r = sql(db, s.str());
    if (r.exit_code == 0) committed.insert(i);
    else ++failed;
  }
  ASSERT_TRUE(cm.clear());
  auto list = cm.rules({"list"});
  // Faults really happened, and most transactions still went through.
  EXPECT_GT(failed, 3) << "too few injected failures to mean anything";
  EXPECT_GT(committed.size(), 30u);

  auto check = sql(db, "PRAGMA integrity_check;");
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.out, "ok\n");
  auto rows = sql(db, "SELECT DISTINCT substr(tag, 3, instr(tag || '+', '+') - 3) FROM t;");
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  std::set<int> present;
  std::istringstream in(rows.out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) present.insert(std::stoi(line));
  for (int id : committed) EXPECT_TRUE(present.count(id)) << "committed transaction " << id << " is missing";
  // Every committed transaction has all of its rows.
  auto counts = sql(db, "SELECT count(*) FROM t;");
  EXPECT_GE(std::stoul(counts.out), committed.size() * 5);
  // The backing file, read without ChaosFS, is a sound database too.
  auto direct = sql(cm.b("test.db"), "PRAGMA integrity_check;");
  EXPECT_EQ(direct.out, "ok\n") << direct.err;
  std::cerr << journal_mode << ": " << committed.size() << " committed, " << failed << " failed\n";
}

TEST(ChaosFsSqlite, RollbackJournalSurvivesWriteAndFsyncFaults) { run_workload("DELETE"); }
TEST(ChaosFsSqlite, WalSurvivesWriteAndFsyncFaults) { run_workload("WAL"); }

}  // namespace
}  // namespace syschaos::fstest
