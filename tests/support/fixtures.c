/* Test fixtures: temporary files and seeded random data. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "support/fixtures.h"

char *gg_test_tmpdir(void) {
    char tmpl[] = "/tmp/gg-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void gg_test_rmtree(const char *dir) {
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *gg_test_write_file(const char *dir, const char *name, const void *data, size_t len) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    return path;
}

void gg_test_fill(gg_real *x, size_t n, uint64_t seed, double lo, double hi) {
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (gg_real)(lo + (hi - lo) * gg_rng_uniform(&r));
}
