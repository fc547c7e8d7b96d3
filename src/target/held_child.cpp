#include "target/held_child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace syschaos {

Result<HeldChild> HeldChild::spawn(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error("no command to launch");
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd read_end(go[0]), write_end(go[1]);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Error::sys("fork");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::close(go[1]);
    char byte;
    ssize_t n;
    do {
      n = ::read(go[0], &byte, 1);
    } while (n < 0 && errno == EINTR);  // a tracer attaching may interrupt the wait
    if (n != 1) ::_exit(127);  // the parent gave up
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "syschaos: cannot run %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  return HeldChild(pid, std::move(write_end));
}

HeldChild::~HeldChild() {
  if (pid_ > 0 && go_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

Result<void> HeldChild::release() {
  if (!go_) return Error("the command was released already");
  ssize_t n;
  do {
    n = ::write(go_.get(), "g", 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return Error::sys("write to the launched command's start pipe");
  go_.reset();
  return ok();
}

}  // namespace syschaos
