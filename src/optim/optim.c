/* The optimiser registry: config name -> definition, state allocation. */
#include <stdlib.h>
#include <string.h>
#include "optim/optim.h"

static const gg_optim_def *def_for(gg_optim_kind k) {
    switch (k) {
    case GG_OPTIM_SGD:
    case GG_OPTIM_MOMENTUM:
    case GG_OPTIM_NESTEROV: return &gg_optim_sgd;
    case GG_OPTIM_ADAM: return &gg_optim_adam;
    case GG_OPTIM_ADAMW: return &gg_optim_adamw;
    }
    return NULL;
}

gg_status gg_optim_new(const gg_config *c, size_t len, gg_optim **out, gg_error *err) {
    *out = NULL;
    const gg_optim_def *def = def_for(c->optimizer.name);
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
    o->len = len;
    int n_state = def->n_state - (def != &gg_optim_sgd && !o->amsgrad ? 1 : 0);
    for (int i = 0; i < n_state; i++) {
        o->state[i] = gg_alloc_aligned(len * sizeof(gg_real), err);
        if (!o->state[i]) {
            gg_optim_free(o);
            return GG_ERR_NOMEM;
        }
    }
    *out = o;
    return GG_OK;
}

void gg_optim_free(gg_optim *o) {
    if (!o) return;
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++) free(o->state[i]);
    free(o);
}

void gg_optim_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale) {
    o->t++;
    o->def->step(o, p, g, gscale);
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
