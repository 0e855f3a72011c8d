/* The layer dispatcher: one config entry -> ops on the graph. Activation
 * layers are single ops; the rest live in a file of their own. */
#include "layers/layers.h"

gg_node *gg_layer_build(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix) {
    gg_node *y = NULL;
    switch (s->kind) {
    case GG_LAYER_DENSE: return gg_layer_dense(g, x, s, index, prefix);
    case GG_LAYER_IDENTITY: y = gg_identity(g, x); break;
    case GG_LAYER_SIGMOID: y = gg_sigmoid(g, x); break;
    case GG_LAYER_TANH: y = gg_tanh(g, x); break;
    case GG_LAYER_RELU: y = gg_relu(g, x); break;
    case GG_LAYER_LEAKY_RELU: y = gg_leaky_relu(g, x, s->slope); break;
    case GG_LAYER_ELU: y = gg_elu(g, x, s->alpha); break;
    case GG_LAYER_SOFTMAX: y = gg_softmax(g, x); break;
    case GG_LAYER_KIND_COUNT: break;
    }
    if (y) y->layer = index;
    return y;
}
