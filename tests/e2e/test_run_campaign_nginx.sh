#!/usr/bin/env bash
# `syschaos run` end to end on nginx in Docker: a small campaign whose experiments have known
# effects — openat/ENOENT on the page and writev/EIO break requests (outage), a 1 s delay on
# sendfile stalls nginx's single worker (outage), a fault on a path nginx never opens changes
# nothing that matters (ok or degraded), and SIGKILL on the 10th recvfrom kills a worker (crash; its master starts another) — must
# get those verdicts (the container is restarted with docker restart after the crash), write results.json, the series and report.html, and leave nginx
# serving and untraced. Two of the experiments run again with --only --fresh and must get
# the same verdicts (reproducibility).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
start_nginx

spec=$TMP/campaign.yaml
out=$TMP/out
cat >"$spec" <<YAML
name: e2e nginx campaign
target:
  container: $CONTAINER
  restart: on-crash
workload:
  http:
    urls: [$BASE_URL/index.html, $BASE_URL/4k.bin]
    rate: 40
    timeout: 2s
phases: {baseline: 4s, perturbation: 4s, recovery: 4s}
hypothesis:
  - http.success_rate >= 0.95
  - process.alive
seed: 11
experiments:
  - id: openat-enoent
    fault: "openat:error=ENOENT:path=*/index.html"
  - id: writev-eio
    fault: "writev:error=EIO"
  - id: sendfile-delay
    fault: "sendfile:delay_enter=1s"
  - id: worker-killed
    fault: "recvfrom:signal=SIGKILL:when=10"
  - id: no-effect
    fault: "openat:error=EACCES:path=/nonexistent/*"
YAML

"$SYSCHAOS" run "$spec" --list >"$TMP/list.txt" || fail "run --list failed"
[[ $(grep -c '^  ' "$TMP/list.txt") == 5 ]] || fail "--list did not show 5 experiments: $(cat "$TMP/list.txt")"

info "running the campaign (about 80 s)"
"$SYSCHAOS" run "$spec" --output "$out" >"$TMP/run.out" 2>"$SC_ERR" || fail "syschaos run exited with $?"
cat "$TMP/run.out" >&2

verdict() { jq -r --arg id "$1" '.experiments[] | select(.id == $id) | .verdict.kind' "$out/results.json"; }
expect_verdict() {
  local id=$1 got
  got=$(verdict "$id")
  shift
  local v
  for v in "$@"; do [[ $got == "$v" ]] && { info "$id: $got"; return 0; }; done
  fail "$id: verdict '$got', expected one of: $*"
}
expect_verdict openat-enoent outage
expect_verdict writev-eio outage
expect_verdict sendfile-delay outage
expect_verdict no-effect ok degraded
expect_verdict worker-killed crash

# The evidence is there, not a bare label.
n=$(jq '[.experiments[] | select(.id == "openat-enoent") | .verdict.evidence[] | select(.p_value != null)] | length' "$out/results.json")
((n > 0)) || fail "openat-enoent: no evidence with a p-value in results.json"
injected=$(jq '.experiments[] | select(.id == "openat-enoent") | .faults_injected' "$out/results.json")
((injected > 0)) || fail "openat-enoent: no call perturbed"
jq -e '.complete == true' "$out/results.json" >/dev/null || fail "results.json does not say the campaign is complete"
for id in openat-enoent writev-eio sendfile-delay no-effect worker-killed; do
  [[ -s $out/experiments/$id/series.csv ]] || fail "no series.csv for $id"
  [[ -s $out/experiments/$id/monitor.jsonl ]] || fail "no monitor.jsonl for $id"
done
grep -q '<svg' "$out/report.html" || fail "report.html has no chart"
grep -q 'worker-killed' "$out/report.html" || fail "report.html does not show every experiment"
for id in openat-enoent writev-eio sendfile-delay no-effect worker-killed; do
  [[ -s $out/experiments/$id/series.jsonl ]] || fail "no series.jsonl for $id"
done
# The summary table: a header and one row per experiment with its verdict.
grep -q '^perturbation *| HTTP effect *| syscall effect *| verdict' "$TMP/run.out" || fail "no summary table printed"
[[ $(grep -cE '\| (ok|degraded|outage|crash|no-recovery)' "$TMP/run.out") == 5 ]] ||
  fail "the summary table does not have one row per experiment"
# After the crash, restart: on-crash restarted the container before the next experiment.
grep -q "no-effect: restarted container $CONTAINER" "$SC_ERR" || fail "the container was not restarted after the crash"

# The target is left as it was: serving, nothing traced.
expect_codes /index.html 200 3 "after the campaign"
check_container_running
check_not_traced

info "running two experiments again (--only --fresh)"
"$SYSCHAOS" run "$spec" --output "$TMP/again" --only openat-enoent,sendfile-delay --fresh >/dev/null 2>>"$SC_ERR" ||
  fail "second run failed"
for id in openat-enoent sendfile-delay; do
  first=$(verdict "$id")
  second=$(jq -r --arg id "$id" '.experiments[] | select(.id == $id) | .verdict.kind' "$TMP/again/results.json")
  [[ $first == "$second" ]] || fail "$id: verdict $first, then $second on the second run"
done
# Ctrl-C, then SIGKILL, in the middle of a perturbation: nginx keeps serving, untraced.
cat >"$TMP/stop.yaml" <<YAML
target: {container: $CONTAINER}
workload: {http: {url: "$BASE_URL/4k.bin", rate: 20, timeout: 2s}}
phases: {baseline: 2s, perturbation: 20s, recovery: 2s}
experiments: [{id: slow, fault: "sendfile:delay_enter=200ms"}]
YAML
for sig in INT KILL; do
  : >"$SC_ERR"
  start_syschaos run "$TMP/stop.yaml" --output "$TMP/stop-$sig"
  for _ in $(seq 100); do grep -q 'perturbation' "$SC_ERR" && break; sleep 0.1; done
  grep -q 'perturbation' "$SC_ERR" || fail "the perturbation did not start"
  sleep 2
  kill -"$sig" "$SC_PID"
  wait_syschaos 20
  if [[ $sig == INT ]]; then
    ((SC_RC == 130)) || fail "after SIGINT syschaos run exited with $SC_RC, expected 130"
    jq -e '.experiments[0].interrupted == true' "$TMP/stop-$sig/results.json" >/dev/null ||
      fail "the interrupted experiment was not kept"
  fi
  sleep 0.5
  check_not_traced
  expect_codes /4k.bin 200 3 "after SIG$sig of syschaos run"
  check_container_running
done
info "PASS"
