// Test support for ChaosFS integration tests: a temporary backing directory and mountpoint,
// `syschaos fs mount` running in the background, and the control CLI.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fs/mount_recovery.hpp"
#include "process_runner.hpp"

namespace syschaos::fstest {

using namespace std::chrono_literals;
using syschaos::testing::BackgroundProcess;
using syschaos::testing::eventually;
using syschaos::testing::run_command;
using syschaos::testing::RunResult;

inline std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = "/tmp/chaosfs-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  char* d = ::mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_text(const std::string& path) { return syschaos::testing::read_file(path); }

inline bool is_chaosfs_mounted(const std::string& mp) {
  auto m = fs::find_mount(mp);
  return m.ok() && m->has_value() && (*m)->fs_type == fs::kChaosFsType;
}

// A ChaosFS mount for one test. The destructor stops the server (SIGTERM, then SIGKILL)
// and makes sure nothing stays mounted.
class ChaosMount {
 public:
  explicit ChaosMount(const std::string& tag, const std::vector<std::string>& extra = {},
                      const std::string& faults_yaml = "") {
    root_ = make_temp_dir(tag);
    backing_ = root_ + "/backing";
    mnt_ = root_ + "/mnt";
    control_ = root_ + "/control.sock";
    std::filesystem::create_directories(backing_);
    std::filesystem::create_directories(mnt_);
    std::vector<std::string> argv = {SYSCHAOS_BIN, "fs", "mount", "--backing", backing_,
                                     "--mountpoint", mnt_, "--control", control_, "--seed", "42"};
    if (!faults_yaml.empty()) {
      write_text(root_ + "/faults.yaml", faults_yaml);
      argv.push_back("--faults");
      argv.push_back(root_ + "/faults.yaml");
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<BackgroundProcess>(argv);
    ready_ = eventually([&] { return is_chaosfs_mounted(mnt_) && ::access(control_.c_str(), F_OK) == 0; }, 10s);
  }
  ~ChaosMount() {
    if (proc_ && proc_->running()) {
      proc_->signal(SIGTERM);
      proc_->wait(10s);
    }
    proc_.reset();
    // Whatever happened, leave no mount behind (a failed test must not break the next).
    if (is_chaosfs_mounted(mnt_)) ::umount2(mnt_.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  bool ready() const { return ready_; }
  const std::string& backing() const { return backing_; }
  const std::string& mnt() const { return mnt_; }
  const std::string& root() const { return root_; }
  std::string m(const std::string& rel) const { return mnt_ + "/" + rel; }
  std::string b(const std::string& rel) const { return backing_ + "/" + rel; }
  BackgroundProcess& proc() { return *proc_; }

  // syschaos fs rules --control SOCK <args...>
  RunResult rules(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {SYSCHAOS_BIN, "fs", "rules", "--control", control_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 20s);
  }
  // Replaces all rules with this YAML; true on success.
  bool replace(const std::string& yaml) const {
    std::string path = root_ + "/rules-" + std::to_string(++counter_) + ".yaml";
    write_text(path, yaml);
    auto r = rules({"replace", path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0;
  }
  bool clear() const { return rules({"clear"}).exit_code == 0; }

 private:
  std::string root_, backing_, mnt_, control_;
  std::unique_ptr<BackgroundProcess> proc_;
  bool ready_ = false;
  mutable int counter_ = 0;
};

// open+close, returning 0 or errno.
inline int try_open(const std::string& path, int flags = O_RDONLY) {
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace syschaos::fstest
