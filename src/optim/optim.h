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

/* One definition per variant that owns a different set of state blocks
 * (Adam with and without AMSGrad, the four RMSprop variants, ...), picked
 * from the config by gg_optim_new: a variant allocates exactly its n_state
 * blocks, state[0 .. n_state), every one of them used, so state[j] exists
 * exactly when j < n_state and is named state_names[j] (checkpoints save it
 * as optim.{param}.{state_names[j]}). */
typedef struct gg_optim_def {
    const char *name;
    int n_state;
    const char *state_names[GG_OPTIM_MAX_STATE];
    /* Updates elements [lo, hi) of the flat blocks (p, g and the state
     * alike) from gscale * g and returns, for the
     * monitor, the sums of p^2 before and of (delta p)^2 over them. */
    void (*range)(const gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale, size_t lo,
                  size_t hi, double *w2, double *d2);
} gg_optim_def;

struct gg_optim {
    const gg_optim_def *def;
    gg_optim_kind kind;
    double lr;        /* current, set by the schedule each step */
    double momentum;  /* sgd and rmsprop momentum, cycled by one-cycle */
    double dampening, weight_decay;
    double beta1, beta2, eps; /* beta1 is cycled by one-cycle for Adam */
    int nesterov, amsgrad;
    double alpha;     /* rmsprop smoothing constant */
    int centered;     /* rmsprop */
    double lr_decay;  /* adagrad: lr / (1 + (t - 1) lr_decay) */
    double l1;        /* l1 * sign(p) added to every gradient first */
    int64_t t;        /* updates applied */
    size_t len;
    gg_real *state[GG_OPTIM_MAX_STATE]; /* owned flat blocks, len each; def->n_state of them */
    int max_threads;         /* team size the partial sums were sized for */
    double *partial;         /* owned: [max_threads][2 * GG_OPTIM_MAX_SEGS] */
};

/* The parameters as segments of the flat block, for per-parameter sums. */
#define GG_OPTIM_MAX_SEGS 256
typedef struct gg_segments {
    int n;
    const size_t *off, *len;
} gg_segments;

extern const gg_optim_def gg_optim_sgd;
extern const gg_optim_def gg_optim_adam, gg_optim_adam_amsgrad;
extern const gg_optim_def gg_optim_adamw, gg_optim_adamw_amsgrad;
extern const gg_optim_def gg_optim_adagrad;
extern const gg_optim_def gg_optim_rmsprop, gg_optim_rmsprop_momentum;
extern const gg_optim_def gg_optim_rmsprop_centered, gg_optim_rmsprop_centered_momentum;

/* sign(x): 1, -1, or 0 for 0 (and NaN), branch-free so the loops vectorise;
 * the L1 term is l1 * gg_optim_sign(p). */
static inline gg_real gg_optim_sign(gg_real x) { return (gg_real)((x > 0) - (x < 0)); }

gg_status gg_optim_new(const gg_config *c, size_t len, gg_optim **out, gg_error *err);
void gg_optim_free(gg_optim *o);
/* Applies one update to p from gscale * g (gscale: the clip coefficient,
 * fused here to save a pass over the gradient); t counts it. */
void gg_optim_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale);
/* The same update, parameter by parameter, also returning per segment
 * ||p||^2 before the update (w2) and ||delta p||^2 (d2), summed in a fixed
 * order. Elements outside every segment (padding) are not touched. */
void gg_optim_step_segments(gg_optim *o, gg_real *p, const gg_real *g, gg_real gscale,
                            const gg_segments *seg, double *w2, double *d2);
/* Copies state (t and every block) from src; both from the same config. */
void gg_optim_copy_state(gg_optim *dst, const gg_optim *src);

#endif
