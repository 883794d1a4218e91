/*
 * residue.c — what kg_decide leaves on the stack (docs/security.md §6).
 *
 * kg_decide keeps the digest's first half in its frame while it scans the
 * URL (kg_digest_begin, core/src/hotpath.h): the SHA state after 32 rounds
 * and the last sixteen words of the message schedule, from which the key
 * can be recomputed. kg_digest_finish wipes it; a decision refused for a
 * key in the URL returns without finishing and wipes it itself, and the
 * digest itself is wiped once looked up. No test caught the removal of
 * those wipes (review 86).
 *
 * This program makes decisions and, right after each returns, reads the
 * stack below the caller's frame, where kg_decide's dead frames are, for
 * any sixteen bytes of that half or of the key's digest:
 *   1. a well-formed valid key with a key in the URL (refused, unfinished);
 *   2. the same key with a clean URL (valid: finished and looked up);
 *   3. the control: a function that begins a half and leaves it, which
 *      must be found, so that a miss above means something.
 * It needs the code that ships, optimised and unsanitized (tests/ct's own
 * copy of the core): at -O0 every intermediate of the digest has a stack
 * slot, which no caller wipes. Reading dead frames is outside what C
 * defines: the reads are volatile and done by a function whose frame is
 * smaller than the one it reads under.
 *
 * Exit 0 when nothing is found and the control is; 1 when something is
 * left; CT_SKIP (77) where the digest has no halves (no SHA extensions).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ct.h"
#include "expect_cpu.h"
#include "hotpath.h"
#include "keygate/keygate.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define KEY "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"
#define DEPTH 8192 /* bytes read below the reader's frame */
/* Bytes each caller of kg_decide keeps above its callee's frames, more
 * than found's own frame (its saved registers) writes over them. */
#define PAD 512

#define RESIDUE_FN __attribute__((noinline))

static kg_digest_half g_half;           /* the key's first half */
static uint8_t g_digest[KG_DIGEST_LEN]; /* the key's digest */

/* Sixteen-byte runs of g_half's lanes (16-aligned in any frame, as the
 * type is) and of g_digest (at any byte) in the DEPTH bytes below this
 * frame; *half and *digest count them. */
static RESIDUE_FN void found(size_t *half, size_t *digest) {
  uintptr_t top = (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)15;
  const volatile unsigned char *m =
      (const volatile unsigned char *)(top - DEPTH);
  size_t h = 0, d = 0;
  for (size_t a = 0; a + 16 <= DEPTH; a++) {
    for (size_t part = 0; part < KG_DIGEST_LEN; part += 16) {
      size_t k = 0;
      while (k < 16 && m[a + k] == g_digest[part + k]) {
        k++;
      }
      d += k == 16;
    }
    if (a % 16 != 0) {
      continue;
    }
    for (size_t lane = 0; lane < sizeof g_half.lanes; lane += 16) {
      size_t k = 0;
      while (k < 16 && m[a + k] == g_half.lanes[lane + k]) {
        k++;
      }
      h += k == 16;
    }
  }
  *half = h;
  *digest = d;
}

/* The pages found reads, mapped (a stack grows as it is written). */
static RESIDUE_FN void reach(void) {
  volatile unsigned char deep[DEPTH + 4096];
  for (size_t i = 0; i < sizeof deep; i += 64) {
    deep[i] = 0;
  }
}

/* One decision; the decision's record (the stored digest) wiped, as a
 * caller that keeps nothing of it would. */
static RESIDUE_FN kg_status decide(const kg_checker *c, const kg_field *f,
                                   size_t n, const char *target) {
  unsigned char pad[PAD]; /* kept: below found's own frame */
  __asm__ volatile("" : : "r"(pad) : "memory");
  kg_decision d;
  kg_status rc = kg_decide(c, f, n, (kg_span){target, strlen(target)}, NOW, &d);
  kg_ct_wipe(&d, sizeof d);
  return rc;
}

/* The control: a half begun and left as it is. */
static RESIDUE_FN int leave(const kg_digester *dg) {
  unsigned char pad[PAD];
  __asm__ volatile("" : : "r"(pad) : "memory");
  kg_digest_half h;
  return kg_digest_begin(dg, KEY, strlen(KEY), &h);
}

static int report(const char *what, size_t half, size_t digest) {
  printf("residue: %-44s half %zu, digest %zu\n", what, half, digest);
  return half == 0 && digest == 0;
}

int main(void) {
  int cpu_rc = ct_expect_cpu("ct_residue");
  if (cpu_rc != 0) {
    return cpu_rc;
  }
  kg_digester *dg = NULL;
  kg_index *idx = NULL;
  kg_record rec;
  memset(&rec, 0, sizeof rec);
  if (kg_digester_new(NULL, 0, &dg) != KG_OK ||
      kg_digest(dg, KEY, strlen(KEY), rec.digest) != KG_OK) {
    fprintf(stderr, "residue: no digester\n");
    return 1;
  }
  rec.key_id = 1;
  rec.account_id = 1;
  rec.status = KG_REC_ACTIVE;
  memcpy(g_digest, rec.digest, sizeof g_digest);
  if (kg_index_build(&rec, 1, &idx) != KG_OK) {
    fprintf(stderr, "residue: no index\n");
    return 1;
  }
  kg_ct_wipe(&rec, sizeof rec);
  if (!kg_digest_begin(dg, KEY, strlen(KEY), &g_half)) {
    printf("residue: SKIP: the digest has no halves here (no SHA "
           "extensions, or KEYGATE_CPU took them away)\n");
    return CT_SKIP;
  }
  kg_checker c;
  memset(&c, 0, sizeof c);
  if (kg_key_policy_init(&c.policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    return 1;
  }
  c.digester = dg;
  c.index = idx;
  const kg_field f[2] = {{{"Host", 4}, {"api.example.com", 15}},
                         {{"X-API-Key", 9}, {KEY, strlen(KEY)}}};

  /* Each call and its read back to back: a printf between them would run
   * its own frames over the dead ones. */
  size_t h1, d1, h2, d2, h3, d3;
  reach();
  kg_status r1 = decide(&c, f, 2, "/v1/iocs?type=ipv4&api_key=x");
  found(&h1, &d1);
  kg_status r2 = decide(&c, f, 2, "/v1/iocs?type=ipv4&limit=10");
  found(&h2, &d2);
  int left = leave(dg);
  found(&h3, &d3);

  int ok = 1;
  if (r1 != KG_API_KEY_IN_QUERY || r2 != KG_VALID || !left) {
    fprintf(stderr,
            "residue: decisions %s, %s (want api_key_in_query, "
            "valid), control began %d\n",
            kg_status_str(r1), kg_status_str(r2), left);
    ok = 0;
  }
  ok &= report("after a key in the URL (half unfinished):", h1, d1);
  ok &= report("after a valid decision (finished, looked up):", h2, d2);
  printf("residue: %-44s half %zu (must be found)\n",
         "control, a half begun and left:", h3);
  if (h3 < 2) {
    fprintf(stderr, "residue: the control's half was not found: the read "
                    "cannot see a dead frame here, so it proves nothing\n");
    ok = 0;
  }
  kg_ct_wipe(&g_half, sizeof g_half);
  kg_index_free(idx);
  kg_digester_free(dg);
  printf("residue: %s\n", ok ? "nothing left" : "FAILED");
  return ok ? 0 : 1;
}
