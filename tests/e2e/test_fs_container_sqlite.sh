#!/usr/bin/env bash
# A real database on a container's volume under `syschaos fs inject`: Debian's sqlite3, in a
# container of its own, commits one transaction after another on /data (a bind-mounted host
# directory) and prints "committed N" on its stdout only after sqlite3 returned success for
# the transaction's COMMIT. For each journal mode (rollback journal, WAL):
#   A. write and fsync faults (EIO) plus latency for a few seconds, then an orderly recovery
#      (SIGTERM): transactions failed and others committed meanwhile;
#   B. SIGKILL of the foreground syschaos mid-injection: its supervisor recovers;
#   S. SIGKILL of the supervisor: the foreground syschaos recovers and exits non-zero;
#   C. SIGKILL of syschaos and its supervisor: the restore guardian recovers;
#   D. SIGKILL of all three: the volume fails (ENOTCONN) until `syschaos fs restore`.
# After each: no ChaosFS in the container or on the host, nothing traced, the writer's cwd on
# the volume again and the writer committing again. At the end: PRAGMA integrity_check is
# "ok", every id printed as committed is in the database with both of its rows (a
# transaction is all or nothing), and the writer never went longer than a bounded time
# without a commit.
# Then long-lived connections, as a database-backed service keeps them, in both journal
# modes (in WAL mode a connection holds file locks for as long as it is open): one opened
# before the injection, one during it, and one-shot connections beside them. No fault rule
# fires (a 1 ms write delay only), so nothing may fail: every transaction reported committed,
# by any of them, must be in the database afterwards, and both connections must keep
# working after the recovery. In WAL mode the connection opened before holds locks on the
# volume: the injection is refused (exit 2, one line naming it), nothing is mounted and the
# connection keeps committing; the connection opened during the injection holds locks taken
# through ChaosFS: at the recovery it stays on the detached ChaosFS, whose server (without
# rules) lingers after syschaos returned and exits once that connection is closed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed (scripts/setup.sh installs it)"

IMAGE=syschaos/sqlite-writer:latest
MAX_GAP_S=10   # longest time the writer may go without a commit, SIGKILL phases included

# ---- The image: sh (dash), sqlite3 and sleep from this machine, and the writer ----------
# One sqlite3 process per transaction, so that every transaction opens the database anew
# (on ChaosFS while it is mounted) and an error is sqlite3's exit status.
WRITER_SH=$(cat <<'SH'
#!/bin/sh
# /writer.sh: commits transaction N (two rows, one per table, and a counter update) and
# prints "committed N" only after sqlite3 returned success; "failed N" otherwise. Stops when
# /tmp/stop exists or after 100000 attempts.
cd /data || exit 1
n=0
while [ ! -e /tmp/stop ] && [ $n -lt 100000 ]; do
  n=$((n + 1))
  if sqlite3 db.sqlite "PRAGMA busy_timeout=5000; BEGIN IMMEDIATE;
      INSERT INTO t(id, payload) VALUES($n, randomblob(3000));
      INSERT INTO t2(id, tag) VALUES($n, 'tx$n');
      UPDATE counter SET n = n + 1;
      COMMIT;" >/dev/null; then
    echo "committed $n"
  else
    echo "failed $n"
    sleep 0.05
  fi
done
echo "stopped $n"
SH
)

build_image() {
  local bins=(/bin/dash /usr/bin/sqlite3 /bin/sleep) hash have
  hash=$({ printf '%s' "$WRITER_SH"; sha256sum "${bins[@]}"; } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "org.syschaos.build-hash" }}' "$IMAGE" 2>/dev/null) || have=""
  [[ $have == "$hash" ]] && return 0
  info "building $IMAGE ($hash)"
  local root=$TMP/rootfs b lib dest
  mkdir -p "$root"/{bin,usr/bin,tmp,data,proc,sys,dev,etc}
  chmod 1777 "$root/tmp"
  for b in "${bins[@]}"; do
    dest=$b
    [[ $b == /bin/dash ]] && dest=/bin/sh
    cp -L "$b" "$root$dest"
    while read -r lib; do
      [[ -z $lib || -e $root$lib ]] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  done
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
  printf '%s\n' "$WRITER_SH" >"$root/writer.sh"
  chmod 755 "$root/writer.sh"
  local old
  old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null) || old=""
  tar -C "$root" --numeric-owner -cf - . |
    docker import --change "LABEL org.syschaos.build-hash=$hash" --change 'CMD ["/bin/sh", "/writer.sh"]' - "$IMAGE" \
      >/dev/null || fail "docker import of $IMAGE failed"
  [[ -n $old ]] && docker image rm "$old" >/dev/null 2>&1
  rm -rf "$root"
}
build_image

# ---- Helpers ---------------------------------------------------------------------------
# (The logs are counted with grep -c, never grep -q: with pipefail, a grep that quits at the
# first match fails the pipeline through docker's SIGPIPE.)
commits() { docker logs "$CONTAINER" 2>/dev/null | awk '$1 == "committed" {print $2}'; }
count_of() { docker logs "$CONTAINER" 2>/dev/null | grep -c "^$1 "; }

# wait_commits N SECONDS PHASE: N more commits than now within SECONDS.
wait_commits() {
  local want=$(($(count_of committed) + $1)) end=$((SECONDS + $2))
  while (($(count_of committed) < want)); do
    ((SECONDS <= end)) || fail "$3: the writer did not commit $1 transaction(s) within $2 s (log: $(docker logs --tail 3 "$CONTAINER" 2>&1 | tr '\n' ' '))"
    check_container_running
    sleep 0.1
  done
}

cwd_dev() { stat -L -c %d /proc/"$MAIN_PID"/cwd; }

check_clean() {  # PHASE
  ! chaosfs_in_container || fail "$1: ChaosFS still mounted in the container"
  if grep -q "/run/syschaos/fs/${CID:0:12}-" /proc/self/mountinfo; then fail "$1: a staging mount is left on the host"; fi
  if compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null; then fail "$1: left in /run/syschaos/fs: $(ls /run/syschaos/fs)"; fi
  [[ $(cwd_dev) == "$VOL_DEV" ]] || fail "$1: the writer's cwd is on device $(cwd_dev), not the volume's $VOL_DEV"
  check_container_running
  check_not_traced
  wait_commits 5 10 "$1"
  info "$1: clean; the writer commits again ($(count_of committed) committed, $(count_of failed) failed so far)"
}

# rules_sum COLUMN: the sum of a column (DELAYED, FAILED, ...) of `fs rules list`.
rules_sum() {
  "$SYSCHAOS" fs rules --control "$SOCK" list 2>/dev/null |
    awk -v want="$1" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == want) c = i; next} c {s += $c} END {print s + 0}'
}

cat >"$TMP/faults.yaml" <<'EOF'
faults:
  - name: eio-writes
    methods: [write]
    path: "db.sqlite*"
    percent: 4
    fault: EIO
  - name: eio-fsync
    methods: [fsync]
    percent: 8
    fault: EIO
  - name: slow-io
    methods: [read, write, fsync]
    percent: 50
    latency: {delay: 4ms, jitter: 3ms}
EOF

# ---- One journal mode ------------------------------------------------------------------
run_mode() {
  local mode=$1
  local data=$TMP/data-$mode
  mkdir -p "$data"
  sqlite3 "$data/db.sqlite" "PRAGMA journal_mode=$mode;
    CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
    CREATE TABLE t2(id INTEGER PRIMARY KEY, tag TEXT NOT NULL);
    CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES(0);" >/dev/null || fail "$mode: cannot create the database"
  CONTAINER=syschaos-e2e-$TEST_NAME-$$-$RANDOM
  _containers+=("$CONTAINER")
  docker run -d --name "$CONTAINER" --network none -v "$data:/data" "$IMAGE" >/dev/null || fail "docker run $IMAGE failed"
  MAIN_PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
  VOL_DEV=$(stat -c %d "$data")
  SOCK=$TMP/ctl-$mode.sock
  wait_commits 10 15 "$mode: start"
  [[ $(cwd_dev) == "$VOL_DEV" ]] || fail "$mode: the writer's cwd is not on the volume"
  info "$mode: writer running in $CONTAINER (pid $MAIN_PID)"

  # A. Faults and latency, orderly recovery.
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/faults.yaml" --control "$SOCK"
  wait_fs_armed 15
  local chaos_dev c0 f0 c1 f1 delayed failed
  chaos_dev=$(cwd_dev)
  [[ $chaos_dev != "$VOL_DEV" ]] || fail "$mode A: the writer's cwd was not moved onto ChaosFS"
  c0=$(count_of committed)
  f0=$(count_of failed)
  sleep 5
  c1=$(count_of committed)
  f1=$(count_of failed)
  delayed=$(rules_sum DELAYED)
  failed=$(rules_sum FAILED)
  info "$mode A: 5 s under faults: $((c1 - c0)) committed, $((f1 - f0)) failed; ChaosFS delayed $delayed and failed $failed request(s)"
  ((failed > 0 && f1 - f0 > 0)) || fail "$mode A: no transaction failed under EIO faults: the test proves nothing"
  ((delayed > 0)) || fail "$mode A: no request delayed"
  ((c1 - c0 > 0)) || fail "$mode A: no transaction committed under faults"
  (($(docker logs "$CONTAINER" 2>&1 >/dev/null | grep -c 'disk I/O error') > 0)) ||
    fail "$mode A: sqlite3 never reported a disk I/O error: $(docker logs --tail 3 "$CONTAINER" 2>&1 >/dev/null)"
  kill -TERM "$SC_PID"
  wait_syschaos 30
  ((SC_RC == 0)) || fail "$mode A: syschaos exited $SC_RC: $(tail -3 "$SC_ERR")"
  check_clean "$mode A: after an orderly recovery"

  # B. SIGKILL of the foreground syschaos: the supervisor recovers by itself.
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/faults.yaml"
  wait_fs_armed 15
  local sup guard
  sup=$(fs_supervisor_pid)
  [[ -n $sup ]] || fail "$mode B: no supervisor process"
  sleep 1.5
  kill -KILL "$SC_PID"
  wait "$SC_PID" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$sup" 2>/dev/null && fail "$mode B: the supervisor did not recover within 15 s"
  grep -q "died: removing ChaosFS" "$SC_ERR" || fail "$mode B: the supervisor did not say why it recovered: $(tail -3 "$SC_ERR")"
  grep -q "recovered:" "$SC_ERR" || fail "$mode B: the supervisor did not recover cleanly: $(tail -3 "$SC_ERR")"
  check_clean "$mode B: after SIGKILL of syschaos"

  # S. SIGKILL of the supervisor: the foreground syschaos sees it (waitpid) and recovers.
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/faults.yaml"
  wait_fs_armed 15
  sup=$(fs_supervisor_pid)
  [[ -n $sup ]] || fail "$mode S: no supervisor process"
  sleep 1.5
  kill -KILL "$sup"
  wait_syschaos 30
  ((SC_RC != 0)) || fail "$mode S: syschaos exited 0 although its supervisor was killed"
  grep -q "was killed by" "$SC_ERR" || fail "$mode S: syschaos did not report the supervisor's death: $(tail -3 "$SC_ERR")"
  check_clean "$mode S: after SIGKILL of the supervisor"

  # C. SIGKILL of syschaos and its supervisor: the restore guardian recovers.
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/faults.yaml"
  wait_fs_armed 15
  sup=$(fs_supervisor_pid)
  guard=$(fs_guardian_pid "$sup")
  [[ -n $sup && -n $guard ]] || fail "$mode C: supervisor '$sup' or guardian '$guard' not found"
  sleep 1.5
  kill -KILL "$SC_PID" "$sup"
  wait "$SC_PID" 2>/dev/null
  for _ in $(seq 200); do ! chaosfs_in_container && ! kill -0 "$guard" 2>/dev/null && break; sleep 0.1; done
  ! chaosfs_in_container || fail "$mode C: the guardian did not remove ChaosFS within 20 s"
  kill -0 "$guard" 2>/dev/null && fail "$mode C: the guardian still runs 20 s later"
  check_clean "$mode C: after SIGKILL of syschaos and its supervisor"

  # D. SIGKILL of all three: ChaosFS's server is gone, the volume fails until fs restore.
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/faults.yaml"
  wait_fs_armed 15
  sup=$(fs_supervisor_pid)
  guard=$(fs_guardian_pid "$sup")
  [[ -n $sup && -n $guard ]] || fail "$mode D: supervisor '$sup' or guardian '$guard' not found"
  sleep 1
  kill -KILL "$guard" "$SC_PID" "$sup"
  wait "$SC_PID" 2>/dev/null
  f0=$(count_of failed)
  sleep 1
  f1=$(count_of failed)
  ((f1 - f0 >= 2)) || fail "$mode D: the writer did not fail with ChaosFS's server dead: the test proves nothing"
  info "$mode D: all three killed: $((f1 - f0)) transaction(s) failed in 1 s; running fs restore"
  "$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore.err" || fail "$mode D: fs restore failed: $(cat "$TMP/restore.err")"
  grep -q "1 ChaosFS mount(s) removed" "$TMP/restore.err" || fail "$mode D: fs restore: $(cat "$TMP/restore.err")"
  check_clean "$mode D: after fs restore"

  # The end: stop the writer, then the database's own checks.
  docker exec "$CONTAINER" /bin/sh -c ': > /tmp/stop' || fail "$mode: cannot stop the writer"
  for _ in $(seq 100); do (($(count_of stopped) > 0)) && break; sleep 0.1; done
  (($(count_of stopped) > 0)) || fail "$mode: the writer did not stop"
  local check missing only_t only_t2 n_commits n_failed gap
  check=$(sqlite3 "$data/db.sqlite" "PRAGMA integrity_check;" 2>&1)
  [[ $check == ok ]] || fail "$mode: PRAGMA integrity_check: $check"
  commits | sort -n >"$TMP/claimed-$mode"
  sqlite3 "$data/db.sqlite" "SELECT id FROM t ORDER BY id;" >"$TMP/present-$mode" || fail "$mode: SELECT failed"
  missing=$(comm -23 <(sort "$TMP/claimed-$mode") <(sort "$TMP/present-$mode") | sort -n | head -20 | tr '\n' ' ')
  [[ -z $missing ]] || fail "$mode: transactions reported committed are missing: $missing"
  only_t=$(sqlite3 "$data/db.sqlite" "SELECT count(*) FROM t WHERE id NOT IN (SELECT id FROM t2);")
  only_t2=$(sqlite3 "$data/db.sqlite" "SELECT count(*) FROM t2 WHERE id NOT IN (SELECT id FROM t);")
  [[ $only_t == 0 && $only_t2 == 0 ]] || fail "$mode: half transactions: $only_t row(s) only in t, $only_t2 only in t2"
  [[ $(sqlite3 "$data/db.sqlite" "SELECT n FROM counter;") == $(wc -l <"$TMP/present-$mode") ]] ||
    fail "$mode: the counter ($(sqlite3 "$data/db.sqlite" "SELECT n FROM counter;")) differs from the rows ($(wc -l <"$TMP/present-$mode"))"
  n_commits=$(wc -l <"$TMP/claimed-$mode")
  n_failed=$(count_of failed)
  # The longest time between two consecutive commits (docker's timestamps of the lines).
  gap=$(docker logs -t "$CONTAINER" 2>/dev/null | awk '$2 == "committed" {
      split(substr($1, 9, 2) " " substr($1, 12), a, /[ :]/)
      t = a[1] * 86400 + a[2] * 3600 + a[3] * 60 + a[4]
      if (p != "" && t - p > g) g = t - p
      p = t }
    END {printf "%.2f", g}')
  awk -v g="$gap" -v m="$MAX_GAP_S" 'BEGIN {exit !(g < m)}' ||
    fail "$mode: the writer went ${gap} s without a commit (bound ${MAX_GAP_S} s)"
  info "$mode: integrity ok; $n_commits committed transaction(s) all present with both rows, $n_failed failed; longest gap between commits ${gap} s"
}

run_mode DELETE
run_mode WAL

# ---- Long-lived connections --------------------------------------------------------------
# start_connection NAME DB: `sqlite3 -bail /data/DB` in the container reading SQL from a fifo
# of ours (its fd in CONN_FD[NAME]), output in $TMP/NAME.out; -bail: it exits at the first
# error.
declare -A CONN_FD
start_connection() {
  local name=$1 fd
  mkfifo "$TMP/$name.fifo"
  docker exec -i "$CONTAINER" sqlite3 -bail "/data/$2" <"$TMP/$name.fifo" >"$TMP/$name.out" 2>&1 &
  _pids+=($!)
  exec {fd}>"$TMP/$name.fifo"
  CONN_FD[$name]=$fd
}
# commit_in NAME ID: transaction ID in that connection; it prints "committed ID" once COMMIT
# returned. Returns 1 when the connection reported an error (or nothing) instead.
commit_in() {
  local name=$1 id=$2 i
  local fd=${CONN_FD[$name]}
  { printf "BEGIN IMMEDIATE; INSERT INTO t(id, payload) VALUES(%d, randomblob(3000)); INSERT INTO t2(id, tag) VALUES(%d, 'tx%d'); UPDATE counter SET n = n + 1; COMMIT; SELECT 'committed ' || %d;\n" \
    "$id" "$id" "$id" "$id" >&"$fd"; } 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    (($(grep -c "^committed $id\$" "$TMP/$name.out") > 0)) && return 0
    (($(grep -c -i 'error' "$TMP/$name.out") > 0)) && return 1
    sleep 0.05
  done
  return 1
}
# commit_once DB ID: the same transaction by a one-shot sqlite3 (a new open each time);
# "committed ID" in $TMP/once-DB.out once it returned success.
commit_once() {
  docker exec "$CONTAINER" sqlite3 "/data/$1" "BEGIN IMMEDIATE; INSERT INTO t(id, payload) VALUES($2, randomblob(3000));
    INSERT INTO t2(id, tag) VALUES($2, 'tx$2'); UPDATE counter SET n = n + 1; COMMIT;" >/dev/null 2>>"$TMP/once.err" &&
    echo "committed $2" >>"$TMP/once-$1.out"
}

long_lived() {  # JOURNAL-MODE
  # db.sqlite: a connection opened before the injection; db2.sqlite: one opened during it.
  # One-shot connections beside each.
  local mode=$1 data=$TMP/data-long-$1 db
  mkdir -p "$data"
  for db in db.sqlite db2.sqlite; do
    sqlite3 "$data/$db" "PRAGMA journal_mode=$mode;
      CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
      CREATE TABLE t2(id INTEGER PRIMARY KEY, tag TEXT NOT NULL);
      CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES(0);" >/dev/null || fail "long-lived: cannot create $db"
    : >"$TMP/once-$db.out"
    rm -f "$TMP/before.fifo" "$TMP/during.fifo"
  done
  CONTAINER=syschaos-e2e-$TEST_NAME-$$-$RANDOM
  _containers+=("$CONTAINER")
  docker run -d --name "$CONTAINER" --network none -v "$data:/data" "$IMAGE" /bin/sleep 100000 >/dev/null || fail "docker run failed"
  MAIN_PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
  local problems=() before_pid server="" mounts_before
  mounts_before=$(awk '{print $5, $9}' /proc/"$MAIN_PID"/mountinfo | sort)
  start_connection before db.sqlite
  commit_in before 1 || fail "long-lived: the connection does not commit without ChaosFS: $(cat "$TMP/before.out")"
  before_pid=$(pgrep -f "^sqlite3 -bail /data/db.sqlite" | head -1)
  printf 'faults:\n  - methods: [write]\n    latency: 1ms\n' >"$TMP/slow.yaml"
  if [[ $mode == WAL ]]; then
    # The connection holds locks on db.sqlite and its -shm: refused, nothing touched.
    "$SYSCHAOS" fs inject --container "$CONTAINER" --volume /data --faults "$TMP/slow.yaml" >/dev/null 2>"$TMP/refused.err"
    local rc=$?
    ((rc == 2)) || fail "long-lived WAL: a lock-holding connection on the volume: exit $rc, expected 2 ($(cat "$TMP/refused.err"))"
    (($(wc -l <"$TMP/refused.err") == 1)) || fail "long-lived WAL: expected one line on stderr: $(cat "$TMP/refused.err")"
    grep -Eq "pid $before_pid \(sqlite3\) holds a file lock on the volume: /data/db\.sqlite(-shm)? " "$TMP/refused.err" ||
      fail "long-lived WAL: the refusal does not name pid $before_pid (sqlite3) and the file: $(cat "$TMP/refused.err")"
    ! chaosfs_in_container || fail "long-lived WAL: ChaosFS mounted although refused"
    [[ $(awk '{print $5, $9}' /proc/"$MAIN_PID"/mountinfo | sort) == "$mounts_before" ]] ||
      fail "long-lived WAL: the container's mounts changed although refused"
    if compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null; then fail "long-lived WAL: state left after the refusal"; fi
    info "long-lived WAL: $(cat "$TMP/refused.err")"
    commit_once db.sqlite 2 || problems+=("db.sqlite: one-shot commit 2 failed after the refusal")
    commit_in before 3 || problems+=("db.sqlite: the connection failed commit 3 after the refusal: $(tail -1 "$TMP/before.out")")
    commit_once db.sqlite 4 || problems+=("db.sqlite: one-shot commit 4 failed after the refusal")
    commit_in before 5 || problems+=("db.sqlite: the connection failed commit 5 after the refusal: $(tail -1 "$TMP/before.out")")
    # Closed, so that the injection below can start.
    local fd=${CONN_FD[before]}
    exec {fd}>&-
    for _ in $(seq 50); do kill -0 "$before_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$before_pid" 2>/dev/null && fail "long-lived WAL: the connection opened before did not exit once closed"
  fi
  start_syschaos fs inject --container "$CONTAINER" --volume /data --faults "$TMP/slow.yaml"
  wait_fs_armed 15
  if [[ $mode != WAL ]]; then
    # Rollback journal: an idle connection holds no lock and was moved; it and one-shot
    # connections take turns on db.sqlite.
    info "long-lived $mode: $(grep 'inject: pid' "$SC_ERR" | sed 's/^syschaos: //')"
    commit_once db.sqlite 2 || problems+=("db.sqlite: one-shot commit 2 failed during the injection")
    commit_in before 3 || problems+=("db.sqlite: the connection opened before the injection failed commit 3: $(tail -1 "$TMP/before.out")")
    commit_once db.sqlite 4 || problems+=("db.sqlite: one-shot commit 4 failed during the injection")
    commit_in before 5 || problems+=("db.sqlite: the connection opened before the injection failed commit 5: $(tail -1 "$TMP/before.out")")
  fi
  # A connection opened on ChaosFS, to db2.sqlite, and one-shot ones beside it.
  start_connection during db2.sqlite
  commit_in during 1 || problems+=("db2.sqlite: the connection opened during the injection failed commit 1: $(tail -1 "$TMP/during.out")")
  commit_once db2.sqlite 2 || problems+=("db2.sqlite: one-shot commit 2 failed during the injection")
  commit_in during 3 || problems+=("db2.sqlite: the connection opened during the injection failed commit 3: $(tail -1 "$TMP/during.out")")
  kill -TERM "$SC_PID"
  wait_syschaos 30
  ((SC_RC == 0)) || fail "long-lived: syschaos exited $SC_RC: $(tail -3 "$SC_ERR")"
  grep -q "recovered:" "$SC_ERR" || fail "long-lived $mode: no 'recovered' line: $(tail -3 "$SC_ERR")"
  info "long-lived $mode: $(grep 'recover: pid' "$SC_ERR" | sed 's/^syschaos: //' | tr '\n' ' ')"
  ! chaosfs_in_container || fail "long-lived: ChaosFS still mounted"
  if compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null; then fail "long-lived $mode: state left after the recovery"; fi
  if [[ $mode == WAL ]]; then
    # The connection holds locks taken through ChaosFS: it stays there, served by the
    # lingering server, until it is closed.
    server=$(grep -o 'its server (pid [0-9]*)' "$SC_ERR" | grep -o '[0-9]*' | tail -1)
    [[ -n $server ]] && kill -0 "$server" 2>/dev/null ||
      fail "long-lived WAL: no ChaosFS server lingering for the connection opened during the injection: $(tail -3 "$SC_ERR")"
    grep -q "(sqlite3): stays on ChaosFS" "$SC_ERR" || fail "long-lived WAL: the recovery does not say the connection stays: $(tail -3 "$SC_ERR")"
    info "long-lived WAL: $(grep 'keep files on the detached ChaosFS' "$SC_ERR" | sed 's/^syschaos: //')"
  else
    grep -q "keep files on the detached ChaosFS" "$SC_ERR" && fail "long-lived $mode: something was left on ChaosFS: $(tail -3 "$SC_ERR")"
    # After the recovery the connection opened before, a one-shot one beside it, and the
    # connection again (which must now read what the one-shot one wrote).
    commit_in before 6 || problems+=("db.sqlite: after the recovery the connection opened before the injection failed commit 6: $(tail -1 "$TMP/before.out")")
    commit_once db.sqlite 7 || problems+=("db.sqlite: one-shot commit 7 failed after the recovery")
    commit_in before 8 || problems+=("db.sqlite: after the recovery the connection opened before the injection failed commit 8: $(tail -1 "$TMP/before.out")")
  fi
  # The connection opened during the injection keeps committing after the recovery. (In WAL
  # mode no one-shot connection runs beside it meanwhile: its locks live on ChaosFS, which a
  # process opening the file on the volume does not see; see docs/CHAOSFS.md.)
  commit_in during 4 || problems+=("db2.sqlite: after the recovery the connection opened during the injection failed commit 4: $(tail -1 "$TMP/during.out")")
  if [[ $mode != WAL ]]; then
    commit_once db2.sqlite 5 || problems+=("db2.sqlite: one-shot commit 5 failed after the recovery")
  fi
  commit_in during 6 || problems+=("db2.sqlite: after the recovery the connection opened during the injection failed commit 6: $(tail -1 "$TMP/during.out")")
  local name fd open=(during)
  [[ $mode == WAL ]] || open+=(before)  # WAL: closed already
  for name in "${open[@]}"; do
    fd=${CONN_FD[$name]}
    exec {fd}>&-
  done
  if [[ -n $server ]]; then
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server" 2>/dev/null && problems+=("the ChaosFS server (pid $server) still runs 10 s after the connection closed")
    grep -q "are closed; its server (pid $server) exits" "$SC_ERR" || problems+=("the server did not say why it exits: $(tail -1 "$SC_ERR")")
    # The database, as one-shot connections on the volume see it now, takes commits again.
    commit_once db2.sqlite 7 || problems+=("db2.sqlite: one-shot commit 7 failed after the server's exit")
  fi
  sleep 1
  local check missing total=0 out
  for db in db.sqlite db2.sqlite; do
    check=$(sqlite3 "$data/$db" "PRAGMA integrity_check;" 2>&1)
    [[ $check == ok ]] || problems+=("$db: PRAGMA integrity_check: $check")
    out=$TMP/before.out
    [[ $db == db2.sqlite ]] && out=$TMP/during.out
    cat "$out" "$TMP/once-$db.out" | awk '$1 == "committed" {print $2}' | sort >"$TMP/claimed-$db"
    sqlite3 "$data/$db" "SELECT id FROM t;" | sort >"$TMP/present-$db"
    missing=$(comm -23 "$TMP/claimed-$db" "$TMP/present-$db" | sort -n | tr '\n' ' ')
    [[ -z $missing ]] ||
      problems+=("$db: transactions reported committed are missing: ${missing}(present: $(sort -n "$TMP/present-$db" | tr '\n' ' '))")
    total=$((total + $(wc -l <"$TMP/claimed-$db")))
  done
  if ((${#problems[@]} > 0)); then
    printf "[$TEST_NAME] long-lived $mode: %s\n" "${problems[@]}" >&2
    fail "long-lived $mode connections: ${#problems[@]} problem(s), listed above"
  fi
  check_not_traced
  info "long-lived $mode: $total transaction(s) committed by long-lived and one-shot connections, all present; integrity ok"
}
# Rollback journal: an idle connection holds no lock, so it is moved like any open file.
long_lived DELETE
# WAL: a connection holds locks on the database and its -shm for as long as it is open:
# refused before, kept on the detached ChaosFS after.
long_lived WAL
info "PASS"
