#!/usr/bin/env bash
# Red team: replays every attack of scripts/red-team.d/*.sh against a switchyard binary and
# checks that each is handled (a clear error with the expected exit code, nothing half-written).
#
#   bash scripts/red-team.sh .build-test/release/switchyard
#
# Contract of a case file (scripts/red-team.d/NAME.sh): it defines bash functions named case_*;
# the runner sources the file and runs each case_* in a subshell of its own with `set -u` (not
# -e), in a fresh scratch directory $T (also the current directory), with $B the binary's
# absolute path, under a time limit (RED_TEAM_TIMEOUT seconds, default 60; the case's whole
# process group is killed past it). A case returns 0 when the attack was handled as expected;
# otherwise it returns non-zero and prints its reason as its last line. The runner prints one
# line per failed case, a summary, and exits 1 if any failed. RED_TEAM_CASES=REGEX runs only
# the cases whose name matches.
set -u
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: bash scripts/red-team.sh BINARY   (BINARY: a built switchyard executable)" >&2
  exit 2
fi
B="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
export B
here="$(cd "$(dirname "$0")" && pwd)"
limit="${RED_TEAM_TIMEOUT:-60}"
only="${RED_TEAM_CASES:-}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
passed=0
failed=0
started=$(date +%s)
for file in "$here"/red-team.d/*.sh; do
  [ -e "$file" ] || continue
  group="$(basename "$file" .sh)"
  cases="$(bash -c 'source "$1" > /dev/null 2>&1; declare -F | awk "{print \$3}" | grep "^case_"' _ "$file")"
  for name in $cases; do
    if [ -n "$only" ] && ! [[ "$group/$name" =~ $only ]]; then continue; fi
    T="$root/$group-$name"
    mkdir -p "$T"
    output="$(cd "$T" && T="$T" timeout -k 5 "$limit" bash -c 'set -u; source "$1"; "$2"' _ "$file" "$name" 2>&1)"
    status=$?
    if [ "$status" -eq 0 ]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        reason="timed out after $limit s"
      else
        reason="$(printf '%s\n' "$output" | sed '/^[[:space:]]*$/d' | tail -n 1)"
      fi
      echo "red-team: FAILED $group/$name: ${reason:-exit status $status, no reason printed}"
    fi
  done
done
echo "red-team: $passed passed, $failed failed ($(( $(date +%s) - started )) s)"
[ "$failed" -eq 0 ]
