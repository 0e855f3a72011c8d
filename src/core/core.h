/* Core services shared by every module: failing with a message, checked
 * allocation and size arithmetic, and the seeded random generator.
 * Nothing here prints or exits. */
#ifndef GG_CORE_H
#define GG_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gradguard.h"

/* Fills err (if not NULL) with code and a printf-style message; returns code. */
gg_status gg_fail(gg_error *err, gg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation that reports failure in err; sizes from files go through
 * gg_size_mul first so a lying header cannot overflow. */
void *gg_alloc(size_t bytes, gg_error *err);  /* zeroed */
void *gg_alloc_aligned(size_t bytes, gg_error *err); /* 64-byte aligned, zeroed */
bool gg_size_mul(size_t a, size_t b, size_t *out);  /* false on overflow */
bool gg_size_add(size_t a, size_t b, size_t *out);
char *gg_strdup(const char *s, gg_error *err);
/* Makes room for one more element in *p, an array of n used of *cap
 * (doubling, from 16); `what` names the elements in the error. */
gg_status gg_grow(void **p, int n, int *cap, size_t elem, const char *what, gg_error *err);
/* The status for a file that could not be opened for reading: a missing
 * file or a directory is bad input (GG_ERR_DATA, exit 2), anything else
 * the system refused is GG_ERR_IO (exit 3). Use errno as left by open. */
gg_status gg_open_error(int errnum);

/* xoshiro256** seeded through splitmix64: the same stream on every machine. */
typedef struct gg_rng {
    uint64_t s[4];
} gg_rng;

void gg_rng_seed(gg_rng *r, uint64_t seed);
uint64_t gg_rng_next(gg_rng *r);
double gg_rng_uniform(gg_rng *r);                 /* [0, 1), 53 bits */
double gg_rng_normal(gg_rng *r);                  /* N(0, 1), Box-Muller, no cached spare */
uint64_t gg_rng_below(gg_rng *r, uint64_t n);     /* uniform in [0, n), unbiased */
void gg_rng_shuffle(gg_rng *r, uint32_t *a, size_t n); /* Fisher-Yates */

#endif
