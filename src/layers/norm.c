/* Normalisation layers and PReLU. Batch norm keeps PyTorch's state_dict:
 * weight (1) and bias (0) when affine, and the buffers running_mean (0),
 * running_var (1) and num_batches_tracked (an I64 count). */
#include <stdio.h>
#include "layers/layers.h"

static gg_node *named_param(gg_graph *g, const char *prefix, int index, const char *what, int ndim,
                            const int *dims, gg_init init, double value) {
    char name[GG_NAME_LEN];
    snprintf(name, sizeof name, "%slayers.%d.%s", prefix, index, what);
    gg_node *p = gg_param(g, name, ndim, dims, init, value);
    if (p) p->layer = index;
    return p;
}

gg_node *gg_layer_batch_norm(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                             const char *prefix) {
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim < 2) {
        gg_layer_shape_error(g, x, s, index, prefix, "needs [features] or [channels, ...]");
        return NULL;
    }
    int C = t->shape[1];
    gg_node *w = NULL, *b = NULL;
    if (s->affine) {
        w = named_param(g, prefix, index, "weight", 1, &C, GG_INIT_ONES, 0);
        b = named_param(g, prefix, index, "bias", 1, &C, GG_INIT_ZEROS, 0);
    }
    char name[GG_NAME_LEN];
    int one = 1;
    snprintf(name, sizeof name, "%slayers.%d.running_mean", prefix, index);
    gg_node *mean = gg_buffer(g, name, 1, &C, 0, 0);
    snprintf(name, sizeof name, "%slayers.%d.running_var", prefix, index);
    gg_node *var = gg_buffer(g, name, 1, &C, 1, 0);
    snprintf(name, sizeof name, "%slayers.%d.num_batches_tracked", prefix, index);
    gg_node *count = gg_buffer(g, name, 0, &one, 0, 1);
    if (mean) mean->layer = index;
    if (var) var->layer = index;
    if (count) count->layer = index;
    return gg_batch_norm(g, x, w, b, mean, var, count, s->momentum, s->eps);
}

gg_node *gg_layer_layer_norm(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                             const char *prefix) {
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim - 1 < s->dims) {
        char needs[96];
        snprintf(needs, sizeof needs, "needs at least %d dimensions to normalise over (dims)",
                 s->dims);
        gg_layer_shape_error(g, x, s, index, prefix, needs);
        return NULL;
    }
    const int *dims = t->shape + t->ndim - s->dims;
    gg_node *w = NULL, *b = NULL;
    if (s->affine) {
        w = named_param(g, prefix, index, "weight", s->dims, dims, GG_INIT_ONES, 0);
        b = named_param(g, prefix, index, "bias", s->dims, dims, GG_INIT_ZEROS, 0);
    }
    return gg_layer_norm(g, x, w, b, s->dims, s->eps);
}

gg_node *gg_layer_prelu(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix) {
    const gg_tensor *t = x->out;
    if (s->per_channel && (!t->batched || t->ndim < 2)) {
        gg_layer_shape_error(g, x, s, index, prefix, "per_channel needs [channels, ...]");
        return NULL;
    }
    int n = s->per_channel ? t->shape[1] : 1;
    gg_node *a = named_param(g, prefix, index, "weight", 1, &n, GG_INIT_CONSTANT, s->slope);
    return gg_prelu(g, x, a);
}
