#!/usr/bin/env bash
# ChaosFS standalone mode end to end, driven through the CLI the way a user drives it:
# `syschaos fs mount --backing B --mountpoint M --faults F --control SOCK` in the background,
# rules changed live with `syschaos fs rules`, effects observed with ordinary tools (cat, dd,
# stat, cmp, ls) and timed by this script:
#    1. rules given at mount (--faults) act at once; without rules the mount mirrors B
#    2. latency (timed), with the path filter (another file is not delayed) and the counters
#    3. fault: EIO on read seen by cat, ENOSPC on write seen by dd; methods filter (open
#       works, read fails), path glob (another file works)
#    4. attrOverride seen by stat (the backing file unchanged)
#    5. mistake on read (cmp: a few bytes zeroed) and on write (the backing file corrupted
#       although dd reported success)
#    6. percent (fraction within a tolerance of 3.5 standard deviations, counters agree)
#    7. time window (after/duration): failures only inside the window
#    8. fs rules add / list / remove / replace / clear live (same server, no remount), and
#       bad rules refused with exit 2 leaving the rules unchanged
#    9. a Chaos Mesh IOChaos manifest (two documents) through fs rules replace
#   10. SIGTERM with a delayed open in flight: the open completes, then unmount
#   11. Ctrl-C (SIGINT to the process group, as a terminal sends it): clean unmount
#   12. SIGKILL: the unmount guardian makes the mountpoint usable again by itself
#   13. SIGKILL with --no-unmount-guardian: ENOTCONN until `syschaos fs recover`; recover
#       refuses a live ChaosFS mount and a mount that is not ChaosFS (exit 2)
#   14. bad input: one line on stderr, exit 2, nothing mounted, no socket
# tests/integration/fs/test_fs_actions.cpp checks each action's semantics in detail through
# the library and test helpers; this test is about the command line: real flags, real
# tools, real signals, what the user reads. No Docker needed (it never skips for that).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYSCHAOS=${1:-${SYSCHAOS:-}}
[[ -n $SYSCHAOS ]] || fail "usage: bash $TEST_NAME.sh /path/to/syschaos"
[[ -x $SYSCHAOS ]] || fail "syschaos binary not executable: $SYSCHAOS"
[[ $(id -u) -eq 0 ]] || skip "needs root (FUSE mount with allow_other)"
[[ -c /dev/fuse ]] || skip "/dev/fuse missing"
for t in jq findmnt cmp dd stat setsid; do
  command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
done
TMP=$(mktemp -d "/tmp/syschaos-$TEST_NAME.XXXXXX")
B=$TMP/backing
M=$TMP/mnt
SOCK=$TMP/control.sock
SRV_PID=""

# Never rm -rf through a mount: stop the server, unmount whatever is left, then remove.
_fs_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SRV_PID ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null
  fi
  for mp in "$M" "$TMP/tmpfs"; do
    while findmnt -rn -M "$mp" >/dev/null 2>&1; do umount -l "$mp" || break; done
  done
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}
trap _fs_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ---------------------------------------------------------------------------------

fstype_at() { findmnt -rn -o FSTYPE -M "$1" 2>/dev/null | tail -n 1; }
is_chaosfs() { [[ $(fstype_at "$M") == fuse.syschaos ]]; }
now_us() { echo "${EPOCHREALTIME/./}"; }

# start_mount NAME [extra fs mount args]: the server in the background (a process group of
# its own, as a job started from a shell), stderr in $TMP/NAME.err; waits until mounted.
start_mount() {
  local name=$1
  shift
  SC_ERR=$TMP/$name.err
  setsid "$SYSCHAOS" fs mount --backing "$B" --mountpoint "$M" --control "$SOCK" --seed 42 "$@" \
    </dev/null >"$TMP/$name.out" 2>"$SC_ERR" &
  SRV_PID=$!
  for ((i = 0; i < 100; i++)); do
    is_chaosfs && [[ -S $SOCK ]] && return 0
    kill -0 "$SRV_PID" 2>/dev/null || fail "fs mount ($name) exited: $(cat "$SC_ERR")"
    sleep 0.1
  done
  fail "fs mount ($name) did not mount within 10 s"
}

# wait_server SECONDS: waits for the server to exit; SRV_RC = its exit code (not in a
# command substitution: only this shell can wait for its child).
wait_server() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SRV_PID" 2>/dev/null && fail "server $SRV_PID still running after $1 s"
  wait "$SRV_PID"
  SRV_RC=$?
}

rules() { "$SYSCHAOS" fs rules --control "$SOCK" "$@"; }
# counter RULE_INDEX NAME: a counter of the rule at that position in `fs rules --json list`.
counter() { rules --json list | jq -r ".rules[$1].counters.$2"; }
rules_file() { local f=$TMP/$1.yaml; cat >"$f"; echo "$f"; }
replace() { rules replace "$(rules_file "$1")" >/dev/null || fail "fs rules replace $1 failed"; }

# run_timed CMD...: runs it, ELAPSED_MS = its wall time, returns its exit code.
run_timed() {
  local s rc
  s=$(now_us)
  "$@"
  rc=$?
  ELAPSED_MS=$((($(now_us) - s) / 1000))
  return $rc
}

# expect_err "TEXT" CMD...: the command fails and its stderr contains TEXT.
expect_err() {
  local text=$1
  shift
  if "$@" >/dev/null 2>"$TMP/cmd.err"; then fail "'$*' succeeded, expected '$text'"; fi
  grep -q "$text" "$TMP/cmd.err" || fail "'$*': expected '$text', got: $(cat "$TMP/cmd.err")"
}
expect_ok() { "$@" >/dev/null 2>"$TMP/cmd.err" || fail "'$*' failed: $(cat "$TMP/cmd.err")"; }

mountpoint_usable() {
  ! is_chaosfs || return 1
  ls "$M" >/dev/null 2>"$TMP/ls.err" || return 1
}

# ---- the backing directory -------------------------------------------------------------------

mkdir -p "$B"/{boot,slow,data,out,conf,pct,win,live,io,inflight} "$M"
printf 'hello chaosfs\n' >"$B/plain.txt"
printf 'boot\n' >"$B/boot/f.txt"
printf 'slow a\n' >"$B/slow/a.txt"
head -c 4096 /dev/zero | tr '\0' 'D' >"$B/data/x.dat"
printf 'y\n' >"$B/data/y.txt"
printf '{"k": 1}\n' >"$B/conf/config.json"
head -c 4096 /dev/zero | tr '\0' 'A' >"$B/corrupt.bin"
head -c 4096 /dev/zero | tr '\0' 'W' >"$TMP/w.src"
printf 'p\n' >"$B/pct/f.txt"
printf 'w\n' >"$B/win/f.txt"
for f in a b c; do printf '%s\n' "$f" >"$B/live/$f.txt"; done
printf 'db\n' >"$B/io/x.db"
printf 'io slow\n' >"$B/io/slow.txt"
printf 'in flight\n' >"$B/inflight/f.txt"
chmod -R a+rX "$B"
CORRUPT_SUM=$(sha256sum <"$B/corrupt.bin")

# ---- 1. rules at mount -------------------------------------------------------------------------
info "1. fs mount --faults: rules act at once, the rest is mirrored"
BOOT=$(rules_file boot <<'EOF'
faults:
  - name: boot-eacces
    methods: [open]
    path: "boot/*"
    fault: EACCES
EOF
)
start_mount main --faults "$BOOT"
grep -q "rule 1: boot-eacces" "$SC_ERR" || fail "the startup message does not list the rule: $(cat "$SC_ERR")"
grep -q "seed 42" "$SC_ERR" || fail "the startup message does not give the seed"
[[ $(cat "$M/plain.txt") == "hello chaosfs" ]] || fail "plain.txt not mirrored"
expect_err "Permission denied" cat "$M/boot/f.txt"
[[ $(ls "$M" | wc -l) -eq $(ls "$B" | wc -l) ]] || fail "ls of the mount differs from the backing directory"
printf 'new\n' >"$M/created.txt" || fail "create through the mount failed"
[[ $(cat "$B/created.txt") == new ]] || fail "a file created through the mount is not in the backing directory"
SERVER=$SRV_PID

# ---- 2. latency ------------------------------------------------------------------------------
info "2. latency 400ms on open of slow/*"
replace latency <<'EOF'
faults:
  - methods: [open]
    path: "slow/*"
    latency: 400ms
EOF
run_timed cat "$M/slow/a.txt" >/dev/null || fail "cat of a delayed file failed"
((ELAPSED_MS >= 400)) || fail "open of slow/a.txt took $ELAPSED_MS ms, expected >= 400"
info "   cat slow/a.txt: $ELAPSED_MS ms"
run_timed cat "$M/plain.txt" >/dev/null || fail "cat plain.txt failed"
((ELAPSED_MS < 400)) || fail "plain.txt (not matched by the path glob) took $ELAPSED_MS ms"
[[ $(counter 0 delayed) == 1 ]] || fail "delayed counter $(counter 0 delayed), expected 1 (one matching open)"

# ---- 3. fault errno seen by real tools ---------------------------------------------------------
info "3. EIO on read (cat), ENOSPC on write (dd), methods and path filters"
replace faults <<'EOF'
faults:
  - methods: [read]
    path: "data/*.dat"
    fault: EIO
  - methods: [write]
    path: "out/*"
    fault: ENOSPC
EOF
expect_err "Input/output error" cat "$M/data/x.dat"
# Opening (and stat) is not reading: the methods filter lets them through.
expect_ok dd if="$M/data/x.dat" of=/dev/null bs=1 count=0
expect_ok stat "$M/data/x.dat"
[[ $(cat "$M/data/y.txt") == y ]] || fail "data/y.txt (not *.dat) should read"
expect_err "No space left on device" dd if=/dev/zero of="$M/out/o.bin" bs=4k count=1
[[ $(counter 0 failed) -ge 1 && $(counter 1 failed) -ge 1 ]] || fail "failed counters: $(rules list)"

# ---- 4. attrOverride ---------------------------------------------------------------------------
info "4. attrOverride seen by stat"
replace attr <<'EOF'
faults:
  - path: conf/config.json
    attrOverride: {size: 12345, perm: 0o600, uid: 4242}
EOF
got=$(stat -c '%s %a %u' "$M/conf/config.json")
[[ $got == "12345 600 4242" ]] || fail "stat through the mount: '$got', expected '12345 600 4242'"
real=$(stat -c '%s %a %u' "$B/conf/config.json")
[[ $real == "9 644 0" ]] || fail "the backing file's attributes changed: $real"
[[ $(stat -c '%s' "$M/plain.txt") == 14 ]] || fail "plain.txt's attributes should not be overridden"

# ---- 5. mistake --------------------------------------------------------------------------------
info "5. mistake: zeroed bytes on read (cmp), corrupted write"
replace mistake <<'EOF'
faults:
  - methods: [read]
    path: corrupt.bin
    mistake: {filling: zero, maxOccurrences: 2, maxLength: 8}
  - methods: [write]
    path: w.bin
    mistake: {filling: zero, maxOccurrences: 1, maxLength: 4}
EOF
cmp -l "$M/corrupt.bin" "$B/corrupt.bin" >"$TMP/cmp.out" 2>/dev/null
ndiff=$(wc -l <"$TMP/cmp.out")
((ndiff >= 1)) || fail "reading through the mount gave the file's exact bytes: no mistake"
# cmp -l: offset, byte in the first file, byte in the second (octal). 'A' = 101.
awk '$2 != 0 || $3 != 101 { bad = 1 } END { exit bad }' "$TMP/cmp.out" ||
  fail "corrupted bytes are not zeros: $(head -5 "$TMP/cmp.out")"
[[ $(sha256sum <"$B/corrupt.bin") == "$CORRUPT_SUM" ]] || fail "a read mistake changed the backing file"
info "   $ndiff byte(s) zeroed in what cat/cmp read"
expect_ok dd if="$TMP/w.src" of="$M/w.bin" bs=4096 count=1
cmp -s "$TMP/w.src" "$B/w.bin" && fail "the write mistake did not reach the backing file"
nw=$(cmp -l "$TMP/w.src" "$B/w.bin" 2>/dev/null | wc -l)
((nw >= 1 && nw <= 4)) || fail "$nw bytes differ in the written file, expected 1..4"

# ---- 6. percent --------------------------------------------------------------------------------
info "6. percent: 30% of 300 opens"
replace percent <<'EOF'
faults:
  - methods: [open]
    path: "pct/*"
    percent: 30
    fault: EIO
EOF
fails=0
for ((i = 0; i < 300; i++)); do cat "$M/pct/f.txt" >/dev/null 2>&1 || ((fails++)); done
# Binomial(300, 0.3): mean 90, sd 7.9; 3.5 sd = 62..118.
((fails >= 62 && fails <= 118)) || fail "$fails of 300 opens failed, expected 90 +- 28"
[[ $(counter 0 matched) == 300 ]] || fail "matched $(counter 0 matched), expected 300"
[[ $(counter 0 failed) == "$fails" ]] || fail "failed counter $(counter 0 failed), cat saw $fails"
info "   $fails/300 failed"

# ---- 7. time window ----------------------------------------------------------------------------
info "7. time window: after 1s, for 1s"
rules clear >/dev/null || fail "fs rules clear failed"
WIN=$(rules_file window <<'EOF'
faults:
  - methods: [open]
    path: "win/*"
    fault: EIO
    after: 1s
    duration: 1s
EOF
)
rules add "$WIN" >/dev/null || fail "fs rules add window failed"
t0=$(now_us)
: >"$TMP/window.log"
while :; do
  t=$((($(now_us) - t0) / 1000))
  ((t > 3000)) && break
  if cat "$M/win/f.txt" >/dev/null 2>&1; then echo "$t ok" >>"$TMP/window.log"; else echo "$t fail" >>"$TMP/window.log"; fi
  sleep 0.05
done
# The rule was installed just before t0: its window is [1000, 2000] ms minus that small lag.
first_fail=$(awk '$2 == "fail" { print $1; exit }' "$TMP/window.log")
last_fail=$(awk '$2 == "fail" { t = $1 } END { print t }' "$TMP/window.log")
nfail=$(grep -c fail "$TMP/window.log")
[[ -n $first_fail ]] || fail "no failure in the time window: $(tr '\n' ' ' <"$TMP/window.log")"
((first_fail >= 700 && last_fail <= 2000 && nfail >= 5)) ||
  fail "failures from $first_fail to $last_fail ms ($nfail), expected inside ~[1000, 2000]"
awk '$1 < 700 && $2 == "fail" { exit 1 }' "$TMP/window.log" || fail "a failure before the window"
awk '$1 > 2100 && $2 == "ok" { n++ } END { exit !(n >= 5) }' "$TMP/window.log" || fail "no success after the window"
info "   failures from $first_fail to $last_fail ms ($nfail)"

# ---- 8. live rules -----------------------------------------------------------------------------
info "8. fs rules add / list / remove / replace / clear, live"
rules clear >/dev/null || fail "fs rules clear failed"
A=$(rules_file live_a <<'EOF'
faults:
  - name: live-a
    methods: [open]
    path: "live/a*"
    fault: EIO
EOF
)
BF=$(rules_file live_b <<'EOF'
faults:
  - name: live-b
    methods: [open]
    path: "live/b*"
    fault: EACCES
EOF
)
C=$(rules_file live_c <<'EOF'
faults:
  - name: live-c
    methods: [open]
    path: "live/c*"
    fault: ENOENT
EOF
)
id_a=$(rules add "$A") || fail "fs rules add failed"
id_b=$(rules add "$BF") || fail "fs rules add failed"
[[ $id_a =~ ^[0-9]+$ && $id_b =~ ^[0-9]+$ && $id_a != "$id_b" ]] || fail "fs rules add printed '$id_a', '$id_b'"
rules list >"$TMP/list.out" || fail "fs rules list failed"
grep -q "^ID .*RULE" "$TMP/list.out" || fail "no table header: $(cat "$TMP/list.out")"
grep -Eq "^$id_a .*live-a" "$TMP/list.out" && grep -Eq "^$id_b .*live-b" "$TMP/list.out" ||
  fail "fs rules list: $(cat "$TMP/list.out")"
expect_err "Input/output error" cat "$M/live/a.txt"
expect_err "Permission denied" cat "$M/live/b.txt"
expect_ok cat "$M/live/c.txt"
rules remove "$id_a" >/dev/null || fail "fs rules remove failed"
expect_ok cat "$M/live/a.txt"
expect_err "Permission denied" cat "$M/live/b.txt"
rules replace "$C" >/dev/null || fail "fs rules replace failed"
expect_ok cat "$M/live/a.txt"
expect_ok cat "$M/live/b.txt"
expect_err "No such file or directory" cat "$M/live/c.txt"
# Bad changes: exit 2, one line, the rules unchanged.
BAD=$(rules_file bad_live <<'EOF'
faults:
  - methods: [open]
    percent: 150
    fault: EIO
EOF
)
for args in "add $BAD" "replace $BAD" "remove 9999"; do
  # shellcheck disable=SC2086  # word splitting intended
  rules $args >/dev/null 2>"$TMP/bad.err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "fs rules $args: exit $rc, expected 2 ($(cat "$TMP/bad.err"))"
  [[ $(wc -l <"$TMP/bad.err") -eq 1 ]] || fail "fs rules $args: not one line: $(cat "$TMP/bad.err")"
done
[[ $(rules --json list | jq '.rules | length') == 1 ]] || fail "a refused change altered the rules: $(rules list)"
expect_err "No such file or directory" cat "$M/live/c.txt"
rules clear >/dev/null || fail "fs rules clear failed"
expect_ok cat "$M/live/c.txt"
[[ $(rules --json list | jq '.rules | length') == 0 ]] || fail "rules left after clear"
[[ $SRV_PID == "$SERVER" ]] && kill -0 "$SERVER" 2>/dev/null || fail "the server did not stay the same process"
[[ $(fstype_at "$M") == fuse.syschaos ]] || fail "ChaosFS is not mounted any more"

# ---- 9. IOChaos manifest -----------------------------------------------------------------------
info "9. an IOChaos manifest (fault + latency) through fs rules replace"
IOC=$(rules_file iochaos <<'EOF'
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: io-fault}
spec:
  action: fault
  mode: one
  selector: {namespaces: [default]}
  volumePath: /var/lib/data
  path: "io/*.db"
  methods: [open]
  errno: 5
  percent: 100
---
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: io-latency}
spec:
  action: latency
  volumePath: /var/lib/data
  path: "io/slow.txt"
  methods: [read]
  delay: 300ms
EOF
)
rules replace "$IOC" >/dev/null || fail "fs rules replace of an IOChaos manifest failed"
rules list | grep -q io-fault || fail "the manifest's name is not in fs rules list: $(rules list)"
expect_err "Input/output error" cat "$M/io/x.db"
run_timed cat "$M/io/slow.txt" >/dev/null || fail "cat io/slow.txt failed"
((ELAPSED_MS >= 300)) || fail "IOChaos latency: read took $ELAPSED_MS ms, expected >= 300"

# ---- 10. SIGTERM with a request in flight ------------------------------------------------------
info "10. SIGTERM while an open is delayed 1.5 s: the open completes, then ChaosFS unmounts"
replace inflight <<'EOF2'
faults:
  - methods: [open]
    path: "inflight/*"
    latency: 1500ms
EOF2
# Only the open: a read after the server has stopped would fail with ENOTCONN, as on any
# FUSE file system whose server is gone (files left open at a stop are not served).
(exec 3<"$M/inflight/f.txt" && echo opened) >"$TMP/inflight.out" 2>"$TMP/inflight.err" &
OPEN_PID=$!
sleep 0.4
kill -TERM "$SRV_PID"
wait "$OPEN_PID" || fail "the delayed open failed after SIGTERM: $(cat "$TMP/inflight.err")"
[[ $(cat "$TMP/inflight.out") == opened ]] || fail "the delayed open did not complete"
wait_server 10
[[ $SRV_RC == 0 ]] || fail "fs mount exited $SRV_RC after SIGTERM"
grep -q "ChaosFS unmounted from" "$SC_ERR" || fail "no unmount message: $(cat "$SC_ERR")"
grep -Eq "rule [0-9]+ \(.*\): matched 1, fired 1, delayed 1" "$SC_ERR" || fail "no final counters: $(cat "$SC_ERR")"
mountpoint_usable || fail "mountpoint not usable after SIGTERM: $(cat "$TMP/ls.err")"
[[ ! -e $SOCK ]] || fail "control socket left after SIGTERM"
[[ $(cat "$B/inflight/f.txt") == "in flight" && $(cat "$B/plain.txt") == "hello chaosfs" ]] || fail "backing files changed"

# ---- 11. Ctrl-C --------------------------------------------------------------------------------
info "11. Ctrl-C (SIGINT to the process group)"
start_mount sigint
expect_ok cat "$M/plain.txt"
kill -INT -- "-$SRV_PID"
wait_server 10
[[ $SRV_RC == 0 ]] || fail "fs mount exited $SRV_RC after SIGINT"
grep -q "ChaosFS unmounted from" "$SC_ERR" || fail "no unmount message after SIGINT: $(cat "$SC_ERR")"
mountpoint_usable || fail "mountpoint not usable after SIGINT"
[[ ! -e $SOCK ]] || fail "control socket left after SIGINT"

# ---- 12. SIGKILL, with the unmount guardian ----------------------------------------------------
info "12. SIGKILL: the guardian unmounts the dead mount"
start_mount kill9
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
for ((i = 0; i < 50; i++)); do mountpoint_usable && break; sleep 0.1; done
mountpoint_usable || fail "mountpoint still unusable 5 s after SIGKILL ($(fstype_at "$M"); $(cat "$TMP/ls.err"))"
[[ -z $(fstype_at "$M") ]] || fail "something still mounted at $M"

# ---- 13. SIGKILL without the guardian, then fs recover -----------------------------------------
info "13. SIGKILL with --no-unmount-guardian, then syschaos fs recover"
start_mount kill9-noguard --no-unmount-guardian
"$SYSCHAOS" fs recover --mountpoint "$M" 2>"$TMP/recover.err"
rc=$?
[[ $rc == 2 ]] || fail "fs recover of a live mount: exit $rc, expected 2"
grep -q "live ChaosFS mount" "$TMP/recover.err" || fail "fs recover of a live mount: $(cat "$TMP/recover.err")"
is_chaosfs || fail "fs recover touched a live mount"
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
sleep 0.3
expect_err "Transport endpoint is not connected" ls "$M"
"$SYSCHAOS" fs recover --mountpoint "$M" 2>"$TMP/recover.err" || fail "fs recover failed: $(cat "$TMP/recover.err")"
grep -q "unmounted the dead ChaosFS mount" "$TMP/recover.err" || fail "fs recover said: $(cat "$TMP/recover.err")"
mountpoint_usable || fail "mountpoint not usable after fs recover: $(cat "$TMP/ls.err")"
[[ -z $(fstype_at "$M") ]] || fail "something still mounted at $M after fs recover"
"$SYSCHAOS" fs recover --mountpoint "$M" 2>"$TMP/recover.err" || fail "a second fs recover failed"
grep -q "nothing mounted" "$TMP/recover.err" || fail "a second fs recover said: $(cat "$TMP/recover.err")"
mkdir -p "$TMP/tmpfs"
mount -t tmpfs syschaos-e2e "$TMP/tmpfs" || fail "mount tmpfs"
"$SYSCHAOS" fs recover --mountpoint "$TMP/tmpfs" 2>"$TMP/recover.err"
rc=$?
[[ $rc == 2 && $(wc -l <"$TMP/recover.err") -eq 1 ]] || fail "fs recover of a tmpfs: exit $rc, $(cat "$TMP/recover.err")"
[[ $(fstype_at "$TMP/tmpfs") == tmpfs ]] || fail "fs recover unmounted a tmpfs"
umount "$TMP/tmpfs"
[[ $(cat "$B/plain.txt") == "hello chaosfs" ]] || fail "backing file changed"
SRV_PID=""

# ---- 14. bad input -----------------------------------------------------------------------------
info "14. bad input: one line, exit 2, nothing mounted"
rm -f "$SOCK"  # left by the SIGKILLed server (fs mount replaces a stale one)
bad_rules() { rules_file "$1"; }
P150=$(bad_rules bad_percent <<'EOF'
faults:
  - methods: [open]
    percent: 150
    fault: EIO
EOF
)
METHOD=$(bad_rules bad_method <<'EOF'
faults:
  - methods: [opn]
    fault: EIO
EOF
)
ERRNO=$(bad_rules bad_errno <<'EOF'
faults:
  - methods: [open]
    fault: EFOO
EOF
)
NOACTION=$(bad_rules bad_noaction <<'EOF'
faults:
  - methods: [open]
    path: "*.db"
EOF
)
SYNTAX=$(bad_rules bad_syntax <<'EOF'
faults:
  - methods: [open
    fault: EIO
EOF
)
printf 'x' >"$TMP/a-file"
check_bad() {  # check_bad WHAT ARGS...: fs mount with these arguments must be refused
  local what=$1
  shift
  timeout 20 "$SYSCHAOS" fs mount "$@" >/dev/null 2>"$TMP/bad.err"
  local rc=$?
  [[ $rc == 2 ]] || fail "$what: exit $rc, expected 2 ($(cat "$TMP/bad.err"))"
  [[ $(wc -l <"$TMP/bad.err") -eq 1 ]] || fail "$what: not one line on stderr: $(cat "$TMP/bad.err")"
  [[ -z $(fstype_at "$M") ]] || fail "$what: something was mounted at $M"
  [[ ! -e $SOCK ]] || fail "$what: a control socket was created"
  info "   $what: $(cat "$TMP/bad.err")"
}
common=(--backing "$B" --mountpoint "$M" --control "$SOCK")
check_bad "percent 150" "${common[@]}" --faults "$P150"
check_bad "unknown method" "${common[@]}" --faults "$METHOD"
check_bad "unknown errno" "${common[@]}" --faults "$ERRNO"
check_bad "rule without an action" "${common[@]}" --faults "$NOACTION"
check_bad "YAML syntax error" "${common[@]}" --faults "$SYNTAX"
check_bad "missing rules file" "${common[@]}" --faults "$TMP/none.yaml"
check_bad "missing --mountpoint" --backing "$B" --control "$SOCK"
check_bad "backing is a file" --backing "$TMP/a-file" --mountpoint "$M" --control "$SOCK"
check_bad "backing missing" --backing "$TMP/none" --mountpoint "$M" --control "$SOCK"
check_bad "negative --entry-timeout" "${common[@]}" --entry-timeout -1
check_bad "unknown option" "${common[@]}" --bogus
check_bad "mountpoint missing" --backing "$B" --mountpoint "$TMP/none" --control "$SOCK"
mountpoint_usable || fail "mountpoint not usable at the end"
info "PASS"
