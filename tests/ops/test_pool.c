/* Pooling (src/ops/pool.c): finite-difference checks of max pool (inputs
 * with distinct values, so no ties), average pool with padding and global
 * average pool; PyTorch's conventions at known points (padding as -inf,
 * the first maximum of a tie takes the gradient, NaN wins, padding counted
 * in the average); batched planes split across threads against a naive
 * loop; shape errors that name what is needed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

typedef gg_node *(*pool_fn)(gg_graph *, gg_node *, const int *, const int *, const int *);

typedef struct pool_case {
    int N, C, H, W;
    int kernel[2], stride[2], pad[2];
} pool_case;

/* Distinct values gap apart in a random order: with a gap of 0.05 no two
 * elements of a window are within the finite-difference step of each
 * other. */
static void fill_distinct(gg_real *x, size_t n, uint64_t seed, double gap) {
    uint32_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    gg_rng r;
    gg_rng_seed(&r, seed);
    gg_rng_shuffle(&r, perm, n);
    for (size_t i = 0; i < n; i++) x[i] = (gg_real)(gap * ((double)perm[i] - (double)n / 2));
    free(perm);
}

/* x (a parameter [N, C, H, W]) -> op -> MSE against a constant target. */
static void gradcheck_pool(const char *what, gg_node *(*op)(gg_graph *, gg_node *, const pool_case *),
                           const pool_case *k, uint64_t seed) {
    gg_graph *g = gg_graph_new(1, seed);
    gg_node *x = gg_param(g, "x", 4, (int[]){k->N, k->C, k->H, k->W}, GG_INIT_ZEROS, 0);
    gg_node *y = op(g, x, k);
    assert_non_null(y);
    int ydims[4], nd = gg_node_ndim(y);
    for (int i = 0; i < nd; i++) ydims[i] = gg_node_dim(y, i);
    gg_node *t = gg_param(g, "const_target", nd, ydims, GG_INIT_ZEROS, 0);
    gg_node *loss = gg_mse_loss(g, y, t);
    gg_error err = {0};
    if (gg_graph_build(g, &err) != GG_OK) fail_msg("%s", err.msg);
    fill_distinct(gg_node_data(x), gg_node_len(x), seed, 0.05);
    gg_test_fill(gg_node_data(t), gg_node_len(t), seed + 1, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    print_message("%s N%d C%d %dx%d k%dx%d s%d,%d p%d,%d: rel err %.3g\n", what, k->N, k->C,
                  k->H, k->W, k->kernel[0], k->kernel[1], k->stride[0], k->stride[1], k->pad[0],
                  k->pad[1], r.max_rel_err);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("%s: relative error %g in %s", what, r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static gg_node *max_op(gg_graph *g, gg_node *x, const pool_case *k) {
    return gg_max_pool2d(g, x, k->kernel, k->stride, k->pad);
}
static gg_node *avg_op(gg_graph *g, gg_node *x, const pool_case *k) {
    return gg_avg_pool2d(g, x, k->kernel, k->stride, k->pad);
}
static gg_node *global_op(gg_graph *g, gg_node *x, const pool_case *k) {
    (void)k;
    return gg_global_avg_pool(g, x);
}

static const pool_case cases[] = {
    {2, 3, 6, 6, {2, 2}, {2, 2}, {0, 0}}, /* the CNN's 2x2 window (fast path) */
    {2, 2, 7, 5, {2, 2}, {2, 2}, {0, 0}}, /* odd sizes: the last row and column dropped */
    {2, 2, 7, 6, {3, 3}, {2, 2}, {1, 1}}, /* overlapping windows with padding */
    {1, 3, 5, 7, {2, 3}, {1, 2}, {1, 1}}, /* rectangular everything */
    {2, 1, 4, 4, {4, 4}, {1, 1}, {0, 0}}, /* one window per plane */
    {1, 2, 5, 4, {3, 1}, {3, 1}, {1, 0}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void test_max_pool2d_gradients_match_finite_differences(void **s) {
    (void)s;
    for (size_t i = 0; i < NCASES; i++) gradcheck_pool("max_pool2d", max_op, &cases[i], 20 + i);
}

static void test_avg_pool2d_gradients_match_finite_differences(void **s) {
    (void)s;
    for (size_t i = 0; i < NCASES; i++) gradcheck_pool("avg_pool2d", avg_op, &cases[i], 30 + i);
}

static void test_global_avg_pool_gradients_match_finite_differences(void **s) {
    (void)s;
    gradcheck_pool("global_avg_pool", global_op, &cases[1], 40);
    gradcheck_pool("global_avg_pool", global_op, &(pool_case){3, 4, 1, 1, {1, 1}, {1, 1}, {0, 0}}, 41);
}

/* ---- known points ------------------------------------------------------------ */

static void test_pooling_follows_pytorch_at_known_points(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_param(g, "x", 4, (int[]){1, 1, 4, 4}, GG_INIT_ZEROS, 0);
    gg_node *mx = gg_max_pool2d(g, x, (int[]){2, 2}, NULL, NULL);          /* stride = kernel */
    gg_node *mp = gg_max_pool2d(g, x, (int[]){3, 3}, (int[]){2, 2}, (int[]){1, 1});
    gg_node *av = gg_avg_pool2d(g, x, (int[]){3, 3}, (int[]){2, 2}, (int[]){1, 1});
    gg_node *gl = gg_global_avg_pool(g, x);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_node_dim(mx, 2), 2);
    assert_int_equal(gg_node_dim(mp, 2), 2);
    assert_int_equal(gg_node_dim(mp, 3), 2);
    assert_int_equal(gg_node_ndim(gl), 2);
    assert_int_equal(gg_node_dim(gl, 1), 1);
    gg_real *xv = gg_node_data(x);
    /* all negative: padding must read as -inf, not 0 */
    for (int i = 0; i < 16; i++) xv[i] = (gg_real)(-1 - i);
    gg_graph_forward(g);
    const double emx[4] = {-1, -3, -9, -11};
    for (int i = 0; i < 4; i++) assert_near(gg_node_data(mx)[i], emx[i], 0);
    /* windows rows/cols {-1..1} and {1..3}: maxima at (0,0), (0,1), (1,0), (1,1) */
    const double emp[4] = {-1, -2, -5, -6};
    for (int i = 0; i < 4; i++) assert_near(gg_node_data(mp)[i], emp[i], 0);
    /* average with the padding counted: the corner window holds 4 pixels of 9 */
    assert_near(gg_node_data(av)[0], (-1 - 2 - 5 - 6) / 9.0, 1e-6);
    assert_near(gg_node_data(av)[3], (-6 - 7 - 8 - 10 - 11 - 12 - 14 - 15 - 16) / 9.0, 1e-6);
    assert_near(gg_node_data(gl)[0], -8.5, 1e-6);

    /* Ties: every value equal, the first of each window (scan order) gets dy. */
    for (int i = 0; i < 16; i++) xv[i] = 2;
    gg_graph_forward(g);
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    for (int i = 0; i < 4; i++) gg_node_grad(mx)[i] = (gg_real)(i + 1);
    mx->op->backward(mx);
    gg_real *dx = gg_node_grad(x);
    const double edx[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) assert_near(dx[i], edx[i], 0);
    /* overlapping windows: a pixel that is the max of two windows gets both */
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    for (int i = 0; i < 16; i++) xv[i] = (gg_real)i; /* max of each window: its bottom right */
    gg_graph_forward(g);
    for (int i = 0; i < 4; i++) gg_node_grad(mp)[i] = 1;
    mp->op->backward(mp);
    /* windows rows {-1..1}, {1..3}: maxima at (1,1), (1,3), (3,1), (3,3) */
    assert_near(dx[5], 1, 0);
    assert_near(dx[7], 1, 0);
    assert_near(dx[13], 1, 0);
    assert_near(dx[15], 1, 0);
    /* average pool's backward spreads dy / 9 over the window, padding dropped */
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    for (int i = 0; i < 4; i++) gg_node_grad(av)[i] = 9;
    av->op->backward(av);
    const double eav[16] = {1, 2, 1, 1, 2, 4, 2, 2, 1, 2, 1, 1, 1, 2, 1, 1};
    for (int i = 0; i < 16; i++) assert_near(dx[i], eav[i], 1e-6);
    /* global: dy / (H W) everywhere, accumulated */
    gg_node_grad(gl)[0] = 16;
    gl->op->backward(gl);
    for (int i = 0; i < 16; i++) assert_near(dx[i], eav[i] + 1, 1e-6);

    /* NaN wins its window, as in PyTorch, wherever it sits in it */
    for (int pos = 0; pos < 4; pos++) {
        for (int i = 0; i < 16; i++) xv[i] = (gg_real)i;
        xv[(pos / 2) * 4 + pos % 2] = NAN;
        gg_graph_forward(g);
        assert_true(isnan(gg_node_data(mx)[0]));
        assert_near(gg_node_data(mx)[1], 7, 0);
        assert_near(gg_node_data(mx)[3], 15, 0);
        assert_true(isnan(gg_node_data(mp)[0]));
    }
    /* infinities of both signs in one plane */
    for (int i = 0; i < 16; i++) xv[i] = (gg_real)i;
    xv[0] = INFINITY;
    xv[15] = -INFINITY;
    gg_graph_forward(g);
    assert_true(isinf(gg_node_data(mx)[0]) && gg_node_data(mx)[0] > 0);
    assert_near(gg_node_data(mx)[3], 14, 0);
    gg_graph_free(g);
}

/* Partial ties in the 2x2 window: the first maximum in scan order (top
 * left, top right, bottom left, bottom right) takes the gradient. */
static void test_max_pool2d_routes_ties_to_the_first_maximum(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_param(g, "x", 4, (int[]){1, 1, 2, 10}, GG_INIT_ZEROS, 0);
    gg_node *mx = gg_max_pool2d(g, x, (int[]){2, 2}, NULL, NULL);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    /* windows: [1 2; 2 0], [0 1; 1 1], [5 5; 5 5], [0 0; 0 1], [0 -1; 3 3] */
    const gg_real top[10] = {1, 2, 0, 1, 5, 5, 0, 0, 0, -1};
    const gg_real bot[10] = {2, 0, 1, 1, 5, 5, 0, 1, 3, 3};
    for (int i = 0; i < 10; i++) {
        gg_node_data(x)[i] = top[i];
        gg_node_data(x)[10 + i] = bot[i];
    }
    gg_graph_forward(g);
    const double ey[5] = {2, 1, 5, 1, 3};
    for (int i = 0; i < 5; i++) assert_near(gg_node_data(mx)[i], ey[i], 0);
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    for (int i = 0; i < 5; i++) gg_node_grad(mx)[i] = (gg_real)(i + 1);
    mx->op->backward(mx);
    /* the winners: top right, top right, top left, bottom right, bottom left */
    const int at[5] = {1, 3, 4, 17, 18};
    double want[20] = {0};
    for (int i = 0; i < 5; i++) want[at[i]] = i + 1;
    for (int i = 0; i < 20; i++) assert_near(gg_node_grad(x)[i], want[i], 0);
    gg_graph_free(g);
}

/* ---- batched, threaded, against naive loops ---------------------------------------- */

#ifdef GG_FLOAT64
#define SUM_TOL 1e-12
#else
#define SUM_TOL 1e-5
#endif

static void test_pooling_of_large_batches_matches_a_naive_loop(void **s) {
    (void)s;
    /* planes 17x16 and 6x41 (2x2 rows of 8 and of 20 outputs: one vector
     * and a part) */
    const int N = 13, C = 8, planes[2][2] = {{17, 16}, {6, 41}};
    const int ks[][6] = {{2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {2, 3, 1, 2, 1, 0}};
    for (size_t c = 0; c < 2 * sizeof ks / sizeof ks[0]; c++) {
        const int *k = ks[c / 2], H = planes[c % 2][0], W = planes[c % 2][1];
        gg_graph *g = gg_graph_new(16, c);
        gg_node *x = gg_input(g, "x", 3, (int[]){C, H, W});
        gg_node *mx = gg_max_pool2d(g, x, k, k + 2, k + 4);
        gg_node *av = gg_avg_pool2d(g, x, k, k + 2, k + 4);
        gg_node *gl = gg_global_avg_pool(g, x);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        assert_int_equal(gg_graph_set_batch(g, N, NULL), GG_OK);
        size_t xlen = gg_node_len(x);
        assert_true(xlen >= 16384); /* the threaded loops */
        fill_distinct(gg_node_data(x), xlen, 50 + c, 0.0005);
        gg_graph_forward(g);
        int Ho = gg_node_dim(mx, 2), Wo = gg_node_dim(mx, 3);
        assert_int_equal(Ho, (H + 2 * k[4] - k[0]) / k[2] + 1);
        assert_int_equal(Wo, (W + 2 * k[5] - k[1]) / k[3] + 1);
        const gg_real *xv = gg_node_data(x);
        gg_real *dx = calloc(xlen, sizeof *dx);
        double *ref = calloc(xlen, sizeof *ref);
        for (int p = 0; p < N * C; p++) {
            double sum = 0;
            for (int i = 0; i < H * W; i++) sum += xv[(size_t)p * H * W + i];
            assert_near(gg_node_data(gl)[p], sum / (H * W), SUM_TOL);
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double m = -INFINITY, a = 0;
                    int arg = -1;
                    for (int i = 0; i < k[0]; i++)
                        for (int j = 0; j < k[1]; j++) {
                            int ih = oh * k[2] - k[4] + i, iw = ow * k[3] - k[5] + j;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            double v = xv[((size_t)p * H + ih) * W + iw];
                            a += v;
                            if (v > m) m = v, arg = ih * W + iw;
                        }
                    size_t o = ((size_t)p * Ho + oh) * Wo + ow;
                    assert_near(gg_node_data(mx)[o], m, 0);
                    assert_near(gg_node_data(av)[o], a / (k[0] * k[1]), SUM_TOL);
                    ref[(size_t)p * H * W + arg] += (double)(o % 7);
                }
        }
        /* max pool's backward with dy = o mod 7, into a lent buffer */
        gg_real *dy = calloc(gg_node_len(mx), sizeof *dy);
        for (size_t o = 0; o < gg_node_len(mx); o++) dy[o] = (gg_real)(o % 7);
        mx->out->dx = dy;
        mx->in[0]->dx = dx;
        mx->op->backward(mx);
        mx->in[0]->dx = NULL;
        mx->out->dx = NULL;
        for (size_t i = 0; i < xlen; i++) assert_near(dx[i], ref[i], 0);
        free(dy);
        free(dx);
        free(ref);
        gg_graph_free(g);
    }
}

/* ---- shape errors -------------------------------------------------------------- */

static void expect_pool_error(pool_fn fn, int ndim, const int *dims, const int *k,
                              const int *st, const int *pd, gg_status code,
                              const char *const *needles) {
    gg_graph *g = gg_graph_new(4, 0);
    gg_node *x = gg_input(g, "x", ndim, dims);
    assert_null(fn ? fn(g, x, k, st, pd) : gg_global_avg_pool(g, x));
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), code);
    print_message("%s\n", err.msg);
    for (int i = 0; needles[i]; i++)
        if (!strstr(err.msg, needles[i])) fail_msg("'%s' not in: %s", needles[i], err.msg);
    gg_graph_free(g);
}

static void test_pooling_shape_errors_name_the_needed_shape(void **s) {
    (void)s;
    expect_pool_error(gg_max_pool2d, 1, (int[]){784}, (int[]){2, 2}, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"max_pool2d needs an image input [C, H, W]", "got [784]",
                                       "[1, 28, 28]", NULL});
    expect_pool_error(gg_avg_pool2d, 2, (int[]){5, 6}, (int[]){2, 2}, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"avg_pool2d needs an image input [C, H, W]", "got [5, 6]",
                                       NULL});
    expect_pool_error(NULL, 1, (int[]){10}, NULL, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"global_avg_pool needs an image input [C, H, W]",
                                       "got [10]", NULL});
    expect_pool_error(gg_max_pool2d, 3, (int[]){2, 3, 3}, (int[]){5, 5}, NULL, NULL,
                      GG_ERR_SHAPE,
                      (const char *[]){"kernel 5 larger than the padded input 3", "height",
                                       "[2, 3, 3]", NULL});
    expect_pool_error(gg_avg_pool2d, 3, (int[]){2, 8, 2}, (int[]){3, 5}, NULL, (int[]){1, 1},
                      GG_ERR_SHAPE,
                      (const char *[]){"kernel 5 larger than the padded input 4", "width", NULL});
    expect_pool_error(gg_max_pool2d, 3, (int[]){2, 8, 8}, (int[]){2, 2}, NULL, (int[]){2, 0},
                      GG_ERR_ARG, (const char *[]){"padding [2, 0] is more than half", NULL});
    expect_pool_error(gg_max_pool2d, 3, (int[]){2, 8, 8}, (int[]){0, 2}, NULL, NULL, GG_ERR_ARG,
                      (const char *[]){"kernel [0, 2]", NULL});
    expect_pool_error(gg_max_pool2d, 3, (int[]){2, 8, 8}, (int[]){2, 2}, (int[]){2, -1}, NULL,
                      GG_ERR_ARG, (const char *[]){"stride [2, -1]", NULL});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_pool2d_gradients_match_finite_differences),
        cmocka_unit_test(test_avg_pool2d_gradients_match_finite_differences),
        cmocka_unit_test(test_global_avg_pool_gradients_match_finite_differences),
        cmocka_unit_test(test_pooling_follows_pytorch_at_known_points),
        cmocka_unit_test(test_max_pool2d_routes_ties_to_the_first_maximum),
        cmocka_unit_test(test_pooling_of_large_batches_matches_a_naive_loop),
        cmocka_unit_test(test_pooling_shape_errors_name_the_needed_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
