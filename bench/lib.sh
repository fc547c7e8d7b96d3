# shellcheck shell=bash
# Sourced by the nginx/wrk benchmarks (ptrace_overhead.sh, monitor_overhead.sh,
# http_workload.sh): one way to set up the local nginx they measure, to clean up after it,
# and to take and summarize a wrk run, so the figures of the three stay comparable.
# The sourcing script sets `here` (bench/) and `root` (the repository) first.
#
# Sets: build_dir (BUILD_DIR, default build, made absolute), hz, tick_us.
# A script that starts an observer (tracer, monitor) keeps its pid in `observer_pid`: the
# cleanup interrupts it before it stops nginx.

# shellcheck source=scripts/nginx-conf.sh
source "$root/scripts/nginx-conf.sh"

build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# require_tools TOOL...: dies naming the first one missing.
require_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh (apt-get install $t)"
  done
}

# ---- set-up and clean-up -------------------------------------------------------------------

nginx_pid="" observer_pid="" tmp=""

# bench_setup PREFIX: a scratch directory in $tmp (readable by nginx's unprivileged worker)
# and the traps that stop the observer and nginx and remove it, whatever ends the script.
bench_setup() {
  tmp=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$tmp"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # An nginx or observer that already exited makes kill fail: that must not change the exit code.
  set +e
  [[ -n $observer_pid ]] && { kill -INT "$observer_pid" 2>/dev/null; wait "$observer_pid" 2>/dev/null; }
  if [[ -n $nginx_pid ]]; then
    kill -QUIT "$nginx_pid" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
  fi
  [[ -n $tmp ]] && rm -rf "$tmp"
  exit "$rc"
}

# start_nginx [WORKER_CONNECTIONS]: a local nginx (one worker, scripts/nginx-conf.sh) serving
# nginx_site's files from $tmp/html on a free port of 127.0.0.1; returns once $FILE (default
# index.html) answers 200. Sets port, url, nginx_pid and worker (the worker's pid).
start_nginx() {
  local connections=${1:-}
  port=$(free_port) || die "no free port on 127.0.0.1"
  url=http://127.0.0.1:$port/${FILE:-index.html}
  nginx_site "$tmp/html"
  mkdir -p "$tmp/temp"
  local user=www-data
  id "$user" >/dev/null 2>&1 || user=nobody
  nginx_conf "listen 127.0.0.1:$port;" "$tmp/html" "$tmp/nginx.pid" "$tmp/temp" "$user" >"$tmp/nginx.conf"
  [[ -n $connections ]] && sed -i "s/worker_connections 512;/worker_connections $connections;/" "$tmp/nginx.conf"
  nginx -e stderr -c "$tmp/nginx.conf" 2>"$tmp/nginx.log" &
  nginx_pid=$!
  local up=""
  for _ in $(seq 50); do
    [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" || true) == 200 ]] && { up=1; break; }
    sleep 0.1
  done
  worker=$(pgrep -P "$nginx_pid" | head -n 1 || true)
  [[ -n $up && -n $worker ]] || die "nginx did not start: $(cat "$tmp/nginx.log")"
  log "nginx master $nginx_pid, worker $worker, serving $url"
}

# worker_tracer: the pid tracing the nginx worker (0 when none).
worker_tracer() { awk '/^TracerPid:/ {print $2}' "/proc/$worker/status"; }

# stop_observer: interrupts $observer_pid and waits until the worker is untraced again (the
# next configuration must start from a worker nothing holds).
stop_observer() {
  kill -INT "$observer_pid" 2>/dev/null || true
  wait "$observer_pid" 2>/dev/null || true
  observer_pid=""
  for _ in $(seq 50); do
    [[ $(worker_tracer) == 0 ]] && return 0
    sleep 0.1
  done
  die "worker $worker still traced after the observer stopped"
}

# ---- measuring a wrk run -------------------------------------------------------------------

# cpu_ticks PID: user+system clock ticks of a process (all its threads) so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
ctx_switches() {
  awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s + 0}' \
    "/proc/$1/status" 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)
tick_us=$((1000000 / hz))
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

# run_wrk CONFIG RUN [OBSERVER_PID]: one wrk run of DURATION seconds (WRK_DURATION overrides)
# on $url with THREADS and CONNECTIONS; appends a line to $tmp/runs.tsv (RUNS_FILE overrides):
# config run rps p99_ms requests non2xx errors server_cpu_us observer_cpu_us server_ctxsw other%
# where other% is the CPU that processes outside the benchmark took during the run (a run
# disturbed by, say, a compiler shows here).
run_wrk() {
  local config=$1 run=$2 opid=${3:-}
  local duration=${WRK_DURATION:-$DURATION} runs_file=${RUNS_FILE:-$tmp/runs.tsv}
  local s0 o0 c0 s1 o1 c1 b0 b1 w0 w1 out
  s0=$(cpu_ticks "$worker"); c0=$(ctx_switches "$worker")
  o0=0; [[ -n $opid ]] && o0=$(cpu_ticks "$opid")
  b0=$(busy_ticks); w0=$(reaped_ticks)
  out=$tmp/wrk.$config.$run.txt
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${duration}s" --latency "$url" >"$out" 2>&1 ||
    die "wrk failed: $(cat "$out")"
  s1=$(cpu_ticks "$worker"); c1=$(ctx_switches "$worker")
  o1=0; [[ -n $opid ]] && o1=$(cpu_ticks "$opid")
  b1=$(busy_ticks); w1=$(reaped_ticks)
  local other
  other=$(awk -v b=$((b1 - b0)) -v mine=$(((s1 - s0) + (o1 - o0) + (w1 - w0))) \
              -v hz="$hz" -v d="$duration" -v n="$(nproc)" \
              'BEGIN {o = (b - mine) / (hz * d * n) * 100; printf "%.1f", (o < 0 ? 0 : o)}')
  local rps p99 requests non2xx errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  requests=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out"); errors=${errors:-0}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$run" "$rps" "$p99" \
    "$requests" "$non2xx" "$errors" $(((s1 - s0) * tick_us)) $(((o1 - o0) * tick_us)) \
    $((c1 - c0)) "$other" >>"$runs_file"
  log "$(printf '%-9s run %s: %10.0f req/s  p99 %8.3f ms  (%s requests, %s non-2xx, %s socket errors, other load %s%%)' \
    "$config" "$run" "$rps" "$p99" "$requests" "$non2xx" "$errors" "$other")"
}

# ---- summarizing the runs ------------------------------------------------------------------

median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# choose_summary_runs CONFIG...: the runs of $tmp/runs.tsv the summary takes. Runs that other
# processes disturbed (other load above QUIET_PCT) are left out when every configuration has
# at least one quiet run; the table of runs shows all. Sets summary_runs (a file) and
# summary_note (what the medians are of).
choose_summary_runs() {
  awk -F'\t' -v q="$QUIET_PCT" '$11 <= q' "$tmp/runs.tsv" >"$tmp/quiet.tsv"
  summary_runs=$tmp/quiet.tsv
  summary_note="medians of the runs with other load <= ${QUIET_PCT}%"
  local c
  for c in "$@"; do
    if ! awk -F'\t' -v c="$c" '$1 == c {f = 1} END {exit !f}' "$tmp/quiet.tsv"; then
      summary_runs=$tmp/runs.tsv
      summary_note="medians of all runs (WARNING: no quiet run for $c: other processes disturbed the measurement)"
      log "WARNING: every $c run was disturbed by other processes; figures are noisy"
      break
    fi
  done
}
# col CONFIG FIELD: FIELD of CONFIG's summary runs, one a line.
col() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c {print $k}' "$summary_runs"; }
# per_request CONFIG FIELD: the sum of FIELD over CONFIG's summary runs / its requests.
per_request() {
  awk -F'\t' -v c="$1" -v k="$2" '$1 == c {s += $k; n += $5} END {printf "%.1f", (n ? s / n : 0)}' \
    "$summary_runs"
}
