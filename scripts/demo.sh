#!/usr/bin/env bash
# syschaos demo (README command 1): installs, builds, starts nginx (in a locally built Docker
# container when Docker can run, else as a local process), makes requests before, during and
# after `syschaos inject` breaks openat() on index.html, prints what the requests saw, and
# cleans up. Everything stays on 127.0.0.1.
#
#   DEMO_MODE=docker|local   force one target kind (default: docker when it works)
#   FAULT='...'              the fault to inject (default: openat:error=ENOENT:path=*/index.html)
#   DURATION=8s              how long syschaos injects
#   REQUESTS=10              requests before and after (during: every 0.2 s while injecting)
#   SKIP_SETUP=1 SKIP_BUILD=1   reuse what is installed and built
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/nginx-conf.sh

FAULT=${FAULT:-'openat:error=ENOENT:path=*/index.html'}
DURATION=${DURATION:-8s}
REQUESTS=${REQUESTS:-10}
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$PWD/$build_dir
SYSCHAOS=${SYSCHAOS:-$build_dir/syschaos}

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
say() { echo "demo: $*"; }

[[ -n ${SKIP_SETUP:-} ]] || { step "Installing dependencies (scripts/setup.sh)"; bash scripts/setup.sh; }
[[ -n ${SKIP_BUILD:-} ]] || { step "Building syschaos (scripts/build.sh)"; bash scripts/build.sh; }
[[ -x $SYSCHAOS ]] || { say "no syschaos binary at $SYSCHAOS"; exit 1; }

tmp=$(mktemp -d /tmp/syschaos-demo.XXXXXX)
chmod 755 "$tmp"
container=""
nginx_pid=""
sc_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $sc_pid ]] && kill -0 "$sc_pid" 2>/dev/null; then
    kill -TERM "$sc_pid" 2>/dev/null; wait "$sc_pid" 2>/dev/null || true
  fi
  if [[ -n $container ]]; then
    docker rm -f "$container" >/dev/null 2>&1 && say "removed container $container"
  fi
  if [[ -n $nginx_pid ]] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    say "stopped local nginx"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(free_port)
base=http://127.0.0.1:$port

mode=${DEMO_MODE:-}
if [[ -z $mode ]]; then
  mode=local
  if timeout 10 docker info >/dev/null 2>&1; then
    step "Building the demo image (scripts/build-images.sh)"
    if bash scripts/build-images.sh; then mode=docker
    else say "could not build the image: falling back to a local nginx"; fi
  else
    say "Docker is not reachable: falling back to a local nginx process"
  fi
elif [[ $mode == docker ]]; then
  bash scripts/build-images.sh
fi

if [[ $mode == docker ]]; then
  container=syschaos-demo-$$
  step "Starting nginx in Docker container $container on $base"
  docker run -d --name "$container" --network host -e PORT="$port" syschaos/nginx-demo >/dev/null
  target=(--container "$container")
else
  step "Starting a local nginx on $base"
  nginx_site "$tmp/html"
  mkdir -p "$tmp/temp"
  user=www-data; id "$user" >/dev/null 2>&1 || user=nobody
  nginx_conf "listen 127.0.0.1:$port;" "$tmp/html" "$tmp/nginx.pid" "$tmp/temp" "$user" >"$tmp/nginx.conf"
  nginx -e stderr -c "$tmp/nginx.conf" 2>"$tmp/nginx.log" &
  nginx_pid=$!
fi

code_of() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$base/" || true; }
for _ in $(seq 100); do [[ $(code_of) == 200 ]] && break; sleep 0.1; done
[[ $(code_of) == 200 ]] || { say "nginx does not serve $base/"; exit 1; }
if [[ $mode == local ]]; then
  # The worker serves the requests; the master only supervises.
  worker=$(pgrep -P "$nginx_pid" | head -n 1)
  target=(--pid "$worker")
fi

# request PHASE: one GET /, its status code (000 = no reply) appended to the phase's file.
request() {
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$base/" || true)
  echo "${code:-000}" >>"$tmp/$1.codes"
}

step "Before: $REQUESTS requests to GET $base/"
for _ in $(seq "$REQUESTS"); do request before; sleep 0.1; done

step "During: syschaos inject ${target[*]} --fault '$FAULT' --duration $DURATION"
"$SYSCHAOS" inject "${target[@]}" --fault "$FAULT" --duration "$DURATION" 2>"$tmp/syschaos.err" &
sc_pid=$!
# Start counting once syschaos says it is injecting (it prints that line before attaching,
# so give the attach a moment too).
for _ in $(seq 50); do
  grep -q 'injecting\|dry run' "$tmp/syschaos.err" 2>/dev/null && break
  kill -0 "$sc_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 0.5
deadline=$((SECONDS + 120))
while kill -0 "$sc_pid" 2>/dev/null && ((SECONDS < deadline)); do
  request during
  sleep 0.2
done
sc_rc=0
if kill -0 "$sc_pid" 2>/dev/null; then
  say "syschaos did not stop by itself; sending SIGTERM"
  kill -TERM "$sc_pid"
fi
wait "$sc_pid" || sc_rc=$?
sc_pid=""

step "After: $REQUESTS requests to GET $base/"
for _ in $(seq "$REQUESTS"); do request after; sleep 0.1; done

# ---- report ------------------------------------------------------------------------------
touch "$tmp/before.codes" "$tmp/during.codes" "$tmp/after.codes"
mapfile -t codes < <(sort -u "$tmp"/{before,during,after}.codes)
label() { [[ $1 == 000 ]] && echo "no-reply" || echo "$1"; }
count() { grep -cx "$2" "$tmp/$1.codes" || true; }

step "What the requests saw (HTTP status counts)"
{
  printf '%-8s %9s' phase requests
  for c in "${codes[@]}"; do printf ' %9s' "$(label "$c")"; done
  printf '\n'
  for phase in before during after; do
    printf '%-8s %9s' "$phase" "$(grep -c . "$tmp/$phase.codes" || true)"
    for c in "${codes[@]}"; do printf ' %9s' "$(count "$phase" "$c")"; done
    printf '\n'
  done
}

step "syschaos's own report (stderr)"
sed 's/^/  /' "$tmp/syschaos.err"

ok_before=$(( $(count before 200) == REQUESTS ))
ok_after=$(( $(count after 200) == REQUESTS ))
broken_during=$(( $(grep -c . "$tmp/during.codes" || true) - $(count during 200) ))
echo
if ((sc_rc != 0)); then
  say "syschaos exited with code $sc_rc"
  exit 1
elif ((ok_before && ok_after && broken_during > 0)); then
  say "the fault was visible only while syschaos injected ($broken_during failed request(s)); nginx is healthy after detach"
else
  say "unexpected result: before all-200=$ok_before, after all-200=$ok_after, failed during=$broken_during"
  exit 1
fi
