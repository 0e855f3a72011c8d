/* Element-wise ops that are not activations: add (residual sums) and
 * identity. Shapes must match exactly; no broadcasting. */
#include <string.h>
#include "ops/ops.h"

static gg_status add_shape(gg_node *n, gg_error *err) {
    const gg_tensor *a = n->in[0], *b = n->in[1];
    bool same = a->ndim == b->ndim && a->batched == b->batched;
    for (int i = a->batched ? 1 : 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (!same) {
        char lb[96], sa[64], sb[64];
        return gg_fail(err, GG_ERR_SHAPE, "%s: cannot add shapes %s and %s",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(a, sa, sizeof sa),
                       gg_shape_text(b, sb, sizeof sb));
    }
    return gg_shape_same(n, err);
}

static void add_forward(gg_node *n) {
    const gg_real *restrict a = n->in[0]->x, *restrict b = n->in[1]->x;
    gg_real *restrict y = n->out->x;
    size_t len = n->out->len;
    GG_EACH(len, y[i] = a[i] + b[i]);
}

static void add_backward(gg_node *n) {
    const gg_real *dy = n->out->dx;
    size_t len = n->out->len;
    for (int k = 0; k < 2; k++) {
        gg_real *dx = n->in[k]->dx;
        if (!dx) continue;
        GG_EACH(len, dx[i] += dy[i]); /* a + a: dx is read-modify-written, no restrict */
    }
}

const gg_op_def gg_op_add = {.name = "add", .n_in = 2, .shape = add_shape,
                             .forward = add_forward, .backward = add_backward};

static void identity_forward(gg_node *n) {
    memcpy(n->out->x, n->in[0]->x, n->out->len * sizeof(gg_real));
}

static void identity_backward(gg_node *n) {
    const gg_real *restrict dy = n->out->dx;
    gg_real *restrict dx = n->in[0]->dx;
    size_t len = n->out->len;
    if (!dx) return;
    GG_EACH(len, dx[i] += dy[i]);
}

const gg_op_def gg_op_identity = {.name = "identity", .n_in = 1, .shape = gg_shape_same,
                                  .forward = identity_forward, .backward = identity_backward};

gg_node *gg_add(gg_graph *g, gg_node *a, gg_node *b) {
    gg_node *in[2] = {a, b};
    return gg_graph_add_op(g, &gg_op_add, 2, in);
}

gg_node *gg_identity(gg_graph *g, gg_node *x) { return gg_graph_add_op(g, &gg_op_identity, 1, &x); }
