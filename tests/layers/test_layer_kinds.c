/* The layer kinds as models build them from YAML (gg_model_new): PyTorch's
 * parameter and buffer names, their shapes, counts and initial values for
 * conv2d, pools, recurrent layers, batch/layer norm, PReLU and residual
 * blocks (nested bodies, projections), and the shape errors at build that
 * name the layer and what it needs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/fixtures.h"
#include "train/model.h"

/* ---- helpers ----------------------------------------------------------------- */

#define MAX_BATCH 4

static gg_config *config_of(const char *yaml) {
    gg_config *c = gg_config_new_default();
    assert_non_null(c);
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("config: %s", err.msg);
    return c;
}

static gg_model *model_of(const char *yaml) {
    gg_config *c = config_of(yaml);
    gg_model *m = NULL;
    gg_error err = {0};
    if (gg_model_new(c, MAX_BATCH, &m, &err) != GG_OK) fail_msg("model: %s\n%s", err.msg, yaml);
    gg_config_free(c);
    return m;
}

/* Building yaml fails with GG_ERR_SHAPE and a one-line message holding every
 * NULL-terminated fragment. */
static void expect_build_error(const char *yaml, ...) {
    gg_config *c = config_of(yaml);
    gg_model *m = NULL;
    gg_error err = {0};
    gg_status st = gg_model_new(c, MAX_BATCH, &m, &err);
    if (st != GG_ERR_SHAPE) fail_msg("build gave %d (%s), expected GG_ERR_SHAPE\n%s", st, err.msg, yaml);
    assert_null(m);
    assert_int_equal(err.code, GG_ERR_SHAPE);
    assert_null(strchr(err.msg, '\n'));
    va_list ap;
    va_start(ap, yaml);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(err.msg, frag)) fail_msg("message '%s' lacks '%s'", err.msg, frag);
    va_end(ap);
    gg_config_free(c);
}

typedef struct want {
    const char *name;
    int ndim;
    int dims[4];
} want;

static void check_node(const gg_node *n, const want *w, const char *what) {
    if (strcmp(gg_node_name(n), w->name) != 0)
        fail_msg("%s: '%s', expected '%s'", what, gg_node_name(n), w->name);
    if (gg_node_ndim(n) != w->ndim)
        fail_msg("%s: %s has %d dims, expected %d", what, w->name, gg_node_ndim(n), w->ndim);
    size_t len = 1;
    for (int d = 0; d < w->ndim; d++) {
        if (gg_node_dim(n, d) != w->dims[d])
            fail_msg("%s: %s dim %d is %d, expected %d", what, w->name, d, gg_node_dim(n, d), w->dims[d]);
        len *= (size_t)w->dims[d];
    }
    assert_int_equal(gg_node_len(n), len);
}

/* The model's parameters are exactly ws, in order. */
static void expect_params(gg_model *m, const want *ws, int n) {
    gg_graph *g = gg_model_graph(m);
    if (gg_graph_param_count(g) != n) {
        for (int i = 0; i < gg_graph_param_count(g); i++)
            print_message("  param %d: %s\n", i, gg_node_name(gg_graph_param(g, i)));
        fail_msg("%d parameters, expected %d", gg_graph_param_count(g), n);
    }
    for (int i = 0; i < n; i++) {
        check_node(gg_graph_param(g, i), &ws[i], "parameter");
        assert_ptr_equal(gg_graph_find_param(g, ws[i].name), gg_graph_param(g, i));
    }
}

static void expect_buffers(gg_model *m, const want *ws, int n) {
    gg_graph *g = gg_model_graph(m);
    if (gg_graph_buffer_count(g) != n) fail_msg("%d buffers, expected %d", gg_graph_buffer_count(g), n);
    for (int i = 0; i < n; i++) check_node(gg_graph_buffer(g, i), &ws[i], "buffer");
    assert_null(gg_graph_buffer(g, n));
}

static gg_node *param(gg_model *m, const char *name) {
    gg_node *p = gg_graph_find_param(gg_model_graph(m), name);
    if (!p) fail_msg("no parameter %s", name);
    return p;
}

static void expect_all(const gg_node *n, double v) {
    const gg_real *x = gg_node_data((gg_node *)n);
    for (size_t i = 0; i < gg_node_len(n); i++)
        if ((double)x[i] != v) fail_msg("%s[%zu] = %g, expected %g", gg_node_name(n), i, (double)x[i], v);
}

/* Every element within [-bound, bound], and not all zero. */
static void expect_bounded(gg_node *n, double bound) {
    const gg_real *x = gg_node_data(n);
    double big = 0;
    for (size_t i = 0; i < gg_node_len(n); i++) {
        if (fabs((double)x[i]) > bound * (1 + 1e-6))
            fail_msg("%s[%zu] = %g outside +-%g", gg_node_name(n), i, (double)x[i], bound);
        big = fmax(big, fabs((double)x[i]));
    }
    assert_true(big > bound / 4);
}

/* One forward pass on a batch of random inputs; checks the output's shape
 * and that it is finite. */
static void forward_random(gg_model *m, int batch, int out_features) {
    gg_graph *g = gg_model_graph(m);
    assert_int_equal(gg_graph_set_batch(g, batch, NULL), GG_OK);
    gg_test_fill(gg_node_data(m->input), gg_node_len(m->input), 7, -1, 1);
    gg_graph_forward(g);
    assert_int_equal(gg_node_ndim(m->output), 2);
    assert_int_equal(gg_node_dim(m->output, 0), batch);
    assert_int_equal(gg_node_dim(m->output, 1), out_features);
    for (size_t i = 0; i < gg_node_len(m->output); i++) assert_true(isfinite(gg_node_data(m->output)[i]));
}

/* ---- images ---------------------------------------------------------------------- */

static void test_conv2d_and_pool_params(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [1, 28, 28]\n  layers:\n"
                           "    - conv2d: {filters: 8, kernel: 3}\n"                 /* [8, 26, 26] */
                           "    - relu\n"
                           "    - conv2d: {filters: 4, kernel: [3, 5], stride: 2, padding: 1, "
                           "bias: false}\n"                                         /* [4, 13, 12] */
                           "    - max_pool: {kernel: 2}\n"                           /* [4, 6, 6] */
                           "    - avg_pool: {kernel: [3, 1], stride: 1}\n"          /* [4, 4, 6] */
                           "    - flatten\n"                                         /* [96] */
                           "    - dense: {units: 10}\n");
    const want ws[] = {{"layers.0.weight", 4, {8, 1, 3, 3}}, {"layers.0.bias", 1, {8}},
                       {"layers.2.weight", 4, {4, 8, 3, 5}}, {"layers.6.weight", 2, {10, 96}},
                       {"layers.6.bias", 1, {10}}};
    expect_params(m, ws, 5);
    expect_buffers(m, NULL, 0);
    assert_null(gg_graph_find_param(gg_model_graph(m), "layers.2.bias"));
    /* nn.Conv2d's init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C kh kw,
     * for the weight and the bias alike. */
    expect_bounded(param(m, "layers.0.weight"), 1 / sqrt(9.0));
    expect_bounded(param(m, "layers.0.bias"), 1 / sqrt(9.0));
    expect_bounded(param(m, "layers.2.weight"), 1 / sqrt(8 * 15.0));
    forward_random(m, 3, 10);
    gg_model_free(m);
}

static void test_conv2d_dilation_and_global_pool(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [3, 9, 9]\n  layers:\n"
                           "    - conv2d: {filters: 6, kernel: 3, dilation: 2}\n" /* [6, 5, 5] */
                           "    - max_pool: {kernel: 3, stride: 2, padding: 1}\n" /* [6, 3, 3] */
                           "    - global_avg_pool\n"                             /* [6] */
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.weight", 4, {6, 3, 3, 3}}, {"layers.0.bias", 1, {6}},
                       {"layers.3.weight", 2, {2, 6}}, {"layers.3.bias", 1, {2}}};
    expect_params(m, ws, 4);
    forward_random(m, 2, 2);
    gg_model_free(m);
    /* The same without the global pool: the planes' size reaches the dense layer. */
    m = model_of("model:\n  input: [3, 9, 9]\n  layers:\n"
                 "    - conv2d: {filters: 6, kernel: 3, dilation: 2}\n"
                 "    - max_pool: {kernel: 3, stride: 2, padding: 1}\n"
                 "    - flatten\n"
                 "    - dense: {units: 2}\n");
    assert_int_equal(gg_node_dim(param(m, "layers.3.weight"), 1), 54);
    gg_model_free(m);
}

/* ---- sequences --------------------------------------------------------------------- */

static void test_recurrent_params_as_pytorch(void **s) {
    (void)s;
    static const struct {
        const char *kind;
        int gates;
    } cells[] = {{"rnn", 1}, {"lstm", 4}, {"gru", 3}};
    for (int k = 0; k < 3; k++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "model:\n  input: [7, 2]\n  layers: [{%s: {units: 5}}, {dense: {units: 3}}]\n",
                 cells[k].kind);
        gg_model *m = model_of(yaml);
        int G = cells[k].gates * 5;
        const want ws[] = {{"layers.0.weight_ih_l0", 2, {G, 2}}, {"layers.0.weight_hh_l0", 2, {G, 5}},
                           {"layers.0.bias_ih_l0", 1, {G}},      {"layers.0.bias_hh_l0", 1, {G}},
                           {"layers.1.weight", 2, {3, 5}},       {"layers.1.bias", 1, {3}}};
        expect_params(m, ws, 6);
        expect_buffers(m, NULL, 0);
        /* nn.RNN/LSTM/GRU: every tensor U(-1/sqrt(H), 1/sqrt(H)). */
        for (int i = 0; i < 4; i++) expect_bounded(param(m, ws[i].name), 1 / sqrt(5.0));
        forward_random(m, 2, 3);
        gg_model_free(m);
    }
    /* Without biases; stacked with sequence: true, then last. */
    gg_model *m = model_of("model:\n  input: [7, 2]\n  layers:\n"
                           "    - lstm: {units: 5, sequence: true, bias: false}\n" /* [7, 5] */
                           "    - gru: {units: 4, sequence: true}\n"               /* [7, 4] */
                           "    - layer_norm\n"                                    /* over 4 */
                           "    - last\n"                                          /* [4] */
                           "    - dense: {units: 3}\n");
    const want ws[] = {{"layers.0.weight_ih_l0", 2, {20, 2}}, {"layers.0.weight_hh_l0", 2, {20, 5}},
                       {"layers.1.weight_ih_l0", 2, {12, 5}}, {"layers.1.weight_hh_l0", 2, {12, 4}},
                       {"layers.1.bias_ih_l0", 1, {12}},      {"layers.1.bias_hh_l0", 1, {12}},
                       {"layers.2.weight", 1, {4}},           {"layers.2.bias", 1, {4}},
                       {"layers.4.weight", 2, {3, 4}},        {"layers.4.bias", 1, {3}}};
    expect_params(m, ws, 10);
    forward_random(m, 4, 3);
    gg_model_free(m);
    /* rnn with relu builds the same tensors. */
    m = model_of("model:\n  input: [3, 4]\n  layers: [{rnn: {units: 6, nonlinearity: relu}}, "
                 "{dense: {units: 2}}]\n");
    assert_int_equal(gg_node_dim(param(m, "layers.0.weight_ih_l0"), 1), 4);
    assert_int_equal(gg_node_dim(param(m, "layers.0.weight_hh_l0"), 0), 6);
    gg_model_free(m);
}

/* ---- normalisation and PReLU ---------------------------------------------------------- */

static void test_batch_norm_params_and_buffers(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [6]\n  layers:\n"
                           "    - dense: {units: 4}\n"
                           "    - batch_norm\n"
                           "    - relu\n"
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.weight", 2, {4, 6}}, {"layers.0.bias", 1, {4}},
                       {"layers.1.weight", 1, {4}},    {"layers.1.bias", 1, {4}},
                       {"layers.3.weight", 2, {2, 4}}, {"layers.3.bias", 1, {2}}};
    expect_params(m, ws, 6);
    const want bs[] = {{"layers.1.running_mean", 1, {4}},
                       {"layers.1.running_var", 1, {4}},
                       {"layers.1.num_batches_tracked", 0, {0}}};
    expect_buffers(m, bs, 3);
    gg_graph *g = gg_model_graph(m);
    gg_node *mean = gg_graph_buffer(g, 0), *var = gg_graph_buffer(g, 1), *count = gg_graph_buffer(g, 2);
    /* gamma 1, beta 0; running_mean 0, running_var 1, num_batches_tracked 0 (an integer). */
    expect_all(param(m, "layers.1.weight"), 1);
    expect_all(param(m, "layers.1.bias"), 0);
    expect_all(mean, 0);
    expect_all(var, 1);
    expect_all(count, 0);
    assert_int_equal(gg_node_len(count), 1);
    assert_true(count->integer);
    assert_false(mean->integer);
    assert_false(var->integer);
    /* Buffers are not trained: no gradient, and the parameter block does
     * not hold them. */
    assert_null(gg_node_grad(mean));
    assert_null(gg_node_grad(count));
    assert_int_equal(gg_graph_param_count(g), 6);

    /* A training forward moves the running statistics and counts the batch;
     * an evaluation forward leaves them. */
    gg_graph_set_training(g, 1);
    forward_random(m, 4, 2);
    assert_near(gg_node_data(count)[0], 1, 0);
    int moved = 0;
    for (int i = 0; i < 4; i++) moved += gg_node_data(mean)[i] != 0 && gg_node_data(var)[i] != 1;
    assert_int_equal(moved, 4);
    gg_real before[9];
    memcpy(before, gg_node_data(mean), 4 * sizeof *before);
    memcpy(before + 4, gg_node_data(var), 4 * sizeof *before);
    before[8] = gg_node_data(count)[0];
    gg_graph_set_training(g, 0);
    forward_random(m, 4, 2);
    assert_memory_equal(before, gg_node_data(mean), 4 * sizeof *before);
    assert_memory_equal(before + 4, gg_node_data(var), 4 * sizeof *before);
    assert_near(gg_node_data(count)[0], 1, 0);
    gg_model_free(m);

    /* On images: one statistic per channel. Without affine: buffers only. */
    m = model_of("model:\n  input: [2, 5, 5]\n  layers:\n"
                 "    - conv2d: {filters: 3, kernel: 3, bias: false}\n"
                 "    - batch_norm: {affine: false}\n"
                 "    - batch_norm: {momentum: 0.5}\n"
                 "    - global_avg_pool\n"
                 "    - dense: {units: 2}\n");
    const want ws2[] = {{"layers.0.weight", 4, {3, 2, 3, 3}}, {"layers.2.weight", 1, {3}},
                        {"layers.2.bias", 1, {3}},           {"layers.4.weight", 2, {2, 3}},
                        {"layers.4.bias", 1, {2}}};
    expect_params(m, ws2, 5);
    const want bs2[] = {{"layers.1.running_mean", 1, {3}}, {"layers.1.running_var", 1, {3}},
                        {"layers.1.num_batches_tracked", 0, {0}}, {"layers.2.running_mean", 1, {3}},
                        {"layers.2.running_var", 1, {3}}, {"layers.2.num_batches_tracked", 0, {0}}};
    expect_buffers(m, bs2, 6);
    forward_random(m, 2, 2);
    gg_model_free(m);
}

static void test_layer_norm_params(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [4, 6]\n  layers:\n"
                           "    - layer_norm: {dims: 2}\n"
                           "    - layer_norm\n"
                           "    - layer_norm: {affine: false}\n"
                           "    - flatten\n"
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.weight", 2, {4, 6}}, {"layers.0.bias", 2, {4, 6}},
                       {"layers.1.weight", 1, {6}},    {"layers.1.bias", 1, {6}},
                       {"layers.4.weight", 2, {2, 24}}, {"layers.4.bias", 1, {2}}};
    expect_params(m, ws, 6);
    expect_buffers(m, NULL, 0); /* layer norm keeps no running statistics */
    expect_all(param(m, "layers.0.weight"), 1);
    expect_all(param(m, "layers.0.bias"), 0);
    forward_random(m, 3, 2);
    gg_model_free(m);
}

static void test_prelu_params(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [3, 4, 4]\n  layers:\n"
                           "    - prelu\n"
                           "    - prelu: {per_channel: true}\n"
                           "    - prelu: {per_channel: true, slope: 0.1}\n"
                           "    - flatten\n"
                           "    - prelu: {per_channel: true}\n"
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.weight", 1, {1}},  {"layers.1.weight", 1, {3}},
                       {"layers.2.weight", 1, {3}},  {"layers.4.weight", 1, {48}},
                       {"layers.5.weight", 2, {2, 48}}, {"layers.5.bias", 1, {2}}};
    expect_params(m, ws, 6);
    expect_all(param(m, "layers.0.weight"), (double)(gg_real)0.25);
    expect_all(param(m, "layers.1.weight"), (double)(gg_real)0.25);
    expect_all(param(m, "layers.2.weight"), (double)(gg_real)0.1);
    expect_all(param(m, "layers.4.weight"), (double)(gg_real)0.25);
    /* PReLU at 0.25 on a known input: y = x for x > 0, 0.25 x below. */
    gg_model_free(m);
    m = model_of("model:\n  input: [2]\n  layers: [prelu]\nloss: mse\n");
    gg_graph *g = gg_model_graph(m);
    gg_graph_set_batch(g, 1, NULL);
    gg_node_data(m->input)[0] = 2;
    gg_node_data(m->input)[1] = -2;
    gg_graph_forward(g);
    assert_near(gg_node_data(m->output)[0], 2, 0);
    assert_near(gg_node_data(m->output)[1], -0.5, 0);
    gg_model_free(m);
}

static void test_parameter_free_kinds(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [2, 3, 3]\n  layers:\n"
                           "    - dropout\n    - relu\n    - flatten\n    - dropout: {p: 0.2}\n"
                           "    - tanh\n    - dense: {units: 2}\n");
    const want ws[] = {{"layers.5.weight", 2, {2, 18}}, {"layers.5.bias", 1, {2}}};
    expect_params(m, ws, 2);
    expect_buffers(m, NULL, 0);
    /* In evaluation dropout is the identity: two passes agree. */
    gg_graph *g = gg_model_graph(m);
    gg_graph_set_training(g, 0);
    forward_random(m, 4, 2);
    gg_real first[8];
    memcpy(first, gg_node_data(m->output), sizeof first);
    forward_random(m, 4, 2);
    assert_memory_equal(first, gg_node_data(m->output), sizeof first);
    gg_model_free(m);
}

/* ---- residual blocks ------------------------------------------------------------------ */

static void test_residual_body_names(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [6]\n  layers:\n"
                           "    - residual: {layers: [{dense: {units: 6}}, relu, {dense: {units: 6}}]}\n"
                           "    - residual:\n"
                           "        layers:\n"
                           "          - residual: {layers: [{dense: {units: 6}}, batch_norm]}\n"
                           "          - prelu\n"
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.layers.0.weight", 2, {6, 6}},
                       {"layers.0.layers.0.bias", 1, {6}},
                       {"layers.0.layers.2.weight", 2, {6, 6}},
                       {"layers.0.layers.2.bias", 1, {6}},
                       {"layers.1.layers.0.layers.0.weight", 2, {6, 6}},
                       {"layers.1.layers.0.layers.0.bias", 1, {6}},
                       {"layers.1.layers.0.layers.1.weight", 1, {6}},
                       {"layers.1.layers.0.layers.1.bias", 1, {6}},
                       {"layers.1.layers.1.weight", 1, {1}},
                       {"layers.2.weight", 2, {2, 6}},
                       {"layers.2.bias", 1, {2}}};
    expect_params(m, ws, 11);
    const want bs[] = {{"layers.1.layers.0.layers.1.running_mean", 1, {6}},
                       {"layers.1.layers.0.layers.1.running_var", 1, {6}},
                       {"layers.1.layers.0.layers.1.num_batches_tracked", 0, {0}}};
    expect_buffers(m, bs, 3);
    /* Same shape in and out: no projection anywhere. */
    for (int i = 0; i < gg_graph_param_count(gg_model_graph(m)); i++)
        assert_null(strstr(gg_node_name(gg_graph_param(gg_model_graph(m), i)), "proj"));
    forward_random(m, 4, 2);
    gg_model_free(m);
}

static void test_residual_adds_the_input(void **s) {
    (void)s;
    /* A body that outputs 0 leaves the identity: y = x. */
    gg_model *m = model_of("model:\n  input: [3]\n  layers:\n"
                           "    - residual: {layers: [{dense: {units: 3, init: zeros, bias_init: zeros}}]}\n"
                           "loss: mse\n");
    gg_graph *g = gg_model_graph(m);
    gg_graph_set_batch(g, 2, NULL);
    gg_test_fill(gg_node_data(m->input), 6, 3, -1, 1);
    gg_graph_forward(g);
    assert_memory_equal(gg_node_data(m->output), gg_node_data(m->input), 6 * sizeof(gg_real));
    gg_model_free(m);

    /* A body that changes the width: y = W x + b + P x, P the projection. */
    m = model_of("model:\n  input: [2]\n  layers:\n"
                 "    - residual: {layers: [{dense: {units: 3}}]}\n"
                 "loss: mse\n");
    const want ws[] = {{"layers.0.layers.0.weight", 2, {3, 2}},
                       {"layers.0.layers.0.bias", 1, {3}},
                       {"layers.0.proj.weight", 2, {3, 2}}};
    expect_params(m, ws, 3); /* a linear projection without bias */
    g = gg_model_graph(m);
    const gg_real *W = gg_node_data(param(m, "layers.0.layers.0.weight"));
    const gg_real *b = gg_node_data(param(m, "layers.0.layers.0.bias"));
    const gg_real *P = gg_node_data(param(m, "layers.0.proj.weight"));
    expect_bounded(param(m, "layers.0.proj.weight"), 1 / sqrt(2.0));
    gg_graph_set_batch(g, 2, NULL);
    gg_real *x = gg_node_data(m->input);
    x[0] = 0.5, x[1] = -1, x[2] = 2, x[3] = 0.25;
    gg_graph_forward(g);
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 3; o++) {
            double want_y = b[o];
            for (int i = 0; i < 2; i++) want_y += (double)(W[o * 2 + i] + P[o * 2 + i]) * x[n * 2 + i];
            assert_near(gg_node_data(m->output)[n * 3 + o], want_y, 1e-5);
        }
    gg_model_free(m);
}

static void test_residual_image_projection(void **s) {
    (void)s;
    gg_model *m = model_of("model:\n  input: [3, 8, 8]\n  layers:\n"
                           "    - residual:\n        layers:\n"
                           "          - conv2d: {filters: 8, kernel: 3, stride: 2, padding: 1, "
                           "bias: false}\n"                                     /* [8, 4, 4] */
                           "          - batch_norm\n"
                           "    - residual: {layers: [{conv2d: {filters: 8, kernel: 3, padding: 1}}]}\n"
                           "    - global_avg_pool\n"
                           "    - dense: {units: 2}\n");
    const want ws[] = {{"layers.0.layers.0.weight", 4, {8, 3, 3, 3}},
                       {"layers.0.layers.1.weight", 1, {8}},
                       {"layers.0.layers.1.bias", 1, {8}},
                       {"layers.0.proj.weight", 4, {8, 3, 1, 1}},
                       {"layers.1.layers.0.weight", 4, {8, 8, 3, 3}},
                       {"layers.1.layers.0.bias", 1, {8}},
                       {"layers.3.weight", 2, {2, 8}},
                       {"layers.3.bias", 1, {2}}};
    expect_params(m, ws, 8);
    const want bs[] = {{"layers.0.layers.1.running_mean", 1, {8}},
                       {"layers.0.layers.1.running_var", 1, {8}},
                       {"layers.0.layers.1.num_batches_tracked", 0, {0}}};
    expect_buffers(m, bs, 3);
    forward_random(m, 2, 2);
    gg_model_free(m);
    /* Channels changed, planes kept: a stride-1 projection. */
    m = model_of("model:\n  input: [2, 5, 5]\n  layers:\n"
                 "    - residual: {layers: [{conv2d: {filters: 4, kernel: 3, padding: 1}}]}\n"
                 "    - flatten\n    - dense: {units: 2}\n");
    assert_int_equal(gg_node_dim(param(m, "layers.0.proj.weight"), 0), 4);
    assert_int_equal(gg_node_dim(param(m, "layers.0.proj.weight"), 1), 2);
    assert_int_equal(gg_node_dim(param(m, "layers.2.weight"), 1), 100);
    forward_random(m, 1, 2);
    gg_model_free(m);
}

/* ---- shape errors at build ---------------------------------------------------------------- */

static void test_shape_errors_name_the_layer_and_what_it_needs(void **s) {
    (void)s;
    expect_build_error("model: {input: [6], layers: [{conv2d: {filters: 2, kernel: 3}}]}",
                       "layers.0 (conv2d)", "input shape [6]", "needs an image", "model.input", NULL);
    expect_build_error("model: {input: [7, 2], layers: [{dense: {units: 3}}]}", "layers.0 (dense)",
                       "input shape [7, 2]", "flat", "last", NULL);
    expect_build_error("model: {input: [1, 4, 4], layers: [relu, {dense: {units: 3}}]}",
                       "layers.1 (dense)", "input shape [1, 4, 4]", "flatten", NULL);
    expect_build_error("model: {input: [6], layers: [{dense: {units: 4}}, {lstm: {units: 3}}]}",
                       "layers.1 (lstm)", "input shape [4]", "needs a sequence", NULL);
    expect_build_error("model: {input: [1, 4, 4], layers: [{gru: {units: 3}}]}", "layers.0 (gru)",
                       "needs a sequence", NULL);
    expect_build_error("model: {input: [6], layers: [last, {dense: {units: 2}}]}", "layers.0 (last)",
                       "needs a sequence", NULL);
    expect_build_error("model: {input: [6], layers: [global_avg_pool, {dense: {units: 2}}]}",
                       "layers.0 (global_avg_pool)", "needs an image", NULL);
    expect_build_error("model: {input: [6], layers: [max_pool, {dense: {units: 2}}]}",
                       "layers.0 (max_pool)", "needs an image", NULL);
    expect_build_error("model: {input: [6], layers: [{layer_norm: {dims: 2}}, {dense: {units: 2}}]}",
                       "layers.0 (layer_norm)", "needs at least 2 dimensions", NULL);
    /* Inside a body: the nested name. */
    expect_build_error("model: {input: [6], layers: [relu, {residual: {layers: [relu, {conv2d: "
                       "{filters: 2, kernel: 3}}]}}]}",
                       "layers.1.layers.1 (conv2d)", "input shape [6]", "needs an image", NULL);
    expect_build_error("model: {input: [6], layers: [{residual: {layers: [{residual: {layers: "
                       "[{lstm: {units: 2}}]}}]}}]}",
                       "layers.0.layers.0.layers.0 (lstm)", NULL);
    /* A body that turns an image into flat features has no projection. */
    expect_build_error("model: {input: [3, 4, 4], layers: [{residual: {layers: [flatten, "
                       "{dense: {units: 4}}]}}, {dense: {units: 2}}]}",
                       "layers.0 (residual)", "[3, 4, 4] to [4]", "projection", NULL);
    /* A body that makes the planes larger has no strided projection either. */
    expect_build_error("model: {input: [2, 4, 4], layers: [{residual: {layers: [{conv2d: "
                       "{filters: 2, kernel: 1, padding: 1}}]}}, flatten, {dense: {units: 2}}]}",
                       "layers.0 (residual)", "[2, 4, 4] to [2, 6, 6]", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_and_pool_params),
        cmocka_unit_test(test_conv2d_dilation_and_global_pool),
        cmocka_unit_test(test_recurrent_params_as_pytorch),
        cmocka_unit_test(test_batch_norm_params_and_buffers),
        cmocka_unit_test(test_layer_norm_params),
        cmocka_unit_test(test_prelu_params),
        cmocka_unit_test(test_parameter_free_kinds),
        cmocka_unit_test(test_residual_body_names),
        cmocka_unit_test(test_residual_adds_the_input),
        cmocka_unit_test(test_residual_image_projection),
        cmocka_unit_test(test_shape_errors_name_the_layer_and_what_it_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
