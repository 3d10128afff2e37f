# Red-team cases for the notebook sandbox (issue 22, items 10-12): paths hidden in option
# values, blocks writing the notebook or sources, symlinked notebooks, failing blocks, blocks
# that run forever or print without end, and a runner that is stopped or killed.
# Contract: scripts/red-team.sh (B = the binary, T = a fresh directory, the current one).

fail() { echo "$*"; return 1; }

# notebook FILE BLOCK...: writes a notebook with one ```switchyard block per BLOCK.
notebook() {
  local file="$1"
  shift
  mkdir -p "$(dirname "$file")"
  : > "$file"
  for block in "$@"; do printf 'Prose.\n\n```switchyard\n%s\n```\n\n' "$block" >> "$file"; done
}

# refused FILE PATTERN [OPTIONS...]: `notebook run FILE` exits 1 naming PATTERN, the file unchanged.
refused() {
  local file="$1" pattern="$2"
  shift 2
  local before
  before=$(sha256sum < "$file")
  "$B" notebook run "$file" "$@" > out.txt 2> err.txt
  local got=$?
  [ "$got" -eq 1 ] || { fail "exit $got, expected 1: $(tail -n 2 err.txt | tr '\n' ' ')"; return 1; }
  grep -qE -- "$pattern" err.txt || { fail "stderr lacks /$pattern/: $(tail -n 2 err.txt | tr '\n' ' ')"; return 1; }
  [ "$(sha256sum < "$file")" = "$before" ] || fail "$file changed"
}

# The pids of switchyard processes (the binary $B) working in this case's directory $T: the
# blocks of its notebooks, and nothing of any other case or program.
blocks() {
  local proc
  for proc in /proc/[0-9]*; do
    # -ef: the same file (device and inode), links followed; builtins only, no process per entry
    [ "$proc/exe" -ef "$B" ] && [ "$proc/cwd" -ef . ] && echo "${proc#/proc/}"
  done
  return 0
}

# no_blocks_left: true when no block of this case runs any more (waiting up to 5 s for one to
# finish stopping); otherwise kills them, by pid, and fails.
no_blocks_left() {
  local left
  for _ in $(seq 50); do
    left=$(blocks)
    [ -z "$left" ] && return 0
    # a zombie (killed, not yet reaped by a parent) does not run
    left=$(for p in $left; do [ "$(awk '{print $3}' "/proc/$p/stat" 2> /dev/null)" = Z ] || echo "$p"; done)
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  kill -KILL $left 2> /dev/null
  fail "a block still runs (pids $(echo $left))"
}

# A tiny training command whose run ends in about a second.
tiny="train --preset tiny --threads 1 --batch-size 32 --set data.trainLimit=128 --set data.testLimit=32 --epochs 1"

case_set_equals_absolute_path_is_checked() {
  notebook nb.md "$tiny --set=data.directory=/etc --out runs/a"
  refused nb.md "line 4: --set '/etc' is outside the notebook's directories" || return 1
  [ ! -e runs ] || fail "a block ran"
}

case_set_equals_parent_path_is_checked() {
  notebook nb/nb.md "$tiny --set=data.directory=../x --out runs/a"
  refused nb/nb.md "--set '../x' is outside the notebook's directories"
}

case_router_option_equals_path_is_checked() {
  notebook nb.md "$tiny --router-option=capacityFactor=/etc/passwd --out runs/a" \
    "$tiny --router-option capacityFactor=../../x --out runs/b"
  refused nb.md "--router-option '/etc/passwd' is outside"
}

case_json_over_the_notebook_is_refused() {
  notebook self.md "routers" "analyze runs/a --json self.md"
  refused self.md "--json 'self.md' is outside the directories a notebook may write" || return 1
  refused self.md "--json 'self.md' would write over the notebook" --allow-write . || return 1
  notebook runs/self.md "analyze runs/a --json runs/self.md"
  refused runs/self.md "--json 'runs/self.md' would write over the notebook" --workdir .
}

case_report_out_dot_over_a_notebook_named_report_md_is_refused() {
  notebook report.md "report runs/a --out ."
  refused report.md "--out '.' is outside the directories a notebook may write" || return 1
  refused report.md "--out '.' would write into a directory holding the notebook" --allow-write .
}

case_notebook_at_a_repository_root_cannot_write_sources() {
  mkdir -p Sources/SwitchyardTraining
  echo "// source" > Sources/SwitchyardTraining/Trainer.swift
  notebook README.md "report runs/a --out Sources/SwitchyardTraining" "analyze runs/a --json Sources/x.json"
  refused README.md "--out 'Sources/SwitchyardTraining' is outside the directories a notebook may write" || return 1
  [ "$(cat Sources/SwitchyardTraining/Trainer.swift)" = "// source" ] || fail "a source changed"
}

case_output_through_a_link_to_the_notebook_is_refused() {
  notebook nb.md "analyze runs/a --json runs/alias.json"
  mkdir -p runs
  ln -s ../nb.md runs/alias.json
  refused nb.md "--json 'runs/alias.json' is outside the directories a notebook may write" || return 1
  refused nb.md "--json 'runs/alias.json' would write over the notebook" --allow-write .
}

case_symlinked_notebook_stays_a_link() {
  notebook real/notes.md "presets"
  ln -s real/notes.md link.md
  "$B" notebook run link.md > out.txt 2> err.txt || { fail "exit $?: $(tail -n 1 err.txt)"; return 1; }
  [ -L link.md ] || { fail "link.md was replaced by a regular file"; return 1; }
  [ "$(readlink link.md)" = real/notes.md ] || { fail "link.md points elsewhere"; return 1; }
  grep -q 'switchyard:output' real/notes.md || fail "the outputs were not written to the link's target"
}

case_failing_block_leaves_the_notebook_exactly_as_it_was() {
  notebook nb.md "routers --name switch" "$tiny --out runs/a" "analyze runs/no-such-run"
  printf 'trailing prose without a newline' >> nb.md
  refused nb.md "line 15: .switchyard analyze runs/no-such-run. exited with status 1"
}

case_block_past_its_time_limit_is_stopped_with_its_process_group() {
  notebook nb.md "train --preset tiny --threads 1 --epochs 100000 --out runs/forever"
  local started
  started=$(date +%s)
  refused nb.md "was stopped after 1 s, the time a block may run \(--block-timeout\)" --block-timeout 1 || return 1
  [ $(( $(date +%s) - started )) -lt 15 ] || { fail "took $(( $(date +%s) - started )) s"; return 1; }
  no_blocks_left
}

case_block_printing_past_its_output_limit_is_stopped() {
  notebook nb.md "presets seed-cifar10"
  refused nb.md "was stopped after printing more than 200 bytes.*--max-output" --max-output 200
}

case_bad_limits_are_refused() {
  notebook nb.md "routers"
  for limit in "--block-timeout=-1" "--block-timeout=inf" "--block-timeout=nan" "--max-output=-5"; do
    # shellcheck disable=SC2086
    "$B" notebook run nb.md $limit > out.txt 2> err.txt
    local got=$?
    [ "$got" -eq 64 ] || { fail "$limit: exit $got, expected 64 (usage)"; return 1; }
    grep -q "is not allowed" err.txt || { fail "$limit: $(head -n 1 err.txt)"; return 1; }
  done
  ! grep -q 'switchyard:output' nb.md || fail "the notebook ran"
}

case_sigterm_to_the_runner_stops_its_block() {
  notebook nb.md "train --preset tiny --threads 1 --epochs 100000 --out runs/long"
  cp nb.md before.md
  "$B" notebook run nb.md > out.txt 2> err.txt &
  local runner=$!
  for _ in $(seq 200); do [ -s runs/long/metrics.jsonl ] && break; sleep 0.05; done
  kill -TERM "$runner"
  wait "$runner"
  local got=$?
  [ "$got" -eq 143 ] || { fail "runner exit $got, expected 143 (SIGTERM)"; return 1; }
  no_blocks_left || return 1
  [ -e runs/long/checkpoints/interrupted.ckpt ] || { fail "the block's train wrote no interrupted checkpoint"; return 1; }
  cmp -s nb.md before.md || fail "the notebook changed"
}

case_sigkill_to_the_runner_stops_its_block() {
  notebook nb.md "train --preset tiny --threads 1 --epochs 100000 --out runs/orphan"
  "$B" notebook run nb.md > out.txt 2> err.txt &
  local runner=$!
  for _ in $(seq 200); do [ -s runs/orphan/metrics.jsonl ] && break; sleep 0.05; done
  kill -KILL "$runner"
  wait "$runner" 2> /dev/null
  no_blocks_left
}

case_notebooks_cannot_run_notebooks_or_shell_syntax() {
  notebook nb.md "notebook run other.md"
  refused nb.md "'notebook' is not a subcommand a notebook may run" || return 1
  notebook nb.md "routers > out.txt"
  refused nb.md "'>' is shell syntax" || return 1
  notebook nb.md 'routers $(id)'
  refused nb.md "'\\$' is shell syntax"
}

case_outputs_outside_and_through_dangling_links_are_refused() {
  notebook nb.md "$tiny --out=/tmp/escape-$$"
  refused nb.md "--out '/tmp/escape-$$' is outside" || return 1
  mkdir -p runs
  ln -s /nonexistent/target runs/dangling
  notebook nb.md "$tiny --out runs/dangling/x"
  refused nb.md "symbolic link whose target does not exist" || return 1
  ln -s /tmp runs/out-link
  notebook nb.md "$tiny --out runs/out-link/x"
  refused nb.md "--out 'runs/out-link/x' is outside"
}

case_a_second_block_writing_the_same_run_is_refused_by_train() {
  notebook nb.md "$tiny --out runs/a" "$tiny --router top-2 --out runs/a"
  refused nb.md "runs/a: holds a run.*--overwrite"
}
