#include "inject/ptrace/remote_syscall.hpp"

#include <elf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "inject/ptrace/proc_inspect.hpp"
#include "inject/ptrace/tracee_memory.hpp"

namespace syschaos::ptrace_engine {

// ---- The architecture's register layout --------------------------------------------------
// Everything this file knows about a processor is in one ArchLayout: which registers hold the
// call's number, arguments and result, the program counter, the "call being made" register
// the kernel reads to restart a call, and the bytes of the system-call instruction. The code
// below reaches registers only through it.
namespace {

#if defined(__x86_64__)
// x86-64 (arch/x86/entry/entry_64.S, arch/x86/kernel/signal.c). The kernel decides about
// restarting an interrupted call AFTER a ptrace stop, with the registers the tracer left:
// the tracer sees the raw -ERESTART* result and pc just after `syscall` (the protocol the
// header describes).
struct ArchLayout {
  static constexpr bool kPorted = true;
  static constexpr const char* kName = "x86-64";
  using Regs = struct user_regs_struct;
  using Word = unsigned long long;  // NOLINT: the type glibc gives these registers
  static constexpr std::array<uint8_t, 2> kSyscallInsn{0x0f, 0x05};  // syscall
  static constexpr long kRestartSyscallNr = SYS_restart_syscall;
  static constexpr long kMmapNr = SYS_mmap;
  static constexpr Word Regs::*kPc = &Regs::rip;
  static constexpr Word Regs::*kNr = &Regs::rax;          // number in
  static constexpr Word Regs::*kResult = &Regs::rax;      // result out
  static constexpr Word Regs::*kOrigNr = &Regs::orig_rax;  // the call being made, -1 = none
  static constexpr std::array<Word Regs::*, 6> kArgs{&Regs::rdi, &Regs::rsi, &Regs::rdx,
                                                     &Regs::r10, &Regs::r8,  &Regs::r9};
};
#else
// Not ported: the file still compiles (the rest of syschaos, standalone ChaosFS included,
// builds and runs), and StoppedProcess::stop() fails at run time with "not ported to <arch>".
//
// What a port needs, e.g. aarch64 (UNTESTED notes from the kernel ABI, not code): registers
// from NT_PRSTATUS (struct user_pt_regs): x8 = number, x0..x5 = arguments, x0 = result, pc;
// `svc #0` = d4 00 00 01 little-endian, 4 bytes; the call being made is not in that set but
// in the NT_ARM_SYSTEM_CALL regset (an int, -1 = none), and orig_x0 is not visible at all.
// The protocol differs too: arm64's do_signal() prepares the restart BEFORE the ptrace stop
// (x0 = orig_x0, pc back on `svc`, syscallno = -1), so a thread interrupted in a call shows
// pc ON its `svc`, not after it, and after the stop the kernel still rewrites x8 to
// restart_syscall if pc equals that address and the call was -ERESTART_RESTARTBLOCK — our
// first call there would need another pc or a different sequence. Hence no table yet.
struct ArchLayout {
  static constexpr bool kPorted = false;
#if defined(__aarch64__)
  static constexpr const char* kName = "aarch64";
#elif defined(__riscv)
  static constexpr const char* kName = "riscv";
#elif defined(__i386__)
  static constexpr const char* kName = "i386";
#elif defined(__arm__)
  static constexpr const char* kName = "32-bit arm";
#elif defined(__powerpc64__)
  static constexpr const char* kName = "ppc64";
#elif defined(__s390x__)
  static constexpr const char* kName = "s390x";
#else
  static constexpr const char* kName = "this architecture";
#endif
  using Word = unsigned long long;  // NOLINT
  struct Regs {
    Word pc, nr, result, orig_nr, args[6];
  };
  static constexpr std::array<uint8_t, 1> kSyscallInsn{0};
  static constexpr long kRestartSyscallNr = -1;
  static constexpr long kMmapNr = -1;
  static constexpr Word Regs::*kPc = &Regs::pc;
  static constexpr Word Regs::*kNr = &Regs::nr;
  static constexpr Word Regs::*kResult = &Regs::result;
  static constexpr Word Regs::*kOrigNr = &Regs::orig_nr;
  static constexpr std::array<Word Regs::*, 6> kArgs{};
};
#endif

using ArchRegs = ArchLayout::Regs;
using RegWord = ArchLayout::Word;
constexpr uint64_t kSyscallInsnLen = ArchLayout::kSyscallInsn.size();
constexpr RegWord kNoCall = static_cast<RegWord>(-1);

RegWord& reg_pc(ArchRegs& r) { return r.*ArchLayout::kPc; }
RegWord& reg_nr(ArchRegs& r) { return r.*ArchLayout::kNr; }
RegWord& reg_orig_nr(ArchRegs& r) { return r.*ArchLayout::kOrigNr; }
RegWord& reg_result(ArchRegs& r) { return r.*ArchLayout::kResult; }

// Points the registers at the `syscall` instruction at `insn` with call `nr` in the number
// register. orig = -1 ("no call in progress") keeps the kernel's restart step (which follows
// an interrupt stop) from rewriting them.
void rewind_to_call(ArchRegs& r, uint64_t insn, RegWord nr) {
  reg_pc(r) = insn;
  reg_nr(r) = nr;
  reg_orig_nr(r) = kNoCall;
}

void set_args(ArchRegs& r, const std::array<uint64_t, 6>& args) {
  if constexpr (ArchLayout::kPorted)
    for (size_t i = 0; i < args.size(); ++i) r.*ArchLayout::kArgs[i] = args[i];
}

// The same with the arguments: the registers that make the thread run (nr, args) at `insn`.
void aim_at_call(ArchRegs& r, uint64_t insn, long nr, const std::array<uint64_t, 6>& args) {
  rewind_to_call(r, insn, static_cast<RegWord>(nr));
  set_args(r, args);
}

}  // namespace

namespace {

// The kernel's internal restart codes (include/linux/errno.h, not exported to user space).
constexpr int64_t kERestartSys = -512;
constexpr int64_t kERestartNoIntr = -513;
constexpr int64_t kERestartNoHand = -514;
constexpr int64_t kERestartRestartBlock = -516;
constexpr int kSyscallStopSig = SIGTRAP | 0x80;  // with PTRACE_O_TRACESYSGOOD

Result<ArchRegs> get_regs(pid_t tid) {
  ArchRegs regs{};
  struct iovec iov {&regs, sizeof(regs)};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    return Error::sys(fmt::format("ptrace(PTRACE_GETREGSET, {})", tid));
  return regs;
}

Result<void> set_regs(pid_t tid, const ArchRegs& regs) {
  ArchRegs copy = regs;
  struct iovec iov {&copy, sizeof(copy)};
  if (::ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    return Error::sys(fmt::format("ptrace(PTRACE_SETREGSET, {})", tid));
  return ok();
}

bool is_syscall_insn_at(pid_t tid, uint64_t addr) {
  uint8_t buf[kSyscallInsnLen];
  struct iovec local {buf, sizeof(buf)};
  struct iovec remote {reinterpret_cast<void*>(addr), sizeof(buf)};
  if (::process_vm_readv(tid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(sizeof(buf)))
    return false;
  return std::memcmp(buf, ArchLayout::kSyscallInsn.data(), sizeof(buf)) == 0;
}

// waitpid for one thread with a deadline. A tracee's stop sends SIGCHLD to the tracer;
// StoppedProcess blocks SIGCHLD in its thread, so the wait sleeps in sigtimedwait and wakes
// the moment a stop is reported. If another thread of this process takes the SIGCHLD (one
// that does not block it), the 1 ms timeout bounds the delay.
Result<int> wait_thread(pid_t tid, std::chrono::steady_clock::time_point deadline) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(tid, &status, __WALL | WNOHANG);
    if (r == tid) return status;
    if (r < 0) return Error::sys(fmt::format("waitpid({})", tid));
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Error(fmt::format("thread {} did not stop in time", tid), ETIMEDOUT);
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
    struct timespec ts {0, std::min<long>(1'000'000, static_cast<long>(left))};
    ::sigtimedwait(&chld, nullptr, &ts);
  }
}

// A call that an interrupt stop cut short (orig >= 0, result a kernel restart code): set
// the registers up as the kernel's restart step would have with the thread's own registers
// (arch/x86/kernel/signal.c, no handler to run): pc back over the `syscall` instruction,
// the number (or restart_syscall) in the number register. orig = -1 keeps a second restart
// step on the way out (if work is pending then) from applying it twice.
void restart_interrupted_call(ArchRegs& regs) {
  if (static_cast<int64_t>(reg_orig_nr(regs)) < 0) return;
  switch (static_cast<int64_t>(reg_result(regs))) {
    case kERestartSys:
    case kERestartNoIntr:
    case kERestartNoHand:
      rewind_to_call(regs, reg_pc(regs) - kSyscallInsnLen, reg_orig_nr(regs));
      break;
    case kERestartRestartBlock:
      rewind_to_call(regs, reg_pc(regs) - kSyscallInsnLen, static_cast<RegWord>(ArchLayout::kRestartSyscallNr));
      break;
    default:
      break;
  }
}

bool is_event_stop(int status) { return (status >> 16) == PTRACE_EVENT_STOP; }
bool is_syscall_stop(int status) {
  return WIFSTOPPED(status) && (status >> 16) == 0 && WSTOPSIG(status) == kSyscallStopSig;
}

}  // namespace

Result<std::unique_ptr<StoppedProcess>> StoppedProcess::stop(pid_t tgid, Options options) {
  if constexpr (!ArchLayout::kPorted)
    return Error(fmt::format("remote system calls (moving a process's files, container injection) are not "
                             "ported to {}: see ArchLayout in src/inject/ptrace/remote_syscall.cpp",
                             ArchLayout::kName),
                 ENOTSUP);
  std::unique_ptr<StoppedProcess> p(new StoppedProcess(tgid, options));
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &chld, &p->old_mask_);
  p->mask_saved_ = true;
  p->t_stop_ = std::chrono::steady_clock::now();
  // On any error the destructor detaches whatever was seized.
  SYSCHAOS_TRY(p->seize_all());
  SYSCHAOS_TRY(p->wait_all_stopped(options.wait_for_stop));
  if (p->threads_.empty()) return Error(fmt::format("pid {} has exited", tgid), ESRCH);
  SYSCHAOS_TRY(p->choose_executor());
  return p;
}

Result<void> StoppedProcess::seize_all() {
  // Threads may be created while we seize; re-list until a pass finds nothing new. Once
  // every thread is stopped none can be created any more.
  for (bool found_new = true; found_new;) {
    found_new = false;
    for (pid_t tid : threads_of(tgid_)) {
      if (std::any_of(threads_.begin(), threads_.end(), [&](const Thread& t) { return t.tid == tid; }))
        continue;
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0) {
        int err = errno;
        if (err == ESRCH) continue;  // exited meanwhile
        pid_t tracer = tracer_of(tid);
        if (tracer && tracer != ::getpid())
          return Error(fmt::format("pid {} is already traced by pid {} (strace, gdb or syschaos "
                                   "inject?): stop that first", tgid_, tracer), EPERM);
        return Error::sys(fmt::format("ptrace(PTRACE_SEIZE, {})", tid), err);
      }
      threads_.push_back(Thread{tid});
      found_new = true;
      if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH)
        return Error::sys(fmt::format("ptrace(PTRACE_INTERRUPT, {})", tid));
    }
  }
  return ok();
}

Result<void> StoppedProcess::wait_all_stopped(std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->stopped) {
      ++it;
      continue;
    }
    auto st = wait_thread(it->tid, deadline);
    if (!st) {
      if (st.error().sys_errno() == ECHILD) {  // gone
        it = threads_.erase(it);
        continue;
      }
      return st.error().context(fmt::format("pid {}", tgid_));
    }
    int status = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      it = threads_.erase(it);
      continue;
    }
    it->stopped = true;
    // A signal that was already on its way: the thread reports it before our interrupt.
    // Leave the thread in that signal-delivery stop and hand the signal back at detach.
    if (!is_event_stop(status) && !is_syscall_stop(status)) it->pending_signal = WSTOPSIG(status);
    ++it;
  }
  return ok();
}

Result<void> StoppedProcess::choose_executor() {
  // The main thread first: it is the one that most surely shares the process's fd table
  // and working directory.
  std::stable_sort(threads_.begin(), threads_.end(),
                   [&](const Thread& a, const Thread& b) { return (a.tid == tgid_) > (b.tid == tgid_); });
  for (const auto& t : threads_) {
    if (t.pending_signal) continue;
    auto regs = get_regs(t.tid);
    if (!regs) continue;
    // orig (orig_rax) >= 0: the thread entered the kernel through a system call (interrupts and
    // exceptions store -1), so the instruction before its pc is that `syscall`.
    if (static_cast<int64_t>(reg_orig_nr(*regs)) < 0) continue;
    uint64_t insn = reg_pc(*regs) - kSyscallInsnLen;
    if (!is_syscall_insn_at(t.tid, insn)) continue;
    executor_ = t.tid;
    executor_mode_ = "in-syscall";
    syscall_insn_ = insn;
    saved_regs_.assign(reinterpret_cast<const uint8_t*>(&*regs),
                       reinterpret_cast<const uint8_t*>(&*regs) + sizeof(ArchRegs));
    have_saved_ = true;
    return ok();
  }
  // No thread is inside a system call: let one run into its next one.
  auto cand = std::find_if(threads_.begin(), threads_.end(), [](const Thread& t) { return !t.pending_signal; });
  if (cand == threads_.end())
    return Error(fmt::format("pid {}: every thread is stopped on a signal; try again", tgid_), EAGAIN);
  executor_ = cand->tid;
  executor_mode_ = "waited-for-syscall";
  auto deadline = std::chrono::steady_clock::now() + options_.wait_for_syscall;
  int sig = 0;
  for (;;) {
    if (::ptrace(PTRACE_SYSCALL, executor_, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0)
      return Error::sys(fmt::format("ptrace(PTRACE_SYSCALL, {})", executor_));
    sig = 0;
    auto st = wait_thread(executor_, deadline);
    if (!st) {
      // Stop it again so that release() finds it in a stop it can detach from.
      ::ptrace(PTRACE_INTERRUPT, executor_, nullptr, nullptr);
      auto again = wait_thread(executor_, std::chrono::steady_clock::now() + options_.wait_for_stop);
      if (!again) cand->stopped = false;
      return Error(fmt::format("pid {}: no thread entered a system call within {} ms", tgid_,
                               options_.wait_for_syscall.count()), ETIMEDOUT);
    }
    int status = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads_.erase(cand);
      return Error(fmt::format("pid {}: thread {} exited", tgid_, executor_), ESRCH);
    }
    if (is_syscall_stop(status)) break;
    if (!is_event_stop(status)) sig = WSTOPSIG(status);  // pass real signals on at once
  }
  auto regs = get_regs(executor_);
  if (!regs) return regs.error();
  syscall_insn_ = reg_pc(*regs) - kSyscallInsnLen;
  if (!is_syscall_insn_at(executor_, syscall_insn_))
    return Error(fmt::format("pid {}: thread {} entered a call through an unknown instruction "
                             "(32-bit int 0x80?)", tgid_, executor_), ENOTSUP);
  saved_regs_.assign(reinterpret_cast<const uint8_t*>(&*regs),
                     reinterpret_cast<const uint8_t*>(&*regs) + sizeof(ArchRegs));
  have_saved_ = true;
  saved_at_entry_ = true;
  at_entry_stop_ = true;
  return ok();
}

Result<void> StoppedProcess::step_to_syscall_stop() {
  auto deadline = std::chrono::steady_clock::now() + options_.wait_for_stop;
  int sig = 0;
  for (;;) {
    if (::ptrace(PTRACE_SYSCALL, executor_, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0)
      return Error::sys(fmt::format("ptrace(PTRACE_SYSCALL, {})", executor_));
    sig = 0;
    auto st = wait_thread(executor_, deadline);
    if (!st) return st.error();
    int status = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      std::erase_if(threads_, [&](const Thread& t) { return t.tid == executor_; });
      executor_ = 0;
      return Error(fmt::format("pid {} exited during a remote system call", tgid_), ESRCH);
    }
    if (is_syscall_stop(status)) return ok();
    // A signal for the executor on the way to its call: keep it for after detach (handling
    // it now would run the program's handler in the middle of our calls).
    if (!is_event_stop(status)) held_signals_.emplace_back(executor_, WSTOPSIG(status));
  }
}

Result<void> StoppedProcess::single_step_over_call(pid_t tid) {
  auto deadline = std::chrono::steady_clock::now() + options_.wait_for_stop;
  int sig = 0;
  for (;;) {
    if (::ptrace(PTRACE_SINGLESTEP, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0)
      return Error::sys(fmt::format("ptrace(PTRACE_SINGLESTEP, {})", tid));
    sig = 0;
    auto st = wait_thread(tid, deadline);
    if (!st) return st.error();
    int status = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      std::erase_if(threads_, [&](const Thread& t) { return t.tid == tid; });
      if (tid == executor_) executor_ = 0;
      return Error(fmt::format("pid {} exited during a remote system call", tgid_), ESRCH);
    }
    if (is_event_stop(status)) continue;
    if (WSTOPSIG(status) == SIGTRAP) {
      // The step's trap comes with the pc just after the instruction; a SIGTRAP with the pc
      // still on it is a real signal that arrived first.
      auto regs = get_regs(tid);
      if (!regs) return regs.error();
      if (reg_pc(*regs) == syscall_insn_ + kSyscallInsnLen) return ok();  // discarded at the next restart
    }
    // A signal for the thread before the call ran: keep it for after detach.
    held_signals_.emplace_back(tid, WSTOPSIG(status));
  }
}

Result<int64_t> StoppedProcess::syscall(long nr, std::array<uint64_t, 6> args) {
  if (released_ || executor_ == 0) return Error("remote system call on a released process", EINVAL);
  ArchRegs regs;
  std::memcpy(&regs, saved_regs_.data(), sizeof(regs));
  if (at_entry_stop_ && !used_entry_) {
    // At the entry of the thread's own call: replace it (it is run again at release()).
    reg_orig_nr(regs) = static_cast<RegWord>(nr);
    set_args(regs, args);
    ran_calls_ = true;
    SYSCHAOS_TRY(set_regs(executor_, regs));
    used_entry_ = true;
    SYSCHAOS_TRY(step_to_syscall_stop());  // exit
  } else {
    // Back to the thread's `syscall` instruction with our number and arguments.
    aim_at_call(regs, syscall_insn_, nr, args);
    ran_calls_ = true;
    SYSCHAOS_TRY(set_regs(executor_, regs));
    // One single-step runs the whole call (the kernel reports the step after the call
    // returns): one round trip instead of an entry and an exit stop.
    SYSCHAOS_TRY(single_step_over_call(executor_));
  }
  at_entry_stop_ = false;
  auto after = get_regs(executor_);
  if (!after) return after.error();
  // Between calls the thread holds the registers it will resume with, not ours: if this
  // process is SIGKILLed now, the kernel detaches it and it goes on with its own call (run
  // again, or restarted) instead of our result in its registers. Only the single-step
  // itself stays a window.
  SYSCHAOS_TRY(restore_executor());
  return static_cast<int64_t>(reg_result(*after));
}

Result<int64_t> StoppedProcess::syscall_in_thread(pid_t tid, long nr, std::array<uint64_t, 6> args) {
  if (tid == executor_) return syscall(nr, args);
  if (released_ || executor_ == 0) return Error("remote system call on a released process", EINVAL);
  auto t = std::find_if(threads_.begin(), threads_.end(), [&](const Thread& x) { return x.tid == tid; });
  if (t == threads_.end() || !t->stopped)
    return Error(fmt::format("pid {}: thread {} is not held", tgid_, tid), ESRCH);
  // Stepping from a signal-delivery stop would discard or deliver that signal now.
  if (t->pending_signal)
    return Error(fmt::format("pid {}: thread {} is stopped on signal {}; try again", tgid_, tid, t->pending_signal),
                 EAGAIN);
  auto saved = get_regs(tid);
  if (!saved) return saved.error();
  ArchRegs regs = *saved;
  // The executor's `syscall` instruction: same address space, and known to be one.
  aim_at_call(regs, syscall_insn_, nr, args);
  // Its own registers go back right after the call (a thread is used for a few calls only),
  // with a call the interrupt cut short set up to restart; doing this again on the restored
  // registers changes nothing (orig = -1).
  ArchRegs back = *saved;
  restart_interrupted_call(back);
  SYSCHAOS_TRY(set_regs(tid, regs));
  auto stepped = single_step_over_call(tid);
  if (!stepped) {
    // Best effort, so that a detach does not let it run our call from its pc; fails if the
    // thread is not in a stop any more.
    (void)set_regs(tid, back);
    return stepped.error();
  }
  auto after = get_regs(tid);
  auto restored = set_regs(tid, back);
  if (!after) return after.error();
  if (!restored) return restored.error();
  return static_cast<int64_t>(reg_result(*after));
}

std::vector<pid_t> StoppedProcess::thread_ids() const {
  std::vector<pid_t> out;
  if (executor_) out.push_back(executor_);
  for (const auto& t : threads_)
    if (t.tid != executor_) out.push_back(t.tid);
  return out;
}

Result<uint64_t> StoppedProcess::put_string(const std::string& s) {
  if (s.size() + 1 > 2 * 4096)
    return Error(fmt::format("path too long for a remote call: {}", s), ENAMETOOLONG);
  if (!scratch_) {
    auto r = syscall(ArchLayout::kMmapNr, {0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                static_cast<uint64_t>(-1), 0});
    if (!r) return r.error();
    if (*r < 0 && *r > -4096) return Error::sys(fmt::format("remote mmap in pid {}", tgid_), static_cast<int>(-*r));
    scratch_ = static_cast<uint64_t>(*r);
    scratch_size_ = 2 * 4096;
  }
  std::vector<uint8_t> bytes(s.begin(), s.end());
  bytes.push_back(0);
  SYSCHAOS_TRY(write_bytes(tgid_, scratch_, bytes));
  return scratch_;
}

Result<void> StoppedProcess::restore_executor() {
  if (!have_saved_ || executor_ == 0) return ok();
  // Nothing was run: the thread is still in the stop it was found in, registers untouched.
  if (!ran_calls_) return ok();
  ArchRegs regs;
  std::memcpy(&regs, saved_regs_.data(), sizeof(regs));
  if (saved_at_entry_) {
    // Its own call was replaced by ours: run it again from its `syscall` instruction.
    rewind_to_call(regs, syscall_insn_, reg_orig_nr(regs));
  } else {
    // The interrupt cut a call short. The kernel decided about restarting it when our stop
    // ended, with our registers; do now what it would have done with the thread's own.
    restart_interrupted_call(regs);
  }
  return set_regs(executor_, regs);
}

Result<void> StoppedProcess::release() {
  if (released_) return ok();
  released_ = true;
  Result<void> first_error;
  auto note = [&](Result<void> r) {
    if (!r && first_error) first_error = r;
  };
  // Threads seized but not yet stopped (an error cut stop() short) must stop before they
  // can be detached; a thread left seized would stop at its pending interrupt and stay
  // stopped for as long as this process lives, so wait long for it.
  note(wait_all_stopped(std::chrono::milliseconds(60'000)));
  if (executor_ && scratch_) {
    released_ = false;  // syscall() refuses on a released process
    auto r = syscall(SYS_munmap, {scratch_, scratch_size_});
    released_ = true;
    if (!r) note(r.error());
    scratch_ = 0;
  }
  note(restore_executor());
  for (const auto& t : threads_) {
    if (!t.stopped) continue;
    if (::ptrace(PTRACE_DETACH, t.tid, nullptr, reinterpret_cast<void*>(static_cast<long>(t.pending_signal))) != 0 &&
        errno != ESRCH)
      note(Error::sys(fmt::format("ptrace(PTRACE_DETACH, {})", t.tid)));
  }
  t_release_ = std::chrono::steady_clock::now();
  for (const auto& [tid, sig] : held_signals_) ::syscall(SYS_tgkill, tgid_, tid, sig);
  if (mask_saved_) ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  return first_error;
}

StoppedProcess::~StoppedProcess() { (void)release(); }

std::chrono::nanoseconds StoppedProcess::stopped_for() const {
  auto end = released_ ? t_release_ : std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(end - t_stop_);
}

}  // namespace syschaos::ptrace_engine
