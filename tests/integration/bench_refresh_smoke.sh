#!/usr/bin/env bash
# bench_refresh_smoke.sh — scripts/bench-refresh at tiny settings (2,000
# keys, 3 samples, 1 s runs, one reload) against this build's keygate serve:
# it runs every measurement, writes every one of them and a verdict into its
# JSON, agrees with its exit status, prints the table, and leaks no key. It
# does not assert that issue 13's targets are met (timing targets live in the
# benchmark, not in tests). Also: its usage errors and trouble exit 2; and a
# second, smaller run on a peppered store (--pepper-file: the store is made
# with the pepper, every command and keygate serve get it, valid keys are
# served), while a plain run ignores a KEYGATE_PEPPER_FILE in the
# environment.
# Needs the nginx module (registered with the server_* tests).
. "$(dirname "$0")/lib.sh"

: "${KEYGATE_SRC:?}" "${KEYGATE_BUILD:?}" "${KEYGATE_NGINX_MODULE:?}"
BENCH="$KEYGATE_SRC/scripts/bench-refresh"
export TMPDIR="$TMP"

# ---- usage and trouble: exit 2, one line naming the fix -----------------------
assert_exit 0 "--help" -- "$BENCH" --help
for opt in --keys --quick --build --samples --seconds --rounds --connections \
  --refresh --reloads --poll-ms --json --no-pin --commit --pepper-file; do
  assert_contains "$opt" "$(cat "$TMP/out")" "--help names $opt"
done
assert_exit 2 "--keys 0" -- "$BENCH" --keys 0
assert_exit 2 "--refresh 50ms" -- "$BENCH" --refresh 50ms
assert_contains "at least 100ms" "$(cat "$TMP/err")" "--refresh: the fix"
assert_exit 2 "an unknown option" -- "$BENCH" --frobnicate
assert_exit 2 "--build not a folder" -- "$BENCH" --build "$TMP/nowhere"
mkdir -p "$TMP/nomodule/bin"
ln -s "$KEYGATE" "$TMP/nomodule/bin/keygate"
assert_exit 2 "a build without the module" -- "$BENCH" --build "$TMP/nomodule" --json "$TMP/x.json"
assert_contains "nginx module was not built" "$(cat "$TMP/err")" "no module: named"
[ ! -e "$TMP/x.json" ] || kg_fail "trouble wrote a JSON file"
assert_exit 2 "--pepper-file not a file" -- "$BENCH" --pepper-file "$TMP/nowhere"
assert_contains "umask 077" "$(cat "$TMP/err")" "--pepper-file missing: the fix"
PEPPER=$TMP/pepper
(umask 077 && openssl rand -hex 32 >"$PEPPER")
cp "$PEPPER" "$TMP/open-pepper"
chmod 644 "$TMP/open-pepper"
assert_exit 2 "--pepper-file others may read" -- "$BENCH" --quick --keys 200 \
  --build "$KEYGATE_BUILD" --pepper-file "$TMP/open-pepper" --json "$TMP/x.json"
assert_contains "chmod 600" "$(cat "$TMP/err")" "a readable pepper: keygate's fix named"
[ ! -e "$TMP/x.json" ] || kg_fail "trouble wrote a JSON file"

# ---- a tiny real run ------------------------------------------------------------
# A pepper in the environment is not the benchmark's: the run stays plain.
rc=0
KEYGATE_PEPPER_FILE=$PEPPER "$BENCH" --quick --keys 2000 --samples 3 --seconds 1 --rounds 1 --reloads 1 \
  --refresh 200ms --build "$KEYGATE_BUILD" --json "$TMP/r.json" \
  >"$TMP/run.out" 2>"$TMP/run.err" || rc=$?
KG_ASSERTS=$((KG_ASSERTS + 1))
if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
  cat "$TMP/run.out" "$TMP/run.err" >&2
  kg_fail "bench-refresh exited $rc (trouble), want 0 or 1"
fi
OUT=$(cat "$TMP/run.out")
for row in "seed 2,000 keys" "start to listening" "memory a worker adds" \
  "created key visible, p99" "deleted key refused, p99" "flaps" \
  "rps with 1 change/s / without" "max latency with 1 change/s" \
  "mismatches + errors under load" "max latency across nginx -s reload" \
  "verdict: "; do
  assert_contains "$row" "$OUT" "the table has '$row'"
done
# Keys are never printed or written (masked hints only).
if grep -Eq 'sk_(live|test)_[A-Za-z0-9]{20}' "$TMP/run.out" "$TMP/run.err" "$TMP/r.json"; then
  kg_fail "a key reached bench-refresh's output or JSON"
fi
KG_ASSERTS=$((KG_ASSERTS + 1))
# Its temporary folder (store, key file, logs) is gone.
left=$(find "$TMP" -maxdepth 1 -name 'keygate-bench-refresh.*' | wc -l)
assert_eq 0 "$left" "the temporary folder was removed"

GIT=0
git -C "$KEYGATE_SRC" rev-parse HEAD >/dev/null 2>&1 && GIT=1
kg_json_checks "$TMP/r.json" "RC = $rc" "GIT = $GIT" \
  "num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)" <<'EOF'
schema ;; d["schema"] == "keygate-bench-refresh" and d["version"] == 1
the settings asked for ;; d["config"]["keys"] == 2000 and d["config"]["samples"] == 3 and d["config"]["seconds"] == 1 and d["config"]["refresh"] == "200ms" and d["config"]["workers"] == 2 ;; d["config"]
commit named (in a git checkout) ;; re.fullmatch("[0-9a-f]{40}", d["commit"]) is not None or not GIT ;; d["commit"]
seed: seconds and the population ;; num(d["seed"]["seconds"]) and d["seed"]["seconds"] > 0 and d["seed"]["valid"] + d["seed"]["expired"] + d["seed"]["deactivated"] == 2000 ;; d["seed"]
a plain store (the environment's pepper ignored) ;; d["seed"]["digest"] == "sha256" and d["config"]["peppered"] is False ;; d["seed"]
start: to listening ;; num(d["start"]["to_listening_s"]) and d["start"]["to_listening_s"] > 0 ;; d["start"]
start: memory of two workers ;; len(d["start"]["memory_at_start"]["workers"]) == 2
start: every worker served a valid key, after listening ;; num(d["start"]["to_every_worker_serving_s"]) and d["start"]["to_every_worker_serving_s"] >= d["start"]["to_listening_s"] ;; d["start"]
visibility: created, 3 samples, each timed ;; d["visibility"]["created"]["samples"] == 3 and len(d["visibility"]["created"]["each_all_s"]) == 3 and all(x is None or x > 0 for x in d["visibility"]["created"]["each_all_s"]) ;; d["visibility"]["created"]
visibility: deleted, 3 samples, each timed ;; d["visibility"]["deleted"]["samples"] == 3 and len(d["visibility"]["deleted"]["each_all_s"]) == 3 ;; d["visibility"]["deleted"]
visibility: p50/p99/max ;; all(k in d["visibility"][s]["all_workers_s"] for s in ("created", "deleted") for k in ("p50", "p99", "max"))
visibility: p99 a number unless a sample timed out ;; all(num(d["visibility"][s]["p99_all_s"]) or d["visibility"][s]["timed_out"] > 0 for s in ("created", "deleted")) ;; d["visibility"]
visibility: a deleted key answers invalid_api_key ;; d["visibility"]["deleted"]["codes"] == ["invalid_api_key"] ;; d["visibility"]["deleted"]["codes"]
visibility: flaps counted ;; isinstance(d["visibility"]["flaps"], int)
throughput: one run without, one with changes ;; [r["with_changes"] for r in d["throughput"]["runs"]] == [False, True] ;; d["throughput"]["runs"]
throughput: requests measured ;; all(r["requests"] > 0 and r["rps"] > 0 and r["max_ms"] > 0 for r in d["throughput"]["runs"])
throughput: the change loop wrote keys ;; d["throughput"]["changes"] >= 1 and d["throughput"]["change_failures"] == 0 ;; d["throughput"]
throughput: ratio and max latency ;; num(d["throughput"]["ratio"]) and num(d["throughput"]["max_ms_with"]) ;; d["throughput"]
memory: master and two workers after load ;; d["memory"]["master"]["vmrss_kib"] > 0 and len(d["memory"]["workers"]) == 2 and all(w["vmrss_kib"] > 0 and w["private_kib"] > 0 for w in d["memory"]["workers"]) ;; d["memory"]
memory: what a worker adds ;; d["memory"]["worker_adds_kib"] == max(w["private_kib"] for w in d["memory"]["workers"])
reload: one SIGHUP replaced the workers ;; d["reload"]["reloads"] == 1 and d["reload"]["reloads_that_replaced_the_workers"] == 1 ;; d["reload"]
reload: max latency measured ;; num(d["reload"]["max_ms"]) and d["reload"]["requests"] > 0 ;; d["reload"]
full load: the bulk key served by every worker ;; num(d["rebuild"]["visible_every_worker_s"]) and d["rebuild"]["bulk_keys"] == 25000 ;; d["rebuild"]
full load: the writer loaded the store whole (the step measures what it says) ;; d["rebuild"]["full_loads_logged"] >= 1 ;; d["rebuild"]["full_loads_logged"]
full load: load measured meanwhile ;; d["rebuild"]["requests"] > 0 and num(d["rebuild"]["max_ms"])
full load: memory after it, master and two workers ;; len(d["rebuild"]["memory_after"]["workers"]) == 2 and d["rebuild"]["memory_after"]["worker_adds_kib"] > 0 ;; d["rebuild"]["memory_after"]
every target judged ;; len(d["targets"]) == 10 and all(isinstance(t["met"], bool) and t["target"] for t in d["targets"]) ;; d["targets"]
a verdict that follows the targets ;; d["verdict"] == ("met" if all(t["met"] for t in d["targets"]) else "missed") ;; d["verdict"]
the exit status follows the verdict ;; RC == (0 if d["verdict"] == "met" else 1) ;; RC
EOF

# ---- the same on a peppered store (smaller: 2 samples, no full load) ------------
rc=0
"$BENCH" --quick --keys 2000 --samples 2 --seconds 1 --rounds 1 --reloads 1 \
  --bulk 1000 --refresh 200ms --build "$KEYGATE_BUILD" --json "$TMP/p.json" \
  --pepper-file "$PEPPER" >"$TMP/prun.out" 2>"$TMP/prun.err" || rc=$?
KG_ASSERTS=$((KG_ASSERTS + 1))
if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
  cat "$TMP/prun.out" "$TMP/prun.err" >&2
  kg_fail "bench-refresh --pepper-file exited $rc (trouble), want 0 or 1"
fi
assert_contains "2,000 keys (peppered store)" "$(cat "$TMP/prun.out")" \
  "the table says the store is peppered"
if grep -Eq 'sk_(live|test)_[A-Za-z0-9]{20}' "$TMP/prun.out" "$TMP/prun.err" "$TMP/p.json"; then
  kg_fail "a key reached bench-refresh's output or JSON (peppered run)"
fi
KG_ASSERTS=$((KG_ASSERTS + 1))
kg_json_checks "$TMP/p.json" "RC = $rc" \
  "num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)" <<'EOF'
a peppered store: its keys digested with HMAC-SHA-256 ;; d["seed"]["digest"] == "hmac-sha256" and d["config"]["peppered"] is True ;; d["seed"]
started on it ;; num(d["start"]["to_listening_s"]) and num(d["start"]["to_every_worker_serving_s"]) ;; d["start"]
created keys served by every worker ;; d["visibility"]["created"]["samples"] == 2 and all(num(x) for x in d["visibility"]["created"]["each_all_s"]) ;; d["visibility"]["created"]
deleted keys refused ;; d["visibility"]["deleted"]["codes"] == ["invalid_api_key"] ;; d["visibility"]["deleted"]
keygate load's answers verified: requests, no mismatch ;; all(r["requests"] > 0 for r in d["throughput"]["runs"]) and d["throughput"]["mismatches"] == 0 and d["throughput"]["change_failures"] == 0 ;; d["throughput"]
the bulk seed served by every worker ;; num(d["rebuild"]["visible_every_worker_s"]) and d["rebuild"]["bulk_keys"] == 1000 ;; d["rebuild"]
the exit status follows the verdict ;; RC == (0 if d["verdict"] == "met" else 1) ;; RC
EOF
kg_done
