#!/usr/bin/env bash
# If syschaos itself is killed with SIGKILL in the middle of an injection, the kernel detaches
# it from every tracee; nginx must carry on: serving 200, container running, no thread left
# stopped or traced. The kill lands while requests are in flight and delayed by syschaos.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

expect_codes / 200 3 "before"

start_syschaos inject --container "$CONTAINER" \
  --fault 'openat:delay_enter=300ms:path=*/index.html' \
  --fault 'openat:error=EACCES:path=*/4k.bin' --duration 30s
sleep 1
# The rules must be active before the kill, or the test proves nothing.
wait_for_code /4k.bin 403 4 || fail "during: GET /4k.bin never returned 403 (EACCES) within 5 s"
start=$(date +%s%N)
code=$(http_code /)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
info "during: GET / -> $code in ${elapsed_ms} ms (delay_enter=300ms)"
((elapsed_ms >= 250)) || fail "during: GET / took ${elapsed_ms} ms, the 300 ms delay was not applied"

# Requests in flight (delayed in openat) when the SIGKILL lands.
inflight=()
for i in 1 2 3 4; do
  curl -s -o "$TMP/inflight.$i" -m 5 -w '%{http_code}' "$BASE_URL/" >"$TMP/inflight.$i.code" &
  inflight+=($!)
  _pids+=($!)
  sleep 0.05
done
sleep 0.1
kill -0 "$SC_PID" 2>/dev/null || fail "syschaos exited before it could be killed"
kill -KILL "$SC_PID"
wait "$SC_PID" 2>/dev/null
info "syschaos killed with SIGKILL"
for p in "${inflight[@]}"; do wait "$p" 2>/dev/null; done
inflight_codes=$(for f in "$TMP"/inflight.*.code; do echo "$(cat "$f")"; done | tr '\n' ' ')
info "requests in flight at the kill got: $inflight_codes"

expect_codes / 200 10 "after kill -9"
expect_codes /4k.bin 200 3 "after kill -9"
check_container_running
check_not_traced
# Requests in flight at the kill only lose the delay; they must not fail.
for c in $inflight_codes; do
  [[ $c == 200 ]] || fail "a request in flight at the kill got $c (the tracee was left broken)"
done
info "PASS"
