#!/usr/bin/env bash
# syschaos monitor on the demo nginx container under load (ChaosOrca's syscall view, with
# errors and latency): the per-interval counts of the calls nginx makes for each request
# (accept4, recvfrom, writev for the headers, sendfile for the body) follow the request rate
# the clients saw, at two paced rates and under wrk at two concurrencies; they are 0 while
# nobody asks; the resources come with every interval. Then --follow-restarts keeps watching
# through `docker restart`, and without it the monitor ends with "target exited" when the
# container stops. All traffic goes to 127.0.0.1; every load is bounded in count and time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
command -v wrk >/dev/null 2>&1 || skip "wrk not installed (scripts/setup.sh installs it)"
start_nginx

OUT=$TMP/monitor.jsonl
REQUEST_CALLS=(accept4 recvfrom writev sendfile)
now() { date +%s.%N; }

# paced RATE COUNT NAME: COUNT requests at RATE/s, one connection each (Connection: close,
# so nginx accepts every request anew); records the phase's times and the requests served.
paced() {
  local rate=$1 count=$2 name=$3 t0 t1 ok
  t0=$(now)
  ok=$(timeout 60 curl -s -o /dev/null -m 3 --rate "$rate/s" -H 'Connection: close' -w '%{http_code}\n' \
         "$BASE_URL/?[1-$count]" | grep -c '^200$')
  t1=$(now)
  ((ok == count)) || fail "$name: $ok of $count requests got 200"
  PHASES+=("$name $t0 $t1 $ok 1")
  info "$name: $ok requests at $(awk -v n="$ok" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / (b - a)}')/s (asked $rate/s)"
}

# loaded CONNECTIONS SECONDS NAME: wrk, keep-alive connections; records the requests it counted.
loaded() {
  local c=$1 d=$2 name=$3 t0 t1 out requests
  t0=$(now)
  out=$(timeout $((d + 20)) wrk -t1 -c"$c" -d"${d}s" "$BASE_URL/") || fail "$name: wrk failed: $out"
  t1=$(now)
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  [[ $requests =~ ^[0-9]+$ ]] && ((requests > 0)) || fail "$name: wrk served no request: $out"
  grep -q 'Non-2xx' <<<"$out" && fail "$name: wrk saw errors: $out"
  PHASES+=("$name $t0 $t1 $requests $c")
  info "$name: wrk -c$c: $requests requests, $(awk '/^Requests\/sec/ {print $2}' <<<"$out")/s"
}

idle() {
  local t0
  t0=$(now)
  sleep "$1"
  IDLE+=("$t0 $(now)")
}

# calls_in NAME T0 T1 MODE: per interval "interval seconds calls" of syscall NAME, for the
# intervals inside [T0, T1] (MODE inside) or overlapping it (MODE overlap).
calls_in() {
  jq -r --arg n "$1" --argjson a "$2" --argjson b "$3" --arg mode "$4" '
    select(if $mode == "inside" then (.start >= $a and .end <= $b) else (.end > $a and .start < $b) end)
    | [.interval, (.end - .start), ([.syscalls[] | select(.name == $n) | .calls] | add // 0)] | @tsv' "$OUT"
}

# ---- part 1: counts follow the request rate ----------------------------------------------
PHASES=()
IDLE=()
start_syschaos monitor --container "$CONTAINER" --interval 1s --no-view --out "$OUT"
for _ in $(seq 100); do [[ -s $OUT ]] && break; sleep 0.1; done
[[ -s $OUT ]] || fail "no interval record within 10 s"
idle 2.5
paced 20 100 "paced-20/s"
idle 2.5
paced 100 400 "paced-100/s"
idle 2.5
loaded 1 3 "wrk-c1"
idle 2.5
loaded 8 3 "wrk-c8"
idle 2.5
kill -INT "$SC_PID"
wait_syschaos 10
((SC_RC == 0)) || fail "syschaos monitor exited with $SC_RC after SIGINT, expected 0"
grep -q 'monitor ended (interrupted)' "$SC_ERR" || fail "stderr does not say the monitor was interrupted"

records=$(wc -l <"$OUT")
info "$records interval records"
jq -e 'select(.schema != 1)' "$OUT" >/dev/null && fail "a record without schema 1"
# Intervals numbered 0, 1, 2, ..., each starting where the previous ended.
jq -s -e '[range(1; length) as $i | select(.[$i].interval != $i or .[$i].start != .[$i - 1].end)] | length == 0' \
  "$OUT" >/dev/null || fail "intervals are not continuous"

# Resources in every record: the container's cgroup (v1 on this machine, v2+v1 on a hybrid
# host), CPU, memory, pids; host networking is shared, and says so.
jq -e -s 'all(.[]; .resources | (.source | startswith("cgroup")) and (.cpu_usage_ns | type == "number")
            and (.memory_bytes > 0) and (.pids >= 2) and (.network_shared == true))' "$OUT" >/dev/null ||
  fail "resources missing or wrong: $(jq -c .resources "$OUT" | tail -n 1)"
jq -e -s 'all(.[1:][]; .resources.cpu_cores | type == "number")' "$OUT" >/dev/null ||
  fail "cpu_cores missing after the first interval"
jq -e -s 'all(.[]; .processes == 2 and .alive)' "$OUT" >/dev/null || fail "nginx's master and worker not both watched"
info "resources present in every record: $(jq -c '.resources | {source, cpu_cores, memory_bytes, pids}' "$OUT" | tail -n 1)"

for phase in "${PHASES[@]}"; do
  read -r name t0 t1 requests connections <<<"$phase"
  rate=$(awk -v n="$requests" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", n / (b - a)}')
  for sc in "${REQUEST_CALLS[@]}"; do
    # Every request of the phase, and none other, in the intervals that overlap it (the
    # phases are 2.5 s of quiet apart). Keep-alive (wrk): one accept4 per connection, and
    # one more each time nginx closes a connection after its 1000th request
    # (keepalive_requests) and wrk reconnects; wrk does not count the requests still in
    # flight when it stops (up to one per connection); recvfrom also returns EAGAIN when a
    # connection has nothing more to read.
    total=$(calls_in "$sc" "$t0" "$t1" overlap | awk '{s += $3} END {print s + 0}')
    if [[ $name == paced-* ]]; then
      lo=$requests hi=$requests
    else
      case $sc in
        accept4) lo=$connections hi=$((2 * connections + requests / 1000)) ;;
        recvfrom) lo=$requests hi=$((requests * 3 / 2)) ;;
        *) lo=$requests hi=$((requests + connections)) ;;
      esac
    fi
    ((total >= lo && total <= hi)) ||
      fail "$name: $total $sc calls for $requests requests (expected $lo..$hi)"
    # Each interval wholly inside a paced phase: within 20% of the rate the client saw. (wrk's
    # per-second rate is not known, only its average: its totals are checked above.)
    [[ $name == paced-* ]] || continue
    n=0
    while read -r interval secs calls; do
      n=$((n + 1))
      awk -v c="$calls" -v s="$secs" -v r="$rate" 'BEGIN {x = c / s; exit !(x >= 0.8 * r && x <= 1.2 * r)}' ||
        fail "$name: interval $interval has $calls $sc calls in $secs s; the clients made $rate requests/s"
    done < <(calls_in "$sc" "$t0" "$t1" inside)
    ((n >= 2)) || fail "$name: only $n whole interval(s) inside the phase"
  done
  info "$name: ${REQUEST_CALLS[*]} match $requests requests ($rate/s) in total$([[ $name == paced-* ]] && echo ' and in each interval (±20%)')"
done
# For the log: what the two wrk runs made (on a busy 2-core machine -c8 is not always faster).
w1=$(calls_in writev "$(cut -d' ' -f2 <<<"${PHASES[2]}")" "$(cut -d' ' -f3 <<<"${PHASES[2]}")" overlap | awk '{s += $3} END {print s + 0}')
w8=$(calls_in writev "$(cut -d' ' -f2 <<<"${PHASES[3]}")" "$(cut -d' ' -f3 <<<"${PHASES[3]}")" overlap | awk '{s += $3} END {print s + 0}')
info "writev: $w1 with wrk -c1, $w8 with wrk -c8"

# Idle: no request, so none of the request calls and next to nothing else.
for gap in "${IDLE[@]}"; do
  read -r t0 t1 <<<"$gap"
  n=0
  while read -r interval total; do
    n=$((n + 1))
    ((total <= 10)) || fail "idle interval $interval: $total calls"
  done < <(jq -r --argjson a "$t0" --argjson b "$t1" 'select(.start >= $a and .end <= $b) | [.interval, .total_calls] | @tsv' "$OUT")
  for sc in "${REQUEST_CALLS[@]}"; do
    busy=$(calls_in "$sc" "$t0" "$t1" inside | awk '$3 > 0' | wc -l)
    ((busy == 0)) || fail "idle: $sc counted in $busy interval(s) without requests"
  done
  ((n >= 1)) || fail "no whole interval inside an idle gap"
done
info "idle intervals: 0 request calls, at most 10 calls in all"

# ---- part 2: --follow-restarts -----------------------------------------------------------
# `docker restart`, then a stop and a start 2 s apart, so that whole intervals see no process:
# the monitor goes on through both and counts the new processes' calls.
OUT=$TMP/restarts.jsonl
start_syschaos monitor --container "$CONTAINER" --follow-restarts --interval 500ms --no-view --out "$OUT" --duration 25s
for _ in $(seq 100); do [[ -s $OUT ]] && break; sleep 0.1; done
[[ -s $OUT ]] || fail "no interval record within 10 s"
timeout 30 curl -s -o /dev/null -m 3 "$BASE_URL/?[1-10]" || fail "requests before the restart failed"

# after_restart WHAT: waits for nginx and for the monitor to find the new processes (at its
# next interval), makes 20 requests, and checks that their writev calls were counted.
after_restart() {
  wait_for_code / 200 10 || fail "nginx did not serve after $1"
  sleep 1.5
  local after seen
  after=$(now)
  timeout 30 curl -s -o /dev/null -m 3 --rate 20/s "$BASE_URL/?[1-20]" || fail "requests after $1 failed"
  sleep 1
  kill -0 "$SC_PID" 2>/dev/null || fail "the monitor ended at $1 despite --follow-restarts"
  seen=$(calls_in writev "$after" "$(now)" overlap | awk '{s += $3} END {print s + 0}')
  ((seen == 20)) || fail "$seen writev counted after $1, expected 20"
  info "--follow-restarts: the 20 requests after $1 counted"
}
info "docker restart $CONTAINER"
docker restart -t 2 "$CONTAINER" >/dev/null || fail "docker restart failed"
after_restart "docker restart"
info "docker stop; sleep 2; docker start"
docker stop -t 2 "$CONTAINER" >/dev/null || fail "docker stop failed"
stopped=$(now)
sleep 2
started=$(now)
docker start "$CONTAINER" >/dev/null || fail "docker start failed"
after_restart "docker stop + start"
wait_syschaos 40
((SC_RC == 0)) || fail "syschaos monitor --follow-restarts exited with $SC_RC"
grep -q 'monitor ended (duration elapsed)' "$SC_ERR" || fail "the monitor did not run to the end of --duration"
gone=$(jq -s --argjson a "$stopped" --argjson b "$started" \
  '[.[] | select(.start >= $a and .end <= $b and (.alive | not) and .processes == 0)] | length' "$OUT")
((gone >= 1)) || fail "no interval while the container was stopped says so (alive false, 0 processes)"
info "--follow-restarts: $gone interval(s) without processes while stopped, and the monitor went on"

# ---- part 3: without --follow-restarts, docker stop ends the monitor ---------------------
OUT=$TMP/stop.jsonl
start_syschaos monitor --container "$CONTAINER" --interval 500ms --no-view --out "$OUT"
for _ in $(seq 100); do [[ -s $OUT ]] && break; sleep 0.1; done
[[ -s $OUT ]] || fail "no interval record within 10 s"
docker stop -t 2 "$CONTAINER" >/dev/null || fail "docker stop failed"
stopped=$SECONDS
wait_syschaos 15
((SC_RC == 0)) || fail "syschaos monitor exited with $SC_RC when the container stopped, expected 0"
grep -q 'monitor ended (target exited)' "$SC_ERR" || fail "stderr does not say the target exited: $(tail -n 2 "$SC_ERR")"
jq -e -s '(.[-1].alive | not) and (.[-1].processes == 0) and all(.[:-1][]; .alive)' "$OUT" >/dev/null ||
  fail "the final interval does not say the target exited: $(tail -n 1 "$OUT" | jq -c '{interval, alive, processes}')"
info "docker stop: the monitor ended by itself $((SECONDS - stopped)) s later with a final interval"
info "PASS"
