#!/usr/bin/env bash
# Installs everything syschaos needs from Debian 12's packages and makes sure a Docker daemon
# answers. Idempotent and fast when all is there: one dpkg-query, one `docker info`.
# Works on a fresh machine without systemd (starts dockerd itself, logs to a file).
# A new Debian dependency of the project is added to PACKAGES below, nowhere else.
#
#   SYSCHAOS_SKIP_DOCKER=1   do not start dockerd (e2e tests then skip, the demo uses a local nginx)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# needrestart (if installed) must not restart dockerd or prompt in the middle of a run.
export NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l

log() { echo "setup: $*" >&2; }

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config clang llvm
  # libraries
  libbpf-dev bpftool libseccomp-dev libfuse3-dev fuse3 libyaml-cpp-dev nlohmann-json3-dev
  libcli11-dev libspdlog-dev libfmt-dev libcurl4-openssl-dev libcapstone-dev
  libcpp-httplib-dev  # the observe module's Prometheus exporter
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # demo target, e2e and benchmark tools
  docker.io nginx-light wrk strace bpftrace curl iproute2 procps jq
  # ChaosFS tests and benchmark (fio with verify, bindfs as the FUSE peer, xattr tools, a database)
  fio bindfs attr sqlite3
  # failstop tests (a real server and a packet capture on lo)
  redis-server tcpdump
  # experiment report check (headless)
  chromium
)

if [[ ${EUID:-$(id -u)} -ne 0 ]]; then
  log "must run as root (installs packages and starts dockerd)"
  exit 1
fi

missing_packages() {
  # dpkg-query prints nothing for packages it has never heard of, so compare name by name.
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null |
              awk '$2 == "installed" {print $1}') || true
  local p
  for p in "${PACKAGES[@]}"; do
    grep -qxF "$p" <<<"$installed" || echo "$p"
  done
}

apt_lists_present() {
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null ||
    compgen -G '/var/lib/apt/lists/*_Packages.*' >/dev/null
}

have_candidates() {
  local p
  for p in "$@"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || return 1
  done
}

install_packages() {
  local -a missing=("$@")
  log "installing ${#missing[@]} package(s): ${missing[*]}"
  if ! apt_lists_present || ! have_candidates "${missing[@]}"; then
    log "apt-get update"
    apt-get update -q
  fi
  # Package scripts must not start services (nginx on port 80, docker via init scripts):
  # this script starts what it needs itself. Only add a policy when none is there.
  local made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  local -a opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
                 -o Dpkg::Options::=--force-confold)
  if ! apt-get install "${opts[@]}" "${missing[@]}"; then
    # Stale lists (a 404 on a package that has since been updated): refresh once and retry.
    log "install failed; refreshing package lists and retrying once"
    apt-get update -q && apt-get install "${opts[@]}" "${missing[@]}" || rc=$?
  fi
  [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
  return $rc
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]})); then
  install_packages "${missing[@]}"
  mapfile -t still < <(missing_packages)
  if ((${#still[@]})); then
    log "still missing after install: ${still[*]}"
    exit 1
  fi
else
  log "all ${#PACKAGES[@]} packages present"
fi

# ---- Docker daemon -----------------------------------------------------------------------
docker_ready() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
  local logfile=/var/log/syschaos-dockerd.log
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd --bridge=none --iptables=false (log: $logfile)"
    # setsid + nohup: the daemon must outlive this script and the shell that ran it.
    setsid nohup dockerd --bridge=none --iptables=false >>"$logfile" 2>&1 </dev/null &
  else
    log "dockerd is running but not answering yet; waiting for it"
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    if [[ -S /var/run/docker.sock ]] && docker_ready; then
      log "docker is ready"
      return 0
    fi
    sleep 1
  done
  log "WARNING: dockerd did not answer within 60 s (see $logfile); e2e tests will be skipped"
  tail -n 20 "$logfile" >&2 2>/dev/null || true
  return 1
}

if [[ -n ${SYSCHAOS_SKIP_DOCKER:-} ]]; then
  log "SYSCHAOS_SKIP_DOCKER set: not starting dockerd"
elif docker_ready; then
  log "docker is ready"
else
  start_dockerd || true
fi
