#!/usr/bin/env bash
# report_leak.sh — no key reaches an output of `keygate load`, `keygate
# probe` or `keygate report` beyond its masked form, whatever its
# encoding (SPEC §1.1: a key in the URL counts raw or percent-decoded): a
# target URL that carries a key percent-encoded (once, twice, its letters
# escaped), or a key body without its prefix as api_key/token, is refused
# by load and probe without a word of it; the same URLs in a result file
# are shown masked; load's table, stderr, JSON and HTML with a key-file key
# of no prefix shape in the URL, and every report subcommand (show in each
# format, merge, compare, html, check) of a result file crafted to hold
# such keys in every text field are searched for any 8 consecutive
# characters of the key body. A hit fails the test.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/report_common.bash
. "$(dirname "$0")/report_common.bash"

# A key the server never saw: 32 + 6 base62 characters after the prefix.
BODY=$(python3 -c 'import secrets, string
a = string.digits + string.ascii_letters
print("".join(secrets.choice(a) for _ in range(38)))')
# the key's body with every byte escaped (a key body hidden from a raw scan)
BODY_ESC=$(python3 -c 'import sys; print("".join("%%%02X" % ord(c) for c in sys.argv[1]))' "$BODY")

# holds_key FILE... — exit 1 when any FILE holds 8 consecutive characters
# of BODY (raw, or percent-decoded up to 8 times), naming where on stderr.
holds_key() {
  python3 - "$BODY" "$@" <<'PY'
import sys, urllib.parse
body, files = sys.argv[1], sys.argv[2:]
bad = []
for path in files:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        continue
    forms = [text]
    for _ in range(8):
        forms.append(urllib.parse.unquote(forms[-1]))
    for k in range(len(body) - 7):
        w = body[k:k + 8]
        if any(w in f for f in forms):
            line = next(l for f in forms for l in f.splitlines() if w in l)
            bad.append("%s: %s" % (path, line.replace(w, "<KEY BYTES>")[:200]))
            break
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# leak_scan WHAT FILE... — one assertion: no FILE holds the key.
leak_scan() {
  local what=$1
  shift
  KG_ASSERTS=$((KG_ASSERTS + 1))
  holds_key "$@" 2>"$TMP/leak.why" ||
    kg_assert_failed "$what: a key body reached the output: $(head -c 600 "$TMP/leak.why")"
}

fake_start A ok
BASE=${URL_A%/api/v1/iocs}

# ---- keygate load: the URL as given, in every output ------------------------
TARGETS=(
  "$URL_A?api_key=sk%5Flive%5F$BODY"
  "$URL_A?q=sk%5flive%5f$BODY&limit=1"
  "$URL_A?q=SK%255FLIVE%255F$BODY"
  "$URL_A?q=%73%6B%5F%6C%69%76%65%5F$BODY"
  "$URL_A?q=sk%25%35Flive%25%35F$BODY"
  "$BASE/api/v1/%73k_live_$BODY"
  "$URL_A?api_key=$BODY"
  "$URL_A?access_token=$BODY&x=1"
  "$URL_A?api%5Fkey=$BODY_ESC"
  "$URL_A?token=$BODY_ESC"
  "$URL_A?api_key==$BODY"
  "$URL_A?token=\"$BODY\""
  "$URL_A?key=+$BODY"
  "$URL_A?apikey=%22$BODY%22"
  "$URL_A?access_token=%3D$BODY"
  "$URL_A?api_key=%253D%2522$BODY"
  "$URL_A?api_key=&api_key==\"$BODY"
)
# Each is refused before anything is sent (review 96: they were sent, the
# key in every request line): exit 2, one line, no result, the key nowhere.
i=0
for url in "${TARGETS[@]}"; do
  i=$((i + 1))
  rc=0
  timeout 60 "$KEYGATE" load "$url" --keys "$KEYS" -d 300ms -c 2 \
    --json "$TMP/l$i.json" --html "$TMP/l$i.html" \
    >"$TMP/l$i.out" 2>"$TMP/l$i.err" || rc=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$rc" -ne 2 ] || [ -e "$TMP/l$i.json" ] || [ "$(wc -l <"$TMP/l$i.err")" -ne 1 ]; then
    kg_assert_failed "load #$i: exit $rc, want 2, one line and no result; $(head -c 300 "$TMP/l$i.err")"
  fi
  assert_contains "the URL holds an API key" "$(cat "$TMP/l$i.err")" "load #$i: refused, saying why"
  leak_scan "load #$i" "$TMP/l$i.out" "$TMP/l$i.err"
done
# A run on a clean URL: its result is the base of the crafted files below.
timeout 60 "$KEYGATE" load "$URL_A" --keys "$KEYS" -d 300ms -c 2 \
  --json "$TMP/l1.json" >"$TMP/l1.out" 2>"$TMP/l1.err" || true
KG_ASSERTS=$((KG_ASSERTS + 1))
[ -s "$TMP/l1.json" ] || kg_assert_failed "load on a clean URL wrote no result: $(head -c 300 "$TMP/l1.err")"
# What load refuses to send may still be in a result file (an older
# keygate's, an edited one): report shows its URL masked, in the form the
# standard names, the dressing of a dressed value kept.
url_as() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d["config"]["url"] = sys.argv[2]
json.dump(d, open(sys.argv[3], "w"))' "$TMP/l1.json" "$1" "$2"
}
url_as "${TARGETS[0]}" "$TMP/u1.json"
assert_exit 0 "report show of a URL key" -- "$KEYGATE" report show "$TMP/u1.json"
assert_contains "api_key=sk_live_****${BODY: -4}" "$(cat "$TMP/out")" "report show: the masked form"
leak_scan "report show of a URL key" "$TMP/out" "$TMP/err"
assert_exit 0 "report show json of a URL key" -- "$KEYGATE" report show "$TMP/u1.json" --format json
assert_eq "$URL_A?api_key=sk_live_****${BODY: -4}" "$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["config"]["url"])' "$TMP/out")" "report show json: config.url masked"
url_as "${TARGETS[10]}" "$TMP/u11.json"
assert_exit 0 "report show of api_key==" -- "$KEYGATE" report show "$TMP/u11.json"
assert_contains "api_key==****${BODY: -4}" "$(cat "$TMP/out")" "report show: api_key== masked"
leak_scan "report show of api_key==" "$TMP/out" "$TMP/err"

# ---- keygate load: a key of the file in the URL, whatever its prefix ---------
# (kg. has no prefix shape, acme_ is a second prefix of the file: the URL
# is refused by 8 characters of a key the run sends, raw or encoded;
# review 99 saw both sent)
printf 'valid\tkg.%s\n' "$BODY" >"$TMP/kg.tsv"
printf 'valid\tsk_live_%s\nvalid\tacme_%s\n' "$(printf 'Q%.0s' $(seq 38))" "$BODY" >"$TMP/acme.tsv"
KG_URLS=("$URL_A?q=kg.$BODY" "$URL_A?q=$BODY&limit=1" "$URL_A?q=kg%2E$BODY"
  "$URL_A?q=${BODY:3:20}" "$URL_A?q=${BODY_ESC:0:60}" "$BASE/x/acme_$BODY")
i=0
for url in "${KG_URLS[@]}"; do
  i=$((i + 1))
  file=$TMP/kg.tsv
  [ "$i" -eq 6 ] && file=$TMP/acme.tsv
  rc=0
  timeout 60 "$KEYGATE" load "$url" --keys "$file" -d 300ms -c 2 --mix valid=1,invalid=1,missing=1 \
    --json "$TMP/k$i.json" >"$TMP/k$i.out" 2>"$TMP/k$i.err" || rc=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$rc" -ne 2 ] || [ -e "$TMP/k$i.json" ]; then
    kg_assert_failed "load key-file key #$i: exit $rc, want 2 and no result; $(head -c 300 "$TMP/k$i.err")"
  fi
  assert_contains "the URL holds an API key" "$(cat "$TMP/k$i.err")" "load key-file key #$i: refused, saying why"
  leak_scan "load key-file key #$i" "$TMP/k$i.out" "$TMP/k$i.err"
done
# a word that runs into the prefix is no key: with 1,000 keys some body
# starts "e" or "ev", so 8-byte windows alone refused this (review 100)
"$KEYGATE" keys seed --valid 1000 --out "$TMP/k1000.tsv" >/dev/null
"$KEYGATE" load "$BASE/api/track_live_events" --keys "$TMP/k1000.tsv" -n 1 -c 1 \
  --mix valid=1 >"$TMP/tl.out" 2>"$TMP/tl.err" || true
assert_not_contains "holds an API key" "$(cat "$TMP/tl.err")" "track_live_events with 1,000 keys: not a key"
# a key of a class the run does not send, in the file's own prefix: refused
printf 'valid\tpk_live_%s\nexpired\tpk_live_Zz9yXw8vUt7sRq6pOn5m\n' "$BODY" >"$TMP/pk.tsv"
assert_exit 2 "load: an unsent key of the file's prefix" -- "$KEYGATE" load \
  "$BASE/x/pk_live_Zz9yXw8vUt7sRq6pOn5m" --keys "$TMP/pk.tsv" --mix valid=1 -n 1
assert_contains "the URL holds an API key" "$(cat "$TMP/err")" "load: an unsent key of the file's prefix: refused"
# a percent-encoded key piece after a long path (encoded_known reads 512
# bytes at a time)
PAD=$(printf 'a%.0s' $(seq 600))
assert_exit 2 "load: an encoded key after 600 bytes of path" -- "$KEYGATE" load \
  "$BASE/$PAD/${BODY_ESC:0:60}" --keys "$TMP/kg.tsv" --mix valid=1 -n 1
assert_contains "the URL holds an API key" "$(cat "$TMP/err")" "load: an encoded key after 600 bytes: refused"
# a prefix guessed from the file is not looked for alone when short: id_
# keys do not refuse ?sort=user_id_desc
printf 'valid\tid_%s\n' "$BODY" >"$TMP/id.tsv"
assert_exit 0 "load id_ keys, ?sort=user_id_desc" -- timeout 60 "$KEYGATE" load "$URL_A?sort=user_id_desc" \
  --keys "$TMP/id.tsv" -n 20 -c 1 --mix valid=1 --expect valid=401 # (the fake does not know them)

# ---- keygate load: a key typed into an option ---------------------------------
# the code --expect wants, echoed by every mismatch sample in each output
timeout 60 "$KEYGATE" load "$URL_A" --keys "$KEYS" -d 300ms -c 2 --mix invalid=1 \
  --expect "invalid=401:sk_live_$BODY" --json "$TMP/x.json" --html "$TMP/x.html" \
  >"$TMP/x.out" 2>"$TMP/x.err" || true
KG_ASSERTS=$((KG_ASSERTS + 1))
grep -q "want 401 sk_live_\*\*\*\*${BODY: -4}" "$TMP/x.out" ||
  kg_assert_failed "load --expect: no mismatch sample names the masked code: $(head -c 300 "$TMP/x.out" "$TMP/x.err")"
leak_scan "load --expect CLASS=STATUS:<key>" "$TMP/x.out" "$TMP/x.err" "$TMP/x.json" "$TMP/x.html"
timeout 60 "$KEYGATE" load "$URL_A" --keys "$KEYS" -d 300ms -c 2 --mix invalid=1 \
  --expect "invalid=401:$BODY" --json "$TMP/x2.json" --html "$TMP/x2.html" \
  >"$TMP/x2.out" 2>"$TMP/x2.err" || true
KG_ASSERTS=$((KG_ASSERTS + 1))
grep -q "want 401 \*\*\*\* (" "$TMP/x2.out" ||
  kg_assert_failed "load --expect <body>: no mismatch sample names the masked code: $(head -c 300 "$TMP/x2.out" "$TMP/x2.err")"
leak_scan "load --expect CLASS=STATUS:<body>" "$TMP/x2.out" "$TMP/x2.err" "$TMP/x2.json" "$TMP/x2.html"
# a bare body where a number, a duration, a mix or a threshold goes: refused,
# one line, the body masked
OPTS=("--seed=$BODY" "-d$BODY" "--mix=valid=$BODY" "--threshold=p99<5$BODY"
  "--expect=invalid=4$BODY" "--rate=$BODY" "--timeout=1$BODY" "--header=$BODY")
i=0
for opt in "${OPTS[@]}"; do
  i=$((i + 1))
  rc=0
  "$KEYGATE" load "$URL_A" --keys "$KEYS" "$opt" >"$TMP/o$i.out" 2>"$TMP/o$i.err" || rc=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$rc" -ne 2 ] || [ "$(wc -l <"$TMP/o$i.err")" -ne 1 ]; then
    kg_assert_failed "load ${opt%%=*}: exit $rc, want 2 and one line: $(head -c 300 "$TMP/o$i.err")"
  fi
  leak_scan "load ${opt%%=*} <body>" "$TMP/o$i.out" "$TMP/o$i.err"
done
"$KEYGATE" report check "$TMP/l1.json" --threshold "p99<5$BODY" \
  >"$TMP/rt.out" 2>"$TMP/rt.err" || true
KG_ASSERTS=$((KG_ASSERTS + 1))
[ -s "$TMP/rt.err" ] || kg_assert_failed "report check --threshold <body>: no message"
leak_scan "report check --threshold <body>" "$TMP/rt.out" "$TMP/rt.err"

# ---- keygate probe: a target URL holding a key is refused ---------------------
# a well-formed key (SPEC §1.2: its last 6 characters the CRC-32 of the rest)
python3 - "$TMP/valid.key" <<'PY'
import os, secrets, string, sys, zlib
a = string.digits + string.ascii_uppercase + string.ascii_lowercase
head = "sk_live_" + "".join(secrets.choice(a) for _ in range(32))
crc, tail = zlib.crc32(head.encode()), ""
for _ in range(6):
    crc, d = divmod(crc, 62)
    tail = a[d] + tail
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, (head + tail + "\n").encode())
PY
for i in 1 3 4; do
  rc=0
  timeout 60 "$KEYGATE" probe "${TARGETS[$((i - 1))]}" --key-file "$TMP/valid.key" \
    --interval 0 --only bearer_valid,no_key --json "$TMP/p$i.json" \
    >"$TMP/p$i.out" 2>"$TMP/p$i.err" || rc=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$rc" -ne 2 ] || [ -e "$TMP/p$i.json" ]; then
    kg_assert_failed "probe #$i: exit $rc, want 2 and no report: $(head -c 300 "$TMP/p$i.err")"
  fi
  assert_contains "the URL holds an API key" "$(cat "$TMP/p$i.err")" "probe #$i: refused, saying why"
  leak_scan "probe #$i" "$TMP/p$i.out" "$TMP/p$i.err"
done

# ---- keygate report: a file whose every text holds a key -----------------------
python3 - "$TMP/l1.json" "$TMP/craft.json" "$BODY" "$BODY_ESC" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
body, esc = sys.argv[3], sys.argv[4]
forms = ["sk%5Flive%5F" + body, "sk%255Flive%255F" + body, "%73k_live_" + body,
         "sk_live_" + esc, "SK%5FLIVE%5F" + body, "?api_key==" + body,
         '?token="' + body + '"', "?key=%3D" + body]
# a sample's key is a hint whatever it holds: a key of no known prefix
# shape, a bare body, a hint with more than four characters shown
keys_only = ["kg." + body, body, "sk_live_" + body[:12] + "****",
             body[:10] + "_****" + body[-4:]]
d["config"]["url"] = "http://127.0.0.1:1/v1?api_key=sk%5Flive%5F" + body + \
    "&token=" + body + "&q=%73k_live_" + body + "&api_key==" + body + \
    '&token="' + body + '"'
for t in d.get("thresholds") or []:
    t["expr"] = "valid.p99<5ms?api_key==" + body
d["config"]["method"] = "GET"
samples = d.get("samples") or []
base = {"class": "invalid", "kinds": ["code"], "status": 401,
        "expected_status": 401, "expected_code": "invalid_api_key",
        "code": "x", "request_id": "req_AbCdEfGhIjKlMnOpQrStUvWx",
        "key": "sk_live_****Ab3x", "detail": ""}
samples = [dict(samples[0]) if samples else dict(base) for _ in forms]
for s, f in zip(samples, forms):
    s["code"] = f[:60]
    s["expected_code"] = f[:60]
    s["detail"] = "got " + f + " in the body, ?api_key=" + body
    s["request_id"] = f[:39]
    s["key"] = f
for s, f in zip(samples, keys_only):
    s["key"] = f
d["samples"] = samples
json.dump(d, open(sys.argv[2], "w"))
PY
# the scan itself: it finds the key in the crafted file, every form of it
KG_ASSERTS=$((KG_ASSERTS + 1))
! holds_key "$TMP/craft.json" 2>/dev/null ||
  kg_assert_failed "holds_key does not see the key in the crafted file: the test tests nothing"
for form in "sk%5Flive%5F$BODY" "sk%255Flive%255F$BODY" "sk_live_$BODY_ESC" "token=$BODY"; do
  printf '%s\n' "$form" >"$TMP/form.txt"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  ! holds_key "$TMP/form.txt" 2>/dev/null || kg_assert_failed "holds_key misses $form"
done

for sub in "show" "show --format markdown" "show --format json" "check"; do
  # shellcheck disable=SC2086
  "$KEYGATE" report $sub "$TMP/craft.json" >"$TMP/r.out" 2>"$TMP/r.err" || true
  KG_ASSERTS=$((KG_ASSERTS + 1))
  [ -s "$TMP/r.out" ] || [ -s "$TMP/r.err" ] || kg_assert_failed "report $sub: no output"
  leak_scan "report $sub" "$TMP/r.out" "$TMP/r.err"
done
"$KEYGATE" report merge "$TMP/craft.json" "$TMP/craft.json" --out "$TMP/rm.json" \
  >"$TMP/rm.out" 2>"$TMP/rm.err" || true
"$KEYGATE" report merge "$TMP/craft.json" "$TMP/craft.json" \
  >"$TMP/rm2.out" 2>"$TMP/rm2.err" || true
leak_scan "report merge" "$TMP/rm.json" "$TMP/rm.out" "$TMP/rm.err" "$TMP/rm2.out" "$TMP/rm2.err"
for f in table markdown json; do
  "$KEYGATE" report compare "$TMP/u1.json" "$TMP/craft.json" --format $f \
    >"$TMP/rc.out" 2>"$TMP/rc.err" || true
  KG_ASSERTS=$((KG_ASSERTS + 1))
  [ -s "$TMP/rc.out" ] || kg_assert_failed "report compare --format $f: no output ($(head -c 200 "$TMP/rc.err"))"
  leak_scan "report compare --format $f" "$TMP/rc.out" "$TMP/rc.err"
done
"$KEYGATE" report html "$TMP/craft.json" "$TMP/u1.json" --out "$TMP/rh.html" \
  >"$TMP/rh.out" 2>"$TMP/rh.err" || true
KG_ASSERTS=$((KG_ASSERTS + 1))
[ -s "$TMP/rh.html" ] || kg_assert_failed "report html: no page ($(head -c 200 "$TMP/rh.err"))"
leak_scan "report html" "$TMP/rh.html" "$TMP/rh.out" "$TMP/rh.err"

kg_done
