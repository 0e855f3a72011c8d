/* The plain-words diagnosis (gg_trainer_diagnose) on runs made sick on
 * purpose: a deep sigmoid MLP with a tiny init (vanishing), a huge
 * learning rate without clipping (exploding), a dead ReLU layer, and a
 * healthy run that must report neither vanishing nor exploding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer.h"

#define F 6
#define MAX_FINDINGS 16

static gg_dataset *blobs(size_t n, double sep) {
    gg_real *x = malloc(n * F * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 21);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < F; j++) x[i * F + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? sep : -sep));
    }
    gg_dataset *d = gg_dataset_from_arrays(n, F, x, 1, y, 2);
    free(x);
    free(y);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_dataset *d;
    gg_model *m;
    gg_trainer *t;
    gg_event found[MAX_FINDINGS];
    int n_found;
} run;

static void run_open(run *r, const char *layers, const char *extra) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [%d]\n  layers: %s\n"
             "schedule: {name: constant}\ntrain: {batch_size: 16, epochs: 1000}\n%s\n",
             F, layers, extra);
    r->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(r->c, yaml, &err) != GG_OK) fail_msg("config: %s", err.msg);
    r->d = blobs(256, 1.0);
    assert_int_equal(gg_model_new(r->c, 16, &r->m, &err), GG_OK);
    if (gg_trainer_new(r->m, r->c, r->d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void run_steps(run *r, int n) {
    gg_step_info info;
    gg_error err = {0};
    for (int i = 0; i < n; i++)
        if (gg_trainer_step(r->t, &info, &err) != GG_OK) fail_msg("step %d: %s", i + 1, err.msg);
    r->n_found = gg_trainer_diagnose(r->t, r->found, MAX_FINDINGS);
    assert_true(r->n_found >= 0 && r->n_found <= MAX_FINDINGS);
    for (int i = 0; i < r->n_found; i++) {
        assert_string_equal(r->found[i].kind, "diagnosis");
        assert_true(strlen(r->found[i].message) > 0);
    }
}

static void run_close(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_dataset_free(r->d);
    gg_config_free(r->c);
}

/* The finding whose message starts with `what`, or NULL. */
static const char *finding(const run *r, const char *what) {
    for (int i = 0; i < r->n_found; i++)
        if (strncmp(r->found[i].message, what, strlen(what)) == 0) return r->found[i].message;
    return NULL;
}

static void print_findings(const run *r) {
    for (int i = 0; i < r->n_found; i++) print_message("  finding: %s\n", r->found[i].message);
}

/* 10 sigmoid layers of 16 units, weights U(-0.1, 0.1), SGD: the signal and
 * the gradient both die out, and the loss stays at log 2. */
static void open_deep_sigmoid(run *r) {
    char layers[2048] = "[";
    for (int i = 0; i < 10; i++) strcat(layers, "{dense: {units: 16, init: uniform, scale: 0.1}}, sigmoid, ");
    strcat(layers, "{dense: {units: 2, init: uniform, scale: 0.1}}]");
    run_open(r, layers, "optimizer: {name: sgd, lr: 0.1}");
    run_steps(r, 300);
}

static void test_deep_sigmoid_tiny_init_is_diagnosed_vanishing(void **s) {
    (void)s;
    run r;
    open_deep_sigmoid(&r);
    const char *msg = finding(&r, "vanishing");
    if (!msg) {
        print_findings(&r);
        fail_msg("no vanishing finding");
    }
    /* It names a weight of the early layers (layers.0 .. layers.18) and gives remedies. */
    const char *name = strstr(msg, "layers.");
    assert_non_null(name);
    int layer = -1;
    char rest[16] = "";
    assert_int_equal(sscanf(name, "layers.%d.%15[a-z]", &layer, rest), 2);
    assert_string_equal(rest, "weight");
    assert_true(layer >= 0 && layer < 20 && layer % 2 == 0);
    assert_non_null(strstr(msg, "Remedies"));
    run_close(&r);
}

/* The same stalled run must not also be called exploding: its loss is flat
 * at log 2 and its gradient norm stays below 1, but a batch whose labels
 * happen to balance has a near-zero norm (0.002 at step 241 here), and a
 * growth ratio taken over the window's smallest norm turns the next
 * ordinary batch (0.9) into "grew 446x within 50 steps". */
static void test_stalled_vanishing_run_is_not_diagnosed_exploding(void **s) {
    (void)s;
    run r;
    open_deep_sigmoid(&r);
    char msg[sizeof r.found[0].message] = "";
    if (finding(&r, "exploding")) memcpy(msg, finding(&r, "exploding"), sizeof msg);
    run_close(&r);
    if (msg[0]) fail_msg("false exploding finding: %s", msg);
}

static void test_huge_learning_rate_without_clipping_is_diagnosed_exploding(void **s) {
    (void)s;
    run r;
    run_open(&r, "[{dense: {units: 32}}, relu, {dense: {units: 32}}, relu, {dense: {units: 2}}]",
             "optimizer: {name: sgd, lr: 20.0}\n"
             "guard: {clip: {mode: none}, spike: {enabled: false}}");
    run_steps(&r, 60);
    const char *msg = finding(&r, "exploding");
    if (!msg) {
        print_findings(&r);
        fail_msg("no exploding finding");
    }
    assert_non_null(strstr(msg, "clipping"));
    run_close(&r);
}

static void test_dead_relu_layer_is_diagnosed_and_named(void **s) {
    (void)s;
    run r;
    run_open(&r, "[{dense: {units: 16}}, tanh, {dense: {units: 16}}, relu, {dense: {units: 2}}]",
             "optimizer: {name: adam, lr: 0.001}");
    gg_node *b = gg_graph_find_param(r.m->g, "layers.2.bias");
    for (int i = 0; i < 16; i++) gg_node_data(b)[i] = -100;
    run_steps(&r, 20);
    const char *msg = finding(&r, "dead ReLUs");
    if (!msg) {
        print_findings(&r);
        fail_msg("no dead-ReLU finding");
    }
    assert_non_null(strstr(msg, "layers.3"));
    assert_non_null(strstr(msg, "100%"));
    run_close(&r);
}

static void test_healthy_run_has_no_vanishing_or_exploding_finding(void **s) {
    (void)s;
    run r;
    run_open(&r, "[{dense: {units: 16}}, relu, {dense: {units: 16}}, tanh, {dense: {units: 2}}]",
             "optimizer: {name: adam, lr: 0.003}");
    run_steps(&r, 200);
    if (finding(&r, "vanishing") || finding(&r, "exploding") || finding(&r, "dead ReLUs") ||
        finding(&r, "non-finite")) {
        print_findings(&r);
        fail_msg("a healthy run was diagnosed sick");
    }
    gg_eval_result e;
    assert_int_equal(gg_model_evaluate(r.m, r.d, &e, NULL), GG_OK);
    assert_true(e.accuracy > 0.9);
    run_close(&r);
}

static void test_diagnose_respects_max(void **s) {
    (void)s;
    run r;
    run_open(&r, "[{dense: {units: 16}}, relu, {dense: {units: 2}}]", "optimizer: {name: sgd, lr: 0.1}");
    gg_node *b = gg_graph_find_param(r.m->g, "layers.0.bias");
    for (int i = 0; i < 16; i++) gg_node_data(b)[i] = -100;
    run_steps(&r, 5);
    assert_true(r.n_found >= 1);
    gg_event one[2];
    memset(one, 0, sizeof one);
    assert_int_equal(gg_trainer_diagnose(r.t, one, 1), 1);
    assert_string_equal(one[1].kind, ""); /* nothing written past max */
    assert_int_equal(gg_trainer_diagnose(r.t, one, 0), 0);
    run_close(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_sigmoid_tiny_init_is_diagnosed_vanishing),
        cmocka_unit_test(test_stalled_vanishing_run_is_not_diagnosed_exploding),
        cmocka_unit_test(test_huge_learning_rate_without_clipping_is_diagnosed_exploding),
        cmocka_unit_test(test_dead_relu_layer_is_diagnosed_and_named),
        cmocka_unit_test(test_healthy_run_has_no_vanishing_or_exploding_finding),
        cmocka_unit_test(test_diagnose_respects_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
