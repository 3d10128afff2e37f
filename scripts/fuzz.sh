#!/usr/bin/env bash
# Fuzzes Switchyard's parsers with libFuzzer (docs/reliability.md).
#
#   scripts/fuzz.sh [--smoke | --runs N] [--seeds] [TARGET...]
#
#   --smoke     3,000 runs per target, at most 120 s each (what `make test` runs)
#   --runs N    N runs per target (default 1,000,000: `make fuzz`)
#   --seeds     rewrite the seed corpora Fuzz/Corpus/<target>/ first (after a format change)
#   TARGET      fuzz-idx, fuzz-cifar, fuzz-gzip, fuzz-trace-csv, fuzz-trace-sample, fuzz-export-meta,
#               fuzz-megatron, fuzz-npy, fuzz-sytrace,
#               fuzz-checkpoint, fuzz-config, fuzz-jsonl, fuzz-notebook, fuzz-run-directory,
#               fuzz-notebook-policy, fuzz-placement (default: all)
#
# Builds the Fuzz package (release, -sanitize=fuzzer,address, linked with lld), then runs each
# target on a copy of its seed corpus in a temporary directory, with a 10-second limit per
# input. Prints one line per target (runs, wall time, executions per second) and exits
# non-zero if any target crashed, leaked, timed out, ran out of memory or did not finish its
# runs; the input that did it is kept in Fuzz/findings/ with the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz-idx fuzz-cifar fuzz-gzip fuzz-trace-csv fuzz-trace-sample fuzz-export-meta fuzz-megatron fuzz-npy fuzz-sytrace
             fuzz-checkpoint fuzz-config fuzz-jsonl fuzz-notebook fuzz-run-directory fuzz-notebook-policy fuzz-placement)
runs=1000000
max_time=0          # seconds per target; 0 = no limit
seeds=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) runs=3000; max_time=120 ;;
    --runs) [ $# -ge 2 ] || { echo "fuzz: --runs needs a number" >&2; exit 2; }
            runs="$2"; shift ;;
    --runs=*) runs="${1#--runs=}" ;;
    --seeds) seeds=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fuzz-*) targets+=("$1") ;;
    *) echo "fuzz: unknown argument '$1' (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --runs needs a positive number, got '$runs'" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
done

# The flags libFuzzer needs with Swift 6.3 on Linux: -sanitize=fuzzer instruments for
# coverage and links libFuzzer; -parse-as-library because each target's entry point is a
# @main type that calls libFuzzer's driver (see Fuzz/Sources/CLibFuzzer); lld because gold
# fails on the sanitizer runtime. AddressSanitizer catches out-of-bounds reads and writes
# through the parsers' unsafe pointers.
scratch=Fuzz/.build-fuzz
build=(swift build -c release --package-path Fuzz --scratch-path "$scratch"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld)
echo "fuzz: building the fuzz targets (${build[*]})"
set +e
"${build[@]}" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]'
built=${PIPESTATUS[0]}
set -e
[ "$built" -eq 0 ] || { echo "fuzz: the build failed" >&2; exit 1; }
bin="$scratch/release"

if [ "$seeds" -eq 1 ]; then
  "$bin/fuzz-seeds" Fuzz/Corpus
fi

# Memory-backed if possible: every iteration writes the input to a file (and some parsers'
# writers flush theirs), which should cost neither disk bandwidth nor time.
tmp_root=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then tmp_root=/dev/shm; fi
work=$(mktemp -d "$tmp_root/switchyard-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus="$work/$t/corpus"
  mkdir -p "$corpus" "$work/$t/artifacts" "$work/$t/tmp"
  cp Fuzz/Corpus/"$t"/* "$corpus"/
  log="$work/$t/log"
  # A dictionary of the tokens the parser compares (column names, JSON keys, markers):
  # comparisons inside Foundation and the standard library are not instrumented, so
  # libFuzzer cannot learn them by itself.
  dict=()
  [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=(-dict="Fuzz/Dictionaries/$t.dict")
  start=$(date +%s.%N)
  status=0
  # The parsers' temporary files go to a directory of their own (TMPDIR), removed at the end.
  # Swift's backtracer is off so that a trap reaches libFuzzer as the signal it is; LeakSanitizer
  # skips one known leak in Foundation (Fuzz/lsan.supp).
  TMPDIR="$work/$t/tmp" SWIFT_BACKTRACE=enable=no LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0" \
    "$bin/$t" -runs="$runs" -max_total_time="$max_time" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" "${dict[@]}" \
    "$corpus" > "$log" 2>&1 || status=$?
  end=$(date +%s.%N)
  executed=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  executed=${executed:-0}
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  rate=$(awk -v n="$executed" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  inputs=$(ls "$corpus" | wc -l)
  # Coverage at the end: instrumented edges ("cov") and libFuzzer's finer features ("ft").
  coverage=$(grep -E 'DONE +cov: ' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1, ft \2/')
  problem=""
  if [ "$status" -ne 0 ] || grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY: ' "$log"; then
    problem=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [^(]*|Fatal error: .*|fuzz: .*' "$log" || true)
    problem=${problem:-"exit status $status"}
  elif [ "$executed" -lt "$runs" ]; then
    problem="did only $executed of $runs runs in ${seconds} s (-max_total_time=$max_time)"
  fi
  if [ -z "$problem" ]; then
    printf 'fuzz: %-20s %9d runs in %7.1f s  %6d exec/s  corpus %d inputs  %s  no crash\n' \
      "$t" "$executed" "$seconds" "$rate" "$inputs" "${coverage:-cov ?}"
  else
    failed+=("$t")
    mkdir -p Fuzz/findings
    cp "$log" "Fuzz/findings/$t.log"
    for a in "$work/$t/artifacts"/*; do
      [ -e "$a" ] && cp "$a" "Fuzz/findings/$t-$(basename "$a")"
    done
    printf 'fuzz: %-20s FAILED after %d runs in %s s: %s\n' "$t" "$executed" "$seconds" "$problem" >&2
    { grep -E 'Fatal error|ERROR:|SUMMARY|^    #[0-9] ' "$log" || tail -5 "$log"; } | head -20 | sed 's/^/    /' >&2
    for a in Fuzz/findings/"$t"-*; do
      [ -e "$a" ] && echo "    replay: $bin/$t $a" >&2
    done
    echo "    log: Fuzz/findings/$t.log" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
plural=$([ ${#targets[@]} -eq 1 ] || echo s)
echo "fuzz: ${#targets[@]} target$plural, $runs runs each, no crash, leak or timeout"
