/* Recurrent layers (nn.RNN tanh/relu, nn.LSTM, nn.GRU; one layer, one
 * direction, zero initial state) over x [N, T, F], with back-propagation
 * through time over every step.
 *
 * The batch rows are independent through the whole recurrence, so one
 * OpenMP region splits the rows among the threads and each thread runs all
 * T steps of its rows with no barrier: per step, its rows' input projection
 * x_t W_ih^T and recurrent product h_{t-1} W_hh^T (two single-threaded BLAS
 * calls) and the fused gate arithmetic. Backward does the same in reverse:
 * per step the gate gradients dG_t, then dh_{t-1} = dG_t W_hh (one BLAS
 * call) and dx_t += dG_t W_ih; the weight gradients come after the loop as
 * one product each over every step at once (dW_hh = dG[t >= 1]^T H[t - 1],
 * dW_ih = dG^T X), split across the pool by gg_matmul. Bias gradients are
 * summed per batch row inside the loop (each row belongs to one thread, so
 * no race and no dependence on the thread count) and over rows at the end.
 *
 * Saved state, time-major ([T, N, ...], row t N + n) so that the rows of one
 * step are contiguous and dG[t >= 1] lines up with H[t - 1] in one product:
 *   A   [T, N, G H] gate activations (i f g o; r z n; the RNN's
 *                   pre-activation), overwritten by the gate gradients
 *                   (of the pre-activations) in backward
 *   Hs  [T, N, H]   hidden states h_t
 *   Cs, TC [T, N, H]  LSTM: cell states c_t and tanh(c_t)
 *   HN  [T, N, H]   GRU: W_hn h_{t-1} + b_hn; the input-side dn in backward
 *   Xt  [T, N, F]   x, time-major, for dW_ih
 * GRU's hidden-side gradient differs from its input-side one in the n gate
 * only (dhn = dn_pre r vs dn_pre): A holds the hidden-side dG (dr, dz, dhn)
 * and HN the input-side dn_pre.
 *
 * iattr: [0] cell, [1] sequence output, [2] and [3] the positions of b_ih
 * and b_hh in the inputs (0: absent). Inputs: x, w_ih, w_hh[, b_ih][, b_hh]. */
#include <omp.h>
#include <string.h>
#include <tgmath.h>
#include "ops/ops.h"

enum { A_CELL, A_SEQ, A_BIH, A_BHH };

static const gg_tensor *opt_in(const gg_node *n, int k) {
    return n->iattr[k] > 0 ? n->in[n->iattr[k]] : NULL;
}

static const char *cell_name(int cell) {
    switch (cell) {
    case GG_CELL_RNN_TANH:
    case GG_CELL_RNN_RELU: return "rnn";
    case GG_CELL_LSTM: return "lstm";
    case GG_CELL_GRU: return "gru";
    default: return "recurrent";
    }
}

static int cell_gates(int cell) { return cell == GG_CELL_LSTM ? 4 : cell == GG_CELL_GRU ? 3 : 1; }

/* ---- fast activations ------------------------------------------------------
 * The float build uses branch-free approximations that vectorise inside
 * `omp simd` loops (glibc's expf and tanhf do not without -ffast-math);
 * within a few ulp of libm. The float64 build uses libm. */
#ifdef GG_FLOAT64
static inline gg_real sigm(gg_real x) {
    gg_real e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
static inline gg_real tanh_(gg_real x) { return tanh(x); }
#else
/* e^x for x in [-87, 88] (clamped): Cephes' expf, 2^k times a degree-6
 * polynomial on [-ln2/2, ln2/2]. */
static inline float exp_f(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* k = round(x / ln 2) by the 1.5 2^23 trick, whose sum also holds k in
     * its low bits: no float-to-int conversion, which may trap and so keeps
     * GCC from vectorising the loop without -fno-trapping-math. */
    float kk = x * 1.44269504088896341f + 12582912.0f;
    float k = kk - 12582912.0f;
    int32_t kb;
    memcpy(&kb, &kk, sizeof kb);
    float r = x - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    int32_t bits = (kb - 0x4B400000 + 127) << 23;
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return e * two_k;
}
static inline float sigm(float x) { return 1.0f / (1.0f + exp_f(-x)); }
/* Cephes' tanhf: an odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above. */
static inline float tanh_(float x) {
    float a = fabsf(x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (exp_f(2.0f * a) + 1.0f);
    big = x < 0 ? -big : big;
    return a < 0.625f ? small : big;
}
#endif

/* ---- layout ------------------------------------------------------------- */

typedef struct rec {
    int cell, N, T, F, H, G, GH;
    bool seq;
    const gg_tensor *x, *wih, *whh, *bih, *bhh;
    gg_tensor *y;
    gg_real *A, *Hs, *Cs, *TC, *HN, *Xt; /* [T, N, .] */
    gg_real *dH, *dC, *dB, *dBn;         /* [N, .] */
    gg_real *bias, *zero;                /* [G H], [H] */
} rec;

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

static int max_rows(const gg_node *n) {
    const gg_tensor *x = n->in[0];
    return x->batched ? n->g->max_batch : x->shape[0];
}

/* Scratch elements at Nmax rows; with base != NULL also sets the pointers. */
static size_t layout(const gg_node *n, int Nmax, gg_real *base, rec *r) {
    const gg_tensor *x = n->in[0], *whh = n->in[2];
    int cell = n->iattr[A_CELL], G = cell_gates(cell);
    size_t T = (size_t)x->shape[1], F = (size_t)x->shape[2], H = (size_t)whh->shape[1];
    size_t GH = (size_t)G * H, TN = T * (size_t)Nmax, N = (size_t)Nmax;
    bool lstm = cell == GG_CELL_LSTM, gru = cell == GG_CELL_GRU;
    size_t sizes[12] = {TN * GH,           TN * H,           lstm ? TN * H : 0, lstm ? TN * H : 0,
                        gru ? TN * H : 0,  TN * F,           N * H,             lstm ? N * H : 0,
                        N * GH,            gru ? N * H : 0,  GH,                H};
    rec unused;
    if (!r) r = &unused;
    gg_real **ptr[12] = {&r->A,  &r->Hs, &r->Cs, &r->TC, &r->HN,   &r->Xt,
                         &r->dH, &r->dC, &r->dB, &r->dBn, &r->bias, &r->zero};
    size_t at = 0;
    for (int i = 0; i < 12; i++) {
        *ptr[i] = base && sizes[i] ? base + at : NULL;
        at += up16(sizes[i]);
    }
    return at;
}

static void get_rec(gg_node *n, rec *r) {
    memset(r, 0, sizeof *r);
    r->x = n->in[0];
    r->wih = n->in[1];
    r->whh = n->in[2];
    r->bih = opt_in(n, A_BIH);
    r->bhh = opt_in(n, A_BHH);
    r->y = n->out;
    r->cell = n->iattr[A_CELL];
    r->seq = n->iattr[A_SEQ] != 0;
    r->N = r->x->shape[0];
    r->T = r->x->shape[1];
    r->F = r->x->shape[2];
    r->H = r->whh->shape[1];
    r->G = cell_gates(r->cell);
    r->GH = r->G * r->H;
    layout(n, max_rows(n), n->scratch, r);
}

/* ---- shape -------------------------------------------------------------- */

static gg_status check_bias(gg_node *n, const gg_tensor *b, const char *what, int GH,
                            gg_error *err) {
    char lb[96], sb[64];
    if (b && (b->batched || b->ndim != 1 || b->shape[0] != GH))
        return gg_fail(err, GG_ERR_SHAPE, "%s: %s has shape %s; needs [%d]",
                       gg_node_label(n, lb, sizeof lb), what, gg_shape_text(b, sb, sizeof sb), GH);
    return GG_OK;
}

static gg_status recurrent_shape(gg_node *n, gg_error *err) {
    const gg_tensor *x = n->in[0], *wih = n->in[1], *whh = n->in[2];
    gg_tensor *y = n->out;
    char lb[96], sb[64];
    int cell = n->iattr[A_CELL];
    if (cell < GG_CELL_RNN_TANH || cell > GG_CELL_GRU)
        return gg_fail(err, GG_ERR_ARG, "%s: unknown recurrent cell %d",
                       gg_node_label(n, lb, sizeof lb), cell);
    snprintf(n->name, sizeof n->name, "%s", cell_name(cell)); /* messages name the cell */
    const char *name = cell_name(cell);
    int G = cell_gates(cell);
    if (x->ndim != 3)
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s needs a sequence input [T, features]; got %s (set model.input to [T, F])",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(x, sb, sizeof sb));
    int F = x->shape[2];
    if (whh->batched || whh->ndim != 2 || whh->shape[0] != G * whh->shape[1])
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: recurrent weight has shape %s; %s needs [%d H, H] (H = units)",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(whh, sb, sizeof sb), name, G);
    int H = whh->shape[1], GH = G * H;
    if (wih->batched || wih->ndim != 2 || wih->shape[0] != GH || wih->shape[1] != F)
        return gg_fail(err, GG_ERR_SHAPE,
                       "%s: input weight has shape %s; needs [%d, %d] (%d gate%s x %d units, %d "
                       "input features)",
                       gg_node_label(n, lb, sizeof lb), gg_shape_text(wih, sb, sizeof sb), GH, F,
                       G, G > 1 ? "s" : "", H, F);
    gg_status s = check_bias(n, opt_in(n, A_BIH), "input bias", GH, err);
    if (s) return s;
    const gg_tensor *bhh = opt_in(n, A_BHH);
    if ((s = check_bias(n, bhh, "recurrent bias", GH, err))) return s;
    int T = x->shape[1];
    bool seq = n->iattr[A_SEQ] != 0;
    memset(y, 0, sizeof *y);
    y->batched = x->batched;
    y->ndim = seq ? 3 : 2;
    y->shape[0] = x->shape[0];
    y->shape[1] = seq ? T : H;
    if (seq) y->shape[2] = H;
    size_t per = seq ? (size_t)T * (size_t)H : (size_t)H;
    gg_tensor_sized(y, per);
    return GG_OK;
}

static size_t recurrent_scratch(const gg_node *n) { return layout(n, max_rows(n), NULL, NULL); }

/* ---- forward -------------------------------------------------------------- */

/* Rows [n0, n0 + m) of step t: gate math from the pre-activations in A_t
 * (and HN_t for GRU) without bias. */
static void forward_rows(const rec *r, int t, int n0, int m) {
    const int N = r->N, T = r->T, H = r->H, GH = r->GH;
    const gg_real *b = r->bias;
    const gg_real *bhn = r->bhh && r->cell == GG_CELL_GRU ? r->bhh->x + 2 * H : NULL;
    for (int k = 0; k < m; k++) {
        size_t row = (size_t)t * N + (size_t)(n0 + k), prev = row - (size_t)N;
        gg_real *g = r->A + row * GH;
        gg_real *h = r->Hs + row * H;
        const gg_real *hp = t ? r->Hs + prev * H : r->zero;
        switch (r->cell) {
        case GG_CELL_RNN_TANH: {
#pragma omp simd
            for (int j = 0; j < H; j++) h[j] = tanh_(g[j] + b[j]);
            break;
        }
        case GG_CELL_RNN_RELU: {
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real v = g[j] + b[j];
                h[j] = v > 0 ? v : 0;
            }
            break;
        }
        case GG_CELL_LSTM: {
            gg_real *c = r->Cs + row * H, *tc = r->TC + row * H;
            const gg_real *cp = t ? r->Cs + prev * H : r->zero;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real gi = sigm(g[j] + b[j]);
                gg_real gf = sigm(g[H + j] + b[H + j]);
                gg_real gg = tanh_(g[2 * H + j] + b[2 * H + j]);
                gg_real go = sigm(g[3 * H + j] + b[3 * H + j]);
                gg_real cc = gf * cp[j] + gi * gg;
                gg_real tcc = tanh_(cc);
                g[j] = gi;
                g[H + j] = gf;
                g[2 * H + j] = gg;
                g[3 * H + j] = go;
                c[j] = cc;
                tc[j] = tcc;
                h[j] = go * tcc;
            }
            break;
        }
        default: { /* GRU */
            gg_real *hn = r->HN + row * H;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real v = (t ? hn[j] : 0) + (bhn ? bhn[j] : 0);
                gg_real gr = sigm(g[j] + b[j]);
                gg_real gz = sigm(g[H + j] + b[H + j]);
                gg_real gn = tanh_(g[2 * H + j] + b[2 * H + j] + gr * v);
                g[j] = gr;
                g[H + j] = gz;
                g[2 * H + j] = gn;
                hn[j] = v;
                h[j] = (1 - gz) * gn + gz * hp[j];
            }
            break;
        }
        }
        int n = n0 + k;
        if (r->seq)
            memcpy(r->y->x + ((size_t)n * T + (size_t)t) * H, h, (size_t)H * sizeof *h);
        else if (t == T - 1)
            memcpy(r->y->x + (size_t)n * H, h, (size_t)H * sizeof *h);
        /* x_t, time-major, for dW_ih. */
        memcpy(r->Xt + row * r->F, r->x->x + ((size_t)n * T + (size_t)t) * r->F,
               (size_t)r->F * sizeof(gg_real));
    }
}

/* Below this many multiply-adds per pass the rows stay on one thread: a
 * team's start and barrier cost more than they save. */
#define PAR_MIN_FLOPS 200000.0

static bool worth_threads(const rec *r) {
    return r->N > 1 && (double)r->N * r->T * r->GH * (double)(r->H + r->F) >= PAR_MIN_FLOPS;
}

/* Thread id's rows [n0, n0 + m) of N among `team`. */
static void rows_of(int N, int team, int id, int *n0, int *m) {
    int per = (N + team - 1) / team;
    *n0 = id * per < N ? id * per : N;
    *m = *n0 + per < N ? per : N - *n0;
}

static void recurrent_forward(gg_node *n) {
    rec r;
    get_rec(n, &r);
    const int N = r.N, T = r.T, F = r.F, H = r.H, GH = r.GH;
    const bool gru = r.cell == GG_CELL_GRU;
    /* Both biases folded into one vector, except GRU's b_hn, which sits
     * inside r * (W_hn h + b_hn). */
    for (int k = 0; k < GH; k++) {
        gg_real v = r.bih ? r.bih->x[k] : 0;
        if (r.bhh && !(gru && k >= 2 * H)) v += r.bhh->x[k];
        r.bias[k] = v;
    }
    memset(r.zero, 0, (size_t)H * sizeof *r.zero);
    const gg_real *wih = r.wih->x, *whh = r.whh->x;
#pragma omp parallel if (worth_threads(&r))
    {
        int n0, m;
        rows_of(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &m);
        for (int t = 0; t < T && m > 0; t++) {
            size_t row = (size_t)t * N + (size_t)n0;
            gg_real *g = r.A + row * GH;
            /* A_t = x_t W_ih^T, then += h_{t-1} W_hh^T (GRU: r and z only;
             * its n part goes to HN_t). */
            gg_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, GH, F, 1,
                    r.x->x + ((size_t)n0 * T + (size_t)t) * F, T * F, wih, F, 0, g, GH);
            if (t > 0) {
                const gg_real *hp = r.Hs + (row - (size_t)N) * H;
                if (!gru) {
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, GH, H, 1, hp, H, whh, H,
                            1, g, GH);
                } else {
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, 2 * H, H, 1, hp, H, whh,
                            H, 1, g, GH);
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, H, H, 1, hp, H,
                            whh + (size_t)2 * H * H, H, 0, r.HN + row * H, H);
                }
            }
            forward_rows(&r, t, n0, m);
        }
    }
}

/* ---- backward ------------------------------------------------------------- */

/* Rows [n0, n0 + m) of step t: dG_t into A_t (GRU: dn_pre into HN_t), the
 * carried dc (LSTM) and the direct part of dh_{t-1} (GRU), per-row bias
 * sums. dH holds dL/dh_t from step t + 1 on entry. */
static void backward_rows(const rec *r, int t, int n0, int m) {
    const int N = r->N, T = r->T, H = r->H, GH = r->GH;
    const gg_real *dyb = r->y->dx;
    for (int k = 0; k < m; k++) {
        int n = n0 + k;
        size_t row = (size_t)t * N + (size_t)n, prev = row - (size_t)N;
        gg_real *g = r->A + row * GH;
        gg_real *dh = r->dH + (size_t)n * H, *db = r->dB + (size_t)n * GH;
        const gg_real *h = r->Hs + row * H;
        const gg_real *dy = r->seq ? dyb + ((size_t)n * T + (size_t)t) * H
                            : t == T - 1 ? dyb + (size_t)n * H
                                         : r->zero;
        switch (r->cell) {
        case GG_CELL_RNN_TANH: {
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real d = (dh[j] + dy[j]) * (1 - h[j] * h[j]);
                g[j] = d;
                db[j] += d;
            }
            break;
        }
        case GG_CELL_RNN_RELU: {
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real d = h[j] > 0 ? dh[j] + dy[j] : 0;
                g[j] = d;
                db[j] += d;
            }
            break;
        }
        case GG_CELL_LSTM: {
            const gg_real *tc = r->TC + row * H;
            const gg_real *cp = t ? r->Cs + prev * H : r->zero;
            gg_real *dc = r->dC + (size_t)n * H;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real gi = g[j], gf = g[H + j], gg = g[2 * H + j], go = g[3 * H + j];
                gg_real d = dh[j] + dy[j];
                gg_real c = dc[j] + d * go * (1 - tc[j] * tc[j]);
                gg_real di = c * gg * gi * (1 - gi);
                gg_real df = c * cp[j] * gf * (1 - gf);
                gg_real dg = c * gi * (1 - gg * gg);
                gg_real dO = d * tc[j] * go * (1 - go);
                dc[j] = c * gf;
                g[j] = di;
                g[H + j] = df;
                g[2 * H + j] = dg;
                g[3 * H + j] = dO;
                db[j] += di;
                db[H + j] += df;
                db[2 * H + j] += dg;
                db[3 * H + j] += dO;
            }
            break;
        }
        default: { /* GRU */
            gg_real *hn = r->HN + row * H, *dbn = r->dBn + (size_t)n * H;
            const gg_real *hp = t ? r->Hs + prev * H : r->zero;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                gg_real gr = g[j], gz = g[H + j], gn = g[2 * H + j];
                gg_real d = dh[j] + dy[j];
                gg_real dnp = d * (1 - gz) * (1 - gn * gn);
                gg_real dzp = d * (hp[j] - gn) * gz * (1 - gz);
                gg_real drp = dnp * hn[j] * gr * (1 - gr);
                gg_real dhn = dnp * gr;
                dh[j] = d * gz;
                g[j] = drp;
                g[H + j] = dzp;
                g[2 * H + j] = dhn;
                hn[j] = dnp;
                db[j] += drp;
                db[H + j] += dzp;
                db[2 * H + j] += dhn;
                dbn[j] += dnp;
            }
            break;
        }
        }
    }
}

/* out[c] += sum over rows of a[row][c], a [rows, cols] with leading dimension lda. */
static void col_sums(const gg_real *a, int rows, int cols, int lda, gg_real *out) {
    for (int i = 0; i < rows; i++) {
        const gg_real *v = a + (size_t)i * lda;
#pragma omp simd
        for (int c = 0; c < cols; c++) out[c] += v[c];
    }
}

/* Gradient flow through time, for the guard's diagnosis: the norm of the
 * gate gradients at the first step against the last, as a running mean of
 * its log10 over recent backward passes (GG_REC_FLOW_LOG, GG_REC_FLOW_COUNT). */
static void track_flow(gg_node *n, const rec *r) {
    if (r->T < 2) return;
    double first = 0, last = 0;
    size_t len = (size_t)r->N * (size_t)r->GH;
    const gg_real *a0 = r->A, *a1 = r->A + (size_t)(r->T - 1) * len;
    for (size_t i = 0; i < len; i++) {
        first += (double)a0[i] * (double)a0[i];
        last += (double)a1[i] * (double)a1[i];
    }
    if (!(last > 0) || !isfinite(first) || !isfinite(last)) return;
    double v = first > 0 ? 0.5 * log10(first / last) : -30;
    if (v < -30) v = -30;
    int k = n->iattr[GG_REC_FLOW_COUNT];
    n->attr[GG_REC_FLOW_LOG] = k == 0 ? v : 0.9 * n->attr[GG_REC_FLOW_LOG] + 0.1 * v;
    n->iattr[GG_REC_FLOW_COUNT] = k < 1000000 ? k + 1 : k;
}

static void recurrent_backward(gg_node *n) {
    rec r;
    get_rec(n, &r);
    const int N = r.N, T = r.T, F = r.F, H = r.H, GH = r.GH;
    const bool gru = r.cell == GG_CELL_GRU;
    const gg_real *wih = r.wih->x, *whh = r.whh->x;
    gg_real *dx = r.x->dx;
#pragma omp parallel if (worth_threads(&r))
    {
        int n0, m;
        rows_of(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &m);
        if (m > 0) {
            memset(r.dH + (size_t)n0 * H, 0, (size_t)m * H * sizeof(gg_real));
            if (r.dC) memset(r.dC + (size_t)n0 * H, 0, (size_t)m * H * sizeof(gg_real));
            memset(r.dB + (size_t)n0 * GH, 0, (size_t)m * GH * sizeof(gg_real));
            if (r.dBn) memset(r.dBn + (size_t)n0 * H, 0, (size_t)m * H * sizeof(gg_real));
        }
        for (int t = T - 1; t >= 0 && m > 0; t--) {
            backward_rows(&r, t, n0, m);
            size_t row = (size_t)t * N + (size_t)n0;
            const gg_real *dg = r.A + row * GH;
            /* dx_t += dG_t W_ih (input side: GRU's n part is in HN_t). */
            if (dx) {
                gg_real *dxt = dx + ((size_t)n0 * T + (size_t)t) * F;
                if (!gru) {
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, F, GH, 1, dg, GH, wih,
                            F, 1, dxt, T * F);
                } else {
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, F, 2 * H, 1, dg, GH,
                            wih, F, 1, dxt, T * F);
                    gg_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, F, H, 1,
                            r.HN + row * H, H, wih + (size_t)2 * H * F, F, 1, dxt, T * F);
                }
            }
            /* dh_{t-1} = dG_t W_hh (+ the direct z h term GRU left in dH). */
            if (t > 0)
                gg_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, H, GH, 1, dg, GH, whh, H,
                        gru ? 1 : 0, r.dH + (size_t)n0 * H, H);
        }
    }
    size_t TN = (size_t)T * (size_t)N;
    track_flow(n, &r);
    /* dW_hh += dG[t >= 1]^T H[t - 1]: one product over every step. */
    if (r.whh->dx && T > 1)
        gg_matmul(true, false, GH, H, (int)(TN - (size_t)N), 1, r.A + (size_t)N * GH, GH, r.Hs,
                  H, 1, r.whh->dx, H);
    /* dW_ih += dG^T X (input side). */
    if (r.wih->dx) {
        if (!gru) {
            gg_matmul(true, false, GH, F, (int)TN, 1, r.A, GH, r.Xt, F, 1, r.wih->dx, F);
        } else {
            gg_matmul(true, false, 2 * H, F, (int)TN, 1, r.A, GH, r.Xt, F, 1, r.wih->dx, F);
            gg_matmul(true, false, H, F, (int)TN, 1, r.HN, H, r.Xt, F, 1,
                      r.wih->dx + (size_t)2 * H * F, F);
        }
    }
    if (r.bhh && r.bhh->dx) col_sums(r.dB, N, GH, GH, r.bhh->dx);
    if (r.bih && r.bih->dx) {
        if (!gru) {
            col_sums(r.dB, N, GH, GH, r.bih->dx);
        } else {
            col_sums(r.dB, N, 2 * H, GH, r.bih->dx);
            col_sums(r.dBn, N, H, H, r.bih->dx + 2 * H);
        }
    }
}

const gg_op_def gg_op_recurrent = {.name = "recurrent", .n_in = 5, .shape = recurrent_shape,
                                   .scratch = recurrent_scratch, .forward = recurrent_forward,
                                   .backward = recurrent_backward};

gg_node *gg_recurrent(gg_graph *g, gg_node *x, gg_cell cell, gg_node *w_ih, gg_node *w_hh,
                      gg_node *b_ih, gg_node *b_hh, int sequence) {
    if (!g || g->status) return NULL;
    gg_node *in[5] = {x, w_ih, w_hh};
    gg_op_attrs a = {.iattr = {[A_CELL] = (int)cell, [A_SEQ] = sequence != 0}};
    int k = 3;
    if (b_ih) a.iattr[A_BIH] = k, in[k++] = b_ih;
    if (b_hh) a.iattr[A_BHH] = k, in[k++] = b_hh;
    return gg_graph_add_op_with(g, &gg_op_recurrent, k, in, &a);
}
