/* residual: y = body(x) + x, or body(x) + proj(x) when the body changes the
 * shape: a 1x1 convolution (stride from the spatial ratio) for images, a
 * linear map for flat features, both without bias, named layers.{i}.proj.
 * The body's layers are named layers.{i}.layers.{j}, as a PyTorch module
 * holding an nn.Sequential called `layers` would name them. */
#include <stdio.h>
#include "layers/layers.h"

static bool same_shape(const gg_tensor *a, const gg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 1; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* The stride s with floor((n - 1) / s) + 1 == m, or 0 if none. */
static int stride_for(int n, int m) {
    for (int s = 1; s <= n; s++)
        if ((n - 1) / s + 1 == m) return s;
    return 0;
}

gg_node *gg_layer_residual(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                           const char *prefix) {
    char inner[GG_NAME_LEN], lb[160], sa[64], sb[64];
    snprintf(inner, sizeof inner, "%slayers.%d.", prefix, index);
    gg_node *y = x;
    for (int j = 0; j < s->n_children && y; j++) y = gg_layer_build(g, y, &s->children[j], j, inner);
    if (!y) return NULL;
    const gg_tensor *a = x->out, *b = y->out;
    if (same_shape(a, b)) return gg_add(g, y, x);
    char name[GG_NAME_LEN];
    snprintf(name, sizeof name, "%slayers.%d.proj.weight", prefix, index);
    gg_node *proj = NULL;
    if (a->ndim == 4 && b->ndim == 4) {
        int st[2] = {stride_for(a->shape[2], b->shape[2]), stride_for(a->shape[3], b->shape[3])};
        if (st[0] && st[1]) {
            int dims[4] = {b->shape[1], a->shape[1], 1, 1}, zero[2] = {0, 0}, one[2] = {1, 1};
            gg_node *w = gg_param(g, name, 4, dims, GG_INIT_TORCH_DEFAULT, 0);
            if (w) w->layer = index;
            proj = gg_conv2d(g, x, w, NULL, st, zero, one);
        }
    } else if (a->ndim == 2 && b->ndim == 2) {
        int dims[2] = {b->shape[1], a->shape[1]};
        gg_node *w = gg_param(g, name, 2, dims, GG_INIT_TORCH_DEFAULT, 0);
        if (w) w->layer = index;
        proj = gg_linear(g, x, w, NULL);
    }
    if (!proj) {
        if (g->status == GG_OK)
            gg_graph_set_error(g, GG_ERR_SHAPE,
                               "%s: the block maps %s to %s; a projection exists only from an "
                               "image to an image with no larger planes, or from features to "
                               "features",
                               gg_layer_label(s, index, prefix, lb, sizeof lb),
                               gg_shape_text(a, sa, sizeof sa), gg_shape_text(b, sb, sizeof sb));
        return NULL;
    }
    return gg_add(g, y, proj);
}
