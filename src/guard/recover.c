/* Automatic recovery. A snapshot of the whole training state is copied
 * into buffers allocated once, every guard.recover.snapshot_every good
 * steps. Each bad step (a loss or gradient spike, a non-finite loss)
 * escalates: the first is skipped; the second also cuts the learning rate
 * by lr_factor and warms it back up over warmup_steps; the third rolls
 * back to the snapshot and carries on with the next batch, so the batches
 * that led there are skipped. After max_attempts rollbacks with no new
 * snapshot in between, the run has diverged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer.h"

gg_status gg_recover_init(gg_trainer *t, gg_error *err) {
    gg_snapshot *s = &t->snap;
    size_t len = t->m->g->param_len;
    int hist = t->cfg.guard.clip.history > 0 ? t->cfg.guard.clip.history : 1;
    int warm = t->cfg.guard.clip.warmup > 0 ? t->cfg.guard.clip.warmup : 1;
    t->cut = 1;
    s->param = gg_alloc_aligned(len * sizeof(gg_real), err);
    s->buf = gg_alloc_aligned((t->m->g->buf_len + 16) * sizeof(gg_real), err);
    s->autoclip = gg_alloc((size_t)hist * sizeof *s->autoclip, err);
    s->z_warm = gg_alloc((size_t)warm * sizeof *s->z_warm, err);
    s->loss_w = t->guard.loss_w;
    s->norm_w = t->guard.norm_w;
    s->loss_w.v = gg_alloc((size_t)s->loss_w.cap * sizeof(double), err);
    s->norm_w.v = gg_alloc((size_t)s->norm_w.cap * sizeof(double), err);
    if (!s->param || !s->buf || !s->autoclip || !s->z_warm || !s->loss_w.v || !s->norm_w.v) return GG_ERR_NOMEM;
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++)
        if (t->opt->state[i] && !(s->state[i] = gg_alloc_aligned(len * sizeof(gg_real), err)))
            return GG_ERR_NOMEM;
    gg_recover_snapshot(t);
    return GG_OK;
}

void gg_recover_free(gg_trainer *t) {
    gg_snapshot *s = &t->snap;
    free(s->param);
    free(s->buf);
    free(s->autoclip);
    free(s->z_warm);
    free(s->loss_w.v);
    free(s->norm_w.v);
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++) free(s->state[i]);
    memset(s, 0, sizeof *s);
}

static void copy_window(gg_window *dst, const gg_window *src) {
    memcpy(dst->v, src->v, (size_t)src->cap * sizeof *dst->v);
    dst->n = src->n;
    dst->pos = src->pos;
}

void gg_recover_snapshot(gg_trainer *t) {
    gg_snapshot *s = &t->snap;
    const gg_graph *g = t->m->g;
    memcpy(s->param, g->param, g->param_len * sizeof(gg_real));
    memcpy(s->buf, g->buf, g->buf_len * sizeof(gg_real));
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++)
        if (s->state[i]) memcpy(s->state[i], t->opt->state[i], g->param_len * sizeof(gg_real));
    s->opt = *t->opt;
    s->sched = t->sched;
    s->cs = t->guard.cs;
    memcpy(s->autoclip, t->guard.autoclip, (size_t)t->cfg.guard.clip.history * sizeof *s->autoclip);
    memcpy(s->z_warm, t->guard.z_warm, (size_t)t->cfg.guard.clip.warmup * sizeof *s->z_warm);
    copy_window(&s->loss_w, &t->guard.loss_w);
    copy_window(&s->norm_w, &t->guard.norm_w);
    s->step = t->step;
    t->good_since = 0;
    t->attempts = 0;
}

void gg_recover_rollback(gg_trainer *t) {
    gg_snapshot *s = &t->snap;
    gg_graph *g = t->m->g;
    memcpy(g->param, s->param, g->param_len * sizeof(gg_real));
    memcpy(g->buf, s->buf, g->buf_len * sizeof(gg_real));
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++)
        if (s->state[i]) memcpy(t->opt->state[i], s->state[i], g->param_len * sizeof(gg_real));
    gg_real *keep[GG_OPTIM_MAX_STATE];
    memcpy(keep, t->opt->state, sizeof keep);
    *t->opt = s->opt;
    memcpy(t->opt->state, keep, sizeof keep);
    t->sched = s->sched;
    t->guard.cs = s->cs;
    memcpy(t->guard.autoclip, s->autoclip, (size_t)t->cfg.guard.clip.history * sizeof *s->autoclip);
    memcpy(t->guard.z_warm, s->z_warm, (size_t)t->cfg.guard.clip.warmup * sizeof *s->z_warm);
    /* The spike windows too: judged against the snapshot's history, the
     * restored (higher) loss would look like one spike after another. */
    copy_window(&t->guard.loss_w, &s->loss_w);
    copy_window(&t->guard.norm_w, &s->norm_w);
}

double gg_recover_lr_factor(const gg_trainer *t) {
    if (t->cut >= 1) return 1;
    int64_t w = t->cfg.guard.recover.warmup_steps;
    double done = w > 0 ? (double)(t->step - t->rewarm_start) / (double)w : 1;
    return done >= 1 ? 1 : t->cut + (1 - t->cut) * fmax(done, 0);
}

static void cut_lr(gg_trainer *t) {
    const __typeof__(t->cfg.guard.recover) *r = &t->cfg.guard.recover;
    t->cut = gg_recover_lr_factor(t) * r->lr_factor;
    t->rewarm_start = t->step + 1;
    t->guard.lr_cuts++;
    gg_guard_event(&t->guard, t->step + 1, "lr_cut",
                   "learning rate cut to %.3g of the schedule's, warming back up over %lld steps",
                   t->cut, (long long)r->warmup_steps);
}

gg_status gg_recover_bad_step(gg_trainer *t, gg_error *err) {
    const __typeof__(t->cfg.guard.recover) *r = &t->cfg.guard.recover;
    int64_t step = t->step + 1;
    t->bad_streak++;
    if (t->bad_streak >= 2) cut_lr(t);
    if (t->bad_streak < 3) return GG_OK;
    t->bad_streak = 0;
    if (++t->attempts > r->max_attempts) {
        gg_guard_event(&t->guard, step, "gave_up", "recovery gave up after %d rollbacks to step %lld",
                       r->max_attempts, (long long)t->snap.step);
        return gg_fail(err, GG_ERR_DIVERGED,
                       "step %lld: training diverged; %d rollbacks to step %lld did not help",
                       (long long)step, r->max_attempts, (long long)t->snap.step);
    }
    gg_recover_rollback(t);
    t->guard.rollbacks++;
    gg_guard_event(&t->guard, step, "rollback",
                   "rolled back to the state of step %lld (attempt %d of %d); the %lld batches since are skipped",
                   (long long)t->snap.step, t->attempts, r->max_attempts,
                   (long long)(step - t->snap.step));
    return GG_OK;
}

/* good_since counts good steps since the last snapshot, not in a row:
 * sporadic bad steps must not keep the snapshot from moving forward. */
void gg_recover_good_step(gg_trainer *t) {
    t->bad_streak = 0;
    if (++t->good_since >= t->cfg.guard.recover.snapshot_every) gg_recover_snapshot(t);
}
