/* conv2d and pooling layers over NCHW images. conv2d's weight is
 * [filters, channels, kh, kw] with PyTorch's fans (channels x kh x kw in),
 * its bias takes the weight's fan-in as nn.Conv2d's reset_parameters does. */
#include <stdio.h>
#include "layers/layers.h"

/* A config pair {h, w}: a count of 1 means square. */
static void pair(const int *v, int n, int *out) {
    out[0] = v[0];
    out[1] = n == 2 ? v[1] : v[0];
}

gg_node *gg_layer_conv2d(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                         const char *prefix) {
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim != 4) {
        gg_layer_shape_error(g, x, s, index, prefix,
                             "needs an image [channels, height, width] (set model.input to "
                             "e.g. [1, 28, 28])");
        return NULL;
    }
    int k[2], st[2], pd[2], dl[2];
    pair(s->kernel, s->n_kernel, k);
    pair(s->stride, s->n_stride, st);
    pair(s->padding, s->n_padding, pd);
    pair(s->dilation, s->n_dilation, dl);
    int C = t->shape[1];
    char wname[GG_NAME_LEN], bname[GG_NAME_LEN];
    snprintf(wname, sizeof wname, "%slayers.%d.weight", prefix, index);
    snprintf(bname, sizeof bname, "%slayers.%d.bias", prefix, index);
    int wdims[4] = {s->filters, C, k[0], k[1]};
    int fan_in = C * k[0] * k[1], fan_out = s->filters * k[0] * k[1];
    gg_node *w = gg_param_fan(g, wname, 4, wdims, s->init, gg_layer_init_arg(s->init, s), fan_in,
                              fan_out);
    gg_node *b = NULL;
    if (s->bias)
        b = gg_param_fan(g, bname, 1, &s->filters, s->bias_init,
                         gg_layer_init_arg(s->bias_init, s), fan_in, fan_out);
    if (w) w->layer = index;
    if (b) b->layer = index;
    return gg_conv2d(g, x, w, b, st, pd, dl);
}

gg_node *gg_layer_pool(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                       const char *prefix) {
    if (!x->out->batched || x->out->ndim != 4) {
        gg_layer_shape_error(g, x, s, index, prefix, "needs an image [channels, height, width]");
        return NULL;
    }
    int k[2], st[2], pd[2];
    pair(s->kernel, s->n_kernel, k);
    pair(s->stride, s->n_stride, st);
    pair(s->padding, s->n_padding, pd);
    for (int i = 0; i < 2; i++)
        if (st[i] == 0) st[i] = k[i]; /* PyTorch's default stride: the kernel */
    return s->kind == GG_LAYER_MAX_POOL ? gg_max_pool2d(g, x, k, st, pd)
                                        : gg_avg_pool2d(g, x, k, st, pd);
}
