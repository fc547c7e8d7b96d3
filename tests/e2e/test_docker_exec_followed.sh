#!/usr/bin/env bash
# --container covers processes the container starts later, also ones that are no child of a
# traced process: `docker exec` enters the container from outside (runc setns), so syschaos
# must notice the newcomer in the container's cgroup and attach to it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
IMAGE=syschaos/busybox-like:latest
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
  bash "$REPO_ROOT/scripts/build-images.sh" >&2 || fail "could not build $IMAGE"
CONTAINER=syschaos-e2e-$TEST_NAME-$$-$RANDOM
_containers+=("$CONTAINER")
docker run -d --name "$CONTAINER" --network none "$IMAGE" /bin/sleep 600 >/dev/null ||
  fail "docker run $IMAGE failed"

docker exec "$CONTAINER" /bin/cat /etc/hostname >/dev/null || fail "before: cat /etc/hostname failed"
info "before: docker exec cat /etc/hostname works"

start_syschaos inject --container "$CONTAINER" \
  --fault 'openat:error=EACCES:path=/etc/hostname' --duration 12s
sleep 1.5
# The exec'd cat may start before syschaos sees it: give it a few tries (bounded).
seen=""
for i in $(seq 8); do
  out=$(docker exec "$CONTAINER" /bin/cat /etc/hostname 2>&1)
  rc=$?
  info "during, try $i: exit $rc: $out"
  if ((rc != 0)) && grep -q 'Permission denied' <<<"$out"; then seen=1; break; fi
  sleep 0.5
done
[[ -n $seen ]] || fail "a process started by docker exec was never injected (cat kept reading /etc/hostname)"

kill -INT "$SC_PID"
wait_syschaos 10
((SC_RC == 0)) || fail "syschaos exited with $SC_RC after SIGINT, expected 0"
docker exec "$CONTAINER" /bin/cat /etc/hostname >/dev/null || fail "after: cat /etc/hostname failed"
info "after: docker exec cat /etc/hostname works again"
check_not_traced
info "PASS"
