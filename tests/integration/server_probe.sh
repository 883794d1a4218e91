#!/usr/bin/env bash
# server_probe.sh — `keygate probe` against the real thing: `keygate serve`
# over a store with one valid and one deactivated key. Every case passes,
# a key in the path included (the module hands the core the whole
# request-target, issue 12); GAPS below lists cases where pass and
# deviation are both accepted, and is empty. --only of every case exits
# 0; --only takes case and group names; --list names every case the JSON
# holds; the key can come from the environment; a key the server does not
# hold makes the valid cases deviate (exit 1); no full key appears in the
# probe's stdout, stderr or JSON, nor in the server's logs (the probe never
# puts the valid key into a URL).
#
# Named server_*.sh so ctest gives it KEYGATE_NGINX_MODULE. Environment:
# KEYGATE, KEYGATE_NGINX_MODULE.
set -euo pipefail
# shellcheck source=tests/integration/server_common.bash
. "$(dirname "$0")/server_common.bash"

GAPS=""

"$KEYGATE" accounts create acme --tier pro >/dev/null
new_key acme probe-valid | cut -f2 >"$T/valid.key"
new_key acme probe-expired >"$T/expired.tsv"
cut -f2 "$T/expired.tsv" >"$T/expired.key"
"$KEYGATE" keys deactivate "$(cut -f1 "$T/expired.tsv")" >/dev/null
# the key bodies (after sk_live_) to grep for; the key itself is never shown
sed 's/^sk_live_//' "$T/valid.key" "$T/expired.key" >"$T/bodies"
assert_eq 2 "$(grep -cE '^[A-Za-z0-9]{38}$' "$T/bodies")" "two key bodies to grep for"
start_serve
URL="http://127.0.0.1:$PORT/api/v1/iocs"

# probe NAME [options] — keygate probe at the reference API (at most 120 s);
# exit status in RC, output in $T/NAME.{out,err,json}.
probe() {
  local name=$1
  shift
  RC=0
  timeout 120 "$KEYGATE" probe "$URL" --json "$T/$name.json" "$@" \
    >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}

# pycheck FILE — assertions on the JSON report FILE, one a line on stdin:
# WHAT ;; COND (Python, d is the report). Each line counts as one.
pycheck() {
  local out n rc=0
  out=$(GAPS="$GAPS" python3 -c 'import json, os, sys
d = json.load(open(sys.argv[1]))
gaps = set(os.environ["GAPS"].split())
cases = {c["name"]: c for c in d["cases"]}
n = 0
for line in sys.stdin:
    if not line.strip():
        continue
    what, cond = [x.strip() for x in line.split(";;")]
    n += 1
    if not eval(cond):
        print("%d\n%s: %s is false" % (n, what, cond))
        sys.exit(1)
print(n)' "$1") || rc=$?
  n=$(printf '%s\n' "$out" | head -n 1)
  KG_ASSERTS=$((KG_ASSERTS + ${n:-0}))
  [ "$rc" -eq 0 ] || kg_fail "$(printf '%s\n' "$out" | tail -n +2)"
}

# assert_no_keys WHAT FILE... — no key body in FILEs (only the file named).
assert_no_keys() {
  local what=$1 f
  shift
  for f in "$@"; do
    KG_ASSERTS=$((KG_ASSERTS + 1))
    if grep -qF -f "$T/bodies" "$f"; then
      kg_fail "$what: a full key appears in $(basename "$f")"
    fi
  done
}

# ---- --list: every case, once ---------------------------------------------
assert_exit 0 "--list" -- "$KEYGATE" probe --list
grep -E '^[a-z0-9_]+ ' "$TMP/out" | cut -d' ' -f1 >"$T/list.names"
NCASES=$(wc -l <"$T/list.names")
[ "$NCASES" -ge 40 ] || kg_fail "--list names $NCASES cases, want >= 40"
assert_eq "$NCASES" "$(sort -u "$T/list.names" | wc -l)" "--list: names unique"
assert_eq "$NCASES" "$(grep -c '^    ' "$TMP/out")" "--list: a rationale per case"

# ---- the whole table, default interval -------------------------------------
probe all --key-file "$T/valid.key" --expired-key-file "$T/expired.key"
assert_contains "$NCASES cases:" "$(cat "$T/all.out")" "all: the summary line"
for c in $(cat "$T/list.names"); do
  verdict=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([c["verdict"] for c in d["cases"] if c["name"] == sys.argv[2]][0])' \
    "$T/all.json" "$c")
  case " $GAPS " in
  *" $c "*)
    KG_ASSERTS=$((KG_ASSERTS + 1))
    [ "$verdict" = pass ] || [ "$verdict" = deviation ] ||
      kg_fail "$c: verdict $verdict (a known gap: pass or deviation)"
    ;;
  *) assert_eq pass "$verdict" "$c: verdict ($(grep -A1 "^$c " "$T/all.out" | tail -n 1))" ;;
  esac
  assert_eq 1 "$(grep -c "^$c " "$T/all.out")" "$c: one table row"
done
pycheck "$T/all.json" <<EOF
every case in the JSON, in --list order ;; [c["name"] for c in d["cases"]] == open("$T/list.names").read().split()
schema named ;; d["schema"] == "keygate-probe v1"
summary adds up ;; d["summary"]["cases"] == len(d["cases"]) == d["summary"]["pass"] + d["summary"]["deviation"] + d["summary"]["skipped"]
nothing skipped with the expired key given ;; d["summary"]["skipped"] == 0
only known gaps deviate ;; all(c["verdict"] == "pass" or c["name"] in gaps for c in d["cases"])
keys shown as hints ;; d["key"].startswith("sk_live_****") and len(d["key"]) == 16 and d["expired_key"].startswith("sk_live_****")
every request case shows its request ;; all((c["request"] or "").startswith("GET ") for c in d["cases"] if c["group"] != "summary")
the valid key masked in requests ;; "Bearer sk_live_****" in cases["bearer_valid"]["request"]
the expired cases answered expired_api_key ;; cases["expired_bearer"]["got"] == cases["expired_x_api_key"]["got"] == "401 expired_api_key"
request ids of the answers are well shaped ;; all(c["request_id"].startswith("req_") for c in d["cases"] if c["group"] != "summary")
EOF
DEVIATIONS=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["summary"]["deviation"])' "$T/all.json")
assert_eq "$([ "$DEVIATIONS" -eq 0 ] && echo 0 || echo 1)" "$RC" "all: exit 0 iff nothing deviates"
assert_no_keys "all" "$T/all.out" "$T/all.err" "$T/all.json"

# ---- every case but the known gaps: exit 0 ----------------------------------
ONLY=$(grep -vxF -f <(tr ' ' '\n' <<<"$GAPS") "$T/list.names" | paste -sd, -)
probe clean --key-file "$T/valid.key" --expired-key-file "$T/expired.key" \
  --interval 0 --only "$ONLY"
assert_eq 0 "$RC" "every case outside the gaps: exit ($(head -c 300 "$T/clean.err"))"
assert_contains " 0 deviations, 0 skipped" "$(cat "$T/clean.out")" "clean: summary"
pycheck "$T/clean.json" <<EOF
--only keeps exactly the cases named ;; [c["name"] for c in d["cases"]] == "$ONLY".split(",")
all pass ;; all(c["verdict"] == "pass" for c in d["cases"])
EOF

# ---- --only: names and groups; skipped without the expired key -------------
probe some --key-file "$T/valid.key" --only no_key,bearer_valid --interval 0
assert_eq 0 "$RC" "--only two cases: exit"
pycheck "$T/some.json" <<'EOF'
two cases, in table order ;; [c["name"] for c in d["cases"]] == ["bearer_valid", "no_key"]
EOF
probe group --key-file "$T/valid.key" --only key --interval 0
assert_eq 0 "$RC" "--only key (a group), no expired key: exit"
pycheck "$T/group.json" <<'EOF'
the key group ;; all(c["group"] == "key" for c in d["cases"]) and len(d["cases"]) == 8
expired cases skipped with a reason ;; [c["verdict"] for c in d["cases"] if c["name"].startswith("expired_")] == ["skipped", "skipped"] and all("expired" in c["notes"] for c in d["cases"] if c["verdict"] == "skipped")
the others pass ;; all(c["verdict"] == "pass" for c in d["cases"] if not c["name"].startswith("expired_"))
summary counts the skips ;; d["summary"]["skipped"] == 2 and d["expired_key"] is None
EOF
assert_contains "expired_bearer" "$(cat "$T/group.out")" "group: the skipped case is in the table"

# ---- the key from the environment ------------------------------------------
RC=0
KEYGATE_PROBE_KEY=$(cat "$T/valid.key") timeout 60 "$KEYGATE" probe "$URL" \
  --only bearer_valid,x_api_key_valid --interval 0 >"$T/env.out" 2>"$T/env.err" || RC=$?
assert_eq 0 "$RC" "KEYGATE_PROBE_KEY: exit ($(head -c 300 "$T/env.err"))"
assert_no_keys "env" "$T/env.out" "$T/env.err"

# ---- a key the server does not hold: the valid cases deviate ---------------
KEYGATE_DB="$T/other.db" "$KEYGATE" accounts create other >/dev/null
KEYGATE_DB="$T/other.db" "$KEYGATE" keys create --account other --name k \
  --format tsv | cut -f2 >"$T/other.key"
probe wrong --key-file "$T/other.key" --only header --interval 0
assert_eq 1 "$RC" "a key the server lacks: exit"
pycheck "$T/wrong.json" <<'EOF'
bearer_valid deviates ;; cases["bearer_valid"]["verdict"] == "deviation" and cases["bearer_valid"]["got"] == "401 invalid_api_key"
no_key still passes ;; cases["no_key"]["verdict"] == "pass"
EOF

# ---- the server never saw the valid key in a URL ---------------------------
assert_no_keys "server logs" "$T"/logs/*.log

stop_serve
kg_done
