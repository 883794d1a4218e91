/*
 * tests/unit/test_load_traffic.c — what keygate load sends
 * (load/src/traffic.c: kgl_traffic_build, kgl_traffic_pick,
 * kgl_traffic_free).
 *
 * What it specifies: the key file (<class>TAB<key> lines: valid, expired,
 * deactivated counted as expired; comments, blank lines and CRLF line ends
 * allowed; any other line refused by its number), the refusals of a build
 * that cannot serve the mix, the exact bytes of every request (request line
 * as given, Host = the URL's authority, the credential header of the mode,
 * Content-Length: 0 for a body-carrying method, none at all for missing),
 * the four kinds of invalid keys in turn as libkeygate's own checker sees
 * them, the prefix taken from the file, and the mix followed by
 * kgl_traffic_pick.
 *
 * Key files are written to a fresh directory under /tmp, removed at the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "keygate/key.h"
#include "keygate/keygate.h"
#include "scratch.h"

#define URL "http://127.0.0.1:8080/api/v1/iocs?limit=1"
#define UA "User-Agent: keygate-load/" KEYGATE_VERSION "\r\n"
#define ACCEPT "Accept: application/json\r\n"

/* ---- temp files --------------------------------------------------------- */

static char g_dir[SCRATCH_DIR_MAX];
static char *g_made[64]; /* paths made in g_dir, removed at the end */
static size_t g_nmade;

static int make_dir(void **state) {
  (void)state;
  return scratch_make(g_dir, "kgl_traffic_");
}

/* The names path_of made; the files go with the directory (main:
 * scratch_remove). */
static int free_names(void **state) {
  (void)state;
  for (size_t i = g_nmade; i > 0; i--) {
    free(g_made[i - 1]);
  }
  g_nmade = 0;
  return 0;
}

/* A path in the temp dir, remembered for removal. Owned by this module. */
static const char *path_of(const char *name) {
  assert_true(g_nmade < sizeof g_made / sizeof g_made[0]);
  const size_t n = strlen(g_dir) + strlen(name) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", g_dir, name);
  g_made[g_nmade++] = p;
  return p;
}

/* write_file_n — the file `name` holding (s, n); its path. */
static const char *write_file_n(const char *name, const char *s, size_t n) {
  const char *p = path_of(name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(s, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  return p;
}

static const char *write_file(const char *name, const char *s) {
  return write_file_n(name, s, strlen(s));
}

/* A fresh strict key under `prefix` into out (capacity KG_KEY_MAX_LEN+1). */
static void new_key(const char *prefix, char *out) {
  kg_key_policy pol;
  assert_int_equal(
      kg_key_policy_init(&pol, KG_KEY_STRICT, prefix, strlen(prefix)), KG_OK);
  size_t n = 0;
  assert_int_equal(kg_key_generate(&pol, out, KG_KEY_MAX_LEN + 1, &n), KG_OK);
  assert_int_equal(n, strlen(out));
}

/* Options: the defaults with URL, the key file and a mix. */
static void options(kgl_options *o, const char *keys, int valid, int invalid,
                    int missing, int expired) {
  kgl_options_default(o);
  o->url = URL;
  o->keys_path = keys;
  o->mix[KGL_VALID] = valid;
  o->mix[KGL_INVALID] = invalid;
  o->mix[KGL_MISSING] = missing;
  o->mix[KGL_EXPIRED] = expired;
}

static void build_ok(kgl_traffic *t, const kgl_options *o) {
  char why[512] = "";
  const int rc = kgl_traffic_build(t, o, why, sizeof why);
  if (rc != 0) {
    fail_msg("kgl_traffic_build: %s", why);
  }
}

/* Builds and fails; the reason must hold every string of want (NULL ends). */
static void build_fails(const kgl_options *o, const char *const *want) {
  kgl_traffic t;
  char why[512] = "";
  const int rc = kgl_traffic_build(&t, o, why, sizeof why);
  if (rc != -1) {
    kgl_traffic_free(&t);
    fail_msg("kgl_traffic_build succeeded; want a refusal naming \"%s\"",
             want[0]);
  }
  for (size_t i = 0; want[i] != NULL; i++) {
    if (strstr(why, want[i]) == NULL) {
      fail_msg("reason \"%s\" does not name \"%s\"", why, want[i]);
    }
  }
  /* what a failed build leaves is freed */
  assert_null(t.arena);
  for (int c = 0; c < KGL_NCLASS; c++) {
    assert_null(t.reqs[c]);
    assert_int_equal(t.nreq[c], 0);
  }
}

static int has(const kgl_req *r, const char *s) {
  return memmem(r->h1, r->h1_len, s, strlen(s)) != NULL;
}

/* ---- the key file ------------------------------------------------------- */

static void key_lines_are_read_by_class_in_file_order(void **state) {
  (void)state;
  char v1[300], v2[300], e1[300], d1[300];
  new_key("sk_live_", v1);
  new_key("sk_live_", v2);
  new_key("sk_live_", e1);
  new_key("sk_live_", d1);
  char file[2048];
  snprintf(file, sizeof file,
           "# written by keygate keys seed\n"
           "\n"
           "valid\t%s\n"
           "expired\t%s\r\n" /* CRLF line ends too */
           "\r\n"
           "# deactivated keys answer expired_api_key\n"
           "deactivated\t%s\n"
           "active\t%s", /* check's word for valid; no LF at the end */
           v1, e1, d1, v2);
  kgl_options o;
  options(&o, write_file("classes.txt", file), 1, 0, 0, 1);
  o.header = KGL_HEADER_BEARER;
  kgl_traffic t;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 2);
  assert_int_equal(t.nreq[KGL_EXPIRED], 2);
  assert_int_equal(t.nreq[KGL_INVALID], 0);
  assert_int_equal(t.nreq[KGL_MISSING], 0);
  const char *const want[4] = {v1, v2, e1, d1};
  const kgl_req *got[4] = {&t.reqs[KGL_VALID][0], &t.reqs[KGL_VALID][1],
                           &t.reqs[KGL_EXPIRED][0], &t.reqs[KGL_EXPIRED][1]};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(got[i]->key_len, strlen(want[i]));
    assert_memory_equal(got[i]->key, want[i], got[i]->key_len);
    assert_int_equal(got[i]->bearer, 1);
    assert_int_equal(got[i]->cls, i < 2 ? KGL_VALID : KGL_EXPIRED);
  }
  kgl_traffic_free(&t);
}

static void a_class_left_out_of_the_mix_is_not_loaded(void **state) {
  (void)state;
  char v[300], e[300];
  new_key("sk_live_", v);
  new_key("sk_live_", e);
  char file[1024];
  snprintf(file, sizeof file, "valid\t%s\nexpired\t%s\n", v, e);
  kgl_options o;
  options(&o, write_file("left_out.txt", file), 0, 15, 10, 5);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 0);
  assert_null(t.reqs[KGL_VALID]);
  assert_true(t.nreq[KGL_EXPIRED] > 0);
  kgl_traffic_free(&t);
}

typedef struct bad_line {
  const char *name;
  const char *line; /* the third line of the file, with its LF */
  size_t len;       /* 0: strlen */
} bad_line;

#define K40 "sk_live_0123456789abcdefghijklmnopqrstuv"

static const bad_line BAD_LINES[] = {
    {"space_instead_of_tab", "valid " K40 "\n", 0},
    {"no_key", "valid\n", 0},
    {"empty_key", "valid\t\n", 0},
    {"empty_class", "\t" K40 "\n", 0},
    {"unknown_class", "revoked\t" K40 "\n", 0},
    {"upper_case_class", "Valid\t" K40 "\n", 0},
    {"class_with_a_space", "valid \t" K40 "\n", 0},
    {"invalid_is_made_not_read", "invalid\t" K40 "\n", 0},
    {"missing_has_no_key", "missing\t" K40 "\n", 0},
    {"space_in_key", "valid\tsk_live_ab cd\n", 0},
    {"tab_in_key", "valid\tsk_live_ab\tcd\n", 0},
    {"trailing_space", "valid\t" K40 " \n", 0},
    {"control_in_key", "valid\tsk_live_\x01x\n", 0},
    {"del_in_key", "valid\tsk_live_\x7fx\n", 0},
    {"non_ascii_in_key", "valid\tsk_live_caf\xc3\xa9\n", 0},
    {"bare_cr_in_key", "valid\tsk_live_a\rb\n", 0},
    {"nul_in_key", "valid\tsk_live_a\0b\n",
     sizeof("valid\tsk_live_a\0b\n") - 1},
    /* not a token68 (SPEC §1.1: malformed): refused, not sent */
    {"quoted_key", "valid\t\"" K40 "\"\n", 0},
    {"comma_after_key", "expired\t" K40 ",\n", 0},
    {"semicolon_in_key", "valid\tsk_live_0123;456789abcdef\n", 0},
    {"equals_inside_key", "deactivated\tsk_live_0123=456789abcdef\n", 0},
};

static void a_malformed_line_is_refused_by_its_number(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof BAD_LINES / sizeof BAD_LINES[0]; i++) {
    const bad_line *c = &BAD_LINES[i];
    char file[1024];
    static const char head[] = "# keys\nvalid\t" K40 "\n";
    const size_t len = c->len ? c->len : strlen(c->line);
    memcpy(file, head, sizeof head - 1);
    memcpy(file + sizeof head - 1, c->line, len);
    memcpy(file + sizeof head - 1 + len, "valid\t" K40 "\n", 47);
    char name[64];
    snprintf(name, sizeof name, "bad_%zu.txt", i);
    kgl_options o;
    options(&o, write_file_n(name, file, sizeof head - 1 + len + 47), 1, 0, 0,
            0);
    char want[256];
    snprintf(want, sizeof want, "%s:3:", o.keys_path);
    kgl_traffic t;
    char why[512] = "";
    const int rc = kgl_traffic_build(&t, &o, why, sizeof why);
    if (rc != -1 || strstr(why, want) == NULL) {
      print_error("%s: rc %d why \"%s\"; want -1 naming \"%s\"\n", c->name, rc,
                  why, want);
      failures++;
    }
    if (rc == 0) {
      kgl_traffic_free(&t);
    }
  }
  assert_int_equal(failures, 0);
}

/* A key that is not a token68 is named by its class and masked form,
 * never whole; keys of other issuers (token68) are read. */
static void a_key_that_is_no_token68_is_named_masked(void **state) {
  (void)state;
  static const char file[] = "valid\t" K40 "\n"
                             "valid\tghp_abcdefghij0123456789ABCDEFGHIJ0123xy\n"
                             "valid\tAKIAABCDEFGHIJKLMNOP\n"
                             "valid\tpk-foreign.token~v1/AB+cd==\n"
                             "valid\t\"" K40 "\"\n";
  kgl_options o;
  options(&o, write_file_n("quoted.txt", file, sizeof file - 1), 1, 0, 0, 0);
  kgl_traffic t;
  char why[512] = "";
  assert_int_equal(kgl_traffic_build(&t, &o, why, sizeof why), -1);
  char want[300];
  snprintf(want, sizeof want,
           "%s:5: the valid key \"sk_live_****tuv\" is not a token68",
           o.keys_path);
  assert_non_null(strstr(why, want));
  assert_null(strstr(why, "0123456789")); /* never the key's body */
  assert_null(strchr(why, '\n'));
}

static void a_key_longer_than_any_key_is_refused(void **state) {
  (void)state;
  char file[2200];
  int n = snprintf(file, sizeof file, "valid\t" K40 "\nvalid\t");
  memset(file + n, 'k', KG_KEY_MAX_LEN + 1);
  n += KG_KEY_MAX_LEN + 1;
  file[n++] = '\n';
  kgl_options o;
  options(&o, write_file_n("long_key.txt", file, (size_t)n), 1, 0, 0, 0);
  char want[256];
  snprintf(want, sizeof want, "%s:2:", o.keys_path);
  const char *const w[] = {want, NULL};
  build_fails(&o, w);
  /* a line longer than the reader's buffer */
  n = snprintf(file, sizeof file, "# a\n# b\nvalid\t");
  memset(file + n, 'k', 2000);
  n += 2000;
  file[n++] = '\n';
  options(&o, write_file_n("long_line.txt", file, (size_t)n), 1, 0, 0, 0);
  snprintf(want, sizeof want, "%s:3:", o.keys_path);
  build_fails(&o, w);
}

static void a_key_of_the_longest_length_is_accepted(void **state) {
  (void)state;
  char file[600];
  int n = snprintf(file, sizeof file, "valid\tsk_live_");
  memset(file + n, 'k', KG_KEY_MAX_LEN - 8);
  n += KG_KEY_MAX_LEN - 8;
  file[n++] = '\n';
  kgl_options o;
  options(&o, write_file_n("longest.txt", file, (size_t)n), 1, 0, 0, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_int_equal(t.reqs[KGL_VALID][0].key_len, KG_KEY_MAX_LEN);
  kgl_traffic_free(&t);
}

static void an_unreadable_key_file_is_refused_by_name(void **state) {
  (void)state;
  kgl_options o;
  const char *absent = path_of("absent.txt");
  options(&o, absent, 1, 0, 0, 0);
  const char *const w1[] = {absent, "No such file", NULL};
  build_fails(&o, w1);
  /* a directory opens but does not read */
  const char *dir = path_of("a_dir");
  assert_int_equal(mkdir(dir, 0700), 0);
  options(&o, dir, 1, 0, 0, 0);
  const char *const w2[] = {dir, NULL};
  build_fails(&o, w2);
  if (geteuid() != 0) { /* root reads a mode-000 file anyway */
    const char *p = write_file("mode000.txt", "valid\t" K40 "\n");
    assert_int_equal(chmod(p, 0), 0);
    options(&o, p, 1, 0, 0, 0);
    const char *const w3[] = {p, "Permission denied", NULL};
    build_fails(&o, w3);
  }
}

static void a_class_of_the_mix_missing_from_the_file_is_refused(void **state) {
  (void)state;
  kgl_options o;
  options(&o, write_file("only_valid.txt", "valid\t" K40 "\n"), 70, 15, 10, 5);
  const char *const w[] = {"expired", "none", NULL};
  build_fails(&o, w);
  options(&o, write_file("only_expired.txt", "deactivated\t" K40 "\n"), 70, 0,
          0, 5);
  const char *const w2[] = {"valid", "none", NULL};
  build_fails(&o, w2);
  options(&o, write_file("only_comments.txt", "# nothing\n\n"), 1, 0, 0, 0);
  build_fails(&o, w2);
}

static void a_mix_that_needs_keys_without_keys_is_refused(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 70, 15, 10, 5);
  const char *const w[] = {"valid", "--keys", NULL};
  build_fails(&o, w);
  options(&o, NULL, 0, 15, 10, 5);
  const char *const w2[] = {"expired", "--keys", NULL};
  build_fails(&o, w2);
}

static void a_mix_without_file_classes_needs_no_keys(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 0, 15, 10, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 0);
  assert_int_equal(t.nreq[KGL_EXPIRED], 0);
  assert_true(t.nreq[KGL_INVALID] > 0);
  assert_int_equal(t.nreq[KGL_MISSING], 1);
  assert_string_equal(t.prefix, "");
  kgl_traffic_free(&t);
}

static void a_mix_that_sends_nothing_is_refused(void **state) {
  (void)state;
  kgl_options o;
  options(&o, write_file("zero_mix.txt", "valid\t" K40 "\n"), 0, 0, 0, 0);
  const char *const w[] = {"--mix", NULL};
  build_fails(&o, w);
  options(&o, NULL, 0, 0, 0, 0);
  build_fails(&o, w);
}

static void a_bad_url_is_refused(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 0, 0, 1, 0);
  o.url = "ftp://h/";
  const char *const w[] = {"http://", NULL};
  build_fails(&o, w);
}

/* ---- the requests ------------------------------------------------------- */

static void request_bytes_are_exact_for_each_header_mode(void **state) {
  (void)state;
  static const char file[] = "valid\t" K40 "\n";
  const char *keys = write_file("one_key.txt", file);
  static const char bearer[] =
      "GET /api/v1/iocs?limit=1 HTTP/1.1\r\n"
      "Host: 127.0.0.1:8080\r\n" UA ACCEPT "Authorization: Bearer " K40 "\r\n"
      "\r\n";
  static const char xkey[] =
      "GET /api/v1/iocs?limit=1 HTTP/1.1\r\n"
      "Host: 127.0.0.1:8080\r\n" UA ACCEPT "X-API-Key: " K40 "\r\n"
      "\r\n";
  kgl_options o;
  kgl_traffic t;
  options(&o, keys, 1, 0, 0, 0);
  o.header = KGL_HEADER_BEARER;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 1);
  assert_int_equal(t.reqs[KGL_VALID][0].h1_len, sizeof bearer - 1);
  assert_memory_equal(t.reqs[KGL_VALID][0].h1, bearer, sizeof bearer - 1);
  assert_int_equal(t.reqs[KGL_VALID][0].bearer, 1);
  kgl_traffic_free(&t);

  options(&o, keys, 1, 0, 0, 0);
  o.header = KGL_HEADER_X_API_KEY;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 1);
  assert_int_equal(t.reqs[KGL_VALID][0].h1_len, sizeof xkey - 1);
  assert_memory_equal(t.reqs[KGL_VALID][0].h1, xkey, sizeof xkey - 1);
  assert_int_equal(t.reqs[KGL_VALID][0].bearer, 0);
  kgl_traffic_free(&t);

  /* mixed: each key both ways */
  options(&o, keys, 1, 0, 0, 0);
  o.header = KGL_HEADER_MIXED;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 2);
  const kgl_req *r = t.reqs[KGL_VALID];
  const kgl_req *b = r[0].bearer ? &r[0] : &r[1];
  const kgl_req *x = r[0].bearer ? &r[1] : &r[0];
  assert_int_equal(b->bearer, 1);
  assert_int_equal(x->bearer, 0);
  assert_int_equal(b->h1_len, sizeof bearer - 1);
  assert_memory_equal(b->h1, bearer, sizeof bearer - 1);
  assert_int_equal(x->h1_len, sizeof xkey - 1);
  assert_memory_equal(x->h1, xkey, sizeof xkey - 1);
  kgl_traffic_free(&t);
}

static void a_missing_request_carries_no_credential(void **state) {
  (void)state;
  static const char want[] = "GET /api/v1/iocs?limit=1 HTTP/1.1\r\n"
                             "Host: 127.0.0.1:8080\r\n" UA ACCEPT "\r\n";
  const kgl_header_mode MODES[] = {KGL_HEADER_BEARER, KGL_HEADER_X_API_KEY,
                                   KGL_HEADER_MIXED};
  for (size_t m = 0; m < 3; m++) {
    kgl_options o;
    options(&o, NULL, 0, 0, 1, 0);
    o.header = MODES[m];
    kgl_traffic t;
    build_ok(&t, &o);
    assert_int_equal(t.nreq[KGL_MISSING], 1);
    const kgl_req *r = &t.reqs[KGL_MISSING][0];
    assert_int_equal(r->cls, KGL_MISSING);
    assert_null(r->key);
    assert_int_equal(r->key_len, 0);
    assert_int_equal(r->h1_len, sizeof want - 1);
    assert_memory_equal(r->h1, want, sizeof want - 1);
    assert_null(memmem(r->h1, r->h1_len, "Authorization", 13));
    assert_null(memmem(r->h1, r->h1_len, "X-API-Key", 9));
    kgl_traffic_free(&t);
  }
}

static void
the_method_is_sent_as_given_with_a_length_when_it_has_a_body(void **state) {
  (void)state;
  static const struct {
    const char *method;
    int length;
  } CASES[] = {{"GET", 0},  {"HEAD", 0}, {"DELETE", 0}, {"OPTIONS", 0},
               {"POST", 1}, {"PUT", 1},  {"PATCH", 1}};
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    kgl_options o;
    options(&o, NULL, 0, 0, 1, 0);
    o.method = CASES[i].method;
    kgl_traffic t;
    build_ok(&t, &o);
    const kgl_req *r = &t.reqs[KGL_MISSING][0];
    char want[256];
    snprintf(
        want, sizeof want,
        "%s /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" UA ACCEPT
        "%s\r\n",
        CASES[i].method, CASES[i].length ? "Content-Length: 0\r\n" : "");
    if (r->h1_len != strlen(want) || memcmp(r->h1, want, r->h1_len) != 0) {
      fail_msg("%s: got \"%.*s\"", CASES[i].method, (int)r->h1_len, r->h1);
    }
    kgl_traffic_free(&t);
  }
  /* POST with a key: the length before the credential */
  kgl_options o;
  options(&o, write_file("post.txt", "valid\t" K40 "\n"), 1, 0, 0, 0);
  o.method = "POST";
  o.header = KGL_HEADER_X_API_KEY;
  kgl_traffic t;
  build_ok(&t, &o);
  static const char post[] =
      "POST /api/v1/iocs?limit=1 HTTP/1.1\r\n"
      "Host: 127.0.0.1:8080\r\n" UA ACCEPT "Content-Length: 0\r\n"
      "X-API-Key: " K40 "\r\n\r\n";
  assert_int_equal(t.reqs[KGL_VALID][0].h1_len, sizeof post - 1);
  assert_memory_equal(t.reqs[KGL_VALID][0].h1, post, sizeof post - 1);
  kgl_traffic_free(&t);
}

static void host_is_the_urls_authority_as_given(void **state) {
  (void)state;
  static const struct {
    const char *url;
    const char *start;
  } CASES[] = {
      {"http://[::1]:8080/x", "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n"},
      {"https://Example.COM", "GET / HTTP/1.1\r\nHost: Example.COM\r\n"},
      {"http://h:80/a?b#c", "GET /a?b HTTP/1.1\r\nHost: h:80\r\n"},
      {"http://h:08080?q", "GET /?q HTTP/1.1\r\nHost: h:08080\r\n"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    kgl_options o;
    options(&o, NULL, 0, 0, 1, 0);
    o.url = CASES[i].url;
    kgl_traffic t;
    build_ok(&t, &o);
    const kgl_req *r = &t.reqs[KGL_MISSING][0];
    const size_t n = strlen(CASES[i].start);
    if (r->h1_len < n || memcmp(r->h1, CASES[i].start, n) != 0) {
      fail_msg("%s: got \"%.*s\"", CASES[i].url, (int)r->h1_len, r->h1);
    }
    kgl_traffic_free(&t);
  }
}

static void every_key_request_holds_its_key_once(void **state) {
  (void)state;
  char file[4096] = "";
  size_t n = 0;
  for (int i = 0; i < 8; i++) {
    char k[300];
    new_key("sk_live_", k);
    n += (size_t)snprintf(file + n, sizeof file - n, "%s\t%s\r\n",
                          i % 2 ? "expired" : "valid", k);
  }
  kgl_options o;
  options(&o, write_file("eight.txt", file), 70, 15, 10, 5);
  kgl_traffic t;
  build_ok(&t, &o);
  for (int c = 0; c < KGL_NCLASS; c++) {
    for (size_t i = 0; i < t.nreq[c]; i++) {
      const kgl_req *r = &t.reqs[c][i];
      assert_int_equal(r->cls, c);
      if (c == KGL_MISSING) {
        continue;
      }
      char line[400];
      snprintf(line, sizeof line, "%s%.*s\r\n",
               r->bearer ? "Authorization: Bearer " : "X-API-Key: ",
               (int)r->key_len, r->key);
      assert_true(has(r, line));
      /* the request ends with the credential line and the empty line */
      const size_t ln = strlen(line);
      assert_memory_equal(r->h1 + r->h1_len - ln - 2, line, ln);
      assert_memory_equal(r->h1 + r->h1_len - 2, "\r\n", 2);
      assert_null(memchr(r->key, '\r', r->key_len));
    }
  }
  kgl_traffic_free(&t);
}

/* ---- invalid keys ------------------------------------------------------- */

/* The four kinds, in the order the builder makes them. */
static const kg_status INVALID_KINDS[4] = {
    KG_OK,                /* well formed, never issued */
    KG_KEY_BAD_CHECKSUM,  /* one checksum digit changed */
    KG_KEY_BAD_LENGTH,    /* the last character cut */
    KG_KEY_BAD_CHARACTER, /* a '!' in the random part */
};

/* The invalid requests of t hold the four kinds in turn under `prefix`'s
 * strict policy, each key sent `per_key` times in a row. */
static void check_invalid_kinds(const kgl_traffic *t, const char *prefix,
                                size_t per_key) {
  kg_key_policy pol;
  assert_int_equal(
      kg_key_policy_init(&pol, KG_KEY_STRICT, prefix, strlen(prefix)), KG_OK);
  assert_true(t->nreq[KGL_INVALID] >= 4 * per_key);
  assert_int_equal(t->nreq[KGL_INVALID] % (4 * per_key), 0);
  size_t seen[4] = {0};
  for (size_t i = 0; i < t->nreq[KGL_INVALID]; i++) {
    const kgl_req *r = &t->reqs[KGL_INVALID][i];
    const size_t kind = (i / per_key) % 4;
    assert_non_null(r->key);
    assert_int_equal(r->cls, KGL_INVALID);
    assert_memory_equal(r->key, prefix, strlen(prefix));
    const kg_status st = kg_key_check(&pol, r->key, r->key_len);
    if (st != INVALID_KINDS[kind]) {
      fail_msg("invalid request %zu (kind %zu) \"%.*s\": %s, want %s", i, kind,
               (int)r->key_len, r->key, kg_status_str(st),
               kg_status_str(INVALID_KINDS[kind]));
    }
    seen[kind]++;
    if (per_key == 2 && i % 2 == 1) {
      /* mixed: the same key both ways */
      const kgl_req *prev = r - 1;
      assert_int_equal(prev->key_len, r->key_len);
      assert_memory_equal(prev->key, r->key, r->key_len);
      assert_int_not_equal(prev->bearer, r->bearer);
    }
  }
  assert_int_equal(seen[0], seen[1]);
  assert_int_equal(seen[1], seen[2]);
  assert_int_equal(seen[2], seen[3]);
}

static void invalid_keys_hold_four_kinds_in_turn(void **state) {
  (void)state;
  kgl_options o;
  kgl_traffic t;
  options(&o, NULL, 0, 1, 0, 0);
  o.header = KGL_HEADER_X_API_KEY;
  build_ok(&t, &o);
  check_invalid_kinds(&t, "sk_live_", 1);
  kgl_traffic_free(&t);

  options(&o, NULL, 0, 1, 0, 0);
  o.header = KGL_HEADER_MIXED;
  build_ok(&t, &o);
  check_invalid_kinds(&t, "sk_live_", 2);
  kgl_traffic_free(&t);
}

static void invalid_keys_take_the_files_prefix(void **state) {
  (void)state;
  char k[300];
  new_key("sk_test_", k);
  char file[512];
  snprintf(file, sizeof file, "# test keys\n\nvalid\t%s\n", k);
  kgl_options o;
  options(&o, write_file("test_keys.txt", file), 70, 15, 10, 0);
  o.header = KGL_HEADER_BEARER;
  kgl_traffic t;
  build_ok(&t, &o);
  assert_string_equal(t.prefix, "sk_test_");
  check_invalid_kinds(&t, "sk_test_", 1);
  kgl_traffic_free(&t);
}

static void the_prefix_comes_from_the_first_key(void **state) {
  (void)state;
  char live[300], test[300];
  new_key("sk_live_", live);
  new_key("sk_test_", test);
  char file[1024];
  snprintf(file, sizeof file, "# c\nvalid\t%s\nvalid\t%s\n", live, test);
  kgl_options o;
  options(&o, write_file("live_first.txt", file), 1, 0, 0, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_string_equal(t.prefix, "sk_live_");
  kgl_traffic_free(&t);
  /* a prefix of more words: its first two (kgl_key_prefix_len) */
  options(&o,
          write_file("org_key.txt", "valid\tacme_sk_live_ABCDEFGH12345678\n"),
          1, 0, 0, 0);
  build_ok(&t, &o);
  assert_string_equal(t.prefix, "acme_sk_");
  kgl_traffic_free(&t);
}

/* A prefix is words of letters each ended by '_': a '_' inside a random
 * part ends none, so a mask never shows the secret characters before it
 * (review: "Zm9vYmFyYmF6_****lugh", "ghp_abcdefghi_****6789"). */
static void a_prefix_is_words_of_letters_only(void **state) {
  (void)state;
  static const struct {
    const char *key;
    size_t prefix;
  } cases[] = {
      {"sk_live_8yDoYITcaJMsb9cvgQnkiIOqFeUXXd9j0hM6GO", 8},
      {"github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz", 11},
      {"acme_sk_live_ABCDEFGH12345678", 8}, /* two words at most */
      {"ghp_abcdefghi_jklmnopqrstuvwxyz0123456789", 4},
      {"Zm9vYmFyYmF6_quxQUUXcorgegraultgarplywaldofredplugh", 0},
      {"abcdefg_hijklmnopqrstuvwxyz0123456789", 0},  /* 7 letters: random */
      {"x_abcdefghijklmnopqrstuvwxyz", 0},           /* 1 letter */
      {"abcdef_ghijkl_EuoR4EbR85cGOvPDHA1OPU3m", 7}, /* 11 bytes at most */
      {"ghp_abcdef_Xy_Sn3MrRBrO3jdjLORtL7AyzhU", 11},
      {"AbCdEf_GhIjKl_EuoR4EbR85cGOvPDHA1OPU3m", 0}, /* lower case only */
      {"kg.8yDoYITcaJMsb9cvgQnkiIOqFeUXXd9j0hM6GO", 0},
      {"sk_", 3}, /* nothing after it */
      {"\"sk_live_8yDoYITcaJMsb9cvgQnkiIOqFeUXXd9j0hM6GO\"", 9}, /* quoted */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(kgl_key_prefix_len(cases[i].key, strlen(cases[i].key)),
                     cases[i].prefix);
  }
  char m[64];
  const char *zm = "Zm9vYmFyYmF6_quxQUUXcorgegraultgarplywaldofredplugh";
  kgl_mask_key(zm, strlen(zm), m, sizeof m);
  assert_string_equal(m, "****lugh");
  const char *ghp = "ghp_abcdefghi_jklmnopqrstuvwxyz0123456789";
  kgl_mask_key(ghp, strlen(ghp), m, sizeof m);
  assert_string_equal(m, "ghp_****6789");
}

/* Every key the run sends is masked in what it reports, whatever its
 * prefix shape (review F4: "kg.<body>" in the URL was printed whole): the
 * whole key, its body, 8 or more characters of it, escaped; the masked
 * form of an sk_live_ key and text that holds no key stay as they are. */
static void every_key_sent_is_masked_whatever_its_prefix(void **state) {
  (void)state;
  static const char BODY[] = "8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO";
  char live[300];
  new_key("sk_live_", live);
  char file[1024];
  snprintf(file, sizeof file, "valid\tkg.%s\nvalid\t%s\n", BODY, live);
  kgl_options o;
  options(&o, write_file("dotted.txt", file), 1, 1, 0, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_true(t.nkey_windows > 0);
  static const struct {
    const char *in, *want;
  } KS[] = {
      {"http://h/?q=kg.8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO",
       "http://h/?q=****M6GO"},
      {"http://h/kg.8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO/x",
       "http://h/****/x"}, /* '/' may continue a token68: no last four */
      {"http://h/?q=8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO&z=1",
       "http://h/?q=****M6GO&z=1"},
      {"echo kg.8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GOxyz", "echo ****xyz"},
      {"got ITcMsb9cvg only", "got **** only"},
      {"got ITcMsb9 only", "got ITcMsb9 only"},
      {"http://h/?q=kg%2E8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO",
       "http://h/?q=****"}, /* a run that decodes to a key: masked whole */
      {"http://h/?q=%38%79%44%6F%59%49%54%63%4D%73%62", "http://h/?q=****"},
      {"http://h/?q=%2538%2579%2544%256F%2559%2549%2554%2563&z",
       "http://h/?q=****&z"},
      {"http://h/api/v1/iocs?limit=10", "http://h/api/v1/iocs?limit=10"},
      {"kg.ok %41%42", "kg.ok %41%42"},
      /* written into JSON with escapes (RFC 8259 §7): a run that decodes
       * to a key is masked whole, an escape that ends a run ends it */
      {"{\"q\":\"\\u0038\\u0079\\u0044\\u006F\\u0059\\u0049\\u0054\\u0063\"}",
       "{\"q\":\"****\"}"},
      {"{\"q\":\"kg\\u002e8yDoYITc\\u004dsb9cvgQnkiIOqFeUXXd9j0hM6GO\"}",
       "{\"q\":\"****\"}"},
      {"{\"q\":\"%2538\\u0025\\u0037\\u0039%2544%256F%2559%2549%2554%2563\"}",
       "{\"q\":\"****\"}"},
      /* JSON in a JSON string: escaped backslashes (review 116) */
      {"{\"q\":"
       "\"\\\\u0038\\\\u0079\\\\u0044\\\\u006F\\\\u0059\\\\u0049\\\\u0054"
       "\\\\u0063\"}",
       "{\"q\":\"****\"}"},
      {"{\"q\":\"kg.ok \\u0041\\u0042\\u0022\"}",
       "{\"q\":\"kg.ok \\u0041\\u0042\\u0022\"}"},
  };
  char out[512];
  for (size_t i = 0; i < sizeof KS / sizeof KS[0]; i++) {
    kgl_safe_text(&t, NULL, 0, KS[i].in, strlen(KS[i].in), out, sizeof out);
    if (strcmp(out, KS[i].want) != 0) {
      fail_msg("\"%s\": \"%s\", want \"%s\"", KS[i].in, out, KS[i].want);
    }
  }
  /* the sk_live_ key: its masked form stays, "sk_live_" is no key piece */
  char in[512], want[64];
  snprintf(in, sizeof in, "http://h/?api_key=%s", live);
  snprintf(want, sizeof want, "http://h/?api_key=sk_live_****%s",
           live + strlen(live) - 4);
  kgl_safe_text(&t, NULL, 0, in, strlen(in), out, sizeof out);
  assert_string_equal(out, want);
  snprintf(in, sizeof in, "x %s y", live + 8);
  kgl_safe_text(&t, NULL, 0, in, strlen(in), out, sizeof out);
  assert_null(strstr(out, live + 30));
  kgl_traffic_free(&t);
  assert_null(t.key_windows);
  assert_int_equal(t.nkey_windows, 0);
}

/* A server text holding 8 characters of the key sent is withheld whole,
 * and a sample's request id holds that note whole (review: it lost its
 * closing parenthesis to a 40-byte field). */
static void a_withheld_request_id_reads_whole_in_a_sample(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 0, 1, 0, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  static const char key[] = "sk_live_8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GOab";
  const char *rid = "req-8yDoYITcMsb9cvgQ";
  kgl_sample s;
  kgl_safe_text(&t, key, strlen(key), rid, strlen(rid), s.request_id,
                sizeof s.request_id);
  assert_string_equal(s.request_id, KGL_WITHHELD);
  assert_string_equal(s.request_id, "(withheld: it held part of the key sent)");
  kgl_safe_text(&t, key, strlen(key), rid, strlen(rid), s.code, sizeof s.code);
  assert_string_equal(s.code, KGL_WITHHELD);
  kgl_traffic_free(&t);
}

/* ---- the mix ------------------------------------------------------------ */

static void picks_follow_the_mix_weights(void **state) {
  (void)state;
  char file[4096] = "";
  size_t n = 0;
  for (int i = 0; i < 6; i++) {
    char k[300];
    new_key("sk_live_", k);
    n += (size_t)snprintf(
        file + n, sizeof file - n, "%s\t%s\n",
        i < 4 ? "valid" : (i == 4 ? "expired" : "deactivated"), k);
  }
  static const int MIXES[][KGL_NCLASS] = {
      {70, 15, 10, 5}, {1, 1, 1, 1}, {0, 3, 0, 1}, {99, 0, 0, 1}};
  const char *keys = write_file("mix.txt", file);
  for (size_t m = 0; m < sizeof MIXES / sizeof MIXES[0]; m++) {
    kgl_options o;
    options(&o, keys, MIXES[m][0], MIXES[m][1], MIXES[m][2], MIXES[m][3]);
    kgl_traffic t;
    build_ok(&t, &o);
    int total = 0;
    for (int c = 0; c < KGL_NCLASS; c++) {
      total += MIXES[m][c];
    }
    enum { PICKS = 100000 };
    long count[KGL_NCLASS] = {0};
    uint64_t rng = 0x5eed + m;
    for (int i = 0; i < PICKS; i++) {
      const kgl_req *r = kgl_traffic_pick(&t, &rng);
      assert_true((int)r->cls >= 0 && (int)r->cls < KGL_NCLASS);
      assert_true(r >= t.reqs[r->cls] && r < t.reqs[r->cls] + t.nreq[r->cls]);
      count[r->cls]++;
    }
    for (int c = 0; c < KGL_NCLASS; c++) {
      const double got = (double)count[c] / PICKS;
      const double want = (double)MIXES[m][c] / total;
      if (got < want - 0.01 || got > want + 0.01) {
        fail_msg("mix %zu class %s: %.4f of picks, want %.4f +- 0.01", m,
                 kgl_class_name((kgl_class)c), got, want);
      }
      if (MIXES[m][c] == 0) {
        assert_int_equal(count[c], 0);
      }
    }
    kgl_traffic_free(&t);
  }
}

static void picks_reach_every_request_of_a_class_evenly(void **state) {
  (void)state;
  char file[4096] = "";
  size_t n = 0;
  for (int i = 0; i < 5; i++) {
    char k[300];
    new_key("sk_live_", k);
    n += (size_t)snprintf(file + n, sizeof file - n, "valid\t%s\n", k);
  }
  kgl_options o;
  options(&o, write_file("five.txt", file), 1, 0, 0, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  assert_int_equal(t.nreq[KGL_VALID], 10); /* mixed: each key both ways */
  long count[10] = {0};
  uint64_t rng = 7;
  for (int i = 0; i < 100000; i++) {
    const kgl_req *r = kgl_traffic_pick(&t, &rng);
    count[r - t.reqs[KGL_VALID]]++;
  }
  for (size_t i = 0; i < 10; i++) {
    if (count[i] < 9000 || count[i] > 11000) {
      fail_msg("request %zu picked %ld times of 100000, want about 10000", i,
               count[i]);
    }
  }
  kgl_traffic_free(&t);
}

static void the_same_seed_picks_the_same_requests(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 0, 15, 10, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  uint64_t a = 42, b = 42, c = 43;
  int differ = 0;
  for (int i = 0; i < 1000; i++) {
    const kgl_req *x = kgl_traffic_pick(&t, &a);
    assert_ptr_equal(x, kgl_traffic_pick(&t, &b));
    differ += x != kgl_traffic_pick(&t, &c);
  }
  assert_true(differ > 0);
  kgl_traffic_free(&t);
}

static void free_is_safe_twice_and_leaves_nothing(void **state) {
  (void)state;
  kgl_options o;
  options(&o, NULL, 0, 15, 10, 0);
  kgl_traffic t;
  build_ok(&t, &o);
  kgl_traffic_free(&t);
  assert_null(t.arena);
  assert_int_equal(t.arena_len, 0);
  for (int c = 0; c < KGL_NCLASS; c++) {
    assert_null(t.reqs[c]);
    assert_int_equal(t.nreq[c], 0);
  }
  kgl_traffic_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(key_lines_are_read_by_class_in_file_order),
      cmocka_unit_test(a_class_left_out_of_the_mix_is_not_loaded),
      cmocka_unit_test(a_malformed_line_is_refused_by_its_number),
      cmocka_unit_test(a_key_that_is_no_token68_is_named_masked),
      cmocka_unit_test(a_key_longer_than_any_key_is_refused),
      cmocka_unit_test(a_key_of_the_longest_length_is_accepted),
      cmocka_unit_test(an_unreadable_key_file_is_refused_by_name),
      cmocka_unit_test(a_class_of_the_mix_missing_from_the_file_is_refused),
      cmocka_unit_test(a_mix_that_needs_keys_without_keys_is_refused),
      cmocka_unit_test(a_mix_without_file_classes_needs_no_keys),
      cmocka_unit_test(a_mix_that_sends_nothing_is_refused),
      cmocka_unit_test(a_bad_url_is_refused),
      cmocka_unit_test(request_bytes_are_exact_for_each_header_mode),
      cmocka_unit_test(a_missing_request_carries_no_credential),
      cmocka_unit_test(
          the_method_is_sent_as_given_with_a_length_when_it_has_a_body),
      cmocka_unit_test(host_is_the_urls_authority_as_given),
      cmocka_unit_test(every_key_request_holds_its_key_once),
      cmocka_unit_test(invalid_keys_hold_four_kinds_in_turn),
      cmocka_unit_test(invalid_keys_take_the_files_prefix),
      cmocka_unit_test(the_prefix_comes_from_the_first_key),
      cmocka_unit_test(picks_follow_the_mix_weights),
      cmocka_unit_test(picks_reach_every_request_of_a_class_evenly),
      cmocka_unit_test(the_same_seed_picks_the_same_requests),
      cmocka_unit_test(a_withheld_request_id_reads_whole_in_a_sample),
      cmocka_unit_test(free_is_safe_twice_and_leaves_nothing),
      cmocka_unit_test(a_prefix_is_words_of_letters_only),
      cmocka_unit_test(every_key_sent_is_masked_whatever_its_prefix),
  };
  const int failed = cmocka_run_group_tests(tests, make_dir, free_names);
  return failed + (scratch_remove(g_dir) != 0);
}
