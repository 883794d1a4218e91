#!/usr/bin/env bash
# bench_report.sh — scripts/bench --report on tiny synthetic Google Benchmark
# JSON files (ctest scripts.bench_report): SPEC §4's verdicts from the
# medians (1.5x bare SHA-256 up to 10,000 keys; 1.5x + one chase above,
# against the cheaper chase), the round-by-round view of the 1M/10M rows
# (only for interleaved repetitions), and an unreadable file (exit 2).
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
bench=("$py" "$src/scripts/bench")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "bench_report: $*" >&2
  exit 1
}

# gen OUT INTERLEAVED NAME=CPU,CPU,... ...: one iteration run per value
# (repetition_index = its position) plus the median aggregate.
gen() {
  "$py" - "$@" <<'PY'
import json, statistics, sys
out, inter, benches = sys.argv[1], sys.argv[2], []
for spec in sys.argv[3:]:
    name, vals = spec.split("=")
    vals = [float(v) for v in vals.split(",")]
    for i, v in enumerate(vals):
        benches.append({"name": name, "run_name": name, "run_type": "iteration",
                        "repetitions": len(vals), "repetition_index": i,
                        "iterations": 1000, "real_time": v, "cpu_time": v,
                        "time_unit": "ns"})
    m = statistics.median(vals)
    benches.append({"name": name + "_median", "run_name": name,
                    "run_type": "aggregate", "aggregate_name": "median",
                    "real_time": m, "cpu_time": m, "time_unit": "ns"})
ctx = {"git_commit": "aaaa111"}
if inter != "absent":
    ctx["interleaved"] = {"true": True, "false": False}.get(inter, inter)
json.dump({"context": ctx, "benchmarks": benches}, open(out, "w"))
PY
}

# The bare SHA-256 is 50 ns in every round: 1.5x is 75 ns. The huge-page
# chase (200 ns a round) is cheaper than the 4 KiB one (400), so it is the
# yardstick: 1.5x + chase = 275 ns.
# - api_bearer at 50 keys: 70 ns (1.40x, meets); at 10,000: 80 (1.60x,
#   MISSES).
# - api_bearer at 10,000,000 keys: rounds 255, 265, 270, 290, 300 ns, the
#   median 270 (meets: excess 195 ns = 0.97 chase); round by round 0.90,
#   0.95, 0.97, 1.07, 1.12: under one chase in 3 of 5.
# - browser_xkey at 10,000,000: median 300 (MISSES, 1.12 chase).
rows=(openssl/sha256_bare=50,50,50,50,50
  context/pointer_chase/MiB:1024=400,400,400,400,400
  context/pointer_chase_hugepages/MiB:1024=200,200,200,200,200
  decide/api_bearer/valid/keys:50=70,70,70,70,70
  decide/api_bearer/valid/keys:10000=80,80,80,80,80
  decide/api_bearer/valid/keys:10000000=255,265,270,290,300
  decide/browser_xkey/valid/keys:10000000=300,300,300,300,300)
gen "$tmp/inter.json" true "${rows[@]}"
gen "$tmp/b2b.json" false "${rows[@]}"
gen "$tmp/old.json" absent "${rows[@]}"
gen "$tmp/str.json" "false" "${rows[@]}"

# run NAME ARGS...: stdout to NAME.out, stderr to NAME.err, exit code to $rc.
run() {
  local name=$1
  shift
  set +e
  "${bench[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  set -e
}

# 1. The medians' verdicts.
run inter --report "$tmp/inter.json"
cat "$tmp/inter.out"
[ "$rc" -eq 0 ] || fail "--report exited $rc"
grep -q "the 1M/10M rows use the cheaper: 200.0 ns" "$tmp/inter.out" ||
  fail "the cheaper chase is not the yardstick"
grep -Eq '^  api_bearer +50 +70\.0 ns +1\.40x +<= 1\.5x +meets' "$tmp/inter.out" ||
  fail "api_bearer at 50 keys is not 1.40x, meets"
grep -Eq '^  api_bearer +10,000 +80\.0 ns +1\.60x +<= 1\.5x +MISSES' "$tmp/inter.out" ||
  fail "api_bearer at 10,000 keys is not 1.60x, MISSES"
grep -Eq '^  api_bearer +10,000,000 +270\.0 ns .*1\.5x \+ chase = 275 ns +meets \(excess 0\.97 chase\)' \
  "$tmp/inter.out" || fail "api_bearer at 10,000,000 keys does not meet at 0.97 chase"
grep -Eq '^  browser_xkey +10,000,000 +300\.0 ns .*MISSES \(excess 1\.12 chase\)' \
  "$tmp/inter.out" || fail "browser_xkey at 10,000,000 keys does not miss at 1.12 chase"

# 2. Interleaved: each round's own excess, and how many are under one
# chase; the median verdict meets, the rounds say it is on the line.
grep -q "round by round" "$tmp/inter.out" || fail "no round-by-round view of an interleaved run"
grep -Eq '^  api_bearer +10,000,000 +0\.90 +0\.95 +0\.97 +1\.07 +1\.12 +3 of 5$' \
  "$tmp/inter.out" || fail "api_bearer's rounds are not 0.90 0.95 0.97 1.07 1.12, 3 of 5"
grep -Eq '^  browser_xkey +10,000,000 +1\.12 +1\.12 +1\.12 +1\.12 +1\.12 +0 of 5$' \
  "$tmp/inter.out" || fail "browser_xkey's rounds are not 1.12 x5, 0 of 5"
if grep -Eq '^  api_bearer +10,000 .*of 5' "$tmp/inter.out"; then
  fail "a row of up to 10,000 keys in the round-by-round view"
fi

# 3. Back to back (false, the string "false", or no key at all: a file
# from before scripts/bench interleaved): round r of two benchmarks ran
# minutes apart, so there is no round-by-round view.
for f in b2b str old; do
  run "$f" --report "$tmp/$f.json"
  [ "$rc" -eq 0 ] || fail "--report of $f exited $rc"
  grep -Eq 'meets \(excess 0\.97 chase\)' "$tmp/$f.out" || fail "$f: no median verdict"
  if grep -q "round by round" "$tmp/$f.out"; then
    fail "$f: a round-by-round view of repetitions not interleaved"
  fi
done

# 4. A file that is not JSON: exit 2, named.
echo '{"benchmarks": [' >"$tmp/broken.json"
run broken --report "$tmp/broken.json"
[ "$rc" -eq 2 ] || fail "a broken file exited $rc, expected 2"
grep -q "cannot read $tmp/broken.json" "$tmp/broken.err" || fail "the broken file is not named"

echo "bench_report: ok"
