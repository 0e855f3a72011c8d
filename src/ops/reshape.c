/* Reshapes that move data: flatten [N, d1, d2, ...] -> [N, d1 d2 ...]
 * (a copy: every node owns its activation in the arena) and last_step
 * [N, T, F] -> [N, F], the row t = T - 1 of each sample. */
#include <string.h>
#include "ops/ops.h"

static gg_status flatten_shape(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    gg_tensor *y = n->out;
    if (x->ndim < 2) {
        char lb[96], sb[64];
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: input %s has no batch dimension to keep; flatten needs [N, ...]",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(x, sb, sizeof sb));
    }
    *y = *x;
    y->ndim = 2;
    for (int i = 2; i < GG_MAX_DIMS; i++) y->shape[i] = 0;
    size_t per = 1;
    for (int i = 1; i < x->ndim; i++) per *= (size_t)x->shape[i];
    y->shape[1] = (int)per;
    y->x = y->dx = NULL;
    return GG_OK;
}

static void flatten_forward(gg_node *n) {
    memcpy(n->out->x, n->in[0]->x, n->out->len * sizeof(gg_real));
}

static void flatten_backward(gg_node *n) {
    gg_real *restrict dx = n->in[0]->dx;
    const gg_real *restrict dy = n->out->dx;
    if (!dx) return;
    size_t len = n->out->len;
    GG_EACH(len, dx[i] += dy[i]);
}

const gg_op_def gg_op_flatten = {.name = "flatten", .n_in = 1, .shape = flatten_shape,
                                 .forward = flatten_forward, .backward = flatten_backward};

gg_node *gg_flatten(gg_graph *g, gg_node *x) { return gg_graph_add_op(g, &gg_op_flatten, 1, &x); }

static gg_status last_step_shape(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    gg_tensor *y = n->out;
    if (x->ndim != 3) {
        char lb[96], sb[64];
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s needs a sequence input [steps, features]; got %s",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(x, sb, sizeof sb));
    }
    *y = *x;
    y->ndim = 2;
    y->shape[1] = x->shape[2];
    y->shape[2] = 0;
    size_t per = (size_t)x->shape[2];
    gg_tensor_sized(y, per);
    return GG_OK;
}

static void last_step_forward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    int N = x->shape[0], T = x->shape[1], F = x->shape[2];
    for (int i = 0; i < N; i++)
        memcpy(n->out->x + (size_t)i * F, x->x + ((size_t)i * T + (size_t)(T - 1)) * F,
               (size_t)F * sizeof(gg_real));
}

static void last_step_backward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    if (!x->dx) return;
    int N = x->shape[0], T = x->shape[1], F = x->shape[2];
    for (int i = 0; i < N; i++) {
        gg_real *restrict dx = x->dx + ((size_t)i * T + (size_t)(T - 1)) * F;
        const gg_real *restrict dy = n->out->dx + (size_t)i * F;
#pragma omp simd
        for (int f = 0; f < F; f++) dx[f] += dy[f];
    }
}

const gg_op_def gg_op_last_step = {.name = "last_step", .n_in = 1, .shape = last_step_shape,
                                   .forward = last_step_forward, .backward = last_step_backward};

gg_node *gg_last_step(gg_graph *g, gg_node *x) {
    return gg_graph_add_op(g, &gg_op_last_step, 1, &x);
}
