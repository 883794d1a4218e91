#!/usr/bin/env bash
# server_diskfull.sh — the module on a full disk says so once, not at every
# poll (issue 13, "Logs stay useful"; a review counted ten lines a second):
# a store on a small tmpfs and one worker; while it is stopped (SIGSTOP) an
# account and its key are created and the disk filled, so at every poll after it wakes
# the worker fails to write the account names it publishes. One line, with
# the fix; a valid key is served meanwhile; once space is free the names
# are written and that is said at notice. Needs root (mount); the tmpfs is
# unmounted at the end.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

MNT=$T/full
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=4m tmpfs "$MNT" 2>"$T/mount.err"; then
  echo "SKIP: cannot mount a tmpfs (not root?): $(cat "$T/mount.err")"
  exit 0
fi
# stop_serve runs first at exit (registered first), then the unmount
kg_on_exit "umount '$MNT' 2>/dev/null || umount -l '$MNT'"
export KEYGATE_DB=$MNT/keys.db
LOG=$T/logs/error.log
log_count() { grep -c -- "$1" "$LOG" || true; }

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K1 < <(new_key acme one)
start_serve --workers 1 --refresh 100ms --max-staleness 10s
wait_for_answer "K1 served" "$K1" "200 "
master=$(cat "$T"/tmp/keygate-serve-*/nginx.pid)
worker=$(pgrep -P "$master" | head -n 1)

kill -STOP "$worker"
"$KEYGATE" accounts create beta >/dev/null
IFS=$'\t' read -r _ K2 < <(new_key beta one) # a name is published with its first key
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
kill -CONT "$worker"
for _ in $(seq 1 60); do
  [ "$(log_count 'cannot write the account names')" -ge 1 ] && break
  sleep 0.05
done
sleep 2 # about 20 more polls, each one trying again
all_answer "a full disk: K1 still served" "$K1" 5 "200 "
all_answer "a full disk: the new account's key served" "$K2" 5 "200 "
assert_eq 1 "$(log_count 'cannot write the account names')" \
  "a full disk: said once, not at every poll"
assert_match "\\[error\\].*keygate: cannot write the account names $MNT/keys.db-names\\.[0-9.]*tmp; .*free space on its disk \\(28: No space left on device\\)" \
  "$(grep 'cannot write the account names' "$LOG")" "the line names the file, the cause and the fix"

rm -f "$MNT/fill"
for _ in $(seq 1 60); do
  [ "$(log_count 'wrote the account names of ".*keys.db" again')" -ge 1 ] && break
  sleep 0.05
done
assert_eq 1 "$(log_count '\[notice\].*keygate: wrote the account names of ".*keys.db" again')" \
  "space freed: the names are written, said at notice"
assert_eq 1 "$(log_count 'cannot write the account names')" "... and no more failure lines"
stop_serve
kg_done
