/* gg_model_new_sized: gradients sized for the training batch only. The
 * gradients of a step are those of a model sized for everything, forward
 * passes at the larger evaluation batch are unchanged, the gradient region
 * shrinks, an inference-only model has no activation gradients, and a
 * backward or a trainer beyond the gradient batch is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "support/fixtures.h"
#include "train/trainer.h"

static const char yaml[] =
    "model:\n  input: [2, 6, 6]\n  layers:\n"
    "    - conv2d: {filters: 3, kernel: 3, padding: 1}\n    - batch_norm\n    - relu\n"
    "    - flatten\n    - dense: {units: 4}\n"
    "train: {batch_size: 8}\n";

static gg_config *config(void) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    return c;
}

static gg_model *model(const gg_config *c, int max_batch, int train_batch) {
    gg_model *m = NULL;
    gg_error err = {0};
    if (gg_model_new_sized(c, max_batch, train_batch, &m, &err) != GG_OK) fail_msg("%s", err.msg);
    return m;
}

/* Random inputs and labels for n samples, loaded as the current batch. */
static void load(gg_model *m, int n, uint64_t seed) {
    gg_graph *g = gg_model_graph(m);
    assert_int_equal(gg_graph_set_batch(g, n, NULL), GG_OK);
    gg_test_fill(m->input->out->x, (size_t)n * 72, seed, -1, 1);
    for (int i = 0; i < n; i++) m->target->out->x[i] = (gg_real)(i % 4);
}

static void test_gradients_match_a_model_sized_for_everything(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *full = model(c, 32, 32), *small = model(c, 32, 8);
    gg_graph *gf = gg_model_graph(full), *gs = gg_model_graph(small);
    assert_int_equal(gf->param_len, gs->param_len);
    memcpy(gs->param, gf->param, gf->param_len * sizeof *gf->param);
    assert_true(gs->act_grad_len * 3 < gf->act_grad_len); /* 8 of 32 samples, and the scalars */
    gg_graph_set_training(gf, 1);
    gg_graph_set_training(gs, 1);
    load(full, 8, 1);
    load(small, 8, 1);
    gg_graph_forward(gf);
    gg_graph_backward(gf, full->loss);
    gg_graph_forward(gs);
    gg_graph_backward(gs, small->loss);
    assert_int_equal(gs->status, GG_OK);
    assert_memory_equal(gf->grad, gs->grad, gf->param_len * sizeof *gf->grad);
    /* Evaluation at 32: the same outputs. */
    gg_graph_set_training(gf, 0);
    gg_graph_set_training(gs, 0);
    load(full, 32, 2);
    load(small, 32, 2);
    gg_graph_forward(gf);
    gg_graph_forward(gs);
    assert_memory_equal(full->output->out->x, small->output->out->x, 32 * 4 * sizeof(gg_real));
    /* A backward beyond the gradient batch is refused, not overrun. */
    gg_graph_backward(gs, small->loss);
    assert_int_equal(gs->status, GG_ERR_ARG);
    gg_model_free(full);
    gg_model_free(small);
    gg_config_free(c);
}

static void test_an_inference_only_model_has_no_activation_gradients(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *m = model(c, 16, 0);
    gg_graph *g = gg_model_graph(m);
    assert_int_equal(g->act_grad_len, 0);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->kind != GG_NODE_PARAM) assert_null(g->nodes[i]->out->dx);
    gg_graph_set_training(g, 0);
    load(m, 16, 3);
    gg_graph_forward(g);
    gg_eval_result e;
    gg_dataset *d = gg_dataset_from_arrays(16, 72, m->input->out->x, 1, m->target->out->x, 4);
    assert_int_equal(gg_model_evaluate(m, d, &e, NULL), GG_OK);
    assert_int_equal(e.samples, 16);
    /* It cannot be trained. */
    gg_trainer *t = NULL;
    gg_error err = {0};
    assert_int_equal(gg_trainer_new(m, c, d, &t, &err), GG_ERR_ARG);
    if (!strstr(err.msg, "train.batch_size 8")) fail_msg("message: %s", err.msg);
    gg_dataset_free(d);
    gg_model_free(m);
    gg_config_free(c);
}

static void test_bad_sizes_are_refused(void **s) {
    (void)s;
    gg_config *c = config();
    gg_model *m = NULL;
    gg_error err = {0};
    assert_int_equal(gg_model_new_sized(c, 16, 17, &m, &err), GG_ERR_ARG);
    assert_null(m);
    assert_non_null(strstr(err.msg, "gradient batch 17"));
    assert_int_equal(gg_model_new_sized(c, 16, -1, &m, &err), GG_ERR_ARG);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_a_model_sized_for_everything),
        cmocka_unit_test(test_an_inference_only_model_has_no_activation_gradients),
        cmocka_unit_test(test_bad_sizes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
