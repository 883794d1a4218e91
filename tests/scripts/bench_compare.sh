#!/usr/bin/env bash
# bench_compare.sh — scripts/bench-compare on tiny synthetic Google Benchmark
# JSON files (ctest scripts.bench_compare): verdicts, the repetition
# warning, the warnings for sides run differently (interleaved or not, on
# different CPUs),
# benchmarks in one file only, --json, --markdown, --fail-above and the exit
# codes (0 ok, 1 a regression beyond the gate, 2 trouble).
. "$(dirname "$0")/common.bash"
cmd=("$py" "$src/scripts/bench-compare")

# 5 repetitions a side: b is 20 % slower (every new value above every old:
# p = 0.0079), a is unchanged, c is 20 % faster; gone/fresh in one file only.
gen "$tmp/old.json" '{}' a=10,11,12,10.5,11.5 b=100,101,102,100.5,101.5 \
  c=50,51,52,50.5,51.5 gone=5,5,5,5,5
gen "$tmp/new.json" '{"git_commit": "bbbb222"}' a=10.2,11.1,11.9,10.4,11.6 \
  b=120,121,122,120.5,121.5 c=40,41,42,40.5,41.5 fresh=5,5,5,5,5
# 3 repetitions a side: even a doubling cannot reach p < 0.05.
gen "$tmp/old3.json" '{}' a=10,11,12 b=100,101,102
gen "$tmp/new3.json" '{"git_commit": "bbbb222"}' a=20,21,22 b=100,101,102

# 1. The table: verdicts, p, one-sided benchmarks, each side's context.
run table "$tmp/old.json" "$tmp/new.json"
cat "$tmp/table.out"
[ "$rc" -eq 0 ] || fail "plain comparison exited $rc, expected 0"
grep -Eq '^a .* same$' "$tmp/table.out" || fail "a is not 'same'"
grep -Eq '^b .*\+19\.8%  +0\.0079  slower$' "$tmp/table.out" ||
  fail "b is not 'slower' at +19.8%, p 0.0079"
grep -Eq '^c .*-19\.6%  +0\.0079  faster$' "$tmp/table.out" || fail "c is not 'faster'"
grep -q "^only in old ($tmp/old.json): gone$" "$tmp/table.out" ||
  fail "'gone' is not listed as only in old"
grep -q "^only in new ($tmp/new.json): fresh$" "$tmp/table.out" ||
  fail "'fresh' is not listed as only in new"
grep -q "git_commit aaaa111, compiler gcc 12.2.0, c_flags -O3 -DNDEBUG" \
  "$tmp/table.out" || fail "the old side's commit, compiler, flags are not shown"
grep -q "1 faster, 1 slower, 1 same, 0 inconclusive" "$tmp/table.out" ||
  fail "wrong summary counts"
[ ! -s "$tmp/table.err" ] || fail "warnings with 5 repetitions a side"

# 2. Three repetitions: never 'same', 'inconclusive (n=3)', and a warning.
run three "$tmp/old3.json" "$tmp/new3.json"
cat "$tmp/three.out" "$tmp/three.err"
[ "$rc" -eq 0 ] || fail "n=3 comparison exited $rc"
[ "$(grep -c 'inconclusive (n=3)$' "$tmp/three.out")" -eq 2 ] ||
  fail "both rows should be 'inconclusive (n=3)'"
if grep -Eq ' (same|slower)$' "$tmp/three.out"; then
  fail "a row with 3 repetitions got a verdict"
fi
grep -q "^bench-compare: warning: .*old3.json (old) has 3 repetitions.*below 5" \
  "$tmp/three.err" || fail "no warning below 5 repetitions"

# 3. The gate: b (+19.8 %, significant) fails at 10 %, passes at 25 %.
run gate10 "$tmp/old.json" "$tmp/new.json" --fail-above 10
[ "$rc" -eq 1 ] || fail "--fail-above 10 exited $rc, expected 1"
grep -q "^bench-compare: FAIL: 1 significantly slower by more than 10%: b$" \
  "$tmp/gate10.out" || fail "the gate's failure does not name b"
run gate25 "$tmp/old.json" "$tmp/new.json" --fail-above 25
[ "$rc" -eq 0 ] || fail "--fail-above 25 exited $rc, expected 0"
grep -q "^bench-compare: ok: nothing significantly slower by more than 25%" \
  "$tmp/gate25.out" || fail "no ok line from the gate"
# ... and an inconclusive +90 % never passes it: trouble (2), naming the fix,
run gate3 "$tmp/old3.json" "$tmp/new3.json" --fail-above 5
[ "$rc" -eq 2 ] || fail "an inconclusive row under the gate exited $rc, expected 2"
grep -q "inconclusive row(s): the gate cannot tell" "$tmp/gate3.err" ||
  fail "the gate does not say why an inconclusive row stops it"
# ... unless the caller accepts it, with a warning.
run gate3ok "$tmp/old3.json" "$tmp/new3.json" --fail-above 5 --allow-inconclusive
[ "$rc" -eq 0 ] || fail "--allow-inconclusive exited $rc, expected 0"
grep -q "inconclusive row(s) cannot fail the gate" "$tmp/gate3ok.err" ||
  fail "--allow-inconclusive does not warn that inconclusive rows cannot fail it"

# 4. --json: machine-readable, the same verdicts, the gate's result.
run json "$tmp/old.json" "$tmp/new.json" --json - --fail-above 10
[ "$rc" -eq 1 ] || fail "--json with the gate exited $rc, expected 1"
"$py" - "$tmp/json.out" <<'PY' || fail "the JSON output is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
v = {row["name"]: row["verdict"] for row in r["rows"]}
assert v == {"a": "same", "b": "slower", "c": "faster"}, v
assert r["only_in_old"] == ["gone"] and r["only_in_new"] == ["fresh"]
assert r["regressions_above"] == ["b"] and r["fail_above_percent"] == 10
assert r["new"]["context"]["git_commit"] == "bbbb222"
b = [row for row in r["rows"] if row["name"] == "b"][0]
assert abs(b["p"] - 0.007937) < 1e-5 and b["old_repetitions"] == 5, b
PY
run json3 "$tmp/old3.json" "$tmp/new3.json" --json "$tmp/c3.json"
"$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["counts"]["inconclusive"] == 2 and r["warnings"], r' \
  "$tmp/c3.json" || fail "--json FILE lacks the inconclusive count or warnings"
grep -q "inconclusive (n=3)" "$tmp/json3.out" || fail "--json FILE hid the table"

# 5. --markdown: a pull-request comment.
run mdown "$tmp/old.json" "$tmp/new.json" --markdown - --fail-above 10
[ "$rc" -eq 1 ] || fail "--markdown with the gate exited $rc"
grep -q '^### Benchmark comparison — \*\*FAIL\*\*' "$tmp/mdown.out" || fail "no title"
grep -q '^| b | 101.0 ns | 121.0 ns | +19.8% | 0.0079 | \*\*slower\*\* |$' \
  "$tmp/mdown.out" || fail "no markdown row for b"
grep -q '^Only in old: gone$' "$tmp/mdown.out" || fail "markdown lacks only-in-old"
grep -q '^| old | .*git_commit aaaa111' "$tmp/mdown.out" || fail "markdown lacks the commit"
if grep -q '^benchmark ' "$tmp/mdown.out"; then fail "--markdown - mixed in the text table"; fi
run md3 "$tmp/old3.json" "$tmp/new3.json" --markdown -
grep -q '^> \*\*Warning:\*\* .*3 repetitions' "$tmp/md3.out" ||
  fail "markdown lacks the repetition warning"

# 6. Trouble exits 2 with one line naming the fix.
printf 'not json' >"$tmp/bad.json"
echo '{"benchmarks": []}' >"$tmp/empty.json"
for args in "$tmp/bad.json $tmp/new.json" "$tmp/missing.json $tmp/new.json" \
  "$tmp/old.json $tmp/empty.json" "$tmp/old.json" \
  "$tmp/old.json $tmp/new.json --alpha 2" \
  "$tmp/old.json $tmp/new.json --fail-above -1" \
  "$tmp/old.json $tmp/new.json --filter (" \
  "$tmp/old.json $tmp/new.json --json - --markdown -" \
  "$tmp/old.json $tmp/new.json --json $tmp/no/such/dir/x.json" \
  "$tmp/old.json $tmp/new.json --bogus"; do
  # shellcheck disable=SC2086
  run trouble $args
  [ "$rc" -eq 2 ] || fail "'$args' exited $rc, expected 2"
  grep -q "^bench-compare: " "$tmp/trouble.err" || fail "'$args': no error line"
done
run filt "$tmp/old.json" "$tmp/new.json" --filter '^nothing$'
[ "$rc" -eq 2 ] && grep -q "no benchmark matching '^nothing\$' in common" "$tmp/filt.err" ||
  fail "a filter matching nothing is not reported (exit $rc)"

# 6b. Sides run differently (interleaved or back to back; a file without the
# key ran back to back) are warned about; sides run alike are not.
"$py" - "$tmp/new.json" "$tmp/new-il.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["context"]["interleaved"] = True
json.dump(d, open(sys.argv[2], "w"))
PY
run il "$tmp/old.json" "$tmp/new-il.json"
[ "$rc" -eq 0 ] || fail "interleaved against back to back exited $rc"
grep -q "^bench-compare: warning: the repetitions ran back to back in .*old.json (old) and interleaved in .*new-il.json (new)" \
  "$tmp/il.err" || fail "no warning for sides run differently"
grep -q "interleaved True" "$tmp/il.out" || fail "the table does not show the new side's interleaving"
run il2 "$tmp/new-il.json" "$tmp/new-il.json"
! grep -q "repetitions ran" "$tmp/il2.err" || fail "a warning for sides run alike"
run il3 "$tmp/new-il.json" "$tmp/old.json"
grep -q "^bench-compare: warning: the repetitions ran interleaved in .*new-il.json (old) and back to back in .*old.json (new)" \
  "$tmp/il3.err" || fail "no warning for sides run differently, the other way round"
# Google Benchmark's --benchmark_context writes strings: "false" is back to
# back (no warning against a file without the key), "true" interleaved.
for v in false true; do
  "$py" - "$tmp/new.json" "$tmp/new-$v.json" "$v" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["context"]["interleaved"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
done
run ilf "$tmp/old.json" "$tmp/new-false.json"
! grep -q "repetitions ran" "$tmp/ilf.err" || fail "the string 'false' taken for interleaved"
grep -q "interleaved False" "$tmp/ilf.out" || fail "the table does not show the string 'false' as judged"
run ilt "$tmp/old.json" "$tmp/new-true.json"
grep -q "repetitions ran back to back in .*old.json (old) and interleaved in .*new-true.json (new)" \
  "$tmp/ilt.err" || fail "the string 'true' not taken for interleaved"

# 6c. A side made in rounds (scripts/bench's default) says so in its
# context line; one without the key shows none.
gen "$tmp/rounds.json" '{"git_commit": "cccc333", "interleaved": true, "rounds": 5}' \
  a=10,11,12,10.5,11.5
run rounds "$tmp/old.json" "$tmp/rounds.json"
grep -q "git_commit cccc333, .*interleaved True, rounds 5" "$tmp/rounds.out" ||
  fail "the rounds of a side are not shown"
! grep -q "git_commit aaaa111.*rounds" "$tmp/rounds.out" || fail "rounds shown for a side without them"

# 6d. Sides made on different CPUs (scripts/bench's cpu_model) are warned
# about, and each side's model shown, quoted; the same model (spaces around
# it aside) is not; a model on one side only, and a different KEYGATE_CPU,
# get warnings of their own; control bytes are shown as '?'.
zen4='AMD EPYC (AuthenticAMD, family 25, model 17; offers sha_ni pclmulqdq avx2)'
zen5='AMD EPYC (AuthenticAMD, family 26, model 2; offers sha_ni pclmulqdq avx2)'
gen "$tmp/cpu4.json" "{\"cpu_model\": \"$zen4\"}" a=10,11,12,10.5,11.5
gen "$tmp/cpu4b.json" "{\"cpu_model\": \" $zen4 \"}" a=10,11,12,10.5,11.5
gen "$tmp/cpu4k.json" "{\"cpu_model\": \"$zen4\", \"keygate_cpu\": \"-sha\"}" a=10,11,12,10.5,11.5
gen "$tmp/cpu5.json" "{\"cpu_model\": \"$zen5\\u001b[2J\"}" a=10,11,12,10.5,11.5
run cpu "$tmp/cpu4.json" "$tmp/cpu5.json" --json "$tmp/cpu-res.json" --markdown "$tmp/cpu.md"
[ "$rc" -eq 0 ] || fail "different CPUs exited $rc (a warning, not trouble)"
grep -qF "bench-compare: warning: the two runs were made on different CPUs: $zen4 in $tmp/cpu4.json (old), $zen5?[2J in $tmp/cpu5.json (new)" \
  "$tmp/cpu.err" || fail "no warning for runs on different CPUs (or a control byte shown raw)"
grep -qF "cpu_model \"$zen4\"" "$tmp/cpu.out" || fail "the table does not show the old side's CPU"
grep -qF "cpu_model \"$zen5?[2J\"" "$tmp/cpu.out" || fail "the table does not show the new side's CPU"
"$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert any("different CPUs" in w for w in r["warnings"]) and r["old"]["context"]["cpu_model"].startswith("AMD EPYC"), r' \
  "$tmp/cpu-res.json" || fail "--json lacks the CPU warning or the model"
grep -q "different CPUs" "$tmp/cpu.md" || fail "--markdown lacks the CPU warning"
run cpusame "$tmp/cpu4.json" "$tmp/cpu4b.json"
[ ! -s "$tmp/cpusame.err" ] || fail "a warning for runs on one CPU: $(cat "$tmp/cpusame.err")"
run cpuone "$tmp/old.json" "$tmp/cpu4.json"
grep -qF "bench-compare: warning: $tmp/old.json (old) records no CPU model" "$tmp/cpuone.err" ||
  fail "no warning against a side without a CPU model"
! grep -q "different CPUs" "$tmp/cpuone.err" || fail "'different CPUs' against a side without a model"
run cpukg "$tmp/cpu4.json" "$tmp/cpu4k.json"
grep -qF "bench-compare: warning: KEYGATE_CPU was unset in $tmp/cpu4.json (old) and -sha in $tmp/cpu4k.json (new)" \
  "$tmp/cpukg.err" || fail "no warning for a different KEYGATE_CPU"
! grep -q "different CPUs" "$tmp/cpukg.err" || fail "KEYGATE_CPU taken for a different CPU"
grep -qF 'keygate_cpu "-sha"' "$tmp/cpukg.out" || fail "the table does not show KEYGATE_CPU"

# 7. --help: the whole text, exit 0.
run help --help
[ "$rc" -eq 0 ] || fail "--help exited $rc"
for w in --fail-above --markdown --json "inconclusive (n=N)" "Exit status"; do
  grep -q -- "$w" "$tmp/help.out" || fail "--help does not mention $w"
done

echo "bench_compare: ok"
