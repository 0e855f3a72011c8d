/* PReLU (nn.PReLU): y = x for x > 0, a x otherwise, with a [1] shared by
 * every element or a [C] per channel (dim 1 of x). PyTorch's gradients:
 * dx = dy for x > 0, a dy otherwise; da = sum of x dy where x <= 0.
 *
 * da is a reduction over the batch (and the spatial positions), summed in
 * double in an order that does not depend on the thread count: partial
 * sums over fixed pieces (blocks of BLOCK elements for the shared slope,
 * planes or runs of rows per channel) kept in scratch and added in order. */
#include <omp.h>
#include "ops/ops.h"

#define BLOCK 8192

/* x viewed as [N, C, S]; C = 1 for the shared slope. */
typedef struct prelu_view {
    size_t N, C, S;
} prelu_view;

static prelu_view prelu_dims(const gg_node *n) {
    const gg_tensor *x = n->in[0];
    prelu_view v = {.N = 1, .C = n->in[1]->len, .S = 1};
    if (v.C == 1) {
        v.S = x->len;
        return v;
    }
    v.N = (size_t)x->shape[0];
    for (int i = 2; i < x->ndim; i++) v.S *= (size_t)x->shape[i];
    return v;
}

static gg_status prelu_shape(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0], *a = n->in[1];
    char lb[96], sx[64], sa[64];
    if (a->batched || a->ndim != 1)
        return gg_fail(err, GG_ERR_SHAPE, "%s: slope '%s' has shape %s, expected [1] or [C]",
                       gg_node_label(n, lb, sizeof lb), n->src[1]->name,
                       gg_shape_text(a, sa, sizeof sa));
    if (a->shape[0] > 1 && (x->ndim < 2 || x->shape[1] != a->shape[0]))
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: slope '%s' has shape %s, expected [1] or [C] with C the channels "
                       "(dim 1) of the input %s",
                       gg_node_label(n, lb, sizeof lb), n->src[1]->name,
                       gg_shape_text(a, sa, sizeof sa), gg_shape_text(x, sx, sizeof sx));
    return gg_shape_same(n, err);
}

/* Partial sums of da: a double per block (shared slope), per channel and
 * a gg_real per channel ([N, C]: runs of rows), or per plane ([N, C, S]). */
static size_t prelu_scratch(const gg_node *n) {
    const gg_tensor *x = n->in[0];
    size_t len = x->batched ? x->per_sample * (size_t)n->g->max_batch : x->len;
    size_t C = n->in[1]->len, per = sizeof(double) / sizeof(gg_real);
    size_t N = x->batched ? (size_t)n->g->max_batch : (size_t)x->shape[0];
    if (C == 1) return (len + BLOCK - 1) / BLOCK * per;
    return len / (N * C) == 1 ? C * per + C : N * C * per;
}

static void prelu_forward(gg_node *n) {
    const gg_real *restrict x = n->in[0]->x, *restrict a = n->in[1]->x;
    gg_real *restrict y = n->out->x;
    const prelu_view v = prelu_dims(n);
    size_t len = n->out->len;
    if (v.C == 1) {
        const gg_real s = a[0];
        GG_EACH(len, y[i] = x[i] > 0 ? x[i] : s * x[i]);
    } else if (v.S == 1) {
        const size_t C = v.C;
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
        for (size_t r = 0; r < v.N; r++) {
            const gg_real *restrict xr = x + r * C;
            gg_real *restrict yr = y + r * C;
#pragma omp simd
            for (size_t c = 0; c < C; c++) yr[c] = xr[c] > 0 ? xr[c] : a[c] * xr[c];
        }
    } else {
        const size_t S = v.S, planes = v.N * v.C;
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
        for (size_t p = 0; p < planes; p++) {
            const gg_real s = a[p % v.C];
            const gg_real *restrict xp = x + p * S;
            gg_real *restrict yp = y + p * S;
#pragma omp simd
            for (size_t k = 0; k < S; k++) yp[k] = xp[k] > 0 ? xp[k] : s * xp[k];
        }
    }
}

/* dx += dy where x > 0, a dy elsewhere (if dx); returns the sum of x dy
 * over x <= 0. The sum runs in gg_real vector lanes over RUN elements and
 * in double across runs: GCC does not vectorise a select feeding a double
 * accumulator (a scalar loop with a branch per element, 15 times slower),
 * while RUN-element partial sums keep the float build's error near 1e-6. */
#define RUN 256
static double prelu_run(const gg_real *restrict x, const gg_real *restrict dy,
                        gg_real *restrict dx, gg_real s, size_t n) {
    double total = 0;
    for (size_t lo = 0; lo < n; lo += RUN) {
        size_t hi = lo + RUN < n ? lo + RUN : n;
        gg_real acc = 0;
        if (dx) {
#pragma omp simd reduction(+ : acc)
            for (size_t i = lo; i < hi; i++) {
                gg_real d = dy[i];
                dx[i] += x[i] > 0 ? d : s * d;
                acc += x[i] > 0 ? 0 : x[i] * d;
            }
        } else {
#pragma omp simd reduction(+ : acc)
            for (size_t i = lo; i < hi; i++) acc += x[i] > 0 ? 0 : x[i] * dy[i];
        }
        total += (double)acc;
    }
    return total;
}

static void prelu_backward(gg_node *n) {
    const gg_real *restrict x = n->in[0]->x, *restrict a = n->in[1]->x, *restrict dy = n->out->dx;
    gg_real *restrict dx = n->in[0]->dx, *restrict da = n->in[1]->dx;
    const prelu_view v = prelu_dims(n);
    size_t len = n->out->len;
    double *part = (double *)(void *)n->scratch;
    if (!dx && !da) return;
    if (v.C == 1) {
        const size_t blocks = (len + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
        for (size_t b = 0; b < blocks; b++) {
            size_t lo = b * BLOCK, hi = lo + BLOCK < len ? lo + BLOCK : len;
            part[b] = prelu_run(x + lo, dy + lo, dx ? dx + lo : NULL, a[0], hi - lo);
        }
        if (da) {
            double sum = 0;
            for (size_t b = 0; b < blocks; b++) sum += part[b];
            da[0] += (gg_real)sum;
        }
    } else if (v.S == 1) {
        /* [N, C]: threads take blocks of channels and sweep the rows,
         * summing RUN rows at a time in gg_real (col), then in double. */
        const size_t C = v.C;
        gg_real *col = (gg_real *)(void *)(part + C);
#pragma omp parallel if (len >= GG_PAR_MIN)
        {
            size_t lo, hi;
            gg_thread_share(C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            for (size_t c = lo; c < hi; c++) part[c] = 0;
            for (size_t r0 = 0; r0 < v.N; r0 += RUN) {
                size_t r1 = r0 + RUN < v.N ? r0 + RUN : v.N;
                for (size_t c = lo; c < hi; c++) col[c] = 0;
                for (size_t r = r0; r < r1; r++) {
                    const gg_real *restrict xr = x + r * C, *restrict dr = dy + r * C;
                    if (dx) {
                        gg_real *restrict dxr = dx + r * C;
#pragma omp simd
                        for (size_t c = lo; c < hi; c++)
                            dxr[c] += xr[c] > 0 ? dr[c] : a[c] * dr[c];
                    }
                    if (da) {
#pragma omp simd
                        for (size_t c = lo; c < hi; c++) col[c] += xr[c] > 0 ? 0 : xr[c] * dr[c];
                    }
                }
                for (size_t c = lo; c < hi; c++) part[c] += (double)col[c];
            }
            if (da)
                for (size_t c = lo; c < hi; c++) da[c] += (gg_real)part[c];
        }
    } else {
        /* Planes in memory order, each plane's sum kept (scratch); then each
         * channel adds its planes in sample order. */
        const size_t S = v.S, C = v.C, planes = v.N * v.C;
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
        for (size_t p = 0; p < planes; p++)
            part[p] = prelu_run(x + p * S, dy + p * S, dx ? dx + p * S : NULL, a[p % C], S);
        if (da)
            for (size_t c = 0; c < C; c++) {
                double acc = 0;
                for (size_t r = 0; r < v.N; r++) acc += part[r * C + c];
                da[c] += (gg_real)acc;
            }
    }
}

const gg_op_def gg_op_prelu = {.name = "prelu", .n_in = 2, .shape = prelu_shape,
                               .scratch = prelu_scratch, .forward = prelu_forward,
                               .backward = prelu_backward};

gg_node *gg_prelu(gg_graph *g, gg_node *x, gg_node *a) {
    gg_node *in[2] = {x, a};
    return gg_graph_add_op(g, &gg_op_prelu, 2, in);
}
