/* conv2d (src/ops/conv.c): finite-difference checks of dx, dW and db over
 * strides, paddings, dilations, rectangular kernels and the 1x1 shortcut;
 * forward and backward against a naive loop for batched inputs split in
 * uneven slices; hand-computed values; shape errors that name what is
 * needed; the same bytes twice, at 1 or 2 threads, and from a graph built
 * at 1 thread; a graph built for a batch of 1000 running a batch of 64
 * with scratch that does not grow. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

typedef struct conv_case {
    int N, C, H, W, O, kh, kw;
    int stride[2], pad[2], dil[2];
    int bias;
} conv_case;

/* x (a parameter [N, C, H, W], so it gets a gradient) -> conv2d -> MSE
 * against a constant random target. */
static void gradcheck_conv(const conv_case *k, uint64_t seed) {
    gg_graph *g = gg_graph_new(1, seed);
    gg_node *x = gg_param(g, "x", 4, (int[]){k->N, k->C, k->H, k->W}, GG_INIT_ZEROS, 0);
    gg_node *w = gg_param(g, "w", 4, (int[]){k->O, k->C, k->kh, k->kw}, GG_INIT_ZEROS, 0);
    gg_node *b = k->bias ? gg_param(g, "b", 1, &k->O, GG_INIT_ZEROS, 0) : NULL;
    gg_node *y = gg_conv2d(g, x, w, b, k->stride, k->pad, k->dil);
    assert_non_null(y);
    int ydims[4];
    for (int i = 0; i < 4; i++) ydims[i] = gg_node_dim(y, i);
    gg_node *t = gg_param(g, "const_target", 4, ydims, GG_INIT_ZEROS, 0);
    gg_node *loss = gg_mse_loss(g, y, t);
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), GG_OK);
    gg_test_fill(gg_node_data(x), gg_node_len(x), seed, -1, 1);
    gg_test_fill(gg_node_data(w), gg_node_len(w), seed + 1, -1, 1);
    if (b) gg_test_fill(gg_node_data(b), gg_node_len(b), seed + 2, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), seed + 3, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    print_message("conv2d N%d C%d %dx%d O%d k%dx%d s%d,%d p%d,%d d%d,%d bias %d: "
                  "rel err %.3g (%s)\n",
                  k->N, k->C, k->H, k->W, k->O, k->kh, k->kw, k->stride[0], k->stride[1],
                  k->pad[0], k->pad[1], k->dil[0], k->dil[1], k->bias, r.max_rel_err, r.worst);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_conv2d_gradients_match_finite_differences(void **s) {
    (void)s;
    const conv_case cases[] = {
        /* 3x3, padding 1, bias: the CNN's layer */
        {2, 3, 6, 5, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1},
        /* stride 2, padding 1, rectangular kernel, no bias */
        {2, 2, 7, 6, 3, 3, 2, {2, 2}, {1, 1}, {1, 1}, 0},
        /* dilation 2 with padding 2 x 1, stride 1 x 2, bias */
        {3, 2, 7, 7, 2, 3, 3, {1, 2}, {2, 1}, {2, 2}, 1},
        /* everything rectangular: kernel 2x4, stride 2x3, dilation 1x2, no padding */
        {2, 3, 8, 11, 2, 2, 4, {2, 3}, {0, 0}, {1, 2}, 0},
        /* 1x1 kernel, stride 1, no padding: the shortcut without columns */
        {3, 4, 3, 5, 3, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1},
        /* 1x1 kernel with stride 2 and padding 1: the general path */
        {2, 2, 5, 4, 2, 1, 1, {2, 2}, {1, 1}, {1, 1}, 1},
        /* kernel as large as the padded input: a 1x1 output */
        {2, 2, 3, 3, 2, 5, 5, {1, 1}, {1, 1}, {1, 1}, 1},
        /* stride 1, outputs as wide as the input (the shifted-plane path):
         * dilation 2 with padding 2; kernel 3x5 with padding [0, 2]; a
         * kernel wider than the input; a 1-wide kernel in width */
        {2, 2, 6, 7, 3, 3, 3, {1, 1}, {2, 2}, {2, 2}, 1},
        {2, 3, 6, 5, 2, 3, 5, {1, 1}, {0, 2}, {1, 1}, 0},
        {2, 2, 4, 3, 2, 3, 5, {1, 1}, {1, 2}, {1, 1}, 1},
        {2, 2, 5, 4, 3, 3, 1, {1, 1}, {1, 0}, {1, 1}, 1},
        /* one sample, one channel in and out */
        {1, 1, 5, 5, 1, 2, 2, {1, 1}, {0, 0}, {1, 1}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gradcheck_conv(&cases[i], 10 + i);
}

/* ---- against a naive loop ------------------------------------------------------- */

static void naive_conv(const conv_case *k, int Ho, int Wo, const gg_real *x, const gg_real *w,
                       const gg_real *b, double *y) {
    for (int n = 0; n < k->N; n++)
        for (int o = 0; o < k->O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = b ? b[o] : 0;
                    for (int c = 0; c < k->C; c++)
                        for (int i = 0; i < k->kh; i++)
                            for (int j = 0; j < k->kw; j++) {
                                int ih = oh * k->stride[0] - k->pad[0] + i * k->dil[0];
                                int iw = ow * k->stride[1] - k->pad[1] + j * k->dil[1];
                                if (ih < 0 || ih >= k->H || iw < 0 || iw >= k->W) continue;
                                s += (double)x[((n * k->C + c) * k->H + ih) * k->W + iw] *
                                     w[((o * k->C + c) * k->kh + i) * k->kw + j];
                            }
                    y[((n * k->O + o) * Ho + oh) * Wo + ow] = s;
                }
}

/* Backward of the naive loop for a given dy: dx, dW, db. */
static void naive_conv_backward(const conv_case *k, int Ho, int Wo, const gg_real *x,
                                const gg_real *w, const gg_real *dy, double *dx, double *dw,
                                double *db) {
    for (int n = 0; n < k->N; n++)
        for (int o = 0; o < k->O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double d = dy[((n * k->O + o) * Ho + oh) * Wo + ow];
                    db[o] += d;
                    for (int c = 0; c < k->C; c++)
                        for (int i = 0; i < k->kh; i++)
                            for (int j = 0; j < k->kw; j++) {
                                int ih = oh * k->stride[0] - k->pad[0] + i * k->dil[0];
                                int iw = ow * k->stride[1] - k->pad[1] + j * k->dil[1];
                                if (ih < 0 || ih >= k->H || iw < 0 || iw >= k->W) continue;
                                size_t xi = (size_t)((n * k->C + c) * k->H + ih) * k->W + iw;
                                size_t wi = (size_t)((o * k->C + c) * k->kh + i) * k->kw + j;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                }
}

#ifdef GG_FLOAT64
#define NAIVE_TOL 1e-12
#else
#define NAIVE_TOL 2e-5
#endif

static double rel_diff(const gg_real *a, const double *b, size_t n) {
    double d = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += b[i] * b[i];
    }
    return sqrt(d) / (sqrt(nb) + 1e-30);
}

/* A batched input, max batch 9, run at a batch of k->N (uneven among the
 * slices): y, dW and db after a backward sweep, and dx from the op's
 * backward called with a gradient buffer lent to the input. */
static void compare_naive(const conv_case *k, int max_batch, uint64_t seed) {
    gg_graph *g = gg_graph_new(max_batch, seed);
    gg_node *xin = gg_input(g, "x", 3, (int[]){k->C, k->H, k->W});
    gg_node *w = gg_param(g, "w", 4, (int[]){k->O, k->C, k->kh, k->kw}, GG_INIT_ZEROS, 0);
    gg_node *b = k->bias ? gg_param(g, "b", 1, &k->O, GG_INIT_ZEROS, 0) : NULL;
    gg_node *y = gg_conv2d(g, xin, w, b, k->stride, k->pad, k->dil);
    assert_non_null(y);
    gg_node *t = gg_input(g, "t", 3, (int[]){gg_node_dim(y, 1), gg_node_dim(y, 2), gg_node_dim(y, 3)});
    gg_node *loss = gg_mse_loss(g, y, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_graph_set_batch(g, k->N, NULL), GG_OK);
    int Ho = gg_node_dim(y, 2), Wo = gg_node_dim(y, 3);
    gg_test_fill(gg_node_data(xin), gg_node_len(xin), seed, -1, 1);
    gg_test_fill(gg_node_data(w), gg_node_len(w), seed + 1, -1, 1);
    if (b) gg_test_fill(gg_node_data(b), gg_node_len(b), seed + 2, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), seed + 3, -1, 1);
    gg_graph_forward(g);
    gg_graph_backward(g, loss);
    size_t ylen = gg_node_len(y), xlen = gg_node_len(xin), wlen = gg_node_len(w);
    double *ref = calloc(ylen, sizeof *ref), *dx = calloc(xlen, sizeof *dx);
    double *dw = calloc(wlen, sizeof *dw), *db = calloc((size_t)k->O, sizeof *db);
    naive_conv(k, Ho, Wo, gg_node_data(xin), gg_node_data(w), b ? gg_node_data(b) : NULL, ref);
    assert_true(rel_diff(gg_node_data(y), ref, ylen) < NAIVE_TOL);
    /* the input node has no gradient (inputs never do); dy is y's */
    assert_null(gg_node_grad(xin));
    naive_conv_backward(k, Ho, Wo, gg_node_data(xin), gg_node_data(w), gg_node_grad(y), dx, dw,
                        db);
    assert_true(rel_diff(gg_node_grad(w), dw, wlen) < NAIVE_TOL);
    if (b) assert_true(rel_diff(gg_node_grad(b), db, (size_t)k->O) < NAIVE_TOL);
    /* dx: call backward by hand with a gradient buffer for the input */
    gg_real *gx = calloc(xlen, sizeof *gx);
    y->in[0]->dx = gx;
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    y->op->backward(y);
    y->in[0]->dx = NULL;
    assert_true(rel_diff(gx, dx, xlen) < NAIVE_TOL);
    assert_true(rel_diff(gg_node_grad(w), dw, wlen) < NAIVE_TOL);
    free(gx);
    free(ref);
    free(dx);
    free(dw);
    free(db);
    gg_graph_free(g);
}

static void test_conv2d_matches_a_naive_loop_on_batches_in_uneven_slices(void **s) {
    (void)s;
    const conv_case cases[] = {
        {5, 3, 9, 8, 6, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1},
        {7, 2, 10, 9, 5, 3, 2, {2, 1}, {1, 0}, {1, 2}, 0},
        {3, 5, 4, 6, 7, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1},
        {1, 4, 6, 6, 3, 3, 3, {2, 2}, {2, 2}, {2, 2}, 1},
        {6, 3, 8, 9, 4, 5, 3, {1, 1}, {2, 1}, {1, 1}, 1},
        {4, 2, 9, 5, 3, 3, 3, {1, 1}, {3, 2}, {2, 1}, 0},
        {3, 2, 3, 2, 3, 5, 5, {1, 1}, {2, 2}, {1, 1}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_naive(&cases[i], 9, 40 + i);
}

/* ---- exact values ------------------------------------------------------------ */

static void test_conv2d_gives_hand_computed_values(void **s) {
    (void)s;
    /* x = 1..9 in a 3x3 plane, w = [[1, 2], [3, 4]], b = 0.5. */
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_param(g, "x", 4, (int[]){1, 1, 3, 3}, GG_INIT_ZEROS, 0);
    gg_node *w = gg_param(g, "w", 4, (int[]){1, 1, 2, 2}, GG_INIT_ZEROS, 0);
    gg_node *b = gg_param(g, "b", 1, (int[]){1}, GG_INIT_ZEROS, 0);
    gg_node *y = gg_conv2d(g, x, w, b, NULL, NULL, NULL);
    gg_node *z = gg_conv2d(g, x, w, NULL, (int[]){2, 2}, (int[]){1, 1}, NULL);
    gg_node *v = gg_conv2d(g, x, w, NULL, NULL, (int[]){0, 0}, (int[]){2, 2});
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    for (int i = 0; i < 9; i++) gg_node_data(x)[i] = (gg_real)(i + 1);
    for (int i = 0; i < 4; i++) gg_node_data(w)[i] = (gg_real)(i + 1);
    gg_node_data(b)[0] = 0.5;
    gg_graph_forward(g);
    assert_int_equal(gg_node_dim(y, 2), 2);
    assert_int_equal(gg_node_dim(y, 3), 2);
    const double ey[4] = {37.5, 47.5, 67.5, 77.5};
    for (int i = 0; i < 4; i++) assert_near(gg_node_data(y)[i], ey[i], 0);
    /* stride 2, padding 1: windows at -1 and 1 */
    assert_int_equal(gg_node_dim(z, 2), 2);
    const double ez[4] = {4, 18, 36, 77};
    for (int i = 0; i < 4; i++) assert_near(gg_node_data(z)[i], ez[i], 0);
    /* dilation 2: the corners, 1*1 + 2*3 + 3*7 + 4*9 */
    assert_int_equal(gg_node_dim(v, 2), 1);
    assert_int_equal(gg_node_dim(v, 3), 1);
    assert_near(gg_node_data(v)[0], 64, 0);

    /* Backward of y with dy = 1: dW sums each kernel tap's inputs, dx
     * counts the taps over each pixel, db the outputs. */
    memset(gg_graph_param_grad(g), 0, gg_graph_param_len(g) * sizeof(gg_real));
    for (int i = 0; i < 4; i++) gg_node_grad(y)[i] = 1;
    y->op->backward(y);
    const double edw[4] = {12, 16, 24, 28};
    for (int i = 0; i < 4; i++) assert_near(gg_node_grad(w)[i], edw[i], 0);
    const double edx[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
    for (int i = 0; i < 9; i++) assert_near(gg_node_grad(x)[i], edx[i], 0);
    assert_near(gg_node_grad(b)[0], 4, 0);
    /* backward accumulates: a second call doubles everything */
    y->op->backward(y);
    assert_near(gg_node_grad(x)[4], 20, 0);
    assert_near(gg_node_grad(w)[3], 56, 0);
    assert_near(gg_node_grad(b)[0], 8, 0);
    gg_graph_free(g);
}

/* ---- shape errors ---------------------------------------------------------------- */

static void expect_conv_error(int ndim, const int *dims, const int *wdims, const int *stride,
                              const int *pad, const int *dil, gg_status code,
                              const char *const *needles) {
    gg_graph *g = gg_graph_new(4, 0);
    gg_node *x = gg_input(g, "x", ndim, dims);
    gg_node *w = gg_param(g, "w", 4, wdims, GG_INIT_ZEROS, 0);
    assert_null(gg_conv2d(g, x, w, NULL, stride, pad, dil));
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), code);
    print_message("%s\n", err.msg);
    for (int i = 0; needles[i]; i++)
        if (!strstr(err.msg, needles[i])) fail_msg("'%s' not in: %s", needles[i], err.msg);
    gg_graph_free(g);
}

static void test_conv2d_shape_errors_name_the_needed_shape(void **s) {
    (void)s;
    expect_conv_error(1, (int[]){784}, (int[]){8, 1, 3, 3}, NULL, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"conv2d", "needs an image input [C, H, W]", "got [784]",
                                       "set model.input to [1, 28, 28]", NULL});
    expect_conv_error(2, (int[]){3, 5}, (int[]){8, 1, 3, 3}, NULL, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"[C, H, W]", "got [3, 5]", NULL});
    expect_conv_error(3, (int[]){3, 8, 8}, (int[]){8, 1, 3, 3}, NULL, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"weight [8, 1, 3, 3]", "input [3, 8, 8]",
                                       "[filters, 3, kh, kw]", NULL});
    expect_conv_error(3, (int[]){1, 3, 3}, (int[]){8, 1, 5, 5}, NULL, NULL, NULL, GG_ERR_SHAPE,
                      (const char *[]){"kernel 5 larger than the padded input 3", "height",
                                       "[1, 3, 3]", NULL});
    expect_conv_error(3, (int[]){1, 8, 2}, (int[]){8, 1, 3, 5}, NULL, (int[]){0, 1}, NULL,
                      GG_ERR_SHAPE,
                      (const char *[]){"kernel 5 larger than the padded input 4", "width", NULL});
    expect_conv_error(3, (int[]){1, 4, 4}, (int[]){8, 1, 3, 3}, NULL, NULL, (int[]){2, 2},
                      GG_ERR_SHAPE,
                      (const char *[]){"kernel 3 dilated by 2 spans 5", "padded input 4", NULL});
    expect_conv_error(3, (int[]){1, 8, 8}, (int[]){8, 1, 3, 3}, (int[]){0, 1}, NULL, NULL,
                      GG_ERR_ARG, (const char *[]){"stride [0, 1]", NULL});
    expect_conv_error(3, (int[]){1, 8, 8}, (int[]){8, 1, 3, 3}, NULL, (int[]){-1, 0}, NULL,
                      GG_ERR_ARG, (const char *[]){"padding [-1, 0]", NULL});
    /* a bias of the wrong length */
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 3, (int[]){1, 8, 8});
    gg_node *w = gg_param(g, "w", 4, (int[]){8, 1, 3, 3}, GG_INIT_ZEROS, 0);
    gg_node *b = gg_param(g, "b", 1, (int[]){7}, GG_INIT_ZEROS, 0);
    assert_null(gg_conv2d(g, x, w, b, NULL, NULL, NULL));
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "bias [7], needs [8]"));
    gg_graph_free(g);
}

/* ---- determinism and batch independence -------------------------------------------- */

/* The CNN of the benchmark, shrunk: conv-relu-maxpool-conv-relu-maxpool-
 * flatten-linear, MSE against random targets. */
typedef struct cnn {
    gg_graph *g;
    gg_node *x, *t, *loss, *c1, *c2;
} cnn;

static cnn make_cnn(int max_batch) {
    cnn m;
    m.g = gg_graph_new(max_batch, 7);
    gg_graph *g = m.g;
    m.x = gg_input(g, "x", 3, (int[]){1, 12, 12});
    gg_node *w1 = gg_param(g, "w1", 4, (int[]){8, 1, 3, 3}, GG_INIT_HE_UNIFORM, 1);
    gg_node *b1 = gg_param(g, "b1", 1, (int[]){8}, GG_INIT_UNIFORM, 0.1);
    gg_node *w2 = gg_param(g, "w2", 4, (int[]){16, 8, 3, 3}, GG_INIT_HE_UNIFORM, 1);
    gg_node *b2 = gg_param(g, "b2", 1, (int[]){16}, GG_INIT_UNIFORM, 0.1);
    gg_node *w3 = gg_param(g, "w3", 2, (int[]){5, 16 * 9}, GG_INIT_HE_UNIFORM, 1);
    m.c1 = gg_conv2d(g, m.x, w1, b1, NULL, (int[]){1, 1}, NULL);
    gg_node *h = gg_max_pool2d(g, gg_relu(g, m.c1), (int[]){2, 2}, NULL, NULL);
    m.c2 = gg_conv2d(g, h, w2, b2, NULL, (int[]){1, 1}, NULL);
    h = gg_max_pool2d(g, gg_relu(g, m.c2), (int[]){2, 2}, NULL, NULL);
    gg_node *out = gg_linear(g, gg_flatten(g, h), w3, NULL);
    m.t = gg_input(g, "t", 1, (int[]){5});
    m.loss = gg_mse_loss(g, out, m.t);
    gg_error err = {0};
    if (gg_graph_build(g, &err) != GG_OK) fail_msg("%s", err.msg);
    return m;
}

static void run_cnn(cnn *m, int batch, uint64_t seed) {
    assert_int_equal(gg_graph_set_batch(m->g, batch, NULL), GG_OK);
    gg_test_fill(gg_node_data(m->x), gg_node_len(m->x), seed, -1, 1);
    gg_test_fill(gg_node_data(m->t), gg_node_len(m->t), seed + 1, -1, 1);
    gg_graph_forward(m->g);
    gg_graph_backward(m->g, m->loss);
}

static void test_conv2d_gives_the_same_bytes_twice_and_at_any_thread_count(void **s) {
    (void)s;
    int threads = omp_get_max_threads();
    cnn a = make_cnn(64), b = make_cnn(64);
    size_t plen = gg_graph_param_len(a.g) * sizeof(gg_real);
    assert_memory_equal(gg_graph_param_data(a.g), gg_graph_param_data(b.g), plen);
    run_cnn(&a, 61, 3);
    run_cnn(&b, 61, 3);
    assert_memory_equal(gg_graph_param_grad(a.g), gg_graph_param_grad(b.g), plen);
    assert_memory_equal(gg_node_data(a.c2), gg_node_data(b.c2), gg_node_len(a.c2) * sizeof(gg_real));
    /* the same graph run again, then at one thread, then a graph built
     * at one thread run at two: the slices, not the threads, fix the
     * order of the sums */
    gg_real *keep = malloc(plen);
    memcpy(keep, gg_graph_param_grad(a.g), plen);
    run_cnn(&a, 61, 3);
    assert_memory_equal(gg_graph_param_grad(a.g), keep, plen);
    omp_set_num_threads(1);
    run_cnn(&a, 61, 3);
    cnn c = make_cnn(64);
    omp_set_num_threads(threads);
    assert_memory_equal(gg_graph_param_grad(a.g), keep, plen);
    run_cnn(&c, 61, 3);
    assert_memory_equal(gg_graph_param_grad(c.g), keep, plen);
    gg_graph_free(c.g);
    double norm = 0;
    for (size_t i = 0; i < gg_graph_param_len(a.g); i++) norm += keep[i] * keep[i];
    assert_true(norm > 1e-6);
    free(keep);
    gg_graph_free(a.g);
    gg_graph_free(b.g);
}

static void test_conv2d_scratch_does_not_grow_with_the_max_batch(void **s) {
    (void)s;
    cnn small = make_cnn(64), big = make_cnn(1000);
    assert_int_equal(small.c2->op->scratch(small.c2), big.c2->op->scratch(big.c2));
    assert_int_equal(small.c1->op->scratch(small.c1), big.c1->op->scratch(big.c1));
    /* threads x columns + 16 slices x (dW + db) of the second conv:
     * columns 8*9 x 36 */
    size_t col = 8 * 9 * 36, dw = 16 * 8 * 9, db = 16;
    size_t acc = ((dw + 15) & ~(size_t)15) + ((db + 15) & ~(size_t)15);
    size_t threads = (size_t)omp_get_max_threads();
    assert_int_equal(big.c2->op->scratch(big.c2), threads * ((col + 15) & ~(size_t)15) + 16 * acc);
    /* a batch of 64 in the graph built for 1000 gives the bytes of the
     * graph built for 64 (same seed, same initial weights) */
    run_cnn(&small, 64, 5);
    run_cnn(&big, 64, 5);
    size_t plen = gg_graph_param_len(small.g) * sizeof(gg_real);
    assert_memory_equal(gg_graph_param_grad(small.g), gg_graph_param_grad(big.g), plen);
    assert_true(isfinite(gg_node_data(big.loss)[0]));
    /* and the whole batch of 1000 runs */
    run_cnn(&big, 1000, 6);
    assert_true(isfinite(gg_node_data(big.loss)[0]));
    gg_graph_free(small.g);
    gg_graph_free(big.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_gradients_match_finite_differences),
        cmocka_unit_test(test_conv2d_matches_a_naive_loop_on_batches_in_uneven_slices),
        cmocka_unit_test(test_conv2d_gives_hand_computed_values),
        cmocka_unit_test(test_conv2d_shape_errors_name_the_needed_shape),
        cmocka_unit_test(test_conv2d_gives_the_same_bytes_twice_and_at_any_thread_count),
        cmocka_unit_test(test_conv2d_scratch_does_not_grow_with_the_max_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
