/* RMSprop as torch.optim.RMSprop (1.13, single-tensor path):
 *   d   = gscale g + l1 sign(p) + wd p           (L1 first, then L2)
 *   sq  = sq alpha + ((1 - alpha) d) d             (mul_, addcmul_)
 *   centered: ga = ga alpha + (1 - alpha) d        (mul_, add_ with alpha)
 *             avg = sqrt(sq - ga ga) + eps         (addcmul value -1, sqrt_)
 *   else      avg = sqrt(sq) + eps
 *   momentum > 0: buf = buf momentum + d / avg;  p = p + (-lr) buf
 *   else          p = p + (-lr d) / avg           (addcdiv_: (value t1) / t2)
 * Four variants by the blocks they own, named as torch's state:
 * square_avg always, momentum_buffer with momentum, grad_avg when centered
 * (in that order, so state[1] is the buffer when there is one). The
 * momentum variants follow torch's test on every step: momentum cycled to
 * 0 takes the plain update and leaves the buffer alone. */
#include <tgmath.h>
#include "optim/optim.h"

/* Elements [lo, hi): one branch-free loop per variant; weight decay and L1
 * off are additions of 0. Each sums ||p||^2 before and ||delta p||^2. */
static void rmsprop_update(const gg_optim *o, gg_real *restrict p, const gg_real *restrict g,
                           gg_real k, gg_real *restrict sq, gg_real *restrict buf,
                           gg_real *restrict ga, size_t lo, size_t hi, double *w2_out,
                           double *d2_out) {
    const gg_real nlr = (gg_real)-o->lr, eps = (gg_real)o->eps;
    const gg_real wd = (gg_real)o->weight_decay, l1 = (gg_real)o->l1;
    const gg_real a = (gg_real)o->alpha, c = (gg_real)(1 - o->alpha); /* 1 - alpha in double */
    const gg_real mu = (gg_real)o->momentum;
    if (!(o->momentum > 0)) buf = NULL;
    double w2 = 0, d2 = 0;
    if (!ga && !buf) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            sq[i] = sq[i] * a + c * d * d;
            gg_real avg = sqrt(sq[i]) + eps;
            gg_real delta = nlr * d / avg;
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    } else if (!ga) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            sq[i] = sq[i] * a + c * d * d;
            gg_real avg = sqrt(sq[i]) + eps;
            buf[i] = buf[i] * mu + d / avg;
            gg_real delta = nlr * buf[i];
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    } else if (!buf) {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            sq[i] = sq[i] * a + c * d * d;
            ga[i] = ga[i] * a + c * d;
            gg_real avg = sqrt(sq[i] - ga[i] * ga[i]) + eps;
            gg_real delta = nlr * d / avg;
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    } else {
#pragma omp simd reduction(+ : w2, d2)
        for (size_t i = lo; i < hi; i++) {
            gg_real old = p[i], d = g[i] * k + l1 * gg_optim_sign(old);
            d = d + wd * old;
            sq[i] = sq[i] * a + c * d * d;
            ga[i] = ga[i] * a + c * d;
            gg_real avg = sqrt(sq[i] - ga[i] * ga[i]) + eps;
            buf[i] = buf[i] * mu + d / avg;
            gg_real delta = nlr * buf[i];
            p[i] = old + delta;
            w2 += (double)old * old, d2 += (double)delta * delta;
        }
    }
    *w2_out = w2;
    *d2_out = d2;
}

static void rmsprop_range(const gg_optim *o, gg_real *p, const gg_real *g, gg_real k, size_t lo,
                          size_t hi, double *w2, double *d2) {
    rmsprop_update(o, p, g, k, o->state[0], NULL, NULL, lo, hi, w2, d2);
}
static void rmsprop_momentum_range(const gg_optim *o, gg_real *p, const gg_real *g, gg_real k,
                                   size_t lo, size_t hi, double *w2, double *d2) {
    rmsprop_update(o, p, g, k, o->state[0], o->state[1], NULL, lo, hi, w2, d2);
}
static void rmsprop_centered_range(const gg_optim *o, gg_real *p, const gg_real *g, gg_real k,
                                   size_t lo, size_t hi, double *w2, double *d2) {
    rmsprop_update(o, p, g, k, o->state[0], NULL, o->state[1], lo, hi, w2, d2);
}
static void rmsprop_centered_momentum_range(const gg_optim *o, gg_real *p, const gg_real *g,
                                            gg_real k, size_t lo, size_t hi, double *w2,
                                            double *d2) {
    rmsprop_update(o, p, g, k, o->state[0], o->state[1], o->state[2], lo, hi, w2, d2);
}

const gg_optim_def gg_optim_rmsprop = {.name = "rmsprop", .n_state = 1,
                                       .state_names = {"square_avg"}, .range = rmsprop_range};
const gg_optim_def gg_optim_rmsprop_momentum = {
    .name = "rmsprop", .n_state = 2, .state_names = {"square_avg", "momentum_buffer"},
    .range = rmsprop_momentum_range};
const gg_optim_def gg_optim_rmsprop_centered = {
    .name = "rmsprop", .n_state = 2, .state_names = {"square_avg", "grad_avg"},
    .range = rmsprop_centered_range};
const gg_optim_def gg_optim_rmsprop_centered_momentum = {
    .name = "rmsprop", .n_state = 3, .state_names = {"square_avg", "momentum_buffer", "grad_avg"},
    .range = rmsprop_centered_momentum_range};
