/* Batch norm and layer norm (src/ops/norm.c): finite-difference checks of
 * every backward (batch norm in training mode, dense and convolutional,
 * with and without affine parameters, and in evaluation mode; layer norm
 * over 1 and 2 dimensions with and without affine), the running statistics
 * and the count after several training steps against a hand computation,
 * evaluation with the running statistics, the multi-threaded kernels
 * against a plain double-precision reference at sizes that take the
 * parallel paths, and shape errors that name the layer and the shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
#define RTOL 1e-11
#else
#define RTOL 2e-5
#endif

/* Relative norm error ||a - b|| / (||b|| + tiny) over n values. */
static double rel_err(const gg_real *a, const double *b, size_t n) {
    double d = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += b[i] * b[i];
    }
    return sqrt(d) / (sqrt(nb) + 1e-30);
}

static void check_gradients(gg_graph *g, gg_node *loss, const char *what) {
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("%s: relative error %g in %s", what, r.max_rel_err, r.worst);
    print_message("    %-36s max relative error %.2e\n", what, r.max_rel_err);
}

/* ---- batch norm: gradients ---------------------------------------------- */

typedef struct bn_net {
    gg_graph *g;
    gg_node *x, *gamma, *beta, *mean, *var, *count, *y, *loss;
} bn_net;

/* x (a parameter, so it gets a gradient) [dims] -> batch norm -> MSE against
 * a random target. */
static bn_net bn_build(int ndim, const int *dims, int affine, uint64_t seed) {
    bn_net b = {0};
    int C = dims[1];
    b.g = gg_graph_new(dims[0], seed);
    b.x = gg_param(b.g, "x", ndim, dims, GG_INIT_ZEROS, 0);
    gg_node *t = gg_param(b.g, "const_target", ndim, dims, GG_INIT_ZEROS, 0);
    if (affine) {
        b.gamma = gg_param(b.g, "gamma", 1, &C, GG_INIT_ZEROS, 0);
        b.beta = gg_param(b.g, "beta", 1, &C, GG_INIT_ZEROS, 0);
    }
    b.mean = gg_buffer(b.g, "running_mean", 1, &C, 0, 0);
    b.var = gg_buffer(b.g, "running_var", 1, &C, 1, 0);
    b.count = gg_buffer(b.g, "num_batches_tracked", 1, (int[]){1}, 0, 1);
    b.y = gg_batch_norm(b.g, b.x, b.gamma, b.beta, b.mean, b.var, b.count, 0.1, 1e-5);
    b.loss = gg_mse_loss(b.g, b.y, t);
    assert_int_equal(gg_graph_build(b.g, NULL), GG_OK);
    gg_test_fill(b.x->out->x, b.x->out->len, seed, -2, 3);
    gg_test_fill(t->out->x, t->out->len, seed + 1, -1, 1);
    if (affine) {
        gg_test_fill(b.gamma->out->x, (size_t)C, seed + 2, 0.5, 1.5);
        gg_test_fill(b.beta->out->x, (size_t)C, seed + 3, -0.5, 0.5);
    }
    return b;
}

static void bn_check(int ndim, const int *dims, int affine, int training, const char *what) {
    bn_net b = bn_build(ndim, dims, affine, 11 + (uint64_t)ndim * 7 + (uint64_t)affine);
    if (!training) {
        int C = dims[1];
        gg_test_fill(b.mean->out->x, (size_t)C, 5, -1, 1);
        gg_test_fill(b.var->out->x, (size_t)C, 6, 0.5, 2);
        gg_graph_set_training(b.g, 0);
    }
    check_gradients(b.g, b.loss, what);
    if (!training) assert_near(b.count->out->x[0], 0, 0); /* evaluation does not count */
    gg_graph_free(b.g);
}

static void test_batch_norm_dense_training_gradients(void **s) {
    (void)s;
    bn_check(2, (int[]){6, 5}, 1, 1, "batch norm [6, 5] affine");
    bn_check(2, (int[]){6, 5}, 0, 1, "batch norm [6, 5] no affine");
}

static void test_batch_norm_conv_training_gradients(void **s) {
    (void)s;
    bn_check(4, (int[]){3, 4, 3, 5}, 1, 1, "batch norm [3, 4, 3, 5] affine");
    bn_check(4, (int[]){3, 4, 3, 5}, 0, 1, "batch norm [3, 4, 3, 5] no affine");
    bn_check(3, (int[]){4, 3, 5}, 1, 1, "batch norm [4, 3, 5] (1d) affine");
}

static void test_batch_norm_eval_gradients(void **s) {
    (void)s;
    bn_check(2, (int[]){6, 5}, 1, 0, "batch norm eval [6, 5] affine");
    bn_check(4, (int[]){3, 4, 3, 5}, 1, 0, "batch norm eval [3, 4, 3, 5] affine");
    bn_check(4, (int[]){3, 4, 2, 2}, 0, 0, "batch norm eval [3, 4, 2, 2] no affine");
}

/* Only some of the affine parameters: gamma alone and beta alone. */
static void test_batch_norm_gamma_or_beta_alone(void **s) {
    (void)s;
    for (int which = 0; which < 2; which++) {
        int dims[2] = {5, 3}, C = 3;
        gg_graph *g = gg_graph_new(5, 3);
        gg_node *x = gg_param(g, "x", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *t = gg_param(g, "const_target", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *p = gg_param(g, which ? "beta" : "gamma", 1, &C, GG_INIT_ZEROS, 0);
        gg_node *m = gg_buffer(g, "m", 1, &C, 0, 0), *v = gg_buffer(g, "v", 1, &C, 1, 0);
        gg_node *y = gg_batch_norm(g, x, which ? NULL : p, which ? p : NULL, m, v, NULL, 0.1,
                                   1e-5);
        gg_node *loss = gg_mse_loss(g, y, t);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(x->out->x, x->out->len, 1, -1, 1);
        gg_test_fill(t->out->x, t->out->len, 2, -1, 1);
        gg_test_fill(p->out->x, p->out->len, 3, 0.5, 1.5);
        check_gradients(g, loss, which ? "batch norm beta only" : "batch norm gamma only");
        gg_graph_forward(g);
        /* gamma alone: y = xhat gamma, zero mean per channel; beta alone: mean beta. */
        for (int c = 0; c < C; c++) {
            double sum = 0;
            for (int i = 0; i < 5; i++) sum += y->out->x[i * C + c];
            assert_near(sum / 5, which ? p->out->x[c] : 0, 1e-5);
        }
        gg_graph_free(g);
    }
}

/* A batched input through a linear layer into batch norm, at a batch
 * smaller than the maximum: the gradient reaches W through batch norm's dx. */
static void test_batch_norm_batched_input_gradients(void **s) {
    (void)s;
    int C = 5;
    gg_graph *g = gg_graph_new(9, 4);
    gg_node *x = gg_input(g, "x", 1, (int[]){4});
    gg_node *w = gg_param(g, "w", 2, (int[]){C, 4}, GG_INIT_ZEROS, 0);
    gg_node *ga = gg_param(g, "gamma", 1, &C, GG_INIT_ZEROS, 0);
    gg_node *be = gg_param(g, "beta", 1, &C, GG_INIT_ZEROS, 0);
    gg_node *m = gg_buffer(g, "m", 1, &C, 0, 0), *v = gg_buffer(g, "v", 1, &C, 1, 0);
    gg_node *y = gg_batch_norm(g, gg_linear(g, x, w, NULL), ga, be, m, v, NULL, 0.1, 1e-5);
    gg_node *t = gg_input(g, "t", 1, &C);
    gg_node *loss = gg_mse_loss(g, gg_tanh(g, y), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_graph_set_batch(g, 7, NULL), GG_OK);
    gg_test_fill(x->out->x, 7 * 4, 1, -1, 1);
    gg_test_fill(t->out->x, 7 * (size_t)C, 2, -1, 1);
    gg_test_fill(w->out->x, w->out->len, 3, -1, 1);
    gg_test_fill(ga->out->x, (size_t)C, 4, 0.5, 1.5);
    gg_test_fill(be->out->x, (size_t)C, 5, -0.5, 0.5);
    check_gradients(g, loss, "linear -> batch norm, batch 7 of 9");
    gg_graph_free(g);
}

/* ---- batch norm: running statistics ---------------------------------------- */

/* Per-channel batch mean and biased variance of x [N, C, S], in double. */
static void ref_stats(const gg_real *x, int N, int C, int S, double *mean, double *var) {
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < S; k++) s += x[((size_t)i * C + c) * S + k];
        double m = s / (N * S);
        for (int i = 0; i < N; i++)
            for (int k = 0; k < S; k++) {
                double d = x[((size_t)i * C + c) * S + k] - m;
                q += d * d;
            }
        mean[c] = m;
        var[c] = q / (N * S);
    }
}

static void test_batch_norm_running_statistics(void **s) {
    (void)s;
    enum { N = 4, C = 3, H = 2, W = 3, S = H * W, STEPS = 3 };
    const double mom = 0.2, eps = 1e-3;
    gg_graph *g = gg_graph_new(N, 1);
    gg_node *x = gg_input(g, "x", 3, (int[]){C, H, W});
    gg_node *ga = gg_param(g, "gamma", 1, (int[]){C}, GG_INIT_ONES, 0);
    gg_node *be = gg_param(g, "beta", 1, (int[]){C}, GG_INIT_ZEROS, 0);
    gg_node *m = gg_buffer(g, "rm", 1, (int[]){C}, 0, 0);
    gg_node *v = gg_buffer(g, "rv", 1, (int[]){C}, 1, 0);
    gg_node *cnt = gg_buffer(g, "count", 1, (int[]){1}, 0, 1);
    gg_node *y = gg_batch_norm(g, x, ga, be, m, v, cnt, mom, eps);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(ga->out->x, C, 9, 0.5, 1.5);
    gg_test_fill(be->out->x, C, 10, -1, 1);
    double rm[C] = {0, 0, 0}, rv[C] = {1, 1, 1}, mean[C], var[C];
    for (int step = 0; step < STEPS; step++) {
        gg_test_fill(x->out->x, x->out->len, 100 + (uint64_t)step, -2 + step, 3 + 2 * step);
        gg_graph_forward(g);
        ref_stats(x->out->x, N, C, S, mean, var);
        for (int c = 0; c < C; c++) {
            rm[c] = (1 - mom) * rm[c] + mom * mean[c];
            rv[c] = (1 - mom) * rv[c] + mom * var[c] * (N * S) / (N * S - 1.0);
            assert_near(m->out->x[c], rm[c], 1e-6 * (1 + fabs(rm[c])));
            assert_near(v->out->x[c], rv[c], 1e-6 * (1 + fabs(rv[c])));
            /* The output uses the batch statistics with the biased variance. */
            for (int i = 0; i < N; i++)
                for (int k = 0; k < S; k++) {
                    size_t j = ((size_t)i * C + c) * S + k;
                    double want = (x->out->x[j] - mean[c]) / sqrt(var[c] + eps) * ga->out->x[c] +
                                  be->out->x[c];
                    assert_near(y->out->x[j], want, 1e-5);
                }
        }
        assert_near(cnt->out->x[0], step + 1, 0);
    }
    /* Evaluation: running statistics, nothing updated, nothing counted. */
    gg_graph_set_training(g, 0);
    gg_test_fill(x->out->x, x->out->len, 999, -5, 5);
    gg_graph_forward(g);
    for (int c = 0; c < C; c++) {
        assert_near(m->out->x[c], rm[c], 1e-6 * (1 + fabs(rm[c])));
        assert_near(v->out->x[c], rv[c], 1e-6 * (1 + fabs(rv[c])));
        for (int i = 0; i < N * S; i++) {
            size_t j = ((size_t)(i / S) * C + c) * S + (size_t)(i % S);
            double want = (x->out->x[j] - rm[c]) / sqrt(rv[c] + eps) * ga->out->x[c] + be->out->x[c];
            assert_near(y->out->x[j], want, 1e-5);
        }
    }
    assert_near(cnt->out->x[0], STEPS, 0);
    gg_graph_free(g);
}

/* Momentum 0 keeps the running statistics; 1 replaces them. A batch of one
 * dense row keeps everything finite (the output is beta). A mean of 1e4
 * with a spread of 1 keeps its variance. No running statistics: batch
 * statistics in evaluation too. */
static void test_batch_norm_edge_cases(void **s) {
    (void)s;
    int C = 4;
    for (int k = 0; k < 2; k++) {
        double mom = k;
        gg_graph *g = gg_graph_new(6, 1);
        gg_node *x = gg_input(g, "x", 1, &C);
        gg_node *be = gg_param(g, "beta", 1, &C, GG_INIT_ZEROS, 0);
        gg_node *m = gg_buffer(g, "rm", 1, &C, 0.5, 0), *v = gg_buffer(g, "rv", 1, &C, 2, 0);
        gg_node *y = gg_batch_norm(g, x, NULL, be, m, v, NULL, mom, 1e-5);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(x->out->x, x->out->len, 3, -1, 1);
        gg_test_fill(be->out->x, (size_t)C, 4, -1, 1);
        gg_graph_forward(g);
        double mean[4], var[4];
        ref_stats(x->out->x, 6, C, 1, mean, var);
        for (int c = 0; c < C; c++) {
            assert_near(m->out->x[c], k ? mean[c] : 0.5, 1e-6);
            assert_near(v->out->x[c], k ? var[c] * 6 / 5 : 2, 1e-6);
        }
        assert_int_equal(gg_graph_set_batch(g, 1, NULL), GG_OK);
        gg_graph_forward(g);
        for (int c = 0; c < C; c++) {
            /* x scale - mean scale with scale = 1 / sqrt(eps): float cancellation */
            assert_near(y->out->x[c], be->out->x[c], 1e-4);
            assert_true(isfinite(m->out->x[c]) && isfinite(v->out->x[c]));
        }
        gg_graph_free(g);
    }
    /* A mean far from zero against a spread of one: the variance survives. */
    {
        gg_graph *g = gg_graph_new(64, 1);
        gg_node *x = gg_input(g, "x", 3, (int[]){2, 4, 4});
        gg_node *m = gg_buffer(g, "rm", 1, (int[]){2}, 0, 0), *v = gg_buffer(g, "rv", 1, (int[]){2}, 0, 0);
        gg_node *y = gg_batch_norm(g, x, NULL, NULL, m, v, NULL, 1.0, 1e-5);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(x->out->x, x->out->len, 5, 1e4 - 1, 1e4 + 1);
        gg_graph_forward(g);
        double mean[2], var[2];
        ref_stats(x->out->x, 64, 2, 16, mean, var);
        for (int c = 0; c < 2; c++) {
            assert_near(m->out->x[c], mean[c], 1e-3);
            assert_near(v->out->x[c], var[c] * 1024 / 1023, 1e-5 * var[c]);
        }
        double s2 = 0;
        for (size_t i = 0; i < y->out->len; i++) s2 += (double)y->out->x[i] * y->out->x[i];
        assert_near(s2 / (double)y->out->len, 1, 1e-3);
        gg_graph_free(g);
    }
    /* Without running statistics (track_running_stats = False). */
    gg_graph *g = gg_graph_new(5, 1);
    gg_node *x = gg_input(g, "x", 1, &C);
    gg_node *y = gg_batch_norm(g, x, NULL, NULL, NULL, NULL, NULL, 0.1, 1e-5);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(x->out->x, x->out->len, 3, 2, 5);
    gg_graph_set_training(g, 0);
    gg_graph_forward(g);
    double mean[4], var[4];
    ref_stats(x->out->x, 5, C, 1, mean, var);
    for (int i = 0; i < 5 * C; i++)
        assert_near(y->out->x[i], (x->out->x[i] - mean[i % C]) / sqrt(var[i % C] + 1e-5), 1e-5);
    gg_graph_free(g);
}

/* ---- batch norm: the parallel kernels against a double reference ------------ */

/* y and dx of training-mode batch norm over x [N, C, S] with dy, in double. */
static void ref_bn_train(const gg_real *x, const gg_real *dy, const gg_real *gamma,
                         const gg_real *beta, int N, int C, int S, double eps, double *y,
                         double *dx, double *dg, double *db) {
    double *mean = malloc((size_t)C * sizeof *mean), *var = malloc((size_t)C * sizeof *var);
    ref_stats(x, N, C, S, mean, var);
    double M = (double)N * S;
    for (int c = 0; c < C; c++) {
        double is = 1 / sqrt(var[c] + eps), sdy = 0, dot = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < S; k++) {
                size_t j = ((size_t)i * C + c) * S + k;
                double xh = (x[j] - mean[c]) * is;
                y[j] = xh * gamma[c] + beta[c];
                sdy += dy[j];
                dot += dy[j] * xh;
            }
        dg[c] = dot;
        db[c] = sdy;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < S; k++) {
                size_t j = ((size_t)i * C + c) * S + k;
                double xh = (x[j] - mean[c]) * is;
                dx[j] = gamma[c] * is * (dy[j] - sdy / M - xh * dot / M);
            }
    }
    free(mean);
    free(var);
}

/* A batch-norm graph whose dy is set by hand: x, gamma, beta parameters.
 * Returns y, dx, dgamma and dbeta one after the other (malloc'd). */
static gg_real *bn_parallel_case(int N, int C, int H, int W, int threads) {
    int ndim = H ? 4 : 2, dims[4] = {N, C, H, W};
    int S = H ? H * W : 1;
    size_t len = (size_t)N * C * S;
    gg_graph *g = gg_graph_new(N, 1);
    gg_node *x = gg_param(g, "x", ndim, dims, GG_INIT_ZEROS, 0);
    gg_node *ga = gg_param(g, "gamma", 1, &C, GG_INIT_ZEROS, 0);
    gg_node *be = gg_param(g, "beta", 1, &C, GG_INIT_ZEROS, 0);
    gg_node *m = gg_buffer(g, "rm", 1, &C, 0, 0), *v = gg_buffer(g, "rv", 1, &C, 1, 0);
    gg_node *y = gg_batch_norm(g, x, ga, be, m, v, NULL, 0.1, 1e-5);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    /* An offset mean: the two-pass variance keeps it accurate. */
    gg_test_fill(x->out->x, len, 7, 10, 14);
    gg_test_fill(ga->out->x, (size_t)C, 8, 0.5, 1.5);
    gg_test_fill(be->out->x, (size_t)C, 9, -1, 1);
    gg_real *dy = malloc(len * sizeof *dy);
    gg_test_fill(dy, len, 10, -1, 1);
    int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    gg_graph_forward(g);
    memset(g->grad, 0, g->param_len * sizeof(gg_real));
    memcpy(y->out->dx, dy, len * sizeof *dy); /* dy by hand, then the op's backward alone */
    y->op->backward(y);
    omp_set_num_threads(keep);
    double *ry = malloc(len * sizeof *ry), *rdx = malloc(len * sizeof *rdx);
    double *rdg = malloc((size_t)C * sizeof *rdg), *rdb = malloc((size_t)C * sizeof *rdb);
    ref_bn_train(x->out->x, dy, ga->out->x, be->out->x, N, C, S, 1e-5, ry, rdx, rdg, rdb);
    double ey = rel_err(y->out->x, ry, len), edx = rel_err(x->out->dx, rdx, len);
    double edg = rel_err(ga->out->dx, rdg, (size_t)C), edb = rel_err(be->out->dx, rdb, (size_t)C);
    print_message("    batch norm [%d, %d, %d, %d] %d threads: y %.1e dx %.1e dgamma %.1e "
                  "dbeta %.1e\n", N, C, H, W, threads, ey, edx, edg, edb);
    assert_true(ey < RTOL && edx < 50 * RTOL && edg < 50 * RTOL && edb < RTOL);
    gg_real *res = malloc((2 * len + 2 * (size_t)C) * sizeof *res);
    memcpy(res, y->out->x, len * sizeof *res);
    memcpy(res + len, x->out->dx, len * sizeof *res);
    memcpy(res + 2 * len, ga->out->dx, (size_t)C * sizeof *res);
    memcpy(res + 2 * len + C, be->out->dx, (size_t)C * sizeof *res);
    free(dy);
    free(ry);
    free(rdx);
    free(rdg);
    free(rdb);
    gg_graph_free(g);
    return res;
}

/* ... and bitwise the same with one thread and two. */
static void test_batch_norm_parallel_kernels_match_reference(void **s) {
    (void)s;
    const int cases[3][4] = {
        {256, 160, 0, 0}, /* 40960 elements: threaded [N, C] */
        {16, 8, 16, 16},  /* 32768: threaded over channels */
        {7, 37, 0, 0},    /* small, channels not a multiple of 16 */
    };
    for (int k = 0; k < 3; k++) {
        const int *c = cases[k];
        size_t len = (size_t)c[0] * c[1] * (c[2] ? c[2] * c[3] : 1);
        gg_real *one = bn_parallel_case(c[0], c[1], c[2], c[3], 1);
        gg_real *two = bn_parallel_case(c[0], c[1], c[2], c[3], 2);
        assert_memory_equal(one, two, (2 * len + 2 * (size_t)c[1]) * sizeof *one);
        free(one);
        free(two);
    }
}

/* ---- layer norm -------------------------------------------------------------- */

static void ln_check(int dims, int affine, uint64_t seed, const char *what) {
    int shape[3] = {4, 3, 5};
    gg_graph *g = gg_graph_new(4, seed);
    gg_node *x = gg_param(g, "x", 3, shape, GG_INIT_ZEROS, 0);
    gg_node *t = gg_param(g, "const_target", 3, shape, GG_INIT_ZEROS, 0);
    gg_node *ga = NULL, *be = NULL;
    if (affine) {
        ga = gg_param(g, "gamma", dims, shape + 3 - dims, GG_INIT_ZEROS, 0);
        be = gg_param(g, "beta", dims, shape + 3 - dims, GG_INIT_ZEROS, 0);
    }
    gg_node *y = gg_layer_norm(g, x, ga, be, dims, 1e-5);
    gg_node *loss = gg_mse_loss(g, y, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(x->out->x, x->out->len, seed, -2, 3);
    gg_test_fill(t->out->x, t->out->len, seed + 1, -1, 1);
    if (affine) {
        gg_test_fill(ga->out->x, ga->out->len, seed + 2, 0.5, 1.5);
        gg_test_fill(be->out->x, be->out->len, seed + 3, -0.5, 0.5);
    }
    check_gradients(g, loss, what);
    /* Each row normalised: mean beta-free zero, biased variance one. */
    if (!affine) {
        gg_graph_forward(g);
        size_t D = dims == 1 ? 5 : 15;
        for (size_t r = 0; r < 60 / D; r++) {
            double s1 = 0, s2 = 0;
            for (size_t i = 0; i < D; i++) s1 += y->out->x[r * D + i];
            for (size_t i = 0; i < D; i++) s2 += y->out->x[r * D + i] * y->out->x[r * D + i];
            assert_near(s1 / D, 0, 1e-6);
            assert_near(s2 / D, 1, 2e-4); /* 1 - eps / var */
        }
    }
    gg_graph_free(g);
}

static void test_layer_norm_gradients(void **s) {
    (void)s;
    ln_check(1, 1, 21, "layer norm dims 1 affine");
    ln_check(1, 0, 22, "layer norm dims 1 no affine");
    ln_check(2, 1, 23, "layer norm dims 2 affine");
    ln_check(2, 0, 24, "layer norm dims 2 no affine");
}

/* Large enough for the threaded loops, against a double reference, and
 * bitwise the same whatever the thread count. */
static void test_layer_norm_parallel_kernels_match_reference(void **s) {
    (void)s;
    enum { N = 64, T = 8, D = 96 };
    size_t len = (size_t)N * T * D, rows = (size_t)N * T;
    gg_real *out[2][4];
    for (int threads = 1; threads <= 2; threads++) {
        gg_graph *g = gg_graph_new(N, 1);
        gg_node *x = gg_param(g, "x", 3, (int[]){N, T, D}, GG_INIT_ZEROS, 0);
        gg_node *ga = gg_param(g, "gamma", 1, (int[]){D}, GG_INIT_ZEROS, 0);
        gg_node *be = gg_param(g, "beta", 1, (int[]){D}, GG_INIT_ZEROS, 0);
        gg_node *y = gg_layer_norm(g, x, ga, be, 1, 1e-5);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(x->out->x, len, 1, -3, 7);
        gg_test_fill(ga->out->x, D, 2, 0.5, 1.5);
        gg_test_fill(be->out->x, D, 3, -1, 1);
        gg_real *dy = malloc(len * sizeof *dy);
        gg_test_fill(dy, len, 4, -1, 1);
        int keep = omp_get_max_threads();
        omp_set_num_threads(threads);
        gg_graph_forward(g);
        memset(g->grad, 0, g->param_len * sizeof(gg_real));
        memcpy(y->out->dx, dy, len * sizeof *dy);
        y->op->backward(y);
        omp_set_num_threads(keep);
        double *ry = calloc(len, sizeof *ry), *rdx = calloc(len, sizeof *rdx);
        double rdg[D] = {0}, rdb[D] = {0};
        const gg_real *xv = x->out->x, *gv = ga->out->x, *bv = be->out->x;
        for (size_t r = 0; r < rows; r++) {
            double mu = 0, var = 0, s1 = 0, s2 = 0;
            for (int i = 0; i < D; i++) mu += xv[r * D + i];
            mu /= D;
            for (int i = 0; i < D; i++) var += (xv[r * D + i] - mu) * (xv[r * D + i] - mu);
            double rs = 1 / sqrt(var / D + 1e-5);
            for (int i = 0; i < D; i++) {
                double xh = (xv[r * D + i] - mu) * rs, gd = dy[r * D + i] * gv[i];
                ry[r * D + i] = xh * gv[i] + bv[i];
                s1 += gd;
                s2 += gd * xh;
                rdg[i] += dy[r * D + i] * xh;
                rdb[i] += dy[r * D + i];
            }
            for (int i = 0; i < D; i++) {
                double xh = (xv[r * D + i] - mu) * rs;
                rdx[r * D + i] = rs * (dy[r * D + i] * gv[i] - s1 / D - xh * s2 / D);
            }
        }
        double ey = rel_err(y->out->x, ry, len), edx = rel_err(x->out->dx, rdx, len);
        double edg = rel_err(ga->out->dx, rdg, D), edb = rel_err(be->out->dx, rdb, D);
        print_message("    layer norm [%d, %d, %d] %d threads: y %.1e dx %.1e dgamma %.1e "
                      "dbeta %.1e\n", N, T, D, threads, ey, edx, edg, edb);
        assert_true(ey < RTOL && edx < 50 * RTOL && edg < 50 * RTOL && edb < 50 * RTOL);
        gg_real *keep_out[4] = {y->out->x, x->out->dx, ga->out->dx, be->out->dx};
        size_t lens[4] = {len, len, D, D};
        for (int k = 0; k < 4; k++) {
            out[threads - 1][k] = malloc(lens[k] * sizeof(gg_real));
            memcpy(out[threads - 1][k], keep_out[k], lens[k] * sizeof(gg_real));
        }
        free(dy);
        free(ry);
        free(rdx);
        gg_graph_free(g);
    }
    size_t lens[4] = {len, len, D, D};
    for (int k = 0; k < 4; k++) {
        assert_memory_equal(out[0][k], out[1][k], lens[k] * sizeof(gg_real));
        free(out[0][k]);
        free(out[1][k]);
    }
}

/* ---- shape errors -------------------------------------------------------------- */

static void expect_error(gg_graph *g, gg_status code, const char *const *needles) {
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), code);
    for (const char *const *p = needles; *p; p++)
        if (!strstr(err.msg, *p)) fail_msg("'%s' not in the message: %s", *p, err.msg);
    print_message("    %s\n", err.msg);
    gg_graph_free(g);
}

static void test_shape_errors_name_the_layer_and_shapes(void **s) {
    (void)s;
    int C = 8, bad = 5;
    /* gamma of the wrong size */
    gg_graph *g = gg_graph_new(4, 1);
    gg_node *x = gg_input(g, "x", 3, (int[]){C, 4, 4});
    gg_node *ga = gg_param(g, "layers.3.weight", 1, &bad, GG_INIT_ONES, 0);
    ga->layer = 3;
    gg_node *m = gg_buffer(g, "layers.3.running_mean", 1, &C, 0, 0);
    gg_node *v = gg_buffer(g, "layers.3.running_var", 1, &C, 1, 0);
    assert_null(gg_batch_norm(g, x, ga, NULL, m, v, NULL, 0.1, 1e-5));
    expect_error(g, GG_ERR_SHAPE,
                 (const char *[]){"layers.3", "batch_norm", "layers.3.weight", "[5]", "[8]",
                                  "[8, 4, 4]", NULL});
    /* running_var of the wrong size, the layer taken from the buffer */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 1, &C);
    m = gg_buffer(g, "layers.1.running_mean", 1, &C, 0, 0);
    v = gg_buffer(g, "layers.1.running_var", 1, &bad, 1, 0);
    m->layer = 1;
    assert_null(gg_batch_norm(g, x, NULL, NULL, m, v, NULL, 0.1, 1e-5));
    expect_error(g, GG_ERR_SHAPE,
                 (const char *[]){"layers.1 (batch_norm)", "running_var", "[5]", "[8]", NULL});
    /* a parameter where a buffer belongs */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 1, &C);
    m = gg_param(g, "rm", 1, &C, GG_INIT_ZEROS, 0);
    v = gg_buffer(g, "rv", 1, &C, 1, 0);
    assert_null(gg_batch_norm(g, x, NULL, NULL, m, v, NULL, 0.1, 1e-5));
    expect_error(g, GG_ERR_ARG, (const char *[]){"running_mean", "buffer", NULL});
    /* a flat input of one dimension */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 0, NULL);
    assert_null(gg_batch_norm(g, x, NULL, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    expect_error(g, GG_ERR_SHAPE, (const char *[]){"batch_norm", "[N, C]", NULL});
    /* bad eps and momentum */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 1, &C);
    assert_null(gg_batch_norm(g, x, NULL, NULL, NULL, NULL, NULL, 0.1, 0));
    expect_error(g, GG_ERR_ARG, (const char *[]){"eps", NULL});
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 1, &C);
    assert_null(gg_batch_norm(g, x, NULL, NULL, NULL, NULL, NULL, 1.5, 1e-5));
    expect_error(g, GG_ERR_ARG, (const char *[]){"momentum", NULL});
    /* layer norm: beta of the wrong shape, dims beyond the sample */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 2, (int[]){6, 7});
    gg_node *be = gg_param(g, "layers.2.bias", 2, (int[]){7, 6}, GG_INIT_ZEROS, 0);
    be->layer = 2;
    assert_null(gg_layer_norm(g, x, NULL, be, 2, 1e-5));
    expect_error(g, GG_ERR_SHAPE,
                 (const char *[]){"layers.2 (layer_norm)", "bias", "[7, 6]", "[6, 7]", NULL});
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 2, (int[]){6, 7});
    assert_null(gg_layer_norm(g, x, NULL, NULL, 3, 1e-5));
    expect_error(g, GG_ERR_SHAPE, (const char *[]){"layer_norm", "last 3", "[6, 7]", NULL});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_dense_training_gradients),
        cmocka_unit_test(test_batch_norm_conv_training_gradients),
        cmocka_unit_test(test_batch_norm_eval_gradients),
        cmocka_unit_test(test_batch_norm_gamma_or_beta_alone),
        cmocka_unit_test(test_batch_norm_batched_input_gradients),
        cmocka_unit_test(test_batch_norm_running_statistics),
        cmocka_unit_test(test_batch_norm_edge_cases),
        cmocka_unit_test(test_batch_norm_parallel_kernels_match_reference),
        cmocka_unit_test(test_layer_norm_gradients),
        cmocka_unit_test(test_layer_norm_parallel_kernels_match_reference),
        cmocka_unit_test(test_shape_errors_name_the_layer_and_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
