#!/usr/bin/env bash
# Checks that two builds of Switchyard compute the same numbers bit for bit: `make test` runs it
# on its own optimised build (the Makefile's CPU_FLAGS: 16-lane element-wise kernels on an
# AVX-512 CPU, -target-cpu haswell on an AVX2 one) and on Examples/CustomRouter's debug build,
# which compiles Switchyard as a package that depends on it would (no -target-cpu, 8 lanes).
# Both train the tiny preset on the same data with the same seed and threads, for each router
# below; every logged number (timings aside) and the routing trace of the test set (the
# trained model's decisions and probabilities, token by token) must be identical.
#
#   scripts/test-builds-agree.sh BINARY_A BINARY_B
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/test-builds-agree.sh BINARY_A BINARY_B" >&2; exit 2; }
a=$1 b=$2
for bin in "$a" "$b"; do
  [ -x "$bin" ] || { echo "test-builds-agree: $bin is not an executable (build it first)" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Wall times differ from run to run; everything else in the logs must not.
strip_times() { sed -E 's/"(imagesPerSecond|trainSeconds|evaluationSeconds)":[^,}]*,?//g' "$1"; }
for router in switch expert-choice top-2 dense; do
  for side in a b; do
    bin=$a; [ "$side" = b ] && bin=$b
    "$bin" train --preset tiny --router "$router" --seed 3 --epochs 1 --threads 2 \
      --set data.trainLimit=256 --set data.testLimit=64 --quiet --out "$out/$side-$router" > /dev/null
  done
  for log in metrics.jsonl epochs.jsonl; do
    if ! diff <(strip_times "$out/a-$router/$log") <(strip_times "$out/b-$router/$log") > "$out/diff"; then
      echo "test-builds-agree: $router: $log differs between $a and $b:" >&2
      head -5 "$out/diff" >&2
      exit 1
    fi
  done
  if ! cmp -s "$out/a-$router/traces/epoch-1.sytrace" "$out/b-$router/traces/epoch-1.sytrace"; then
    echo "test-builds-agree: $router: the test-set routing traces differ between $a and $b" >&2
    exit 1
  fi
done
echo "test-builds-agree: $a and $b give the same numbers (switch, expert-choice, top-2, dense)"
