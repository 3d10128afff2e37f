#!/usr/bin/env bash
# Checks that the built-in routers compute the same numbers as the reference commit, bit for bit:
# each router trains the tiny preset (1 epoch) and a short fmnist-small run (2,048 training and
# 1,000 test images, 1 epoch) with seed 0 and 2 threads; the digest of every logged number (wall
# times aside), of the weights, optimiser moments and random-stream state in the checkpoint, and
# of the arrays of the test-set routing trace must equal Tests/Fixtures/router-digests.txt.
# The metadata blocks of checkpoints and traces are left out on purpose (they may gain fields),
# so a digest covers numbers only.
#
# GEMM results differ in their last bits between OpenBLAS kernel sets, so the reference holds one
# section per kernel set (summary.json's blasKernels). A kernel set with no section is reported
# and skipped; record it with --record on the reference commit (the file says which).
#
#   scripts/test-routers-unchanged.sh BINARY            compare with the reference
#   scripts/test-routers-unchanged.sh BINARY --record   print this kernel set's section
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/test-routers-unchanged.sh BINARY [--record]" >&2; exit 2; }
bin=$1 record=${2:-}
[ -x "$bin" ] || { echo "test-routers-unchanged: $bin is not an executable (build it first)" >&2; exit 2; }
reference=Tests/Fixtures/router-digests.txt
routers="dense random-token random-batch noisy-top-k switch expert-choice top-2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Wall times differ from run to run; fields added after the reference (per-layer auxiliary terms and
# router scalars) are left out so that the reference's numbers are compared as they were.
strip_times() {
  sed -E 's/"(imagesPerSecond|trainSeconds|evaluationSeconds)":[^,}]*,?//g; s/"(auxiliaryTerms|routerScalars)":\[[^]]*\],?//g' "$1"
}
# The arrays of a checkpoint (after magic, UInt64 header length and header; before the CRC),
# with the header's random-generator state and step; the arrays of a .sytrace (after its 16-byte
# fixed header, metadata and padding to 8; before the CRC).
payload() {
  perl -e '
    local $/; open(my $f, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!"; my $b = <$f>;
    if (substr($b, 0, 6) eq "SYCKPT") {
      my $h = unpack("Q<", substr($b, 8, 8));
      my $header = substr($b, 16, $h);
      my ($g) = $header =~ /("generators":\{[^}]*\})/; my ($s) = $header =~ /("step":\d+)/;
      print "$g $s\n", substr($b, 16 + $h, length($b) - 16 - $h - 4);
    } else {
      my $m = unpack("V", substr($b, 12, 4)); my $d = 16 + $m; $d += (8 - $d % 8) % 8;
      print substr($b, $d, length($b) - $d - 4);
    }' "$1"
}

kernels=""
lines=()
for router in $routers; do
  for setting in tiny fmnist-small; do
    run="$out/$setting-$router"
    if [ "$setting" = tiny ]; then
      "$bin" train --preset tiny --router "$router" --seed 0 --epochs 1 --threads 2 --quiet --out "$run" > /dev/null
    else
      "$bin" train --preset fmnist-small --router "$router" --seed 0 --epochs 1 --threads 2 \
        --set data.trainLimit=2048 --set data.testLimit=1000 --quiet --out "$run" > /dev/null
    fi
    [ -n "$kernels" ] || kernels=$(sed -nE 's/.*"blasKernels" : "([^"]*)".*/\1/p' "$run/summary.json")
    logs=$( { strip_times "$run/metrics.jsonl"; strip_times "$run/epochs.jsonl"; } | sha256sum | cut -c1-16)
    weights=$(payload "$run/checkpoints/epoch-1.ckpt" | sha256sum | cut -c1-16)
    trace=$(payload "$run/traces/epoch-1.sytrace" | sha256sum | cut -c1-16)
    lines+=("$router $setting logs=$logs weights=$weights trace=$trace")
  done
done

if [ "$record" = --record ]; then
  echo "[$kernels]"
  printf '%s\n' "${lines[@]}"
  exit 0
fi
expected=$(awk -v k="[$kernels]" '$0 == k {on = 1; next} /^\[/ {on = 0} on && NF' "$reference")
if [ -z "$expected" ]; then
  echo "test-routers-unchanged: SKIPPED: $reference has no digests for OpenBLAS kernels '$kernels'" >&2
  exit 0
fi
if ! diff <(echo "$expected") <(printf '%s\n' "${lines[@]}") > "$out/diff"; then
  echo "test-routers-unchanged: numbers differ from the reference (kernels '$kernels'; < reference, > this build):" >&2
  cat "$out/diff" >&2
  exit 1
fi
echo "test-routers-unchanged: all 7 routers give the reference numbers bit for bit (tiny and fmnist-small, kernels '$kernels')"
