#!/usr/bin/env python3
"""fuzz/make_seeds.py — write the hand-made seed corpora into corpus/<target>/.

Each seed is named by the SHA-1 of its content (as libFuzzer's -merge names
files), so running this twice changes nothing and seeds merged by
scripts/fuzz sit beside these. The scenarios below, taken together, exercise
every rule of SPEC §1.1; the comment on each says which.

    python3 fuzz/make_seeds.py [CORPUS_DIR]      (default: corpus/)
"""
import hashlib
import os
import struct
import sys
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(v, width):
    out = []
    for _ in range(width):
        out.append(BASE62[v % 62])
        v //= 62
    return "".join(reversed(out))


def make_key(name, prefix="sk_live_"):
    """The fixture keys of fuzz_request_head.c: name padded to 32 with '0',
    then the CRC32 of the 40 characters in 6 base62 digits."""
    body = prefix + name + "0" * (32 - len(name))
    return body + b62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


ACTIVE = make_key("FuzzActive")
DEACT = make_key("FuzzDeactivated")
EXPST = make_key("FuzzExpiredStatus")
DELETED = make_key("FuzzDeleted")
PAST = make_key("FuzzPastExpiry")
FUTURE = make_key("FuzzFutureExpiry")
UNKNOWN = make_key("FuzzUnknown")
BADSUM = ACTIVE[:-1] + ("0" if ACTIVE[-1] != "0" else "1")
TESTKEY = make_key("FuzzActive", "sk_test_")

# (comment, fields [(name, value)], query). Comments name the §1.1 rule.
SCENARIOS = [
    ("no credential at all: missing", [], ""),
    ("Bearer key: valid", [("Authorization", "Bearer " + ACTIVE)], ""),
    ("X-API-Key: valid", [("X-API-Key", ACTIVE)], ""),
    ("names are case-insensitive", [("authorization", "Bearer " + ACTIVE)], ""),
    ("names are case-insensitive", [("AUTHORIZATION", "Bearer " + ACTIVE)], ""),
    ("names are case-insensitive", [("x-api-key", ACTIVE)], ""),
    ("names are case-insensitive", [("X-Api-KEY", ACTIVE)], ""),
    ("scheme is case-insensitive", [("Authorization", "bearer " + ACTIVE)], ""),
    ("scheme is case-insensitive", [("Authorization", "BEARER " + ACTIVE)], ""),
    ("scheme is case-insensitive", [("Authorization", "BeArEr " + ACTIVE)], ""),
    ("1*SP after scheme", [("Authorization", "Bearer    " + ACTIVE)], ""),
    ("OWS around value", [("Authorization", " \tBearer " + ACTIVE + " \t")], ""),
    ("OWS around X-API-Key", [("X-API-Key", "\t " + ACTIVE + "  ")], ""),
    ("HTAB after scheme: malformed", [("Authorization", "Bearer\t" + ACTIVE)], ""),
    ("Bearer alone: missing", [("Authorization", "Bearer")], ""),
    ("Bearer and spaces only: missing", [("Authorization", "Bearer    ")], ""),
    ("empty Authorization: missing", [("Authorization", "")], ""),
    ("empty X-API-Key: missing", [("X-API-Key", "")], ""),
    ("X-API-Key of OWS only: missing", [("X-API-Key", " \t ")], ""),
    ("Basic scheme ignored", [("Authorization", "Basic dXNlcjpwYXNz")], ""),
    ("Digest scheme ignored", [("Authorization", 'Digest username="a", realm="b"')], ""),
    ("Bearerx is another scheme", [("Authorization", "Bearerx " + ACTIVE)], ""),
    ("Basic plus X-API-Key: key from X-API-Key",
     [("Authorization", "Basic dXNlcjpwYXNz"), ("X-API-Key", ACTIVE)], ""),
    ("token68 with trailing '='", [("Authorization", "Bearer " + ACTIVE + "==")], ""),
    ("token68 all its characters", [("Authorization", "Bearer aZ09-._~+/==")], ""),
    ("not token68: space inside", [("Authorization", "Bearer sk_live_ab cd")], ""),
    ("not token68: '=' inside", [("Authorization", "Bearer ab=cd")], ""),
    ("not token68: only '='", [("Authorization", "Bearer ==")], ""),
    ("not token68: comma", [("X-API-Key", "sk_live_a,b")], ""),
    ("not token68: quote", [("X-API-Key", '"' + ACTIVE + '"')], ""),
    ("not token68: non-ASCII", [("X-API-Key", "sk_live_\u00e9t\u00e9")], ""),
    ("control char in token: malformed", [("Authorization", "Bearer sk_live_\x01abc")], ""),
    ("control char DEL: malformed", [("X-API-Key", ACTIVE + "\x7f")], ""),
    ("control char in other scheme: malformed", [("Authorization", "Basic a\x02b")], ""),
    ("NUL in value: malformed", [("X-API-Key", "sk_live_\x00abc")], ""),
    ("CR in value: malformed", [("X-API-Key", "abc\rdef")], ""),
    ("HTAB inside token: malformed", [("X-API-Key", "abc\tdef")], ""),
    ("same key in both headers: one key",
     [("Authorization", "Bearer " + ACTIVE), ("X-API-Key", ACTIVE)], ""),
    ("different keys in both headers: ambiguous",
     [("Authorization", "Bearer " + ACTIVE), ("X-API-Key", DEACT)], ""),
    ("Authorization twice: ambiguous",
     [("Authorization", "Bearer " + ACTIVE), ("Authorization", "Bearer " + ACTIVE)], ""),
    ("X-API-Key twice: ambiguous", [("X-API-Key", ACTIVE), ("x-api-key", ACTIVE)], ""),
    ("X-API-Key twice, one empty: ambiguous", [("X-API-Key", ""), ("X-API-Key", ACTIVE)], ""),
    ("malformed and valid across headers",
     [("Authorization", "Bearer a b"), ("X-API-Key", ACTIVE)], ""),
    ("empty X-API-Key and a Bearer key",
     [("Authorization", "Bearer " + ACTIVE), ("X-API-Key", "")], ""),
    ("key in query by prefix: refused", [("Authorization", "Bearer " + ACTIVE)], "q=" + ACTIVE),
    ("key in query by percent-encoded prefix", [], "x=sk%5Flive%5F123"),
    ("key in query by percent-encoded prefix (lower hex)", [], "x=%73k_live_abc"),
    ("api_key param", [], "api_key=abc"),
    ("apikey param", [], "limit=10&apikey=abc"),
    ("key param", [], "key=1"),
    ("access_token param", [], "access_token=abc&type=ipv4"),
    ("token param", [], "token=x"),
    ("param names case-insensitive", [], "API_KEY=abc"),
    ("param names percent-decoded", [], "api%5Fkey=abc"),
    ("empty api_key is no key", [("X-API-Key", ACTIVE)], "api_key="),
    ("param without '=' tested as value", [], ACTIVE),
    ("param without '=' not a key", [], "verbose&type=ipv4"),
    ("query without key", [("X-API-Key", ACTIVE)], "type=ipv4&limit=10"),
    ("sk_test_ prefix is not the policy's", [], "x=" + TESTKEY),
    ("query beats ambiguous",
     [("Authorization", "Bearer " + ACTIVE), ("X-API-Key", DEACT)], "token=1"),
    ("ambiguous beats malformed",
     [("X-API-Key", "a b"), ("X-API-Key", ACTIVE)], ""),
    ("deactivated key: expired", [("Authorization", "Bearer " + DEACT)], ""),
    ("expired-status key: expired", [("X-API-Key", EXPST)], ""),
    ("deleted key: invalid", [("Authorization", "Bearer " + DELETED)], ""),
    ("key past its expiry: expired", [("X-API-Key", PAST)], ""),
    ("key with future expiry: valid", [("X-API-Key", FUTURE)], ""),
    ("unknown well-formed key: invalid", [("Authorization", "Bearer " + UNKNOWN)], ""),
    ("bad checksum: invalid", [("Authorization", "Bearer " + BADSUM)], ""),
    ("truncated key: invalid", [("X-API-Key", ACTIVE[:-3])], ""),
    ("wrong prefix: invalid", [("X-API-Key", TESTKEY)], ""),
    ("other fields around",
     [("Host", "localhost"), ("Accept", "*/*"), ("X-API-Key", ACTIVE),
      ("User-Agent", "curl/8")], ""),
    ("X-API-Key-Extra is not X-API-Key", [("X-API-Key-Extra", ACTIVE)], ""),
    ("Proxy-Authorization is not Authorization",
     [("Proxy-Authorization", "Bearer " + ACTIVE)], ""),
]


def head(fields, query, eol="\r\n", target="/api/v1/iocs"):
    t = target + ("?" + query if query else "")
    lines = ["GET " + t + " HTTP/1.1", "Host: localhost"]
    lines += [n + ": " + v for n, v in fields]
    return (eol.join(lines) + eol + eol).encode("latin-1", "replace")


def enc(s):
    return s.encode("latin-1") if all(ord(c) < 256 for c in s) else s.encode()


# Request heads that exercise the head parser itself (RFC 9112).
RAW_HEADS = [
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET /api/v1/iocs HTTP/1.1\nHost: a\nX-API-Key: " + ACTIVE.encode() + b"\n\n",
    b"GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\n",  # incomplete
    b"GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\n X-API-Key: abc\r\n\r\n",  # obs-fold
    b"GET /api/v1/iocs HTTP/1.1\r\nX-API-Key : abc\r\n\r\n",  # ws before colon
    b"GET /api/v1/iocs HTTP/1.1\r\nX-API-Key: a\x01b\r\n\r\n",  # control char
    b"GET /api/v1/iocs HTTP/1.1\r\nX-AP\x00I-Key: a\r\n\r\n",  # bad name
    b"GET /api/v1/iocs HTTP/1.0\r\nX-API-Key: a\r\n\r\n",
    b"POST /api/v1/iocs?type=ipv4 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"GET /api/v1/iocs HTTP/1.1\r\nX-API-Key: a\rb\r\n\r\n",  # bare CR
    b"GET  /api HTTP/1.1\r\n\r\n",  # two spaces
    b"GET /api HTTP/2.0\r\n\r\n",
    b"G@T /api HTTP/1.1\r\n\r\n",
    b"GET /api\x7f HTTP/1.1\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET /api HTTP/1.1\r\nNoColon\r\n\r\n",
    b"GET /api HTTP/1.1\r\n: empty-name\r\n\r\n",
    b"GET /a?b HTTP/1.1\r\nX-API-Key:" + ACTIVE.encode() + b"\r\n\r\n",  # no OWS
    b"GET /api HTTP/1.1\r\n" + b"".join(b"F%d: v\r\n" % i for i in range(101)) + b"\r\n",
    b"GET /api HTTP/1.1\r\nBig: " + b"a" * 17000 + b"\r\n\r\n",
    # the framing nginx reads (review 88): a length at and over 2^63 - 1,
    # tabs around a length and a coding, a coding beside a length
    b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length:\t0\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
]


def seeds():
    out = {}

    def add(target, data):
        out.setdefault(target, set()).add(bytes(data))

    for _, fields, query in SCENARIOS:
        add("fuzz_request_head", head(fields, query))
        diff = query + "\n" + "\n".join(n + ":" + v for n, v in fields)
        add("fuzz_differential", enc(diff))
        for n, v in fields:
            if n.lower() == "authorization":
                add("fuzz_authorization", enc(v))
            elif n.lower() == "x-api-key":
                add("fuzz_x_api_key", enc(v))
        for pol in (0, 1, 2):
            if query:
                add("fuzz_query", bytes([pol]) + query.encode())
    for h in RAW_HEADS:
        add("fuzz_request_head", h)
    # LF-only variants of a few scenarios.
    for _, fields, query in SCENARIOS[:8]:
        add("fuzz_request_head", head(fields, query, eol="\n"))

    extra_values = [
        "", " ", "\t", "Bearer", "Bearer ", "bearer x", "Bearer\tx",
        "Bearer  x  ", "Bearer x y", "Bearer =", "Bearer a=", "Bearer a=b=",
        "Bearer a\x00", "Bearer \x7f", "Token abc", "Bearer " + ACTIVE,
        "Bearer " + "A" * 300, "Basic", "Basic ", "Bear", "Bearers x",
        "Bearer\u00a0x", "Bearer ~+/-._", "Bearer +", "Bearer /=",
    ]
    for v in extra_values:
        add("fuzz_authorization", enc(v))
    x_values = [
        "", " ", "\t\t", "a", "=", "a=", "a==", "a=b", "a b", "\x00",
        "\x1f", "\x7f", "\x80", "~", "Bearer " + ACTIVE, ACTIVE,
        " " + ACTIVE, ACTIVE + "\t", "A" * 300, "sk_live_", "aZ09-._~+/",
        "a\tb", "\ta", "a,b", "a;b", "'a'",
    ]
    for v in x_values:
        add("fuzz_x_api_key", enc(v))
    queries = [
        "", "&", "&&", "=", "==", "%", "%2", "%zz", "a=%", "a=%5",
        "key", "key=", "=key", "token=%00", "Token=1", "ACCESS_TOKEN=1",
        "api%5fkey=1", "api%255Fkey=1", "sk_live_=1", "x=sk_live",
        "x=sk_live_", "x=%73%6b%5f%6c%69%76%65%5f", "pk_abc", "x=pk_",
        "a=1&b=2&token=3", "a&&api_key=1", "api_key=1#frag",
        "limit=10&type=ipv4", "x=SK_LIVE_abc", "x=+sk_live_",
        "a_parameter_name_longer_than_any_key_name=1", "access_token%3D=1",
    ]
    for q in queries:
        for pol in (0, 1, 2):
            add("fuzz_query", bytes([pol]) + q.encode())
    # Keys anywhere in the request-target (SPEC §1.1, issue 12): the path,
    # ';' parameters, mid-value, after '+' or %20, a name, after %3F, behind
    # '#', each raw, encoded once and encoded twice; and near misses.
    body = ACTIVE[8:]
    targets = [
        "/api/v1/iocs/" + ACTIVE, "/" + ACTIVE + "/x", "/a;" + ACTIVE,
        "/a;api_key=1", "/a?b=1;" + ACTIVE, "/a?b=1;token=1",
        "/a?q=foo" + ACTIVE, "/a?ids=1," + ACTIVE, "/a?q=a+" + ACTIVE,
        "/a?q=a%20" + ACTIVE, "/a?" + ACTIVE + "=1", "/a%3F" + ACTIVE,
        "/a#" + ACTIVE, "/a#access_token=1", "http://h/a/" + ACTIVE,
        "/a/%73k_live_" + body, "/a/%73%6B%5F%6C%69%76%65%5F" + body,
        "/a?q=s%6b_live_" + body, "/a/%2573k_live_" + body,
        "/a/%25%37%33k_live_" + body, "/a/%%37%33k_live_" + body,
        "/a?q=%2573%256B%255F%256C%2569%2576%2565%255F" + body,
        "/a?api%255Fkey=1", "/a/SK_LIVE_" + body, "/a/%53%4B_LIVE_x",
        "/a?q=sk_liv", "/a/sk_%41ive_x", "/a/sk_%2541ive_x",
        "/a/%252573k_live_x", "/a%3Fapi_key=1", "/tasks/sk_test_x",
        "/a/pk_x", "/a/%2570k_x", "/a?q=sk_live%5", "/a?q=%25%25%25",
        "/l?next=/a?key=1", "*",
    ]
    for t in targets:
        for pol in (0, 1, 2):
            add("fuzz_query", bytes([pol]) + t.encode())
        add("fuzz_differential",
            enc(t + "\nAuthorization: Bearer " + ACTIVE))
        add("fuzz_request_head",
            enc("GET " + t + " HTTP/1.1\r\nHost: a\r\nX-API-Key: " +
                ACTIVE + "\r\n\r\n"))
    # Deeper than SPEC's two decodings (kg_target_deep, checked by
    # fuzz_query against its model): the prefix's first character escaped
    # 3 to 11 times (the last past KG_TARGET_DEEP_LEVELS), the whole prefix
    # escaped three times, a '%' spelled by halves, an escaped separator
    # that is data at depth, and a target that keeps decoding with no key.
    def esc(text, times):
        for _ in range(times):
            text = "".join("%{:02X}".format(ord(c)) if c in "s%" else c
                           for c in text)
        return text
    deep = ["/a/" + esc("sk_live_", k) + body for k in range(3, 12)]
    deep += [
        "/a?q=" + esc("%73%6B%5F%6C%69%76%65%5F", 2) + body,
        "/a/%%32%3573k_live_" + body, "/a/%25%32%35%37%33k_live_" + body,
        "/v1/a%253Fkey%253Dx/100%25", "/a/" + esc("%", 12) + "zz",
        "/a/" + esc("sK_TeSt_", 4) + body, "/a/" + esc("pk_x", 5),
        "/a/" + esc("sk_live", 4) + "_x",
    ]
    for t in deep:
        for pol in (0, 1, 2):
            add("fuzz_query", bytes([pol]) + t.encode())
    diffs = [
        "\nAuthorization:Bearer " + ACTIVE + "\nX-API-Key:" + ACTIVE,
        "\nAuthorization\nX-API-Key",
        "\n:\n:\n",
        "token=1\nX-API-Key:a b",
        "%\nAuthorization: Bearer a\nAuthorization: Bearer a",
        "\nX-API-Key:a:b",
        "\nX-API-Key: a \nAuthorization: Bearer a",
        "\nX-API-Key: a\nAuthorization: Bearer  a ",
        "\nX-API-Key:\x00",
        "\nauthorization:bearer\t" + ACTIVE,
    ]
    for d in diffs:
        add("fuzz_differential", enc(d))

    # fuzz_key_format: policy byte, then a key.
    keys = [ACTIVE, DEACT, UNKNOWN, BADSUM, TESTKEY, ACTIVE[:-1], ACTIVE + "0",
            "", "sk_live_", "sk_live_" + "0" * 38, "sk_live_" + "z" * 38,
            ACTIVE.replace("F", "?", 1), "SK_LIVE_" + ACTIVE[8:],
            "pk_" + "a" * 13, "pk_" + "a" * 12, "pk_" + "a" * 253,
            "pk_" + "a" * 254, "pk_abc/+~.-_==", "pk_abc=def0000000",
            "pk_\x01" + "a" * 20, "pk_" + "\u00e9" * 10]
    for k in keys:
        for pol in (0, 1, 2):
            add("fuzz_key_format", bytes([pol]) + enc(k))
    # Policies from the input: 0x80 | kind, prefix length, prefix, key.
    custom = [(0x80, b"sk_live_", ACTIVE), (0x80, b"rk_", "rk_" + "0" * 38),
              (0x81, b"pk_", "pk_" + "a" * 20), (0x81, b"ghp_", "ghp_x"),
              (0x80, b"a!b", "a!b"), (0x80, b"", "x"),
              (0x80, b"A" * 17, "A" * 40), (0x81, b"-_-", "-_-" + "=" * 20),
              (0x80, b"A" * 16, "A" * 16 + "0" * 38)]
    for kind, prefix, k in custom:
        add("fuzz_key_format",
            bytes([kind, len(prefix)]) + prefix + enc(k))

    # fuzz_index: (n, m, records..., lookups...), see fuzz_index.c. After
    # the digest: status, expires_at (2 bytes), key_id (2), account_id (1)
    # and the range byte (0xF0 and up: one field out of range).
    def rec_raw(seed, status, exp, rng=0):
        digest = hashlib.sha256(bytes([seed])).digest()
        return bytes([0]) + digest + bytes([status, exp, seed, seed, 1,
                                            seed, rng])

    def rec_twin(of, pos, x, status):
        return bytes([(of << 1) | 1, pos, x, status, 0, 0, 7, 7, 0, 0])

    idx = []
    idx.append(bytes([0, 3, 2] + [0] * 32))  # empty index, raw lookup
    recs = b"".join(rec_raw(i, i % 4, i) for i in range(8))
    looks = b"".join(bytes([0, i]) for i in range(8)) + bytes([1, 3, 5, 9])
    idx.append(bytes([8, 12]) + recs + looks)
    recs = rec_raw(1, 0, 0) + rec_twin(0, 0, 1, 1) + rec_twin(0, 31, 128, 2)
    idx.append(bytes([3, 4]) + recs + bytes([0, 0, 0, 1, 0, 2, 1, 0, 5, 1]))
    recs = rec_raw(1, 0, 0) + rec_raw(1, 1, 0)  # duplicate digest
    idx.append(bytes([2, 1]) + recs + bytes([0, 0]))
    recs = b"".join(rec_raw(i, 0, 0) for i in range(40))
    idx.append(bytes([40, 40]) + recs + b"".join(bytes([0, i]) for i in range(40)))
    recs = rec_raw(9, 3, 255) + b"".join(rec_twin(0, i, 1 << (i % 8), i % 4)
                                          for i in range(30))
    idx.append(bytes([31, 20]) + recs + b"".join(bytes([i % 3, i, 4, 4])
                                                 for i in range(20)))
    # the packed ranges' tops, then each field just past its range
    recs = rec_raw(3, 3, 255) + rec_raw(4, 1, 128)
    idx.append(bytes([2, 2]) + recs + bytes([0, 0, 0, 1]))
    for rng in (0xF0, 0xF1, 0xF2, 0xF3):
        recs = rec_raw(5, 0, 0) + rec_raw(6, 0, 0, rng)
        idx.append(bytes([2, 1]) + recs + bytes([0, 0]))
    # the range byte's other use: spread into expires_at's bits 8-32 and
    # account_id's 6-27 (the packing's middle bits), looked up whole
    recs = b"".join(rec_raw(10 + i, i % 2, 200 + i, rng)
                    for i, rng in enumerate((0x01, 0x5A, 0xA5, 0xEF)))
    idx.append(bytes([4, 4]) + recs + bytes([0, 0, 0, 1, 0, 2, 0, 3]))
    for d in idx:
        add("fuzz_index", d)

    # fuzz_redact: [cap, mode, seed x8, body length, position] + text. The
    # texts are what the redaction meets: error lines naming files and ids,
    # a server's JSON error, URLs, keys of other issuers, escapes, UTF-8.
    texts = [
        b"",
        b"cannot read keys file /home/u/keys.tsv: No such file or directory",
        b"/tmp/keygate-test.z6zL62/results-2026-12-03T10-00-00Z-valid.json",
        b'{"error":{"code":"invalid_api_key","message":"The API key is '
        b'invalid.","request_id":"req_8yDoYITcaJMsb9cvAb3dQw8e"}}',
        b"keys delete key_Ab3dQw8eZx9: no such key",
        b"GET /v1/iocs?type=ipv4&limit=10&api_key= HTTP/1.1",
        b"acme_Ab3d-Qw8e-Zx9r-Lm2p and xoxb-1234567890-AbCdEfGhIjKlMnOp",
        b"/home/u/Zm9vYmFyYmF6cXV4/cXV1eA==/TargetTransformInfoImpl.h",
        b"AKIAIOSFODNN7EXAMPLE 0123456789abcdef0123456789abcdef",
        b"%25%2525%5F%5f%73 ~/keys.d/../x=y;z,\"'<>()[]{}`",
        "§ 1.4 no key ü ‰ 𝄞".encode() + b" \x00\x01\x7f\xc3",
        b"sk_live_**** sk_test_****Ab3x sk_live_ sk_live_exports/",
    ]
    # byte 1 % 6 is the mode (0 none, 1 named, 2 named encoded, 3 a
    # parameter, 4 a bare body, 5 a guessed prefix); its bits 0x20 and 0x40
    # pick sk_test_ and upper case, bits 0xC0 mode 2's spelling
    modes = [0, 6, 1, 0x49, 0x25, 2, 0x44, 0x86, 0xC2, 3, 0x21, 0x33, 0x5D,
             4, 0x46, 5, 0x4D, 0x23]
    for i, text in enumerate(texts):
        for j, m in enumerate(modes):
            if (i + j) % 3 and i:
                continue  # every mode, but not every pair
            seed = hashlib.sha256(bytes([i, j])).digest()[:8]
            for cap, length, pos in ((0xFF, 26, 128), (9, 38, 0),
                                     (40, 0, 255)):
                add("fuzz_redact", bytes([cap, m]) + seed +
                    bytes([length, pos]) + text)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
    total = 0
    for target, items in sorted(seeds().items()):
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for data in items:
            path = os.path.join(d, hashlib.sha1(data).hexdigest())
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(data)
        print(f"{target}: {len(items)} seeds")
        total += len(items)
    print(f"total: {total} seeds")


if __name__ == "__main__":
    main()
