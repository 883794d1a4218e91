/*
 * bench_decide.c — the full decision (kg_decide) of a typical request.
 *
 *   decide/valid/keys:N      a valid key at each index size; the key of the
 *                            next request is chosen by this decision's
 *                            record (data dependence, through the wrap to
 *                            key 0 too: fx_next), so decisions do not
 *                            overlap and the time is a decision's latency,
 *                            at one key as at ten million
 *   decide/outcome/<name>    every outcome of SPEC §1.3 (fixtures.h:
 *                            fx_case_kind) at 10,000 keys
 *
 * The SPEC §4 yardstick: decide/valid at <= 10,000 keys over
 * openssl/sha256_bare at most 1.5; at 1M and 10M keys, at most that plus
 * one access of context/pointer_chase.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "shim/kgbench.h"

static const int64_t sizes[] = {1, 3, 50, 10000, 1000000, 10000000};

static void bm_valid(kgb_state *st, void *ctx) {
  (void)ctx;
  const fx_index *fx = fx_index_get((size_t)kgb_arg_get(st, 0));
  kg_checker c = fx_checker(fx->index);
  kg_field fields[FX_REQUEST_FIELDS];
  kg_decision d;
  fx_request_fields(fields);
  fields[FX_AUTH_FIELD].value.len = FX_BEARER_LEN + FX_KEY_LEN;
  size_t j = 0;
  int64_t valid = 0;
  KGB_LOOP(st) {
    fields[FX_AUTH_FIELD].value.ptr = fx_bearer_at(fx, j);
    kg_status s = kg_decide(&c, fields, FX_REQUEST_FIELDS, (kg_span){NULL, 0},
                            FX_NOW, &d);
    valid += s == KG_VALID;
    /* key_id < 2^63: adds 1, but only once the record has been read. */
    j = fx_next(j, 1 + (size_t)(d.record.key_id >> 63), fx->real);
  }
  if (valid != kgb_iterations(st)) {
    kgb_skip_with_error(st, "a valid key was not valid");
    return;
  }
  kgb_set_items_processed(st, kgb_iterations(st));
}

static fx_case_kind kinds[FX_CASES];

static void bm_outcome(kgb_state *st, void *ctx) {
  const fx_case *k = fx_case_get(*(const fx_case_kind *)ctx);
  kg_checker c = fx_checker(fx_outcomes_get()->index);
  kg_decision d;
  kg_status s = kg_decide(&c, k->fields, k->n, k->query, FX_NOW, &d);
  if (s != k->expect) {
    kgb_skip_with_error(st, "the fixture request decides differently");
    return;
  }
  KGB_LOOP(st) {
    kgb_escape(k);
    s = kg_decide(&c, k->fields, k->n, k->query, FX_NOW, &d);
    KGB_KEEP(s);
    kgb_escape(&d);
  }
  kgb_set_items_processed(st, kgb_iterations(st));
}

KGB_REGISTER(decide) {
  kgb_bench *b =
      kgb_arg_name(kgb_register("decide/valid", bm_valid, NULL), "keys");
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    kgb_arg(b, sizes[i]);
  }
  for (size_t k = 0; k < FX_CASES; k++) {
    char name[64];
    snprintf(name, sizeof name, "decide/outcome/%s",
             fx_case_name((fx_case_kind)k));
    kinds[k] = (fx_case_kind)k;
    kgb_register(name, bm_outcome, &kinds[k]);
  }
}
