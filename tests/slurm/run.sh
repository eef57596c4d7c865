#!/usr/bin/env bash
# End-to-end check of sharded sweeps on a real Slurm: installs Debian's slurm-wlm and
# munge (apt-get, as root), starts munged, slurmctld and slurmd on localhost, runs a
# sweep as a 3-task job array, merges the shards and checks the merged outputs equal a
# local unsharded run byte for byte. Bounded in time; stops what it started and removes
# its files on every exit.
#
#   bash tests/slurm/run.sh            # MEMWALL=path/to/memwall to skip the build
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/memwall-slurm.XXXXXX)
STARTED_PIDS=()
log() { echo "[slurm-test] $*"; }

cleanup() {
  local rc=$?
  set +e
  if command -v scancel >/dev/null && [ -n "${SLURM_CONF:-}" ]; then scancel --quiet -u root 2>/dev/null; fi
  for pf in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munged.pid"; do
    if [ -s "$pf" ]; then
      pid=$(cat "$pf"); kill "$pid" 2>/dev/null
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null
    fi
  done
  if [ $rc -ne 0 ]; then
    for f in slurmctld.log slurmd.log; do
      [ -f "$WORK/$f" ] && { echo "---- $f (tail)"; tail -n 30 "$WORK/$f"; }
    done
    for f in "$WORK"/out/job-*.log; do [ -f "$f" ] && { echo "---- $f"; tail -n 20 "$f"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "run as root (it installs and starts Slurm)"; exit 1; }

# 1. Packages (bounded).
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# 2. memwall.
MEMWALL=${MEMWALL:-}
if [ -z "$MEMWALL" ]; then
  log "building memwall"
  (cd "$ROOT" && timeout 1200 cargo build -q --bin memwall)
  MEMWALL="$ROOT/target/debug/memwall"
fi
MEMWALL=$(readlink -f "$MEMWALL")

# 3. munge: our own key, socket and pid file.
mkdir -p "$WORK/munge" && chmod 700 "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munge/seed"
for _ in $(seq 40); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.25; done
[ -S "$MUNGE_SOCKET" ] || { log "munged did not start"; exit 1; }

# 4. A one-node cluster on localhost.
HOST=$(hostname -s)
CPUS=$(nproc)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/out"
export SLURM_CONF="$WORK/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=memwall
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MaxArraySize=100
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
log "starting slurmctld and slurmd on $HOST ($CPUS CPUs)"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
  [ "$state" = idle ] && break
  [ "${state%\*}" = down ] && scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
  sleep 0.5
done
[ "$state" = idle ] || { log "node not idle (state: '$state')"; exit 1; }

# 5. The sweep: 3 systems x 2 placements x 2 batch sizes = 12 cells, real simulations.
cat > "$WORK/sweep.toml" <<TOML
[sweep]
name = "slurm-check"
runner = "engram-fetch"
economics = "$ROOT/examples/economics/prices.toml"
[base]
system = "hgx-h200"
steps = 4
[base.model]
layers = 4
compute_per_layer = "40 us"
[base.batch]
tokens = 16
[base.engram]
placement = "host-dram"
rows_per_token = 8
prefetch_layers = 1
[[axis]]
key = "system"
values = ["hgx-h200", "hgx-b200", "gb300-nvl72"]
[[axis]]
key = "engram.placement"
values = ["host-dram", "nvme"]
[[axis]]
key = "batch.tokens"
values = [16, 64]
[report]
exposed_limit = "100 us"
TOML

cat > "$WORK/job.sh" <<JOB
#!/bin/bash
set -euo pipefail
exec "$MEMWALL" sweep "$WORK/sweep.toml" --out "$WORK/out/slurm" --threads 1 --quiet
JOB
chmod +x "$WORK/job.sh"

log "submitting a 3-task job array"
jobid=$(sbatch --parsable --array=0-2 --cpus-per-task=1 --output="$WORK/out/job-%A_%a.log" "$WORK/job.sh")
log "job $jobid submitted"
for _ in $(seq 600); do
  left=$(squeue -h -j "$jobid" 2>/dev/null | wc -l)
  [ "$left" = 0 ] && break
  sleep 0.5
done
[ "$left" = 0 ] || { log "job array did not finish in 300 s"; squeue; exit 1; }
for i in 0 1 2; do
  [ -f "$WORK/out/slurm/shards/shard-$i-of-3.json" ] || { log "shard $i did not finish"; exit 1; }
done
[ ! -f "$WORK/out/slurm/sweep.csv" ] || { log "a shard wrote final outputs"; exit 1; }

log "merging and comparing with a local run"
"$MEMWALL" merge "$WORK/out/slurm" --out "$WORK/out/merged" >/dev/null
env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT \
  "$MEMWALL" sweep "$WORK/sweep.toml" --out "$WORK/out/local" --no-shard-env --quiet >/dev/null
fail=0
for f in sweep.csv cells.csv summary.json summary.md plan.json; do
  if cmp -s "$WORK/out/merged/$f" "$WORK/out/local/$f"; then log "  $f identical"; else log "  $f DIFFERS"; fail=1; fi
done
for p in "$WORK"/out/local/plots/*; do
  cmp -s "$p" "$WORK/out/merged/plots/$(basename "$p")" || { log "  plot $(basename "$p") DIFFERS"; fail=1; }
done
rows=$(($(wc -l < "$WORK/out/local/sweep.csv") - 1))
if [ $fail = 0 ]; then
  echo "slurm check ok: $rows CSV rows from 12 cells over a 3-task job array equal the local run"
else
  echo "slurm: 0 passed, 1 failed"
  exit 1
fi
