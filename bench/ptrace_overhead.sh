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
source "$root/scripts/nginx-conf.sh"

build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
SYSCHAOS=${1:-${SYSCHAOS:-$build_dir/syschaos}}
DURATION=${DURATION:-8}
REPEAT=${REPEAT:-3}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
FILE=${FILE:-index.html}
RESULTS=${RESULTS:-$here/results/ptrace_overhead.md}
NEVER_RULE='openat:error=ENOENT:path=/nonexistent/*'
STRACE_ARGS=(-f -qq -o /dev/null -e trace=openat -e inject=openat:error=ENOENT:when=65535)

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (ptrace)"
for t in nginx wrk strace curl ss; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh"
done
[[ -x $SYSCHAOS ]] || die "no syschaos binary at $SYSCHAOS: run scripts/build.sh"

tmp=$(mktemp -d /tmp/syschaos-bench.XXXXXX)
chmod 755 "$tmp"
nginx_pid="" tracer_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # An nginx that already exited makes kill fail: that must not change the exit code.
  set +e
  [[ -n $tracer_pid ]] && { kill -INT "$tracer_pid" 2>/dev/null; wait "$tracer_pid" 2>/dev/null; }
  if [[ -n $nginx_pid ]]; then
    kill -QUIT "$nginx_pid" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the server --------------------------------------------------------------------------
port=$(free_port)
url=http://127.0.0.1:$port/$FILE
nginx_site "$tmp/html"
mkdir -p "$tmp/temp"
user=www-data; id "$user" >/dev/null 2>&1 || user=nobody
nginx_conf "listen 127.0.0.1:$port;" "$tmp/html" "$tmp/nginx.pid" "$tmp/temp" "$user" >"$tmp/nginx.conf"
nginx -e stderr -c "$tmp/nginx.conf" 2>"$tmp/nginx.log" &
nginx_pid=$!
for _ in $(seq 50); do
  [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" || true) == 200 ]] && break
  sleep 0.1
done
worker=$(pgrep -P "$nginx_pid" | head -n 1)
[[ -n $worker ]] || die "nginx did not start: $(cat "$tmp/nginx.log")"
log "nginx master $nginx_pid, worker $worker, serving $url"

# ---- measurement helpers -----------------------------------------------------------------
# cpu_ticks PID: user+system clock ticks of a process (all its threads) so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
ctx_switches() {
  awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s + 0}' \
    "/proc/$1/status" 2>/dev/null || echo 0
}
tick_us=$((1000000 / $(getconf CLK_TCK)))
# busy_ticks: CPU ticks the whole machine spent not idle so far.
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# reaped_ticks: CPU ticks of this shell's children it has waited for (wrk, once it exits).
reaped_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }

# to_ms VALUE: wrk's latency ("812.00us", "1.23ms", "1.02s") in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000;
    else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# run_wrk CONFIG RUN TRACER_PID: one wrk run; appends a line to $tmp/runs.tsv:
# config run rps p99_ms requests non2xx errors server_cpu_us tracer_cpu_us server_ctxsw other%
# where other% is the CPU that processes outside the benchmark took during the run (a run
# disturbed by, say, a compiler shows here).
run_wrk() {
  local config=$1 run=$2 tpid=${3:-}
  local s0 t0 c0 s1 t1 c1 b0 b1 w0 w1 out
  s0=$(cpu_ticks "$worker"); c0=$(ctx_switches "$worker")
  t0=0; [[ -n $tpid ]] && t0=$(cpu_ticks "$tpid")
  b0=$(busy_ticks); w0=$(reaped_ticks)
  out=$tmp/wrk.$config.$run.txt
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" >"$out" 2>&1 ||
    die "wrk failed: $(cat "$out")"
  s1=$(cpu_ticks "$worker"); c1=$(ctx_switches "$worker")
  t1=0; [[ -n $tpid ]] && t1=$(cpu_ticks "$tpid")
  b1=$(busy_ticks); w1=$(reaped_ticks)
  local other
  other=$(awk -v b=$((b1 - b0)) -v mine=$(((s1 - s0) + (t1 - t0) + (w1 - w0))) \
              -v hz="$(getconf CLK_TCK)" -v d="$DURATION" -v n="$(nproc)" \
              'BEGIN {o = (b - mine) / (hz * d * n) * 100; printf "%.1f", (o < 0 ? 0 : o)}')
  local rps p99 requests non2xx errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  requests=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out"); errors=${errors:-0}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$run" "$rps" "$p99" \
    "$requests" "$non2xx" "$errors" $(((s1 - s0) * tick_us)) $(((t1 - t0) * tick_us)) \
    $((c1 - c0)) "$other" >>"$tmp/runs.tsv"
  log "$(printf '%-9s run %d: %10.0f req/s  p99 %8.3f ms  (%s requests, %s non-2xx, %s socket errors, other load %s%%)' \
    "$config" "$run" "$rps" "$p99" "$requests" "$non2xx" "$errors" "$other")"
}

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
    [[ $(awk '/^TracerPid:/ {print $2}' "/proc/$worker/status") != 0 ]] && break
    sleep 0.1
  done
  sleep 0.5
}

stop_tracer() {
  kill -INT "$tracer_pid" 2>/dev/null || true
  wait "$tracer_pid" 2>/dev/null || true
  tracer_pid=""
  # The worker must be untraced again before the next configuration.
  for _ in $(seq 50); do
    [[ $(awk '/^TracerPid:/ {print $2}' "/proc/$worker/status") == 0 ]] && return 0
    sleep 0.1
  done
  die "worker $worker still traced after the tracer stopped"
}

run_config() {
  local config=$1 run=$2
  case $config in
    baseline)
      run_wrk baseline "$run" ;;
    syschaos)
      "$SYSCHAOS" inject --pid "$worker" --fault "$NEVER_RULE" 2>"$tmp/syschaos.$run.err" &
      tracer_pid=$!
      wait_attached "$tracer_pid" "$tmp/syschaos.$run.err" injecting
      run_wrk syschaos "$run" "$tracer_pid"
      stop_tracer ;;
    strace)
      strace "${STRACE_ARGS[@]}" -p "$worker" 2>"$tmp/strace.$run.err" &
      tracer_pid=$!
      wait_attached "$tracer_pid" "$tmp/strace.$run.err" ""
      run_wrk strace "$run" "$tracer_pid"
      stop_tracer ;;
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
tracer_pid=$!
wait_attached "$tracer_pid" /dev/null ""
wrk -t1 -c1 -d3s "$url" >"$tmp/wrk.profile.txt" 2>&1
stop_tracer
profile_requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.profile.txt")

# ---- the report --------------------------------------------------------------------------
median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# Runs that other processes disturbed (other load above QUIET_PCT) are left out of the
# summary when every configuration has at least one quiet run; the table of runs shows all.
QUIET_PCT=${QUIET_PCT:-5}
awk -F'\t' -v q="$QUIET_PCT" '$11 <= q' "$tmp/runs.tsv" >"$tmp/quiet.tsv"
summary_runs=$tmp/quiet.tsv
summary_note="medians of the runs with other load <= ${QUIET_PCT}%"
for c in baseline syschaos strace; do
  if ! awk -F'\t' -v c="$c" '$1 == c {f = 1} END {exit !f}' "$tmp/quiet.tsv"; then
    summary_runs=$tmp/runs.tsv
    summary_note="medians of all runs (WARNING: no quiet run for $c: other processes disturbed the measurement)"
    log "WARNING: every $c run was disturbed by other processes; figures are noisy"
    break
  fi
done
col() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c {print $k}' "$summary_runs"; }
# per_request CONFIG FIELD: the sum of FIELD over CONFIG's runs / its requests.
per_request() {
  awk -F'\t' -v c="$1" -v k="$2" '$1 == c {s += $k; n += $5} END {printf "%.1f", (n ? s / n : 0)}' \
    "$summary_runs"
}
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
