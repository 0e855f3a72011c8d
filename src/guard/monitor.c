/* Monitoring, every step while guard.monitor.every > 0 (the step line
 * carries it every `every` steps): per parameter the gradient norm, max
 * |g| and non-finite count (from the norm pass gg_guard_measure makes
 * anyway), the weight norm and the update/weight ratio (sums the optimiser
 * gathers in its own pass); per activation layer the dead-unit and
 * saturated fractions, from one vectorised pass over its output. */
#include <math.h>
#include <string.h>
#include "guard/guard.h"

static void layer_stats(gg_guard *gd, int k) {
    const gg_node *n = gd->act_nodes[k];
    const gg_tensor *y = n->out;
    const char *kind = n->op->name;
    size_t N = y->batched ? (size_t)y->shape[0] : 1, U = y->len / N;
    gg_layer_stats *s = &gd->lstats[k];
    bool sig = strcmp(kind, "sigmoid") == 0, tanh_ = strcmp(kind, "tanh") == 0;
    const gg_real *x = y->x;
    if (sig || tanh_) {
        size_t sat = 0;
        if (sig) {
#pragma omp simd reduction(+ : sat)
            for (size_t i = 0; i < y->len; i++) sat += x[i] < (gg_real)0.01 || x[i] > (gg_real)0.99;
        } else {
#pragma omp simd reduction(+ : sat)
            for (size_t i = 0; i < y->len; i++) sat += x[i] > (gg_real)0.99 || x[i] < (gg_real)-0.99;
        }
        s->saturated_frac = (double)sat / (double)y->len;
        s->dead_frac = NAN;
        return;
    }
    /* ReLU family: a unit is dead on this batch when no sample activates it;
     * rows are OR-ed into per-unit flags, a contiguous pass. ReLU outputs
     * are +0 or positive, so their raw bits are non-zero exactly when the
     * unit fired: an integer OR, no comparison. */
    uint32_t *alive = gd->alive;
    memset(alive, 0, U * sizeof *alive);
    bool relu = strcmp(kind, "relu") == 0;
    for (size_t i = 0; i < N; i++) {
        const gg_real *row = x + i * U;
        if (relu && sizeof(gg_real) == sizeof(uint32_t)) {
#pragma omp simd
            for (size_t u = 0; u < U; u++) {
                uint32_t bits; /* memcpy: the aliasing-safe way to read the bits */
                memcpy(&bits, &row[u], sizeof bits);
                alive[u] |= bits;
            }
        } else {
#pragma omp simd
            for (size_t u = 0; u < U; u++) alive[u] |= row[u] > 0;
        }
    }
    size_t dead = 0;
    for (size_t u = 0; u < U; u++) dead += !alive[u];
    s->dead_frac = (double)dead / (double)U;
    s->saturated_frac = NAN;
}

void gg_guard_monitor(gg_guard *gd, bool updated) {
    for (int i = 0; i < gd->n_params; i++) {
        gg_param_stats *s = &gd->pstats[i];
        s->grad_norm = sqrt(gd->param_sq[i]);
        s->grad_max = gd->param_gmax[i];
        s->nonfinite = gd->param_nf[i];
        if (updated) {
            s->weight_norm = sqrt(gd->w2[i]);
            s->update_ratio = gd->w2[i] > 0 ? sqrt(gd->d2[i] / gd->w2[i]) : NAN;
        } else {
            s->update_ratio = 0;
        }
    }
    for (int k = 0; k < gd->n_act; k++) layer_stats(gd, k);
}
