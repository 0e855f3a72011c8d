/* One training step: batch -> forward -> backward -> guard (non-finite
 * check, clipping) -> schedule -> optimiser. Everything it touches was
 * allocated by gg_trainer_new; a step allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer.h"

gg_status gg_trainer_new(gg_model *m, const gg_config *c, const gg_dataset *train,
                         gg_trainer **out, gg_error *err) {
    *out = NULL;
    gg_status s;
    if (!m || !c || !train) return gg_fail(err, GG_ERR_ARG, "gg_trainer_new: NULL argument");
    if (train->n == 0) return gg_fail(err, GG_ERR_DATA, "data set '%s' is empty", train->name);
    if ((s = gg_model_check_data(m, train, err)) != GG_OK) return s;
    if (c->train.batch_size > m->g->max_batch)
        return gg_fail(err, GG_ERR_ARG, "train.batch_size %d exceeds the model's max batch %d",
                       c->train.batch_size, m->g->max_batch);
    gg_clip_mode mode = c->guard.clip.mode;
    if (mode == GG_CLIP_MODE_AGC || mode == GG_CLIP_MODE_AUTOCLIP || mode == GG_CLIP_MODE_ZCLIP)
        return gg_fail(err, GG_ERR_CONFIG, "guard.clip.mode: '%s' is not available yet (issue #4)",
                       gg_clip_mode_name(mode));
    gg_trainer *t = gg_alloc(sizeof *t, err);
    if (!t) return GG_ERR_NOMEM;
    t->m = m;
    t->data = train;
    t->batch = c->train.batch_size;
    if ((s = gg_config_copy(&t->cfg, c, err)) != GG_OK) goto fail;
    t->order = gg_alloc(train->n * sizeof *t->order, err);
    if (!t->order) {
        s = GG_ERR_NOMEM;
        goto fail;
    }
    if ((s = gg_optim_new(&t->cfg, m->g->param_len, &t->opt, err)) != GG_OK) goto fail;
    t->steps_per_epoch = (int64_t)((train->n + (size_t)t->batch - 1) / (size_t)t->batch);
    int64_t total = t->steps_per_epoch * c->train.epochs;
    if (c->train.steps > 0 && c->train.steps < total) total = c->train.steps;
    gg_schedule_init(&t->sched, &t->cfg, total);
    gg_trainer_order(t, 0);
    *out = t;
    return GG_OK;
fail:
    gg_trainer_free(t);
    return s;
}

void gg_trainer_free(gg_trainer *t) {
    if (!t) return;
    gg_optim_free(t->opt);
    free(t->order);
    gg_config_release(&t->cfg);
    free(t);
}

int64_t gg_trainer_steps_per_epoch(const gg_trainer *t) { return t->steps_per_epoch; }

void gg_trainer_order(gg_trainer *t, int epoch) {
    size_t n = t->data->n;
    for (size_t i = 0; i < n; i++) t->order[i] = (uint32_t)i;
    if (t->cfg.data.shuffle) {
        gg_rng r;
        gg_rng_seed(&r, t->cfg.seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch + 1);
        gg_rng_shuffle(&r, t->order, n);
    }
}

/* The first parameter whose gradient holds a NaN or an Inf. */
static const gg_node *first_nonfinite(const gg_graph *g) {
    for (int i = 0; i < g->n_params; i++) {
        const gg_tensor *p = g->params[i]->out;
        for (size_t k = 0; k < p->len; k++)
            if (!isfinite(p->dx[k])) return g->params[i];
    }
    return NULL;
}

static void zero_nonfinite(gg_real *x, size_t len) {
#pragma omp parallel for simd schedule(static) if (len >= GG_PAR_MIN)
    for (size_t i = 0; i < len; i++) x[i] = isfinite(x[i]) ? x[i] : 0;
}

gg_status gg_trainer_step(gg_trainer *t, gg_step_info *info, gg_error *err) {
    gg_model *m = t->m;
    gg_graph *g = m->g;
    const gg_config *c = &t->cfg;
    memset(info, 0, sizeof *info);
    size_t N = t->data->n;
    int n = (int)(N - t->pos < (size_t)t->batch ? N - t->pos : (size_t)t->batch);

    gg_graph_set_training(g, 1);
    gg_model_load_batch(m, t->data, t->order, t->pos, n);
    gg_graph_forward(g);
    gg_graph_backward(g, m->loss);

    double loss = m->loss->out->x[0];
    info->samples = n;
    info->correct = t->data->classes > 0 ? (int)gg_model_batch_correct(m, n) : -1;
    gg_grad_stats st;
    gg_grad_stats_compute(g->grad, g->param_len, 2, &st);
    info->loss = loss;
    info->grad_norm = st.norm;
    info->clip_coef = 1;
    info->nonfinite = st.nonfinite + (isfinite(loss) ? 0 : 1);
    bool guard = c->guard.enabled != 0, apply = true;

    if (guard && info->nonfinite) {
        switch (c->guard.nonfinite) {
        case GG_NONFINITE_ERROR: {
            const gg_node *p = first_nonfinite(g);
            if (p)
                return gg_fail(err, GG_ERR_NONFINITE,
                               "step %lld: gradient of %s has %zu non-finite values; the update "
                               "was not applied", (long long)t->step + 1, p->name, st.nonfinite);
            return gg_fail(err, GG_ERR_NONFINITE, "step %lld: the loss is %g; the update was not applied",
                           (long long)t->step + 1, loss);
        }
        case GG_NONFINITE_ZERO:
            if (isfinite(loss)) {
                zero_nonfinite(g->grad, g->param_len);
                gg_grad_stats_compute(g->grad, g->param_len, 2, &st);
                break;
            }
            apply = false; /* a non-finite loss leaves nothing to keep */
            break;
        case GG_NONFINITE_SKIP: apply = false; break;
        }
    }
    if (guard && apply) {
        switch (c->guard.clip.mode) {
        case GG_CLIP_MODE_VALUE:
            info->clip_coef = gg_clip_value(g->grad, g->param_len, c->guard.clip.value);
            break;
        case GG_CLIP_MODE_NORM:
            info->clip_coef = gg_clip_per_tensor(g, c->guard.clip.max_norm, c->guard.clip.norm_type);
            break;
        case GG_CLIP_MODE_GLOBAL_NORM: {
            double total = st.norm;
            if (c->guard.clip.norm_type != 2) {
                gg_grad_stats sp;
                gg_grad_stats_compute(g->grad, g->param_len, c->guard.clip.norm_type, &sp);
                total = sp.norm;
            }
            info->clip_coef = gg_clip_global_coef(total, c->guard.clip.max_norm);
            break;
        }
        default: break;
        }
    }
    info->lr = gg_schedule_lr(&t->sched, t->step);
    if (apply) {
        t->opt->lr = info->lr;
        double mom = gg_schedule_momentum(&t->sched, t->step);
        if (!isnan(mom)) {
            if (t->opt->kind == GG_OPTIM_ADAM || t->opt->kind == GG_OPTIM_ADAMW) t->opt->beta1 = mom;
            else t->opt->momentum = mom;
        }
        /* Global-norm clipping is fused into the update; the other modes
         * have already rescaled the gradient in place. */
        gg_real k = c->guard.clip.mode == GG_CLIP_MODE_GLOBAL_NORM && guard ? (gg_real)info->clip_coef : 1;
        gg_optim_step(t->opt, g->param, g->grad, k);
    }
    info->skipped = !apply;
    t->step++;
    t->pos += (size_t)n;
    info->step = t->step;
    info->epoch = t->epoch;
    if (t->pos >= N) {
        t->pos = 0;
        t->epoch++;
        info->epoch_end = 1;
        gg_trainer_order(t, t->epoch);
    }
    return GG_OK;
}
