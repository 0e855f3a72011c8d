/* RMSprop (src/optim/rmsprop.c) against torch.optim.RMSprop's update
 * written out here in double: three steps with a different fixed gradient
 * each on a small vector, parameters and every state block within 1e-6
 * relative (float build), for plain, momentum, centered, centered with
 * momentum, and weight decay; the first two steps of each worked by hand;
 * the variant's state blocks; and the fused gradient scale (gscale). */
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
static const double G[STEPS][P] = {
    {0.5, -1.0, 2.0, -0.3, 0.1, 0.7},
    {-0.2, 0.4, 1.5, -0.6, 0.3, -0.1},
    {0.8, -0.5, -1.0, 0.2, -0.4, 0.05},
};

typedef struct rms_hp {
    double lr, alpha, eps, weight_decay, momentum;
    int centered;
} rms_hp;

typedef struct traj {
    double p[STEPS][P], sq[STEPS][P], buf[STEPS][P], ga[STEPS][P];
} traj;

/* torch.optim.RMSprop (1.13 single-tensor path):
 *   d = gscale g + wd p
 *   sq = alpha sq + (1 - alpha) d^2
 *   centered: ga = alpha ga + (1 - alpha) d; avg = sqrt(sq - ga^2) + eps
 *   else avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum buf + d / avg; p = p - lr buf
 *   else p = p - lr d / avg */
static void reference(const rms_hp *h, double gscale, traj *r) {
    double x[P], sq[P] = {0}, buf[P] = {0}, ga[P] = {0};
    memcpy(x, P0, sizeof x);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) {
            double d = G[s][i] * gscale + h->weight_decay * x[i];
            sq[i] = h->alpha * sq[i] + (1 - h->alpha) * d * d;
            double avg;
            if (h->centered) {
                ga[i] = h->alpha * ga[i] + (1 - h->alpha) * d;
                avg = sqrt(sq[i] - ga[i] * ga[i]) + h->eps;
            } else {
                avg = sqrt(sq[i]) + h->eps;
            }
            if (h->momentum > 0) {
                buf[i] = h->momentum * buf[i] + d / avg;
                x[i] -= h->lr * buf[i];
            } else {
                x[i] -= h->lr * d / avg;
            }
        }
        memcpy(r->p[s], x, sizeof x);
        memcpy(r->sq[s], sq, sizeof sq);
        memcpy(r->buf[s], buf, sizeof buf);
        memcpy(r->ga[s], ga, sizeof ga);
    }
}

static gg_optim *make(const rms_hp *h) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = GG_OPTIM_RMSPROP;
    c.optimizer.lr = h->lr;
    c.optimizer.alpha = h->alpha;
    c.optimizer.eps = h->eps;
    c.optimizer.weight_decay = h->weight_decay;
    c.optimizer.momentum = h->momentum;
    c.optimizer.centered = h->centered;
    c.schedule.name = GG_SCHED_CONSTANT;
    gg_optim *o = NULL;
    gg_error err = {GG_OK, ""};
    gg_status st = gg_optim_new(&c, P, &o, &err);
    gg_config_release(&c);
    if (st != GG_OK) fail_msg("gg_optim_new: %s", err.msg);
    return o;
}

/* The blocks of the variant, by torch's names (NULL where absent). */
static gg_real *block(const gg_optim *o, const char *name) {
    for (int j = 0; j < o->def->n_state; j++)
        if (strcmp(o->def->state_names[j], name) == 0) return o->state[j];
    return NULL;
}

#define expect_close(got, want, what, step, i) \
    gg_test_expect_close(got, want, TOL, 1e-2, NULL, what, step, i)
#define report_mismatch gg_test_report_mismatch

static void check_trajectory(const rms_hp *h) {
    traj r;
    reference(h, 1, &r);
    gg_optim *o = make(h);
    assert_string_equal(o->def->name, "rmsprop");
    /* Exactly the blocks torch would create, square_avg first. */
    assert_int_equal(o->def->n_state, 1 + (h->momentum > 0) + (h->centered != 0));
    assert_string_equal(o->def->state_names[0], "square_avg");
    for (int j = 0; j < GG_OPTIM_MAX_STATE; j++) assert_true((o->state[j] != NULL) == (j < o->def->n_state));
    gg_real *sq = block(o, "square_avg"), *buf = block(o, "momentum_buffer"), *ga = block(o, "grad_avg");
    assert_true((buf != NULL) == (h->momentum > 0));
    assert_true((ga != NULL) == (h->centered != 0));
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) g[i] = (gg_real)G[s][i];
        gg_optim_step(o, x, g, 1);
        assert_int_equal(o->t, s + 1);
        for (int i = 0; i < P; i++) {
            expect_close(x[i], r.p[s][i], "p", s, i);
            expect_close(sq[i], r.sq[s][i], "square_avg", s, i);
            if (buf) expect_close(buf[i], r.buf[s][i], "momentum_buffer", s, i);
            if (ga) expect_close(ga[i], r.ga[s][i], "grad_avg", s, i);
        }
    }
    gg_optim_free(o);
    report_mismatch();
}

/* p[0] after steps 1 and 2 (p = 1, g = 0.5 then -0.2), against values
 * worked by hand in the tests below. */
static void two_steps(const rms_hp *h, double *p1, double *p2) {
    gg_optim *o = make(h);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
    gg_optim_step(o, x, g, 1);
    *p1 = x[0];
    for (int i = 0; i < P; i++) g[i] = (gg_real)G[1][i];
    gg_optim_step(o, x, g, 1);
    *p2 = x[0];
    gg_optim_free(o);
}

static double ref_gap(const rms_hp *a, const rms_hp *b) {
    traj ra, rb;
    reference(a, 1, &ra);
    reference(b, 1, &rb);
    double d = 0;
    for (int i = 0; i < P; i++) d = fmax(d, fabs(ra.p[STEPS - 1][i] - rb.p[STEPS - 1][i]));
    return d;
}

static const rms_hp PLAIN = {0.01, 0.9, 1e-8, 0, 0, 0};

static void test_rmsprop_plain_matches_torch(void **s) {
    (void)s;
    check_trajectory(&PLAIN);
    /* By hand: step 1 sq = 0.1 * 0.25 = 0.025, p = 1 - 0.01 * 0.5 / sqrt(0.025)
     * = 0.96837722540; step 2 sq = 0.9 * 0.025 + 0.1 * 0.04 = 0.0265,
     * p = 0.96837722540 + 0.01 * 0.2 / sqrt(0.0265) = 0.98066312698. */
    double p1, p2;
    two_steps(&PLAIN, &p1, &p2);
    assert_near(p1, 0.968377225398316, 1e-6);
    assert_near(p2, 0.9806631269802781, 1e-6);
    /* Default alpha (0.99) too. */
    rms_hp d = PLAIN;
    d.alpha = 0.99;
    check_trajectory(&d);
}

static void test_rmsprop_momentum_matches_torch(void **s) {
    (void)s;
    rms_hp h = PLAIN;
    h.momentum = 0.5;
    assert_true(ref_gap(&h, &PLAIN) > 1e-3);
    check_trajectory(&h);
    /* By hand: step 1 buf = 0.5 / sqrt(0.025) = 3.16227766, p as plain;
     * step 2 buf = 0.5 * 3.16227766 - 0.2 / sqrt(0.0265) = 0.35255858,
     * p = 0.96837722540 - 0.01 * 0.35255858 = 0.96485173968. */
    double p1, p2;
    two_steps(&h, &p1, &p2);
    assert_near(p1, 0.968377225398316, 1e-6);
    assert_near(p2, 0.9648517396794362, 1e-6);
}

static void test_rmsprop_centered_matches_torch(void **s) {
    (void)s;
    rms_hp h = PLAIN;
    h.centered = 1;
    assert_true(ref_gap(&h, &PLAIN) > 1e-3);
    check_trajectory(&h);
    /* By hand: step 1 ga = 0.05, avg = sqrt(0.025 - 0.0025) = 0.15,
     * p = 1 - 0.01 * 0.5 / 0.15 = 0.96666666889 (eps 1e-8 counted);
     * step 2 ga = 0.045 - 0.02 = 0.025, avg = sqrt(0.0265 - 0.000625),
     * p = 0.96666666889 + 0.002 / 0.16077935 = 0.97910006556. */
    double p1, p2;
    two_steps(&h, &p1, &p2);
    assert_near(p1, 0.9666666688888887, 1e-6);
    assert_near(p2, 0.9791000655591461, 1e-6);
}

static void test_rmsprop_centered_with_momentum_matches_torch(void **s) {
    (void)s;
    rms_hp h = PLAIN;
    h.centered = 1;
    h.momentum = 0.5;
    rms_hp c = h;
    c.momentum = 0;
    assert_true(ref_gap(&h, &c) > 1e-3);
    check_trajectory(&h);
    /* By hand: step 1 as centered; step 2 buf = 0.5 * (0.5 / 0.15)
     * - 0.2 / 0.16077935 = 0.42271, p = 0.96666666889 - 0.0042271 = 0.96243340000. */
    double p1, p2;
    two_steps(&h, &p1, &p2);
    assert_near(p1, 0.9666666688888887, 1e-6);
    assert_near(p2, 0.9624334000035905, 1e-6);
}

static void test_rmsprop_weight_decay_is_l2_added_to_the_gradient(void **s) {
    (void)s;
    const rms_hp hs[] = {
        {0.01, 0.9, 1e-8, 0.2, 0, 0},
        {0.01, 0.9, 1e-8, 0.2, 0.5, 0},
        {0.01, 0.9, 1e-8, 0.2, 0, 1},
        {0.01, 0.99, 1e-8, 0.2, 0.9, 1},
    };
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
        rms_hp none = hs[k];
        none.weight_decay = 0;
        assert_true(ref_gap(&hs[k], &none) > 1e-3);
        check_trajectory(&hs[k]);
    }
}

static void test_rmsprop_eps_is_added_after_the_square_root(void **s) {
    (void)s;
    rms_hp h = PLAIN;
    h.eps = 0.05;
    assert_true(ref_gap(&h, &PLAIN) > 1e-3);
    check_trajectory(&h);
    h.centered = 1;
    check_trajectory(&h);
}

static void test_rmsprop_one_cycle_momentum_gets_a_buffer(void **s) {
    (void)s;
    /* torch's OneCycleLR sets the momentum before the first step, so torch
     * creates the buffer even from momentum 0: the variant must own one. */
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = GG_OPTIM_RMSPROP;
    c.optimizer.momentum = 0;
    c.schedule.name = GG_SCHED_ONECYCLE;
    c.schedule.cycle_momentum = 1;
    gg_optim *o = NULL;
    assert_int_equal(gg_optim_new(&c, P, &o, NULL), GG_OK);
    assert_ptr_equal(o->def, &gg_optim_rmsprop_momentum);
    assert_non_null(o->state[1]);
    /* Momentum set as the trainer does: the buffer is used. */
    o->momentum = 0.9;
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
    gg_optim_step(o, x, g, 1);
    double moved = 0;
    for (int i = 0; i < P; i++) moved += fabs(o->state[1][i]);
    /* And momentum cycled to 0 takes torch's plain update, buffer untouched. */
    gg_real before[P];
    memcpy(before, o->state[1], sizeof before);
    o->momentum = 0;
    gg_optim_step(o, x, g, 1);
    int same = memcmp(before, o->state[1], sizeof before) == 0;
    gg_optim_free(o);
    assert_true(moved > 1);
    assert_true(same);
    c.schedule.cycle_momentum = 0;
    assert_int_equal(gg_optim_new(&c, P, &o, NULL), GG_OK);
    assert_ptr_equal(o->def, &gg_optim_rmsprop);
    assert_null(o->state[1]);
    gg_optim_free(o);
    gg_config_release(&c);
}

static void test_rmsprop_gscale_equals_scaling_the_gradient_first(void **s) {
    (void)s;
    const rms_hp hs[] = {
        PLAIN,
        {0.01, 0.9, 1e-8, 0.2, 0.5, 0},
        {0.01, 0.9, 1e-8, 0.2, 0, 1},
        {0.01, 0.9, 1e-8, 0.2, 0.5, 1},
    };
    const gg_real k = (gg_real)0.37;
    for (size_t c = 0; c < sizeof hs / sizeof hs[0]; c++) {
        gg_optim *a = make(&hs[c]), *b = make(&hs[c]);
        gg_real xa[P], xb[P], g[P], gs[P];
        for (int i = 0; i < P; i++) xa[i] = xb[i] = (gg_real)P0[i];
        for (int st = 0; st < STEPS; st++) {
            for (int i = 0; i < P; i++) g[i] = (gg_real)G[st][i], gs[i] = g[i] * k;
            gg_optim_step(a, xa, g, k);
            gg_optim_step(b, xb, gs, 1);
            for (int i = 0; i < P; i++) {
                expect_close(xa[i], xb[i], "p", st, i);
                for (int j = 0; j < a->def->n_state; j++)
                    expect_close(a->state[j][i], b->state[j][i], a->def->state_names[j], st, i);
            }
        }
        traj r;
        reference(&hs[c], (double)k, &r);
        for (int i = 0; i < P; i++) expect_close(xa[i], r.p[STEPS - 1][i], "p", STEPS - 1, i);
        reference(&hs[c], 1, &r);
        double diff = 0;
        for (int i = 0; i < P; i++) diff = fmax(diff, fabs(a->state[0][i] - r.sq[STEPS - 1][i]));
        gg_optim_free(a);
        gg_optim_free(b);
        report_mismatch();
        assert_true(diff > 1e-3); /* the scale is not ignored */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsprop_plain_matches_torch),
        cmocka_unit_test(test_rmsprop_momentum_matches_torch),
        cmocka_unit_test(test_rmsprop_centered_matches_torch),
        cmocka_unit_test(test_rmsprop_centered_with_momentum_matches_torch),
        cmocka_unit_test(test_rmsprop_weight_decay_is_l2_added_to_the_gradient),
        cmocka_unit_test(test_rmsprop_eps_is_added_after_the_square_root),
        cmocka_unit_test(test_rmsprop_one_cycle_momentum_gets_a_buffer),
        cmocka_unit_test(test_rmsprop_gscale_equals_scaling_the_gradient_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
