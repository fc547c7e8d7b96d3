#!/usr/bin/env bash
# `syschaos fs inject --container` on a process whose worker thread has a working directory
# of its own (created by clone() without CLONE_FS — Docker's default seccomp profile refuses
# unshare() — then chdir into a subdirectory of the volume) and keeps opening a RELATIVE path
# there (tests/integration/programs/fs_thread_cwd.c clone-no-fs own-files, run inside the
# nginx demo container with docker exec; the main thread's cwd is "/", off the volume). The
# worker also has an fd table of its own (no CLONE_FILES) with sub/held.txt open, read one
# byte per round (the byte must follow the previous one):
#   1. inject with EIO rules on opening that file and on reading held.txt: the thread's cwd
#      and its private fd are moved onto ChaosFS (the stderr line says "1 fd(s), 1 thread
#      cwd(s)"), its relative opens and its reads fail with EIO; SIGTERM: back on the
#      volume, they succeed again.
#   2. inject, then SIGKILL of syschaos, its supervisor and the restore guardian; the
#      thread's opens fail (ChaosFS's server is dead) until `syschaos fs restore
#      --container`, which moves its cwd back too.
# Without per-thread re-pointing the thread's opens would stay on the covered volume and the
# rule would never fire for it (tests/integration/fs/test_fs_container_repoint.cpp,
# ThreadCwdRepoint, checks that control case).
# The program reports any error other than the injected EIO as an ERROR line; after each
# recovery there must be none.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
PROG_BIN=$(dirname "$SYSCHAOS")/testprogs/fs_thread_cwd
[[ -x $PROG_BIN ]] || fail "$PROG_BIN not built"
VOLDIR=$TMP/html
nginx_site "$VOLDIR"
mkdir -p "$VOLDIR/sub"
printf 'probe content\n' >"$VOLDIR/sub/probe.txt"
printf '0123456789abcdefghijklmnopqrstuvwxyz' >"$VOLDIR/sub/held.txt"
start_nginx_with_volume "$VOLDIR"

run_in_container "$PROG_BIN" "$VOLUME" main-elsewhere clone-no-fs own-files
PROG=$IC_PID
OUT=$IC_OUT
for _ in $(seq 50); do grep -q '^thread ok=' "$OUT" 2>/dev/null && break; sleep 0.1; done
grep -q '^thread ok=' "$OUT" || fail "fs_thread_cwd does not work: $(cat "$OUT")"
WORKER=$(ls /proc/"$PROG"/task | grep -vx "$PROG" | head -1)
[[ -n $WORKER ]] || fail "fs_thread_cwd has no worker thread"
[[ $(readlink /proc/"$PROG"/task/"$WORKER"/cwd) == "$VOLUME/sub" ]] || fail "worker cwd: $(readlink /proc/"$PROG"/task/"$WORKER"/cwd)"
[[ $(readlink /proc/"$PROG"/cwd) == / ]] || fail "main cwd: $(readlink /proc/"$PROG"/cwd)"

# "ok eio heio" of the worker's last report line.
last_counts() { grep '^thread ok=' "$OUT" | tail -n 1 | sed -E 's/^thread ok=([0-9]+) eio=([0-9]+) heio=([0-9]+)$/\1 \2 \3/'; }
held_fd_mnt() {  # the mount id of the worker's held.txt fd (in its own table)
  local fd
  for fd in /proc/"$PROG"/task/"$WORKER"/fd/*; do
    [[ $(readlink "$fd") == "$VOLUME/sub/held.txt" ]] || continue
    awk '/^mnt_id:/ {print $2}' /proc/"$PROG"/task/"$WORKER"/fdinfo/"${fd##*/}"
    return
  done
}
# Where the worker's cwd is: its device number (the volume's ext4 and ChaosFS's FUSE device
# differ).
VOL_DEV=$(stat -L -c '%d' /proc/"$PROG"/task/"$WORKER"/cwd)
[[ $(held_fd_mnt) == "$VOL_MNT" ]] || fail "the worker's held.txt fd is not on the volume ($(held_fd_mnt))"
if ls -l /proc/"$PROG"/fd | grep -q held.txt; then fail "held.txt is in the main thread's fd table"; fi

wait_rounds() {  # N: waits until N more worker report lines (20 rounds each) have been written
  local before now i
  before=$(grep -c '^thread ok=' "$OUT")
  for ((i = 0; i < 100; i++)); do
    now=$(grep -c '^thread ok=' "$OUT")
    ((now >= before + $1)) && return 0
    sleep 0.1
  done
  fail "fs_thread_cwd makes no progress: $(tail -2 "$OUT")"
}
no_new_errors() {  # PHASE LINE: no ERROR after line LINE of the output
  if tail -n +"$(($2 + 1))" "$OUT" | grep -q ERROR; then fail "$1: fs_thread_cwd saw errors: $(tail -n +"$(($2 + 1))" "$OUT" | grep ERROR | sort | uniq -c | head -3)"; fi
}
back_on_volume() {  # PHASE: cwd on the volume again, opens succeed, no EIO any more
  [[ $(stat -L -c '%d' /proc/"$PROG"/task/"$WORKER"/cwd) == "$VOL_DEV" ]] ||
    fail "$1: the worker's cwd is not back on the volume"
  [[ $(readlink /proc/"$PROG"/task/"$WORKER"/cwd) == "$VOLUME/sub" ]] || fail "$1: worker cwd is $(readlink /proc/"$PROG"/task/"$WORKER"/cwd)"
  wait_rounds 1
  [[ $(held_fd_mnt) == "$VOL_MNT" ]] || fail "$1: the worker's held.txt fd is on mount $(held_fd_mnt), not the volume"
  local line ok1 eio1 heio1 ok2 eio2 heio2
  line=$(wc -l <"$OUT")
  read -r ok1 eio1 heio1 < <(last_counts)
  wait_rounds 3
  read -r ok2 eio2 heio2 < <(last_counts)
  ((ok2 >= ok1 + 40)) || fail "$1: the worker's opens do not succeed ($ok1 -> $ok2)"
  ((eio2 == eio1 && heio2 == heio1)) || fail "$1: the worker still gets EIO (open $eio1 -> $eio2, read $heio1 -> $heio2)"
  no_new_errors "$1" "$line"
  check_no_fs_leftovers "$1"
  check_not_traced
  info "$1: worker back on the volume, opens succeed (ok $ok1 -> $ok2, eio stays $eio2)"
}

cat >"$TMP/rules.yaml" <<'EOF'
faults:
  - methods: [open]
    path: sub/probe.txt
    fault: EIO
  - methods: [read]
    path: sub/held.txt
    fault: EIO
EOF

# ---- 1. inject, SIGTERM -----------------------------------------------------------------------
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml" \
  --control "$TMP/control.sock"
wait_fs_armed
grep -Eq "inject: pid $PROG \(fs_thread_cwd\): stopped [0-9.]+ ms .*moved [12] fd\(s\), 1 thread cwd\(s\)" "$SC_ERR" ||
  fail "1: the worker's cwd was not re-pointed: $(grep -E 'inject:|warning' "$SC_ERR")"
info "1: $(grep -o "inject: pid $PROG.*" "$SC_ERR")"
[[ $(stat -L -c '%d' /proc/"$PROG"/task/"$WORKER"/cwd) != "$VOL_DEV" ]] || fail "1: the worker's cwd is still on the volume"
[[ $(held_fd_mnt) != "$VOL_MNT" ]] || fail "1: the worker's held.txt fd is still on the volume"
read -r ok0 eio0 heio0 < <(last_counts)
wait_rounds 3
read -r ok1 eio1 heio1 < <(last_counts)
((eio1 >= eio0 + 40)) || fail "1: the worker's relative opens do not get the injected EIO ($eio0 -> $eio1)"
((heio1 >= heio0 + 40)) || fail "1: the worker's reads of its private fd do not get the injected EIO ($heio0 -> $heio1)"
failed=$("$SYSCHAOS" fs rules --control "$TMP/control.sock" --json list | jq '.rules[0].counters.failed')
((failed >= 40)) || fail "1: ChaosFS counted $failed failures"
info "1: the worker's opens and reads fail with EIO through ChaosFS (open $eio0 -> $eio1, read $heio0 -> $heio1, ChaosFS failed $failed)"
line=$(wc -l <"$OUT")
kill -TERM "$SC_PID"
wait_syschaos 30
((SC_RC == 0)) || fail "1: syschaos exited $SC_RC: $(tail -5 "$SC_ERR")"
# The worker holds its private fd, and may be caught between opening and closing a probe.
grep -Eq "recover: pid $PROG \(fs_thread_cwd\): .*moved [12] fd\(s\), 1 thread cwd\(s\)" "$SC_ERR" ||
  fail "1: the worker's cwd was not moved back: $(grep -E 'recover:|warning' "$SC_ERR")"
# Between the lazy unmount and the move back the thread still reached ChaosFS: EIO there is
# the injected fault. Anything else would be an ERROR line.
no_new_errors "1" "$line"
back_on_volume "1: after SIGTERM"

# ---- 2. SIGKILL of all three, then fs restore --------------------------------------------------
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/rules.yaml"
wait_fs_armed
grep -Eq "inject: pid $PROG \(fs_thread_cwd\): .*1 thread cwd\(s\)" "$SC_ERR" || fail "2: the worker's cwd was not re-pointed"
kill9_fs_inject 2
sleep 0.3
info "2: all three killed; the worker's opens now fail: $(tail -n 1 "$OUT")"
"$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore.err" || fail "2: fs restore failed: $(cat "$TMP/restore.err")"
grep -Eq "pid $PROG \(fs_thread_cwd\): .*moved [12] fd\(s\), 1 thread cwd\(s\)" "$TMP/restore.err" ||
  fail "2: fs restore did not move the worker's cwd back: $(cat "$TMP/restore.err")"
info "2: $(grep -o "pid $PROG.*" "$TMP/restore.err")"
back_on_volume "2: after fs restore"
kill -0 "$PROG" 2>/dev/null || fail "fs_thread_cwd died"
info "PASS"
