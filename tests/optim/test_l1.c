/* The L1 penalty (optimizer.l1), shared by every optimiser: l1 sign(p) is
 * added to the (clipped) gradient before anything else uses it, sign(0)
 * = 0. For each family (SGD plain, momentum, Nesterov; Adam, AMSGrad,
 * AdamW; Adagrad; the four RMSprop variants) a step with l1 equals a step
 * without it on the gradient gscale g + l1 sign(p) over three steps, state
 * included; SGD's first steps are also checked against values by hand. */
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

enum { P = 6, STEPS = 3 };

static const double P0[P] = {1.0, -2.0, 1.5, 3.0, -1.25, 0.0};
/* The last parameter is 0 with a zero gradient: sign(0) = 0 keeps it at 0. */
static const double G[STEPS][P] = {
    {0.5, -1.0, 2.0, -0.3, 0.1, 0.0},
    {-0.2, 0.4, 1.5, -0.6, 0.3, 0.0},
    {0.8, -0.5, -1.0, 0.2, -0.4, 0.0},
};

typedef struct l1_case {
    const char *label;
    gg_optim_kind name;
    double lr, momentum, weight_decay;
    int nesterov, amsgrad, centered;
} l1_case;

static const l1_case CASES[] = {
    {"sgd", GG_OPTIM_SGD, 0.1, 0, 0, 0, 0, 0},
    {"sgd+wd", GG_OPTIM_SGD, 0.1, 0, 0.05, 0, 0, 0},
    {"momentum", GG_OPTIM_MOMENTUM, 0.05, 0.9, 0.01, 0, 0, 0},
    {"nesterov", GG_OPTIM_NESTEROV, 0.05, 0.9, 0, 1, 0, 0},
    {"adam", GG_OPTIM_ADAM, 0.01, 0, 0.01, 0, 0, 0},
    {"adam amsgrad", GG_OPTIM_ADAM, 0.01, 0, 0, 0, 1, 0},
    {"adamw", GG_OPTIM_ADAMW, 0.01, 0, 0.1, 0, 0, 0},
    {"adagrad", GG_OPTIM_ADAGRAD, 0.1, 0, 0.01, 0, 0, 0},
    {"rmsprop", GG_OPTIM_RMSPROP, 0.01, 0, 0, 0, 0, 0},
    {"rmsprop momentum", GG_OPTIM_RMSPROP, 0.01, 0.5, 0.01, 0, 0, 0},
    {"rmsprop centered", GG_OPTIM_RMSPROP, 0.01, 0, 0, 0, 0, 1},
    {"rmsprop centered momentum", GG_OPTIM_RMSPROP, 0.01, 0.5, 0.01, 0, 0, 1},
};

static gg_optim *make(const l1_case *h, double l1) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = h->name;
    c.optimizer.lr = h->lr;
    c.optimizer.momentum = h->momentum;
    c.optimizer.weight_decay = h->weight_decay;
    c.optimizer.nesterov = h->nesterov;
    c.optimizer.amsgrad = h->amsgrad;
    c.optimizer.centered = h->centered;
    c.optimizer.l1 = l1;
    c.schedule.name = GG_SCHED_CONSTANT;
    gg_optim *o = NULL;
    gg_error err = {GG_OK, ""};
    gg_status st = gg_optim_new(&c, P, &o, &err);
    gg_config_release(&c);
    if (st != GG_OK) fail_msg("gg_optim_new: %s", err.msg);
    return o;
}

#define expect_close(got, want, label, what, step, i) \
    gg_test_expect_close(got, want, TOL, 1e-2, label, what, step, i)
#define report_mismatch gg_test_report_mismatch

/* With l1 on gradient g and scale k == without l1 on (g k + l1 sign(p)),
 * sign taken of p before the step; the L1 term is not scaled by k. */
static void check_equivalence(const l1_case *h, double l1, gg_real k) {
    gg_optim *a = make(h, l1), *b = make(h, 0), *none = make(h, 0);
    gg_real xa[P], xb[P], xn[P], g[P], gb[P];
    for (int i = 0; i < P; i++) xa[i] = xb[i] = xn[i] = (gg_real)P0[i];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) {
            g[i] = (gg_real)G[s][i];
            gb[i] = g[i] * k + (gg_real)l1 * (gg_real)((xb[i] > 0) - (xb[i] < 0));
        }
        gg_optim_step(a, xa, g, k);
        gg_optim_step(b, xb, gb, 1);
        gg_optim_step(none, xn, g, k);
        for (int i = 0; i < P; i++) {
            expect_close(xa[i], xb[i], h->label, "p", s, i);
            for (int j = 0; j < a->def->n_state; j++)
                expect_close(a->state[j][i], b->state[j][i], h->label, a->def->state_names[j], s, i);
        }
    }
    /* sign(0) = 0: the parameter at 0 with no gradient stays exactly 0. */
    gg_real zero = xa[P - 1];
    /* And the penalty is not ignored. */
    double diff = 0;
    for (int i = 0; i < P; i++) diff = fmax(diff, fabs((double)xa[i] - xn[i]));
    gg_optim_free(a);
    gg_optim_free(b);
    gg_optim_free(none);
    report_mismatch();
    if (zero != 0) fail_msg("%s: p = 0 with g = 0 moved to %g: sign(0) must be 0", h->label, (double)zero);
    if (!(diff > 1e-4)) fail_msg("%s: l1 = %g changes nothing (%g)", h->label, l1, diff);
}

static void test_l1_adds_l1_sign_p_to_the_gradient_for_every_optimiser(void **s) {
    (void)s;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        check_equivalence(&CASES[c], 0.1, 1);
        check_equivalence(&CASES[c], 0.03, (gg_real)0.37); /* after the clip coefficient */
    }
}

static void test_l1_sgd_by_hand(void **s) {
    (void)s;
    /* lr 0.1, l1 0.1, step 1:
     *   p = 1,    g = 0.5:  d = 0.5 + 0.1 = 0.6,   p = 1 - 0.06 = 0.94
     *   p = -2,   g = -1:   d = -1 - 0.1 = -1.1,   p = -2 + 0.11 = -1.89
     *   p = 0,    g = 0:    d = 0 (sign 0),        p = 0
     * step 2 (g = -0.2 at p = 0.94): d = -0.2 + 0.1 = -0.1, p = 0.95.
     * With momentum 0.9 the buffer starts as d: buf = 0.6, then
     * 0.9 * 0.6 - 0.1 = 0.44, p = 0.94 - 0.044 = 0.896. */
    const l1_case plain = {"sgd", GG_OPTIM_SGD, 0.1, 0, 0, 0, 0, 0};
    const l1_case mom = {"momentum", GG_OPTIM_MOMENTUM, 0.1, 0.9, 0, 0, 0, 0};
    for (int m = 0; m < 2; m++) {
        gg_optim *o = make(m ? &mom : &plain, 0.1);
        gg_real x[P], g[P];
        for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
        gg_optim_step(o, x, g, 1);
        double a0 = x[0], a1 = x[1], a5 = x[5];
        for (int i = 0; i < P; i++) g[i] = (gg_real)G[1][i];
        gg_optim_step(o, x, g, 1);
        double b0 = x[0];
        gg_optim_free(o);
        assert_near(a0, 0.94, 1e-6);
        assert_near(a1, -1.89, 1e-6);
        assert_true(a5 == 0);
        assert_near(b0, m ? 0.896 : 0.95, 1e-6);
    }
    /* No gradient at all: L1 alone moves every nonzero weight towards 0 by lr l1. */
    gg_optim *o = make(&plain, 0.5);
    gg_real x[P], g[P] = {0};
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i];
    gg_optim_step(o, x, g, 1);
    gg_optim_free(o);
    for (int i = 0; i < P; i++)
        assert_near(x[i], P0[i] - 0.05 * (P0[i] > 0 ? 1 : P0[i] < 0 ? -1 : 0), 1e-6);
}

static void test_l1_sign_of_zero_is_zero(void **s) {
    (void)s;
    assert_true(gg_optim_sign(0) == 0);
    assert_true(gg_optim_sign(-(gg_real)0) == 0);
    assert_true(gg_optim_sign((gg_real)1e-30) == 1);
    assert_true(gg_optim_sign((gg_real)-3) == -1);
    assert_true(gg_optim_sign((gg_real)NAN) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l1_adds_l1_sign_p_to_the_gradient_for_every_optimiser),
        cmocka_unit_test(test_l1_sgd_by_hand),
        cmocka_unit_test(test_l1_sign_of_zero_is_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
