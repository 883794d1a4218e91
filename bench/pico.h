/*
 * pico.h — the one function of picohttpparser the benchmarks compare
 * kg_head_parse with, declared from its documented signature
 * (picohttpparser.h, h2o/picohttpparser on GitHub; no code copied). It is
 * linked from Debian's libh2o-evloop0.13, which exports it (built for the
 * x86-64 baseline, so picohttpparser's scalar path, without SSE4.2), into
 * keygate_bench only: KEYGATE_BENCH_PICO is defined when CMake found it.
 *
 * phr_parse_request returns the number of bytes of the head consumed, -1
 * on a parse error, -2 when the head is incomplete; *num_headers is the
 * capacity of headers on the way in and the count on the way out.
 */
#ifndef KEYGATE_BENCH_PICO_H
#define KEYGATE_BENCH_PICO_H

#include <stddef.h>

struct phr_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

int phr_parse_request(const char *buf, size_t len, const char **method,
                      size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers,
                      size_t *num_headers, size_t last_len);

#endif /* KEYGATE_BENCH_PICO_H */
