#!/usr/bin/env bash
# An I/O error on the calls nginx sends responses with (writev for headers and small bodies,
# sendfile for file bodies) makes requests fail while syschaos injects; after it has
# detached, nginx serves normally again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

expect_codes / 200 2 "before"
expect_codes /4k.bin 200 2 "before"

start_syschaos inject --container "$CONTAINER" --fault 'sendfile,writev:error=EIO' --duration 6s
sleep 1
# "Failed" = no usable response: curl error (empty reply, reset) or a non-200 status.
first_failure() {
  local end=$((SECONDS + 4)) code
  while ((SECONDS <= end)); do
    code=$(CURL_TIMEOUT=2 http_code /)
    [[ $code != 200 ]] && return 0
    sleep 0.1
  done
  return 1
}
first_failure || fail "during: GET / kept returning 200 for 5 s after starting syschaos"
for path in / /4k.bin / /4k.bin /; do
  request "$path"
  [[ $CODE != 200 ]] || fail "during: GET $path returned 200 while writev/sendfile fail with EIO"
  info "during: GET $path -> $CODE (curl exit $CURL_RC)"
  sleep 0.1
done

wait_syschaos 20
((SC_RC == 0)) || fail "syschaos exited with $SC_RC, expected 0"

expect_codes / 200 3 "after"
expect_codes /4k.bin 200 2 "after"
check_container_running
check_not_traced
hits=$(total_hits "$SC_ERR")
((hits > 0)) || fail "no hit counted in syschaos's summary"
info "summary counts $hits hit(s)"
info "PASS"
