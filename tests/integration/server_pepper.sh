#!/usr/bin/env bash
# server_pepper.sh — a peppered store served end to end (docs/store.md "The
# pepper", docs/server.md keygate_pepper_file): `keygate serve
# --pepper-file` renders keygate_pepper_file, nginx's master reads it, the
# keys answer 200 and changes are seen while running; a wrong, missing or
# open pepper file stops keygate serve and `nginx -t` with one line; a store
# replaced under the running server by one made with another pepper is
# refused (never a 200 for its keys, one error-log line per worker, 503
# past keygate_max_staleness) until the right store is back; no pepper byte
# and no key in any log or output.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

DB=$KEYGATE_DB
LOG=$T/logs/error.log
P=$T/pepper
Q=$T/other-pepper
(
  umask 077
  openssl rand -hex 32 >"$P"
  openssl rand -hex 32 >"$Q"
)
PEPPER_P=$(head -c 64 "$P")
PEPPER_Q=$(head -c 64 "$Q")
export KEYGATE_PEPPER_FILE=$P
"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K1 < <(new_key acme one)
IFS=$'\t' read -r ID2 K2 < <(new_key acme two)
unset KEYGATE_PEPPER_FILE

log_count() { grep -c -- "$1" "$LOG" || true; }

# ---- keygate serve refuses a wrong or missing pepper before nginx starts ---
serve_fails() {
  local rc=0
  "$KEYGATE" serve --db "$DB" --listen "127.0.0.1:$(free_port)" \
    --module "$KEYGATE_NGINX_MODULE" --log-dir "$T/logs" "$@" \
    >"$T/fail.out" 2>"$T/fail.err" || rc=$?
  FAIL_RC=$rc
  FAIL_ERR=$(cat "$T/fail.err")
  cat "$T/fail.out" "$T/fail.err" >>"$T/outputs"
}
serve_fails --pepper-file "$Q"
assert_eq 2 "$FAIL_RC" "another pepper: exit 2"
assert_eq "keygate serve: cannot read the key store $DB: $DB was made with another pepper (the one given does not match its check value); nothing was read or written; give the pepper file it was made with (--pepper-file FILE or KEYGATE_PEPPER_FILE)" "$FAIL_ERR" \
  "another pepper: the line"
serve_fails
assert_eq 2 "$FAIL_RC" "no pepper: exit 2"
assert_eq "keygate serve: cannot read the key store $DB: $DB is peppered (HMAC-SHA-256) and no pepper was given; give the pepper file it was made with (--pepper-file FILE or KEYGATE_PEPPER_FILE)" "$FAIL_ERR" \
  "no pepper: the line"
assert_eq no "$(test -e "$LOG" && echo yes || echo no)" "no nginx was started: no error log"

# ---- served with its pepper ---------------------------------------------------
start_serve --workers 2 --refresh 200ms --max-staleness 2s --pepper-file "$P"
cat "$T/serve.out" "$T/serve.err" >>"$T/outputs"
assert_eq 1 \
  "$(grep -c "keygate_pepper_file \"$P\";" "$T"/tmp/keygate-serve-*/nginx.conf)" "the rendered configuration names the file"
expect_ok "K1 with its pepper" \
  "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nX-API-Key: $K1\r\n\r\n"
expect_ok "K2 as a bearer token" \
  "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer $K2\r\n\r\n"
expect_error "an unknown key" \
  "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nX-API-Key: sk_live_000000000000000000000000000000000000000\r\n\r\n" \
  401 invalid_api_key
all_answer "K1 on every worker" "$K1" 10 "200 "

# Changes are seen while running, under the pepper.
IFS=$'\t' read -r _ K3 < <(KEYGATE_PEPPER_FILE=$P new_key acme three)
wait_for_answer "a key made while running answers" "$K3" "200 "
KEYGATE_PEPPER_FILE=$P "$KEYGATE" keys delete "$ID2" >/dev/null
wait_for_answer "a key deleted while running is refused" "$K2" "401 invalid_api_key"
all_answer "K2 refused on every worker" "$K2" 10 "401 invalid_api_key"

# ---- a store with another pepper put in its place -----------------------------
# The same accounts, another pepper: its own key KQ must never answer, and
# K1 (not in it) neither once the old snapshot is too old.
QDB=$T/q.db
KEYGATE_PEPPER_FILE=$Q "$KEYGATE" accounts create acme --db "$QDB" >/dev/null
KQ=$(KEYGATE_PEPPER_FILE=$Q "$KEYGATE" keys create --account acme --name q --db "$QDB" 2>/dev/null)
# A consistent copy of the right store to put back later, an empty -wal
# (so the replacement is not refused for the old file's -wal first), then
# the swap, as docs/store.md says to replace a store.
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=5)
c.execute("VACUUM INTO ?", (sys.argv[2],))
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()' "$DB" "$T/good.db"
mv "$QDB" "$DB" && rm -f "$DB-wal" "$DB-shm" "$QDB-wal" "$QDB-shm"
for _ in $(seq 1 80); do
  [ "$(log_count 'was made with another pepper')" -ge 1 ] && break
  sleep 0.05
done
assert_eq 1 \
  "$(log_count "cannot read the key store \"$DB\": $DB was made with another pepper (the one given does not match its check value); nothing was read or written; give keygate_pepper_file the file it was made with; requests are decided")" "another pepper's store: one line, with the module's fix (the writer is the one worker that reads the store)"
OK200=0
for _ in $(seq 1 20); do
  answer_of "$KQ"
  [ "${ANSWER%% *}" = 200 ] && OK200=$((OK200 + 1))
done
assert_eq 0 "$OK200" "its key never answers 200"
wait_for_answer "past keygate_max_staleness: 503" "$K1" "503 service_unavailable"
all_answer "every answer 503" "$KQ" 10 "503 service_unavailable"
# The right store back: served again.
mv "$T/good.db" "$DB" && rm -f "$DB-wal" "$DB-shm"
wait_for_answer "the right store back: K1 answers" "$K1" "200 "
all_answer "K1 on every worker again" "$K1" 10 "200 "
all_answer "K2 still refused" "$K2" 5 "401 invalid_api_key"
stop_serve

# ---- nginx -t: the directive refuses what keygate serve refused ---------------
D=$T/ngx
mkdir -p "$D"
G="daemon off; master_process on;"
if [ "$(id -u)" -eq 0 ]; then G="$G user root root;"; fi
# conf_fails NAME REGEX PEPPERFILE [SED] — nginx -t on the rendered
# configuration (the store $CONF_DB, default $DB) with keygate_pepper_file
# PEPPERFILE, edited by SED, fails, naming why.
conf_fails() {
  "$KEYGATE" serve --print-config --module "$KEYGATE_NGINX_MODULE" \
    --db "${CONF_DB:-$DB}" --listen "127.0.0.1:$(free_port)" --workers 1 \
    --prefix "$D" --pepper-file "$3" | sed -e "${4:-/^NONE$/d}" >"$D/nginx.conf"
  local rc=0
  nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1 || rc=$?
  cat "$T/t.out" >>"$T/outputs"
  assert_eq 1 "$rc" "$1: nginx -t fails"
  assert_match "$2" "$(grep emerg "$T/t.out" | head -n 1)" "$1: says why"
}
# Each line: what is wrong (the store's), then the fix in nginx's terms (the
# module's), then nginx's " in FILE:LINE".
conf_fails "another pepper" \
  "keygate_db \"$DB\": cannot load the key store: $DB was made with another pepper \\(the one given does not match its check value\\); nothing was read or written; give keygate_pepper_file the file it was made with in $D/nginx\\.conf:" "$Q"
cp "$P" "$T/open-pepper"
chmod 644 "$T/open-pepper"
conf_fails "an open pepper file" \
  "keygate_pepper_file: the pepper file $T/open-pepper is open to group or others \\(mode 0644\\); run 'chmod 600 $T/open-pepper'" \
  "$T/open-pepper"
conf_fails "no pepper" "keygate_db \"$DB\": cannot load the key store: $DB is peppered \\(HMAC-SHA-256\\) and no pepper was given; name its pepper file with keygate_pepper_file in $D/nginx\\.conf:" \
  "$P" '/keygate_pepper_file/d'
# A plain store refuses the pepper; and after a keygate_db (one that
# loaded: a plain store's) the directive comes too late, and says so.
PLAIN=$T/plain.db
KEYGATE_DB=$PLAIN "$KEYGATE" accounts create acme >/dev/null
CONF_DB=$PLAIN conf_fails "a plain store" \
  "keygate_db \"$PLAIN\": cannot load the key store: $PLAIN is a plain store \\(SHA-256, made without a pepper\\), and a pepper was given: a store's keys are digested one way; remove keygate_pepper_file, or make a new peppered store \\(docs/store\\.md\\) in $D/nginx\\.conf:" \
  "$P"
# No store at the path, another program's file: the module's fix too.
CONF_DB=$T/none.db conf_fails "no store" \
  "keygate_db \"$T/none\\.db\": cannot load the key store: no key store at $T/none\\.db; create it with 'keygate accounts create NAME --db $T/none\\.db' in $D/nginx\\.conf:" \
  "$P" '/keygate_pepper_file/d'
echo "not a database, just some words in a file" >"$T/notes.txt"
CONF_DB=$T/notes.txt conf_fails "not a store" \
  "keygate_db \"$T/notes\\.txt\": cannot load the key store: $T/notes\\.txt is not a keygate store \\(not an SQLite database\\); point keygate_db at a keygate store in $D/nginx\\.conf:" \
  "$P" '/keygate_pepper_file/d'
conf_fails "after keygate_db" \
  '"keygate_pepper_file" directive must come before every keygate_db' "$P" \
  "s|^    keygate_pepper_file .*|    keygate_db \"$PLAIN\";\n&|"
"$KEYGATE" serve --print-config --module "$KEYGATE_NGINX_MODULE" --db "$DB" \
  --listen "127.0.0.1:$(free_port)" --workers 1 --prefix "$D" \
  --pepper-file "$P" >"$D/nginx.conf"
rc=0
nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "the right pepper: nginx -t passes"
assert_eq 0 "$(grep -c -F "$PEPPER_P" "$D/nginx.conf" || true)" "no pepper bytes in the configuration"

# ---- no pepper byte, no key in any log ------------------------------------------
cat "$T"/logs/* "$T/outputs" >"$T/all-logs"
for secret in "$PEPPER_P" "${PEPPER_P:0:16}" "$PEPPER_Q" "${PEPPER_Q:0:16}" \
  "$K1" "$K2" "$K3" "$KQ" "${K1:8:32}"; do
  assert_eq 0 \
    "$(grep -c -a -F -- "$secret" "$T/all-logs" || true)" "not in any log or output: ${secret:0:4}..."
done
assert_eq yes \
  "$([ -s "$T/logs/access.log" ] && [ -s "$LOG" ] && echo yes)" "the logs are not empty (the check reads something)"
kg_done
