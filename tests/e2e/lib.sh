# shellcheck shell=bash disable=SC2034  # CURL_RC, SC_RC, CODE are read by the tests
# Shared helpers for the e2e tests (sourced, not a test: ctest runs only test_*.sh).
# Each test gets the syschaos binary as $1, starts its own uniquely named container of
# syschaos/nginx-demo on 127.0.0.1 with --network host, and removes everything it started on
# every exit path. Exit 77 = skipped (no Docker, not root, a tool missing).
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
NGINX_IMAGE=syschaos/nginx-demo:latest
# shellcheck source=../../scripts/nginx-conf.sh
source "$REPO_ROOT/scripts/nginx-conf.sh"

_containers=()
_pids=()
TMP=""
SC_PID=""
SC_ERR=""

info() { echo "[$TEST_NAME] $*" >&2; }
fail() {
  echo "[$TEST_NAME] FAIL: $*" >&2
  _dump_diagnostics
  exit 1
}
skip() { echo "[$TEST_NAME] SKIP: $*" >&2; exit 77; }

_dump_diagnostics() {
  if [[ -n $SC_ERR && -s $SC_ERR ]]; then
    echo "----- syschaos stderr -----" >&2
    tail -n 40 "$SC_ERR" >&2
  fi
  local c
  for c in "${_containers[@]}"; do
    echo "----- docker logs $c (last 20 lines) -----" >&2
    docker logs --tail 20 "$c" 2>&1 | sed 's/^/  /' >&2 || true
  done
}

_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p i
  for p in "${_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null
      for ((i = 0; i < 30; i++)); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
  done
  for p in "${_containers[@]}"; do
    docker rm -f "$p" >/dev/null 2>&1
  done
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}

# e2e_init "$@": checks the binary and the environment, sets SYSCHAOS and TMP, installs traps.
e2e_init() {
  SYSCHAOS=${1:-${SYSCHAOS:-}}
  [[ -n $SYSCHAOS ]] || fail "usage: bash $TEST_NAME.sh /path/to/syschaos"
  [[ -x $SYSCHAOS ]] || fail "syschaos binary not executable: $SYSCHAOS"
  [[ $(id -u) -eq 0 ]] || skip "needs root (ptrace of container processes)"
  local t
  for t in docker curl jq ss; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/setup.sh installs it)"
  done
  timeout 15 docker info >/dev/null 2>&1 || skip "Docker daemon not reachable"
  TMP=$(mktemp -d "/tmp/syschaos-$TEST_NAME.XXXXXX")
  SC_ERR=$TMP/syschaos.stderr
  trap _cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  _remove_stale_containers
  if ! docker image inspect "$NGINX_IMAGE" >/dev/null 2>&1; then
    info "building $NGINX_IMAGE"
    bash "$REPO_ROOT/scripts/build-images.sh" >&2 || fail "could not build $NGINX_IMAGE"
  fi
}

# Containers of earlier runs that were killed before their trap ran (a ctest timeout sends
# SIGKILL): their name carries the test's pid, which is gone.
_remove_stale_containers() {
  local name pid
  for name in $(docker ps -a --filter name=syschaos-e2e- --format '{{.Names}}' 2>/dev/null); do
    pid=$(sed -nE 's/^syschaos-e2e-.*-([0-9]+)-[0-9]+$/\1/p' <<<"$name")
    [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null || continue
    info "removing stale container $name"
    docker rm -f "$name" >/dev/null 2>&1
  done
}

# start_nginx [DOCKER RUN OPTIONS...]: runs the demo container (with the extra options, e.g. a
# volume); sets CONTAINER, PORT, BASE_URL; waits until GET / = 200.
start_nginx() {
  PORT=$(free_port) || fail "no free port on 127.0.0.1"
  CONTAINER=syschaos-e2e-$TEST_NAME-$$-$RANDOM
  BASE_URL=http://127.0.0.1:$PORT
  _containers+=("$CONTAINER")
  docker run -d --name "$CONTAINER" --network host -e PORT="$PORT" "$@" "$NGINX_IMAGE" >/dev/null ||
    fail "docker run $NGINX_IMAGE failed"
  wait_for_code / 200 10 || fail "nginx in $CONTAINER did not serve GET / within 10 s"
  info "nginx container $CONTAINER serves $BASE_URL"
}

# request PATH: one GET; sets CODE (000 when the request failed: reset, empty reply, timeout)
# and CURL_RC (curl's exit code). Never fails itself.
request() {
  CODE=$(curl -s -o /dev/null -m "${CURL_TIMEOUT:-3}" -w '%{http_code}' "$BASE_URL$1")
  CURL_RC=$?
  CODE=${CODE:-000}
}

# http_code PATH: prints the status code of one GET (000 when it failed).
http_code() {
  request "$1"
  echo "$CODE"
}

# wait_for_code PATH CODE SECONDS: polls every 0.1 s until a request gets CODE.
wait_for_code() {
  local path=$1 want=$2 secs=$3 end code
  end=$((SECONDS + secs))
  while ((SECONDS <= end)); do
    code=$(CURL_TIMEOUT=2 http_code "$path")
    [[ $code == "$want" ]] && return 0
    sleep 0.1
  done
  return 1
}

# expect_codes PATH CODE N PHASE: N requests, 0.1 s apart, must all get CODE.
expect_codes() {
  local path=$1 want=$2 n=$3 phase=$4 i code got=()
  for ((i = 0; i < n; i++)); do
    code=$(http_code "$path")
    got+=("$code")
    sleep 0.1
  done
  for code in "${got[@]}"; do
    [[ $code == "$want" ]] || fail "$phase: GET $path expected $n x $want, got: ${got[*]}"
  done
  info "$phase: GET $path -> ${got[*]}"
}

# start_syschaos ARGS...: runs syschaos in the background, stderr to $SC_ERR; sets SC_PID.
start_syschaos() {
  info "syschaos $*"
  "$SYSCHAOS" "$@" 2>"$SC_ERR" &
  SC_PID=$!
  _pids+=("$SC_PID")
}

# wait_syschaos SECONDS: waits for syschaos to exit and sets SC_RC to its exit code. Fails
# when it outlives SECONDS (it must detach by itself at the end of --duration).
wait_syschaos() {
  local secs=$1 end
  end=$((SECONDS + secs))
  while kill -0 "$SC_PID" 2>/dev/null; do
    ((SECONDS <= end)) || fail "syschaos still running ${secs} s after start of wait"
    sleep 0.1
  done
  wait "$SC_PID"
  SC_RC=$?
}

# summary_sum FILE COLUMN: the sum of one column of syschaos's per-rule summary table, whose
# header names its columns ("rule  matched  injected  fault"; "would-fire" under --dry-run)
# and whose rows start with the rule's index.
summary_sum() {
  awk -v want="$2" '
    $1 == "rule" { col = 0; for (i = 2; i <= NF; i++) if ($i == want) col = i; next }
    col && $1 ~ /^[0-9]+$/ && $col ~ /^[0-9]+$/ { sum += $col }
    END { print sum + 0 }' "$1"
}

# total_hits FILE: calls the faults acted on (the "injected" column, or "would-fire" in a dry
# run); falls back to "hits=N"-like text should the summary change shape.
total_hits() {
  local n
  n=$(( $(summary_sum "$1" injected) + $(summary_sum "$1" would-fire) ))
  if ((n == 0)); then
    n=$(grep -Eio '(hits?|injected)[[:space:]]*[=:][[:space:]]*[0-9]+' "$1" |
        grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  fi
  echo "$n"
}

# container_pids: host pids of every process of the container.
container_pids() {
  docker top "$CONTAINER" -eo pid 2>/dev/null | tail -n +2 | tr -d ' '
}

# check_not_traced: every thread of every container process is neither stopped by a tracer
# (state t/T) nor still traced (TracerPid != 0).
check_not_traced() {
  local pid task state tracer n=0
  for pid in $(container_pids); do
    for task in /proc/"$pid"/task/*; do
      [[ -r $task/stat ]] || continue
      state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "$task/stat")
      tracer=$(awk '/^TracerPid:/ {print $2}' "$task/status")
      [[ $state != [tT] ]] || fail "thread ${task##*/} of pid $pid is stopped (state $state)"
      [[ ${tracer:-0} == 0 ]] || fail "thread ${task##*/} of pid $pid still traced by $tracer"
      n=$((n + 1))
    done
  done
  ((n > 0)) || fail "no processes found in container $CONTAINER"
  info "$n thread(s) of $CONTAINER: not stopped, not traced"
}

check_container_running() {
  local state
  state=$(docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null)
  [[ $state == running ]] || fail "container $CONTAINER is '$state', expected running"
}

# ---- ChaosFS container mode (`syschaos fs inject --container`) ------------------------------
# The test_fs_container_*.sh scripts put ChaosFS over nginx's html directory, a volume from a
# host directory, and check what clients see and that recovery leaves nothing behind.

# start_nginx_with_volume DIR: the demo container serving DIR (made readable by nginx's user)
# as the volume $VOLUME (default /usr/share/nginx/html). Besides start_nginx's variables it
# sets VOLDIR (DIR), MAIN_PID (nginx master's pid on the host), CID (the full container id)
# and VOL_MNT (the volume's mount id in the container, what files go back to on recovery).
start_nginx_with_volume() {
  VOLDIR=$1
  VOLUME=${VOLUME:-/usr/share/nginx/html}
  chmod -R a+rX "$VOLDIR"
  start_nginx -v "$VOLDIR:$VOLUME"
  MAIN_PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
  [[ $MAIN_PID =~ ^[1-9][0-9]*$ && -n $CID ]] || fail "docker inspect $CONTAINER: pid '$MAIN_PID', id '$CID'"
  VOL_MNT=$(awk -v v="$VOLUME" '$5 == v {print $1}' /proc/"$MAIN_PID"/mountinfo | tail -1)
  [[ -n $VOL_MNT ]] || fail "the volume $VOLUME is not in the container's mountinfo"
}

# snapshot_volume FILES...: remembers the checksums of these files of the volume (relative to
# VOLDIR); check_volume_unchanged compares with them.
snapshot_volume() {
  (cd "$VOLDIR" && sha256sum "$@") >"$TMP/volume.sums" || fail "sha256sum of the volume's files"
}
check_volume_unchanged() {  # PHASE
  [[ -s $TMP/volume.sums ]] || fail "$1: snapshot_volume was not called"
  (cd "$VOLDIR" && sha256sum -c --quiet "$TMP/volume.sums") || fail "$1: the volume's files changed"
}

# container_pgrep PATTERN: host pids of the processes of this test's container whose command
# line matches PATTERN (pgrep -f), one a line. Another test's container may run the same
# program at the same time: those are not ours.
container_pgrep() {
  local p mine
  mine=" $(container_pids | tr '\n' ' ') "
  for p in $(pgrep -f "$1"); do
    [[ $mine == *" $p "* ]] && echo "$p"
  done
}

# run_in_container BIN ARGS...: copies BIN into the container's /tmp and runs it there in the
# background (docker exec -d), output in the container's /tmp/NAME.out; waits up to 5 s for a
# new process of it. Sets IC_PID (its host pid) and IC_OUT (its output file, seen from the
# host).
run_in_container() {
  local bin=$1 name before i p
  shift
  name=$(basename "$bin")
  docker cp "$bin" "$CONTAINER:/tmp/$name" >/dev/null || fail "docker cp $name into $CONTAINER"
  before=" $(container_pgrep "^/tmp/$name" | tr '\n' ' ') "
  docker exec -d "$CONTAINER" sh -c "exec /tmp/$name $* > /tmp/$name.out 2>&1" ||
    fail "docker exec $name in $CONTAINER"
  IC_PID=""
  for ((i = 0; i < 50; i++)); do
    for p in $(container_pgrep "^/tmp/$name"); do
      [[ $before == *" $p "* ]] || { IC_PID=$p; break; }
    done
    [[ -n $IC_PID ]] && break
    sleep 0.1
  done
  [[ -n $IC_PID ]] || fail "$name did not start in $CONTAINER"
  IC_OUT=/proc/$MAIN_PID/root/tmp/$name.out
}

# fs_holder_files DIR: the files start_fs_holder needs on the volume (data.txt, map.bin).
fs_holder_files() {
  printf '0123456789abcdefghijklmnopqrstuvwxyz' >"$1/data.txt"
  head -c 4096 /dev/zero | tr '\0' 'M' >"$1/map.bin"
}

# start_fs_holder: (re)starts tests/integration/programs/fs_holder in the container, holding
# files, its cwd and a mapping on the volume (it needs data.txt and map.bin there); sets
# HOLDER_PID and HOLDER_OUT. HOLDER_PID stays empty when the program is not built (the
# integration targets build it): the callers then skip their holder checks, and say so.
start_fs_holder() {
  local bin
  bin=$(dirname "$SYSCHAOS")/testprogs/fs_holder
  if [[ ! -x $bin ]]; then
    info "no $bin (build the integration tests): the in-container holder checks are skipped"
    HOLDER_PID=""
    return 0
  fi
  [[ -n ${HOLDER_PID:-} ]] && kill "$HOLDER_PID" 2>/dev/null
  run_in_container "$bin" "$VOLUME" own-pipe
  HOLDER_PID=$IC_PID
  HOLDER_OUT=$IC_OUT
  sleep 0.3
  info "fs_holder runs in the container as pid $HOLDER_PID"
}
# holder_fd_mnt FD: the mount id of the holder's file descriptor FD.
holder_fd_mnt() { awk '/^mnt_id:/ {print $2}' /proc/"$HOLDER_PID"/fdinfo/"$1"; }

# wait_fs_armed [SECONDS [STDERR-FILE PID]]: waits (10 s by default) until an `fs inject`
# (the one start_syschaos started, or PID writing to STDERR-FILE) says its rules are armed
# (ChaosFS is over the volume, the open files moved, the rules installed).
wait_fs_armed() {
  local secs=${1:-10} err=${2:-$SC_ERR} pid=${3:-$SC_PID} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -q 'rule(s) armed' "$err" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "syschaos exited before arming: $(cat "$err")"
    sleep 0.1
  done
  fail "syschaos did not arm its rules within $secs s: $(cat "$err")"
}

# fs_chaos_mount_id: the mount id of ChaosFS over $VOLUME in the container (empty if none).
fs_chaos_mount_id() {
  awk -v v="$VOLUME" '$5 == v && $0 ~ / - fuse.syschaos / {print $1}' /proc/"$MAIN_PID"/mountinfo
}
# chaosfs_in_container: true while any ChaosFS mount is in the container's mountinfo.
chaosfs_in_container() { grep -q 'fuse.syschaos' /proc/"$MAIN_PID"/mountinfo; }

# The two other processes of an injection started by start_syschaos: the supervisor (its
# child, serves ChaosFS) and the restore guardian (forked by the supervisor into a session of
# its own, so a syschaos session leader naming this container, started after SC_PID: a
# guardian of an earlier phase may still be on its way out).
fs_supervisor_pid() { pgrep -P "$SC_PID" -x syschaos | head -1; }
fs_guardian_pid() {
  local sup=$1 p since
  since=$(awk '{print $22}' /proc/"$SC_PID"/stat 2>/dev/null) || return 0
  for p in $(pgrep -x syschaos); do
    [[ $p == "$SC_PID" || $p == "$sup" ]] && continue
    [[ $(ps -o sid= -p "$p" | tr -d ' ') == "$p" ]] || continue
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--container $CONTAINER " || continue
    (($(awk '{print $22}' /proc/"$p"/stat 2>/dev/null || echo 0) >= since)) || continue
    echo "$p"
    return 0
  done
}
# kill9_fs_inject: SIGKILL of all three processes of the running injection (the foreground
# syschaos, its supervisor, the guardian); waits until they are gone. ChaosFS's server is then
# dead: the volume fails (ENOTCONN) until `syschaos fs restore`. Sets SUP and GUARD.
kill9_fs_inject() {  # PHASE
  local i
  SUP=$(fs_supervisor_pid)
  GUARD=$(fs_guardian_pid "$SUP")
  [[ -n $SUP && -n $GUARD ]] || fail "$1: supervisor ($SUP) or guardian ($GUARD) not found"
  kill -KILL "$GUARD" "$SC_PID" "$SUP"
  wait "$SC_PID" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$SUP" 2>/dev/null || kill -0 "$GUARD" 2>/dev/null || break
    sleep 0.1
  done
  info "$1: syschaos ($SC_PID), its supervisor ($SUP) and guardian ($GUARD) killed with SIGKILL"
}

# check_no_fs_leftovers PHASE: nothing of ChaosFS is left for this container: no fuse.syschaos
# mount in it, no staging mount, state file or socket of it on the host, no hidden directory.
check_no_fs_leftovers() {
  local phase=$1 base=/run/syschaos/fs/${CID:0:12}
  ! chaosfs_in_container || fail "$phase: ChaosFS still in the container's mountinfo"
  if grep -q " $base" /proc/self/mountinfo; then fail "$phase: a staging mount is left on the host"; fi
  if compgen -G "$base-*" >/dev/null; then fail "$phase: left in /run/syschaos/fs: $(ls /run/syschaos/fs)"; fi
  if compgen -G "/proc/$MAIN_PID/root$VOLUME/*__chaosfs__*" >/dev/null ||
     [[ -e /proc/$MAIN_PID/root${VOLUME}__chaosfs__ ]]; then
    fail "$phase: a hidden __chaosfs__ directory was left"
  fi
}

# check_fs_recovered PHASE: after an injection ended: nothing left behind, the volume's files
# unchanged, the container running and serving GET /, none of its threads stopped or traced.
check_fs_recovered() {
  check_no_fs_leftovers "$1"
  check_volume_unchanged "$1"
  check_container_running
  expect_codes / 200 3 "$1: after recovery"
  check_not_traced
}
