#!/usr/bin/env bash
# Builds Examples/CustomRouter — a package that depends on Switchyard as a user's would and adds
# three routers written only against the public API — and checks that Switchyard's CLI, run from
# that package, lists and trains with each:
# - learned-top-k (softmax gate, top-k, renormalised weights, balance loss) trains a few steps;
# - position-hash reads patch positions from the routing context (no image-shape option) and routes
#   identically in training and evaluation;
# - bias-balanced keeps a per-expert bias as router state, moved by the after-step hook: a run
#   interrupted with SIGINT and continued with --resume must end bit for bit as an uninterrupted
#   run (weights, bias, logs), and its bias must have moved.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path Examples/CustomRouter
bin=Examples/CustomRouter/.build/debug/my-switchyard
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "test-example: $*" >&2; exit 1; }
for name in learned-top-k bias-balanced position-hash; do
  $bin routers --name "$name" | grep -q "^$name" || fail "'$name' is not registered"
done
$bin routers --name bias-balanced | grep -q "state (not trained, checkpointed): bias" || fail "bias-balanced does not list its state"
small=(--preset tiny --epochs 1 --set data.trainLimit=256 --set data.testLimit=64 --quiet)
$bin train "${small[@]}" --router learned-top-k --out "$out/topk" > /dev/null
grep -q '"router" : "learned-top-k"' "$out/topk/summary.json" || fail "no summary for the learned-top-k run"
grep -q '"balance"' "$out/topk/metrics.jsonl" || fail "learned-top-k's balance term is not in metrics.jsonl"
$bin train "${small[@]}" --router position-hash --out "$out/hash" > /dev/null
grep -q '"router" : "position-hash"' "$out/hash/summary.json" || fail "no summary for the position-hash run"

# bias-balanced: uninterrupted, then the same run interrupted by SIGINT and resumed.
strip_times() { sed -E 's/"(imagesPerSecond|trainSeconds|evaluationSeconds)":[^,}]*,?//g' "$1"; }
run=(--preset tiny --epochs 2 --set data.trainLimit=512 --set data.testLimit=64 --set logEvery=1 --router bias-balanced)
$bin train "${run[@]}" --quiet --out "$out/whole" > /dev/null
$bin train "${run[@]}" --out "$out/cut" > "$out/cut.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  lines=$(grep -c . "$out/cut/metrics.jsonl" 2>/dev/null || true)
  [ "${lines:-0}" -ge 3 ] && break
  sleep 0.05
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
grep -q "interrupted after step" "$out/cut.log" || fail "the bias-balanced run was not interrupted mid-run (it finished first?)"
$bin train "${run[@]}" --quiet --out "$out/cut" --resume > /dev/null
for f in metrics.jsonl epochs.jsonl; do
  diff <(strip_times "$out/whole/$f") <(strip_times "$out/cut/$f") > /dev/null || fail "bias-balanced: $f differs after --resume"
done
cmp -s "$out/whole/traces/epoch-2.sytrace" "$out/cut/traces/epoch-2.sytrace" || fail "bias-balanced: the final trace differs after --resume"
bias=$(tr -d ' \n' < "$out/whole/summary.json" | grep -o '"routerState":{[^}]*}' || true)
[ -n "$bias" ] || fail "bias-balanced: summary.json has no routerState"
echo "$bias" | grep -qE '[-]?0\.00[0-9]*[1-9]' || fail "bias-balanced: the bias never moved ($bias)"
[ "$(tr -d ' \n' < "$out/cut/summary.json" | grep -o '"routerState":{[^}]*}')" = "$bias" ] || fail "bias-balanced: the resumed bias differs"
echo "test-example: Examples/CustomRouter builds and trains learned-top-k, position-hash and bias-balanced; bias-balanced resumes bit for bit"
