/* The seeded generator: xoshiro256** (Blackman and Vigna, 2018), seeded by
 * splitmix64. Pure integer arithmetic, so every machine draws the same
 * stream; its four words are the whole state a checkpoint must save. */
#include <math.h>
#include "core/core.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gg_rng_seed(gg_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gg_rng_next(gg_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double gg_rng_uniform(gg_rng *r) { return (double)(gg_rng_next(r) >> 11) * 0x1.0p-53; }

double gg_rng_normal(gg_rng *r) {
    /* Box-Muller without a cached spare: the state stays four words. */
    double u1 = gg_rng_uniform(r), u2 = gg_rng_uniform(r);
    return sqrt(-2.0 * log1p(-u1)) * cos(2.0 * M_PI * u2);
}

uint64_t gg_rng_below(gg_rng *r, uint64_t n) {
    if (n == 0) return 0;
    /* Rejection on the top of the range removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = gg_rng_next(r);
    while (v >= limit);
    return v % n;
}

void gg_rng_shuffle(gg_rng *r, uint32_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)gg_rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
