#!/usr/bin/env bash
# nst beside PyTorch on the same workload: runs nst_bench and torch_reference.py interleaved
# (for each size and thread count: nst, then torch; the whole sweep NST_BENCH_ROUNDS times) and
# prints, per case, the fastest time and peak RSS of each and the ratios nst/torch.
#
#   bench/run.sh                     # sizes 256,512, threads 1,2, every case
#   bench/run.sh --large             # adds 1024
#   NST_BENCH_ROUNDS=3 bench/run.sh --cases network,iteration
#   NST_BENCH_SIZES=512 NST_BENCH_THREADS=2,1 NST_BENCH_ROUNDS=1 bench/run.sh --cases iteration --reps 3
#                                    # the short check: one iteration case, a few minutes
#
# Environment: NST_BENCH_BUILD (build dir holding bin/nst_bench, default ./build), NST_BENCH_ROUNDS
# (default 2), NST_BENCH_SIZES (default 256,512), NST_BENCH_THREADS (default 1,2),
# NST_BENCH_NST_ARGS (arguments for nst_bench alone, e.g. "--algorithm im2col"). Other arguments
# go to both programs (--reps, --budget, --cases, --filter). PyTorch runs at its best here:
# tcmalloc preloaded and the OpenBLAS hints of this machine's environment unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${NST_BENCH_BUILD:-$here/../build}
rounds=${NST_BENCH_ROUNDS:-2}
sizes=${NST_BENCH_SIZES:-256,512}
threads=${NST_BENCH_THREADS:-1,2}
args=()
for a in "$@"; do
  if [[ $a == --large ]]; then sizes="$sizes,1024"; else args+=("$a"); fi
done
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
preload=()
[[ -e $tcmalloc ]] && preload=(LD_PRELOAD=$tcmalloc)
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
for round in $(seq 1 "$rounds"); do
  for size in ${sizes//,/ }; do
    for t in ${threads//,/ }; do
      echo "round $round: size $size, $t threads" >&2
      # shellcheck disable=SC2086  # NST_BENCH_NST_ARGS is a list of words
      "$build/bin/nst_bench" --sizes "$size" --threads "$t" ${NST_BENCH_NST_ARGS:-} "${args[@]}" |
        grep '^{' >> "$log/results.jsonl"
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${preload[@]}" /usr/bin/python3 "$here/torch_reference.py" \
        --sizes "$size" --threads "$t" "${args[@]}" | grep '^{' >> "$log/results.jsonl"
    done
  done
done
/usr/bin/python3 "$here/compare.py" "$log/results.jsonl"
