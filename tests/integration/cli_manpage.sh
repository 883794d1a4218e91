#!/usr/bin/env bash
# cli_manpage.sh — the manual and the completions cover the program (issue
# 16): keygate.1 (written by hand in mdoc) renders without a warning and
# names every command, keys/accounts verb and report subcommand; each
# command's section of keygate.1 names every option of that command's
# --help texts and no option they lack; the environment variables the
# program reads (getenv in cli/) and the exit codes are the same in
# `keygate --help`, keygate.1 and docs/cli.md; the bash and zsh completions
# offer every command, verb and option; `cmake --install` installs the
# manual and both completions. Needs $KEYGATE, $KEYGATE_SRC and
# $KEYGATE_BUILD (set by ctest), groff, perl; zsh when installed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
: "${KEYGATE_SRC:?set KEYGATE_SRC to the source tree}"
: "${KEYGATE_BUILD:?set KEYGATE_BUILD to the build tree}"
command -v groff >/dev/null || kg_fail "groff is needed to render keygate.1"
MAN=$KEYGATE_SRC/cli/keygate.1

# ---- every help text, and what it names ---------------------------------------
COMMANDS=$("$KEYGATE" --help | awk '/^commands:/ { f = 1; next } f && /^$/ { exit } f && /^  [a-z]/ { print $1 }')
assert_contains "keys" "$COMMANDS" "the command list"
HELPS=()
: >"$TMP/helps"
for c in $COMMANDS; do
  [ "$c" = help ] || [ "$c" = version ] && continue
  "$KEYGATE" "$c" --help >>"$TMP/helps"
  HELPS+=("$c")
  case $c in
  keys | accounts | report)
    for v in $("$KEYGATE" "$c" --help | awk '/^  [a-z][a-z-]*( |$)/ { print $1 }'); do
      "$KEYGATE" "$c" "$v" --help >>"$TMP/helps"
      HELPS+=("$c $v")
    done
    ;;
  esac
done
OPTIONS=$(grep -o -- '--[a-z0-9][a-z0-9.-]*[a-z0-9]' "$TMP/helps" | sort -u)
[ "$(printf '%s\n' "$OPTIONS" | wc -l)" -ge 50 ] || kg_fail "too few options found: $OPTIONS"
assert_contains "--expires-in" "$OPTIONS" "the options of keys create"
assert_contains "--fail" "$OPTIONS" "check --fail"
assert_contains "--force" "$OPTIONS" "keys seed --force"

# ---- keygate.1 --------------------------------------------------------------------
assert_eq "" "$(groff -mdoc -Tascii -ww -z "$MAN" 2>&1)" "keygate.1 renders without a warning"
# rendered wide and without hyphenation, so no option is split
groff -mdoc -Tascii -rLL=400n -rHY=0 "$MAN" 2>/dev/null | col -b >"$TMP/man.txt"
MANTEXT=$(cat "$TMP/man.txt")
# options_of — the options a --help text on stdin offers: --long and -s
# names, without -h/--help (every command's, DESCRIPTION says so) and
# without another command's options named in a quoted cross-reference
# ('keygate keys seed --out', which may wrap over two lines).
options_of() {
  perl -0777 -pe "s/'keygate [^']*'//g" |
    grep -oE -- '(^|[ ,[(|])(--[a-z0-9][a-z0-9.-]*[a-z0-9]|-[a-zA-Z])([] ,)|=]|$)' |
    sed -E 's/^[] ,[(|]//; s/[] ,)|=]$//' | grep -vxE -- '-h|--help' | sort -u
}
# man_section CMD — the mdoc lines of CMD's item in COMMANDS, its verbs' too
man_section() {
  awk -v cmd="$1" '
    /^\.Sh / { in_cmds = ($0 == ".Sh COMMANDS"); depth = 0; cur = ""; next }
    !in_cmds { next }
    /^\.Bl/ { depth++; next }
    /^\.El/ { depth--; next }
    depth == 1 && /^\.It Cm / { cur = $3 }
    cur == cmd' "$MAN"
}
# man_options CMD — the options (Fl macros) of CMD's section; another
# command's option is written .Ql there, so it is not counted
man_options() {
  man_section "$1" | grep -oE -- '(^\.?| )Fl -?[A-Za-z0-9][A-Za-z0-9.-]*' |
    sed -E 's/^[. ]?Fl /-/' | sort -u
}
PROBLEMS=
for c in $COMMANDS; do
  [ "$c" = help ] || [ "$c" = version ] && continue
  [ -n "$(man_section "$c")" ] || { PROBLEMS+="keygate.1 has no section for $c"$'\n'; continue; }
  {
    "$KEYGATE" "$c" --help
    for h in "${HELPS[@]}"; do
      read -r -a w <<<"$h"
      if [ "${w[0]}" = "$c" ] && [ ${#w[@]} -eq 2 ]; then "$KEYGATE" "${w[@]}" --help; fi
    done
  } | options_of >"$TMP/help_opts"
  man_options "$c" >"$TMP/man_opts"
  for o in $(comm -23 "$TMP/help_opts" "$TMP/man_opts"); do
    PROBLEMS+="keygate.1's $c section does not name $o (from 'keygate $c --help')"$'\n'
  done
  for o in $(comm -13 "$TMP/help_opts" "$TMP/man_opts"); do
    PROBLEMS+="keygate.1's $c section names $o, which 'keygate $c --help' does not offer"$'\n'
  done
  KG_ASSERTS=$((KG_ASSERTS + 1))
done
[ -z "$PROBLEMS" ] || kg_assert_failed $'keygate.1 and the --help texts disagree:\n'"$PROBLEMS"

for h in "${HELPS[@]}"; do
  for w in $h; do
    grep -qE -- "(^|[^a-z0-9-])$w([^a-z0-9-]|$)" "$TMP/man.txt" ||
      kg_fail "keygate.1 does not name '$w' (of '$h')"
    KG_ASSERTS=$((KG_ASSERTS + 1))
  done
done
for t in "EXIT STATUS" "KEYGATE_DB" "KEYGATE_PEPPER_FILE" "A negative verdict" \
  "Trouble: a usage error" "help [command [verb]]" "-V and --version"; do
  assert_contains "$t" "$MANTEXT" "keygate.1: $t"
done


# ---- the environment and the exit codes: one list in three places --------------------
# what cli/ reads (getenv, or probe's key_from_env); an empty list goes on
# to the assertions below, which name it (the greps' || true)
{ grep -hE 'getenv|_from_env' "$KEYGATE_SRC"/cli/*.c || true; } |
  { grep -oE '"KEYGATE_[A-Z_]+"' || true; } | tr -d '"' | sort -u >"$TMP/env_code"
[ "$(wc -l <"$TMP/env_code")" -ge 4 ] || kg_fail "too few variables found in cli/: $(cat "$TMP/env_code")"
"$KEYGATE" --help | awk '/^environment/ { f = 1 } f && /^$/ { exit } f' |
  { grep -oE 'KEYGATE_[A-Z_]+' || true; } | sort -u >"$TMP/env_help"
awk '/^\.Sh / { f = ($0 == ".Sh ENVIRONMENT") } f && /^\.It /' "$MAN" |
  { grep -oE 'KEYGATE_[A-Z_]+' || true; } | sort -u >"$TMP/env_man"
awk '/^## The environment/ { f = 1 } f && /^\|/ { t = 1 } t && !/^\|/ { exit } t && /^\| `KEYGATE_/' \
  "$KEYGATE_SRC/docs/cli.md" |
  cut -d'|' -f2 | { grep -oE 'KEYGATE_[A-Z_]+' || true; } | sort -u >"$TMP/env_doc"
for w in help man doc; do
  assert_eq "$(cat "$TMP/env_code")" "$(cat "$TMP/env_$w")" \
    "the environment cli/ reads, and the list of $w (help: keygate --help; man: keygate.1 ENVIRONMENT; doc: docs/cli.md)"
done
# the codes: keygate --help's "  N  ..." lines, keygate.1's .It lines, docs/cli.md's rows
"$KEYGATE" --help | awk '/^exit status/ { f = 1; next } f && /^$/ { exit } f' |
  { grep -oE '^  [0-9][0-9, ]*' || true; } | { grep -oE '[0-9]+' || true; } | sort -n >"$TMP/exit_help"
awk '/^\.Sh / { f = ($0 == ".Sh EXIT STATUS") } f && /^\.It /' "$MAN" |
  { grep -oE '[0-9]+' || true; } | sort -n >"$TMP/exit_man"
# (docs/cli.md: the first table under "## Exit codes")
awk '/^## Exit codes/ { f = 1 } f && /^\|/ { t = 1 } t && !/^\|/ { exit } t && /^\| [0-9]/' \
  "$KEYGATE_SRC/docs/cli.md" |
  cut -d'|' -f2 | { grep -oE '[0-9]+' || true; } | sort -n >"$TMP/exit_doc"
assert_eq "$(printf '%s\n' 0 1 2 130 143)" "$(cat "$TMP/exit_doc")" "docs/cli.md's exit codes"
assert_eq "$(cat "$TMP/exit_doc")" "$(cat "$TMP/exit_help")" "keygate --help's exit codes"
assert_eq "$(cat "$TMP/exit_doc")" "$(cat "$TMP/exit_man")" "keygate.1's exit codes"
# ---- bash completion ----------------------------------------------------------------
BASH_COMP=$KEYGATE_SRC/cli/completion/keygate.bash
# complete WORDS... — what the bash completion offers for the last word
complete_bash() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _keygate
    printf "%s\n" "${COMPREPLY[@]}"' _ "$BASH_COMP" "$KEYGATE" "$@"
}
GOT=$(complete_bash "")
for c in $COMMANDS; do
  assert_contains "$c" "$GOT" "bash: the command $c"
done
assert_eq "keys" "$(complete_bash ke)" "bash: 'ke' completes to keys"
for h in "${HELPS[@]}"; do
  read -r -a w <<<"$h"
  [ ${#w[@]} -eq 2 ] || continue
  assert_contains "${w[1]}" "$(complete_bash "${w[0]}" "")" "bash: the verb $h"
  want=$("$KEYGATE" "${w[@]}" --help | grep -o -- '--[a-z0-9][a-z0-9.-]*[a-z0-9]' | sort -u)
  got=$(complete_bash "${w[@]}" --)
  for o in $want; do
    assert_contains "$o" "$got" "bash: $h $o"
  done
done
GOT=$(complete_bash check --)
for o in --keys --db --fail --batch --now --help; do
  assert_contains "$o" "$GOT" "bash: check $o"
done
assert_eq "strict
prefix" "$(complete_bash check --policy "")" "bash: --policy's values"
# An option's values are the ones the command's own help lists: keys'
# --format is not report's.
assert_eq "$(printf '%s\n' text json tsv)" "$(complete_bash keys list --format "")" \
  "bash: keys list --format's values"
assert_eq "$(printf '%s\n' text json tsv)" "$(complete_bash accounts create x --format "")" \
  "bash: accounts create --format's values"
assert_eq "$(printf '%s\n' table json markdown)" "$(complete_bash report show --format "")" \
  "bash: report show --format's values"
assert_eq "$(printf '%s\n' json markdown table)" "$(complete_bash report compare --format "" | sort)" \
  "bash: report compare --format's values"
assert_eq "json" "$(complete_bash keys create --format j)" "bash: a value's prefix"
assert_eq "free
pro" "$(complete_bash accounts create x --tier "")" "bash: --tier's values"
assert_eq "" "$(complete_bash load --format "")" "bash: no values for an option load does not have"
assert_eq "$(printf '%s\n' create list deactivate delete rotate seed ack-restore)" \
  "$(complete_bash help keys "")" "bash: help keys <verb>"

# ---- zsh completion -------------------------------------------------------------------
ZSH_COMP=$KEYGATE_SRC/cli/completion/_keygate
if command -v zsh >/dev/null; then
  assert_exit 0 "zsh reads _keygate" -- zsh -n "$ZSH_COMP"
  complete_zsh() {
    zsh -c 'compadd() { if [[ $1 == -a ]]; then print -rl -- ${(P)2}; else print -rl -- "$@"; fi }
      _files() { print FILES }
      comp=$1; shift; words=("$@"); CURRENT=$#
      source $comp' _ "$ZSH_COMP" "$KEYGATE" "$@"
  }
  GOT=$(complete_zsh "")
  for c in $COMMANDS; do
    assert_contains "$c" "$GOT" "zsh: the command $c"
  done
  assert_contains "ack-restore" "$(complete_zsh keys "")" "zsh: the keys verbs"
  GOT=$(complete_zsh keys seed --)
  for o in --valid --expired --deactivated --out --force --db --pepper-file; do
    assert_contains "$o" "$GOT" "zsh: keys seed $o"
  done
  assert_eq FILES "$(complete_zsh check --keys "")" "zsh: --keys takes a file"
  assert_eq "$(printf '%s\n' text json tsv)" "$(complete_zsh keys list --format "")" \
    "zsh: keys list --format's values"
  assert_eq "$(printf '%s\n' table json markdown)" "$(complete_zsh report show --format "")" \
    "zsh: report show --format's values"
  assert_eq "$(printf '%s\n' strict prefix)" "$(complete_zsh check --policy "")" \
    "zsh: check --policy's values"
else
  echo "note: zsh not installed; _keygate checked only by the install below"
fi

# ---- cmake --install puts them in place ---------------------------------------------------
PREFIX=$TMP/prefix
assert_exit 0 "cmake --install" -- "${CMAKE_COMMAND:-cmake}" --install "$KEYGATE_BUILD" --prefix "$PREFIX"
for f in share/man/man1/keygate.1 share/bash-completion/completions/keygate \
  share/zsh/site-functions/_keygate bin/keygate; do
  [ -f "$PREFIX/$f" ] || kg_fail "cmake --install did not install $f"
  KG_ASSERTS=$((KG_ASSERTS + 1))
done
assert_eq "" "$(cmp "$MAN" "$PREFIX/share/man/man1/keygate.1")" "the installed manual"
MANPATH=$PREFIX/share/man man -w keygate >"$TMP/where" 2>&1 || true
assert_eq "$PREFIX/share/man/man1/keygate.1" "$(cat "$TMP/where")" "man finds it in the prefix"

kg_done
