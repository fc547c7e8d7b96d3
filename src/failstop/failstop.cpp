#include "failstop/failstop.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/unique_fd.hpp"
#include "failstop/net_filter.hpp"
#include "failstop/orphan_sockets.hpp"
#include "target/cgroup_paths.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

Result<Mode> parse_mode(std::string_view text) {
  if (text == "freeze") return Mode::kFreeze;
  if (text == "crash") return Mode::kCrash;
  if (text == "kill") return Mode::kKill;
  return Error(fmt::format("failure mode must be freeze, crash or kill, not '{}'", text));
}

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::kFreeze: return "freeze";
    case Mode::kCrash: return "crash";
    case Mode::kKill: return "kill";
  }
  return "?";
}

struct Session::Applied {
  FailureRecord record;
  std::optional<FrozenCgroup> frozen;          // while frozen
  std::optional<std::string> transient_dir;    // while processes sit in a transient cgroup
  std::unique_ptr<NetFilter> blackhole;        // crash, while the blackhole is up
  std::set<Endpoint> endpoints;                // crash: what the blackhole covers
  std::vector<UniqueFd> netns;                 // crash: the target's network namespaces
};

namespace {

// Dead enough: gone, or a zombie (its sockets were closed at exit, before it became one).
bool dead(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return true;
  size_t close = text->rfind(')');
  return close == std::string::npos || close + 2 >= text->size() || (*text)[close + 2] == 'Z' ||
         (*text)[close + 2] == 'X';
}

Result<void> wait_dead(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (pid_t pid : pids) {
    while (!dead(pid)) {
      if (std::chrono::steady_clock::now() > deadline)
        return Error(fmt::format("process {} did not die within {} ms of SIGKILL", pid, timeout.count()));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return ok();
}

}  // namespace

std::vector<pid_t> with_descendants(const std::vector<pid_t>& pids) {
  std::vector<pid_t> all = pids;
  for (size_t i = 0; i < all.size(); ++i) {
    std::string dir = fmt::format("/proc/{}/task", all[i]);
    std::unique_ptr<DIR, int (*)(DIR*)> tasks(::opendir(dir.c_str()), &::closedir);
    if (!tasks) continue;
    while (const dirent* entry = ::readdir(tasks.get())) {
      if (entry->d_name[0] == '.') continue;
      auto children = read_text_file(fmt::format("{}/{}/children", dir, entry->d_name));
      if (!children) continue;
      // children is space-separated: turn it into lines for parse_pid_list.
      std::string lines = *children;
      std::replace(lines.begin(), lines.end(), ' ', '\n');
      auto parsed = parse_pid_list(lines);
      if (!parsed) continue;
      for (pid_t child : *parsed)
        if (std::find(all.begin(), all.end(), child) == all.end()) all.push_back(child);
    }
  }
  std::sort(all.begin(), all.end());
  return all;
}

Result<std::unique_ptr<Session>> Session::open(const SessionOptions& options) {
  std::unique_ptr<Session> session(new Session());
  session->restored_at_open_ = restore_stale_states();
  session->state_.owner = ::getpid();
  session->state_.owner_start = process_start_time(::getpid());
  session->state_path_ = state_file_for(::getpid());
  if (!options.guard_exe.empty()) {
    auto guard = SafetyGuard::start(options.guard_exe, session->state_path_);
    if (!guard) return guard.error();
    session->guard_.emplace(std::move(*guard));
  }
  return session;
}

Session::~Session() { (void)close(); }

Result<void> Session::save() {
  if (state_.empty()) {
    if (::unlink(state_path_.c_str()) != 0 && errno != ENOENT) return Error::sys("unlink " + state_path_);
    return ok();
  }
  return save_state(state_path_, state_);
}

const FailureRecord& Session::record(FailureId id) const { return applied_.at(id)->record; }
size_t Session::failures() const { return applied_.size(); }

Result<FailureId> Session::fail(Target& target, const FailureOptions& options) {
  if (closed_) return Error("failstop session is closed");
  auto listed = target.processes();
  if (!listed) return listed.error().context(target.describe());
  // A pid target is the process and the children it has forked (a shell and its job, a
  // server and its workers); cgroup targets list everything already.
  Result<std::vector<pid_t>> pids = with_descendants(*listed);
  if (pids->empty()) return Error(fmt::format("{} has no running process", target.describe()));
  // The host's init: freezing or killing it takes the whole machine down.
  if (std::find(pids->begin(), pids->end(), 1) != pids->end())
    return Error(fmt::format("{} contains pid 1 (init): refusing", target.describe()));
  for (pid_t self : {::getpid(), guard_pid()})
    if (std::find(pids->begin(), pids->end(), self) != pids->end())
      return Error(fmt::format("{} contains syschaos itself (pid {}): refusing", target.describe(), self));

  auto applied = std::make_unique<Applied>();
  applied->record.mode = options.mode;
  applied->record.target = target.describe();
  applied->record.pids = *pids;
  auto apply = [&]() -> Result<void> {
    switch (options.mode) {
      case Mode::kFreeze:
        return freeze(target, *pids, options.freezer, *applied);
      case Mode::kCrash:
        return crash(target, *pids, options.freezer, *applied);
      case Mode::kKill:
        for (pid_t pid : *pids)
          if (::kill(pid, options.signal) != 0 && errno != ESRCH) return Error::sys(fmt::format("kill {}", pid));
        applied->record.undone = true;  // nothing to undo
        return ok();
    }
    return ok();
  };
  auto applied_ok = apply();
  applied->record.at = std::chrono::system_clock::now();
  applied_.push_back(std::move(applied));
  FailureId id = applied_.size() - 1;
  if (!applied_ok) {
    // Whatever was done before the error is undone the orderly way (thaw, move home, destroy
    // a crashed target's orphan sockets while the blackhole still holds, then lift it), not
    // dropped with the half-made record.
    (void)undo(id);
    return applied_ok.error();
  }
  return id;
}

Result<void> Session::freeze(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice, Applied& applied) {
  auto place = choose_freeze_place(target, pids, choice);
  if (!place) return place.error();
  std::string dir = place->dir;
  if (place->transient) {
    std::string name = fmt::format("syschaos-failstop-{}-{}", ::getpid(), applied_.size());
    auto moved = plan_transient_cgroup(place->dir, name, pids);
    if (!moved) return moved.error();
    // Recorded before the move: a crash mid-way leaves a state file that undoes it.
    state_.moved.push_back(*moved);
    SYSCHAOS_TRY(save());
    if (auto r = make_transient_cgroup(*moved, pids); !r) {
      (void)restore(RestoreState{0, 0, {}, {*moved}});
      state_.moved.pop_back();
      (void)save();
      return r.error();
    }
    dir = moved->transient_dir;
    applied.transient_dir = dir;
  }
  FrozenCgroup frozen{dir, place->kind};
  state_.frozen.push_back(frozen);
  SYSCHAOS_TRY(save());
  applied.frozen = frozen;
  applied.record.cgroup = dir;
  applied.record.transient_cgroup = place->transient;
  CgroupFreezer freezer(dir, place->kind);
  if (auto r = freezer.freeze(); !r) {
    (void)thaw(applied);
    return r.error();
  }
  return ok();
}

Result<void> Session::thaw(Applied& applied) {
  RestoreState partial;
  if (applied.frozen) partial.frozen.push_back(*applied.frozen);
  for (const MovedProcesses& m : state_.moved)
    if (applied.transient_dir && m.transient_dir == *applied.transient_dir) partial.moved.push_back(m);
  SYSCHAOS_TRY(restore(partial));
  if (applied.frozen) {
    auto& f = state_.frozen;
    f.erase(std::remove_if(f.begin(), f.end(), [&](const FrozenCgroup& x) { return x.dir == applied.frozen->dir; }),
            f.end());
    applied.frozen.reset();
  }
  if (applied.transient_dir) {
    auto& m = state_.moved;
    m.erase(std::remove_if(m.begin(), m.end(),
                           [&](const MovedProcesses& x) { return x.transient_dir == *applied.transient_dir; }),
            m.end());
    applied.transient_dir.reset();
  }
  return save();
}

Result<void> Session::crash(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice, Applied& applied) {
  // 1. Freeze: from here on the target sends nothing, opens no socket, forks nothing.
  SYSCHAOS_TRY(freeze(target, pids, choice, applied));
  auto members = read_cgroup_procs(applied.frozen->dir, true);
  if (!members) {
    (void)thaw(applied);
    return members.error();
  }
  // 2. Every endpoint of every socket it holds, and its network namespaces (for the
  //    orphan clean-up after its death).
  auto endpoints = endpoints_of(*members);
  if (!endpoints) {
    (void)thaw(applied);
    return endpoints.error();
  }
  std::set<std::string> seen_netns;
  for (pid_t pid : *members) {
    char link[64] = {};
    std::string path = fmt::format("/proc/{}/ns/net", pid);
    ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    if (n <= 0 || !seen_netns.insert(std::string(link, static_cast<size_t>(n))).second) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) applied.netns.push_back(std::move(fd));
  }
  // 3. The blackhole, before the kill: the kernel's clean-up of the sockets (FIN, or RST
  //    for unread data) happens inside the kill and must find it in place.
  NetFilterOptions net;
  net.drop_all = true;
  if (!applied.transient_dir) {
    auto own = own_cgroup(*members, kCgroupV2Hierarchy);
    if (own && *own) net.cgroup_v2 = **own;
  }
  auto blackhole = NetFilter::attach(net);
  if (!blackhole) {
    (void)thaw(applied);
    return blackhole.error();
  }
  if (auto r = (*blackhole)->set_endpoints(*endpoints); !r) {
    (void)thaw(applied);
    return r.error();
  }
  applied.blackhole = std::move(*blackhole);
  applied.endpoints = *endpoints;
  applied.record.blackholed_endpoints = endpoints->size();
  applied.record.pids = *members;
  // 4. SIGKILL every process, then thaw: a v2-frozen task dies at once; a v1-frozen one
  //    only once thawed. Either way no instruction of the application runs in between.
  for (pid_t pid : *members)
    if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) return Error::sys(fmt::format("kill {}", pid));
  SYSCHAOS_TRY(thaw(applied));
  return wait_dead(*members, std::chrono::seconds(10));
}

Result<void> Session::undo(FailureId id) {
  Applied& applied = *applied_.at(id);
  if (applied.record.undone) return ok();
  if (applied.frozen || applied.transient_dir) SYSCHAOS_TRY(thaw(applied));
  if (applied.blackhole) {
    // The dead target's closed connections still retransmit their FIN: destroy them while
    // the blackhole still swallows whatever they send, then lift it.
    if (applied.netns.empty()) {
      SYSCHAOS_TRY(destroy_orphans(applied.endpoints, true));
    } else {
      for (const UniqueFd& ns : applied.netns) SYSCHAOS_TRY(destroy_orphans(applied.endpoints, true, ns.get()));
    }
    applied.blackhole.reset();
    applied.netns.clear();
  }
  applied.record.undone = true;
  return ok();
}

Result<void> Session::close() {
  if (closed_) return ok();
  std::vector<std::string> failures;
  for (size_t id = 0; id < applied_.size(); ++id)
    if (auto r = undo(id); !r) failures.push_back(r.error().message());
  // Whatever is still recorded (an undo failed half-way) gets one more full attempt.
  if (!state_.empty()) {
    if (auto r = restore(state_); !r) failures.push_back(r.error().message());
    else state_ = RestoreState{state_.owner, state_.owner_start, {}, {}};
  }
  if (failures.empty()) {
    if (auto r = save(); !r) failures.push_back(r.error().message());
  }
  closed_ = true;
  // With something left to restore the guard is not dismissed: it gets EOF when this
  // process ends and tries once more from the state file.
  if (failures.empty() && guard_) {
    if (auto r = guard_->dismiss(); !r) failures.push_back(r.error().message());
  }
  if (failures.empty()) return ok();
  std::string message;
  for (size_t i = 0; i < failures.size(); ++i) message += (i ? "; " : "") + failures[i];
  return Error(message);
}

}  // namespace syschaos::failstop
