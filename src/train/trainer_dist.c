/* Data parallelism: every rank holds the whole model and the whole data
 * set, and takes a contiguous shard of each global batch (the same rows
 * at every job size: order[pos .. pos + n), cut into R pieces). After its
 * forward and backward, a rank scales its mean gradient by its share of
 * the batch, n_r / n, so that the sum over ranks is the gradient of the
 * global batch's mean loss; one all-reduce of the flat gradient block,
 * and a small one of the side values (the loss likewise weighted, the
 * correct count, the stop signals the ranks noted, the graph's buffers
 * weighted by n_r / n), leave every rank with the same bytes. Everything
 * the guard computes afterwards (norms, clipping, non-finite checks,
 * spikes, recovery) comes from those, so every rank decides the same at
 * the same step.
 *
 * Dropout masks come from the graph's generator, which stays the same on
 * every rank: each step draws one key from it, and a rank draws its masks
 * from a generator seeded with (key, rank), so masks are reproducible for
 * a given job size (not across sizes) and a checkpoint, which saves the
 * shared generator, resumes them exactly.
 *
 * Batch norm normalises with its shard's statistics (as PyTorch's DDP
 * without SyncBatchNorm); its running statistics are averaged over the
 * ranks weighted by n_r / n after each step, which for the running mean
 * is exactly the global batch's update. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "dist/dist.h"
#include "train/trainer.h"

enum { SIDE_LOSS, SIDE_CORRECT, SIDE_SIGNALS, N_SIGNALS = 3, SIDE_BUF = SIDE_SIGNALS + N_SIGNALS };
/* The stop signals the command line handles, most urgent first. */
static const int stop_signals[N_SIGNALS] = {SIGTERM, SIGINT, SIGUSR1};

static int64_t env_int(const char *name, int64_t dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end ? dflt : (int64_t)x;
}

gg_status gg_trainer_dist_init(gg_trainer *t, gg_error *err) {
    t->test_nan_step = env_int("GG_TEST_NAN_STEP", -1);
    t->test_nan_rank = (int)env_int("GG_TEST_NAN_RANK", 0);
    return gg_trainer_dist_set(t, gg_dist_rank(), gg_dist_size(), err);
}

gg_status gg_trainer_dist_set(gg_trainer *t, int rank, int world, gg_error *err) {
    if (world < 1 || rank < 0 || rank >= world)
        return gg_fail(err, GG_ERR_ARG, "rank %d of a job of %d", rank, world);
    free(t->dist_side);
    t->dist_side = NULL;
    t->rank = rank;
    t->world = world;
    if (world > 1) {
        t->dist_side = gg_alloc((SIDE_BUF + t->m->g->buf_len) * sizeof *t->dist_side, err);
        if (!t->dist_side) return GG_ERR_NOMEM;
    }
    return GG_OK;
}

void gg_trainer_test_poison(gg_trainer *t) {
    gg_graph *g = t->m->g;
    if (g->n_params > 0) g->grad[g->params[0]->offset] = NAN;
}

void gg_trainer_dist_batch(gg_trainer *t, int n, int64_t step, gg_step_info *info) {
    gg_model *m = t->m;
    gg_graph *g = m->g;
    const int R = t->world, r = t->rank;
    const int lo = (int)((int64_t)n * r / R), hi = (int)((int64_t)n * (r + 1) / R), nr = hi - lo;
    const double w = (double)nr / (double)n;
    const size_t B = g->buf_len;
    double *side = t->dist_side;
    bool classify = t->data->classes > 0;
    if (B) memcpy(t->buf_before, g->buf, B * sizeof(gg_real));

    /* This rank's dropout stream for this step; the shared one moves on by one draw. */
    uint64_t key = gg_rng_next(&g->rng);
    gg_rng shared = g->rng;
    gg_rng_seed(&g->rng, key ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(r + 1)));
    double loss = 0, correct = 0;
    if (nr > 0) {
        gg_model_load_batch(m, t->data, t->order, t->pos + (size_t)lo, nr);
        gg_graph_forward(g);
        gg_graph_backward(g, m->loss);
        loss = (double)m->loss->out->x[0];
        if (classify) correct = (double)gg_model_batch_correct(m, nr);
        if (nr != n) {
            const gg_real k = (gg_real)w;
            gg_real *gr = g->grad;
            GG_EACH(g->param_len, gr[i] *= k);
        }
    } else {
        /* A batch smaller than the job: this rank adds nothing. */
        memset(g->grad, 0, g->param_len * sizeof(gg_real));
    }
    g->rng = shared;
    if (step == t->test_nan_step && r == t->test_nan_rank) gg_trainer_test_poison(t);

    side[SIDE_LOSS] = nr > 0 ? w * loss : 0;
    side[SIDE_CORRECT] = correct;
    int pending = gg_dist_pending_signal();
    for (int k = 0; k < N_SIGNALS; k++) side[SIDE_SIGNALS + k] = pending == stop_signals[k];
    for (size_t i = 0; i < B; i++) side[SIDE_BUF + i] = w * (double)g->buf[i];
    gg_dist_reduce_step(g->grad, g->param_len, side, SIDE_BUF + B, step);

    info->loss = side[SIDE_LOSS];
    info->correct = classify ? (int)lrint(side[SIDE_CORRECT]) : -1;
    t->dist_stop_signal = 0;
    for (int k = N_SIGNALS - 1; k >= 0; k--)
        if (side[SIDE_SIGNALS + k] > 0) t->dist_stop_signal = stop_signals[k];
    for (size_t i = 0; i < B; i++) g->buf[i] = (gg_real)side[SIDE_BUF + i];
    /* Counts (batch norm's num_batches_tracked) stay whole numbers. */
    for (int i = 0; i < g->n_buffers; i++) {
        const gg_node *b = g->buffers[i];
        if (!b->integer) continue;
        for (size_t k = 0; k < b->out->len; k++) g->buf[b->offset + k] = (gg_real)nearbyint(side[SIDE_BUF + b->offset + k]);
    }
}
