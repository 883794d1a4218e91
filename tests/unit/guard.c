/*
 * tests/unit/guard.c — inputs placed against a PROT_NONE page (see guard.h).
 */
#define _DEFAULT_SOURCE
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guard_region {
  void *base;
  size_t size;
} guard_region;

static guard_region *regions;
static size_t nregions;
static size_t capregions;

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096u;
}

static void remember(void *base, size_t size) {
  if (nregions == capregions) {
    size_t cap = capregions ? capregions * 2 : 64;
    guard_region *r = realloc(regions, cap * sizeof *r);
    if (r == NULL) {
      fputs("guard: out of memory\n", stderr);
      abort();
    }
    regions = r;
    capregions = cap;
  }
  regions[nregions].base = base;
  regions[nregions].size = size;
  nregions++;
}

/* len bytes next to a fresh PROT_NONE page on the given side (the guard
 * page itself for len 0), uninitialised. */
static char *guard_map(size_t len, guard_side side) {
  size_t page = page_size();
  size_t data_pages = (len + page - 1) / page;
  size_t size = (data_pages + 1) * page;
  char *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    perror("guard: mmap");
    abort();
  }
  remember(base, size);
  /* An empty input points at the guard page itself whichever the side:
   * touching any byte through it faults. */
  char *guard =
      (side == GUARD_BEFORE && len > 0) ? base : base + data_pages * page;
  if (mprotect(guard, page, PROT_NONE) != 0) {
    perror("guard: mprotect");
    abort();
  }
  if (len == 0) {
    return guard;
  }
  return side == GUARD_BEFORE ? base + page : guard - len;
}

char *guard_copy_side(const void *src, size_t len, guard_side side) {
  char *data = guard_map(len, side);
  if (len > 0) {
    memcpy(data, src, len);
  }
  return data;
}

char *guard_end(size_t room) {
  return guard_map(room, GUARD_AFTER) + room;
}

char *guard_copy(const void *src, size_t len) {
  return guard_copy_side(src, len, GUARD_AFTER);
}

kg_span guard_span(const char *s, size_t len) {
  kg_span out;
  out.ptr = guard_copy(s, len);
  out.len = len;
  return out;
}

kg_span guard_str(const char *s) {
  return guard_span(s, strlen(s));
}

kg_field guard_field(const char *name, size_t name_len, const char *value,
                     size_t value_len) {
  kg_field f;
  f.name = guard_span(name, name_len);
  f.value = guard_span(value, value_len);
  return f;
}

size_t guard_count(void) {
  return nregions;
}

void guard_free_all(void) {
  for (size_t i = 0; i < nregions; i++) {
    munmap(regions[i].base, regions[i].size);
  }
  free(regions);
  regions = NULL;
  nregions = 0;
  capregions = 0;
}

int guard_teardown(void **state) {
  (void)state;
  guard_free_all();
  return 0;
}
