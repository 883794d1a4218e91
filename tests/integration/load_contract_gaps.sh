#!/usr/bin/env bash
# load_contract_gaps.sh — what an adversarial review found `keygate load`
# passing, end to end, through both HTTP/1.1 engines (native and curl):
#
#   rid_pad    X-Request-Id: req_<24> + 40 spaces + "x" (was cut to 64
#              bytes and passed)                       -> request_id
#   ct_pad     Content-Type: application/json + 112 spaces + ", text/html"
#              (cut to 128)                            -> content_type
#   www_pad    a second error="insufficient_scope" past byte 512 of
#              WWW-Authenticate (cut to 512)           -> www_authenticate
#   long_desc  a conforming expired challenge with a ~550-byte
#              error_description (was a false mismatch) -> passes
#   no_cc      no Cache-Control: no-store (SPEC §1.4)  -> cache_control
#   echo_body  the key sent in error.message           -> key_echo
#   echo_head  the key sent in a header it does not read -> key_echo
#   trailing   one byte past Content-Length: the native engine called it a
#              protocol error, libcurl dropped it ("Excess found")
#                                                      -> errors.protocol
#
# The server is in this file (python3), answers one request per read and
# never more than it is asked; every run is 100 requests on 1 connection.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
N=100

cat >"$TMP/srv.py" <<'PY'
import re, secrets, socket, string, sys, threading
KEYS, MODE = sys.argv[1], sys.argv[2]
L = [l.rstrip("\n").split("\t") for l in open(KEYS) if "\t" in l]
V = {k for c, k in L if c == "valid"}
E = {k for c, k in L if c != "valid"}
A = string.digits + string.ascii_letters
W = {"missing_api_key": 'Bearer realm="api"',
     "invalid_api_key": 'Bearer realm="api", error="invalid_token"',
     "expired_api_key": 'Bearer realm="api", error="invalid_token", '
                        'error_description="The API key has expired"'}

def answer(h):
    m = re.search(rb"(?im)^(?:x-api-key:[ \t]*|authorization:[ \t]*bearer +)(\S+)[ \t]*\r?$", h)
    k = m.group(1).decode() if m else None
    if k in V:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    code = "missing_api_key" if k is None else "expired_api_key" if k in E else "invalid_api_key"
    rid = "req_" + "".join(secrets.choice(A) for _ in range(24))
    hrid, ct, www, cc, extra, msg = rid, "application/json", W[code], "Cache-Control: no-store\r\n", "", "m"
    if MODE == "rid_pad": hrid = rid + " " * 40 + "x"
    if MODE == "ct_pad": ct = "application/json" + " " * 112 + ", text/html"
    if MODE == "www_pad" and k:
        b = www + ', x="'
        www = b + "a" * (511 - len(b)) + '", error="insufficient_scope"'
    if MODE == "long_desc" and code == "expired_api_key":
        www = 'Bearer realm="api", error="invalid_token", error_description="' + "The API key has expired. " * 22 + '"'
    if MODE == "no_cc": cc = ""
    if MODE == "echo_body" and k: msg = "the key " + k + " is not valid"
    if MODE == "echo_head" and k: extra = "X-Echo: " + k + "\r\n"
    body = ('{"error":{"code":"%s","message":"%s","request_id":"%s"}}' % (code, msg, rid)).encode()
    head = "HTTP/1.1 401 Unauthorized\r\nContent-Type: %s\r\n%sX-Request-Id: %s\r\nWWW-Authenticate: %s\r\n%s" % (ct, cc, hrid, www, extra)
    out = (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
    return out + b"x" if MODE == "trailing" else out

def serve(c):
    b = b""
    try:
        while True:
            while b"\r\n\r\n" not in b:
                d = c.recv(65536)
                if not d:
                    return
                b += d
            i = b.index(b"\r\n\r\n") + 4
            c.sendall(answer(b[:i]))
            b = b[i:]
    except OSError:
        pass
    finally:
        c.close()

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
s.settimeout(60)
print("listening on %d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

KEYS=$TMP/keys.tsv
key_file "$KEYS" valid valid valid valid expired expired
cut -f2 "$KEYS" | sed 's/^sk_live_//' >"$TMP/bodies"

SRV_PID=""
srv_start() {
  kg_listener_start "srv.py $1" python3 "$TMP/srv.py" "$KEYS" "$1"
  SRV_PID=$KG_LISTENER_PID
  URL="http://127.0.0.1:$KG_LISTENER_PORT/"
}
srv_stop() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

# run MODE ENGINE — one bounded run; RC, and $TMP/MODE.ENGINE.{json,out,err}
run() {
  RUN="$1.$2"
  RC=0
  timeout 60 "$KEYGATE" load "$URL" --keys "$KEYS" -n "$N" -c 1 \
    --mix valid=10,invalid=30,missing=30,expired=30 --engine "$2" \
    --json "$TMP/$RUN.json" >"$TMP/$RUN.out" 2>"$TMP/$RUN.err" || RC=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  local f
  for f in "$TMP/$RUN.out" "$TMP/$RUN.err" "$TMP/$RUN.json"; do
    if grep -qF -f "$TMP/bodies" "$f"; then
      kg_fail "$RUN: a full key appears in $(basename "$f")"
    fi
  done
}

# MODE EXIT KIND CLASSES — KIND: a mismatch kind every answer of CLASSES
# (comma-separated) shows and no other class does; "-" none; "protocol":
# every error answer a protocol error
while read -r mode want kind classes <&3; do
  srv_start "$mode"
  for engine in native curl; do
    run "$mode" "$engine"
    assert_eq "$want" "$RC" "$RUN: exit ($(head -c 300 "$TMP/$RUN.err"))"
    case $kind in
    -)
      kg_json_checks "$TMP/$RUN.json" <<EOF
$RUN: no mismatch ;; d['totals']['mismatches'] == 0 ;; d['classes']['all']['mismatch_kinds']
$RUN: no error ;; d['errors']['overall'] == 0 ;; d['errors']
$RUN: every request ;; d['classes']['all']['requests'] == $N ;; d['classes']['all']
EOF
      ;;
    protocol)
      kg_json_checks "$TMP/$RUN.json" <<EOF
$RUN: the error classes' answers are protocol errors ;; all(d['classes'][c]['error_kinds']['protocol'] == d['classes'][c]['requests'] > 0 for c in '$classes'.split(',')) ;; {c: d['classes'][c] for c in '$classes'.split(',')}
$RUN: the valid answers are not ;; d['classes']['valid']['errors'] == 0 ;; d['classes']['valid']
EOF
      ;;
    *)
      kg_json_checks "$TMP/$RUN.json" <<EOF
$RUN: every answer of $classes a $kind mismatch ;; all(d['classes'][c]['mismatch_kinds']['$kind'] == d['classes'][c]['mismatches'] == d['classes'][c]['requests'] > 0 for c in '$classes'.split(',')) ;; {c: d['classes'][c]['mismatch_kinds'] for c in '$classes'.split(',')}
$RUN: only $kind ;; all(n == 0 for c in '$classes'.split(',') for k, n in d['classes'][c]['mismatch_kinds'].items() if k != '$kind') ;; {c: d['classes'][c]['mismatch_kinds'] for c in '$classes'.split(',')}
$RUN: no other class ;; d['totals']['mismatches'] == sum(d['classes'][c]['mismatches'] for c in '$classes'.split(',')) ;; {c: v['mismatches'] for c, v in d['classes'].items()}
$RUN: samples name it ;; all('$kind' in s['kinds'] for s in d['samples']) and d['samples'] ;; d['samples']
$RUN: no error ;; d['errors']['overall'] == 0 ;; d['errors']
EOF
      ;;
    esac
  done
  srv_stop
done 3<<'EOF'
none 0 - -
rid_pad 1 request_id invalid,missing,expired
ct_pad 1 content_type invalid,missing,expired
www_pad 1 www_authenticate invalid,expired
long_desc 0 - -
no_cc 1 cache_control invalid,missing,expired
echo_body 1 key_echo invalid,expired
echo_head 1 key_echo invalid,expired
trailing 1 protocol invalid,missing,expired
EOF

kg_done
