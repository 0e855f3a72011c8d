/* The training loop's state: model, optimiser, schedule, data order. */
#ifndef GG_TRAINER_H
#define GG_TRAINER_H

#include "guard/clip.h"
#include "guard/schedule.h"
#include "optim/optim.h"
#include "train/model.h"

struct gg_trainer {
    gg_model *m;            /* borrowed */
    gg_config cfg;          /* owned copy */
    const gg_dataset *data; /* borrowed */
    gg_optim *opt;          /* owned */
    gg_schedule sched;
    uint32_t *order;        /* owned: this epoch's sample order */
    size_t pos;             /* next sample in order */
    int epoch;
    int64_t step;           /* steps taken in the run */
    int64_t steps_per_epoch;
    int batch;
};

/* Rebuilds the sample order of an epoch: a pure function of (seed, epoch),
 * so a resumed run needs only the epoch and the position. */
void gg_trainer_order(gg_trainer *t, int epoch);

#endif
