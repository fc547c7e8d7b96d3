// syschaos fs inject | fs restore: ChaosFS over a volume of a running Docker container
// (container mode), and the explicit recovery. The work is done by a supervisor process
// (src/fs/container_injection.hpp); this file checks the input, forks it, waits in the
// foreground and turns what happened into an exit code.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <random>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "core/duration.hpp"
#include "fs/container_injection.hpp"
#include "fs/container_state.hpp"
#include "fs/container_repoint.hpp"
#include "fs/container_volume.hpp"
#include "fs/fs_control_server.hpp"
#include "fs/fs_fault_rule.hpp"
#include "target/docker_target.hpp"

namespace syschaos::cli {

namespace {

struct FsInjectOptions {
  std::string container;
  std::string volume;
  std::string faults;
  std::string duration;
  uint64_t seed = 0;
  bool passthrough = false;
  std::string control;
  std::string events;
  bool quiet = false;
};

struct FsRestoreOptions {
  std::string container;
  std::string volume;
  bool quiet = false;
};

int usage_error(const std::string& m) {
  std::fprintf(stderr, "syschaos: %s\n", m.c_str());
  return kExitUsage;
}

Result<fs::ContainerRef> find_container(const std::string& name) {
  auto t = DockerTarget::create(name);
  if (!t) return t.error();
  const auto& info = (*t)->container();
  auto dir = (*t)->cgroup_dir();
  if (!dir) return Error(fmt::format("container {}: no cgroup found", name));
  return fs::ContainerRef{info.id, info.name, info.pid, *dir};
}

// Waits for the supervisor and returns its exit code; on a second Ctrl-C says it is still
// recovering (killing it now would leave the volume half moved). A supervisor that has
// recovered but keeps serving files left on its detached ChaosFS (lock holders) says so on
// done_fd ('l': recovered, 'f': failed) and is not waited for.
int wait_supervisor(pid_t child, int sigfd, int done_fd) {
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return -WTERMSIG(status);
    }
    pollfd p[2] = {{sigfd, POLLIN, 0}, {done_fd, POLLIN, 0}};
    if (::poll(p, 2, 100) > 0) {
      if (p[1].revents) {
        char b = 0;
        if (::read(done_fd, &b, 1) == 1 && (b == 'l' || b == 'f')) return b == 'l' ? 0 : 1;
        done_fd = -1;  // EOF: it exits, waitpid tells
      }
      signalfd_siginfo si{};
      if (p[0].revents && ::read(sigfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
        std::fprintf(stderr, "syschaos: still recovering the volume, please wait\n");
    }
  }
}

int run_fs_inject(const FsInjectOptions& o) {
  // Everything is checked before anything is touched.
  auto rules = fs::load_fs_rules_file(o.faults);
  if (!rules) return usage_error(rules.error().message());
  if (rules->empty()) return usage_error(fmt::format("--faults {}: no rule in the file", o.faults));
  auto manifest = fs::manifest_target(*rules);
  if (!manifest) return usage_error(manifest.error().message());
  std::string container = !o.container.empty() ? o.container : manifest->container.value_or("");
  std::string volume = !o.volume.empty() ? o.volume : manifest->volume.value_or("");
  if (container.empty()) return usage_error("give --container NAME (or containerNames in the IOChaos manifest)");
  if (volume.empty()) return usage_error("give --volume PATH (or volumePath in the IOChaos manifest)");
  std::optional<Nanos> duration;
  if (!o.duration.empty()) {
    auto d = parse_duration(o.duration, "s");
    if (!d) return usage_error("--duration: " + d.error().message());
    if (d->count() == 0) return usage_error("--duration must be longer than 0");
    duration = std::chrono::duration_cast<Nanos>(*d);
  }
  auto ref = find_container(container);
  if (!ref) return usage_error(ref.error().message());
  auto vol = fs::ContainerVolume::open(*ref, volume);
  if (!vol) return usage_error(vol.error().message());
  auto vrules = fs::rules_for_volume(std::move(*rules), vol->path());
  if (!vrules) return usage_error(vrules.error().message());
  // Processes that could not be moved onto ChaosFS (chrooted into the volume, holding a file
  // lock there for longer than a transaction, ...) are refused before anything is mounted,
  // not found out half-way.
  if (auto why = fs::refusal_among([&] { return vol->processes(); },
                                   fs::RepointSpec{vol->mount_id(), vol->path(), false}))
    return usage_error(fmt::format("container {}: {}", ref->name, *why));
  std::string base = fs::container_state_base(ref->id, vol->path());
  auto prior = fs::read_state(base + ".json");
  if (prior && *prior && fs::is_live_syschaos((*prior)->supervisor_pid))
    return usage_error(fmt::format("{} of container {} is already under ChaosFS (supervisor pid {})",
                                   vol->path(), ref->name, (*prior)->supervisor_pid));

  // The control socket, on the host, before anything enters the container.
  std::string control = o.control.empty() ? base + ".sock" : o.control;
  if (::mkdir("/run/syschaos", 0755) != 0 && errno != EEXIST) return usage_error("mkdir /run/syschaos: " + std::string(std::strerror(errno)));
  if (::mkdir(fs::kContainerStateDir, 0700) != 0 && errno != EEXIST)
    return usage_error(fmt::format("mkdir {}: {}", fs::kContainerStateDir, std::strerror(errno)));
  auto listen = fs::listen_control_socket(control);
  if (!listen) return usage_error(listen.error().message());

  fs::ContainerInjectionSettings settings;
  settings.container = *ref;
  settings.volume = vol->path();
  settings.rules = std::move(*vrules);
  settings.seed = o.seed;
  settings.passthrough = o.passthrough;
  settings.control_path = control;
  fs::RepointLog log(o.quiet, o.events);

  int stop_pipe[2], ready_pipe[2];
  if (::pipe2(stop_pipe, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "syschaos: pipe2: %s\n", std::strerror(errno));
    return kExitFailure;
  }
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "syschaos: pipe2: %s\n", std::strerror(errno));
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    return kExitFailure;
  }
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!sigfd) {
    // Without it a Ctrl-C would be ignored (the signals are blocked): refuse to start.
    std::fprintf(stderr, "syschaos: signalfd: %s\n", std::strerror(errno));
    return kExitFailure;
  }
  // The supervisor may be gone when the stop byte is written (it gave up and exited): that
  // write must fail with EPIPE, not kill this process with SIGPIPE (exit 141).
  ::signal(SIGPIPE, SIG_IGN);
  pid_t cli = ::getpid();
  std::fflush(stderr);
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "syschaos: fork: %s\n", std::strerror(errno));
    return kExitFailure;
  }
  if (child == 0) {
    // Its own process group: a Ctrl-C in the terminal reaches the CLI only, which then asks
    // for an orderly stop.
    ::setpgid(0, 0);
    ::close(stop_pipe[1]);
    ::close(ready_pipe[0]);
    int code = fs::run_injection_supervisor(settings, cli, listen->release(), stop_pipe[0], ready_pipe[1], log);
    std::fflush(stderr);
    ::_exit(code);
  }
  listen->reset();
  ::close(stop_pipe[0]);
  ::close(ready_pipe[1]);
  UniqueFd stop_w(stop_pipe[1]), ready_r(ready_pipe[0]);

  // Until "ready" (faults armed) or the supervisor gives up.
  bool ready = false;
  for (;;) {
    pollfd p[2] = {{ready_r.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[0].revents) {
      char b = 0;
      ready = ::read(ready_r.get(), &b, 1) == 1;
      // 'f': it failed, undid the injection and lingers for files left on ChaosFS.
      if (ready && b == 'f') return kExitFailure;
      break;
    }
    if (p[1].revents) {
      signalfd_siginfo si{};
      if (::read(sigfd.get(), &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD) break;  // stop early
    }
  }
  if (!ready) {
    char s = 's';
    (void)!::write(stop_w.get(), &s, 1);
    int code = wait_supervisor(child, sigfd.get(), ready_r.get());
    return code == 0 ? kExitFailure : (code > 0 ? code : kExitFailure);
  }
  if (!o.quiet)
    std::fprintf(stderr, "syschaos: injecting into %s of container %s%s; Ctrl-C to stop\n", vol->path().c_str(),
                 ref->name.c_str(), duration ? (" for " + format_duration(*duration)).c_str() : "");

  // Injecting: until Ctrl-C / SIGTERM / SIGHUP, --duration, or the supervisor's end.
  auto end = duration ? std::optional(std::chrono::steady_clock::now() + *duration) : std::nullopt;
  bool supervisor_died = false;
  for (;;) {
    int timeout = -1;
    if (end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      timeout = static_cast<int>(std::min<int64_t>(left.count(), 1000));
    }
    pollfd p{sigfd.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout) <= 0) continue;
    signalfd_siginfo si{};
    if (::read(sigfd.get(), &si, sizeof si) != sizeof si) continue;
    if (si.ssi_signo == SIGCHLD) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) {
        supervisor_died = true;
        if (WIFSIGNALED(status))
          std::fprintf(stderr, "syschaos: the supervisor (pid %d) was killed by %s; recovering here\n", child,
                       strsignal(WTERMSIG(status)));
        else
          std::fprintf(stderr, "syschaos: the supervisor (pid %d) ended (exit %d)\n", child, WEXITSTATUS(status));
        if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 ? 0 : kExitFailure;
        break;
      }
      continue;
    }
    break;  // SIGINT, SIGTERM, SIGHUP
  }
  if (supervisor_died) {
    auto r = fs::restore_container(*ref, vol->path(), log);
    if (!r) {
      std::fprintf(stderr, "syschaos: recovery failed: %s; run 'syschaos fs restore --container %s'\n",
                   r.error().message().c_str(), ref->name.c_str());
    }
    return kExitFailure;
  }
  char s = 's';
  (void)!::write(stop_w.get(), &s, 1);
  int code = wait_supervisor(child, sigfd.get(), ready_r.get());
  if (code < 0) {
    std::fprintf(stderr, "syschaos: the supervisor was killed by %s while recovering; recovering here\n",
                 strsignal(-code));
    auto r = fs::restore_container(*ref, vol->path(), log);
    if (!r) std::fprintf(stderr, "syschaos: recovery failed: %s\n", r.error().message().c_str());
    return kExitFailure;
  }
  return code == 0 ? 0 : kExitFailure;
}

int run_fs_restore(const FsRestoreOptions& o) {
  std::optional<std::string> volume;
  if (!o.volume.empty()) {
    // The path inside the container, as fs inject was given it (absolute, no trailing /).
    std::string v = o.volume;
    while (v.size() > 1 && v.back() == '/') v.pop_back();
    if (v.empty() || v[0] != '/' || v == "/" || v.find("/../") != std::string::npos || v.find("/./") != std::string::npos)
      return usage_error(fmt::format("--volume {}: give the volume's absolute path inside the container", o.volume));
    volume = v;
  }
  auto ref = find_container(o.container);
  if (!ref) return usage_error(ref.error().message());
  fs::RepointLog log(o.quiet, "");
  auto n = fs::restore_container(*ref, volume, log);
  if (!n) {
    std::fprintf(stderr, "syschaos: %s\n", n.error().message().c_str());
    return kExitFailure;
  }
  if (!o.quiet)
    std::fprintf(stderr, "syschaos: container %s: %d ChaosFS mount(s) removed; no ChaosFS left\n",
                 ref->name.c_str(), *n);
  return 0;
}

}  // namespace

void register_fs_inject(CLI::App& app, Action& action) {
  CLI::App* fs = nullptr;
  try {
    fs = app.get_subcommand("fs");
  } catch (const CLI::OptionNotFound&) {
    fs = app.add_subcommand("fs", "ChaosFS: a FUSE file system that injects I/O faults");
  }
  auto io = std::make_shared<FsInjectOptions>();
  auto* inject = fs->add_subcommand(
      "inject", "Put ChaosFS over a volume of a running container and move its open files onto it "
                "(foreground; Ctrl-C, SIGTERM or --duration recovers)");
  inject->add_option("--container", io->container, "Docker container name or id (or containerNames in the manifest)");
  inject->add_option("--volume", io->volume, "The volume's path inside the container (or volumePath in the manifest)");
  inject->add_option("--faults", io->faults, "Rules: syschaos YAML or a Chaos Mesh IOChaos manifest")->required();
  inject->add_option("--duration,-d", io->duration, "Recover after this long (e.g. 30s, 2m)");
  inject->add_option("--seed", io->seed, "Random seed (0: random; printed)");
  inject->add_flag("--passthrough", io->passthrough,
                   "Kernel passthrough (Linux 6.9+) for files no rule touches when opened (see fs mount)");
  inject->add_option("--control", io->control, "Unix socket on the host for live rule changes (default /run/syschaos/fs/<id>-<hash>.sock)");
  inject->add_option("--events", io->events, "Append one JSON line per re-pointed process (stop time, what moved)");
  inject->add_flag("--quiet,-q", io->quiet, "Only warnings on stderr");
  inject->callback([io, &action] { action = [io] { return run_fs_inject(*io); }; });

  auto ro = std::make_shared<FsRestoreOptions>();
  auto* restore = fs->add_subcommand(
      "restore", "Remove ChaosFS left in a container by a killed 'fs inject' and move its processes back");
  restore->add_option("--container", ro->container, "Docker container name or id")->required();
  restore->add_option("--volume", ro->volume, "Only this volume (default: every ChaosFS mount)");
  restore->add_flag("--quiet,-q", ro->quiet, "Only warnings on stderr");
  restore->callback([ro, &action] { action = [ro] { return run_fs_restore(*ro); }; });
}

}  // namespace syschaos::cli
