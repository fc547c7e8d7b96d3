#!/usr/bin/env bash
# The edges of `syschaos fs inject --container`, each supported or refused up front:
#   * supported: a read-only root file system, and a "volume" that is only a directory of it
#     (not a mount point): ChaosFS covers it and leaves nothing behind, no hidden directory
#     (which could not even be created on a read-only root);
#   * supported: an IOChaos manifest's volumePath / containerNames instead of the options,
#     with its absolute path glob;
#   * refused with one line and exit 2, nothing mounted: a relative path, "/", a missing
#     directory, a file, an unknown container, a second injection on the same volume, a
#     manifest naming two containers or two volumes, an absolute glob outside the volume.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
VOLUME=/usr/share/nginx/html

# nginx on a read-only root; only the listen file (written by the entrypoint) and the
# directories nginx writes to are writable.
PORT=$(free_port) || fail "no free port"
printf 'listen 127.0.0.1:%s;\n' "$PORT" >"$TMP/listen.conf"
CONTAINER=syschaos-e2e-$TEST_NAME-$$-$RANDOM
BASE_URL=http://127.0.0.1:$PORT
_containers+=("$CONTAINER")
docker run -d --name "$CONTAINER" --network host -e PORT="$PORT" --read-only \
  -v "$TMP/listen.conf:/etc/nginx/listen.conf" --tmpfs /run --tmpfs /var/lib/nginx --tmpfs /tmp \
  "$NGINX_IMAGE" >/dev/null || fail "docker run --read-only failed"
wait_for_code / 200 10 || fail "nginx on a read-only root did not serve"
MAIN_PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
CID=$(docker inspect -f '{{.Id}}' "$CONTAINER")
awk -v v="$VOLUME" '$5 == v' /proc/"$MAIN_PID"/mountinfo | grep -q . && fail "$VOLUME should not be a mount point here"
mounts_now() { awk '{print $5, $9}' /proc/"$MAIN_PID"/mountinfo | sort; }
mountinfo_before=$(mounts_now)
expected_mounts=$mountinfo_before

refused() {  # WHAT EXPECTED-TEXT ARGS...: exit 2, one line naming the problem, nothing mounted
  local what=$1 want=$2
  shift 2
  "$SYSCHAOS" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  ((rc == 2)) || fail "$what: exit $rc, expected 2 ($(cat "$TMP/err"))"
  (($(wc -l <"$TMP/err") == 1)) || fail "$what: expected one line on stderr, got: $(cat "$TMP/err")"
  grep -q -- "$want" "$TMP/err" || fail "$what: message does not say '$want': $(cat "$TMP/err")"
  [[ $(mounts_now) == "$expected_mounts" ]] ||
    fail "$what: the container's mounts changed although the input was refused"
  info "refused ($what): $(cat "$TMP/err")"
}

cat >"$TMP/open.yaml" <<'EOF'
faults:
  - methods: [open]
    path: index.html
    fault: EIO
EOF
refused "relative volume" "absolute path" fs inject --container "$CONTAINER" --volume usr/share --faults "$TMP/open.yaml"
refused "root volume" "root file system cannot be covered" fs inject --container "$CONTAINER" --volume / --faults "$TMP/open.yaml"
refused "missing directory" "no such directory" fs inject --container "$CONTAINER" --volume /nonexistent --faults "$TMP/open.yaml"
refused "a file" "not a directory" fs inject --container "$CONTAINER" --volume /etc/nginx/nginx.conf --faults "$TMP/open.yaml"
refused "unknown container" "no such container" fs inject --container "no-such-container-$$" --volume "$VOLUME" --faults "$TMP/open.yaml"
refused "no volume" "give --volume" fs inject --container "$CONTAINER" --faults "$TMP/open.yaml"
cat >"$TMP/outside.yaml" <<'EOF'
faults:
  - methods: [open]
    path: /var/lib/*.db
    fault: EIO
EOF
refused "glob outside the volume" "does not start with the volume" fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/outside.yaml"
cat >"$TMP/two-containers.yaml" <<EOF
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
spec:
  action: fault
  volumePath: $VOLUME
  errno: 5
  containerNames: [$CONTAINER, other]
EOF
refused "two containers" "one container" fs inject --faults "$TMP/two-containers.yaml"
cat >"$TMP/two-volumes.yaml" <<EOF
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
spec:
  action: fault
  volumePath: $VOLUME
  errno: 5
  containerNames: [$CONTAINER]
---
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
spec:
  action: fault
  volumePath: /var/lib/nginx
  errno: 5
  containerNames: [$CONTAINER]
EOF
refused "two volumes" "one volume" fs inject --faults "$TMP/two-volumes.yaml"

# Supported: the directory of a read-only root, from an IOChaos manifest alone.
cat >"$TMP/iochaos.yaml" <<EOF
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: html-eio}
spec:
  action: fault
  mode: one
  selector: {}
  volumePath: $VOLUME
  path: $VOLUME/index.html
  methods: [open]
  errno: 5
  percent: 100
  containerNames: [$CONTAINER]
EOF
start_syschaos fs inject --faults "$TMP/iochaos.yaml"
for _ in $(seq 100); do grep -q 'rule(s) armed' "$SC_ERR" && break; kill -0 "$SC_PID" 2>/dev/null || break; sleep 0.1; done
grep -q 'rule(s) armed' "$SC_ERR" || fail "not armed: $(cat "$SC_ERR")"
grep -q "directory of its parent mount" "$SC_ERR" || fail "the message does not say the volume is a plain directory: $(head -2 "$SC_ERR")"
expect_codes /index.html 500 3 "read-only root, directory volume, IOChaos manifest"
expect_codes /4k.bin 200 2 "other files"
expected_mounts=$(mounts_now)
refused "second injection" "already under ChaosFS\|ChaosFS is already mounted" fs inject --container "$CONTAINER" --volume "$VOLUME" --faults "$TMP/open.yaml"
kill -TERM "$SC_PID"
wait_syschaos 30
((SC_RC == 0)) || fail "syschaos exited $SC_RC: $(tail -3 "$SC_ERR")"
[[ $(mounts_now) == "$mountinfo_before" ]] || fail "the container's mounts differ after recovery"
if compgen -G "/run/syschaos/fs/${CID:0:12}-*" >/dev/null; then fail "left in /run/syschaos/fs: $(ls /run/syschaos/fs)"; fi
if grep -q '/run/syschaos/fs' /proc/self/mountinfo; then fail "a staging mount is left on the host"; fi
expect_codes /index.html 200 3 "after recovery"
check_not_traced
info "PASS"
