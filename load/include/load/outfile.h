/*
 * load/outfile.h — how every result file (load --json/--html, report's
 * --out) is written, in one place:
 *   "-"                     standard output;
 *   an existing device or FIFO (/dev/null, /proc/self/fd/1)
 *                           written in place, never renamed over (as root
 *                           a rename would replace the device node);
 *   a folder                refused;
 *   anything else           written to PATH.tmp beside it, flushed to disk,
 *                           renamed over PATH (through a symbolic link: the
 *                           file it names), the folder synced: a reader sees
 *                           the old file or the new one, never half of one.
 */
#ifndef KEYGATE_LOAD_OUTFILE_H
#define KEYGATE_LOAD_OUTFILE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kgl_out {
  FILE *f; /* write here between open and close */
  int in_place;
  int to_stdout; /* "-": named "standard output" in a reason */
  char path[PATH_MAX];
  char tmp[PATH_MAX + 8];
} kgl_out;

/* kgl_out_check — can path be written as above? For a check before a long
 * run: 0, or -1 + a one-line reason naming path and the fix. */
int kgl_out_check(const char *path, char *why, size_t whycap);

/* A path a command was given, and what gave it ("--json", "the input"). */
typedef struct kgl_named_path {
  const char *what;
  const char *path; /* NULL: not given; "-": a standard stream */
} kgl_named_path;

/*
 * kgl_out_distinct — before anything is written: 0 when no output of
 * out[0..nout) names an input of in[0..nin) or another output; else -1 +
 * a one-line reason naming both and the fix. Two paths name the same file
 * when both exist and have the same device and inode (a symbolic link, a
 * hard link or "./a" for "a" included), or when one does not exist yet
 * and the strings are equal. "-", NULL, and an existing device or FIFO as
 * an output (/dev/null, written in place, takes any number) are never
 * refused.
 */
int kgl_out_distinct(const kgl_named_path *in, size_t nin,
                     const kgl_named_path *out, size_t nout, char *why,
                     size_t whycap);

/* kgl_out_open — start writing path. 0, or -1 + why. */
int kgl_out_open(kgl_out *o, const char *path, char *why, size_t whycap);

/* kgl_out_close — finish: ok 0 means the writer failed (the file is left
 * as it was). 0 when path now holds the whole output, -1 + why. */
int kgl_out_close(kgl_out *o, int ok, char *why, size_t whycap);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_OUTFILE_H */
