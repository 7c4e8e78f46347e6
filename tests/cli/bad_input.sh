#!/usr/bin/env bash
# bad_input.sh — the nst command against bad input (issue 8). Each case runs build/bin/nst on one
# kind of bad input and checks that it
#   - exits with the expected non-zero status (2 for a wrongly called command, 1 otherwise),
#   - writes one line to stderr that starts with "nst: error:" and names the problem (a case
#     that fails only once the run has started may be preceded by nst's status line), with no
#     abort, stack trace or sanitizer report,
#   - leaves an existing output file byte for byte as it was.
# The out-of-memory case limits the address space (ulimit -v), or under AddressSanitizer (which
# ulimit would stop) makes allocations over 1 GiB fail, and expects nst's out-of-memory line.
# Inputs are made here, small (32x32 images, the 48 KB narrow VGG19 fixture), so that a case
# takes well under a second; the cases that need ../shared skip (exit 77) when it is absent.
#
#   tests/cli/bad_input.sh NST_BINARY SHARED_DIR WORK_DIR CASE      (CASE: see the list below)
#   tests/cli/bad_input.sh NST_BINARY SHARED_DIR WORK_DIR all       (every case, a summary)
#   tests/cli/bad_input.sh --list                                   (the case names)
# The last three cases are the controls: valid input succeeds and replaces the output, zero
# iterations or zero loss weights are valid requests (the starting image; a term switched off),
# and a run stopped by a signal (Ctrl-C, SIGTERM) writes the result it has.
set -uo pipefail

if [ "${1:-}" = --list ]; then
  list_only=1
else
  list_only=0
fi
absolute() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s' "$PWD/$1" ;; esac; }
if [ $list_only -eq 0 ]; then
  nst=$(absolute "$1")
  shared=$(absolute "$2")
  work=$(absolute "$3")
  case_name=$4
fi
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../fixtures"
narrow="$fixtures/nn/narrow_vgg19.safetensors"
partial="$fixtures/nn/narrow_vgg19_partial.pth"
skip=77

cases=(missing_content missing_style missing_weights unreadable_content directory_as_content
  truncated_png truncated_jpeg random_bytes_image random_bytes_weights empty_image empty_weights
  vgg16_weights wrong_shape_weights nan_weights layer_not_in_weights layer_not_in_shared_weights
  unknown_layer loss_overflows_during_run output_bad_extension output_in_missing_directory
  image_size_negative image_size_zero image_size_huge image_size_out_of_memory iterations_negative iterations_huge
  content_weight_negative style_weight_huge tv_weight_nan learning_rate_zero style_scale_huge initial_scale_zero
  unknown_option unknown_line_search missing_value inspect_random_bytes convert_nan_weights valid_run_replaces_output
  zero_iterations_and_weights_are_valid interrupted_run_writes_its_result)

# ---- inputs ----------------------------------------------------------------------------------

# An uncompressed 24-bit 32x32 TGA whose pixels are the bytes of `source` (noisy or flat).
make_tga() {
  local out=$1 source=$2
  printf '\000\000\002\000\000\000\000\000\000\000\000\000\040\000\040\000\030\000' > "$out"
  head -c 3072 "$source" >> "$out"
}

# The 8 little-endian bytes of a number, as printf escapes.
le64() {
  local value=$1 out="" i
  for i in 0 1 2 3 4 5 6 7; do out+=$(printf '\\%03o' $(((value >> (8 * i)) & 255))); done
  printf '%s' "$out"
}

# A safetensors file: the JSON header, then `data_file`'s bytes.
make_safetensors() {
  local out=$1 header=$2 data_file=$3
  printf "$(le64 ${#header})" > "$out"
  printf '%s' "$header" >> "$out"
  cat "$data_file" >> "$out"
}

# `count` copies of one float32, given as its 4 little-endian bytes in printf escapes.
repeat_float() {
  local bytes=$1 count=$2 i
  for ((i = 0; i < count; i++)); do printf "$bytes"; done
}

# content.tga (noisy), style.tga (flat), good.png and good.jpg (nst's own output of the content).
make_inputs() {
  make_tga content.tga "$fixtures/weights/vgg_tiny.expected.f64"
  yes $'\x10\x80\xf0' | head -c 4000 > flat.bin
  make_tga style.tga flat.bin
  local ext
  for ext in png jpg; do
    "$nst" stylize --content content.tga --style style.tga --output "good.$ext" --weights "$narrow" \
      --image-size 32 --iterations 0 --init content --print-every 0 2> /dev/null ||
      { echo "setup: nst could not write good.$ext from valid input"; exit 1; }
  done
}

# ---- running one case ------------------------------------------------------------------------

# expect STATUS PATTERN [ALLOW_STATUS_LINE] -- nst ARGS...: runs nst and checks the rules above.
# PATTERN is a grep -E pattern the error line must contain.
expect() {
  local want_status=$1 pattern=$2 allow_status_line=$3
  shift 4  # the "--" separator
  "$@" > stdout.txt 2> stderr.txt
  local status=$? failed=0
  local lines errors last
  lines=$(wc -l < stderr.txt)
  errors=$(grep -c '^nst: error: ' stderr.txt)
  last=$(tail -n 1 stderr.txt)
  if [ "$status" -ne "$want_status" ]; then
    echo "FAIL: exit status $status, expected $want_status"; failed=1
  fi
  if [ "$errors" -ne 1 ] || [[ "$last" != "nst: error: "* ]]; then
    echo "FAIL: stderr must end with exactly one 'nst: error:' line"; failed=1
  elif [ "$allow_status_line" = no ] && [ "$lines" -ne 1 ]; then
    echo "FAIL: stderr has $lines lines, expected the error line alone"; failed=1
  elif grep -Ev '^(nst: |iteration [0-9])' stderr.txt | grep -q .; then
    echo "FAIL: stderr has lines that are not nst's own"; failed=1
  fi
  if grep -Eiq 'terminate called|abort|core dumped|sanitizer|runtime error|segmentation|stack trace|#0 ' stderr.txt; then
    echo "FAIL: stderr shows a crash"; failed=1
  fi
  if ! grep -Eq -- "$pattern" <<< "$last"; then
    echo "FAIL: the error line does not match /$pattern/"; failed=1
  fi
  if ! cmp -s keep.png keep.expected; then
    echo "FAIL: the existing output file keep.png was changed"; failed=1
  fi
  if [ "$failed" -ne 0 ]; then
    echo "command: $*"
    echo "--- stderr:"; cat stderr.txt
    return 1
  fi
  echo "ok: exit $status: $last"
}

# The command that runs nst in stylize() (empty: nst itself; the unreadable-file case sets it to
# run nst as an unprivileged user).
as_user=()

# stylize with valid small inputs and output keep.png, plus the case's own arguments (later
# options override earlier ones).
stylize() {
  "${as_user[@]}" "$nst" stylize --content content.tga --style style.tga --output keep.png --weights "$narrow" \
    --image-size 32 --iterations 2 --print-every 0 "$@"
}

run_case() {
  printf 'an existing output file that must stay as it is\n' > keep.png
  cp keep.png keep.expected
  case $1 in
    missing_content) expect 1 'io_error.420.*absent\.png.*No such file' no -- stylize --content absent.png ;;
    missing_style) expect 1 'io_error.420.*absent\.jpg' no -- stylize --style style.tga,absent.jpg ;;
    missing_weights) expect 1 'io_error.400.*absent\.safetensors.*no such file' no -- stylize --weights absent.safetensors ;;
    unreadable_content)
      cp content.tga locked.tga
      chmod 000 locked.tga
      if [ -r locked.tga ]; then
        # root reads any file: run nst as the unprivileged user nobody, in a directory it may
        # write to (nst checks that it can write the output before it reads the inputs).
        if ! command -v setpriv > /dev/null || ! id -u nobody > /dev/null 2>&1; then
          echo "skipped: running as root, where chmod 000 does not stop reading, and setpriv or the user nobody is missing"
          return $skip
        fi
        as_user=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
        chmod 777 .
        if ! "${as_user[@]}" sh -c '[ -x "$0" ] && [ -r content.tga ] && [ -r style.tga ] && [ -r "$1" ]' "$nst" "$narrow"; then
          as_user=()
          chmod 755 .
          echo "skipped: running as root, and the user nobody cannot reach nst or its inputs (a private directory above them)"
          return $skip
        fi
      fi
      expect 1 'io_error.420.*locked\.tga.*Permission denied' no -- stylize --content locked.tga
      local status=$?
      as_user=()
      chmod 755 .
      return $status ;;
    directory_as_content) mkdir -p folder.png && expect 1 'io_error.420.*folder\.png.*directory' no -- stylize --content folder.png ;;
    truncated_png)
      head -c $(($(wc -c < good.png) / 2)) good.png > truncated.png
      expect 1 'format_error.352.*truncated\.png' no -- stylize --content truncated.png ;;
    truncated_jpeg)
      head -c $(($(wc -c < good.jpg) / 2)) good.jpg > truncated.jpg
      expect 1 'format_error.352.*truncated\.jpg' no -- stylize --style truncated.jpg ;;
    random_bytes_image)
      tail -c 4096 "$fixtures/weights/vgg_tiny.expected.f64" > noise.png
      expect 1 'format_error.350.*noise\.png.*not an image' no -- stylize --content noise.png ;;
    random_bytes_weights)
      tail -c 4096 "$fixtures/weights/vgg_tiny.expected.f64" > noise.safetensors
      expect 1 'format_error.300.*noise\.safetensors' no -- stylize --weights noise.safetensors ;;
    empty_image) : > empty.jpg && expect 1 'format_error.350.*empty\.jpg is empty' no -- stylize --style empty.jpg ;;
    empty_weights) : > empty.pth && expect 1 'format_error.300.*empty\.pth' no -- stylize --weights empty.pth ;;
    vgg16_weights)
      # features.17 is a convolution in VGG16 (conv4_1) but a ReLU in VGG19.
      head -c 4 /dev/zero > four.bin
      make_safetensors vgg16.safetensors '{"features.17.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' four.bin
      expect 1 'format_error.370.*features\.17\.weight.*VGG16' no -- stylize --weights vgg16.safetensors ;;
    wrong_shape_weights)
      head -c 1200 /dev/zero > kernel.bin
      make_safetensors five.safetensors '{"conv1_1.weight":{"dtype":"F32","shape":[4,3,5,5],"data_offsets":[0,1200]}}' kernel.bin
      expect 1 'shape_error.153.*conv1_1\.weight.*\[4,3,5,5\]' no -- stylize --weights five.safetensors ;;
    nan_weights)
      repeat_float '\000\000\200\077' 13 > nan.bin   # conv1_1.weight [1,3,3,3]: 1.0f ...
      repeat_float '\000\000\300\177' 1 >> nan.bin   # ... a NaN at element 13 ...
      repeat_float '\000\000\200\077' 14 >> nan.bin  # ... 1.0f, then the bias [1]
      make_safetensors nan.safetensors '{"conv1_1.weight":{"dtype":"F32","shape":[1,3,3,3],"data_offsets":[0,108]},"conv1_1.bias":{"dtype":"F32","shape":[1],"data_offsets":[108,112]}}' nan.bin
      expect 1 'value_error.210.*conv1_1\.weight.*nan at element 13' no -- stylize --weights nan.safetensors \
        --content-layers relu1_1 --style-layers relu1_1 ;;
    layer_not_in_weights)
      expect 1 "lookup_error.511.*'relu4_1'.*conv4_1\.weight" no -- stylize --weights "$partial" --style-layers relu1_1,relu4_1 --content-layers relu2_2 ;;
    layer_not_in_shared_weights)
      local weights="$shared/weights/vgg19-conv1_1-conv3_4.safetensors"
      if [ ! -f "$weights" ]; then
        echo "skipped: $weights is absent (../shared missing)"
        return $skip
      fi
      expect 1 "lookup_error.511.*'relu4_1'.*conv4_1\.weight.*conv1_1 \.\. pool3" no -- stylize --weights "$weights" \
        --style-layers relu1_1,relu4_1 --content-layers relu3_2 ;;
    unknown_layer) expect 1 "lookup_error.510.*'relu9_9'" no -- stylize --content-layers relu9_9 ;;
    loss_overflows_during_run)
      # conv1_1 of 4 channels with weights of +-1000 (finite): the starting image's loss is finite,
      # and so is the first iteration's; Adam's steps of 10^4 make the style loss overflow float
      # in the second iteration, which the error names, saying where iteration 1's image went.
      : > big.bin
      for ((i = 0; i < 56; i++)); do printf '\000\000\172\104\000\000\172\304' >> big.bin; done  # 1000.0f, -1000.0f
      make_safetensors big.safetensors '{"conv1_1.weight":{"dtype":"F32","shape":[4,3,3,3],"data_offsets":[0,432]},"conv1_1.bias":{"dtype":"F32","shape":[4],"data_offsets":[432,448]}}' big.bin
      expect 1 'value_error.298.*at evaluation 3, in iteration 2 .*the image of iteration 1 is saved in keep_1\.png$' yes -- \
        stylize --weights big.safetensors --content-layers relu1_1 --style-layers relu1_1 --optimizer adam \
        --learning-rate 10000 --iterations 50 --print-every 1 || return 1
      "$nst" stylize --content keep_1.png --style style.tga --output copy.png --weights "$narrow" --image-size 32 \
        --iterations 0 --print-every 0 2> /dev/null || { echo "FAIL: keep_1.png is not a readable image"; return 1; } ;;
    output_bad_extension)
      expect 1 'value_error.232.*result\.pgn' no -- stylize --output result.pgn --iterations 30 ;;
    output_in_missing_directory)
      expect 1 'io_error.421.*absent/result\.png' no -- stylize --output absent/result.png --iterations 30 ;;
    image_size_negative) expect 2 'option --image-size: -5 is outside 16\.\.16384' no -- stylize --image-size -5 ;;
    image_size_zero) expect 2 'option --image-size: 0 is outside' no -- stylize --image-size 0 ;;
    image_size_huge) expect 2 'option --image-size: 1000000 is outside' no -- stylize --image-size 1000000 ;;
    image_size_out_of_memory)
      # 16384 px is a valid size, but the content resized to 16384x16384 needs 3 GiB, which the
      # limit below refuses: std::bad_alloc must become nst's one-line message.
      if grep -qa __asan_init "$nst"; then
        # AddressSanitizer's allocator returns null above 1 GiB (operator new then throws); its
        # warning about that goes to asan.* instead of stderr.
        rm -f asan.*
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=1024:log_path=$PWD/asan" \
          expect 1 'out of memory \(try a smaller --image-size\)$' yes -- stylize --image-size 16384 --threads 2 || return 1
        if cat asan.* 2> /dev/null | grep -v 'WARNING: AddressSanitizer failed to allocate' | grep -q .; then
          echo "FAIL: AddressSanitizer reported more than the failed allocation:"; cat asan.*; return 1
        fi
      else
        (ulimit -v 2000000 && expect 1 'out of memory \(try a smaller --image-size\)$' yes -- stylize --image-size 16384 --threads 2)
      fi ;;
    iterations_negative) expect 2 'option --iterations: -1 is outside 0\.\.1000000' no -- stylize --iterations -1 ;;
    iterations_huge) expect 2 'option --iterations: 99999999999 is outside 0\.\.1000000' no -- stylize --iterations 99999999999 ;;
    content_weight_negative) expect 2 'option --content-weight: -5 is outside 0\.\.1e\+12' no -- stylize --content-weight -5 ;;
    style_weight_huge) expect 2 'option --style-weight: 1e300 is outside' no -- stylize --style-weight 1e300 ;;
    tv_weight_nan) expect 2 "option --tv-weight: 'nan' is not a finite number" no -- stylize --tv-weight nan ;;
    learning_rate_zero) expect 2 'option --learning-rate: 0 is outside' no -- stylize --learning-rate 0 ;;
    style_scale_huge) expect 2 'option --style-scale: 1e9 is outside' no -- stylize --style-scale 1e9 ;;
    initial_scale_zero) expect 2 'option --lbfgs-initial-scale: 0 is outside 0\.001\.\.1000' no -- stylize --lbfgs-initial-scale 0 ;;
    unknown_option) expect 2 "unknown option '--iteration'" no -- stylize --iteration 5 ;;
    unknown_line_search)
      expect 2 "option --line-search: 'wolfe' is not one of none\\|strong-wolfe\\|backtracking" no -- \
        stylize --line-search wolfe ;;
    missing_value) expect 2 'option --iterations needs a value' no -- stylize --iterations ;;
    inspect_random_bytes)
      tail -c 4096 "$fixtures/weights/vgg_tiny.expected.f64" > noise.pth
      expect 1 'format_error.300.*noise\.pth' no -- "$nst" weights inspect noise.pth ;;
    convert_nan_weights)
      repeat_float '\000\000\300\177' 28 > nan.bin
      make_safetensors nan.safetensors '{"conv1_1.weight":{"dtype":"F32","shape":[1,3,3,3],"data_offsets":[0,108]},"conv1_1.bias":{"dtype":"F32","shape":[1],"data_offsets":[108,112]}}' nan.bin
      expect 1 'value_error.210.*conv1_1\.weight.*nan at element 0' no -- "$nst" weights convert nan.safetensors keep.png ;;
    valid_run_replaces_output)
      stylize > stdout.txt 2> stderr.txt || { cat stderr.txt; return 1; }
      if grep -q 'error' stderr.txt || cmp -s keep.png keep.expected || ! "$nst" stylize --content keep.png --style style.tga \
        --output copy.png --weights "$narrow" --image-size 32 --iterations 0 --print-every 0 2> /dev/null; then
        echo "FAIL: valid input did not give a readable new keep.png"; cat stderr.txt; return 1
      fi
      echo "ok: exit 0, keep.png replaced by the result" ;;
    zero_iterations_and_weights_are_valid)
      stylize --iterations 0 --content-weight 0 --style-weight 0 --tv-weight 0 > stdout.txt 2> stderr.txt ||
        { echo "FAIL: refused"; cat stderr.txt; return 1; }
      echo "ok: exit 0" ;;
    interrupted_run_writes_its_result)
      # SIGTERM: a shell script's background jobs ignore SIGINT, and nst leaves an ignored signal
      # ignored; Ctrl-C in a terminal takes the same path. stderr.txt is emptied first: the work
      # directory is kept between runs, and the wait below must not find the last run's progress
      # lines (it did once, and signalled nst before it was under way).
      : > stderr.txt
      "$nst" stylize --content content.tga --style style.tga --output keep.png --weights "$narrow" --image-size 32 \
        --iterations 1000000 --print-every 1 > stdout.txt 2> stderr.txt &
      local pid=$! waited=0 status
      until grep -q '^iteration 2/' stderr.txt; do  # the run is under way
        sleep 0.1
        waited=$((waited + 1))
        [ $waited -lt 600 ] || { kill -9 $pid; echo "FAIL: no progress in 60 s"; return 1; }
      done
      kill -TERM $pid
      for ((waited = 0; waited < 600; waited++)); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
      kill -0 $pid 2> /dev/null && { kill -9 $pid; echo "FAIL: still running 60 s after SIGTERM"; return 1; }
      wait $pid
      status=$?
      if [ $status -ne 143 ] || ! grep -q '^nst: stopped by signal 15 after iteration [0-9]* of 1000000$' stderr.txt ||
        cmp -s keep.png keep.expected || ! "$nst" stylize --content keep.png --style style.tga --output copy.png \
        --weights "$narrow" --image-size 32 --iterations 0 --print-every 0 2> /dev/null; then
        echo "FAIL: exit status $status; the result was not written"; tail -n 3 stderr.txt; return 1
      fi
      echo "ok: exit 143, $(grep '^nst: stopped' stderr.txt)" ;;
    *) echo "unknown case '$1'; cases: ${cases[*]}"; return 2 ;;
  esac
}

if [ $list_only -eq 1 ]; then
  echo "${cases[*]}"
  exit 0
fi
mkdir -p "$work" && cd "$work" || exit 2
make_inputs
if [ "$case_name" != all ]; then
  run_case "$case_name"
  exit $?
fi
failures=0
for c in "${cases[@]}"; do
  printf '%-32s ' "$c"
  run_case "$c" > case.log 2>&1
  status=$?
  if [ $status -eq 0 ]; then tail -n 1 case.log | cut -c1-110
  elif [ $status -eq $skip ]; then tail -n 1 case.log
  else echo "FAILED"; sed 's/^/    /' case.log; failures=$((failures + 1)); fi
done
echo "$failures of ${#cases[@]} cases failed"
[ $failures -eq 0 ]
