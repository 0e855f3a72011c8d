/* The training step: no allocation after the first steps (pruning too),
 * the non-finite policies (skip leaves the model untouched, zero keeps it
 * finite, error names the parameter), epochs and data order, and learning
 * on a small task. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer.h"

/* ---- allocation counting: this binary's malloc family wraps glibc's ---- */
#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile int counting;
static volatile long allocations;
void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (counting) allocations++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n) {
    if (counting) allocations++;
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
    if (counting) allocations++;
    *out = __libc_memalign(al, n);
    return *out ? 0 : 12;
}
#endif

/* Two Gaussian blobs in 6 dimensions, labels 0/1; one row may hold a NaN. */
static gg_dataset *blobs(size_t n, long nan_row) {
    gg_real *x = malloc(n * 6 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 42);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? 1.5 : -1.5));
    }
    if (nan_row >= 0) x[nan_row * 6 + 2] = NAN;
    gg_dataset *d = gg_dataset_from_arrays(n, 6, x, 1, y, 2);
    free(x);
    free(y);
    return d;
}

static gg_config *small_config(const char *optimizer) {
    gg_config *c = gg_config_new_default();
    assert_int_equal(gg_config_load_string(c,
        "model:\n  input: [6]\n  layers: [{dense: {units: 16}}, tanh, {dense: {units: 2}}]\n"
        "schedule: {name: constant, warmup_steps: 0}\n"
        "train: {batch_size: 8, epochs: 5}\n", NULL), GG_OK);
    assert_int_equal(gg_config_set(c, "optimizer.name", optimizer, NULL), GG_OK);
    return c;
}

typedef struct run {
    gg_config *c;
    gg_dataset *d;
    gg_model *m;
    gg_trainer *t;
} run;

static void run_open(run *r, const char *optimizer, size_t n, long nan_row) {
    r->c = small_config(optimizer);
    r->d = blobs(n, nan_row);
    gg_error err = {0};
    assert_int_equal(gg_model_new(r->c, 64, &r->m, &err), GG_OK);
    if (gg_trainer_new(r->m, r->c, r->d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void run_close(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_dataset_free(r->d);
    gg_config_free(r->c);
}

static void test_step_allocates_nothing_over_100_steps(void **s) {
    (void)s;
#ifdef COUNT_ALLOCATIONS
    const char *names[] = {"sgd", "momentum", "adam", "adamw", "adagrad", "rmsprop"};
    for (int k = 0; k < 6; k++) {
        run r;
        run_open(&r, names[k], 200, -1);
        gg_step_info info;
        for (int i = 0; i < 5; i++) assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        allocations = 0;
        counting = 1;
        for (int i = 0; i < 100; i++) gg_trainer_step(r.t, &info, NULL);
        counting = 0;
        if (allocations) fail_msg("%s: %ld allocations in 100 steps", names[k], allocations);
        run_close(&r);
    }
    /* Pruning while training: masks recomputed every 10 steps. */
    gg_config *c = small_config("adam");
    assert_int_equal(gg_config_set(c, "prune.sparsity", "0.7", NULL), GG_OK);
    assert_int_equal(gg_config_set(c, "prune.frequency", "10", NULL), GG_OK);
    gg_dataset *d = blobs(200, -1);
    gg_model *m = NULL;
    gg_trainer *t = NULL;
    assert_int_equal(gg_model_new(c, 64, &m, NULL), GG_OK);
    assert_int_equal(gg_trainer_new(m, c, d, &t, NULL), GG_OK);
    gg_step_info info;
    for (int i = 0; i < 5; i++) assert_int_equal(gg_trainer_step(t, &info, NULL), GG_OK);
    allocations = 0;
    counting = 1;
    for (int i = 0; i < 100; i++) gg_trainer_step(t, &info, NULL);
    counting = 0;
    assert_true(info.sparsity > 0.1);
    if (allocations) fail_msg("pruning: %ld allocations in 100 steps", allocations);
    gg_trainer_free(t);
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
#else
    skip(); /* the sanitizer owns malloc; the plain build runs this */
#endif
}

static void test_training_learns_the_blobs(void **s) {
    (void)s;
    run r;
    run_open(&r, "adam", 200, -1);
    gg_step_info info;
    double first = 0;
    for (int i = 0; i < 125; i++) {
        assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        if (i == 0) first = info.loss;
    }
    gg_eval_result e;
    assert_int_equal(gg_model_evaluate(r.m, r.d, &e, NULL), GG_OK);
    assert_true(e.accuracy > 0.95);
    assert_true(e.loss < first / 4);
    assert_int_equal(info.epoch_end, 1);
    assert_int_equal(r.t->epoch, 5);
    run_close(&r);
}

static void snapshot(const gg_graph *g, gg_real *out) { memcpy(out, g->param, g->param_len * sizeof *out); }

/* Row 19 holds a NaN: it sits in batch 2 (rows 16..23) of the unshuffled epoch. */
static void open_nan_run(run *r, const char *policy) {
    run_open(r, "sgd", 64, 19);
    gg_config_set(&r->t->cfg, "data.shuffle", "false", NULL);
    gg_trainer_order(r->t, 0);
    assert_int_equal(gg_config_set(&r->t->cfg, "guard.nonfinite", policy, NULL), GG_OK);
}

static void test_nonfinite_skip_leaves_model_untouched(void **s) {
    (void)s;
    run r;
    open_nan_run(&r, "skip");
    gg_step_info info;
    gg_graph *g = r.m->g;
    gg_real *before = malloc(g->param_len * sizeof *before);
    for (int i = 0; i < 2; i++) gg_trainer_step(r.t, &info, NULL);
    snapshot(g, before);
    int64_t t_before = r.t->opt->t;
    assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    assert_true(info.skipped);
    assert_true(info.nonfinite > 0);
    assert_memory_equal(before, g->param, g->param_len * sizeof *before);
    assert_int_equal(r.t->opt->t, t_before);
    assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    assert_false(info.skipped);
    for (size_t i = 0; i < g->param_len; i++) assert_true(isfinite(g->param[i]));
    free(before);
    run_close(&r);
}

static void test_nonfinite_error_names_parameter_and_keeps_model(void **s) {
    (void)s;
    run r;
    open_nan_run(&r, "error");
    gg_step_info info;
    gg_error err = {0};
    gg_graph *g = r.m->g;
    gg_real *before = malloc(g->param_len * sizeof *before);
    for (int i = 0; i < 2; i++) assert_int_equal(gg_trainer_step(r.t, &info, &err), GG_OK);
    snapshot(g, before);
    assert_int_equal(gg_trainer_step(r.t, &info, &err), GG_ERR_NONFINITE);
    assert_non_null(strstr(err.msg, "step 3"));
    assert_non_null(strstr(err.msg, "layers.0.weight"));
    assert_memory_equal(before, g->param, g->param_len * sizeof *before);
    free(before);
    run_close(&r);
}

static void test_nonfinite_zero_keeps_weights_finite(void **s) {
    (void)s;
    run r;
    open_nan_run(&r, "zero");
    gg_step_info info;
    for (int i = 0; i < 8; i++) assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    for (size_t i = 0; i < r.m->g->param_len; i++) assert_true(isfinite(r.m->g->param[i]));
    run_close(&r);
}

static void test_guard_off_lets_nan_through(void **s) {
    (void)s;
    run r;
    open_nan_run(&r, "skip");
    r.t->cfg.guard.enabled = 0;
    gg_step_info info;
    for (int i = 0; i < 3; i++) assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    int nonfinite = 0;
    for (size_t i = 0; i < r.m->g->param_len; i++) nonfinite += !isfinite(r.m->g->param[i]);
    assert_true(nonfinite > 0); /* what the guard prevents */
    run_close(&r);
}

static void test_epoch_order_is_seeded_and_a_permutation(void **s) {
    (void)s;
    run a, b;
    run_open(&a, "sgd", 100, -1);
    run_open(&b, "sgd", 100, -1);
    gg_trainer_order(a.t, 3);
    gg_trainer_order(b.t, 3);
    assert_memory_equal(a.t->order, b.t->order, 100 * sizeof *a.t->order);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) seen[a.t->order[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    gg_trainer_order(b.t, 4);
    assert_memory_not_equal(a.t->order, b.t->order, 100 * sizeof *a.t->order);
    run_close(&a);
    run_close(&b);
}

static void test_trainer_refuses_data_of_the_wrong_shape(void **s) {
    (void)s;
    gg_config *c = small_config("sgd");
    gg_real x[8] = {0}, y[2] = {0, 1};
    gg_dataset *d = gg_dataset_from_arrays(2, 4, x, 1, y, 2);
    gg_model *m;
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_model_new(c, 8, &m, &err), GG_OK);
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "4 values"));
    assert_non_null(strstr(err.msg, "expects 6"));
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_allocates_nothing_over_100_steps),
        cmocka_unit_test(test_training_learns_the_blobs),
        cmocka_unit_test(test_nonfinite_skip_leaves_model_untouched),
        cmocka_unit_test(test_nonfinite_error_names_parameter_and_keeps_model),
        cmocka_unit_test(test_nonfinite_zero_keeps_weights_finite),
        cmocka_unit_test(test_guard_off_lets_nan_through),
        cmocka_unit_test(test_epoch_order_is_seeded_and_a_permutation),
        cmocka_unit_test(test_trainer_refuses_data_of_the_wrong_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
