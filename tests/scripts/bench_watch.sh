#!/usr/bin/env bash
# bench_watch.sh KEYGATE_BENCH — the core watched in the realistic heads'
# decisions and the bare SHA-256 (ctest bench.watch, bench/watch.h): a
# watched run (decisions up to 10,000 keys) reports sensor_ns (the
# sensor's fastest reading), quiet_share (the
# share of slices between two quiet readings) and quiet_ns (their median
# time, present exactly when that share is not 0); the valid and unknown
# decisions alike; each checked its answers (a wrong one is an error). And
# head/paired's counters, where picohttpparser is linked, and
# context/decide_paired's.
exe=${1:?usage: bench_watch.sh KEYGATE_BENCH}
. "$(dirname "$0")/common.bash"

"$exe" --benchmark_filter='^(decide/api_bearer/(valid|unknown)/keys:(1|50)|openssl/sha256_bare)$' \
  --benchmark_min_time=0.05 --benchmark_format=json >"$tmp/w.json" 2>"$tmp/err" ||
  fail "the run exited $?: $(cat "$tmp/err")"

"$py" - "$tmp/w.json" <<'PY' || fail "the watch's counters are not what they should be"
import json, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("run_type") == "iteration"]
names = sorted(b["run_name"] for b in runs)
assert names == ["decide/api_bearer/unknown/keys:1",
                 "decide/api_bearer/unknown/keys:50",
                 "decide/api_bearer/valid/keys:1",
                 "decide/api_bearer/valid/keys:50",
                 "openssl/sha256_bare"], names
for b in runs:
    assert not b.get("error_occurred"), (b["run_name"], b.get("error_message"))
    s, share = b.get("sensor_ns"), b.get("quiet_share")
    assert isinstance(s, (int, float)) and s > 0, (b["run_name"], s)
    assert isinstance(share, (int, float)) and 0 <= share <= 1, (b["run_name"], share)
    # at least one slice: 4,096 decisions in 0.05 s
    assert b["iterations"] >= 4096, (b["run_name"], b["iterations"])
    q = b.get("quiet_ns")
    assert (q is not None) == (share > 0), (b["run_name"], q, share)
    if q is not None:
        # an operation of a slice: more than a nanosecond, not absurdly long
        assert 1 < q < 1e6, (b["run_name"], s, q)
# one sensor, the same work, in every watched benchmark: its fastest
# readings agree within a factor that only a busy core would reach
fast = [b["sensor_ns"] for b in runs]
assert max(fast) < 3 * min(fast), fast
PY
# head/paired (when picohttpparser is linked): both parsers side by side,
# each iteration a slice of each; its counters are the slices' medians and
# the median of their ratios, all positive.
if "$exe" --benchmark_list_tests | grep -qx 'head/paired/api_bearer'; then
  "$exe" --benchmark_filter='^head/paired/api_bearer$' --benchmark_min_time=0.02 \
    --benchmark_format=json >"$tmp/p.json" 2>"$tmp/err" ||
    fail "the paired run exited $?: $(cat "$tmp/err")"
  "$py" - "$tmp/p.json" <<'PY' || fail "head/paired's counters are not what they should be"
import json, sys
(b,) = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("run_type") == "iteration"]
assert not b.get("error_occurred"), b.get("error_message")
for c in ("kg_ns", "pico_ns", "kg_over_pico"):
    assert isinstance(b.get(c), (int, float)) and b[c] > 0, (c, b.get(c))
assert b["head_bytes"] == 252, b["head_bytes"]
# a parse of 252 bytes: more than a nanosecond, less than a millisecond
assert 1 < b["kg_ns"] < 1e6 and 1 < b["pico_ns"] < 1e6, b
PY
fi
# context/decide_paired: the valid and unknown decisions side by side at
# 10,000 keys, each iteration a slice of each; its counters are the
# slices' medians and the median of their ratios, all positive, and the
# ratio is the medians' within what the medians of ratios can differ by.
# Each decision is checked (a wrong one is an error).
"$exe" --benchmark_filter='^context/decide_paired/api_xkey/keys:10000$' \
  --benchmark_min_time=0.02 --benchmark_format=json >"$tmp/d.json" 2>"$tmp/err" ||
  fail "the paired decisions' run exited $?: $(cat "$tmp/err")"
"$py" - "$tmp/d.json" <<'PY' || fail "context/decide_paired's counters are not what they should be"
import json, sys
(b,) = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("run_type") == "iteration"]
assert not b.get("error_occurred"), b.get("error_message")
for c in ("valid_ns", "unknown_ns", "unknown_over_valid"):
    assert isinstance(b.get(c), (int, float)) and b[c] > 0, (c, b.get(c))
assert 1 < b["valid_ns"] < 1e6 and 1 < b["unknown_ns"] < 1e6, b
r = b["unknown_ns"] / b["valid_ns"]
assert 0.5 < b["unknown_over_valid"] / r < 2, (b["unknown_over_valid"], r)
PY
echo "bench_watch: ok"
