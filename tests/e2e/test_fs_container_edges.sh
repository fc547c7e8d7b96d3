#!/usr/bin/env bash
# The cases of `syschaos fs inject --container` that docs/CHAOSFS.md ("Supported and
# refused") documents and no other test covers:
#   1. a volume with shared propagation (`bind-propagation=rshared`): refused with one line
#      and exit 2, nothing mounted in the container or on the host; the same directory
#      mounted `rslave` is supported, and ChaosFS does not show on the host;
#   2. a read-only volume (`-v host:/ro:ro`): supported; the faults act, writes still fail
#      with EROFS, the process whose cwd is there moves and comes back; and the volume still
#      looks read-only (access(W_OK) says EROFS, the mount covering it is "ro" and has the
#      volume's nosuid/nodev/noexec), checked at the end so that cases 3 and 4 run whatever
#      the outcome;
#   3. three injections at once: two volumes of one container and a volume of another, each
#      with its own errno, started together; each volume gets its own faults only, stopping
#      one leaves the other two injecting, and all restore cleanly;
#   4. file locks across the injection, for flock and for fcntl (POSIX) locks: a process of
#      the container holding a lock on the volume makes the injection refused (exit 2, one
#      line naming the pid, its command and the file; nothing mounted or left; it keeps its
#      lock); a lock taken after that check, during the move, undoes the injection (exit 1);
#      locks taken through ChaosFS during the injection exclude each other, and at the
#      recovery their holders stay whole on the detached ChaosFS, still holding their locks
#      (a flock is still seen on the volume: ChaosFS holds it on the backing file), while
#      syschaos returns 0 and its server lingers, without rules, until they close their
#      files (fs restore leaves it alone); then it exits and nothing is left; a SIGTERM ends
#      it early, and only the files still open on it fail (ENOTCONN). The lock results
#      are checked at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
IMAGE=syschaos/busybox-like:latest
docker image inspect "$IMAGE" >/dev/null 2>&1 || bash "$REPO_ROOT/scripts/build-images.sh" >&2 ||
  fail "could not build $IMAGE"

# The shared host mount of case 1 must go before lib.sh's cleanup removes $TMP.
SHARED_SRC=""
edges_cleanup() {
  local c
  for c in "${_containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  [[ -n $SHARED_SRC ]] && umount -l "$SHARED_SRC" 2>/dev/null
}
trap 'rc=$?; edges_cleanup; (exit $rc); _cleanup' EXIT

# run_container NAME-SUFFIX DOCKER-ARGS... -- COMMAND...: sets CONTAINER, MAIN_PID.
run_container() {
  local suffix=$1
  shift
  local args=()
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  # The suffix goes before the pid: lib.sh finds stale containers by "-PID-RANDOM" at the end.
  CONTAINER=syschaos-e2e-$TEST_NAME-$suffix-$$-$RANDOM
  _containers+=("$CONTAINER")
  docker run -d --name "$CONTAINER" --network none "${args[@]}" "$IMAGE" "$@" >/dev/null ||
    fail "docker run ${args[*]} failed"
  MAIN_PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
}
mounts_of() { awk '{print $5, $9}' /proc/"$1"/mountinfo | sort; }
# A ChaosFS mount on the host at or below this test's directories (other tests may have
# their own ChaosFS mounts elsewhere at the same time).
host_has_chaosfs() { awk -v t="$TMP" '/ fuse\.syschaos / && index($5, t) == 1 {f = 1} END {exit !f}' /proc/self/mountinfo; }
host_mounts_here() { awk -v t="$TMP" 'index($5, t) == 1 {print $5, $9}' /proc/self/mountinfo | sort; }

# in_container CONTAINER COMMAND: runs it with sh; prints "rc=N: output".
in_container() {
  local out rc
  out=$(docker exec "$1" /bin/sh -c "$2" 2>&1)
  rc=$?
  echo "rc=$rc: $out"
}
# expect_in CONTAINER COMMAND PATTERN PHASE: the command's "rc=N: output" matches PATTERN.
expect_in() {
  local got
  got=$(in_container "$1" "$2")
  [[ $got =~ $3 ]] || fail "$4: '$2' gave '$got', expected /$3/"
  info "$4: '$2' -> $got"
}

stop_injection() {  # PID STDERR-FILE PHASE
  kill -TERM "$1"
  local i
  for ((i = 0; i < 300; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && fail "$3: syschaos still runs 30 s after SIGTERM"
  wait "$1"
  local rc=$?
  ((rc == 0)) || fail "$3: syschaos exited $rc: $(tail -3 "$2")"
  grep -q 'recovered:' "$2" || fail "$3: no 'recovered' line: $(tail -3 "$2")"
}

cat >"$TMP/eio.yaml" <<'EOF'
faults:
  - methods: [open]
    path: f.txt
    fault: EIO
EOF

# ---- 1. Shared propagation refused; slave propagation supported ---------------------------
SHARED_SRC=$TMP/shared-src
mkdir -p "$SHARED_SRC"
echo shared >"$SHARED_SRC/f.txt"
mount --bind "$SHARED_SRC" "$SHARED_SRC" || fail "mount --bind $SHARED_SRC"
mount --make-shared "$SHARED_SRC" || fail "mount --make-shared $SHARED_SRC"
run_container rshared --mount "type=bind,source=$SHARED_SRC,target=/vol,bind-propagation=rshared" -- sleep 100000
prop=$(awk '$5 == "/vol"' /proc/"$MAIN_PID"/mountinfo)
[[ $prop == *shared:* ]] || fail "1: /vol is not shared in the container, the case is not set up: $prop"
before=$(mounts_of "$MAIN_PID")
host_before=$(host_mounts_here)
"$SYSCHAOS" fs inject --container "$CONTAINER" --volume /vol --faults "$TMP/eio.yaml" >"$TMP/out" 2>"$TMP/err"
rc=$?
((rc == 2)) || fail "1: rshared volume: exit $rc, expected 2 ($(cat "$TMP/err"))"
(($(wc -l <"$TMP/err") == 1)) || fail "1: expected one line on stderr, got: $(cat "$TMP/err")"
grep -q "shared propagation" "$TMP/err" || fail "1: the message does not name the shared propagation: $(cat "$TMP/err")"
[[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "1: the container's mounts changed although refused"
[[ $(host_mounts_here) == "$host_before" ]] || fail "1: the host's mounts changed although refused"
CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
if compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null; then fail "1: state left in /run/syschaos/fs"; fi
expect_in "$CONTAINER" "cat /vol/f.txt" '^rc=0: shared$' "1: after the refusal"
info "1: refused: $(cat "$TMP/err")"

# The same shared host directory, mounted rslave: the container receives the host's mounts
# but does not send its own, so ChaosFS stays in the container.
run_container rslave --mount "type=bind,source=$SHARED_SRC,target=/vol,bind-propagation=rslave" -- sleep 100000
prop=$(awk '$5 == "/vol"' /proc/"$MAIN_PID"/mountinfo)
[[ $prop == *master:* && $prop != *shared:* ]] || fail "1: /vol is not a slave mount in the container: $prop"
before=$(mounts_of "$MAIN_PID")
start_syschaos fs inject --container "$CONTAINER" --volume /vol --faults "$TMP/eio.yaml"
wait_fs_armed 15 "$SC_ERR" "$SC_PID"
expect_in "$CONTAINER" "cat /vol/f.txt" '^rc=1: .*Input/output error' "1: rslave volume under ChaosFS"
host_has_chaosfs && fail "1: the ChaosFS mount propagated to the host: $(grep "fuse.syschaos" /proc/self/mountinfo)"
[[ $(cat "$SHARED_SRC/f.txt") == shared ]] || fail "1: the host reads the file differently"
stop_injection "$SC_PID" "$SC_ERR" "1: rslave"
[[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "1: rslave: the container's mounts differ after recovery"
expect_in "$CONTAINER" "cat /vol/f.txt" '^rc=0: shared$' "1: rslave after recovery"
check_not_traced
for c in "${_containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
_containers=()
umount -l "$SHARED_SRC" || fail "umount $SHARED_SRC"
SHARED_SRC=""

# ---- 2. A read-only volume -----------------------------------------------------------------
RO=$TMP/ro
mkdir -p "$RO"
echo fine >"$RO/f.txt"
echo other >"$RO/other.txt"
run_container ro -v "$RO:/ro:ro" -- /bin/sh -c 'cd /ro && exec sleep 100000'
VOL_DEV=$(stat -L -c %d /proc/"$MAIN_PID"/cwd)
awk '$5 == "/ro"' /proc/"$MAIN_PID"/mountinfo | grep -q ' ro[, ]' || fail "2: /ro is not mounted read-only"
before=$(mounts_of "$MAIN_PID")
ro_opts_before=$(awk '$5 == "/ro" {o = $6} END {print o}' /proc/"$MAIN_PID"/mountinfo)
expect_in "$CONTAINER" "echo x > /ro/new" '^rc=[12]: .*Read-only file system' "2: before, create"
expect_in "$CONTAINER" '[ -w /ro/f.txt ] && echo writable || echo not-writable' '^rc=0: not-writable$' "2: before, test -w"
start_syschaos fs inject --container "$CONTAINER" --volume /ro --faults "$TMP/eio.yaml"
wait_fs_armed 15 "$SC_ERR" "$SC_PID"
grep -q 'read-only' "$SC_ERR" || fail "2: the message does not say the volume is read-only: $(head -3 "$SC_ERR")"
[[ $(stat -L -c %d /proc/"$MAIN_PID"/cwd) != "$VOL_DEV" ]] || fail "2: the cwd of sleep was not moved onto ChaosFS"
expect_in "$CONTAINER" "cat /ro/f.txt" '^rc=1: .*Input/output error' "2: during, the fault"
expect_in "$CONTAINER" "cat /ro/other.txt" '^rc=0: other$' "2: during, another file"
expect_in "$CONTAINER" "echo x > /ro/new" '^rc=[12]: .*Read-only file system' "2: during, create"
expect_in "$CONTAINER" "echo x >> /ro/other.txt" '^rc=[12]: .*Read-only file system' "2: during, append"
expect_in "$CONTAINER" "cd /ro && ls" '^rc=0: f.txt.other.txt$' "2: during, listing"
# What an application asks before writing: `test -w` is access(W_OK), which the kernel
# answers EROFS from the flags of the mount the path is on.
ro_access_during=$(in_container "$CONTAINER" '[ -w /ro/f.txt ] && echo writable || echo not-writable')
ro_opts_during=$(awk '$5 == "/ro" {o = $6} END {print o}' /proc/"$MAIN_PID"/mountinfo)
ro_fstype_during=$(awk '$5 == "/ro" {for (i = 7; $i != "-"; i++); t = $(i + 1)} END {print t}' /proc/"$MAIN_PID"/mountinfo)
[[ $ro_fstype_during == fuse.syschaos ]] || fail "2: the topmost mount at /ro is $ro_fstype_during, not ChaosFS"
stop_injection "$SC_PID" "$SC_ERR" "2: read-only volume"
[[ $(stat -L -c %d /proc/"$MAIN_PID"/cwd) == "$VOL_DEV" ]] || fail "2: the cwd of sleep is not back on the volume"
[[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "2: the container's mounts differ after recovery"
expect_in "$CONTAINER" "cat /ro/f.txt" '^rc=0: fine$' "2: after recovery"
[[ $(ls "$RO") == $'f.txt\nother.txt' ]] || fail "2: the read-only volume changed: $(ls "$RO")"
[[ $(cat "$RO/other.txt") == other ]] || fail "2: other.txt changed"
check_not_traced

# ---- 3. Three injections at once -----------------------------------------------------------
for d in a1 a2 b1; do
  mkdir -p "$TMP/$d"
  echo "$d" >"$TMP/$d/f.txt"
done
run_container a -v "$TMP/a1:/v1" -v "$TMP/a2:/v2" -- /bin/sh -c 'cd /v1 && exec sleep 100000'
A=$CONTAINER
A_PID=$MAIN_PID
docker exec -d "$A" /bin/sh -c 'cd /v2 && exec sleep 100001' || fail "3: docker exec in $A"
run_container b -v "$TMP/b1:/v1" -- /bin/sh -c 'cd /v1 && exec sleep 100000'
B=$CONTAINER
B_PID=$MAIN_PID
A2_PID=""
for _ in $(seq 50); do
  for p in $(docker top "$A" -eo pid,args | awk '$3 == "100001" {print $1}'); do A2_PID=$p; done
  [[ -n $A2_PID ]] && break
  sleep 0.1
done
[[ -n $A2_PID ]] || fail "3: the second process of $A did not start"
dev_a1=$(stat -c %d "$TMP/a1")
a_before=$(mounts_of "$A_PID")
b_before=$(mounts_of "$B_PID")
for e in EIO EACCES ENOSPC; do
  printf 'faults:\n  - methods: [open]\n    path: f.txt\n    fault: %s\n' "$e" >"$TMP/$e.yaml"
done
# Started together: the three supervisors mount, move and arm at the same time.
"$SYSCHAOS" fs inject --container "$A" --volume /v1 --faults "$TMP/EIO.yaml" 2>"$TMP/a1.err" &
P_A1=$!
"$SYSCHAOS" fs inject --container "$A" --volume /v2 --faults "$TMP/EACCES.yaml" 2>"$TMP/a2.err" &
P_A2=$!
"$SYSCHAOS" fs inject --container "$B" --volume /v1 --faults "$TMP/ENOSPC.yaml" 2>"$TMP/b1.err" &
P_B1=$!
_pids+=("$P_A1" "$P_A2" "$P_B1")
SC_ERR=$TMP/a1.err
wait_fs_armed 15 "$TMP/a1.err" "$P_A1"
wait_fs_armed 15 "$TMP/a2.err" "$P_A2"
wait_fs_armed 15 "$TMP/b1.err" "$P_B1"
(($(grep -c 'fuse.syschaos' /proc/"$A_PID"/mountinfo) == 2)) || fail "3: expected 2 ChaosFS mounts in $A"
(($(grep -c 'fuse.syschaos' /proc/"$B_PID"/mountinfo) == 1)) || fail "3: expected 1 ChaosFS mount in $B"
host_has_chaosfs && fail "3: a ChaosFS mount is visible on the host"
# Each process was moved by the injection of its own volume.
[[ $(stat -L -c %d /proc/"$A_PID"/cwd) != "$dev_a1" ]] || fail "3: the cwd of $A's pid 1 (/v1) is not on ChaosFS"
[[ $(stat -L -c %d /proc/"$A2_PID"/cwd) != "$dev_a1" ]] || fail "3: the cwd of $A's second process (/v2) is not on ChaosFS"
[[ $(stat -L -c %d /proc/"$A_PID"/cwd) != $(stat -L -c %d /proc/"$A2_PID"/cwd) ]] ||
  fail "3: /v1 and /v2 of $A are on the same ChaosFS"
expect_in "$A" "cat /v1/f.txt" '^rc=1: .*Input/output error' "3: $A /v1 (EIO)"
expect_in "$A" "cat /v2/f.txt" '^rc=1: .*Permission denied' "3: $A /v2 (EACCES)"
expect_in "$B" "cat /v1/f.txt" '^rc=1: .*No space left on device' "3: $B /v1 (ENOSPC)"
# Stopping one leaves the others injecting.
stop_injection "$P_A1" "$TMP/a1.err" "3: $A /v1"
expect_in "$A" "cat /v1/f.txt" '^rc=0: a1$' "3: $A /v1 after its recovery"
[[ $(stat -L -c %d /proc/"$A_PID"/cwd) == "$dev_a1" ]] || fail "3: the cwd of $A's pid 1 is not back on /v1"
expect_in "$A" "cat /v2/f.txt" '^rc=1: .*Permission denied' "3: $A /v2 still injected"
expect_in "$B" "cat /v1/f.txt" '^rc=1: .*No space left on device' "3: $B /v1 still injected"
stop_injection "$P_A2" "$TMP/a2.err" "3: $A /v2"
stop_injection "$P_B1" "$TMP/b1.err" "3: $B /v1"
expect_in "$A" "cat /v2/f.txt" '^rc=0: a2$' "3: $A /v2 after recovery"
expect_in "$B" "cat /v1/f.txt" '^rc=0: b1$' "3: $B /v1 after recovery"
[[ $(mounts_of "$A_PID") == "$a_before" ]] || fail "3: $A's mounts differ after recovery"
[[ $(mounts_of "$B_PID") == "$b_before" ]] || fail "3: $B's mounts differ after recovery"
[[ $(stat -L -c %d /proc/"$A2_PID"/cwd) == $(stat -c %d "$TMP/a2") ]] || fail "3: the cwd of $A's second process is not back on /v2"
for c in "$A" "$B"; do
  cid=$(docker inspect -f '{{.Id}}' "$c")
  if grep -q "/run/syschaos/fs/${cid:0:12}-" /proc/self/mountinfo; then fail "3: a staging mount of $c is left on the host"; fi
  if compgen -G "/run/syschaos/fs/${cid:0:12}-*" >/dev/null; then fail "3: left in /run/syschaos/fs for $c"; fi
  CONTAINER=$c
  check_not_traced
done
# ---- 4. File locks across the injection ---------------------------------------------------
PROBE=$(dirname "$SYSCHAOS")/testprogs/fs_lock_probe
if [[ ! -x $PROBE ]]; then
  PROBE=$TMP/fs_lock_probe
  cc -O2 -o "$PROBE" "$REPO_ROOT/tests/integration/programs/fs_lock_probe.c" || fail "4: cannot build fs_lock_probe"
fi
LK=$TMP/locks
mkdir -p "$LK"
for f in before-fcntl before-flock during-fcntl during-flock; do echo "$f" >"$LK/$f.db"; done
run_container locks -v "$LK:/lk" -- sleep 100000
docker cp "$PROBE" "$CONTAINER:/tmp/fs_lock_probe" >/dev/null || fail "4: docker cp fs_lock_probe"
LK_DEV=$(stat -c %d "$LK")
CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
# hold NAME KIND: a process of the container holding the lock on /lk/NAME.db; its host pid
# in HOLDER[NAME].
declare -A HOLDER
hold() {
  docker exec -d "$CONTAINER" /bin/sh -c "exec /tmp/fs_lock_probe hold /lk/$1.db $2 >/tmp/$1.out 2>&1"
  local i
  for ((i = 0; i < 50; i++)); do
    if [[ $(cat /proc/"$MAIN_PID"/root/tmp/"$1".out 2>/dev/null) == locked ]]; then
      HOLDER[$1]=$(pgrep -f "^/tmp/fs_lock_probe hold /lk/$1.db" | head -1)
      [[ -n ${HOLDER[$1]} ]] || fail "4: no host pid for the holder of /lk/$1.db"
      return 0
    fi
    sleep 0.1
  done
  fail "4: the holder of /lk/$1.db did not lock it: $(cat /proc/"$MAIN_PID"/root/tmp/"$1".out 2>/dev/null)"
}
# try NAME KIND: what a new process of the container gets ("conflict" or "acquired").
try() { docker exec "$CONTAINER" /tmp/fs_lock_probe try "/lk/$1.db" "$2" 2>&1; }
# fd_dev PID NAME: the device of the file PID has open as NAME.db (its fd's link ends so).
fd_dev() {
  local l
  for l in /proc/"$1"/fd/*; do
    [[ $(readlink "$l") == */"$2".db ]] && { stat -L -c %d "$l"; return; }
  done
  echo none
}
state_left() { compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null || grep -q "/run/syschaos/fs/${CID:0:12}-" /proc/self/mountinfo; }
printf 'faults:\n  - methods: [write]\n    latency: 1ms\n' >"$TMP/slow.yaml"
before=$(mounts_of "$MAIN_PID")

# A lock held on the volume: refused up front, nothing touched, the holder keeps its lock.
for kind in fcntl flock; do
  hold "before-$kind" "$kind"
  [[ $(try "before-$kind" "$kind") == conflict ]] ||
    fail "4: without ChaosFS a second process is not refused the $kind lock: the test proves nothing"
  "$SYSCHAOS" fs inject --container "$CONTAINER" --volume /lk --faults "$TMP/slow.yaml" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  ((rc == 2)) || fail "4: a $kind lock holder on the volume: exit $rc, expected 2 ($(cat "$TMP/err"))"
  (($(wc -l <"$TMP/err") == 1)) || fail "4: expected one line on stderr, got: $(cat "$TMP/err")"
  grep -q "pid ${HOLDER[before-$kind]} (fs_lock_probe) holds a file lock on the volume: /lk/before-$kind.db" "$TMP/err" ||
    fail "4: the refusal does not name pid ${HOLDER[before-$kind]}, its command and the file: $(cat "$TMP/err")"
  [[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "4: the container's mounts changed although refused"
  state_left && fail "4: state or a staging mount left on the host after the refusal"
  [[ $(try "before-$kind" "$kind") == conflict ]] || fail "4: the $kind holder lost its lock after the refusal"
  info "4: $kind holder: $(cat "$TMP/err")"
  kill -KILL "${HOLDER[before-$kind]}"
done
for _ in $(seq 50); do pgrep -f "fs_lock_probe hold /lk/before" >/dev/null || break; sleep 0.1; done

# A lock taken after the up-front check, during the move (a process that locks as soon as
# ChaosFS appears, moved after one with 900 fds on the volume): the injection is undone by
# the orderly recovery, exit 1 naming it; the locker keeps its lock, the other comes back.
start_probe() {  # NAME ARGS...: a probe in the container, its output /tmp/NAME.out; sets PROBE_PID
  local name=$1 i
  shift
  docker exec -d "$CONTAINER" /bin/sh -c "exec /tmp/fs_lock_probe $* >/tmp/$name.out 2>&1"
  for ((i = 0; i < 100; i++)); do
    [[ $(cat /proc/"$MAIN_PID"/root/tmp/"$name".out 2>/dev/null) == opened ]] && break
    sleep 0.1
  done
  PROBE_PID=$(pgrep -f "^/tmp/fs_lock_probe $*" | head -1)
  [[ -n $PROBE_PID ]] || fail "4: probe $* did not start: $(cat /proc/"$MAIN_PID"/root/tmp/"$name".out 2>/dev/null)"
}
start_probe many open-many /lk/during-flock.db 900
MANY=$PROBE_PID
start_probe late hold-when-covered /lk/before-fcntl.db fcntl
LATE=$PROBE_PID
"$SYSCHAOS" fs inject --container "$CONTAINER" --volume /lk --faults "$TMP/slow.yaml" >"$TMP/out" 2>"$TMP/err"
rc=$?
((rc == 1)) || fail "4: a lock taken during the move: exit $rc, expected 1 ($(tail -3 "$TMP/err"))"
grep -q "pid $LATE (fs_lock_probe) holds a file lock on the volume: /lk/before-fcntl.db .*(it locked the file after the check, during the move); removing ChaosFS again" "$TMP/err" ||
  fail "4: the failure does not name the late locker $LATE and its file: $(cat "$TMP/err")"
grep -q "recovered:" "$TMP/err" || fail "4: the injection was not undone by the recovery: $(tail -3 "$TMP/err")"
grep -q "recover: pid $MANY (fs_lock_probe)" "$TMP/err" || fail "4: the process with 900 fds was not moved back: $(tail -3 "$TMP/err")"
[[ $(cat /proc/"$MAIN_PID"/root/tmp/late.out) == $'opened\nlocked' ]] || fail "4: the late locker: $(cat /proc/"$MAIN_PID"/root/tmp/late.out)"
[[ $(try before-fcntl fcntl) == conflict ]] || fail "4: the late locker lost its lock"
[[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "4: the container's mounts differ after the undone injection"
state_left && fail "4: state or a staging mount left on the host after the undone injection"
n=0
for l in /proc/"$MANY"/fd/*; do [[ $(readlink "$l") == */during-flock.db && $(stat -L -c %d "$l") == "$LK_DEV" ]] && n=$((n + 1)); done
((n == 900)) || fail "4: $n of the 900 fds are back on the volume"
info "4: a lock taken during the move: $(grep 'it locked the file after the check' "$TMP/err" | sed 's/^syschaos: //' | cut -c1-160)..."
kill -KILL "$MANY" "$LATE"
for _ in $(seq 50); do kill -0 "$LATE" 2>/dev/null || break; sleep 0.1; done

# Locks taken through ChaosFS: they stay with their holders on the detached ChaosFS.
start_syschaos fs inject --container "$CONTAINER" --volume /lk --faults "$TMP/slow.yaml"
wait_fs_armed 15 "$SC_ERR" "$SC_PID"
hold during-fcntl fcntl
hold during-flock flock
lock_fcntl_during=$(try during-fcntl fcntl)
lock_flock_during=$(try during-flock flock)
info "4: during the injection, a lock taken through ChaosFS seen through ChaosFS: flock -> $lock_flock_during, fcntl -> $lock_fcntl_during"
stop_injection "$SC_PID" "$SC_ERR" "4: locks"
grep -q "keep files on the detached ChaosFS" "$SC_ERR" ||
  fail "4: the recovery does not say that the lock holders stay on ChaosFS: $(tail -3 "$SC_ERR")"
SERVER=$(grep -o 'its server (pid [0-9]*)' "$SC_ERR" | grep -o '[0-9]*' | tail -1)
[[ -n $SERVER ]] && kill -0 "$SERVER" 2>/dev/null || fail "4: no lingering ChaosFS server: $(tail -3 "$SC_ERR")"
info "4: $(grep 'keep files on the detached ChaosFS' "$SC_ERR" | sed 's/^syschaos: //')"
for name in during-fcntl during-flock; do
  grep -q "pid ${HOLDER[$name]} (fs_lock_probe): stays on ChaosFS" "$SC_ERR" ||
    fail "4: the recovery does not say that pid ${HOLDER[$name]} stays: $(grep 'recover' "$SC_ERR")"
  dev=$(fd_dev "${HOLDER[$name]}" "$name")
  [[ $dev != none && $dev != "$LK_DEV" ]] || fail "4: the holder of $name.db is not on ChaosFS any more (device $dev)"
done
grep -q '^lock:' /proc/"${HOLDER[during-fcntl]}"/fdinfo/* 2>/dev/null || fail "4: the fcntl holder lost its lock"
grep -q 'fuse.syschaos' /proc/"$MAIN_PID"/mountinfo && fail "4: ChaosFS is still mounted in the container"
[[ $(mounts_of "$MAIN_PID") == "$before" ]] || fail "4: the container's mounts differ after the recovery"
state_left && fail "4: state or a staging mount left on the host while the server lingers"
# fs restore has nothing to do: it leaves the lingering server and its files alone.
"$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore.err" || fail "4: fs restore failed: $(cat "$TMP/restore.err")"
grep -q "0 ChaosFS mount(s) removed" "$TMP/restore.err" || fail "4: fs restore: $(cat "$TMP/restore.err")"
kill -0 "$SERVER" 2>/dev/null || fail "4: fs restore ended the lingering server"
[[ $(fd_dev "${HOLDER[during-fcntl]}" during-fcntl) != "$LK_DEV" ]] || fail "4: fs restore moved a lock holder"
lock_fcntl_after=$(try during-fcntl fcntl)
lock_flock_after=$(try during-flock flock)
info "4: after the recovery, a lock taken through ChaosFS seen on the volume: flock -> $lock_flock_after, fcntl -> $lock_fcntl_after (not shared, documented)"
kill -0 "$SERVER" 2>/dev/null || fail "4: the ChaosFS server exited while its files are still open"
kill -KILL "${HOLDER[during-fcntl]}" "${HOLDER[during-flock]}"
for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER" 2>/dev/null && fail "4: the ChaosFS server (pid $SERVER) still runs 10 s after its last files were closed"
grep -q "are closed; its server (pid $SERVER) exits" "$SC_ERR" || fail "4: the server did not say why it exits: $(tail -2 "$SC_ERR")"
[[ $(try during-fcntl fcntl) == acquired && $(try during-flock flock) == acquired ]] ||
  fail "4: the locks are still held after their holders and the server are gone"
state_left && fail "4: state or a staging mount left on the host"
expect_in "$CONTAINER" "cat /lk/during-flock.db" '^rc=0: during-flock$' "4: after the server's exit"
# A signal to the lingering server ends it at once; only the files still open on it fail
# (ENOTCONN), the volume does not.
start_syschaos fs inject --container "$CONTAINER" --volume /lk --faults "$TMP/slow.yaml"
wait_fs_armed 15 "$SC_ERR" "$SC_PID"
hold during-fcntl fcntl
stop_injection "$SC_PID" "$SC_ERR" "4: locks, SIGTERM"
SERVER=$(grep -o 'its server (pid [0-9]*)' "$SC_ERR" | grep -o '[0-9]*' | tail -1)
[[ -n $SERVER ]] && kill -0 "$SERVER" 2>/dev/null || fail "4: no lingering ChaosFS server: $(tail -3 "$SC_ERR")"
kill -TERM "$SERVER"
for _ in $(seq 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER" 2>/dev/null && fail "4: the lingering server still runs 5 s after SIGTERM"
grep -q "fail with ENOTCONN until closed" "$SC_ERR" || fail "4: the server did not say what its SIGTERM leaves: $(tail -2 "$SC_ERR")"
fdl=""
for l in /proc/"${HOLDER[during-fcntl]}"/fd/*; do [[ $(readlink "$l") == */during-fcntl.db ]] && fdl=$l; done
[[ -n $fdl ]] || fail "4: the holder has no fd of during-fcntl.db"
got=$(cat "$fdl" 2>&1)
[[ $got == *"not connected"* ]] || fail "4: the holder's file on the stopped server gives '$got', expected ENOTCONN"
expect_in "$CONTAINER" "cat /lk/during-fcntl.db" '^rc=0: during-fcntl$' "4: the volume after the server's SIGTERM"
kill -KILL "${HOLDER[during-fcntl]}"
state_left && fail "4: state or a staging mount left on the host after the SIGTERM"
info "4: SIGTERM to the lingering server: $(grep 'fail with ENOTCONN' "$SC_ERR" | sed 's/^syschaos: //')"
check_not_traced

# ---- The checks kept for the end (see the top) ---------------------------------------------
# 2, the read-only look.
info "2: during: test -w /ro/f.txt -> $ro_access_during; the mount at /ro has options $ro_opts_during (before: $ro_opts_before)"
[[ $ro_access_during == "rc=0: not-writable" ]] ||
  fail "2: with ChaosFS over the read-only volume, access(W_OK) says writable (before: not writable)"
[[ ,$ro_opts_during, == *,ro,* ]] || fail "2: the mount over the read-only volume is '$ro_opts_during', not ro"
# Its other attributes are the volume's too: nosuid, nodev, noexec neither added nor lost.
flags_of() { tr , '\n' <<<"$1" | grep -E '^(ro|rw|nosuid|nodev|noexec)$' | sort | tr '\n' ,; }
[[ $(flags_of "$ro_opts_during") == $(flags_of "$ro_opts_before") ]] ||
  fail "2: the mount over the volume has '$ro_opts_during', the volume had '$ro_opts_before'"
# 4, the locks (kept for last, see the top).
[[ $lock_flock_during == conflict && $lock_flock_after == conflict ]] ||
  fail "4: flock locks are not shared across the injection (during: $lock_flock_during, after: $lock_flock_after)"
[[ $lock_fcntl_during == conflict ]] ||
  fail "4: an fcntl lock taken through ChaosFS is not seen through ChaosFS: a second process got it ($lock_fcntl_during)"
# An fcntl lock taken through ChaosFS lives on ChaosFS's inode: after the recovery a process
# opening the file on the volume does not see it (documented; printed above).
info "PASS"
