/* Losses: scalar means, as PyTorch's reduction='mean' (over every element
 * for MSE and BCE, over the batch for cross-entropy). Sums run in double,
 * serially, so the loss is the same bit for bit at any thread count. */
#include <math.h>
#include "ops/ops.h"

static gg_status loss_shape(gg_node *n, gg_error *err, bool labels) {
    const gg_tensor *p = n->in[0], *t = n->in[1];
    char lb[96], sp[64], st[64];
    /* Rows are the batch when batched, the first dimension otherwise. */
    size_t rows = (size_t)p->shape[0], trows = (size_t)t->shape[0];
    size_t pw = p->len / rows, tw = t->len / trows;
    bool ok = p->batched == t->batched && rows == trows &&
              (labels ? (p->ndim == 2 && tw == 1) : pw == tw);
    if (!ok)
        return gg_fail(err, GG_ERR_SHAPE, "%s: prediction %s does not fit target %s%s",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(p, sp, sizeof sp),
                       gg_shape_text(t, st, sizeof st),
                       labels ? " (expected [classes] and a [1] class index)" : "");
    return gg_shape_scalar(n, err);
}
static gg_status elementwise_loss_shape(gg_node *n, gg_error *err) { return loss_shape(n, err, false); }
static gg_status label_loss_shape(gg_node *n, gg_error *err) { return loss_shape(n, err, true); }

/* mse: mean (p - t)^2; dp = 2 (p - t) / count. */
static void mse_loss_forward(gg_node *n) {
    const gg_real *p = n->in[0]->x, *t = n->in[1]->x;
    size_t len = n->in[0]->len;
    double s = 0;
    for (size_t i = 0; i < len; i++) {
        double d = (double)p[i] - t[i];
        s += d * d;
    }
    n->out->x[0] = (gg_real)(s / (double)len);
}
static void mse_loss_backward(gg_node *n) {
    const gg_real *p = n->in[0]->x, *t = n->in[1]->x;
    gg_real *dp = n->in[0]->dx;
    size_t len = n->in[0]->len;
    gg_real k = (gg_real)(2.0 * n->out->dx[0] / (double)len);
    for (size_t i = 0; i < len; i++) dp[i] += k * (p[i] - t[i]);
}

/* bce on probabilities, as torch's BCELoss: logs clamped at -100 and the
 * gradient's denominator p (1 - p) floored at 1e-12. */
static void bce_loss_forward(gg_node *n) {
    const gg_real *p = n->in[0]->x, *t = n->in[1]->x;
    size_t len = n->in[0]->len;
    double s = 0;
    for (size_t i = 0; i < len; i++) {
        double lp = fmax(log((double)p[i]), -100.0), lq = fmax(log1p(-(double)p[i]), -100.0);
        s -= t[i] * lp + (1 - t[i]) * lq;
    }
    n->out->x[0] = (gg_real)(s / (double)len);
}
static void bce_loss_backward(gg_node *n) {
    const gg_real *p = n->in[0]->x, *t = n->in[1]->x;
    gg_real *dp = n->in[0]->dx;
    size_t len = n->in[0]->len;
    double k = n->out->dx[0] / (double)len;
    for (size_t i = 0; i < len; i++) {
        double pi = p[i];
        dp[i] += (gg_real)(k * (pi - t[i]) / fmax(pi * (1 - pi), 1e-12));
    }
}

/* bce on logits: max(z, 0) - z t + log(1 + e^-|z|), stable for any z;
 * dz = sigmoid(z) - t. */
static void bce_logits_loss_forward(gg_node *n) {
    const gg_real *z = n->in[0]->x, *t = n->in[1]->x;
    size_t len = n->in[0]->len;
    double s = 0;
    for (size_t i = 0; i < len; i++) {
        double zi = z[i];
        s += fmax(zi, 0) - zi * t[i] + log1p(exp(-fabs(zi)));
    }
    n->out->x[0] = (gg_real)(s / (double)len);
}
static void bce_logits_loss_backward(gg_node *n) {
    const gg_real *z = n->in[0]->x, *t = n->in[1]->x;
    gg_real *dz = n->in[0]->dx;
    size_t len = n->in[0]->len;
    double k = n->out->dx[0] / (double)len;
    for (size_t i = 0; i < len; i++) {
        double e = exp(-fabs((double)z[i]));
        double sig = z[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
        dz[i] += (gg_real)(k * (sig - t[i]));
    }
}

/* Row-wise log-softmax into probabilities p (scratch); returns log-sum-exp
 * relative terms so the loss needs no second exp. */
static double softmax_row(const gg_real *z, gg_real *p, int C) {
    gg_real m = z[0];
    for (int c = 1; c < C; c++) m = z[c] > m ? z[c] : m;
    double sum = 0;
    for (int c = 0; c < C; c++) sum += exp((double)z[c] - m);
    double lse = m + log(sum);
    for (int c = 0; c < C; c++) p[c] = (gg_real)exp((double)z[c] - lse);
    return lse;
}

/* cross_entropy with class indices: mean over rows of lse(z) - z_y; dz =
 * (softmax(z) - onehot(y)) / N. An index outside [0, C) gives a NaN loss,
 * which the guard reports, rather than reading out of bounds. */
static size_t ce_scratch(const gg_node *n) {
    return n->in[0]->per_sample * (size_t)n->g->max_batch;
}
static void cross_entropy_loss_forward(gg_node *n) {
    const gg_tensor *zt = n->in[0];
    int N = zt->shape[0], C = zt->shape[1];
    const gg_real *t = n->in[1]->x;
    double s = 0;
    for (int i = 0; i < N; i++) {
        const gg_real *z = zt->x + (size_t)i * C;
        double lse = softmax_row(z, n->scratch + (size_t)i * C, C);
        double label = t[i]; /* checked before the cast: a NaN or huge label is undefined as int */
        int y = label >= 0 && label < C && label == floor(label) ? (int)label : -1;
        s += y >= 0 ? lse - z[y] : NAN;
    }
    n->out->x[0] = (gg_real)(s / N);
}
static void cross_entropy_loss_backward(gg_node *n) {
    const gg_tensor *zt = n->in[0];
    int N = zt->shape[0], C = zt->shape[1];
    const gg_real *t = n->in[1]->x;
    gg_real k = (gg_real)(n->out->dx[0] / N);
    for (int i = 0; i < N; i++) {
        const gg_real *p = n->scratch + (size_t)i * C;
        gg_real *dz = zt->dx + (size_t)i * C;
        double label = t[i];
        int y = label >= 0 && label < C ? (int)label : -1;
        for (int c = 0; c < C; c++) dz[c] += k * (p[c] - (c == y ? 1 : 0));
    }
}

/* cross_entropy with probability targets: -sum_c t_c log softmax(z)_c;
 * dz = softmax(z) sum_c t_c - t. */
static void soft_cross_entropy_loss_forward(gg_node *n) {
    const gg_tensor *zt = n->in[0];
    int N = zt->shape[0], C = zt->shape[1];
    const gg_real *t = n->in[1]->x;
    double s = 0;
    for (int i = 0; i < N; i++) {
        const gg_real *z = zt->x + (size_t)i * C, *ti = t + (size_t)i * C;
        double lse = softmax_row(z, n->scratch + (size_t)i * C, C);
        for (int c = 0; c < C; c++) s -= ti[c] * ((double)z[c] - lse);
    }
    n->out->x[0] = (gg_real)(s / N);
}
static void soft_cross_entropy_loss_backward(gg_node *n) {
    const gg_tensor *zt = n->in[0];
    int N = zt->shape[0], C = zt->shape[1];
    const gg_real *t = n->in[1]->x;
    gg_real k = (gg_real)(n->out->dx[0] / N);
    for (int i = 0; i < N; i++) {
        const gg_real *p = n->scratch + (size_t)i * C, *ti = t + (size_t)i * C;
        gg_real *dz = zt->dx + (size_t)i * C;
        gg_real tsum = 0;
        for (int c = 0; c < C; c++) tsum += ti[c];
        for (int c = 0; c < C; c++) dz[c] += k * (p[c] * tsum - ti[c]);
    }
}
static gg_status soft_ce_shape(gg_node *n, gg_error *err) {
    gg_status s = loss_shape(n, err, false);
    if (s == GG_OK && n->in[0]->ndim != 2) {
        char lb[96];
        return gg_fail(err, GG_ERR_SHAPE, "%s: needs [classes] logits",
                       gg_node_label(n, lb, sizeof lb));
    }
    return s;
}

const gg_op_def gg_op_mse_loss = {.name = "mse_loss", .n_in = 2, .shape = elementwise_loss_shape,
                                  .forward = mse_loss_forward, .backward = mse_loss_backward};
const gg_op_def gg_op_bce_loss = {.name = "bce_loss", .n_in = 2, .shape = elementwise_loss_shape,
                                  .forward = bce_loss_forward, .backward = bce_loss_backward};
const gg_op_def gg_op_bce_logits_loss = {
    .name = "bce_logits_loss", .n_in = 2, .shape = elementwise_loss_shape,
    .forward = bce_logits_loss_forward, .backward = bce_logits_loss_backward};
const gg_op_def gg_op_cross_entropy_loss = {
    .name = "cross_entropy_loss", .n_in = 2, .shape = label_loss_shape, .scratch = ce_scratch,
    .forward = cross_entropy_loss_forward, .backward = cross_entropy_loss_backward};
const gg_op_def gg_op_soft_cross_entropy_loss = {
    .name = "soft_cross_entropy_loss", .n_in = 2, .shape = soft_ce_shape, .scratch = ce_scratch,
    .forward = soft_cross_entropy_loss_forward, .backward = soft_cross_entropy_loss_backward};

static gg_node *loss(gg_graph *g, const gg_op_def *op, gg_node *p, gg_node *t) {
    gg_node *in[2] = {p, t};
    return gg_graph_add_op(g, op, 2, in);
}
gg_node *gg_mse_loss(gg_graph *g, gg_node *p, gg_node *t) { return loss(g, &gg_op_mse_loss, p, t); }
gg_node *gg_bce_loss(gg_graph *g, gg_node *p, gg_node *t) { return loss(g, &gg_op_bce_loss, p, t); }
gg_node *gg_bce_logits_loss(gg_graph *g, gg_node *z, gg_node *t) {
    return loss(g, &gg_op_bce_logits_loss, z, t);
}
gg_node *gg_cross_entropy_loss(gg_graph *g, gg_node *z, gg_node *t) {
    return loss(g, &gg_op_cross_entropy_loss, z, t);
}
gg_node *gg_soft_cross_entropy_loss(gg_graph *g, gg_node *z, gg_node *t) {
    return loss(g, &gg_op_soft_cross_entropy_loss, z, t);
}
