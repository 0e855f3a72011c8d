/* One training step: batch -> forward -> backward -> guard (non-finite
 * check, clipping) -> schedule -> optimiser. Everything it touches was
 * allocated by gg_trainer_new; a step allocates nothing. */
#include <math.h>
#include <stdio.h>
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
    if (c->train.batch_size > m->g->grad_batch)
        return gg_fail(err, GG_ERR_ARG, "train.batch_size %d exceeds the model's %s batch %d",
                       c->train.batch_size, m->g->grad_batch < m->g->max_batch ? "training" : "max",
                       m->g->grad_batch);
    gg_trainer *t = gg_alloc(sizeof *t, err);
    if (!t) return GG_ERR_NOMEM;
    t->m = m;
    t->data = train;
    t->batch = c->train.batch_size;
    if ((s = gg_config_copy(&t->cfg, c, err)) != GG_OK) goto fail;
    t->order = gg_alloc(train->n * sizeof *t->order, err);
    t->buf_before = gg_alloc_aligned((m->g->buf_len + 16) * sizeof(gg_real), err);
    if (!t->order || !t->buf_before) {
        s = GG_ERR_NOMEM;
        goto fail;
    }
    if ((s = gg_optim_new(&t->cfg, m->g->param_len, &t->opt, err)) != GG_OK) goto fail;
    t->steps_per_epoch = (int64_t)((train->n + (size_t)t->batch - 1) / (size_t)t->batch);
    int64_t total = t->steps_per_epoch * c->train.epochs;
    if (c->train.steps > 0 && c->train.steps < total) total = c->train.steps;
    gg_schedule_init(&t->sched, &t->cfg, total);
    if ((s = gg_guard_new(&t->guard, &t->cfg, m->g, err)) != GG_OK) goto fail;
    if ((s = gg_recover_init(t, err)) != GG_OK) goto fail;
    if ((s = gg_early_stop_init(t, err)) != GG_OK) goto fail;
    if ((s = gg_trainer_prune_init(t, total, err)) != GG_OK) goto fail;
    if ((s = gg_trainer_dist_init(t, err)) != GG_OK) goto fail;
    gg_trainer_order(t, 0);
    t->data_crc = gg_dataset_checksum(train);
    *out = t;
    return GG_OK;
fail:
    gg_trainer_free(t);
    return s;
}

void gg_trainer_free(gg_trainer *t) {
    if (!t) return;
    gg_recover_free(t);
    gg_pruner_free(t->pruner);
    gg_guard_free(&t->guard);
    gg_optim_free(t->opt);
    free(t->order);
    free(t->buf_before);
    free(t->es_param);
    free(t->es_buf);
    free(t->dist_side);
    gg_config_release(&t->cfg);
    free(t);
}

gg_status gg_trainer_prune_init(gg_trainer *t, int64_t total, gg_error *err) {
    const gg_config *c = &t->cfg;
    if (c->prune.sparsity <= 0) return GG_OK;
    gg_prune_spec spec;
    gg_prune_spec_default(&spec);
    spec.sparsity = c->prune.sparsity;
    spec.initial_sparsity = c->prune.initial_sparsity;
    spec.structured = c->prune.structured;
    spec.scope = (gg_prune_scope)c->prune.scope;
    spec.start_step = c->prune.start_step;
    spec.end_step = c->prune.end_step > 0 ? c->prune.end_step : total * 3 / 4;
    spec.frequency = c->prune.frequency;
    t->prune_end = spec.end_step > spec.start_step ? spec.end_step : spec.start_step;
    gg_status s = gg_pruner_new(t->m, &spec, &t->pruner, err);
    if (s != GG_OK && err) { /* name the section the values came from */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        gg_fail(err, s, strncmp(msg, "prune ", 6) ? "config prune: %s" : "config %s", msg);
    }
    return s;
}

gg_pruner *gg_trainer_pruner(const gg_trainer *t) { return t->pruner; }

int64_t gg_trainer_steps_per_epoch(const gg_trainer *t) { return t->steps_per_epoch; }
int64_t gg_trainer_step_count(const gg_trainer *t) { return t->step; }
const gg_epoch_totals *gg_trainer_epoch_totals(const gg_trainer *t) { return &t->totals; }
int gg_trainer_epoch(const gg_trainer *t) { return t->epoch; }

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

static void zero_nonfinite(gg_real *x, size_t len) { GG_EACH(len, x[i] = isfinite(x[i]) ? x[i] : 0); }

/* Where a non-finite value came from: the parameter whose gradient holds
 * it, and the first op whose forward output went non-finite. */
static void locate_nonfinite(const gg_graph *g, char *buf, size_t cap) {
    const gg_node *p = first_nonfinite(g), *op = gg_guard_first_nonfinite_op(g);
    char lb[96];
    size_t k = 0;
    buf[0] = '\0';
    if (p) k += (size_t)snprintf(buf, cap, "the gradient of %s", p->name);
    if (op && k < cap)
        snprintf(buf + k, cap - k, "%sthe output of %s", k ? "; first non-finite forward value in " : "",
                 gg_node_label(op, lb, sizeof lb));
}

int gg_trainer_events(const gg_trainer *t, const gg_event **events) {
    *events = t->guard.events;
    return t->guard.n_events;
}

int gg_trainer_param_stats(const gg_trainer *t, const gg_param_stats **stats) {
    *stats = t->guard.pstats;
    return t->guard.n_params;
}

int gg_trainer_layer_stats(const gg_trainer *t, const gg_layer_stats **stats) {
    *stats = t->guard.lstats;
    return t->guard.n_act;
}

int gg_trainer_diagnose(gg_trainer *t, gg_event *out, int max) {
    return gg_guard_diagnose(&t->guard, t->step, out, max);
}

int gg_trainer_end_epoch(gg_trainer *t, double val_loss) {
    if (!t->cfg.guard.enabled && t->cfg.schedule.name != GG_SCHED_PLATEAU) return 0;
    t->guard.n_events = 0;
    if (!gg_schedule_plateau(&t->sched, val_loss)) return 0;
    gg_guard_event(&t->guard, t->step, "plateau", "validation loss %.4g stopped improving: lr cut to %.3g",
                   val_loss, t->sched.base_lr * t->sched.scale);
    return 1;
}

/* Non-finite values and spikes: decides whether this step's update is
 * applied. Returns an error for guard.nonfinite: error and when recovery
 * gives up. */
static gg_status judge(gg_trainer *t, gg_step_info *info, bool *apply, gg_error *err) {
    const gg_config *c = &t->cfg;
    gg_guard *gd = &t->guard;
    gg_graph *g = t->m->g;
    int64_t step = t->step + 1;
    bool loss_ok = isfinite(info->loss), recover = c->guard.recover.enabled != 0;
    if (info->nonfinite) {
        gd->nonfinite_total += info->nonfinite;
        if (gd->nonfinite_first_step < 0) {
            gd->nonfinite_first_step = step;
            locate_nonfinite(g, gd->nonfinite_where, sizeof gd->nonfinite_where);
        }
        char where[GG_NAME_LEN * 2 + 64];
        locate_nonfinite(g, where, sizeof where);
        if (c->guard.nonfinite == GG_NONFINITE_ERROR) {
            if (g->buf_len) memcpy(g->buf, t->buf_before, g->buf_len * sizeof(gg_real));
            return gg_fail(err, GG_ERR_NONFINITE, "step %lld: %s%s%s; the update was not applied",
                           (long long)step, loss_ok ? "non-finite gradient" : "the loss is not finite",
                           where[0] ? " in " : "", where);
        }
        gg_guard_event(gd, step, "nonfinite", "%zu non-finite values (loss %g) in %s", info->nonfinite,
                       info->loss, where[0] ? where : "the loss");
        if (c->guard.nonfinite == GG_NONFINITE_ZERO && loss_ok) {
            zero_nonfinite(g->grad, g->param_len);
            size_t nf;
            info->grad_norm = gg_guard_measure(gd, &nf);
        } else {
            *apply = false;
        }
    }
    bool spike = gg_guard_spike(gd, step, info->loss, info->grad_norm);
    bool bad = recover && (!loss_ok || spike || (info->nonfinite && !*apply));
    if (bad) *apply = false;
    /* A skipped step leaves no trace: the running statistics its forward
     * moved go back (before a rollback, which restores its own). */
    if (!*apply && g->buf_len) memcpy(g->buf, t->buf_before, g->buf_len * sizeof(gg_real));
    if (bad) return gg_recover_bad_step(t, err);
    return GG_OK;
}

gg_status gg_trainer_step(gg_trainer *t, gg_step_info *info, gg_error *err) {
    gg_model *m = t->m;
    gg_graph *g = m->g;
    const gg_config *c = &t->cfg;
    gg_guard *gd = &t->guard;
    memset(info, 0, sizeof *info);
    gd->n_events = 0;
    size_t N = t->data->n;
    int n = (int)(N - t->pos < (size_t)t->batch ? N - t->pos : (size_t)t->batch);
    int64_t step = t->step + 1;

    gg_graph_set_training(g, 1);
    if (t->world > 1) {
        /* Under MPI: this rank's shard, then the reduction (trainer_dist.c). */
        gg_trainer_dist_batch(t, n, step, info);
    } else {
        gg_model_load_batch(m, t->data, t->order, t->pos, n);
        /* The forward updates running statistics; a skipped step takes that back. */
        if (g->buf_len) memcpy(t->buf_before, g->buf, g->buf_len * sizeof(gg_real));
        gg_graph_forward(g);
        gg_graph_backward(g, m->loss);
        if (step == t->test_nan_step && t->test_nan_rank == 0) gg_trainer_test_poison(t);
        info->loss = m->loss->out->x[0];
        info->correct = t->data->classes > 0 ? (int)gg_model_batch_correct(m, n) : -1;
    }
    info->samples = n;
    if (t->reset_totals) {
        memset(&t->totals, 0, sizeof t->totals);
        t->reset_totals = false;
    }
    t->totals.samples += n;
    t->totals.correct += info->correct > 0 ? info->correct : 0;
    if (isfinite(info->loss)) {
        t->totals.loss_sum += info->loss * n;
        t->totals.finite_samples += n;
    }
    info->grad_norm = gg_guard_measure(gd, &info->nonfinite);
    info->nonfinite += isfinite(info->loss) ? 0 : 1;
    info->clip_coef = 1;
    info->momentum = NAN;
    bool guard = c->guard.enabled != 0, apply = true;
    gg_real fused = 1;
    if (guard) {
        gg_status s = judge(t, info, &apply, err);
        if (s != GG_OK) return s;
        if (apply) fused = gg_guard_clip(gd, step, info->grad_norm, &info->clip_coef);
    }
    gg_guard_record(gd, step, info->loss, info->grad_norm);

    /* The seeds' back-off: a gradient norm past the bound divides the lr. */
    if (guard && c->guard.backoff.enabled && apply && info->grad_norm > c->guard.backoff.threshold) {
        t->sched.scale /= c->guard.backoff.factor;
        gd->backoffs++;
        gg_guard_event(gd, step, "lr_backoff", "gradient norm %.4g > %g: learning rate divided by %g, now %.3g",
                       info->grad_norm, c->guard.backoff.threshold, c->guard.backoff.factor,
                       gg_schedule_lr(&t->sched, t->step));
    }
    info->lr = gg_schedule_lr(&t->sched, t->step) * gg_recover_lr_factor(t);
    bool monitor = guard && c->guard.monitor.every > 0;
    if (apply) {
        t->opt->lr = info->lr;
        double mom = gg_schedule_momentum(&t->sched, t->step);
        if (t->opt->kind == GG_OPTIM_ADAGRAD) mom = NAN; /* Adagrad has no momentum to cycle */
        info->momentum = mom;
        if (!isnan(mom)) {
            if (t->opt->kind == GG_OPTIM_ADAM || t->opt->kind == GG_OPTIM_ADAMW) t->opt->beta1 = mom;
            else t->opt->momentum = mom;
        }
        gg_optim_step_segments(t->opt, g->param, g->grad, fused, &gd->segs, gd->w2, gd->d2);
    } else {
        gd->skips++;
        gg_guard_event(gd, step, "skip", "update skipped (loss %g, gradient norm %g)", info->loss,
                       info->grad_norm);
    }
    if (monitor) gg_guard_monitor(gd, apply);
    info->skipped = !apply;
    t->step = step;
    /* Pruning follows the step, skipped or not, so the masks' schedule is
     * the step count's; before a snapshot, so snapshots hold pruned weights. */
    info->sparsity = NAN;
    if (t->pruner) {
        /* New masks move the loss and the gradient norm by design: the
         * spike detector starts a new baseline rather than call it a spike. */
        if (gg_prune_step(t->pruner, step)) gg_guard_rebaseline(gd);
        info->sparsity = gg_pruner_masked(t->pruner);
    }
    /* After the counter moves: a snapshot taken now holds step `step`. */
    if (apply && guard && c->guard.recover.enabled) gg_recover_good_step(t);
    t->pos += (size_t)n;
    info->step = t->step;
    info->epoch = t->epoch;
    if (t->pos >= N) {
        t->pos = 0;
        t->epoch++;
        info->epoch_end = 1;
        t->reset_totals = true; /* after the caller has read them */
        gg_trainer_order(t, t->epoch);
    }
    return GG_OK;
}
