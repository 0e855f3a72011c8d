/* Adam, AMSGrad and AdamW (src/optim/adam.c) against torch.optim's update
 * written out here in double: three steps with a different fixed gradient
 * each on a small vector, parameters and every state block within 1e-6
 * relative (float build), and the fused gradient scale (gscale). */
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
/* Large first gradients, then small ones, so AMSGrad's running max matters. */
static const double G[STEPS][P] = {
    {2.0, -3.0, 1.0, 0.5, -1.5},
    {0.1, 0.2, -0.1, 0.05, 0.3},
    {0.5, -0.2, 0.3, -0.1, 0.1},
};

typedef struct adam_hp {
    gg_optim_kind name;
    double lr, beta1, beta2, eps, weight_decay;
    int amsgrad;
} adam_hp;

typedef struct traj {
    double p[STEPS][P], m[STEPS][P], v[STEPS][P], vmax[STEPS][P];
} traj;

/* torch.optim.Adam/AdamW (1.13 single-tensor path), step t = 1, 2, 3:
 *   adamw: p = p (1 - lr wd)            adam: d = gscale g + wd p (L2)
 *   m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2;  vmax = max(vmax, v)
 *   denom = sqrt(amsgrad ? vmax : v) / sqrt(1 - b2^t) + eps
 *   p = p - lr / (1 - b1^t) m / denom */
static void reference(const adam_hp *h, double gscale, traj *r) {
    double x[P], m[P] = {0}, v[P] = {0}, vmax[P] = {0};
    memcpy(x, P0, sizeof x);
    int decoupled = h->name == GG_OPTIM_ADAMW;
    for (int s = 0; s < STEPS; s++) {
        int t = s + 1;
        double bc1 = 1 - pow(h->beta1, t), bc2 = 1 - pow(h->beta2, t);
        for (int i = 0; i < P; i++) {
            double d = G[s][i] * gscale;
            if (decoupled)
                x[i] *= 1 - h->lr * h->weight_decay;
            else
                d += h->weight_decay * x[i];
            m[i] = h->beta1 * m[i] + (1 - h->beta1) * d;
            v[i] = h->beta2 * v[i] + (1 - h->beta2) * d * d;
            vmax[i] = fmax(vmax[i], v[i]);
            double denom = sqrt(h->amsgrad ? vmax[i] : v[i]) / sqrt(bc2) + h->eps;
            x[i] -= h->lr / bc1 * m[i] / denom;
        }
        memcpy(r->p[s], x, sizeof x);
        memcpy(r->m[s], m, sizeof m);
        memcpy(r->v[s], v, sizeof v);
        memcpy(r->vmax[s], vmax, sizeof vmax);
    }
}

static gg_optim *make(const adam_hp *h) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = h->name;
    c.optimizer.lr = h->lr;
    c.optimizer.beta1 = h->beta1;
    c.optimizer.beta2 = h->beta2;
    c.optimizer.eps = h->eps;
    c.optimizer.weight_decay = h->weight_decay;
    c.optimizer.amsgrad = h->amsgrad;
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
    gg_test_expect_close(got, want, TOL, 1e-9, NULL, what, step, i)
#define report_mismatch gg_test_report_mismatch

static void check_trajectory(const adam_hp *h) {
    traj r;
    reference(h, 1, &r);
    gg_optim *o = make(h);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) g[i] = (gg_real)G[s][i];
        gg_optim_step(o, x, g, 1);
        assert_int_equal(o->t, s + 1);
        for (int i = 0; i < P; i++) {
            expect_close(x[i], r.p[s][i], "p", s, i);
            expect_close(o->state[0][i], r.m[s][i], "exp_avg", s, i);
            expect_close(o->state[1][i], r.v[s][i], "exp_avg_sq", s, i);
            if (h->amsgrad) expect_close(o->state[2][i], r.vmax[s][i], "max_exp_avg_sq", s, i);
        }
    }
    gg_optim_free(o);
    report_mismatch();
}

/* Largest parameter difference after three steps between two references. */
static double ref_gap(const adam_hp *a, const adam_hp *b) {
    traj ra, rb;
    reference(a, 1, &ra);
    reference(b, 1, &rb);
    double d = 0;
    for (int i = 0; i < P; i++) d = fmax(d, fabs(ra.p[STEPS - 1][i] - rb.p[STEPS - 1][i]));
    return d;
}

static const adam_hp ADAM = {GG_OPTIM_ADAM, 0.1, 0.9, 0.999, 1e-8, 0, 0};

static void test_adam_matches_torch_for_three_steps(void **s) {
    (void)s;
    check_trajectory(&ADAM);
    /* Step 1 by hand: m/bc1 = g and sqrt(v/bc2) = |g|, so p moves by lr sign(g). */
    traj r;
    reference(&ADAM, 1, &r);
    assert_near(r.p[0][0], 1.0 - 0.1, 1e-8);
    assert_near(r.p[0][1], -2.0 + 0.1, 1e-8);
}

static void test_adam_adds_eps_after_the_bias_correction(void **s) {
    (void)s;
    /* A large eps tells denom = sqrt(v)/sqrt(bc2) + eps from (sqrt(v) + eps)/sqrt(bc2). */
    adam_hp h = ADAM;
    h.eps = 0.05;
    assert_true(ref_gap(&h, &ADAM) > 1e-3);
    check_trajectory(&h);
}

static void test_adam_weight_decay_is_l2_added_to_the_gradient(void **s) {
    (void)s;
    adam_hp h = ADAM;
    h.weight_decay = 0.5;
    assert_true(ref_gap(&h, &ADAM) > 1e-3);
    adam_hp w = h;
    w.name = GG_OPTIM_ADAMW;
    assert_true(ref_gap(&h, &w) > 1e-3); /* and not decoupled */
    check_trajectory(&h);
}

static void test_adam_amsgrad_uses_the_running_max_of_v(void **s) {
    (void)s;
    /* beta2 = 0.5 so v falls after the large first gradient and the max matters. */
    adam_hp h = {GG_OPTIM_ADAM, 0.1, 0.9, 0.5, 1e-8, 0, 1};
    adam_hp plain = h;
    plain.amsgrad = 0;
    assert_true(ref_gap(&h, &plain) > 1e-3);
    traj r;
    reference(&h, 1, &r);
    assert_true(r.vmax[1][0] > r.v[1][0]); /* the max is in force at step 2 */
    check_trajectory(&h);
    adam_hp l2 = h;
    l2.weight_decay = 0.1;
    check_trajectory(&l2);
}

static void test_adamw_decays_the_parameter_decoupled_from_the_gradient(void **s) {
    (void)s;
    adam_hp h = {GG_OPTIM_ADAMW, 0.1, 0.9, 0.999, 1e-8, 0.5, 0};
    adam_hp none = h;
    none.weight_decay = 0;
    assert_true(ref_gap(&h, &none) > 1e-3);
    check_trajectory(&h);
    adam_hp ams = h;
    ams.amsgrad = 1;
    ams.beta2 = 0.5;
    check_trajectory(&ams);
}

static void test_adam_exp_avg_sq_matches_torch_at_default_betas(void **s) {
    (void)s;
    /* torch computes 1 - beta2 in double, then rounds it: 0.001 within 5e-8.
     * One step from zero state: v = (1 - beta2) g^2 exactly up to rounding. */
    gg_optim *o = make(&ADAM);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
    gg_optim_step(o, x, g, 1);
    for (int i = 0; i < P; i++) {
        expect_close(o->state[1][i], 0.001 * G[0][i] * G[0][i], "exp_avg_sq", 0, i);
        expect_close(o->state[0][i], 0.1 * G[0][i], "exp_avg", 0, i);
    }
    gg_optim_free(o);
    report_mismatch();
}

/* gscale g through the optimiser equals (gscale g) with gscale 1. */
static void check_gscale(const adam_hp *h) {
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
            expect_close(a->state[0][i], b->state[0][i], "exp_avg", s, i);
            expect_close(a->state[1][i], b->state[1][i], "exp_avg_sq", s, i);
        }
    }
    /* The scale is not ignored: exp_avg differs from the unscaled one. */
    traj r;
    reference(h, 1, &r);
    double diff = 0;
    for (int i = 0; i < P; i++) diff = fmax(diff, fabs(a->state[0][i] - r.m[STEPS - 1][i]));
    gg_optim_free(a);
    gg_optim_free(b);
    report_mismatch();
    assert_true(diff > 1e-3);
}

static void test_adam_gscale_equals_scaling_the_gradient_first(void **s) {
    (void)s;
    const adam_hp hs[] = {
        ADAM,
        {GG_OPTIM_ADAM, 0.1, 0.9, 0.999, 1e-8, 0.5, 0},
        {GG_OPTIM_ADAM, 0.1, 0.9, 0.5, 1e-8, 0.1, 1},
        {GG_OPTIM_ADAMW, 0.1, 0.9, 0.999, 1e-8, 0.5, 0},
    };
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) check_gscale(&hs[k]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_matches_torch_for_three_steps),
        cmocka_unit_test(test_adam_adds_eps_after_the_bias_correction),
        cmocka_unit_test(test_adam_weight_decay_is_l2_added_to_the_gradient),
        cmocka_unit_test(test_adam_amsgrad_uses_the_running_max_of_v),
        cmocka_unit_test(test_adamw_decays_the_parameter_decoupled_from_the_gradient),
        cmocka_unit_test(test_adam_exp_avg_sq_matches_torch_at_default_betas),
        cmocka_unit_test(test_adam_gscale_equals_scaling_the_gradient_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
