/* Adam (L2 decay folded into the gradient) and AdamW (decoupled decay,
 * p *= 1 - lr wd), with bias corrections m/(1 - b1^t), v/(1 - b2^t) applied
 * as torch.optim does: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps.
 * The L1 term l1 sign(p) (of p before AdamW's decay) joins the gradient
 * before anything else. AMSGrad is a variant of its own: it alone owns the
 * third block, max_exp_avg_sq. */
#include <tgmath.h>
#include "optim/optim.h"

/* Elements [lo, hi), branch-free (the amsgrad variant is its own loop,
 * decay, L2 and L1 are multiplications by 1 and additions of 0 when off), so
 * they vectorise; each sums ||p||^2 before and ||delta p||^2 as well. */
static void adam_update(const gg_optim *o, gg_real *restrict p, const gg_real *restrict g,
                        gg_real k, bool decoupled, size_t lo, size_t hi, double *w2_out,
                        double *d2_out) {
    const double bc1 = 1 - pow(o->beta1, (double)o->t), bc2 = 1 - pow(o->beta2, (double)o->t);
    const gg_real step = (gg_real)(o->lr / bc1), bc2_sqrt = (gg_real)sqrt(bc2);
    const gg_real b1 = (gg_real)o->beta1, b2 = (gg_real)o->beta2, eps = (gg_real)o->eps;
    const gg_real wd = decoupled ? 0 : (gg_real)o->weight_decay, l1 = (gg_real)o->l1;
    const gg_real decay = decoupled ? (gg_real)(1 - o->lr * o->weight_decay) : 1;
    /* 1 - beta in double, then rounded, as torch passes alpha = 1 - beta. */
    const gg_real c1 = (gg_real)(1 - o->beta1), c2 = (gg_real)(1 - o->beta2);
    gg_real *restrict m = o->state[0], *restrict v = o->state[1], *restrict vmax = o->state[2];
    double w2 = 0, d2 = 0;
    if (o->amsgrad) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], pi = old * decay, d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * pi;
            m[i] = m[i] * b1 + d * c1;
            v[i] = v[i] * b2 + d * d * c2;
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            p[i] = pi + -step * (m[i] / (sqrt(vmax[i]) / bc2_sqrt + eps));
            w2 += (double)old * old, d2 += ((double)p[i] - old) * ((double)p[i] - old);
        }
    } else {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], pi = old * decay, d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * pi;
            m[i] = m[i] * b1 + d * c1;
            v[i] = v[i] * b2 + d * d * c2;
            p[i] = pi + -step * (m[i] / (sqrt(v[i]) / bc2_sqrt + eps));
            w2 += (double)old * old, d2 += ((double)p[i] - old) * ((double)p[i] - old);
        }
    }
    *w2_out = w2;
    *d2_out = d2;
}

static void adam_range(const gg_optim *o, gg_real *p, const gg_real *g, gg_real k, size_t lo,
                       size_t hi, double *w2, double *d2) {
    adam_update(o, p, g, k, false, lo, hi, w2, d2);
}
static void adamw_range(const gg_optim *o, gg_real *p, const gg_real *g, gg_real k, size_t lo,
                        size_t hi, double *w2, double *d2) {
    adam_update(o, p, g, k, true, lo, hi, w2, d2);
}

/* AMSGrad's variant alone owns the third block. */
const gg_optim_def gg_optim_adam = {.name = "adam", .n_state = 2,
                                    .state_names = {"exp_avg", "exp_avg_sq"}, .range = adam_range};
const gg_optim_def gg_optim_adam_amsgrad = {
    .name = "adam", .n_state = 3, .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .range = adam_range};
const gg_optim_def gg_optim_adamw = {.name = "adamw", .n_state = 2,
                                     .state_names = {"exp_avg", "exp_avg_sq"}, .range = adamw_range};
const gg_optim_def gg_optim_adamw_amsgrad = {
    .name = "adamw", .n_state = 3, .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .range = adamw_range};
