/*
 * fixtures.c — deterministic inputs for the benchmarks and the
 * instruction-count driver (see fixtures.h).
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness and keys ------------------------------------------------ */

uint64_t fx_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

_Noreturn void fx_die(const char *what) {
  fprintf(stderr, "bench: %s\n", what);
  exit(1);
}

const kg_key_policy *fx_policy(void) {
  static kg_key_policy policy;
  static int ready;
  if (!ready) {
    if (kg_key_policy_init(&policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
      fx_die("cannot make the sk_live_ policy");
    }
    ready = 1;
  }
  return &policy;
}

/* Filler for header values: not keys. */
static const char alnum[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Key i: a fixed, reproducible random part from fx_rand, made into a key
 * the one way keys are made (kg_key_compose). */
void fx_key(uint64_t i, char out[FX_KEY_LEN + 1]) {
  uint64_t state = i * 0x2545f4914f6cdd1du + 1;
  char body[KG_KEY_RANDOM_CHARS];
  for (size_t k = 0; k < KG_KEY_RANDOM_CHARS; k += 8) {
    uint64_t r = fx_rand(&state);
    for (size_t j = 0; j < 8; j++) {
      /* 64 -> 62 has a small bias; these keys only need to be fixed. */
      body[k + j] = alnum[(r & 0xff) % 62];
      r >>= 8;
    }
  }
  size_t len = 0;
  if (kg_key_compose(fx_policy(), body, out, FX_KEY_LEN + 1, &len) != KG_OK ||
      len != FX_KEY_LEN) {
    fx_die("cannot compose a key");
  }
}

static kg_digester *make_digester(const unsigned char *pepper, size_t len) {
  kg_digester *d = NULL;
  if (kg_digester_new(pepper, len, &d) != KG_OK) {
    fx_die("cannot make a digester");
  }
  return d;
}

kg_digester *fx_digester(void) {
  static kg_digester *d;
  if (d == NULL) {
    d = make_digester(NULL, 0);
  }
  return d;
}

kg_digester *fx_hmac_digester(void) {
  static kg_digester *d;
  if (d == NULL) {
    static const unsigned char pepper[32] = "keygate-bench-pepper-0123456789";
    d = make_digester(pepper, sizeof pepper);
  }
  return d;
}

/* ---- request heads ------------------------------------------------------ */

static char heads[FX_HEAD_KINDS][KG_HEAD_MAX_BYTES];
static size_t head_lens[FX_HEAD_KINDS];

/* Append (s, n) to head kind k; abort past KG_HEAD_MAX_BYTES. */
static void head_put(fx_head_kind k, const char *s, size_t n) {
  if (head_lens[k] + n > sizeof heads[k]) {
    fx_die("a fixture head is too long");
  }
  memcpy(heads[k] + head_lens[k], s, n);
  head_lens[k] += n;
}

static void head_puts(fx_head_kind k, const char *s) {
  head_put(k, s, strlen(s));
}

static void build_heads(void) {
  char key[FX_KEY_LEN + 1];
  fx_key(0, key);

  head_puts(FX_HEAD_SHORT, "GET / HTTP/1.1\r\nHost: a\r\n"
                           "Authorization: Bearer ");
  head_puts(FX_HEAD_SHORT, key);
  head_puts(FX_HEAD_SHORT, "\r\n\r\n");

  head_puts(FX_HEAD_TYPICAL,
            "GET /api/v1/iocs?type=ipv4&limit=10 HTTP/1.1\r\n"
            "Host: api.example.com\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n"
            "Accept: application/json, text/plain, */*\r\n"
            "Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
            "Accept-Encoding: gzip, deflate, br\r\n"
            "Connection: keep-alive\r\n"
            "Referer: https://console.example.com/indicators?page=2\r\n"
            "Cookie: session=7f3c2a9be01d4c55a3b8; theme=dark; "
            "consent=analytics:0,ads:0\r\n"
            "X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"
            "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
            "00f067aa0ba902b7-01\r\n"
            "Authorization: Bearer ");
  head_puts(FX_HEAD_TYPICAL, key);
  head_puts(FX_HEAD_TYPICAL, "\r\nCache-Control: no-cache\r\n\r\n");

  /* Hostile: the most fields allowed, long values, names that share a
   * prefix with the ones the parser looks for, HTAB inside values, a long
   * query that holds no key, all just under KG_HEAD_MAX_BYTES. */
  head_puts(FX_HEAD_HOSTILE, "GET /api/v1/iocs?");
  for (int i = 0; i < 40; i++) {
    char q[32];
    int n = snprintf(q, sizeof q, "%sp%d=%%73%%6B_%d", i ? "&" : "", i, i);
    head_put(FX_HEAD_HOSTILE, q, (size_t)n);
  }
  head_puts(FX_HEAD_HOSTILE, " HTTP/1.1\r\n");
  static const char *const names[] = {
      "Authorizatio", "X-API-Ke", "Authorization-X", "X-Api-Keys", "X-Padding"};
  for (int i = 0; i < KG_HEAD_MAX_FIELDS - 1; i++) {
    char line[256];
    int n = snprintf(line, sizeof line, "%s-%02d:  \t", names[i % 5], i);
    head_put(FX_HEAD_HOSTILE, line, (size_t)n);
    for (int j = 0; j < 120; j++) {
      line[j] = (char)((j % 17 == 16) ? '\t' : alnum[(i * 7 + j) % 62]);
    }
    head_put(FX_HEAD_HOSTILE, line, 120);
    head_puts(FX_HEAD_HOSTILE, " \t\r\n");
  }
  head_puts(FX_HEAD_HOSTILE, "aUtHoRiZaTiOn:\t bEaReR ");
  head_puts(FX_HEAD_HOSTILE, key);
  head_puts(FX_HEAD_HOSTILE, "\t \r\n\r\n");

  /* The reference API's request from an SDK: issue 14's head. */
  for (int x = 0; x < 2; x++) {
    fx_head_kind k = x ? FX_HEAD_API_XKEY : FX_HEAD_API_BEARER;
    head_puts(k, "GET /api/v1/iocs?type=ipv4&limit=10 HTTP/1.1\r\n"
                 "Host: api.example.com\r\n"
                 "User-Agent: keygate-sdk-python/1.4.2 CPython/3.11.7\r\n"
                 "Accept: application/json\r\n"
                 "Accept-Encoding: gzip, deflate\r\n");
    head_puts(k, x ? "X-API-Key: " : "Authorization: Bearer ");
    head_puts(k, key);
    head_puts(k, "\r\n\r\n");
  }

  /* A browser's fetch from a console page: 12 fields, cookies, client
   * hints, and a 200-byte query of the kind a search UI builds (many
   * parameters, a cursor, percent-escapes, several 's' that start no
   * sk_live_). */
  static const char query_start[] =
      "type=domain&limit=50&sort=-last_seen&fields=indicator,type,first_seen,"
      "last_seen,confidence,tags&include=sources%2Ctags&tz=Europe%2FLondon"
      "&cursor=eyJpZCI6MTIzNDU2Nzg5MCwidHMiOjE3MDAwMDAwMDB9";
  char query[FX_BROWSER_QUERY_LEN + 1];
  size_t qlen = sizeof query_start - 1;
  if (qlen > FX_BROWSER_QUERY_LEN - 8) {
    fx_die("the browser query is too long");
  }
  memcpy(query, query_start, qlen);
  memcpy(query + qlen, "&q=", 3);
  qlen += 3;
  while (qlen < FX_BROWSER_QUERY_LEN) {
    query[qlen] = "example-domain"[qlen % 14];
    qlen++;
  }
  query[qlen] = '\0';
  for (int x = 0; x < 2; x++) {
    fx_head_kind k = x ? FX_HEAD_BROWSER_XKEY : FX_HEAD_BROWSER_BEARER;
    head_puts(k, "GET /api/v1/iocs?");
    head_puts(k, query);
    head_puts(k,
              " HTTP/1.1\r\n"
              "Host: api.example.com\r\n"
              "Connection: keep-alive\r\n"
              "sec-ch-ua: \"Chromium\";v=\"126\", \"Google Chrome\";v=\"126\", "
              "\"Not-A.Brand\";v=\"99\"\r\n"
              "Accept: application/json, text/plain, */*\r\n");
    head_puts(k, x ? "X-API-Key: " : "Authorization: Bearer ");
    head_puts(k, key);
    head_puts(k,
              "\r\n"
              "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n"
              "Origin: https://console.example.com\r\n"
              "Sec-Fetch-Site: same-site\r\n"
              "Referer: https://console.example.com/indicators?page=2\r\n"
              "Accept-Encoding: gzip, deflate, br, zstd\r\n"
              "Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
              "Cookie: _ga=GA1.2.1234567890.1700000000; "
              "session=7f3c2a9be01d4c55a3b8e6f1; theme=dark; "
              "consent=analytics:0,ads:0; _gid=GA1.2.987654321.1700000000"
              "\r\n\r\n");
  }
}

int fx_head_xkey(fx_head_kind kind) {
  return kind == FX_HEAD_API_XKEY || kind == FX_HEAD_BROWSER_XKEY;
}

const char *fx_head(fx_head_kind kind, size_t *len) {
  if (head_lens[0] == 0) {
    build_heads();
  }
  *len = head_lens[kind];
  return heads[kind];
}

const char *fx_head_name(fx_head_kind kind) {
  static const char *const names[FX_HEAD_KINDS] = {
      "short",    "typical",        "hostile",     "api_bearer",
      "api_xkey", "browser_bearer", "browser_xkey"};
  return names[kind];
}

/* ---- index fixtures ----------------------------------------------------- */

static void random_digest(uint64_t *state, uint8_t out[KG_DIGEST_LEN]) {
  for (size_t i = 0; i < KG_DIGEST_LEN; i += 8) {
    uint64_t r = fx_rand(state);
    memcpy(out + i, &r, 8);
  }
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (p == NULL) {
    fx_die("out of memory building a fixture");
  }
  return p;
}

/* Fill bearer[i] with "Bearer " + fx_key(first + i) and digests[i] with its
 * digest, for i in [0, count). */
static void make_keys(uint64_t first, size_t count, char *bearer,
                      uint8_t (*digests)[KG_DIGEST_LEN]) {
  for (size_t i = 0; i < count; i++) {
    char *b = bearer + i * FX_KEY_STRIDE;
    char key[FX_KEY_LEN + 1];
    fx_key(first + i, key);
    snprintf(b, FX_KEY_STRIDE, "Bearer %s", key);
    if (kg_digest(fx_digester(), b + FX_BEARER_LEN, FX_KEY_LEN, digests[i]) !=
        KG_OK) {
      fx_die("cannot digest a fixture key");
    }
  }
}

/* The sizes the benchmarks use; one slot each. */
static const size_t index_sizes[] = {1, 3, 50, 10000, 1000000, 10000000};
#define INDEX_SIZES (sizeof index_sizes / sizeof index_sizes[0])
static fx_index index_cache[INDEX_SIZES];

static void build_index(fx_index *fx, size_t n) {
  fx->n = n;
  fx->real = n < FX_REAL_KEYS_MAX ? n : FX_REAL_KEYS_MAX;
  fx->bearer = xcalloc(fx->real, FX_KEY_STRIDE);
  fx->digests = xcalloc(fx->real, KG_DIGEST_LEN);
  fx->misses = xcalloc(fx->real, KG_DIGEST_LEN);
  make_keys(0, fx->real, fx->bearer, fx->digests);

  kg_record *recs = xcalloc(n, sizeof *recs);
  uint64_t state = 0x6b657967617465u ^ n;
  for (size_t i = 0; i < n; i++) {
    if (i < fx->real) {
      memcpy(recs[i].digest, fx->digests[i], KG_DIGEST_LEN);
    } else {
      random_digest(&state, recs[i].digest);
    }
    recs[i].key_id = i + 1;
    recs[i].account_id = 1 + i % 1000;
    recs[i].status = KG_REC_ACTIVE;
  }
  for (size_t i = 0; i < fx->real; i++) {
    random_digest(&state, fx->misses[i]);
  }
  kg_status st = kg_index_build(recs, n, &fx->index);
  free(recs);
  if (st != KG_OK) {
    fprintf(stderr, "bench: building an index of %zu keys: %s\n", n,
            kg_status_str(st));
    exit(1);
  }
}

const char *fx_unknown_get(const fx_index *fx) {
  if (fx < index_cache || fx >= index_cache + INDEX_SIZES) {
    fx_die("fx_unknown_get: not an index fixture");
  }
  fx_index *mine = &index_cache[fx - index_cache]; /* the cache's own slot */
  if (mine->unknown == NULL) {
    char *u = xcalloc(fx->real, FX_KEY_STRIDE);
    for (size_t i = 0; i < fx->real; i++) {
      char key[FX_KEY_LEN + 1];
      fx_key(FX_UNKNOWN_FIRST + i, key);
      snprintf(u + i * FX_KEY_STRIDE, FX_KEY_STRIDE, "Bearer %s", key);
    }
    mine->unknown = u;
  }
  return mine->unknown;
}

const fx_index *fx_index_get(size_t n) {
  for (size_t i = 0; i < INDEX_SIZES; i++) {
    if (index_sizes[i] == n) {
      if (index_cache[i].index == NULL) {
        build_index(&index_cache[i], n);
      }
      return &index_cache[i];
    }
  }
  fx_die("no index fixture of that size");
  return NULL;
}

/* ---- the outcome fixture ------------------------------------------------ */

const fx_outcomes *fx_outcomes_get(void) {
  static fx_outcomes o;
  if (o.index != NULL) {
    return &o;
  }
  const size_t n = FX_OUTCOME_KEYS;
  char *bearer = xcalloc(n, FX_KEY_STRIDE);
  uint8_t(*digests)[KG_DIGEST_LEN] = xcalloc(n, KG_DIGEST_LEN);
  /* Keys n-3, n-2, n-1 get the special statuses; key n is never stored. */
  make_keys(0, n, bearer, digests);
  kg_record *recs = xcalloc(n, sizeof *recs);
  for (size_t i = 0; i < n; i++) {
    memcpy(recs[i].digest, digests[i], KG_DIGEST_LEN);
    recs[i].key_id = i + 1;
    recs[i].account_id = 1;
    recs[i].status = KG_REC_ACTIVE;
  }
  recs[n - 3].expires_at = 1; /* 1970: long past */
  recs[n - 2].status = KG_REC_DEACTIVATED;
  recs[n - 1].status = KG_REC_DELETED;
  kg_status st = kg_index_build(recs, n, &o.index);
  free(recs);
  if (st != KG_OK) {
    fx_die("cannot build the outcome index");
  }
  memcpy(o.valid, bearer, FX_BEARER_KEY_SIZE - 1);
  memcpy(o.expired, bearer + (n - 3) * FX_KEY_STRIDE, FX_BEARER_KEY_SIZE - 1);
  memcpy(o.deactivated, bearer + (n - 2) * FX_KEY_STRIDE,
         FX_BEARER_KEY_SIZE - 1);
  memcpy(o.deleted, bearer + (n - 1) * FX_KEY_STRIDE, FX_BEARER_KEY_SIZE - 1);
  char key[FX_KEY_LEN + 1];
  fx_key(n, key);
  snprintf(o.unknown, sizeof o.unknown, "Bearer %s", key);
  memcpy(o.bad_checksum, o.valid, FX_BEARER_KEY_SIZE);
  char *last = &o.bad_checksum[FX_BEARER_KEY_SIZE - 2];
  *last = (*last == '0') ? '1' : '0';
  free(bearer);
  free(digests);
  return &o;
}

static fx_case cases[FX_CASES];
static char in_query[64];
/* Every case carries the typical request's target: the decision scans it
 * all (SPEC §1.1: a key anywhere in the URL), as the server and `keygate
 * check` pass it. */
static const char typical_target[] = "/api/v1/iocs?type=ipv4&limit=10";
static const char *const case_names[FX_CASES] = {"valid",
                                                 "missing",
                                                 "invalid_malformed",
                                                 "invalid_checksum",
                                                 "invalid_unknown",
                                                 "invalid_deleted",
                                                 "expired",
                                                 "expired_deactivated",
                                                 "ambiguous",
                                                 "api_key_in_query"};

const char *fx_case_name(fx_case_kind kind) {
  return case_names[kind];
}

static void set_case(fx_case_kind k, kg_status expect, const char *bearer) {
  fx_case *c = &cases[k];
  c->name = case_names[k];
  c->expect = expect;
  fx_request_fields(c->fields);
  c->n = FX_REQUEST_FIELDS;
  c->fields[FX_AUTH_FIELD].value.ptr = bearer;
  c->fields[FX_AUTH_FIELD].value.len = strlen(bearer);
  c->query = (kg_span){typical_target, sizeof typical_target - 1};
}

static void make_cases(void) {
  const fx_outcomes *o = fx_outcomes_get();
  set_case(FX_CASE_VALID, KG_VALID, o->valid);
  set_case(FX_CASE_MISSING, KG_MISSING_API_KEY, "");
  cases[FX_CASE_MISSING].n = FX_REQUEST_FIELDS - 1; /* no Authorization */
  set_case(FX_CASE_MALFORMED, KG_INVALID_API_KEY,
           "Bearer sk_live_not a token68 value");
  set_case(FX_CASE_BAD_CHECKSUM, KG_INVALID_API_KEY, o->bad_checksum);
  set_case(FX_CASE_UNKNOWN, KG_INVALID_API_KEY, o->unknown);
  set_case(FX_CASE_DELETED, KG_INVALID_API_KEY, o->deleted);
  set_case(FX_CASE_EXPIRED, KG_EXPIRED_API_KEY, o->expired);
  set_case(FX_CASE_DEACTIVATED, KG_EXPIRED_API_KEY, o->deactivated);
  /* Authorization holds one key, X-API-Key another. */
  set_case(FX_CASE_AMBIGUOUS, KG_AMBIGUOUS_API_KEY, o->valid);
  fx_case *a = &cases[FX_CASE_AMBIGUOUS];
  a->fields[a->n].name = (kg_span){"X-API-Key", 9};
  a->fields[a->n].value = (kg_span){o->unknown + FX_BEARER_LEN, FX_KEY_LEN};
  a->n++;
  set_case(FX_CASE_IN_QUERY, KG_API_KEY_IN_QUERY, o->valid);
  int len = snprintf(in_query, sizeof in_query,
                     "/api/v1/iocs?type=ipv4&api_key=%.12s",
                     o->valid + FX_BEARER_LEN);
  cases[FX_CASE_IN_QUERY].query = (kg_span){in_query, (size_t)len};
}

const fx_case *fx_case_get(fx_case_kind kind) {
  if (cases[0].name == NULL) {
    make_cases();
  }
  return &cases[kind];
}

kg_checker fx_checker(const kg_index *idx) {
  kg_checker c;
  memset(&c, 0, sizeof c);
  c.policy = *fx_policy();
  c.digester = fx_digester();
  c.index = idx;
  return c;
}

void fx_request_fields(kg_field out[FX_REQUEST_FIELDS]) {
  static const char *const fields[FX_REQUEST_FIELDS][2] = {
      {"Host", "api.example.com"},
      {"User-Agent", "keygate-sdk-python/1.4.2 CPython/3.11.7"},
      {"Accept", "application/json"},
      {"Accept-Encoding", "gzip, deflate"},
      {"Authorization", ""}};
  for (size_t i = 0; i < FX_REQUEST_FIELDS; i++) {
    out[i].name.ptr = fields[i][0];
    out[i].name.len = strlen(fields[i][0]);
    out[i].value.ptr = fields[i][1];
    out[i].value.len = strlen(fields[i][1]);
  }
}
