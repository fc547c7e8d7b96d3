#!/usr/bin/env bash
# Bad input is one clear line on stderr and exit code 2, with nothing injected: an unknown
# or stopped container, an unknown syscall, errno or key. The running container is untouched.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

# expect_usage_error DESCRIPTION ARGS...: syschaos must exit 2 at once with one stderr line.
expect_usage_error() {
  local what=$1; shift
  local rc lines
  timeout 10 "$SYSCHAOS" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  lines=$(grep -c . "$TMP/err")
  ((rc == 2)) || fail "$what: exit code $rc, expected 2 (stderr: $(cat "$TMP/err"))"
  ((lines == 1)) || fail "$what: $lines stderr lines, expected one: $(cat "$TMP/err")"
  [[ ! -s $TMP/out ]] || fail "$what: printed on stdout: $(cat "$TMP/out")"
  info "$what: exit 2: $(cat "$TMP/err")"
}

expect_usage_error "unknown container" inject --container "syschaos-no-such-$$" \
  --fault 'openat:error=ENOENT' --duration 2s
expect_usage_error "unknown syscall" inject --container "$CONTAINER" \
  --fault 'opnat:error=ENOENT' --duration 2s
expect_usage_error "unknown errno" inject --container "$CONTAINER" \
  --fault 'openat:error=ENOSUCH' --duration 2s
expect_usage_error "unknown key" inject --container "$CONTAINER" \
  --fault 'openat:error=ENOENT:colour=blue' --duration 2s

stopped=syschaos-e2e-$TEST_NAME-stopped-$$-$RANDOM
_containers+=("$stopped")
docker create --name "$stopped" --network host "$NGINX_IMAGE" >/dev/null
expect_usage_error "stopped container" inject --container "$stopped" \
  --fault 'openat:error=ENOENT' --duration 2s

# syschaos run: a spec with a mistake is refused before anything starts.
printf 'target: {container: %s}\nworkload: {http: {url: "%s/", rate: 5}}\nexperiments: [{fault: "openat:error=ENOSUCH"}]\n' \
  "$CONTAINER" "$BASE_URL" >"$TMP/bad-errno.yaml"
expect_usage_error "run: unknown errno in a spec" run "$TMP/bad-errno.yaml" --output "$TMP/run-out"
[[ ! -e $TMP/run-out ]] || fail "run created its output folder for a refused spec"
printf 'target: {container: %s}\nworkload: {http: {url: "http://192.0.2.7/", rate: 5}}\nexperiments: [{fault: "read:error=EIO"}]\n' \
  "$CONTAINER" >"$TMP/remote.yaml"
expect_usage_error "run: a load aimed off the machine" run "$TMP/remote.yaml"
expect_usage_error "run: no such spec" run "$TMP/no-such-spec.yaml"
printf 'target: {container: syschaos-no-such-%s}\nexperiments: [{fault: "read:error=EIO"}]\n' "$$" >"$TMP/nosuch.yaml"
expect_usage_error "run: unknown container" run "$TMP/nosuch.yaml" --output "$TMP/run-out2"
[[ ! -e $TMP/run-out2 ]] || fail "run created its output folder for an unknown container"
printf 'target: {container: %s, ready_url: "http://192.0.2.9/"}\nexperiments: [{fault: "read:error=EIO"}]\n' \
  "$CONTAINER" >"$TMP/ready.yaml"
expect_usage_error "run: a readiness probe aimed off the machine" run "$TMP/ready.yaml"
printf 'target: {container: %s}\nexperiments: [{fault: "read:error=EIO"}]\n' "$CONTAINER" >"$TMP/valid.yaml"
expect_usage_error "run: --only an unknown experiment" run "$TMP/valid.yaml" --only nosuch --output "$TMP/run-out3"
[[ ! -e $TMP/run-out3 ]] || fail "run created its output folder for an unknown --only id"

expect_codes / 200 3 "after the rejected runs"
check_not_traced
info "PASS"
