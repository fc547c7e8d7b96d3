#!/usr/bin/env bash
# When the target container stops while syschaos injects, syschaos notices that its target
# exited, detaches and exits by itself, well before its --duration.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

start_syschaos inject --container "$CONTAINER" \
  --fault 'openat:error=ENOENT:path=*/index.html' --duration 60s
sleep 1
wait_for_code / 404 4 || fail "GET / never returned 404 while injecting"
docker stop -t 5 "$CONTAINER" >/dev/null || fail "docker stop $CONTAINER failed"
info "container stopped"
start=$SECONDS
wait_syschaos 15
info "syschaos exited $SC_RC, $((SECONDS - start)) s after the container stopped"
((SC_RC == 0)) || fail "syschaos exited with $SC_RC when its target exited, expected 0"
grep -Eqi 'exit' "$SC_ERR" || fail "summary does not say the target exited"
info "PASS"
