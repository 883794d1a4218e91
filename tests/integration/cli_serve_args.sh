#!/usr/bin/env bash
# cli_serve_args.sh — `keygate serve` follows the conventions of every
# command without running nginx (--print-config renders what it would run):
# --name=value, the store of $KEYGATE_DB (a --db flag wins), --listen :PORT
# as 127.0.0.1:PORT (loopback first; docs/cli.md), a --module or --nginx
# file that is not there reported by the path given, exit 2 for trouble.
# server_serve.sh runs the real thing. Needs $KEYGATE (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
unset KEYGATE_DB KEYGATE_PEPPER_FILE KEYGATE_NGINX KEYGATE_NGINX_MODULE
cd "$TMP"
"$KEYGATE" accounts create acme --db "$TMP/a.db" >/dev/null
"$KEYGATE" accounts create acme --db "$TMP/b.db" >/dev/null
: >"$TMP/module.so" # --print-config names it; nginx would load it
MOD=(--module "$TMP/module.so")

# conf_line PATTERN — the rendered line matching PATTERN, trimmed
conf_line() { grep -E "$1" "$TMP/out" | sed 's/^ *//'; }

# ---- --listen ------------------------------------------------------------------
assert_exit 0 "--listen :PORT" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db "$TMP/a.db" --listen :18089
assert_eq "listen 127.0.0.1:18089;" "$(conf_line '^ *listen ')" ":PORT is loopback"
assert_exit 0 "--listen=:PORT" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db="$TMP/a.db" --listen=:18090
assert_eq "listen 127.0.0.1:18090;" "$(conf_line '^ *listen ')" "--listen=:PORT"
assert_exit 0 "--listen 0.0.0.0:PORT" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db "$TMP/a.db" --listen 0.0.0.0:18091
assert_eq "listen 0.0.0.0:18091;" "$(conf_line '^ *listen ')" "every interface when asked"
assert_exit 0 "--listen [::]:PORT" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db "$TMP/a.db" --listen '[::]:18092'
assert_eq "listen [::]:18092 ipv6only=off;" "$(conf_line '^ *listen ')" \
  "[::] is every interface, IPv4 too (nginx's default is IPv6 only)"
assert_exit 0 "the default" -- "$KEYGATE" serve --print-config "${MOD[@]}" --db "$TMP/a.db"
assert_eq "listen 127.0.0.1:8080;" "$(conf_line '^ *listen ')" "default 127.0.0.1:8080"
for bad in : :0 :65536 :http 8080; do
  assert_exit 2 "--listen '$bad'" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
    --db "$TMP/a.db" --listen "$bad"
  assert_eq "keygate serve: --listen '$bad' is not HOST:PORT or :PORT (port 1-65535), e.g. 127.0.0.1:8080" \
    "$(cat "$TMP/err")" "--listen '$bad': the line"
done

# ---- the store: --db, else $KEYGATE_DB ----------------------------------------------
KEYGATE_DB=$TMP/a.db assert_exit 0 "KEYGATE_DB" -- "$KEYGATE" serve --print-config "${MOD[@]}"
assert_eq "keygate_db \"$TMP/a.db\";" "$(conf_line '^ *keygate_db ')" "serve reads KEYGATE_DB"
KEYGATE_DB=$TMP/a.db assert_exit 0 "--db beats KEYGATE_DB" -- \
  "$KEYGATE" serve --print-config "${MOD[@]}" --db "$TMP/b.db"
assert_eq "keygate_db \"$TMP/b.db\";" "$(conf_line '^ *keygate_db ')" "the flag wins"
KEYGATE_DB="" assert_exit 2 "neither" -- "$KEYGATE" serve --print-config "${MOD[@]}"
assert_eq "keygate serve: --db PATH is required: the key store to serve (or set KEYGATE_DB)" \
  "$(cat "$TMP/err")" "neither: the line"
mkdir "$TMP/dir"
assert_exit 2 "--db a directory" -- "$KEYGATE" serve "${MOD[@]}" --db "$TMP/dir"
assert_eq "keygate serve: --db $TMP/dir is a directory, not a key store file; give the path of a file in it, e.g. --db $TMP/dir/keygate.db" \
  "$(cat "$TMP/err")" "--db a directory: the line"
assert_exit 2 "--db in a missing folder" -- "$KEYGATE" serve "${MOD[@]}" --db "$TMP/no/k.db"
assert_eq "keygate serve: --db $TMP/no/k.db: the folder $TMP/no does not exist; create it (mkdir -p $TMP/no) or give another --db path" \
  "$(cat "$TMP/err")" "--db in a missing folder: the line"

# ---- files named that are not there: by the path given ----------------------------------
assert_exit 2 "--module missing" -- "$KEYGATE" serve --print-config --db "$TMP/a.db" \
  --module "$TMP/nope/mod.so"
assert_eq "keygate serve: --module $TMP/nope/mod.so: No such file or directory; give the path of the module ngx_http_keygate_module.so" \
  "$(cat "$TMP/err")" "--module missing: the line"
assert_eq "" "$(cat "$TMP/out")" "--module missing: no configuration"
KEYGATE_NGINX_MODULE=relative/mod.so assert_exit 2 "KEYGATE_NGINX_MODULE missing" -- \
  "$KEYGATE" serve --print-config --db "$TMP/a.db"
assert_eq "keygate serve: KEYGATE_NGINX_MODULE relative/mod.so: No such file or directory; give the path of the module ngx_http_keygate_module.so" \
  "$(cat "$TMP/err")" "the variable's path, as given"
assert_exit 2 "--nginx missing" -- "$KEYGATE" serve "${MOD[@]}" --db "$TMP/a.db" \
  --nginx ./sbin/nginx
assert_eq "keygate serve: --nginx ./sbin/nginx: No such file or directory; give the path of the nginx program" \
  "$(cat "$TMP/err")" "--nginx missing: the path as given"
assert_exit 2 "--nginx not executable" -- "$KEYGATE" serve "${MOD[@]}" --db "$TMP/a.db" \
  --nginx "$TMP/module.so"
assert_eq "keygate serve: --nginx $TMP/module.so: not executable; give the path of the nginx program" \
  "$(cat "$TMP/err")" "--nginx not executable: the line"

# the module's time bounds, said by the flags' names before nginx runs
# (--print-config renders any time: nginx -t judges it, server_directives.sh)
assert_exit 2 "--refresh 0s" -- "$KEYGATE" serve "${MOD[@]}" \
  --db "$TMP/a.db" --refresh 0s
assert_eq "keygate serve: --refresh 0s is too short: at least 100ms" \
  "$(cat "$TMP/err")" "--refresh 0s: the line"
assert_exit 2 "--max-staleness under twice --refresh" -- "$KEYGATE" serve \
  "${MOD[@]}" --db "$TMP/a.db" --refresh 2s --max-staleness 3s
assert_contains "--max-staleness must be at least twice --refresh (2 x 2000 ms = 4000 ms)" \
  "$(cat "$TMP/err")" "--max-staleness 3s: the line"
assert_exit 0 "--refresh 100ms --max-staleness 200ms" -- "$KEYGATE" serve \
  --print-config "${MOD[@]}" --db "$TMP/a.db" --refresh 100ms --max-staleness 200ms
# every time keygate takes has one grammar (cli_parse_time): nginx gets
# milliseconds, which its own grammar reads without fractions
assert_exit 0 "--refresh 1.5s --max-staleness 0.5m" -- "$KEYGATE" serve \
  --print-config "${MOD[@]}" --db "$TMP/a.db" --refresh 1.5s --max-staleness 0.5m
assert_contains "keygate_refresh 1500ms;" "$(cat "$TMP/out")" "--refresh 1.5s: in ms"
assert_contains "keygate_max_staleness 30000ms;" "$(cat "$TMP/out")" "--max-staleness 0.5m: in ms"
# the default staleness bound is SPEC §2's 2 s, or two polls when they are
# further apart (review 70: 10 s let a deleted key through for 10 s)
assert_exit 0 "no --max-staleness" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db "$TMP/a.db"
assert_contains "keygate_max_staleness 2000ms;" "$(cat "$TMP/out")" "the default: 2 s"
assert_exit 0 "--refresh 1.5s alone" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
  --db "$TMP/a.db" --refresh 1.5s
assert_contains "keygate_max_staleness 3000ms;" "$(cat "$TMP/out")" \
  "the default after --refresh 1.5s: two polls"
for bad in 1.5 1e3ms 0.5ms 1h30m -1s; do
  assert_exit 2 "--refresh $bad" -- "$KEYGATE" serve --print-config "${MOD[@]}" \
    --db "$TMP/a.db" --refresh "$bad"
  assert_eq "keygate serve: --refresh and --max-staleness take a time such as 500ms, 1s or 10s" \
    "$(cat "$TMP/err")" "--refresh $bad: the line"
done

# ---- a --db that is not a store: advice serve can follow ---------------------
# (review: serve suggested "a file that does not exist yet to make a new
# one", which serve itself refuses). The store is read before nginx is
# started: /bin/false is never run, nothing is bound.
echo '{"not": "a store"}' >"$TMP/g.json"
assert_exit 2 "--db of a JSON file" -- "$KEYGATE" serve "${MOD[@]}" --nginx /bin/false \
  --listen 127.0.0.1:1 --db "$TMP/g.json"
assert_eq "keygate serve: cannot read the key store $TMP/g.json: $TMP/g.json is not a keygate store (not an SQLite database); give --db the path of a keygate store, or make one: 'keygate accounts create NAME --db NEW.db'" \
  "$(cat "$TMP/err")" "--db of a JSON file: the line"
assert_not_contains "does not exist yet" "$(cat "$TMP/err")" "--db of a JSON file: no path serve refuses"
assert_exit 2 "--db that does not exist" -- "$KEYGATE" serve "${MOD[@]}" --nginx /bin/false \
  --listen 127.0.0.1:1 --db "$TMP/new.db"
assert_exit 0 "the advice, followed" -- "$KEYGATE" accounts create acme --db "$TMP/new.db"

# ---- an nginx that does not start: why, even when it says nothing -----------
# (review 94: the child's exec failure, and an exit with an empty stderr,
# read "no message"). keygate binds the port to check it is free, then lets
# it go: a free one, so any user can run this.
printf 'not a program\n' >"$TMP/notexe"
chmod +x "$TMP/notexe"
assert_exit 2 "--nginx of a text file" -- "$KEYGATE" serve "${MOD[@]}" \
  --nginx "$TMP/notexe" --listen "127.0.0.1:$(kg_free_port)" --db "$TMP/a.db"
assert_eq "keygate serve: nginx did not start: cannot run $TMP/notexe: Exec format error" \
  "$(cat "$TMP/err")" "--nginx of a text file: exec's reason"
FALSE=$(type -P false) # the program, not the builtin
assert_exit 2 "--nginx false" -- "$KEYGATE" serve "${MOD[@]}" \
  --nginx "$FALSE" --listen "127.0.0.1:$(kg_free_port)" --db "$TMP/a.db"
assert_eq "keygate serve: nginx did not start: no message (exit 1)" \
  "$(cat "$TMP/err")" "--nginx false: how it ended"

kg_done
