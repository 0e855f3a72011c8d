/* Post-training int8 quantisation: symmetric per-output-channel weights,
 * per-tensor activation ranges calibrated on a sample of the training set,
 * and the int8 safetensors file (docs/compression.md).
 *
 * The activation ranges are measured on the model with the dequantised
 * weights, the one the int8 engine approximates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/qmodel.h"
#include "data/dataset.h"
#include "io/io.h"

#ifdef GG_FLOAT64
#define GG_ST_REAL GG_ST_F64
#else
#define GG_ST_REAL GG_ST_F32
#endif

/* ---- helpers ------------------------------------------------------------ */

void gg_quant_weights(const gg_real *w, int N, int K, int8_t *q, float *scale) {
    for (int n = 0; n < N; n++) {
        const gg_real *row = w + (size_t)n * K;
        double mx = 0;
        for (int k = 0; k < K; k++) {
            double a = fabs((double)row[k]);
            if (a > mx) mx = a;
        }
        float s = mx > 0 ? (float)(mx / GG_Q_WMAX) : 1.0f;
        if (!(s > 0) || !isfinite(s)) s = 1.0f; /* subnormal underflow, or an infinite weight */
        scale[n] = s;
        for (int k = 0; k < K; k++) {
            double v = nearbyint((double)row[k] / (double)s);
            if (!(v >= -GG_Q_WMAX)) v = v > 0 ? GG_Q_WMAX : -GG_Q_WMAX; /* NaN -> -127 */
            if (v > GG_Q_WMAX) v = GG_Q_WMAX;
            q[(size_t)n * K + k] = (int8_t)v;
        }
    }
}

void gg_dequant_weights(const int8_t *q, const float *scale, int N, int K, gg_real *w) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            w[(size_t)n * K + k] = (gg_real)((float)q[(size_t)n * K + k] * scale[n]);
}

void gg_quant_act_params(double lo, double hi, float *scale, int *zero_point) {
    if (!(lo < 0)) lo = 0;
    if (!(hi > 0)) hi = 0;
    if (!isfinite(lo) || !isfinite(hi) || !((float)((hi - lo) / GG_Q_AMAX) > 0)) {
        *scale = 1.0f;
        *zero_point = 0;
        return;
    }
    float s = (float)((hi - lo) / GG_Q_AMAX);
    double z = nearbyint(-lo / (double)s);
    *scale = s;
    *zero_point = z < 0 ? 0 : z > GG_Q_AMAX ? GG_Q_AMAX : (int)z;
}

/* Rounds half to even with the 1.5 * 2^23 trick, exact for |t| <= 2^22
 * (t is clamped to [-127, 127] first), so the loop vectorises on any x86. */
void gg_quant_act(const gg_real *x, size_t n, float scale, int zero_point, uint8_t *q) {
    const float inv = 1.0f / scale, lo = (float)-zero_point, hi = (float)(GG_Q_AMAX - zero_point);
    const float magic = 12582912.0f, z = (float)zero_point;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float t = (float)x[i] * inv;
        t = t > lo ? t : lo; /* NaN -> lo */
        t = t < hi ? t : hi;
        float r = (t + magic) - magic;
        q[i] = (uint8_t)(int)(r + z);
    }
}

/* ---- quantising a model ---------------------------------------------------- */

void gg_qmodel_dequantize(gg_qmodel *q) {
    for (int i = 0; i < q->n; i++) {
        gg_qlayer *l = &q->l[i];
        gg_dequant_weights(l->q, l->wscale, l->N, l->K, l->w->out->x);
    }
}

/* Per-layer input ranges over up to `samples` rows of d, spread evenly. */
static gg_status calibrate(gg_qmodel *q, const gg_dataset *d, int samples, gg_error *err) {
    gg_model *m = q->m;
    gg_status s = gg_model_check_data(m, d, err);
    if (s != GG_OK) return s;
    size_t n = d->n < (size_t)samples ? d->n : (size_t)samples;
    if (n == 0) return gg_fail(err, GG_ERR_DATA, "calibration: the data set '%s' is empty", d->name);
    uint32_t *idx = malloc(n * sizeof *idx);
    double *lo = malloc((size_t)q->n * sizeof *lo), *hi = malloc((size_t)q->n * sizeof *hi);
    if (!idx || !lo || !hi) {
        free(idx);
        free(lo);
        free(hi);
        return gg_fail(err, GG_ERR_NOMEM, "out of memory calibrating");
    }
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)((double)i * (double)d->n / (double)n);
    for (int i = 0; i < q->n; i++) lo[i] = INFINITY, hi[i] = -INFINITY;
    bool was = m->g->training;
    gg_graph_set_training(m->g, 0);
    int B = m->g->max_batch;
    for (size_t first = 0; first < n; first += (size_t)B) {
        int k = (int)(n - first < (size_t)B ? n - first : (size_t)B);
        gg_model_load_batch(m, d, idx, first, k);
        gg_graph_forward(m->g);
        for (int i = 0; i < q->n; i++) {
            const gg_tensor *x = q->l[i].op->in[0];
            double a = lo[i], b = hi[i];
            for (size_t j = 0; j < x->len; j++) {
                double v = (double)x->x[j];
                if (v < a) a = v;
                if (v > b) b = v;
            }
            lo[i] = a;
            hi[i] = b;
        }
    }
    gg_graph_set_training(m->g, was);
    for (int i = 0; i < q->n; i++) {
        int zp;
        gg_quant_act_params(lo[i], hi[i], &q->l[i].in_scale, &zp);
        q->l[i].in_zp = (uint8_t)zp;
    }
    free(idx);
    free(lo);
    free(hi);
    return GG_OK;
}

gg_status gg_quantize(gg_model *src, const gg_dataset *calib, int calib_samples, int max_batch,
                      gg_qmodel **out, gg_error *err) {
    *out = NULL;
    if (!src || !calib) return gg_fail(err, GG_ERR_ARG, "gg_quantize: NULL argument");
    if (calib_samples <= 0) calib_samples = 2000;
    if (max_batch < 1) max_batch = src->cfg.train.eval_batch_size;
    gg_qmodel *q = calloc(1, sizeof *q);
    if (!q) return gg_fail(err, GG_ERR_NOMEM, "out of memory quantising");
    gg_status s = gg_model_new_sized(&src->cfg, max_batch, 0, &q->m, err); /* inference only */
    if (s != GG_OK) goto fail;
    gg_graph *g = q->m->g, *sg = src->g;
    if (g->param_len != sg->param_len || g->buf_len != sg->buf_len) {
        s = gg_fail(err, GG_ERR_ARG, "gg_quantize: the model's graph does not match its config");
        goto fail;
    }
    memcpy(g->param, sg->param, g->param_len * sizeof *g->param);
    if (g->buf_len) memcpy(g->buf, sg->buf, g->buf_len * sizeof *g->buf);
    if ((s = gg_qmodel_find_layers(q, err)) != GG_OK) goto fail;
    for (int i = 0; i < q->n; i++) {
        gg_qlayer *l = &q->l[i];
        gg_quant_weights(l->w->out->x, l->N, l->K, l->q, l->wscale);
    }
    gg_qmodel_dequantize(q);
    if ((s = calibrate(q, calib, calib_samples, err)) != GG_OK) goto fail;
    if ((s = gg_qmodel_prepare(q, err)) != GG_OK) goto fail;
    *out = q;
    return GG_OK;
fail:
    gg_qmodel_free(q);
    return s;
}

gg_model *gg_qmodel_float(gg_qmodel *q) { return q ? q->m : NULL; }

/* ---- the file ---------------------------------------------------------------- */

static bool is_quantized_weight(const gg_qmodel *q, const gg_node *p, int *layer) {
    for (int i = 0; i < q->n; i++)
        if (q->l[i].w == p) {
            *layer = i;
            return true;
        }
    return false;
}

gg_status gg_qmodel_save(gg_qmodel *q, const char *path, gg_error *err) {
    gg_graph *g = q->m->g;
    gg_st_writer *w = gg_st_writer_new();
    int64_t *counts = calloc((size_t)g->n_buffers + 1, sizeof *counts);
    char (*names)[GG_NAME_LEN + 32] = calloc((size_t)q->n * 3 + 1, sizeof *names);
    float *one = calloc((size_t)q->n + 1, sizeof *one);
    gg_status s = GG_OK;
    if (!w || !counts || !names || !one) {
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
        goto done;
    }
    for (int i = 0; i < g->n_params + g->n_buffers && s == GG_OK; i++) {
        gg_node *n = i < g->n_params ? g->params[i] : g->buffers[i - g->n_params];
        const gg_tensor *t = n->out;
        int64_t shape[GG_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        int li;
        if (i < g->n_params && is_quantized_weight(q, n, &li)) {
            gg_qlayer *l = &q->l[li];
            char *sn = names[3 * li], *in = names[3 * li + 1], *zn = names[3 * li + 2];
            snprintf(sn, GG_NAME_LEN + 32, "%s_scale", n->name);
            snprintf(in, GG_NAME_LEN + 32, "%sinput_scale", l->prefix);
            snprintf(zn, GG_NAME_LEN + 32, "%sinput_zero_point", l->prefix);
            int64_t nshape = l->N, one_shape = 1;
            one[li] = l->in_scale;
            s = gg_st_writer_add(w, n->name, GG_ST_I8, t->ndim, shape, l->q, err);
            if (s == GG_OK) s = gg_st_writer_add(w, sn, GG_ST_F32, 1, &nshape, l->wscale, err);
            if (s == GG_OK) s = gg_st_writer_add(w, in, GG_ST_F32, 1, &one_shape, &one[li], err);
            if (s == GG_OK) s = gg_st_writer_add(w, zn, GG_ST_U8, 1, &one_shape, &l->in_zp, err);
        } else if (n->integer) {
            int64_t *c = &counts[i - g->n_params];
            *c = (int64_t)llround((double)t->x[0]);
            s = gg_st_writer_add(w, n->name, GG_ST_I64, t->ndim, shape, c, err);
        } else {
            s = gg_st_writer_add(w, n->name, GG_ST_REAL, t->ndim, shape, t->x, err);
        }
    }
    if (s == GG_OK) s = gg_st_writer_meta(w, "format", "pt", err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_version", gg_version(), err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_quantization", "int8", err);
    char *yaml = NULL;
    size_t yaml_len = 0;
    FILE *mem = s == GG_OK ? open_memstream(&yaml, &yaml_len) : NULL;
    if (s == GG_OK && !mem) s = gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
    if (mem) {
        s = gg_config_write(&q->m->cfg, mem, err);
        fclose(mem);
        if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_config", yaml, err);
        free(yaml);
    }
    if (s == GG_OK) s = gg_st_writer_write(w, path, err);
done:
    gg_st_writer_free(w);
    free(counts);
    free(names);
    free(one);
    return s;
}
