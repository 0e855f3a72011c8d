/* Adagrad as torch.optim.Adagrad (1.13, single-tensor path), step t:
 *   d   = gscale g + l1 sign(p) + wd p        (L1 first, then L2)
 *   clr = lr / (1 + (t - 1) lr_decay)         (in double, as torch's Python)
 *   sum = sum + d d                            (addcmul_, value 1)
 *   std = sqrt(sum) + eps
 *   p   = p + (-clr d) / std                   (addcdiv_: (value t1) / t2)
 * The one state block is torch's "sum", filled with initial_accumulator at
 * gg_optim_new; the step count is the optimiser's t. */
#include <tgmath.h>
#include "optim/optim.h"

/* Elements [lo, hi), one branch-free loop (weight decay and L1 off are
 * additions of 0), summing ||p||^2 before and ||delta p||^2 as well. */
static void adagrad_range(const gg_optim *o, gg_real *restrict p, const gg_real *restrict g,
                          gg_real k, size_t lo, size_t hi, double *w2_out, double *d2_out) {
    const double clr = o->lr / (1 + (double)(o->t - 1) * o->lr_decay);
    const gg_real nclr = (gg_real)-clr, eps = (gg_real)o->eps;
    const gg_real wd = (gg_real)o->weight_decay, l1 = (gg_real)o->l1;
    gg_real *restrict sum = o->state[0];
    double w2 = 0, d2 = 0;
#pragma omp simd reduction(+ : w2, d2)
    for (size_t i = lo; i < hi; i++) {
        gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
        d = d + wd * old;
        sum[i] = sum[i] + d * d;
        gg_real std = sqrt(sum[i]) + eps;
        gg_real delta = nclr * d / std;
        p[i] = old + delta;
        w2 += (double)old * old, d2 += (double)delta * delta;
    }
    *w2_out = w2;
    *d2_out = d2;
}

const gg_optim_def gg_optim_adagrad = {.name = "adagrad", .n_state = 1, .state_names = {"sum"},
                                       .range = adagrad_range};
