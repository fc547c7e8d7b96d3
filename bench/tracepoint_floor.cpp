// tracepoint_floor: attaches bpf/tracepoint_floor.bpf.c's two empty programs to
// raw_syscalls:sys_enter and sys_exit and keeps them attached until SIGINT or SIGTERM (or
// for SECONDS when given). What every process on the machine then pays per system call is
// the floor of any monitor built on the raw syscall tracepoints; bench/monitor_overhead.sh
// measures it next to the baseline and syschaos. Prints "floor attached" on stderr once
// attached; on exit, how often the programs ran and (with kernel.bpf_stats_enabled=1) their
// mean run time.
//
//   tracepoint_floor [SECONDS]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tracepoint_floor.skel.h"

namespace {

volatile sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

void print_stats(const char* name, bpf_program* program) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &len) != 0) return;
  std::fprintf(stderr, "%s: %llu runs", name, static_cast<unsigned long long>(info.run_cnt));
  if (info.run_cnt && info.run_time_ns)
    std::fprintf(stderr, ", %.1f ns per run (bpf_stats)",
                 static_cast<double>(info.run_time_ns) / static_cast<double>(info.run_cnt));
  std::fprintf(stderr, "\n");
}

}  // namespace

int main(int argc, char** argv) {
  long seconds = 0;
  if (argc > 2 || (argc == 2 && (seconds = std::atol(argv[1])) <= 0)) {
    std::fprintf(stderr, "usage: tracepoint_floor [SECONDS]\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  tracepoint_floor_bpf* skel = tracepoint_floor_bpf__open_and_load();
  if (!skel) {
    std::fprintf(stderr, "tracepoint_floor: loading the BPF programs: %s\n", std::strerror(errno));
    return 1;
  }
  int rc = tracepoint_floor_bpf__attach(skel);
  if (rc != 0) {
    std::fprintf(stderr, "tracepoint_floor: attaching to raw_syscalls:sys_enter/sys_exit: %s\n",
                 std::strerror(-rc));
    tracepoint_floor_bpf__destroy(skel);
    return 1;
  }
  std::fprintf(stderr, "floor attached\n");
  for (long waited = 0; !stop && (seconds == 0 || waited < seconds * 10); ++waited) ::usleep(100000);
  print_stats("floor_sys_enter", skel->progs.floor_sys_enter);
  print_stats("floor_sys_exit", skel->progs.floor_sys_exit);
  tracepoint_floor_bpf__destroy(skel);
  return 0;
}
