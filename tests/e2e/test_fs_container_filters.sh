#!/usr/bin/env bash
# syschaos fs inject --container, the actions and filters test_fs_container_faults.sh does not
# cover, seen through nginx (sendfile on, no open_file_cache: one open and, for a 4 KiB file,
# one FUSE READ per request) serving its html directory from a host volume:
#   1. mistake on read, path m/*: filling zero (maxOccurrences 3, maxLength 8), then, changed
#      live with `fs rules replace`, filling random (2 x 32): every body differs from the file
#      exactly as configured (the changed bytes fit in maxOccurrences runs of maxLength bytes;
#      zero fill puts NUL bytes there); each request is corrupted afresh (the docs promise no
#      page is kept across opens while a rule acts on reads, and corrupted pages are dropped),
#      also for a file nginx served before the injection; files outside the glob are intact. Ended by SIGKILL of all three syschaos
#      processes and `syschaos fs restore`: the bodies are the files' bytes again.
#   2. percent 30 with --seed: 200 requests; a fault on open fails 30 % +- 10 points of them
#      (Binomial(200, 0.3): sd 6.5, so +- 3 sd) and the rule's counters agree with what nginx
#      answered; a fault on read fails 30 % +- 10 points of the READ requests, and the requests
#      that failed are exactly the counted failures minus the READs the kernel retried (a failed
#      readahead READ is retried once, synchronously: see READ_RETRY below). The same seed gives
#      the same sequence of faults again, another seed another one. Ended by SIGTERM.
#   3. time window (after/duration): given at start (the window counts from when the rules are
#      armed) and added live with `fs rules add` on the default control socket (from when the
#      command ran); requests timed by this script fail only inside the window, all of them
#      inside it. `fs rules list`, `remove` and `clear` live. Ended by --duration.
# The tolerance of the time checks is the uncertainty of when the rule was installed (between
# starting syschaos, or the `fs rules add` command, and seeing it done), not a guessed slack:
# a request may fail only if it ended after the earliest possible window start and started
# before the latest possible window end; it must fail if it lies within the latest start and
# the earliest end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
for t in cmp md5sum; do command -v "$t" >/dev/null 2>&1 || skip "$t not installed"; done

# ---- the volume ---------------------------------------------------------------------------------
# 4 KiB files (one page: one READ per request), without NUL bytes so that every zeroed byte
# shows; none is read by nginx before the injection but m/served.bin.
VOLDIR=$TMP/html
nginx_site "$VOLDIR"
mkdir -p "$VOLDIR"/{m,p,w}
no_nul_4k() { head -c 12000 /dev/urandom | tr -d '\0' | head -c 4096 >"$1"; }
no_nul_4k "$VOLDIR/m/zero.bin"
no_nul_4k "$VOLDIR/m/random.bin"
no_nul_4k "$VOLDIR/m/served.bin"
no_nul_4k "$VOLDIR/p/read.bin"
printf '<p>percent</p>\n' >"$VOLDIR/p/open.html"
printf '<p>window a</p>\n' >"$VOLDIR/w/a.html"
printf '<p>window b</p>\n' >"$VOLDIR/w/b.html"
for f in m/zero.bin m/random.bin m/served.bin p/read.bin; do
  [[ $(stat -c %s "$VOLDIR/$f") == 4096 ]] || fail "could not make a 4096-byte $f"
done
start_nginx_with_volume "$VOLDIR"
snapshot_volume index.html 4k.bin m/zero.bin m/random.bin m/served.bin p/read.bin p/open.html w/a.html w/b.html

now_ms() { local us=${EPOCHREALTIME/./}; echo $((us / 1000)); }
CONTROL=$TMP/control.sock
rules() { "$SYSCHAOS" fs rules --control "$CONTROL" "$@"; }
# counter RULE_INDEX NAME: a counter of the rule at that position in `fs rules --json list`.
counter() {
  local v
  v=$(rules --json list | jq -r ".rules[$1].counters.$2") || fail "fs rules --json list failed"
  [[ $v =~ ^[0-9]+$ ]] || fail "no counter $2 for rule $1: $(rules list)"
  echo "$v"
}
rules_file() { cat >"$TMP/$1.yaml"; echo "$TMP/$1.yaml"; }

# get PATH OUT: one GET, the body in OUT; sets CODE, SIZE and CURL_RC.
get() {
  local out
  out=$(curl -s -m 3 -o "$2" -w '%{http_code} %{size_download}' "$BASE_URL$1")
  CURL_RC=$?
  read -r CODE SIZE <<<"$out"
  CODE=${CODE:-000}
  SIZE=${SIZE:-0}
}

# mistake_shape ORIG BODY MAXLEN: "changed runs nul" for BODY against ORIG: the bytes that
# differ, the fewest runs of MAXLEN bytes covering them (greedy from the first changed offset,
# which is minimal for points on a line), how many of them are NUL in BODY.
mistake_shape() {
  cmp -l "$1" "$2" 2>/dev/null | awk -v L="$3" '
    { n++; if ($3 == 0) z++; if (!runs || $1 >= s + L) { runs++; s = $1 } }
    END { printf "%d %d %d\n", n, runs, z }'
}

# expect_mistakes PHASE PATH FILLING MAXOCC MAXLEN N: N GETs of PATH, each a 200 with a body of
# the file's size that differs from the file within MAXOCC runs of MAXLEN bytes, NUL-filled
# for "zero"; the corruption differs between requests. Sets MISTAKES_SEEN (corrupted bodies).
expect_mistakes() {
  local phase=$1 path=$2 filling=$3 maxocc=$4 maxlen=$5 n=$6 i changed runs nul sigs total=0 nonnul=0
  local orig=$VOLDIR$path body=$TMP/body
  MISTAKES_SEEN=0
  sigs=$TMP/mistake.sigs
  : >"$sigs"
  for ((i = 0; i < n; i++)); do
    get "$path" "$body"
    [[ $CURL_RC == 0 && $CODE == 200 && $SIZE == 4096 ]] ||
      fail "$phase: GET $path -> $CODE, $SIZE bytes, curl rc $CURL_RC (expected 200 with 4096 bytes)"
    read -r changed runs nul < <(mistake_shape "$orig" "$body" "$maxlen")
    ((changed <= maxocc * maxlen && runs <= maxocc)) ||
      fail "$phase: request $i: $changed byte(s) changed in $runs run(s) of $maxlen, expected at most $maxocc run(s): $(cmp -l "$orig" "$body" | head -20 | tr '\n' ' ')"
    if [[ $filling == zero ]]; then
      ((changed >= 1)) || fail "$phase: request $i: the body is the file's exact bytes (no mistake)"
      ((nul == changed)) || fail "$phase: request $i: $((changed - nul)) changed byte(s) are not NUL with filling zero"
    fi
    ((changed >= 1)) && MISTAKES_SEEN=$((MISTAKES_SEEN + 1))
    total=$((total + changed))
    nonnul=$((nonnul + changed - nul))
    cmp -l "$orig" "$body" | md5sum >>"$sigs"
  done
  # Random bytes equal the file's by chance (1/256 each): a short run may leave the body
  # intact; nine of ten requests at least are corrupted.
  ((MISTAKES_SEEN >= n - 1)) || fail "$phase: only $MISTAKES_SEEN of $n bodies were corrupted"
  if [[ $filling == random ]]; then
    ((nonnul * 10 >= total * 9)) || fail "$phase: $((total - nonnul)) of $total changed bytes are NUL: not random filling"
  fi
  local distinct
  distinct=$(sort -u "$sigs" | wc -l)
  ((distinct >= n / 2)) ||
    fail "$phase: only $distinct different corruption(s) in $n requests: a corrupted page was served again from the cache"
  info "$phase: $n x GET $path: $MISTAKES_SEEN corrupted, $total byte(s) changed in all ($((total - nonnul)) NUL), $distinct different corruptions"
}

# expect_intact PHASE PATH N: N GETs of PATH return the file's exact bytes.
expect_intact() {
  local i
  for ((i = 0; i < $3; i++)); do
    get "$2" "$TMP/body"
    [[ $CURL_RC == 0 && $CODE == 200 ]] || fail "$1: GET $2 -> $CODE, curl rc $CURL_RC"
    cmp -s "$VOLDIR$2" "$TMP/body" || fail "$1: GET $2: the body differs from the file ($(cmp -l "$VOLDIR$2" "$TMP/body" | wc -l) bytes)"
  done
  info "$1: $3 x GET $2: the file's exact bytes"
}

# ---- 1. mistake on read: zero, then random (live), then SIGKILL + fs restore --------------------
# A file nginx served before the injection is corrupted too: its cached pages belong to the
# volume's inode, ChaosFS's inodes start without any.
expect_intact "1: before the injection" /m/served.bin 2
ZERO=$(rules_file zero <<'EOF'
faults:
  - name: zero-fill
    methods: [read]
    path: "m/*"
    mistake: {filling: zero, maxOccurrences: 3, maxLength: 8}
EOF
)
RANDOM_FILL=$(rules_file random <<'EOF'
faults:
  - name: random-fill
    methods: [read]
    path: "m/*"
    mistake: {filling: random, maxOccurrences: 2, maxLength: 32}
EOF
)
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$ZERO" --control "$CONTROL"
wait_fs_armed
[[ -n $(fs_chaos_mount_id) ]] || fail "1: no ChaosFS mount over $VOLUME in the container"
expect_mistakes "1 (zero, served before)" /m/served.bin zero 3 8 4
seen=$MISTAKES_SEEN
expect_mistakes "1 (zero)" /m/zero.bin zero 3 8 10
MISTAKES_SEEN=$((MISTAKES_SEEN + seen))
corrupted=$(counter 0 corrupted)
((corrupted >= MISTAKES_SEEN)) || fail "1 (zero): the rule counted $corrupted corrupted READs, nginx served $MISTAKES_SEEN corrupted bodies"
expect_intact "1 (zero, path filter)" /4k.bin 3
expect_intact "1 (zero, path filter)" /index.html 2
rules replace "$RANDOM_FILL" >/dev/null 2>"$TMP/rules.err" || fail "1: fs rules replace failed: $(cat "$TMP/rules.err")"
rules list | grep -q "random-fill" || fail "1: the replaced rule is not listed: $(rules list)"
expect_mistakes "1 (random, replaced live)" /m/random.bin random 2 32 10
corrupted=$(counter 0 corrupted)
((corrupted >= MISTAKES_SEEN)) || fail "1 (random): the rule counted $corrupted corrupted READs, nginx served $MISTAKES_SEEN corrupted bodies"
expect_intact "1 (random, path filter)" /4k.bin 2
kill9_fs_inject 1
code=$(http_code /m/zero.bin)
[[ $code != 200 ]] || fail "1: GET /m/zero.bin still 200 with ChaosFS's server dead: the restore would prove nothing"
info "1: ChaosFS's server is dead: GET /m/zero.bin -> $code until fs restore"
"$SYSCHAOS" fs restore --container "$CONTAINER" 2>"$TMP/restore.err" || fail "1: fs restore failed: $(cat "$TMP/restore.err")"
info "1: $(tail -1 "$TMP/restore.err")"
check_fs_recovered "1: after fs restore"
expect_intact "1: after fs restore" /m/zero.bin 3
expect_intact "1: after fs restore" /m/random.bin 3
expect_intact "1: after fs restore" /m/served.bin 1

# ---- 2. percent, with a seed -------------------------------------------------------------------
PCT=$(rules_file percent <<'EOF'
faults:
  - name: open-30
    methods: [open]
    path: p/open.html
    percent: 30
    fault: EIO
  - name: read-30
    methods: [read]
    path: p/read.bin
    percent: 30
    fault: EIO
EOF
)
# run_percent SEED N: an injection with that seed, N requests to each file, then SIGTERM.
# Sets OPEN_SEQ and READ_SEQ ('.' served, 'X' failed, one character a request) and the rules'
# counters OPEN_MATCHED OPEN_FAILED READ_MATCHED READ_FAILED.
run_percent() {
  local seed=$1 n=$2 i
  start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$PCT" --control "$CONTROL" --seed "$seed"
  wait_fs_armed
  grep -q "rule(s) armed on $VOLUME (seed $seed)" "$SC_ERR" || fail "2: the seed $seed is not reported: $(grep armed "$SC_ERR")"
  OPEN_SEQ=""
  READ_SEQ=""
  for ((i = 0; i < n; i++)); do
    get /p/open.html /dev/null
    case $CODE in
      200) OPEN_SEQ+=. ;;
      500) OPEN_SEQ+=X ;;
      *) fail "2: GET /p/open.html -> $CODE (curl rc $CURL_RC), expected 200 or 500" ;;
    esac
    get /p/read.bin /dev/null
    # A failed read: nginx has sent the status line, sendfile() fails, the body never comes.
    if [[ $CURL_RC == 0 && $CODE == 200 && $SIZE == 4096 ]]; then READ_SEQ+=.; else READ_SEQ+=X; fi
  done
  OPEN_MATCHED=$(counter 0 matched)
  OPEN_FAILED=$(counter 0 failed)
  READ_MATCHED=$(counter 1 matched)
  READ_FAILED=$(counter 1 failed)
  kill -TERM "$SC_PID"
  wait_syschaos 30
  ((SC_RC == 0)) || fail "2: syschaos exited $SC_RC after SIGTERM: $(tail -5 "$SC_ERR")"
  check_fs_recovered "2 (seed $seed): after SIGTERM"
}
fails_in() { local s=${1//./}; echo ${#s}; }

N=200
run_percent 4242 $N
SEQ1_OPEN=$OPEN_SEQ
SEQ1_READ=$READ_SEQ
open_fails=$(fails_in "$OPEN_SEQ")
read_fails=$(fails_in "$READ_SEQ")
info "2: open, 30 %: $open_fails/$N requests failed (HTTP 500); counters matched $OPEN_MATCHED failed $OPEN_FAILED"
info "2: read, 30 %: $read_fails/$N requests failed (no body); counters matched $READ_MATCHED failed $READ_FAILED"
# One OPEN per request: one draw per request. The seed fixes the draws: with 4242 the rule's
# generator fails 42 of the first 200 (computed from src/core/rng.hpp: mt19937_64 seeded with
# mix(seed + rule id)), inside the tolerance, which checks that the percentage acts as one.
((open_fails >= 40 && open_fails <= 80)) || fail "2: $open_fails of $N opens failed, expected 60 +- 20 (30 % +- 10 points)"
((OPEN_MATCHED == N)) || fail "2: the open rule matched $OPEN_MATCHED times for $N requests"
((OPEN_FAILED == open_fails)) || fail "2: the open rule counted $OPEN_FAILED failures, nginx answered $open_fails x 500"
# READ_RETRY: when the readahead READ of a page fails the kernel reads the page once more with
# a synchronous READ (filemap_read_folio) before it gives up: that is a second draw, and the
# request fails only if both fail. So the rule's draws are N + (first READs that failed), and
# the failed requests are the failed draws minus those retried first READs.
retried=$((READ_MATCHED - N))
((retried >= 0 && retried <= READ_FAILED)) || fail "2: the read rule matched $READ_MATCHED times for $N requests, with $READ_FAILED failures"
((READ_FAILED * 100 >= READ_MATCHED * 20 && READ_FAILED * 100 <= READ_MATCHED * 40)) ||
  fail "2: $READ_FAILED of $READ_MATCHED READs failed, expected 30 % +- 10 points"
((read_fails == READ_FAILED - retried)) ||
  fail "2: $read_fails requests failed, expected $READ_FAILED failed READs - $retried retried = $((READ_FAILED - retried))"
((read_fails > 0 && read_fails < N)) || fail "2: $read_fails of $N reads failed: the percentage does not act"
info "2: read: $retried READs retried by the kernel after a failure; $((READ_FAILED - retried)) retries failed too = the $read_fails failed requests"

run_percent 4242 100
[[ $OPEN_SEQ == "${SEQ1_OPEN:0:100}" ]] ||
  fail "2: seed 4242 again, open faults differ: $OPEN_SEQ vs ${SEQ1_OPEN:0:100}"
[[ $READ_SEQ == "${SEQ1_READ:0:100}" ]] ||
  fail "2: seed 4242 again, read faults differ: $READ_SEQ vs ${SEQ1_READ:0:100}"
info "2: seed 4242 again: the same faults for the first 100 requests (open and read)"
run_percent 4243 100
[[ $OPEN_SEQ != "${SEQ1_OPEN:0:100}" ]] || fail "2: seed 4243 gave the very faults of seed 4242"
info "2: seed 4243: other faults ($(fails_in "$OPEN_SEQ")/100 opens failed)"

# ---- 3. time window ----------------------------------------------------------------------------
WIN=$(rules_file window <<'EOF'
faults:
  - name: window-a
    methods: [open]
    path: w/a.html
    fault: EIO
    after: 3s
    duration: 3s
EOF
)
LIVE=$(rules_file window_live <<'EOF'
faults:
  - name: window-b
    methods: [open]
    path: w/b.html
    fault: EIO
    after: 1500ms
    duration: 2s
EOF
)
# poll PATH UNTIL_MS LOG: GET PATH every 50 ms until UNTIL_MS (this script's clock, ms); one
# line per request in LOG: start end code (ms relative to T0).
poll() {
  local path=$1 until=$2 log=$3 s e
  : >"$log"
  while (($(now_ms) < until)); do
    s=$(now_ms)
    get "$path" /dev/null
    e=$(now_ms)
    echo "$((s - T0)) $((e - T0)) $CODE" >>"$log"
    sleep 0.05
  done
}
# check_window PHASE LOG I0 I1 AFTER DURATION: the rule was installed between I0 and I1 (ms
# relative to T0), active from AFTER for DURATION. Sets WIN_FAILS.
check_window() {
  local phase=$1 log=$2 i0=$3 i1=$4 a=$5 d=$6 bad
  bad=$(awk '$3 != 200 && $3 != 500' "$log" | head -3)
  [[ -z $bad ]] || fail "$phase: answers other than 200 or 500: $bad"
  # A failure before the earliest start or after the latest end of the window.
  bad=$(awk -v lo=$((i0 + a)) -v hi=$((i1 + a + d)) '$3 == 500 && ($2 < lo || $1 > hi)' "$log" | head -3)
  [[ -z $bad ]] || fail "$phase: failed outside the window [$((i0 + a)), $((i1 + a + d))] ms: $bad"
  # Inside the window for sure: every request fails.
  bad=$(awk -v lo=$((i1 + a)) -v hi=$((i0 + a + d)) '$1 > lo && $2 < hi && $3 != 500' "$log" | head -3)
  [[ -z $bad ]] || fail "$phase: served inside the window [$((i1 + a)), $((i0 + a + d))] ms: $bad"
  local inside before after
  inside=$(awk -v lo=$((i1 + a)) -v hi=$((i0 + a + d)) '$1 > lo && $2 < hi' "$log" | wc -l)
  before=$(awk -v lo="$i1" -v hi=$((i0 + a)) '$1 > lo && $2 < hi && $3 == 200' "$log" | wc -l)
  after=$(awk -v lo=$((i1 + a + d)) '$1 > lo && $3 == 200' "$log" | wc -l)
  ((inside >= 5 && before >= 5 && after >= 5)) ||
    fail "$phase: too few requests to tell: $before served before, $inside inside, $after served after the window"
  WIN_FAILS=$(awk '$3 == 500' "$log" | wc -l)
  info "$phase: installed in [$i0, $i1] ms; $before served before, $inside failed inside, $after served after; failures from $(awk '$3 == 500 {print $1; exit}' "$log") to $(awk '$3 == 500 {t = $2} END {print t}' "$log") ms"
}

T0=$(now_ms)
start_syschaos fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$WIN" --duration 20s
wait_fs_armed
I1=$(($(now_ms) - T0))
info "3: armed $I1 ms after start"
((I1 < 2500)) || fail "3: arming took $I1 ms: too long for the window checks (the 3 s before it)"
# The default control socket: on the host, named after the container, removed at the end.
DEFAULT_SOCK=$(grep -o 'control socket [^ ]*' "$SC_ERR" | head -1 | cut -d' ' -f3)
[[ $DEFAULT_SOCK == /run/syschaos/fs/"${CID:0:12}"-*.sock && -S $DEFAULT_SOCK ]] ||
  fail "3: the default control socket is '$DEFAULT_SOCK'"
CONTROL=$DEFAULT_SOCK
poll /w/a.html $((T0 + I1 + 3000 + 3000 + 1500)) "$TMP/window_a.log"
check_window "3 (window from start)" "$TMP/window_a.log" 0 "$I1" 3000 3000
((WIN_FAILS == $(counter 0 failed))) || fail "3: window-a counted $(counter 0 failed) failures, nginx answered $WIN_FAILS x 500"

T0=$(now_ms)
id=$(rules add "$LIVE" 2>"$TMP/rules.err") || fail "3: fs rules add failed: $(cat "$TMP/rules.err")"
I1=$(($(now_ms) - T0))
[[ $id =~ ^[0-9]+$ ]] || fail "3: fs rules add printed '$id'"
poll /w/b.html $((T0 + I1 + 1500 + 2000 + 1500)) "$TMP/window_b.log"
check_window "3 (window added live)" "$TMP/window_b.log" 0 "$I1" 1500 2000
((WIN_FAILS == $(counter 1 failed))) || fail "3: window-b counted $(counter 1 failed) failures, nginx answered $WIN_FAILS x 500"
rules list >"$TMP/list.out" || fail "3: fs rules list failed"
if ! grep -Eq "^$id .*window-b" "$TMP/list.out" || ! grep -q "window-a" "$TMP/list.out"; then
  fail "3: fs rules list: $(cat "$TMP/list.out")"
fi
rules remove "$id" >/dev/null 2>"$TMP/rules.err" || fail "3: fs rules remove $id failed: $(cat "$TMP/rules.err")"
[[ $(rules --json list | jq -r '[.rules[].name] | join(",")') == window-a ]] || fail "3: after remove: $(rules list)"
rules clear >/dev/null 2>"$TMP/rules.err" || fail "3: fs rules clear failed: $(cat "$TMP/rules.err")"
[[ $(rules --json list | jq '.rules | length') == 0 ]] || fail "3: rules left after clear: $(rules list)"
info "3: fs rules list, remove and clear on the default socket"
wait_syschaos 30
((SC_RC == 0)) || fail "3: syschaos exited $SC_RC at the end of --duration: $(tail -5 "$SC_ERR")"
[[ ! -e $DEFAULT_SOCK ]] || fail "3: the control socket $DEFAULT_SOCK is left"
check_fs_recovered "3: after --duration"
expect_intact "3: after --duration" /w/a.html 1
info "PASS"
