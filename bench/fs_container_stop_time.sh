#!/usr/bin/env bash
# How long `syschaos fs inject --container` holds a process stopped while it moves the
# process's open files, cwd and mappings onto ChaosFS (phase inject) and back (recover).
# Setup: syschaos/nginx-demo with its html directory as a host volume, and fs_holder (from
# the integration test programs) inside the container keeping 3 fds, its cwd and a shared
# mapping on the volume, two threads blocked in nanosleep and read. REPEAT injections of
# DURATION each, no rule that touches the holder's files (latency rules would add their
# delay to the stop: a thread waiting for a delayed FUSE reply stops only when it returns).
# Reports median / p90 / max of the per-process stop time of each phase, from the --events
# log. Markdown on stdout and in bench/results/fs_container_stop_time.md.
#
#   bash bench/fs_container_stop_time.sh [path/to/syschaos]     REPEAT=20 DURATION=1
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/scripts/nginx-conf.sh"
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
SYSCHAOS=${1:-${SYSCHAOS:-$build_dir/syschaos}}
HOLDER=$(dirname "$SYSCHAOS")/testprogs/fs_holder
REPEAT=${REPEAT:-20}
DURATION=${DURATION:-1}
VOLUME=/usr/share/nginx/html
[[ -x $SYSCHAOS && -x $HOLDER ]] || { echo "need $SYSCHAOS and $HOLDER (build syschaos and fs_holder)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/syschaos-stoptime.XXXXXX)
name=syschaos-bench-stoptime-$$
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
nginx_site "$tmp/html"
printf '0123456789abcdefghijklmnopqrstuvwxyz' >"$tmp/html/data.txt"
head -c 4096 /dev/zero | tr '\0' 'M' >"$tmp/html/map.bin"
chmod 755 "$tmp/html"
port=$(free_port)
docker run -d --name "$name" --network host -e PORT="$port" -v "$tmp/html:$VOLUME" syschaos/nginx-demo >/dev/null
docker cp "$HOLDER" "$name:/tmp/fs_holder" >/dev/null
docker exec -d "$name" sh -c "exec /tmp/fs_holder $VOLUME own-pipe > /tmp/holder.out 2>&1"
sleep 1
cat >"$tmp/rules.yaml" <<'EOF'
faults:
  - methods: [open]
    path: index.html
    fault: EIO
EOF
for ((i = 0; i < REPEAT; i++)); do
  "$SYSCHAOS" fs inject --container "$name" --volume "$VOLUME" --faults "$tmp/rules.yaml" \
    --duration "$DURATION" --events "$tmp/events.jsonl" -q
done
main=$(docker inspect -f '{{.State.Pid}}' "$name")
errors=$(grep -c ERROR "/proc/$main/root/tmp/holder.out" || true)

stats() {  # PHASE -> "median p90 max n"
  jq -r --arg p "$1" 'select(.phase == $p and .comm == "fs_holder") | .stop_ms' "$tmp/events.jsonl" | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) {print "- - - 0"; exit}
      m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)]; printf "%.2f %.2f %.2f %d\n", m, p, v[NR], NR}'
}
read -r im ip ix in < <(stats inject)
read -r rm rp rx rn < <(stats recover)
kernel=$(uname -r)
cpus=$(nproc)
out=$(cat <<MD
### Stop time per process (fs_holder: 2 threads, 3 fds, cwd, 1 shared mapping)

$REPEAT injections, kernel $kernel, $cpus CPUs; fs_holder errors seen: $errors.

| phase | median ms | p90 ms | max ms | samples |
|---|---|---|---|---|
| inject (volume -> ChaosFS) | $im | $ip | $ix | $in |
| recover (ChaosFS -> volume) | $rm | $rp | $rx | $rn |
MD
)
echo "$out"
mkdir -p "$here/results"
echo "$out" >"$here/results/fs_container_stop_time.md"
