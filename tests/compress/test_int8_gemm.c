/* The int8 matrix product: every kernel this CPU has (AVX-512 VNNI,
 * AVX-512BW, AVX2, portable), in both orientations (activation rows times
 * packed weights, as dense layers run; weight rows times packed
 * activations, as conv layers run), gives exactly the int32 sums of a
 * plain triple loop, on odd and even sizes, at the extremes (activations
 * 127 times weights +-127, where an unguarded vpmaddubsw would saturate),
 * on one thread and several; the float epilogue (per-column or per-row
 * scale and offset, ReLU, wrapped columns) gives the same bits for every
 * kernel; packing and its column sums; the run-time choice and
 * GG_INT8_KERNEL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <stdlib.h>
#include <string.h>
#include "compress/compress.h"

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

typedef struct problem {
    int M, N, K, K4;
    uint8_t *A;  /* gg_i8_rows(M) x K4 */
    int8_t *W;   /* N x K */
    int8_t *packed;
    int32_t *colsum;
    int32_t *ref; /* M x N */
    int8_t *Wr;   /* gg_i8_rows(N) x K4: the weights as rows (conv orientation) */
    uint8_t *AT;  /* K x M16: the activations as rows of columns */
    uint8_t *packed_a, *zero;
} problem;

/* kind 0: random; 1: activations 127 and weights +-127 (the extremes);
 * 2: activations 127, weights alternating 127 and -127. */
static void make(problem *p, int M, int N, int K, int kind, uint64_t seed) {
    rng_state = seed * 2654435761u + 88172645463325252ull;
    p->M = M, p->N = N, p->K = K, p->K4 = gg_i8_k4(K);
    int rows = gg_i8_rows(M);
    p->A = calloc((size_t)rows * p->K4, 1);
    p->W = malloc((size_t)N * K);
    p->packed = malloc(gg_i8_packed_size(N, K));
    p->colsum = malloc((size_t)N * sizeof *p->colsum);
    p->ref = malloc((size_t)M * N * sizeof *p->ref);
    for (int m = 0; m < rows; m++)
        for (int k = 0; k < K; k++)
            p->A[(size_t)m * p->K4 + k] = kind ? 127 : (uint8_t)(rnd() % 128);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            int v = kind == 1 ? ((n % 2) ? -127 : 127)
                    : kind == 2 ? ((k % 2) ? -127 : 127)
                                : (int)(rnd() % 255) - 127;
            p->W[(size_t)n * K + k] = (int8_t)v;
        }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++) s += p->A[(size_t)m * p->K4 + k] * p->W[(size_t)n * K + k];
            p->ref[(size_t)m * N + n] = s;
        }
    gg_i8_pack(p->W, N, K, p->packed, p->colsum);
    /* The other orientation: C^T [N, M] = W A^T. */
    int M16 = (M + 15) / 16 * 16;
    p->Wr = calloc((size_t)gg_i8_rows(N) * p->K4, 1);
    p->AT = calloc((size_t)K * M16, 1);
    p->zero = calloc((size_t)M16, 1);
    p->packed_a = malloc(gg_i8_packed_size(M, K));
    const uint8_t **rp = malloc((size_t)K * sizeof *rp);
    for (int n = 0; n < N; n++) memcpy(p->Wr + (size_t)n * p->K4, p->W + (size_t)n * K, (size_t)K);
    for (int k = 0; k < K; k++) {
        for (int m = 0; m < M; m++) p->AT[(size_t)k * M16 + m] = p->A[(size_t)m * p->K4 + k];
        rp[k] = p->AT + (size_t)k * M16;
    }
    gg_i8_pack_act(rp, K, M, p->zero, p->packed_a);
    free(rp);
}

static void drop(problem *p) {
    free(p->A);
    free(p->W);
    free(p->packed);
    free(p->colsum);
    free(p->ref);
    free(p->Wr);
    free(p->AT);
    free(p->zero);
    free(p->packed_a);
}

static int kernels_tested;

static void check_int32(const problem *p, int threads) {
    size_t len = (size_t)p->M * p->N;
    int32_t *c = malloc(len * sizeof *c);
    for (int k = 0; k < GG_I8_KERNEL_COUNT; k++) {
        if (!gg_i8_kernel_available((gg_i8_kernel)k)) continue;
        for (int wa = 0; wa <= 1; wa++) {
            memset(c, 0x55, len * sizeof *c);
            if (wa) {
                gg_i8_out o = {.c = c, .ldc = (size_t)p->M};
                gg_i8_gemm_wa((gg_i8_kernel)k, p->N, p->M, p->K, p->Wr, (size_t)p->K4, p->packed_a,
                              &o, threads);
            } else {
                gg_i8_out o = {.c = c, .ldc = (size_t)p->N};
                gg_i8_gemm((gg_i8_kernel)k, p->M, p->N, p->K, p->A, (size_t)p->K4, p->packed, &o,
                           threads);
            }
            for (size_t i = 0; i < len; i++) {
                size_t m = wa ? i % (size_t)p->M : i / (size_t)p->N;
                size_t n = wa ? i / (size_t)p->M : i % (size_t)p->N;
                int32_t want = p->ref[m * (size_t)p->N + n];
                if (c[i] != want)
                    fail_msg("kernel %s%s, M %d N %d K %d, %d threads: C[%zu, %zu] = %d, expected %d",
                             gg_i8_kernel_name((gg_i8_kernel)k), wa ? " (weight rows)" : "", p->M,
                             p->N, p->K, threads, m, n, c[i], want);
            }
        }
    }
    free(c);
}

static void test_every_kernel_gives_the_exact_int32_sums(void **s) {
    (void)s;
    static const int Ms[] = {1, 3, 4, 5, 17, 64, 203};
    static const int Ns[] = {1, 10, 16, 17, 32, 33, 64, 130};
    static const int Ks[] = {1, 3, 4, 9, 31, 288, 784};
    uint64_t seed = 1;
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++) {
                problem p;
                make(&p, Ms[a], Ns[b], Ks[c], 0, seed++);
                check_int32(&p, 1);
                if (Ms[a] > 8) check_int32(&p, 3);
                drop(&p);
            }
    kernels_tested = 0;
    for (int k = 0; k < GG_I8_KERNEL_COUNT; k++)
        if (gg_i8_kernel_available((gg_i8_kernel)k)) {
            print_message("int8 kernel tested: %s\n", gg_i8_kernel_name((gg_i8_kernel)k));
            kernels_tested++;
        }
    assert_true(kernels_tested >= 1);
}

static void test_no_kernel_saturates_at_the_extremes(void **s) {
    (void)s;
    /* 127 x 127 pairs: 32258 per vpmaddubsw lane, just under int16's
     * limit; K up to 3136 (the CNN's dense layer) keeps int32 far from
     * overflow. */
    for (int kind = 1; kind <= 2; kind++) {
        problem p;
        make(&p, 9, 35, 3136, kind, 7);
        check_int32(&p, 2);
        if (kind == 1) assert_int_equal(p.ref[0], 3136 * 127 * 127);
        drop(&p);
    }
}

static void test_the_float_epilogue_is_identical_for_every_kernel(void **s) {
    (void)s;
    problem p;
    make(&p, 37, 45, 100, 0, 3);
    gg_real *mul = calloc(64, sizeof *mul), *off = calloc(64, sizeof *off); /* padded to 32 */
    for (int n = 0; n < 45; n++) {
        mul[n] = (gg_real)(1e-4 * (1 + n % 7));
        off[n] = (gg_real)(0.25 * (n % 5) - 0.6);
    }
    size_t len = (size_t)37 * 45;
    gg_real *y0 = malloc(len * sizeof *y0), *y = malloc(len * sizeof *y);
    /* wa = 1: the conv orientation, [45, 37] with per-row scales, and
     * columns wrapped as rows of 7 of which 5 are kept: [45, 5 x 5 + 2]. */
    for (int wa = 0; wa <= 1; wa++)
        for (int relu = 0; relu <= 1; relu++) {
            int rows = wa ? 45 : 37, ldy = wa ? 27 : 45;
            gg_i8_out o = {.y = y0, .ldy = (size_t)ldy, .mul = mul, .off = off, .relu = relu,
                           .row_scale = wa, .wrap_in = wa ? 7 : 0, .wrap_out = 5};
            for (int k = 0; k < GG_I8_KERNEL_COUNT; k++) {
                if (!gg_i8_kernel_available((gg_i8_kernel)k)) continue;
                o.y = k ? y : y0;
                memset(o.y, 0, len * sizeof *y);
                if (wa)
                    gg_i8_gemm_wa((gg_i8_kernel)k, 45, 37, 100, p.Wr, (size_t)p.K4, p.packed_a, &o, 2);
                else
                    gg_i8_gemm((gg_i8_kernel)k, 37, 45, 100, p.A, (size_t)p.K4, p.packed, &o, 2);
                if (k) assert_memory_equal(y, y0, len * sizeof *y);
            }
            for (int r = 0; r < rows; r++)
                for (int col = 0; col < (wa ? 37 : 45); col++) {
                    int m = wa ? col : r, n = wa ? r : col;
                    double v = (double)p.ref[m * 45 + n] * (double)mul[wa ? r : col] +
                               (double)off[wa ? r : col];
                    if (relu && v < 0) v = 0;
                    int dest = col;
                    if (wa) {
                        if (col % 7 >= 5) continue; /* dropped */
                        dest = col / 7 * 5 + col % 7;
                    }
                    assert_near(y0[(size_t)r * ldy + dest], v, 1e-5 * (1 + fabs(v)));
                }
        }
    free(mul);
    free(off);
    free(y0);
    free(y);
    drop(&p);
}

static void test_packing_lays_out_panels_and_sums_columns(void **s) {
    (void)s;
    int N = 19, K = 7, K4 = gg_i8_k4(K);
    assert_int_equal(K4, 8);
    assert_int_equal(gg_i8_packed_size(N, K), (size_t)2 * 16 * 8);
    int8_t w[19 * 7], *packed = malloc(gg_i8_packed_size(N, K));
    int32_t colsum[19];
    for (int i = 0; i < N * K; i++) w[i] = (int8_t)(i % 50 - 25);
    gg_i8_pack(w, N, K, packed, colsum);
    for (int n = 0; n < N; n++) {
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            sum += w[n * K + k];
            int p = n / 16, c = n % 16;
            assert_int_equal(packed[(size_t)p * K4 * 16 + (size_t)(k / 4) * 64 + 4 * c + k % 4],
                             w[n * K + k]);
        }
        assert_int_equal(colsum[n], sum);
    }
    /* Padding (k = 7, columns 19..31) is zero. */
    for (int c = 0; c < 16; c++) assert_int_equal(packed[64 + 4 * c + 3], 0);
    for (int k = 0; k < 8; k++)
        for (int c = 3; c < 16; c++)
            assert_int_equal(packed[(size_t)K4 * 16 + (size_t)(k / 4) * 64 + 4 * c + k % 4], 0);
    free(packed);
}

static void test_the_kernel_is_chosen_at_run_time_and_can_be_forced(void **s) {
    (void)s;
    unsetenv("GG_INT8_KERNEL");
    gg_i8_kernel best = gg_i8_kernel_default();
    assert_true(gg_i8_kernel_available(best));
    for (int k = best + 1; k < GG_I8_KERNEL_COUNT; k++) assert_false(gg_i8_kernel_available((gg_i8_kernel)k));
    assert_true(gg_i8_kernel_available(GG_I8_PORTABLE));
    for (int k = 0; k < GG_I8_KERNEL_COUNT; k++) {
        assert_int_equal(gg_i8_kernel_parse(gg_i8_kernel_name((gg_i8_kernel)k)), k);
        if (!gg_i8_kernel_available((gg_i8_kernel)k)) continue;
        setenv("GG_INT8_KERNEL", gg_i8_kernel_name((gg_i8_kernel)k), 1);
        assert_int_equal(gg_i8_kernel_default(), k);
        assert_string_equal(gg_int8_kernel(), gg_i8_kernel_name((gg_i8_kernel)k));
    }
    setenv("GG_INT8_KERNEL", "no-such-kernel", 1);
    assert_int_equal(gg_i8_kernel_default(), best);
    assert_int_equal(gg_i8_kernel_parse("no-such-kernel"), -1);
    unsetenv("GG_INT8_KERNEL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kernel_gives_the_exact_int32_sums),
        cmocka_unit_test(test_no_kernel_saturates_at_the_extremes),
        cmocka_unit_test(test_the_float_epilogue_is_identical_for_every_kernel),
        cmocka_unit_test(test_packing_lays_out_panels_and_sums_columns),
        cmocka_unit_test(test_the_kernel_is_chosen_at_run_time_and_can_be_forced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
