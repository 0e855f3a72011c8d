/* Dropout (src/ops/dropout.c): the backward against finite differences
 * with the mask held fixed (the graph's generator restored before every
 * forward of the check), dx = dy mask exactly, the fraction dropped and the
 * mean kept over 1e5 elements, the same masks for the same seed whatever
 * the thread count, new masks at every forward, the identity in
 * evaluation and for p = 0, and p outside [0, 1) refused. */
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

/* Central differences of the loss in every element of x, each forward
 * drawing the same mask: the generator is restored to its state before the
 * analytic pass. Returns ||analytic - numeric|| / (||analytic|| + ||numeric||). */
static double frozen_mask_gradcheck(gg_graph *g, gg_node *loss, gg_node *x, double h,
                                    double *grad_norm) {
    const gg_rng start = g->rng;
    gg_graph_forward(g);
    gg_graph_backward(g, loss);
    size_t len = x->out->len;
    gg_real *analytic = malloc(len * sizeof *analytic);
    memcpy(analytic, x->out->dx, len * sizeof *analytic);
    double diff = 0, na = 0, nn = 0;
    for (size_t i = 0; i < len; i++) {
        gg_real keep = x->out->x[i];
        x->out->x[i] = keep + (gg_real)h;
        g->rng = start;
        gg_graph_forward(g);
        double up = loss->out->x[0];
        x->out->x[i] = keep - (gg_real)h;
        g->rng = start;
        gg_graph_forward(g);
        double down = loss->out->x[0];
        x->out->x[i] = keep;
        double num = (up - down) / (2 * h);
        diff += (analytic[i] - num) * (analytic[i] - num);
        na += (double)analytic[i] * analytic[i];
        nn += num * num;
    }
    free(analytic);
    *grad_norm = sqrt(na);
    return na + nn > 0 ? sqrt(diff) / (sqrt(na) + sqrt(nn)) : 0;
}

static void test_dropout_backward_matches_finite_differences(void **s) {
    (void)s;
    int dims[2] = {8, 11}; /* 88 elements: an even count and */
    for (int odd = 0; odd < 2; odd++) {
        if (odd) dims[1] = 9; /* an odd one, which ends on half a draw */
        gg_graph *g = gg_graph_new(dims[0], 42);
        gg_node *x = gg_param(g, "x", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *t = gg_param(g, "const_target", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *y = gg_dropout(g, gg_tanh(g, x), 0.3);
        gg_node *loss = gg_mse_loss(g, y, t);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(x->out->x, x->out->len, 1, -2, 2);
        gg_test_fill(t->out->x, t->out->len, 2, -1, 1);
        double norm, err = frozen_mask_gradcheck(g, loss, x, gg_gradcheck_step(), &norm);
        print_message("    dropout [%d, %d]: relative error %.2e\n", dims[0], dims[1], err);
        assert_true(norm > 1e-3);
        if (err > gg_gradcheck_tol()) fail_msg("relative error %g", err);
        /* dx of dropout's input is dy times the mask of the last forward:
         * zero where y is zero, dy / (1 - p) elsewhere. */
        gg_graph_forward(g);
        gg_graph_backward(g, loss);
        gg_node *th = y->src[0];
        size_t dropped = 0, len = y->out->len;
        for (size_t i = 0; i < len; i++) {
            bool zero = y->out->x[i] == 0;
            dropped += zero;
            double want = zero ? 0 : (double)y->out->dx[i] / (1 - 0.3);
            assert_near(th->out->dx[i], want, 1e-6 * (1 + fabs(want)));
            if (!zero) assert_near(y->out->x[i], th->out->x[i] / (1 - 0.3), 1e-6);
        }
        assert_true(dropped > 0 && dropped < len);
        gg_graph_free(g);
    }
}

/* y of a dropout over n ones, at a given thread count. */
static gg_real *dropout_ones(size_t n, double p, uint64_t seed, int forwards, int threads) {
    int dim = (int)n;
    gg_graph *g = gg_graph_new(1, seed);
    gg_node *x = gg_input(g, "x", 1, &dim);
    gg_node *y = gg_dropout(g, x, p);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    for (size_t i = 0; i < n; i++) x->out->x[i] = 1;
    int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    for (int k = 0; k < forwards; k++) gg_graph_forward(g);
    omp_set_num_threads(keep);
    gg_real *out = malloc(n * sizeof *out);
    memcpy(out, y->out->x, n * sizeof *out);
    gg_graph_free(g);
    return out;
}

static void test_dropout_statistics(void **s) {
    (void)s;
    const size_t n = 100000;
    const double ps[3] = {0.1, 0.5, 0.8};
    for (int k = 0; k < 3; k++) {
        double p = ps[k];
        gg_real *y = dropout_ones(n, p, 7 + (uint64_t)k, 1, 2);
        size_t dropped = 0;
        double sum = 0;
        gg_real keep = (gg_real)(1 / (1 - p));
        for (size_t i = 0; i < n; i++) {
            if (y[i] == 0)
                dropped++;
            else
                assert_true(y[i] == keep); /* kept elements scaled by 1 / (1 - p) exactly */
            sum += y[i];
        }
        double frac = (double)dropped / (double)n, mean = sum / (double)n;
        /* Five standard deviations of a binomial proportion and of the mean. */
        double sd_frac = sqrt(p * (1 - p) / (double)n), sd_mean = sqrt(p / (1 - p) / (double)n);
        print_message("    p = %.1f: dropped %.4f (sd %.4f), mean %.4f (sd %.4f)\n", p, frac,
                      sd_frac, mean, sd_mean);
        assert_near(frac, p, 5 * sd_frac);
        assert_near(mean, 1, 5 * sd_mean);
        free(y);
    }
}

static void test_dropout_masks_follow_the_seed(void **s) {
    (void)s;
    const size_t n = 40001; /* above the threaded size, and odd */
    gg_real *a = dropout_ones(n, 0.5, 3, 1, 1);
    gg_real *b = dropout_ones(n, 0.5, 3, 1, 2);   /* same seed, other thread count */
    gg_real *c = dropout_ones(n, 0.5, 4, 1, 2);   /* another seed */
    gg_real *d = dropout_ones(n, 0.5, 3, 2, 2);   /* the second forward of seed 3 */
    assert_memory_equal(a, b, n * sizeof *a);
    size_t differ_seed = 0, differ_step = 0;
    for (size_t i = 0; i < n; i++) {
        differ_seed += a[i] != c[i];
        differ_step += a[i] != d[i];
    }
    /* Independent masks at p = 0.5 differ in about half the elements. */
    assert_true(differ_seed > n / 3 && differ_step > n / 3);
    free(a);
    free(b);
    free(c);
    free(d);
}

/* The mask is the graph's stream: element 2k keeps when the low 32 bits of
 * draw k are >= p 2^32, element 2k + 1 when the high ones are; an odd
 * length takes one more draw. Checked against gg_rng_next over 5001
 * elements and two forwards. */
static void test_dropout_mask_is_the_graph_stream(void **s) {
    (void)s;
    int dim = 5001;
    const double p = 0.3;
    const uint64_t thr = (uint64_t)floor(p * 4294967296.0 + 0.5);
    gg_graph *g = gg_graph_new(1, 77);
    gg_node *x = gg_input(g, "x", 1, &dim);
    gg_node *y = gg_dropout(g, x, p);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    for (int i = 0; i < dim; i++) x->out->x[i] = 1;
    for (int fwd = 0; fwd < 2; fwd++) {
        gg_rng r = g->rng;
        gg_graph_forward(g);
        uint64_t v = 0;
        for (int i = 0; i < dim; i++) {
            if (i % 2 == 0) v = gg_rng_next(&r);
            uint64_t u = i % 2 ? v >> 32 : v & 0xffffffffu;
            gg_real want = u >= thr ? (gg_real)(1 / (1 - p)) : 0;
            if (y->out->x[i] != want) fail_msg("forward %d element %d: %g, expected %g", fwd, i,
                                                (double)y->out->x[i], (double)want);
        }
        assert_memory_equal(&r, &g->rng, sizeof r);
    }
    gg_graph_free(g);
}

/* Evaluation and p = 0: y = x and dx = dy exactly, no draws taken. */
static void test_dropout_identity_in_evaluation_and_at_zero(void **s) {
    (void)s;
    for (int k = 0; k < 2; k++) {
        int dims[2] = {6, 5};
        gg_graph *g = gg_graph_new(6, 9);
        gg_node *x = gg_param(g, "x", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *y = gg_dropout(g, x, k ? 0.0 : 0.5);
        gg_node *t = gg_param(g, "const_target", 2, dims, GG_INIT_ZEROS, 0);
        gg_node *loss = gg_mse_loss(g, y, t);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        if (!k) gg_graph_set_training(g, 0);
        gg_test_fill(x->out->x, x->out->len, 1, -2, 2);
        gg_test_fill(t->out->x, t->out->len, 2, -1, 1);
        gg_rng before = g->rng;
        gg_graph_forward(g);
        gg_graph_backward(g, loss);
        assert_memory_equal(&before, &g->rng, sizeof before);
        assert_memory_equal(y->out->x, x->out->x, x->out->len * sizeof(gg_real));
        assert_memory_equal(y->out->dx, x->out->dx, x->out->len * sizeof(gg_real));
        gg_graph_free(g);
    }
}

static void test_dropout_probability_out_of_range_is_refused(void **s) {
    (void)s;
    const double bad[3] = {1.0, -0.1, NAN};
    for (int k = 0; k < 3; k++) {
        int dim = 4;
        gg_graph *g = gg_graph_new(2, 1);
        gg_node *x = gg_input(g, "x", 1, &dim);
        x->layer = 2;
        assert_null(gg_dropout(g, x, bad[k]));
        gg_error err = {0};
        assert_int_equal(gg_graph_build(g, &err), GG_ERR_ARG);
        print_message("    %s\n", err.msg);
        assert_non_null(strstr(err.msg, "layers.2 (dropout)"));
        assert_non_null(strstr(err.msg, "0 <= p < 1"));
        gg_graph_free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_backward_matches_finite_differences),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_dropout_masks_follow_the_seed),
        cmocka_unit_test(test_dropout_mask_is_the_graph_stream),
        cmocka_unit_test(test_dropout_identity_in_evaluation_and_at_zero),
        cmocka_unit_test(test_dropout_probability_out_of_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
