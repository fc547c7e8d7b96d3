#!/usr/bin/env bash
# Builds syschaos's local Docker images without any registry, from binaries of this machine:
#   syschaos/nginx-demo    the host's nginx (nginx-light) with its libraries, a minimal /etc,
#                          a small site; run with --network host, listens on 127.0.0.1:$PORT
#                          (default 18080): docker run -d --network host -e PORT=18123 ...
#   syschaos/busybox-like  sh (dash), sleep, cat and a few coreutils, for other tests
# Idempotent: an image is rebuilt only when missing or when its inputs (these scripts, the
# binaries it copies) changed; the hash is kept in the image's label org.syschaos.build-hash.
#   FORCE=1 rebuilds anyway.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=nginx-conf.sh
source "$here/nginx-conf.sh"

log() { echo "build-images: $*" >&2; }
DEFAULT_PORT=18080
NGINX_IMAGE=syschaos/nginx-demo:latest
BUSYBOX_IMAGE=syschaos/busybox-like:latest
BUSYBOX_TOOLS=(sh sleep cat ls echo true false env head tail wc id ps kill)

if ! timeout 10 docker info >/dev/null 2>&1; then
  log "docker is not reachable; run scripts/setup.sh (images not built)"
  exit 1
fi

workdir=$(mktemp -d /tmp/syschaos-images.XXXXXX)
cleanup() { rm -rf "$workdir"; }
trap cleanup EXIT

# add_binary ROOTFS PATH [NAME_IN_IMAGE]: copies an executable and every library ldd lists,
# plus the dynamic loader, to the same paths inside ROOTFS.
add_binary() {
  local rootfs=$1 bin=$2 dest=${3:-$2}
  mkdir -p "$rootfs/$(dirname "$dest")"
  cp -L "$bin" "$rootfs/$dest"
  local lib
  while read -r lib; do
    [[ -z $lib || -e $rootfs/$lib ]] && continue
    mkdir -p "$rootfs/$(dirname "$lib")"
    cp -L "$lib" "$rootfs/$lib"
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

# minimal_etc ROOTFS: users and groups nginx and the tests name, files-only name service.
minimal_etc() {
  local rootfs=$1
  mkdir -p "$rootfs"/{etc,tmp,run,var/run,var/log,var/lib,var/lock,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  cat >"$rootfs/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
  cat >"$rootfs/etc/group" <<'G'
root:x:0:
www-data:x:33:
nogroup:x:65534:
nobody:x:65534:
G
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$rootfs/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n' >"$rootfs/etc/hosts"
}

# image_hash NAME FILES...: what the image is built from; any change means a rebuild.
image_hash() {
  local name=$1; shift
  { echo "$name"; cat "$here/build-images.sh" "$here/nginx-conf.sh"; sha256sum "$@"; } |
    sha256sum | cut -c1-16
}

image_current() {
  local image=$1 hash=$2 have
  have=$(docker image inspect -f '{{ index .Config.Labels "org.syschaos.build-hash" }}' \
         "$image" 2>/dev/null) || return 1
  [[ $have == "$hash" && -z ${FORCE:-} ]]
}

import_rootfs() {
  local rootfs=$1 image=$2 hash=$3; shift 3
  local old
  old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || old=""
  tar -C "$rootfs" --numeric-owner -cf - . |
    docker import --change "LABEL org.syschaos.build-hash=$hash" "$@" - "$image" >/dev/null
  # The image it replaces would stay behind untagged: remove it unless a container uses it.
  [[ -n $old ]] && docker image rm "$old" >/dev/null 2>&1 || true
}

build_nginx() {
  local nginx=/usr/sbin/nginx sh=/bin/dash
  [[ -x $nginx ]] || { log "$nginx missing: install nginx-light (scripts/setup.sh)"; return 1; }
  local hash
  hash=$(image_hash nginx "$nginx" "$sh")
  if image_current "$NGINX_IMAGE" "$hash"; then
    log "$NGINX_IMAGE is up to date ($hash)"
    return 0
  fi
  log "building $NGINX_IMAGE ($hash)"
  local rootfs=$workdir/nginx
  minimal_etc "$rootfs"
  add_binary "$rootfs" "$nginx"
  add_binary "$rootfs" "$sh" /bin/sh
  mkdir -p "$rootfs"/var/lib/nginx "$rootfs"/var/log/nginx "$rootfs"/etc/nginx
  nginx_site "$rootfs/usr/share/nginx/html"
  nginx_conf 'include /etc/nginx/listen.conf;' /usr/share/nginx/html /run/nginx.pid \
    /var/lib/nginx www-data >"$rootfs/etc/nginx/nginx.conf"
  printf 'listen 127.0.0.1:%s;\n' "$DEFAULT_PORT" >"$rootfs/etc/nginx/listen.conf"
  # The entrypoint only writes the port and execs nginx, so nginx's master is the container's
  # pid 1 and the only process besides its worker.
  cat >"$rootfs/entrypoint.sh" <<'SH'
#!/bin/sh
printf 'listen 127.0.0.1:%s;\n' "${PORT:-18080}" > /etc/nginx/listen.conf
exec /usr/sbin/nginx -c /etc/nginx/nginx.conf
SH
  chmod 755 "$rootfs/entrypoint.sh"
  import_rootfs "$rootfs" "$NGINX_IMAGE" "$hash" \
    --change "ENV PORT=$DEFAULT_PORT" \
    --change 'CMD ["/bin/sh", "/entrypoint.sh"]'
  smoke_test_nginx
}

# A freshly built image must serve before anyone relies on it.
smoke_test_nginx() {
  local port name i code=000
  port=$(free_port)
  name=syschaos-smoke-$$-$RANDOM
  docker run -d --name "$name" --network host -e PORT="$port" "$NGINX_IMAGE" >/dev/null
  for ((i = 0; i < 50; i++)); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/") || true
    [[ $code == 200 ]] && break
    sleep 0.2
  done
  if [[ $code != 200 ]]; then
    log "smoke test failed: GET / gave $code; container log:"
    docker logs "$name" >&2 || true
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker image rm "$NGINX_IMAGE" >/dev/null 2>&1 || true
    return 1
  fi
  docker rm -f "$name" >/dev/null
  log "$NGINX_IMAGE serves GET / (smoke test on 127.0.0.1:$port)"
}

build_busybox() {
  local -a bins=() t p
  for t in "${BUSYBOX_TOOLS[@]}"; do
    if [[ $t == sh ]]; then p=/bin/dash; else p=$(command -v "$t" 2>/dev/null || true); fi
    # Builtins (echo, true, kill) resolve to a name, not a path: take the coreutils binary.
    [[ $p == /* ]] || p=/bin/$t
    [[ -x $p ]] && bins+=("$p")
  done
  local hash
  hash=$(image_hash busybox "${bins[@]}")
  if image_current "$BUSYBOX_IMAGE" "$hash"; then
    log "$BUSYBOX_IMAGE is up to date ($hash)"
    return 0
  fi
  log "building $BUSYBOX_IMAGE ($hash)"
  local rootfs=$workdir/busybox b
  minimal_etc "$rootfs"
  for b in "${bins[@]}"; do
    if [[ $b == /bin/dash ]]; then add_binary "$rootfs" "$b" /bin/sh
    else add_binary "$rootfs" "$b" "/bin/$(basename "$b")"; fi
  done
  import_rootfs "$rootfs" "$BUSYBOX_IMAGE" "$hash" --change 'CMD ["/bin/sleep", "infinity"]'
  docker run --rm --network none "$BUSYBOX_IMAGE" /bin/sh -c 'cat /etc/hostname >/dev/null; sleep 0' ||
    { log "smoke test of $BUSYBOX_IMAGE failed"; docker image rm "$BUSYBOX_IMAGE" >/dev/null; return 1; }
}

build_nginx
build_busybox
