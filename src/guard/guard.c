/* The guard's set-up, events, per-parameter measurement and the robust
 * spike detector. Spikes are judged on a log scale (losses and norms move
 * by factors) by the median and the median absolute deviation of a window
 * of past finite values: one spike barely moves the median, so it cannot
 * mask the next, NaNs never enter the window, and a noisy series (minibatch
 * losses near zero vary by factors) widens its own tolerance. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "guard/guard.h"
#include "io/config.h"

static gg_status window_new(gg_window *w, int cap, gg_error *err) {
    w->cap = cap > 0 ? cap : 1;
    w->n = w->pos = 0;
    w->v = gg_alloc((size_t)w->cap * sizeof *w->v, err);
    return w->v ? GG_OK : GG_ERR_NOMEM;
}

void gg_window_push(gg_window *w, double x) {
    if (!isfinite(x)) return;
    w->v[w->pos] = x;
    w->pos = (w->pos + 1) % w->cap;
    if (w->n < w->cap) w->n++;
}

void gg_window_clear(gg_window *w) { w->n = w->pos = 0; }

/* Median of n values by selection, O(n); v is reordered. */
static double median_of(double *v, int n) {
    double hi = gg_select_kth(v, n, n / 2);
    return n % 2 ? hi : 0.5 * (gg_select_kth(v, n, n / 2 - 1) + hi);
}

bool gg_window_stats(const gg_window *w, double *scratch, double *median, double *mad) {
    if (w->n == 0) return false;
    memcpy(scratch, w->v, (size_t)w->n * sizeof *scratch);
    *median = median_of(scratch, w->n);
    for (int i = 0; i < w->n; i++) scratch[i] = fabs(w->v[i] - *median);
    *mad = median_of(scratch, w->n);
    return true;
}

void gg_guard_event(gg_guard *gd, int64_t step, const char *kind, const char *fmt, ...) {
    if (gd->n_events == GG_MAX_EVENTS) return;
    gg_event *e = &gd->events[gd->n_events++];
    e->step = step;
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static bool is_activation(const gg_node *n) {
    static const char *const kinds[] = {"relu", "leaky_relu", "elu", "sigmoid", "tanh"};
    if (!n->op) return false;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(n->op->name, kinds[i]) == 0) return true;
    return false;
}

/* AGC leaves out the parameters named in clip.exclude (prefixes); "last"
 * names the output layer, as the NFNet paper does for the classifier. */
static void agc_exclusions(gg_guard *gd) {
    const gg_config *c = gd->cfg;
    int last_layer = -1;
    for (int i = 0; i < gd->n_params; i++)
        if (gd->g->params[i]->layer > last_layer) last_layer = gd->g->params[i]->layer;
    for (int i = 0; i < gd->n_params; i++) {
        const gg_node *p = gd->g->params[i];
        for (int k = 0; k < c->guard.clip.n_exclude; k++) {
            const char *ex = c->guard.clip.exclude[k];
            if ((strcmp(ex, "last") == 0 && p->layer == last_layer) ||
                strncmp(p->name, ex, strlen(ex)) == 0)
                gd->agc_skip[i] = true;
        }
    }
}

gg_status gg_guard_new(gg_guard *gd, const gg_config *c, gg_graph *g, gg_error *err) {
    memset(gd, 0, sizeof *gd);
    gd->cfg = c;
    gd->g = g;
    gd->n_params = g->n_params;
    size_t np = (size_t)g->n_params + 1;
    int hist = c->guard.clip.history > 0 ? c->guard.clip.history : 1;
    int warm = c->guard.clip.warmup > 0 ? c->guard.clip.warmup : 1;
    int win = c->guard.spike.window > 0 ? c->guard.spike.window : 1;
    int scratch = hist > win ? hist : win;
    for (int i = 0; i < g->n_nodes; i++) gd->n_act += is_activation(g->nodes[i]);
    size_t max_units = 1;
    for (int i = 0; i < g->n_nodes; i++)
        if (is_activation(g->nodes[i]) && g->nodes[i]->out->per_sample > max_units)
            max_units = g->nodes[i]->out->per_sample;
    gd->param_sq = gg_alloc(np * sizeof *gd->param_sq, err);
    gd->param_gmax = gg_alloc(np * sizeof *gd->param_gmax, err);
    gd->param_nf = gg_alloc(np * sizeof *gd->param_nf, err);
    gd->seg_off = gg_alloc(np * sizeof *gd->seg_off, err);
    gd->seg_len = gg_alloc(np * sizeof *gd->seg_len, err);
    gd->w2 = gg_alloc(np * sizeof *gd->w2, err);
    gd->d2 = gg_alloc(np * sizeof *gd->d2, err);
    gd->alive = gg_alloc(max_units * sizeof *gd->alive, err);
    gd->max_threads = omp_get_max_threads();
    gd->partial = gg_alloc((size_t)gd->max_threads * 2 * np * sizeof *gd->partial, err);
    gd->agc_skip = gg_alloc(np * sizeof *gd->agc_skip, err);
    gd->autoclip = gg_alloc((size_t)hist * sizeof *gd->autoclip, err);
    gd->z_warm = gg_alloc((size_t)warm * sizeof *gd->z_warm, err);
    gd->scratch = gg_alloc((size_t)scratch * sizeof *gd->scratch, err);
    gd->pstats = gg_alloc(np * sizeof *gd->pstats, err);
    gd->lstats = gg_alloc(((size_t)gd->n_act + 1) * sizeof *gd->lstats, err);
    gd->act_nodes = gg_alloc(((size_t)gd->n_act + 1) * sizeof *gd->act_nodes, err);
    gd->sq_first = gg_alloc(np * sizeof *gd->sq_first, err);
    gd->sq_recent = gg_alloc(np * sizeof *gd->sq_recent, err);
    if (!gd->param_sq || !gd->agc_skip || !gd->autoclip || !gd->z_warm || !gd->scratch ||
        !gd->pstats || !gd->lstats || !gd->act_nodes || !gd->param_gmax || !gd->param_nf ||
        !gd->seg_off || !gd->seg_len || !gd->w2 || !gd->d2 || !gd->alive || !gd->partial || !gd->sq_first ||
        !gd->sq_recent || window_new(&gd->loss_w, win, err) || window_new(&gd->norm_w, win, err)) {
        gg_guard_free(gd);
        return GG_ERR_NOMEM;
    }
    if (g->n_params > GG_OPTIM_MAX_SEGS) {
        gg_guard_free(gd);
        return gg_fail(err, GG_ERR_ARG, "the model has %d parameter tensors; the guard handles up to %d",
                       g->n_params, GG_OPTIM_MAX_SEGS);
    }
    for (int i = 0; i < g->n_params; i++) {
        gd->pstats[i].name = g->params[i]->name;
        gd->pstats[i].update_ratio = NAN;
        gd->seg_off[i] = g->params[i]->offset;
        gd->seg_len[i] = g->params[i]->out->len;
    }
    gd->segs = (gg_segments){.n = g->n_params, .off = gd->seg_off, .len = gd->seg_len};
    for (int i = 0, k = 0; i < g->n_nodes; i++)
        if (is_activation(g->nodes[i])) {
            gd->act_nodes[k] = g->nodes[i];
            gd->lstats[k].layer = g->nodes[i]->layer;
            gd->lstats[k].kind = g->nodes[i]->op->name;
            gd->lstats[k].dead_frac = gd->lstats[k].saturated_frac = NAN;
            k++;
        }
    agc_exclusions(gd);
    gd->explode_ratio = 1;
    gd->nonfinite_first_step = -1;
    return GG_OK;
}

void gg_guard_free(gg_guard *gd) {
    if (!gd) return;
    free(gd->param_sq);
    free(gd->agc_skip);
    free(gd->autoclip);
    free(gd->z_warm);
    free(gd->scratch);
    free(gd->pstats);
    free(gd->lstats);
    free(gd->act_nodes);
    free(gd->param_gmax);
    free(gd->param_nf);
    free(gd->seg_off);
    free(gd->seg_len);
    free(gd->w2);
    free(gd->d2);
    free(gd->alive);
    free(gd->partial);
    free(gd->sq_first);
    free(gd->sq_recent);
    free(gd->loss_w.v);
    free(gd->norm_w.v);
    memset(gd, 0, sizeof *gd);
}

double gg_guard_measure(gg_guard *gd, size_t *nonfinite) {
    const gg_graph *g = gd->g;
    double total = 0;
    *nonfinite = 0;
    gg_grad_stats_segments(g->grad, &gd->segs, gd->partial, gd->max_threads, gd->param_sq,
                           gd->param_gmax, gd->param_nf);
    for (int i = 0; i < g->n_params; i++) {
        *nonfinite += gd->param_nf[i];
        total += gd->param_sq[i];
    }
    if (!isfinite(total) && *nonfinite == 0) {
        /* Finite but too large to square: the overflow-safe flat pass. */
        gg_grad_stats st;
        gg_grad_stats_compute(g->grad, g->param_len, 2, &st);
        return st.norm;
    }
    return *nonfinite ? NAN : sqrt(total);
}

/* The window's level, its median (one spike, or a few in a row, barely
 * move it, so they cannot mask the next), and its noise, from the median
 * absolute deviation of successive differences: a trend, like the steady
 * fall of early training, shifts the differences but barely spreads them,
 * where it would spread the values themselves. */
static void level_and_noise(const gg_window *w, double *scratch, double *level, double *noise) {
    int n = w->n;
    double mad;
    gg_window_stats(w, scratch, level, &mad);
    *noise = 0;
    if (n < 3) return;
    int first = (w->pos - n + w->cap) % w->cap;
    for (int i = 1; i < n; i++)
        scratch[i - 1] = w->v[(first + i) % w->cap] - w->v[(first + i - 1) % w->cap];
    double med = gg_select_kth(scratch, n - 1, (n - 1) / 2);
    for (int i = 0; i < n - 1; i++) scratch[i] = fabs(scratch[i] - med);
    /* 1.4826 MAD estimates a standard deviation; a difference of two noisy
     * values has sqrt 2 times the noise of one. */
    *noise = 1.4826 * gg_select_kth(scratch, n - 1, (n - 1) / 2) / M_SQRT2;
}

bool gg_guard_spike(gg_guard *gd, int64_t step, double loss, double norm) {
    const __typeof__(gd->cfg->guard.spike) *c = &gd->cfg->guard.spike;
    bool spike = false;
    /* log(x) of a value <= 0 or non-finite is not finite: never judged, never kept. */
    const struct { gg_window *w; double x, lx; const char *what; } tests[2] = {
        {&gd->loss_w, loss, log(loss), "loss"}, {&gd->norm_w, norm, log(norm), "gradient norm"}};
    for (int k = 0; k < 2; k++) {
        int history = gd->rebaseline ? tests[k].w->cap : c->min_history;
        if (c->enabled && tests[k].w->n >= history && isfinite(tests[k].lx)) {
            /* threshold noise deviations above the level, and at least a
             * doubling: a flat series (no noise) must not flag jitter. */
            double med, scale;
            level_and_noise(tests[k].w, gd->scratch, &med, &scale);
            double up = tests[k].lx - med;
            if (up > fmax(c->threshold * scale, M_LN2)) {
                spike = true;
                gd->spikes++;
                gg_guard_event(gd, step, "spike",
                               "%s %.4g is %.3gx the median %.4g of the last %d steps (%.1f noise deviations)",
                               tests[k].what, tests[k].x, exp(up), exp(med), tests[k].w->n,
                               scale > 0 ? up / scale : INFINITY);
            }
        }
    }
    gg_window_push(&gd->loss_w, tests[0].lx);
    gg_window_push(&gd->norm_w, tests[1].lx);
    if (gd->rebaseline && gd->loss_w.n >= gd->loss_w.cap && gd->norm_w.n >= gd->norm_w.cap)
        gd->rebaseline = false;
    return spike;
}

void gg_guard_rebaseline(gg_guard *gd) {
    gg_window_clear(&gd->loss_w);
    gg_window_clear(&gd->norm_w);
    gd->rebaseline = true;
}

const gg_node *gg_guard_first_nonfinite_op(const gg_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const gg_node *n = g->nodes[i];
        if (!n->op) continue;
        for (size_t k = 0; k < n->out->len; k++)
            if (!isfinite(n->out->x[k])) return n;
    }
    return NULL;
}
