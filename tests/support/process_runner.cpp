#include "process_runner.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace syschaos::testing {

namespace {

std::string temp_path(const char* tag) {
  char tmpl[] = "/tmp/syschaos-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd >= 0) ::close(fd);
  // The unique name is what we want; the file itself is not used.
  ::unlink(tmpl);
  return std::string(tmpl) + "." + tag;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    // Own process group: signals the test sends do not reach the test runner.
    ::setpgid(0, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  BackgroundProcess p(argv);
  RunResult r;
  r.exit_code = p.wait(timeout);
  r.out = p.out();
  r.err = p.err();
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv)
    : out_path_(temp_path("out")), err_path_(temp_path("err")) {
  pid_ = spawn(argv, out_path_, err_path_);
}

BackgroundProcess::~BackgroundProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::unlink(out_path_.c_str());
  ::unlink(err_path_.c_str());
}

void BackgroundProcess::signal(int sig) const { ::kill(pid_, sig); }

int BackgroundProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return decode(status_);
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return decode(status_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

bool BackgroundProcess::running() {
  if (reaped_) return false;
  pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

std::string BackgroundProcess::out() const { return read_file(out_path_); }
std::string BackgroundProcess::err() const { return read_file(err_path_); }

char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("State:", 0) == 0) {
      auto pos = line.find_first_not_of(" \t", 6);
      return pos == std::string::npos ? '?' : line[pos];
    }
  return '?';
}

pid_t tracer_pid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("TracerPid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 10));
  return -1;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace syschaos::testing
