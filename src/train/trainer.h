/* The training loop's state: model, optimiser, schedule, data order, the
 * guard, and the recovery snapshot. */
#ifndef GG_TRAINER_H
#define GG_TRAINER_H

#include "guard/guard.h"
#include "guard/schedule.h"
#include "optim/optim.h"
#include "train/model.h"

/* The whole state a rollback restores (weights, optimiser moments and
 * step count, schedule, clipper statistics), held in buffers allocated
 * once. */
typedef struct gg_snapshot {
    gg_real *param;                      /* owned */
    gg_real *state[GG_OPTIM_MAX_STATE];  /* owned where the optimiser has the block */
    double *autoclip;                    /* owned */
    double *z_warm;                      /* owned */
    gg_window loss_w, norm_w;            /* owned arrays: the spike detector's windows */
    gg_optim opt;                        /* scalar fields only */
    gg_schedule sched;
    gg_clip_state cs;
    int64_t step;
} gg_snapshot;

struct gg_trainer {
    gg_model *m;            /* borrowed */
    gg_config cfg;          /* owned copy */
    const gg_dataset *data; /* borrowed */
    gg_optim *opt;          /* owned */
    gg_schedule sched;
    gg_guard guard;         /* owned buffers */
    uint32_t *order;        /* owned: this epoch's sample order */
    size_t pos;             /* next sample in order */
    int epoch;
    int64_t step;           /* steps taken in the run (skipped ones included) */
    int64_t steps_per_epoch;
    int batch;
    uint32_t data_crc;      /* gg_dataset_checksum of the training data */
    gg_epoch_totals totals; /* this epoch's, reset when the next one starts */
    bool reset_totals;
    /* recovery */
    gg_snapshot snap;
    int bad_streak, attempts;
    int64_t good_since;
    double cut;             /* lr multiplier after cuts, ramping back to 1 */
    int64_t rewarm_start;
};

/* Rebuilds the sample order of an epoch: a pure function of (seed, epoch),
 * so a resumed run needs only the epoch and the position. */
void gg_trainer_order(gg_trainer *t, int epoch);

/* Recovery (src/guard/recover.c). */
gg_status gg_recover_init(gg_trainer *t, gg_error *err);
void gg_recover_free(gg_trainer *t);
void gg_recover_snapshot(gg_trainer *t);
void gg_recover_rollback(gg_trainer *t);
/* The recovery lr multiplier at the current step. */
double gg_recover_lr_factor(const gg_trainer *t);
/* A bad step (spike or non-finite loss): escalates skip -> lr cut ->
 * rollback; GG_ERR_DIVERGED once guard.recover.max_attempts are spent. */
gg_status gg_recover_bad_step(gg_trainer *t, gg_error *err);
/* A good step: counts towards the next snapshot. */
void gg_recover_good_step(gg_trainer *t);

#endif
