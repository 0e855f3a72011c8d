/* SGD with optional L2 weight decay, momentum (buffer = g on the first
 * step, then mu buf + (1 - dampening) g) and Nesterov, as torch.optim.SGD;
 * the L1 term l1 sign(p) joins the gradient before anything else. */
#include "optim/optim.h"

/* Elements [lo, hi): three branch-free loops (plain, momentum, Nesterov);
 * weight decay and L1 off are additions of 0 * p and 0 * sign(p). Each also
 * sums ||p||^2 before and ||delta p||^2 for the monitor, free in a
 * memory-bound loop. */
static void sgd_range(const gg_optim *o, gg_real *restrict p, const gg_real *restrict g,
                      gg_real k, size_t lo, size_t hi, double *w2_out, double *d2_out) {
    const gg_real lr = (gg_real)o->lr, wd = (gg_real)o->weight_decay, l1 = (gg_real)o->l1;
    const gg_real mu = (gg_real)o->momentum, damp = (gg_real)(1 - o->dampening);
    /* On the first step the buffer takes d itself: buf * 0 + 1 * d. */
    const gg_real keep = o->t == 1 ? 0 : mu, take = o->t == 1 ? 1 : damp;
    gg_real *restrict buf = o->state[0];
    double w2 = 0, d2 = 0;
    if (o->momentum == 0) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            gg_real delta = -lr * (d + wd * old);
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    } else if (!o->nesterov) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            buf[i] = buf[i] * keep + take * d;
            gg_real delta = -lr * buf[i];
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    } else {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            buf[i] = buf[i] * keep + take * d;
            gg_real delta = -lr * (d + mu * buf[i]);
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    }
    *w2_out = w2;
    *d2_out = d2;
}

const gg_optim_def gg_optim_sgd = {.name = "sgd", .n_state = 1,
                                   .state_names = {"momentum_buffer"}, .range = sgd_range};
