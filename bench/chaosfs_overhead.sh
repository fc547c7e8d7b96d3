#!/usr/bin/env bash
# What ChaosFS costs with no faults, against the same directory used natively and through
# bindfs (another pass-through FUSE file system), measured with fio in one run:
#   seq-read    1 MiB sequential reads of a 1 GiB file, page caches dropped before each
#               measurement ("cold"), and again right after the file was read once by
#               the same route ("warm": natively, through ChaosFS, through bindfs; fio's
#               --invalidate=0). A FUSE file system has its own page cache on top of the
#               backing file's; ChaosFS keeps it across opens while no rule cares about the
#               file (docs/CHAOSFS.md), bindfs drops it at each open.
#   seq-write   1 MiB sequential writes of 1 GiB, fsync at the end
#   rand-read   4 KiB random reads (psync, 1 job, file read once by the same route first,
#               --invalidate=0)
#   rand-write  4 KiB random writes (psync, 1 job)
#   create / stat / unlink   fio's filecreate, filestat and filedelete engines on NFILES
#               small files (metadata operations per second)
# ChaosFS runs twice side by side: as it serves files by default, and with --passthrough (kernel
# FUSE passthrough for files no rule touches, docs/CHAOSFS.md), whose files then never reach
# ChaosFS for reads and writes.
# Then the latency test from the Chaos Mesh slides: 50% of reads delayed 10 ms, 4 KiB random
# reads by 8 jobs: the measured mean latency, which is ~5 ms when a delayed request does not
# hold a FUSE worker thread.
# Markdown on stdout and in bench/results/chaosfs_overhead.md.
#
#   bash bench/chaosfs_overhead.sh [path/to/syschaos]
#   RUNTIME=6 REPEAT=3 SIZE=1g NFILES=3000 WORKDIR=/var/tmp/chaosfs-bench   (defaults)
#   TESTS="create stat unlink"   a subset (the table then shows only those)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
SYSCHAOS=${1:-${SYSCHAOS:-$build_dir/syschaos}}
RUNTIME=${RUNTIME:-6}
REPEAT=${REPEAT:-3}
SIZE=${SIZE:-1g}
NFILES=${NFILES:-3000}
WORKDIR=${WORKDIR:-/var/tmp/chaosfs-bench}
RESULTS=${RESULTS:-$here/results/chaosfs_overhead.md}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (FUSE mounts, drop_caches)"
for t in fio bindfs python3 fusermount3; do command -v $t >/dev/null || die "missing $t"; done
[[ -x $SYSCHAOS ]] || die "no syschaos binary at $SYSCHAOS"

data=$WORKDIR/data
mnt_chaos=$WORKDIR/chaosfs
mnt_pt=$WORKDIR/chaosfs-passthrough
mnt_bind=$WORKDIR/bindfs
chaos_pid=
pt_pid=
cleanup() {
  [[ -n $chaos_pid ]] && kill -TERM "$chaos_pid" 2>/dev/null && wait "$chaos_pid" 2>/dev/null || true
  [[ -n $pt_pid ]] && kill -TERM "$pt_pid" 2>/dev/null && wait "$pt_pid" 2>/dev/null || true
  mountpoint -q "$mnt_bind" && fusermount3 -u "$mnt_bind" || true
  mountpoint -q "$mnt_chaos" && umount -l "$mnt_chaos" || true
  mountpoint -q "$mnt_pt" && umount -l "$mnt_pt" || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$WORKDIR"
mkdir -p "$data" "$mnt_chaos" "$mnt_pt" "$mnt_bind"

mount_chaos() {  # [faults file]
  local extra=()
  [[ -n ${1:-} ]] && extra=(--faults "$1")
  "$SYSCHAOS" fs mount --backing "$data" --mountpoint "$mnt_chaos" --control "$WORKDIR/ctl.sock" \
    "${extra[@]}" 2>"$WORKDIR/chaosfs.log" &
  chaos_pid=$!
  for _ in $(seq 100); do mountpoint -q "$mnt_chaos" && return 0; sleep 0.1; done
  die "ChaosFS did not mount: $(cat "$WORKDIR/chaosfs.log")"
}
umount_chaos() { kill -TERM "$chaos_pid"; wait "$chaos_pid" || true; chaos_pid=; }
mount_passthrough() {
  "$SYSCHAOS" fs mount --backing "$data" --mountpoint "$mnt_pt" --passthrough 2>"$WORKDIR/chaosfs-pt.log" &
  pt_pid=$!
  for _ in $(seq 100); do mountpoint -q "$mnt_pt" && return 0; sleep 0.1; done
  die "ChaosFS --passthrough did not mount: $(cat "$WORKDIR/chaosfs-pt.log")"
}

# fio in JSON; prints one number: MiB/s (bw) or IOPS, of reads or writes.
fio_value() {  # what(bw|iops) dir(read|write) fio-args...
  local what=$1 rw=$2; shift 2
  fio --output-format=json "$@" 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0][sys.argv[2]]
print("%.1f" % (j["bw"] / 1024) if sys.argv[1] == "bw" else "%.0f" % j["iops"])' "$what" "$rw"
}

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# The files every configuration uses, made once natively.
log "laying out $SIZE test files"
fio --name=layout --filename="$data/seq.dat" --size="$SIZE" --rw=write --bs=1m --ioengine=psync \
  --end_fsync=1 >/dev/null
fio --name=layout --filename="$data/rand.dat" --size=256m --rw=write --bs=1m --ioengine=psync \
  --end_fsync=1 >/dev/null

# One measurement of one test on one directory; prints the number.
measure() {  # test dir
  local t=$1 d=$2
  case $t in
    seqread_cold)
      drop_caches
      fio_value bw read --name=sr --filename="$d/seq.dat" --size="$SIZE" --rw=read --bs=1m --ioengine=psync ;;
    seqread_warm)
      cat "$d/seq.dat" >/dev/null
      fio_value bw read --name=sr --filename="$d/seq.dat" --size="$SIZE" --rw=read --bs=1m --ioengine=psync \
        --invalidate=0 ;;
    seqwrite)
      fio_value bw write --name=sw --filename="$d/seqw.dat" --size="$SIZE" --rw=write --bs=1m \
        --ioengine=psync --end_fsync=1
      rm -f "$data/seqw.dat" ;;
    randread)
      cat "$d/rand.dat" >/dev/null
      fio_value iops read --name=rr --filename="$d/rand.dat" --size=256m --rw=randread --bs=4k \
        --ioengine=psync --time_based --runtime="$RUNTIME" --invalidate=0 ;;
    randwrite)
      fio_value iops write --name=rw --filename="$d/rand.dat" --size=256m --rw=randwrite --bs=4k \
        --ioengine=psync --time_based --runtime="$RUNTIME" ;;
    create|stat|unlink)
      local engine=filecreate
      if [[ $t == stat ]]; then engine=filestat; fi
      if [[ $t == unlink ]]; then engine=filedelete; fi
      local meta=(--name=md --create_on_open=1 --directory="$d/meta" --nrfiles="$NFILES" --filesize=4k
                  --openfiles=1)
      rm -rf "$data/meta"
      mkdir -p "$data/meta"
      # stat and unlink need the files: made first (natively, not timed), caches dropped so
      # every configuration starts from the same state.
      if [[ $t != create ]]; then
        fio --ioengine=filecreate "${meta[@]/$d/$data}" >/dev/null
        drop_caches
      fi
      fio_value iops read --ioengine=$engine "${meta[@]}"
      # Removed through the configuration that used them: files deleted behind a FUSE file
      # system's back stay referenced (ChaosFS: an O_PATH fd per inode the kernel remembers)
      # until the kernel forgets them, and ext4 without orphan_file then slows down on its
      # orphan list, which measured the previous round's leftovers instead of this round.
      rm -rf "$d/meta" ;;
  esac
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Both FUSE file systems are mounted over the same data directory for the whole run; each
# test runs REPEAT rounds, the three configurations back to back in a rotating order, so
# the machine's drift (other work on a shared VM) hits them alike. The median is reported.
mount_chaos
mount_passthrough
bindfs "$data" "$mnt_bind"
declare -A dirs=([native]=$data [chaosfs]=$mnt_chaos [passthrough]=$mnt_pt [bindfs]=$mnt_bind)
configs=(native chaosfs passthrough bindfs)
# TESTS="create unlink" runs only those (more rounds for the noisy metadata tests).
read -r -a tests <<<"${TESTS:-seqread_cold seqread_warm seqwrite randread randwrite create stat unlink}"
declare -A R ALL
for t in "${tests[@]}"; do
  for round in $(seq "$REPEAT"); do
    for k in 0 1 2 3; do
      c=${configs[$(( (k + round) % 4 ))]}
      v=$(measure "$t" "${dirs[$c]}")
      log "$t round $round $c: $v"
      ALL[$c,$t]="${ALL[$c,$t]:-} $v"
    done
  done
  for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    R[$c,$t]=$(median ${ALL[$c,$t]})
  done
done
fusermount3 -u "$mnt_bind"
umount_chaos
kill -TERM "$pt_pid"; wait "$pt_pid" || true; pt_pid=
grep -q 'offers no FUSE passthrough\|passthrough refused' "$WORKDIR/chaosfs-pt.log" &&
  log "note: $(grep -m1 passthrough "$WORKDIR/chaosfs-pt.log")"

# 50% of reads delayed 10 ms.
cat > "$WORKDIR/half-delay.yaml" <<'EOF'
faults:
  - methods: [read]
    percent: 50
    latency: 10ms
EOF
mount_chaos "$WORKDIR/half-delay.yaml"
log "chaosfs: 50% of reads delayed 10 ms"
delay_json=$(fio --output-format=json --name=half --filename="$mnt_chaos/rand.dat" --size=256m \
  --rw=randread --bs=4k --ioengine=psync --numjobs=8 --group_reporting --time_based \
  --runtime="$RUNTIME" --direct=1)
umount_chaos
read -r delay_mean delay_p50 delay_p99 delay_iops < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])["jobs"][0]["read"]
c = r["clat_ns"]
p = c["percentile"]
print("%.2f %.2f %.2f %.0f" % (c["mean"] / 1e6, p["50.000000"] / 1e6, p["99.000000"] / 1e6, r["iops"]))' "$delay_json")
delayed=$(grep -o 'delayed [0-9]*' "$WORKDIR/chaosfs.log" | head -1 | awk '{print $2}')
matched=$(grep -o 'matched [0-9]*' "$WORKDIR/chaosfs.log" | head -1 | awk '{print $2}')

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
{
  echo "# ChaosFS overhead (no faults)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, backing $(df -T "$data" | awk 'NR==2{print $2}'),"
  echo "fio $(fio --version), bindfs $(bindfs --version 2>&1 | head -1 | awk '{print $2}') (defaults),"
  echo "median of $REPEAT interleaved rounds per test (all rounds: see the log lines on stderr)."
  echo
  echo "ChaosFS: files served by ChaosFS (the default); ChaosFS-pt: \`--passthrough\` (no rules, so"
  echo "every file in kernel passthrough)."
  echo
  echo "| test | unit | native | ChaosFS | ChaosFS-pt | bindfs | ChaosFS/native | ChaosFS/bindfs | ChaosFS-pt/native | ChaosFS-pt/bindfs |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in seqread_cold:MiB/s seqread_warm:MiB/s seqwrite:MiB/s randread:IOPS randwrite:IOPS \
           create:files/s stat:files/s unlink:files/s; do
    k=${t%%:*} u=${t#*:}
    [[ -n ${R[native,$k]:-} ]] || continue  # not in TESTS
    echo "| $k | $u | ${R[native,$k]} | ${R[chaosfs,$k]} | ${R[passthrough,$k]} | ${R[bindfs,$k]} |" \
         "$(ratio "${R[chaosfs,$k]}" "${R[native,$k]}") | $(ratio "${R[chaosfs,$k]}" "${R[bindfs,$k]}") |" \
         "$(ratio "${R[passthrough,$k]}" "${R[native,$k]}") | $(ratio "${R[passthrough,$k]}" "${R[bindfs,$k]}") |"
  done
  echo
  echo "All rounds (native / ChaosFS / ChaosFS-pt / bindfs):"
  echo
  for t in "${tests[@]}"; do
    echo "- $t:${ALL[native,$t]} /${ALL[chaosfs,$t]} /${ALL[passthrough,$t]} /${ALL[bindfs,$t]}"
  done
  echo
  echo "## 50% of reads delayed 10 ms"
  echo
  echo "4 KiB O_DIRECT random reads, 8 jobs, ${RUNTIME}s, rule \`methods: [read], percent: 50, latency: 10ms\`:"
  echo "mean completion latency **${delay_mean} ms** (median ${delay_p50} ms, p99 ${delay_p99} ms), ${delay_iops} IOPS;"
  echo "the rule matched ${matched:-?} reads and delayed ${delayed:-?}."
} | tee "$RESULTS"
