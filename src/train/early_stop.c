/* Early stopping on a validation metric, as Keras's EarlyStopping with
 * restore_best_weights: the best epoch's weights (and batch norm
 * statistics) are copied into buffers allocated once, at trainer creation. */
#include <math.h>
#include <string.h>
#include "train/trainer.h"

gg_status gg_early_stop_init(gg_trainer *t, gg_error *err) {
    t->es_best = INFINITY;
    if (t->cfg.train.early_stopping.patience <= 0 || !t->cfg.train.early_stopping.restore_best)
        return GG_OK;
    gg_graph *g = t->m->g;
    t->es_param = gg_alloc_aligned(g->param_len * sizeof(gg_real), err);
    t->es_buf = gg_alloc_aligned((g->buf_len + 16) * sizeof(gg_real), err);
    return t->es_param && t->es_buf ? GG_OK : GG_ERR_NOMEM;
}

int gg_trainer_early_stop(gg_trainer *t, double val_loss, double val_acc) {
    const int patience = t->cfg.train.early_stopping.patience;
    if (patience <= 0) return 0;
    /* While pruning's sparsity still rises, epochs are not comparable (and
     * restoring an earlier one would undo the pruning): watching starts
     * once the schedule has reached its final sparsity. */
    if (t->pruner && t->step < t->prune_end) return 0;
    double v = t->cfg.train.early_stopping.metric == GG_STOP_VAL_ACC ? -val_acc : val_loss;
    if (isnan(v)) v = INFINITY; /* a diverged epoch never counts as the best */
    if (v < t->es_best - t->cfg.train.early_stopping.min_delta) {
        t->es_best = v;
        t->es_best_epoch = t->epoch; /* the epoch just finished, 1-based */
        t->es_bad = 0;
        if (t->es_param) {
            gg_graph *g = t->m->g;
            memcpy(t->es_param, g->param, g->param_len * sizeof(gg_real));
            memcpy(t->es_buf, g->buf, g->buf_len * sizeof(gg_real));
        }
        return 0;
    }
    return ++t->es_bad >= patience;
}

int gg_trainer_restore_best(gg_trainer *t) {
    if (!t->es_param || t->es_best_epoch == 0) return 0;
    gg_graph *g = t->m->g;
    memcpy(g->param, t->es_param, g->param_len * sizeof(gg_real));
    memcpy(g->buf, t->es_buf, g->buf_len * sizeof(gg_real));
    return t->es_best_epoch;
}
