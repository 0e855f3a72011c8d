/* linear: y = x W^T + b, the dense layer's product, through BLAS.
 * x [N, D], W [U, D] (PyTorch's layout), b [U] or absent -> y [N, U]. */
#include <string.h>
#include "ops/ops.h"

static gg_status linear_shape(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0], *w = n->in[1];
    char lb[96], sb[64];
    if (!x->batched || x->ndim != 2)
        return gg_fail(err, GG_ERR_SHAPE, "%s: input shape %s, needs a flat [features] input",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(x, sb, sizeof sb));
    if (w->ndim != 2 || w->shape[1] != x->shape[1])
        return gg_fail(err, GG_ERR_SHAPE, "%s: input has %d features, weight expects %d",
                       gg_node_label(n, lb, sizeof lb), x->shape[1],
                       w->ndim == 2 ? w->shape[1] : -1);
    if (n->n_in == 3 && (n->in[2]->ndim != 1 || n->in[2]->shape[0] != w->shape[0]))
        return gg_fail(err, GG_ERR_SHAPE, "%s: bias has %d elements, expected %d",
                       gg_node_label(n, lb, sizeof lb), n->in[2]->shape[0], w->shape[0]);
    gg_tensor *y = n->out;
    *y = *x;
    y->shape[1] = w->shape[0];
    y->per_sample = (size_t)w->shape[0];
    y->len = y->per_sample * (size_t)y->shape[0];
    y->x = y->dx = NULL;
    return GG_OK;
}

static void linear_forward(gg_node *n) {
    const gg_tensor *x = n->in[0], *w = n->in[1];
    gg_tensor *y = n->out;
    int N = x->shape[0], D = x->shape[1], U = w->shape[0];
    gg_real beta = 0;
    if (n->n_in == 3) {
        /* Bias first, then accumulate the product onto it (beta = 1). */
        const gg_real *b = n->in[2]->x;
        for (int i = 0; i < N; i++) memcpy(y->x + (size_t)i * U, b, (size_t)U * sizeof *b);
        beta = 1;
    }
    gg_matmul(false, true, N, U, D, 1, x->x, D, w->x, D, beta, y->x, U);
}

static void linear_backward(gg_node *n) {
    const gg_tensor *x = n->in[0], *w = n->in[1], *y = n->out;
    int N = x->shape[0], D = x->shape[1], U = w->shape[0];
    /* dx [N, D] += dy [N, U] W [U, D] */
    if (x->dx)
        gg_matmul(false, false, N, D, U, 1, y->dx, U, w->x, D, 1, x->dx, D);
    /* dW [U, D] += dy^T [U, N] x [N, D] */
    if (w->dx)
        gg_matmul(true, false, U, D, N, 1, y->dx, U, x->x, D, 1, w->dx, D);
    if (n->n_in == 3 && n->in[2]->dx) {
        gg_real *db = n->in[2]->dx;
        for (int i = 0; i < N; i++) {
            const gg_real *dy = y->dx + (size_t)i * U;
#pragma omp simd
            for (int u = 0; u < U; u++) db[u] += dy[u];
        }
    }
}

const gg_op_def gg_op_linear = {.name = "linear", .n_in = 3, .shape = linear_shape,
                                .forward = linear_forward, .backward = linear_backward};

gg_node *gg_linear(gg_graph *g, gg_node *x, gg_node *w, gg_node *b) {
    gg_node *in[3] = {x, w, b};
    return gg_graph_add_op(g, &gg_op_linear, b ? 3 : 2, in);
}
