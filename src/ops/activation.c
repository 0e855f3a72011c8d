/* Activations, element-wise except softmax (over the last dimension).
 * Backward reads whichever of input or output gives the derivative most
 * cheaply and exactly: sigmoid and tanh read y, the piecewise ones read x
 * (PyTorch's convention at the kink: ReLU'(0) = 0). */
#include <tgmath.h>
#include "ops/ops.h"


/* sigmoid: y = 1 / (1 + e^-x), written so exp never overflows; dy/dx = y (1 - y). */
static void sigmoid_forward(gg_node *n) {
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x;
    size_t len = n->out->len;
    GG_EACH(len, {
        gg_real e = exp(-fabs(x[i]));
        y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
    });
}
static void sigmoid_backward(gg_node *n) {
    const gg_real *restrict y = n->out->x, *restrict dy = n->out->dx;
    gg_real *restrict dx = n->in[0]->dx;
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += dy[i] * y[i] * (1 - y[i]));
}

/* tanh: dy/dx = 1 - y^2. */
static void tanh_forward(gg_node *n) {
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x;
    size_t len = n->out->len;
    GG_EACH(len, y[i] = tanh(x[i]));
}
static void tanh_backward(gg_node *n) {
    const gg_real *restrict y = n->out->x, *restrict dy = n->out->dx;
    gg_real *restrict dx = n->in[0]->dx;
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += dy[i] * (1 - y[i] * y[i]));
}

/* relu: y = max(x, 0); the gradient is 0 at x = 0, as in PyTorch. */
static void relu_forward(gg_node *n) {
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x;
    size_t len = n->out->len;
    GG_EACH(len, y[i] = x[i] > 0 ? x[i] : 0);
}
static void relu_backward(gg_node *n) {
    const gg_real *restrict y = n->out->x, *restrict dy = n->out->dx;
    gg_real *restrict dx = n->in[0]->dx;
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += y[i] > 0 ? dy[i] : 0);
}

/* leaky_relu: y = x for x > 0, slope x otherwise. attr[0] = slope. */
static void leaky_relu_forward(gg_node *n) {
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x, s = (gg_real)n->attr[0];
    size_t len = n->out->len;
    GG_EACH(len, y[i] = x[i] > 0 ? x[i] : s * x[i]);
}
static void leaky_relu_backward(gg_node *n) {
    const gg_real *x = n->in[0]->x, *dy = n->out->dx;
    gg_real *dx = n->in[0]->dx, s = (gg_real)n->attr[0];
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += x[i] > 0 ? dy[i] : s * dy[i]);
}

/* elu: y = x for x > 0, alpha (e^x - 1) otherwise (expm1 keeps small x exact);
 * dy/dx = y + alpha there. attr[0] = alpha. */
static void elu_forward(gg_node *n) {
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x, a = (gg_real)n->attr[0];
    size_t len = n->out->len;
    GG_EACH(len, y[i] = x[i] > 0 ? x[i] : a * expm1(x[i]));
}
static void elu_backward(gg_node *n) {
    const gg_real *x = n->in[0]->x, *y = n->out->x, *dy = n->out->dx;
    gg_real *dx = n->in[0]->dx, a = (gg_real)n->attr[0];
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += x[i] > 0 ? dy[i] : dy[i] * (y[i] + a));
}

/* softmax over the last dimension: subtract the row max so exp cannot
 * overflow; dx = y (dy - sum(dy y)). */
static void softmax_forward(gg_node *n) {
    const gg_tensor *t = n->in[0];
    int C = t->shape[t->ndim - 1];
    size_t rows = t->len / (size_t)C;
#pragma omp parallel for schedule(static) if (t->len >= GG_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const gg_real *x = t->x + r * C;
        gg_real *y = n->out->x + r * C;
        gg_real m = x[0];
        for (int c = 1; c < C; c++) m = x[c] > m ? x[c] : m;
        double sum = 0;
        for (int c = 0; c < C; c++) sum += (y[c] = exp(x[c] - m));
        gg_real inv = (gg_real)(1 / sum);
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}
static void softmax_backward(gg_node *n) {
    const gg_tensor *t = n->out;
    int C = t->shape[t->ndim - 1];
    size_t rows = t->len / (size_t)C;
#pragma omp parallel for schedule(static) if (t->len >= GG_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const gg_real *y = t->x + r * C, *dy = t->dx + r * C;
        gg_real *dx = n->in[0]->dx + r * C;
        double dot = 0;
        for (int c = 0; c < C; c++) dot += (double)dy[c] * y[c];
        for (int c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - (gg_real)dot);
    }
}

#define ACTIVATION(nm)                                                                    \
    const gg_op_def gg_op_##nm = {.name = #nm, .n_in = 1, .shape = gg_shape_same,        \
                                  .forward = nm##_forward, .backward = nm##_backward};
ACTIVATION(sigmoid)
ACTIVATION(tanh)
ACTIVATION(relu)
ACTIVATION(leaky_relu)
ACTIVATION(elu)
ACTIVATION(softmax)

static gg_node *unary(gg_graph *g, const gg_op_def *op, gg_node *x, double attr) {
    gg_node *n = gg_graph_add_op(g, op, 1, &x);
    if (n) n->attr[0] = attr;
    return n;
}

gg_node *gg_sigmoid(gg_graph *g, gg_node *x) { return unary(g, &gg_op_sigmoid, x, 0); }
gg_node *gg_tanh(gg_graph *g, gg_node *x) { return unary(g, &gg_op_tanh, x, 0); }
gg_node *gg_relu(gg_graph *g, gg_node *x) { return unary(g, &gg_op_relu, x, 0); }
gg_node *gg_leaky_relu(gg_graph *g, gg_node *x, double slope) {
    return unary(g, &gg_op_leaky_relu, x, slope);
}
gg_node *gg_elu(gg_graph *g, gg_node *x, double alpha) { return unary(g, &gg_op_elu, x, alpha); }
gg_node *gg_softmax(gg_graph *g, gg_node *x) { return unary(g, &gg_op_softmax, x, 0); }
