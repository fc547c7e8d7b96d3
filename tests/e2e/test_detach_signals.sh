#!/usr/bin/env bash
# With no --duration, syschaos injects until SIGTERM or SIGINT, then detaches promptly and
# exits 0, leaving nginx serving and untraced. Both signals are tested on one container.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

for sig in TERM INT; do
  start_syschaos inject --container "$CONTAINER" --fault 'openat:error=ENOENT:path=*/index.html'
  sleep 1
  wait_for_code / 404 4 || fail "SIG$sig round: GET / never returned 404 while injecting"
  kill -"$sig" "$SC_PID"
  start=$SECONDS
  wait_syschaos 5
  ((SC_RC == 0)) || fail "syschaos exited with $SC_RC after SIG$sig, expected 0"
  info "SIG$sig: syschaos detached and exited 0 within $((SECONDS - start)) s"
  grep -qi 'detached' "$SC_ERR" || fail "no 'detached' line in syschaos's summary after SIG$sig"
  expect_codes / 200 3 "after SIG$sig"
  check_not_traced
done
check_container_running
info "PASS"
