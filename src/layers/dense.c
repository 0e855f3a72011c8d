/* dense: W [units, in] and b [units], y = x W^T + b. The bias takes the
 * weight's fan-in, as nn.Linear's reset_parameters does. */
#include <stdio.h>
#include "layers/layers.h"

gg_node *gg_layer_dense(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix) {
    if (!x) return NULL;
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim != 2) {
        char sb[64];
        gg_graph_set_error(g, GG_ERR_SHAPE,
                           "%slayers.%d (dense): input shape %s, needs a flat [features] input "
                           "(add a flatten layer, or take the last step of a sequence)",
                           prefix, index, gg_shape_text(t, sb, sizeof sb));
        return NULL;
    }
    int in = t->shape[1];
    char wname[GG_NAME_LEN], bname[GG_NAME_LEN];
    snprintf(wname, sizeof wname, "%slayers.%d.weight", prefix, index);
    snprintf(bname, sizeof bname, "%slayers.%d.bias", prefix, index);
    int wdims[2] = {s->units, in};
    double wg = (s->init == GG_INIT_UNIFORM || s->init == GG_INIT_NORMAL) ? s->scale : s->gain;
    gg_node *w = gg_param_fan(g, wname, 2, wdims, s->init, wg, in, s->units);
    gg_node *b = NULL;
    if (s->bias) {
        double bg = (s->bias_init == GG_INIT_UNIFORM || s->bias_init == GG_INIT_NORMAL) ? s->scale : s->gain;
        b = gg_param_fan(g, bname, 1, &s->units, s->bias_init, bg, in, s->units);
    }
    if (w) w->layer = index;
    if (b) b->layer = index;
    gg_node *y = gg_linear(g, x, w, b);
    if (y) y->layer = index;
    return y;
}
