# Red-team cases for the input side (issue 22, items 4, 5 and 13): damaged gzip, special
# files, absurd expert indices, unknown labels. Sourced by scripts/red-team.sh, which calls
# every case_* function with $B (the switchyard binary) and $T (a scratch directory); a case
# returns 0 when the attack is handled as documented (docs/reliability.md, "Inputs: attacks
# and outcomes"), else prints one line to stderr and returns non-zero.
# Helpers are prefixed _inputs_ so that they cannot clash with other case files.

# A trace CSV of $2 tokens in 2 layers (top-1 of 8 experts, labels of 10 classes) at $1.
_inputs_csv() {
  awk -v n="$2" 'BEGIN { print "token,layer,expert,weight,label"
    for (t = 0; t < n; t++) for (l = 0; l < 2; l++) printf "%d,%d,%d,1,%d\n", t, l, (t * 7 + l * 3) % 8, t % 10 }' > "$1"
}

# A version-1.0 .npy file at $1 of little-endian int32 values $3... with shape text $2 ("(4, 1)").
_inputs_npy_i4() {
  local path=$1 shape=$2; shift 2
  perl -e '
    my ($shape, @v) = @ARGV;
    my $dict = "{\x27descr\x27: \x27<i4\x27, \x27fortran_order\x27: False, \x27shape\x27: $shape, }";
    my $len = length($dict) + 1; my $pad = (64 - (10 + $len) % 64) % 64;
    print "\x93NUMPY\x01\x00", pack("v", $len + $pad), $dict, " " x $pad, "\n", pack("l<*", @v);
  ' "$shape" "$@" > "$path"
}

# Runs "$B analyze ARGS..." with a time limit; passes when it exits 1 with an error on stderr
# matching the extended regex $1 and no crash report. Leaves stderr in $T/inputs.err.
_inputs_refused() {
  local pattern=$1; shift
  local status=0
  timeout 60 "$B" analyze "$@" > "$T/inputs.out" 2> "$T/inputs.err" || status=$?
  if [ "$status" -eq 124 ]; then echo "analyze $* did not finish within 60 s" >&2; return 1; fi
  if [ "$status" -ne 1 ]; then echo "analyze $* exited $status, expected 1: $(head -c 200 "$T/inputs.err")" >&2; return 1; fi
  if grep -qE 'Fatal error|Illegal instruction|Aborted|Segmentation' "$T/inputs.err"; then
    echo "analyze $* crashed: $(head -c 200 "$T/inputs.err")" >&2; return 1
  fi
  if ! grep -qE -e "$pattern" "$T/inputs.err"; then
    echo "analyze $*: the error does not match /$pattern/: $(head -c 300 "$T/inputs.err")" >&2; return 1
  fi
}

# Runs "$B analyze ARGS..."; passes when it exits 0. Leaves stdout and stderr in $T/inputs.out/err.
_inputs_accepted() {
  local status=0
  timeout 120 "$B" analyze "$@" > "$T/inputs.out" 2> "$T/inputs.err" || status=$?
  if [ "$status" -ne 0 ]; then echo "analyze $* exited $status, expected 0: $(head -c 300 "$T/inputs.err")" >&2; return 1; fi
}

# Item 5: a .csv.gz cut after about half its compressed bytes (about 1,000 of 2,000 tokens).
case_inputs_gzip_cut_in_half() {
  _inputs_csv "$T/half.csv" 2000 && gzip -c "$T/half.csv" > "$T/full.csv.gz"
  head -c $(( $(stat -c %s "$T/full.csv.gz") / 2 )) "$T/full.csv.gz" > "$T/half.csv.gz"
  _inputs_refused 'half\.csv\.gz.*truncated' "$T/half.csv.gz" --json "$T/half.json" || return 1
  if [ -e "$T/half.json" ]; then echo "a JSON was written for a truncated input" >&2; return 1; fi
}

# Item 5: the gzip trailer (CRC-32 and length, 8 bytes) or half of it gone.
case_inputs_gzip_trailer_missing() {
  _inputs_csv "$T/trailer.csv" 2000 && gzip -c "$T/trailer.csv" > "$T/trailer-full.csv.gz"
  local cut
  for cut in 4 8; do
    head -c -"$cut" "$T/trailer-full.csv.gz" > "$T/trailer-$cut.csv.gz"
    _inputs_refused "trailer-$cut\.csv\.gz.*truncated" "$T/trailer-$cut.csv.gz" || return 1
  done
}

# Item 5: a wrong CRC-32 in the trailer (one bit flipped), and a wrong length (ISIZE).
case_inputs_gzip_trailer_wrong() {
  _inputs_csv "$T/crc.csv" 2000 && gzip -c "$T/crc.csv" > "$T/crc.csv.gz"
  cp "$T/crc.csv.gz" "$T/isize.csv.gz"
  local size; size=$(stat -c %s "$T/crc.csv.gz")
  printf '\x55' | dd of="$T/crc.csv.gz" bs=1 seek=$(( size - 8 )) conv=notrunc status=none
  printf '\x55' | dd of="$T/isize.csv.gz" bs=1 seek=$(( size - 4 )) conv=notrunc status=none
  _inputs_refused 'crc\.csv\.gz.*CRC-32' "$T/crc.csv.gz" || return 1
  _inputs_refused 'isize\.csv\.gz.*length' "$T/isize.csv.gz"
}

# Item 5: bytes after the end of the gzip stream that are not another member.
case_inputs_gzip_trailing_garbage() {
  _inputs_csv "$T/garbage.csv" 200 && gzip -c "$T/garbage.csv" > "$T/garbage.csv.gz"
  printf 'garbage' >> "$T/garbage.csv.gz"
  _inputs_refused 'garbage\.csv\.gz.*neither another gzip member' "$T/garbage.csv.gz"
}

# Item 5, the control: two gzip members back to back (cat a.gz b.gz) and zero padding after
# the last are valid gzip; the trace is read whole.
case_inputs_gzip_members_joined() {
  _inputs_csv "$T/members.csv" 2000
  head -n 2001 "$T/members.csv" | gzip -c > "$T/members.csv.gz"
  tail -n +2002 "$T/members.csv" | gzip -c >> "$T/members.csv.gz"
  head -c 16 /dev/zero >> "$T/members.csv.gz"
  _inputs_accepted "$T/members.csv.gz" --json "$T/members.json" || return 1
  if ! grep -q '"tokens" : 2000' "$T/members.json"; then
    echo "two gzip members did not give all 2000 tokens: $(grep -m1 '"tokens"' "$T/members.json")" >&2; return 1
  fi
}

# Item 13: a gzip bomb of one repeated row (1M rows, 8 MB of text, 12 KB of gzip):
# refused after counting, before allocating the assignments.
case_inputs_csv_gzip_bomb() {
  awk 'BEGIN { print "token,layer,expert,weight"; for (i = 0; i < 1000000; i++) print "0,0,0,1" }' | gzip -9 > "$T/bomb.csv.gz"
  _inputs_refused 'bomb\.csv\.gz: layer 0, token 0: 1000000 rows assign the token to an expert' "$T/bomb.csv.gz"
}

# Item 13: a FIFO would block forever (no writer) or never end; refused at once.
case_inputs_fifo() {
  mkfifo "$T/pipe.csv" || { echo "mkfifo failed" >&2; return 1; }
  _inputs_refused 'pipe\.csv.*FIFO' "$T/pipe.csv"
}

# Item 13: a character device that never ends (/dev/zero) and one that is empty (/dev/null).
case_inputs_device() {
  _inputs_refused '/dev/zero.*character device' /dev/zero || return 1
  ln -sf /dev/null "$T/null.csv"
  _inputs_refused 'null\.csv.*character device' "$T/null.csv"
}

# Item 13: one line of 16 MiB with no line end (a binary file named .csv).
case_inputs_csv_endless_line() {
  { printf 'token,layer,expert,weight\n0,0,0,'; head -c 16777216 /dev/zero | tr '\0' '7'; } > "$T/long.csv"
  _inputs_refused 'long\.csv.*(longer than|not a number)' "$T/long.csv"
}

# Item 4: one row of expert 100000 among experts 0-7 (a 2,000-token trace would need an
# E x E table of 80 GB); also 10000. Refused naming the line and value.
case_inputs_csv_absurd_expert() {
  local e
  for e in 100000 10000; do
    _inputs_csv "$T/absurd-$e.csv" 2000
    sed -i "1000s/^\([0-9]*\),\([0-9]*\),[0-9]*,/\1,\2,$e,/" "$T/absurd-$e.csv"
    _inputs_refused "absurd-$e\.csv: line 1000, column 'expert': expert $e would make" "$T/absurd-$e.csv" || return 1
  done
}

# Item 4: the same as experts.npy (one slot of 100000 among 0-7).
case_inputs_npy_absurd_expert() {
  mkdir -p "$T/npy-absurd"
  _inputs_npy_i4 "$T/npy-absurd/experts.npy" '(6, 1)' 0 1 2 100000 3 4
  _inputs_refused 'experts\.npy: element \[3, 0\].*expert 100000 would make' "$T/npy-absurd"
}

# Item 4: a given expert count too large for the E x E statistics tables.
case_inputs_given_expert_count_too_large() {
  _inputs_csv "$T/given.csv" 100
  _inputs_refused '--experts: 1000000 is outside 1…4096' "$T/given.csv" --experts 1000000
}

# Item 4 (issue 20): the expert count inferred from the largest index is announced.
case_inputs_inferred_expert_count_warns() {
  _inputs_csv "$T/inferred.csv" 100
  _inputs_accepted "$T/inferred.csv" || return 1
  if ! grep -q 'warning: .*inferred.csv: expert count 8 inferred from the largest expert index 7' "$T/inputs.err"; then
    echo "no warning about the inferred expert count: $(head -c 300 "$T/inputs.err")" >&2; return 1
  fi
  _inputs_accepted "$T/inferred.csv" --experts 8 || return 1
  if grep -q 'inferred' "$T/inputs.err"; then echo "warned although --experts was given" >&2; return 1; fi
}

# Item 4 (issue 20): label -1 is documented as unknown: accepted, analysed without class
# statistics, with a note.
case_inputs_unknown_labels() {
  _inputs_csv "$T/unknown.csv" 200
  sed -i '2,21s/,[0-9]*$/,-1/' "$T/unknown.csv"
  _inputs_accepted "$T/unknown.csv" || return 1
  if ! grep -q 'label −1 (unknown): analysed without class statistics' "$T/inputs.err"; then
    echo "no note about unknown labels: $(head -c 300 "$T/inputs.err")" >&2; return 1
  fi
}

# Bounded-memory mode (issue 22): `analyze --sample` reads the file once, so it needs rows
# sorted by token; a shuffled file is refused naming the line, and a sorted file gives the
# sample's analysis with the whole file's loads.
case_inputs_sample_mode() {
  _inputs_csv "$T/sorted.csv" 200
  { head -1 "$T/sorted.csv"; tail -n +2 "$T/sorted.csv" | sort -t, -k1,1nr; } > "$T/shuffled.csv"
  _inputs_refused "shuffled\.csv: line 4, column 'token': token 198 after token 199" "$T/shuffled.csv" --sample 10 || return 1
  _inputs_accepted "$T/sorted.csv" --experts 8 --sample 50 || return 1
  if ! grep -q '^Sample: 50 of 200 tokens' "$T/inputs.out" || ! grep -q '^Whole file (200 tokens' "$T/inputs.out"; then
    echo "no sample and whole-file lines: $(head -c 300 "$T/inputs.out")" >&2; return 1
  fi
}
