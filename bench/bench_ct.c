/*
 * bench_ct.c — the constant-time comparison of two 32-byte digests
 * (core/src/ct.h: kg_ct_eq32 inline, kg_ct_eq through CRYPTO_memcmp)
 * against memcmp, on equal inputs and on inputs that differ in the first
 * byte (where memcmp stops at once and the constant-time ones do not).
 */
#include <stdio.h>
#include <string.h>

#include "ct.h"
#include "fixtures.h"
#include "shim/kgbench.h"

static uint8_t a[KG_DIGEST_LEN], same[KG_DIGEST_LEN], early[KG_DIGEST_LEN];

enum { CMP_CT_EQ32, CMP_CT_EQ, CMP_MEMCMP };

/* What a benchmark compares: which function, and against which input. */
typedef struct cmp_case {
  int which;
  int differ;
} cmp_case;
static cmp_case cmp_cases[6];

static void bm_cmp(kgb_state *st, void *ctx) {
  const cmp_case *c = ctx;
  const int which = c->which;
  const uint8_t *b = c->differ ? early : same;
  KGB_LOOP(st) {
    kgb_escape(a);
    kgb_escape(b);
    int r;
    switch (which) {
    case CMP_CT_EQ32:
      r = (int)kg_ct_eq32(a, b);
      break;
    case CMP_CT_EQ:
      r = (int)kg_ct_eq(a, b, KG_DIGEST_LEN);
      break;
    default:
      r = memcmp(a, b, KG_DIGEST_LEN) == 0;
      break;
    }
    KGB_KEEP(r);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * KG_DIGEST_LEN);
}

KGB_REGISTER(ct) {
  uint64_t state = 7;
  for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
    a[i] = (uint8_t)fx_rand(&state);
  }
  memcpy(same, a, sizeof a);
  memcpy(early, a, sizeof a);
  early[0] ^= 1;
  static const char *const names[] = {"ct/eq32", "ct/crypto_memcmp",
                                      "ct/memcmp"};
  for (int w = 0; w < 3; w++) {
    for (int d = 0; d < 2; d++) {
      char name[64];
      cmp_case *c = &cmp_cases[w * 2 + d];
      c->which = w;
      c->differ = d;
      snprintf(name, sizeof name, "%s/%s", names[w],
               d ? "differ_first_byte" : "equal");
      kgb_register(name, bm_cmp, c);
    }
  }
}
