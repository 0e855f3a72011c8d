/* Built-in tasks for experiments, generated from the config's seed:
 * xor (the four points of the 2-4-1 sigmoid example), random-binary
 * (seed 000's random classification task, labels from a random linear
 * rule so it is learnable). Returns GG_ERR_ARG for a name it does not own. */
#include <string.h>
#include "data/dataset.h"

static gg_status xor_task(gg_dataset **train, gg_dataset **test, gg_error *err) {
    static const gg_real x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
    int shape[1] = {2};
    for (int k = 0; k < 2; k++) {
        gg_dataset *d = gg_dataset_alloc(k ? "xor-test" : "xor", 4, 1, shape, 1, 2, err);
        if (!d) return GG_ERR_NOMEM;
        memcpy(d->x, x, sizeof x);
        memcpy(d->y, y, sizeof y);
        *(k ? test : train) = d;
    }
    return GG_OK;
}

static gg_status random_binary(const gg_config *c, gg_dataset **train, gg_dataset **test,
                               gg_error *err) {
    int F = c->data.features, N = c->data.samples;
    int n_test = (int)(N * c->data.test_fraction);
    gg_rng r;
    gg_rng_seed(&r, c->seed ^ 0x72616e64ULL);
    double w[4096];
    if (F > 4096) return gg_fail(err, GG_ERR_CONFIG, "data.features: %d, at most 4096", F);
    for (int j = 0; j < F; j++) w[j] = gg_rng_normal(&r);
    int shape[1] = {F};
    gg_dataset *tr = gg_dataset_alloc("random-binary", (size_t)(N - n_test), 1, shape, 1, 2, err);
    gg_dataset *te = gg_dataset_alloc("random-binary-test", (size_t)(n_test > 0 ? n_test : 0), 1,
                                      shape, 1, 2, err);
    if (!tr || !te) {
        gg_dataset_free(tr);
        gg_dataset_free(te);
        return GG_ERR_NOMEM;
    }
    for (int i = 0; i < N; i++) {
        gg_dataset *d = i < N - n_test ? tr : te;
        size_t row = (size_t)(i < N - n_test ? i : i - (N - n_test));
        double dot = 0;
        for (int j = 0; j < F; j++) {
            double v = gg_rng_normal(&r);
            d->x[row * (size_t)F + j] = (gg_real)v;
            dot += v * w[j];
        }
        d->y[row] = dot > 0 ? 1 : 0;
    }
    *train = tr;
    *test = te;
    return GG_OK;
}

gg_status gg_data_builtin(const gg_config *c, gg_dataset **train, gg_dataset **test, gg_error *err) {
    const char *name = c->data.dataset;
    if (strcmp(name, "xor") == 0) return xor_task(train, test, err);
    if (strcmp(name, "random-binary") == 0) return random_binary(c, train, test, err);
    return GG_ERR_ARG;
}
