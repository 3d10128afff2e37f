# Red-team cases for run directories (issue 22, items 2, 3, 6-9): sizes past the memory
# budget, a second writer, reused and damaged run directories, resume and --epochs.
# Contract: scripts/red-team.sh (B = the binary, T = a fresh directory, the current one).

fail() { echo "$*"; return 1; }

# A small tiny-preset run: 128 training images, batch 32 (4 steps an epoch), 32 test images.
loud=(--preset tiny --threads 1 --batch-size 32 --set data.trainLimit=128 --set data.testLimit=32)
small=("${loud[@]}" --quiet)

# expect STATUS PATTERN COMMAND...: runs COMMAND, wants exit STATUS and PATTERN (grep -E) in its stderr.
expect() {
  local want="$1" pattern="$2"
  shift 2
  "$@" > out.txt 2> err.txt
  local got=$?
  [ "$got" -eq "$want" ] || { fail "exit $got, expected $want: $(tail -n 2 err.txt | tr '\n' ' ')"; return 1; }
  [ -z "$pattern" ] || grep -qE -- "$pattern" err.txt || { fail "stderr lacks /$pattern/: $(tail -n 2 err.txt | tr '\n' ' ')"; return 1; }
}

# The test accuracies of a run, one per line.
accuracies() { grep -o '"testAccuracy":[^,]*' "$1/epochs.jsonl"; }

# The logged losses of a run (timings left out), one per line.
losses() { grep -o '"loss":[^,]*' "$1/metrics.jsonl"; }

case_width_past_the_memory_budget_is_refused_before_anything_is_written() {
  expect 1 'model.width: 1000000000 is not allowed.*memory budget.*expected 1 to [0-9]+' \
    "$B" train --preset tiny --set model.width=1000000000 --out r || return 1
  [ ! -e r ] || fail "r was created"
}

case_batch_size_past_the_memory_budget_is_refused() {
  expect 1 'batchSize: 1000000000 is not allowed.*expected 1 to [0-9]+' \
    "$B" train --preset tiny --batch-size 1000000000 --out r || return 1
  [ ! -e r ] || fail "r was created"
}

case_depth_and_hidden_past_the_budget_are_refused() {
  expect 1 'model.depth: 100000000 is not allowed' "$B" train --preset tiny --set model.depth=100000000 --out r || return 1
  expect 1 'model.expertHidden: 4000000000 is not allowed' "$B" train --preset tiny --set model.expertHidden=4000000000 --out r || return 1
  expect 1 'is not allowed.*memory budget' "$B" bench train --preset tiny --set model.width=100000000 --steps 1 || return 1
  [ ! -e r ] || fail "r was created"
}

case_every_preset_fits_the_budget() {
  for preset in fmnist-small seed-cifar10 tiny; do
    "$B" train --preset "$preset" --set data.directory=/nonexistent --out "r-$preset" 2> err.txt
    grep -q 'memory budget' err.txt && { fail "$preset is over the budget: $(cat err.txt)"; return 1; }
  done
  return 0
}

case_emptied_epochs_log_resumes_to_the_same_numbers() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  cp -r run x
  : > x/epochs.jsonl
  expect 0 'epochs.jsonl records no epoch' "$B" train --out x --resume || return 1
  [ "$(accuracies x)" = "$(accuracies run)" ] || fail "accuracies differ after recovery"
}

case_deleted_epochs_log_resumes_to_the_same_numbers() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  cp -r run x
  rm x/epochs.jsonl
  expect 0 'using an older checkpoint' "$B" train --out x --resume || return 1
  [ "$(accuracies x)" = "$(accuracies run)" ] || fail "accuracies differ after recovery"
}

case_epochs_log_missing_its_last_record_retrains_that_epoch() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  cp -r run x
  head -n 1 run/epochs.jsonl > x/epochs.jsonl
  printf '{"epoch":2,"step":16,"trainLo' >> x/epochs.jsonl   # a torn last line
  expect 0 'epoch-2.ckpt is after epoch 2' "$B" train --out x --resume || return 1
  [ "$(accuracies x)" = "$(accuracies run)" ] || fail "accuracies differ"
  [ "$(losses x)" = "$(losses run)" ] || fail "losses differ"
}

case_second_writer_is_refused_naming_the_first() {
  "$B" train "${small[@]}" --epochs 400 --out run > /dev/null 2>&1 &
  local first=$!
  for _ in $(seq 200); do [ -s run/config.json ] && break; sleep 0.05; done
  expect 1 "another process is writing this run directory \\(pid $first" "$B" train "${small[@]}" --epochs 1 --out run --overwrite
  local verdict=$?
  expect 1 "pid $first" "$B" train --out run --resume || verdict=1
  kill "$first" 2> /dev/null
  wait "$first"
  [ "$verdict" -eq 0 ] || return 1
  [ -e run/checkpoints/interrupted.ckpt ] || ls run/checkpoints/epoch-*.ckpt > /dev/null 2>&1 || fail "the first run's checkpoint is gone"
}

case_lock_of_a_killed_run_is_taken_over() {
  "$B" train "${small[@]}" --epochs 200 --out run > /dev/null 2>&1 &
  local first=$!
  for _ in $(seq 200); do [ -s run/metrics.jsonl ] && break; sleep 0.05; done
  kill -KILL "$first"
  wait "$first" 2> /dev/null
  grep -qx "$first" run/.lock || { fail "the lock file does not name the killed run"; return 1; }
  sed -i 's/"epochs" : 200/"epochs" : 2/' run/config.json   # a shorter run, to finish quickly
  rm -rf run/checkpoints
  expect 0 '' "$B" train --out run --resume || return 1
  [ -s run/summary.json ] || fail "the resumed run wrote no summary"
}

case_reusing_a_run_directory_without_resume_is_refused() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  local before
  before=$(cat run/summary.json run/epochs.jsonl | sha256sum)
  expect 1 'holds a run.*--resume.*--overwrite' "$B" train "${small[@]}" --epochs 1 --router top-2 --out run || return 1
  [ "$(cat run/summary.json run/epochs.jsonl | sha256sum)" = "$before" ] || fail "the first run changed"
}

case_a_directory_of_other_files_is_not_a_new_run() {
  mkdir d
  echo "notes" > d/notes.txt
  expect 1 'd: is not empty \(notes.txt\)' "$B" train "${small[@]}" --epochs 1 --out d || return 1
  [ "$(ls d)" = "notes.txt" ] || fail "d changed: $(ls d)"
}

case_overwrite_removes_the_earlier_runs_checkpoints_and_traces() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  echo '{}' > run/analysis.json
  expect 0 'left in place.*analysis.json' "$B" train "${loud[@]}" --epochs 1 --router top-2 --out run --overwrite || return 1
  [ ! -e run/checkpoints/epoch-2.ckpt ] || { fail "epoch-2.ckpt of the old run is left"; return 1; }
  [ ! -e run/traces/epoch-2.sytrace ] || { fail "epoch-2.sytrace of the old run is left"; return 1; }
  [ "$(wc -l < run/epochs.jsonl)" -eq 1 ] || { fail "epochs.jsonl holds old records"; return 1; }
  grep -q '"router" : "top-2"' run/summary.json || fail "summary is not the new run's"
}

case_resume_and_overwrite_together_are_refused() {
  expect 64 'give one of them' "$B" train "${small[@]}" --out run --resume --overwrite || return 1
  [ ! -e run ] || fail "run was created"
}

case_out_naming_a_file_is_refused() {
  echo x > file
  expect 1 'file: exists and is not a directory' "$B" train "${small[@]}" --epochs 1 --out file || return 1
  [ "$(cat file)" = x ] || fail "the file changed"
}

case_resume_without_config_json_never_trains_the_default_preset() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  rm run/config.json
  local before
  before=$(ls -R run | sha256sum)
  expect 1 'config.json: missing: --resume continues a run with its own configuration' "$B" train --out run --resume || return 1
  [ "$(ls -R run | sha256sum)" = "$before" ] || { fail "the run directory changed"; return 1; }
  expect 1 'nothing to resume|there is no run directory' "$B" train --out nowhere --resume || return 1
  [ ! -e nowhere ] || fail "nowhere was created"
}

case_resume_with_corrupt_config_json_is_an_error() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  printf '{"preset": "tiny", "model": ' > run/config.json
  expect 1 'run/config.json: not a Switchyard training configuration' "$B" train --out run --resume || return 1
  echo '{"preset":"tiny"}' > run/config.json
  expect 1 'run/config.json: not a Switchyard training configuration \(missing field' "$B" train --out run --resume
}

case_resume_without_config_json_but_the_runs_options_continues() {
  "$B" train "${small[@]}" --epochs 2 --out full > /dev/null || return 1
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  rm run/config.json run/checkpoints/epoch-2.ckpt
  expect 0 '' "$B" train "${small[@]}" --epochs 2 --out run --resume || return 1
  [ "$(losses run)" = "$(losses full)" ] || fail "losses differ from the uninterrupted run"
}

case_resume_refuses_other_configuration_changes() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  expect 1 'changes threads \(1 → 2\).*only --epochs may change' "$B" train --out run --resume --threads 2 || return 1
  expect 1 'changes model.width \(32 → 64\)' "$B" train --out run --resume --set model.width=64 || return 1
  expect 1 'changes model.routerOptions' "$B" train --out run --resume --router-option trainingCapacityFactor=2 || return 1
}

case_resume_epochs_cannot_shorten_a_run() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  expect 1 'epochs: 1 is not allowed: the run has already trained 2 epochs.*cannot be shortened' \
    "$B" train --out run --resume --epochs 1
}

case_resume_epochs_past_a_cosine_schedule_is_refused_with_the_reason() {
  # Past its 2 warm-up steps the rate depends on the run's length (during warm-up it does not).
  "$B" train "${small[@]}" --set optimizer.warmupSteps=2 --epochs 2 --out run > /dev/null || return 1
  local before
  before=$(cat run/config.json run/summary.json | sha256sum)
  expect 1 'epochs: 3 is not allowed on --resume: the learning rate decays \(cosine\)' \
    "$B" train --out run --resume --epochs 3 || return 1
  [ "$(cat run/config.json run/summary.json | sha256sum)" = "$before" ] || fail "the run changed"
}

case_resume_epochs_extends_a_constant_rate_run_bit_identically() {
  local constant=(--set optimizer.minLearningRate=0.003 --set optimizer.warmupSteps=4)
  "$B" train "${small[@]}" "${constant[@]}" --epochs 1 --out run > /dev/null || return 1
  expect 0 'extended from 1 to 3 epochs' "$B" train --out run --resume --epochs 3 || return 1
  "$B" train "${small[@]}" "${constant[@]}" --epochs 3 --out full > /dev/null || return 1
  [ "$(losses run)" = "$(losses full)" ] || { fail "losses differ from a run started with 3 epochs"; return 1; }
  [ "$(accuracies run)" = "$(accuracies full)" ] || fail "accuracies differ from a run started with 3 epochs"
}

case_corrupt_newest_checkpoint_falls_back_to_an_older_one() {
  "$B" train "${small[@]}" --epochs 2 --out run > /dev/null || return 1
  cp -r run x
  printf '\x55' | dd of=x/checkpoints/epoch-2.ckpt bs=1 seek=5000 conv=notrunc 2> /dev/null
  expect 0 'warning: --resume: .*epoch-2.ckpt.*checksum mismatch.*older checkpoint' "$B" train --out x --resume || return 1
  [ "$(accuracies x)" = "$(accuracies run)" ] || fail "accuracies differ"
}

case_every_checkpoint_corrupt_starts_again_with_a_warning() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  cp -r run x
  head -c 100 run/checkpoints/epoch-1.ckpt > x/checkpoints/epoch-1.ckpt
  expect 0 'no usable checkpoint' "$B" train --out x --resume || return 1
  [ "$(accuracies x)" = "$(accuracies run)" ] || fail "accuracies differ"
}

case_stale_temporaries_of_dead_processes_are_removed() {
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null || return 1
  local dead=999999
  while kill -0 "$dead" 2> /dev/null; do dead=$((dead - 1)); done
  touch "run/.config.json.tmp-$dead" "run/checkpoints/.epoch-2.ckpt.tmp-$dead" "run/traces/.epoch-2.sytrace.tmp-$dead"
  touch "run/checkpoints/.epoch-3.ckpt.tmp-$$"   # a live process's: kept
  expect 0 'removed 3 temporary files' "$B" train --out run --resume || return 1
  [ -z "$(find run -name "*.tmp-$dead")" ] || { fail "stale temporaries left: $(find run -name "*.tmp-$dead")"; return 1; }
  [ -e "run/checkpoints/.epoch-3.ckpt.tmp-$$" ] || fail "a live process's temporary was removed"
}

case_killed_before_config_json_then_resumed_with_its_options() {
  # A run killed before it wrote anything leaves at most an empty directory with its lock.
  "$B" train "${small[@]}" --epochs 1 --out run > /dev/null 2>&1 &
  local first=$!
  kill -KILL "$first"
  wait "$first" 2> /dev/null
  expect 0 '' "$B" train "${small[@]}" --epochs 1 --out run --resume || return 1
  [ -s run/summary.json ] || fail "no summary"
}

case_failed_start_leaves_no_directory() {
  expect 1 'data' "$B" train --preset tiny --set data.directory=/nonexistent/x --set data.dataset=fashion-mnist --out r || return 1
  [ ! -e r ] || fail "r was left behind: $(ls -a r)"
}
