/*
 * tests/unit/scratch.h — a test's scratch directory, made and removed in
 * one place.
 *
 * scratch_make makes a fresh directory "<stem>XXXXXX" under $TMPDIR (when
 * set and short; ctest sets it to the build tree, tests/unit/CMakeLists.txt,
 * so what a crashed test leaves stays there) or /tmp. scratch_remove removes
 * every entry in it (files, links, not what they name, and empty
 * directories), then the directory itself. It says which entry it could not
 * remove and returns -1 then, so a test that leaves something behind fails:
 * as a cmocka per-test teardown's result, or added to main's failure count
 * (cmocka does not count a group teardown's failure). It does not recurse:
 * a test that makes a subdirectory empties it itself. After a failed
 * scratch_make, dir is "" and scratch_remove does nothing.
 */
#ifndef KEYGATE_TESTS_SCRATCH_H
#define KEYGATE_TESTS_SCRATCH_H

#include <stddef.h>

/* The room a scratch directory's path has: a $TMPDIR of up to 40 bytes
 * (a longer one is not used), a stem of up to 16, the six X's. */
#define SCRATCH_DIR_MAX 64

/* Make it into dir[SCRATCH_DIR_MAX]; 0, or -1 with a message. */
int scratch_make(char dir[SCRATCH_DIR_MAX], const char *stem);

/* Remove what it holds, then it; 0, or -1 with a message per failure. */
int scratch_remove(const char *dir);

#endif /* KEYGATE_TESTS_SCRATCH_H */
