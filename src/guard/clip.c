/* Norms and the classic clippers (seed 001: if ||g|| > theta then
 * g <- g theta / ||g||; seed 004: clip(g, -eps, eps)). Norms accumulate in
 * double and rescale by max |g| when the sum of squares would overflow,
 * so 1e20-sized but finite gradients are clipped correctly, not zeroed. */
#include <math.h>
#include <omp.h>
#include "guard/clip.h"

#define CHUNKS 16

typedef struct partial {
    double sum, max;
    size_t nonfinite;
} partial;

static void chunk_bounds(size_t len, int c, size_t *lo, size_t *hi) {
    size_t per = (len + CHUNKS - 1) / CHUNKS;
    *lo = per * (size_t)c < len ? per * (size_t)c : len;
    *hi = *lo + per < len ? *lo + per : len;
}

/* The careful pass: counts non-finite elements and skips them, and divides
 * by scale first so the sum cannot overflow. */
static void reduce_careful(const gg_real *x, size_t len, double p, double scale, partial *out) {
    partial parts[CHUNKS] = {{0}};
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo, hi;
        chunk_bounds(len, c, &lo, &hi);
        double s = 0, m = 0;
        size_t nf = 0;
        for (size_t i = lo; i < hi; i++) {
            double v = fabs((double)x[i]);
            if (!isfinite(v)) {
                nf++;
                continue;
            }
            m = v > m ? v : m;
            v /= scale;
            s += p == 2 ? v * v : (isinf(p) ? 0 : pow(v, p));
        }
        parts[c].sum = s, parts[c].max = m, parts[c].nonfinite = nf;
    }
    *out = (partial){0};
    for (int c = 0; c < CHUNKS; c++) {
        out->sum += parts[c].sum;
        out->max = parts[c].max > out->max ? parts[c].max : out->max;
        out->nonfinite += parts[c].nonfinite;
    }
}

/* The fast path for the L2 norm every step: a vectorised sum of squares
 * in double. NaN and Inf propagate into the sum, which sends the caller
 * to the careful pass. */
/* Sum of squares and max |x| of x[lo, hi), vectorised. */
static void squares_and_max(const gg_real *x, size_t lo, size_t hi, double *sq, double *max_abs) {
    double s = 0;
    gg_real m = 0;
#pragma omp simd reduction(+ : s) reduction(max : m)
    for (size_t i = lo; i < hi; i++) {
        s += (double)x[i] * (double)x[i];
        gg_real a = x[i] < 0 ? -x[i] : x[i];
        m = a > m ? a : m;
    }
    *sq = s;
    *max_abs = m;
}

static double sum_squares(const gg_real *x, size_t len, double *max_abs) {
    double parts[CHUNKS], maxes[CHUNKS];
#pragma omp parallel for schedule(static) if (len >= GG_PAR_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo, hi;
        chunk_bounds(len, c, &lo, &hi);
        squares_and_max(x, lo, hi, &parts[c], &maxes[c]);
    }
    double s = 0;
    *max_abs = 0;
    for (int c = 0; c < CHUNKS; c++) {
        s += parts[c];
        *max_abs = maxes[c] > *max_abs ? maxes[c] : *max_abs;
    }
    return s;
}

void gg_grad_stats_compute(const gg_real *x, size_t len, double p, gg_grad_stats *out) {
    partial r;
    if (p == 2) {
        /* In the float build a finite sum of squares in double cannot
         * overflow, so a finite result here is the answer. */
        double m, s = sum_squares(x, len, &m);
        if (isfinite(s)) {
            out->norm = sqrt(s);
            out->max_abs = m;
            out->nonfinite = 0;
            return;
        }
    }
    reduce_careful(x, len, p, 1.0, &r);
    out->max_abs = r.max;
    out->nonfinite = r.nonfinite;
    if (isinf(p)) {
        out->norm = r.max;
    } else if (isfinite(r.sum)) {
        out->norm = pow(r.sum, 1 / p);
    } else {
        /* Overflow: sum (|x| / max)^p instead, then scale back. */
        reduce_careful(x, len, p, r.max, &r);
        out->norm = out->max_abs * pow(r.sum, 1 / p);
    }
    if (out->nonfinite) out->norm = NAN;
}

void gg_scale(gg_real *x, size_t len, gg_real k) { GG_EACH(len, x[i] *= k); }

double gg_clip_global_coef(double total_norm, double max_norm) {
    double coef = max_norm / (total_norm + 1e-6);
    return coef < 1 ? coef : 1;
}

double gg_clip_per_tensor(gg_graph *g, double max_norm, double p) {
    double smallest = 1;
    for (int i = 0; i < g->n_params; i++) {
        gg_tensor *t = g->params[i]->out;
        gg_grad_stats st;
        gg_grad_stats_compute(t->dx, t->len, p, &st);
        double coef = max_norm / (st.norm + 1e-6);
        if (coef < 1) {
            gg_scale(t->dx, t->len, (gg_real)coef);
            smallest = coef < smallest ? coef : smallest;
        }
    }
    return smallest;
}

double gg_clip_value(gg_real *x, size_t len, double v) {
    const gg_real hi = (gg_real)v, lo = (gg_real)-v;
    size_t clipped = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : clipped) if (len >= GG_PAR_MIN)
    for (size_t i = 0; i < len; i++) {
        clipped += x[i] > hi || x[i] < lo;
        x[i] = x[i] > hi ? hi : (x[i] < lo ? lo : x[i]);
    }
    return 1 - (double)clipped / (double)(len ? len : 1);
}

void gg_grad_stats_segments(const gg_real *x, const gg_segments *seg, double *partial,
                            int max_threads, double *sq, double *max_abs, size_t *nonfinite) {
    int threads = omp_get_max_threads() < max_threads ? omp_get_max_threads() : max_threads;
    size_t total = 0;
    for (int s = 0; s < seg->n; s++) total += seg->len[s];
    if (total < GG_PAR_MIN) threads = 1;
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        int T = omp_get_num_threads(), id = omp_get_thread_num();
#pragma omp single
        team = T;
        double *part = partial + (size_t)id * 2 * (size_t)seg->n;
        for (int s = 0; s < seg->n; s++) {
            size_t lo, hi;
            gg_thread_share(seg->len[s], T, id, &lo, &hi);
            squares_and_max(x + seg->off[s], lo, hi, &part[2 * s], &part[2 * s + 1]);
        }
    }
    for (int s = 0; s < seg->n; s++) {
        sq[s] = max_abs[s] = 0;
        for (int id = 0; id < team; id++) {
            const double *part = partial + (size_t)id * 2 * (size_t)seg->n;
            sq[s] += part[2 * s];
            max_abs[s] = part[2 * s + 1] > max_abs[s] ? part[2 * s + 1] : max_abs[s];
        }
        nonfinite[s] = 0;
        if (!isfinite(sq[s])) {
            gg_grad_stats st;
            gg_grad_stats_compute(x + seg->off[s], seg->len[s], 2, &st);
            sq[s] = st.norm * st.norm; /* NaN with non-finite elements, Inf on overflow */
            max_abs[s] = st.max_abs;
            nonfinite[s] = st.nonfinite;
        }
    }
}
