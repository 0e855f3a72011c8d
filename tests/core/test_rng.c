/* The seeded generator (src/core/rng.c): reproducible streams, the
 * distributions' moments, unbiased bounded draws and shuffles, and the
 * exact xoshiro256** stream checked against a reference written here from
 * the published algorithms (Vigna's splitmix64.c and xoshiro256starstar.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <string.h>
#include "core/core.h"


/* ---- reference implementation -------------------------------------------- */

typedef struct ref_rng {
    uint64_t s[4];
} ref_rng;

static uint64_t ref_splitmix64(uint64_t *state) {
    *state += UINT64_C(0x9E3779B97F4A7C15);
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void ref_seed(ref_rng *r, uint64_t seed) {
    uint64_t sm = seed;
    r->s[0] = ref_splitmix64(&sm);
    r->s[1] = ref_splitmix64(&sm);
    r->s[2] = ref_splitmix64(&sm);
    r->s[3] = ref_splitmix64(&sm);
}

static uint64_t ref_next(ref_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = ref_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return result;
}

/* ---- exact stream ---------------------------------------------------------- */

/* First outputs for seeds 0 and 42, computed once with the reference above
 * (and cross-checked with an independent Python big-integer version). */
static void test_rng_seed_0_first_values_are_the_reference_constants(void **s) {
    (void)s;
    gg_rng r;
    gg_rng_seed(&r, 0);
    assert_true(gg_rng_next(&r) == UINT64_C(0x99ec5f36cb75f2b4));
    assert_true(gg_rng_next(&r) == UINT64_C(0xbf6e1f784956452a));
    assert_true(gg_rng_next(&r) == UINT64_C(0x1a5f849d4933e6e0));
    gg_rng_seed(&r, 42);
    assert_true(gg_rng_next(&r) == UINT64_C(0x15780b2e0c2ec716));
    /* The reference agrees with the constant too (guards the reference). */
    ref_rng ref;
    ref_seed(&ref, 0);
    assert_true(ref_next(&ref) == UINT64_C(0x99ec5f36cb75f2b4));
}

static void test_rng_stream_matches_reference_xoshiro256starstar(void **s) {
    (void)s;
    const uint64_t seeds[] = {0, 1, 42, UINT64_C(0xdeadbeefcafef00d), UINT64_MAX};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        gg_rng r;
        ref_rng ref;
        gg_rng_seed(&r, seeds[k]);
        ref_seed(&ref, seeds[k]);
        for (int j = 0; j < 4; j++) assert_true(r.s[j] == ref.s[j]);
        for (int i = 0; i < 1000; i++) {
            uint64_t a = gg_rng_next(&r), b = ref_next(&ref);
            if (a != b) fail_msg("seed %llu draw %d: %llx != %llx", (unsigned long long)seeds[k],
                                 i, (unsigned long long)a, (unsigned long long)b);
        }
    }
}

static void test_rng_uniform_uses_the_top_53_bits(void **s) {
    (void)s;
    gg_rng r;
    ref_rng ref;
    gg_rng_seed(&r, 0);
    ref_seed(&ref, 0);
    int odd = 0; /* draws whose 53rd bit is set, which a 52-bit version would lose */
    for (int i = 0; i < 64; i++) {
        uint64_t v = ref_next(&ref);
        double u = gg_rng_uniform(&r);
        if (u != (double)(v >> 11) * 0x1.0p-53) fail_msg("draw %d: %.17g", i, u);
        odd += (v >> 11) & 1;
    }
    assert_true(odd > 0);
}

/* ---- reproducibility ------------------------------------------------------- */

static void test_rng_same_seed_gives_same_stream(void **s) {
    (void)s;
    gg_rng a, b;
    gg_rng_seed(&a, 1234);
    gg_rng_seed(&b, 1234);
    for (int i = 0; i < 10000; i++) assert_true(gg_rng_next(&a) == gg_rng_next(&b));
    /* Reseeding restarts the stream. */
    gg_rng_seed(&a, 1234);
    gg_rng_seed(&b, 1234);
    assert_true(gg_rng_uniform(&a) == gg_rng_uniform(&b));
    assert_true(gg_rng_normal(&a) == gg_rng_normal(&b));
}

static void test_rng_different_seeds_give_different_streams(void **s) {
    (void)s;
    const uint64_t seeds[] = {0, 1, 2, 3, 1000, UINT64_MAX};
    const size_t n = sizeof seeds / sizeof seeds[0];
    uint64_t first[6][8];
    for (size_t k = 0; k < n; k++) {
        gg_rng r;
        gg_rng_seed(&r, seeds[k]);
        for (int i = 0; i < 8; i++) first[k][i] = gg_rng_next(&r);
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            int same = 0;
            for (int i = 0; i < 8; i++) same += first[a][i] == first[b][i];
            assert_int_equal(same, 0);
        }
}

/* ---- distributions --------------------------------------------------------- */

static void test_rng_uniform_lies_in_0_1_with_mean_one_half(void **s) {
    (void)s;
    gg_rng r;
    gg_rng_seed(&r, 7);
    const int n = 100000;
    double sum = 0, sq = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = gg_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sq += u * u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* std of the mean is sqrt(1/12/n) = 9e-4: 5 sigma. */
    assert_near(mean, 0.5, 0.0046);
    assert_near(var, 1.0 / 12, 0.002);
    assert_true(lo < 1e-3 && hi > 1 - 1e-3); /* covers the interval */
}

static void test_rng_normal_has_mean_0_and_variance_1(void **s) {
    (void)s;
    gg_rng r;
    gg_rng_seed(&r, 11);
    const int n = 100000;
    double sum = 0, sq = 0, q4 = 0;
    int beyond2 = 0;
    for (int i = 0; i < n; i++) {
        double z = gg_rng_normal(&r);
        assert_true(isfinite(z));
        sum += z;
        sq += z * z;
        q4 += z * z * z * z;
        beyond2 += fabs(z) > 2;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_near(mean, 0.0, 0.016); /* 5 sigma of 1/sqrt(n) */
    assert_near(var, 1.0, 0.023);  /* 5 sigma of sqrt(2/n) */
    assert_near(q4 / n, 3.0, 0.2); /* Gaussian kurtosis, not uniform's 1.8 */
    /* P(|z| > 2) = 0.0455 */
    assert_near((double)beyond2 / n, 0.0455, 0.004);
}

static void test_rng_below_is_always_below_n_and_unbiased(void **s) {
    (void)s;
    gg_rng r;
    gg_rng_seed(&r, 3);
    /* Small n: every residue about equally often. */
    enum { N = 7, DRAWS = 70000 };
    int count[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = gg_rng_below(&r, N);
        assert_true(v < N);
        count[v]++;
    }
    for (int k = 0; k < N; k++) assert_in_range(count[k], 10000 - 500, 10000 + 500);
    /* n = 1 always gives 0. */
    for (int i = 0; i < 100; i++) assert_true(gg_rng_below(&r, 1) == 0);
    /* A huge n (about 2/3 of 2^64): a plain modulo would put 2/3 of the
     * draws in the lower half; rejection keeps it at 1/2. */
    const uint64_t big = UINT64_C(0xAAAAAAAAAAAAAAAB);
    int lower = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t v = gg_rng_below(&r, big);
        assert_true(v < big);
        lower += v < big / 2;
    }
    assert_near(lower / 20000.0, 0.5, 0.02);
    /* A power of two and the largest n. */
    for (int i = 0; i < 1000; i++) {
        assert_true(gg_rng_below(&r, UINT64_C(1) << 63) < (UINT64_C(1) << 63));
        assert_true(gg_rng_below(&r, UINT64_MAX) < UINT64_MAX);
    }
}

/* ---- shuffle ---------------------------------------------------------------- */

static void iota(uint32_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
}

static void test_rng_shuffle_is_a_seeded_permutation(void **s) {
    (void)s;
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N];
    gg_rng r;
    iota(a, N);
    gg_rng_seed(&r, 5);
    gg_rng_shuffle(&r, a, N);
    /* A permutation: every index exactly once. */
    unsigned char seen[N] = {0};
    size_t moved = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        assert_int_equal(seen[a[i]], 0);
        seen[a[i]] = 1;
        moved += a[i] != i;
    }
    assert_true(moved > N / 2); /* it actually shuffles */
    /* The same seed gives the same order, another seed another order. */
    iota(b, N);
    gg_rng_seed(&r, 5);
    gg_rng_shuffle(&r, b, N);
    assert_memory_equal(a, b, sizeof a);
    iota(c, N);
    gg_rng_seed(&r, 6);
    gg_rng_shuffle(&r, c, N);
    assert_memory_not_equal(a, c, sizeof a);
    /* Empty and single-element arrays are left alone. */
    uint32_t one = 9;
    gg_rng_shuffle(&r, &one, 1);
    assert_int_equal(one, 9);
    gg_rng_shuffle(&r, NULL, 0);
}

static void test_rng_shuffle_gives_every_order_of_three_equally_often(void **s) {
    (void)s;
    gg_rng r;
    gg_rng_seed(&r, 17);
    int count[3][3][3];
    memset(count, 0, sizeof count);
    const int trials = 60000;
    for (int t = 0; t < trials; t++) {
        uint32_t a[3] = {0, 1, 2};
        gg_rng_shuffle(&r, a, 3);
        count[a[0]][a[1]][a[2]]++;
    }
    int orders = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                if (count[i][j][k]) {
                    orders++;
                    /* 10000 expected, std ~91 */
                    assert_in_range(count[i][j][k], 10000 - 500, 10000 + 500);
                }
    assert_int_equal(orders, 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_seed_0_first_values_are_the_reference_constants),
        cmocka_unit_test(test_rng_stream_matches_reference_xoshiro256starstar),
        cmocka_unit_test(test_rng_uniform_uses_the_top_53_bits),
        cmocka_unit_test(test_rng_same_seed_gives_same_stream),
        cmocka_unit_test(test_rng_different_seeds_give_different_streams),
        cmocka_unit_test(test_rng_uniform_lies_in_0_1_with_mean_one_half),
        cmocka_unit_test(test_rng_normal_has_mean_0_and_variance_1),
        cmocka_unit_test(test_rng_below_is_always_below_n_and_unbiased),
        cmocka_unit_test(test_rng_shuffle_is_a_seeded_permutation),
        cmocka_unit_test(test_rng_shuffle_gives_every_order_of_three_equally_often),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
