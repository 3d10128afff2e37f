#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the sweep tests (docs/sweeps.md):
#
#   scripts/slurm-cluster.sh start DIR   install slurm-wlm and munge if missing, write DIR/slurm.conf
#                                        for this host (from `slurmd -C`), start munged, slurmctld
#                                        and slurmd on loopback; prints `export SLURM_CONF=...`
#   scripts/slurm-cluster.sh stop DIR    stop exactly the daemons `start` started (their pids are
#                                        in DIR/pids), then remove DIR
#
# Everything lives in DIR (configuration, munge key and socket, state, spool, logs); nothing is
# written to /etc. In a container: ProctrackType=proctrack/linuxproc and TaskPlugin=task/none
# (the cgroup plugins need a cgroup hierarchy the container does not delegate). Needs root (it
# installs packages and runs the daemons as root).
set -euo pipefail
usage() { echo "usage: scripts/slurm-cluster.sh start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1 dir=$2

# The job step daemons (slurmstepd) this cluster's slurmd started: those with a file of DIR open.
cluster_stepds() {
  local p
  for p in $(pgrep -f '^slurmstepd' || true); do
    ls -l "/proc/$p/fd" 2>/dev/null | grep -qF -- "$1/" && echo "$p"
  done
  return 0
}

stop_cluster() {
  local d=$1
  [ -f "$d/pids" ] || return 0
  # Jobs first: cancel them and let their step daemons end while slurmd and slurmctld still run
  # (killed before, a slurmstepd would wait for them forever).
  if [ -f "$d/slurm.conf" ]; then
    local jobs
    jobs=$(SLURM_CONF=$d/slurm.conf squeue -h -o %A 2>/dev/null || true)
    [ -n "$jobs" ] && SLURM_CONF=$d/slurm.conf scancel --full $jobs 2>/dev/null || true
    for _ in $(seq 60); do
      [ -z "$(SLURM_CONF=$d/slurm.conf squeue -h -o %A 2>/dev/null || true)" ] && [ -z "$(cluster_stepds "$d")" ] && break
      sleep 0.5
    done
  fi
  # Then the daemons, in reverse order: slurmd, slurmctld, munged.
  local pids
  pids="$(tac "$d/pids") $(cluster_stepds "$d")"
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$d/pids"
}

case "$action" in
stop)
  stop_cluster "$dir"
  rm -rf "$dir"
  exit 0
  ;;
start) ;;
*) usage ;;
esac

if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  echo "slurm-cluster: installing slurm-wlm and munge" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurm-wlm munge > /dev/null
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# A failure from here on stops whatever was started.
trap 'stop_cluster "$dir"' ERR
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
: > "$dir/pids"

# munged with a key of its own and its own socket.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$dir/munge"
chmod 400 "$dir/munge/munge.key"
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" \
  > /dev/null 2>&1 &
echo $! >> "$dir/pids"
for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$dir/munge/munge.socket" ] || { echo "slurm-cluster: munged did not start; see $dir/log/munged.log" >&2; false; }

host=$(hostname -s)
node=$(slurmd -C | head -1)
# Ports of their own, so that another Slurm on the machine does not clash.
base=$((20000 + RANDOM % 20000))
cat > "$dir/slurm.conf" <<EOF
ClusterName=switchyard-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
# cred_expire: how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=300
SchedulerParameters=sched_interval=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf
slurmctld -D -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 &
echo $! >> "$dir/pids"
slurmd -D -f "$SLURM_CONF" > "$dir/log/slurmd.out" 2>&1 &
echo $! >> "$dir/pids"

# Ready when the node is idle.
for _ in $(seq 150); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
if [ "$state" != idle ]; then
  echo "slurm-cluster: the node did not become idle (state '${state:-none}'); logs in $dir/log" >&2
  tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  false
fi
trap - ERR
echo "export SLURM_CONF=$SLURM_CONF"
