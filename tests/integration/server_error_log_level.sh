#!/usr/bin/env bash
# server_error_log_level.sh — at info and debug levels nginx writes client
# header lines (keys included) to the error log before any module runs, so
# where keygate checks keys such a level is refused when nginx starts:
# the main error_log or a server's at info or debug fails `nginx -t` with
# one line naming the fix; notice passes; keygate_verbose_error_log on
# accepts the risk; an nginx with the module loaded but no keygate_db is
# not concerned. The configuration is the one keygate serve renders.
#
# Named server_*.sh so ctest gives it KEYGATE_NGINX_MODULE.
set -euo pipefail
# shellcheck source=tests/integration/server_common.bash
. "$(dirname "$0")/server_common.bash"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$KEYGATE" accounts create acme >/dev/null
mkdir -p "$T/run"
assert_exit 0 "render the configuration" -- "$KEYGATE" serve --print-config \
  --db "$KEYGATE_DB" --listen 127.0.0.1:1 --module "$KEYGATE_NGINX_MODULE" \
  --log-dir "$T/logs" --prefix "$T/run"
cp "$TMP/out" "$T/notice.conf"
assert_contains " notice;" "$(cat "$T/notice.conf")" "the shipped level is notice"

# nginx_t NAME — nginx -t on $T/NAME.conf; its exit status in RC, output in
# $T/NAME.t
nginx_t() {
  RC=0
  "$NGINX" -t -c "$T/$1.conf" -p "$T/run" >"$T/$1.t" 2>&1 || RC=$?
}

nginx_t notice
assert_eq 0 "$RC" "notice: nginx -t passes ($(tail -n 1 "$T/notice.t"))"

for level in info debug; do
  sed "s/^\(error_log [^;]*\) notice;/\1 $level;/" "$T/notice.conf" >"$T/main-$level.conf"
  assert_contains " $level;" "$(cat "$T/main-$level.conf")" "main error_log at $level"
  nginx_t "main-$level"
  assert_eq 1 "$RC" "main error_log at $level: refused"
  assert_contains "keygate: the main error_log is at info or debug level" "$(cat "$T/main-$level.t")" \
    "main error_log at $level: says why"
  assert_contains "use notice" "$(cat "$T/main-$level.t")" "main error_log at $level: names the fix"
done

# a server's own error_log at info
python3 - "$T/notice.conf" "$T/logs/srv.log" >"$T/server-info.conf" <<'PY'
import re, sys
conf = open(sys.argv[1]).read()
print(re.sub(r"^(\s*)server \{", lambda m: "%sserver {\n%s    error_log %s info;" % (m.group(1), m.group(1), sys.argv[2]), conf, count=1, flags=re.M), end="")
PY
assert_contains "srv.log info;" "$(cat "$T/server-info.conf")" "a server's error_log at info"
nginx_t server-info
assert_eq 1 "$RC" "server error_log at info: refused"
assert_contains "the server's error_log is at info or debug level" "$(cat "$T/server-info.t")" \
  "server error_log at info: says which"

# the operator may accept keys in that log
sed 's/^http {/http {\n  keygate_verbose_error_log on;/' "$T/main-info.conf" >"$T/accepted.conf"
nginx_t accepted
assert_eq 0 "$RC" "keygate_verbose_error_log on: accepted ($(tail -n 1 "$T/accepted.t"))"

# the module loaded but no keygate_db anywhere: no key is checked, no refusal
# (keygate_status reports on the stores: it goes with them)
grep -v -e 'keygate_db' -e 'keygate_status' "$T/main-info.conf" |
  sed 's/^\( *\)keygate on;/\1keygate off;/' >"$T/unused.conf"
nginx_t unused
if grep -q "keygate_db" "$T/unused.t"; then
  kg_fail "unused: still names keygate_db: $(cat "$T/unused.t")"
fi
assert_not_contains "error_log is at info" "$(cat "$T/unused.t")" "unused module: no refusal"
kg_done
