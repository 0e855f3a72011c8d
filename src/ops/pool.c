/* Pooling over NCHW images, as nn.MaxPool2d / nn.AvgPool2d (no dilation,
 * no ceil mode) and a global average:
 *   max_pool2d: padding reads as -inf; the gradient goes to the first
 *     maximum of each window in scan order (PyTorch's index), NaN wins;
 *   avg_pool2d: padding counts as zeros in the average (count_include_pad);
 *   global_avg_pool: [N, C, H, W] -> [N, C], the mean of each plane.
 * Loops run over the N C planes, split across threads; max pool keeps
 * each output's argmax (an index into its plane) in scratch for backward. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ops/ops.h"

/* iattr: kernel h, w; stride h, w; padding h, w; 1 once set. */
enum { A_KH, A_KW, A_SH, A_SW, A_PH, A_PW };

typedef struct pgeom {
    int planes, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo;
} pgeom;

static void get_pgeom(const gg_node *n, pgeom *g) {
    const gg_tensor *x = n->in[0], *y = n->out;
    g->planes = x->shape[0] * x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->kh = n->iattr[A_KH];
    g->kw = n->iattr[A_KW];
    g->sh = n->iattr[A_SH];
    g->sw = n->iattr[A_SW];
    g->ph = n->iattr[A_PH];
    g->pw = n->iattr[A_PW];
    g->Ho = y->shape[2];
    g->Wo = y->shape[3];
}

/* out = [N, C, ho, wo] (or [N, C] when ho is 0), the batch flag kept. */
static void set_out(gg_node *n, int ho, int wo) {
    const gg_tensor *x = n->in[0];
    gg_tensor *y = n->out;
    *y = *x;
    size_t per = (size_t)x->shape[1];
    if (ho > 0) {
        y->shape[2] = ho;
        y->shape[3] = wo;
        per *= (size_t)ho * (size_t)wo;
    } else {
        y->ndim = 2;
        y->shape[2] = y->shape[3] = 0;
    }
    gg_tensor_sized(y, per);
}

static gg_status pool_shape(gg_node *n, gg_error *err) {
    gg_status st = gg_need_image(n, err);
    if (st != GG_OK) return st;
    const gg_tensor *x = n->in[0];
    int ho, wo;
    if ((st = gg_window_extent(n, err, "height", x->shape[2], n->iattr[A_KH], n->iattr[A_SH],
                               n->iattr[A_PH], 1, &ho)) != GG_OK ||
        (st = gg_window_extent(n, err, "width", x->shape[3], n->iattr[A_KW], n->iattr[A_SW],
                               n->iattr[A_PW], 1, &wo)) != GG_OK)
        return st;
    set_out(n, ho, wo);
    return GG_OK;
}

/* Plane loops go parallel from this many input elements up. */
#define POOL_PAR_MIN 16384

/* ---- max pool ---------------------------------------------------------------- */

/* Outputs at the max batch: max pool keeps an int32 argmax for each. */
static size_t max_outputs(const gg_node *n) {
    const gg_tensor *y = n->out;
    return y->batched ? y->per_sample * (size_t)n->g->max_batch : y->len;
}

static size_t max_pool2d_scratch(const gg_node *n) {
    /* one int32 per output; a real holds one (float) or two (double) */
    return (max_outputs(n) * sizeof(int32_t) + sizeof(gg_real) - 1) / sizeof(gg_real);
}

/* The 2x2, stride 2 window without padding, one output row: inputs rows
 * r0, r1 (r0 at index i0 of the plane). Pairs first (top, bottom), then the
 * two pairs, which gives the scan order's first maximum. Returns nonzero
 * when the row holds a NaN: the caller redoes it with the exact scan.
 *
 * Rows are short (14 and 7 outputs in the benchmark's CNN), too short to
 * fill a vector loop, and the scalar remainder of one mispredicts its
 * selects on random data; with AVX-512 a row is one masked pass of 16. */
#if defined(__AVX512F__) && !defined(GG_FLOAT64)
#include <immintrin.h>
static int max2x2_row(const gg_real *r0, const gg_real *r1, gg_real *yr, int32_t *ar, int Wo,
                      int W, int32_t i0) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i one = _mm512_set1_epi32(1), wv = _mm512_set1_epi32(W);
    __mmask16 bad = 0;
    for (int o = 0; o < Wo; o += 16) {
        int n = Wo - o < 16 ? Wo - o : 16, in = 2 * n;
        __mmask16 mo = (__mmask16)((1u << n) - 1);
        __mmask16 m0 = (__mmask16)(in >= 16 ? 0xFFFFu : (1u << in) - 1);
        __mmask16 m1 = (__mmask16)(in > 16 ? (1u << (in - 16)) - 1 : 0);
        const float *p0 = r0 + 2 * o, *p1 = r1 + 2 * o;
        __m512 t0 = _mm512_maskz_loadu_ps(m0, p0), t1 = _mm512_maskz_loadu_ps(m1, p0 + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(m0, p1), b1 = _mm512_maskz_loadu_ps(m1, p1 + 16);
        __m512 a = _mm512_permutex2var_ps(t0, even, t1), b = _mm512_permutex2var_ps(t0, odd, t1);
        __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        bad |= _mm512_mask_cmp_ps_mask(mo, a, b, _CMP_UNORD_Q) |
               _mm512_mask_cmp_ps_mask(mo, c, d, _CMP_UNORD_Q);
        __mmask16 gt = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), gu = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
        __m512 t = _mm512_mask_blend_ps(gt, a, b), u = _mm512_mask_blend_ps(gu, c, d);
        __m512i k = _mm512_add_epi32(_mm512_set1_epi32(i0 + 2 * o), even);
        __m512i kt = _mm512_mask_add_epi32(k, gt, k, one);
        __m512i ku = _mm512_add_epi32(k, wv);
        ku = _mm512_mask_add_epi32(ku, gu, ku, one);
        __mmask16 g = _mm512_cmp_ps_mask(u, t, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(yr + o, mo, _mm512_mask_blend_ps(g, t, u));
        _mm512_mask_storeu_epi32(ar + o, mo, _mm512_mask_blend_epi32(g, kt, ku));
    }
    return bad != 0;
}
#else
/* m ? a : b through the bits: no branch in scalar code, exact for any value. */
#ifdef GG_FLOAT64
typedef uint64_t real_bits;
#else
typedef uint32_t real_bits;
#endif
static inline gg_real pick(int m, gg_real a, gg_real b) {
    real_bits ua, ub, mask = (real_bits)0 - (real_bits)m;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ub = (ua & mask) | (ub & ~mask);
    gg_real r;
    memcpy(&r, &ub, sizeof r);
    return r;
}

static int max2x2_row(const gg_real *restrict r0, const gg_real *restrict r1,
                      gg_real *restrict yr, int32_t *restrict ar, int Wo, int W, int32_t i0) {
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int ow = 0; ow < Wo; ow++) {
        gg_real a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        int32_t k = i0 + 2 * ow;
        int gt = b > a, gu = d > c;
        gg_real t = pick(gt, b, a), u = pick(gu, d, c);
        int32_t kt = k + gt, ku = k + W + gu;
        int g = u > t;
        yr[ow] = pick(g, u, t);
        ar[ow] = kt + g * (ku - kt);
        bad |= isnan(a + b + c + d) ? 1 : 0;
    }
    return bad;
}
#endif

/* Any window over one plane, scanning each in order: PyTorch's loop. */
static void max_plane_exact(const pgeom *g, const gg_real *xp, gg_real *yp, int32_t *ap) {
    for (int oh = 0; oh < g->Ho; oh++) {
        int h0 = oh * g->sh - g->ph, h1 = h0 + g->kh;
        if (h0 < 0) h0 = 0;
        if (h1 > g->H) h1 = g->H;
        for (int ow = 0; ow < g->Wo; ow++) {
            int w0 = ow * g->sw - g->pw, w1 = w0 + g->kw;
            if (w0 < 0) w0 = 0;
            if (w1 > g->W) w1 = g->W;
            gg_real m = -INFINITY;
            int32_t a = h0 * g->W + w0;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++) {
                    gg_real v = xp[(size_t)ih * g->W + iw];
                    if (v > m || isnan(v)) {
                        m = v;
                        a = ih * g->W + iw;
                    }
                }
            yp[oh * g->Wo + ow] = m;
            ap[oh * g->Wo + ow] = a;
        }
    }
}

static bool is_2x2(const pgeom *g) {
    return g->ph == 0 && g->pw == 0 && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2;
}

static void max_pool2d_forward(gg_node *n) {
    pgeom g;
    get_pgeom(n, &g);
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x;
    int32_t *arg = (int32_t *)(void *)n->scratch;
    size_t hw = (size_t)g.H * g.W, ohw = (size_t)g.Ho * g.Wo;
    bool fast = is_2x2(&g);
#pragma omp parallel for schedule(static) if ((size_t)g.planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < g.planes; p++) {
        const gg_real *xp = x + (size_t)p * hw;
        gg_real *yp = y + (size_t)p * ohw;
        int32_t *ap = arg + (size_t)p * ohw;
        int bad = !fast;
        for (int oh = 0; oh < g.Ho && !bad; oh++) {
            int32_t i0 = 2 * oh * g.W;
            bad = max2x2_row(xp + i0, xp + i0 + g.W, yp + (size_t)oh * g.Wo,
                             ap + (size_t)oh * g.Wo, g.Wo, g.W, i0);
        }
        if (bad) max_plane_exact(&g, xp, yp, ap);
    }
}

static void max_pool2d_backward(gg_node *n) {
    pgeom g;
    get_pgeom(n, &g);
    const gg_real *dy = n->out->dx;
    gg_real *dx = n->in[0]->dx;
    if (!dx) return;
    const int32_t *arg = (const int32_t *)(const void *)n->scratch;
    size_t hw = (size_t)g.H * g.W, ohw = (size_t)g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if ((size_t)g.planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < g.planes; p++) {
        gg_real *dxp = dx + (size_t)p * hw;
        const gg_real *dyp = dy + (size_t)p * ohw;
        const int32_t *ap = arg + (size_t)p * ohw;
        for (size_t k = 0; k < ohw; k++) dxp[ap[k]] += dyp[k];
    }
}

/* ---- average pool -------------------------------------------------------------- */

static void avg_pool2d_forward(gg_node *n) {
    pgeom g;
    get_pgeom(n, &g);
    const gg_real *x = n->in[0]->x;
    gg_real *y = n->out->x;
    size_t hw = (size_t)g.H * g.W, ohw = (size_t)g.Ho * g.Wo;
    gg_real inv = (gg_real)(1.0 / ((double)g.kh * g.kw));
#pragma omp parallel for schedule(static) if ((size_t)g.planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < g.planes; p++) {
        const gg_real *xp = x + (size_t)p * hw;
        gg_real *yp = y + (size_t)p * ohw;
        for (int oh = 0; oh < g.Ho; oh++) {
            int h0 = oh * g.sh - g.ph, h1 = h0 + g.kh;
            if (h0 < 0) h0 = 0;
            if (h1 > g.H) h1 = g.H;
            for (int ow = 0; ow < g.Wo; ow++) {
                int w0 = ow * g.sw - g.pw, w1 = w0 + g.kw;
                if (w0 < 0) w0 = 0;
                if (w1 > g.W) w1 = g.W;
                gg_real s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xp[(size_t)ih * g.W + iw];
                yp[oh * g.Wo + ow] = s * inv;
            }
        }
    }
}

static void avg_pool2d_backward(gg_node *n) {
    pgeom g;
    get_pgeom(n, &g);
    const gg_real *dy = n->out->dx;
    gg_real *dx = n->in[0]->dx;
    if (!dx) return;
    size_t hw = (size_t)g.H * g.W, ohw = (size_t)g.Ho * g.Wo;
    gg_real inv = (gg_real)(1.0 / ((double)g.kh * g.kw));
#pragma omp parallel for schedule(static) if ((size_t)g.planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < g.planes; p++) {
        gg_real *dxp = dx + (size_t)p * hw;
        const gg_real *dyp = dy + (size_t)p * ohw;
        for (int oh = 0; oh < g.Ho; oh++) {
            int h0 = oh * g.sh - g.ph, h1 = h0 + g.kh;
            if (h0 < 0) h0 = 0;
            if (h1 > g.H) h1 = g.H;
            for (int ow = 0; ow < g.Wo; ow++) {
                int w0 = ow * g.sw - g.pw, w1 = w0 + g.kw;
                if (w0 < 0) w0 = 0;
                if (w1 > g.W) w1 = g.W;
                gg_real d = dyp[oh * g.Wo + ow] * inv;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[(size_t)ih * g.W + iw] += d;
            }
        }
    }
}

const gg_op_def gg_op_max_pool2d = {.name = "max_pool2d", .n_in = 1, .shape = pool_shape,
                                    .scratch = max_pool2d_scratch, .forward = max_pool2d_forward,
                                    .backward = max_pool2d_backward};
const gg_op_def gg_op_avg_pool2d = {.name = "avg_pool2d", .n_in = 1, .shape = pool_shape,
                                    .forward = avg_pool2d_forward,
                                    .backward = avg_pool2d_backward};

static gg_node *pool(gg_graph *g, const gg_op_def *op, gg_node *x, const int kernel[2],
                     const int stride[2], const int pad[2]) {
    if (!g || g->status) return NULL;
    if (!kernel) {
        gg_graph_set_error(g, GG_ERR_ARG, "%s: no kernel size", op->name);
        return NULL;
    }
    int k[2] = {kernel[0], kernel[1]}, s[2] = {kernel[0], kernel[1]}, p[2] = {0, 0};
    if (stride) memcpy(s, stride, sizeof s);
    if (pad) memcpy(p, pad, sizeof p);
    if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || p[0] < 0 || p[1] < 0) {
        gg_graph_set_error(g, GG_ERR_ARG,
                           "%s: kernel [%d, %d], stride [%d, %d], padding [%d, %d]: kernels "
                           "and strides must be >= 1, paddings >= 0",
                           op->name, k[0], k[1], s[0], s[1], p[0], p[1]);
        return NULL;
    }
    if (2 * p[0] > k[0] || 2 * p[1] > k[1]) {
        gg_graph_set_error(g, GG_ERR_ARG,
                           "%s: padding [%d, %d] is more than half the kernel [%d, %d]",
                           op->name, p[0], p[1], k[0], k[1]);
        return NULL;
    }
    gg_op_attrs a = {.iattr = {[A_KH] = k[0], [A_KW] = k[1], [A_SH] = s[0], [A_SW] = s[1],
                               [A_PH] = p[0], [A_PW] = p[1]}};
    return gg_graph_add_op_with(g, op, 1, &x, &a);
}

gg_node *gg_max_pool2d(gg_graph *g, gg_node *x, const int kernel[2], const int stride[2],
                       const int pad[2]) {
    return pool(g, &gg_op_max_pool2d, x, kernel, stride, pad);
}

gg_node *gg_avg_pool2d(gg_graph *g, gg_node *x, const int kernel[2], const int stride[2],
                       const int pad[2]) {
    return pool(g, &gg_op_avg_pool2d, x, kernel, stride, pad);
}

/* ---- global average pool ------------------------------------------------------ */

static gg_status global_avg_pool_shape(gg_node *n, gg_error *err) {
    gg_status st = gg_need_image(n, err);
    if (st != GG_OK) return st;
    set_out(n, 0, 0);
    return GG_OK;
}

static void global_avg_pool_forward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    int planes = x->shape[0] * x->shape[1];
    size_t hw = (size_t)x->shape[2] * x->shape[3];
    const gg_real *xs = x->x;
    gg_real *y = n->out->x;
    double inv = 1.0 / (double)hw;
#pragma omp parallel for schedule(static) if ((size_t)planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < planes; p++) {
        const gg_real *xp = xs + (size_t)p * hw;
        double s = 0;
        for (size_t k = 0; k < hw; k++) s += xp[k];
        y[p] = (gg_real)(s * inv);
    }
}

static void global_avg_pool_backward(gg_node *n) {
    const gg_tensor *x = n->in[0];
    gg_real *dx = x->dx;
    if (!dx) return;
    int planes = x->shape[0] * x->shape[1];
    size_t hw = (size_t)x->shape[2] * x->shape[3];
    const gg_real *dy = n->out->dx;
    gg_real inv = (gg_real)(1.0 / (double)hw);
#pragma omp parallel for schedule(static) if ((size_t)planes * hw >= POOL_PAR_MIN)
    for (int p = 0; p < planes; p++) {
        gg_real *dxp = dx + (size_t)p * hw, d = dy[p] * inv;
#pragma omp simd
        for (size_t k = 0; k < hw; k++) dxp[k] += d;
    }
}

const gg_op_def gg_op_global_avg_pool = {.name = "global_avg_pool", .n_in = 1,
                                         .shape = global_avg_pool_shape,
                                         .forward = global_avg_pool_forward,
                                         .backward = global_avg_pool_backward};

gg_node *gg_global_avg_pool(gg_graph *g, gg_node *x) {
    return gg_graph_add_op(g, &gg_op_global_avg_pool, 1, &x);
}
