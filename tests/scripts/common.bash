# common.bash — sourced by the tests of scripts/bench and bench-compare
# (tests/scripts/bench_*.sh; not named *.sh, so no test of its own). It
# sets $src (the source tree, KEYGATE_SRC), $py, a $tmp removed on exit,
# and defines:
#   fail MESSAGE...   "<test>: MESSAGE" on stderr, exit 1
#   run NAME ARGS...  "${cmd[@]}" ARGS (cmd: the sourcing test's command
#                     array), stdout to $tmp/NAME.out, stderr to
#                     $tmp/NAME.err, the exit code to $rc
#   gen OUT CONTEXT NAME=CPU,CPU,... ...
#                     a Google Benchmark JSON: one iteration run per value
#                     (repetition_index its position, wall time 1.1 x CPU)
#                     and a median aggregate per benchmark; CONTEXT is JSON
#                     merged over {"git_commit": "aaaa111", "compiler":
#                     "gcc 12.2.0", "c_flags": "-O3 -DNDEBUG"}
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
test_name=$(basename "$0" .sh)

fail() {
  echo "$test_name: $*" >&2
  exit 1
}

run() {
  local name=$1
  shift
  set +e
  "${cmd[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  set -e
}

gen() {
  "$py" - "$@" <<'PY'
import json, statistics, sys
out, extra, benches = sys.argv[1], json.loads(sys.argv[2]), []
for spec in sys.argv[3:]:
    name, vals = spec.split("=")
    vals = [float(v) for v in vals.split(",")]
    for i, v in enumerate(vals):
        benches.append({"name": name, "run_name": name, "run_type": "iteration",
                        "repetitions": len(vals), "repetition_index": i,
                        "iterations": 1000, "real_time": v * 1.1,
                        "cpu_time": v, "time_unit": "ns"})
    m = statistics.median(vals)
    benches.append({"name": name + "_median", "run_name": name,
                    "run_type": "aggregate", "aggregate_name": "median",
                    "real_time": m * 1.1, "cpu_time": m, "time_unit": "ns"})
ctx = {"git_commit": "aaaa111", "compiler": "gcc 12.2.0",
       "c_flags": "-O3 -DNDEBUG"}
ctx.update(extra)
json.dump({"context": ctx, "benchmarks": benches}, open(out, "w"))
PY
}
