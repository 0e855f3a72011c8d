/* Norms and the classic clippers of src/guard/clip.c against numbers worked
 * out by hand: p-norms (1, 2, 3, inf), overflow safety for finite but huge
 * float gradients, non-finite counting, clip by value, per tensor, and the
 * global-norm coefficient torch.nn.utils.clip_grad_norm_ uses, both on its
 * own and as a trainer step applies it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "guard/guard.h"
#include "optim/optim.h"
#include "train/trainer.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof *(a))

static void assert_close(double got, double want, double rtol) {
    double err = fabs(got - want), scale = fabs(want) > 0 ? fabs(want) : 1;
    if (!(err <= rtol * scale)) fail_msg("got %.17g, expected %.17g (rel %.3g > %.3g)", got, want, err / scale, rtol);
}

/* The exact p-norm of the float values, in long double, as a reference. */
static double ref_norm(const gg_real *x, size_t n, double p) {
    long double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) m = fabsl((long double)x[i]) > m ? fabsl((long double)x[i]) : m;
    if (isinf(p)) return (double)m;
    for (size_t i = 0; i < n; i++) s += powl(fabsl((long double)x[i]) / m, (long double)p);
    return (double)(m * powl(s, 1.0L / (long double)p));
}

/* ---- gg_grad_stats_compute ----------------------------------------------- */

static void test_grad_stats_l2_by_hand(void **s) {
    (void)s;
    gg_real a[] = {3, -4};
    gg_grad_stats st;
    gg_grad_stats_compute(a, ARRAY_LEN(a), 2, &st);
    assert_true(st.norm == 5.0);
    assert_int_equal(st.nonfinite, 0);
    gg_real b[] = {1, -2, 2, 4}; /* 1 + 4 + 4 + 16 = 25 */
    gg_grad_stats_compute(b, ARRAY_LEN(b), 2, &st);
    assert_true(st.norm == 5.0);
    /* 1000 halves across all the chunks: sqrt(250). */
    gg_real *c = malloc(1000 * sizeof *c);
    for (int i = 0; i < 1000; i++) c[i] = i % 2 ? 0.5f : -0.5f;
    gg_grad_stats_compute(c, 1000, 2, &st);
    assert_close(st.norm, sqrt(250.0), 1e-14);
    free(c);
    gg_grad_stats_compute(a, 0, 2, &st);
    assert_true(st.norm == 0.0);
    assert_int_equal(st.nonfinite, 0);
}

static void test_grad_stats_l1_by_hand(void **s) {
    (void)s;
    gg_real a[] = {1, -2, 3, -0.5};
    gg_grad_stats st;
    gg_grad_stats_compute(a, ARRAY_LEN(a), 1, &st);
    assert_close(st.norm, 6.5, 1e-15);
    assert_true(st.max_abs == 3.0);
    assert_int_equal(st.nonfinite, 0);
}

static void test_grad_stats_l3_by_hand(void **s) {
    (void)s;
    gg_real a[] = {1, -2, 2}; /* 1 + 8 + 8 = 17 */
    gg_grad_stats st;
    gg_grad_stats_compute(a, ARRAY_LEN(a), 3, &st);
    assert_close(st.norm, cbrt(17.0), 1e-14);
    assert_true(st.max_abs == 2.0);
}

static void test_grad_stats_linf_by_hand(void **s) {
    (void)s;
    gg_real a[] = {1, -7, 3, 0};
    gg_grad_stats st;
    gg_grad_stats_compute(a, ARRAY_LEN(a), INFINITY, &st);
    assert_true(st.norm == 7.0);
    assert_true(st.max_abs == 7.0);
    assert_int_equal(st.nonfinite, 0);
}

static void test_grad_stats_huge_finite_elements_do_not_overflow(void **s) {
    (void)s;
    gg_real a[] = {1e20f, -2e20f, 3e20f};
    const double ps[] = {1, 2, 3, INFINITY};
    gg_grad_stats st;
    for (size_t k = 0; k < ARRAY_LEN(ps); k++) {
        gg_grad_stats_compute(a, ARRAY_LEN(a), ps[k], &st);
        assert_true(isfinite(st.norm));
        assert_close(st.norm, ref_norm(a, ARRAY_LEN(a), ps[k]), 1e-12);
    }
    /* Near FLT_MAX: the squares fit a double, a 10th power does not, so
     * p = 10 takes the rescaled pass. */
    gg_real b[] = {3e38f, -3e38f, 3e38f, 3e38f};
    const double pb[] = {1, 2, 3, 10, INFINITY};
    for (size_t k = 0; k < ARRAY_LEN(pb); k++) {
        gg_grad_stats_compute(b, ARRAY_LEN(b), pb[k], &st);
        assert_true(isfinite(st.norm));
        assert_close(st.norm, ref_norm(b, ARRAY_LEN(b), pb[k]), 1e-12);
        assert_int_equal(st.nonfinite, 0);
    }
    gg_grad_stats_compute(b, ARRAY_LEN(b), 2, &st);
    assert_close(st.norm, 2 * (double)3e38f, 1e-15);
}

static void test_grad_stats_counts_nan_and_inf_as_nonfinite(void **s) {
    (void)s;
    gg_real a[] = {1, NAN, INFINITY, -INFINITY, -2};
    const double ps[] = {1, 2, 3, INFINITY};
    for (size_t k = 0; k < ARRAY_LEN(ps); k++) {
        gg_grad_stats st;
        gg_grad_stats_compute(a, ARRAY_LEN(a), ps[k], &st);
        assert_int_equal(st.nonfinite, 3);
        assert_true(isnan(st.norm));
        assert_true(st.max_abs == 2.0); /* over the finite elements */
    }
}

/* ---- clip by value ------------------------------------------------------- */

static void test_clip_value_clamps_to_range(void **s) {
    (void)s;
    gg_real x[] = {-3, -0.5f, 0, 0.5f, 3, 1, -1, 1e30f};
    const gg_real want[] = {-1, -0.5f, 0, 0.5f, 1, 1, -1, 1};
    double kept = gg_clip_value(x, ARRAY_LEN(x), 1.0);
    assert_memory_equal(x, want, sizeof want);
    assert_close(kept, 1 - 3.0 / 8, 1e-15); /* -3, 3 and 1e30 were clipped; +-1 were not */
    gg_real y[] = {0.25f, -0.125f};
    assert_true(gg_clip_value(y, 2, 0.5) == 1.0);
    assert_true(y[0] == 0.25f && y[1] == -0.125f);
    gg_real z[] = {0.3f, -0.7f};
    gg_clip_value(z, 2, 0.01);
    assert_true(z[0] == (gg_real)0.01 && z[1] == (gg_real)-0.01);
}

/* ---- the global coefficient ---------------------------------------------- */

static void test_clip_global_coef_is_torch_formula(void **s) {
    (void)s;
    /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped at 1. */
    assert_true(gg_clip_global_coef(10, 1) == 1.0 / (10 + 1e-6));
    assert_close(gg_clip_global_coef(10, 1), 0.099999990000001, 1e-13);
    assert_true(gg_clip_global_coef(4, 0.5) == 0.5 / (4 + 1e-6));
    assert_true(gg_clip_global_coef(0.5, 1) == 1.0);
    assert_true(gg_clip_global_coef(0, 1) == 1.0);
    /* At exactly max_norm the +1e-6 makes it a hair below 1, as in torch. */
    assert_true(gg_clip_global_coef(1, 1) == 1.0 / (1 + 1e-6));
    assert_true(gg_clip_global_coef(1, 1) < 1.0);
}

/* ---- graphs whose parameter gradients are set by hand --------------------- */

typedef struct hand_graph {
    gg_graph *g;
    gg_node *w, *b; /* W [2, 3], b [2] */
} hand_graph;

static void hand_graph_open(hand_graph *h) {
    h->g = gg_graph_new(2, 1);
    int in = 3, out = 2, wd[2] = {2, 3}, bd[1] = {2};
    gg_node *x = gg_input(h->g, "x", 1, &in);
    h->w = gg_param(h->g, "w", 2, wd, GG_INIT_UNIFORM, 0.5);
    h->b = gg_param(h->g, "b", 1, bd, GG_INIT_UNIFORM, 0.5);
    gg_node *y = gg_linear(h->g, x, h->w, h->b);
    gg_node *t = gg_input(h->g, "t", 1, &out);
    gg_mse_loss(h->g, y, t);
    gg_error err = {0};
    if (gg_graph_build(h->g, &err) != GG_OK) fail_msg("%s", err.msg);
    memset(gg_graph_param_grad(h->g), 0, gg_graph_param_len(h->g) * sizeof(gg_real));
}

static void test_clip_per_tensor_clips_each_tensor_to_its_own_norm(void **s) {
    (void)s;
    hand_graph h;
    hand_graph_open(&h);
    gg_real *gw = gg_node_grad(h.w), *gb = gg_node_grad(h.b);
    const gg_real w0[6] = {6, 0, 0, 0, -8, 0}; /* norm 10 */
    const gg_real b0[2] = {0.3f, 0.4f};        /* norm 0.5: left alone */
    memcpy(gw, w0, sizeof w0);
    memcpy(gb, b0, sizeof b0);
    double smallest = gg_clip_per_tensor(h.g, 1.0, 2);
    double k = 1.0 / (10 + 1e-6);
    assert_true(smallest == k);
    for (int i = 0; i < 6; i++) assert_true(gw[i] == w0[i] * (gg_real)k);
    assert_memory_equal(gb, b0, sizeof b0);
    gg_grad_stats st;
    gg_grad_stats_compute(gw, 6, 2, &st);
    assert_close(st.norm, 1.0, 1e-6);

    /* Infinity norm, max_norm 0.2: W (max 8) and b (max 0.4) both clip, each by its own factor. */
    memcpy(gw, w0, sizeof w0);
    memcpy(gb, b0, sizeof b0);
    smallest = gg_clip_per_tensor(h.g, 0.2, INFINITY);
    double kw = 0.2 / (8 + 1e-6), kb = 0.2 / (0.4f + 1e-6);
    assert_true(smallest == kw);
    for (int i = 0; i < 6; i++) assert_true(gw[i] == w0[i] * (gg_real)kw);
    for (int i = 0; i < 2; i++) assert_true(gb[i] == b0[i] * (gg_real)kb);
    gg_graph_free(h.g);
}

/* Sets every parameter gradient, measures, clips with guard.clip.mode
 * global_norm as a trainer step does, applies the fused factor through
 * SGD (lr 1, params 0) and returns the norm of what was applied. */
static double clip_through_guard(hand_graph *h, const gg_real *grad, double max_norm, double p,
                                 double *measured) {
    gg_config *c = gg_config_new_default();
    char yaml[256];
    snprintf(yaml, sizeof yaml, "optimizer: {name: sgd, lr: 1.0}\n"
             "guard: {clip: {mode: global_norm, max_norm: %.17g, norm_type: %s}}\n",
             max_norm, isinf(p) ? "inf" : (p == 1 ? "1" : "2"));
    assert_int_equal(gg_config_load_string(c, yaml, NULL), GG_OK);
    gg_guard gd;
    assert_int_equal(gg_guard_new(&gd, c, h->g, NULL), GG_OK);
    size_t len = gg_graph_param_len(h->g), nf = 0;
    gg_real *g = gg_graph_param_grad(h->g);
    memcpy(g, grad, len * sizeof *g);
    *measured = gg_guard_measure(&gd, &nf);
    assert_int_equal(nf, 0);
    double coef;
    gg_real fused = gg_guard_clip(&gd, 1, *measured, &coef);
    /* The factor comes back for the optimiser to fuse, unless it is too
     * small for a float: then the gradient was rescaled in place. */
    assert_true(fused == (gg_real)coef || (fused == 1 && coef < 1e-30));
    gg_optim *o;
    assert_int_equal(gg_optim_new(c, len, &o, NULL), GG_OK);
    gg_real *upd = calloc(len, sizeof *upd);
    gg_optim_step(o, upd, g, fused);
    for (size_t i = 0; i < len; i++) assert_true(isfinite(upd[i]));
    gg_grad_stats st;
    gg_grad_stats_compute(upd, len, p, &st);
    free(upd);
    gg_optim_free(o);
    gg_guard_free(&gd);
    gg_config_free(c);
    return st.norm;
}

static void test_global_clip_rescales_huge_finite_gradient_to_max_norm(void **s) {
    (void)s;
    hand_graph h;
    hand_graph_open(&h);
    size_t len = gg_graph_param_len(h.g);
    gg_real *grad = malloc(len * sizeof *grad);
    /* W's six and b's two elements hold 1e20 .. 3e20 (the flat block may be padded). */
    gg_real *gw = gg_node_grad(h.w), *gb = gg_node_grad(h.b), *flat = gg_graph_param_grad(h.g);
    const gg_real big[8] = {1e20f, -2e20f, 3e20f, 1.5e20f, -2.5e20f, 1e20f, 3e20f, -3e20f};
    memset(flat, 0, len * sizeof *flat);
    memcpy(gw, big, 6 * sizeof *gw);
    memcpy(gb, big + 6, 2 * sizeof *gb);
    memcpy(grad, flat, len * sizeof *grad);
    double measured, applied;
    applied = clip_through_guard(&h, grad, 1.0, 2, &measured);
    assert_close(measured, ref_norm(big, 8, 2), 1e-12);
    assert_close(applied, 1.0, 1e-5);
    applied = clip_through_guard(&h, grad, 1.0, INFINITY, &measured);
    assert_close(applied, 1.0, 1e-5);
    applied = clip_through_guard(&h, grad, 0.25, 2, &measured);
    assert_close(applied, 0.25, 1e-5);

    /* Elements of 3e38: the squares overflow float but not the norm. */
    const gg_real huge[8] = {3e38f, -3e38f, 3e38f, 3e38f, -3e38f, 3e38f, 3e38f, -3e38f};
    memset(flat, 0, len * sizeof *flat);
    memcpy(gw, huge, 6 * sizeof *gw);
    memcpy(gb, huge + 6, 2 * sizeof *gb);
    memcpy(grad, flat, len * sizeof *grad);
    applied = clip_through_guard(&h, grad, 1.0, 2, &measured);
    assert_close(measured, sqrt(8.0) * (double)3e38f, 1e-12);
    assert_close(applied, 1.0, 1e-5);
    applied = clip_through_guard(&h, grad, 5.0, INFINITY, &measured);
    assert_close(applied, 5.0, 1e-5);
    free(grad);
    gg_graph_free(h.g);
}

/* The same, with a max_norm small enough that max_norm / ||g|| is below
 * FLT_MIN: the fused float factor must not lose the clip's precision. */
static void test_global_clip_of_3e38_gradient_to_small_max_norm(void **s) {
    (void)s;
    hand_graph h;
    hand_graph_open(&h);
    size_t len = gg_graph_param_len(h.g);
    gg_real *grad = malloc(len * sizeof *grad), *flat = gg_graph_param_grad(h.g);
    memset(flat, 0, len * sizeof *flat);
    for (int i = 0; i < 6; i++) gg_node_grad(h.w)[i] = i % 2 ? -3e38f : 3e38f;
    for (int i = 0; i < 2; i++) gg_node_grad(h.b)[i] = 3e38f;
    memcpy(grad, flat, len * sizeof *grad);
    double measured;
    double applied = clip_through_guard(&h, grad, 1e-3, 2, &measured);
    free(grad);
    gg_graph_free(h.g);
    assert_true(1e-3 / measured < FLT_MIN); /* the case this test is about */
    assert_close(applied, 1e-3, 1e-5);
}

/* ---- through a trainer step ---------------------------------------------- */

static gg_dataset *blobs(size_t n) {
    gg_real *x = malloc(n * 4 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? 1 : -1));
    }
    gg_dataset *d = gg_dataset_from_arrays(n, 4, x, 1, y, 2);
    free(x);
    free(y);
    return d;
}

static void test_trainer_step_applies_global_clip_coefficient(void **s) {
    (void)s;
    gg_config *c = gg_config_new_default();
    assert_int_equal(gg_config_load_string(c,
        "model:\n  input: [4]\n  layers: [{dense: {units: 8}}, tanh, {dense: {units: 2}}]\n"
        "optimizer: {name: sgd, lr: 0.5}\nschedule: {name: constant}\n"
        "data: {shuffle: false}\n"
        "guard: {clip: {mode: global_norm, max_norm: 0.05}}\n"
        "train: {batch_size: 16, epochs: 1}\n", NULL), GG_OK);
    gg_dataset *d = blobs(64);
    gg_model *m;
    gg_trainer *t;
    assert_int_equal(gg_model_new(c, 16, &m, NULL), GG_OK);
    assert_int_equal(gg_trainer_new(m, c, d, &t, NULL), GG_OK);
    gg_graph *g = m->g;
    size_t len = g->param_len;
    /* The first batch's gradient, computed as the step will compute it. */
    gg_model_load_batch(m, d, t->order, 0, 16);
    gg_graph_set_training(g, 1);
    gg_graph_forward(g);
    gg_graph_backward(g, m->loss);
    double sq = 0;
    for (int i = 0; i < g->n_params; i++) {
        gg_grad_stats st;
        gg_grad_stats_compute(g->params[i]->out->dx, g->params[i]->out->len, 2, &st);
        sq += st.norm * st.norm;
    }
    double norm = sqrt(sq), coef = 0.05 / (norm + 1e-6);
    assert_true(norm > 0.05); /* so the clip bites */
    gg_real *want = malloc(len * sizeof *want);
    for (size_t i = 0; i < len; i++) want[i] = g->param[i] - (gg_real)0.5 * (g->grad[i] * (gg_real)coef);
    gg_step_info info;
    assert_int_equal(gg_trainer_step(t, &info, NULL), GG_OK);
    assert_close(info.grad_norm, norm, 1e-12);
    assert_close(info.clip_coef, coef, 1e-12);
    double dmax = 0, wmax = 0;
    for (size_t i = 0; i < len; i++) {
        dmax = fmax(dmax, fabs((double)g->param[i] - want[i]));
        wmax = fmax(wmax, fabs((double)want[i]));
    }
    assert_true(dmax <= 1e-6 * wmax);
    const gg_event *ev;
    int ne = gg_trainer_events(t, &ev), clip_events = 0;
    for (int i = 0; i < ne; i++) clip_events += strcmp(ev[i].kind, "clip") == 0;
    assert_int_equal(clip_events, 1);
    free(want);
    gg_trainer_free(t);
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_stats_l2_by_hand),
        cmocka_unit_test(test_grad_stats_l1_by_hand),
        cmocka_unit_test(test_grad_stats_l3_by_hand),
        cmocka_unit_test(test_grad_stats_linf_by_hand),
        cmocka_unit_test(test_grad_stats_huge_finite_elements_do_not_overflow),
        cmocka_unit_test(test_grad_stats_counts_nan_and_inf_as_nonfinite),
        cmocka_unit_test(test_clip_value_clamps_to_range),
        cmocka_unit_test(test_clip_global_coef_is_torch_formula),
        cmocka_unit_test(test_clip_per_tensor_clips_each_tensor_to_its_own_norm),
        cmocka_unit_test(test_global_clip_rescales_huge_finite_gradient_to_max_norm),
        cmocka_unit_test(test_global_clip_of_3e38_gradient_to_small_max_norm),
        cmocka_unit_test(test_trainer_step_applies_global_clip_coefficient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
