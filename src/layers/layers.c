/* The layer dispatcher: one config entry -> ops on the graph. Activation
 * and shape layers are single ops; the rest live in a file of their own. */
#include <stdio.h>
#include "layers/layers.h"

const char *gg_layer_label(const gg_layer_spec *s, int index, const char *prefix, char *buf,
                           size_t cap) {
    snprintf(buf, cap, "%slayers.%d (%s)", prefix, index, gg_layer_kind_name(s->kind));
    return buf;
}

void gg_layer_shape_error(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                          const char *prefix, const char *needs) {
    char lb[160], sb[64];
    gg_graph_set_error(g, GG_ERR_SHAPE, "%s: input shape %s, %s",
                       gg_layer_label(s, index, prefix, lb, sizeof lb),
                       gg_shape_text(x->out, sb, sizeof sb), needs);
}

double gg_layer_init_arg(gg_init init, const gg_layer_spec *s) {
    return init == GG_INIT_UNIFORM || init == GG_INIT_NORMAL ? s->scale : s->gain;
}

gg_node *gg_layer_build(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix) {
    gg_node *y = NULL;
    if (!x) return NULL;
    int first = g->n_nodes, outer = g->cur_layer;
    if (!*prefix) g->cur_layer = index; /* messages name the top-level layer */
    switch (s->kind) {
    case GG_LAYER_DENSE: y = gg_layer_dense(g, x, s, index, prefix); break;
    case GG_LAYER_CONV2D: y = gg_layer_conv2d(g, x, s, index, prefix); break;
    case GG_LAYER_MAX_POOL:
    case GG_LAYER_AVG_POOL: y = gg_layer_pool(g, x, s, index, prefix); break;
    case GG_LAYER_BATCH_NORM: y = gg_layer_batch_norm(g, x, s, index, prefix); break;
    case GG_LAYER_LAYER_NORM: y = gg_layer_layer_norm(g, x, s, index, prefix); break;
    case GG_LAYER_PRELU: y = gg_layer_prelu(g, x, s, index, prefix); break;
    case GG_LAYER_RNN:
    case GG_LAYER_LSTM:
    case GG_LAYER_GRU: y = gg_layer_recurrent(g, x, s, index, prefix); break;
    case GG_LAYER_RESIDUAL: y = gg_layer_residual(g, x, s, index, prefix); break;
    case GG_LAYER_IDENTITY: y = gg_identity(g, x); break;
    case GG_LAYER_SIGMOID: y = gg_sigmoid(g, x); break;
    case GG_LAYER_TANH: y = gg_tanh(g, x); break;
    case GG_LAYER_RELU: y = gg_relu(g, x); break;
    case GG_LAYER_LEAKY_RELU: y = gg_leaky_relu(g, x, s->slope); break;
    case GG_LAYER_ELU: y = gg_elu(g, x, s->alpha); break;
    case GG_LAYER_SOFTMAX: y = gg_softmax(g, x); break;
    case GG_LAYER_DROPOUT: y = gg_dropout(g, x, s->p); break;
    case GG_LAYER_GLOBAL_AVG_POOL:
        if (x->out->ndim != 4) {
            gg_layer_shape_error(g, x, s, index, prefix,
                                 "needs an image [channels, height, width]");
            break;
        }
        y = gg_global_avg_pool(g, x);
        break;
    case GG_LAYER_FLATTEN: y = gg_flatten(g, x); break;
    case GG_LAYER_LAST:
        if (x->out->ndim != 3) {
            gg_layer_shape_error(g, x, s, index, prefix,
                                 "needs a sequence [steps, features] (from a recurrent layer "
                                 "with sequence: true)");
            break;
        }
        y = gg_last_step(g, x);
        break;
    case GG_LAYER_KIND_COUNT: break;
    }
    /* Every node of the layer reports the top-level index in messages. */
    if (y && !*prefix)
        for (int i = first; i < g->n_nodes; i++) g->nodes[i]->layer = index;
    g->cur_layer = outer;
    return y;
}
