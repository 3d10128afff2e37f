#!/usr/bin/env bash
# Sweeps for real (docs/sweeps.md), run by `make test`:
#  - local executor: a 2 × 2 tiny sweep (2 at once, 1 thread each); run again, nothing reruns;
#    a corrupt manifest and a foreign run directory are refused (the directory untouched, the
#    other runs completed); a run killed with SIGKILL is reported and resumed by the next run; a
#    sweep stopped with SIGTERM checkpoints its running run, which the next run resumes;
#  - Slurm (a single-node cluster from scripts/slurm-cluster.sh, stopped on exit): the same 2 × 2
#    sweep as a job array, every run equal to the local executor's bit for bit; a task cancelled
#    with scancel mid-run, resubmitted, resumed; a task whose time limit comes during the run,
#    checkpointed and requeued by its own signal handler. Every resumed run must end bit for bit
#    where an uninterrupted run ends (the wall-time fields aside, as in test-builds-agree.sh).
#
#   scripts/test-sweeps.sh BINARY
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/test-sweeps.sh BINARY" >&2; exit 2; }
bin=$(realpath "$1")
[ -x "$bin" ] || { echo "test-sweeps: $1 is not an executable (build it first)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cluster=""
background=()
cleanup() {
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -n "$cluster" ] && bash "$here/slurm-cluster.sh" stop "$cluster"
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
started=$SECONDS
fail() { echo "test-sweeps: FAILED: $*" >&2; exit 1; }
note() { echo "test-sweeps: [$((SECONDS - started)) s] $*"; }

strip_times() { sed -E 's/"(imagesPerSecond|trainSeconds|evaluationSeconds)":[^,}]*,?//g' "$1"; }
# same_run A B: the two run directories hold the same numbers.
same_run() {
  for log in metrics.jsonl epochs.jsonl; do
    diff <(strip_times "$1/$log") <(strip_times "$2/$log") > /dev/null || fail "$2/$log differs from $1/$log"
  done
  for trace in "$1"/traces/*.sytrace; do
    cmp -s "$trace" "$2/traces/$(basename "$trace")" || fail "$2: trace $(basename "$trace") differs from $1's"
  done
}
ids() { sed -E 's/.*"id":"([0-9a-f]+)".*/\1/' "$1/manifest.jsonl"; }
# wait_for SECONDS CONDITION...: polls CONDITION every half second.
wait_for() {
  local limit=$1; shift
  local until=$((SECONDS + limit))
  while ! "$@"; do
    [ $SECONDS -lt $until ] || return 1
    sleep 0.5
  done
}
logged_steps() { [ -f "$1/metrics.jsonl" ] && [ "$(wc -l < "$1/metrics.jsonl")" -ge "$2" ]; }
cluster_older_than() { [ $((SECONDS - cluster_started)) -ge "$1" ]; }
all_done() { "$bin" sweep status "$1" | tail -1 | grep -qE ": ([0-9]+) runs: \1 done$"; }

cat > tiny.yaml <<'EOF'
preset: tiny
set: {epochs: 1, data.trainLimit: 256, data.testLimit: 64, threads: 1}
grid:
  model.router: [switch, expert-choice]
seeds: [0, 1]
EOF
# One run long enough to be stopped in the middle: two epochs of 6,000 Fashion-MNIST images,
# about 12 s of one core.
cat > long.yaml <<'EOF'
preset: fmnist-small
set: {epochs: 2, data.trainLimit: 6000, data.testLimit: 500, logEvery: 1, threads: 1}
grid:
  model.router: [switch]
seeds: [3]
EOF

# The Slurm cluster first, so that the long runs can go to it while the local tests run.
cluster=$work/cluster
exports=$(bash "$here/slurm-cluster.sh" start "$cluster") || fail "the Slurm cluster did not start"
eval "$exports"
cluster_started=$SECONDS
note "single-node Slurm up (SLURM_CONF=$SLURM_CONF)"

# Cancelled mid-run and resubmitted.
"$bin" sweep plan long.yaml --out cancelled > /dev/null
"$bin" sweep run cancelled --executor slurm > submit.out || fail "sbatch (scancel): $(cat submit.out)"
cancel_job=$(sed -nE 's/.*submitted Slurm job ([0-9]+).*/\1/p' submit.out)
long_id=$(ids cancelled)

# Cancel the long task mid-run, then resubmit it.
wait_for 600 logged_steps "cancelled/runs/$long_id" 10 || fail "the task to cancel did not start training: $(cat cancelled/logs/* 2>/dev/null)"
scancel "$cancel_job"
wait_for 60 sh -c "! squeue -h -j $cancel_job | grep -q ." || fail "scancel did not end job $cancel_job"
"$bin" sweep status cancelled | grep -q "interrupted .*checkpoint interrupted.ckpt" || fail "after scancel: $("$bin" sweep status cancelled)"
"$bin" sweep run cancelled --executor slurm > submit.out || fail "resubmission: $(cat submit.out)"
note "long task cancelled mid-run with scancel and resubmitted"

# Time limit: one minute, the warning 50 s before it. slurmctld checks time limits every 30 s from
# its start and sends the warning at the first check that finds fewer than 50 + 30 s left, i.e. at
# the first check after the task starts. Submitted 22 s after slurmctld started, the task is
# training at that check (30 s): it checkpoints and requeues itself, and resumes when Slurm starts
# it again (after CredExpire, 10 s here), perhaps more than once.
wait_for 60 cluster_older_than 22
"$bin" sweep plan long.yaml --out timelimit > /dev/null
"$bin" sweep run timelimit --executor slurm --time 1 --signal-seconds 50 > submit.out || fail "sbatch (time limit): $(cat submit.out)"

# Slurm: the tiny sweep as a job array.
"$bin" sweep plan tiny.yaml --out slurm > /dev/null
"$bin" sweep run slurm --executor slurm --threads-per-job 1 --max-parallel 2 > submit.out || fail "sbatch: $(cat submit.out)"
grep -q "array 0-3%2 (4 runs)" submit.out || fail "submission: $(cat submit.out)"

# Local: the reference runs.
"$bin" sweep plan tiny.yaml --out local > plan.out
grep -q "local/manifest.jsonl: 4 runs" plan.out || fail "sweep plan: $(cat plan.out)"
"$bin" sweep run local --executor local --jobs 2 --threads-per-job 1 > local.out || fail "local sweep: $(cat local.out)"
[ "$(grep -c ': done in ' local.out)" -eq 4 ] || fail "local sweep: expected 4 'done' lines: $(cat local.out)"
"$bin" sweep run local --executor local --jobs 2 > again.out
grep -q "0 completed now, 4 complete before" again.out || fail "a second run reran something: $(cat again.out)"
"$bin" sweep report local --out report --bootstrap 0 --permutations 0 > report.out || fail "sweep report: $(cat report.out)"
grep -q "^## Sweep local: 4 of 4 runs, 2 configurations" report.out || fail "sweep report: $(head -3 report.out)"
grep -q "expert-choice" report/report.md && grep -q "switch" report/report.md || fail "the report does not compare the two routers"
note "local 2 x 2 sweep done; a second run skips all four; sweep report compares the two routers"

# A notebook runs the same sweep (plan, run on this machine, a report on part of it): the same
# runs bit for bit; the Slurm executor is refused before anything runs.
mkdir nb && cp tiny.yaml nb/
cat > nb/sweep.md <<'EOF'
```switchyard
sweep plan tiny.yaml --out runs/tiny
```

```switchyard
sweep run runs/tiny --executor local --jobs 2 --threads-per-job 1
```

```switchyard
sweep report runs/tiny --out reports/switch --only model.router=switch --bootstrap 0 --permutations 0
```
EOF
"$bin" notebook run nb/sweep.md > nb.out 2>&1 || fail "notebook with a sweep: $(tail -5 nb.out)"
[ "$(grep -c ': done in ' nb/sweep.md)" -eq 4 ] || fail "the notebook's sweep: expected 4 'done' lines: $(cat nb/sweep.md)"
grep -q "^## Sweep runs/tiny: 2 of 2 runs selected of 4, 1 configurations" nb/sweep.md && ! grep -B3 "^## Sweep runs/tiny" nb/sweep.md | grep -q '^```text' || fail "notebook sweep report: $(cat nb/sweep.md)"
for id in $(ids local); do same_run "local/runs/$id" "nb/runs/tiny/runs/$id"; done
printf '```switchyard\nsweep run runs/tiny --executor slurm\n```\n' > nb/slurm.md
if "$bin" notebook run nb/slurm.md > nbslurm.out 2>&1; then fail "a notebook submitted a Slurm sweep"; fi
grep -q "line 2: sweep run --executor slurm is not something a notebook may run" nbslurm.out || fail "notebook slurm refusal: $(cat nbslurm.out)"
note "a notebook plans, runs and reports the sweep: its 4 runs equal the local ones bit for bit; --executor slurm refused"

# A corrupt manifest is refused with its line, and nothing runs.
"$bin" sweep plan tiny.yaml --out corrupt > /dev/null
sed -i '2s/"seed":1/"seed":9/' corrupt/manifest.jsonl
if "$bin" sweep run corrupt --executor local > corrupt.out 2>&1; then fail "a corrupt manifest was run"; fi
grep -q "manifest.jsonl: line 2: id .* is not the hash of the line's configuration" corrupt.out || fail "corrupt manifest: $(cat corrupt.out)"
[ ! -d corrupt/runs ] || fail "a corrupt manifest started runs"

# A run directory of another configuration at a run's path: refused, untouched; the rest runs.
"$bin" sweep plan tiny.yaml --out foreign > /dev/null
set -- $(ids foreign)
mkdir -p foreign/runs
cp -r "local/runs/$3" "foreign/runs/$1"
before=$(find "foreign/runs/$1" -type f -exec sha256sum {} + | sort)
if "$bin" sweep run foreign --executor local --jobs 2 --threads-per-job 1 > foreign.out; then fail "a foreign run directory was accepted"; fi
grep -q "FAILED after .*: refused: .*holds a run of a different configuration (model.router is \"expert-choice\" there, \"switch\" in the manifest" foreign.out \
  || fail "foreign run directory: $(cat foreign.out)"
[ "$(find "foreign/runs/$1" -type f -exec sha256sum {} + | sort)" = "$before" ] || fail "the foreign run directory was written to"
"$bin" sweep status foreign | grep -q "^0  $1  failed .*refused" || fail "status does not show the refusal: $("$bin" sweep status foreign)"
for i in 2 3 4; do same_run "local/runs/${!i}" "foreign/runs/${!i}"; done
note "corrupt manifest and foreign run directory refused; the other runs equal the reference"

# A run killed with SIGKILL: reported, then resumed from its last checkpoint by the next sweep run;
# beside it, the same run uninterrupted, the reference of every resumed run.
"$bin" sweep plan long.yaml --out reference > /dev/null
"$bin" sweep run reference --executor local > reference.out 2>&1 &
reference_pid=$!
background+=("$reference_pid")
"$bin" sweep plan long.yaml --out killed > /dev/null
"$bin" sweep run killed --executor local --jobs 1 > killed.out 2>&1 &
sweep_pid=$!
background+=("$sweep_pid")
wait_for 600 test -s "killed/runs/$long_id/epochs.jsonl" || fail "the run to kill did not finish its first epoch"
wait_for 600 logged_steps "killed/runs/$long_id" 52 || fail "the run to kill did not go on into its second epoch"
train_pid=$(pgrep -f "train --config $work/killed/configs/$long_id.json" | head -1)
[ -n "$train_pid" ] || fail "no training process to kill"
kill -9 "$train_pid"
if wait "$sweep_pid"; then fail "a sweep with a killed run exited 0"; fi
grep -q "FAILED after .*train: killed by signal 9 (SIGKILL)" killed.out || fail "SIGKILL not reported: $(cat killed.out)"
"$bin" sweep status killed | grep -q "failed .*killed by signal 9 (SIGKILL); 1 epochs done, checkpoint epoch-1.ckpt" \
  || fail "status after SIGKILL: $("$bin" sweep status killed)"
"$bin" sweep run killed --executor local > resumed.out || fail "resuming the killed run: $(cat resumed.out)"
grep -q "resuming (1 epochs done, checkpoint epoch-1.ckpt)" "killed/logs/$long_id.log" || fail "the killed run did not resume: $(cat "killed/logs/$long_id.log")"
wait "$reference_pid" || fail "the reference run: $(cat reference.out)"
background=()
same_run "reference/runs/$long_id" "killed/runs/$long_id"
note "a run killed with SIGKILL was reported, resumed, and ended bit for bit where the uninterrupted run ends"

# SIGTERM to `sweep run`: the running run writes its checkpoint, the sweep says so and exits 130;
# the next `sweep run` resumes it.
"$bin" sweep plan long.yaml --out stopped > /dev/null
"$bin" sweep run stopped --executor local > stopped.out 2>&1 &
sweep_pid=$!
background+=("$sweep_pid")
wait_for 600 logged_steps "stopped/runs/$long_id" 10 || fail "the run to stop did not start training"
kill -TERM "$sweep_pid"
status=0
wait "$sweep_pid" || status=$?
background=()
[ "$status" -eq 130 ] || fail "sweep run stopped by SIGTERM exited $status: $(cat stopped.out)"
grep -q "interrupted after .*checkpoint kept" stopped.out || fail "SIGTERM: $(cat stopped.out)"
"$bin" sweep run stopped --executor local > resumed.out || fail "resuming the stopped run: $(cat resumed.out)"
grep -q "resuming (0 epochs done, checkpoint interrupted.ckpt)" "stopped/logs/$long_id.log" || fail "the stopped run did not resume: $(cat "stopped/logs/$long_id.log")"
same_run "reference/runs/$long_id" "stopped/runs/$long_id"
note "sweep run stopped by SIGTERM: checkpointed, exit 130, resumed, bit for bit the same"

wait_for 600 all_done slurm || fail "the Slurm sweep did not finish: $("$bin" sweep status slurm)"
for id in $(ids local); do same_run "local/runs/$id" "slurm/runs/$id"; done
note "Slurm job array: 4 runs, each equal to the local executor's bit for bit"

wait_for 600 all_done cancelled || fail "the cancelled run did not finish: $("$bin" sweep status cancelled)"
grep -q "resuming (0 epochs done, checkpoint interrupted.ckpt)" cancelled/logs/slurm-*.out || fail "the cancelled run did not resume from its checkpoint"
same_run "reference/runs/$long_id" "cancelled/runs/$long_id"
note "the cancelled run resumed and ended bit for bit where the uninterrupted run ends"

wait_for 600 all_done timelimit || fail "the time-limited run did not finish: $("$bin" sweep status timelimit; cat timelimit/logs/*)"
grep -q "checkpoint written before the time limit; requeueing" timelimit/logs/slurm-*.out || fail "the time-limited task was not requeued: $(cat timelimit/logs/*)"
grep -q "restart 1" timelimit/logs/slurm-*.out || fail "the requeued task did not start again"
same_run "reference/runs/$long_id" "timelimit/runs/$long_id"
note "the time-limited run was requeued ($(grep -c 'requeueing' timelimit/logs/slurm-*.out) times) and ended bit for bit the same"

echo "test-sweeps: local and Slurm executors agree; corrupt manifest, foreign run directory, SIGKILL, scancel and time limit handled ($((SECONDS - started)) s)"
