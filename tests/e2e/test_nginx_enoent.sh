#!/usr/bin/env bash
# ChaosOrca's classic: openat(index.html) fails with ENOENT inside a running nginx container,
# so GET / turns into 404 while syschaos injects and back into 200 once it has detached.
# Other files keep being served (the path filter), and the summary counts the hits.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

expect_codes / 200 3 "before"

start_syschaos inject --container "$CONTAINER" \
  --fault 'openat:error=ENOENT:path=*/index.html' --duration 6s
sleep 1
wait_for_code / 404 4 || fail "during: GET / never returned 404 within 5 s of starting syschaos"
expect_codes / 404 5 "during"
expect_codes /4k.bin 200 2 "during (path filter: other files unaffected)"

wait_syschaos 20
((SC_RC == 0)) || fail "syschaos exited with $SC_RC, expected 0"
info "syschaos exited 0"

expect_codes / 200 3 "after"
check_container_running
check_not_traced

hits=$(total_hits "$SC_ERR")
((hits > 0)) || fail "no hit counted in syschaos's summary"
info "summary counts $hits hit(s)"
info "PASS"
