#!/usr/bin/env bash
# server_writer.sh — one index per server (issue 13, docs/server.md "One
# index per server"): the workers decide with one index in a shared file
# that one elected worker, the writer, keeps up to date.
#   1. the shared files: one PATH-index.OWNER.N and one PATH-names.OWNER.N
#      beside the store, mode 0600; every worker fills $keygate_account
#      from them; the master removes them when it stops, and a new one
#      those a master that no longer runs left;
#   2. the writer killed -9 under a stream of requests: another worker
#      takes its place within a bound, adopting the published region (it
#      was killed between two changes: no full load), a key revoked before never answers
#      200 again (watched by a second stream through the whole takeover),
#      a key revoked and a key created meanwhile are served as the store
#      says on every worker, the valid key streamed is never refused 401;
#      one index file stays;
#   3. a stuck writer (SIGSTOP): a reader answers 503 service_unavailable
#      once the writer's last confirmation is older than
#      keygate_max_staleness, then 200 when another worker has taken its
#      place; the stuck writer, woken, gives the role up and writes
#      nothing: a key deleted then is refused on every worker.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

DB=$KEYGATE_DB
LOG=$T/logs/error.log
"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r ID1 K1 < <(new_key acme one)
IFS=$'\t' read -r _ K2 < <(new_key acme two)
IFS=$'\t' read -r ID3 K3 < <(new_key acme three)

# writer — the pid of the worker that published or adopted the shared index
# last.
writer() {
  grep -E 'keygate: (published|adopted) the shared index' "$LOG" | tail -n 1 |
    sed -n 's/^.*\] \([0-9]*\)#.*$/\1/p'
}

# wait_writer_other OLD SECS — the pid of a writer other than OLD that has
# published its index (polls the log at most SECS); "" when none.
wait_writer_other() {
  local deadline=$(($(date +%s%N) + $2 * 1000000000)) w=""
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    w=$(writer)
    [ -n "$w" ] && [ "$w" != "$1" ] && break
    w=""
    sleep 0.05
  done
  printf '%s' "$w"
}

# ---- 1. the shared files ---------------------------------------------------
# What a master killed -9 left (a pid that runs no more) is removed at the
# start; a running server's (pid 1 runs) is not.
dead=4194303
while kill -0 "$dead" 2>/dev/null; do dead=$((dead - 1)); done
printf 'x' >"$DB-index.$dead.3"
printf 'x' >"$DB-names.$dead.4.tmp"
printf 'x' >"$DB-index.1.5"
start_serve --workers 2 --refresh 200ms --max-staleness 2s
master=$(cat "$T"/tmp/keygate-serve-*/nginx.pid)
assert_eq "no no yes" \
  "$([ -e "$DB-index.$dead.3" ] && echo yes || echo no) $([ -e "$DB-names.$dead.4.tmp" ] && echo yes || echo no) $([ -e "$DB-index.1.5" ] && echo yes || echo no)" \
  "the files of a server that no longer runs are removed at the start, a running one's kept"
rm -f "$DB-index.1.5"
assert_eq 1 \
  "$(find "$T" -maxdepth 1 -name "keys.db-index.$master.*" | wc -l)" "one shared index beside the store"
assert_eq 1 \
  "$(find "$T" -maxdepth 1 -name "keys.db-names.$master.*" | wc -l)" "one names file beside the store"
assert_eq 600 \
  "$(stat -c %a "$T"/keys.db-index.*)" "the shared index is the workers' only (0600)"
assert_eq 1 "$(($(writer) > 0))" "the writer published it"
all_answer "K1 valid" "$K1" 10 "200 "
assert_eq 10 \
  "$(grep -c ' valid key_[0-9A-Za-z]* acme req_' "$T/logs/access.log")" "every worker fills \$keygate_account (10 of 10 valid lines)"

# ---- 2. the writer killed -9 under load -----------------------------------
"$KEYGATE" keys delete "$ID1" >/dev/null
wait_for_answer "K1 revoked" "$K1" "401 invalid_api_key" 3
all_answer "K1 revoked on every worker" "$K1" 10 "401 invalid_api_key"
python3 "$HERE/server_stream.py" "$PORT" "$K2" 100000 "$T/stream2" \
  "$T/stop" >/dev/null 2>&1 &
s2=$!
python3 "$HERE/server_stream.py" "$PORT" "$K1" 100000 "$T/stream1" \
  "$T/stop" >/dev/null 2>&1 &
s1=$!
kg_track "$s1"
kg_track "$s2"
sleep 0.5
old=$(writer)
kill -9 "$old"
killed_at=$(date +%s%N)
"$KEYGATE" keys delete "$ID3" >/dev/null
IFS=$'\t' read -r ID4 K4 < <(new_key acme four)
new=$(wait_writer_other "$old" 5)
took_ms=$((($(date +%s%N) - killed_at) / 1000000))
assert_eq 1 "$(($(printf '%s' "$new" | wc -c) > 0))" "another worker writes after the kill -9"
assert_eq 1 "$((took_ms < 5000))" "... within 5 s (took ${took_ms} ms)"
assert_eq 1 \
  "$(grep -c "now writes the shared index of \".*keys.db\" in place of pid $old (gone: killed or crashed); adopting its published index" "$LOG")" "the takeover is logged with the old writer's pid and why, and adopts the region (killed between two changes)"
assert_eq 0 "$(grep -c "not taking over the shared index\|keygate: loaded \"" "$LOG" || true)" "... with no full load"
wait_for_answer "K3, revoked while the writer was gone" "$K3" "401 invalid_api_key" 4
wait_for_answer "K4, created while the writer was gone" "$K4" "200 " 4
all_answer "K3 refused by every worker" "$K3" 20 "401 invalid_api_key"
all_answer "K4 served by every worker" "$K4" 20 "200 "
sleep 0.5
touch "$T/stop"
wait "$s1" "$s2" 2>/dev/null || true
assert_eq 1 \
  "$(($(wc -l <"$T/stream1") > 20 && $(wc -l <"$T/stream2") > 20))" "the streams ran through the takeover"
n1=$(wc -l <"$T/stream1")
n2=$(wc -l <"$T/stream2")
assert_eq 0 "$(grep -c '^200$' "$T/stream1" || true)" \
  "the revoked K1 never answered 200 again ($n1 requests)"
assert_eq 0 "$(grep -c '^401$' "$T/stream2" || true)" \
  "the valid K2 never answered 401 ($n2 requests)"
assert_eq 1 \
  "$(($(grep -c '^200$' "$T/stream2" || true) > 20))" "the valid K2 was served through the takeover"
assert_eq 1 \
  "$(find "$T" -maxdepth 1 -name "keys.db-index.*" | wc -l)" "one shared index stays (the old one unlinked)"
stop_serve
assert_eq 0 \
  "$(find "$T" -maxdepth 1 -name "keys.db-index.*" -o -maxdepth 1 -name "keys.db-names.*" | wc -l)" "the master removed the shared files when it stopped"

# ---- 3. a stuck writer ------------------------------------------------------
# keygate_max_staleness 2 s; a writer silent for 3 keygate_refresh (3 s) is
# replaced: between the two, the readers have no confirmation younger than
# the bound and answer 503.
start_serve --workers 2 --refresh 1s --max-staleness 2s
master=$(cat "$T"/tmp/keygate-serve-*/nginx.pid)
stuck=$(writer)
reader=$(pgrep -P "$master" | grep -vx "$stuck" | head -n 1)
# through_reader PORT KEY READER STUCK — one keep-alive connection to the
# reader (told apart with ss -p), SIGSTOP to the writer, then KEY every
# 100 ms on that connection for at most 10 s: "MS STATUS" lines, until a
# 200 follows a 503; then SIGCONT.
KG_HERE=$HERE python3 - "$PORT" "$K2" "$reader" "$stuck" >"$T/stuck" <<'EOF'
import os, re, signal, socket, sys, time
port, key, reader, stuck = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

sys.path.insert(0, os.environ["KG_HERE"])
import workers  # noqa: E402  (tests/integration/workers.py)


def owners():
    return workers.owners(port)

conn = None
for _ in range(40):
    batch = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    seen = {}
    for _ in range(50):
        seen = owners()
        if all(s.getsockname()[1] in seen for s in batch):
            break
    for s in batch:
        if conn is None and seen.get(s.getsockname()[1]) == reader:
            conn = s
        else:
            s.close()
    if conn is not None:
        break
if conn is None:
    print("no-connection")
    sys.exit(0)
req = f"GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: a\r\nX-API-Key: {key}\r\n\r\n".encode()

def ask():
    conn.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < n:
        body += conn.recv(65536)
    return head.split(b" ")[1].decode()

print(0, ask())
os.kill(stuck, signal.SIGSTOP)
t0 = time.monotonic()
seen503 = False
try:
    while time.monotonic() - t0 < 10:
        st = ask()
        print(int((time.monotonic() - t0) * 1000), st, flush=True)
        seen503 = seen503 or st == "503"
        if seen503 and st == "200":
            break
        time.sleep(0.1)
finally:
    conn.close()
    os.kill(stuck, signal.SIGCONT)
EOF
# The writer's last confirmation came 0-1 s (one keygate_refresh) before
# the stop, so the first 503 is due 1-2 s after it; the bounds leave room
# for a busy machine, and still tell "at the bound" from "at once".
first503=$(awk '$2 == 503 { print $1; exit }' "$T/stuck")
assert_eq 1 "$(($(printf '%s' "$first503" | wc -c) > 0))" "a reader of a stuck writer answers 503"
assert_eq 1 \
  "$((${first503:-0} >= 500 && ${first503:-99999} <= 3000))" "... once the last confirmation is older than the bound (at ${first503:-none} ms)"
assert_eq 0 \
  "$(awk 'NR > 1 && $2 != 200 && $2 != 503' "$T/stuck" | wc -l)" "... and only 200 or 503 meanwhile"
assert_eq 200 \
  "$(tail -n 1 "$T/stuck" | awk '{ print $2 }')" "... then 200 once another worker has taken the stuck one's place"
assert_eq 1 \
  "$(grep -c 'shared keys of ".*keys.db" were last confirmed by the writer worker (pid '"$stuck"').*over keygate_max_staleness (2 s): answering 503' "$LOG")" "the reader said why it answers 503"
# The woken writer gives the role up at its next poll and writes nothing.
for _ in $(seq 1 60); do
  grep -q "^.*\] $stuck#.*another worker (pid [0-9]*) writes the shared index" "$LOG" && break
  sleep 0.05
done
assert_eq 1 \
  "$(grep -c "\] $stuck#.*another worker (pid [0-9]*) writes the shared index" "$LOG")" "the woken writer gives the role up"
"$KEYGATE" keys delete "$ID4" >/dev/null
wait_for_answer "K4 deleted after the wake-up" "$K4" "401 invalid_api_key" 4
all_answer "K4 refused by every worker" "$K4" 20 "401 invalid_api_key"
all_answer "K2 served by every worker" "$K2" 10 "200 "
stop_serve
kg_done
