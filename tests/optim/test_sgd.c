/* SGD (src/optim/sgd.c) against torch.optim.SGD's update written out here
 * in double: three steps with a different fixed gradient each on a small
 * vector, and the fused gradient scale (gscale) equal to scaling g first. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include "support/deferred_check.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "optim/optim.h"

#ifdef GG_FLOAT64
#define TOL 1e-12
#else
#define TOL 1e-6
#endif


enum { P = 5, STEPS = 3 };

static const double P0[P] = {1.0, -2.0, 1.5, 3.0, -1.25};
static const double G[STEPS][P] = {
    {0.5, -1.0, 2.0, -0.3, 0.1},
    {-0.2, 0.4, 1.5, -0.6, 0.3},
    {0.8, -0.5, -1.0, 0.2, -0.4},
};

typedef struct sgd_hp {
    gg_optim_kind name;
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} sgd_hp;

/* The reference trajectory, p[s] and buf[s] after step s + 1, from the
 * torch.optim.SGD documentation:
 *   d = gscale g + wd p
 *   momentum: buf = d on the first step, then buf = mu buf + (1 - dampening) d
 *             d = nesterov ? d + mu buf : buf
 *   p = p - lr d */
static void reference(const sgd_hp *h, double gscale, double p[STEPS][P], double buf[STEPS][P]) {
    double x[P], b[P] = {0};
    memcpy(x, P0, sizeof x);
    int nesterov = h->nesterov || h->name == GG_OPTIM_NESTEROV;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) {
            double d = G[s][i] * gscale;
            if (h->weight_decay != 0) d += h->weight_decay * x[i];
            if (h->momentum != 0) {
                b[i] = s == 0 ? d : h->momentum * b[i] + (1 - h->dampening) * d;
                d = nesterov ? d + h->momentum * b[i] : b[i];
            }
            x[i] -= h->lr * d;
        }
        memcpy(p[s], x, sizeof x);
        memcpy(buf[s], b, sizeof b);
    }
}

static gg_optim *make(const sgd_hp *h) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = h->name;
    c.optimizer.lr = h->lr;
    c.optimizer.momentum = h->momentum;
    c.optimizer.dampening = h->dampening;
    c.optimizer.weight_decay = h->weight_decay;
    c.optimizer.nesterov = h->nesterov;
    gg_optim *o = NULL;
    gg_error err = {GG_OK, ""};
    gg_status st = gg_optim_new(&c, P, &o, &err);
    gg_config_release(&c);
    if (st != GG_OK) fail_msg("gg_optim_new: %s", err.msg);
    return o;
}

/* The first mismatch, reported once the optimisers are freed (a failure
 * inside the loop would leak them under ASan). */
#define expect_close(got, want, what, step, i) \
    gg_test_expect_close(got, want, TOL, 1e-2, NULL, what, step, i)
#define report_mismatch gg_test_report_mismatch

/* Runs three steps and compares parameters (and the momentum buffer) after each. */
static void check_trajectory(const sgd_hp *h) {
    double p[STEPS][P], buf[STEPS][P];
    reference(h, 1, p, buf);
    gg_optim *o = make(h);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) g[i] = (gg_real)G[s][i];
        gg_optim_step(o, x, g, 1);
        assert_int_equal(o->t, s + 1);
        for (int i = 0; i < P; i++) {
            expect_close(x[i], p[s][i], "p", s, i);
            if (h->momentum != 0) expect_close(o->state[0][i], buf[s][i], "momentum_buffer", s, i);
        }
    }
    gg_optim_free(o);
    report_mismatch();
}

/* The variant's reference must differ from plain SGD's, so a library that
 * ignored the option would fail. */
static void assert_differs_from_plain(const sgd_hp *h) {
    sgd_hp plain = {GG_OPTIM_SGD, h->lr, 0, 0, 0, 0};
    double a[STEPS][P], b[STEPS][P], buf[STEPS][P];
    reference(h, 1, a, buf);
    reference(&plain, 1, b, buf);
    double diff = 0;
    for (int i = 0; i < P; i++) diff = fmax(diff, fabs(a[STEPS - 1][i] - b[STEPS - 1][i]));
    assert_true(diff > 1e-3);
}

static void test_sgd_plain_matches_torch_for_three_steps(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_SGD, 0.1, 0, 0, 0, 0};
    check_trajectory(&h);
    /* Step 1 by hand: p - lr g */
    double p[STEPS][P], buf[STEPS][P];
    reference(&h, 1, p, buf);
    assert_near(p[0][0], 1.0 - 0.1 * 0.5, 1e-15);
}

static void test_sgd_weight_decay_adds_wd_times_p_to_the_gradient(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_SGD, 0.1, 0, 0, 0.2, 0};
    assert_differs_from_plain(&h);
    check_trajectory(&h);
}

static void test_sgd_momentum_first_buffer_is_the_gradient(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_SGD, 0.05, 0.9, 0, 0, 0};
    assert_differs_from_plain(&h);
    check_trajectory(&h);
    /* After one step the buffer is exactly the gradient. */
    gg_optim *o = make(&h);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
    gg_optim_step(o, x, g, 1);
    gg_real buf[P];
    memcpy(buf, o->state[0], sizeof buf);
    gg_optim_free(o);
    assert_memory_equal(buf, g, sizeof buf);
}

static void test_sgd_momentum_with_dampening_damps_only_after_the_first_step(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_SGD, 0.05, 0.9, 0.3, 0, 0};
    sgd_hp undamped = {GG_OPTIM_SGD, 0.05, 0.9, 0, 0, 0};
    double a[STEPS][P], b[STEPS][P], ba[STEPS][P], bb[STEPS][P];
    reference(&h, 1, a, ba);
    reference(&undamped, 1, b, bb);
    for (int i = 0; i < P; i++) assert_true(ba[0][i] == bb[0][i]); /* first: buf = g */
    assert_true(fabs(a[STEPS - 1][2] - b[STEPS - 1][2]) > 1e-3);
    check_trajectory(&h);
}

static void test_sgd_momentum_with_weight_decay_matches_torch(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_MOMENTUM, 0.05, 0.8, 0.1, 0.05, 0};
    check_trajectory(&h);
}

static void test_sgd_nesterov_matches_torch_for_three_steps(void **s) {
    (void)s;
    sgd_hp h = {GG_OPTIM_SGD, 0.05, 0.9, 0, 0, 1};
    sgd_hp classic = {GG_OPTIM_SGD, 0.05, 0.9, 0, 0, 0};
    double a[STEPS][P], b[STEPS][P], buf[STEPS][P];
    reference(&h, 1, a, buf);
    reference(&classic, 1, b, buf);
    assert_true(fabs(a[STEPS - 1][2] - b[STEPS - 1][2]) > 1e-3);
    check_trajectory(&h);
    /* The "nesterov" optimiser name turns it on too, with weight decay. */
    sgd_hp named = {GG_OPTIM_NESTEROV, 0.05, 0.9, 0, 0.1, 0};
    check_trajectory(&named);
}

/* gscale g through the optimiser equals (gscale g) with gscale 1. */
static void check_gscale(const sgd_hp *h) {
    const gg_real k = (gg_real)0.37;
    gg_optim *a = make(h), *b = make(h);
    gg_real xa[P], xb[P], g[P], gs[P];
    for (int i = 0; i < P; i++) xa[i] = xb[i] = (gg_real)P0[i];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) {
            g[i] = (gg_real)G[s][i];
            gs[i] = g[i] * k;
        }
        gg_optim_step(a, xa, g, k);
        gg_optim_step(b, xb, gs, 1);
        for (int i = 0; i < P; i++) {
            expect_close(xa[i], xb[i], "p", s, i);
            if (h->momentum != 0) expect_close(a->state[0][i], b->state[0][i], "buf", s, i);
        }
    }
    /* And against the reference with the scale applied to g only (weight
     * decay is added after clipping, as in torch). */
    double p[STEPS][P], buf[STEPS][P];
    reference(h, (double)k, p, buf);
    for (int i = 0; i < P; i++) expect_close(xa[i], p[STEPS - 1][i], "p", STEPS - 1, i);
    /* The scale is not ignored. */
    reference(h, 1, p, buf);
    double diff = 0;
    for (int i = 0; i < P; i++) diff = fmax(diff, fabs(xa[i] - p[STEPS - 1][i]));
    gg_optim_free(a);
    gg_optim_free(b);
    report_mismatch();
    assert_true(diff > 1e-3);
}

static void test_sgd_gscale_equals_scaling_the_gradient_first(void **s) {
    (void)s;
    const sgd_hp hs[] = {
        {GG_OPTIM_SGD, 0.1, 0, 0, 0, 0},
        {GG_OPTIM_SGD, 0.1, 0, 0, 0.2, 0},
        {GG_OPTIM_MOMENTUM, 0.05, 0.9, 0.3, 0.1, 0},
        {GG_OPTIM_NESTEROV, 0.05, 0.9, 0, 0.1, 1},
    };
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) check_gscale(&hs[k]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain_matches_torch_for_three_steps),
        cmocka_unit_test(test_sgd_weight_decay_adds_wd_times_p_to_the_gradient),
        cmocka_unit_test(test_sgd_momentum_first_buffer_is_the_gradient),
        cmocka_unit_test(test_sgd_momentum_with_dampening_damps_only_after_the_first_step),
        cmocka_unit_test(test_sgd_momentum_with_weight_decay_matches_torch),
        cmocka_unit_test(test_sgd_nesterov_matches_torch_for_three_steps),
        cmocka_unit_test(test_sgd_gscale_equals_scaling_the_gradient_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
