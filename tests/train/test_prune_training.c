/* Pruning while training, from the config's prune: section: the keys and
 * their checks, the trainer reaching the sparsity on the schedule (end_step
 * defaulting to three quarters of the run), pruned weights staying zero
 * through skipped steps and rollbacks, the step's reported sparsity, a
 * checkpointed run resuming exactly as an uninterrupted one, early stopping
 * waiting for the schedule's end, and no allocation per step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/assert_near.h"
#include "support/fixtures.h"
#include "train/trainer.h"

static const char yaml[] =
    "model:\n  input: [12]\n  layers:\n"
    "    - dense: {units: 32}\n    - relu\n    - dense: {units: 16}\n    - relu\n    - dense: {units: 3}\n"
    "optimizer: {name: adam, lr: 0.01}\n"
    "schedule: {name: constant, warmup_steps: 0}\n"
    "train: {batch_size: 16, epochs: 4}\n"
    "prune: {sparsity: 0.8, frequency: 5}\n";

/* Weights of 12x32 + 32x16 + 16x3 = 944 elements. */
#define PRUNABLE (12 * 32 + 32 * 16 + 16 * 3)

static gg_config *config(void) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    return c;
}

/* Three Gaussian blobs in 12 dimensions. */
static gg_dataset *blobs(size_t n) {
    gg_real *x = malloc(n * 12 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 3);
        for (int j = 0; j < 12; j++)
            x[i * 12 + j] = (gg_real)(gg_rng_normal(&r) + (j % 3 == (int)(i % 3) ? 2.0 : 0.0));
    }
    gg_dataset *d = gg_dataset_from_arrays(n, 12, x, 1, y, 3);
    free(x);
    free(y);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_dataset *d;
    gg_model *m;
    gg_trainer *t;
} run;

static void run_open(run *r, gg_config *c) {
    r->c = c;
    r->d = blobs(320); /* 20 steps an epoch, 80 in the run */
    gg_error err = {0};
    if (gg_model_new(r->c, 64, &r->m, &err) != GG_OK) fail_msg("%s", err.msg);
    if (gg_trainer_new(r->m, r->c, r->d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void run_close(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_dataset_free(r->d);
    gg_config_free(r->c);
}

static size_t weight_zeros(const gg_graph *g) {
    size_t z = 0;
    for (int i = 0; i < g->n_params; i++) {
        const gg_tensor *p = g->params[i]->out;
        if (p->ndim < 2) continue;
        for (size_t k = 0; k < p->len; k++) z += p->x[k] == 0;
    }
    return z;
}

static size_t round_count(double s, size_t n) { return (size_t)floor(s * (double)n + 0.5); }

static void test_the_keys_load_check_and_write_back(void **s) {
    (void)s;
    gg_config *c = config();
    assert_near(c->prune.sparsity, 0.8, 0);
    assert_int_equal(c->prune.frequency, 5);
    assert_int_equal(c->prune.end_step, 0);
    assert_int_equal(c->prune.scope, GG_PRUNE_GLOBAL);
    gg_error err = {0};
    assert_int_equal(gg_config_set(c, "prune.scope", "layer", &err), GG_OK);
    assert_int_equal(c->prune.scope, GG_PRUNE_LAYER);
    assert_int_equal(gg_config_set(c, "prune.structured", "true", &err), GG_OK);
    /* A later file changes only the keys it gives. */
    assert_int_equal(gg_config_load_string(c, "prune: {sparsity: 0.5}\n", &err), GG_OK);
    assert_near(c->prune.sparsity, 0.5, 0);
    assert_int_equal(c->prune.structured, 1); /* the others kept */
    /* Out of range or misspelt: refused, naming the key. */
    const char *bad[][2] = {{"prune.sparsity", "1"},    {"prune.sparsity", "-0.1"},
                            {"prune.scope", "everywhere"}, {"prune.frequency", "0"},
                            {"prune.end_step", "-5"},  {"prune.sparsty", "0.5"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = '\0';
        assert_int_not_equal(gg_config_set(c, bad[i][0], bad[i][1], &err), GG_OK);
        if (!strstr(err.msg, "prune")) fail_msg("%s=%s: '%s' does not name the key", bad[i][0], bad[i][1], err.msg);
    }
    /* Written and read back. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(gg_config_write(c, f, &err), GG_OK);
    fclose(f);
    gg_config *back = gg_config_new_default();
    if (gg_config_load_string(back, text, &err) != GG_OK) fail_msg("%s\n%s", err.msg, text);
    assert_memory_equal(&back->prune, &c->prune, sizeof c->prune);
    free(text);
    gg_config_free(back);
    gg_config_free(c);
}

static void test_no_prune_section_means_no_pruner(void **s) {
    (void)s;
    gg_config *c = config();
    assert_int_equal(gg_config_set(c, "prune.sparsity", "0", NULL), GG_OK);
    run r;
    run_open(&r, c);
    assert_null(gg_trainer_pruner(r.t));
    gg_step_info info;
    assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    assert_true(isnan(info.sparsity));
    run_close(&r);
}

static void test_a_bad_schedule_is_refused_naming_the_section(void **s) {
    (void)s;
    gg_config *c = config();
    assert_int_equal(gg_config_set(c, "prune.initial_sparsity", "0.9", NULL), GG_OK);
    gg_dataset *d = blobs(64);
    gg_model *m = NULL;
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_model_new(c, 64, &m, &err), GG_OK);
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_ERR_ARG);
    assert_null(t);
    if (!strstr(err.msg, "config prune initial_sparsity")) fail_msg("message: %s", err.msg);
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
}

/* end_step 0: the sparsity rises until three quarters of the 80 steps
 * (step 60), recomputed every 5 steps, and holds from there. */
static void test_the_trainer_follows_the_schedule_to_the_sparsity(void **s) {
    (void)s;
    run r;
    run_open(&r, config());
    gg_pruner *p = gg_trainer_pruner(r.t);
    assert_non_null(p);
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    sp.sparsity = 0.8, sp.end_step = 60, sp.frequency = 5;
    gg_graph *g = gg_model_graph(r.m);
    uint8_t *was_zero = calloc(g->param_len, 1);
    gg_step_info info;
    for (int i = 0; i < 80; i++) {
        assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        int64_t st = info.step, last = st >= 60 ? 60 : st / 5 * 5;
        size_t want = round_count(gg_prune_target(&sp, last), PRUNABLE);
        assert_int_equal(weight_zeros(g), want);
        assert_near(info.sparsity, (double)want / PRUNABLE, 1e-12);
        for (size_t k = 0; k < g->param_len; k++) { /* once pruned, always zero */
            if (was_zero[k]) assert_true(g->param[k] == 0);
            was_zero[k] |= g->param[k] == 0;
        }
    }
    assert_true(info.epoch == 3 && info.epoch_end);
    assert_near(gg_pruner_sparsity(p), (double)round_count(0.8, PRUNABLE) / PRUNABLE, 1e-12);
    /* Biases are never pruned. */
    gg_node *b = gg_graph_find_param(g, "layers.0.bias");
    size_t bz = 0;
    for (size_t k = 0; k < b->out->len; k++) bz += b->out->x[k] == 0;
    assert_true(bz < b->out->len / 2);
    /* And it still learned the blobs. */
    gg_eval_result e;
    assert_int_equal(gg_model_evaluate(r.m, r.d, &e, NULL), GG_OK);
    assert_true(e.accuracy > 0.9);
    free(was_zero);
    run_close(&r);
}

/* A skipped update (a NaN gradient) and a rollback put old weights back:
 * the masks still hold. */
static void test_pruned_weights_stay_zero_through_skips_and_rollbacks(void **s) {
    (void)s;
    gg_config *c = config();
    assert_int_equal(gg_config_set(c, "guard.recover.snapshot_every", "3", NULL), GG_OK);
    run r;
    run_open(&r, c);
    gg_graph *g = gg_model_graph(r.m);
    gg_step_info info;
    for (int i = 0; i < 30; i++) assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    size_t z = weight_zeros(g);
    gg_prune_spec sp;
    gg_prune_spec_default(&sp);
    sp.sparsity = 0.8, sp.end_step = 60, sp.frequency = 5;
    assert_int_equal(z, round_count(gg_prune_target(&sp, 30), PRUNABLE));
    /* Poison three steps in a row: skip, lr cut, rollback. */
    for (int i = 0; i < 3; i++) {
        r.t->test_nan_step = r.t->step + 1;
        assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        assert_int_equal(info.skipped, 1);
        assert_true(weight_zeros(g) >= z);
    }
    assert_true(r.t->guard.rollbacks + r.t->guard.lr_cuts > 0);
    r.t->test_nan_step = -1;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        assert_true(weight_zeros(g) >= z);
    }
    run_close(&r);
}

/* 37 steps, a checkpoint, 43 more in a fresh trainer: the same weights as
 * 80 steps in one go (the masks come back from the zeros). */
static void test_a_resumed_run_equals_an_uninterrupted_one(void **s) {
    (void)s;
    run a, b, c;
    run_open(&a, config());
    run_open(&b, config());
    gg_step_info info;
    for (int i = 0; i < 80; i++) assert_int_equal(gg_trainer_step(a.t, &info, NULL), GG_OK);
    for (int i = 0; i < 37; i++) assert_int_equal(gg_trainer_step(b.t, &info, NULL), GG_OK);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    gg_error err = {0};
    if (gg_trainer_save(b.t, path, &err) != GG_OK) fail_msg("save: %s", err.msg);
    run_open(&c, config());
    if (gg_trainer_load(c.t, path, &err) != GG_OK) fail_msg("load: %s", err.msg);
    while (gg_trainer_step_count(c.t) < 80) assert_int_equal(gg_trainer_step(c.t, &info, NULL), GG_OK);
    gg_graph *ga = gg_model_graph(a.m), *gc = gg_model_graph(c.m);
    assert_memory_equal(ga->param, gc->param, ga->param_len * sizeof *ga->param);
    assert_near(info.sparsity, gg_pruner_masked(gg_trainer_pruner(a.t)), 0);
    gg_test_rmtree(dir);
    free(dir);
    run_close(&a);
    run_close(&b);
    run_close(&c);
}

/* Early stopping does not count epochs while the sparsity still rises. */
static void test_early_stopping_waits_for_the_schedule(void **s) {
    (void)s;
    gg_config *c = config();
    assert_int_equal(gg_config_set(c, "train.early_stopping.patience", "1", NULL), GG_OK);
    run r;
    run_open(&r, c);
    gg_step_info info;
    for (int i = 0; i < 20; i++) assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    /* Validation getting worse every epoch: ignored up to step 60. */
    assert_int_equal(gg_trainer_early_stop(r.t, 1.0, NAN), 0);
    for (int i = 0; i < 20; i++) gg_trainer_step(r.t, &info, NULL);
    assert_int_equal(gg_trainer_early_stop(r.t, 2.0, NAN), 0);
    assert_int_equal(r.t->es_best_epoch, 0);
    for (int i = 0; i < 20; i++) gg_trainer_step(r.t, &info, NULL); /* step 60: the end */
    assert_int_equal(gg_trainer_early_stop(r.t, 3.0, NAN), 0);
    assert_int_equal(r.t->es_best_epoch, 3);
    for (int i = 0; i < 20; i++) gg_trainer_step(r.t, &info, NULL);
    assert_int_equal(gg_trainer_early_stop(r.t, 4.0, NAN), 1);
    run_close(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_keys_load_check_and_write_back),
        cmocka_unit_test(test_no_prune_section_means_no_pruner),
        cmocka_unit_test(test_a_bad_schedule_is_refused_naming_the_section),
        cmocka_unit_test(test_the_trainer_follows_the_schedule_to_the_sparsity),
        cmocka_unit_test(test_pruned_weights_stay_zero_through_skips_and_rollbacks),
        cmocka_unit_test(test_a_resumed_run_equals_an_uninterrupted_one),
        cmocka_unit_test(test_early_stopping_waits_for_the_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
