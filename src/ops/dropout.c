/* Inverted dropout (nn.Dropout): in training every element is kept with
 * probability 1 - p and scaled by 1 / (1 - p), else zeroed; in evaluation
 * (and for p = 0) the op is the identity. attr[0] = p.
 *
 * The mask comes from the graph's seeded generator, drawn serially so a
 * seed gives the same masks whatever the thread count: each 64-bit draw
 * gives two 32-bit uniforms u, and an element is dropped when u < p 2^32.
 * The mask is kept in scratch as multipliers (0 or 1 / (1 - p)) for the
 * backward, dx += dy mask. */
#include <math.h>
#include <string.h>
#include "ops/ops.h"

static size_t dropout_scratch(const gg_node *n) {
    const gg_tensor *t = n->out;
    if (!(n->attr[0] > 0)) return 0; /* p = 0: never masks */
    return t->batched ? t->per_sample * (size_t)n->g->max_batch : t->len;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static bool dropout_active(const gg_node *n) { return n->g->training && n->attr[0] > 0; }

static void dropout_forward(gg_node *n) {
    const gg_real *restrict x = n->in[0]->x;
    gg_real *restrict y = n->out->x, *restrict mask = n->scratch;
    size_t len = n->out->len;
    if (!dropout_active(n)) {
        memcpy(y, x, len * sizeof *y);
        return;
    }
    double p = n->attr[0];
    /* p < 1, so the threshold fits in 32 bits: p 2^32 <= 2^32 - 2^-21 2^32. */
    double t = floor(p * 4294967296.0 + 0.5);
    const uint64_t thr = t > 4294967295.0 ? 4294967295u : (uint64_t)t;
    const gg_real keep = (gg_real)(1 / (1 - p));
    /* gg_rng_next (xoshiro256**) inlined on a copy of the state (the call
     * per draw cost more than the rest of the op): the same stream, ceil(len
     * / 2) draws per forward. The draws of a chunk go to a stack buffer
     * first, serially; the comparisons then run as a vector loop (a select
     * per element in the draw loop compiles to branches that mispredict). */
    uint64_t s0 = n->g->rng.s[0], s1 = n->g->rng.s[1], s2 = n->g->rng.s[2], s3 = n->g->rng.s[3];
    enum { CHUNK = 2048 };
    uint32_t u[CHUNK];
    for (size_t lo = 0; lo < len; lo += CHUNK) {
        size_t m = len - lo < CHUNK ? len - lo : CHUNK;
        for (size_t i = 0; i < m; i += 2) {
            uint64_t r = rotl(s1 * 5, 7) * 9, t1 = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t1;
            s3 = rotl(s3, 45);
            u[i] = (uint32_t)r;
            u[i + 1] = (uint32_t)(r >> 32); /* i + 1 < CHUNK; unused past m */
        }
        const gg_real *restrict xc = x + lo;
        gg_real *restrict yc = y + lo, *restrict mc = mask + lo;
#pragma omp simd
        for (size_t i = 0; i < m; i++) {
            gg_real k = u[i] >= thr ? keep : 0;
            mc[i] = k;
            yc[i] = xc[i] * k;
        }
    }
    n->g->rng.s[0] = s0;
    n->g->rng.s[1] = s1;
    n->g->rng.s[2] = s2;
    n->g->rng.s[3] = s3;
}

static void dropout_backward(gg_node *n) {
    const gg_real *restrict dy = n->out->dx, *restrict mask = n->scratch;
    gg_real *restrict dx = n->in[0]->dx;
    size_t len = n->out->len;
    if (!dx) return;
    if (!dropout_active(n))
        GG_EACH(len, dx[i] += dy[i]);
    else
        GG_EACH(len, dx[i] += dy[i] * mask[i]);
}

static gg_status dropout_shape(gg_node *n, gg_error *err) {
    double p = n->attr[0];
    if (!(p >= 0 && p < 1)) {
        char lb[96];
        return gg_fail(err, GG_ERR_ARG, "%s: dropout probability %g, expected 0 <= p < 1%s",
                       gg_node_label(n, lb, sizeof lb), p,
                       p >= 1 ? " (p = 1 would zero every activation)" : "");
    }
    return gg_shape_same(n, err);
}

const gg_op_def gg_op_dropout = {.name = "dropout", .n_in = 1, .shape = dropout_shape,
                                 .scratch = dropout_scratch, .forward = dropout_forward,
                                 .backward = dropout_backward};

gg_node *gg_dropout(gg_graph *g, gg_node *x, double p) {
    gg_op_attrs a = {.attr = {p}};
    return gg_graph_add_op_with(g, &gg_op_dropout, 1, &x, &a);
}
