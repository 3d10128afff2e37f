#!/usr/bin/env bash
# Times `switchyard analyze` on a synthetic OLMoE-shaped trace (docs/performance.md, "Routing
# statistics of a language-model trace"): TOKENS tokens, 64 experts, top-8, router
# probabilities, token-id labels (Zipf over 50,000 ids), sequences of 2,048 tokens.
#
#   bench/llm-stats.sh [--tokens N] [--no-probs] [--domains K] [--binary PATH] [--dir DIR]
#                      [--repetitions R] [-- analyze options]
#
# --no-probs and --domains K are passed to make_llm_trace.py (no probs.npy; K domains). The
# one-pass analysis is `-- --stream` (docs/performance.md).
#
# The trace is written by bench/make_llm_trace.py (needs numpy) into DIR unless DIR already
# holds one of that size. Each repetition prints wall-clock seconds, CPU seconds and peak RSS
# (GNU time), read with the files in the page cache (a first, untimed run reads them in).
set -euo pipefail
tokens=10000000
binary=.build/release/switchyard
dir=
repetitions=3
trace_options=()
suffix=
while [ $# -gt 0 ]; do
    case "$1" in
        --tokens) tokens=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --repetitions) repetitions=$2; shift 2 ;;
        --no-probs) trace_options+=(--no-probs); suffix=$suffix-noprobs; shift ;;
        --domains) trace_options+=(--domains "$2"); suffix=$suffix-domains$2; shift 2 ;;
        --) shift; break ;;
        *) echo "llm-stats.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
dir=${dir:-${TMPDIR:-/tmp}/switchyard-llm-$tokens$suffix}
[ -x "$binary" ] || { echo "llm-stats.sh: no binary at $binary (run 'make release')" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "llm-stats.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
if ! grep -q "\"tokens\": $tokens," "$dir/meta.json" 2>/dev/null; then
    python3 "$here/make_llm_trace.py" "$dir" --tokens "$tokens" "${trace_options[@]}"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$binary" analyze "$dir" "$@" > /dev/null
echo "| run | wall s | CPU s | peak RSS MiB |"
echo "|---|---|---|---|"
for r in $(seq 1 "$repetitions"); do
    /usr/bin/time -f '%e %U %S %M' -o "$out/time" "$binary" analyze "$dir" --json "$out/analysis.json" "$@" > "$out/summary"
    read -r wall user sys rss < "$out/time"
    awk -v r="$r" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
        'BEGIN { printf "| %d | %.1f | %.1f | %.0f |\n", r, w, u + s, m / 1024 }'
done
echo
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
