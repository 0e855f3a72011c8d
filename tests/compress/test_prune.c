/* Magnitude pruning: the sparsity asked for is the one reached (global
 * and per layer, unstructured exactly; structured in whole rows), the
 * pruned weights are the smallest, biases and norm parameters are never
 * touched, ties are cut exactly, pruned weights are exactly zero and stay
 * zero through fine-tuning (one-shot and with the gradual schedule of Zhu
 * and Gupta), the schedule's values, masks restored for a resumed run, and
 * bad arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/compress.h"
#include "support/fixtures.h"
#include "train/trainer.h"

static const char yaml[] =
    "model:\n  input: [30]\n  layers:\n"
    "    - dense: {units: 40}\n    - batch_norm\n    - relu\n"
    "    - dense: {units: 24}\n    - relu\n    - dense: {units: 5}\n"
    "loss: cross_entropy\n"
    "optimizer: {name: adam, lr: 0.01}\n"
    "train: {batch_size: 16}\n";

static gg_config *config(void) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    return c;
}

static gg_model *build(uint64_t seed) {
    gg_config *c = config();
    c->seed = seed;
    gg_model *m = NULL;
    gg_error err = {0};
    if (gg_model_new(c, 64, &m, &err) != GG_OK) fail_msg("%s", err.msg);
    gg_config_free(c);
    return m;
}

static gg_pruner *pruner(gg_model *m, double s, int structured, gg_prune_scope scope) {
    gg_prune_spec spec;
    gg_prune_spec_default(&spec);
    spec.sparsity = s;
    spec.structured = structured;
    spec.scope = scope;
    gg_pruner *p = NULL;
    gg_error err = {0};
    if (gg_pruner_new(m, &spec, &p, &err) != GG_OK) fail_msg("%s", err.msg);
    return p;
}

static size_t zeros(const gg_node *w) {
    size_t z = 0;
    for (size_t i = 0; i < w->out->len; i++) z += w->out->x[i] == 0;
    return z;
}

static size_t round_count(double s, size_t n) { return (size_t)floor(s * (double)n + 0.5); }

/* A copy of every parameter, to check what pruning left alone. */
static gg_real *snapshot(gg_model *m) {
    gg_graph *g = gg_model_graph(m);
    gg_real *c = malloc(g->param_len * sizeof *c);
    memcpy(c, g->param, g->param_len * sizeof *c);
    return c;
}

/* Non-weight parameters are unchanged; pruned weights were no larger than
 * the kept ones of their group (one tensor, or all of them when global). */
static void check_untouched_and_smallest(gg_model *m, const gg_real *before, bool global) {
    gg_graph *g = gg_model_graph(m);
    double max_cut_all = 0, min_kept_all = INFINITY;
    for (int i = 0; i < g->n_params; i++) {
        gg_node *p = g->params[i];
        const gg_real *old = before + (p->out->x - g->param);
        if (p->out->ndim < 2) {
            assert_memory_equal(p->out->x, old, p->out->len * sizeof *old);
            continue;
        }
        double max_cut = 0, min_kept = INFINITY;
        for (size_t k = 0; k < p->out->len; k++) {
            double a = fabs((double)old[k]);
            if (p->out->x[k] == 0) max_cut = fmax(max_cut, a);
            else {
                min_kept = fmin(min_kept, a);
                assert_true(p->out->x[k] == old[k]); /* kept weights are unchanged */
            }
        }
        if (!global) assert_true(max_cut <= min_kept);
        max_cut_all = fmax(max_cut_all, max_cut);
        min_kept_all = fmin(min_kept_all, min_kept);
    }
    if (global) assert_true(max_cut_all <= min_kept_all);
}

static void test_unstructured_global_reaches_the_sparsity_exactly(void **s) {
    (void)s;
    const double levels[] = {0, 0.33, 0.5, 0.75, 0.9, 0.95};
    for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
        gg_model *m = build(1);
        gg_real *before = snapshot(m);
        gg_pruner *p = pruner(m, levels[li], 0, GG_PRUNE_GLOBAL);
        gg_error err = {0};
        assert_int_equal(gg_pruner_prune(p, levels[li], &err), GG_OK);
        const gg_prune_stats *st;
        int n = gg_pruner_stats(p, &st);
        assert_int_equal(n, 3);
        size_t total = 0, z = 0;
        for (int i = 0; i < n; i++) total += st[i].total, z += st[i].zeros;
        assert_int_equal(total, 30 * 40 + 40 * 24 + 24 * 5);
        assert_int_equal(z, round_count(levels[li], total));
        assert_near(gg_pruner_sparsity(p), (double)round_count(levels[li], total) / (double)total, 1e-12);
        check_untouched_and_smallest(m, before, true);
        gg_pruner_free(p);
        free(before);
        gg_model_free(m);
    }
}

static void test_unstructured_per_layer_reaches_it_in_every_layer(void **s) {
    (void)s;
    const double levels[] = {0.5, 0.9, 0.95};
    for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
        gg_model *m = build(2);
        gg_real *before = snapshot(m);
        gg_pruner *p = pruner(m, levels[li], 0, GG_PRUNE_LAYER);
        gg_error err = {0};
        assert_int_equal(gg_pruner_prune(p, levels[li], &err), GG_OK);
        const gg_prune_stats *st;
        int n = gg_pruner_stats(p, &st);
        for (int i = 0; i < n; i++) {
            assert_int_equal(st[i].zeros, round_count(levels[li], st[i].total));
            assert_int_equal(zeros(gg_graph_find_param(gg_model_graph(m), st[i].name)), st[i].zeros);
        }
        check_untouched_and_smallest(m, before, false);
        gg_pruner_free(p);
        free(before);
        gg_model_free(m);
    }
}

static void test_structured_prunes_whole_units_and_keeps_the_output_layer(void **s) {
    (void)s;
    gg_model *m = build(3);
    gg_real *before = snapshot(m);
    gg_pruner *p = pruner(m, 0.75, 1, GG_PRUNE_LAYER);
    gg_error err = {0};
    assert_int_equal(gg_pruner_prune(p, 0.75, &err), GG_OK);
    const gg_prune_stats *st;
    int n = gg_pruner_stats(p, &st);
    assert_int_equal(st[0].zero_rows, 30); /* round(0.75 x 40) of layers.0's 40 units */
    assert_int_equal(st[1].zero_rows, 18); /* of 24 */
    assert_int_equal(st[2].zero_rows, 0);  /* the output layer */
    assert_false(st[2].prunable);
    for (int i = 0; i < n; i++) assert_int_equal(st[i].zeros, (size_t)st[i].zero_rows * (st[i].total / st[i].rows));
    /* The pruned rows are those of least L2 norm. */
    gg_graph *g = gg_model_graph(m);
    for (int i = 0; i < 2; i++) {
        gg_node *w = gg_graph_find_param(g, st[i].name);
        const gg_real *old = before + (w->out->x - g->param);
        int rows = w->out->shape[0], len = (int)(w->out->len / (size_t)rows);
        double max_cut = 0, min_kept = INFINITY;
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int k = 0; k < len; k++) ss += (double)old[r * len + k] * (double)old[r * len + k];
            if (w->out->x[r * len] == 0) max_cut = fmax(max_cut, ss);
            else min_kept = fmin(min_kept, ss);
        }
        assert_true(max_cut <= min_kept);
    }
    assert_near(gg_pruner_sparsity(p), (30.0 * 30 + 18.0 * 40) / (30 * 40 + 40 * 24), 1e-12);
    gg_pruner_free(p);
    free(before);
    gg_model_free(m);
}

static void test_structured_global_reaches_the_sparsity_within_half_a_row(void **s) {
    (void)s;
    const double levels[] = {0.5, 0.75, 0.9, 0.95};
    for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
        gg_model *m = build(4);
        gg_pruner *p = pruner(m, levels[li], 1, GG_PRUNE_GLOBAL);
        gg_error err = {0};
        assert_int_equal(gg_pruner_prune(p, levels[li], &err), GG_OK);
        const gg_prune_stats *st;
        gg_pruner_stats(p, &st);
        /* Prunable: layers.0 (rows of 30) and layers.2 (rows of 40). */
        double total = 30 * 40 + 40 * 24, reached = gg_pruner_sparsity(p);
        assert_true(fabs(reached - levels[li]) <= 0.5 * 40 / total + 1e-12);
        assert_true(st[0].zero_rows < st[0].rows && st[1].zero_rows < st[1].rows);
        assert_int_equal(st[2].zeros, 0);
        gg_pruner_free(p);
        gg_model_free(m);
    }
}

static void test_ties_are_cut_exactly_in_position_order(void **s) {
    (void)s;
    gg_model *m = build(5);
    gg_graph *g = gg_model_graph(m);
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i]->out->ndim == 2)
            for (size_t k = 0; k < g->params[i]->out->len; k++) g->params[i]->out->x[k] = (k % 2) ? 0.5f : -0.5f;
    gg_pruner *p = pruner(m, 0.3, 0, GG_PRUNE_LAYER);
    gg_error err = {0};
    assert_int_equal(gg_pruner_prune(p, 0.3, &err), GG_OK);
    gg_node *w = gg_graph_find_param(g, "layers.0.weight");
    size_t k = round_count(0.3, w->out->len);
    for (size_t i = 0; i < w->out->len; i++) assert_true((w->out->x[i] == 0) == (i < k));
    gg_pruner_free(p);
    gg_model_free(m);
}

/* A small classification set the model can learn from. */
static gg_dataset *data(size_t n) {
    gg_real *x = malloc(n * 30 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_test_fill(x, n * 30, 9, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double a = 0;
        for (int k = 0; k < 30; k++) a += (double)x[i * 30 + k] * (k % 3 - 1);
        y[i] = (gg_real)(a > 0.5 ? 0 : a > 0 ? 1 : a > -0.5 ? 2 : 3);
    }
    gg_dataset *d = gg_dataset_from_arrays(n, 30, x, 1, y, 5);
    free(x);
    free(y);
    return d;
}

/* Trains `steps` steps with gg_prune_step after each, checking after every
 * step that every weight the masks prune is exactly zero. */
static void train_masked(gg_model *m, gg_pruner *p, gg_trainer *t, int steps, double *first_loss,
                         double *last_loss, const uint8_t *must_stay_zero_or_null) {
    gg_error err = {0};
    gg_step_info info;
    gg_node *w0 = gg_graph_find_param(gg_model_graph(m), "layers.0.weight");
    for (int i = 0; i < steps; i++) {
        assert_int_equal(gg_trainer_step(t, &info, &err), GG_OK);
        gg_prune_step(p, info.step);
        if (i == 0) *first_loss = info.loss;
        if (must_stay_zero_or_null)
            for (size_t k = 0; k < w0->out->len; k++)
                if (must_stay_zero_or_null[k] && w0->out->x[k] != 0)
                    fail_msg("step %lld: pruned weight %zu is %g", (long long)info.step, k,
                             (double)w0->out->x[k]);
    }
    *last_loss = info.loss;
}

static void test_pruned_weights_stay_exactly_zero_through_fine_tuning(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *m = build(6);
    gg_dataset *d = data(512);
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_OK);
    gg_pruner *p = pruner(m, 0.8, 0, GG_PRUNE_GLOBAL);
    assert_int_equal(gg_pruner_prune(p, 0.8, &err), GG_OK);
    gg_node *w0 = gg_graph_find_param(gg_model_graph(m), "layers.0.weight");
    uint8_t *pruned = malloc(w0->out->len);
    for (size_t k = 0; k < w0->out->len; k++) pruned[k] = w0->out->x[k] == 0;
    gg_real *before = snapshot(m);
    double first, last;
    train_masked(m, p, t, 200, &first, &last, pruned);
    assert_true(last < first); /* it trained */
    /* Kept weights moved; the count of zeros is still the one asked for. */
    size_t moved = 0;
    for (size_t k = 0; k < w0->out->len; k++)
        moved += !pruned[k] && w0->out->x[k] != before[(w0->out->x - gg_model_graph(m)->param) + k];
    assert_true(moved > 0);
    size_t total = 30 * 40 + 40 * 24 + 24 * 5, z = 0;
    const gg_prune_stats *st;
    int n = gg_pruner_stats(p, &st);
    for (int i = 0; i < n; i++) z += st[i].zeros;
    assert_int_equal(z, round_count(0.8, total));
    free(pruned);
    free(before);
    gg_pruner_free(p);
    gg_trainer_free(t);
    gg_dataset_free(d);
    gg_model_free(m);
    gg_config_free(c);
}

static void test_the_gradual_schedule_is_zhu_and_gupta_cubic(void **s) {
    (void)s;
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    sp.sparsity = 0.9;
    sp.initial_sparsity = 0.1;
    sp.start_step = 100;
    sp.end_step = 500;
    assert_near(gg_prune_target(&sp, 0), 0, 0);
    assert_near(gg_prune_target(&sp, 100), 0.1, 1e-15);
    assert_near(gg_prune_target(&sp, 300), 0.9 + (0.1 - 0.9) * 0.125, 1e-15);
    assert_near(gg_prune_target(&sp, 500), 0.9, 0);
    assert_near(gg_prune_target(&sp, 10000), 0.9, 0);
    double prev = 0;
    for (int64_t t = 100; t <= 600; t++) {
        double v = gg_prune_target(&sp, t);
        assert_true(v >= prev);
        prev = v;
    }
    sp.end_step = sp.start_step; /* no ramp: the final sparsity at once */
    assert_near(gg_prune_target(&sp, 100), 0.9, 0);
}

static void test_gradual_pruning_during_training_follows_the_schedule(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *m = build(7);
    gg_dataset *d = data(512);
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_OK);
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    sp.sparsity = 0.9;
    sp.start_step = 10;
    sp.end_step = 110;
    sp.frequency = 10;
    gg_pruner *p = NULL;
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_OK);
    gg_node *w0 = gg_graph_find_param(gg_model_graph(m), "layers.0.weight");
    uint8_t *was_zero = calloc(w0->out->len, 1);
    size_t total = 30 * 40 + 40 * 24 + 24 * 5;
    gg_step_info info;
    for (int i = 0; i < 150; i++) {
        assert_int_equal(gg_trainer_step(t, &info, &err), GG_OK);
        int changed = gg_prune_step(p, info.step);
        int64_t st = info.step;
        bool due = st >= 10 && (st >= 110 ? st == 110 : (st - 10) % 10 == 0);
        assert_int_equal(changed, due && gg_prune_target(&sp, st) > 0);
        /* Between updates the sparsity is that of the last update. */
        int64_t last = st < 10 ? -1 : st >= 110 ? 110 : 10 + (st - 10) / 10 * 10;
        double want = last < 0 ? 0 : gg_prune_target(&sp, last);
        const gg_prune_stats *ps;
        int n = gg_pruner_stats(p, &ps);
        size_t z = 0;
        for (int k = 0; k < n; k++) z += ps[k].zeros;
        assert_int_equal(z, round_count(want, total));
        /* Masks only grow: once pruned, always zero. */
        for (size_t k = 0; k < w0->out->len; k++) {
            if (was_zero[k]) assert_true(w0->out->x[k] == 0);
            was_zero[k] = w0->out->x[k] == 0;
        }
    }
    assert_near(gg_pruner_sparsity(p), (double)round_count(0.9, total) / (double)total, 1e-12);
    free(was_zero);
    gg_pruner_free(p);
    gg_trainer_free(t);
    gg_dataset_free(d);
    gg_model_free(m);
    gg_config_free(c);
}

static void test_a_resumed_run_restores_the_masks_from_the_zeros(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *m = build(9), *m2 = build(10);
    gg_dataset *d = data(256);
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_OK);
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    sp.sparsity = 0.8;
    sp.start_step = 0;
    sp.end_step = 40;
    sp.frequency = 10;
    gg_pruner *p = NULL, *p2 = NULL;
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_OK);
    gg_step_info info;
    for (int i = 0; i < 25; i++) {
        assert_int_equal(gg_trainer_step(t, &info, &err), GG_OK);
        gg_prune_step(p, info.step);
    }
    /* "Resume" at step 25 into a second model with the same weights. */
    gg_graph *g = gg_model_graph(m), *g2 = gg_model_graph(m2);
    memcpy(g2->param, g->param, g->param_len * sizeof *g->param);
    assert_int_equal(gg_pruner_new(m2, &sp, &p2, &err), GG_OK);
    gg_pruner_restore(p2, 25);
    /* Same masks: move every weight, apply, compare. */
    for (size_t i = 0; i < g->param_len; i++) g->param[i] += 1, g2->param[i] += 1;
    gg_pruner_apply(p);
    gg_pruner_apply(p2);
    assert_memory_equal(g->param, g2->param, g->param_len * sizeof *g->param);
    /* And the schedule goes on alike: no update at 26..29, one at 30. */
    for (int64_t st = 26; st <= 30; st++)
        assert_int_equal(gg_prune_step(p, st), gg_prune_step(p2, st));
    assert_memory_equal(g->param, g2->param, g->param_len * sizeof *g->param);
    gg_pruner_free(p);
    gg_pruner_free(p2);
    gg_trainer_free(t);
    gg_dataset_free(d);
    gg_model_free(m);
    gg_model_free(m2);
    gg_config_free(c);
}

static void test_bad_arguments_are_refused(void **s) {
    (void)s;
    gg_model *m = build(8);
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    gg_pruner *p = NULL;
    gg_error err = {0};
    const double bad[] = {1.0, -0.1, NAN, 2};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sp.sparsity = bad[i];
        assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_ERR_ARG);
        assert_null(p);
        assert_non_null(strstr(err.msg, "sparsity"));
    }
    sp.sparsity = 0.5;
    sp.frequency = 0;
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_ERR_ARG);
    sp.frequency = 10;
    sp.initial_sparsity = 0.7;
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_ERR_ARG);
    sp.initial_sparsity = 0;
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_OK);
    assert_int_equal(gg_pruner_prune(p, 1.0, &err), GG_ERR_ARG);
    gg_pruner_free(p);
    gg_model_free(m);

    /* A model without weight matrices has nothing to prune. */
    gg_config *c = gg_config_new_default();
    assert_int_equal(gg_config_load_string(c, "model: {input: [4], layers: [relu]}\nloss: mse\n", &err), GG_OK);
    assert_int_equal(gg_model_new(c, 4, &m, &err), GG_OK);
    assert_int_equal(gg_pruner_new(m, &sp, &p, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "no weights"));
    gg_model_free(m);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unstructured_global_reaches_the_sparsity_exactly),
        cmocka_unit_test(test_unstructured_per_layer_reaches_it_in_every_layer),
        cmocka_unit_test(test_structured_prunes_whole_units_and_keeps_the_output_layer),
        cmocka_unit_test(test_structured_global_reaches_the_sparsity_within_half_a_row),
        cmocka_unit_test(test_ties_are_cut_exactly_in_position_order),
        cmocka_unit_test(test_pruned_weights_stay_exactly_zero_through_fine_tuning),
        cmocka_unit_test(test_the_gradual_schedule_is_zhu_and_gupta_cubic),
        cmocka_unit_test(test_gradual_pruning_during_training_follows_the_schedule),
        cmocka_unit_test(test_a_resumed_run_restores_the_masks_from_the_zeros),
        cmocka_unit_test(test_bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
