/* Graph construction: builders append nodes in topological order and
 * infer shapes at once; gg_graph_build sizes and allocates every buffer a
 * step needs (one arena, one parameter block, one gradient block), so
 * nothing is allocated while training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "graph/graph.h"

gg_graph *gg_graph_new(int max_batch, uint64_t seed) {
    if (max_batch < 1) return NULL;
    gg_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->max_batch = max_batch;
    g->grad_batch = max_batch;
    g->batch = max_batch;
    g->training = true;
    g->cur_layer = -1;
    gg_rng_seed(&g->rng, seed);
    return g;
}

void gg_graph_free(gg_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i]);
    free(g->nodes);
    free(g->params);
    free(g->buffers);
    free(g->buf);
    free(g->arena);
    free(g->param);
    free(g->grad);
    free(g);
}

void gg_graph_set_error(gg_graph *g, gg_status code, const char *fmt, ...) {
    if (g->status != GG_OK) return;
    g->status = code;
    g->error.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error.msg, sizeof g->error.msg, fmt, ap);
    va_end(ap);
}

/* A dummy node keeps builders chainable after an error. */
static gg_node *new_node(gg_graph *g, gg_node_kind kind, const char *name) {
    if (g->built) {
        gg_graph_set_error(g, GG_ERR_ARG, "cannot add '%s': the graph is already built", name);
        return NULL;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
        gg_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            gg_graph_set_error(g, GG_ERR_NOMEM, "out of memory adding node '%s'", name);
            return NULL;
        }
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    gg_node *n = calloc(1, sizeof *n);
    if (!n) {
        gg_graph_set_error(g, GG_ERR_NOMEM, "out of memory adding node '%s'", name);
        return NULL;
    }
    n->kind = kind;
    n->g = g;
    n->id = g->n_nodes;
    n->layer = -1;
    n->out = &n->value;
    snprintf(n->name, sizeof n->name, "%s", name);
    g->nodes[g->n_nodes++] = n;
    return n;
}

static bool set_dims(gg_graph *g, gg_tensor *t, int ndim, const int *dims, bool batched,
                     const char *name) {
    int total = ndim + (batched ? 1 : 0);
    if (ndim < (batched ? 0 : 1) || total > GG_MAX_DIMS) {
        gg_graph_set_error(g, GG_ERR_SHAPE, "%s: %d dimensions, expected 1 to %d", name, ndim,
                           GG_MAX_DIMS - (batched ? 1 : 0));
        return false;
    }
    t->batched = batched;
    t->ndim = total;
    size_t per = 1;
    int k = 0;
    if (batched) t->shape[k++] = g->max_batch;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1) {
            gg_graph_set_error(g, GG_ERR_SHAPE, "%s: dimension %d is %d, expected >= 1", name,
                               i, dims[i]);
            return false;
        }
        t->shape[k++] = dims[i];
        if (!gg_size_mul(per, (size_t)dims[i], &per) || per > ((size_t)1 << 34)) {
            gg_graph_set_error(g, GG_ERR_SHAPE, "%s: too many elements", name);
            return false;
        }
    }
    t->per_sample = per;
    t->len = batched ? per * (size_t)g->max_batch : per;
    return true;
}

gg_node *gg_input(gg_graph *g, const char *name, int ndim, const int *dims) {
    if (!g || g->status) return NULL;
    gg_node *n = new_node(g, GG_NODE_INPUT, name);
    if (n && !set_dims(g, n->out, ndim, dims, true, name)) return NULL;
    return n;
}

gg_node *gg_param_fan(gg_graph *g, const char *name, int ndim, const int *dims, gg_init init,
                      double gain_or_scale, int fan_in, int fan_out) {
    if (!g || g->status) return NULL;
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i]->name, name) == 0) {
            gg_graph_set_error(g, GG_ERR_ARG, "parameter name '%s' used twice", name);
            return NULL;
        }
    gg_node *n = new_node(g, GG_NODE_PARAM, name);
    if (!n || !set_dims(g, n->out, ndim, dims, false, name)) return NULL;
    gg_node **params = realloc(g->params, (size_t)(g->n_params + 1) * sizeof *params);
    if (!params) {
        gg_graph_set_error(g, GG_ERR_NOMEM, "out of memory adding parameter '%s'", name);
        return NULL;
    }
    g->params = params;
    g->params[g->n_params++] = n;
    n->init = init;
    n->init_gain = gain_or_scale;
    n->fan_in = fan_in;
    n->fan_out = fan_out;
    return n;
}

gg_node *gg_param(gg_graph *g, const char *name, int ndim, const int *dims, gg_init init,
                  double gain_or_scale) {
    /* PyTorch's fans: dim 1 times the receptive field, dim 0 times it. */
    int receptive = 1;
    for (int i = 2; i < ndim; i++) receptive *= dims[i];
    int fan_in = ndim >= 2 ? dims[1] * receptive : (ndim == 1 ? dims[0] : 1);
    int fan_out = ndim >= 1 ? dims[0] * receptive : 1;
    return gg_param_fan(g, name, ndim, dims, init, gain_or_scale, fan_in, fan_out);
}

gg_node *gg_buffer(gg_graph *g, const char *name, int ndim, const int *dims, double fill,
                   int integer) {
    if (!g || g->status) return NULL;
    for (int i = 0; i < g->n_buffers; i++)
        if (strcmp(g->buffers[i]->name, name) == 0) {
            gg_graph_set_error(g, GG_ERR_ARG, "buffer name '%s' used twice", name);
            return NULL;
        }
    gg_node *n = new_node(g, GG_NODE_BUFFER, name);
    static const int one = 1;
    /* ndim 0 is a scalar (num_batches_tracked), one element. */
    if (!n || !set_dims(g, n->out, ndim ? ndim : 1, ndim ? dims : &one, false, name)) return NULL;
    if (ndim == 0) n->out->ndim = 0;
    gg_node **bufs = realloc(g->buffers, (size_t)(g->n_buffers + 1) * sizeof *bufs);
    if (!bufs) {
        gg_graph_set_error(g, GG_ERR_NOMEM, "out of memory adding buffer '%s'", name);
        return NULL;
    }
    g->buffers = bufs;
    g->buffers[g->n_buffers++] = n;
    n->fill = fill;
    n->integer = integer != 0;
    return n;
}

gg_status gg_graph_set_grad_batch(gg_graph *g, int n, gg_error *err) {
    if (g->built) return gg_fail(err, GG_ERR_ARG, "gg_graph_set_grad_batch: the graph is built already");
    if (n < 0 || n > g->max_batch)
        return gg_fail(err, GG_ERR_ARG, "gradient batch %d, expected 0 to the max batch %d", n,
                       g->max_batch);
    g->grad_batch = n;
    return GG_OK;
}

gg_node *gg_graph_add_op(gg_graph *g, const gg_op_def *op, int n_in, gg_node *const *in) {
    return gg_graph_add_op_with(g, op, n_in, in, NULL);
}

gg_node *gg_graph_add_op_with(gg_graph *g, const gg_op_def *op, int n_in, gg_node *const *in,
                              const gg_op_attrs *attrs) {
    if (!g || g->status) return NULL;
    for (int i = 0; i < n_in; i++)
        if (!in[i]) {
            gg_graph_set_error(g, GG_ERR_ARG, "%s: input %d is missing", op->name, i);
            return NULL;
        }
    gg_node *n = new_node(g, GG_NODE_OP, op->name);
    if (!n) return NULL;
    n->op = op;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->src[i] = in[i];
        n->in[i] = in[i]->out;
        if (in[i]->layer >= 0) n->layer = in[i]->layer;
    }
    if (g->cur_layer >= 0) n->layer = g->cur_layer; /* a layer's own ops name it */
    if (attrs) {
        memcpy(n->attr, attrs->attr, sizeof n->attr);
        memcpy(n->iattr, attrs->iattr, sizeof n->iattr);
    }
    gg_error err = {0};
    if (op->shape(n, &err) != GG_OK) {
        gg_graph_set_error(g, err.code, "%s", err.msg);
        return NULL;
    }
    return n;
}

gg_status gg_shape_same(gg_node *n, gg_error *err) {
    (void)err;
    *n->out = *n->in[0];
    n->out->x = n->out->dx = NULL;
    return GG_OK;
}

void gg_tensor_sized(gg_tensor *t, size_t per) {
    t->len = per * (size_t)t->shape[0];
    t->per_sample = t->batched ? per : t->len;
    t->x = t->dx = NULL;
}

gg_status gg_shape_scalar(gg_node *n, gg_error *err) {
    (void)err;
    gg_tensor *t = n->out;
    memset(t, 0, sizeof *t);
    t->ndim = 1;
    t->shape[0] = 1;
    t->per_sample = t->len = 1;
    return GG_OK;
}

const char *gg_node_label(const gg_node *n, char *buf, size_t cap) {
    if (n->layer >= 0)
        snprintf(buf, cap, "layers.%d (%s)", n->layer, n->name);
    else
        snprintf(buf, cap, "%s", n->name);
    return buf;
}

const char *gg_shape_text(const gg_tensor *t, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = t->batched ? 1 : 0; i < t->ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%d", i > (t->batched ? 1 : 0) ? ", " : "",
                              t->shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

static size_t round64(size_t elems) { return (elems + 15) & ~(size_t)15; }

gg_status gg_graph_build(gg_graph *g, gg_error *err) {
    if (!g) return gg_fail(err, GG_ERR_ARG, "gg_graph_build: no graph");
    if (g->status) {
        if (err) *err = g->error;
        return g->status;
    }
    if (g->built) return GG_OK;
    /* Pass 1: sizes. Activations first, then their gradients (one region,
     * zeroed by one memset per step), then op scratch. */
    size_t act = 0, grad = 0, scratch = 0, params = 0, bufs = 0;
    bool *ng = calloc((size_t)g->n_nodes + 1, sizeof *ng);
    if (!ng) return gg_fail(err, GG_ERR_NOMEM, "out of memory building the graph");
    for (int i = 0; i < g->n_nodes; i++) {
        gg_node *n = g->nodes[i];
        bool need = n->kind == GG_NODE_PARAM || n->wants_grad;
        for (int j = 0; j < n->n_in && !need; j++) need = ng[n->src[j]->id];
        ng[i] = need;
        size_t len = n->out->batched ? n->out->per_sample * (size_t)g->max_batch : n->out->len;
        size_t glen = n->out->batched ? n->out->per_sample * (size_t)g->grad_batch : n->out->len;
        if (n->kind == GG_NODE_PARAM) {
            params += round64(len);
            continue;
        }
        if (n->kind == GG_NODE_BUFFER) {
            bufs += round64(len);
            continue;
        }
        act += round64(len);
        if (need && g->grad_batch > 0) grad += round64(glen);
        if (n->op && n->op->scratch) {
            scratch += round64(n->op->scratch(n));
        }
    }
    size_t total = act + grad + scratch;
    g->arena = gg_alloc_aligned(total * sizeof(gg_real), err);
    g->param = gg_alloc_aligned(params * sizeof(gg_real), err);
    g->grad = gg_alloc_aligned(params * sizeof(gg_real), err);
    g->buf = gg_alloc_aligned((bufs ? bufs : 16) * sizeof(gg_real), err);
    if (!g->arena || !g->param || !g->grad || !g->buf) {
        free(ng);
        return gg_fail(err, GG_ERR_NOMEM, "out of memory: the graph needs %zu MiB",
                       (total + 2 * params) * sizeof(gg_real) >> 20);
    }
    g->act_grad = g->arena + act;
    g->act_grad_len = grad;
    g->param_len = params;
    g->buf_len = bufs;
    /* Pass 2: pointers. */
    size_t a = 0, d = 0, s = 0, p = 0, b = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        gg_node *n = g->nodes[i];
        gg_tensor *t = n->out;
        size_t len = t->batched ? t->per_sample * (size_t)g->max_batch : t->len;
        if (n->kind == GG_NODE_PARAM) {
            n->offset = p;
            t->x = g->param + p;
            t->dx = g->grad + p;
            p += round64(len);
            continue;
        }
        if (n->kind == GG_NODE_BUFFER) {
            n->offset = b;
            t->x = g->buf + b;
            t->dx = NULL;
            for (size_t k = 0; k < len; k++) t->x[k] = (gg_real)n->fill;
            b += round64(len);
            continue;
        }
        size_t glen = t->batched ? t->per_sample * (size_t)g->grad_batch : t->len;
        t->x = g->arena + a;
        a += round64(len);
        bool has_grad = ng[i] && g->grad_batch > 0;
        t->dx = has_grad ? g->act_grad + d : NULL;
        if (has_grad) d += round64(glen);
        if (n->op && n->op->scratch) {
            n->scratch = g->arena + act + grad + s;
            s += round64(n->op->scratch(n));
        }
    }
    free(ng);
    g->built = true;
    for (int i = 0; i < g->n_params; i++) gg_init_param(g->params[i], &g->rng);
    return GG_OK;
}

gg_status gg_graph_set_batch(gg_graph *g, int n, gg_error *err) {
    if (n < 1 || n > g->max_batch)
        return gg_fail(err, GG_ERR_ARG, "batch of %d, expected 1 to %d", n, g->max_batch);
    g->batch = n;
    for (int i = 0; i < g->n_nodes; i++) {
        gg_tensor *t = g->nodes[i]->out;
        if (t->batched) {
            t->shape[0] = n;
            t->len = t->per_sample * (size_t)n;
        }
    }
    return GG_OK;
}

void gg_graph_set_training(gg_graph *g, int training) { g->training = training != 0; }

gg_real *gg_node_data(gg_node *n) { return n->out->x; }
gg_real *gg_node_grad(gg_node *n) { return n->out->dx; }
size_t gg_node_len(const gg_node *n) { return n->value.len; }
int gg_node_ndim(const gg_node *n) { return n->value.ndim; }
int gg_node_dim(const gg_node *n, int i) { return i >= 0 && i < n->value.ndim ? n->value.shape[i] : 0; }
const char *gg_node_name(const gg_node *n) { return n->name; }

int gg_graph_param_count(const gg_graph *g) { return g->n_params; }
gg_node *gg_graph_param(gg_graph *g, int i) { return i >= 0 && i < g->n_params ? g->params[i] : NULL; }
gg_node *gg_graph_find_param(gg_graph *g, const char *name) {
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i]->name, name) == 0) return g->params[i];
    return NULL;
}
size_t gg_graph_param_len(const gg_graph *g) { return g->param_len; }
int gg_graph_buffer_count(const gg_graph *g) { return g->n_buffers; }
gg_node *gg_graph_buffer(gg_graph *g, int i) {
    return i >= 0 && i < g->n_buffers ? g->buffers[i] : NULL;
}
gg_real *gg_graph_param_data(gg_graph *g) { return g->param; }
gg_real *gg_graph_param_grad(gg_graph *g) { return g->grad; }

void gg_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(1); /* products are split across the OpenMP pool (ops/gemm.c) */
}

int gg_get_threads(void) { return omp_get_max_threads(); }
