#!/usr/bin/env bash
# `syschaos run` on a service it starts itself (a command target): a fragile server that
# exits when a read fails gives `crash` (with its exit status in the evidence), and the next
# experiment runs on a restarted service. Then Ctrl-C in the middle of a campaign: syschaos
# stops cleanly (exit 130, faults removed, partial results kept, its service stopped), and
# running the same command again continues where it stopped and completes the campaign.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
SERVER=$(dirname "$SYSCHAOS")/testprogs/exp_fragile_server
[[ -x $SERVER ]] || fail "test program missing: $SERVER (build the exp_fragile_server target)"
port=$(free_port) || fail "no free port"

spec=$TMP/crash.yaml
cat >"$spec" <<YAML
name: fragile service
target:
  command: [$SERVER, "$port"]
  ready_url: http://127.0.0.1:$port/
workload:
  http: {url: "http://127.0.0.1:$port/", rate: 20, timeout: 1s}
  command: "echo side-load for \$SYSCHAOS_EXPERIMENT; exec sleep 600"
phases: {baseline: 3s, perturbation: 3s, recovery: 3s}
seed: 5
experiments:
  - id: read-eio
    fault: "read:error=EIO:when=10"
  - id: control
    faults: []
YAML
"$SYSCHAOS" run "$spec" --output "$TMP/crash" >"$TMP/crash.out" 2>"$SC_ERR" || fail "syschaos run exited with $?"
kind=$(jq -r '.experiments[] | select(.id == "read-eio") | .verdict.kind' "$TMP/crash/results.json")
[[ $kind == crash ]] || fail "read-eio: verdict '$kind', expected crash"
jq -e '.experiments[] | select(.id == "read-eio") | .crashes[] | select(.exit_code == 3)' "$TMP/crash/results.json" >/dev/null ||
  fail "read-eio: the crash does not carry the server's exit status 3"
kind=$(jq -r '.experiments[] | select(.id == "control") | .verdict.kind' "$TMP/crash/results.json")
[[ $kind == ok || $kind == degraded ]] || fail "control after a restart: verdict '$kind', expected ok"
grep -q 'restarted' "$SC_ERR" || fail "no restart of the crashed service reported"
# The command workload ran alongside, was stopped at the end, and its output was kept.
grep -q 'side-load for control' "$TMP/crash/experiments/control/command.log" || fail "command workload output not kept"
jq -e '.experiments[] | select(.id == "control") | .command.signal == 15' "$TMP/crash/results.json" >/dev/null ||
  fail "the command workload was not ended with SIGTERM at the end of the experiment"
! pgrep -f 'exec sleep 600|^sleep 600' >/dev/null || fail "the command workload outlived the run"
info "crash detected with exit status 3; the service was restarted for the next experiment"
sleep 0.5
! pgrep -f "exp_fragile_server $port" >/dev/null || fail "the service outlived syschaos run"

# ---- interrupt and resume -------------------------------------------------------------
spec2=$TMP/resume.yaml
sed -e 's/name: fragile service/name: resumable/' -e 's/read:error=EIO:when=10/read:delay_enter=20ms/' \
    -e 's/id: read-eio/id: slow-read/' "$spec" >"$spec2"
out=$TMP/resume
start_syschaos run "$spec2" --output "$out"
for _ in $(seq 100); do grep -q 'slow-read\|perturbation' "$SC_ERR" 2>/dev/null && break; sleep 0.1; done
sleep 3.5   # into the perturbation of the first experiment
kill -INT "$SC_PID"
wait_syschaos 20
((SC_RC == 130)) || fail "after Ctrl-C syschaos exited with $SC_RC, expected 130"
grep -q 'stopping' "$SC_ERR" || fail "no stop message on Ctrl-C"
jq -e '.experiments[] | select(.id == "slow-read") | .interrupted == true' "$out/results.json" >/dev/null ||
  fail "the interrupted experiment is not kept as partial in results.json"
[[ $(jq '.finished | length' "$out/state.json") == 0 ]] || fail "state.json counts an interrupted experiment as finished"
sleep 0.5
! pgrep -f "exp_fragile_server $port" >/dev/null || fail "the service outlived the interrupted run"
info "interrupted cleanly; resuming"

"$SYSCHAOS" run "$spec2" --output "$out" >"$TMP/resume.out" 2>>"$SC_ERR" || fail "resumed run exited with $?"
[[ $(jq '.finished | length' "$out/state.json") == 2 ]] || fail "resumed run did not finish both experiments"
jq -e '.complete == true and ([.experiments[] | select(.interrupted)] | length == 0)' "$out/results.json" >/dev/null ||
  fail "results.json after resuming is not complete"
"$SYSCHAOS" run "$spec2" --output "$out" >"$TMP/third.out" 2>>"$SC_ERR" || fail "third run exited with $?"
grep -q 'taken over' "$TMP/third.out" || fail "a finished campaign ran again instead of being taken over"

# A changed spec must not be mixed into the old results.
sed -i 's/rate: 20/rate: 21/' "$spec2"
if "$SYSCHAOS" run "$spec2" --output "$out" >/dev/null 2>"$TMP/changed.err"; then fail "a changed spec resumed old results"; fi
grep -q 'different spec' "$TMP/changed.err" || fail "no clear message for a changed spec: $(cat "$TMP/changed.err")"
info "PASS"
