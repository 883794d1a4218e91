/*
 * tests/unit/guard.h — test inputs placed against an inaccessible page.
 *
 * Every buffer a unit test hands to libkeygate goes through here: the bytes
 * are copied into a fresh mmap'd region so that they END exactly where a
 * PROT_NONE page begins (guard_copy), or BEGIN exactly where one ends
 * (guard_copy_front). A read one byte past the end (or before the start)
 * faults at once, under any compiler and without a sanitizer. This is the
 * picohttpparser test trick.
 *
 * A zero-length input is a pointer to the first byte of the guard page: any
 * read through it faults.
 *
 * Ownership: the regions belong to this module and stay mapped until
 * guard_free_all(), which every test file runs as its cmocka teardown
 * (guard_teardown). Nothing here is thread-safe; tests are single-threaded.
 * On an mmap failure the process aborts: a test cannot run without it.
 */
#ifndef KEYGATE_TESTS_GUARD_H
#define KEYGATE_TESTS_GUARD_H

#include <stddef.h>

#include "keygate/span.h"

/* Which side of the input the PROT_NONE page sits on. */
typedef enum guard_side {
  GUARD_AFTER = 0, /* data ends at the guard page: catches over-reads */
  GUARD_BEFORE = 1 /* data starts after the guard page: catches under-reads */
} guard_side;

/*
 * guard_copy_side — copy src[0..len) next to a PROT_NONE page on the given
 * side and return the copy (read-only view; it stays writable for tests
 * that patch bytes). Never NULL.
 */
char *guard_copy_side(const void *src, size_t len, guard_side side);

/* guard_copy — guard_copy_side(src, len, GUARD_AFTER). */
char *guard_copy(const void *src, size_t len);

/* guard_span — the copy of (s, len) as a span, guarded after. */
kg_span guard_span(const char *s, size_t len);

/* guard_str — guard_span of a NUL-terminated string, without the NUL. */
kg_span guard_str(const char *s);

/* guard_field — a field line whose name and value each sit on their own
 * guard page. */
kg_field guard_field(const char *name, size_t name_len, const char *value,
                     size_t value_len);

/*
 * guard_end — room writable bytes that end exactly where a PROT_NONE page
 * begins; returns that end (the guard page's first byte), so a test can
 * place inputs of any length up to room at end - len again and again.
 */
char *guard_end(size_t room);

/* guard_count — number of regions mapped now (tests of this module). */
size_t guard_count(void);

/* guard_free_all — unmap every region made so far. */
void guard_free_all(void);

/* guard_teardown — cmocka teardown: guard_free_all(), returns 0. */
int guard_teardown(void **state);

#endif /* KEYGATE_TESTS_GUARD_H */
