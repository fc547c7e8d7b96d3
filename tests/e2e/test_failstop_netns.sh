#!/usr/bin/env bash
# syschaos failstop on containers with network namespaces of their own (docker run
# --network none): two nginx-demo containers, A and B, each serving on ITS OWN 127.0.0.1:PORT
# (the same address and port). Clients, curl and tcpdump run inside a container's namespace
# through nsenter -n (a "holder" process keeps each namespace reachable after its container
# died). Traffic stays on those namespaces' loopbacks.
#   omission of A (100%): A's requests time out, B's on the same 127.0.0.1:PORT are served;
#     after syschaos stops, and after a SIGKILL of syschaos, A serves again at once;
#   duplication of A on the default interface lo, which is A's own loopback: packets are
#     duplicated (syschaos's counter) and A's TCP answers them with D-SACKs;
#   crash of A: a connected client in A sees no FIN/RST (tcpdump on A's lo) and times out,
#     a new connection hangs (no "refused"), while B keeps serving; once the blackhole is
#     lifted A's address refuses (the "host" is back, nothing listens);
#   SIGKILL of syschaos during a crash blackhole: lifted at once (refused, not hanging), the
#     restarted container serves.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
for t in tcpdump nsenter; do command -v "$t" >/dev/null || skip "$t not installed"; done
CLIENT=$(dirname "$SYSCHAOS")/testprogs/failstop_client
[[ -x $CLIENT ]] || skip "test client not built: $CLIENT"
PORT=18080

# start_isolated VAR: an nginx-demo container in a network namespace of its own; its name in VAR.
# (These helpers set variables instead of printing: a $(...) subshell would lose _pids and
# _containers, which the EXIT trap cleans up.)
start_isolated() {
  local name=syschaos-e2e-$TEST_NAME-$$-$RANDOM
  _containers+=("$name")
  docker run -d --name "$name" --network none -e PORT="$PORT" "$NGINX_IMAGE" >/dev/null ||
    fail "docker run --network none $NGINX_IMAGE failed"
  printf -v "$1" '%s' "$name"
}
# hold VAR CONTAINER: a process in the container's network namespace that outlives the
# container; its pid in VAR.
hold() {
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$2") || fail "no pid for $2"
  [[ $pid -gt 0 ]] || fail "$2 is not running"
  nsenter -t "$pid" -n sleep 600 &
  _pids+=("$!")
  printf -v "$1" '%s' "$!"
}
# code_in HOLDER: one GET / on 127.0.0.1:PORT inside that namespace; prints "CODE CURL_RC".
code_in() {
  local code rc
  code=$(nsenter -t "$1" -n curl -s -o /dev/null -m "${CURL_TIMEOUT:-2}" -w '%{http_code}' "http://127.0.0.1:$PORT/")
  rc=$?
  echo "${code:-000} $rc"
}
# expect_in HOLDER WHAT N PHASE: N requests 0.1 s apart all print "CODE RC" matching WHAT (a regex).
expect_in() {
  local holder=$1 want=$2 n=$3 phase=$4 i got=() r
  for ((i = 0; i < n; i++)); do
    got+=("$(code_in "$holder")")
    sleep 0.1
  done
  for r in "${got[@]}"; do
    [[ $r =~ ^($want)$ ]] || fail "$phase: expected $n x '$want', got: ${got[*]}"
  done
  info "$phase: ${got[*]}"
}
wait_in() {  # wait_in HOLDER WHAT SECONDS
  local end=$((SECONDS + $3))
  while ((SECONDS <= end)); do
    [[ $(CURL_TIMEOUT=1 code_in "$1") =~ ^($2)$ ]] && return 0
    sleep 0.1
  done
  return 1
}
wait_fail_event() {
  for _ in $(seq 150); do grep -q '"event":"fail"' "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "syschaos reported no failure: $(tail -5 "$SC_ERR")"
}
wait_endpoints() {
  for _ in $(seq 100); do grep -q 'endpoint(s))' "$SC_ERR" 2>/dev/null && return 0; sleep 0.1; done
  fail "syschaos did not start: $(tail -5 "$SC_ERR")"
}

start_isolated A
start_isolated B
hold HA "$A"
hold HB "$B"
wait_in "$HA" "200 0" 10 || fail "nginx in $A does not serve on its own 127.0.0.1:$PORT"
wait_in "$HB" "200 0" 10 || fail "nginx in $B does not serve on its own 127.0.0.1:$PORT"
[[ $(readlink /proc/"$HA"/ns/net) != "$(readlink /proc/"$HB"/ns/net)" ]] || fail "A and B share a namespace"
[[ $(readlink /proc/"$HA"/ns/net) != "$(readlink /proc/self/ns/net)" ]] || fail "A is in the host's namespace"
info "$A and $B each serve on their own 127.0.0.1:$PORT"

# --- omission of A: B is not touched --------------------------------------------------------
start_syschaos failstop omit --container "$A" --drop 100% --duration 60s
wait_endpoints
CURL_TIMEOUT=1 expect_in "$HA" "000 28" 2 "omit A: A"
expect_in "$HB" "200 0" 5 "omit A: B on the same 127.0.0.1:$PORT"
kill -TERM "$SC_PID"
wait_syschaos 10
((SC_RC == 0)) || fail "syschaos omit exited $SC_RC"
grep -q "dropped" "$SC_ERR" || fail "no counters: $(tail -3 "$SC_ERR")"
info "omit: $(grep dropped "$SC_ERR")"
expect_in "$HA" "200 0" 3 "after omit: A"

# --- SIGKILL of syschaos during the omission --------------------------------------------------
start_syschaos failstop omit --container "$A" --drop 100% --duration 60s
wait_endpoints
CURL_TIMEOUT=1 expect_in "$HA" "000 28" 1 "omit A again: A"
kill -KILL "$SC_PID"
wait_in "$HA" "200 0" 5 || fail "after SIGKILL of syschaos, A's requests are still dropped"
expect_in "$HA" "200 0" 5 "after SIGKILL during omit: A"
expect_in "$HB" "200 0" 2 "after SIGKILL during omit: B"

# --- duplication on A's own lo (the default --interface, looked up in A's namespace) -----------
# TCP discards a duplicate segment and answers it with a D-SACK: A's own counters show it.
dsack_in() {
  nsenter -t "$1" -n nstat -asz TcpExtTCPDSACKOldSent 2>/dev/null | awk '$1 == "TcpExtTCPDSACKOldSent" {print $2}'
}
before=$(dsack_in "$HA")
start_syschaos failstop duplicate --container "$A" --fraction 50% --duration 60s
wait_endpoints
expect_in "$HA" "200 0" 20 "duplicate A: A"
kill -TERM "$SC_PID"
wait_syschaos 10
((SC_RC == 0)) || fail "syschaos duplicate exited $SC_RC"
dups=$(sed -n 's/.*duplicated \([0-9]*\) of.*/\1/p' "$SC_ERR")
((${dups:-0} > 0)) || fail "nothing duplicated on A's lo: $(tail -2 "$SC_ERR")"
after=$(dsack_in "$HA")
((${after:-0} > ${before:-0})) || fail "no D-SACK in A's namespace ($before -> $after)"
info "duplicate: $(grep duplicated "$SC_ERR"); D-SACKs sent in A: $before -> $after"

# --- crash of A --------------------------------------------------------------------------------
CAP_A=$TMP/crash-a.pcap
nsenter -t "$HA" -n tcpdump -i lo -nn -U --immediate-mode -w "$CAP_A" "tcp port $PORT" 2>"$TMP/tcpdump.err" &
CAP_PID=$!
_pids+=("$CAP_PID")
for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.err" && break; sleep 0.1; done
# connect_in VAR HOLDER NAME: a client in that namespace with one answered request, waiting
# for GO; its pid in VAR.
GO=$TMP/go
connect_in() {
  nsenter -t "$2" -n "$CLIENT" "$PORT" 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' "$GO" 2500 >"$TMP/client-$3.out" 2>&1 &
  _pids+=("$!")
  printf -v "$1" '%s' "$!"
  for _ in $(seq 50); do grep -q "first: ok" "$TMP/client-$3.out" && return 0; sleep 0.1; done
  fail "client $3 did not get its first answer: $(cat "$TMP/client-$3.out")"
}
connect_in CLIENT_A "$HA" a
connect_in CLIENT_B "$HB" b
start_syschaos failstop crash --container "$A" --for 8s --events "$TMP/crash.jsonl"
wait_fail_event "$TMP/crash.jsonl"
touch "$GO"
wait "$CLIENT_A" "$CLIENT_B"
second_a=$(grep "second:" "$TMP/client-a.out")
second_b=$(grep "second:" "$TMP/client-b.out")
[[ $second_a == "second: timeout" ]] || fail "crash: the client in A saw '$second_a', expected a timeout"
[[ $second_b == "second: data"* ]] || fail "crash of A: the client in B saw '$second_b', expected data"
# A new connection in A: the SYN vanishes (curl times out, rc 28), no "refused" (rc 7).
CURL_TIMEOUT=1 expect_in "$HA" "000 28" 1 "crash: new connection in A"
expect_in "$HB" "200 0" 3 "crash of A: B"
sleep 0.3
kill -INT "$CAP_PID"
wait "$CAP_PID" 2>/dev/null
captured=$(tcpdump -nn -r "$CAP_A" 2>/dev/null)
leaks=$(grep -E "\.$PORT > .*Flags \[[^]]*[FR]" <<<"$captured" || true)
[[ -z $leaks ]] || fail "crash: FIN/RST from the dead nginx on A's lo: $leaks"
(($(wc -l <<<"$captured") >= 3)) || fail "the capture in A saw nothing: $captured"
[[ $(docker inspect -f '{{.State.Running}}' "$A") == false ]] || fail "the crashed container still runs"
wait_syschaos 30
((SC_RC == 0)) || fail "syschaos crash exited $SC_RC: $(tail -3 "$SC_ERR")"
# Lifted: A's address answers again — refused, as a rebooted host with nothing listening.
wait_in "$HA" "000 7" 5 || fail "after the lift A's 127.0.0.1:$PORT does not refuse: $(code_in "$HA")"
info "crash: A dead, its client timed out, no FIN/RST on A's lo, B served throughout; refused after the lift"

# --- SIGKILL of syschaos during a crash blackhole -------------------------------------------------
docker start "$A" >/dev/null || fail "docker start $A failed"
hold HA2 "$A"
wait_in "$HA2" "200 0" 10 || fail "restarted $A does not serve"
start_syschaos failstop crash --container "$A" --events "$TMP/crash2.jsonl"
wait_fail_event "$TMP/crash2.jsonl"
CURL_TIMEOUT=1 expect_in "$HA2" "000 28" 1 "crash again: new connection in A"
kill -KILL "$SC_PID"
wait_in "$HA2" "000 7" 5 || fail "after SIGKILL of syschaos the blackhole in A stayed: $(code_in "$HA2")"
docker start "$A" >/dev/null || fail "docker start $A failed"
hold HA3 "$A"
wait_in "$HA3" "200 0" 10 || fail "A does not serve after SIGKILL of syschaos and a restart"
expect_in "$HB" "200 0" 2 "end: B"
info "SIGKILL during crash: blackhole lifted at once (refused), A serves after a restart"
info "PASS"
