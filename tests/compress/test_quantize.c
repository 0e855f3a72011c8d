/* int8 quantisation: the per-channel weight round trip is within half a
 * step; activation parameters and rounding; int8 inference against float
 * inference on the same dequantised weights (a bound for one dense layer,
 * stated tolerances for an MLP and a CNN with batch norm folded and ReLU
 * fused); pruned zeros stay zero; a saved file loads back to the same
 * predictions; refused files name the file and the tensor. */
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
#include "compress/qmodel.h"
#include "io/io.h"
#include "support/fixtures.h"

static void test_weight_round_trip_is_within_half_a_step(void **s) {
    (void)s;
    enum { N = 9, K = 257 };
    gg_real *w = malloc(N * K * sizeof *w), *back = malloc(N * K * sizeof *back);
    int8_t q[N * K];
    float scale[N];
    gg_test_fill(w, N * K, 11, -1, 1);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) w[n * K + k] *= (gg_real)pow(10, n - 5); /* 1e-5 .. 1e3 */
    for (int k = 0; k < K; k++) w[4 * K + k] = 0; /* an all-zero row (pruned unit) */
    w[K + 3] = 0;
    gg_quant_weights(w, N, K, q, scale);
    gg_dequant_weights(q, scale, N, K, back);
    for (int n = 0; n < N; n++) {
        assert_true(scale[n] > 0);
        double mx = 0;
        int at = 0;
        for (int k = 0; k < K; k++)
            if (fabs((double)w[n * K + k]) > mx) mx = fabs((double)w[n * K + k]), at = k;
        if (mx > 0) {
            assert_near(scale[n], mx / 127, 1e-6 * mx / 127);
            assert_int_equal(abs(q[n * K + at]), 127); /* the largest weight uses the full range */
        }
        for (int k = 0; k < K; k++) {
            assert_true(q[n * K + k] >= -127 && q[n * K + k] <= 127);
            double err = fabs((double)w[n * K + k] - (double)back[n * K + k]);
            if (err > 0.5 * scale[n] * (1 + 1e-6))
                fail_msg("w[%d, %d] = %g came back as %g: error %g > half a step %g", n, k,
                         (double)w[n * K + k], (double)back[n * K + k], err, 0.5 * scale[n]);
            if (w[n * K + k] == 0) assert_true(q[n * K + k] == 0 && back[n * K + k] == 0);
        }
    }
    free(w);
    free(back);
}

static void test_activation_parameters_and_rounding(void **s) {
    (void)s;
    float sc;
    int zp;
    gg_quant_act_params(0, 6.35, &sc, &zp); /* after a ReLU: zero point 0 */
    assert_near(sc, 0.05, 1e-7);
    assert_int_equal(zp, 0);
    gg_quant_act_params(-1, 1, &sc, &zp); /* symmetric: zero near the middle */
    assert_near(sc, 2.0 / 127, 1e-7);
    assert_true(zp == 63 || zp == 64);
    gg_quant_act_params(2, 3, &sc, &zp); /* widened to hold 0 */
    assert_near(sc, 3.0 / 127, 1e-7);
    assert_int_equal(zp, 0);
    gg_quant_act_params(-3, -2, &sc, &zp);
    assert_int_equal(zp, 127);
    gg_quant_act_params(0, 0, &sc, &zp); /* nothing seen: any positive scale */
    assert_true(sc > 0);
    assert_int_equal(zp, 0);

    /* Inside the range the round trip is within half a step, 0 is exact,
     * values outside clamp, ties round to even, NaN takes the bottom. */
    gg_quant_act_params(-0.7, 2.3, &sc, &zp);
    enum { n = 4001 };
    gg_real x[n];
    uint8_t q[n];
    for (int i = 0; i < n; i++) x[i] = (gg_real)(-0.7 + 3.0 * i / (n - 1));
    gg_quant_act(x, n, sc, zp, q);
    for (int i = 0; i < n; i++) {
        assert_true(q[i] <= 127);
        double back = ((double)q[i] - zp) * sc;
        double want = x[i] < -(double)zp * sc ? -(double)zp * sc : x[i];
        want = want > (127.0 - zp) * sc ? (127.0 - zp) * sc : want;
        assert_true(fabs(back - want) <= 0.5 * sc * (1 + 1e-5));
    }
    /* Ties round to even (a power-of-two scale makes them exact). */
    gg_real edge[7] = {0, -100, 100, 0.625, 0.875, -0.375, (gg_real)NAN};
    gg_quant_act(edge, 7, 0.25f, 10, q);
    assert_int_equal(q[0], 10);
    assert_int_equal(q[1], 0);
    assert_int_equal(q[2], 127);
    assert_int_equal(q[3], 12); /* 2.5 -> 2 */
    assert_int_equal(q[4], 14); /* 3.5 -> 4 */
    assert_int_equal(q[5], 8);  /* -1.5 -> -2 */
    assert_int_equal(q[6], 0);  /* NaN -> the bottom of the range */
}

/* ---- models ------------------------------------------------------------------ */

static gg_model *build(const char *yaml, int max_batch, uint64_t seed) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    c->seed = seed;
    gg_model *m = NULL;
    if (gg_model_new(c, max_batch, &m, &err) != GG_OK) fail_msg("%s", err.msg);
    gg_config_free(c);
    return m;
}

static gg_dataset *data(size_t n, int features, uint64_t seed) {
    gg_real *x = malloc(n * (size_t)features * sizeof *x), *y = calloc(n, sizeof *y);
    gg_test_fill(x, n * (size_t)features, seed, -1.5, 2.5);
    for (size_t i = 0; i < n; i++) y[i] = (gg_real)(i % 5);
    gg_dataset *d = gg_dataset_from_arrays(n, features, x, 1, y, 5);
    free(x);
    free(y);
    return d;
}

/* Largest |int8 - float| over n predictions, and the share of rows whose
 * argmax agrees. */
static double compare(gg_qmodel *q, const gg_dataset *d, int C, double *agree, double *scale) {
    gg_real *a = malloc(d->n * (size_t)C * sizeof *a), *b = malloc(d->n * (size_t)C * sizeof *b);
    gg_error err = {0};
    assert_int_equal(gg_qmodel_predict(q, d->x, d->n, a, &err), GG_OK);
    assert_int_equal(gg_model_predict(gg_qmodel_float(q), d->x, d->n, b, &err), GG_OK);
    double worst = 0, big = 0;
    size_t same = 0;
    for (size_t i = 0; i < d->n; i++) {
        int ia = 0, ib = 0;
        for (int c = 0; c < C; c++) {
            size_t k = i * (size_t)C + (size_t)c;
            assert_true(isfinite(a[k]));
            worst = fmax(worst, fabs((double)a[k] - (double)b[k]));
            big = fmax(big, fabs((double)b[k]));
            if (a[k] > a[i * C + ia]) ia = c;
            if (b[k] > b[i * C + ib]) ib = c;
        }
        same += ia == ib;
    }
    *agree = (double)same / (double)d->n;
    *scale = big;
    free(a);
    free(b);
    return worst;
}

static void test_one_dense_layer_meets_the_activation_rounding_bound(void **s) {
    (void)s;
    gg_model *m = build("model: {input: [37], layers: [{dense: {units: 21}}]}\nloss: cross_entropy\n", 64, 3);
    gg_dataset *d = data(300, 37, 4);
    gg_qmodel *q = NULL;
    gg_error err = {0};
    assert_int_equal(gg_quantize(m, d, 300, 64, &q, &err), GG_OK);
    /* Calibrated on these very inputs, none is clamped: each output is off
     * by at most sum_k |w_deq[n, k]| s_x / 2 (plus float rounding). */
    const gg_qlayer *l = &q->l[0];
    const gg_real *w = l->w->out->x;
    gg_real *a = malloc(300 * 21 * sizeof *a), *b = malloc(300 * 21 * sizeof *b);
    assert_int_equal(gg_qmodel_predict(q, d->x, 300, a, &err), GG_OK);
    assert_int_equal(gg_model_predict(gg_qmodel_float(q), d->x, 300, b, &err), GG_OK);
    double worst_ratio = 0;
    for (int n = 0; n < 21; n++) {
        double bound = 0;
        for (int k = 0; k < 37; k++) bound += fabs((double)w[n * 37 + k]);
        bound *= 0.5 * l->in_scale;
        for (int i = 0; i < 300; i++) {
            double e = fabs((double)a[i * 21 + n] - (double)b[i * 21 + n]);
            if (e > bound * (1 + 1e-4) + 1e-5)
                fail_msg("row %d output %d: |int8 - float| = %g > bound %g", i, n, e, bound);
            worst_ratio = fmax(worst_ratio, e / bound);
        }
    }
    print_message("one dense layer: worst error %.2f of the bound\n", worst_ratio);
    free(a);
    free(b);
    gg_qmodel_free(q);
    gg_dataset_free(d);
    gg_model_free(m);
}

static const char mlp_yaml[] =
    "model:\n  input: [64]\n  layers:\n"
    "    - dense: {units: 48}\n    - relu\n    - dense: {units: 32}\n    - batch_norm\n    - relu\n"
    "    - dropout: {p: 0.2}\n    - dense: {units: 5}\nloss: cross_entropy\n";

static const char cnn_yaml[] =
    "model:\n  input: [2, 9, 9]\n  layers:\n"
    "    - conv2d: {filters: 8, kernel: 3, padding: 1}\n    - batch_norm\n    - relu\n"
    "    - max_pool: {kernel: 2}\n"
    "    - conv2d: {filters: 12, kernel: [3, 2], stride: 2, padding: [1, 0], bias: false}\n"
    "    - relu\n    - flatten\n    - dense: {units: 5}\nloss: cross_entropy\n";

/* Batch norm statistics and affine parameters away from their defaults,
 * so folding them is tested. */
static void perturb_norms(gg_model *m) {
    gg_graph *g = gg_model_graph(m);
    for (int i = 0; i < gg_graph_buffer_count(g); i++) {
        gg_node *b = gg_graph_buffer(g, i);
        const char *nm = gg_node_name(b);
        if (strstr(nm, "running_mean")) gg_test_fill(gg_node_data(b), gg_node_len(b), 5, -0.3, 0.3);
        if (strstr(nm, "running_var")) gg_test_fill(gg_node_data(b), gg_node_len(b), 6, 0.5, 2.0);
    }
    /* The batch norm is layers.1 in the CNN and layers.3 in the MLP; the
     * other of the two indices holds no parameters in either model. */
    for (int i = 0; i < gg_graph_param_count(g); i++) {
        gg_node *p = gg_graph_param(g, i);
        const char *nm = gg_node_name(p);
        if (strncmp(nm, "layers.1.", 9) && strncmp(nm, "layers.3.", 9)) continue;
        if (strstr(nm, ".weight")) gg_test_fill(gg_node_data(p), gg_node_len(p), 7, 0.5, 1.5);
        else gg_test_fill(gg_node_data(p), gg_node_len(p), 8, -0.5, 0.5);
    }
}

static void check_model(const char *yaml, int features, int fused_expected, uint64_t seed) {
    gg_model *m = build(yaml, 128, seed);
    perturb_norms(m);
    gg_dataset *d = data(400, features, seed + 10);
    gg_qmodel *q = NULL;
    gg_error err = {0};
    assert_int_equal(gg_quantize(m, d, 400, 128, &q, &err), GG_OK);
    int fused = 0;
    for (int i = 0; i < gg_model_graph(q->m)->n_nodes; i++) fused += q->role[i] == GG_QROLE_FUSED;
    assert_int_equal(fused, fused_expected);
    double agree, big, worst = compare(q, d, 5, &agree, &big);
    print_message("%s: max |int8 - float| %.4g (outputs up to %.3g), argmax agrees on %.1f%%\n",
                  features == 64 ? "MLP" : features == 162 ? "CNN" : "dilated CNN", worst, big,
                  100 * agree);
    /* The stated tolerance: within 3% of the largest output, and the same
     * class for at least 97% of the samples. */
    assert_true(worst <= 0.03 * big);
    assert_true(agree >= 0.97);
    gg_qmodel_free(q);
    gg_dataset_free(d);
    gg_model_free(m);
}

static void test_int8_mlp_matches_float_on_the_dequantised_weights(void **s) {
    (void)s;
    /* Fused: the first ReLU; batch norm and ReLU after the second dense. */
    check_model(mlp_yaml, 64, 3, 21);
}

static void test_int8_cnn_matches_float_with_batch_norm_folded(void **s) {
    (void)s;
    /* Fused: batch norm, ReLU and the 2x2 max pool after the first conv,
     * ReLU after the second. */
    check_model(cnn_yaml, 2 * 9 * 9, 4, 22);
}

/* A dilated conv (unrolled, not run over the padded input), a PReLU and
 * an average pool in float between int8 layers. */
static const char dilated_yaml[] =
    "model:\n  input: [3, 9, 9]\n  layers:\n"
    "    - conv2d: {filters: 6, kernel: 3, dilation: 2, padding: 2}\n    - prelu\n"
    "    - avg_pool: {kernel: 3}\n    - flatten\n    - dense: {units: 5}\nloss: cross_entropy\n";

static void test_int8_dilated_conv_matches_float(void **s) {
    (void)s;
    check_model(dilated_yaml, 3 * 9 * 9, 0, 23);
}

static void test_pruned_zeros_stay_zero_and_the_file_round_trips(void **s) {
    (void)s;
    gg_model *m = build(mlp_yaml, 128, 5);
    perturb_norms(m);
    gg_graph *g = gg_model_graph(m);
    gg_node *w0 = gg_graph_find_param(g, "layers.0.weight");
    for (size_t i = 0; i < gg_node_len(w0); i += 3) gg_node_data(w0)[i] = 0;
    gg_dataset *d = data(200, 64, 9);
    gg_qmodel *q = NULL, *back = NULL;
    gg_error err = {0};
    assert_int_equal(gg_quantize(m, d, 150, 128, &q, &err), GG_OK);
    for (size_t i = 0; i < gg_node_len(w0); i += 3) assert_int_equal(q->l[0].q[i], 0);

    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/q.safetensors", dir);
    assert_int_equal(gg_qmodel_save(q, path, &err), GG_OK);
    assert_int_equal(gg_file_is_quantized(path, &err), 1);
    assert_int_equal(gg_qmodel_load(path, NULL, 77, &back, &err), GG_OK);
    gg_real *a = malloc(200 * 5 * sizeof *a), *b = malloc(200 * 5 * sizeof *b);
    assert_int_equal(gg_qmodel_predict(q, d->x, 200, a, &err), GG_OK);
    assert_int_equal(gg_qmodel_predict(back, d->x, 200, b, &err), GG_OK);
    assert_memory_equal(a, b, 200 * 5 * sizeof *a);
    gg_graph *g1 = gg_model_graph(q->m), *g2 = gg_model_graph(back->m);
    assert_memory_equal(g1->param, g2->param, g1->param_len * sizeof(gg_real));
    assert_memory_equal(g1->buf, g2->buf, g1->buf_len * sizeof(gg_real));

    /* The file: I8 weights, F32 [out] scales, input scale and zero point. */
    gg_st_file f = {0};
    assert_int_equal(gg_st_read(path, &f, &err), GG_OK);
    const gg_st_tensor *t = gg_st_find(&f, "layers.0.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, GG_ST_I8);
    t = gg_st_find(&f, "layers.0.weight_scale");
    assert_true(t && t->dtype == GG_ST_F32 && t->ndim == 1 && t->shape[0] == 48);
    t = gg_st_find(&f, "layers.6.input_scale");
    assert_true(t && t->dtype == GG_ST_F32 && t->count == 1);
    t = gg_st_find(&f, "layers.6.input_zero_point");
    assert_true(t && t->dtype == GG_ST_U8 && t->count == 1);
    assert_string_equal(gg_st_meta(&f, "gradguard_quantization"), "int8");
    assert_non_null(gg_st_meta(&f, "gradguard_config"));
    gg_st_free(&f);

    /* A float model file is not an int8 one. */
    snprintf(path, sizeof path, "%s/float.safetensors", dir);
    assert_int_equal(gg_model_save(m, path, &err), GG_OK);
    assert_int_equal(gg_file_is_quantized(path, &err), 0);
    gg_qmodel *none = NULL;
    assert_int_equal(gg_qmodel_load(path, NULL, 10, &none, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not an int8 model"));
    assert_null(none);

    gg_test_rmtree(dir);
    free(dir);
    free(a);
    free(b);
    gg_qmodel_free(q);
    gg_qmodel_free(back);
    gg_dataset_free(d);
    gg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_round_trip_is_within_half_a_step),
        cmocka_unit_test(test_activation_parameters_and_rounding),
        cmocka_unit_test(test_one_dense_layer_meets_the_activation_rounding_bound),
        cmocka_unit_test(test_int8_mlp_matches_float_on_the_dequantised_weights),
        cmocka_unit_test(test_int8_cnn_matches_float_with_batch_norm_folded),
        cmocka_unit_test(test_int8_dilated_conv_matches_float),
        cmocka_unit_test(test_pruned_zeros_stay_zero_and_the_file_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
