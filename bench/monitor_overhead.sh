#!/usr/bin/env bash
# What watching costs a real server, and how fast the monitor can count:
#
# 1. nginx (a local process, one worker, as in bench/ptrace_overhead.sh) serving a small file
#    on 127.0.0.1 under wrk, in five configurations measured in one run, interleaved, REPEAT
#    times each:
#      baseline  nothing attached
#      floor     bench/tracepoint_floor: two EMPTY tp_btf programs on raw_syscalls:sys_enter
#                and sys_exit. What any monitor built on the raw syscall tracepoints (as the
#                issue asks) pays on this machine before doing anything: the kernel's slow
#                syscall path for every thread plus two program dispatches per call.
#      syschaos  syschaos monitor --pid WORKER --no-view --out FILE.jsonl (counts per syscall
#                and errno, log2 latency histograms per syscall: always on; read and reset
#                every second, one JSONL record per second)
#      strace    strace -c -f -p WORKER -o /dev/null (counts, errors and time per syscall)
#      bpftrace  bench/monitor_overhead.bt: the same aggregation as syschaos, per syscall and
#                errno and a log2 latency histogram per syscall, for the worker's pid, on
#                tracepoint:raw_syscalls:sys_enter/sys_exit, printed and cleared every second
#    Reports the median requests/s and p99 latency of each, their ratios to the baseline, the
#    CPU time of the server and of the observer per request, and the syscalls per request
#    syschaos counted (checked against the requests wrk made). Then PAIRS rounds of short
#    runs, baseline, floor and syschaos back to back (order rotating), whose median ratios
#    resist the drift of a shared machine. The issue's goal: syschaos costs at most 3% of
#    the throughput; the floor says how much of any monitor's cost is the mechanism's.
# 2. The highest syscall rate: monitor_workload (tests/integration/programs) calls getppid in
#    a tight loop on SPIN_THREADS threads, SPIN_COUNT times each: alone, with the floor's
#    empty programs attached, while syschaos watches another process (what attaching costs
#    the rest of the machine), and under `syschaos monitor -- PROG`, SPIN_REPEAT times
#    interleaved; reports the calls/s handled
#    and checks that the counted total equals the program's own count exactly.
#
# Markdown on stdout and in bench/results/monitor_overhead.md.
#
#   bash bench/monitor_overhead.sh [path/to/syschaos]
#   (the floor's loader is looked for next to it, in bench/tracepoint_floor; FLOOR=path overrides)
#   DURATION=8 REPEAT=5 CONNECTIONS=8 THREADS=1 FILE=index.html QUIET_PCT=5
#   PAIRS=15 PAIR_DURATION=3 SPIN_THREADS=2 SPIN_COUNT=5000000 SPIN_REPEAT=3   (defaults)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

SYSCHAOS=${1:-${SYSCHAOS:-$build_dir/syschaos}}
FLOOR=${FLOOR:-$(dirname "$SYSCHAOS")/bench/tracepoint_floor}
DURATION=${DURATION:-8}
REPEAT=${REPEAT:-5}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
FILE=${FILE:-index.html}
QUIET_PCT=${QUIET_PCT:-5}
SPIN_THREADS=${SPIN_THREADS:-2}
SPIN_COUNT=${SPIN_COUNT:-5000000}
SPIN_REPEAT=${SPIN_REPEAT:-3}
PAIRS=${PAIRS:-15}
PAIR_DURATION=${PAIR_DURATION:-3}
RESULTS=${RESULTS:-$here/results/monitor_overhead.md}
BPFTRACE_SCRIPT=$here/monitor_overhead.bt
CONFIGS=(baseline floor syschaos strace bpftrace)
PAIR_CONFIGS=(baseline floor syschaos)

[[ $(id -u) -eq 0 ]] || die "needs root (BPF, ptrace)"
require_tools nginx wrk strace bpftrace curl ss jq cc
[[ -x $SYSCHAOS ]] || die "no syschaos binary at $SYSCHAOS: run scripts/build.sh"
[[ -x $FLOOR ]] || die "no tracepoint_floor binary at $FLOOR: build the tracepoint_floor target"
# bpftrace finds tracepoints in tracefs; a minimal VM may not have mounted it.
if [[ ! -d /sys/kernel/tracing/events/raw_syscalls ]]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
    die "tracefs is not mounted at /sys/kernel/tracing and cannot be (bpftrace needs it)"
fi

bench_setup syschaos-monbench

workload=$tmp/monitor_workload
cc -O2 -pthread -o "$workload" "$root/tests/integration/programs/monitor_workload.c" ||
  die "cannot build monitor_workload"

# ---- the server --------------------------------------------------------------------------
start_nginx

# ---- observers (measurement helpers: bench/lib.sh) -----------------------------------------
# wait_ready PID FILE WORD: until FILE (the observer's output) mentions WORD, then a moment
# for the attach to settle.
wait_ready() {
  local pid=$1 file=$2 word=$3
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || die "observer exited early: $(cat "$file")"
    grep -q "$word" "$file" 2>/dev/null && { sleep 0.5; return 0; }
    sleep 0.1
  done
  die "observer not ready after 10 s: $(cat "$file")"
}

# wait_traced: strace has seized the worker (TracerPid set).
wait_traced() {
  for _ in $(seq 100); do
    kill -0 "$observer_pid" 2>/dev/null || die "strace exited early"
    [[ $(worker_tracer) != 0 ]] && { sleep 0.5; return 0; }
    sleep 0.1
  done
  die "strace did not attach"
}

run_config() {
  local config=$1 run=$2
  case $config in
    baseline)
      run_wrk baseline "$run" ;;
    floor)
      "$FLOOR" 2>"$tmp/floor.$run.err" &
      observer_pid=$!
      wait_ready "$observer_pid" "$tmp/floor.$run.err" "floor attached"
      run_wrk floor "$run" "$observer_pid"
      stop_observer ;;
    syschaos)
      "$SYSCHAOS" monitor --pid "$worker" --no-view --out "$tmp/syschaos.$run.jsonl" 2>"$tmp/syschaos.$run.err" &
      observer_pid=$!
      wait_ready "$observer_pid" "$tmp/syschaos.$run.err" "monitoring"
      # The first record: from here on every call is counted.
      for _ in $(seq 30); do [[ -s $tmp/syschaos.$run.jsonl ]] && break; sleep 0.1; done
      local before
      before=$(wc -l <"$tmp/syschaos.$run.jsonl")
      run_wrk syschaos "$run" "$observer_pid"
      stop_observer
      grep -q 'monitor ended' "$tmp/syschaos.$run.err" || die "syschaos monitor did not end cleanly: $(cat "$tmp/syschaos.$run.err")"
      # Counts over the run: every record after the ones written before wrk started.
      tail -n +"$((before + 1))" "$tmp/syschaos.$run.jsonl" |
        jq -s -r '[(map(.total_calls) | add // 0), ([.[].syscalls[] | select(.name == "writev") | .calls] | add // 0),
                   (map(.events_lost) | add // 0)] | @tsv' >"$tmp/syschaos.$run.counts" ;;
    strace)
      strace -c -f -p "$worker" -o /dev/null 2>"$tmp/strace.$run.err" &
      observer_pid=$!
      wait_traced
      run_wrk strace "$run" "$observer_pid"
      stop_observer ;;
    bpftrace)
      bpftrace -o "$tmp/bpftrace.$run.out" "$BPFTRACE_SCRIPT" "$worker" 2>"$tmp/bpftrace.$run.err" &
      observer_pid=$!
      wait_ready "$observer_pid" "$tmp/bpftrace.$run.out" "Attaching"
      run_wrk bpftrace "$run" "$observer_pid"
      stop_observer ;;
  esac
}

# ---- part 1: nginx under wrk ---------------------------------------------------------------
log "warm-up (2 s)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$url" >/dev/null 2>&1
: >"$tmp/runs.tsv"
for ((r = 1; r <= REPEAT; r++)); do
  # Rotate the order each round so no configuration always runs right after another.
  for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
    run_config "${CONFIGS[$(((k + r - 1) % ${#CONFIGS[@]}))]}" "$r"
  done
done

# ---- part 1b: floor and syschaos against the baseline in short rounds ---------------------
# On a shared VM the host's load comes and goes over tens of seconds, which moves the
# baseline itself by 20% or more between runs. Rounds of short runs, back to back (order
# rotating), see nearly the same machine; the median of the per-round ratios is the cost.
: >"$tmp/pairs.tsv"
for ((p = 1; p <= PAIRS; p++)); do
  for ((k = 0; k < ${#PAIR_CONFIGS[@]}; k++)); do
    c=${PAIR_CONFIGS[$(((k + p - 1) % ${#PAIR_CONFIGS[@]}))]}
    RUNS_FILE=$tmp/pairs.tsv WRK_DURATION=$PAIR_DURATION run_config "$c" "p$p"
  done
done

# ---- part 2: the highest syscall rate --------------------------------------------------------
: >"$tmp/spin.tsv"
expected=$((SPIN_THREADS * SPIN_COUNT))
for ((r = 1; r <= SPIN_REPEAT; r++)); do
  read -r made secs < <("$workload" spin "$SPIN_THREADS" "$SPIN_COUNT")
  printf 'alone\t%s\t%s\t%s\t%s\n' "$r" "$made" "$secs" "-" >>"$tmp/spin.tsv"
  "$FLOOR" 2>"$tmp/spin.floor.$r.err" &
  observer_pid=$!
  wait_ready "$observer_pid" "$tmp/spin.floor.$r.err" "floor attached"
  read -r made secs < <("$workload" spin "$SPIN_THREADS" "$SPIN_COUNT")
  printf 'floor\t%s\t%s\t%s\t%s\n' "$r" "$made" "$secs" "-" >>"$tmp/spin.tsv"
  kill -INT "$observer_pid"; wait "$observer_pid" || true; observer_pid=""
  # The tax on processes that are not targets: the programs run on every syscall of the
  # machine while attached and return at the target filter. Here syschaos watches the
  # (idle) nginx master, and the spinning program is not a target.
  "$SYSCHAOS" monitor --pid "$nginx_pid" --no-view 2>"$tmp/spin.other.$r.err" &
  observer_pid=$!
  wait_ready "$observer_pid" "$tmp/spin.other.$r.err" "monitoring"
  read -r made secs < <("$workload" spin "$SPIN_THREADS" "$SPIN_COUNT")
  printf 'other\t%s\t%s\t%s\t%s\n' "$r" "$made" "$secs" "-" >>"$tmp/spin.tsv"
  kill -INT "$observer_pid"; wait "$observer_pid" || true; observer_pid=""
  out=$("$SYSCHAOS" monitor --no-view --out "$tmp/spin.$r.jsonl" -- "$workload" spin "$SPIN_THREADS" "$SPIN_COUNT" \
          2>"$tmp/spin.$r.err") || die "syschaos monitor -- monitor_workload spin failed: $(cat "$tmp/spin.$r.err")"
  read -r made secs <<<"$out"
  counted=$(jq -s '[.[].syscalls[] | select(.name == "getppid") | .calls] | add // 0' "$tmp/spin.$r.jsonl")
  printf 'syschaos\t%s\t%s\t%s\t%s\n' "$r" "$made" "$secs" "$counted" >>"$tmp/spin.tsv"
  log "spin run $r: alone $(awk -F'\t' -v r="$r" '$1 == "alone" && $2 == r {printf "%.2f", $3 / $4 / 1e6}' "$tmp/spin.tsv") M calls/s; monitored $(awk -v m="$made" -v s="$secs" 'BEGIN {printf "%.2f", m / s / 1e6}') M calls/s, counted $counted of $made"
  ((made == expected)) || die "the program made $made calls, expected $expected"
done

# ---- the report ----------------------------------------------------------------------------
choose_summary_runs "${CONFIGS[@]}"
declare -A rps p99 nruns
for c in "${CONFIGS[@]}"; do
  rps[$c]=$(col "$c" 3 | median)
  p99[$c]=$(col "$c" 4 | median)
  nruns[$c]=$(col "$c" 3 | wc -l)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }
loss_pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b > 0 ? (1 - a / b) * 100 : 0)}'; }

# syschaos's own counts against wrk's requests (wrk does not count the responses in flight
# when it stops, up to one per connection).
counted_calls=0 counted_writev=0 lost=0 syschaos_requests=0
for f in "$tmp"/syschaos.[0-9]*.counts; do
  [[ -f $f ]] || continue
  read -r a b c <"$f"
  counted_calls=$((counted_calls + a)); counted_writev=$((counted_writev + b)); lost=$((lost + c))
done
syschaos_requests=$(awk -F'\t' '$1 == "syschaos" {n += $5} END {print n + 0}' "$tmp/runs.tsv")

# Rounds: ratio CONFIG/baseline of each round; quartiles of the ratios.
round_ratios() {
  awk -F'\t' -v c="$1" -v b="${2:-baseline}" '{rps[$2, $1] = $3; runs[$2] = 1}
    END {for (r in runs) if (rps[r, b] > 0 && rps[r, c] > 0) print rps[r, c] / rps[r, b]}' "$tmp/pairs.tsv" | sort -g
}
quartile() { awk -v q="$1" '{a[NR] = $1} END {i = 1 + (NR - 1) * q; lo = int(i); f = i - lo; v = a[lo] + (lo < NR ? f * (a[lo + 1] - a[lo]) : 0); printf "%.3f", v}'; }
pair_ratios=$(round_ratios syschaos)
pair_median=$(quartile 0.5 <<<"$pair_ratios")
pair_q1=$(quartile 0.25 <<<"$pair_ratios")
pair_q3=$(quartile 0.75 <<<"$pair_ratios")
floor_ratios=$(round_ratios floor)
floor_median=$(quartile 0.5 <<<"$floor_ratios")
floor_q1=$(quartile 0.25 <<<"$floor_ratios")
floor_q3=$(quartile 0.75 <<<"$floor_ratios")
above_floor_ratios=$(round_ratios syschaos floor)
above_floor_median=$(quartile 0.5 <<<"$above_floor_ratios")
pair_cpu() { awk -F'\t' -v c="$1" '$1 == c {print $8 / $5}' "$tmp/pairs.tsv" | median | awk '{printf "%.1f", $1}'; }
pair_cpu_base=$(pair_cpu baseline)
pair_cpu_floor=$(pair_cpu floor)
pair_cpu_sys=$(pair_cpu syschaos)
pair_p99() { awk -F'\t' -v c="$1" '$1 == c {print $4}' "$tmp/pairs.tsv" | median; }
pair_other=$(awk -F'\t' '{print $11}' "$tmp/pairs.tsv" | median)
pair_other_max=$(awk -F'\t' '$11 > m {m = $11} END {print m + 0}' "$tmp/pairs.tsv")

spin_rate() { awk -F'\t' -v c="$1" '$1 == c {print $3 / $4}' "$tmp/spin.tsv" | median; }
spin_alone=$(spin_rate alone)
spin_monitored=$(spin_rate syschaos)
spin_other=$(spin_rate other)
spin_floor=$(spin_rate floor)
spin_exact=$(awk -F'\t' '$1 == "syschaos" && $3 != $5 {bad++} END {print (bad ? "NO" : "yes")}' "$tmp/spin.tsv")

report() {
  echo "# Monitor overhead: nginx under wrk, baseline vs syschaos monitor vs strace -c vs bpftrace"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
  echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}'), strace $(strace -V | sed -nE "1s/.*version ([0-9.]+).*/\1/p"), bpftrace $(bpftrace --version | awk '{print $2}'), syschaos $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')$(git -C "$root" diff --quiet HEAD -- src bpf 2>/dev/null || echo '+changes')"
  echo
  echo "## nginx under wrk"
  echo
  echo "Load: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency $url\` (the file ${FILE}, $(stat -c %s "$tmp/html/$FILE") bytes), one local nginx worker; $REPEAT interleaved runs per configuration (order rotated each round); $summary_note."
  echo
  echo "| configuration | runs | requests/s | p99 latency (ms) | throughput vs baseline | throughput loss | p99 vs baseline | server CPU µs/req | observer CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  local c
  for c in "${CONFIGS[@]}"; do
    printf '| %s | %s | %.0f | %.3f | %s× | %s%% | %s× | %s | %s |\n' "$c" "${nruns[$c]}" "${rps[$c]}" "${p99[$c]}" \
      "$(ratio "${rps[$c]}" "${rps[baseline]}")" "$(loss_pct "${rps[$c]}" "${rps[baseline]}")" \
      "$(ratio "${p99[$c]}" "${p99[baseline]}")" "$(per_request "$c" 8)" "$(per_request "$c" 9)"
  done
  echo
  local pct='BEGIN {printf "%.1f", (1 - r) * 100}'
  echo "**Paired runs** ($PAIRS rounds of \`-d${PAIR_DURATION}s\` runs, baseline, floor and syschaos back to back, order rotating; other load median ${pair_other}%, max ${pair_other_max}%):"
  echo
  echo "| configuration | throughput vs baseline, median of the rounds (quartiles) | throughput loss | p99 ms (median) | server CPU µs/req (median) |"
  echo "|---|---:|---:|---:|---:|"
  echo "| baseline | 1.000 | 0.0% | $(pair_p99 baseline) | $pair_cpu_base |"
  echo "| floor (empty tp_btf programs on sys_enter/sys_exit) | $floor_median ($floor_q1–$floor_q3) | **$(awk -v r="$floor_median" "$pct")%** | $(pair_p99 floor) | $pair_cpu_floor |"
  echo "| syschaos | $pair_median ($pair_q1–$pair_q3) | **$(awk -v r="$pair_median" "$pct")%** | $(pair_p99 syschaos) | $pair_cpu_sys |"
  echo
  echo "syschaos against the floor (syschaos/floor per round, median): $above_floor_median, i.e. $(awk -v r="$above_floor_median" "$pct")% on top of what the tracepoints themselves cost; $(ratio "$counted_calls" "$syschaos_requests") syscalls per request."
  echo
  if awk -v o="$pair_other" -v q="$QUIET_PCT" 'BEGIN {exit !(o > q)}'; then
    echo "**NOT A VALID MEASUREMENT:** other processes took a median ${pair_other}% of the machine's CPU during the paired runs (more than QUIET_PCT=${QUIET_PCT}%); the nginx worker, wrk and those processes competed for the cores, so the ratios in this report say more about the scheduler than about the monitor. Re-run on an idle machine."
    echo
    echo "Goal (issue 3): at most 3% throughput loss with latency histograms on: not measurable in this run (syschaos paired $(awk -v r="$pair_median" "$pct")%, floor paired $(awk -v r="$floor_median" "$pct")%, both meaningless at this load)."
  else
    echo "Goal (issue 3): at most 3% throughput loss with latency histograms on. syschaos, paired: $(awk -v r="$pair_median" 'BEGIN {printf "%.1f%% %s", (1 - r) * 100, ((1 - r) * 100 <= 3 ? "(met)" : "(NOT met)")}'); from the medians above: $(loss_pct "${rps[syschaos]}" "${rps[baseline]}")%. The floor alone, paired: $(awk -v r="$floor_median" 'BEGIN {printf "%.1f%% %s", (1 - r) * 100, ((1 - r) * 100 > 3 ? "(over 3%: the goal cannot be met on this machine with the raw syscall tracepoints)" : "(within 3%)")}')."
  fi
  echo "syschaos vs bpftrace: throughput $(ratio "${rps[syschaos]}" "${rps[bpftrace]}")×; vs strace -c: $(ratio "${rps[syschaos]}" "${rps[strace]}")×."
  echo
  echo "Configurations: floor \`bench/tracepoint_floor\` (bpf/tracepoint_floor.bpf.c: two empty tp_btf programs); syschaos \`monitor --pid WORKER --no-view --out FILE.jsonl\` (1 s intervals, histograms always on); strace \`-c -f -p WORKER -o /dev/null\`; bpftrace \`bench/monitor_overhead.bt WORKER\` (per syscall+errno counts and a log2 latency histogram per syscall, printed and cleared every second). Server CPU includes the in-kernel BPF programs, which run in the worker's context; observer CPU is the observing process itself."
  if ((syschaos_requests > 0)); then
    echo
    echo "What syschaos counted while wrk ran: $counted_calls syscalls for $syschaos_requests requests ($(ratio "$counted_calls" "$syschaos_requests") per request); writev (one per response) $counted_writev = requests + $((counted_writev - syschaos_requests)) (responses in flight when wrk stopped); events lost: $lost."
  fi
  echo
  echo "Every run (server and observer CPU in µs over the run; other load: CPU share taken by processes outside the benchmark):"
  echo
  echo "| configuration | run | requests/s | p99 ms | requests | non-2xx | socket errors | server CPU µs | observer CPU µs | server context switches | other load % |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' -v OFS=' | ' '{$1 = $1; print "| " $0 " |"}' "$tmp/runs.tsv" "$tmp/pairs.tsv"
  echo
  echo "## The highest syscall rate, no call lost"
  echo
  echo "\`monitor_workload spin $SPIN_THREADS $SPIN_COUNT\`: $SPIN_THREADS threads each call getppid $SPIN_COUNT times in a tight loop ($expected calls): alone; with the floor's empty programs attached; not a target while \`syschaos monitor --pid NGINX_MASTER\` watches an idle process; and as the target of \`syschaos monitor --no-view --out FILE.jsonl -- PROG\`; $SPIN_REPEAT runs each, interleaved; the rate is the program's own (calls ÷ its wall time)."
  echo
  echo "| run | alone (M calls/s) | floor: empty programs attached (M calls/s) | not a target, syschaos watching another process (M calls/s) | monitored (M calls/s) | calls made | calls counted by syschaos | exact |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---|"
  local r
  for ((r = 1; r <= SPIN_REPEAT; r++)); do
    awk -F'\t' -v r="$r" '
      $2 == r && $1 == "alone" {a = $3 / $4}
      $2 == r && $1 == "other" {o = $3 / $4}
      $2 == r && $1 == "floor" {f = $3 / $4}
      $2 == r && $1 == "syschaos" {m = $3 / $4; made = $3; counted = $5}
      END {printf "| %d | %.2f | %.2f | %.2f | %.2f | %d | %d | %s |\n", r, a / 1e6, f / 1e6, o / 1e6, m / 1e6, made, counted, (made == counted ? "yes" : "NO")}' "$tmp/spin.tsv"
  done
  local ns='BEGIN {printf "%.0f", (t / m - t / a) * 1e9}'
  echo
  echo "Medians: $(awk -v x="$spin_monitored" 'BEGIN {printf "%.2f", x / 1e6}') M syscalls/s handled while monitored, every call counted exactly: $spin_exact ($(awk -v x="$spin_alone" 'BEGIN {printf "%.2f", x / 1e6}') M/s alone). Per call, on each of the $SPIN_THREADS threads: $(awk -v a="$spin_alone" -v m="$spin_monitored" -v t="$SPIN_THREADS" "$ns") ns more for a target; $(awk -v a="$spin_alone" -v m="$spin_other" -v t="$SPIN_THREADS" "$ns") ns more for a process that is not a target, while syschaos watches another one (raw syscall tracepoints are global: every process pays for the programs' entry and the target check); $(awk -v a="$spin_alone" -v m="$spin_floor" -v t="$SPIN_THREADS" "$ns") ns more with only the floor's empty programs attached."
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
log "results written to $RESULTS"
