#!/usr/bin/env bash
# The built-in HTTP load generator's own ceiling: how many requests/s one generator thread
# drives against nginx on 127.0.0.1 (one worker, the small index.html), with how much CPU,
# next to wrk on the same server as a reference.
#   closed  CONCURRENCY_LIST connections, each sending its next request when the last ends
#   open    RATE_LIST requests/s on a fixed schedule (what an experiment normally uses):
#           achieved rate, lateness of the schedule (p99 start delay), CPU
#   wrk     wrk -t1 -c N on the same URL (one thread, like the generator)
# The measuring driver is the disabled gtest HttpWorkloadBench.DISABLED_Measure in the
# experiment integration tests (it prints one RESULT line). Markdown on stdout and in
# bench/results/http_workload.md.
#
#   bash bench/http_workload.sh [path/to/integration_experiment_tests]
#   SECONDS_EACH=5 CONCURRENCY_LIST="1 4 16 64" RATE_LIST="1000 5000 10000 20000"   (defaults)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

DRIVER=${1:-$build_dir/tests/integration_experiment_tests}
SECONDS_EACH=${SECONDS_EACH:-5}
CONCURRENCY_LIST=${CONCURRENCY_LIST:-1 4 16 64}
RATE_LIST=${RATE_LIST:-1000 5000 10000 20000}
RESULTS=${RESULTS:-$here/results/http_workload.md}

require_tools nginx wrk curl ss
[[ -x $DRIVER ]] || die "no test binary at $DRIVER: build the integration_experiment_tests target"

bench_setup syschaos-bench
# More connections than the default 512 for the wrk reference and the open model's bursts.
FILE=index.html start_nginx 4096

# One run of the driver; prints its RESULT fields (key=value ...).
measure() {
  env BENCH_URL="$url" BENCH_SECONDS="$SECONDS_EACH" "$@" "$DRIVER" \
    --gtest_also_run_disabled_tests --gtest_filter=HttpWorkloadBench.DISABLED_Measure |
    sed -n 's/^RESULT //p'
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

{
  echo "## HTTP load generator ceiling ($(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) at the start, nginx 1 worker, ${SECONDS_EACH}s each)"
  echo
  echo "Closed model (N connections, keep-alive) vs wrk -t1 -c N:"
  echo
  echo "| connections | generator req/s | generator CPU | CPU µs/req | p50 ms | p99 ms | wrk req/s | wrk CPU µs/req |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
} | tee "$RESULTS"
for c in $CONCURRENCY_LIST; do
  log "closed model, $c connections"
  r=$(measure BENCH_CONCURRENCY="$c")
  # wrk's own CPU (user+system) from bash's `time`, to compare the cost per request.
  { TIMEFORMAT='%U %S'; time wrk -t1 -c"$c" -d"${SECONDS_EACH}s" "$url" >"$tmp/wrk.out"; } 2>"$tmp/wrk.time"
  wrk_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/wrk.out")
  wrk_total=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
  wrk_us=$(awk -v n="$wrk_total" '{printf "%.1f", 1e6 * ($1 + $2) / n}' "$tmp/wrk.time")
  echo "| $c | $(field "$r" req_per_s) | $(field "$r" cpu_percent)% | $(field "$r" cpu_us_per_req) | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $wrk_rps | $wrk_us |" | tee -a "$RESULTS"
done
{
  echo
  echo "Open model (fixed schedule, max_in_flight 256, keep-alive):"
  echo
  echo "| target req/s | sent req/s | dropped | generator CPU | p50 ms | p99 ms | start delay p99 ms |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
} | tee -a "$RESULTS"
for rate in $RATE_LIST; do
  log "open model, $rate requests/s"
  r=$(measure BENCH_RATE="$rate")
  echo "| $rate | $(field "$r" req_per_s) | $(field "$r" dropped) | $(field "$r" cpu_percent)% | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $(field "$r" start_delay_p99_ms) |" | tee -a "$RESULTS"
done
