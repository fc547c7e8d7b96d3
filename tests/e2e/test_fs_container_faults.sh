#!/usr/bin/env bash
# syschaos fs inject --container: ChaosFS over the html volume of a running nginx container.
# Each phase checks what clients see under the faults, then that recovery leaves the
# container exactly as it was: serving, no ChaosFS in its mountinfo, nothing left on the host
# (/run/syschaos/fs, staging mounts), the volume's files unchanged. A process inside the
# container (fs_holder) keeps files, its cwd and a mapping open on the volume the whole
# time: it must be moved to ChaosFS and back, with its stop time reported, and never fail.
#   1. open fault EIO on index.html -> HTTP 500; then, live through the control socket, a
#      read fault on *.bin -> the body of 4k.bin never arrives (nginx's sendfile gets EIO)
#   2. latency 300 ms on open/read -> the request takes at least that long; ends by --duration
#   3. attrOverride size 0 on index.html -> 200 with an empty body
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
# nginx with its html directory as a volume from the host.
VOLDIR=$TMP/html
nginx_site "$VOLDIR"
fs_holder_files "$VOLDIR"
start_nginx_with_volume "$VOLDIR"
snapshot_volume index.html 4k.bin data.txt map.bin
start_fs_holder

holder_check() {  # PHASE: the holder runs, made progress, reported no error
  [[ -n $HOLDER_PID ]] || return 0
  kill -0 "$HOLDER_PID" 2>/dev/null || fail "$1: fs_holder died"
  if grep -q ERROR "$HOLDER_OUT"; then fail "$1: fs_holder saw errors: $(grep ERROR "$HOLDER_OUT" | sort | uniq -c | head -5)"; fi
  info "$1: fs_holder fine ($(tail -1 "$HOLDER_OUT"))"
}

check_recovered() {  # PHASE
  check_fs_recovered "$1"
  [[ $(curl -s "$BASE_URL/4k.bin" | wc -c) == 4096 ]] || fail "$1: 4k.bin is not 4096 bytes after recovery"
  if [[ -n $HOLDER_PID ]]; then
    [[ $(holder_fd_mnt 5) == "$VOL_MNT" ]] || fail "$1: fs_holder's fd 5 is on mount $(holder_fd_mnt 5), not the volume $VOL_MNT"
  fi
  holder_check "$1"
  info "$1: recovered, nothing left behind"
}

# ---- 1. open fault, then a live change to a read fault ----
cat >"$TMP/open.yaml" <<'EOF'
faults:
  - methods: [open]
    path: index.html
    fault: EIO
EOF
cat >"$TMP/read.yaml" <<'EOF'
faults:
  - methods: [read]
    path: "*.bin"
    fault: EIO
EOF
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/open.yaml" \
  --events "$TMP/events.jsonl" --control "$TMP/control.sock"
wait_fs_armed
CHAOS=$(fs_chaos_mount_id)
[[ -n $CHAOS ]] || fail "phase 1: no ChaosFS mount at $VOLUME in the container"
info "phase 1: ChaosFS is mount $CHAOS over the volume's mount $VOL_MNT"
expect_codes /index.html 500 3 "phase 1 (open EIO)"
expect_codes /4k.bin 200 2 "phase 1 (other files)"
if [[ -n $HOLDER_PID ]]; then
  for fd in 5 6 7; do
    [[ $(holder_fd_mnt "$fd") == "$CHAOS" ]] || fail "phase 1: fs_holder's fd $fd is on mount $(holder_fd_mnt "$fd"), not ChaosFS $CHAOS"
  done
  grep -Eq "inject: pid $HOLDER_PID \(fs_holder\): stopped [0-9.]+ ms .*moved 3 fd\(s\), cwd, 1 mapping" "$SC_ERR" ||
    fail "phase 1: no stop-time line for fs_holder: $(grep inject: "$SC_ERR")"
  jq -e --argjson p "$HOLDER_PID" 'select(.phase == "inject" and .pid == $p and .stop_ms > 0 and .fds == 3 and .mappings == 1 and .cwd)' \
    "$TMP/events.jsonl" >/dev/null || fail "phase 1: no inject event for fs_holder in --events"
  info "phase 1: $(grep -o "inject: pid $HOLDER_PID.*" "$SC_ERR")"
fi
holder_check "phase 1"
"$SYSCHAOS" fs rules --control "$TMP/control.sock" replace "$TMP/read.yaml" >/dev/null 2>"$TMP/rules.err" ||
  fail "fs rules replace failed: $(cat "$TMP/rules.err")"
expect_codes /index.html 200 3 "phase 1 (live change: open fault gone)"
for i in 1 2 3; do
  size=$(curl -s -m 3 -o /dev/null -w '%{size_download}' "$BASE_URL/4k.bin")
  rc=$?
  ((rc != 0 && size < 4096)) || fail "phase 1 (read EIO): GET /4k.bin got $size bytes, curl rc $rc"
done
info "phase 1 (read EIO): GET /4k.bin never gets its body (curl rc $rc, $size bytes)"
kill -TERM "$SC_PID"
wait_syschaos 30
((SC_RC == 0)) || fail "phase 1: syschaos exited $SC_RC: $(tail -5 "$SC_ERR")"
if [[ -n $HOLDER_PID ]]; then
  jq -e --argjson p "$HOLDER_PID" 'select(.phase == "recover" and .pid == $p and .fds == 3 and .mappings == 1 and (.left | length) == 0)' \
    "$TMP/events.jsonl" >/dev/null || fail "phase 1: fs_holder was not moved back completely: $(cat "$TMP/events.jsonl")"
fi
check_recovered "phase 1"

# ---- 2. latency, ended by --duration ----
cat >"$TMP/latency.yaml" <<'EOF'
faults:
  - methods: [open, read]
    latency: 300ms
EOF
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/latency.yaml" --duration 6s
wait_fs_armed
t=$(curl -s -o /dev/null -m 5 -w '%{time_total}' "$BASE_URL/index.html")
info "phase 2 (latency 300ms): GET /index.html took ${t}s"
awk -v t="$t" 'BEGIN {exit !(t >= 0.3)}' || fail "phase 2: GET took ${t}s, the 300 ms latency did not show"
holder_check "phase 2"
wait_syschaos 30
((SC_RC == 0)) || fail "phase 2: syschaos exited $SC_RC"
check_recovered "phase 2"

# ---- 3. attrOverride size 0 ----
cat >"$TMP/attr.yaml" <<'EOF'
faults:
  - path: index.html
    attrOverride: {size: 0}
EOF
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/attr.yaml" --duration 30s
wait_fs_armed
for i in 1 2 3; do
  read -r code size < <(curl -s -m 3 -o /dev/null -w '%{http_code} %{size_download}\n' "$BASE_URL/index.html")
  [[ $code == 200 && $size == 0 ]] || fail "phase 3 (size 0): GET /index.html -> $code with $size bytes"
done
[[ $(curl -s "$BASE_URL/4k.bin" | wc -c) == 4096 ]] || fail "phase 3: 4k.bin changed too"
info "phase 3 (attrOverride size 0): GET /index.html -> 200 with an empty body"
kill -INT "$SC_PID"
wait_syschaos 30
((SC_RC == 0)) || fail "phase 3: syschaos exited $SC_RC"
check_recovered "phase 3"
info "PASS"
