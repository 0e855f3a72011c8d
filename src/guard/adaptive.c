/* guard.clip.mode dispatch and the adaptive clippers:
 * - agc: unit-wise, ||G_i|| <= lambda max(||W_i||, eps) per output unit
 *   (Brock et al. 2021, NFNets; timm's unitwise norm);
 * - autoclip: clip to the p-th percentile of the norms seen so far, in a
 *   bounded ring (Seetharaman et al. 2020);
 * - zclip: z-score of the norm against an EMA mean and variance, clipped
 *   to mean + z_t std / (z / z_t) (Kumar et al. 2025, adaptive scaling). */
#include <math.h>
#include <string.h>
#include "guard/guard.h"
#include "io/config.h"

double gg_select_kth(double *v, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                double t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

/* numpy.percentile's default (linear interpolation between ranks). */
static double percentile(double *v, int n, double p) {
    double rank = p / 100 * (n - 1);
    int k = (int)floor(rank);
    double a = gg_select_kth(v, n, k);
    if (k + 1 >= n) return a;
    double b = gg_select_kth(v, n, k + 1);
    return a + (b - a) * (rank - k);
}

static double autoclip_threshold(gg_guard *gd, double norm) {
    gg_clip_state *s = &gd->cs;
    int cap = gd->cfg->guard.clip.history;
    gd->autoclip[s->autoclip_pos] = norm;
    s->autoclip_pos = (s->autoclip_pos + 1) % cap;
    if (s->autoclip_n < cap) s->autoclip_n++;
    memcpy(gd->scratch, gd->autoclip, (size_t)s->autoclip_n * sizeof *gd->scratch);
    return percentile(gd->scratch, s->autoclip_n, gd->cfg->guard.clip.percentile);
}

/* Returns the clip threshold, or NAN when the norm is not clipped. */
static double zclip_threshold(gg_guard *gd, double norm) {
    gg_clip_state *s = &gd->cs;
    const __typeof__(gd->cfg->guard.clip) *c = &gd->cfg->guard.clip;
    if (s->z_count < c->warmup) {
        gd->z_warm[s->z_count++] = norm;
        if (s->z_count == c->warmup) {
            double m = 0, v = 0;
            for (int i = 0; i < c->warmup; i++) m += gd->z_warm[i];
            m /= c->warmup;
            for (int i = 0; i < c->warmup; i++) v += (gd->z_warm[i] - m) * (gd->z_warm[i] - m);
            s->z_mean = m;
            s->z_var = v / c->warmup;
        }
        return NAN;
    }
    double sd = sqrt(s->z_var), z = (norm - s->z_mean) / (sd + 1e-6), thr = NAN;
    if (z > c->z_threshold) thr = s->z_mean + c->z_threshold * sd / (z / c->z_threshold);
    double used = isnan(thr) ? norm : thr;
    s->z_mean = c->z_alpha * s->z_mean + (1 - c->z_alpha) * used;
    s->z_var = c->z_alpha * s->z_var + (1 - c->z_alpha) * (used - s->z_mean) * (used - s->z_mean);
    return thr;
}

static double sum_sq(const gg_real *x, size_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* AGC over every parameter not excluded; returns the smallest factor. */
static double agc(gg_guard *gd) {
    const __typeof__(gd->cfg->guard.clip) *c = &gd->cfg->guard.clip;
    double smallest = 1;
    for (int i = 0; i < gd->n_params; i++) {
        if (gd->agc_skip[i]) continue;
        gg_tensor *t = gd->g->params[i]->out;
        /* Units are rows (output units, conv filters); a vector is one unit. */
        size_t rows = t->ndim >= 2 ? (size_t)t->shape[0] : 1, width = t->len / rows;
        for (size_t r = 0; r < rows; r++) {
            gg_real *gr = t->dx + r * width;
            double wn = fmax(sqrt(sum_sq(t->x + r * width, width)), c->agc_eps);
            double gn = sqrt(sum_sq(gr, width)), limit = c->agc_clip * wn;
            if (gn > limit) {
                double k = limit / fmax(gn, 1e-6);
                gg_scale(gr, width, (gg_real)k);
                smallest = fmin(smallest, k);
            }
        }
    }
    return smallest;
}

gg_real gg_guard_clip(gg_guard *gd, int64_t step, double norm, double *coef) {
    const __typeof__(gd->cfg->guard.clip) *c = &gd->cfg->guard.clip;
    gg_graph *g = gd->g;
    gg_real fused = 1;
    double thr = NAN;
    *coef = 1;
    switch (c->mode) {
    case GG_CLIP_MODE_NONE: return 1;
    case GG_CLIP_MODE_VALUE: *coef = gg_clip_value(g->grad, g->param_len, c->value); break;
    case GG_CLIP_MODE_NORM: *coef = gg_clip_per_tensor(g, c->max_norm, c->norm_type); break;
    case GG_CLIP_MODE_AGC: *coef = agc(gd); break;
    case GG_CLIP_MODE_GLOBAL_NORM: {
        double total = norm;
        if (c->norm_type != 2) {
            gg_grad_stats sp;
            gg_grad_stats_compute(g->grad, g->param_len, c->norm_type, &sp);
            total = sp.norm;
        }
        *coef = gg_clip_global_coef(total, c->max_norm);
        thr = c->max_norm;
        fused = (gg_real)*coef;
        break;
    }
    case GG_CLIP_MODE_AUTOCLIP:
        /* The reference calls clip_grad_norm_(params, threshold): torch's
         * factor, which is a hair below 1 even at the threshold itself. */
        thr = autoclip_threshold(gd, norm);
        *coef = gg_clip_global_coef(norm, thr);
        fused = (gg_real)*coef;
        break;
    case GG_CLIP_MODE_ZCLIP:
        thr = zclip_threshold(gd, norm);
        if (!isnan(thr) && norm > thr) *coef = gg_clip_global_coef(norm, thr);
        fused = (gg_real)*coef;
        break;
    }
    if (fused < 1 && (double)fused < 1e-30) {
        /* A factor this small would be a denormal gg_real with few
         * significant bits: apply it as two factors of full precision. */
        double half = sqrt(*coef);
        gg_scale(g->grad, g->param_len, (gg_real)half);
        gg_scale(g->grad, g->param_len, (gg_real)(*coef / half));
        fused = 1;
    }
    if (*coef < 1) { /* every factor applied is an event, even AutoClip's 1 - 1e-7 */
        gd->clips++;
        if (isnan(thr))
            gg_guard_event(gd, step, "clip", "%s clipping scaled gradients by %.3g (at least)",
                           gg_clip_mode_name(c->mode), *coef);
        else
            gg_guard_event(gd, step, "clip", "%s clipping: norm %.4g above %.4g, scaled by %.3g",
                           gg_clip_mode_name(c->mode), norm, thr, *coef);
    }
    return fused;
}
