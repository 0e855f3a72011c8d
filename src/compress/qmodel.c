/* The int8 inference engine. A quantised model is the float graph built
 * from the config (holding the dequantised weights and every other
 * parameter) plus, for each dense and conv2d layer, its int8 weights packed
 * for the kernels and its input's scale and zero point.
 *
 * The forward pass walks the graph's nodes in order. A dense or conv2d node
 * runs in int8: its input is quantised per tensor to 0..127 (dense: rows
 * into one buffer; conv: one sample at a time, unrolled into patch rows,
 * "im2row", padding taking the zero point, which is the real 0), multiplied
 * with int32 sums, and dequantised in the kernel's epilogue as
 *   y = acc mul[n] + off[n],  mul = a s_x s_w[n],
 *   off = a (b[n] - s_x s_w[n] zp colsum[n]) + c,
 * where a and c fold in a batch norm in evaluation mode that is the
 * layer's sole consumer (a = gamma / sqrt(var + eps), c = beta - mean a;
 * otherwise a = 1, c = 0); a ReLU that is the next sole consumer is fused
 * (max(0, y)), and after a conv so is a 2x2 stride-2 max pool (the
 * sample's conv output stays in a per-worker buffer, only the pooled
 * quarter is written). Folding into the epilogue equals folding the batch norm
 * into the weights before quantising: per-channel scales absorb a. Every
 * other node (pooling, flatten, dropout, activations, softmax, residual
 * adds, the loss) runs its float forward.
 *
 * Conv2d's stride, padding and dilation are read from the node's iattr
 * (src/ops/conv.c: stride h, w; padding h, w; dilation h, w) and checked
 * against the node's output shape. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/qmodel.h"
#include "data/dataset.h"
#include "io/io.h"
#include "ops/ops.h"

/* src/ops/norm.c's batch-norm attributes: positions of gamma and beta in
 * in[] (0: absent), node ids of running_mean and running_var (-1: absent);
 * attr[1] = eps. */
enum { BN_GAMMA = 0, BN_BETA = 1, BN_MEAN = 2, BN_VAR = 3, BN_EPS = 1 };
/* src/ops/conv.c's conv2d attributes. */
enum { CV_SH, CV_SW, CV_PH, CV_PW, CV_DH, CV_DW };
/* src/ops/pool.c's pooling attributes. */
enum { PL_KH, PL_KW, PL_SH, PL_SW, PL_PH, PL_PW };

void gg_qmodel_free(gg_qmodel *q) {
    if (!q) return;
    for (int i = 0; q->l && i < q->n; i++) {
        gg_qlayer *l = &q->l[i];
        free(l->q);
        free(l->wscale);
        free(l->packed);
        free(l->wrows);
        free(l->rowp);
        free(l->zero);
        free(l->ybuf);
        free(l->colsum);
        free(l->mul);
        free(l->off);
        free(l->abuf);
    }
    free(q->l);
    free(q->role);
    free(q->layer_of);
    gg_model_free(q->m);
    free(q);
}

static bool is_qop(const gg_node *n) {
    if (n->op != &gg_op_linear && n->op != &gg_op_conv2d) return false;
    const gg_node *w = n->src[1];
    return w && w->kind == GG_NODE_PARAM && w->out->ndim == (n->op == &gg_op_linear ? 2 : 4);
}

gg_status gg_qmodel_find_layers(gg_qmodel *q, gg_error *err) {
    gg_graph *g = q->m->g;
    q->n = 0;
    for (int i = 0; i < g->n_nodes; i++) q->n += is_qop(g->nodes[i]);
    if (q->n == 0)
        return gg_fail(err, GG_ERR_ARG, "the model has no dense or conv2d layer to quantise");
    q->l = calloc((size_t)q->n, sizeof *q->l);
    q->role = calloc((size_t)g->n_nodes, 1);
    q->layer_of = calloc((size_t)g->n_nodes, sizeof *q->layer_of);
    if (!q->l || !q->role || !q->layer_of) return gg_fail(err, GG_ERR_NOMEM, "out of memory quantising");
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        gg_node *n = g->nodes[i];
        if (!is_qop(n)) continue;
        gg_qlayer *l = &q->l[k];
        l->op = n;
        l->w = n->src[1];
        l->b = n->n_in > 2 ? n->src[2] : NULL;
        l->conv = n->op == &gg_op_conv2d;
        l->N = l->w->out->shape[0];
        l->K = (int)(l->w->out->len / (size_t)l->N);
        l->K4 = gg_i8_k4(l->K);
        l->dst = n;
        l->q = malloc((size_t)l->N * (size_t)l->K);
        l->wscale = malloc((size_t)l->N * sizeof *l->wscale);
        if (!l->q || !l->wscale) return gg_fail(err, GG_ERR_NOMEM, "out of memory quantising");
        /* "layers.0.weight" -> "layers.0." */
        snprintf(l->prefix, sizeof l->prefix, "%s", l->w->name);
        size_t len = strlen(l->prefix);
        if (len >= 6 && !strcmp(l->prefix + len - 6, "weight")) l->prefix[len - 6] = '\0';
        else if (len + 1 < sizeof l->prefix) strcat(l->prefix, ".");
        q->role[i] = GG_QROLE_INT8;
        q->layer_of[i] = k++;
    }
    return GG_OK;
}

/* The only node reading n's output, or NULL (none, several, or the model's
 * output, which the loss and the accuracy read). */
static gg_node *sole_consumer(const gg_qmodel *q, const gg_node *n) {
    const gg_graph *g = q->m->g;
    if (n == q->m->output) return NULL;
    gg_node *found = NULL;
    for (int i = n->id + 1; i < g->n_nodes; i++) {
        gg_node *c = g->nodes[i];
        for (int k = 0; k < c->n_in; k++)
            if (c->src[k] == n) {
                if (found) return NULL;
                found = c;
                break;
            }
    }
    return found;
}

static gg_status prepare_layer(gg_qmodel *q, gg_qlayer *l, gg_error *err) {
    gg_graph *g = q->m->g;
    /* Fusion: [batch norm] then [relu], each the previous node's sole consumer. */
    for (gg_node *cur = l->op, *next; (next = sole_consumer(q, cur)); cur = next) {
        if (next->op == &gg_op_batch_norm && !l->bn && !l->relu && next->src[0] == cur &&
            next->iattr[BN_MEAN] >= 0 && next->iattr[BN_VAR] >= 0) {
            l->bn = next;
        } else if (next->op == &gg_op_relu && !l->relu) {
            l->relu = 1;
        } else {
            break;
        }
        q->role[next->id] = GG_QROLE_FUSED;
        l->dst = next;
    }
    /* A conv's 2x2 stride-2 max pool: the conv output stays in a worker's
     * cache-sized buffer and only the pooled quarter reaches memory. */
    gg_node *pl = l->conv ? sole_consumer(q, l->dst) : NULL;
    if (pl && pl->op == &gg_op_max_pool2d && pl->iattr[PL_KH] == 2 && pl->iattr[PL_KW] == 2 &&
        pl->iattr[PL_SH] == 2 && pl->iattr[PL_SW] == 2 && pl->iattr[PL_PH] == 0 &&
        pl->iattr[PL_PW] == 0 && pl->out->shape[2] == l->op->out->shape[2] / 2 &&
        pl->out->shape[3] == l->op->out->shape[3] / 2) {
        l->pool = pl;
        q->role[pl->id] = GG_QROLE_FUSED;
    }
    int N = l->N, K = l->K, K4 = l->K4;
    l->colsum = malloc((size_t)N * sizeof *l->colsum);
    /* Padded to 32 columns: the epilogue reads whole tiles. */
    l->mul = calloc((size_t)(N + 31) / 32 * 32, sizeof *l->mul);
    l->off = calloc((size_t)(N + 31) / 32 * 32, sizeof *l->off);
    if (l->conv) l->wrows = calloc((size_t)gg_i8_rows(N), (size_t)K4);
    else l->packed = malloc(gg_i8_packed_size(N, K));
    if (!(l->conv ? (void *)l->wrows : (void *)l->packed) || !l->colsum || !l->mul || !l->off)
        return gg_fail(err, GG_ERR_NOMEM, "out of memory preparing the int8 model");
    if (l->conv) {
        for (int n = 0; n < N; n++) {
            int32_t sum = 0;
            for (int k = 0; k < K; k++) sum += l->wrows[(size_t)n * K4 + k] = l->q[(size_t)n * K + k];
            l->colsum[n] = sum;
        }
    } else {
        gg_i8_pack(l->q, N, K, l->packed, l->colsum);
    }
    const gg_real *gamma = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    double eps = 0;
    if (l->bn) {
        const gg_node *bn = l->bn;
        if (bn->iattr[BN_GAMMA] > 0) gamma = bn->in[bn->iattr[BN_GAMMA]]->x;
        if (bn->iattr[BN_BETA] > 0) beta = bn->in[bn->iattr[BN_BETA]]->x;
        mean = g->nodes[bn->iattr[BN_MEAN]]->out->x;
        var = g->nodes[bn->iattr[BN_VAR]]->out->x;
        eps = bn->attr[BN_EPS];
    }
    for (int n = 0; n < N; n++) {
        double s = (double)l->in_scale * (double)l->wscale[n];
        double bias = l->b ? (double)l->b->out->x[n] : 0;
        double off = bias - s * (double)l->in_zp * (double)l->colsum[n], a = 1, c = 0;
        if (l->bn) {
            a = 1 / sqrt((double)var[n] + eps);
            if (gamma) a *= (double)gamma[n];
            c = (beta ? (double)beta[n] : 0) - (double)mean[n] * a;
        }
        l->mul[n] = (gg_real)(a * s);
        l->off[n] = (gg_real)(a * off + c);
    }
    int max_batch = g->max_batch;
    if (!l->conv) {
        l->abuf = calloc((size_t)gg_i8_rows(max_batch), (size_t)l->K4);
        if (!l->abuf) return gg_fail(err, GG_ERR_NOMEM, "out of memory preparing the int8 model");
        return GG_OK;
    }
    const gg_tensor *x = l->op->in[0], *y = l->op->out, *w = l->w->out;
    const int *ia = l->op->iattr;
    l->C = x->shape[1], l->H = x->shape[2], l->W = x->shape[3];
    l->kh = w->shape[2], l->kw = w->shape[3];
    l->sh = ia[CV_SH], l->sw = ia[CV_SW], l->ph = ia[CV_PH], l->pw = ia[CV_PW];
    l->dh = ia[CV_DH], l->dw = ia[CV_DW];
    l->Ho = y->shape[2], l->Wo = y->shape[3];
    if (l->sh < 1 || l->sw < 1 || l->dh < 1 || l->dw < 1 || l->ph < 0 || l->pw < 0 ||
        (l->H + 2 * l->ph - l->dh * (l->kh - 1) - 1) / l->sh + 1 != l->Ho ||
        (l->W + 2 * l->pw - l->dw * (l->kw - 1) - 1) / l->sw + 1 != l->Wo) {
        char lb[96];
        return gg_fail(err, GG_ERR_ARG, "%s: the int8 engine cannot read this conv2d's geometry",
                       gg_node_label(l->op, lb, sizeof lb));
    }
    /* Per worker: the quantised input (direct: padded by the zero point,
     * with slack for the last panel's overrun; else plain, plus the
     * unrolled rows), then the packed activations. */
    l->direct = l->sh == 1 && l->sw == 1 && l->dh == 1 && l->dw == 1;
    l->Hp = l->H + 2 * l->ph, l->Wp = l->W + 2 * l->pw;
    l->ncols = l->direct ? l->Ho * l->Wp : l->Ho * l->Wo;
    size_t cols16 = ((size_t)l->ncols + 15) & ~(size_t)15;
    size_t in_bytes = l->direct ? (size_t)l->C * l->Hp * l->Wp + (size_t)l->kw + 64
                                : (size_t)l->C * l->H * l->W + (size_t)K * cols16;
    size_t r64 = (in_bytes + 63) & ~(size_t)63;
    l->abuf_per = r64 + ((gg_i8_packed_size(l->ncols, K) + 63) & ~(size_t)63);
    int T = omp_get_max_threads();
    if (T < omp_get_num_procs()) T = omp_get_num_procs();
    l->workers = T < max_batch ? T : max_batch;
    l->abuf = malloc((size_t)l->workers * l->abuf_per);
    l->rowp = malloc((size_t)l->workers * (size_t)K * sizeof *l->rowp);
    l->zero = calloc(cols16 + 64, 1);
    if (l->pool) l->ybuf = malloc((size_t)l->workers * (size_t)N * l->Ho * l->Wo * sizeof *l->ybuf);
    if (!l->abuf || !l->rowp || !l->zero || (l->pool && !l->ybuf))
        return gg_fail(err, GG_ERR_NOMEM, "out of memory preparing the int8 model");
    /* The padding, and the slack read by the last panel, hold the zero
     * point once and for all; the interior is rewritten per sample. */
    memset(l->abuf, l->in_zp, (size_t)l->workers * l->abuf_per);
    for (int w = 0; w < l->workers; w++) {
        const uint8_t *base = l->abuf + (size_t)w * l->abuf_per;
        const uint8_t **rp = l->rowp + (size_t)w * K;
        size_t plane = l->direct ? (size_t)l->Hp * l->Wp : 0;
        for (int k = 0; k < K; k++) {
            int c = k / (l->kh * l->kw), i = k / l->kw % l->kh, j = k % l->kw;
            rp[k] = l->direct ? base + (size_t)c * plane + (size_t)i * l->Wp + (size_t)j
                              : base + (size_t)l->C * l->H * l->W + (size_t)k * cols16;
        }
    }
    return GG_OK;
}

gg_status gg_qmodel_prepare(gg_qmodel *q, gg_error *err) {
    q->kernel = gg_i8_kernel_default();
    for (int i = 0; i < q->n; i++) {
        gg_status s = prepare_layer(q, &q->l[i], err);
        if (s != GG_OK) return s;
    }
    return GG_OK;
}

/* ---- the forward pass --------------------------------------------------------- */

static void run_dense(const gg_qmodel *q, gg_qlayer *l) {
    const gg_tensor *x = l->op->in[0];
    int M = x->shape[0], K = l->K, K4 = l->K4;
    float s = l->in_scale;
    int zp = l->in_zp;
    uint8_t *a = l->abuf;
#pragma omp parallel for schedule(static) if ((size_t)M * (size_t)K >= GG_PAR_MIN)
    for (int r = 0; r < M; r++) gg_quant_act(x->x + (size_t)r * K, (size_t)K, s, zp, a + (size_t)r * K4);
    gg_i8_out o = {.y = l->dst->out->x, .ldy = (size_t)l->N, .mul = l->mul, .off = l->off,
                   .relu = l->relu};
    gg_i8_gemm(q->kernel, M, l->N, K, a, (size_t)K4, l->packed, &o, omp_get_max_threads());
}

/* The unrolled rows of one sample (strided or dilated convs): row k =
 * (c, i, j) as the weight [O, C, kh, kw] flattens, column p = (oh, ow);
 * outside the image, the zero point. */
static void im2col(const gg_qlayer *l, const uint8_t *xq, const uint8_t *const *rows) {
    const int H = l->H, W = l->W;
    const uint8_t zp = l->in_zp;
    for (int k = 0; k < l->K; k++) {
        int c = k / (l->kh * l->kw), i = k / l->kw % l->kh, j = k % l->kw;
        uint8_t *row = (uint8_t *)rows[k];
        const uint8_t *xc = xq + (size_t)c * H * W;
        for (int oh = 0; oh < l->Ho; oh++) {
            int ih = oh * l->sh - l->ph + i * l->dh;
            uint8_t *out = row + (size_t)oh * l->Wo;
            if (ih < 0 || ih >= H) {
                memset(out, zp, (size_t)l->Wo);
                continue;
            }
            const uint8_t *xr = xc + (size_t)ih * W;
            for (int ow = 0; ow < l->Wo; ow++) {
                int iw = ow * l->sw - l->pw + j * l->dw;
                out[ow] = iw >= 0 && iw < W ? xr[iw] : zp;
            }
        }
    }
}

/* 2x2 stride-2 max pool of C planes H x W into Ho x Wo (floor). The int8
 * outputs are always finite, so no NaN rule is needed: first the larger of
 * the two rows, contiguous, then of each pair. */
static void max_pool_2x2(const gg_real *x, int C, int H, int W, gg_real *y, int Ho, int Wo) {
    gg_real t[256];
    for (int c = 0; c < C; c++)
        for (int oh = 0; oh < Ho; oh++) {
            const gg_real *r0 = x + ((size_t)c * H + 2 * (size_t)oh) * W, *r1 = r0 + W;
            gg_real *out = y + ((size_t)c * Ho + (size_t)oh) * Wo;
            for (int o0 = 0; o0 < Wo; o0 += 128) {
                int n = Wo - o0 < 128 ? Wo - o0 : 128;
                const gg_real *a = r0 + 2 * o0, *b = r1 + 2 * o0;
#pragma omp simd
                for (int i = 0; i < 2 * n; i++) t[i] = a[i] > b[i] ? a[i] : b[i];
#pragma omp simd
                for (int i = 0; i < n; i++) out[o0 + i] = t[2 * i] > t[2 * i + 1] ? t[2 * i] : t[2 * i + 1];
            }
        }
}

static void run_conv(const gg_qmodel *q, gg_qlayer *l) {
    const gg_tensor *x = l->op->in[0];
    int M = x->shape[0], HW = l->Ho * l->Wo, K = l->K;
    size_t chw = (size_t)l->C * l->H * l->W, plane = (size_t)l->Hp * l->Wp;
    size_t in_bytes = l->direct ? (size_t)l->C * plane + (size_t)l->kw + 64
                                : chw + (size_t)K * (((size_t)l->ncols + 15) & ~(size_t)15);
    size_t out_per = (size_t)l->N * (size_t)HW;
    gg_real *y = l->dst->out->x;
    int T = omp_get_max_threads();
    if (T > l->workers) T = l->workers;
    if (T > M) T = M;
#pragma omp parallel num_threads(T)
    {
        int w = omp_get_thread_num();
        uint8_t *xq = l->abuf + (size_t)w * l->abuf_per;
        uint8_t *packed = xq + ((in_bytes + 63) & ~(size_t)63);
        const uint8_t *const *rows = l->rowp + (size_t)w * K;
#pragma omp for schedule(static)
        for (int s = 0; s < M; s++) {
            const gg_real *xs = x->x + (size_t)s * chw;
            if (l->direct) {
                for (int c = 0; c < l->C; c++)
                    for (int ih = 0; ih < l->H; ih++)
                        gg_quant_act(xs + ((size_t)c * l->H + (size_t)ih) * l->W, (size_t)l->W,
                                     l->in_scale, l->in_zp,
                                     xq + (size_t)c * plane + (size_t)(ih + l->ph) * l->Wp + l->pw);
            } else {
                gg_quant_act(xs, chw, l->in_scale, l->in_zp, xq);
                im2col(l, xq, rows);
            }
            gg_i8_pack_act(rows, K, l->ncols, l->zero, packed);
            gg_real *ys = l->pool ? l->ybuf + (size_t)w * out_per : y + (size_t)s * out_per;
            gg_i8_out o = {.y = ys, .ldy = (size_t)HW, .mul = l->mul, .off = l->off,
                           .relu = l->relu, .row_scale = 1, .wrap_in = l->direct ? l->Wp : 0,
                           .wrap_out = l->Wo};
            gg_i8_gemm_wa(q->kernel, l->N, l->ncols, K, l->wrows, (size_t)l->K4, packed, &o, 1);
            if (l->pool) {
                int Ho2 = l->pool->out->shape[2], Wo2 = l->pool->out->shape[3];
                max_pool_2x2(ys, l->N, l->Ho, l->Wo,
                             l->pool->out->x + (size_t)s * l->N * Ho2 * Wo2, Ho2, Wo2);
            }
        }
    }
}

/* Nodes up to and including `last`. */
static void qforward(gg_qmodel *q, const gg_node *last) {
    gg_graph *g = q->m->g;
    for (int i = 0; i <= last->id; i++) {
        gg_node *n = g->nodes[i];
        if (!n->op) continue;
        switch (q->role[i]) {
        case GG_QROLE_INT8: {
            gg_qlayer *l = &q->l[q->layer_of[i]];
            if (l->conv) run_conv(q, l);
            else run_dense(q, l);
            break;
        }
        case GG_QROLE_FUSED: break;
        default: n->op->forward(n);
        }
    }
}

static void qforward_fn(void *q, const gg_node *last) { qforward(q, last); }

gg_status gg_qmodel_evaluate(gg_qmodel *q, const gg_dataset *d, gg_eval_result *res,
                             gg_error *err) {
    return gg_model_evaluate_with(q->m, d, qforward_fn, q, res, err);
}

gg_status gg_qmodel_predict(gg_qmodel *q, const gg_real *x, size_t n, gg_real *out,
                            gg_error *err) {
    if (!q || !x || !out) return gg_fail(err, GG_ERR_ARG, "gg_qmodel_predict: NULL argument");
    gg_model_predict_with(q->m, x, n, out, qforward_fn, q);
    return GG_OK;
}

/* ---- loading ------------------------------------------------------------------ */

/* Finds `name` in f and checks its dtype (one of two), shape and values
 * (finite; within [lo, hi]; > 0 when positive). */
static gg_status find_checked(const gg_st_file *f, const char *path, const char *name,
                              gg_st_dtype dt1, gg_st_dtype dt2, const char *dt_text, int ndim,
                              const int64_t *shape, double lo, double hi, bool positive,
                              const char *range, const gg_st_tensor **out, gg_error *err) {
    char want[96], got[96];
    const gg_st_tensor *t = gg_st_find(f, name);
    if (!t)
        return gg_fail(err, GG_ERR_DATA, "%s: no tensor '%s'; the int8 model needs it (%s %s)",
                       path, name, dt_text, gg_st_dims_text(want, sizeof want, ndim, shape));
    if (t->dtype != dt1 && t->dtype != dt2)
        return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' has dtype %s, expected %s", path, name,
                       gg_st_dtype_name(t->dtype), dt_text);
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same)
        return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' has shape %s, the model expects %s", path,
                       name, gg_st_dims_text(got, sizeof got, t->ndim, t->shape),
                       gg_st_dims_text(want, sizeof want, ndim, shape));
    for (size_t k = 0; k < t->count; k++) {
        double v = gg_st_element(t, k);
        if (!isfinite(v))
            return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' element %zu is not finite (%g)", path,
                           name, k, v);
        if (v < lo || v > hi || (positive && !(v > 0)))
            return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' element %zu is %g, outside %s", path,
                           name, k, v, range);
    }
    *out = t;
    return GG_OK;
}

static gg_status load_config(const gg_st_file *f, const char *path, gg_config **out,
                             gg_error *err) {
    const char *yaml = gg_st_meta(f, "gradguard_config");
    if (!yaml)
        return gg_fail(err, GG_ERR_DATA, "%s: no 'gradguard_config' in its metadata", path);
    gg_config *c = gg_config_new_default();
    if (!c) return gg_fail(err, GG_ERR_NOMEM, "out of memory reading %s", path);
    gg_status s = gg_config_load_string(c, yaml, err);
    if (s != GG_OK) {
        if (err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            gg_fail(err, s, "%s: gradguard_config metadata: %s", path, msg);
        }
        gg_config_free(c);
        return s;
    }
    *out = c;
    return GG_OK;
}

static bool known_name(const gg_qmodel *q, const char *name) {
    const gg_graph *g = q->m->g;
    for (int i = 0; i < g->n_params; i++)
        if (!strcmp(g->params[i]->name, name)) return true;
    for (int i = 0; i < g->n_buffers; i++)
        if (!strcmp(g->buffers[i]->name, name)) return true;
    for (int i = 0; i < q->n; i++) {
        const gg_qlayer *l = &q->l[i];
        size_t w = strlen(l->w->name), p = strlen(l->prefix);
        if (!strncmp(name, l->w->name, w) && !strcmp(name + w, "_scale")) return true;
        if (!strncmp(name, l->prefix, p) &&
            (!strcmp(name + p, "input_scale") || !strcmp(name + p, "input_zero_point")))
            return true;
    }
    return false;
}

/* Checks every tensor the model needs, then copies: a refused file leaves
 * nothing half-loaded (the model is freed anyway). */
static gg_status load_tensors(gg_qmodel *q, const gg_st_file *f, const char *path, gg_error *err) {
    gg_graph *g = q->m->g;
    int ns = g->n_params + g->n_buffers;
    const gg_st_tensor **match = calloc((size_t)ns + 1, sizeof *match);
    const gg_st_tensor **extra = calloc((size_t)q->n * 3 + 1, sizeof *extra);
    gg_status s = GG_OK;
    if (!match || !extra) {
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    for (int i = 0; i < ns && s == GG_OK; i++) {
        gg_node *n = i < g->n_params ? g->params[i] : g->buffers[i - g->n_params];
        const gg_tensor *t = n->out;
        int64_t shape[GG_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        int li = -1;
        for (int k = 0; k < q->n; k++)
            if (q->l[k].w == n) li = k;
        if (li >= 0) {
            gg_qlayer *l = &q->l[li];
            char name[GG_NAME_LEN + 32];
            int64_t N = l->N, one = 1;
            s = find_checked(f, path, n->name, GG_ST_I8, GG_ST_I8, "I8", t->ndim, shape, -GG_Q_WMAX,
                             GG_Q_WMAX, false, "the symmetric int8 range [-127, 127]", &match[i], err);
            snprintf(name, sizeof name, "%s_scale", n->name);
            if (s == GG_OK)
                s = find_checked(f, path, name, GG_ST_F32, GG_ST_F32, "F32", 1, &N, -INFINITY,
                                 INFINITY, true, "the positive scales", &extra[3 * li], err);
            snprintf(name, sizeof name, "%sinput_scale", l->prefix);
            if (s == GG_OK)
                s = find_checked(f, path, name, GG_ST_F32, GG_ST_F32, "F32", 1, &one, -INFINITY,
                                 INFINITY, true, "the positive scales", &extra[3 * li + 1], err);
            snprintf(name, sizeof name, "%sinput_zero_point", l->prefix);
            if (s == GG_OK)
                s = find_checked(f, path, name, GG_ST_U8, GG_ST_U8, "U8", 1, &one, 0, GG_Q_AMAX,
                                 false, "the 7-bit zero points [0, 127]", &extra[3 * li + 2], err);
        } else if (n->integer) {
            s = find_checked(f, path, n->name, GG_ST_I64, GG_ST_I64, "I64", t->ndim, shape,
                             -INFINITY, INFINITY, false, "", &match[i], err);
        } else {
            s = find_checked(f, path, n->name, GG_ST_F32, GG_ST_F64, "F32 or F64", t->ndim, shape,
                             -INFINITY, INFINITY, false, "", &match[i], err);
        }
    }
    for (int k = 0; k < f->n && s == GG_OK; k++)
        if (!known_name(q, f->tensors[k].name))
            s = gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' is not a parameter of this int8 model",
                        path, f->tensors[k].name);
    if (s != GG_OK) goto done;
    gg_weights_apply(g, match); /* int8 weights as integers, until gg_qmodel_dequantize */
    for (int li = 0; li < q->n; li++) {
        gg_qlayer *l = &q->l[li];
        const gg_st_tensor *wt = gg_st_find(f, l->w->name);
        memcpy(l->q, wt->data, (size_t)l->N * (size_t)l->K);
        memcpy(l->wscale, extra[3 * li]->data, (size_t)l->N * sizeof(float));
        memcpy(&l->in_scale, extra[3 * li + 1]->data, sizeof(float));
        l->in_zp = extra[3 * li + 2]->data[0];
    }
done:
    free(match);
    free(extra);
    return s;
}

gg_status gg_qmodel_load(const char *path, const gg_config *c, int max_batch, gg_qmodel **out,
                         gg_error *err) {
    *out = NULL;
    gg_st_file f = {0};
    gg_config *own = NULL;
    gg_qmodel *q = NULL;
    gg_status s = gg_st_read(path, &f, err);
    if (s != GG_OK) return s;
    const char *kind = gg_st_meta(&f, "gradguard_quantization");
    if (!kind) {
        s = gg_fail(err, GG_ERR_DATA,
                    "%s: not an int8 model (no 'gradguard_quantization' in its metadata)", path);
        goto done;
    }
    if (strcmp(kind, "int8")) {
        s = gg_fail(err, GG_ERR_DATA, "%s: metadata 'gradguard_quantization' is '%.40s', expected int8",
                    path, kind);
        goto done;
    }
    if (!c) {
        if ((s = load_config(&f, path, &own, err)) != GG_OK) goto done;
        c = own;
    }
    if (max_batch < 1) max_batch = c->train.eval_batch_size;
    q = calloc(1, sizeof *q);
    if (!q) {
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    if ((s = gg_model_new_sized(c, max_batch, 0, &q->m, err)) != GG_OK) goto done; /* inference only */
    if ((s = gg_qmodel_find_layers(q, err)) != GG_OK) goto done;
    if ((s = load_tensors(q, &f, path, err)) != GG_OK) goto done;
    gg_qmodel_dequantize(q);
    if ((s = gg_qmodel_prepare(q, err)) != GG_OK) goto done;
    *out = q;
    q = NULL;
done:
    gg_qmodel_free(q);
    gg_config_free(own);
    gg_st_free(&f);
    return s;
}

int gg_file_is_quantized(const char *path, gg_error *err) {
    gg_st_file f = {0};
    if (gg_st_read(path, &f, err) != GG_OK) return -1;
    int r = gg_st_meta(&f, "gradguard_quantization") != NULL;
    gg_st_free(&f);
    return r;
}
