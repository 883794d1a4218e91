#!/usr/bin/env bash
# tests/integration/server_check_agree.sh — `keygate check` answers every
# head as `keygate serve` does (issue 12): each head of
# check_vs_server/heads.tsv goes to both, raw, and each answer's status and
# JSON code must be the table's. Rows whose server columns differ from
# check's name the module change that will make them agree (see
# check_vs_server/README.md): such a row accepts the server's answer of
# today or check's (the change has landed), nothing else, so the table
# stays true while the module changes and any third answer shows here.
. "$(dirname "${BASH_SOURCE[0]}")/server_common.bash"

TABLE="$HERE/check_vs_server/heads.tsv"
LONG=$(printf 'b%.0s' $(seq 1 9000))

"$KEYGATE" accounts create acme --tier pro >/dev/null
: >"$T/keys" # check's keys file: no key is needed to refuse a head
start_serve

# check_answer REQUEST — "STATUS CODE" of keygate check for the head.
check_answer() {
  printf '%b' "$1" | "$KEYGATE" check --keys "$T/keys" >"$T/check.json" \
    2>/dev/null || true
  python3 - "$T/check.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    print("unparsable -")
    sys.exit(0)
print(d.get("status"), d.get("code") or d.get("decision") or "-")
PY
}

# server_answer REQUEST — "STATUS CODE" of keygate serve for the head.
server_answer() {
  send "$1"
  local status code
  status=$(resp_status)
  code=$(resp_body | sed -n 's/^{"error":{"code":"\([a-z_]*\)".*/\1/p')
  echo "${status:-none} ${code:--}"
}

rows=0
differ=0
landed=0
while IFS=$'\t' read -r name cstatus ccode sstatus scode why request; do
  case "$name" in '' | '#'*) continue ;; esac
  rows=$((rows + 1))
  request=${request//\{LONG\}/$LONG}
  # {c:n}: n bytes c (a letter), for lines of an exact length
  while [[ $request =~ \{([A-Za-z]):([0-9]+)\} ]]; do
    c=${BASH_REMATCH[1]}
    n=${BASH_REMATCH[2]}
    request=${request//\{$c:$n\}/$(head -c "$n" /dev/zero | tr '\0' "$c")}
  done
  [ "$sstatus" = "=" ] && sstatus=$cstatus
  [ "$scode" = "=" ] && scode=$ccode
  if [ "$why" != "-" ]; then
    differ=$((differ + 1))
  elif [ "$sstatus $scode" != "$cstatus $ccode" ]; then
    kg_assert_failed "$name: the table says both agree but its columns differ"
  fi
  assert_eq "$cstatus $ccode" "$(check_answer "$request")" "$name: keygate check"
  got=$(server_answer "$request")
  if [[ "$why" == module:* && "$got" == "$cstatus $ccode" ]]; then
    landed=$((landed + 1)) # the module change of this row is in
    KG_ASSERTS=$((KG_ASSERTS + 1))
  else
    assert_eq "$sstatus $scode" "$got" "$name: keygate serve"
  fi
done <"$TABLE"

assert_eq yes "$([ "$rows" -ge 60 ] && echo yes)" "heads in the table"
echo "$rows heads, $((rows - differ)) answered alike, $differ pinned apart" \
  "(see why), of which $landed already answer as check does"
kg_done
