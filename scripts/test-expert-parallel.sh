#!/usr/bin/env bash
# Expert parallelism over Open MPI (docs/expert-parallel.md, "Building and running with Open MPI"):
#  - installs Open MPI when missing (scripts/install-mpi.sh) and builds (SWITCHYARD_MPI=1)
#    switchyard-mpi-check;
#  - the transport: switchyard-mpi-check checks every collective against exact values as a
#    singleton (no mpirun: one process), on 2 ranks, on 4 ranks (oversubscribed on 2 cores),
#    over TCP (what ranks on different nodes use) and with shared memory copying through a
#    buffer (the setting for containers that forbid cross-process reads, below);
#  - misuse: a count beyond MPI's int and a collective from a compute thread stop the process
#    with a message naming the call;
#  - faults: a rank killed with SIGKILL in the middle of a loop of exchanges, and a rank that
#    exits with an error there: the job must end by itself, non-zero, with a message naming the
#    rank, and leave no rank behind;
#  - Slurm: the checks and the SIGKILL fault with ranks started by `srun --mpi=pmix` on a
#    single-node cluster (scripts/slurm-cluster.sh; installs slurm-wlm and munge when missing).
#
#   scripts/test-expert-parallel.sh SWIFT_BUILD_FLAGS...      (make test-mpi)
#
# SWIFT_BUILD_FLAGS are `swift build`'s: `make test` passes $(TEST_FLAGS) (.build-test, where
# the tests then find switchyard-mpi), `make test-mpi` $(RELEASE_FLAGS) (.build, as `make mpi`).
# The MPI targets exist only with SWITCHYARD_MPI=1 (Package.swift); with the same flags the
# build reuses every Switchyard module already compiled there.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/test-expert-parallel.sh SWIFT_BUILD_FLAGS... (make test-mpi passes the Makefile's)" >&2; exit 2; }
cd "$(dirname "$0")/.."
flags=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS
fail() { echo "test-expert-parallel: FAILED: $*" >&2; exit 1; }
note() { echo "test-expert-parallel: [$((SECONDS - started)) s] $*"; }

bash scripts/install-mpi.sh
# switchyard-mpi-check for the transport's checks; switchyard-mpi for the training tests that
# the XCTest suite runs under mpirun (Tests/SwitchyardCLITests/ExpertParallelMPITests.swift).
build=(env SWITCHYARD_MPI=1 swift build "${flags[@]}")
for product in switchyard-mpi-check switchyard-mpi; do
  note "building $product (${build[*]} --product $product)"
  set +e
  "${build[@]}" --product "$product" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]'
  built=${PIPESTATUS[0]}
  set -e
  [ "$built" -eq 0 ] || fail "$product did not build"
done
bin=$("${build[@]}" --show-bin-path)
check=$bin/switchyard-mpi-check
[ -x "$check" ] && [ -x "$bin/switchyard-mpi" ] || fail "switchyard-mpi or switchyard-mpi-check missing in $bin"
note "built"

# mpirun refuses to run as root unless told (CI containers run as root); more ranks than cores
# need --oversubscribe. Shared memory between the ranks of a node is Open MPI's vader BTL, whose
# large messages are read straight from the sender with process_vm_readv (CMA): that works here
# (Debian 12, Open MPI 4.1.4, root with CAP_SYS_PTRACE) with no setting. A container whose
# seccomp profile forbids process_vm_readv needs OMPI_MCA_btl_vader_single_copy_mechanism=none
# (copies through the shared buffer instead), checked below so that the documented fallback
# works. Every mpirun is bounded by `timeout`: a hung job fails the test instead of blocking it.
mpirun=(timeout -k 10 120 mpirun --allow-run-as-root)

# run NAME COMMAND...: the checks must all pass (exit 0, the closing line).
run() {
  local name=$1; shift
  local t0=$SECONDS status=0
  "$@" > "$work/out" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || ! grep -q "^switchyard-mpi-check: all collectives correct" "$work/out"; then
    cat "$work/out" >&2
    [ "$status" -eq 124 ] && fail "$name: still running after 120 s"
    fail "$name: exit status $status"
  fi
  note "$name: $(grep -c '^ok ' "$work/out") checks ok ($((SECONDS - t0)) s)"
}
run "singleton (no mpirun: a job of one process)" timeout -k 10 120 "$check"
run "2 ranks" "${mpirun[@]}" -np 2 "$check"
run "4 ranks on $(nproc) cores" "${mpirun[@]}" --oversubscribe -np 4 "$check"
sed 's/^/    /' "$work/out"
run "2 ranks over TCP" "${mpirun[@]}" -np 2 --mca btl self,tcp "$check"
run "2 ranks, shared memory without CMA" env OMPI_MCA_btl_vader_single_copy_mechanism=none "${mpirun[@]}" -np 2 "$check"

# misuse KIND MESSAGE: a collective called wrongly stops the process with MESSAGE (printed in
# the optimised build too).
misuse() {
  local status=0
  # (in a subshell whose stderr is dropped: bash's own "Illegal instruction" report)
  ( timeout -k 5 60 "$check" --misuse "$1" > "$work/misuse" 2>&1; exit $? ) 2> /dev/null || status=$?
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -qF -- "$2" "$work/misuse" \
    || { cat "$work/misuse" >&2; fail "--misuse $1: expected a stop with '$2', got status $status"; }
  note "--misuse $1: stopped (status $status): $(grep -m1 -F -- "$2" "$work/misuse")"
}
misuse count "MPI_Alltoallv: sendCounts value 2147483648 is outside MPI's count range"
misuse thread "MPI_Barrier: called from a thread other than the one that initialised MPI"

# fault NAME MESSAGE COMMAND...: COMMAND starts a job in which rank 1 leaves at exchange 50 of a
# loop of exchanges; the job must end non-zero within 30 s with MESSAGE, and every rank's process
# be gone.
fault() {
  local name=$1 message=$2 status=0 t0=$SECONDS ended; shift 2
  timeout -k 5 30 "$@" > "$work/fault" 2>&1 || status=$?
  ended=$(date +%s.%N)
  local ranks pid
  ranks=$(sed -nE 's/^switchyard-mpi-check: rank [0-9]+ pid ([0-9]+)$/\1/p' "$work/fault")
  if [ $((SECONDS - t0)) -ge 30 ]; then
    for pid in $ranks; do kill -9 "$pid" 2>/dev/null || true; done
    cat "$work/fault" >&2
    fail "$name: the job did not end by itself within 30 s"
  fi
  [ "$status" -ne 0 ] || { cat "$work/fault" >&2; fail "$name: the job exited 0"; }
  grep -qF -- "$message" "$work/fault" || { cat "$work/fault" >&2; fail "$name: no '$message' in the job's output"; }
  local left
  left=$(sed -nE 's/.*time ([0-9.]+)$/\1/p' "$work/fault")
  [ -n "$left" ] || { cat "$work/fault" >&2; fail "$name: rank 1 did not reach the fault"; }
  for pid in $ranks; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    ! kill -0 "$pid" 2>/dev/null || { kill -9 "$pid" 2>/dev/null; fail "$name: rank process $pid still ran after the job ended (killed now)"; }
  done
  note "$name: the job ended $(awk -v a="$left" -v b="$ended" 'BEGIN { printf "%.2f", b - a }') s after rank 1 left, exit status $status, every rank gone"
  grep -vE '^switchyard-mpi-check: rank [0-9]+ pid' "$work/fault" | sed 's/^/    /'
}
fault "4 ranks, rank 1 killed (SIGKILL) mid-exchange" "exited on signal 9 (Killed)" \
  mpirun --allow-run-as-root --oversubscribe -np 4 "$check" --die-at 50
fault "2 ranks, rank 1 exits with an error mid-exchange" "rank 1 of 2 exits before the end of the job" \
  mpirun --allow-run-as-root -np 2 "$check" --exit-at 50

# Slurm: ranks started by srun itself, through Slurm's PMIx plugin (Debian's Open MPI 4.1 has
# PMIx but no PMI-2: --mpi=pmi2 and --mpi=none fail in MPI_Init). A single-node cluster of
# scripts/slurm-cluster.sh, stopped on exit.
cluster=$work/slurm
trap 'bash scripts/slurm-cluster.sh stop "$cluster" > /dev/null; rm -rf "$work"' EXIT
bash scripts/slurm-cluster.sh start "$cluster" > /dev/null
export SLURM_CONF=$cluster/slurm.conf
run "srun --mpi=pmix, 2 ranks" timeout -k 10 120 srun --mpi=pmix -n 2 "$check"
run "srun --mpi=pmix, 4 ranks on $(nproc) cores" timeout -k 10 120 srun --mpi=pmix -n 4 --overcommit "$check"
# Expert-parallel training with ranks started by srun: two processes, a few steps of tiny.
t0=$SECONDS
timeout -k 10 120 srun --mpi=pmix -n 2 "$bin/switchyard-mpi" train --preset tiny --set data.trainLimit=256 \
    --set data.testLimit=64 --epochs 1 --threads 1 --parallel expert --out "$work/srun-run" --quiet > "$work/out" 2>&1 \
  || { cat "$work/out" >&2; fail "srun --mpi=pmix -n 2 switchyard-mpi train --parallel expert"; }
grep -q '"phase":"evaluation"' "$work/srun-run/expert-parallel.jsonl" \
  || { cat "$work/out" >&2; fail "srun training wrote no expert-parallel record"; }
[ "$(wc -l < "$work/out")" -eq 1 ] || { cat "$work/out" >&2; fail "srun training: expected rank 0's one summary line"; }
note "srun --mpi=pmix, 2 ranks: switchyard-mpi train --parallel expert ran 4 steps of tiny ($((SECONDS - t0)) s): $(cat "$work/out")"
fault "srun, 2 ranks, rank 1 killed (SIGKILL) mid-exchange" "task 1: Killed" \
  srun --mpi=pmix -n 2 "$check" --die-at 50

# The training checks (switchyard-mpi train --parallel expert against one process, the
# simulator against measurement, resuming on another process count, faults) are XCTests:
# ExpertParallelMPITests, run by `make test` after this script.

note "passed"
