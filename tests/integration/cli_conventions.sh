#!/usr/bin/env bash
# cli_conventions.sh — one set of conventions for every keygate command
# (issue 16, docs/cli.md): one option parser ("--name value" and
# "--name=value"; an unknown option or a stray argument is one line and
# exit 2), -h/--help and `keygate help CMD [VERB]` for every command and
# every keys/accounts verb, `version`/-V/--version, $KEYGATE_DB for check as
# for accounts and keys, and the exit codes 0/1/2 documented in --help.
# Needs $KEYGATE (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
unset KEYGATE_DB KEYGATE_PEPPER_FILE
cd "$TMP"

# one_line WHAT PREFIX — stderr is exactly one line starting with PREFIX
one_line() {
  assert_eq 1 "$(wc -l <"$TMP/err")" "$1: one line on stderr"
  assert_eq "$2" "$(head -c ${#2} "$TMP/err")" "$1: the line"
}

COMMANDS=(check accounts keys load report probe serve)
KEYS_VERBS=(create list deactivate delete rotate seed ack-restore)
ACCOUNTS_VERBS=(create set-tier list)
REPORT_SUBS=(show merge check compare html)

# ---- the command list and the exit rule in keygate --help -------------------
assert_exit 0 "keygate --help" -- "$KEYGATE" --help
TOP=$(cat "$TMP/out")
for c in "${COMMANDS[@]}" help version; do
  assert_contains "  $c " "$TOP" "keygate --help lists $c"
done
assert_contains "exit status, the same for every command" "$TOP" "--help: the exit rule"
for line in "0  success, or a positive verdict" "1  a negative verdict" "2  trouble: a usage error"; do
  assert_contains "$line" "$TOP" "--help: exit $line"
done
assert_contains "KEYGATE_DB" "$TOP" "--help: the environment"
assert_exit 0 "keygate -h" -- "$KEYGATE" -h
assert_eq "$TOP" "$(cat "$TMP/out")" "-h is --help"
assert_exit 0 "keygate help" -- "$KEYGATE" help
assert_eq "$TOP" "$(cat "$TMP/out")" "help is --help"
assert_exit 2 "keygate alone" -- "$KEYGATE"
# one line naming the fix, as every exit 2 (it was the 31 lines of --help)
one_line "keygate alone" "keygate: no command given (keygate --help lists them)"
# a word help would not read is an error (help load bogus showed load's
# help and exited 0)
for c in check load probe; do
  assert_exit 2 "help $c bogus" -- "$KEYGATE" help "$c" bogus
  one_line "help $c bogus" "keygate help: unexpected argument 'bogus'"
done
assert_exit 2 "help keys create bogus" -- "$KEYGATE" help keys create bogus
one_line "help keys create bogus" "keygate help: unexpected argument 'bogus'"
assert_exit 2 "an unknown command" -- "$KEYGATE" frobnicate
one_line "an unknown command" "keygate: unknown command 'frobnicate'"
assert_exit 2 "help of an unknown command" -- "$KEYGATE" help frobnicate
one_line "help of an unknown command" "keygate help: unknown command 'frobnicate'"

# ---- version, three ways ----------------------------------------------------
for v in version -V --version; do
  assert_exit 0 "keygate $v" -- "$KEYGATE" "$v"
  case "$(cat "$TMP/out")" in
  "keygate "[0-9]*.[0-9]*.[0-9]*) KG_ASSERTS=$((KG_ASSERTS + 1)) ;;
  *) kg_fail "keygate $v: [$(cat "$TMP/out")]" ;;
  esac
done
assert_exit 2 "version with an argument" -- "$KEYGATE" version extra

# ---- help for every command and verb ------------------------------------------
# help_is WHAT WANT_PREFIX ARGS... — ARGS --help and -h exit 0 with the
# usage on stdout, and `keygate help ARGS` prints the same
help_is() {
  local what=$1 prefix=$2
  shift 2
  assert_exit 0 "$what --help" -- "$KEYGATE" "$@" --help
  assert_eq "$prefix" "$(head -c ${#prefix} "$TMP/out")" "$what --help: usage first"
  assert_eq "" "$(cat "$TMP/err")" "$what --help: quiet stderr"
  local want
  want=$(cat "$TMP/out")
  assert_exit 0 "$what -h" -- "$KEYGATE" "$@" -h
  assert_eq "$want" "$(cat "$TMP/out")" "$what -h"
  assert_exit 0 "help $what" -- "$KEYGATE" help "$@"
  assert_eq "$want" "$(cat "$TMP/out")" "keygate help $what"
}
for c in "${COMMANDS[@]}"; do
  help_is "$c" "usage: keygate $c" "$c"
done
for v in "${KEYS_VERBS[@]}"; do
  help_is "keys $v" "usage: keygate keys $v" keys "$v"
  want=$(cat "$TMP/out")
  assert_exit 0 "keys help $v" -- "$KEYGATE" keys help "$v"
  assert_eq "$want" "$(cat "$TMP/out")" "keys help $v is keys $v --help"
  assert_contains "--db PATH" "$(cat "$TMP/out")" "keys $v --help: the common options"
  assert_contains "exit: 0" "$(cat "$TMP/out")" "keys $v --help: the exit codes"
done
for v in "${ACCOUNTS_VERBS[@]}"; do
  help_is "accounts $v" "usage: keygate accounts $v" accounts "$v"
  want=$(cat "$TMP/out")
  assert_exit 0 "accounts help $v" -- "$KEYGATE" accounts help "$v"
  assert_eq "$want" "$(cat "$TMP/out")" "accounts help $v is accounts $v --help"
done
# a verb's help is its own: create's names --expires-in, list's does not
"$KEYGATE" keys create --help >"$TMP/create.help"
"$KEYGATE" keys list --help >"$TMP/list.help"
assert_contains "--expires-in" "$(cat "$TMP/create.help")" "keys create --help: its options"
assert_not_contains "--expires-in" "$(cat "$TMP/list.help")" "keys list --help: not create's"
assert_contains "--all" "$(cat "$TMP/list.help")" "keys list --help: its options"
for s in "${REPORT_SUBS[@]}"; do
  assert_exit 0 "report $s --help" -- "$KEYGATE" report "$s" --help
  assert_contains "usage: keygate report" "$(cat "$TMP/out")" "report $s --help"
done

# ---- unknown options, stray arguments: one line, exit 2 ------------------------
# refused WHAT PREFIX ARGS... — exit 2, one line starting with PREFIX, no stdout
refused() {
  local what=$1 prefix=$2
  shift 2
  assert_exit 2 "$what" -- "$KEYGATE" "$@"
  one_line "$what" "$prefix"
  assert_eq "" "$(cat "$TMP/out")" "$what: nothing on stdout"
}
refused "check --bogus" "keygate check: unknown option '--bogus'" check --keys k --bogus
refused "check extra" "keygate check: unexpected argument 'extra'; see 'keygate check --help'" \
  check --keys k extra
refused "check --keys without a value" "keygate check: option --keys needs a value" check --keys
for v in "${KEYS_VERBS[@]}"; do
  refused "keys $v --bogus" "keygate keys $v: unknown option '--bogus'" keys "$v" --bogus
done
for v in "${ACCOUNTS_VERBS[@]}"; do
  refused "accounts $v --bogus" "keygate accounts $v: unknown option '--bogus'" accounts "$v" --bogus
done
refused "load --bogus" "keygate load: unknown option '--bogus'" load --bogus http://127.0.0.1:9/
refused "probe --bogus" "keygate probe: unknown option '--bogus'" probe --bogus http://127.0.0.1:9/
refused "report show --bogus" "keygate report show: unknown option '--bogus'" report show --bogus x.json
refused "serve --bogus" "keygate serve: unknown option '--bogus'" serve --bogus
refused "serve extra" "keygate serve: unexpected argument 'extra'" serve --db x.db extra
refused "keys list extra" "keygate keys list: unexpected argument 'extra'" keys list extra
refused "keys help of no verb" "keygate keys: unknown command 'frob'" keys help frob

# ---- --name=value is --name value, in every command ------------------------------
export KEYGATE_DB=$TMP/env.db
assert_exit 0 "accounts create --tier=pro" -- "$KEYGATE" accounts create acme --tier=pro
assert_contains "pro tier" "$(cat "$TMP/out")" "--tier=pro is read"
assert_exit 0 "keys create --account=acme --name=ci --format=json" -- \
  "$KEYGATE" keys create --account=acme --name=ci --format=json
KEY=$(json_get "$TMP/out" key)
printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n\r\n' "$KEY" >"$TMP/req"
# check: --db=PATH and --db PATH agree (the store of KEYGATE_DB, given as a flag)
assert_exit 0 "check --db=PATH" -- "$KEYGATE" check --db="$KEYGATE_DB" --now=2026-01-01T00:00:00Z <"$TMP/req"
assert_eq valid "$(json_get "$TMP/out" decision)" "check --db=PATH: decision"
assert_exit 0 "check --db PATH" -- "$KEYGATE" check --db "$KEYGATE_DB" <"$TMP/req"
assert_eq valid "$(json_get "$TMP/out" decision)" "check --db PATH: decision"
# an option's value after = is checked like any other
refused "check --policy=loose" "keygate check: --policy must be strict or prefix, not 'loose'" \
  check --db="$KEYGATE_DB" --policy=loose
refused "load --duration=forever" "keygate load: --duration 'forever'" \
  load --duration=forever http://127.0.0.1:9/
refused "probe --interval=soon" "keygate probe: --interval 'soon'" \
  probe --interval=soon --key-file=k http://127.0.0.1:9/
refused "report show --format=pdf" "keygate report show:" report show --format=pdf x.json
refused "serve --workers=0" "keygate serve: --workers '0' must be" serve --db="$KEYGATE_DB" --workers=0

# ---- $KEYGATE_DB: check as accounts and keys; a flag wins ---------------------------
assert_exit 0 "check with KEYGATE_DB alone" -- "$KEYGATE" check <"$TMP/req"
assert_eq valid "$(json_get "$TMP/out" decision)" "check reads the store of KEYGATE_DB"
assert_eq acme "$(json_get "$TMP/out" account)" "check: the account of KEYGATE_DB's store"
: >"$TMP/empty.tsv"
assert_exit 0 "--keys beats KEYGATE_DB" -- "$KEYGATE" check --keys "$TMP/empty.tsv" <"$TMP/req"
assert_eq invalid_api_key "$(json_get "$TMP/out" decision)" "--keys wins over KEYGATE_DB"
assert_exit 2 "--db beats KEYGATE_DB" -- "$KEYGATE" check --db "$TMP/other.db" <"$TMP/req"
one_line "--db beats KEYGATE_DB" "keygate check: no key store at $TMP/other.db"
assert_exit 2 "--keys and --db" -- "$KEYGATE" check --keys "$TMP/empty.tsv" --db "$KEYGATE_DB" <"$TMP/req"
# a peppered store: check --db needs its pepper, by flag or by variable,
# as the store commands do
head -c 48 /dev/urandom | base64 | head -c 48 >"$TMP/pepper"
chmod 600 "$TMP/pepper"
"$KEYGATE" keys seed --valid 1 --out "$TMP/p.tsv" --db "$TMP/p.db" --pepper-file "$TMP/pepper" >/dev/null
PKEY=$(cut -f2 "$TMP/p.tsv")
printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n\r\n' "$PKEY" >"$TMP/preq"
assert_exit 0 "check --db --pepper-file=FILE" -- \
  "$KEYGATE" check --db "$TMP/p.db" --pepper-file="$TMP/pepper" <"$TMP/preq"
assert_eq valid "$(json_get "$TMP/out" decision)" "a peppered store's key is valid with its pepper"
KEYGATE_PEPPER_FILE=$TMP/pepper assert_exit 0 "check with KEYGATE_PEPPER_FILE" -- \
  "$KEYGATE" check --db "$TMP/p.db" <"$TMP/preq"
assert_eq valid "$(json_get "$TMP/out" decision)" "the pepper of KEYGATE_PEPPER_FILE"
assert_exit 2 "check of a peppered store without its pepper" -- "$KEYGATE" check --db "$TMP/p.db" <"$TMP/preq"
assert_contains "is peppered" "$(cat "$TMP/err")" "without its pepper: says so"
assert_not_contains "$PKEY" "$(cat "$TMP/out" "$TMP/err")" "no key printed"
refused "--keys with --pepper-file" "keygate check: --pepper-file goes with --db" \
  check --keys "$TMP/p.tsv" --pepper-file "$TMP/pepper"
unset KEYGATE_DB
refused "check without --keys, --db or KEYGATE_DB" \
  "keygate check: give --keys FILE or --db PATH (or set KEYGATE_DB)" check

# ---- trouble is 2 in every store command ----------------------------------------------
for argv in "check --db $TMP/none.db" "keys list --db $TMP/none.db" \
  "accounts list --db $TMP/none.db" "keys delete key_00000000001 --db $TMP/none.db"; do
  read -r -a a <<<"$argv"
  assert_exit 2 "${a[0]} ${a[1]}: a store that is not there" -- "$KEYGATE" "${a[@]}" <"$TMP/req"
  assert_eq 1 "$(wc -l <"$TMP/err")" "${a[0]} ${a[1]}: one line"
done

# help and version are commands too: --help exits 0 for them as well
assert_exit 0 "help --help" -- "$KEYGATE" help --help
assert_contains "usage: keygate" "$(cat "$TMP/out")" "help --help: the usage"
assert_exit 0 "version --help" -- "$KEYGATE" version --help
assert_contains "keygate version" "$(cat "$TMP/out")" "version --help: its usage"
assert_exit 2 "version extra" -- "$KEYGATE" version extra
assert_contains "see 'keygate version --help'" "$(cat "$TMP/err")" "version extra: the hint"

kg_done
