// Making a stopped process run system calls on syschaos's behalf (dup3, openat, mmap, chdir,
// ...), the way CRIU's compel and reptyr do, but without writing any machine code into it.
//
// How: every thread of the process is seized and interrupted (PTRACE_SEIZE +
// PTRACE_INTERRUPT, no SIGSTOP). One thread becomes the executor. A `syschaos`-written
// instruction is never needed, because a thread that the interrupt caught inside a system
// call (orig_rax >= 0: nginx in epoll_wait, a shell in wait4, any sleeper) has just run a
// `syscall` instruction of its own libc or vDSO, two bytes before its instruction pointer.
// The executor's registers are pointed at that instruction with our number and arguments,
// and the thread single-steps over it: the kernel runs the whole call and reports the step
// once it has returned, with the result in the result register (one round trip per call). If no thread is in a system call (all of them compute), one thread is
// resumed with PTRACE_SYSCALL until it enters one, and its own call is replaced.
//
// At the end the executor's registers are restored. A call that the interrupt cut short
// (-ERESTARTSYS and friends) is restarted exactly as the kernel would have done had no
// tracer been there: instruction pointer back over the `syscall` instruction, number back in
// rax. The kernel's own restart step ran when the interrupt stop ended, on our registers
// (orig = -1: nothing to restart); whether it runs again on the way out of our last call
// depends on pending-work flags, so syschaos does it itself and sets orig = -1, which gives
// the same result in both cases (the fs_holder integration test blocks threads in read()
// and nanosleep() and checks they never see EINTR or a restart code). Signals that arrive
// meanwhile are kept and delivered after detach.
//
// Why not the alternatives: writing a `syscall` instruction (or a whole blob, as Chaos Mesh
// does) into the tracee needs per-architecture machine code and a writable-executable page;
// scanning the vDSO for the opcode bytes can land in the middle of another instruction
// without a disassembler. Reusing the instruction the thread itself just executed is exact.
// Porting: the register layout and the syscall instruction's bytes are one ArchLayout in the
// .cpp (x86-64 only so far). Elsewhere stop() fails at run time with "not ported to <arch>"
// instead of breaking the build; the .cpp says why aarch64 needs more than a table.
//
// One StoppedProcess is used from ONE thread: ptrace requests come from the thread that
// seized. The process is stopped from stop() until release() (or the destructor); the time
// in between is what stopped_for() reports.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::ptrace_engine {

class StoppedProcess {
 public:
  struct Options {
    // How long to let one thread run until it enters a system call, when none is in one.
    std::chrono::milliseconds wait_for_syscall{2000};
    // How long a thread may take to reach its interrupt stop (a thread waiting in the
    // kernel uninterruptibly, e.g. on a slow FUSE request, stops only when that ends).
    std::chrono::milliseconds wait_for_stop{5000};
  };

  // Seizes and interrupts every thread of tgid. Errors: the process is gone, it is already
  // traced ("already traced by pid N"), no thread could be made to run a system call.
  static Result<std::unique_ptr<StoppedProcess>> stop(pid_t tgid, Options options);
  static Result<std::unique_ptr<StoppedProcess>> stop(pid_t tgid) { return stop(tgid, Options{}); }

  ~StoppedProcess();  // release(), ignoring errors
  StoppedProcess(const StoppedProcess&) = delete;
  StoppedProcess& operator=(const StoppedProcess&) = delete;

  // Runs one system call in the process (as its executor thread, with its credentials,
  // namespaces, root and working directory). Returns the raw kernel result: >= 0, or -errno.
  // An Error means the call could not be run at all (the process died, ptrace failed).
  Result<int64_t> syscall(long nr, std::array<uint64_t, 6> args = {});

  // The same, run by thread `tid` of the process instead of the executor: for what belongs
  // to a thread rather than to the process (a working directory or root of its own after
  // unshare(CLONE_FS), an fd table of its own after unshare(CLONE_FILES)). The thread jumps
  // to the executor's `syscall` instruction (same address space), single-steps over it, and
  // gets its registers back with an interrupted call of its own restarted as the kernel
  // would have (see above). Errors: tid is not a stopped thread of the process, it is
  // stopped on a signal (EAGAIN), ptrace failed, it exited.
  Result<int64_t> syscall_in_thread(pid_t tid, long nr, std::array<uint64_t, 6> args = {});

  // The threads held, the executor first.
  std::vector<pid_t> thread_ids() const;

  // A NUL-terminated copy of s in the process's memory (a scratch page mapped on first use
  // and unmapped by release()); valid until the next put_string() call.
  Result<uint64_t> put_string(const std::string& s);

  // Restores the executor's registers, unmaps the scratch page, detaches every thread and
  // re-delivers signals that arrived while stopped. Idempotent.
  Result<void> release();

  pid_t pid() const { return tgid_; }
  pid_t executor() const { return executor_; }
  size_t thread_count() const { return threads_.size(); }
  // From the first PTRACE_INTERRUPT to the last detach (or to now, before release()).
  std::chrono::nanoseconds stopped_for() const;
  // How the executor was found: "in-syscall" (reused the instruction of a call the interrupt
  // caught) or "waited-for-syscall" (let it run into its next call).
  const std::string& executor_mode() const { return executor_mode_; }

 private:
  struct Thread {
    pid_t tid = 0;
    bool stopped = false;       // reached a ptrace stop we know of
    int pending_signal = 0;     // a signal-delivery stop: re-deliver at detach
  };
  StoppedProcess(pid_t tgid, Options options) : tgid_(tgid), options_(options) {}
  Result<void> seize_all();
  Result<void> wait_all_stopped(std::chrono::milliseconds patience);
  Result<void> choose_executor();
  // Resumes the executor with PTRACE_SYSCALL and waits for its next syscall stop.
  Result<void> step_to_syscall_stop();
  // Single-steps thread tid (set up at syscall_insn_) over the `syscall` instruction (the
  // whole call runs).
  Result<void> single_step_over_call(pid_t tid);
  Result<void> restore_executor();

  pid_t tgid_;
  Options options_;
  std::vector<Thread> threads_;
  pid_t executor_ = 0;
  std::string executor_mode_;
  bool have_saved_ = false;
  std::vector<uint8_t> saved_regs_;  // the executor's registers at its stop (arch struct)
  bool saved_at_entry_ = false;      // saved at a syscall-entry stop (waited-for-syscall)
  bool at_entry_stop_ = false;       // the executor now sits at a syscall-entry stop
  bool used_entry_ = false;          // the entry stop's own call was already replaced
  bool ran_calls_ = false;           // registers were changed: restore them
  uint64_t syscall_insn_ = 0;        // address of the executor's `syscall` instruction
  // Signals that arrived at a thread (tid, signal) while it ran our calls: sent again after
  // detach.
  std::vector<std::pair<pid_t, int>> held_signals_;
  uint64_t scratch_ = 0;
  size_t scratch_size_ = 0;
  bool released_ = false;
  sigset_t old_mask_{};  // the calling thread's mask before SIGCHLD was blocked
  bool mask_saved_ = false;
  std::chrono::steady_clock::time_point t_stop_;
  std::chrono::steady_clock::time_point t_release_;
};

}  // namespace syschaos::ptrace_engine
