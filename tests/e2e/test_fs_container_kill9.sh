#!/usr/bin/env bash
# SIGKILL during `syschaos fs inject --container`: the container's volume must stay usable.
#   1. SIGKILL of the foreground syschaos while requests are delayed by ChaosFS: the
#      supervisor sees it die (pidfd) and recovers by itself; nginx keeps serving.
#   2. SIGKILL of the supervisor: the foreground syschaos sees it (waitpid) and recovers.
#   3. SIGKILL of both: the restore guardian (a third process, in a session of its own)
#      sees both die and runs `syschaos fs restore` by itself.
#   4. SIGKILL of all three: ChaosFS's server is gone, so the volume fails (ENOTCONN) until
#      `syschaos fs restore --container` removes the dead mount and moves the processes back.
# After each: no ChaosFS in the container, nothing on the host, the files intact, a process
# holding files on the volume (fs_holder) working again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
VOLDIR=$TMP/html
nginx_site "$VOLDIR"
fs_holder_files "$VOLDIR"
start_nginx_with_volume "$VOLDIR"
snapshot_volume index.html 4k.bin data.txt map.bin

# The holder works again: its fds are back on the volume and new rounds pass without error.
holder_recovered() {  # PHASE
  [[ -n $HOLDER_PID ]] || return 0
  kill -0 "$HOLDER_PID" 2>/dev/null || fail "$1: fs_holder died"
  local fd m
  for fd in 5 6 7; do
    m=$(holder_fd_mnt "$fd")
    [[ $m == "$VOL_MNT" ]] || fail "$1: fs_holder's fd $fd is on mount $m, not the volume $VOL_MNT"
  done
  local before after
  before=$(grep -c . "$HOLDER_OUT")
  sleep 0.5
  after=$(grep -c . "$HOLDER_OUT")
  ((after > before)) || fail "$1: fs_holder makes no progress"
  if tail -n +$((before + 1)) "$HOLDER_OUT" | grep -q ERROR; then fail "$1: fs_holder still fails: $(tail -3 "$HOLDER_OUT")"; fi
  info "$1: fs_holder back on the volume and working ($(tail -1 "$HOLDER_OUT"))"
}
check_clean() {  # PHASE
  check_fs_recovered "$1"
  expect_codes / 200 2 "$1"
  expect_codes /4k.bin 200 2 "$1"
  holder_recovered "$1"
}

cat >"$TMP/rules.yaml" <<'EOF'
faults:
  - methods: [open]
    path: index.html
    latency: 400ms
  - methods: [open]
    path: 4k.bin
    fault: EACCES
EOF

# ---- 1. SIGKILL of the foreground syschaos, requests in flight ----
start_fs_holder
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml"
wait_fs_armed
expect_codes /4k.bin 403 2 "1: during (EACCES)"
SUP=$(fs_supervisor_pid)
[[ -n $SUP ]] || fail "1: no supervisor process"
inflight=()
for i in 1 2 3; do
  curl -s -o /dev/null -m 5 -w '%{http_code}' "$BASE_URL/" >"$TMP/inflight.$i" &
  inflight+=($!)
  _pids+=($!)
done
sleep 0.1
kill -KILL "$SC_PID"
wait "$SC_PID" 2>/dev/null
info "1: syschaos (pid $SC_PID) killed with SIGKILL; supervisor pid $SUP recovers"
for p in "${inflight[@]}"; do wait "$p" 2>/dev/null; done
for i in 1 2 3; do [[ $(cat "$TMP/inflight.$i") == 200 ]] || fail "1: a request in flight got $(cat "$TMP/inflight.$i")"; done
for _ in $(seq 100); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SUP" 2>/dev/null && fail "1: the supervisor did not finish recovering within 10 s"
grep -q "died: removing ChaosFS" "$SC_ERR" || fail "1: the supervisor did not say why it recovered: $(tail -3 "$SC_ERR")"
grep -q "recovered:" "$SC_ERR" || fail "1: no 'recovered' from the supervisor: $(tail -3 "$SC_ERR")"
check_clean "1: after SIGKILL of syschaos"

# ---- 2. SIGKILL of the supervisor ----
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml"
wait_fs_armed
SUP=$(fs_supervisor_pid)
kill -KILL "$SUP"
wait_syschaos 30
((SC_RC != 0)) || fail "2: syschaos exited 0 although its supervisor was killed"
grep -q "was killed by" "$SC_ERR" || fail "2: syschaos did not report the supervisor's death: $(tail -3 "$SC_ERR")"
info "2: supervisor killed; syschaos recovered and exited $SC_RC"
check_clean "2: after SIGKILL of the supervisor"

# ---- 3. SIGKILL of both: the guardian restores ----
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml"
wait_fs_armed
SUP=$(fs_supervisor_pid)
GUARD=$(fs_guardian_pid "$SUP")
[[ -n $GUARD ]] || fail "3: no restore guardian process"
kill -KILL "$SC_PID" "$SUP"
wait "$SC_PID" 2>/dev/null
info "3: syschaos and its supervisor killed; guardian pid $GUARD restores"
for _ in $(seq 150); do ! chaosfs_in_container && ! kill -0 "$GUARD" 2>/dev/null && break; sleep 0.1; done
! chaosfs_in_container || fail "3: the guardian did not remove ChaosFS within 15 s"
check_clean "3: after SIGKILL of both"

# ---- 4. SIGKILL of all three, then fs restore ----
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml"
wait_fs_armed
kill9_fs_inject 4
code=$(http_code /)
info "4: all three killed: GET / -> $code (ChaosFS's server is gone)"
[[ $code != 200 ]] || fail "4: GET / still 200 with a dead ChaosFS: the test proves nothing"
"$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore.err" || fail "4: fs restore failed: $(cat "$TMP/restore.err")"
info "4: $(tail -1 "$TMP/restore.err")"
check_clean "4: after fs restore"
# A second restore finds nothing and says so.
"$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore2.err" || fail "4: a second fs restore failed"
grep -q "0 ChaosFS mount(s) removed" "$TMP/restore2.err" || fail "4: second restore: $(cat "$TMP/restore2.err")"
info "PASS"
