#!/usr/bin/env bash
# report_html.sh — the HTML page of `keygate load --html` and `keygate
# report html`: well-formed (python3's XML parser reads it), self-contained
# (no script, no src/href/url() to anywhere; the target URL only as text),
# no key of the key file in it; and Debian's chromium, headless, with no
# network at all (a fresh network namespace, or the resolver and proxy
# pointed nowhere where unshare is not allowed), loads it from disk: the
# DOM it renders holds every class and threshold and SVG paths with
# geometry, and a screenshot of the charts is not blank.
#
# Environment: KEYGATE (the keygate program). Needs python3; chromium
# (scripts/setup installs it) for the browser part, which says SKIP only
# when chromium is absent.
# shellcheck source=tests/integration/report_common.bash
. "$(dirname "$0")/report_common.bash"

fake_start A ok
assert_exit 0 "keygate load --html" -- timeout 60 "$KEYGATE" load "$URL_A" --keys "$KEYS" \
  -d 2s -c 4 -q --json "$TMP/run.json" --html "$TMP/load.html" \
  --threshold 'valid.p99<30s' --threshold 'mismatches==0' --threshold 'rps>=1'
load_json "$URL_A" 2s "$TMP/base.json"
assert_exit 0 "report html with a baseline" -- "$KEYGATE" report html "$TMP/run.json" "$TMP/base.json" --out "$TMP/cmp.html"
assert_exit 0 "report html to stdout" -- "$KEYGATE" report html "$TMP/run.json" --out -
assert_contains "<!DOCTYPE html>" "$(head -c 15 "$TMP/out")" "html --out -: the page on stdout"
assert_exit 2 "report html where it cannot write" -- "$KEYGATE" report html "$TMP/run.json" --out "$TMP/no/such/dir/r.html"
one_line_error "report html where it cannot write" "keygate report html: $TMP/no/such/dir/r.html: cannot be written" "."

# ---- structure ---------------------------------------------------------------

for page in load.html cmp.html; do
  KG_ASSERTS=$((KG_ASSERTS + 1))
  python3 - "$TMP/$page" "$KEYS" <<'PY' || kg_fail "$page: structure"
import html.parser, re, sys, xml.etree.ElementTree as ET
text = open(sys.argv[1], encoding="ascii").read()
# well-formed: every element closed, only XML's entities
root = ET.fromstring(text.split("\n", 1)[1])
assert root.tag == "html", root.tag
class Check(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.texts = [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            assert k not in ("src", "href", "xlink:href", "action", "srcset",
                             "formaction", "background", "poster"), (tag, k)
            assert not k.startswith("on"), (tag, k)  # no event handlers
            assert "url(" not in (v or ""), (tag, k, v)
            assert "//" not in (v or ""), (tag, k, v)
    def handle_data(self, d):
        self.texts.append(d)
c = Check()
c.feed(text)
for bad in ("script", "link", "img", "iframe", "object", "embed", "image",
            "use", "foreignobject", "base", "form"):
    assert bad not in c.tags, bad
assert "svg" in c.tags and "path" in c.tags
style = "".join(t for t in c.texts if "{" in t)
assert "url(" not in style and "@import" not in style and "@font-face" not in style
# every "http://" is the target's text, in a <code>
assert text.count("http://") == len(re.findall(r"<code>http://127\.0\.0\.1:\d+/api/v1/iocs</code>", text)) >= 1
assert "https://" not in text
# no key of the key file, whole or in part beyond the last four
for line in open(sys.argv[2]):
    key = line.split("\t")[1].strip()
    assert key not in text and key[8:20] not in text, "a key is in the page"
PY
done

# ---- in a browser -------------------------------------------------------------

if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed (scripts/setup installs it); the browser checks did not run"
  kg_done
  exit 0
fi

# offline — run a command with no network: a new network namespace (root,
# or where user namespaces are allowed), else chromium's own switches that
# resolve nothing and proxy to a closed port.
OFFLINE=()
NONET=(--host-resolver-rules="MAP * ~NOTFOUND" --proxy-server="socks5://127.0.0.1:9")
if unshare -n true 2>/dev/null; then
  OFFLINE=(unshare -n)
elif unshare -r -n true 2>/dev/null; then
  OFFLINE=(unshare -r -n)
fi
CHROME=("${OFFLINE[@]}" timeout 90 chromium --headless=new --no-sandbox --disable-gpu
  --disable-extensions --no-first-run --user-data-dir="$TMP/chrome" "${NONET[@]}")

for page in load.html cmp.html; do
  assert_exit 0 "chromium --dump-dom $page" -- "${CHROME[@]}" --dump-dom "file://$TMP/$page"
  cp "$TMP/out" "$TMP/$page.dom"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  python3 - "$TMP/$page.dom" "$page" <<'PY' || kg_fail "$page: the rendered DOM"
import html.parser, sys
dom, page = open(sys.argv[1]).read(), sys.argv[2]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.paths, self.text = [], []
    def handle_starttag(self, tag, attrs):
        if tag == "path":
            self.paths.append(dict(attrs).get("d", ""))
    def handle_data(self, d):
        self.text.append(d)
p = P()
p.feed(dom)
text = " ".join(p.text)
for cls in ("valid", "invalid", "missing", "expired", "all"):
    assert cls in text, cls
if page == "load.html":
    for t in ("valid.p99<30s", "mismatches==0", "rps>=1", "errors==0", "4 of 4 hold"):
        assert t in text, t
else:
    assert "Compared with the baseline" in text and "baseline (dashed)" in text
assert "Latency by percentile" in text and "99.9%" in text
geometric = [d for d in p.paths if d.startswith("M") and " L" in d]
assert len(geometric) >= 15, len(geometric)
print("%s: %d paths with geometry" % (page, len(geometric)))
PY
  assert_exit 0 "chromium --screenshot $page" -- "${CHROME[@]}" --screenshot="$TMP/$page.png" \
    --window-size=1200,2400 "file://$TMP/$page"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  python3 - "$TMP/$page.png" <<'PY' || kg_fail "$page: the screenshot is blank"
# Decode the PNG (8-bit RGB/RGBA, no interlace: what chromium writes) with
# zlib alone, undo the row filters, and look at the band where the
# percentile chart is drawn: many colours, not one.
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pr) & 255
    rows.append(bytes(line))
    prev = line
colours, ink = set(), 0
for y in range(h // 3, 2 * h // 3):  # the charts' band
    r = rows[y]
    for x in range(0, w):
        px = r[x * bpp:x * bpp + 3]
        colours.add(px)
        ink += px != b"\xff\xff\xff"
print("screenshot %dx%d: %d colours, %d non-white pixels in the chart band"
      % (w, h, len(colours), ink))
assert len(colours) > 8 and ink > 2000
PY
done

kg_done
