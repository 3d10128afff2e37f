#!/usr/bin/env bash
# Expert-parallel scaling on this machine, in one invocation (docs/performance.md, "Expert
# parallelism"): the single-process reference (`switchyard bench train`, 1 and 2 threads) and
# `switchyard-mpi bench train --parallel expert` on P = 1, 2 and 4 processes of 1 thread each
# (4 oversubscribes a 2-core machine), the same preset, router, steps and synthetic batch.
#
#   bench/expert-parallel.sh [--preset fmnist-small] [--router switch] [--steps 30] [--warmup 5]
#                            [--ranks "1 2 4"] [--repetitions 3] [--no-build] [--out DIR]
#
# Builds the release binaries first (make release mpi) unless --no-build. Prints each run's
# markdown (rank rows: step parts, expert compute, all-to-all, waiting, rows and bytes), then a
# summary table of images/s: each configuration runs --repetitions times, the configurations
# taking turns, and the table gives every repetition and their median. OpenBLAS's kernels are whatever the environment selects (printed).
# JSON of every run stays in --out (default: a new temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=fmnist-small router=switch steps=30 warmup=5 ranks="1 2 4" repetitions=3 build=1 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --preset) preset=$2; shift 2 ;;
    --router) router=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --repetitions) repetitions=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "bench/expert-parallel.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$build" = 1 ] && make -s release mpi
out=${out:-$(mktemp -d)}
mkdir -p "$out"
common=(--preset "$preset" --router "$router" --steps "$steps" --warmup "$warmup" --quiet)
declare -A rates
names=()
for rep in $(seq "$repetitions"); do
  for t in 1 2; do
    name="one process, $t thread$([ "$t" = 1 ] || echo s)"
    [ "$rep" = 1 ] && names+=("$name")
    .build/release/switchyard bench train "${common[@]}" --threads "$t" --peak-size 0 --no-gemm-replay \
        --json "$out/single-t$t-$rep.json" | tee "$out/single-t$t-$rep.md"
    echo
    rates[$name]+=" $(sed -nE 's/^\| images\/s, median of steps \| ([0-9.]+) \|$/\1/p' "$out/single-t$t-$rep.md")"
  done
  for p in $ranks; do
    extra=() note=""
    if [ "$p" -gt "$(nproc)" ]; then extra=(--oversubscribe) note=" (oversubscribed)"; fi
    name="expert parallel, P = $p × 1 thread$note"
    [ "$rep" = 1 ] && names+=("$name")
    mpirun --allow-run-as-root "${extra[@]}" -np "$p" .build/release/switchyard-mpi bench train "${common[@]}" \
        --threads 1 --parallel expert --json "$out/ep-p$p-$rep.json" | tee "$out/ep-p$p-$rep.md"
    echo
    rates[$name]+=" $(sed -nE 's/^images\/s \(batch \/ median step of the slowest rank\): ([0-9.]+);.*/\1/p' "$out/ep-p$p-$rep.md")"
  done
done
echo "| $preset, $router, $(nproc) cores, kernels: $(sed -nE 's/^OpenBLAS kernels: (.*)$/\1/p' "$out/single-t1-1.md") | images/s, each repetition | median |"
echo "|---|---|---|"
for name in "${names[@]}"; do
  values=${rates[$name]}
  median=$(printf '%s\n' $values | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "| $name |$(printf ' %s' $values) | $median |"
done
echo
echo "raw results: $out"
