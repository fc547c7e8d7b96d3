#!/usr/bin/env bash
# syschaos demo (README command 1): installs, builds, starts the demo nginx in a locally
# built Docker container on 127.0.0.1:18080, and runs the embedded default campaign
# (docs/examples/nginx-demo.yaml): five experiments of ChaosOrca's method — steady state,
# a system-call fault, recovery — under a steady HTTP load, each judged automatically. It
# ends by printing the summary table and where report.html is. Everything stays on
# 127.0.0.1; the container is removed at the end.
#
#   SPEC=docs/examples/nginx-demo.yaml   the campaign to run (its target must be the
#                                        container syschaos-demo on port 18080)
#   OUTPUT=syschaos-demo-results         where results.json and report.html go
#   SKIP_SETUP=1 SKIP_BUILD=1            reuse what is installed and built
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SPEC=${SPEC:-docs/examples/nginx-demo.yaml}
OUTPUT=${OUTPUT:-$PWD/syschaos-demo-results}
PORT=18080
CONTAINER=syschaos-demo
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$PWD/$build_dir
SYSCHAOS=${SYSCHAOS:-$build_dir/syschaos}

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
say() { echo "demo: $*"; }

[[ -n ${SKIP_SETUP:-} ]] || { step "Installing dependencies (scripts/setup.sh)"; bash scripts/setup.sh; }
[[ -n ${SKIP_BUILD:-} ]] || { step "Building syschaos (scripts/build.sh)"; bash scripts/build.sh; }
[[ -x $SYSCHAOS ]] || { say "no syschaos binary at $SYSCHAOS"; exit 1; }
timeout 10 docker info >/dev/null 2>&1 ||
  { say "Docker is not reachable: run scripts/setup.sh as root (it starts dockerd)"; exit 1; }

started=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $started ]]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 && say "removed container $CONTAINER"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Building the demo image (scripts/build-images.sh)"
bash scripts/build-images.sh

if docker inspect "$CONTAINER" >/dev/null 2>&1; then
  say "removing a container named $CONTAINER left from an earlier demo"
  docker rm -f "$CONTAINER" >/dev/null
fi
if ss -Htln "sport = :$PORT" | grep -q .; then
  say "port $PORT is in use on this machine: the demo's nginx needs it (stop what listens there)"
  exit 1
fi
step "Starting nginx in Docker container $CONTAINER on http://127.0.0.1:$PORT"
docker run -d --name "$CONTAINER" --network host -e PORT="$PORT" syschaos/nginx-demo >/dev/null
started=1
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/index.html" || true) == 200 ]] && break
  sleep 0.1
done

step "The campaign: syschaos run $SPEC --list"
"$SYSCHAOS" run "$SPEC" --list

step "Running it: syschaos run $SPEC --output $OUTPUT --fresh"
"$SYSCHAOS" run "$SPEC" --output "$OUTPUT" --fresh

step "Done"
say "machine-readable results: $OUTPUT/results.json (per-experiment series in $OUTPUT/experiments/)"
say "open the report (self-contained, works offline): $OUTPUT/report.html"
