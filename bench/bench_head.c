/*
 * bench_head.c — request-head parsing and credential extraction for a
 * short, a typical and a hostile request (fixtures.h describes them).
 *
 *   head/parse/<kind>          kg_head_parse alone; bytes/s of head
 *   credential/extract/<kind>  kg_credential_extract on the parsed fields
 *   head/parse_extract/<kind>  both, as a server does per request
 *   head/pico/<kind>           picohttpparser's phr_parse_request on the
 *                              same bytes (when linked: pico.h)
 *   head/paired/<kind>         the two side by side: an iteration is a
 *                              slice of kg_head_parse then one of
 *                              phr_parse_request (the order swapped every
 *                              other iteration), each timed; counters
 *                              kg_ns and pico_ns (the slices' medians, ns
 *                              a parse) and kg_over_pico (the median of
 *                              each iteration's two slices' ratio). The
 *                              two sides of a ratio are a few tens of
 *                              microseconds apart, so the core's other
 *                              thread, which slows both kinds of code
 *                              alike and comes and goes over tenths of a
 *                              second (docs/benchmarks.md, the sixteenth
 *                              session), falls on both or neither.
 *
 * Kinds: short, typical, hostile and the realistic heads of fixtures.h.
 * Counter head_bytes: the head's length, for bytes per nanosecond.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "shim/kgbench.h"
#include "watch.h"
#ifdef KEYGATE_BENCH_PICO
#include "pico.h"
#endif

typedef struct parsed {
  kg_head head;
  kg_field fields[KG_HEAD_MAX_FIELDS];
} parsed;

/* Parse the fixture head of kind k into *p; 0 on failure. */
static int parse(fx_head_kind k, parsed *p) {
  size_t len = 0, used = 0;
  const char *buf = fx_head(k, &len);
  kg_head_init(&p->head, p->fields, KG_HEAD_MAX_FIELDS, 0);
  return kg_head_parse(buf, len, &p->head, &used) == KG_OK && used == len;
}

static void bm_parse(kgb_state *st, void *ctx) {
  fx_head_kind k = *(const fx_head_kind *)ctx;
  size_t len = 0;
  const char *buf = fx_head(k, &len);
  parsed p;
  if (!parse(k, &p)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  KGB_LOOP(st) {
    size_t used = 0;
    kgb_escape(buf);
    kg_status s = kg_head_parse(buf, len, &p.head, &used);
    KGB_KEEP(s);
    kgb_escape(&p);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
  kgb_counter(st, "fields", (double)p.head.nfields, KGB_COUNTER_PLAIN);
  kgb_counter(st, "head_bytes", (double)len, KGB_COUNTER_PLAIN);
}

static void bm_extract(kgb_state *st, void *ctx) {
  fx_head_kind k = *(const fx_head_kind *)ctx;
  const kg_key_policy *pol = fx_policy();
  parsed p;
  kg_credential cred;
  memset(&cred, 0, sizeof cred);
  if (!parse(k, &p)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  KGB_LOOP(st) {
    kgb_escape(&p);
    kg_status s = kg_credential_extract(pol, p.head.fields, p.head.nfields,
                                        p.head.target, &cred);
    KGB_KEEP(s);
    kgb_escape(&cred);
  }
  if (cred.outcome != KG_OK) {
    kgb_skip_with_error(st, "the fixture head holds no usable key");
  }
}

static void bm_parse_extract(kgb_state *st, void *ctx) {
  fx_head_kind k = *(const fx_head_kind *)ctx;
  const kg_key_policy *pol = fx_policy();
  size_t len = 0;
  const char *buf = fx_head(k, &len);
  parsed p;
  kg_credential cred;
  memset(&cred, 0, sizeof cred);
  if (!parse(k, &p)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  KGB_LOOP(st) {
    size_t used = 0;
    kgb_escape(buf);
    kg_status parsed_ok = kg_head_parse(buf, len, &p.head, &used);
    kg_status s = kg_credential_extract(pol, p.head.fields, p.head.nfields,
                                        p.head.target, &cred);
    KGB_KEEP(parsed_ok);
    KGB_KEEP(s);
    kgb_escape(&cred);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
}

#ifdef KEYGATE_BENCH_PICO
/* 1 when phr_parse_request reads the fixture head of kind k as
 * kg_head_parse does (the whole head, as many fields), *p parsed by the
 * latter and h filled by the former; 0 otherwise. */
static int pico_agrees(fx_head_kind k, parsed *p, struct phr_header *h) {
  size_t len = 0;
  const char *buf = fx_head(k, &len);
  const char *method = NULL;
  const char *path = NULL;
  size_t method_len = 0;
  size_t path_len = 0;
  int minor = -1;
  size_t n = KG_HEAD_MAX_FIELDS;
  return parse(k, p) &&
         phr_parse_request(buf, len, &method, &method_len, &path, &path_len,
                           &minor, h, &n, 0) == (int)len &&
         n == p->head.nfields;
}

/* picohttpparser's phr_parse_request on the same bytes, the same way: the
 * whole head at once, room for as many fields as kg_head_parse allows. */
static void bm_pico(kgb_state *st, void *ctx) {
  fx_head_kind k = *(const fx_head_kind *)ctx;
  size_t len = 0;
  const char *buf = fx_head(k, &len);
  struct phr_header h[KG_HEAD_MAX_FIELDS];
  const char *method = NULL;
  const char *path = NULL;
  size_t method_len = 0;
  size_t path_len = 0;
  int minor = -1;
  size_t n = KG_HEAD_MAX_FIELDS;
  parsed p;
  if (!pico_agrees(k, &p, h)) {
    kgb_skip_with_error(st, "picohttpparser reads the head differently");
    return;
  }
  KGB_LOOP(st) {
    kgb_escape(buf);
    n = KG_HEAD_MAX_FIELDS;
    int r = phr_parse_request(buf, len, &method, &method_len, &path, &path_len,
                              &minor, h, &n, 0);
    KGB_KEEP(r);
    kgb_escape(h);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
  kgb_counter(st, "head_bytes", (double)len, KGB_COUNTER_PLAIN);
}

/* ---- the two parsers side by side -------------------------------------- */

/* ns a parse over `reps` parses of buf by kg_head_parse. */
static double slice_kg(const char *buf, size_t len, parsed *p, size_t reps) {
  const double t0 = fx_now_ns();
  for (size_t i = 0; i < reps; i++) {
    size_t used = 0;
    kgb_escape(buf);
    kg_status s = kg_head_parse(buf, len, &p->head, &used);
    KGB_KEEP(s);
    kgb_escape(p);
  }
  return (fx_now_ns() - t0) / (double)reps;
}

/* The same by phr_parse_request. */
static double slice_pico(const char *buf, size_t len, struct phr_header *h,
                         size_t reps) {
  const char *method = NULL;
  const char *path = NULL;
  size_t method_len = 0;
  size_t path_len = 0;
  int minor = -1;
  const double t0 = fx_now_ns();
  for (size_t i = 0; i < reps; i++) {
    size_t n = KG_HEAD_MAX_FIELDS;
    kgb_escape(buf);
    int r = phr_parse_request(buf, len, &method, &method_len, &path, &path_len,
                              &minor, h, &n, 0);
    KGB_KEEP(r);
    kgb_escape(h);
  }
  return (fx_now_ns() - t0) / (double)reps;
}

static void bm_paired(kgb_state *st, void *ctx) {
  fx_head_kind k = *(const fx_head_kind *)ctx;
  size_t len = 0;
  const char *buf = fx_head(k, &len);
  struct phr_header h[KG_HEAD_MAX_FIELDS];
  parsed p;
  if (!pico_agrees(k, &p, h)) {
    kgb_skip_with_error(st, "picohttpparser reads the head differently");
    return;
  }
  /* a slice of ~64 KiB of head: ~20-40 us on either parser */
  const size_t reps = len >= 4096 ? 16 : 65536 / len;
  fx_pairs pairs;
  fx_pairs_init(&pairs);
  KGB_LOOP(st) {
    double a;
    double b;
    if ((kgb_i_ & 1) == 0) {
      a = slice_kg(buf, len, &p, reps);
      b = slice_pico(buf, len, h, reps);
    } else {
      b = slice_pico(buf, len, h, reps);
      a = slice_kg(buf, len, &p, reps);
    }
    fx_pairs_add(&pairs, a, b);
  }
  fx_pairs_report(&pairs, st, "kg_ns", "pico_ns", "kg_over_pico");
  kgb_counter(st, "head_bytes", (double)len, KGB_COUNTER_PLAIN);
}
#endif

static fx_head_kind kinds[FX_HEAD_KINDS];

KGB_REGISTER(head) {
  static const struct {
    const char *prefix;
    kgb_fn fn;
  } groups[] = {{"head/parse/", bm_parse},
#ifdef KEYGATE_BENCH_PICO
                {"head/pico/", bm_pico},
                {"head/paired/", bm_paired},
#endif
                {"credential/extract/", bm_extract},
                {"head/parse_extract/", bm_parse_extract}};
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    for (size_t k = 0; k < FX_HEAD_KINDS; k++) {
      kinds[k] = (fx_head_kind)k;
      char name[64];
      snprintf(name, sizeof name, "%s%s", groups[g].prefix,
               fx_head_name((fx_head_kind)k));
      kgb_register(name, groups[g].fn, &kinds[k]);
    }
  }
}
