/* Schedules: lr(t) for the t-th step (0-based), each with PyTorch's
 * semantics (torch.optim.lr_scheduler) or the seeds' formula. A linear
 * warm-up of W steps (LinearLR from warmup_start) runs in front; the main
 * schedule then counts from 0, as SequentialLR does. */
#include <math.h>
#include "guard/schedule.h"

void gg_schedule_init(gg_schedule *s, const gg_config *c, int64_t total_steps) {
    s->kind = c->schedule.name;
    s->base_lr = c->optimizer.lr;
    s->total_steps = total_steps;
    s->cfg = c;
    s->scale = 1;
    s->plateau_best = INFINITY;
    s->plateau_bad = 0;
    s->plateau_cooldown = 0;
}

/* The main schedule's length T: the configured one, else what the run has
 * left after warm-up, and never below one step. */
static double main_length(const gg_schedule *s) {
    int64_t T = s->cfg->schedule.total_steps > 0 ? s->cfg->schedule.total_steps
                                                 : s->total_steps - s->cfg->schedule.warmup_steps;
    return T > 1 ? (double)T : 1.0;
}

static double cos_anneal(double start, double end, double pct) {
    return end + (start - end) / 2 * (cos(M_PI * pct) + 1);
}

/* OneCycleLR's phases: (end step, start lr, end lr, start momentum, end momentum). */
static void onecycle(const gg_schedule *s, int64_t t, double *lr, double *mom) {
    const __typeof__(s->cfg->schedule) *c = &s->cfg->schedule;
    double T = main_length(s);
    double max_lr = c->max_lr > 0 ? c->max_lr : 10 * s->base_lr;
    double initial = max_lr / c->div_factor, min_lr = initial / c->final_div_factor;
    double bm = c->base_momentum, mm = c->max_momentum;
    double ends[3], lrs[4], moms[4];
    int n;
    if (c->three_phase) {
        n = 3;
        ends[0] = c->pct_start * T - 1, ends[1] = 2 * c->pct_start * T - 2, ends[2] = T - 1;
        lrs[0] = initial, lrs[1] = max_lr, lrs[2] = initial, lrs[3] = min_lr;
        moms[0] = mm, moms[1] = bm, moms[2] = mm, moms[3] = mm;
    } else {
        n = 2;
        ends[0] = c->pct_start * T - 1, ends[1] = T - 1;
        lrs[0] = initial, lrs[1] = max_lr, lrs[2] = min_lr;
        moms[0] = mm, moms[1] = bm, moms[2] = mm;
    }
    double start = 0, step = (double)t;
    for (int i = 0; i < n; i++) {
        if (step <= ends[i] || i == n - 1) {
            double pct = ends[i] > start ? (step - start) / (ends[i] - start) : 1;
            if (pct > 1) pct = 1;
            *lr = cos_anneal(lrs[i], lrs[i + 1], pct);
            *mom = cos_anneal(moms[i], moms[i + 1], pct);
            return;
        }
        start = ends[i];
    }
}

static double main_lr(const gg_schedule *s, int64_t t) {
    const __typeof__(s->cfg->schedule) *c = &s->cfg->schedule;
    double lr0 = s->base_lr, T;
    switch (s->kind) {
    case GG_SCHED_CONSTANT:
    case GG_SCHED_PLATEAU: return lr0;
    case GG_SCHED_STEP: return lr0 * pow(c->gamma, (double)(t / c->step_size));
    case GG_SCHED_MULTISTEP: {
        int passed = 0;
        for (int i = 0; i < c->n_milestones; i++) passed += t >= c->milestones[i];
        return lr0 * pow(c->gamma, passed);
    }
    case GG_SCHED_EXPONENTIAL: return lr0 * pow(c->gamma, (double)t);
    case GG_SCHED_LINEAR: return fmax(lr0 * (1 - c->alpha * (double)t), c->min_lr);
    case GG_SCHED_INVERSE: {
        double gt = pow(c->gamma, (double)t);
        return lr0 * gt / (gt + c->beta);
    }
    case GG_SCHED_POLYNOMIAL:
        T = main_length(s);
        return lr0 * pow(1 - fmin((double)t, T) / T, c->power);
    case GG_SCHED_COSINE: {
        double tc = (double)t, ti;
        if (c->restart_steps > 0) { /* CosineAnnealingWarmRestarts */
            /* Walk the cycles in integers, as torch does: a closed form with
             * log() lands a hair below a restart and misses it. */
            int64_t cur = t, len = c->restart_steps;
            if (c->restart_mult == 1) {
                cur %= len;
            } else {
                while (cur >= len) {
                    cur -= len;
                    len = (int64_t)((double)len * c->restart_mult);
                }
            }
            tc = (double)cur;
            ti = (double)len;
        } else {
            ti = main_length(s);
            tc = fmin(tc, ti);
        }
        return c->min_lr + (lr0 - c->min_lr) * (1 + cos(M_PI * tc / ti)) / 2;
    }
    case GG_SCHED_ONECYCLE: {
        double lr, mom;
        onecycle(s, t, &lr, &mom);
        return lr;
    }
    }
    return lr0;
}

double gg_schedule_lr(const gg_schedule *s, int64_t t) {
    int64_t w = s->cfg->schedule.warmup_steps;
    double lr;
    if (t < w) {
        double f0 = s->cfg->schedule.warmup_start;
        lr = main_lr(s, 0) * (f0 + (1 - f0) * (double)t / (double)w);
    } else {
        lr = main_lr(s, t - w);
    }
    return lr * s->scale;
}

double gg_schedule_momentum(const gg_schedule *s, int64_t t) {
    int64_t w = s->cfg->schedule.warmup_steps;
    if (s->kind != GG_SCHED_ONECYCLE || !s->cfg->schedule.cycle_momentum) return NAN;
    double lr, mom;
    onecycle(s, t < w ? 0 : t - w, &lr, &mom);
    return mom;
}

/* ReduceLROnPlateau, mode min, relative threshold, as PyTorch. */
int gg_schedule_plateau(gg_schedule *s, double val_loss) {
    const __typeof__(s->cfg->schedule) *c = &s->cfg->schedule;
    if (s->kind != GG_SCHED_PLATEAU || !isfinite(val_loss)) return 0;
    if (val_loss < s->plateau_best * (1 - c->threshold)) {
        s->plateau_best = val_loss;
        s->plateau_bad = 0;
    } else {
        s->plateau_bad++;
    }
    if (s->plateau_cooldown > 0) {
        s->plateau_cooldown--;
        s->plateau_bad = 0;
    }
    if (s->plateau_bad > c->patience) {
        double old = s->base_lr * s->scale;
        double next = fmax(old * c->factor, c->min_lr);
        s->plateau_cooldown = c->cooldown;
        s->plateau_bad = 0;
        if (old - next > 1e-8) {
            s->scale = next / s->base_lr;
            return 1;
        }
    }
    return 0;
}
