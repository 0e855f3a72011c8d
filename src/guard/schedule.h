/* Learning-rate schedules as pure functions of the step count, plus the
 * few pieces of state that are not (plateau tracking and the guard's lr
 * scale), so that a checkpoint or a rollback restores them exactly. */
#ifndef GG_SCHEDULE_H
#define GG_SCHEDULE_H

#include "core/core.h"
#include "io/config.h"

typedef struct gg_schedule {
    gg_sched_kind kind;
    double base_lr;
    int64_t total_steps;  /* resolved T of the whole run, warm-up included */
    const gg_config *cfg; /* borrowed */
    /* state */
    double scale;         /* product of plateau, back-off and recovery cuts */
    double plateau_best;
    int plateau_bad, plateau_cooldown;
} gg_schedule;

void gg_schedule_init(gg_schedule *s, const gg_config *c, int64_t total_steps);
/* lr and momentum (NaN when the schedule does not set it) for step t (0-based). */
double gg_schedule_lr(const gg_schedule *s, int64_t t);
double gg_schedule_momentum(const gg_schedule *s, int64_t t);
/* ReduceLROnPlateau: feed the epoch's validation loss; returns 1 if the lr was cut. */
int gg_schedule_plateau(gg_schedule *s, double val_loss);

#endif
