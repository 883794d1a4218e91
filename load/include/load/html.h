/*
 * load/html.h — a load result as one self-contained HTML page: inline CSS
 * and SVG, no script, no font, image or style sheet from anywhere else, so
 * it reads the same with JavaScript off, offline, attached to a pull
 * request.
 *
 * The page holds: the runs (target, set-up, start), the thresholds with
 * pass/fail, the class table, latency by percentile per class on
 * HdrHistogram's log axis (x: 1/(1-p), 0% 90% 99% 99.9% ...; y: log
 * latency), requests per second, mismatches and errors per second, and p99
 * per second from the series, the mismatch samples. Given a baseline, its
 * lines are drawn dashed on the same axes and the comparison table
 * (load/compare.h) with the verdicts is added.
 *
 * Every text embedded (the target, codes, request ids, samples, threshold
 * expressions) is escaped for HTML; the result's texts were redacted
 * before they reached it, and nothing else from the run is printed. The
 * markup is also well-formed XML (every element closed, only the five XML
 * entities), so XML tools can read it.
 */
#ifndef KEYGATE_LOAD_HTML_H
#define KEYGATE_LOAD_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "load/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * kgl_html_write — the page for run, with baseline (may be NULL) drawn
 * dashed beside it, to f. 0, or -1 when writing failed or memory ran out.
 */
int kgl_html_write(const kgl_result *run, const kgl_result *baseline, FILE *f);

/*
 * kgl_html_write_file — kgl_html_write to the file at path ("-" for
 * stdout), replacing it whole (written to PATH.tmp, synced, renamed). 0, or
 * -1 with a one-line reason naming the file in why.
 */
int kgl_html_write_file(const kgl_result *run, const kgl_result *baseline,
                        const char *path, char *why, size_t whycap);

/* kgl_html_escape — s with & < > " ' as entities and any byte outside
 * printable ASCII as '?', to f. */
void kgl_html_escape(const char *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_HTML_H */
