/* Tests of the config schema (src/io/config_schema.c): the defaults of
 * config.h, the name tables, deep copy, and the defaults that depend on
 * optimizer.name, schedule.name and a layer's init. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/config.h"

/* ---- helpers ------------------------------------------------------------------ */

static gg_config *fresh(void) {
    gg_config *c = gg_config_new_default();
    assert_non_null(c);
    return c;
}

static void load_ok(gg_config *c, const char *yaml) {
    gg_error err = {0};
    gg_status st = gg_config_load_string(c, yaml, &err);
    if (st != GG_OK) fail_msg("load failed: %s", err.msg);
}

static void set_ok(gg_config *c, const char *key, const char *value) {
    gg_error err = {0};
    gg_status st = gg_config_set(c, key, value, &err);
    if (st != GG_OK) fail_msg("--set %s=%s failed: %s", key, value, err.msg);
}

/* ---- defaults -------------------------------------------------------------------- */

static void test_defaults_match_config_h(void **state) {
    (void)state;
    gg_config *c = fresh();
    assert_int_equal(c->seed, 0);
    assert_string_equal(c->data.dataset, "fashion-mnist");
    assert_int_equal(c->data.validation, 5000);
    assert_int_equal(c->data.normalize, GG_NORMALIZE_STANDARDIZE);
    assert_int_equal(c->data.shuffle, 1);
    assert_int_equal(c->data.samples, 100);
    assert_int_equal(c->data.features, 10);
    assert_int_equal(c->data.targets, 1);
    assert_true(c->data.test_fraction == 0.2);
    assert_int_equal(c->model.input_ndim, 1);
    assert_int_equal(c->model.input[0], 784);
    assert_int_equal(c->model.n_layers, 3);
    assert_int_equal(c->model.layers[0].kind, GG_LAYER_DENSE);
    assert_int_equal(c->model.layers[0].units, 512);
    assert_int_equal(c->model.layers[0].init, GG_INIT_HE_NORMAL);
    assert_int_equal(c->model.layers[0].bias, 1);
    assert_int_equal(c->model.layers[0].bias_init, GG_INIT_TORCH_DEFAULT);
    assert_int_equal(c->model.layers[1].kind, GG_LAYER_RELU);
    assert_int_equal(c->model.layers[2].kind, GG_LAYER_DENSE);
    assert_int_equal(c->model.layers[2].units, 10);
    assert_int_equal(c->model.layers[2].init, GG_INIT_TORCH_DEFAULT);
    assert_true(c->model.layers[2].scale == 1.0 && c->model.layers[2].gain == 0.0);
    assert_true(c->model.layers[1].slope == 0.01 && c->model.layers[1].alpha == 1.0);
    assert_int_equal(c->loss, GG_LOSS_CROSS_ENTROPY);
    assert_int_equal(c->optimizer.name, GG_OPTIM_ADAM);
    assert_true(c->optimizer.lr == 0.001);
    assert_true(c->optimizer.momentum == 0 && c->optimizer.dampening == 0);
    assert_true(c->optimizer.weight_decay == 0);
    assert_true(c->optimizer.beta1 == 0.9 && c->optimizer.beta2 == 0.999);
    assert_true(c->optimizer.eps == 1e-8);
    assert_int_equal(c->optimizer.nesterov + c->optimizer.amsgrad, 0);
    assert_int_equal(c->schedule.name, GG_SCHED_COSINE);
    assert_int_equal(c->schedule.warmup_steps, 200);
    assert_int_equal(c->schedule.step_size, 1000);
    assert_true(c->schedule.gamma == 0.1);
    assert_int_equal(c->schedule.n_milestones, 0);
    assert_true(c->schedule.alpha == 1e-4 && c->schedule.beta == 1.0 && c->schedule.power == 1.0);
    assert_true(c->schedule.pct_start == 0.3 && c->schedule.div_factor == 25);
    assert_true(c->schedule.final_div_factor == 1e4);
    assert_int_equal(c->schedule.cycle_momentum, 1);
    assert_true(c->schedule.base_momentum == 0.85 && c->schedule.max_momentum == 0.95);
    assert_true(c->schedule.restart_mult == 1 && c->schedule.factor == 0.1);
    assert_int_equal(c->schedule.patience, 10);
    assert_true(c->schedule.threshold == 1e-4);
    assert_int_equal(c->guard.enabled, 1);
    assert_int_equal(c->guard.clip.mode, GG_CLIP_MODE_GLOBAL_NORM);
    assert_true(c->guard.clip.max_norm == 1.0 && c->guard.clip.norm_type == 2);
    assert_true(c->guard.clip.value == 1.0 && c->guard.clip.agc_clip == 0.01);
    assert_true(c->guard.clip.agc_eps == 1e-3 && c->guard.clip.percentile == 10);
    assert_int_equal(c->guard.clip.history, 1000);
    assert_true(c->guard.clip.z_threshold == 2.5 && c->guard.clip.z_alpha == 0.97);
    assert_int_equal(c->guard.clip.warmup, 25);
    assert_int_equal(c->guard.nonfinite, GG_NONFINITE_SKIP);
    assert_int_equal(c->guard.monitor.every, 10);
    assert_int_equal(c->guard.spike.enabled, 1);
    assert_int_equal(c->guard.spike.window, 50);
    assert_true(c->guard.spike.threshold == 4);
    assert_int_equal(c->guard.spike.min_history, 8);
    assert_int_equal(c->guard.recover.enabled, 1);
    assert_int_equal(c->guard.recover.snapshot_every, 100);
    assert_int_equal(c->guard.recover.max_attempts, 5);
    assert_true(c->guard.recover.lr_factor == 0.5);
    assert_int_equal(c->guard.recover.warmup_steps, 100);
    assert_int_equal(c->guard.backoff.enabled, 0);
    assert_true(c->guard.backoff.threshold == 1.0 && c->guard.backoff.factor == 10);
    assert_int_equal(c->train.epochs, 10);
    assert_int_equal(c->train.batch_size, 64);
    assert_int_equal(c->train.steps, 0);
    assert_int_equal(c->train.threads, 0);
    assert_int_equal(c->train.eval_batch_size, 1000);
    gg_config_free(c);
    gg_config_free(NULL);
}

static void test_names_are_canonical(void **state) {
    (void)state;
    assert_string_equal(gg_layer_kind_name(GG_LAYER_LEAKY_RELU), "leaky_relu");
    assert_string_equal(gg_layer_kind_name(GG_LAYER_IDENTITY), "identity");
    assert_string_equal(gg_init_name(GG_INIT_XAVIER_UNIFORM), "xavier_uniform");
    assert_string_equal(gg_init_name(GG_INIT_HE_NORMAL), "he_normal");
    assert_string_equal(gg_loss_name(GG_LOSS_BCE_LOGITS), "bce_logits");
    assert_string_equal(gg_optim_name(GG_OPTIM_ADAMW), "adamw");
    assert_string_equal(gg_sched_name(GG_SCHED_ONECYCLE), "onecycle");
    assert_string_equal(gg_clip_mode_name(GG_CLIP_MODE_ZCLIP), "zclip");
    assert_string_equal(gg_optim_name((gg_optim_kind)99), "unknown");
}

static void test_copy_is_deep(void **state) {
    (void)state;
    gg_config *c = fresh();
    gg_config copy;
    gg_error err = {0};
    assert_int_equal(gg_config_copy(&copy, c, &err), GG_OK);
    assert_ptr_not_equal(copy.model.layers, c->model.layers);
    copy.model.layers[0].units = 1;
    assert_int_equal(c->model.layers[0].units, 512);
    gg_config_release(&copy);
    assert_null(copy.model.layers);
    gg_config_release(&copy);
    gg_config_free(c);
}

/* ---- name-dependent defaults ------------------------------------------------------ */

static void test_name_dependent_defaults_follow_name(void **state) {
    (void)state;
    gg_config *c = fresh();
    load_ok(c, "optimizer: {name: momentum}\n");
    assert_true(c->optimizer.momentum == 0.9);
    assert_true(c->optimizer.weight_decay == 0);
    load_ok(c, "optimizer: {name: adamw}\nschedule: {name: exponential}\n");
    assert_true(c->optimizer.momentum == 0);
    assert_true(c->optimizer.weight_decay == 0.01);
    assert_true(c->schedule.gamma == 0.999);
    set_ok(c, "schedule.name", "step");
    assert_true(c->schedule.gamma == 0.1);
    set_ok(c, "schedule.name", "inverse");
    assert_true(c->schedule.gamma == 0.999);
    set_ok(c, "optimizer.name", "nesterov");
    assert_true(c->optimizer.momentum == 0.9 && c->optimizer.weight_decay == 0);
    gg_config_free(c);

    c = fresh();
    set_ok(c, "optimizer.name", "momentum");
    assert_true(c->optimizer.momentum == 0.9);
    gg_config_free(c);
}

static void test_explicit_values_survive_name_change(void **state) {
    (void)state;
    gg_config *c = fresh();
    load_ok(c, "optimizer: {name: nesterov, momentum: 0.5, weight_decay: 0.001}\n"
               "schedule: {name: exponential, gamma: 0.9}\n");
    assert_true(c->optimizer.momentum == 0.5);
    set_ok(c, "optimizer.name", "adamw");
    set_ok(c, "schedule.name", "step");
    assert_true(c->optimizer.momentum == 0.5);
    assert_true(c->optimizer.weight_decay == 0.001);
    assert_true(c->schedule.gamma == 0.9);
    gg_config_free(c);
}

static void test_values_assigned_in_c_survive_unrelated_set(void **state) {
    (void)state;
    gg_config *c = fresh();
    c->optimizer.momentum = 0.5;
    c->schedule.gamma = 0.7;
    set_ok(c, "optimizer.lr", "0.1");
    load_ok(c, "optimizer: {name: adam}\nschedule: {name: cosine}\n");
    assert_true(c->optimizer.momentum == 0.5);
    assert_true(c->schedule.gamma == 0.7);
    set_ok(c, "optimizer.name", "sgd");
    assert_true(c->optimizer.momentum == 0.0);
    gg_config_free(c);
}

static void test_layer_scale_follows_init(void **state) {
    (void)state;
    gg_config *c = fresh();
    load_ok(c,
            "model: {layers: [dense: {units: 3, init: normal},"
            " dense: {units: 3, init: normal, scale: 0.5}, dense: {units: 3, init: uniform}]}\n");
    assert_true(c->model.layers[0].scale == 0.01);
    assert_true(c->model.layers[1].scale == 0.5);
    assert_true(c->model.layers[2].scale == 1.0);
    set_ok(c, "model.layers.2.dense.init", "normal");
    assert_true(c->model.layers[2].scale == 0.01);
    set_ok(c, "model.layers.1.dense.init", "uniform");
    assert_true(c->model.layers[1].scale == 0.5);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_config_h),
        cmocka_unit_test(test_names_are_canonical),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_name_dependent_defaults_follow_name),
        cmocka_unit_test(test_explicit_values_survive_name_change),
        cmocka_unit_test(test_values_assigned_in_c_survive_unrelated_set),
        cmocka_unit_test(test_layer_scale_follows_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
