/*
 * fuzz/fuzz_request_head.c — raw bytes through the whole request path:
 * kg_head_parse, then kg_decide against a small fixed index, then
 * kg_response_render for an error decision.
 *
 * Invariants:
 *  - kg_head_screen_line answers OK, bad_method, bad_target,
 *    bad_version, http_version_not_supported or uri_too_long, and
 *    kg_head_screen the same for a head that parses when it refuses (but
 *    http_version_not_supported for a bad target on an HTTP/2 line: the
 *    preface); kg_head_screen_read answers one of head.h's refusals on
 *    every parsed head, with the lines read that its kind implies (values
 *    parsed both ways: KG_HEAD_CTL_IN_VALUES on inputs of odd length);
 *  - every span of a parsed head lies inside the input; an error offset
 *    lies inside it too; the request line starts lead bytes in;
 *  - the decision is one of SPEC §1.3's six, and the one worked out from
 *    kg_credential_extract, kg_key_check and the fixture table (what each
 *    fixture key must decide) without the index;
 *  - a valid decision comes from an active, unexpired record;
 *  - the rendered response has the status line of kg_http_status, and its
 *    body parses as JSON (jansson) of exactly the shape
 *    {"error":{"code","message","request_id"}} with code ==
 *    kg_status_str(decision);
 *  - no run of the presented key longer than the hint's four visible
 *    characters appears in the response unless that run is part of the
 *    response's fixed text (the response rendered once at start-up into a
 *    zeroed buffer). The output buffer is filled with copies of the key
 *    before each render, so a renderer that shows stale bytes is caught.
 *
 * The index holds one key in every record state; the seed corpus
 * (fuzz/make_seeds.py) presents them. Keys are built from fixed bodies so
 * seeds and index agree.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "keygate/keygate.h"

#define NOW 1750000000 /* fixed clock: 2025-06-15 */
#define RUN 5          /* KG hint shows 4 characters; 5 is a leak */

static const char *const fixture_names[] = {
    "FuzzActive",  "FuzzDeactivated", "FuzzExpiredStatus",
    "FuzzDeleted", "FuzzPastExpiry",  "FuzzFutureExpiry",
};
#define NFIX (sizeof fixture_names / sizeof fixture_names[0])

/* What each fixture key must decide at NOW (SPEC §1.3). */
static const kg_status fixture_decisions[] = {
    KG_VALID,           KG_EXPIRED_API_KEY, KG_EXPIRED_API_KEY,
    KG_INVALID_API_KEY, KG_EXPIRED_API_KEY, KG_VALID,
};
static char fixture_keys[NFIX][KG_KEY_MAX_LEN + 1];

static kg_checker checker;
static const char request_id[KG_REQUEST_ID_LEN + 1] =
    "req_FuzzRequestId00000000000";
/* The fixed text of each decision's response, by kg_decision_index. */
static char templates[KG_DECISION_COUNT][KG_RESPONSE_MAX];
static size_t template_len[KG_DECISION_COUNT];

/* make_key — sk_live_ + name padded with '0' to 32 + CRC32 in base62. */
static void make_key(const kg_key_policy *p, const char *name,
                     char out[KG_KEY_MAX_LEN + 1]) {
  size_t len = p->prefix_len;
  memcpy(out, p->prefix, len);
  size_t nlen = strlen(name);
  for (size_t i = 0; i < KG_KEY_RANDOM_CHARS; i++) {
    char c = '0';
    if (i < nlen) {
      c = name[i];
    }
    out[len++] = c;
  }
  uLong crc = crc32(0L, (const Bytef *)out, (uInt)len);
  FUZZ_CHECK(kg_base62_encode_u32(crc, out + len, KG_KEY_CHECKSUM_CHARS));
  len += KG_KEY_CHECKSUM_CHARS;
  out[len] = '\0';
  FUZZ_CHECK(kg_key_check(p, out, len) == KG_OK);
}

static void render_templates(void);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  FUZZ_CHECK(kg_key_policy_init(&checker.policy, KG_KEY_STRICT, "sk_live_",
                                8) == KG_OK);
  kg_digester *d = NULL;
  FUZZ_CHECK(kg_digester_new(NULL, 0, &d) == KG_OK);
  checker.digester = d;

  kg_record recs[NFIX];
  memset(recs, 0, sizeof recs);
  for (size_t i = 0; i < NFIX; i++) {
    char *key = fixture_keys[i];
    make_key(&checker.policy, fixture_names[i], key);
    FUZZ_CHECK(kg_digest(d, key, strlen(key), recs[i].digest) == KG_OK);
    recs[i].key_id = i + 1;
    recs[i].account_id = 1;
    recs[i].status = KG_REC_ACTIVE;
  }
  recs[1].status = KG_REC_DEACTIVATED;
  recs[2].status = KG_REC_EXPIRED;
  recs[3].status = KG_REC_DELETED;
  recs[4].expires_at = NOW - 1;
  recs[5].expires_at = NOW + 3600;
  kg_index *idx = NULL;
  FUZZ_CHECK(kg_index_build(recs, NFIX, &idx) == KG_OK);
  checker.index = idx;
  FUZZ_CHECK(strlen(request_id) == KG_REQUEST_ID_LEN);

  render_templates();
  /* No misuse here: a NULL where head.h allows none is a caller's bug that
   * debug builds assert on (the NULL policy of keygate/api.h), and the
   * replay of this target runs in the debug build; unit.head checks those
   * calls in both builds. */
  return 0;
}

/* contains — 1 when needle (n bytes) occurs in hay (h bytes). */
static int contains(const char *hay, size_t h, const char *needle, size_t n) {
  if (n == 0) {
    return 1;
  }
  for (size_t i = 0; i + n <= h; i++) {
    if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) {
      return 1;
    }
  }
  return 0;
}

/* expected_decision — the decision the request must get, worked out from
 * kg_credential_extract and the fixture table rather than the index. */
static kg_status expected_decision(const kg_head *h) {
  kg_credential cred;
  kg_status out = kg_credential_extract(&checker.policy, h->fields, h->nfields,
                                        h->target, &cred);
  if (out != KG_OK) {
    return out; /* missing, invalid (malformed), ambiguous, in query */
  }
  if (kg_key_check(&checker.policy, cred.key.ptr, cred.key.len) != KG_OK) {
    return KG_INVALID_API_KEY;
  }
  for (size_t i = 0; i < NFIX; i++) {
    if (cred.key.len == strlen(fixture_keys[i]) &&
        memcmp(cred.key.ptr, fixture_keys[i], cred.key.len) == 0) {
      return fixture_decisions[i];
    }
  }
  return KG_INVALID_API_KEY; /* well formed, unknown */
}

static void check_head(const kg_head *h, const char *buf, size_t len) {
  FUZZ_CHECK(fuzz_span_inside(h->method.ptr, h->method.len, buf, len));
  FUZZ_CHECK(fuzz_span_inside(h->target.ptr, h->target.len, buf, len));
  FUZZ_CHECK(fuzz_span_inside(h->path.ptr, h->path.len, buf, len));
  FUZZ_CHECK(fuzz_span_inside(h->query.ptr, h->query.len, buf, len));
  FUZZ_CHECK(fuzz_span_inside(h->version.ptr, h->version.len, buf, len));
  FUZZ_CHECK(h->nfields <= h->fields_cap);
  for (size_t i = 0; i < h->nfields; i++) {
    const kg_field *f = &h->fields[i];
    FUZZ_CHECK(f->name.len > 0);
    FUZZ_CHECK(fuzz_span_inside(f->name.ptr, f->name.len, buf, len));
    FUZZ_CHECK(fuzz_span_inside(f->value.ptr, f->value.len, buf, len));
  }
}

static void check_body(kg_status decision, const char *body, size_t len) {
  json_error_t err;
  json_t *root = json_loadb(body, len, 0, &err);
  FUZZ_CHECK(root != NULL);
  FUZZ_CHECK(json_is_object(root) && json_object_size(root) == 1);
  json_t *e = json_object_get(root, "error");
  FUZZ_CHECK(json_is_object(e) && json_object_size(e) == 3);
  json_t *code = json_object_get(e, "code");
  json_t *message = json_object_get(e, "message");
  json_t *rid = json_object_get(e, "request_id");
  FUZZ_CHECK(json_is_string(code) && json_is_string(message) &&
             json_is_string(rid));
  FUZZ_CHECK(strcmp(json_string_value(code), kg_status_str(decision)) == 0);
  FUZZ_CHECK(strcmp(json_string_value(message), kg_error_message(decision)) ==
             0);
  FUZZ_CHECK(strcmp(json_string_value(rid), request_id) == 0);
  json_decref(root);
}

/* check_shape — the status line of kg_http_status, and a body that parses
 * as the error JSON of SPEC §1.4 for this decision. */
static void check_shape(kg_status decision, const char *out, size_t len) {
  FUZZ_CHECK(strlen(out) == len);
  char status_line[32];
  int n = snprintf(status_line, sizeof status_line, "HTTP/1.1 %d ",
                   kg_http_status(decision));
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof status_line);
  FUZZ_CHECK(len > (size_t)n && memcmp(out, status_line, (size_t)n) == 0);
  const char *sep = strstr(out, "\r\n\r\n");
  FUZZ_CHECK(sep != NULL);
  const char *body = sep + 4;
  check_body(decision, body, len - (size_t)(body - out));
}

/* render_templates — each error decision's response, rendered once into a
 * zeroed buffer and checked whole (status line, JSON body). */
static void render_templates(void) {
  for (size_t i = 0; i < KG_DECISION_COUNT; i++) {
    const kg_status s = kg_decision_at(i);
    if (s == KG_VALID) {
      continue; /* the upstream's to answer: no error response */
    }
    memset(templates[i], 0, sizeof templates[i]);
    FUZZ_CHECK(kg_response_render(s, KG_DEFAULT_REALM, 3, request_id,
                                  KG_REQUEST_ID_LEN, templates[i],
                                  sizeof templates[i],
                                  &template_len[i]) == KG_OK);
    FUZZ_CHECK(template_len[i] < sizeof templates[i]);
    check_shape(s, templates[i], template_len[i]);
  }
}

static void check_response(const kg_decision *d) {
  static char out[KG_RESPONSE_MAX];
  const char *key = d->key.ptr;
  size_t klen = d->key.len;
  /* Fill the buffer with the key so stale bytes would show it. */
  if (klen > 0) {
    for (size_t i = 0; i < sizeof out; i++) {
      out[i] = key[i % klen];
    }
  }
  size_t len = 0;
  FUZZ_CHECK(kg_response_render(d->decision, KG_DEFAULT_REALM, 3, request_id,
                                KG_REQUEST_ID_LEN, out, sizeof out,
                                &len) == KG_OK);
  FUZZ_CHECK(len < sizeof out && out[len] == '\0');

  /* The usual case: byte for byte the checked template, so its JSON parsed
   * and every run of the key in it is fixed text. Parsing the same bytes
   * again would only cost time (jansson was half of this target's work). */
  const int di = kg_decision_index(d->decision);
  FUZZ_CHECK(di > 0);
  const char *tmpl = templates[di];
  size_t tlen = template_len[di];
  if (len == tlen && memcmp(out, tmpl, len) == 0) {
    return;
  }
  check_shape(d->decision, out, len);
  for (size_t i = 0; klen >= RUN && i + RUN <= klen; i++) {
    FUZZ_CHECK(!contains(out, len, key + i, RUN) ||
               contains(tmpl, tlen, key + i, RUN));
  }
}

/* 1 when span s is word (any case). */
static int span_is(kg_span s, const char *word) {
  size_t len = strlen(word);
  return s.len == len && strncasecmp(s.ptr, word, len) == 0;
}

/* How many of h's fields are named name (any case). */
static size_t count_named(const kg_head *h, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < h->nfields; i++) {
    n += (size_t)span_is(h->fields[i].name, name);
  }
  return n;
}

/* The first field named name, or NULL. */
static const kg_field *field_named(const kg_head *h, const char *name) {
  for (size_t i = 0; i < h->nfields; i++) {
    if (span_is(h->fields[i].name, name)) {
      return &h->fields[i];
    }
  }
  return NULL;
}

/* 1 when v is digits of a number up to 2^63 - 1 (leading zeros aside),
 * compared as text: another reading than head.c's. */
static int fits_off_t(kg_span v) {
  size_t i = 0;
  for (size_t k = 0; k < v.len; k++) {
    if (v.ptr[k] < '0' || v.ptr[k] > '9') {
      return 0;
    }
  }
  while (i + 1 < v.len && v.ptr[i] == '0') {
    i++;
  }
  static const char max[] = "9223372036854775807";
  size_t n = v.len - i;
  return v.len > 0 && (n < sizeof max - 1 ||
                       (n == sizeof max - 1 && memcmp(v.ptr + i, max, n) <= 0));
}

/*
 * What each refusal of the whole head implies of the head, read here
 * without head.c's code (review 88: the invariants were only structural,
 * and a length over 2^63 - 1 passed them).
 */
static void check_screen_meaning(const kg_head *h, kg_status s) {
  const int http11 = h->version.ptr[5] == '1' && h->version.ptr[7] >= '1';
  const size_t hosts = count_named(h, "host");
  const size_t lengths = count_named(h, "content-length");
  const size_t codings = count_named(h, "transfer-encoding");
  const size_t auths = count_named(h, "authorization");
  const int trace_or_connect =
      span_is(h->method, "trace") || span_is(h->method, "connect");
  /* the other fields nginx takes once, and whether one came twice */
  static const char *const once[] = {"if-modified-since",
                                     "if-unmodified-since",
                                     "if-match",
                                     "if-none-match",
                                     "content-range",
                                     "if-range",
                                     "expect"};
  int twice = 0;
  for (size_t j = 0; j < sizeof once / sizeof once[0]; j++) {
    twice |= count_named(h, once[j]) > 1;
  }
  switch (s) {
  case KG_E_BAD_FRAMING:
    FUZZ_CHECK(lengths == 1 || codings == 1);
    break;
  case KG_E_UNSUPPORTED_TRANSFER_CODING:
    FUZZ_CHECK(codings == 1 && http11);
    break;
  case KG_E_MISSING_HOST:
    FUZZ_CHECK(hosts == 0 && http11);
    break;
  case KG_E_METHOD_NOT_ALLOWED:
    FUZZ_CHECK(trace_or_connect);
    break;
  case KG_E_DUPLICATE_HEADER:
    FUZZ_CHECK(hosts > 1 || lengths > 1 || codings > 1 || auths > 1 || twice);
    break;
  case KG_OK: {
    FUZZ_CHECK(hosts <= 1 && lengths <= 1 && codings <= 1 && auths <= 1 &&
               !twice);
    FUZZ_CHECK(hosts == 1 || !http11);
    const kg_field *cl = field_named(h, "content-length");
    /* accepted: the value, OWS aside, is a length nginx holds */
    FUZZ_CHECK(cl == NULL || fits_off_t(cl->value));
    FUZZ_CHECK(codings == 0 || (http11 && cl == NULL));
    /* accepted: a coding is chunked, and the method neither TRACE nor
     * CONNECT (review 89) */
    const kg_field *te = field_named(h, "transfer-encoding");
    FUZZ_CHECK(te == NULL || span_is(te->value, "chunked"));
    FUZZ_CHECK(!trace_or_connect);
    break;
  }
  default:
    break;
  }
}

/*
 * What kg_head_screen_read answers for a parsed head: the request line's
 * refusal when the raw bytes had one (the preface aside), else one of
 * head.h's list; the lines read: none for a refusal of the line, all of
 * them when nothing is refused or the whole head is.
 */
static void check_screen(const kg_head *h, kg_status line) {
  size_t nread = SIZE_MAX;
  const kg_status s = kg_head_screen_read(h, &nread);
  FUZZ_CHECK(s == kg_head_screen(h));
  FUZZ_CHECK(nread <= h->nfields);
  if (line != KG_OK) {
    FUZZ_CHECK(s == line ||
               (line == KG_E_BAD_TARGET && s == KG_E_VERSION_NOT_SUPPORTED));
  }
  switch (s) {
  case KG_E_BAD_METHOD:
  case KG_E_BAD_TARGET:
  case KG_E_URI_TOO_LONG:
  case KG_E_BAD_VERSION:
  case KG_E_VERSION_NOT_SUPPORTED:
    FUZZ_CHECK(nread == 0);
    break;
  case KG_E_HEADER_TOO_LARGE:
    FUZZ_CHECK(nread < h->nfields);
    break;
  case KG_E_DUPLICATE_HEADER:
  case KG_E_BAD_HOST:
    FUZZ_CHECK(nread > 0);
    break;
  case KG_OK:
  case KG_E_MISSING_HOST:
  case KG_E_BAD_FRAMING:
  case KG_E_UNSUPPORTED_TRANSFER_CODING:
  case KG_E_METHOD_NOT_ALLOWED:
    FUZZ_CHECK(nread == h->nfields);
    break;
  default:
    fprintf(stderr, "kg_head_screen_read answered %s, outside head.h's list\n",
            kg_status_str(s));
    abort();
  }
  check_screen_meaning(h, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_copy(data, size);
  kg_field fields[KG_HEAD_MAX_FIELDS];
  kg_head head;
  /* an input of odd length is read as nginx and keygate check read it,
   * control bytes kept in values (review 87: the screen's reading of the
   * values was never reached with them) */
  kg_head_init(&head, fields, KG_HEAD_MAX_FIELDS,
               (size & 1) != 0 ? KG_HEAD_CTL_IN_VALUES : 0);
  size_t consumed = 0;

  /* What nginx refuses while reading the request line, from the raw
   * bytes: one of four answers, and the one kg_head_screen gives a head
   * that parses (it starts with the same reading of the same line). */
  const kg_status line = kg_head_screen_line(buf, size);
  FUZZ_CHECK(line == KG_OK || line == KG_E_BAD_METHOD ||
             line == KG_E_BAD_TARGET || line == KG_E_BAD_VERSION ||
             line == KG_E_VERSION_NOT_SUPPORTED || line == KG_E_URI_TOO_LONG);
  kg_status st = kg_head_parse(buf, size, &head, &consumed);
  if (st == KG_OK) {
    check_screen(&head, line);
  }
  if (st != KG_OK) {
    FUZZ_CHECK(st == KG_INCOMPLETE || head.error_offset <= size);
    free(buf);
    return 0;
  }
  FUZZ_CHECK(consumed > 0 && consumed <= size);
  /* the empty lines kg_head_parse skipped are what lies before the line */
  FUZZ_CHECK(head.method.ptr == buf + head.lead);
  FUZZ_CHECK(consumed <= KG_HEAD_MAX_BYTES);
  check_head(&head, buf, consumed);

  kg_decision d;
  kg_status dec =
      kg_decide(&checker, head.fields, head.nfields, head.target, NOW, &d);
  FUZZ_CHECK(dec == d.decision);
  FUZZ_CHECK(dec == expected_decision(&head));
  FUZZ_CHECK(dec == KG_VALID || dec == KG_MISSING_API_KEY ||
             dec == KG_INVALID_API_KEY || dec == KG_EXPIRED_API_KEY ||
             dec == KG_AMBIGUOUS_API_KEY || dec == KG_API_KEY_IN_QUERY);
  FUZZ_CHECK(fuzz_span_inside(d.key.ptr, d.key.len, buf, size));
  if (dec == KG_VALID) {
    FUZZ_CHECK(d.found == 1 && d.record.status == KG_REC_ACTIVE);
    FUZZ_CHECK(d.record.expires_at == 0 || d.record.expires_at > NOW);
    FUZZ_CHECK(kg_key_check(&checker.policy, d.key.ptr, d.key.len) == KG_OK);
  } else {
    check_response(&d);
  }
  free(buf);
  return 0;
}
