/* The optimiser registry: config -> variant definition, state allocation. */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "graph/graph.h"
#include "optim/optim.h"

/* The variant for the config: the one whose state blocks are exactly those
 * the update will use. RMSprop keeps a momentum buffer when momentum > 0,
 * as torch creates it; one-cycle with cycle_momentum sets the momentum of
 * every step (torch's OneCycleLR sets it before the first step, so torch
 * creates the buffer then), so it needs the buffer even from momentum 0. */
static const gg_optim_def *def_for(const gg_config *c) {
    bool cycled = c->schedule.name == GG_SCHED_ONECYCLE && c->schedule.cycle_momentum;
    bool mom = c->optimizer.momentum > 0 || cycled;
    switch (c->optimizer.name) {
    case GG_OPTIM_SGD:
    case GG_OPTIM_MOMENTUM:
    case GG_OPTIM_NESTEROV: return &gg_optim_sgd;
    case GG_OPTIM_ADAM: return c->optimizer.amsgrad ? &gg_optim_adam_amsgrad : &gg_optim_adam;
    case GG_OPTIM_ADAMW: return c->optimizer.amsgrad ? &gg_optim_adamw_amsgrad : &gg_optim_adamw;
    case GG_OPTIM_ADAGRAD: return &gg_optim_adagrad;
    case GG_OPTIM_RMSPROP:
        if (c->optimizer.centered)
            return mom ? &gg_optim_rmsprop_centered_momentum : &gg_optim_rmsprop_centered;
        return mom ? &gg_optim_rmsprop_momentum : &gg_optim_rmsprop;
    }
    return NULL;
}

gg_status gg_optim_new(const gg_config *c, size_t len, gg_optim **out, gg_error *err) {
    *out = NULL;
    const gg_optim_def *def = def_for(c);
    if (!def) return gg_fail(err, GG_ERR_CONFIG, "optimizer.name: unknown optimiser");
    gg_optim *o = gg_alloc(sizeof *o, err);
    if (!o) return GG_ERR_NOMEM;
    o->def = def;
    o->kind = c->optimizer.name;
    o->lr = c->optimizer.lr;
    o->momentum = c->optimizer.momentum;
    o->dampening = c->optimizer.dampening;
    o->weight_decay = c->optimizer.weight_decay;
    o->beta1 = c->optimizer.beta1;
    o->beta2 = c->optimizer.beta2;
    o->eps = c->optimizer.eps;
    o->nesterov = c->optimizer.nesterov || c->optimizer.name == GG_OPTIM_NESTEROV;
    o->amsgrad = c->optimizer.amsgrad;
    o->alpha = c->optimizer.alpha;
    o->centered = c->optimizer.centered;
    o->lr_decay = c->optimizer.lr_decay;
    o->l1 = c->optimizer.l1;
    o->len = len;
    o->max_threads = omp_get_max_threads();
    o->partial = gg_alloc((size_t)o->max_threads * 2 * GG_OPTIM_MAX_SEGS * sizeof *o->partial, err);
    if (!o->partial) {
        gg_optim_free(o);
        return GG_ERR_NOMEM;
    }
    for (int i = 0; i < def->n_state; i++) {
        o->state[i] = gg_alloc_aligned(len * sizeof(gg_real), err);
        if (!o->state[i]) {
            gg_optim_free(o);
            return GG_ERR_NOMEM;
        }
    }
    /* Adagrad's sum starts at initial_accumulator_value (torch.full_like). */
    if (def == &gg_optim_adagrad)
        for (size_t i = 0; i < len; i++) o->state[0][i] = (gg_real)c->optimizer.initial_accumulator;
    *out = o;
    return GG_OK;
}

void gg_optim_free(gg_optim *o) {
    if (!o) return;
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++) free(o->state[i]);
    free(o->partial);
    free(o);
}

void gg_optim_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale) {
    size_t off = 0;
    gg_segments all = {.n = 1, .off = &off, .len = &o->len};
    double w2, d2;
    gg_optim_step_segments(o, p, g, gscale, &all, &w2, &d2);
}

/* One parallel region: each thread takes its static share of every
 * segment, so the work splits evenly whatever the parameter sizes, and the
 * partial sums are added in thread order, the same at every rerun. */
void gg_optim_step_segments(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale,
                            const gg_segments *seg, double *w2, double *d2) {
    o->t++;
    int threads = omp_get_max_threads();
    if (threads > o->max_threads) threads = o->max_threads;
    if (o->len < GG_PAR_MIN) threads = 1;
    int nseg = seg->n < GG_OPTIM_MAX_SEGS ? seg->n : GG_OPTIM_MAX_SEGS;
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        int T = omp_get_num_threads(), id = omp_get_thread_num();
#pragma omp single
        team = T;
        double *part = o->partial + (size_t)id * 2 * GG_OPTIM_MAX_SEGS;
        for (int s = 0; s < nseg; s++) {
            size_t lo, hi;
            gg_thread_share(seg->len[s], T, id, &lo, &hi);
            o->def->range(o, p, g, gscale, seg->off[s] + lo, seg->off[s] + hi, &part[2 * s],
                          &part[2 * s + 1]);
        }
    }
    for (int s = 0; s < nseg; s++) {
        w2[s] = d2[s] = 0;
        for (int id = 0; id < team; id++) {
            w2[s] += o->partial[(size_t)id * 2 * GG_OPTIM_MAX_SEGS + 2 * s];
            d2[s] += o->partial[(size_t)id * 2 * GG_OPTIM_MAX_SEGS + 2 * s + 1];
        }
    }
}

void gg_optim_copy_state(gg_optim *dst, const gg_optim *src) {
    dst->t = src->t;
    dst->lr = src->lr;
    dst->momentum = src->momentum;
    dst->beta1 = src->beta1;
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++)
        if (dst->state[i] && src->state[i])
            memcpy(dst->state[i], src->state[i], src->len * sizeof(gg_real));
}
