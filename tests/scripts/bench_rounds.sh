#!/usr/bin/env bash
# bench_rounds.sh KEYGATE_BENCH — keygate_bench's rounds (ctest bench.rounds):
# --kgb_rounds=3 --kgb_out=FILE runs every benchmark once a round, in a new
# random order each round, in one process, and writes one Google Benchmark
# JSON: one context, each benchmark's runs with repetition_index 0..2 (its
# round) and repetitions 3, no aggregates; and the flags' refusals (exit 2).
exe=${1:?usage: bench_rounds.sh KEYGATE_BENCH}
. "$(dirname "$0")/common.bash"

# Six cheap benchmarks: three rounds in one order by chance is 1 in 720^2.
filter='^(ct/eq32/(equal|differ_first_byte)|ct/memcmp/(equal|differ_first_byte)|ct/crypto_memcmp/(equal|differ_first_byte))$'
"$exe" --kgb_rounds=3 --kgb_out="$tmp/r.json" --benchmark_repetitions=1 \
  --benchmark_min_time=0.001 --benchmark_enable_random_interleaving=true \
  --benchmark_filter="$filter" >"$tmp/out" 2>"$tmp/err" ||
  fail "the rounds run exited $?: $(cat "$tmp/err")"
for r in 1 2 3; do
  grep -q "^keygate_bench: round $r of 3$" "$tmp/err" || fail "no 'round $r of 3' line"
done
[ "$(grep -c '^ct/eq32/equal ' "$tmp/out")" = 3 ] ||
  fail "the display does not show ct/eq32/equal once a round"

"$py" - "$tmp/r.json" <<'PY' || fail "the rounds' file is not what it should be"
import json, sys
d = json.load(open(sys.argv[1]))
assert "date" in d["context"] and "num_cpus" in d["context"], "no context"
runs = d["benchmarks"]
assert all(b["run_type"] == "iteration" for b in runs), "an aggregate in the file"
names = sorted({b["run_name"] for b in runs})
assert len(names) == 6, names
for n in names:
    idx = sorted(b["repetition_index"] for b in runs if b["run_name"] == n)
    assert idx == [0, 1, 2], (n, idx)
    assert all(b["repetitions"] == 3 for b in runs if b["run_name"] == n), n
# The file keeps the rounds in order, each a random order of all six.
orders = [[b["run_name"] for b in runs if b["repetition_index"] == r]
          for r in range(3)]
assert [runs[i]["repetition_index"] for i in range(len(runs))] == \
    sorted(b["repetition_index"] for b in runs), "rounds out of order"
assert all(sorted(o) == names for o in orders), orders
assert len({tuple(o) for o in orders}) > 1, ("one order every round", orders)
PY

# Two rounds of two repetitions: a benchmark's runs are 0..3 (round * 2 +
# its own), each marked of 4.
"$exe" --kgb_rounds=2 --kgb_out="$tmp/r22.json" --benchmark_repetitions=2 \
  --benchmark_min_time=0.001 --benchmark_enable_random_interleaving=true \
  --benchmark_filter='^ct/eq32/equal$' >/dev/null 2>"$tmp/err22" ||
  fail "2 rounds of 2 repetitions exited $?: $(cat "$tmp/err22")"
"$py" - "$tmp/r22.json" <<'PY' || fail "2 rounds of 2 repetitions: wrong indices"
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
assert sorted(b["repetition_index"] for b in runs) == [0, 1, 2, 3], runs
assert all(b["repetitions"] == 4 and b["run_type"] == "iteration" for b in runs)
PY

# The refusals: exit 2, saying why, and no file written.
expect2() {
  local why=$1
  shift
  set +e
  "$exe" "$@" --benchmark_filter="$filter" >/dev/null 2>"$tmp/e2"
  local rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "$* exited $rc, expected 2"
  grep -q -- "$why" "$tmp/e2" || fail "$* does not say '$why': $(cat "$tmp/e2")"
}
expect2 "needs --kgb_out" --kgb_rounds=3
expect2 "a count from 1 to 1000" --kgb_rounds=0 --kgb_out="$tmp/x.json"
expect2 "a count from 1 to 1000" --kgb_rounds=3x --kgb_out="$tmp/x.json"
expect2 "leave --benchmark_out (and BENCHMARK_OUT) out" --kgb_rounds=2 --kgb_out="$tmp/x.json" \
  --benchmark_out="$tmp/y.json"
expect2 "cannot write $tmp/no/x.json" --kgb_rounds=2 --kgb_out="$tmp/no/x.json"
# The aggregates-only flags would leave the rounds no runs to keep.
expect2 "leave the aggregates-only flags out" --kgb_rounds=2 \
  --kgb_out="$tmp/x.json" --benchmark_repetitions=2 \
  --benchmark_display_aggregates_only=true
expect2 "leave the aggregates-only flags out" --kgb_rounds=2 \
  --kgb_out="$tmp/x.json" --benchmark_report_aggregates_only
expect2 "runs nothing" --kgb_rounds=2 --kgb_out="$tmp/x.json" \
  --benchmark_list_tests=true
[ ! -e "$tmp/x.json" ] || fail "a refused run wrote its file"
# Google Benchmark takes BENCHMARK_OUT from the environment as well.
set +e
BENCHMARK_OUT="$tmp/env.json" "$exe" --kgb_rounds=2 --kgb_out="$tmp/x.json" \
  --benchmark_filter="$filter" >/dev/null 2>"$tmp/e2"
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "BENCHMARK_OUT" "$tmp/e2" || fail "BENCHMARK_OUT was not refused (rc $rc)"
[ ! -e "$tmp/env.json" ] && [ ! -e "$tmp/x.json" ] || fail "BENCHMARK_OUT's run wrote a file"
# A filter that matches nothing: no file at all (not half a JSON), exit 2.
set +e
"$exe" --kgb_rounds=2 --kgb_out="$tmp/none.json" --benchmark_filter='^nothing$' \
  >/dev/null 2>"$tmp/e3"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a filter matching nothing exited $rc, expected 2"
grep -q "no benchmark ran" "$tmp/e3" || fail "a filter matching nothing does not say so"
[ ! -e "$tmp/none.json" ] || fail "a filter matching nothing left a file"

echo "bench_rounds: ok"
