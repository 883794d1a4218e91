#!/usr/bin/env bash
# probe_cli.sh — `keygate probe`'s command line: --list without a target,
# usage errors (one line, exit 2, never the key), an unreachable target
# (exit 2, no --json file left), every case selected skipped (exit 2:
# nothing was checked), and a target that speaks only HTTP/2 (a fake h2c server that
# answers with a SETTINGS frame): every case skipped with the reason, exit
# 2, since nothing could be checked.
#
# Environment: KEYGATE.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
K=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk # a test key, in no store
printf '%s\n' "$K" >"$TMP/key"
P=$(kg_free_port) # nothing listens there
URL="http://127.0.0.1:$P/api/v1/iocs"

# usage_error WHAT NEEDLE -- ARGS... — exit 2, one line naming NEEDLE, no key.
usage_error() {
  local what=$1 needle=$2
  shift 3
  assert_exit 2 "$what" -- "$KEYGATE" probe "$@"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one line"
  assert_contains "$needle" "$(cat "$TMP/err")" "$what: says why"
  assert_not_contains "${K#sk_live_}" "$(cat "$TMP/out" "$TMP/err")" "$what: no key"
}

assert_exit 0 "--help" -- "$KEYGATE" probe --help
assert_contains "--key-file FILE" "$(cat "$TMP/out")" "--help names --key-file"
assert_exit 0 "--list" -- "$KEYGATE" probe --list
assert_contains "bearer_tab" "$(cat "$TMP/out")" "--list names bearer_tab"
assert_contains "(RFC 9110 §11.4)" "$(cat "$TMP/out")" "--list cites the RFC"
assert_exit 0 "--list --only" -- "$KEYGATE" probe --list --only url,no_key
assert_eq 19 "$(grep -cE '^[a-z]' "$TMP/out")" "--list --only: the url group and no_key"

usage_error "no URL" "give the URL" -- --key-file "$TMP/key"
usage_error "two URLs" "one URL only" -- "$URL" "$URL" --key-file "$TMP/key"
usage_error "no key" "give a valid key" -- "$URL"
usage_error "unknown case" "'nope' is no case or group" -- "$URL" --key-file "$TMP/key" --only no_key,nope
usage_error "key file missing" "$TMP/absent" -- "$URL" --key-file "$TMP/absent"
# a key as a flag and as a file is refused naming both (it was "give --key
# once", for a --key given once); a repeated option overrides the one
# before it, as every option does (docs/cli.md)
usage_error "key file and key" "--key and --key-file both give the valid key" -- \
  "$URL" --key-file "$TMP/key" --key "$K"
usage_error "key and key file" "--key and --key-file both give the valid key" -- \
  "$URL" --key "$K" --key-file "$TMP/key"
usage_error "expired key file and key" "--expired-key and --expired-key-file both give the expired key" -- \
  "$URL" --key-file "$TMP/key" --expired-key-file "$TMP/key" --expired-key "$K"
usage_error "key file twice: the later one read" "cannot reach 127.0.0.1:$P" -- \
  "$URL" --key-file "$TMP/absent" --key-file "$TMP/key" --timeout 2s
usage_error "key twice: the later one read" "cannot reach 127.0.0.1:$P" -- \
  "$URL" --key "${K%k}j" --key "$K" --timeout 2s
usage_error "key file a directory" "--key-file $TMP is a directory; give the file that holds the key" -- \
  "$URL" --key-file "$TMP"
usage_error "wrong prefix" "does not start with the prefix sk_test_" -- "$URL" --key-file "$TMP/key" --prefix sk_test_
usage_error "bad prefix" "the prefix must be" -- "$URL" --key-file "$TMP/key" --prefix 'sk live'
usage_error "expired is valid" "the expired key is the valid key" -- "$URL" --key-file "$TMP/key" --expired-key-file "$TMP/key"
usage_error "bad interval" "--interval '5'" -- "$URL" --key-file "$TMP/key" --interval 5
usage_error "insecure and cacert" "exclude each other" -- "$URL" --key-file "$TMP/key" -k --cacert /dev/null
usage_error "bad URL" "http:// or https://" -- "ftp://x/" --key-file "$TMP/key"
usage_error "unknown option" "--nope" -- "$URL" --key-file "$TMP/key" --nope
printf 'sk_live_abcdefgh ijklmnop\n' >"$TMP/badkey"
usage_error "key with a space" "a byte a key cannot hold" -- "$URL" --key-file "$TMP/badkey"
# a key file is read as bytes, as `keygate load` reads its: a NUL after
# the key is refused (it was cut there and the key before it taken, with
# or without a line end after it), and a byte-order mark is named (it
# was "a byte a key cannot hold ... check for quotes or spaces")
printf '%s\0junk\n' "$K" >"$TMP/nulkey"
usage_error "NUL after the key" "a NUL byte in the first line" -- "$URL" --key-file "$TMP/nulkey"
printf '%s\0' "$K" >"$TMP/nulkey-noeol"
usage_error "NUL after the key, no line end" "a NUL byte in the first line" -- "$URL" \
  --key-file "$TMP/nulkey-noeol"
usage_error "NUL after the expired key" "--expired-key-file $TMP/nulkey: a NUL byte" -- "$URL" \
  --key-file "$TMP/key" --expired-key-file "$TMP/nulkey"
printf '\xEF\xBB\xBF%s\n' "$K" >"$TMP/bomkey"
usage_error "a byte-order mark" "the file starts with a byte-order mark: save it as plain UTF-8" -- \
  "$URL" --key-file "$TMP/bomkey"
# a URL holding a key is refused before anything is sent (SPEC §1.1): a
# sk_live_ key, 8 characters of the key given (raw or encoded), or a key of
# the --prefix policy's prefix (review 99: those two were sent)
B=${K#sk_live_}
usage_error "key in the URL" "the URL holds an API key" -- "$URL?q=$K" --key-file "$TMP/key"
usage_error "the key's body in the URL" "the URL holds an API key" -- "$URL/${B:4:12}" --key-file "$TMP/key"
usage_error "the key's body encoded in the URL" "the URL holds an API key" -- \
  "$URL?q=$(printf '%%%02X' "'${B:0:1}" "'${B:1:1}")${B:2:10}" --key-file "$TMP/key"
printf 'acme_%s\n' "$B" >"$TMP/acmekey"
usage_error "a --prefix key in the URL" "or one of prefix acme_" -- \
  "$URL?q=acme_AbCdEfGhIjKlMnOpQr" --key-file "$TMP/acmekey" --policy prefix --prefix acme_
# SPEC §1.2's checksum and length are checked offline, before any request
# (the target does not listen: the key, not the target, is what fails; a
# mistyped key made every valid-key case blame the server). Named by its
# hint, never whole.
printf '%s\n' "${K%k}j" >"$TMP/typo"
printf '%s\n' "${K%k}" >"$TMP/cut"
usage_error "mistyped key" "the valid key sk_live_****cUGj fails its checksum" -- "$URL" --key-file "$TMP/typo"
usage_error "mistyped key: the fix" "copy it again" -- "$URL" --key-file "$TMP/typo"
# the rule is cited where a user can read it, not the SPEC they do not have
usage_error "mistyped key: the rule cited" "(docs/contract.md §3: its last 6 characters" -- "$URL" --key-file "$TMP/typo"
usage_error "truncated key" "the valid key sk_live_****ScUG is 45 characters; a key under sk_live_ is 46" -- "$URL" --key-file "$TMP/cut"
usage_error "mistyped expired key" "the expired key sk_live_****cUGj fails its checksum" -- "$URL" \
  --key sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4 --expired-key-file "$TMP/typo"
usage_error "--policy bogus" "--policy must be strict or prefix" -- "$URL" --key-file "$TMP/key" --policy bogus
# --policy prefix: keys of another format (no checksum) go on to the target
usage_error "--policy prefix" "cannot reach 127.0.0.1:$P" -- "$URL" --key-file "$TMP/typo" \
  --policy prefix --timeout 2s

# ---- unreachable ---------------------------------------------------------------
usage_error "unreachable" "cannot reach 127.0.0.1:$P" -- "$URL" --key-file "$TMP/key" --timeout 2s \
  --json "$TMP/unreachable.json"
# --json is written whole at the end, through kgl_out: nothing on exit 2
KG_ASSERTS=$((KG_ASSERTS + 1))
[ ! -e "$TMP/unreachable.json" ] || kg_fail "unreachable: --json file left behind"
usage_error "--json in a folder" "is a folder" -- "$URL" --key-file "$TMP/key" --json "$TMP"
# the key from the environment: read (the target is then what fails)
export KEYGATE_PROBE_KEY=$K
usage_error "KEYGATE_PROBE_KEY, unreachable" "cannot reach" -- "$URL" --timeout 2s
unset KEYGATE_PROBE_KEY

# ---- every case selected skipped: nothing was checked ----------------------------
# (it was exit 0, "nothing deviates", of a run that judged nothing; no
# request is sent, so the closed port is never reached)
usage_error "all skipped" "nothing was checked: the 2 cases selected were skipped (no expired key" -- \
  "$URL" --key-file "$TMP/key" --only expired_bearer,expired_x_api_key --json "$TMP/skipped.json"
assert_eq "0 0 2" "$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(s["pass"], s["deviation"], s["skipped"])' "$TMP/skipped.json")" "all skipped: the JSON still written"

# ---- an HTTP/2-only target -----------------------------------------------------
cat >"$TMP/h2c.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
print("listening on %d" % s.getsockname()[1], flush=True)
s.settimeout(60)
while True:
    c, _ = s.accept()
    # RFC 9113 §3.4: a server's preface is a SETTINGS frame (empty here)
    c.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    c.close()
EOF
kg_listener_start "the h2c fake" python3 "$TMP/h2c.py"
H2=$KG_LISTENER_PORT
assert_exit 2 "h2-only target" -- "$KEYGATE" probe "http://127.0.0.1:$H2/" \
  --key-file "$TMP/key" --json "$TMP/h2.json"
assert_contains "speaks only HTTP/2" "$(cat "$TMP/err")" "h2-only: says why"
assert_contains " 0 pass, 0 deviations, " "$(cat "$TMP/out")" "h2-only: nothing judged"
python3 - "$TMP/h2.json" <<'EOF' || kg_fail "h2-only: the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["h2_only"] is True
assert all(c["verdict"] == "skipped" and "HTTP/2" in c["notes"] for c in d["cases"])
assert d["summary"]["skipped"] == len(d["cases"]) >= 40
EOF
KG_ASSERTS=$((KG_ASSERTS + 1))
kg_done
