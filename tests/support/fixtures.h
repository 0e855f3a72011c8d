/* Small helpers shared by tests: temporary directories, files, random fills. */
#ifndef GG_TEST_FIXTURES_H
#define GG_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include "gradguard.h"

/* A fresh directory under /tmp; the caller removes it with gg_test_rmtree. */
char *gg_test_tmpdir(void);
void gg_test_rmtree(const char *dir);
/* Writes len bytes to dir/name; returns the malloc'd path. */
char *gg_test_write_file(const char *dir, const char *name, const void *data, size_t len);
/* Uniform values in [lo, hi) from a seeded generator. */
void gg_test_fill(gg_real *x, size_t n, uint64_t seed, double lo, double hi);

#endif
