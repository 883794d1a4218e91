# bash completion for keygate (installed as
# share/bash-completion/completions/keygate by cmake --install).
#
# The commands, verbs and options come from the program's own --help texts,
# so the completion never drifts from the program it completes.

# _keygate_words PROG WHAT HELP-ARGS... — the words of `keygate HELP-ARGS
# --help`: with "commands", the command names; with "verbs CMD", CMD's
# verbs; with "values OPT ARGS...", the values the text lists for OPT
# ("--format text|json|tsv": text, json, tsv); else every --option the text
# names.
_keygate_words() {
  local prog=$1 what=$2
  shift 2
  case $what in
  commands)
    "$prog" --help 2>/dev/null |
      awk '/^commands:/ { f = 1; next } f && /^$/ { exit } f && /^  [a-z]/ { print $1 }'
    ;;
  verbs)
    "$prog" "$1" --help 2>/dev/null | awk '/^  [a-z][a-z-]*( |$)/ { print $1 }'
    ;;
  values)
    local opt=$1
    shift
    "$prog" "$@" --help 2>/dev/null |
      grep -oE -- "$opt [a-z0-9-]+(\|[a-z0-9-]+)+" | head -n 1 |
      cut -d' ' -f2 | tr '|' '\n'
    ;;
  options)
    "$prog" "$@" --help 2>/dev/null | grep -o -- '--[a-z0-9][a-z0-9.-]*' |
      sort -u
    echo --help
    ;;
  esac
}

_keygate() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local prog=${COMP_WORDS[0]} cmd=${COMP_WORDS[1]} verb=""
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    # shellcheck disable=SC2207 # words without spaces
    COMPREPLY=($(compgen -W "$(_keygate_words "$prog" commands) --help --version -V" -- "$cur"))
    return
  fi
  case $cmd in
  help)
    if [ "$COMP_CWORD" -eq 2 ]; then
      # shellcheck disable=SC2207
      COMPREPLY=($(compgen -W "$(_keygate_words "$prog" commands)" -- "$cur"))
    elif [ "$COMP_CWORD" -eq 3 ]; then
      # shellcheck disable=SC2207
      COMPREPLY=($(compgen -W "$(_keygate_words "$prog" verbs "${COMP_WORDS[2]}")" -- "$cur"))
    fi
    return
    ;;
  keys | accounts | report)
    if [ "$COMP_CWORD" -eq 2 ]; then
      # shellcheck disable=SC2207
      COMPREPLY=($(compgen -W "$(_keygate_words "$prog" verbs "$cmd")" -- "$cur"))
      return
    fi
    verb=${COMP_WORDS[2]}
    ;;
  esac
  local args=("$cmd")
  [ -z "$verb" ] || args+=("$verb")
  case $prev in
  --format | --policy | --tier)
    # the values this command's own help lists: keys' --format is not report's
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "$(_keygate_words "$prog" values "$prev" "${args[@]}")" -- "$cur"))
    return
    ;;
  --keys | --db | --out | --json | --html | --key-file | --expired-key-file | \
    --pepper-file | --cacert | --module | --nginx)
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -f -- "$cur"))
    return
    ;;
  --log-dir | --prefix)
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -d -- "$cur"))
    return
    ;;
  esac
  if [[ $cur == -* ]]; then
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "$(_keygate_words "$prog" options "${args[@]}")" -- "$cur"))
    return
  fi
  # shellcheck disable=SC2207
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _keygate keygate
