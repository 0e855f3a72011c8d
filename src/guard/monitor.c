/* Monitoring at every guard.monitor.every-th step: per parameter the
 * gradient norm and max |g|, the weight norm, the update/weight ratio and
 * non-finite count; per activation layer the dead-unit and saturated
 * fractions. The global and per-parameter gradient norms themselves are
 * measured every step (gg_guard_measure); this adds two passes over the
 * weights and one over each activation, only on monitored steps. */
#include <math.h>
#include <string.h>
#include "guard/guard.h"

void gg_guard_monitor_before(gg_guard *gd) {
    memcpy(gd->before, gd->g->param, gd->g->param_len * sizeof *gd->before);
}

static void param_stats(gg_guard *gd, int i) {
    const gg_node *p = gd->g->params[i];
    const gg_tensor *t = p->out;
    const gg_real *w0 = gd->before + p->offset;
    double gmax = 0, w2 = 0, w02 = 0, d2 = 0;
    size_t nf = 0;
    for (size_t k = 0; k < t->len; k++) {
        double gk = fabs((double)t->dx[k]);
        if (!isfinite(gk)) nf++;
        else gmax = gk > gmax ? gk : gmax;
        double w = t->x[k], d = w - w0[k];
        w2 += w * w;
        w02 += (double)w0[k] * w0[k];
        d2 += d * d;
    }
    gg_param_stats *s = &gd->pstats[i];
    s->grad_norm = sqrt(gd->param_sq[i]);
    s->grad_max = gmax;
    s->weight_norm = sqrt(w2);
    s->update_ratio = w02 > 0 ? sqrt(d2 / w02) : NAN;
    s->nonfinite = nf;
}

static void layer_stats(gg_guard *gd, int k) {
    const gg_node *n = gd->act_nodes[k];
    const gg_tensor *y = n->out;
    const char *kind = n->op->name;
    size_t N = y->batched ? (size_t)y->shape[0] : 1, U = y->len / N;
    gg_layer_stats *s = &gd->lstats[k];
    bool sig = strcmp(kind, "sigmoid") == 0, tanh_ = strcmp(kind, "tanh") == 0;
    if (sig || tanh_) {
        size_t sat = 0;
        for (size_t i = 0; i < y->len; i++) {
            double v = y->x[i];
            sat += sig ? (v < 0.01 || v > 0.99) : fabs(v) > 0.99;
        }
        s->saturated_frac = (double)sat / (double)y->len;
        s->dead_frac = NAN;
        return;
    }
    /* ReLU family: a unit is dead on this batch when no sample activates it. */
    size_t dead = 0;
    for (size_t u = 0; u < U; u++) {
        bool alive = false;
        for (size_t i = 0; i < N && !alive; i++) alive = y->x[i * U + u] > 0;
        dead += !alive;
    }
    s->dead_frac = (double)dead / (double)U;
    s->saturated_frac = NAN;
}

void gg_guard_monitor_after(gg_guard *gd) {
    for (int i = 0; i < gd->n_params; i++) param_stats(gd, i);
    for (int k = 0; k < gd->n_act; k++) layer_stats(gd, k);
}
