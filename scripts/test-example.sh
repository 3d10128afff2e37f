#!/usr/bin/env bash
# Builds Examples/CustomRouter — a package that depends on Switchyard as a user's would and adds
# a router — and checks that Switchyard's CLI, run from that package, lists and trains with it.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path Examples/CustomRouter
bin=Examples/CustomRouter/.build/debug/my-switchyard
$bin routers --name hash | grep -q "Roller et al. 2021" || { echo "test-example: 'hash' is not registered" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$bin train --preset tiny --router hash --router-option tokensPerImage=17 --epochs 1 \
  --set data.trainLimit=256 --set data.testLimit=64 --quiet --out "$out/run" > /dev/null
grep -q '"router" : "hash"' "$out/run/summary.json" || { echo "test-example: no summary for the hash run" >&2; exit 1; }
echo "test-example: Examples/CustomRouter builds, lists and trains with its hash router"
