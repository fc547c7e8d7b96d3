#!/usr/bin/env bash
# What attaching costs a real server: nginx (a local process, one worker, not in Docker to
# keep container networking out of the noise) serving a small file on 127.0.0.1 under wrk,
# in three configurations measured in one run, interleaved, REPEAT times each:
#   baseline  nothing attached
#   syschaos  syschaos inject --pid WORKER with a rule that never fires
#             (openat:error=ENOENT:path=/nonexistent/*)
#   strace    strace -f -qq -o /dev/null -e trace=openat -e inject=openat:error=ENOENT:when=65535
#             -p WORKER: ChaosOrca's mechanism with a rule that (almost) never fires. strace
#             6.1 does not inject with -e trace=none and caps when= at 65535, so the
#             65535th openat of a run would fail: the run is short enough to stay under it.
# Reports the median requests/s and p99 latency of each configuration, their ratios to the
# baseline, and where the cost goes (CPU time of the server and of the tracer per request,
# context switches and syscalls per request). Markdown on stdout and in
# bench/results/ptrace_overhead.md.
#
#   bash bench/ptrace_overhead.sh [path/to/syschaos]
#   DURATION=8 REPEAT=3 CONNECTIONS=8 THREADS=1 FILE=index.html   (defaults)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

SYSCHAOS=${1:-${SYSCHAOS:-$build_dir/syschaos}}
DURATION=${DURATION:-8}
REPEAT=${REPEAT:-3}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
FILE=${FILE:-index.html}
RESULTS=${RESULTS:-$here/results/ptrace_overhead.md}
NEVER_RULE='openat:error=ENOENT:path=/nonexistent/*'
STRACE_ARGS=(-f -qq -o /dev/null -e trace=openat -e inject=openat:error=ENOENT:when=65535)

[[ $(id -u) -eq 0 ]] || die "needs root (ptrace)"
require_tools nginx wrk strace curl ss
[[ -x $SYSCHAOS ]] || die "no syschaos binary at $SYSCHAOS: run scripts/build.sh"

bench_setup syschaos-bench
start_nginx

# ---- tracers (measurement helpers: bench/lib.sh) -------------------------------------------
# wait_attached PID FILE WORD: until FILE (a tracer's stderr) mentions WORD, then a moment for
# the attach itself to finish.
wait_attached() {
  local pid=$1 file=$2 word=$3
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || die "tracer exited early: $(cat "$file")"
    [[ -z $word ]] && break
    grep -q "$word" "$file" 2>/dev/null && break
    sleep 0.1
  done
  # Attached = the worker shows a tracer in /proc.
  for _ in $(seq 50); do
    [[ $(worker_tracer) != 0 ]] && break
    sleep 0.1
  done
  sleep 0.5
}

run_config() {
  local config=$1 run=$2
  case $config in
    baseline)
      run_wrk baseline "$run" ;;
    syschaos)
      "$SYSCHAOS" inject --pid "$worker" --fault "$NEVER_RULE" 2>"$tmp/syschaos.$run.err" &
      observer_pid=$!
      wait_attached "$observer_pid" "$tmp/syschaos.$run.err" injecting
      run_wrk syschaos "$run" "$observer_pid"
      stop_observer ;;
    strace)
      strace "${STRACE_ARGS[@]}" -p "$worker" 2>"$tmp/strace.$run.err" &
      observer_pid=$!
      wait_attached "$observer_pid" "$tmp/strace.$run.err" ""
      run_wrk strace "$run" "$observer_pid"
      stop_observer ;;
  esac
}

# ---- the run -----------------------------------------------------------------------------
log "warm-up (2 s)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$url" >/dev/null 2>&1
: >"$tmp/runs.tsv"
for ((r = 1; r <= REPEAT; r++)); do
  for config in baseline syschaos strace; do run_config "$config" "$r"; done
done

# Syscalls per request, and which: strace -c over a short run (counts only, no injection).
log "syscall profile of one request (strace -c, 3 s)"
strace -c -f -o "$tmp/profile.txt" -p "$worker" 2>/dev/null &
observer_pid=$!
wait_attached "$observer_pid" /dev/null ""
wrk -t1 -c1 -d3s "$url" >"$tmp/wrk.profile.txt" 2>&1
stop_observer
profile_requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.profile.txt")

# ---- the report --------------------------------------------------------------------------
QUIET_PCT=${QUIET_PCT:-5}
choose_summary_runs baseline syschaos strace
declare -A rps p99
for c in baseline syschaos strace; do
  rps[$c]=$(col "$c" 3 | median)
  p99[$c]=$(col "$c" 4 | median)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

syscalls_seen=$(cat "$tmp"/syschaos.*.err 2>/dev/null |
  sed -nE 's/.* ([0-9]+) syscalls seen.*/\1/p' | awk '{s += $1} END {print s + 0}')
syschaos_requests=$(awk -F'\t' '$1 == "syschaos" {n += $5} END {print n + 0}' "$tmp/runs.tsv")
never_fired=$(cat "$tmp"/syschaos.*.err 2>/dev/null |
  awk '$1 == "rule" {for (i = 2; i <= NF; i++) if ($i == "injected") c = i; next}
       c && $1 ~ /^[0-9]+$/ {s += $c} END {print s + 0}')

report() {
  echo "# ptrace overhead: nginx under wrk, baseline vs syschaos vs strace"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
  echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}'), strace $(strace -V | sed -nE "1s/.*version ([0-9.]+).*/\1/p"), syschaos $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')"
  echo
  echo "Load: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency $url\` (the file ${FILE}, $(stat -c %s "$tmp/html/$FILE") bytes), one local nginx worker; $REPEAT interleaved runs per configuration; $summary_note."
  echo
  echo "| configuration | requests/s | p99 latency (ms) | throughput vs baseline | p99 vs baseline | server CPU µs/req | tracer CPU µs/req | server context switches/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  local c
  for c in baseline syschaos strace; do
    printf '| %s | %.0f | %.3f | %s× | %s× | %s | %s | %s |\n' "$c" "${rps[$c]}" "${p99[$c]}" \
      "$(ratio "${rps[$c]}" "${rps[baseline]}")" "$(ratio "${p99[$c]}" "${p99[baseline]}")" \
      "$(per_request "$c" 8)" "$(per_request "$c" 9)" "$(per_request "$c" 10)"
  done
  echo
  echo "syschaos vs strace: throughput $(ratio "${rps[syschaos]}" "${rps[strace]}")×, p99 latency $(ratio "${p99[syschaos]}" "${p99[strace]}")× (throughput > 1 and p99 < 1 mean syschaos is faster)."
  echo
  echo "Rules: syschaos \`--fault '$NEVER_RULE'\` (injected $never_fired times); strace \`${STRACE_ARGS[*]}\`."
  if ((syschaos_requests > 0 && syscalls_seen > 0)); then
    echo "syschaos saw $syscalls_seen syscalls for $syschaos_requests requests: $(ratio "$syscalls_seen" "$syschaos_requests") syscalls per request, each one a syscall-entry and a syscall-exit stop."
  fi
  echo
  echo "Every run (server and tracer CPU in µs over the run; other load: CPU share taken by processes outside the benchmark, a disturbed run shows here):"
  echo
  echo "| configuration | run | requests/s | p99 ms | requests | non-2xx | socket errors | server CPU µs | tracer CPU µs | server context switches | other load % |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' -v OFS=' | ' '{$1 = $1; print "| " $0 " |"}' "$tmp/runs.tsv"
  echo
  echo "Syscalls per request (\`strace -c -f -p WORKER\` over $profile_requests requests, one connection):"
  echo
  echo '```'
  awk -v n="$profile_requests" '
    /^-/ || /^% time/ {next}
    NF >= 5 && $4 ~ /^[0-9]+$/ { printf "%-16s %8.2f per request\n", $NF, $4 / n }' "$tmp/profile.txt"
  echo '```'
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
log "results written to $RESULTS"
