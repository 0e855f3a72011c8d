/* Gradient statistics and clipping over the flat gradient block. Every
 * reduction splits the block into a fixed number of chunks summed in a
 * fixed order, so results do not depend on the thread count. */
#ifndef GG_CLIP_H
#define GG_CLIP_H

#include "graph/graph.h"
#include "optim/optim.h"

typedef struct gg_grad_stats {
    double norm;      /* the p-norm asked for (L2 by default), overflow-safe */
    double max_abs;   /* over finite elements */
    size_t nonfinite; /* NaN or Inf elements */
} gg_grad_stats;

/* p-norm of x[0..len-1]; p = INFINITY gives max |x|. */
void gg_grad_stats_compute(const gg_real *x, size_t len, double p, gg_grad_stats *out);
void gg_scale(gg_real *x, size_t len, gg_real k);

/* Squared L2 norm and max |x| of every segment of x, in one parallel
 * region (each thread a static share of each segment, partials added in
 * thread order). partial holds 2 * threads * seg->n doubles. A segment
 * whose sum is not finite (NaN, Inf or overflow) is redone by
 * gg_grad_stats_compute, which also counts its non-finite elements. */
void gg_grad_stats_segments(const gg_real *x, const gg_segments *seg, double *partial,
                            int max_threads, double *sq, double *max_abs, size_t *nonfinite);

/* torch.nn.utils.clip_grad_norm_: coef = max_norm / (total + 1e-6), clamped
 * to 1. The caller applies it (the optimiser fuses it into its pass). */
double gg_clip_global_coef(double total_norm, double max_norm);
/* Each parameter by its own p-norm; returns the smallest coefficient. */
double gg_clip_per_tensor(gg_graph *g, double max_norm, double p);
/* torch.nn.utils.clip_grad_value_; returns the fraction of elements clipped
 * as 1 - fraction, so 1 means untouched. */
double gg_clip_value(gg_real *x, size_t len, double v);

#endif
