/*
 * instructions.c — the driver of the instruction-count gate
 * (scripts/bench-instructions).
 *
 *   bench_instructions list             print the operation names
 *   bench_instructions about            print what the counts depend on
 *   bench_instructions [-n N] OP...     run each OP N times (default 1000)
 *
 * Run under `valgrind --tool=callgrind --instr-atstart=no`: for each OP the
 * driver builds its fixture and warms it up uninstrumented, then switches
 * instrumentation on, zeroes the counters, runs the N operations, dumps the
 * counts tagged with the OP's name (CALLGRIND_DUMP_STATS_AT) and switches
 * instrumentation off, so setup is never counted. Outside valgrind the
 * macros do nothing and the driver still checks every answer.
 *
 * Each operation checks its result and the driver exits 1 when one is
 * wrong: an operation that got faster by breaking must not pass the gate.
 *
 * A measuring run first prints the `about` lines: the gate reads from them
 * the versions of the baseline's fingerprint and checks that the CPU pin
 * (OPENSSL_ia32cap, GLIBC_TUNABLES, set by scripts/bench-instructions) took
 * effect in the very process that was counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <valgrind/callgrind.h>

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define KG_HAVE_CPUID 1
#endif
/* sys/platform/x86.h (glibc 2.33+): what glibc considers usable. */
#if defined(__x86_64__) && defined(__GLIBC__) &&                               \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <sys/platform/x86.h>
#define KG_HAVE_X86_PLATFORM 1
#endif

#if defined(__clang__)
#define KG_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define KG_COMPILER "gcc " __VERSION__
#else
#define KG_COMPILER "unknown"
#endif

#include "cpu.h"
#include "ct.h"
#include "fixtures.h"

/* ---- the operations ----------------------------------------------------- */

typedef struct op {
  const char *name;
  void (*setup)(void);
  int (*run)(void); /* 1 when the answer was right */
} op;

/* State shared by the operations (set by their setup). */
static kg_head head;
static kg_field head_fields[KG_HEAD_MAX_FIELDS];
static const char *head_buf;
static size_t head_len;
static char key[FX_KEY_LEN + 1];
static uint8_t digest_a[KG_DIGEST_LEN], digest_b[KG_DIGEST_LEN];
static const fx_index *ix;
static size_t ix_next;
static kg_checker checker;
static const fx_case *dcase;
static char out[KG_RESPONSE_MAX];

static void setup_head(fx_head_kind k) {
  head_buf = fx_head(k, &head_len);
  kg_head_init(&head, head_fields, KG_HEAD_MAX_FIELDS, 0);
}
static void setup_head_short(void) {
  setup_head(FX_HEAD_SHORT);
}
static void setup_head_typical(void) {
  setup_head(FX_HEAD_TYPICAL);
}
static void setup_head_hostile(void) {
  setup_head(FX_HEAD_HOSTILE);
}

static int run_head_parse(void) {
  size_t used = 0;
  return kg_head_parse(head_buf, head_len, &head, &used) == KG_OK &&
         used == head_len;
}

static void setup_extract(void) {
  setup_head_typical();
  if (!run_head_parse()) {
    fx_die("the typical head does not parse");
  }
}

static int run_extract(void) {
  kg_credential cred;
  return kg_credential_extract(fx_policy(), head.fields, head.nfields,
                               head.target, &cred) == KG_OK;
}

static void setup_key(void) {
  fx_key(0, key);
}

static int run_key_check(void) {
  return kg_key_check(fx_policy(), key, FX_KEY_LEN) == KG_OK;
}

static int run_sha256(void) {
  return kg_digest(fx_digester(), key, FX_KEY_LEN, digest_a) == KG_OK;
}

static int run_hmac(void) {
  return kg_digest(fx_hmac_digester(), key, FX_KEY_LEN, digest_a) == KG_OK;
}

static void setup_ct(void) {
  uint64_t state = 7;
  for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
    digest_a[i] = (uint8_t)fx_rand(&state);
  }
  memcpy(digest_b, digest_a, sizeof digest_a);
}

static int run_ct_eq32(void) {
  return (int)kg_ct_eq32(digest_a, digest_b);
}

static void setup_index(void) {
  ix = fx_index_get(10000);
  ix_next = 0;
}

static int run_lookup_hit(void) {
  kg_record rec;
  int r = kg_index_lookup(ix->index, ix->digests[ix_next], &rec);
  ix_next = (ix_next + 1) % ix->real;
  return r == 1;
}

static int run_lookup_miss(void) {
  kg_record rec;
  int r = kg_index_lookup(ix->index, ix->misses[ix_next], &rec);
  ix_next = (ix_next + 1) % ix->real;
  return r == 0;
}

static void setup_decide(fx_case_kind k) {
  checker = fx_checker(fx_outcomes_get()->index);
  dcase = fx_case_get(k);
}
static void setup_valid(void) {
  setup_decide(FX_CASE_VALID);
}
static void setup_missing(void) {
  setup_decide(FX_CASE_MISSING);
}
static void setup_checksum(void) {
  setup_decide(FX_CASE_BAD_CHECKSUM);
}
static void setup_unknown(void) {
  setup_decide(FX_CASE_UNKNOWN);
}
static void setup_expired(void) {
  setup_decide(FX_CASE_EXPIRED);
}
static void setup_ambiguous(void) {
  setup_decide(FX_CASE_AMBIGUOUS);
}
static void setup_in_query(void) {
  setup_decide(FX_CASE_IN_QUERY);
}

static int run_decide(void) {
  kg_decision d;
  return kg_decide(&checker, dcase->fields, dcase->n, dcase->query, FX_NOW,
                   &d) == dcase->expect;
}

/* The realistic heads (issue 14): parsed once in the setup, decided at the
 * outcome fixture's 10,000 keys. Their key is fx_key(0), stored and
 * active there; the unknown variant points the key field at a well-formed
 * key that is not stored. */
static kg_status real_expect;

static void setup_real(fx_head_kind k, int unknown) {
  setup_head(k);
  if (!run_head_parse()) {
    fx_die("a realistic head does not parse");
  }
  checker = fx_checker(fx_outcomes_get()->index);
  real_expect = KG_VALID;
  if (!unknown) {
    return;
  }
  const char *want = fx_head_xkey(k) ? "X-API-Key" : "Authorization";
  for (size_t i = 0; i < head.nfields; i++) {
    if (head.fields[i].name.len == strlen(want) &&
        memcmp(head.fields[i].name.ptr, want, strlen(want)) == 0) {
      const char *u = fx_outcomes_get()->unknown;
      head.fields[i].value.ptr = fx_head_xkey(k) ? u + FX_BEARER_LEN : u;
      head.fields[i].value.len =
          fx_head_xkey(k) ? FX_KEY_LEN : FX_BEARER_LEN + FX_KEY_LEN;
      real_expect = KG_INVALID_API_KEY;
      return;
    }
  }
  fx_die("a realistic head has no key field");
}
static void setup_api_bearer(void) {
  setup_real(FX_HEAD_API_BEARER, 0);
}
static void setup_api_xkey(void) {
  setup_real(FX_HEAD_API_XKEY, 0);
}
static void setup_browser_bearer(void) {
  setup_real(FX_HEAD_BROWSER_BEARER, 0);
}
static void setup_browser_xkey(void) {
  setup_real(FX_HEAD_BROWSER_XKEY, 0);
}
static void setup_api_bearer_unknown(void) {
  setup_real(FX_HEAD_API_BEARER, 1);
}
static void setup_head_api_bearer(void) {
  setup_head(FX_HEAD_API_BEARER);
}
static void setup_head_browser_bearer(void) {
  setup_head(FX_HEAD_BROWSER_BEARER);
}

static int run_decide_real(void) {
  kg_decision d;
  return kg_decide(&checker, head.fields, head.nfields, head.target, FX_NOW,
                   &d) == real_expect;
}

static const char request_id[] = "req_0123456789ABCDEFGHIJKLMN";

static int run_error_body(void) {
  size_t len = 0;
  return kg_error_body(KG_INVALID_API_KEY, NULL, 0, request_id,
                       KG_REQUEST_ID_LEN, out, sizeof out, &len) == KG_OK;
}

static int run_render(void) {
  size_t len = 0;
  return kg_response_render(KG_EXPIRED_API_KEY, KG_DEFAULT_REALM, 3, request_id,
                            KG_REQUEST_ID_LEN, out, sizeof out, &len) == KG_OK;
}

/* The gate's operations. Names are the keys of
 * bench/baseline-instructions.json: rename only with the baseline. */
static const op ops[] = {
    {"head_parse_short", setup_head_short, run_head_parse},
    {"head_parse_typical", setup_head_typical, run_head_parse},
    {"head_parse_hostile", setup_head_hostile, run_head_parse},
    {"credential_extract_typical", setup_extract, run_extract},
    {"key_check_valid", setup_key, run_key_check},
    {"digest_sha256", setup_key, run_sha256},
    {"digest_hmac_sha256", setup_key, run_hmac},
    {"ct_eq32", setup_ct, run_ct_eq32},
    {"index_lookup_hit", setup_index, run_lookup_hit},
    {"index_lookup_miss", setup_index, run_lookup_miss},
    {"decide_valid", setup_valid, run_decide},
    {"decide_missing", setup_missing, run_decide},
    {"decide_invalid_checksum", setup_checksum, run_decide},
    {"decide_invalid_unknown", setup_unknown, run_decide},
    {"decide_expired", setup_expired, run_decide},
    {"decide_ambiguous", setup_ambiguous, run_decide},
    {"decide_api_key_in_query", setup_in_query, run_decide},
    {"head_parse_api_bearer", setup_head_api_bearer, run_head_parse},
    {"head_parse_browser_bearer", setup_head_browser_bearer, run_head_parse},
    {"decide_api_bearer", setup_api_bearer, run_decide_real},
    {"decide_api_xkey", setup_api_xkey, run_decide_real},
    {"decide_browser_bearer", setup_browser_bearer, run_decide_real},
    {"decide_browser_xkey", setup_browser_xkey, run_decide_real},
    {"decide_api_bearer_unknown", setup_api_bearer_unknown, run_decide_real},
    {"error_body", NULL, run_error_body},
    {"response_render", NULL, run_render},
};
#define NOPS (sizeof ops / sizeof ops[0])

/* ---- what the counts depend on ------------------------------------------ */

/* Print the CPU this process sees as "about cpu VENDOR BRAND" (under
 * valgrind: valgrind's synthetic CPU, not the host's). */
static void print_cpu(void) {
#if defined(KG_HAVE_CPUID)
  unsigned int a = 0, b = 0, c = 0, d = 0;
  char vendor[13] = {0};
  char brand[49] = {0};
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
  }
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    for (size_t leaf = 0; leaf < 3; leaf++) {
      unsigned int r[4] = {0, 0, 0, 0};
      __get_cpuid(0x80000002u + (unsigned int)leaf, &r[0], &r[1], &r[2], &r[3]);
      memcpy(brand + sizeof r * leaf, r, sizeof r);
    }
  }
  const char *name = brand;
  while (*name == ' ') {
    name++;
  }
  printf("about cpu %s %s\n", vendor, name);
#else
  printf("about cpu unknown\n");
#endif
}

#if defined(KG_HAVE_X86_PLATFORM)
/* 1 when glibc considers the feature with this x86_cpu_* index usable.
 * (glibc's own CPU_FEATURE_ACTIVE shifts a signed 1 by up to 31.) */
static int glibc_active(unsigned int index) {
  const unsigned int per_leaf = 8u * sizeof(unsigned int) * 4u;
  const struct cpuid_feature *leaf =
      __x86_get_cpuid_feature_leaf(index / per_leaf);
  unsigned int reg = index % per_leaf;
  unsigned int bit = reg % (8u * sizeof(unsigned int));
  reg /= 8u * sizeof(unsigned int);
  return (int)((leaf->active_array[reg] >> bit) & 1u);
}
#endif

/* Print "about glibc_active F..." : the x86 features above SSE2 that glibc
 * chooses string functions by and still considers usable ("none" once the
 * gate's GLIBC_TUNABLES pin took effect). */
static void print_glibc_active(void) {
#if defined(KG_HAVE_X86_PLATFORM)
  const struct {
    const char *name;
    int on;
  } f[] = {
      {"SSSE3", glibc_active(x86_cpu_SSSE3)},
      {"SSE4_1", glibc_active(x86_cpu_SSE4_1)},
      {"SSE4_2", glibc_active(x86_cpu_SSE4_2)},
      {"POPCNT", glibc_active(x86_cpu_POPCNT)},
      {"MOVBE", glibc_active(x86_cpu_MOVBE)},
      {"LZCNT", glibc_active(x86_cpu_LZCNT)},
      {"BMI1", glibc_active(x86_cpu_BMI1)},
      {"BMI2", glibc_active(x86_cpu_BMI2)},
      {"ERMS", glibc_active(x86_cpu_ERMS)},
      {"RTM", glibc_active(x86_cpu_RTM)},
      {"FMA", glibc_active(x86_cpu_FMA)},
      {"AVX", glibc_active(x86_cpu_AVX)},
      {"AVX2", glibc_active(x86_cpu_AVX2)},
      {"AVX512F", glibc_active(x86_cpu_AVX512F)},
      {"AVX512VL", glibc_active(x86_cpu_AVX512VL)},
      {"AVX512BW", glibc_active(x86_cpu_AVX512BW)},
      {"AVX512DQ", glibc_active(x86_cpu_AVX512DQ)},
      {"AVX512CD", glibc_active(x86_cpu_AVX512CD)},
  };
  int any = 0;
  printf("about glibc_active");
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    if (f[i].on) {
      printf(" %s", f[i].name);
      any = 1;
    }
  }
  printf("%s\n", any ? "" : " none");
#else
  printf("about glibc_active unknown\n");
#endif
}

/* Print the "about KEY VALUE" lines: the libraries' own versions as this
 * process loaded them, the compiler that built the driver, the CPU seen. */
static void print_about(void) {
  printf("about openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
#if defined(__GLIBC__)
  printf("about glibc %s\n", gnu_get_libc_version());
#else
  printf("about glibc none\n");
#endif
  printf("about compiler %s\n", KG_COMPILER);
  print_cpu();
  print_glibc_active();
  /* the core's own run-time choices (cpu.h): "none" under the gate's
   * KEYGATE_CPU=baseline pin */
  unsigned kc = kg_cpu();
  printf("about keygate_cpu%s%s\n", (kc & KG_CPU_PCLMUL) ? " pclmul" : "",
         kc == 0 ? " none" : "");
}

/* ---- running ------------------------------------------------------------ */

static const op *find_op(const char *name) {
  for (size_t i = 0; i < NOPS; i++) {
    if (strcmp(ops[i].name, name) == 0) {
      return &ops[i];
    }
  }
  return NULL;
}

/* Run o n times; 0 when any answer was wrong. */
static int measure(const op *o, long n) {
  if (o->setup != NULL) {
    o->setup();
  }
  /* Warm up uninstrumented: lazy initialisation and first-call costs stay
   * out of the count. */
  int ok = 1;
  for (long i = 0; i < 16; i++) {
    ok &= o->run();
  }
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_ZERO_STATS;
  for (long i = 0; i < n; i++) {
    ok &= o->run();
  }
  CALLGRIND_DUMP_STATS_AT(o->name);
  CALLGRIND_STOP_INSTRUMENTATION;
  return ok;
}

static int usage(void) {
  fprintf(stderr, "bench_instructions: usage: bench_instructions list | "
                  "about | [-n N] OP...\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < NOPS; i++) {
      printf("%s\n", ops[i].name);
    }
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "about") == 0) {
    print_about();
    return 0;
  }
  long n = 1000;
  int first = 1;
  if (argc >= 3 && strcmp(argv[1], "-n") == 0) {
    char *end = NULL;
    n = strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || n < 1 || n > 100000000) {
      fprintf(stderr, "bench_instructions: -n takes a count from 1 to 1e8\n");
      return 2;
    }
    first = 3;
  }
  if (first >= argc) {
    return usage();
  }
  for (int i = first; i < argc; i++) {
    if (find_op(argv[i]) == NULL) {
      fprintf(stderr,
              "bench_instructions: no operation '%s'; `list` names them\n",
              argv[i]);
      return 2;
    }
  }
  print_about();
  for (int i = first; i < argc; i++) {
    const op *o = find_op(argv[i]);
    if (!measure(o, n)) {
      fprintf(stderr, "bench_instructions: %s answered wrongly\n", o->name);
      return 1;
    }
    printf("%s %ld\n", o->name, n);
  }
  return 0;
}
