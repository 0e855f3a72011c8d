/* conv2d: nn.Conv2d's cross-correlation on NCHW images.
 * x [N, C, H, W], w [O, C, kh, kw], b [O] or absent -> y [N, O, Ho, Wo],
 * Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 (and so for the width).
 *
 * Each sample is one product: y_n [O, Ho Wo] = W [O, C kh kw] col_n, where
 * col_n [C kh kw, Ho Wo] is the sample unrolled (im2col); a 1x1 kernel
 * with stride 1 and no padding needs no unrolling (col_n = x_n).
 *
 * Threads take the batch a slice at a time: GG_CONV_SLICES contiguous
 * slices (fewer for a small max batch), each run with single-threaded BLAS
 * products one sample at a time. Scratch holds one column buffer per
 * thread (the OpenMP thread count when the node was built; never more
 * threads run it) and one dW/db accumulator per slice, so it does not grow
 * with the batch. Backward adds the slices' accumulators in slice order,
 * so the gradients are the same bytes at any thread count: the slices,
 * not the threads, fix the order of the sums. dx comes from W^T dy_n
 * folded back onto the sample (col2im). */
#include <stddef.h>
#include <string.h>
#include <omp.h>
#include "ops/ops.h"

/* iattr: stride h, w; padding h, w; dilation h, w; column buffers (threads);
 * dW/db accumulators (slices), 0 until the builder has set them all. */
enum { A_SH, A_SW, A_PH, A_PW, A_DH, A_DW, A_THREADS, A_SLICES };

/* Slices of the batch (accumulators of dW and db): enough for 16 threads
 * to share evenly and for 2 or 3 to balance, few enough that summing them
 * is cheap. */
#define GG_CONV_SLICES 16

typedef struct geom {
    int N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
    size_t in_len;  /* C H W */
    size_t out_len; /* O Ho Wo */
    size_t hw;      /* Ho Wo */
    size_t ckk;     /* C kh kw */
    bool direct;    /* 1x1, stride 1, no padding: col_n = x_n */
} geom;

static void get_geom(const gg_node *n, geom *g) {
    const gg_tensor *x = n->in[0], *w = n->in[1], *y = n->out;
    g->N = x->shape[0];
    g->C = x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->O = w->shape[0];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->sh = n->iattr[A_SH];
    g->sw = n->iattr[A_SW];
    g->ph = n->iattr[A_PH];
    g->pw = n->iattr[A_PW];
    g->dh = n->iattr[A_DH];
    g->dw = n->iattr[A_DW];
    g->Ho = y->shape[2];
    g->Wo = y->shape[3];
    g->in_len = (size_t)g->C * (size_t)g->H * (size_t)g->W;
    g->hw = (size_t)g->Ho * (size_t)g->Wo;
    g->out_len = (size_t)g->O * g->hw;
    g->ckk = (size_t)g->C * (size_t)g->kh * (size_t)g->kw;
    g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Scratch: per thread a column buffer, then per slice dW and db, each
 * rounded to 16 elements so every part starts 64-byte aligned. */
static size_t r16(size_t e) { return (e + 15) & ~(size_t)15; }
static size_t col_len(const geom *g) { return g->direct ? 0 : r16(g->ckk * g->hw); }
static size_t acc_len(const geom *g) { return r16((size_t)g->O * g->ckk) + r16((size_t)g->O); }

static gg_status conv2d_shape(gg_node *n, gg_error *err) {
    gg_tensor *y = n->out;
    gg_status st = gg_need_image(n, err);
    if (st != GG_OK) return st;
    const gg_tensor *x = n->in[0], *w = n->in[1];
    char lb[96], sb[64], wb[64];
    if (w->ndim != 4 || w->shape[1] != x->shape[1])
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: weight %s does not fit input %s (needs [filters, %d, kh, kw])",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(w, wb, sizeof wb),
                       gg_shape_text(x, sb, sizeof sb), x->shape[1]);
    if (n->n_in == 3 && (n->in[2]->ndim != 1 || n->in[2]->shape[0] != w->shape[0]))
        return gg_fail(err, GG_ERR_SHAPE, "%s: bias %s, needs [%d]",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(n->in[2], wb, sizeof wb),
                       w->shape[0]);
    int ho, wo;
    if ((st = gg_window_extent(n, err, "height", x->shape[2], w->shape[2], n->iattr[A_SH],
                               n->iattr[A_PH], n->iattr[A_DH], &ho)) != GG_OK ||
        (st = gg_window_extent(n, err, "width", x->shape[3], w->shape[3], n->iattr[A_SW],
                               n->iattr[A_PW], n->iattr[A_DW], &wo)) != GG_OK)
        return st;
    *y = *x;
    y->shape[1] = w->shape[0];
    y->shape[2] = ho;
    y->shape[3] = wo;
    size_t per = (size_t)w->shape[0] * (size_t)ho * (size_t)wo;
    gg_tensor_sized(y, per);
    return GG_OK;
}

static size_t conv2d_scratch(const gg_node *n) {
    geom g;
    get_geom(n, &g);
    return (size_t)n->iattr[A_THREADS] * col_len(&g) + (size_t)n->iattr[A_SLICES] * acc_len(&g);
}

/* With stride 1 and an output as wide as the input ("same" padding in
 * width), column row (c, ki, kj) is the plane x[c] shifted by
 * ih0 W + iw0 (ih0 = ki dh - ph, iw0 = kj dw - pw) in flat order: one
 * block copy, then the rows reading padding and the columns that wrapped
 * around zeroed. Rows [lo, hi) of the output read inside the plane, and
 * flat [a, b) is the block. */
typedef struct shift_rows {
    int lo, hi, iw0;
    ptrdiff_t shift;
    size_t a, b;
} shift_rows;

static bool shifted(const geom *g) { return g->sh == 1 && g->sw == 1 && g->Wo == g->W; }

static shift_rows shift_for(const geom *g, int ki, int kj) {
    shift_rows s;
    int ih0 = ki * g->dh - g->ph;
    s.iw0 = kj * g->dw - g->pw;
    s.lo = ih0 < 0 ? -ih0 : 0;
    s.hi = g->H - ih0 < g->Ho ? g->H - ih0 : g->Ho;
    if (s.hi < s.lo) s.hi = s.lo;
    s.shift = (ptrdiff_t)ih0 * g->W + s.iw0;
    s.a = (size_t)s.lo * g->W + (size_t)(s.iw0 < 0 ? -s.iw0 : 0);
    size_t end = (size_t)s.hi * g->W, cut = (size_t)(s.iw0 > 0 ? s.iw0 : 0);
    s.b = end > cut ? end - cut : 0;
    if (s.b < s.a) s.b = s.a;
    return s;
}

/* Zeroes the columns of rows [lo, hi) of r that wrapped around the plane. */
static void zero_wrapped(const geom *g, const shift_rows *s, gg_real *r) {
    int W = g->W;
    int j0 = s->iw0 < 0 ? 0 : W - s->iw0, j1 = s->iw0 < 0 ? -s->iw0 : W;
    if (j0 < 0) j0 = 0;
    if (j1 > W) j1 = W;
    if (s->iw0 == 0 || j0 >= j1) return;
    /* columns outside, rows inside: strided stores (row by row, the
     * compiler makes each run of one or two a memset call) */
    for (int j = j0; j < j1; j++)
        for (int oh = s->lo; oh < s->hi; oh++) r[(size_t)oh * W + j] = 0;
}

/* col [C kh kw, Ho Wo] from one sample x [C, H, W]; zeros where the window
 * reads padding. */
static void im2col(const geom *g, const gg_real *restrict x, gg_real *restrict col) {
    size_t row = 0;
    for (int c = 0; c < g->C; c++) {
        const gg_real *xc = x + (size_t)c * g->H * g->W;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++, row++) {
                gg_real *r = col + row * g->hw;
                if (shifted(g)) {
                    shift_rows s = shift_for(g, ki, kj);
                    memset(r, 0, s.a * sizeof *r);
                    if (s.b > s.a)
                        memcpy(r + s.a, xc + ((ptrdiff_t)s.a + s.shift), (s.b - s.a) * sizeof *r);
                    memset(r + s.b, 0, (g->hw - s.b) * sizeof *r);
                    zero_wrapped(g, &s, r);
                    continue;
                }
                /* Columns ow in [lo, hi) read inside the row: iw = ow sw + off. */
                int off = kj * g->dw - g->pw;
                int lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
                int hi = g->W - 1 - off >= 0 ? (g->W - 1 - off) / g->sw + 1 : 0;
                if (hi > g->Wo) hi = g->Wo;
                if (lo > hi) lo = hi;
                for (int oh = 0; oh < g->Ho; oh++, r += g->Wo) {
                    int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->H) {
                        memset(r, 0, (size_t)g->Wo * sizeof *r);
                        continue;
                    }
                    for (int ow = 0; ow < lo; ow++) r[ow] = 0;
                    for (int ow = hi; ow < g->Wo; ow++) r[ow] = 0;
                    if (hi == lo) continue;
                    /* xr: the input of column lo (iw >= 0 there) */
                    const gg_real *xr = xc + ((ptrdiff_t)ih * g->W + (ptrdiff_t)lo * g->sw + off);
                    if (g->sw == 1)
                        memcpy(r + lo, xr, (size_t)(hi - lo) * sizeof *r);
                    else
                        for (int k = 0; k < hi - lo; k++) r[lo + k] = xr[k * g->sw];
                }
            }
    }
}

/* dx [C, H, W] += the columns folded back onto the sample (col2im). The
 * shifted path first zeroes the wrapped columns of col (scratch), so one
 * vector loop adds each row's block. */
static void col2im_add(const geom *g, gg_real *restrict col, gg_real *restrict dx) {
    size_t row = 0;
    for (int c = 0; c < g->C; c++) {
        gg_real *dc = dx + (size_t)c * g->H * g->W;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++, row++) {
                gg_real *r = col + row * g->hw;
                if (shifted(g)) {
                    shift_rows s = shift_for(g, ki, kj);
                    if (s.b == s.a) continue;
                    zero_wrapped(g, &s, r);
                    gg_real *d = dc + ((ptrdiff_t)s.a + s.shift);
                    const gg_real *src = r + s.a;
                    size_t len = s.b - s.a;
#pragma omp simd
                    for (size_t k = 0; k < len; k++) d[k] += src[k];
                    continue;
                }
                int off = kj * g->dw - g->pw;
                int lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
                int hi = g->W - 1 - off >= 0 ? (g->W - 1 - off) / g->sw + 1 : 0;
                if (hi > g->Wo) hi = g->Wo;
                if (lo > hi) lo = hi;
                for (int oh = 0; oh < g->Ho; oh++, r += g->Wo) {
                    int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->H || hi == lo) continue;
                    gg_real *dr = dc + ((ptrdiff_t)ih * g->W + (ptrdiff_t)lo * g->sw + off);
                    const gg_real *src = r + lo;
                    if (g->sw == 1) {
#pragma omp simd
                        for (int k = 0; k < hi - lo; k++) dr[k] += src[k];
                    } else {
                        for (int k = 0; k < hi - lo; k++) dr[k * g->sw] += src[k];
                    }
                }
            }
    }
}

/* Threads to run the slices with: never more than the column buffers in
 * scratch, nor than the pool offers now, nor than the slices. */
static int team_for(const gg_node *n, int S) {
    int t = omp_get_max_threads();
    if (t > n->iattr[A_THREADS]) t = n->iattr[A_THREADS];
    return t < S ? t : S;
}

/* Samples [n0, n1) of slice s of S over a batch of N. */
static void slice_range(int s, int S, int N, int *n0, int *n1) {
    *n0 = (int)((long)s * N / S);
    *n1 = (int)((long)(s + 1) * N / S);
}

static void conv2d_forward(gg_node *n) {
    geom g;
    get_geom(n, &g);
    const gg_real *x = n->in[0]->x, *w = n->in[1]->x;
    const gg_real *b = n->n_in == 3 ? n->in[2]->x : NULL;
    gg_real *y = n->out->x;
    int S = n->iattr[A_SLICES] < g.N ? n->iattr[A_SLICES] : g.N;
    size_t cl = col_len(&g);
#pragma omp parallel for schedule(dynamic, 1) num_threads(team_for(n, S)) if (S > 1)
    for (int s = 0; s < S; s++) {
        gg_real *col = n->scratch + (size_t)omp_get_thread_num() * cl;
        int n0, n1;
        slice_range(s, S, g.N, &n0, &n1);
        for (int i = n0; i < n1; i++) {
            const gg_real *xi = x + (size_t)i * g.in_len;
            gg_real *yi = y + (size_t)i * g.out_len;
            const gg_real *B = xi;
            if (!g.direct) {
                im2col(&g, xi, col);
                B = col;
            }
            gg_real beta = 0;
            if (b) {
                for (int o = 0; o < g.O; o++) {
                    gg_real *yo = yi + (size_t)o * g.hw, bo = b[o];
#pragma omp simd
                    for (size_t k = 0; k < g.hw; k++) yo[k] = bo;
                }
                beta = 1;
            }
            gg_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.O, (int)g.hw, (int)g.ckk, 1, w,
                    (int)g.ckk, B, (int)g.hw, beta, yi, (int)g.hw);
        }
    }
}

static void conv2d_backward(gg_node *n) {
    geom g;
    get_geom(n, &g);
    const gg_real *x = n->in[0]->x, *w = n->in[1]->x, *dy = n->out->dx;
    gg_real *dx = n->in[0]->dx, *dw = n->in[1]->dx;
    gg_real *db = n->n_in == 3 ? n->in[2]->dx : NULL;
    int S = n->iattr[A_SLICES] < g.N ? n->iattr[A_SLICES] : g.N;
    size_t cl = col_len(&g), al = acc_len(&g), wl = (size_t)g.O * g.ckk, wl16 = r16(wl);
    gg_real *acc = n->scratch + (size_t)n->iattr[A_THREADS] * cl;
#pragma omp parallel for schedule(dynamic, 1) num_threads(team_for(n, S)) if (S > 1)
    for (int s = 0; s < S; s++) {
        gg_real *col = n->scratch + (size_t)omp_get_thread_num() * cl;
        gg_real *dws = acc + (size_t)s * al, *dbs = dws + wl16;
        if (dw) memset(dws, 0, wl * sizeof *dws);
        if (db) memset(dbs, 0, (size_t)g.O * sizeof *dbs);
        int n0, n1;
        slice_range(s, S, g.N, &n0, &n1);
        for (int i = n0; i < n1; i++) {
            const gg_real *xi = x + (size_t)i * g.in_len, *dyi = dy + (size_t)i * g.out_len;
            if (dw) {
                /* dW += dy_n [O, Ho Wo] col_n^T [Ho Wo, C kh kw] */
                const gg_real *B = xi;
                if (!g.direct) {
                    im2col(&g, xi, col);
                    B = col;
                }
                gg_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.O, (int)g.ckk, (int)g.hw, 1,
                        dyi, (int)g.hw, B, (int)g.hw, 1, dws, (int)g.ckk);
            }
            if (db)
                for (int o = 0; o < g.O; o++) {
                    const gg_real *d = dyi + (size_t)o * g.hw;
                    gg_real sum = 0;
#pragma omp simd reduction(+ : sum)
                    for (size_t k = 0; k < g.hw; k++) sum += d[k];
                    dbs[o] += sum;
                }
            if (dx) {
                /* dcol [C kh kw, Ho Wo] = W^T dy_n, folded back onto dx_n. */
                gg_real *dxi = dx + (size_t)i * g.in_len;
                if (g.direct) {
                    gg_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.ckk, (int)g.hw, g.O,
                            1, w, (int)g.ckk, dyi, (int)g.hw, 1, dxi, (int)g.hw);
                } else {
                    gg_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.ckk, (int)g.hw, g.O,
                            1, w, (int)g.ckk, dyi, (int)g.hw, 0, col, (int)g.hw);
                    col2im_add(&g, col, dxi);
                }
            }
        }
    }
    /* The slices' sums, in slice order. */
    for (int s = 0; s < S; s++) {
        const gg_real *dws = acc + (size_t)s * al, *dbs = dws + wl16;
        if (dw) {
#pragma omp simd
            for (size_t k = 0; k < wl; k++) dw[k] += dws[k];
        }
        if (db)
            for (int o = 0; o < g.O; o++) db[o] += dbs[o];
    }
}

const gg_op_def gg_op_conv2d = {.name = "conv2d", .n_in = 3, .shape = conv2d_shape,
                                .scratch = conv2d_scratch, .forward = conv2d_forward,
                                .backward = conv2d_backward};

gg_node *gg_conv2d(gg_graph *g, gg_node *x, gg_node *w, gg_node *b, const int stride[2],
                   const int pad[2], const int dilation[2]) {
    if (!g || g->status) return NULL;
    int st[2] = {1, 1}, pd[2] = {0, 0}, dl[2] = {1, 1};
    if (stride) memcpy(st, stride, sizeof st);
    if (pad) memcpy(pd, pad, sizeof pd);
    if (dilation) memcpy(dl, dilation, sizeof dl);
    if (st[0] < 1 || st[1] < 1 || pd[0] < 0 || pd[1] < 0 || dl[0] < 1 || dl[1] < 1) {
        gg_graph_set_error(g, GG_ERR_ARG,
                           "conv2d: stride [%d, %d], padding [%d, %d], dilation [%d, %d]: "
                           "strides and dilations must be >= 1, paddings >= 0",
                           st[0], st[1], pd[0], pd[1], dl[0], dl[1]);
        return NULL;
    }
    if (!x) return gg_graph_add_op(g, &gg_op_conv2d, 1, &x); /* reports the missing input */
    gg_op_attrs a = {0};
    a.iattr[A_SH] = st[0];
    a.iattr[A_SW] = st[1];
    a.iattr[A_PH] = pd[0];
    a.iattr[A_PW] = pd[1];
    a.iattr[A_DH] = dl[0];
    a.iattr[A_DW] = dl[1];
    /* The max batch, or the first dimension of an unbatched input. */
    int batch = x->out->shape[0] > 0 ? x->out->shape[0] : 1;
    int threads = omp_get_max_threads();
    a.iattr[A_THREADS] = threads < 1 ? 1 : (threads > batch ? batch : threads);
    a.iattr[A_SLICES] = batch < GG_CONV_SLICES ? batch : GG_CONV_SLICES;
    gg_node *in[3] = {x, w, b};
    return gg_graph_add_op_with(g, &gg_op_conv2d, b ? 3 : 2, in, &a);
}
