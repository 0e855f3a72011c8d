/* The config's layer kinds (src/io/config.c, config_schema.c, config_write.c):
 * every new kind with its defaults, {h, w} pairs, required keys, nested
 * residual bodies (errors naming the full path, --set reaching into them,
 * write -> load -> write), deep copy and release, and the new optimizer,
 * data and early-stopping keys. Only the public API and the struct of
 * src/io/config.h are used. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/config.h"
#include "support/assert_near.h"

/* ---- helpers ---------------------------------------------------------------- */

static gg_config *fresh(void) {
    gg_config *c = gg_config_new_default();
    assert_non_null(c);
    return c;
}

/* The config as gg_config_write writes it; caller frees. */
static char *dump(const gg_config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    gg_error err = {0};
    if (gg_config_write(c, f, &err) != GG_OK) fail_msg("write failed: %s", err.msg);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void load_ok(gg_config *c, const char *yaml) {
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("load failed: %s", err.msg);
}

static gg_config *loaded(const char *yaml) {
    gg_config *c = fresh();
    load_ok(c, yaml);
    return c;
}

static void set_ok(gg_config *c, const char *key, const char *value) {
    gg_error err = {0};
    if (gg_config_set(c, key, value, &err) != GG_OK)
        fail_msg("--set %s=%s failed: %s", key, value, err.msg);
}

static void expect_fragments(const char *msg, va_list ap) {
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(msg, frag)) fail_msg("message '%s' lacks '%s'", msg, frag);
}

/* Loads yaml over a default config: GG_ERR_CONFIG, every NULL-terminated
 * fragment in the message, and the config unchanged. */
static void expect_load_error(const char *yaml, ...) {
    gg_config *c = fresh();
    char *before = dump(c);
    gg_error err = {0};
    gg_status st = gg_config_load_string(c, yaml, &err);
    if (st != GG_ERR_CONFIG) fail_msg("load gave %d (%s), expected GG_ERR_CONFIG", st, err.msg);
    assert_int_equal(err.code, GG_ERR_CONFIG);
    assert_null(strchr(err.msg, '\n')); /* one line */
    va_list ap;
    va_start(ap, yaml);
    expect_fragments(err.msg, ap);
    va_end(ap);
    char *after = dump(c);
    assert_string_equal(before, after);
    free(before);
    free(after);
    gg_config_free(c);
}

/* --set key=value on c: GG_ERR_CONFIG, the fragments, and c unchanged. */
static void expect_set_error(gg_config *c, const char *key, const char *value, ...) {
    char *before = dump(c);
    gg_error err = {0};
    gg_status st = gg_config_set(c, key, value, &err);
    if (st != GG_ERR_CONFIG)
        fail_msg("--set %s=%s gave %d (%s), expected GG_ERR_CONFIG", key, value, st, err.msg);
    assert_null(strchr(err.msg, '\n'));
    va_list ap;
    va_start(ap, value);
    expect_fragments(err.msg, ap);
    va_end(ap);
    char *after = dump(c);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* Lines of a and b: same count, and exactly one differs; returns b's copy of
 * that line (caller frees). */
static char *single_changed_line(const char *a, const char *b) {
    char *changed = NULL;
    int diffs = 0;
    while (*a && *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0) {
            diffs++;
            free(changed);
            changed = strndup(b, lb);
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    if (*a || *b) fail_msg("the written configs have different line counts");
    if (diffs != 1) fail_msg("%d lines changed, expected 1", diffs);
    return changed;
}

/* Every new layer kind, with what it must state and nothing else. */
static const char every_kind[] =
    "model:\n"
    "  input: [1, 8, 8]\n"
    "  layers:\n"
    "    - conv2d: {filters: 4, kernel: 3}\n"      /* 0 */
    "    - prelu\n"                                /* 1 */
    "    - max_pool\n"                             /* 2 */
    "    - avg_pool: {}\n"                         /* 3 */
    "    - batch_norm:\n"                          /* 4 */
    "    - layer_norm\n"                           /* 5 */
    "    - dropout\n"                              /* 6 */
    "    - residual: {layers: [relu]}\n"           /* 7 */
    "    - global_avg_pool\n"                      /* 8 */
    "    - flatten\n"                              /* 9 */
    "    - rnn: {units: 3}\n"                      /* 10 */
    "    - lstm: {units: 5}\n"                     /* 11 */
    "    - gru: {units: 7}\n"                      /* 12 */
    "    - last\n"                                 /* 13 */
    "    - leaky_relu\n"                           /* 14 */
    "    - dense: {units: 2}\n";                   /* 15 */

/* ---- kinds and defaults ------------------------------------------------------ */

static void test_every_new_kind_parses_with_its_defaults(void **s) {
    (void)s;
    gg_config *c = loaded(every_kind);
    static const gg_layer_kind kinds[] = {
        GG_LAYER_CONV2D,     GG_LAYER_PRELU,      GG_LAYER_MAX_POOL, GG_LAYER_AVG_POOL,
        GG_LAYER_BATCH_NORM, GG_LAYER_LAYER_NORM, GG_LAYER_DROPOUT,  GG_LAYER_RESIDUAL,
        GG_LAYER_GLOBAL_AVG_POOL, GG_LAYER_FLATTEN, GG_LAYER_RNN,    GG_LAYER_LSTM,
        GG_LAYER_GRU,        GG_LAYER_LAST,       GG_LAYER_LEAKY_RELU, GG_LAYER_DENSE};
    assert_int_equal(c->model.n_layers, 16);
    for (int i = 0; i < 16; i++) {
        if (c->model.layers[i].kind != kinds[i])
            fail_msg("layer %d is %s, expected %s", i, gg_layer_kind_name(c->model.layers[i].kind),
                     gg_layer_kind_name(kinds[i]));
        assert_int_equal(c->model.layers[i].line, 4 + i); /* where the entry was written */
    }
    const gg_layer_spec *L = c->model.layers;
    /* conv2d: stride 1, padding 0, dilation 1, bias on, torch_default init */
    assert_int_equal(L[0].filters, 4);
    assert_int_equal(L[0].n_kernel, 1);
    assert_int_equal(L[0].kernel[0], 3);
    assert_int_equal(L[0].stride[0], 1);
    assert_int_equal(L[0].padding[0], 0);
    assert_int_equal(L[0].dilation[0], 1);
    assert_int_equal(L[0].bias, 1);
    assert_int_equal(L[0].init, GG_INIT_TORCH_DEFAULT);
    /* prelu 0.25 shared; leaky_relu 0.01 */
    assert_near(L[1].slope, 0.25, 0);
    assert_int_equal(L[1].per_channel, 0);
    assert_near(L[14].slope, 0.01, 0);
    /* pools: kernel 2, stride 0 (= the kernel), padding 0 */
    for (int i = 2; i <= 3; i++) {
        assert_int_equal(L[i].kernel[0], 2);
        assert_int_equal(L[i].stride[0], 0);
        assert_int_equal(L[i].padding[0], 0);
    }
    /* batch_norm momentum 0.1, eps 1e-5, affine; layer_norm eps 1e-5, dims 1 */
    assert_near(L[4].momentum, 0.1, 0);
    assert_near(L[4].eps, 1e-5, 0);
    assert_int_equal(L[4].affine, 1);
    assert_near(L[5].eps, 1e-5, 0);
    assert_int_equal(L[5].dims, 1);
    assert_int_equal(L[5].affine, 1);
    /* dropout 0.5 */
    assert_near(L[6].p, 0.5, 0);
    /* residual body */
    assert_int_equal(L[7].n_children, 1);
    assert_non_null(L[7].children);
    assert_int_equal(L[7].children[0].kind, GG_LAYER_RELU);
    assert_int_equal(L[7].children[0].line, 11);
    /* recurrent: units, tanh, last step only, bias on */
    assert_int_equal(L[10].units, 3);
    assert_int_equal(L[10].nonlinearity, GG_NONLIN_TANH);
    assert_int_equal(L[10].sequence, 0);
    assert_int_equal(L[10].bias, 1);
    assert_int_equal(L[10].recurrent_init, GG_INIT_TORCH_DEFAULT);
    assert_int_equal(L[11].units, 5);
    assert_int_equal(L[12].units, 7);
    /* layers without children own none */
    for (int i = 0; i < 16; i++)
        if (i != 7) assert_int_equal(L[i].n_children, 0);
    gg_config_free(c);
}

static void test_kind_names_and_aliases(void **s) {
    (void)s;
    gg_config *c = loaded("model:\n  layers: [maxpool, avgpool, batchnorm, layernorm, "
                          "{rnn: {units: 2, nonlinearity: relu, sequence: true}}]\n");
    assert_int_equal(c->model.layers[0].kind, GG_LAYER_MAX_POOL);
    assert_int_equal(c->model.layers[1].kind, GG_LAYER_AVG_POOL);
    assert_int_equal(c->model.layers[2].kind, GG_LAYER_BATCH_NORM);
    assert_int_equal(c->model.layers[3].kind, GG_LAYER_LAYER_NORM);
    assert_int_equal(c->model.layers[4].nonlinearity, GG_NONLIN_RELU);
    assert_int_equal(c->model.layers[4].sequence, 1);
    /* The writer uses the canonical names. */
    char *text = dump(c);
    assert_non_null(strstr(text, "- max_pool: {"));
    assert_non_null(strstr(text, "- avg_pool: {"));
    assert_non_null(strstr(text, "- batch_norm: {"));
    assert_non_null(strstr(text, "- layer_norm: {"));
    assert_non_null(strstr(text, "nonlinearity: relu, sequence: true"));
    assert_null(strstr(text, "maxpool"));
    for (gg_layer_kind k = 0; k < GG_LAYER_KIND_COUNT; k++)
        assert_string_not_equal(gg_layer_kind_name(k), "unknown");
    assert_string_equal(gg_layer_kind_name(GG_LAYER_GLOBAL_AVG_POOL), "global_avg_pool");
    assert_string_equal(gg_layer_kind_name(GG_LAYER_LAST), "last");
    free(text);
    gg_config_free(c);
    expect_load_error("model: {layers: [maxpoool]}", "unknown layer kind 'maxpoool'",
                      "model.layers.0", "did you mean 'max_pool'", NULL);
}

static void test_pairs_take_an_int_or_a_list(void **s) {
    (void)s;
    gg_config *c = loaded("model:\n  layers:\n"
                          "    - conv2d: {filters: 2, kernel: 3, stride: [2, 1], padding: [0, 2], "
                          "dilation: 2}\n"
                          "    - conv2d: {filters: 2, kernel: [3, 5]}\n"
                          "    - max_pool: {kernel: [2, 3], stride: 1, padding: [1, 0]}\n");
    const gg_layer_spec *L = c->model.layers;
    assert_int_equal(L[0].n_kernel, 1);
    assert_int_equal(L[0].kernel[0], 3);
    assert_int_equal(L[0].n_stride, 2);
    assert_int_equal(L[0].stride[0], 2);
    assert_int_equal(L[0].stride[1], 1);
    assert_int_equal(L[0].n_padding, 2);
    assert_int_equal(L[0].padding[1], 2);
    assert_int_equal(L[0].n_dilation, 1);
    assert_int_equal(L[0].dilation[0], 2);
    assert_int_equal(L[1].n_kernel, 2);
    assert_int_equal(L[1].kernel[0], 3);
    assert_int_equal(L[1].kernel[1], 5);
    assert_int_equal(L[2].kernel[1], 3);
    assert_int_equal(L[2].stride[0], 1);
    assert_int_equal(L[2].padding[0], 1);
    /* Written back: one number when square, [h, w] otherwise. */
    char *text = dump(c);
    assert_non_null(strstr(text, "kernel: 3, stride: [2, 1], padding: [0, 2], dilation: 2,"));
    assert_non_null(strstr(text, "kernel: [3, 5], stride: 1, padding: 0, dilation: 1,"));
    assert_non_null(strstr(text, "- max_pool: {kernel: [2, 3], stride: 1, padding: [1, 0]}"));
    free(text);
    /* A square pair given as a list writes as one number and reads back equal. */
    set_ok(c, "model.layers.1.conv2d.kernel", "[4, 4]");
    assert_int_equal(c->model.layers[1].kernel[0], 4);
    assert_int_equal(c->model.layers[1].kernel[1], 4);
    text = dump(c);
    assert_non_null(strstr(text, "- conv2d: {filters: 2, kernel: 4, stride: 1"));
    free(text);
    gg_config_free(c);

    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: [3, 3, 3]}}]}",
                      "model.layers.0.conv2d.kernel", "an integer >= 1 or [height, width]",
                      "found a list of 3", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: 0}}]}",
                      "model.layers.0.conv2d.kernel", ">= 1", "found '0'", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: [3, x]}}]}",
                      "model.layers.0.conv2d.kernel", "found 'x'", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: 3, stride: 0}}]}",
                      "model.layers.0.conv2d", "stride must be >= 1", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: 3, stride: [1, 0]}}]}",
                      "model.layers.0.conv2d", "stride must be >= 1", NULL);
    /* Pools take stride 0 (the kernel); conv2d takes dilation, pools do not. */
    c = loaded("model: {layers: [{avg_pool: {kernel: 3, stride: 0}}]}");
    assert_int_equal(c->model.layers[0].stride[0], 0);
    gg_config_free(c);
    expect_load_error("model: {layers: [{max_pool: {kernel: 2, dilation: 2}}]}",
                      "unknown key 'dilation' in model.layers.0.max_pool",
                      "expected one of: kernel, stride, padding", NULL);
}

static void test_required_keys_name_the_layer(void **s) {
    (void)s;
    expect_load_error("model: {layers: [{conv2d: {kernel: 3}}]}", "<string>:1:19:",
                      "model.layers.0.conv2d: filters is required", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 8}}]}",
                      "model.layers.0.conv2d: kernel is required", "[height, width]", NULL);
    expect_load_error("model: {layers: [{conv2d: {filters: 8, kernel: []}}]}",
                      "model.layers.0.conv2d.kernel: expected an integer >= 1 or [height, width], "
                      "found a list of 0", NULL);
    expect_load_error("model: {layers: [conv2d]}", "model.layers.0.conv2d: filters is required",
                      NULL);
    expect_load_error("model: {layers: [relu, {lstm: {sequence: true}}]}",
                      "model.layers.1.lstm: units is required", NULL);
    expect_load_error("model: {layers: [gru]}", "model.layers.0.gru: units is required", NULL);
    expect_load_error("model: {layers: [{rnn: {units: 0}}]}", "model.layers.0.rnn.units",
                      "an integer >= 1", NULL);
    expect_load_error("model: {layers: [residual]}", "model.layers.0.residual: layers is required",
                      "residual: {layers: [", NULL);
    expect_load_error("model: {layers: [{residual: {}}]}",
                      "model.layers.0.residual: layers is required", NULL);
    expect_load_error("model: {layers: [{residual: {layers: []}}]}", "model.layers.0.residual.layers",
                      "expected a list of 1 to", "found a list of 0", NULL);
    expect_load_error("model: {layers: [{residual: {layers: relu}}]}",
                      "model.layers.0.residual.layers", "expected a list of 1 to", NULL);
    /* Inside a body, the full nested path. */
    expect_load_error("model:\n  layers:\n    - relu\n    - residual:\n        layers:\n"
                      "          - relu\n          - conv2d: {kernel: 3}\n",
                      "<string>:7:13:", "model.layers.1.residual.layers.1.conv2d: filters is required",
                      NULL);
    expect_load_error("model: {layers: [{residual: {layers: [{residual: {layers: [{pool: {}}]}}]}}]}",
                      "unknown layer kind 'pool'", "model.layers.0.residual.layers.0.residual.layers.0",
                      NULL);
    /* Keys of another kind are unknown here. */
    expect_load_error("model: {layers: [{relu: {slope: 0.1}}]}",
                      "unknown key 'slope' in model.layers.0.relu, which takes no parameters", NULL);
    expect_load_error("model: {layers: [{lstm: {units: 3, nonlinearity: relu}}]}",
                      "unknown key 'nonlinearity' in model.layers.0.lstm", NULL);
    expect_load_error("model: {layers: [{dense: {units: 3, filters: 2}}]}",
                      "unknown key 'filters' in model.layers.0.dense", NULL);
    expect_load_error("model: {layers: [{dropout: {layers: [relu]}}]}",
                      "unknown key 'layers' in model.layers.0.dropout", "expected one of: p", NULL);
    expect_load_error("model: {layers: [{rnn: {units: 3, nonlinearity: sigmoid}}]}",
                      "model.layers.0.rnn.nonlinearity", "one of tanh, relu", "found 'sigmoid'", NULL);
}

static void test_unknown_key_in_nested_body_names_full_path(void **s) {
    (void)s;
    expect_load_error("model:\n"
                      "  input: [6]\n"
                      "  layers:\n"
                      "    - dense: {units: 6}\n"
                      "    - residual:\n"
                      "        layers:\n"
                      "          - residual:\n"
                      "              layers:\n"
                      "                - dense: {unitz: 6}\n",
                      "<string>:9:27:", "unknown key 'unitz'",
                      "in model.layers.1.residual.layers.0.residual.layers.0.dense",
                      "did you mean 'units'?", NULL);
    expect_load_error("model: {layers: [{residual: {layers: [{batch_norm: {momentun: 0.2}}]}}]}",
                      "unknown key 'momentun' in model.layers.0.residual.layers.0.batch_norm",
                      "did you mean 'momentum'?", NULL);
    expect_load_error("model: {layers: [{residual: {layers: [relu], layerz: [relu]}}]}",
                      "unknown key 'layerz' in model.layers.0.residual", "did you mean 'layers'?",
                      NULL);
}

static void test_value_ranges_of_layer_keys(void **s) {
    (void)s;
    /* dropout p in [0, 1): 1 would zero everything and divide by zero. */
    expect_load_error("model: {layers: [{dropout: {p: 1}}]}", "model.layers.0.dropout.p",
                      "expected a number in [0, 1), found '1'", NULL);
    expect_load_error("model: {layers: [{dropout: {p: -0.1}}]}", "model.layers.0.dropout.p", NULL);
    gg_config *c = loaded("model: {layers: [{dropout: {p: 0}}, {dropout: {p: 0.999}}]}");
    assert_near(c->model.layers[0].p, 0.0, 0);
    assert_near(c->model.layers[1].p, 0.999, 0);
    gg_config_free(c);
    /* layer_norm dims in [1, GG_MAX_DIMS - 1] */
    expect_load_error("model: {layers: [{layer_norm: {dims: 0}}]}", "model.layers.0.layer_norm.dims",
                      "expected an integer in [1, 3], found '0'", NULL);
    expect_load_error("model: {layers: [{layer_norm: {dims: 4}}]}", "model.layers.0.layer_norm.dims",
                      "in [1, 3]", "found '4'", NULL);
    c = loaded("model: {layers: [{layer_norm: {dims: 3, eps: 1e-3, affine: false}}]}");
    assert_int_equal(c->model.layers[0].dims, 3);
    assert_near(c->model.layers[0].eps, 1e-3, 0);
    assert_int_equal(c->model.layers[0].affine, 0);
    gg_config_free(c);
    /* eps > 0, momentum in [0, 1] */
    expect_load_error("model: {layers: [{batch_norm: {eps: 0}}]}", "model.layers.0.batch_norm.eps",
                      "> 0", NULL);
    expect_load_error("model: {layers: [{batch_norm: {momentum: 1.5}}]}",
                      "model.layers.0.batch_norm.momentum", "in [0, 1]", NULL);
    /* prelu takes any slope and per_channel */
    c = loaded("model: {layers: [{prelu: {slope: -0.5, per_channel: true}}]}");
    assert_near(c->model.layers[0].slope, -0.5, 0);
    assert_int_equal(c->model.layers[0].per_channel, 1);
    gg_config_free(c);
}

/* ---- write -> load -> write ------------------------------------------------- */

static const char nested[] =
    "model:\n"
    "  input: [3, 16, 16]\n"
    "  layers:\n"
    "    - conv2d: {filters: 8, kernel: [3, 5], stride: [1, 2], padding: [1, 2], bias: false, "
    "init: he_normal}\n"
    "    - batch_norm: {momentum: 0.05, eps: 0.001}\n"
    "    - residual:\n"
    "        layers:\n"
    "          - conv2d: {filters: 8, kernel: 3, padding: 1}\n"
    "          - prelu: {per_channel: true, slope: 0.125}\n"
    "          - residual:\n"
    "              layers:\n"
    "                - conv2d: {filters: 8, kernel: [3, 5], padding: [1, 2], dilation: [1, 1]}\n"
    "                - layer_norm: {dims: 3}\n"
    "                - dropout: {p: 0.125}\n"
    "          - batch_norm: {affine: false}\n"
    "    - max_pool: {kernel: [3, 5], stride: [1, 2]}\n"
    "    - global_avg_pool\n"
    "    - dense: {units: 4}\n";

static void test_nested_residual_round_trips_byte_identically(void **s) {
    (void)s;
    gg_config *a = loaded(nested);
    char *first = dump(a);
    /* The nesting and the pairs as written. */
    assert_non_null(strstr(first, "\n    - residual:\n        layers:\n          - conv2d: {"));
    assert_non_null(strstr(first, "\n          - residual:\n              layers:\n"
                                  "                - conv2d: {filters: 8, kernel: [3, 5], stride: 1, "
                                  "padding: [1, 2], dilation: 1,"));
    assert_non_null(strstr(first, "                - dropout: {p: 0.125}\n"
                                  "          - batch_norm: {momentum: 0.1, eps: 1e-05, affine: false}\n"
                                  "    - max_pool: {kernel: [3, 5], stride: [1, 2], padding: 0}\n"));
    gg_config *b = fresh();
    load_ok(b, first);
    char *second = dump(b);
    assert_string_equal(first, second);
    /* And the structure read back is the one written. */
    const gg_layer_spec *r = &b->model.layers[2];
    assert_int_equal(b->model.n_layers, 6);
    assert_int_equal(r->kind, GG_LAYER_RESIDUAL);
    assert_int_equal(r->n_children, 4);
    assert_int_equal(r->children[1].kind, GG_LAYER_PRELU);
    assert_near(r->children[1].slope, 0.125, 0);
    const gg_layer_spec *inner = &r->children[2];
    assert_int_equal(inner->kind, GG_LAYER_RESIDUAL);
    assert_int_equal(inner->n_children, 3);
    assert_int_equal(inner->children[0].kernel[0], 3);
    assert_int_equal(inner->children[0].kernel[1], 5);
    assert_int_equal(inner->children[1].dims, 3);
    assert_near(inner->children[2].p, 0.125, 0);
    assert_int_equal(r->children[3].affine, 0);
    assert_int_equal(b->model.layers[0].init, GG_INIT_HE_NORMAL);
    assert_int_equal(b->model.layers[0].bias, 0);
    /* Loading the written text over a config holding something else gives
     * the same bytes too (nothing of the old layers survives). */
    gg_config *other = loaded("model: {layers: [{residual: {layers: [{lstm: {units: 9}}]}}]}");
    load_ok(other, first);
    char *third = dump(other);
    assert_string_equal(first, third);
    free(first);
    free(second);
    free(third);
    gg_config_free(a);
    gg_config_free(b);
    gg_config_free(other);
}

static void test_every_kind_round_trips(void **s) {
    (void)s;
    gg_config *a = loaded(every_kind);
    set_ok(a, "model.layers.10.rnn.nonlinearity", "relu");
    set_ok(a, "model.layers.11.lstm", "{units: 5, sequence: true, recurrent_init: orthogonal, gain: 2}");
    char *first = dump(a);
    gg_config *b = fresh();
    load_ok(b, first);
    char *second = dump(b);
    assert_string_equal(first, second);
    assert_int_equal(b->model.layers[11].recurrent_init, GG_INIT_ORTHOGONAL);
    assert_near(b->model.layers[11].gain, 2.0, 0);
    assert_int_equal(b->model.layers[10].nonlinearity, GG_NONLIN_RELU);
    assert_non_null(strstr(first, "- global_avg_pool: {}"));
    assert_non_null(strstr(first, "- flatten: {}"));
    assert_non_null(strstr(first, "- last: {}"));
    assert_non_null(strstr(first, "- prelu: {slope: 0.25, per_channel: false}"));
    assert_non_null(strstr(first, "- dropout: {p: 0.5}"));
    assert_non_null(strstr(first, "- layer_norm: {eps: 1e-05, affine: true, dims: 1}"));
    free(first);
    free(second);
    gg_config_free(a);
    gg_config_free(b);
}

/* ---- --set into bodies ------------------------------------------------------ */

static void test_set_into_nested_layer_changes_only_that_field(void **s) {
    (void)s;
    gg_config *c = loaded(nested);
    char *before = dump(c);
    set_ok(c, "model.layers.2.residual.layers.0.conv2d.filters", "4");
    assert_int_equal(c->model.layers[2].children[0].filters, 4);
    char *after = dump(c);
    char *line = single_changed_line(before, after);
    assert_non_null(strstr(line, "          - conv2d: {filters: 4, kernel: 3,"));
    free(line);
    free(after);

    /* Two levels deep, a pair. */
    set_ok(c, "model.layers.2.residual.layers.0.conv2d.filters", "8");
    set_ok(c, "model.layers.2.residual.layers.2.residual.layers.0.conv2d.kernel", "[5, 3]");
    const gg_layer_spec *k = &c->model.layers[2].children[2].children[0];
    assert_int_equal(k->n_kernel, 2);
    assert_int_equal(k->kernel[0], 5);
    assert_int_equal(k->kernel[1], 3);
    after = dump(c);
    line = single_changed_line(before, after);
    assert_non_null(strstr(line, "                - conv2d: {filters: 8, kernel: [5, 3], stride: 1,"));
    free(line);
    free(after);
    /* Setting it back gives the original bytes. */
    set_ok(c, "model.layers.2.residual.layers.2.residual.layers.0.conv2d.kernel", "[3, 5]");
    after = dump(c);
    assert_string_equal(before, after);
    free(after);

    /* A parameter mapping of a nested layer: only the keys given change. */
    set_ok(c, "model.layers.2.residual.layers.2.residual.layers.2.dropout", "{p: 0.25}");
    assert_near(c->model.layers[2].children[2].children[2].p, 0.25, 0);
    after = dump(c);
    line = single_changed_line(before, after);
    assert_string_equal(line, "                - dropout: {p: 0.25}");
    free(line);
    free(after);
    free(before);
    gg_config_free(c);
}

static void test_set_replaces_a_residual_body(void **s) {
    (void)s;
    gg_config *c = loaded(nested);
    /* The body as a whole. */
    set_ok(c, "model.layers.2.residual.layers", "[{dense: {units: 3}}, relu]");
    /* A successful --set replaces the layer arrays: re-read them each time. */
#define r (&c->model.layers[2])
    assert_int_equal(r->kind, GG_LAYER_RESIDUAL);
    assert_int_equal(r->n_children, 2);
    assert_int_equal(r->children[0].kind, GG_LAYER_DENSE);
    assert_int_equal(r->children[0].units, 3);
    assert_int_equal(r->children[1].kind, GG_LAYER_RELU);
    assert_int_equal(r->children[0].n_children, 0);
    /* The rest of the model is untouched. */
    assert_int_equal(c->model.n_layers, 6);
    assert_int_equal(c->model.layers[3].kind, GG_LAYER_MAX_POOL);
    char *text = dump(c);
    assert_non_null(strstr(text, "    - residual:\n        layers:\n          - dense: {units: 3,"));
    assert_non_null(strstr(text, "          - relu: {}\n    - max_pool: {"));
    free(text);
    /* A nested body inside a body, by path. */
    set_ok(c, "model.layers.2.residual.layers.1", "{residual: {layers: [tanh, {dropout: {p: 0.1}}]}}");
    assert_int_equal(r->children[1].kind, GG_LAYER_RESIDUAL);
    assert_int_equal(r->children[1].n_children, 2);
    assert_near(r->children[1].children[1].p, 0.1, 0);
    set_ok(c, "model.layers.2.residual.layers.1.residual.layers", "[sigmoid]");
    assert_int_equal(r->children[1].n_children, 1);
    assert_int_equal(r->children[1].children[0].kind, GG_LAYER_SIGMOID);
    /* The parameter mapping without layers keeps the body; with layers replaces it. */
    set_ok(c, "model.layers.2.residual", "{}");
    assert_int_equal(r->n_children, 2);
    assert_int_equal(r->children[1].children[0].kind, GG_LAYER_SIGMOID);
    set_ok(c, "model.layers.2.residual", "{layers: [elu]}");
    assert_int_equal(r->n_children, 1);
    assert_int_equal(r->children[0].kind, GG_LAYER_ELU);
    /* The whole layer: a residual replaced by another kind and back. */
    set_ok(c, "model.layers.2", "flatten");
    assert_int_equal(c->model.layers[2].kind, GG_LAYER_FLATTEN);
    assert_int_equal(c->model.layers[2].n_children, 0);
    assert_null(c->model.layers[2].children);
    set_ok(c, "model.layers.2", "{residual: {layers: [relu, {residual: {layers: [tanh]}}]}}");
    assert_int_equal(c->model.layers[2].n_children, 2);
    assert_int_equal(c->model.layers[2].children[1].children[0].kind, GG_LAYER_TANH);
    /* model.layers as a whole, from a written config, round-trips. */
    set_ok(c, "model.layers", "[{residual: {layers: [{residual: {layers: [{dense: {units: 2}}]}}]}}]");
    assert_int_equal(c->model.n_layers, 1);
    assert_int_equal(c->model.layers[0].children[0].children[0].units, 2);
    char *first = dump(c);
    gg_config *b = fresh();
    load_ok(b, first);
    char *second = dump(b);
    assert_string_equal(first, second);
    free(first);
    free(second);
    gg_config_free(b);
    gg_config_free(c);
#undef r
}

static void test_failed_set_leaves_config_unchanged(void **s) {
    (void)s;
    gg_config *c = loaded(nested);
    expect_set_error(c, "model.layers.2.residual.layers.0.conv2d.filters", "x",
                     "--set model.layers.2.residual.layers.0.conv2d.filters",
                     "expected an integer >= 1, found 'x'", NULL);
    expect_set_error(c, "model.layers.2.residual.layers.0.conv2d.filterz", "4",
                     "unknown key 'filterz' in model.layers.2.residual.layers.0.conv2d",
                     "did you mean 'filters'?", NULL);
    expect_set_error(c, "model.layers.2.residual.layers.2.residual.layers.2.dropout.p", "1",
                     "expected a number in [0, 1), found '1'", NULL);
    expect_set_error(c, "model.layers.2.residual.layers.9.relu", "{}", "no layer '9'",
                     "model.layers.2.residual.layers has 4 (0 to 3)", NULL);
    expect_set_error(c, "model.layers.2.residual.layers.0.dense.units", "3",
                     "layer model.layers.2.residual.layers.0 is conv2d, not dense", NULL);
    expect_set_error(c, "model.layers.2.residual.layers", "[]",
                     "model.layers.2.residual.layers", "found a list of 0", NULL);
    /* A body whose second entry is bad: the first is not half-applied. */
    expect_set_error(c, "model.layers.2.residual.layers", "[relu, {conv2d: {kernel: 3}}]",
                     "model.layers.2.residual.layers.1.conv2d: filters is required", NULL);
    expect_set_error(c, "model.layers.2.residual", "{layers: [relu], momentum: 0.1}",
                     "unknown key 'momentum' in model.layers.2.residual", NULL);
    expect_set_error(c, "model.layers.2", "{residual: {layers: [{lstm: {}}]}}",
                     "model.layers.2.residual.layers.0.lstm: units is required", NULL);
    expect_set_error(c, "model.layers.2", "residual", "model.layers.2.residual: layers is required",
                     NULL);
    expect_set_error(c, "model.layers.1.batch_norm.layers.0.relu", "{}",
                     "unknown key 'layers.0.relu' in model.layers.1.batch_norm", NULL);
    expect_set_error(c, "model.layers.0.conv2d.kernel", "[1, 2, 3]", "found a list of 3", NULL);
    expect_set_error(c, "model.layers.3.max_pool.dilation", "2",
                     "unknown key 'dilation' in model.layers.3.max_pool", NULL);
    gg_config_free(c);
}

/* What load refuses in a layer, --set refuses too: conv2d's stride >= 1 and
 * a kernel (checked for the whole layer at load), and a pair is one or two
 * numbers, never an empty list (which the writer could not write back). */
static void test_set_checks_a_layer_as_load_does(void **s) {
    (void)s;
    expect_load_error("model: {layers: [{conv2d: {filters: 2, kernel: 3, stride: []}}]}",
                      "model.layers.0.conv2d", NULL);
    expect_load_error("model: {layers: [{max_pool: {kernel: []}}]}", "model.layers.0.max_pool",
                      NULL);
    gg_config *c = loaded(nested);
    expect_set_error(c, "model.layers.0.conv2d.stride", "0", "model.layers.0.conv2d", NULL);
    expect_set_error(c, "model.layers.2.residual.layers.0.conv2d.stride", "[1, 0]",
                     "model.layers.2.residual.layers.0.conv2d", NULL);
    expect_set_error(c, "model.layers.0.conv2d.kernel", "[]", "model.layers.0.conv2d", NULL);
    expect_set_error(c, "model.layers.3.max_pool.kernel", "[]", "model.layers.3.max_pool", NULL);
    expect_set_error(c, "model.layers.0.conv2d.padding", "[]", "model.layers.0.conv2d", NULL);
    gg_config_free(c);
}

/* ---- copy and release ---------------------------------------------------------- */

static void test_deep_copy_is_independent(void **s) {
    (void)s;
    gg_config *a = loaded(nested);
    char *before = dump(a);
    gg_config b;
    gg_error err = {0};
    assert_int_equal(gg_config_copy(&b, a, &err), GG_OK);
    /* Every level owns its own array. */
    assert_ptr_not_equal(b.model.layers, a->model.layers);
    assert_ptr_not_equal(b.model.layers[2].children, a->model.layers[2].children);
    assert_ptr_not_equal(b.model.layers[2].children[2].children,
                         a->model.layers[2].children[2].children);
    char *copied = dump(&b);
    assert_string_equal(before, copied);
    free(copied);
    /* Changing the copy's nested children, directly and through --set. */
    b.model.layers[2].children[0].filters = 99;
    b.model.layers[2].children[2].children[2].p = 0.75;
    set_ok(&b, "model.layers.2.residual.layers.2.residual.layers", "[tanh]");
    set_ok(&b, "model.layers.2.residual.layers.1", "relu");
    assert_int_equal(b.model.layers[2].children[2].n_children, 1);
    char *after = dump(a);
    assert_string_equal(before, after);
    assert_int_equal(a->model.layers[2].children[0].filters, 8);
    assert_int_equal(a->model.layers[2].children[2].n_children, 3);
    assert_near(a->model.layers[2].children[2].children[2].p, 0.125, 0);
    assert_int_equal(a->model.layers[2].children[1].kind, GG_LAYER_PRELU);
    /* And the other way round. */
    set_ok(a, "model.layers.2.residual.layers.2.residual.layers.1.layer_norm.dims", "2");
    assert_int_equal(b.model.layers[2].children[2].n_children, 1);
    assert_int_equal(b.model.layers[2].children[2].children[0].kind, GG_LAYER_TANH);
    /* Release frees every level (the ASan build checks for leaks) and is
     * safe to repeat. */
    gg_config_release(&b);
    assert_null(b.model.layers);
    assert_int_equal(b.model.n_layers, 0);
    gg_config_release(&b);
    /* A copy of a copy, released in the opposite order. */
    gg_config c1, c2;
    assert_int_equal(gg_config_copy(&c1, a, &err), GG_OK);
    assert_int_equal(gg_config_copy(&c2, &c1, &err), GG_OK);
    gg_config_release(&c1);
    char *t2 = dump(&c2), *ta = dump(a);
    assert_string_equal(t2, ta);
    free(t2);
    free(ta);
    gg_config_release(&c2);
    free(before);
    free(after);
    gg_config_free(a);
}

static void test_load_replaces_layers_without_leaking(void **s) {
    (void)s;
    /* Layers replaced again and again by load and --set: every replaced
     * body is freed (LeakSanitizer in the ASan build), failed ones too. */
    gg_config *c = loaded(nested);
    for (int i = 0; i < 20; i++) {
        load_ok(c, nested);
        set_ok(c, "model.layers.2.residual.layers.2", "{residual: {layers: [relu, relu]}}");
        gg_error err = {0};
        assert_int_equal(gg_config_set(c, "model.layers.2.residual.layers",
                                       "[{residual: {layers: [relu]}}, {conv2d: {}}]", &err),
                         GG_ERR_CONFIG);
        assert_int_equal(gg_config_load_string(
                             c, "model: {layers: [{residual: {layers: [{residual: {layers: "
                                "[relu]}}, {residual: {layers: [{bad: 1}]}}]}}]}",
                             &err),
                         GG_ERR_CONFIG);
    }
    assert_int_equal(c->model.layers[2].children[2].n_children, 2);
    gg_config_free(c);
}

/* ---- other new keys -------------------------------------------------------------- */

static void test_new_optimizer_keys(void **s) {
    (void)s;
    gg_config *c = fresh();
    assert_near(c->optimizer.eps, 1e-8, 0);
    assert_near(c->optimizer.alpha, 0.99, 0);
    assert_int_equal(c->optimizer.centered, 0);
    assert_near(c->optimizer.lr_decay, 0, 0);
    assert_near(c->optimizer.initial_accumulator, 0, 0);
    assert_near(c->optimizer.l1, 0, 0);
    /* adagrad's eps default is 1e-10, as torch.optim.Adagrad; back to 1e-8 after. */
    set_ok(c, "optimizer.name", "adagrad");
    assert_int_equal(c->optimizer.name, GG_OPTIM_ADAGRAD);
    assert_near(c->optimizer.eps, 1e-10, 0);
    set_ok(c, "optimizer.name", "rmsprop");
    assert_int_equal(c->optimizer.name, GG_OPTIM_RMSPROP);
    assert_near(c->optimizer.eps, 1e-8, 0);
    gg_config_free(c);
    c = loaded("optimizer: {name: adagrad, lr_decay: 0.01, initial_accumulator: 0.1, l1: 1e-4}\n");
    assert_near(c->optimizer.eps, 1e-10, 0);
    assert_near(c->optimizer.lr_decay, 0.01, 0);
    assert_near(c->optimizer.initial_accumulator, 0.1, 0);
    assert_near(c->optimizer.l1, 1e-4, 0);
    char *text = dump(c);
    assert_non_null(strstr(text, "  name: adagrad\n"));
    assert_non_null(strstr(text, "  eps: 1e-10\n"));
    assert_non_null(strstr(text, "  lr_decay: 0.01\n"));
    assert_non_null(strstr(text, "  initial_accumulator: 0.1\n"));
    assert_non_null(strstr(text, "  l1: 0.0001\n"));
    gg_config *b = loaded(text);
    char *again = dump(b);
    assert_string_equal(text, again);
    free(text);
    free(again);
    gg_config_free(b);
    gg_config_free(c);
    /* An eps given explicitly survives a change of name. */
    c = loaded("optimizer: {name: adagrad, eps: 1e-6}\n");
    assert_near(c->optimizer.eps, 1e-6, 0);
    set_ok(c, "optimizer.name", "adam");
    assert_near(c->optimizer.eps, 1e-6, 0);
    gg_config_free(c);
    c = loaded("optimizer: {name: rmsprop, alpha: 0.9, centered: true, momentum: 0.5}\n");
    assert_near(c->optimizer.alpha, 0.9, 0);
    assert_int_equal(c->optimizer.centered, 1);
    assert_near(c->optimizer.momentum, 0.5, 0);
    gg_config_free(c);
    expect_load_error("optimizer: {name: adagrd}", "optimizer.name", "did you mean 'adagrad'?",
                      NULL);
    expect_load_error("optimizer: {alpha: 1.5}", "optimizer.alpha", "in [0, 1]", NULL);
    expect_load_error("optimizer: {lr_decay: -1}", "optimizer.lr_decay", ">= 0", NULL);
    expect_load_error("optimizer: {initial_accumulator: -0.1}", "optimizer.initial_accumulator",
                      NULL);
    expect_load_error("optimizer: {l1: -1e-3}", "optimizer.l1", ">= 0", NULL);
    expect_load_error("optimizer: {centered: maybe}", "optimizer.centered", "true or false", NULL);
}

static void test_data_length_and_early_stopping_keys(void **s) {
    (void)s;
    gg_config *c = fresh();
    assert_int_equal(c->data.length, 100);
    assert_int_equal(c->train.early_stopping.patience, 0);
    assert_int_equal(c->train.early_stopping.metric, GG_STOP_VAL_LOSS);
    assert_near(c->train.early_stopping.min_delta, 0, 0);
    assert_int_equal(c->train.early_stopping.restore_best, 1);
    char *text = dump(c);
    assert_non_null(strstr(text, "  length: 100\n"));
    assert_non_null(strstr(text, "  early_stopping:\n    patience: 0\n    metric: val_loss\n"
                                 "    min_delta: 0\n    restore_best: true\n"));
    free(text);
    load_ok(c, "data: {dataset: adding, length: 50}\n"
               "train: {early_stopping: {patience: 3, metric: val_acc, min_delta: 0.01, "
               "restore_best: false}}\n");
    assert_int_equal(c->data.length, 50);
    assert_int_equal(c->train.early_stopping.patience, 3);
    assert_int_equal(c->train.early_stopping.metric, GG_STOP_VAL_ACC);
    assert_near(c->train.early_stopping.min_delta, 0.01, 0);
    assert_int_equal(c->train.early_stopping.restore_best, 0);
    text = dump(c);
    assert_non_null(strstr(text, "    patience: 3\n    metric: val_acc\n    min_delta: 0.01\n"
                                 "    restore_best: false\n"));
    gg_config *b = loaded(text);
    char *again = dump(b);
    assert_string_equal(text, again);
    free(again);
    free(text);
    gg_config_free(b);
    set_ok(c, "train.early_stopping.patience", "1");
    set_ok(c, "train.early_stopping.metric", "val_loss");
    assert_int_equal(c->train.early_stopping.patience, 1);
    assert_int_equal(c->train.early_stopping.metric, GG_STOP_VAL_LOSS);
    expect_set_error(c, "train.early_stopping.metric", "val_accu", "one of val_loss, val_acc",
                     "did you mean 'val_acc'?", NULL);
    expect_set_error(c, "train.early_stopping.patience", "-1", "an integer >= 0", NULL);
    expect_set_error(c, "train.early_stopping.min_delta", "-0.5", ">= 0", NULL);
    expect_set_error(c, "train.early_stopping.patiense", "2", "unknown key 'patiense'",
                     "did you mean 'patience'?", NULL);
    expect_set_error(c, "data.length", "1", "data.length", "in [2, 100000]", NULL);
    expect_set_error(c, "data.length", "100001", "in [2, 100000]", NULL);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_new_kind_parses_with_its_defaults),
        cmocka_unit_test(test_kind_names_and_aliases),
        cmocka_unit_test(test_pairs_take_an_int_or_a_list),
        cmocka_unit_test(test_required_keys_name_the_layer),
        cmocka_unit_test(test_unknown_key_in_nested_body_names_full_path),
        cmocka_unit_test(test_value_ranges_of_layer_keys),
        cmocka_unit_test(test_nested_residual_round_trips_byte_identically),
        cmocka_unit_test(test_every_kind_round_trips),
        cmocka_unit_test(test_set_into_nested_layer_changes_only_that_field),
        cmocka_unit_test(test_set_replaces_a_residual_body),
        cmocka_unit_test(test_failed_set_leaves_config_unchanged),
        cmocka_unit_test(test_set_checks_a_layer_as_load_does),
        cmocka_unit_test(test_deep_copy_is_independent),
        cmocka_unit_test(test_load_replaces_layers_without_leaking),
        cmocka_unit_test(test_new_optimizer_keys),
        cmocka_unit_test(test_data_length_and_early_stopping_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
