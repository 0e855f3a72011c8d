/* The guard's core (src/guard/guard.c): the robust spike detector (median
 * and MAD of a window of past finite values, the value under test left
 * out), its window, the step's events, and the per-parameter measurement. */
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

typedef struct fixture {
    gg_config *c;
    gg_model *m;
    gg_guard gd;
} fixture;

static void fixture_open(fixture *f, const char *guard_yaml) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [3]\n  layers: [{dense: {units: 4}}, relu, {dense: {units: 2}}]\n"
             "guard: %s\n", guard_yaml);
    f->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(f->c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_int_equal(gg_model_new(f->c, 4, &f->m, &err), GG_OK);
    assert_int_equal(gg_guard_new(&f->gd, f->c, f->m->g, &err), GG_OK);
}

static void fixture_close(fixture *f) {
    gg_guard_free(&f->gd);
    gg_model_free(f->m);
    gg_config_free(f->c);
}

/* One step of the detector with the step's events cleared first, as the trainer does. */
static bool spike(fixture *f, int64_t step, double loss, double norm) {
    f->gd.n_events = 0;
    return gg_guard_spike(&f->gd, step, loss, norm);
}

static const gg_event *find_event(const fixture *f, const char *kind) {
    for (int i = 0; i < f->gd.n_events; i++)
        if (strcmp(f->gd.events[i].kind, kind) == 0) return &f->gd.events[i];
    return NULL;
}

/* A flat noisy series: loss 1 +- 0.02 and norm 2 +- 0.05, n steps from step 1. */
static void feed_flat(fixture *f, int n, uint64_t seed) {
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        double loss = 1 + 0.02 * (2 * gg_rng_uniform(&r) - 1);
        double norm = 2 + 0.05 * (2 * gg_rng_uniform(&r) - 1);
        if (spike(f, i + 1, loss, norm)) fail_msg("flat step %d (loss %g, norm %g) flagged", i + 1, loss, norm);
        assert_int_equal(f->gd.n_events, 0);
    }
}

static void test_spike_in_flat_noisy_series_is_caught(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    feed_flat(&f, 40, 1);
    assert_true(spike(&f, 41, 5.0, 2.0));
    const gg_event *e = find_event(&f, "spike");
    assert_non_null(e);
    assert_int_equal(e->step, 41);
    assert_non_null(strstr(e->message, "loss"));
    assert_non_null(strstr(e->message, "median"));
    assert_int_equal(f.gd.spikes, 1);
    /* A drop is no spike: only values above the median count. */
    assert_false(spike(&f, 42, 0.01, 0.001));
    fixture_close(&f);
}

static void test_gradient_norm_spike_is_caught_and_named(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    feed_flat(&f, 30, 2);
    assert_true(spike(&f, 31, 1.0, 40.0));
    const gg_event *e = find_event(&f, "spike");
    assert_non_null(e);
    assert_non_null(strstr(e->message, "gradient norm"));
    assert_int_equal(f.gd.n_events, 1); /* the loss was normal */
    fixture_close(&f);
}

static void test_spike_right_after_a_spike_is_still_caught(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    feed_flat(&f, 30, 3);
    /* Spikes in a row enter the window, but the median and MAD barely move. */
    for (int k = 0; k < 5; k++)
        if (!spike(&f, 31 + k, 8.0, 30.0)) fail_msg("spike %d in a row was masked", k + 1);
    assert_int_equal(f.gd.spikes, 10); /* loss and norm, five times */
    assert_false(spike(&f, 36, 1.0, 2.0)); /* and normal values are normal again */
    fixture_close(&f);
}

/* After new pruning masks the level moves on purpose: the history is
 * forgotten and nothing is judged until the window is full again. */
static void test_a_rebaseline_judges_again_once_the_window_is_full(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 20, threshold: 6, min_history: 8}}");
    feed_flat(&f, 30, 5);
    gg_guard_rebaseline(&f.gd);
    /* The loss jumps to 3 and settles: a step up, then noise around it. */
    for (int i = 0; i < 20; i++)
        if (spike(&f, 31 + i, i < 3 ? 5.0 - i : 3.0 + 0.01 * (i % 3), 6.0))
            fail_msg("step %d judged while the window refills", 31 + i);
    assert_int_equal(f.gd.spikes, 0);
    assert_false(f.gd.rebaseline);
    assert_false(spike(&f, 51, 3.01, 6.0)); /* the new level is normal */
    assert_true(spike(&f, 52, 30.0, 6.0));  /* and a spike above it is caught */
    fixture_close(&f);
}

static void test_nan_never_enters_the_window_nor_disables_detection(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    feed_flat(&f, 20, 4);
    assert_int_equal(f.gd.loss_w.n, 20);
    assert_int_equal(f.gd.norm_w.n, 20);
    /* Non-finite values are not spikes here (the non-finite policy handles them) and are not kept. */
    assert_false(spike(&f, 21, NAN, 2.0));
    assert_false(spike(&f, 22, INFINITY, NAN));
    assert_false(spike(&f, 23, 1.0, -INFINITY));
    assert_int_equal(f.gd.loss_w.n, 21);
    assert_int_equal(f.gd.norm_w.n, 21);
    for (int i = 0; i < f.gd.loss_w.n; i++) {
        assert_true(isfinite(f.gd.loss_w.v[i]));
        assert_true(isfinite(f.gd.norm_w.v[i]));
    }
    assert_true(spike(&f, 24, 6.0, 2.0));
    assert_true(spike(&f, 25, 1.0, 50.0));
    fixture_close(&f);
}

static void test_value_under_test_is_not_in_its_own_statistics(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 2}}");
    assert_false(spike(&f, 1, 1.0, 1.0));
    assert_false(spike(&f, 2, 1.1, 1.0));
    /* On the log scale the window {0, ln 1.1} has median 0.0477 and, with
     * one difference, no noise: the bar is ln 2, and 2.3 is 2.2x the median:
     * a spike. Counted in its own window {0, 0.095, 0.833} the median would
     * be 0.095 and the differences {0.095, 0.738} give noise
     * 1.4826 x 0.32 / sqrt 2 = 0.34, a bar of 6 x 0.34 = 2.0 > 0.74: it would
     * pass. */
    assert_true(spike(&f, 3, 2.3, 1.0));
    assert_non_null(strstr(find_event(&f, "spike")->message, "2.19x"));
    assert_int_equal(f.gd.loss_w.n, 3); /* pushed afterwards */
    fixture_close(&f);
}

static void test_detection_starts_after_min_history_values(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    for (int i = 0; i < 7; i++) assert_false(spike(&f, i + 1, 1.0, 1.0));
    assert_false(spike(&f, 8, 100.0, 100.0)); /* 7 values before it: too few to judge */
    fixture_close(&f);
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    for (int i = 0; i < 8; i++) assert_false(spike(&f, i + 1, 1.0, 1.0));
    assert_true(spike(&f, 9, 100.0, 100.0)); /* 8 values: judged */
    fixture_close(&f);
}

static void test_threshold_and_floor_of_the_robust_score(void **s) {
    (void)s;
    fixture f;
    /* A constant series has MAD 0: the floor is a doubling of the median,
     * so 1.99 is no spike and 2.01 is one. */
    fixture_open(&f, "{spike: {window: 50, threshold: 6, min_history: 8}}");
    for (int i = 0; i < 10; i++) spike(&f, i + 1, 1.0, 1.0);
    assert_false(spike(&f, 11, 1.99, 1.0));
    assert_true(spike(&f, 12, 2.01, 1.0));
    fixture_close(&f);
    fixture_open(&f, "{spike: {enabled: false}}");
    for (int i = 0; i < 10; i++) spike(&f, i + 1, 1.0, 1.0);
    assert_false(spike(&f, 11, 1e6, 1e6));
    assert_int_equal(f.gd.n_events, 0);
    fixture_close(&f);
}

static void test_window_is_a_ring_of_the_last_values(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{spike: {window: 5, threshold: 6, min_history: 2}}");
    for (int i = 1; i <= 8; i++) gg_window_push(&f.gd.loss_w, i);
    gg_window_push(&f.gd.loss_w, NAN);
    assert_int_equal(f.gd.loss_w.n, 5);
    double med, mad;
    assert_true(gg_window_stats(&f.gd.loss_w, f.gd.scratch, &med, &mad));
    assert_true(med == 6.0); /* {4, 5, 6, 7, 8} */
    assert_true(mad == 1.0); /* {2, 1, 0, 1, 2} */
    gg_window empty = {.v = NULL, .cap = 1, .n = 0, .pos = 0};
    assert_false(gg_window_stats(&empty, f.gd.scratch, &med, &mad));
    fixture_close(&f);
}

static void test_events_keep_kind_message_and_step(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{}");
    gg_guard_event(&f.gd, 7, "rollback", "rolled back to step %d", 3);
    assert_int_equal(f.gd.n_events, 1);
    assert_int_equal(f.gd.events[0].step, 7);
    assert_string_equal(f.gd.events[0].kind, "rollback");
    assert_string_equal(f.gd.events[0].message, "rolled back to step 3");
    /* At most GG_MAX_EVENTS per step; more are dropped, and long text is cut, not overrun. */
    char longmsg[600];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    for (int i = 0; i < GG_MAX_EVENTS + 5; i++) gg_guard_event(&f.gd, 8, "a-very-long-kind-name", "%s", longmsg);
    assert_int_equal(f.gd.n_events, GG_MAX_EVENTS);
    assert_int_equal(strlen(f.gd.events[1].kind), sizeof f.gd.events[1].kind - 1);
    assert_int_equal(strlen(f.gd.events[1].message), sizeof f.gd.events[1].message - 1);
    fixture_close(&f);
}

static void test_measure_gives_per_parameter_and_global_norms(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "{}");
    gg_graph *g = f.m->g;
    memset(g->grad, 0, g->param_len * sizeof *g->grad);
    gg_node_grad(gg_graph_find_param(g, "layers.0.weight"))[0] = 3;
    gg_node_grad(gg_graph_find_param(g, "layers.0.weight"))[5] = 4;
    gg_node_grad(gg_graph_find_param(g, "layers.2.bias"))[1] = 12;
    size_t nf = 99;
    double total = gg_guard_measure(&f.gd, &nf);
    assert_int_equal(nf, 0);
    assert_true(total == 13.0);
    for (int i = 0; i < g->n_params; i++) {
        const char *name = g->params[i]->name;
        double want = strcmp(name, "layers.0.weight") == 0 ? 25 : strcmp(name, "layers.2.bias") == 0 ? 144 : 0;
        assert_true(f.gd.param_sq[i] == want);
    }
    /* Huge but finite gradients stay finite; a NaN makes the total NaN and is counted. */
    gg_node_grad(gg_graph_find_param(g, "layers.2.bias"))[1] = 3e38f;
    gg_node_grad(gg_graph_find_param(g, "layers.2.bias"))[0] = 3e38f;
    total = gg_guard_measure(&f.gd, &nf);
    assert_true(isfinite(total));
    assert_true(fabs(total - sqrt(2.0) * (double)3e38f) <= 1e-12 * total);
    gg_node_grad(gg_graph_find_param(g, "layers.0.bias"))[2] = NAN;
    gg_node_grad(gg_graph_find_param(g, "layers.2.weight"))[0] = -INFINITY;
    total = gg_guard_measure(&f.gd, &nf);
    assert_true(isnan(total));
    assert_int_equal(nf, 2);
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike_in_flat_noisy_series_is_caught),
        cmocka_unit_test(test_gradient_norm_spike_is_caught_and_named),
        cmocka_unit_test(test_spike_right_after_a_spike_is_still_caught),
        cmocka_unit_test(test_a_rebaseline_judges_again_once_the_window_is_full),
        cmocka_unit_test(test_nan_never_enters_the_window_nor_disables_detection),
        cmocka_unit_test(test_value_under_test_is_not_in_its_own_statistics),
        cmocka_unit_test(test_detection_starts_after_min_history_values),
        cmocka_unit_test(test_threshold_and_floor_of_the_robust_score),
        cmocka_unit_test(test_window_is_a_ring_of_the_last_values),
        cmocka_unit_test(test_events_keep_kind_message_and_step),
        cmocka_unit_test(test_measure_gives_per_parameter_and_global_norms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
