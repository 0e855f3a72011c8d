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
    gg_real *buf;                        /* owned: the graph's buffers (batch norm statistics) */
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
    gg_real *buf_before;    /* owned: the buffers before this step's forward, restored if it is skipped */
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
    /* early stopping (src/train/early_stop.c) */
    double es_best;         /* best validation metric so far (lower is better; -acc for val_acc) */
    int es_best_epoch;      /* 1-based; 0 = none yet */
    int es_bad;             /* epochs since the best */
    gg_real *es_param;      /* owned when restore_best: the best epoch's weights */
    gg_real *es_buf;        /* and buffers */
    /* gradual pruning (config prune:), NULL when off */
    gg_pruner *pruner;      /* owned */
    int64_t prune_end;      /* the schedule's end_step (resolved) */
    /* data parallelism over MPI (src/train/trainer_dist.c) */
    int rank, world;        /* this process in the job; 0 of 1 without MPI */
    double *dist_side;      /* owned when world > 1: loss, correct, signals, buffers for the step's reduction */
    int dist_stop_signal;   /* a stop signal some rank noted, agreed at the last step (0: none) */
    int64_t test_nan_step;  /* test hook GG_TEST_NAN_STEP / GG_TEST_NAN_RANK: poison that rank's gradient */
    int test_nan_rank;
};

/* Rebuilds the sample order of an epoch: a pure function of (seed, epoch),
 * so a resumed run needs only the epoch and the position. */
void gg_trainer_order(gg_trainer *t, int epoch);

/* The pruner of the config's prune: section over `total` steps (none when
 * prune.sparsity is 0). */
gg_status gg_trainer_prune_init(gg_trainer *t, int64_t total, gg_error *err);

/* Early stopping's best-weight buffers (src/train/early_stop.c). */
gg_status gg_early_stop_init(gg_trainer *t, gg_error *err);

/* Data parallelism (src/train/trainer_dist.c): the rank and job size, the
 * test hooks, the reduction buffer. */
gg_status gg_trainer_dist_init(gg_trainer *t, gg_error *err);
/* Makes t rank `rank` of a job of `world` (gg_trainer_dist_init takes
 * MPI's); tests use it to run one rank's share without MPI, where the
 * reduction is a no-op. */
gg_status gg_trainer_dist_set(gg_trainer *t, int rank, int world, gg_error *err);
/* One step's batch under MPI: this rank's shard of the global batch n
 * through forward and backward, then one reduction of the gradient (and
 * the loss, correct count, stop signals and buffers), after which every
 * rank holds the same gradient, loss and buffers. */
void gg_trainer_dist_batch(gg_trainer *t, int n, int64_t step, gg_step_info *info);
/* The test hook: a NaN in the first gradient element. */
void gg_trainer_test_poison(gg_trainer *t);

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
