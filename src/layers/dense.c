/* dense: W [units, in] and b [units], y = x W^T + b. The bias takes the
 * weight's fan-in, as nn.Linear's reset_parameters does. */
#include <stdio.h>
#include "layers/layers.h"

gg_node *gg_layer_dense(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix) {
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim != 2) {
        gg_layer_shape_error(g, x, s, index, prefix,
                             t->ndim == 3 ? "needs a flat [features] input (add a last layer to "
                                            "take the sequence's last step, or flatten)"
                                          : "needs a flat [features] input (add a flatten layer)");
        return NULL;
    }
    int in = t->shape[1];
    char wname[GG_NAME_LEN], bname[GG_NAME_LEN];
    snprintf(wname, sizeof wname, "%slayers.%d.weight", prefix, index);
    snprintf(bname, sizeof bname, "%slayers.%d.bias", prefix, index);
    int wdims[2] = {s->units, in};
    gg_node *w = gg_param_fan(g, wname, 2, wdims, s->init, gg_layer_init_arg(s->init, s), in,
                              s->units);
    gg_node *b = NULL;
    if (s->bias)
        b = gg_param_fan(g, bname, 1, &s->units, s->bias_init,
                         gg_layer_init_arg(s->bias_init, s), in, s->units);
    if (w) w->layer = index;
    if (b) b->layer = index;
    return gg_linear(g, x, w, b);
}
