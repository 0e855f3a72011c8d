/* Optimisers over the flat parameter and gradient blocks: one loop each,
 * the same update equations, in the same order of float operations, as
 * torch.optim (1.13 single-tensor code paths). State tensors are flat
 * blocks too, named as PyTorch names them for checkpoints. */
#ifndef GG_OPTIM_H
#define GG_OPTIM_H

#include "core/core.h"
#include "io/config.h"

#define GG_OPTIM_MAX_STATE 3

typedef struct gg_optim gg_optim;

typedef struct gg_optim_def {
    const char *name;
    int n_state;
    const char *state_names[GG_OPTIM_MAX_STATE];
    void (*step)(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale);
} gg_optim_def;

struct gg_optim {
    const gg_optim_def *def;
    gg_optim_kind kind;
    double lr;        /* current, set by the schedule each step */
    double momentum;  /* sgd momentum, cycled by one-cycle */
    double dampening, weight_decay;
    double beta1, beta2, eps; /* beta1 is cycled by one-cycle for Adam */
    int nesterov, amsgrad;
    int64_t t;        /* updates applied */
    size_t len;
    gg_real *state[GG_OPTIM_MAX_STATE]; /* owned flat blocks, len each */
};

extern const gg_optim_def gg_optim_sgd, gg_optim_adam, gg_optim_adamw;

gg_status gg_optim_new(const gg_config *c, size_t len, gg_optim **out, gg_error *err);
void gg_optim_free(gg_optim *o);
/* Applies one update to p from gscale * g (gscale: the clip coefficient,
 * fused here to save a pass over the gradient); t counts it. */
void gg_optim_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale);
/* Copies state (t and every block) from src; both from the same config. */
void gg_optim_copy_state(gg_optim *dst, const gg_optim *src);

#endif
