#!/usr/bin/env bash
# fuzz/run-bounded.sh — one bounded libFuzzer run, as ctest's fuzz.<target>.
#
#   run-bounded.sh BINARY TARGET SECONDS SOURCE_DIR RUN_DIR
#
# Fuzzes for SECONDS from the seed corpus SOURCE_DIR/corpus/TARGET (read
# only: new inputs go to RUN_DIR/TARGET/corpus, never into the source tree),
# with the target's .dict and .options. A crash, leak, timeout or
# out-of-memory fails the test and leaves the input in the one crash folder
# that scripts/fuzz uses too, RUN_DIR/../crashes/, as TARGET-crash-<sha1>
# (or leak-, timeout-, oom-), whose path is printed with the command that
# reproduces it.
set -euo pipefail
bin=$1 target=$2 seconds=$3 src=$4 run=$5

work="$run/$target"
crashes="$(dirname "$run")/crashes"
rm -rf "$work"
mkdir -p "$work/corpus" "$crashes"
# Inputs kept from earlier runs stay (nothing is deleted); this run's are
# the ones newer than the stamp.
touch "$work/stamp"

args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
      -print_final_stats=1 -artifact_prefix="$crashes/$target-")
if [ -f "$src/fuzz/$target.dict" ]; then
  args+=(-dict="$src/fuzz/$target.dict")
fi
max_len=$(sed -n 's/^max_len *= *\([0-9][0-9]*\).*/\1/p' \
  "$src/fuzz/$target.options" 2>/dev/null || true)
if [ -n "$max_len" ]; then
  args+=(-max_len="$max_len")
fi

rc=0
"$bin" "${args[@]}" "$work/corpus" "$src/corpus/$target" || rc=$?
shopt -s nullglob
found=()
for f in "$crashes/$target"-{crash,leak,timeout,oom}-*; do
  [ "$f" -nt "$work/stamp" ] && found+=("$f")
done
if [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
  echo "fuzz.$target: FAILED (exit $rc)"
  for f in "${found[@]}"; do
    echo "fuzz.$target: input kept at $f"
    echo "fuzz.$target: reproduce with: scripts/fuzz reproduce $target $f"
  done
  exit 1
fi
echo "fuzz.$target: ${seconds}s without a crash"
