/* Normalisation: batch norm (nn.BatchNorm1d/2d) and layer norm
 * (nn.LayerNorm) as PyTorch computes them: the biased variance for
 * normalising and the unbiased one for the running estimate, eps inside
 * the square root, y = x scale + shift with scale = gamma / sqrt(var + eps)
 * and shift = beta - mean scale. Statistics are accumulated in double:
 * batch norm's in one pass over values shifted by the channel's first
 * value (an offset mean cannot cancel the variance away, and the input is
 * read once), layer norm's short rows, in cache, in two passes.
 *
 * Inputs: x first, then gamma and beta when present; iattr[0] and iattr[1]
 * hold their positions in in[] (0: absent, as position 0 is x). Batch
 * norm's buffers are not inputs (they carry no gradient): iattr[2..4] are the node ids of running_mean,
 * running_var and count (-1: absent). The builders pass every attribute
 * to gg_graph_add_op_with, so the shape rules check everything. */
#include <math.h>
#include <omp.h>
#include "ops/ops.h"

enum { IA_GAMMA = 0, IA_BETA = 1, IA_MEAN = 2, IA_VAR = 3, IA_COUNT = 4, IA_DIMS = 2 };
enum { A_MOMENTUM = 0, A_EPS = 1, A_LN_EPS = 0 };

static const gg_tensor *opt_in(const gg_node *n, int k) {
    return n->iattr[k] > 0 ? n->in[n->iattr[k]] : NULL;
}

/* The optional inputs after x, in order, with their positions. */
static int add_optional(gg_node **in, gg_node *gamma, gg_node *beta, int *gi, int *bi) {
    int k = 1;
    *gi = *bi = 0;
    if (gamma) in[*gi = k++] = gamma;
    if (beta) in[*bi = k++] = beta;
    return k;
}


/* ---- batch norm ------------------------------------------------------------
 * x is viewed as [N, C, S]: N = shape[0], C = shape[1], S the product of
 * the dimensions after (1 for [N, C]). Scratch: 2C double accumulators,
 * then mean [C] and invstd [C] of the last forward, scale [C] and shift [C]
 * (y = x scale + shift), and the backward's mean(dy) [C] and k [C]. */

typedef struct bn_view {
    int N, C;
    size_t S;
    double M; /* values per channel: N S */
} bn_view;

static bn_view bn_dims(const gg_tensor *x) {
    bn_view v = {.N = x->shape[0], .C = x->shape[1], .S = 1};
    for (int i = 2; i < x->ndim; i++) v.S *= (size_t)x->shape[i];
    v.M = (double)v.N * (double)v.S;
    return v;
}

static gg_tensor *bn_buffer(const gg_node *n, int k) {
    return n->iattr[k] >= 0 ? n->g->nodes[n->iattr[k]]->out : NULL;
}

static double *bn_acc(const gg_node *n) { return (double *)(void *)n->scratch; }
/* mean [C], invstd [C], scale [C], shift [C]. */
static gg_real *bn_stats(const gg_node *n) {
    return (gg_real *)(void *)(bn_acc(n) + 2 * (size_t)n->in[0]->shape[1]);
}

static size_t bn_scratch(const gg_node *n) {
    size_t C = (size_t)n->in[0]->shape[1];
    return 2 * C * (sizeof(double) / sizeof(gg_real)) + 6 * C;
}

/* x must be [N, C], [N, C, L] or [N, C, H, W]. */
static gg_status bn_check_x(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    if (x->ndim < 2 || x->ndim > 4) {
        char lb[96], sb[64];
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: input shape %s, needs [N, C], [N, C, L] or [N, C, H, W]",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(x, sb, sizeof sb));
    }
    return GG_OK;
}

/* gamma, beta, running_mean and running_var must be [C]; count [1]. */
static gg_status bn_check(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    int C = x->shape[1];
    char lb[96], sx[64], sp[64];
    gg_node *what[5];
    const char *role[5] = {"weight (gamma)", "bias (beta)", "running_mean", "running_var",
                           "num_batches_tracked"};
    what[0] = n->iattr[IA_GAMMA] > 0 ? n->src[n->iattr[IA_GAMMA]] : NULL;
    what[1] = n->iattr[IA_BETA] > 0 ? n->src[n->iattr[IA_BETA]] : NULL;
    for (int k = 2; k < 5; k++) what[k] = n->iattr[k] >= 0 ? n->g->nodes[n->iattr[k]] : NULL;
    if (!what[2] != !what[3])
        return gg_fail(err, GG_ERR_ARG, "%s: running_mean and running_var go together",
                       gg_node_label(n, lb, sizeof lb));
    for (int k = 0; k < 5; k++) {
        gg_node *p = what[k];
        if (!p) continue;
        int want = k == 4 ? 1 : C;
        if (k >= 2 && p->kind != GG_NODE_BUFFER)
            return gg_fail(err, GG_ERR_ARG, "%s: %s '%s' must be a buffer (gg_buffer)",
                           gg_node_label(n, lb, sizeof lb), role[k], p->name);
        const gg_tensor *t = p->out;
        /* The count may be a scalar: PyTorch's num_batches_tracked is 0-d. */
        bool fits = k == 4 ? !t->batched && t->ndim <= 1 && t->len == 1
                           : !t->batched && t->ndim == 1 && t->shape[0] == want;
        if (!fits) {
            if (k == 4)
                return gg_fail(err, GG_ERR_SHAPE, "%s: %s '%s' has shape %s, expected [1]",
                               gg_node_label(n, lb, sizeof lb), role[k], p->name,
                               gg_shape_text(t, sp, sizeof sp));
            return gg_fail(err, GG_ERR_SHAPE,
                           "%s: %s '%s' has shape %s, expected [%d] (the channels, dim 1 of "
                           "the input %s)",
                           gg_node_label(n, lb, sizeof lb), role[k], p->name,
                           gg_shape_text(t, sp, sizeof sp), C, gg_shape_text(x, sx, sizeof sx));
        }
    }
    if (!(n->attr[A_MOMENTUM] >= 0 && n->attr[A_MOMENTUM] <= 1))
        return gg_fail(err, GG_ERR_ARG, "%s: momentum %g, expected 0 to 1",
                       gg_node_label(n, lb, sizeof lb), n->attr[A_MOMENTUM]);
    if (!(n->attr[A_EPS] > 0) || !isfinite(n->attr[A_EPS]))
        return gg_fail(err, GG_ERR_ARG, "%s: eps %g, expected > 0",
                       gg_node_label(n, lb, sizeof lb), n->attr[A_EPS]);
    return GG_OK;
}

static gg_status bn_shape(gg_node *n, gg_error *err) {
    /* The buffers are inputs too: a layer's statistics name the layer. */
    if (n->layer < 0 && n->iattr[IA_MEAN] >= 0) n->layer = n->g->nodes[n->iattr[IA_MEAN]]->layer;
    gg_status st = bn_check_x(n, err);
    if (st == GG_OK) st = bn_check(n, err);
    return st == GG_OK ? gg_shape_same(n, err) : st;
}

/* Batch statistics in training mode, and always without running ones
 * (track_running_stats = False). */
static bool bn_batch_stats(const gg_node *n) {
    return n->g->training || n->iattr[IA_MEAN] < 0;
}

/* Channel c's mean, invstd, scale and shift, from the batch (mean and the
 * sum of squared deviations; the running statistics are updated in
 * training) or from the running statistics. */
static void bn_finish_channel(gg_node *n, const bn_view *v, int c, double mean, double var_sum,
                              bool batch) {
    const int C = v->C;
    double eps = n->attr[A_EPS], m = n->attr[A_MOMENTUM];
    gg_real *mu = bn_stats(n), *is = mu + C, *sc = is + C, *sh = sc + C;
    gg_tensor *rm = bn_buffer(n, IA_MEAN), *rv = bn_buffer(n, IA_VAR);
    const gg_tensor *gm = opt_in(n, IA_GAMMA), *bt = opt_in(n, IA_BETA);
    if (batch) {
        double var = var_sum / v->M;
        mu[c] = (gg_real)mean;
        is[c] = (gg_real)(1 / sqrt(var + eps));
        if (rm && n->g->training) {
            /* With one value per channel PyTorch refuses to train; here the
             * unbiased variance falls back to the biased one (0). */
            double unbiased = v->M > 1 ? var_sum / (v->M - 1) : var;
            rm->x[c] = (gg_real)(m * mean + (1 - m) * (double)rm->x[c]);
            rv->x[c] = (gg_real)(m * unbiased + (1 - m) * (double)rv->x[c]);
        }
    } else {
        mu[c] = rm->x[c];
        is[c] = (gg_real)(1 / sqrt((double)rv->x[c] + eps));
    }
    gg_real a = gm ? gm->x[c] * is[c] : is[c];
    sc[c] = a;
    sh[c] = (bt ? bt->x[c] : 0) - mu[c] * a;
}

static void bn_forward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    const bn_view v = bn_dims(x);
    const bool batch = bn_batch_stats(n);
    gg_real *y = n->out->x;
    const int C = v.C;
    const gg_real *sc = bn_stats(n) + 2 * C, *sh = sc + C;
    if (v.S == 1) {
        /* [N, C]: channels are contiguous; each thread takes a block of
         * them and sweeps the rows, vectorised across its channels. */
        double *sum = bn_acc(n), *sq = sum + C;
#pragma omp parallel if (x->len >= GG_PAR_MIN)
        {
            size_t lo, hi;
            gg_thread_share((size_t)C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            if (batch) {
                /* One pass, shifted by the first row (kept in mean[]). */
                gg_real *k = bn_stats(n);
                for (size_t c = lo; c < hi; c++) {
                    sum[c] = sq[c] = 0;
                    k[c] = x->x[c];
                }
                for (int i = 0; i < v.N; i++) {
                    const gg_real *xr = x->x + (size_t)i * C;
#pragma omp simd
                    for (size_t c = lo; c < hi; c++) {
                        double d = (double)xr[c] - (double)k[c];
                        sum[c] += d;
                        sq[c] += d * d;
                    }
                }
                for (size_t c = lo; c < hi; c++) {
                    double mean = (double)k[c] + sum[c] / v.M;
                    double var_sum = sq[c] - sum[c] * sum[c] / v.M;
                    sum[c] = mean;
                    sq[c] = var_sum < 0 ? 0 : var_sum; /* rounding; NaN stays */
                }
            }
            for (size_t c = lo; c < hi; c++)
                bn_finish_channel(n, &v, (int)c, batch ? sum[c] : 0, batch ? sq[c] : 0, batch);
            for (int i = 0; i < v.N; i++) {
                const gg_real *restrict xr = x->x + (size_t)i * C;
                gg_real *restrict yr = y + (size_t)i * C;
#pragma omp simd
                for (size_t c = lo; c < hi; c++) yr[c] = xr[c] * sc[c] + sh[c];
            }
        }
    } else {
        const size_t S = v.S;
#pragma omp parallel for schedule(static) if (x->len >= GG_PAR_MIN)
        for (int c = 0; c < C; c++) {
            double mean = 0, var_sum = 0;
            if (batch) {
                /* One pass, shifted by the channel's first value. */
                const double k = (double)x->x[(size_t)c * S];
                double s = 0, q = 0;
                for (int i = 0; i < v.N; i++) {
                    const gg_real *xp = x->x + ((size_t)i * C + c) * S;
#pragma omp simd reduction(+ : s, q)
                    for (size_t j = 0; j < S; j++) {
                        double d = (double)xp[j] - k;
                        s += d;
                        q += d * d;
                    }
                }
                mean = k + s / v.M;
                var_sum = q - s * s / v.M;
                if (var_sum < 0) var_sum = 0; /* rounding; NaN stays */
            }
            bn_finish_channel(n, &v, c, mean, var_sum, batch);
            const gg_real a = sc[c], b = sh[c];
            for (int i = 0; i < v.N; i++) {
                const gg_real *restrict xp = x->x + ((size_t)i * C + c) * S;
                gg_real *restrict yp = y + ((size_t)i * C + c) * S;
#pragma omp simd
                for (size_t k = 0; k < S; k++) yp[k] = xp[k] * a + b;
            }
        }
    }
    gg_tensor *count = bn_buffer(n, IA_COUNT);
    if (count && n->g->training) count->x[0] += 1;
}

/* Training (PyTorch's batch_norm_backward): with k = dot invstd^2 / M,
 *   dx = (dy - sum(dy) / M - (x - mean) k) invstd gamma,
 *   dgamma = dot invstd, dbeta = sum(dy), dot = sum(dy (x - mean));
 * with running statistics the mean and the variance are constants and
 * dx = dy invstd gamma. */
static void bn_backward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    const gg_tensor *gm = opt_in(n, IA_GAMMA), *bt = opt_in(n, IA_BETA);
    const bn_view v = bn_dims(x);
    const bool batch = bn_batch_stats(n);
    const int C = v.C;
    gg_real *mu = bn_stats(n), *is = mu + C, *sc = is + C;
    const gg_real *dy = n->out->dx;
    gg_real *dx = x->dx, *dg = gm ? gm->dx : NULL, *db = bt ? bt->dx : NULL;
    const double M = v.M;
    if (v.S == 1) {
        double *sdy = bn_acc(n), *dot = sdy + C;
#pragma omp parallel if (x->len >= GG_PAR_MIN)
        {
            size_t lo, hi;
            gg_thread_share((size_t)C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            for (size_t c = lo; c < hi; c++) sdy[c] = dot[c] = 0;
            for (int i = 0; i < v.N; i++) {
                const gg_real *xr = x->x + (size_t)i * C, *dr = dy + (size_t)i * C;
#pragma omp simd
                for (size_t c = lo; c < hi; c++) {
                    sdy[c] += (double)dr[c];
                    dot[c] += (double)dr[c] * ((double)xr[c] - (double)mu[c]);
                }
            }
            gg_real *gmean = sc + 2 * C, *kc = gmean + C;
            for (size_t c = lo; c < hi; c++) {
                if (dg) dg[c] += (gg_real)(dot[c] * (double)is[c]);
                if (db) db[c] += (gg_real)sdy[c];
                double is2 = (double)is[c] * (double)is[c];
                gmean[c] = batch ? (gg_real)(sdy[c] / M) : 0;
                kc[c] = batch ? (gg_real)(dot[c] * is2 / M) : 0;
            }
            if (dx) {
                for (int i = 0; i < v.N; i++) {
                    const gg_real *xr = x->x + (size_t)i * C, *dr = dy + (size_t)i * C;
                    gg_real *dxr = dx + (size_t)i * C;
#pragma omp simd
                    for (size_t c = lo; c < hi; c++)
                        dxr[c] += (dr[c] - gmean[c] - (xr[c] - mu[c]) * kc[c]) * sc[c];
                }
            }
        }
    } else {
        const size_t S = v.S;
#pragma omp parallel for schedule(static) if (x->len >= GG_PAR_MIN)
        for (int c = 0; c < C; c++) {
            const gg_real m = mu[c];
            double s = 0, d = 0;
            for (int i = 0; i < v.N; i++) {
                const gg_real *xp = x->x + ((size_t)i * C + c) * S;
                const gg_real *dp = dy + ((size_t)i * C + c) * S;
#pragma omp simd reduction(+ : s, d)
                for (size_t k = 0; k < S; k++) {
                    s += (double)dp[k];
                    d += (double)dp[k] * ((double)xp[k] - (double)m);
                }
            }
            if (dg) dg[c] += (gg_real)(d * (double)is[c]);
            if (db) db[c] += (gg_real)s;
            if (!dx) continue;
            const gg_real w = sc[c];
            const gg_real k = batch ? (gg_real)(d * (double)is[c] * (double)is[c] / M) : 0;
            const gg_real gmean = batch ? (gg_real)(s / M) : 0;
            for (int i = 0; i < v.N; i++) {
                const gg_real *restrict xp = x->x + ((size_t)i * C + c) * S;
                const gg_real *restrict dp = dy + ((size_t)i * C + c) * S;
                gg_real *restrict dxp = dx + ((size_t)i * C + c) * S;
#pragma omp simd
                for (size_t j = 0; j < S; j++) dxp[j] += (dp[j] - gmean - (xp[j] - m) * k) * w;
            }
        }
    }
}

const gg_op_def gg_op_batch_norm = {.name = "batch_norm", .n_in = 3, .shape = bn_shape,
                                    .scratch = bn_scratch, .forward = bn_forward,
                                    .backward = bn_backward};

gg_node *gg_batch_norm(gg_graph *g, gg_node *x, gg_node *gamma, gg_node *beta,
                       gg_node *running_mean, gg_node *running_var, gg_node *count,
                       double momentum, double eps) {
    gg_node *in[3] = {x};
    int gi, bi;
    int n_in = add_optional(in, gamma, beta, &gi, &bi);
    gg_op_attrs a = {0};
    a.iattr[IA_GAMMA] = gi;
    a.iattr[IA_BETA] = bi;
    a.iattr[IA_MEAN] = running_mean ? running_mean->id : -1;
    a.iattr[IA_VAR] = running_var ? running_var->id : -1;
    a.iattr[IA_COUNT] = count ? count->id : -1;
    a.attr[A_MOMENTUM] = momentum;
    a.attr[A_EPS] = eps;
    return gg_graph_add_op_with(g, &gg_op_batch_norm, n_in, in, &a);
}

/* ---- layer norm ------------------------------------------------------------
 * x is viewed as rows of D = the product of the last `dims` dimensions
 * (iattr[2]); eps in attr[0]. Scratch: mean and rstd of every row at the
 * max batch. */

static size_t ln_width(const gg_node *n) {
    const gg_tensor *x = n->in[0];
    size_t D = 1;
    for (int i = x->ndim - n->iattr[IA_DIMS]; i < x->ndim; i++) D *= (size_t)x->shape[i];
    return D;
}

static size_t ln_scratch(const gg_node *n) {
    const gg_tensor *x = n->in[0];
    size_t len = x->batched ? x->per_sample * (size_t)n->g->max_batch : x->len;
    return 2 * (len / ln_width(n));
}

static gg_status ln_check(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    int dims = n->iattr[IA_DIMS], avail = x->ndim - (x->batched ? 1 : 0);
    char lb[96], sx[64], sp[64];
    if (dims < 1 || dims > avail)
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: cannot normalise over the last %d dimensions of input %s "
                       "(1 to %d)",
                       gg_node_label(n, lb, sizeof lb), dims, gg_shape_text(x, sx, sizeof sx),
                       avail);
    for (int k = IA_GAMMA; k <= IA_BETA; k++) {
        if (n->iattr[k] <= 0) continue;
        const gg_node *p = n->src[n->iattr[k]];
        const gg_tensor *t = p->out;
        bool ok = !t->batched && t->ndim == dims;
        for (int i = 0; ok && i < dims; i++) ok = t->shape[i] == x->shape[x->ndim - dims + i];
        if (!ok) {
            gg_tensor tail = {.ndim = dims};
            for (int i = 0; i < dims; i++) tail.shape[i] = x->shape[x->ndim - dims + i];
            char st[64];
            return gg_fail(err, GG_ERR_SHAPE,
                           "%s: %s '%s' has shape %s, expected %s (the last %d dimensions of "
                           "the input %s)",
                           gg_node_label(n, lb, sizeof lb),
                           k == IA_GAMMA ? "weight (gamma)" : "bias (beta)", p->name,
                           gg_shape_text(t, sp, sizeof sp), gg_shape_text(&tail, st, sizeof st),
                           dims, gg_shape_text(x, sx, sizeof sx));
        }
    }
    if (!(n->attr[A_LN_EPS] > 0) || !isfinite(n->attr[A_LN_EPS]))
        return gg_fail(err, GG_ERR_ARG, "%s: eps %g, expected > 0",
                       gg_node_label(n, lb, sizeof lb), n->attr[A_LN_EPS]);
    return GG_OK;
}

static void ln_forward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    const gg_tensor *gm = opt_in(n, IA_GAMMA), *bt = opt_in(n, IA_BETA);
    const size_t D = ln_width(n), rows = x->len / D;
    const double eps = n->attr[A_LN_EPS];
    gg_real *mean = n->scratch, *rstd = mean + rows;
    const gg_real *gx = gm ? gm->x : NULL, *bx = bt ? bt->x : NULL;
#pragma omp parallel for schedule(static) if (x->len >= GG_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const gg_real *restrict xr = x->x + r * D;
        gg_real *restrict yr = n->out->x + r * D;
        double s = 0, q = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < D; i++) s += (double)xr[i];
        double mu = s / (double)D;
#pragma omp simd reduction(+ : q)
        for (size_t i = 0; i < D; i++) {
            double d = (double)xr[i] - mu;
            q += d * d;
        }
        const gg_real m = (gg_real)mu, rs = (gg_real)(1 / sqrt(q / (double)D + eps));
        mean[r] = m;
        rstd[r] = rs;
        if (gx && bx) {
#pragma omp simd
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * rs * gx[i] + bx[i];
        } else if (gx) {
#pragma omp simd
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * rs * gx[i];
        } else if (bx) {
#pragma omp simd
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * rs + bx[i];
        } else {
#pragma omp simd
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * rs;
        }
    }
}

/* With xhat = (x - mean) rstd and g = dy gamma:
 *   dx = rstd (g - mean(g) - xhat mean(g xhat)),
 *   dgamma = sum over rows of dy xhat, dbeta = sum over rows of dy;
 * the parameter sums run over columns split across threads, so every
 * element is summed in row order whatever the thread count. */
static void ln_backward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    const gg_tensor *gm = opt_in(n, IA_GAMMA), *bt = opt_in(n, IA_BETA);
    const size_t D = ln_width(n), rows = x->len / D;
    const gg_real *mean = n->scratch, *rstd = mean + rows, *dy = n->out->dx;
    const gg_real *gx = gm ? gm->x : NULL;
    gg_real *dx = x->dx, *dg = gm ? gm->dx : NULL, *db = bt ? bt->dx : NULL;
    if (dx) {
#pragma omp parallel for schedule(static) if (x->len >= GG_PAR_MIN)
        for (size_t r = 0; r < rows; r++) {
            const gg_real *restrict xr = x->x + r * D, *restrict dr = dy + r * D;
            gg_real *restrict dxr = dx + r * D;
            const gg_real m = mean[r], rs = rstd[r];
            double s1 = 0, s2 = 0;
            if (gx) {
#pragma omp simd reduction(+ : s1, s2)
                for (size_t i = 0; i < D; i++) {
                    double g = (double)dr[i] * (double)gx[i];
                    s1 += g;
                    s2 += g * ((double)xr[i] - (double)m);
                }
            } else {
#pragma omp simd reduction(+ : s1, s2)
                for (size_t i = 0; i < D; i++) {
                    s1 += (double)dr[i];
                    s2 += (double)dr[i] * ((double)xr[i] - (double)m);
                }
            }
            /* dx = rs g - rs mean(g) - (x - m) rs^3 mean(g (x - m)) */
            const gg_real a = (gg_real)((double)rs * s1 / (double)D);
            const gg_real b = (gg_real)((double)rs * (double)rs * (double)rs * s2 / (double)D);
            if (gx) {
#pragma omp simd
                for (size_t i = 0; i < D; i++)
                    dxr[i] += rs * dr[i] * gx[i] - a - (xr[i] - m) * b;
            } else {
#pragma omp simd
                for (size_t i = 0; i < D; i++) dxr[i] += rs * dr[i] - a - (xr[i] - m) * b;
            }
        }
    }
    if (!dg && !db) return;
#pragma omp parallel if (x->len >= GG_PAR_MIN)
    {
        size_t lo, hi;
        gg_thread_share(D, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (size_t r = 0; r < rows; r++) {
            const gg_real *xr = x->x + r * D, *dr = dy + r * D;
            const gg_real m = mean[r], rs = rstd[r];
            if (dg) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) dg[i] += dr[i] * (xr[i] - m) * rs;
            }
            if (db) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) db[i] += dr[i];
            }
        }
    }
}

static gg_status ln_shape(gg_node *n, gg_error *err) {
    gg_status st = ln_check(n, err);
    return st == GG_OK ? gg_shape_same(n, err) : st;
}

const gg_op_def gg_op_layer_norm = {.name = "layer_norm", .n_in = 3, .shape = ln_shape,
                                    .scratch = ln_scratch, .forward = ln_forward,
                                    .backward = ln_backward};

gg_node *gg_layer_norm(gg_graph *g, gg_node *x, gg_node *gamma, gg_node *beta, int dims,
                       double eps) {
    gg_node *in[3] = {x};
    int gi, bi;
    int n_in = add_optional(in, gamma, beta, &gi, &bi);
    gg_op_attrs a = {0};
    a.iattr[IA_GAMMA] = gi;
    a.iattr[IA_BETA] = bi;
    a.iattr[IA_DIMS] = dims;
    a.attr[A_LN_EPS] = eps;
    return gg_graph_add_op_with(g, &gg_op_layer_norm, n_in, in, &a);
}
