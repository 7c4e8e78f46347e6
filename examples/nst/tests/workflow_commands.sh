#!/usr/bin/env bash
# ctest script: the nst command's workflow options on small inputs made here (TGA images, the
# 48 KB narrow VGG19 fixture), a few seconds in all:
#   - --threads 1 and --threads 2 write the same bytes;
#   - --checkpoint / --resume: a run stopped (after fewer iterations, or by SIGTERM) and resumed
#     writes the same bytes as one never stopped, for L-BFGS, Adam and Adam with --adam-ema, and
#     with --scales 2 when stopped during the last scale (a run stopped before it writes no
#     checkpoint and says so); resuming with other options fails with one clear error line;
#   - --content DIR --output-dir DIR: every image stylized, a bad one reported and skipped, exit 1.
#
#   examples/nst/tests/workflow_commands.sh NST_BINARY FIXTURES_DIR WORK_DIR
set -euo pipefail
# shellcheck source=command_test.sh
source "$(dirname "$0")/command_test.sh"
start_command_test workflow_commands "$@"

make_tga content.tga 40 30 5
make_tga style.tga 24 24 9
run=("$nst" stylize --content content.tga --style style.tga --weights "$narrow" --image-size 48 --print-every 0
  --content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1 --lbfgs-history 4)

# Reproducibility: 1 and 2 threads, the same bytes.
"${run[@]}" --iterations 8 --threads 1 --output one.png 2> log.txt || fail "1 thread: $(cat log.txt)"
"${run[@]}" --iterations 8 --threads 2 --output two.png 2> log.txt || fail "2 threads: $(cat log.txt)"
cmp -s one.png two.png || fail "--threads 1 and --threads 2 wrote different images"

# Checkpoint and resume, for each optimizer, and Adam with its iterate average (also saved).
for optimizer in lbfgs adam-ema adam; do
  opt=("${run[@]}" --optimizer "${optimizer%-ema}")
  [ "$optimizer" = adam-ema ] && opt+=(--adam-ema 0.8)
  "${opt[@]}" --iterations 14 --output whole.png 2> log.txt || fail "$optimizer whole run: $(cat log.txt)"

  # Stopped after 6 of the planned iterations, then continued to 14.
  "${opt[@]}" --iterations 6 --output part.png --checkpoint run.ckpt 2> log.txt || fail "$optimizer part: $(cat log.txt)"
  grep -q "wrote checkpoint run.ckpt (iteration 6)" log.txt || fail "$optimizer: no checkpoint line in: $(cat log.txt)"
  "${opt[@]}" --iterations 14 --output resumed.png --resume run.ckpt 2> log.txt || fail "$optimizer resume: $(cat log.txt)"
  grep -q "resuming run.ckpt at iteration 6" log.txt || fail "$optimizer: no resume line in: $(cat log.txt)"
  cmp -s whole.png resumed.png || fail "$optimizer: the resumed run differs from the whole run"

  # Stopped by SIGTERM wherever it is (perhaps already done), then continued: still the same.
  rm -f run.ckpt
  "${opt[@]}" --iterations 14 --output stopped.png --checkpoint run.ckpt --checkpoint-every 3 2> log.txt &
  pid=$!
  for ((tries = 0; tries < 100; tries++)); do [ -e run.ckpt ] && break; sleep 0.02; done
  kill -TERM "$pid" 2> /dev/null || true
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || [ "$status" -eq 143 ] || fail "$optimizer: SIGTERM gave exit status $status: $(cat log.txt)"
  "${opt[@]}" --iterations 14 --output resumed.png --resume run.ckpt 2> log.txt || fail "$optimizer resume: $(cat log.txt)"
  cmp -s whole.png resumed.png || fail "$optimizer: the run resumed after SIGTERM differs from the whole run"
done

# Coarse to fine: the checkpoint holds the last scale's state and a resumed run goes straight to
# the last scale. Stopped after 4 of its 9 iterations there, then resumed: the same bytes.
for optimizer in lbfgs adam-ema; do
  scaled=("${run[@]}" --scales 2 --optimizer "${optimizer%-ema}")
  [ "$optimizer" = adam-ema ] && scaled+=(--adam-ema 0.8)
  "${scaled[@]}" --scale-iterations 5,9 --output whole.png 2> log.txt || fail "$optimizer --scales 2: $(cat log.txt)"
  "${scaled[@]}" --scale-iterations 5,4 --output part.png --checkpoint scaled.ckpt 2> log.txt ||
    fail "$optimizer --scales 2 part: $(cat log.txt)"
  grep -q "checkpoint saves the last scale's state: nothing before iteration 6" log.txt &&
    grep -q "wrote checkpoint scaled.ckpt (iteration 9)" log.txt || fail "$optimizer --scales 2: checkpoint lines in: $(cat log.txt)"
  "${scaled[@]}" --scale-iterations 5,9 --output resumed.png --resume scaled.ckpt 2> log.txt ||
    fail "$optimizer --scales 2 resume: $(cat log.txt)"
  grep -q "resuming scaled.ckpt at iteration 9, the last scale's 4 (the earlier scales are not run again)" log.txt ||
    fail "$optimizer --scales 2: no resume line in: $(cat log.txt)"
  cmp -s whole.png resumed.png || fail "$optimizer --scales 2: the resumed run differs from the whole run"
done

# Stopped by SIGTERM during the first scale: the result so far is written, no checkpoint, and
# the command says why.
rm -f early.ckpt early.png
"${run[@]}" --scales 2 --scale-iterations 100000,2 --print-every 1 --output early.png --checkpoint early.ckpt 2> log.txt &
pid=$!
for ((tries = 0; tries < 500; tries++)); do grep -q '^iteration 1/' log.txt && break; sleep 0.02; done
kill -TERM "$pid" 2> /dev/null || true
status=0
wait "$pid" || status=$?
[ "$status" -eq 143 ] || fail "SIGTERM in the first scale: exit status $status, expected 143: $(cat log.txt)"
grep -q '^nst: no checkpoint written: the run stopped before its last scale' log.txt ||
  fail "SIGTERM in the first scale: no line saying that no checkpoint was written: $(tail -5 log.txt)"
[ ! -e early.ckpt ] || fail "SIGTERM in the first scale: a checkpoint was written"
[ -s early.png ] || fail "SIGTERM in the first scale: the result so far was not written"

# Resuming with another style weight: refused, one error line naming the option.
status=0
"${run[@]}" --iterations 14 --output other.png --resume run.ckpt --optimizer adam --style-weight 7 2> log.txt || status=$?
[ "$status" -eq 1 ] || fail "resume with other options: exit status $status, expected 1"
[ "$(grep -c '^nst: error: ' log.txt)" -eq 1 ] && grep -q 'cannot resume.*style_weight' log.txt ||
  fail "resume with other options: expected one error line naming style_weight in: $(cat log.txt)"
[ ! -e other.png ] || fail "a refused resume wrote its output"

# A batch: three images, one of them not an image; the two good ones are written, exit status 1.
mkdir -p photos
make_tga photos/a.tga 40 30 3
make_tga photos/b.tga 30 40 13
printf 'not an image at all' > photos/broken.png
status=0
"${run[@]}" --iterations 3 --content photos --output-dir results 2> log.txt || status=$?
[ "$status" -eq 1 ] || fail "batch with a broken image: exit status $status, expected 1: $(cat log.txt)"
[ -s results/a.png ] && [ -s results/b.png ] || fail "batch: results/a.png and results/b.png expected: $(cat log.txt)"
[ ! -e results/broken.png ] || fail "batch: a result for the broken image"
grep -q '^nst: error: .*broken\.png.*(skipped)' log.txt || fail "batch: the broken image is not reported: $(cat log.txt)"
grep -q '^nst: error: 1 of 3 content images failed' log.txt || fail "batch: no summary line: $(cat log.txt)"
# Each batch result is what a single run of that image writes.
"${run[@]}" --iterations 3 --content photos/b.tga --output b.png 2> log.txt || fail "single b: $(cat log.txt)"
cmp -s b.png results/b.png || fail "batch: results/b.png differs from a single run of b.tga"
# A list works too; all good: exit 0.
rm -rf results
"${run[@]}" --iterations 2 --content photos/a.tga,photos/b.tga --output-dir results 2> log.txt ||
  fail "batch list: $(cat log.txt)"
[ -s results/a.png ] && [ -s results/b.png ] || fail "batch list: results missing"
status=0
"${run[@]}" --iterations 2 --content photos --output-dir results --output x.png 2> log.txt || status=$?
[ "$status" -eq 2 ] || fail "--output with --output-dir: exit status $status, expected 2"
echo "workflow_commands: ok"
