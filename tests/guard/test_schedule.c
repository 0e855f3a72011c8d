/* Every learning-rate schedule of src/guard/schedule.c against its closed
 * form written out here (PyTorch's lr_scheduler formulas or the seeds'),
 * the linear warm-up in front, one-cycle momentum, ReduceLROnPlateau, and
 * the regression of a warm-up longer than the run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "guard/schedule.h"

#define RTOL 1e-12

typedef struct sched {
    gg_config *c;
    gg_schedule s;
} sched;

/* A schedule from a YAML fragment (the `schedule:` mapping and the lr) for a run of total steps. */
static void sched_open(sched *r, double lr, const char *schedule_yaml, int64_t total) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "optimizer: {name: sgd, lr: %.17g}\nschedule: %s\n", lr, schedule_yaml);
    r->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(r->c, yaml, &err) != GG_OK) fail_msg("%s: %s", schedule_yaml, err.msg);
    gg_schedule_init(&r->s, r->c, total);
}

static void sched_close(sched *r) { gg_config_free(r->c); }

static void check_lr(const sched *r, int64_t t, double want) {
    double got = gg_schedule_lr(&r->s, t);
    double tol = RTOL * fabs(want) + 1e-300;
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: lr(%lld) = %.17g, expected %.17g", gg_sched_name(r->s.kind), (long long)t, got, want);
}

static void test_constant_schedule(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.05, "{name: constant}", 100);
    for (int t = 0; t < 200; t++) check_lr(&r, t, 0.05);
    assert_true(isnan(gg_schedule_momentum(&r.s, 3)));
    sched_close(&r);
}

static void test_step_schedule(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: step, step_size: 10, gamma: 0.5}", 100);
    for (int t = 0; t < 100; t++) check_lr(&r, t, 0.1 * pow(0.5, t / 10));
    check_lr(&r, 9, 0.1);
    check_lr(&r, 10, 0.05);
    check_lr(&r, 25, 0.025);
    sched_close(&r);
}

static void test_multistep_schedule(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: multistep, milestones: [5, 12, 30], gamma: 0.1}", 100);
    for (int t = 0; t < 100; t++) {
        int passed = (t >= 5) + (t >= 12) + (t >= 30);
        check_lr(&r, t, 0.1 * pow(0.1, passed));
    }
    check_lr(&r, 4, 0.1);
    check_lr(&r, 5, 0.1 * 0.1);
    check_lr(&r, 30, 0.1 * 0.1 * 0.1 * 0.1);
    sched_close(&r);
}

static void test_exponential_schedule(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.2, "{name: exponential, gamma: 0.9}", 100);
    for (int t = 0; t < 100; t++) check_lr(&r, t, 0.2 * pow(0.9, t));
    sched_close(&r);
    sched_open(&r, 0.2, "{name: exponential}", 100); /* default gamma 0.999 */
    check_lr(&r, 1000, 0.2 * pow(0.999, 1000));
    sched_close(&r);
}

static void test_linear_decay_is_seeds_formula_floored_at_min_lr(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: linear, alpha: 0.01, min_lr: 0.02}", 200);
    for (int t = 0; t < 200; t++) check_lr(&r, t, fmax(0.1 * (1 - 0.01 * t), 0.02));
    check_lr(&r, 50, 0.05);
    check_lr(&r, 80, 0.02);
    check_lr(&r, 150, 0.02); /* eta0 (1 - alpha t) < 0 here: the floor holds */
    sched_close(&r);
}

static void test_inverse_decay_is_seeds_formula(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.3, "{name: inverse, gamma: 0.9, beta: 2.0}", 100);
    for (int t = 0; t < 100; t++) {
        double gt = pow(0.9, t);
        check_lr(&r, t, 0.3 * gt / (gt + 2.0));
    }
    check_lr(&r, 0, 0.1);
    sched_close(&r);
}

static void test_polynomial_decay(void **s) {
    (void)s;
    sched r;
    /* T defaults to the run's length. */
    sched_open(&r, 0.1, "{name: polynomial, power: 2.0}", 100);
    for (int t = 0; t < 100; t++) check_lr(&r, t, 0.1 * pow(1 - t / 100.0, 2));
    sched_close(&r);
    /* The seed's "1-cycle": p = 3, and an explicit T shorter than the run: 0 after it. */
    sched_open(&r, 0.1, "{name: polynomial, power: 3.0, total_steps: 50}", 100);
    for (int t = 0; t < 100; t++) check_lr(&r, t, t < 50 ? 0.1 * pow(1 - t / 50.0, 3) : 0.0);
    sched_close(&r);
}

static double cosine(double lr, double min_lr, double t, double T) {
    return min_lr + (lr - min_lr) * (1 + cos(M_PI * t / T)) / 2;
}

static void test_cosine_annealing(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: cosine, warmup_steps: 0, min_lr: 0.001}", 120);
    for (int t = 0; t < 120; t++) check_lr(&r, t, cosine(0.1, 0.001, t, 120));
    check_lr(&r, 0, 0.1);
    check_lr(&r, 60, (0.1 + 0.001) / 2);
    check_lr(&r, 120, 0.001);
    check_lr(&r, 500, 0.001); /* past T it stays at eta_min */
    sched_close(&r);
    sched_open(&r, 0.1, "{name: cosine, warmup_steps: 0, total_steps: 40}", 120);
    for (int t = 0; t <= 40; t++) check_lr(&r, t, cosine(0.1, 0, t, 40));
    sched_close(&r);
}

/* CosineAnnealingWarmRestarts as torch steps it: T_cur += 1, and on reaching T_i it restarts with T_i *= T_mult. */
static void check_warm_restarts(double lr, double min_lr, int T0, int mult, int steps) {
    char yaml[256];
    snprintf(yaml, sizeof yaml, "{name: cosine, warmup_steps: 0, min_lr: %g, restart_steps: %d, restart_mult: %d}",
             min_lr, T0, mult);
    sched r;
    sched_open(&r, lr, yaml, steps);
    int64_t Ti = T0, Tcur = 0, restarts = 0, bad = -1;
    double got = 0, want = 0;
    for (int t = 0; t < steps && bad < 0; t++) {
        want = cosine(lr, min_lr, (double)Tcur, (double)Ti); /* lr itself at a restart */
        got = gg_schedule_lr(&r.s, t);
        if (!(fabs(got - want) <= RTOL * fabs(want) + 1e-300)) bad = t;
        if (++Tcur >= Ti) {
            Tcur = 0;
            Ti *= mult;
            restarts++;
        }
    }
    sched_close(&r);
    if (bad >= 0)
        fail_msg("T_0 %d, T_mult %d: lr(%lld) = %.17g, expected %.17g", T0, mult, (long long)bad, got, want);
    assert_true(restarts >= 3);
}

static void test_cosine_warm_restarts(void **s) {
    (void)s;
    check_warm_restarts(0.1, 0.001, 10, 1, 100);
    check_warm_restarts(0.1, 0.0, 7, 1, 50);
    check_warm_restarts(0.1, 0.001, 10, 2, 300); /* restarts at 10, 30, 70, 150 */
    check_warm_restarts(0.05, 0.0, 3, 2, 200);
    check_warm_restarts(0.05, 0.0, 2, 3, 100);
    check_warm_restarts(0.05, 0.0, 1, 2, 5000); /* restarts at 2^k - 1 */
}

/* The restart index must be exact at every restart. With T_0 = 1, T_mult = 3
 * the restart at t = 121 (= (3^5 - 1) / 2) has log(243) / log(3) =
 * 4.999... in double: a floor(log) formula puts t in the previous cycle at
 * its very end (lr = eta_min) instead of restarting at the base lr, where
 * torch's T_cur stepping restarts. Likewise T_0 = 1, T_mult = 10 at t = 111. */
static void test_cosine_warm_restarts_exact_at_every_restart(void **s) {
    (void)s;
    check_warm_restarts(0.05, 0.0, 1, 3, 5000);
    check_warm_restarts(0.05, 0.0, 1, 10, 5000);
    check_warm_restarts(0.05, 0.0, 5, 10, 6000);
    check_warm_restarts(0.05, 0.0, 2, 3, 2000);
}

/* torch.optim.lr_scheduler.OneCycleLR.get_lr, written out. */
static void onecycle_ref(double t, double T, double max_lr, double pct, double div, double fdiv,
                         int three, double bm, double mm, double *lr, double *mom) {
    double init = max_lr / div, min_lr = init / fdiv;
    double ends[3], l[4], m[4];
    int n;
    if (three) {
        n = 3;
        ends[0] = pct * T - 1, ends[1] = 2 * pct * T - 2, ends[2] = T - 1;
        l[0] = init, l[1] = max_lr, l[2] = init, l[3] = min_lr;
        m[0] = mm, m[1] = bm, m[2] = mm, m[3] = mm;
    } else {
        n = 2;
        ends[0] = pct * T - 1, ends[1] = T - 1;
        l[0] = init, l[1] = max_lr, l[2] = min_lr;
        m[0] = mm, m[1] = bm, m[2] = mm;
    }
    double start = 0;
    for (int i = 0; i < n; i++) {
        if (t <= ends[i] || i == n - 1) {
            double p = (t - start) / (ends[i] - start);
            *lr = l[i + 1] + (l[i] - l[i + 1]) / 2 * (cos(M_PI * p) + 1);
            *mom = m[i + 1] + (m[i] - m[i + 1]) / 2 * (cos(M_PI * p) + 1);
            return;
        }
        start = ends[i];
    }
}

static void check_onecycle(int three) {
    char yaml[256];
    snprintf(yaml, sizeof yaml, "{name: onecycle, max_lr: 1.0, pct_start: 0.25, div_factor: 25, "
             "final_div_factor: 1e4, three_phase: %s, base_momentum: 0.8, max_momentum: 0.9}",
             three ? "true" : "false");
    sched r;
    sched_open(&r, 0.01, yaml, 100);
    for (int t = 0; t < 100; t++) {
        double lr, mom;
        onecycle_ref(t, 100, 1.0, 0.25, 25, 1e4, three, 0.8, 0.9, &lr, &mom);
        check_lr(&r, t, lr);
        double got = gg_schedule_momentum(&r.s, t);
        if (fabs(got - mom) > RTOL) fail_msg("momentum(%d) = %.17g, expected %.17g", t, got, mom);
    }
    /* Landmarks: start at max_lr / div, peak at pct T - 1, end at max_lr / div / final_div. */
    check_lr(&r, 0, 1.0 / 25);
    check_lr(&r, 24, 1.0);
    assert_true(fabs(gg_schedule_momentum(&r.s, 0) - 0.9) < RTOL);
    assert_true(fabs(gg_schedule_momentum(&r.s, 24) - 0.8) < RTOL);
    if (three) check_lr(&r, 48, 1.0 / 25);
    check_lr(&r, 99, 1.0 / 25 / 1e4);
    sched_close(&r);
}

static void test_onecycle_two_phase(void **s) {
    (void)s;
    check_onecycle(0);
}

static void test_onecycle_three_phase(void **s) {
    (void)s;
    check_onecycle(1);
}

static void test_onecycle_defaults_and_no_momentum_cycling(void **s) {
    (void)s;
    sched r;
    /* max_lr 0 means 10 * lr; cycle_momentum false leaves momentum alone (NaN). */
    sched_open(&r, 0.01, "{name: onecycle, cycle_momentum: false}", 200);
    for (int t = 0; t < 200; t += 7) {
        double lr, mom;
        onecycle_ref(t, 200, 0.1, 0.3, 25, 1e4, 0, 0.85, 0.95, &lr, &mom);
        check_lr(&r, t, lr);
        assert_true(isnan(gg_schedule_momentum(&r.s, t)));
    }
    sched_close(&r);
}

static void test_linear_warmup_in_front_of_any_schedule(void **s) {
    (void)s;
    sched r;
    /* LinearLR from warmup_start, then the main schedule counting from 0 (SequentialLR). */
    sched_open(&r, 0.1, "{name: step, step_size: 10, gamma: 0.5, warmup_steps: 20, warmup_start: 0.1}", 100);
    for (int t = 0; t < 100; t++)
        check_lr(&r, t, t < 20 ? 0.1 * (0.1 + 0.9 * t / 20.0) : 0.1 * pow(0.5, (t - 20) / 10));
    sched_close(&r);
    /* Cosine: T is what the run has left after the warm-up. */
    sched_open(&r, 0.1, "{name: cosine, warmup_steps: 20, warmup_start: 0.0, min_lr: 0.001}", 120);
    for (int t = 0; t < 120; t++)
        check_lr(&r, t, t < 20 ? 0.1 * t / 20.0 : cosine(0.1, 0.001, t - 20, 100));
    sched_close(&r);
    /* Exponential with the default cosine-like warm-up start of 0. */
    sched_open(&r, 0.1, "{name: exponential, gamma: 0.95, warmup_steps: 5}", 50);
    for (int t = 0; t < 50; t++) check_lr(&r, t, t < 5 ? 0.1 * t / 5.0 : 0.1 * pow(0.95, t - 5));
    sched_close(&r);
}

static void test_cosine_warmup_longer_than_run_never_gives_zero_lr(void **s) {
    (void)s;
    /* The default cosine warm-up is 200 steps; runs of 50, 199, 200 and 201
     * steps (and explicit warm-ups around them) must train at every step
     * after the first: lr > 0 for t = 1 .. total - 1. */
    const int64_t totals[] = {1, 2, 50, 199, 200, 201, 202, 260};
    const char *yamls[] = {"{name: cosine}", "{name: cosine, warmup_steps: 300}",
                           "{name: cosine, warmup_steps: 200, min_lr: 0}"};
    for (size_t y = 0; y < sizeof yamls / sizeof *yamls; y++)
        for (size_t k = 0; k < sizeof totals / sizeof *totals; k++) {
            sched r;
            sched_open(&r, 0.01, yamls[y], totals[k]);
            for (int64_t t = 1; t < totals[k]; t++) {
                double lr = gg_schedule_lr(&r.s, t);
                if (!(lr > 0 && isfinite(lr)))
                    fail_msg("%s over %lld steps: lr(%lld) = %g", yamls[y], (long long)totals[k], (long long)t, lr);
            }
            sched_close(&r);
        }
}

static void test_plateau_patience_cooldown_threshold_min_lr(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: plateau, factor: 0.5, patience: 2, cooldown: 1, threshold: 0.1, min_lr: 0.02}", 100);
    /* ReduceLROnPlateau(mode=min, threshold_mode=rel): better means < best (1 - 0.1). */
    const struct { double loss; int cut; double lr; } seq[] = {
        {1.00, 0, 0.1},    /* best 1.0 */
        {0.95, 0, 0.1},    /* not 10% better: bad 1 */
        {0.95, 0, 0.1},    /* bad 2 */
        {0.80, 0, 0.1},    /* better (0.8 < 0.9): best 0.8, bad 0 */
        {0.79, 0, 0.1},    /* bad 1 */
        {0.78, 0, 0.1},    /* bad 2 */
        {0.77, 1, 0.05},   /* bad 3 > patience: cut, cooldown 1 */
        {0.77, 0, 0.05},   /* bad 1, cleared by the cooldown */
        {0.77, 0, 0.05},   /* bad 1 */
        {0.77, 0, 0.05},   /* bad 2 */
        {0.77, 1, 0.025},  /* bad 3: cut */
        {0.77, 0, 0.025},  /* cooldown */
        {0.77, 0, 0.025}, {0.77, 0, 0.025},
        {0.77, 1, 0.02},   /* 0.0125 floored at min_lr 0.02 */
        {0.77, 0, 0.02}, {0.77, 0, 0.02}, {0.77, 0, 0.02},
        {0.77, 0, 0.02},   /* at min_lr: no further cut is reported */
        {NAN, 0, 0.02},    /* a non-finite loss is ignored */
    };
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
        int cut = gg_schedule_plateau(&r.s, seq[i].loss);
        if (cut != seq[i].cut) fail_msg("epoch %zu (loss %g): cut %d, expected %d", i, seq[i].loss, cut, seq[i].cut);
        for (int t = 0; t < 3; t++) check_lr(&r, 10 * (int)i + t, seq[i].lr);
    }
    sched_close(&r);
    /* Any other schedule ignores the validation loss. */
    sched_open(&r, 0.1, "{name: constant, patience: 0}", 100);
    for (int i = 0; i < 5; i++) assert_int_equal(gg_schedule_plateau(&r.s, 1.0), 0);
    check_lr(&r, 0, 0.1);
    sched_close(&r);
}

static void test_scale_multiplies_every_schedule(void **s) {
    (void)s;
    sched r;
    sched_open(&r, 0.1, "{name: exponential, gamma: 0.9}", 100);
    r.s.scale = 0.25; /* what plateau, back-off and recovery cuts set */
    for (int t = 0; t < 20; t++) check_lr(&r, t, 0.025 * pow(0.9, t));
    sched_close(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_schedule),
        cmocka_unit_test(test_step_schedule),
        cmocka_unit_test(test_multistep_schedule),
        cmocka_unit_test(test_exponential_schedule),
        cmocka_unit_test(test_linear_decay_is_seeds_formula_floored_at_min_lr),
        cmocka_unit_test(test_inverse_decay_is_seeds_formula),
        cmocka_unit_test(test_polynomial_decay),
        cmocka_unit_test(test_cosine_annealing),
        cmocka_unit_test(test_cosine_warm_restarts),
        cmocka_unit_test(test_cosine_warm_restarts_exact_at_every_restart),
        cmocka_unit_test(test_onecycle_two_phase),
        cmocka_unit_test(test_onecycle_three_phase),
        cmocka_unit_test(test_onecycle_defaults_and_no_momentum_cycling),
        cmocka_unit_test(test_linear_warmup_in_front_of_any_schedule),
        cmocka_unit_test(test_cosine_warmup_longer_than_run_never_gives_zero_lr),
        cmocka_unit_test(test_plateau_patience_cooldown_threshold_min_lr),
        cmocka_unit_test(test_scale_multiplies_every_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
