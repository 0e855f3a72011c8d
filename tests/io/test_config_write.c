/* Tests of writing the config (src/io/config_write.c): what is written loads
 * back to the same config, numbers and strings included. */
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

/* The config as written by gg_config_write; caller frees. */
static char *dump(const gg_config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    gg_error err = {0};
    assert_int_equal(gg_config_write(c, f, &err), GG_OK);
    assert_int_equal(fclose(f), 0);
    return buf;
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

/* ---- write ---------------------------------------------------------------- */

static void assert_round_trip(const gg_config *c) {
    char *text = dump(c);
    gg_config *back = fresh();
    gg_error err = {0};
    if (gg_config_load_string(back, text, &err) != GG_OK)
        fail_msg("written config does not load: %s\n%s", err.msg, text);
    char *again = dump(back);
    assert_string_equal(text, again);
    assert_int_equal(back->model.n_layers, c->model.n_layers);
    for (int i = 0; i < c->model.n_layers; i++) {
        const gg_layer_spec *a = &c->model.layers[i], *b = &back->model.layers[i];
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->units, b->units);
        assert_memory_equal(&a->scale, &b->scale, sizeof a->scale);
        assert_memory_equal(&a->slope, &b->slope, sizeof a->slope);
    }
    assert_memory_equal(&c->optimizer.lr, &back->optimizer.lr, sizeof(double));
    assert_memory_equal(&c->guard.clip.norm_type, &back->guard.clip.norm_type, sizeof(double));
    assert_true(c->seed == back->seed);
    assert_string_equal(c->data.dataset, back->data.dataset);
    free(text);
    free(again);
    gg_config_free(back);
}

static void test_write_load_round_trip(void **state) {
    (void)state;
    gg_config *c = fresh();
    assert_round_trip(c);
    load_ok(c, "seed: 18446744073709551615\n"
               "data: {dataset: \"csv:/tmp/a b: \\\"c\\\".csv\", normalize: feature}\n"
               "model:\n"
               "  input: [1, 28, 28]\n"
               "  layers:\n"
               "    - dense: {units: 7, bias: false, init: orthogonal, gain: 1.4142135623730951}\n"
               "    - leaky_relu: {slope: 0.30000000000000004}\n"
               "    - elu: {alpha: 1e-300}\n"
               "    - dense: {units: 3, init: normal}\n"
               "    - linear\n"
               "loss: soft_cross_entropy\n"
               "optimizer: {name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}\n"
               "schedule: {name: multistep, milestones: [100, 200, 9000000000]}\n"
               "guard: {clip: {mode: norm, norm_type: inf, exclude: [last, 'true', '1']}}\n");
    assert_true(isinf(c->guard.clip.norm_type));
    assert_round_trip(c);
    set_ok(c, "optimizer.lr", "0.1");
    c->optimizer.lr = 0.1 + 0.2; /* needs 17 digits */
    assert_round_trip(c);
    gg_config_free(c);
}

static void test_write_layout_is_block_sections_and_flow_layers(void **state) {
    (void)state;
    gg_config *c = fresh();
    char *text = dump(c);
    assert_non_null(strstr(text, "seed: 0\ndata:\n  dataset: fashion-mnist\n"));
    assert_non_null(strstr(text, "model:\n  input: [784]\n  layers:\n"
                                 "    - dense: {units: 512, bias: true, init: he_normal, "
                                 "bias_init: torch_default, gain: 0, scale: 1}\n"
                                 "    - relu: {}\n"));
    assert_non_null(strstr(text, "loss: cross_entropy\noptimizer:\n  name: adam\n  lr: 0.001\n"));
    assert_non_null(strstr(text, "guard:\n  enabled: true\n  clip:\n    mode: global_norm\n"));
    assert_non_null(strstr(text, "    warmup: 25\n  nonfinite: skip\n  monitor:\n    every: 10\n"));
    assert_non_null(strstr(text, "train:\n  epochs: 10\n  batch_size: 64\n"));
    free(text);
    gg_config_free(c);
}

static void test_write_quotes_strings_that_need_it(void **state) {
    (void)state;
    static const char *const datasets[] = {
        "csv:/données/été.csv",
        "idx:/data/with space",
        "csv:C:\\data\\x.csv",
        "csv:a: b",
        "idx:#not-a-comment",
        "csv:tab\there",
        "xor",
    };
    gg_config *c = fresh();
    for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++) {
        snprintf(c->data.dataset, sizeof c->data.dataset, "%s", datasets[i]);
        assert_round_trip(c);
    }
    snprintf(c->guard.clip.exclude[0], GG_NAME_LEN, "%s", "no");
    snprintf(c->guard.clip.exclude[1], GG_NAME_LEN, "%s", "layers.2");
    c->guard.clip.n_exclude = 2;
    c->model.input_ndim = 0;
    assert_round_trip(c);
    char *text = dump(c);
    assert_non_null(strstr(text, "exclude: [\"no\", layers.2]"));
    assert_non_null(strstr(text, "input: []"));
    free(text);
    gg_config_free(c);
}

static void test_write_rejects_bad_enum(void **state) {
    (void)state;
    gg_config *c = fresh();
    c->loss = (gg_loss_kind)77;
    FILE *f = tmpfile();
    assert_non_null(f);
    gg_error err = {0};
    assert_int_equal(gg_config_write(c, f, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "loss"));
    fclose(f);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_load_round_trip),
        cmocka_unit_test(test_write_layout_is_block_sections_and_flow_layers),
        cmocka_unit_test(test_write_quotes_strings_that_need_it),
        cmocka_unit_test(test_write_rejects_bad_enum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
