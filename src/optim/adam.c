/* Adam (L2 decay folded into the gradient) and AdamW (decoupled decay,
 * p *= 1 - lr wd), with bias corrections m/(1 - b1^t), v/(1 - b2^t) applied
 * as torch.optim does: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps. */
#include <tgmath.h>
#include "graph/graph.h"
#include "optim/optim.h"

/* Branch-free loops (the variants are separate loops, decay and L2 are
 * multiplications by 1 and additions of 0 when off), so they vectorise. */
static void adam_update(gg_optim *o, gg_real *p, const gg_real *g, gg_real k, bool decoupled) {
    const double bc1 = 1 - pow(o->beta1, (double)o->t), bc2 = 1 - pow(o->beta2, (double)o->t);
    const gg_real step = (gg_real)(o->lr / bc1), bc2_sqrt = (gg_real)sqrt(bc2);
    const gg_real b1 = (gg_real)o->beta1, b2 = (gg_real)o->beta2, eps = (gg_real)o->eps;
    const gg_real wd = decoupled ? 0 : (gg_real)o->weight_decay;
    const gg_real decay = decoupled ? (gg_real)(1 - o->lr * o->weight_decay) : 1;
    /* 1 - beta in double, then rounded, as torch passes alpha = 1 - beta. */
    const gg_real c1 = (gg_real)(1 - o->beta1), c2 = (gg_real)(1 - o->beta2);
    gg_real *restrict m = o->state[0], *restrict v = o->state[1], *restrict vmax = o->state[2];
    gg_real *restrict pp = p;
    const gg_real *restrict gg = g;
    size_t len = o->len;
    if (o->amsgrad) {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
        for (size_t i = 0; i < len; i++) {
            gg_real pi = pp[i] * decay, d = gg[i] * k + wd * pi;
            m[i] = m[i] * b1 + d * c1;
            v[i] = v[i] * b2 + d * d * c2;
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            pp[i] = pi + -step * (m[i] / (sqrt(vmax[i]) / bc2_sqrt + eps));
        }
    } else {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
        for (size_t i = 0; i < len; i++) {
            gg_real pi = pp[i] * decay, d = gg[i] * k + wd * pi;
            m[i] = m[i] * b1 + d * c1;
            v[i] = v[i] * b2 + d * d * c2;
            pp[i] = pi + -step * (m[i] / (sqrt(v[i]) / bc2_sqrt + eps));
        }
    }
}

static void adam_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real k) {
    adam_update(o, p, g, k, false);
}
static void adamw_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real k) {
    adam_update(o, p, g, k, true);
}

const gg_optim_def gg_optim_adam = {.name = "adam", .n_state = 3,
                                    .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                                    .step = adam_step};
const gg_optim_def gg_optim_adamw = {.name = "adamw", .n_state = 3,
                                     .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                                     .step = adamw_step};
