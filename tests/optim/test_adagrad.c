/* Adagrad (src/optim/adagrad.c) against torch.optim.Adagrad's update
 * written out here in double: three steps with a different fixed gradient
 * each on a small vector, parameters and the "sum" block within 1e-6
 * relative (float build), with lr_decay, initial_accumulator_value and
 * weight decay, values worked by hand for the first two steps, and the
 * fused gradient scale (gscale). */
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

typedef struct adagrad_hp {
    double lr, lr_decay, initial_accumulator, weight_decay, eps;
} adagrad_hp;

typedef struct traj {
    double p[STEPS][P], sum[STEPS][P];
} traj;

/* torch.optim.Adagrad (1.13 single-tensor path), step t = 1, 2, 3:
 *   d = gscale g + wd p
 *   clr = lr / (1 + (t - 1) lr_decay)
 *   sum = sum + d^2        (sum starts at initial_accumulator_value)
 *   p = p - clr d / (sqrt(sum) + eps) */
static void reference(const adagrad_hp *h, double gscale, traj *r) {
    double x[P], sum[P];
    memcpy(x, P0, sizeof x);
    for (int i = 0; i < P; i++) sum[i] = h->initial_accumulator;
    for (int s = 0; s < STEPS; s++) {
        double clr = h->lr / (1 + s * h->lr_decay);
        for (int i = 0; i < P; i++) {
            double d = G[s][i] * gscale + h->weight_decay * x[i];
            sum[i] += d * d;
            x[i] -= clr * d / (sqrt(sum[i]) + h->eps);
        }
        memcpy(r->p[s], x, sizeof x);
        memcpy(r->sum[s], sum, sizeof sum);
    }
}

static gg_optim *make(const adagrad_hp *h) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = GG_OPTIM_ADAGRAD;
    c.optimizer.lr = h->lr;
    c.optimizer.lr_decay = h->lr_decay;
    c.optimizer.initial_accumulator = h->initial_accumulator;
    c.optimizer.weight_decay = h->weight_decay;
    c.optimizer.eps = h->eps;
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

static void check_trajectory(const adagrad_hp *h) {
    traj r;
    reference(h, 1, &r);
    gg_optim *o = make(h);
    assert_string_equal(o->def->name, "adagrad");
    assert_int_equal(o->def->n_state, 1);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i];
    for (int i = 0; i < P; i++) expect_close(o->state[0][i], h->initial_accumulator, "sum", -1, i);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < P; i++) g[i] = (gg_real)G[s][i];
        gg_optim_step(o, x, g, 1);
        assert_int_equal(o->t, s + 1);
        for (int i = 0; i < P; i++) {
            expect_close(x[i], r.p[s][i], "p", s, i);
            expect_close(o->state[0][i], r.sum[s][i], "sum", s, i);
        }
    }
    gg_optim_free(o);
    report_mismatch();
}

static double ref_gap(const adagrad_hp *a, const adagrad_hp *b) {
    traj ra, rb;
    reference(a, 1, &ra);
    reference(b, 1, &rb);
    double d = 0;
    for (int i = 0; i < P; i++) d = fmax(d, fabs(ra.p[STEPS - 1][i] - rb.p[STEPS - 1][i]));
    return d;
}

static const adagrad_hp PLAIN = {0.1, 0, 0, 0, 1e-10};

static void test_adagrad_matches_torch_for_three_steps(void **s) {
    (void)s;
    check_trajectory(&PLAIN);
    /* Step 1 by hand from sum 0: p - lr g / |g| = p - lr sign(g). */
    traj r;
    reference(&PLAIN, 1, &r);
    assert_near(r.p[0][0], 1.0 - 0.1, 1e-9);
    assert_near(r.p[0][1], -2.0 + 0.1, 1e-9);
}

static void test_adagrad_lr_decay_initial_accumulator_and_weight_decay(void **s) {
    (void)s;
    const adagrad_hp h = {0.1, 0.5, 0.1, 0.1, 1e-10};
    /* Each option changes the trajectory. */
    adagrad_hp no = h;
    no.lr_decay = 0;
    assert_true(ref_gap(&h, &no) > 1e-3);
    no = h;
    no.initial_accumulator = 0;
    assert_true(ref_gap(&h, &no) > 1e-3);
    no = h;
    no.weight_decay = 0;
    assert_true(ref_gap(&h, &no) > 1e-3);
    check_trajectory(&h);
    /* p[0] by hand: p = 1, g = 0.5 then -0.2.
     * step 1: d = 0.5 + 0.1 * 1 = 0.6; sum = 0.1 + 0.36 = 0.46; clr = 0.1;
     *         p = 1 - 0.1 * 0.6 / sqrt(0.46) = 0.91153482632...
     * step 2: d = -0.2 + 0.1 * 0.911534826 = -0.108846517...;
     *         sum = 0.46 + d^2 = 0.471847564...; clr = 0.1 / (1 + 1 * 0.5);
     *         p = 0.911534826 - (0.1 / 1.5) d / sqrt(sum) = 0.92209868104... */
    gg_optim *o = make(&h);
    gg_real x[P], g[P];
    for (int i = 0; i < P; i++) x[i] = (gg_real)P0[i], g[i] = (gg_real)G[0][i];
    gg_optim_step(o, x, g, 1);
    double p1 = x[0], s1 = o->state[0][0];
    for (int i = 0; i < P; i++) g[i] = (gg_real)G[1][i];
    gg_optim_step(o, x, g, 1);
    double p2 = x[0], s2 = o->state[0][0];
    gg_optim_free(o);
    assert_near(s1, 0.46, 1e-7);
    assert_near(p1, 0.9115348263201052, 1e-6);
    assert_near(s2, 0.47184756434314, 1e-6);
    assert_near(p2, 0.9220986810442724, 1e-6);
}

static void test_adagrad_eps_is_added_after_the_square_root(void **s) {
    (void)s;
    /* A large eps tells sqrt(sum) + eps from sqrt(sum + eps). */
    adagrad_hp h = PLAIN;
    h.eps = 0.3;
    assert_true(ref_gap(&h, &PLAIN) > 1e-3);
    check_trajectory(&h);
}

static void test_adagrad_gscale_equals_scaling_the_gradient_first(void **s) {
    (void)s;
    const adagrad_hp hs[] = {PLAIN, {0.1, 0.5, 0.1, 0.1, 1e-10}};
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
                expect_close(a->state[0][i], b->state[0][i], "sum", st, i);
            }
        }
        /* Against the reference with the scale on g only (weight decay
         * joins after clipping, as in torch). */
        traj r;
        reference(&hs[c], (double)k, &r);
        for (int i = 0; i < P; i++) expect_close(xa[i], r.p[STEPS - 1][i], "p", STEPS - 1, i);
        reference(&hs[c], 1, &r);
        double diff = 0;
        for (int i = 0; i < P; i++) diff = fmax(diff, fabs(a->state[0][i] - r.sum[STEPS - 1][i]));
        gg_optim_free(a);
        gg_optim_free(b);
        report_mismatch();
        assert_true(diff > 1e-3); /* the scale is not ignored */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adagrad_matches_torch_for_three_steps),
        cmocka_unit_test(test_adagrad_lr_decay_initial_accumulator_and_weight_decay),
        cmocka_unit_test(test_adagrad_eps_is_added_after_the_square_root),
        cmocka_unit_test(test_adagrad_gscale_equals_scaling_the_gradient_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
