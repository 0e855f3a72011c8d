/* The adaptive clippers of src/guard/adaptive.c driven through
 * gg_guard_clip on a small model whose weights and gradients are set by
 * hand: AGC (unit-wise, with exclusions), AutoClip (numpy percentile of a
 * bounded history) and ZClip (warm-up, then EMA z-scores); every expected
 * number is computed here from the papers' formulas. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "guard/guard.h"
#include "train/model.h"

static void assert_close(double got, double want, double rtol) {
    double err = fabs(got - want), scale = fabs(want) > 0 ? fabs(want) : 1;
    if (!(err <= rtol * scale)) fail_msg("got %.17g, expected %.17g (rel %.3g > %.3g)", got, want, err / scale, rtol);
}

/* input [3] -> layers.0 dense 2 (weight [2, 3], bias [2]) -> relu -> layers.2 dense 2. */
typedef struct fixture {
    gg_config *c;
    gg_model *m;
    gg_graph *g;
    gg_guard gd;
} fixture;

static void fixture_open(fixture *f, const char *guard_yaml) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [3]\n  layers: [{dense: {units: 2}}, relu, {dense: {units: 2}}]\n"
             "guard: %s\n", guard_yaml);
    f->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(f->c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_int_equal(gg_model_new(f->c, 4, &f->m, &err), GG_OK);
    f->g = gg_model_graph(f->m);
    assert_int_equal(gg_guard_new(&f->gd, f->c, f->g, &err), GG_OK);
    memset(f->g->grad, 0, f->g->param_len * sizeof *f->g->grad);
}

static void fixture_close(fixture *f) {
    gg_guard_free(&f->gd);
    gg_model_free(f->m);
    gg_config_free(f->c);
}

static gg_node *param(fixture *f, const char *name) {
    gg_node *p = gg_graph_find_param(f->g, name);
    assert_non_null(p);
    return p;
}

static double norm2(const gg_real *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static int count_kind(const gg_guard *gd, const char *kind) {
    int n = 0;
    for (int i = 0; i < gd->n_events; i++) n += strcmp(gd->events[i].kind, kind) == 0;
    return n;
}

/* ---- AGC ---------------------------------------------------------------------- */

static const gg_real W0[6] = {3, 4, 0, /* row norm 5: limit 0.01 * 5 = 0.05 */
                              0, 0, 0}; /* row norm 0: limit 0.01 * eps = 1e-5 */
static const gg_real G0[6] = {0.3f, 0.4f, 0, /* norm 0.5 > 0.05: clipped */
                              2e-6f, 0, 0};  /* 2e-6 < 1e-5: untouched */
static const gg_real B0[2] = {0, 0};                /* one unit, norm 0: limit 1e-5 */
static const gg_real GB0[2] = {3e-5f, 4e-5f};       /* norm 5e-5: clipped to 1e-5 */
static const gg_real W2[4] = {1, 0, 0, 1}, B2[2] = {0.5f, 0.5f};
static const gg_real G2[4] = {10, 10, 10, 10}, GB2[2] = {-7, 7}; /* far past their limits */

static void agc_set(fixture *f) {
    memcpy(gg_node_data(param(f, "layers.0.weight")), W0, sizeof W0);
    memcpy(gg_node_grad(param(f, "layers.0.weight")), G0, sizeof G0);
    memcpy(gg_node_data(param(f, "layers.0.bias")), B0, sizeof B0);
    memcpy(gg_node_grad(param(f, "layers.0.bias")), GB0, sizeof GB0);
    memcpy(gg_node_data(param(f, "layers.2.weight")), W2, sizeof W2);
    memcpy(gg_node_grad(param(f, "layers.2.weight")), G2, sizeof G2);
    memcpy(gg_node_data(param(f, "layers.2.bias")), B2, sizeof B2);
    memcpy(gg_node_grad(param(f, "layers.2.bias")), GB2, sizeof GB2);
}

/* A unit clipped to lambda max(||W_i||, eps): its norm is the limit and its
 * direction is kept (every element times the same factor). */
static void assert_unit_clipped(const gg_real *got, const gg_real *orig, size_t n, double limit) {
    double gn = norm2(orig, n), k = limit / gn;
    assert_true(gn > limit);
    assert_close(norm2(got, n), limit, 1e-6);
    for (size_t i = 0; i < n; i++) assert_close(got[i], orig[i] * k, 1e-6);
}

static void test_agc_clips_rows_to_lambda_times_weight_norm(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{clip: {mode: agc, agc_clip: 0.01, agc_eps: 1e-3, exclude: [last]}}");
    agc_set(&f);
    double coef;
    gg_real fused = gg_guard_clip(&f.gd, 1, 1.0, &coef);
    assert_true(fused == 1); /* AGC works in place; nothing is left to fuse */
    const gg_real *gw = gg_node_grad(param(&f, "layers.0.weight"));
    assert_unit_clipped(gw, G0, 3, 0.01 * 5);
    assert_memory_equal(gw + 3, G0 + 3, 3 * sizeof *gw); /* under its eps limit */
    assert_unit_clipped(gg_node_grad(param(&f, "layers.0.bias")), GB0, 2, 0.01 * 1e-3);
    /* "last" leaves the output layer's weight and bias alone. */
    assert_memory_equal(gg_node_grad(param(&f, "layers.2.weight")), G2, sizeof G2);
    assert_memory_equal(gg_node_grad(param(&f, "layers.2.bias")), GB2, sizeof GB2);
    /* The reported coefficient is the smallest factor applied: the bias's 0.2 vs the row's 0.1. */
    assert_close(coef, 0.01 * 5 / norm2(G0, 3), 1e-6);
    assert_int_equal(count_kind(&f.gd, "clip"), 1);
    /* The weights themselves are never touched. */
    assert_memory_equal(gg_node_data(param(&f, "layers.0.weight")), W0, sizeof W0);
    fixture_close(&f);
}

static void test_agc_without_exclusions_clips_output_layer_too(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{clip: {mode: agc, agc_clip: 0.01, agc_eps: 1e-3, exclude: []}}");
    agc_set(&f);
    double coef;
    gg_guard_clip(&f.gd, 1, 1.0, &coef);
    const gg_real *gw2 = gg_node_grad(param(&f, "layers.2.weight"));
    assert_unit_clipped(gw2, G2, 2, 0.01 * 1);
    assert_unit_clipped(gw2 + 2, G2 + 2, 2, 0.01 * 1);
    assert_unit_clipped(gg_node_grad(param(&f, "layers.2.bias")), GB2, 2, 0.01 * norm2(B2, 2));
    assert_close(coef, 0.01 / norm2(G2, 2), 1e-6);
    fixture_close(&f);
}

static void test_agc_excludes_parameters_by_name_prefix(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{clip: {mode: agc, agc_clip: 0.01, agc_eps: 1e-3, exclude: [layers.0.]}}");
    agc_set(&f);
    double coef;
    gg_guard_clip(&f.gd, 1, 1.0, &coef);
    assert_memory_equal(gg_node_grad(param(&f, "layers.0.weight")), G0, sizeof G0);
    assert_memory_equal(gg_node_grad(param(&f, "layers.0.bias")), GB0, sizeof GB0);
    assert_unit_clipped(gg_node_grad(param(&f, "layers.2.weight")), G2, 2, 0.01);
    fixture_close(&f);
}

/* ---- AutoClip -------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(v, p) with its default linear interpolation. */
static double np_percentile(const double *v, int n, double p) {
    double *s = malloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double rank = p / 100 * (n - 1), lo = floor(rank);
    int k = (int)lo;
    double r = k + 1 < n ? s[k] + (s[k + 1] - s[k]) * (rank - lo) : s[k];
    free(s);
    return r;
}

/* Feeds norms to a guard in autoclip mode and checks each step's factor
 * against the percentile of the last `history` norms, this one included. */
static void autoclip_run(double pct, int history, const double *norms, int n) {
    char yaml[256];
    snprintf(yaml, sizeof yaml, "{clip: {mode: autoclip, percentile: %g, history: %d}}", pct, history);
    fixture f;
    fixture_open(&f, yaml);
    double *seen = malloc((size_t)n * sizeof *seen);
    for (int i = 0; i < n; i++) {
        seen[i] = norms[i];
        int first = i + 1 > history ? i + 1 - history : 0;
        double thr = np_percentile(seen + first, i + 1 - first, pct);
        double want = fmin(1.0, thr / (norms[i] + 1e-6)), coef;
        f.gd.n_events = 0;
        gg_real fused = gg_guard_clip(&f.gd, i + 1, norms[i], &coef);
        if (fabs(coef - want) > 1e-12 * want)
            fail_msg("p%g history %d, step %d (norm %g): coef %.17g, expected %.17g (threshold %.17g)",
                     pct, history, i + 1, norms[i], coef, want, thr);
        assert_true(fused == (gg_real)coef);
        assert_int_equal(count_kind(&f.gd, "clip"), coef < 1);
        assert_true(f.gd.cs.autoclip_n == (i + 1 < history ? i + 1 : history));
    }
    free(seen);
    fixture_close(&f);
}

static void test_autoclip_threshold_is_numpy_percentile_of_history(void **s) {
    (void)s;
    const double norms[] = {5, 1, 4, 2, 3, 10, 0.5, 8, 7, 6.5, 2.25, 9, 1.5, 30};
    int n = (int)(sizeof norms / sizeof *norms);
    autoclip_run(10, 1000, norms, n);
    autoclip_run(50, 1000, norms, n);
    autoclip_run(90, 1000, norms, n);
    autoclip_run(37.5, 1000, norms, n);
}

static void test_autoclip_history_forgets_old_norms(void **s) {
    (void)s;
    /* Five huge norms, then small ones: with history 5 they are gone by the
     * tenth norm, whose threshold is p10 of {1, 2, 3, 4, 5} = 1.4. */
    const double norms[] = {100, 90, 80, 70, 60, 1, 2, 3, 4, 5, 2.5, 1.5};
    int n = (int)(sizeof norms / sizeof *norms);
    autoclip_run(10, 5, norms, n);
    autoclip_run(60, 3, norms, n);
    fixture f;
    fixture_open(&f, "{clip: {mode: autoclip, percentile: 10, history: 5}}");
    double coef = 1;
    for (int i = 0; i < 10; i++) gg_guard_clip(&f.gd, i + 1, norms[i], &coef);
    assert_int_equal(f.gd.cs.autoclip_n, 5);
    assert_close(coef, 1.4 / (5 + 1e-6), 1e-12);
    fixture_close(&f);
}

/* ---- ZClip --------------------------------------------------------------------------- */

static void test_zclip_warms_up_then_clips_by_ema_zscore(void **s) {
    (void)s;
    const double zt = 2.5, a = 0.9;
    fixture f;
    fixture_open(&f, "{clip: {mode: zclip, warmup: 4, z_threshold: 2.5, z_alpha: 0.9}}");
    /* Warm-up: no clipping, even of a norm far above the others. */
    const double warm[4] = {1, 2, 3, 40};
    double coef;
    for (int i = 0; i < 4; i++) {
        f.gd.n_events = 0;
        gg_real fused = gg_guard_clip(&f.gd, i + 1, warm[i], &coef);
        assert_true(coef == 1 && fused == 1);
        assert_int_equal(count_kind(&f.gd, "clip"), 0);
    }
    /* Then mean and population variance of the warm-up norms. */
    double mean = (1 + 2 + 3 + 40) / 4.0, var = 0;
    for (int i = 0; i < 4; i++) var += (warm[i] - mean) * (warm[i] - mean);
    var /= 4;
    assert_close(f.gd.cs.z_mean, mean, 1e-15);
    assert_close(f.gd.cs.z_var, var, 1e-15);

    /* Each later norm: z = (g - mean) / std; above z_t it is clipped to
     * mean + z_t std / (z / z_t), and the EMA takes the clipped value
     * (mean first, then the variance about the new mean). */
    const double later[] = {12, 100, 15, 14, 300, 13, 16};
    int64_t step = 5;
    int clipped = 0;
    for (size_t i = 0; i < sizeof later / sizeof *later; i++, step++) {
        double g = later[i], sd = sqrt(var), z = (g - mean) / (sd + 1e-6);
        double used = g, want = 1;
        if (z > zt) {
            used = mean + zt * sd / (z / zt);
            want = used / (g + 1e-6);
            clipped++;
        }
        f.gd.n_events = 0;
        gg_real fused = gg_guard_clip(&f.gd, step, g, &coef);
        if (fabs(coef - want) > 1e-12 * want)
            fail_msg("norm %g (z %.3f): coef %.17g, expected %.17g", g, z, coef, want);
        assert_true(fused == (gg_real)coef);
        assert_int_equal(count_kind(&f.gd, "clip"), want < 1);
        mean = a * mean + (1 - a) * used;
        var = a * var + (1 - a) * (used - mean) * (used - mean);
        assert_close(f.gd.cs.z_mean, mean, 1e-12);
        assert_close(f.gd.cs.z_var, var, 1e-12);
    }
    assert_int_equal(clipped, 2); /* 100 and 300; the rest are within 2.5 std */
    assert_int_equal(f.gd.clips, 2);
    fixture_close(&f);
}

static void test_zclip_clipped_norm_lands_on_the_threshold(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{clip: {mode: zclip, warmup: 3, z_threshold: 2.0, z_alpha: 0.97}}");
    double coef;
    for (int i = 0; i < 3; i++) gg_guard_clip(&f.gd, i + 1, 1.0 + i, &coef); /* mean 2, var 2/3 */
    double sd = sqrt(2.0 / 3), z = (50 - 2) / (sd + 1e-6), thr = 2 + 2.0 * sd / (z / 2.0);
    gg_guard_clip(&f.gd, 4, 50, &coef);
    /* The clipped gradient's norm, coef * 50, is the threshold (torch-style +1e-6 aside). */
    assert_close(coef * 50, thr, 1e-6);
    assert_true(thr > 2 && thr < 2 + 2.0 * sd); /* the adaptive threshold sits below mean + z_t std */
    fixture_close(&f);
}

static void test_clip_mode_none_never_clips(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{clip: {mode: none}}");
    double coef = 0;
    assert_true(gg_guard_clip(&f.gd, 1, 1e30, &coef) == 1);
    assert_true(coef == 1);
    assert_int_equal(f.gd.n_events, 0);
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agc_clips_rows_to_lambda_times_weight_norm),
        cmocka_unit_test(test_agc_without_exclusions_clips_output_layer_too),
        cmocka_unit_test(test_agc_excludes_parameters_by_name_prefix),
        cmocka_unit_test(test_autoclip_threshold_is_numpy_percentile_of_history),
        cmocka_unit_test(test_autoclip_history_forgets_old_norms),
        cmocka_unit_test(test_zclip_warms_up_then_clips_by_ema_zscore),
        cmocka_unit_test(test_zclip_clipped_norm_lands_on_the_threshold),
        cmocka_unit_test(test_clip_mode_none_never_clips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
