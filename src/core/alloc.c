/* Checked allocation. Every size that comes from a file is multiplied with
 * gg_size_mul first, so a header that lies cannot wrap the arithmetic. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"

void *gg_alloc(size_t bytes, gg_error *err) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) gg_fail(err, GG_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *gg_alloc_aligned(size_t bytes, gg_error *err) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) {
        gg_fail(err, GG_ERR_NOMEM, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) {
        gg_fail(err, GG_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

bool gg_size_mul(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

bool gg_size_add(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

gg_status gg_open_error(int errnum) {
    return errnum == ENOENT || errnum == ENOTDIR || errnum == EISDIR ? GG_ERR_DATA : GG_ERR_IO;
}

char *gg_strdup(const char *s, gg_error *err) {
    size_t n = strlen(s) + 1;
    char *p = gg_alloc(n, err);
    if (p) memcpy(p, s, n);
    return p;
}

gg_status gg_grow(void **p, int n, int *cap, size_t elem, const char *what, gg_error *err) {
    if (n < *cap) return GG_OK;
    if (*cap > (1 << 28)) return gg_fail(err, GG_ERR_NOMEM, "too many %s", what);
    int ncap = *cap ? 2 * *cap : 16;
    void *q = realloc(*p, (size_t)ncap * elem);
    if (!q) return gg_fail(err, GG_ERR_NOMEM, "out of memory for %d %s", ncap, what);
    *p = q;
    *cap = ncap;
    return GG_OK;
}
