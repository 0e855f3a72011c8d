/* Early stopping (src/train/early_stop.c): the epoch it stops at for a
 * sequence of validation metrics (patience, min_delta, val_loss or
 * val_acc, non-finite losses), patience 0 never stopping, restore_best
 * putting back the best epoch's weights and batch norm statistics, and the
 * state surviving a checkpoint (gg_trainer_save / gg_trainer_load). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io.h"
#include "support/assert_near.h"
#include "support/fixtures.h"
#include "train/trainer.h"

#define N_SAMPLES 16 /* one batch: every step ends an epoch */

static gg_dataset *blobs(void) {
    size_t n = N_SAMPLES;
    gg_real *x = malloc(n * 4 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? 1 : -1));
    }
    gg_dataset *d = gg_dataset_from_arrays(n, 4, x, 1, y, 2);
    free(x);
    free(y);
    assert_non_null(d);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_model *m;
    gg_trainer *t;
} run;

/* extra: the train.early_stopping mapping, e.g. "{patience: 2}". */
static void open_run(run *r, const gg_dataset *d, const char *early_stopping) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [4]\n  layers: [{dense: {units: 6}}, batch_norm, tanh, "
             "{dense: {units: 2}}]\n"
             "schedule: {name: constant, warmup_steps: 0}\n"
             "optimizer: {name: sgd, lr: 0.1}\n"
             "train: {batch_size: 16, epochs: 100, early_stopping: %s}\n",
             early_stopping);
    r->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(r->c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    if (gg_model_new(r->c, 16, &r->m, &err) != GG_OK) fail_msg("%s", err.msg);
    if (gg_trainer_new(r->m, r->c, d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void close_run(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_config_free(r->c);
}

/* One training step, which is one whole epoch here. */
static void epoch(run *r) {
    gg_step_info info;
    gg_error err = {0};
    if (gg_trainer_step(r->t, &info, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_true(info.epoch_end);
    assert_false(info.skipped);
}

/* Feeds losses (val_acc NaN) and returns the 1-based call at which
 * gg_trainer_early_stop first said stop, 0 if never. */
static int stop_at_loss(run *r, const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (gg_trainer_early_stop(r->t, v[i], NAN)) return i + 1;
    return 0;
}

static int stop_at_acc(run *r, const double *acc, int n) {
    for (int i = 0; i < n; i++)
        if (gg_trainer_early_stop(r->t, 1.0 - 0.01 * i, acc[i])) return i + 1; /* loss keeps falling */
    return 0;
}

/* The graph's parameters and buffers, padding left out. */
static gg_real *state_of(gg_graph *g, size_t *len) {
    size_t n = 0;
    for (int i = 0; i < gg_graph_param_count(g); i++) n += gg_node_len(gg_graph_param(g, i));
    for (int i = 0; i < gg_graph_buffer_count(g); i++) n += gg_node_len(gg_graph_buffer(g, i));
    gg_real *out = malloc(n * sizeof *out), *p = out;
    for (int i = 0; i < gg_graph_param_count(g) + gg_graph_buffer_count(g); i++) {
        gg_node *x = i < gg_graph_param_count(g) ? gg_graph_param(g, i)
                                                 : gg_graph_buffer(g, i - gg_graph_param_count(g));
        memcpy(p, gg_node_data(x), gg_node_len(x) * sizeof *p);
        p += gg_node_len(x);
    }
    *len = n;
    return out;
}

static void scramble(gg_graph *g) {
    for (size_t i = 0; i < g->param_len; i++) g->param[i] = (gg_real)0.125;
    for (size_t i = 0; i < g->buf_len; i++) g->buf[i] = (gg_real)3;
}

/* ---- when it stops ----------------------------------------------------------------- */

static void test_patience_counts_epochs_without_improvement(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    open_run(&r, d, "{patience: 2}");
    /* 0.8 is the best; 0.85 and 0.9 are two epochs without improvement. */
    const double a[] = {1.0, 0.8, 0.85, 0.9, 0.1};
    assert_int_equal(stop_at_loss(&r, a, 5), 4);
    assert_near(r.t->es_best, 0.8, 0);
    assert_int_equal(r.t->es_bad, 2);
    close_run(&r);
    /* An improvement resets the count. */
    open_run(&r, d, "{patience: 2}");
    const double b[] = {1.0, 0.9, 0.95, 0.85, 0.86, 0.84, 0.845, 0.846, 0.0};
    assert_int_equal(stop_at_loss(&r, b, 9), 8);
    assert_near(r.t->es_best, 0.84, 0);
    close_run(&r);
    /* Equal is no improvement. */
    open_run(&r, d, "{patience: 2}");
    const double c[] = {0.5, 0.5, 0.5};
    assert_int_equal(stop_at_loss(&r, c, 3), 3);
    close_run(&r);
    /* Patience 1 stops at the first epoch that is not better. */
    open_run(&r, d, "{patience: 1}");
    const double e[] = {3, 2, 1, 1.5};
    assert_int_equal(stop_at_loss(&r, e, 4), 4);
    close_run(&r);
    gg_dataset_free(d);
}

static void test_min_delta(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    /* Improvements of less than 0.05 do not count. */
    const double a[] = {1.0, 0.97, 0.96, 0.5};
    open_run(&r, d, "{patience: 2, min_delta: 0.05}");
    assert_int_equal(stop_at_loss(&r, a, 4), 3);
    assert_near(r.t->es_best, 1.0, 0);
    close_run(&r);
    open_run(&r, d, "{patience: 2}"); /* the same losses without min_delta: no stop */
    assert_int_equal(stop_at_loss(&r, a, 4), 0);
    assert_near(r.t->es_best, 0.5, 0);
    close_run(&r);
    /* Measured from the best: 0.94 beats 1.0 by 0.06; 0.90 misses 0.89; 0.88 beats it. */
    const double b[] = {1.0, 0.94, 0.90, 0.88, 0.86, 0.84};
    open_run(&r, d, "{patience: 2, min_delta: 0.05}");
    assert_int_equal(stop_at_loss(&r, b, 4), 0);
    assert_near(r.t->es_best, 0.88, 0);
    assert_int_equal(r.t->es_bad, 0);
    assert_int_equal(gg_trainer_early_stop(r.t, b[4], NAN), 0);
    assert_int_equal(gg_trainer_early_stop(r.t, b[5], NAN), 1);
    close_run(&r);
    gg_dataset_free(d);
}

static void test_val_acc_is_higher_better(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    const double acc[] = {0.5, 0.6, 0.55, 0.58, 0.9};
    open_run(&r, d, "{patience: 2, metric: val_acc}");
    assert_int_equal(stop_at_acc(&r, acc, 5), 4);
    close_run(&r);
    /* The losses fed alongside keep falling: on val_loss it never stops. */
    open_run(&r, d, "{patience: 2, metric: val_loss}");
    assert_int_equal(stop_at_acc(&r, acc, 5), 0);
    close_run(&r);
    /* Rising accuracy never stops; min_delta applies to accuracy too. */
    const double rising[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    open_run(&r, d, "{patience: 1, metric: val_acc}");
    assert_int_equal(stop_at_acc(&r, rising, 6), 0);
    close_run(&r);
    const double slow[] = {0.50, 0.52, 0.54, 0.60};
    open_run(&r, d, "{patience: 2, metric: val_acc, min_delta: 0.05}");
    assert_int_equal(stop_at_acc(&r, slow, 4), 3);
    close_run(&r);
    gg_dataset_free(d);
}

static void test_nonfinite_loss_is_never_the_best(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    open_run(&r, d, "{patience: 2}");
    epoch(&r);
    assert_int_equal(gg_trainer_early_stop(r.t, NAN, NAN), 0);
    assert_int_equal(r.t->es_best_epoch, 0);
    assert_int_equal(gg_trainer_restore_best(r.t), 0);
    epoch(&r);
    assert_int_equal(gg_trainer_early_stop(r.t, INFINITY, NAN), 1);
    close_run(&r);
    open_run(&r, d, "{patience: 2}");
    const double a[] = {1.0, NAN, NAN, 0.5};
    assert_int_equal(stop_at_loss(&r, a, 4), 3);
    assert_near(r.t->es_best, 1.0, 0);
    close_run(&r);
    gg_dataset_free(d);
}

static void test_patience_0_never_stops(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    open_run(&r, d, "{patience: 0}");
    assert_null(r.t->es_param); /* nothing kept */
    for (int i = 0; i < 5; i++) epoch(&r);
    for (int i = 0; i < 100; i++) assert_int_equal(gg_trainer_early_stop(r.t, 1.0 + i, 0.5 - 0.001 * i), 0);
    assert_int_equal(gg_trainer_restore_best(r.t), 0);
    close_run(&r);
    gg_dataset_free(d);
}

/* ---- restore_best --------------------------------------------------------------------- */

static void test_restore_best_puts_back_the_best_epoch(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    run r;
    open_run(&r, d, "{patience: 3}");
    assert_non_null(r.t->es_param);
    gg_graph *g = r.m->g;
    size_t n;
    const double vals[] = {1.0, 0.7, 0.9, 0.8};
    gg_real *at[4];
    for (int e = 0; e < 4; e++) {
        epoch(&r);
        at[e] = state_of(g, &n);
        assert_int_equal(gg_trainer_early_stop(r.t, vals[e], NAN), 0);
    }
    assert_int_equal(r.t->es_best_epoch, 2);
    assert_int_equal(r.t->es_bad, 2);
    /* Training moved the weights and statistics from epoch to epoch. */
    assert_true(memcmp(at[1], at[3], n * sizeof(gg_real)) != 0);
    assert_true(memcmp(at[1], at[0], n * sizeof(gg_real)) != 0);
    scramble(g);
    assert_int_equal(gg_trainer_restore_best(r.t), 2);
    gg_real *now = state_of(g, &n);
    assert_memory_equal(now, at[1], n * sizeof(gg_real));
    free(now);
    /* The copy is kept, not moved: scrambled and restored again, still epoch 2. */
    epoch(&r);
    scramble(g);
    assert_int_equal(gg_trainer_restore_best(r.t), 2);
    now = state_of(g, &n);
    assert_memory_equal(now, at[1], n * sizeof(gg_real));
    free(now);
    /* A later best replaces it. */
    epoch(&r);
    gg_real *best = state_of(g, &n);
    assert_int_equal(gg_trainer_early_stop(r.t, 0.1, NAN), 0);
    scramble(g);
    assert_int_equal(gg_trainer_restore_best(r.t), r.t->epoch);
    now = state_of(g, &n);
    assert_memory_equal(now, best, n * sizeof(gg_real));
    free(now);
    free(best);
    for (int e = 0; e < 4; e++) free(at[e]);
    close_run(&r);

    /* restore_best: false stops all the same but restores nothing. */
    open_run(&r, d, "{patience: 1, restore_best: false}");
    assert_null(r.t->es_param);
    epoch(&r);
    assert_int_equal(gg_trainer_early_stop(r.t, 1.0, NAN), 0);
    epoch(&r);
    assert_int_equal(gg_trainer_early_stop(r.t, 2.0, NAN), 1);
    gg_real *before = state_of(r.m->g, &n);
    assert_int_equal(gg_trainer_restore_best(r.t), 0);
    now = state_of(r.m->g, &n);
    assert_memory_equal(now, before, n * sizeof(gg_real));
    free(now);
    free(before);
    close_run(&r);
    gg_dataset_free(d);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static void test_state_survives_a_checkpoint(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run a, b;
    open_run(&a, d, "{patience: 3}");
    size_t n;
    gg_real *best = NULL;
    const double vals[] = {1.0, 0.8, 0.9};
    for (int e = 0; e < 3; e++) {
        epoch(&a);
        if (e == 1) best = state_of(a.m->g, &n);
        assert_int_equal(gg_trainer_early_stop(a.t, vals[e], NAN), 0);
    }
    gg_error err = {0};
    if (gg_trainer_save(a.t, path, &err) != GG_OK) fail_msg("save: %s", err.msg);
    gg_st_file f = {0};
    assert_int_equal(gg_st_read(path, &f, &err), GG_OK);
    assert_non_null(gg_st_find(&f, "early_stopping.param"));
    assert_non_null(gg_st_find(&f, "early_stopping.buffers"));
    gg_st_free(&f);

    open_run(&b, d, "{patience: 3}");
    if (gg_trainer_load(b.t, path, &err) != GG_OK) fail_msg("load: %s", err.msg);
    assert_near(b.t->es_best, 0.8, 0);
    assert_int_equal(b.t->es_best_epoch, 2);
    assert_int_equal(b.t->es_bad, 1);
    assert_int_equal(b.t->epoch, 3);
    /* Both carry on alike: two more bad epochs stop both. */
    assert_int_equal(gg_trainer_early_stop(a.t, 0.95, NAN), 0);
    assert_int_equal(gg_trainer_early_stop(b.t, 0.95, NAN), 0);
    assert_int_equal(gg_trainer_early_stop(a.t, 0.85, NAN), 1);
    assert_int_equal(gg_trainer_early_stop(b.t, 0.85, NAN), 1);
    /* The loaded trainer restores the weights of epoch 2 saved in the file. */
    gg_real *cur = state_of(b.m->g, &n);
    assert_true(memcmp(cur, best, n * sizeof(gg_real)) != 0);
    free(cur);
    assert_int_equal(gg_trainer_restore_best(b.t), 2);
    cur = state_of(b.m->g, &n);
    assert_memory_equal(cur, best, n * sizeof(gg_real));
    free(cur);
    free(best);
    close_run(&a);
    close_run(&b);

    /* val_acc's best (kept negated) and restore_best: false round-trip too. */
    open_run(&a, d, "{patience: 4, metric: val_acc, restore_best: false}");
    epoch(&a);
    assert_int_equal(gg_trainer_early_stop(a.t, 1.0, 0.75), 0);
    epoch(&a);
    assert_int_equal(gg_trainer_early_stop(a.t, 1.0, 0.5), 0);
    assert_int_equal(gg_trainer_save(a.t, path, NULL), GG_OK);
    assert_int_equal(gg_st_read(path, &f, &err), GG_OK);
    assert_null(gg_st_find(&f, "early_stopping.param"));
    gg_st_free(&f);
    open_run(&b, d, "{patience: 4, metric: val_acc, restore_best: false}");
    if (gg_trainer_load(b.t, path, &err) != GG_OK) fail_msg("load: %s", err.msg);
    assert_near(b.t->es_best, a.t->es_best, 0);
    assert_int_equal(b.t->es_best_epoch, 1);
    assert_int_equal(b.t->es_bad, 1);
    assert_int_equal(gg_trainer_early_stop(b.t, 1.0, 0.76), 0); /* better than 0.75 */
    assert_int_equal(b.t->es_bad, 0);
    close_run(&a);
    close_run(&b);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patience_counts_epochs_without_improvement),
        cmocka_unit_test(test_min_delta),
        cmocka_unit_test(test_val_acc_is_higher_better),
        cmocka_unit_test(test_nonfinite_loss_is_never_the_best),
        cmocka_unit_test(test_patience_0_never_stops),
        cmocka_unit_test(test_restore_best_puts_back_the_best_epoch),
        cmocka_unit_test(test_state_survives_a_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
