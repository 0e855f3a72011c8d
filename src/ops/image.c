/* Shape checks shared by the image ops (conv2d, the poolings): the input
 * must be an image, and a window must fit the padded input. */
#include <stdio.h>
#include "ops/ops.h"

/* A "[C, H, W]" suggestion for a flat input of f features, or "" if none fits. */
static const char *image_hint(const gg_tensor *x, char *buf, size_t cap) {
    buf[0] = 0;
    if (x->ndim != (x->batched ? 2 : 1)) return buf;
    long f = x->shape[x->ndim - 1];
    for (int c = 1; c <= 3; c += 2) {
        if (f % c) continue;
        long s = 1;
        while ((s + 1) * (s + 1) <= f / c) s++;
        if (s * s == f / c && s > 1) {
            snprintf(buf, cap, " (set model.input to [%d, %ld, %ld])", c, s, s);
            break;
        }
    }
    return buf;
}

gg_status gg_need_image(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0];
    if (x->ndim == 4) return GG_OK;
    char lb[96], sb[64], hint[96];
    return gg_fail(err, GG_ERR_SHAPE, "%s needs an image input [C, H, W]; got %s%s",
                   gg_node_label(n, lb, sizeof lb),
                   gg_shape_text(x, sb, sizeof sb), image_hint(x, hint, sizeof hint));
}

gg_status gg_window_extent(gg_node *n, gg_error *err, const char *axis, int in, int k, int s,
                           int p, int d, int *out) {
    long span = (long)d * (k - 1) + 1, padded = (long)in + 2L * p;
    if (span > padded) {
        char lb[96], sb[64], dil[80] = "";
        if (d > 1) snprintf(dil, sizeof dil, " dilated by %d spans %ld,", d, span);
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: kernel %d%s larger than the padded input %ld in %s (input %s, "
                       "padding %d)",
                       gg_node_label(n, lb, sizeof lb), k, dil, padded, axis,
                       gg_shape_text(n->in[0], sb, sizeof sb), p);
    }
    *out = (int)((padded - span) / s + 1);
    return GG_OK;
}
