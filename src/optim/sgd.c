/* SGD with optional L2 weight decay, momentum (buffer = g on the first
 * step, then mu buf + (1 - dampening) g) and Nesterov, as torch.optim.SGD. */
#include "graph/graph.h"
#include "optim/optim.h"

/* Three branch-free loops: plain, momentum (first step: buffer = d), and
 * Nesterov; weight decay off is an addition of 0 * p. */
static void sgd_step(gg_optim *o, gg_real *p, const gg_real *g, gg_real k) {
    const gg_real lr = (gg_real)o->lr, wd = (gg_real)o->weight_decay;
    const gg_real mu = (gg_real)o->momentum, damp = (gg_real)(1 - o->dampening);
    /* On the first step the buffer takes d itself: buf * 0 + 1 * d. */
    const gg_real keep = o->t == 1 ? 0 : mu, take = o->t == 1 ? 1 : damp;
    gg_real *restrict buf = o->state[0], *restrict pp = p;
    const gg_real *restrict gg = g;
    size_t len = o->len;
    if (o->momentum == 0) {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
        for (size_t i = 0; i < len; i++) pp[i] += -lr * (gg[i] * k + wd * pp[i]);
    } else if (!o->nesterov) {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
        for (size_t i = 0; i < len; i++) {
            gg_real d = gg[i] * k + wd * pp[i];
            buf[i] = buf[i] * keep + take * d;
            pp[i] += -lr * buf[i];
        }
    } else {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
        for (size_t i = 0; i < len; i++) {
            gg_real d = gg[i] * k + wd * pp[i];
            buf[i] = buf[i] * keep + take * d;
            pp[i] += -lr * (d + mu * buf[i]);
        }
    }
}

const gg_optim_def gg_optim_sgd = {.name = "sgd", .n_state = 1,
                                   .state_names = {"momentum_buffer"}, .step = sgd_step};
