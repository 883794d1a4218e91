/*
 * residue.c — what kg_decide leaves on the stack (docs/security.md §6).
 *
 * kg_decide keeps the digest in its frame until the lookup: it is wiped
 * once looked up, when the checksum refuses the key, and when the URL
 * refuses the request. Where the CPU has the SHA extensions the URL's scan
 * runs among the digest's rounds (kg_digest_scan, core/src/hotpath.h),
 * whose state stays in registers; until issue 14's nineteenth session a
 * first half of the rounds was kept in the frame between two calls, and
 * this test looked for it too. No test caught the removal of those wipes
 * (review 86; review 87: two of them).
 *
 * This program makes decisions and, right after each returns, reads the
 * stack below the caller's frame, where kg_decide's dead frames are, for
 * any sixteen bytes of the key's digest (in either byte order: the
 * compression's state holds it in host-order words) or of the key's text,
 * as bytes (the message block; review 88) and as SHA's message words, each
 * four bytes reversed (the SHA extensions' registers, spilled; review 90):
 *   1. a well-formed valid key with a key in the URL (refused);
 *   2. the same key with a clean URL (valid: looked up);
 *   3. a key whose checksum is wrong (refused before the lookup);
 *   4. the control: a function that makes a digest and leaves it, and a
 *      copy of the key's text, which must be found whole, so that a miss
 *      above means something.
 * Both paths run: the SHA extensions' (the scan among the rounds) and,
 * with KEYGATE_CPU=baseline (the _baseline runs), OpenSSL's compression,
 * the scan after it.
 * It needs the code that ships, optimised and unsanitized (tests/ct's own
 * copy of the core): at -O0 every intermediate of the digest has a stack
 * slot, which no caller wipes. Reading dead frames is outside what C
 * defines: the reads are volatile and done by a function whose frame is
 * smaller than the one it reads under.
 *
 * Exit 0 when nothing is found and the control is; 1 when something is
 * left; CT_SKIP (77) when KG_CT_EXPECT_CPU names a path not taken.
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
/* KEY with its checksum's last character changed: invalid_api_key */
#define BAD_KEY "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGj"
#define DEPTH 8192 /* bytes read below the reader's frame */
/* Bytes each caller of kg_decide keeps above its callee's frames, more
 * than found's own frame (its saved registers) writes over them. */
#define PAD 512

#define RESIDUE_FN __attribute__((noinline))

/* What one key leaves if it is not wiped: its digest and its text. */
typedef struct {
  uint8_t digest[KG_DIGEST_LEN];
  uint8_t words[KG_DIGEST_LEN]; /* the digest's words in host order, as the
                                   compression's state holds them */
  const char *key;              /* its text, which the message block holds */
  size_t key_len;
  uint8_t msg[48]; /* the text as SHA's message words, each 4 bytes reversed
                      (as the SHA extensions' registers hold it, and a
                      spill of them would leave it) */
} secret;

static secret g_key, g_bad; /* KEY's, BAD_KEY's */

/* How many of the sixteen bytes at m equal want's (volatile reads). */
static int run_at(const volatile unsigned char *m, const uint8_t *want) {
  size_t k = 0;
  while (k < 16 && m[k] == want[k]) {
    k++;
  }
  return k == 16;
}

/* Sixteen-byte runs of s's digest, in either byte order, and of the key's
 * text (at any byte) in the DEPTH bytes below this frame; *digest and
 * *text count them. */
static RESIDUE_FN void found(const secret *s, size_t *digest, size_t *text) {
  uintptr_t top = (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)15;
  const volatile unsigned char *m =
      (const volatile unsigned char *)(top - DEPTH);
  size_t d = 0, t = 0;
  for (size_t a = 0; a + 16 <= DEPTH; a++) {
    for (size_t part = 0; part < KG_DIGEST_LEN; part += 16) {
      d += (size_t)run_at(m + a, s->digest + part);
      d += (size_t)run_at(m + a, s->words + part);
    }
    for (size_t part = 0; part + 16 <= s->key_len; part += 8) {
      t += (size_t)run_at(m + a, (const uint8_t *)s->key + part);
      t += (size_t)run_at(m + a, s->msg + part);
    }
  }
  *digest = d;
  *text = t;
}

/* The bytes found reads, mapped (a stack grows as it is written) and
 * zeroed, so that what it finds was written by what ran after. */
static RESIDUE_FN void reach(void) {
  volatile unsigned char deep[DEPTH + 4096];
  for (size_t i = 0; i < sizeof deep; i++) {
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

/* The control: a digest made and left; the key's text copied and left. */
static RESIDUE_FN int leave(const kg_digester *dg) {
  unsigned char pad[PAD];
  __asm__ volatile("" : : "r"(pad) : "memory");
  /* and the key's text, as a message block would hold it */
  char text[sizeof KEY];
  memcpy(text, KEY, sizeof text);
  __asm__ volatile("" : : "r"(text) : "memory");
  /* and as message words, as a spill of the SHA registers would */
  uint8_t words[sizeof g_key.msg];
  memcpy(words, g_key.msg, sizeof words);
  __asm__ volatile("" : : "r"(words) : "memory");
  uint8_t digest[KG_DIGEST_LEN];
  int ok = kg_digest(dg, KEY, strlen(KEY), digest) == KG_OK;
  __asm__ volatile("" : : "r"(digest) : "memory");
  return ok;
}

/* A key's secret: its digest and its text. */
static int secret_of(const kg_digester *dg, const char *key, secret *s) {
  memset(s, 0, sizeof *s);
  if (kg_digest(dg, key, strlen(key), s->digest) != KG_OK) {
    return 0;
  }
  for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
    s->words[i] = s->digest[(i & ~(size_t)3) + 3 - (i & 3)];
  }
  s->key = key;
  s->key_len = strlen(key);
  for (size_t i = 0; i < sizeof s->msg && i < s->key_len; i++) {
    s->msg[(i & ~(size_t)3) + 3 - (i & 3)] = (uint8_t)key[i];
  }
  return 1;
}

static int report(const char *what, size_t digest, size_t text) {
  printf("residue: %-46s digest %zu, key text %zu\n", what, digest, text);
  return digest == 0 && text == 0;
}

int main(void) {
  int cpu_rc = ct_expect_cpu("ct_residue");
  if (cpu_rc != 0) {
    return cpu_rc;
  }
  kg_digester *dg = NULL;
  kg_index *idx = NULL;
  if (kg_digester_new(NULL, 0, &dg) != KG_OK || !secret_of(dg, KEY, &g_key) ||
      !secret_of(dg, BAD_KEY, &g_bad)) {
    fprintf(stderr, "residue: no digester\n");
    return 1;
  }
  kg_record rec;
  memset(&rec, 0, sizeof rec);
  memcpy(rec.digest, g_key.digest, sizeof rec.digest);
  rec.key_id = 1;
  rec.account_id = 1;
  rec.status = KG_REC_ACTIVE;
  if (kg_index_build(&rec, 1, &idx) != KG_OK) {
    fprintf(stderr, "residue: no index\n");
    return 1;
  }
  kg_ct_wipe(&rec, sizeof rec);
  printf("residue: the URL's scan %s\n",
         (kg_cpu() & KG_CPU_SHA) != 0
             ? "among the digest's rounds (SHA extensions)"
             : "after the digest (OpenSSL's compression)");
  kg_checker c;
  memset(&c, 0, sizeof c);
  if (kg_key_policy_init(&c.policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    return 1;
  }
  c.digester = dg;
  c.index = idx;
  const kg_field f[2] = {{{"Host", 4}, {"api.example.com", 15}},
                         {{"X-API-Key", 9}, {KEY, strlen(KEY)}}};
  const kg_field bad[2] = {{{"Host", 4}, {"api.example.com", 15}},
                           {{"X-API-Key", 9}, {BAD_KEY, strlen(BAD_KEY)}}};

  /* Each call and its read back to back: a printf between them would run
   * its own frames over the dead ones. */
  size_t d1, t1, d2, t2, d3, t3, d4, t4;
  reach();
  kg_status r1 = decide(&c, f, 2, "/v1/iocs?type=ipv4&api_key=x");
  found(&g_key, &d1, &t1);
  reach();
  /* a target over 64 bytes: the SHA extensions' longer copy of the scan */
  kg_status r2 = decide(&c, f, 2,
                        "/v1/iocs?type=ipv4&limit=10&fields=indicator,type,"
                        "first_seen,last_seen&sort=-last_seen&tz=Europe%2F");
  found(&g_key, &d2, &t2);
  reach();
  kg_status r3 = decide(&c, bad, 2, "/v1/iocs?type=ipv4&limit=10");
  found(&g_bad, &d3, &t3);
  reach();
  int left = leave(dg);
  found(&g_key, &d4, &t4);

  int ok = 1;
  if (r1 != KG_API_KEY_IN_QUERY || r2 != KG_VALID || r3 != KG_INVALID_API_KEY ||
      !left) {
    fprintf(stderr,
            "residue: decisions %s, %s, %s (want api_key_in_query, valid, "
            "invalid_api_key), control made %d\n",
            kg_status_str(r1), kg_status_str(r2), kg_status_str(r3), left);
    ok = 0;
  }
  ok &= report("after a key in the URL (digest made):", d1, t1);
  ok &= report("after a valid decision (looked up):", d2, t2);
  ok &= report("after a bad checksum (not looked up):", d3, t3);
  /* The control must be found whole: both sixteen-byte runs of its
   * digest (in one byte order at least). */
  const size_t want = KG_DIGEST_LEN / 16;
  const size_t got = d4;
  printf("residue: %-46s digest runs %zu of %zu (must be found)\n",
         "control, left as it is:", got, want);
  /* and every sixteen-byte run of its key's text that found looks for */
  /* both spellings: the text and its message words */
  const size_t want_text = 2 * ((strlen(KEY) - 16) / 8 + 1);
  printf("residue: %-46s key text runs %zu of %zu (must be found)\n",
         "control, left as it is:", t4, want_text);
  if (got < want || t4 < want_text) {
    fprintf(stderr, "residue: the control was not found whole: the read "
                    "cannot see a dead frame here, so it proves nothing\n");
    ok = 0;
  }
  kg_ct_wipe(&g_key, sizeof g_key);
  kg_ct_wipe(&g_bad, sizeof g_bad);
  kg_index_free(idx);
  kg_digester_free(dg);
  printf("residue: %s\n", ok ? "nothing left" : "FAILED");
  return ok ? 0 : 1;
}
