/*
 * watch.c — the sensor of watch.h.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime with -std=c11 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixtures.h"

#define SENSOR 256       /* missing-key decisions a reading */
#define KEPT_SLICES 4096 /* slices kept (~1.5 s of decisions at 80 ns) */

struct fx_watch {
  kg_head head;
  kg_field fields[KG_HEAD_MAX_FIELDS]; /* api_bearer's, its key's taken out */
  size_t n;
  kg_checker checker;
  double slice_ns[KEPT_SLICES];
  double sensor_ns[KEPT_SLICES + 1]; /* reading k: before slice k */
  size_t nslices;
  int ok;
};

double fx_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* One reading: ns a missing-key decision, over SENSOR of them. */
static double sense(fx_watch *w) {
  kg_decision d;
  const double t0 = fx_now_ns();
  for (int i = 0; i < SENSOR; i++) {
    kgb_escape(w->fields);
    kg_status s =
        kg_decide(&w->checker, w->fields, w->n, w->head.target, FX_NOW, &d);
    w->ok &= s == KG_MISSING_API_KEY;
  }
  return (fx_now_ns() - t0) / SENSOR;
}

fx_watch *fx_watch_new(void) {
  fx_watch *w = malloc(sizeof *w);
  if (w == NULL) {
    fx_die("out of memory for the sensor");
  }
  size_t len = 0;
  size_t used = 0;
  const char *buf = fx_head(FX_HEAD_API_BEARER, &len);
  kg_field all[KG_HEAD_MAX_FIELDS];
  kg_head_init(&w->head, all, KG_HEAD_MAX_FIELDS, 0);
  if (kg_head_parse(buf, len, &w->head, &used) != KG_OK || used != len) {
    free(w);
    return NULL;
  }
  w->n = 0;
  for (size_t i = 0; i < w->head.nfields; i++) {
    if (!(all[i].name.len == 13 &&
          memcmp(all[i].name.ptr, "Authorization", 13) == 0)) {
      w->fields[w->n++] = all[i];
    }
  }
  w->head.fields = w->fields; /* the target is what the sensor reads of it */
  w->head.fields_cap = KG_HEAD_MAX_FIELDS;
  w->checker = fx_checker(fx_outcomes_get()->index);
  w->nslices = 0;
  w->ok = 1;
  w->sensor_ns[0] = sense(w);
  if (!w->ok || w->n + 1 != w->head.nfields) { /* one Authorization */
    free(w);
    return NULL;
  }
  return w;
}

void fx_watch_slice(fx_watch *w, double ns_per_op) {
  if (w->nslices < KEPT_SLICES) {
    w->slice_ns[w->nslices] = ns_per_op;
    w->sensor_ns[w->nslices + 1] = sense(w);
    w->nslices++;
  }
}

int fx_slice_next(fx_slices *s, kgb_state *st, fx_watch *w) {
  if (s->m > 0) {
    const double t1 = w != NULL ? fx_now_ns() : 0;
    s->done += s->m;
    if (w != NULL && s->m == FX_WATCH_SLICE) {
      kgb_pause(st);
      fx_watch_slice(w, (t1 - s->t0) / (double)s->m);
      kgb_resume(st);
    }
  }
  if (s->done >= s->n) {
    s->n = kgb_batch(st); /* 0 (the timer stopped) after the last batch */
    s->done = 0;
    if (s->n <= 0) {
      return 0;
    }
  }
  const int64_t left = s->n - s->done;
  s->m = w == NULL || left < FX_WATCH_SLICE ? left : FX_WATCH_SLICE;
  if (w != NULL) {
    s->t0 = fx_now_ns();
  }
  return 1;
}

int fx_watch_report(fx_watch *w, kgb_state *st) {
  const int ok = w->ok;
  double fastest = 0;
  double share = 0;
  double quiet = 0;
  if (ok && w->nslices > 0) {
    const int has_quiet = fx_watch_quiet(w->slice_ns, w->sensor_ns, w->nslices,
                                         &fastest, &share, &quiet);
    kgb_counter(st, "sensor_ns", fastest, KGB_COUNTER_PLAIN);
    kgb_counter(st, "quiet_share", share, KGB_COUNTER_PLAIN);
    if (has_quiet) {
      kgb_counter(st, "quiet_ns", quiet, KGB_COUNTER_PLAIN);
    }
  }
  free(w);
  return ok;
}

/* ---- two kinds of work side by side ------------------------------------ */

static double median_of(double *v, size_t n) {
  qsort(v, n, sizeof *v, fx_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void fx_pairs_init(fx_pairs *p) {
  p->a = malloc(FX_PAIRS_KEPT * sizeof *p->a);
  p->b = malloc(FX_PAIRS_KEPT * sizeof *p->b);
  p->ratio = malloc(FX_PAIRS_KEPT * sizeof *p->ratio);
  p->kept = 0;
  if (p->a == NULL || p->b == NULL || p->ratio == NULL) {
    fx_die("out of memory for the paired slices");
  }
}

void fx_pairs_add(fx_pairs *p, double a, double b) {
  if (p->kept < FX_PAIRS_KEPT) {
    p->a[p->kept] = a;
    p->b[p->kept] = b;
    p->ratio[p->kept] = a / b;
    p->kept++;
  }
}

void fx_pairs_report(fx_pairs *p, kgb_state *st, const char *a_name,
                     const char *b_name, const char *ratio_name) {
  if (p->kept > 0) {
    kgb_counter(st, a_name, median_of(p->a, p->kept), KGB_COUNTER_PLAIN);
    kgb_counter(st, b_name, median_of(p->b, p->kept), KGB_COUNTER_PLAIN);
    kgb_counter(st, ratio_name, median_of(p->ratio, p->kept),
                KGB_COUNTER_PLAIN);
  }
  fx_pairs_free(p);
}

void fx_pairs_free(fx_pairs *p) {
  free(p->a);
  free(p->b);
  free(p->ratio);
  p->a = p->b = p->ratio = NULL;
  p->kept = 0;
}
