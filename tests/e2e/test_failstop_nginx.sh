#!/usr/bin/env bash
# syschaos failstop on a real nginx container (syschaos/nginx-demo, --network host):
#   freeze (cgroup v2, then Docker's v1 freezer): a connected client's next request gets no
#     answer, no FIN, no RST; after the thaw nginx serves again;
#   SIGKILL of syschaos during a freeze: its guard thaws the container;
#   crash: the container dies and the client still sees nothing (no FIN/RST on lo, also
#     after the blackhole is lifted);
#   kill: for contrast, the client sees the connection closed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
command -v tcpdump >/dev/null || skip "tcpdump not installed"
CLIENT=$(dirname "$SYSCHAOS")/testprogs/failstop_client
[[ -x $CLIENT ]] || skip "test client not built: $CLIENT"

CAP_PID=""
start_capture() {
  CAP_FILE=$TMP/cap-$1.pcap
  tcpdump -i lo -nn -U --immediate-mode -w "$CAP_FILE" "tcp port $PORT" 2>"$TMP/tcpdump.err" &
  CAP_PID=$!
  _pids+=("$CAP_PID")
  for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.err" && break; sleep 0.1; done
}
# Prints the FIN/RST packets sent from nginx's port during the capture.
stop_capture() {
  sleep 0.3
  kill -INT "$CAP_PID" 2>/dev/null
  wait "$CAP_PID" 2>/dev/null
  tcpdump -nn -r "$CAP_FILE" 2>/dev/null | grep -E "\.$PORT > .*Flags \[[^]]*[FR]" || true
}

# connect_client NAME: a client with one answered request, waiting for $TMP/go-NAME.
connect_client() {
  CLIENT_OUT=$TMP/client-$1.out
  GO=$TMP/go-$1
  "$CLIENT" "$PORT" 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' "$GO" 2500 >"$CLIENT_OUT" 2>&1 &
  CLIENT_PID=$!
  _pids+=("$CLIENT_PID")
  for _ in $(seq 50); do grep -q "first: ok" "$CLIENT_OUT" && return 0; sleep 0.1; done
  fail "client did not get its first answer: $(cat "$CLIENT_OUT")"
}
# Lets the client send its second request; sets SECOND to what it saw.
client_second() {
  touch "$GO"
  wait "$CLIENT_PID"
  SECOND=$(grep "second:" "$CLIENT_OUT")
}
wait_fail_event() {
  for _ in $(seq 150); do grep -q '"event":"fail"' "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "syschaos reported no failure: $(tail -5 "$SC_ERR")"
}

start_nginx
expect_codes / 200 2 "before"

# --- freeze, cgroup v2 ------------------------------------------------------------------
start_capture freeze
connect_client freeze
start_syschaos failstop freeze --container "$CONTAINER" --for 5s --events "$TMP/freeze.jsonl"
wait_fail_event "$TMP/freeze.jsonl"
grep -q '"cgroup":"/sys/fs/cgroup/unified/docker/' "$TMP/freeze.jsonl" || fail "not frozen through its v2 cgroup: $(cat "$TMP/freeze.jsonl")"
client_second
second=$SECOND
[[ $second == "second: timeout" ]] || fail "freeze: client saw '$second', expected a timeout"
leaks=$(stop_capture)
wait_syschaos 20
((SC_RC == 0)) || fail "syschaos freeze exited $SC_RC"
[[ -z $leaks ]] || fail "freeze: FIN/RST on the wire: $leaks"
expect_codes / 200 2 "after the v2 thaw"
info "freeze v2: client timed out, no FIN/RST, served again after the thaw"

# --- freeze, Docker's v1 freezer cgroup --------------------------------------------------
CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
V1=/sys/fs/cgroup/freezer/docker/$CID
[[ -f $V1/freezer.state ]] || fail "no v1 freezer cgroup $V1"
start_syschaos failstop freeze --container "$CONTAINER" --freezer v1 --for 2s --events "$TMP/v1.jsonl"
wait_fail_event "$TMP/v1.jsonl"
[[ $(cat "$V1/freezer.state") == FROZEN ]] || fail "v1 freezer.state is $(cat "$V1/freezer.state")"
CURL_TIMEOUT=1 request /
[[ $CODE == 000 ]] || fail "a frozen nginx answered $CODE"
wait_syschaos 20
((SC_RC == 0)) || fail "syschaos freeze --freezer v1 exited $SC_RC"
[[ $(cat "$V1/freezer.state") == THAWED ]] || fail "v1 freezer.state after: $(cat "$V1/freezer.state")"
expect_codes / 200 2 "after the v1 thaw"
info "freeze v1: FROZEN during, THAWED and serving after"

# --- SIGKILL of syschaos during a freeze --------------------------------------------------
start_syschaos failstop freeze --container "$CONTAINER" --events "$TMP/sigkill.jsonl"
wait_fail_event "$TMP/sigkill.jsonl"
CURL_TIMEOUT=1 request /
[[ $CODE == 000 ]] || fail "a frozen nginx answered $CODE"
kill -KILL "$SC_PID"
wait_for_code / 200 5 || fail "after SIGKILL of syschaos the container stayed frozen"
[[ -z $(ls /run/syschaos/failstop/ 2>/dev/null) ]] || fail "state file left: $(ls /run/syschaos/failstop/)"
info "SIGKILL of syschaos: the guard thawed the container"

# --- crash -------------------------------------------------------------------------------
start_capture crash
connect_client crash
start_syschaos failstop crash --container "$CONTAINER" --for 5s --events "$TMP/crash.jsonl"
wait_fail_event "$TMP/crash.jsonl"
client_second
second=$SECOND
[[ $second == "second: timeout" ]] || fail "crash: client saw '$second', expected a timeout"
# The blackhole is still up (--for 5s outlasts the client's 2.5 s): nothing so far.
leaks=$(stop_capture)
[[ -z $leaks ]] || fail "crash: FIN/RST on the wire: $leaks"
# Once it is lifted the "host" is back: a peer's retransmission may get a rebooted host's
# RST, but the dead nginx's own connections never send their FIN (destroyed first).
start_capture crash-after
wait_syschaos 30
((SC_RC == 0)) || fail "syschaos crash exited $SC_RC: $(tail -3 "$SC_ERR")"
fins=$(stop_capture | grep -E "Flags \[F" || true)
[[ -z $fins ]] || fail "crash: the dead server's FIN got out after the lift: $fins"
[[ $(docker inspect -f '{{.State.Running}}' "$CONTAINER") == false ]] || fail "the crashed container still runs"
info "crash: container dead, client timed out, no FIN/RST even after the blackhole was lifted"

# --- kill, for contrast -------------------------------------------------------------------
docker start "$CONTAINER" >/dev/null || fail "docker start failed"
wait_for_code / 200 10 || fail "restarted nginx does not serve"
start_capture kill
connect_client kill
start_syschaos failstop kill --container "$CONTAINER" --events "$TMP/kill.jsonl"
wait_fail_event "$TMP/kill.jsonl"
client_second
second=$SECOND
[[ $second == "second: eof" || $second == "second: reset" ]] || fail "kill: client saw '$second'"
wait_syschaos 10
leaks=$(stop_capture)
[[ -n $leaks ]] || fail "kill: no FIN/RST captured"
info "kill: client saw '$second' and the capture shows the close"
info "PASS"
