/* Checkpoints: 2N steps in one go equal N steps + save + load into a fresh
 * trainer + N steps, byte for byte, for every optimiser, schedule and guard
 * mode, with shuffling and with the guard's spikes and rollbacks in play;
 * damaged files are refused and leave the trainer untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/fixtures.h"
#include "train/trainer.h"

#define N_STEPS 37 /* not a multiple of the 13 steps per epoch: resume mid-epoch */

static gg_dataset *blobs(void) {
    size_t n = 200;
    gg_real *x = malloc(n * 6 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 3);
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (gg_real)(gg_rng_normal(&r) + (double)(i % 3) - 1);
    }
    /* Wild rows, far out on every feature, so spikes, clipping and
     * recovery have work to do. */
    for (size_t i = 40; i < 60; i++)
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (gg_real)(i % 2 ? 60 : -60);
    gg_dataset *d = gg_dataset_from_arrays(n, 6, x, 1, y, 3);
    free(x);
    free(y);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_model *m;
    gg_trainer *t;
} run;

static void open_run(run *r, const gg_dataset *d, const char *extra) {
    r->c = gg_config_new_default();
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [6]\n  layers: [{dense: {units: 16}}, relu, {dense: {units: 16}}, tanh, "
             "{dense: {units: 3}}]\n"
             "train: {batch_size: 16, epochs: 50}\n%s\n",
             extra);
    gg_error err = {0};
    if (gg_config_load_string(r->c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    /* Frequent snapshots and an early spike detector: recovery in play. */
    assert_int_equal(gg_config_set(r->c, "guard.recover.snapshot_every", "5", NULL), GG_OK);
    assert_int_equal(gg_config_set(r->c, "guard.spike.min_history", "4", NULL), GG_OK);
    assert_int_equal(gg_model_new(r->c, 16, &r->m, &err), GG_OK);
    if (gg_trainer_new(r->m, r->c, d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void close_run(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_config_free(r->c);
}

static void steps(run *r, int n) {
    gg_step_info info;
    gg_error err = {0};
    for (int i = 0; i < n; i++)
        if (gg_trainer_step(r->t, &info, &err) != GG_OK) fail_msg("step %d: %s", i, err.msg);
}

static void assert_same_state(const run *a, const run *b, const char *what) {
    const gg_graph *ga = a->m->g, *gb = b->m->g;
    if (memcmp(ga->param, gb->param, ga->param_len * sizeof(gg_real)) != 0)
        fail_msg("%s: weights differ after resume", what);
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++)
        if (a->t->opt->state[k] &&
            memcmp(a->t->opt->state[k], b->t->opt->state[k], ga->param_len * sizeof(gg_real)) != 0)
            fail_msg("%s: optimiser state %d differs after resume", what, k);
    assert_int_equal(a->t->step, b->t->step);
    assert_int_equal(a->t->opt->t, b->t->opt->t);
    assert_int_equal(a->t->guard.rollbacks, b->t->guard.rollbacks);
}

static int64_t spikes_seen; /* over a test's cases: the guard's state was in play */

static void check_resume_is_exact(const char *extra) {
    gg_dataset *d = blobs();
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run whole, first, second;
    open_run(&whole, d, extra);
    steps(&whole, 2 * N_STEPS);
    open_run(&first, d, extra);
    steps(&first, N_STEPS);
    gg_error err = {0};
    if (gg_trainer_save(first.t, path, &err) != GG_OK) fail_msg("%s: save: %s", extra, err.msg);
    close_run(&first);
    open_run(&second, d, extra);
    if (gg_trainer_load(second.t, path, &err) != GG_OK) fail_msg("%s: load: %s", extra, err.msg);
    steps(&second, N_STEPS);
    assert_same_state(&whole, &second, extra);
    spikes_seen += whole.t->guard.spikes;
    close_run(&whole);
    close_run(&second);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_resume_is_exact_for_every_optimiser(void **s) {
    (void)s;
    const char *cases[] = {
        "optimizer: {name: sgd, lr: 0.05}",
        "optimizer: {name: momentum, lr: 0.05, dampening: 0.1, weight_decay: 0.001}",
        "optimizer: {name: nesterov, lr: 0.05}",
        "optimizer: {name: adam, lr: 0.003, amsgrad: true}",
        "optimizer: {name: adamw, lr: 0.003}",
    };
    spikes_seen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_resume_is_exact(cases[i]);
    assert_true(spikes_seen > 0);
}

static void test_resume_is_exact_for_every_schedule(void **s) {
    (void)s;
    const char *cases[] = {
        "schedule: {name: step, step_size: 10, gamma: 0.5}",
        "schedule: {name: multistep, milestones: [20, 45]}",
        "schedule: {name: exponential, gamma: 0.98}",
        "schedule: {name: linear, alpha: 0.01}",
        "schedule: {name: inverse, gamma: 0.99, beta: 0.5}",
        "schedule: {name: polynomial, power: 3}",
        "optimizer: {name: momentum, lr: 0.05}\nschedule: {name: onecycle, max_lr: 0.1}",
        "schedule: {name: cosine, warmup_steps: 10, restart_steps: 7, restart_mult: 2}",
        "schedule: {name: plateau, patience: 0}",
        "guard: {backoff: {enabled: true, threshold: 0.5, factor: 1.5}}",
    };
    spikes_seen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_resume_is_exact(cases[i]);
    assert_true(spikes_seen > 0);
}

static void test_resume_is_exact_for_every_guard_mode(void **s) {
    (void)s;
    const char *cases[] = {
        "guard: {clip: {mode: value, value: 0.1}}",
        "guard: {clip: {mode: norm, max_norm: 0.5}}",
        "guard: {clip: {mode: global_norm, max_norm: 0.5, norm_type: inf}}",
        "guard: {clip: {mode: agc, exclude: []}}",
        "guard: {clip: {mode: autoclip, history: 8}}",
        "guard: {clip: {mode: zclip, warmup: 5}}",
        "guard: {nonfinite: zero, monitor: {every: 1}}",
        "guard: {enabled: false}",
    };
    spikes_seen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_resume_is_exact(cases[i]);
    assert_true(spikes_seen > 0);
}

static void test_damaged_checkpoint_is_refused_and_trainer_untouched(void **s) {
    (void)s;
    gg_dataset *d = blobs();
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run a, b;
    open_run(&a, d, "");
    steps(&a, 10);
    assert_int_equal(gg_trainer_save(a.t, path, NULL), GG_OK);
    /* Flip one byte of the data block: the checksum must catch it. */
    FILE *f = fopen(path, "r+b");
    fseek(f, -9, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -9, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
    open_run(&b, d, "");
    steps(&b, 3);
    gg_real *before = malloc(b.m->g->param_len * sizeof *before);
    memcpy(before, b.m->g->param, b.m->g->param_len * sizeof *before);
    gg_error err = {0};
    assert_int_equal(gg_trainer_load(b.t, path, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_memory_equal(before, b.m->g->param, b.m->g->param_len * sizeof *before);
    assert_int_equal(b.t->step, 3);
    free(before);
    close_run(&a);
    close_run(&b);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_checkpoint_of_other_data_or_model_is_refused(void **s) {
    (void)s;
    gg_dataset *d = blobs(), *other = blobs();
    other->x[5] += 1;
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run a, b, c;
    open_run(&a, d, "");
    steps(&a, 4);
    assert_int_equal(gg_trainer_save(a.t, path, NULL), GG_OK);
    gg_error err = {0};
    open_run(&b, other, "");
    assert_int_equal(gg_trainer_load(b.t, path, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, "training data"));
    open_run(&c, d, "optimizer: {name: sgd}");
    assert_int_equal(gg_trainer_load(c.t, path, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, "no tensor 'optim.layers.0.weight.momentum_buffer'"));
    close_run(&a);
    close_run(&b);
    close_run(&c);
    gg_dataset_free(d);
    gg_dataset_free(other);
    gg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_exact_for_every_optimiser),
        cmocka_unit_test(test_resume_is_exact_for_every_schedule),
        cmocka_unit_test(test_resume_is_exact_for_every_guard_mode),
        cmocka_unit_test(test_damaged_checkpoint_is_refused_and_trainer_untouched),
        cmocka_unit_test(test_checkpoint_of_other_data_or_model_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
