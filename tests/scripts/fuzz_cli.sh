#!/usr/bin/env bash
# fuzz_cli.sh — scripts/fuzz as a user meets it (ctest scripts.fuzz_cli):
# help, the plan it prints before fuzzing (dry run), argument errors (exit
# 2), reproduce and add-seed through a real replay driver (given as $1) and
# through a stand-in driver that crashes (exit 1), and the replay driver's
# own -v and --help. Fuzzing itself (run, merge, minimize) needs the clang
# build and minutes: scripts/fuzz-test and docs/fuzzing.md cover those.
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
replay=${1:?usage: fuzz_cli.sh PATH/fuzz_request_head_replay}
fuzz=("$src/scripts/fuzz")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t=fuzz_request_head

fail() {
  echo "fuzz_cli: $*" >&2
  exit 1
}

# run NAME ARGS...: stdout+stderr to NAME.out, exit code in $rc. Never builds.
run() {
  local name=$1
  shift
  set +e
  FUZZ_NO_BUILD=1 FUZZ_BUILD_DIR="$tmp/build" "${fuzz[@]}" "$@" >"$tmp/$name.out" 2>&1
  rc=$?
  set -e
}

# 1. Help, however asked; never a target named --help.
for h in --help -h help "reproduce --help" "request_head --help"; do
  # shellcheck disable=SC2086
  run help $h
  [ "$rc" -eq 0 ] || fail "'scripts/fuzz $h' exited $rc"
  grep -q "^usage: scripts/fuzz \[run\]" "$tmp/help.out" || fail "'$h': no usage"
  for w in reproduce minimize add-seed coverage --merge "Exit status"; do
    grep -q -- "$w" "$tmp/help.out" || fail "'$h': help lacks $w"
  done
  if grep -q "no target" "$tmp/help.out"; then fail "'$h' looked for a target"; fi
done

# 2. Without arguments it says what it will do: the dry run shows the plan.
run plan --dry-run
[ "$rc" -eq 0 ] || fail "--dry-run exited $rc"
cat "$tmp/plan.out"
targets=("$src"/fuzz/fuzz_*.c)
ntargets=${#targets[@]}
grep -q "^fuzz: plan: $ntargets target(s), one after the other, 60 s each (about $ntargets min" \
  "$tmp/plan.out" || fail "the plan does not say $ntargets runs of 60 s"
grep -q "corpus/ is not changed (add --merge" "$tmp/plan.out" ||
  fail "the plan does not say the corpus stays as it is"
grep -q "crash .* kept in $tmp/build/crashes/" "$tmp/plan.out" || fail "no crash folder in the plan"
if [ -e "$tmp/build" ]; then fail "a dry run created the build folder"; fi
run plan1 request_head 30 --merge --dry-run
grep -q "1 target(s), one after the other, 30 s each (30 s of fuzzing" "$tmp/plan1.out" ||
  fail "one target's plan is wrong"
grep -q "then merge .* (--merge)" "$tmp/plan1.out" || fail "--merge not in the plan"

# 3. Usage errors: exit 2, one line naming the fix.
for args in "nosuch" "request_head 0" "request_head ten" "request_head 1 2" \
  "--bogus" "reproduce request_head" "reproduce request_head $tmp/none" \
  "reproduce nosuch $src/README.md" "add-seed request_head $tmp" \
  "minimize request_head" "list extra" "merge"; do
  # shellcheck disable=SC2086
  run err $args
  [ "$rc" -eq 2 ] || { cat "$tmp/err.out"; fail "'$args' exited $rc, expected 2"; }
  grep -q "^keygate fuzz: " "$tmp/err.out" || fail "'$args': no error line"
done
run err nosuch
grep -q "no target 'nosuch'; targets: .*fuzz_request_head" "$tmp/err.out" ||
  fail "an unknown target does not list the targets"

# A stand-in driver that crashes on every input (SIGABRT, as FUZZ_CHECK).
mkdir -p "$tmp/crashy"
printf '#!/bin/sh\nkill -ABRT $$\n' >"$tmp/crashy/${t}_replay"
chmod +x "$tmp/crashy/${t}_replay"
seeds=("$src/corpus/$t"/*) # (not ls | head: SIGPIPE under pipefail)
seed=${seeds[0]}

# 4. reproduce --replay: 0 when the input does not crash, 1 when it does.
FUZZ_REPLAY_DIR=$(dirname "$replay") run rep reproduce --replay request_head "$seed"
[ "$rc" -eq 0 ] || { cat "$tmp/rep.out"; fail "reproducing a seed exited $rc"; }
grep -q "^fuzz: $t: .* does not crash$" "$tmp/rep.out" || fail "no 'does not crash'"
FUZZ_REPLAY_DIR=$tmp/crashy run rep reproduce --replay request_head "$seed"
[ "$rc" -eq 1 ] || fail "reproducing a crash exited $rc, expected 1"
grep -q "crashes (exit .*); minimize it with: scripts/fuzz minimize $t " "$tmp/rep.out" ||
  fail "a reproduced crash does not say what next"

# 5. add-seed: named by SHA-1 in the corpus, once; oversized or crashing refused.
printf 'GET /add-seed-test HTTP/1.1\r\nHost: x\r\n\r\n' >"$tmp/seed.txt"
sha=$(sha1sum "$tmp/seed.txt" | cut -d' ' -f1)
export FUZZ_CORPUS_DIR=$tmp/corpus
FUZZ_REPLAY_DIR=$(dirname "$replay") run add add-seed request_head "$tmp/seed.txt"
[ "$rc" -eq 0 ] || { cat "$tmp/add.out"; fail "add-seed exited $rc"; }
cmp -s "$tmp/seed.txt" "$tmp/corpus/$t/$sha" || fail "the seed is not at corpus/$t/$sha"
grep -q "added $tmp/corpus/$t/$sha" "$tmp/add.out" || fail "add-seed does not name the file"
FUZZ_REPLAY_DIR=$(dirname "$replay") run add2 add-seed fuzz_request_head "$tmp/seed.txt"
[ "$rc" -eq 0 ] && grep -q "already a seed" "$tmp/add2.out" || fail "a second add-seed is not 'already a seed'"
[ "$(ls "$tmp/corpus/$t" | wc -l)" -eq 1 ] || fail "add-seed left other files"
head -c 20001 /dev/zero | tr '\0' a >"$tmp/big.txt"
FUZZ_REPLAY_DIR=$(dirname "$replay") run big add-seed request_head "$tmp/big.txt"
[ "$rc" -eq 2 ] && grep -q "over $t's max_len of 20000" "$tmp/big.out" ||
  fail "an oversized seed was not refused (exit $rc)"
printf 'crash me' >"$tmp/crash.txt"
FUZZ_REPLAY_DIR=$tmp/crashy run crash add-seed request_head "$tmp/crash.txt"
[ "$rc" -eq 1 ] || fail "a crashing seed: exit $rc, expected 1"
grep -q "crashes; fix the bug first" "$tmp/crash.out" || fail "a crashing seed: no reason"
[ "$(ls "$tmp/corpus/$t" | wc -l)" -eq 1 ] || fail "a refused seed reached the corpus"
unset FUZZ_CORPUS_DIR

# 6. The replay driver: quiet without -v, a line per file with -v, --help.
"$replay" "$src/corpus/$t" >"$tmp/quiet.out" 2>&1 || fail "replaying the corpus failed"
if grep -q "^Running: " "$tmp/quiet.out"; then fail "the replay driver names files without -v"; fi
grep -q "inputs ran without a crash" "$tmp/quiet.out" || fail "no summary line"
"$replay" -v "$seed" >"$tmp/verbose.out" 2>&1 || fail "replay -v failed"
grep -q "^Running: $seed$" "$tmp/verbose.out" || fail "-v does not name the file"
"$replay" --help >"$tmp/rhelp.out" 2>&1 || fail "replay --help exited non-zero"
grep -q "usage: .*\[-v\] FILE|DIR" "$tmp/rhelp.out" || fail "replay --help has no usage"
set +e
"$replay" --bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "replay --bogus exited $rc, expected 2"

echo "fuzz_cli: ok"
