#!/usr/bin/env bash
# --dry-run matches and counts without injecting: requests keep succeeding, and --events
# writes one JSON line per matched call with its pid, tid, syscall and decoded path.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

events=$TMP/events.jsonl
start_syschaos inject --container "$CONTAINER" \
  --fault 'openat:error=ENOENT:path=*/index.html' --dry-run --events "$events"
sleep 1.5
expect_codes / 200 6 "during --dry-run"
# Stopped only once the requests are done, so a slow machine cannot make them miss the run.
kill -INT "$SC_PID"
wait_syschaos 20
((SC_RC == 0)) || fail "syschaos exited with $SC_RC, expected 0"
expect_codes / 200 2 "after"

[[ -s $events ]] || fail "events file $events is missing or empty"
lines=$(grep -c . "$events")
jq -e . "$events" >/dev/null 2>&1 || fail "events file is not JSON lines: $(head -c 300 "$events")"
info "events file: $lines line(s); first: $(head -n 1 "$events")"

# Every line names its process, thread and call.
bad=$(jq -c 'select((.pid|type) != "number" or (.tid|type) != "number"
                    or (.syscall|type) != "string")' "$events" | head -n 3)
[[ -z $bad ]] || fail "event lines without numeric pid/tid or string syscall: $bad"
# The path is decoded: "path": "..." or "paths": ["..."].
with_path=$(jq -r 'select(.syscall == "openat")
                   | [(.path // empty), ((.paths // [])[])] | map(tostring) | join(" ")' "$events" |
            grep -c 'index\.html')
((with_path >= 6)) || fail "expected >= 6 openat events with a path ending in index.html, got $with_path"
# Nothing was injected: when the event says so, it must say "not injected".
injected=$(jq -r 'select(has("injected")) | select(.injected != false) | .syscall' "$events" | grep -c .)
((injected == 0)) || fail "$injected event(s) claim an injection under --dry-run"
pids=$(container_pids | tr '\n' ' ')
foreign=$(jq -r '.pid' "$events" | sort -u | while read -r p; do
  [[ " $pids " == *" $p "* ]] || echo "$p"; done)
[[ -z $foreign ]] || fail "events name pids outside the container ($pids): $foreign"

matched=$(summary_sum "$SC_ERR" matched)
((matched >= 6)) || fail "summary counts $matched match(es) under --dry-run, expected >= 6"
info "summary counts $matched match(es); $with_path openat event(s) on index.html"
info "PASS"
