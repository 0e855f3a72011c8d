/* Built-in tasks for experiments, generated from the config's seed:
 * xor (the four points of the 2-4-1 sigmoid example), random-binary
 * (seed 000's random classification task, labels from a random linear
 * rule so it is learnable), adding (the adding problem, a regression over
 * sequences). Returns GG_ERR_ARG for a name it does not own. */
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

/* The adding problem (Hochreiter & Schmidhuber 1997, as in Le et al. 2015):
 * data.samples sequences of T = data.length steps, each step [value,
 * marker], sample shape [T, 2]. Values are uniform in [0, 1) on a 2^-24 grid
 * (exact in float, so the float and double builds see the same data); the
 * marker is 1 at exactly two steps, and 0 elsewhere, with the classic
 * placement: the first uniform in the first half [0, T/2), the second
 * uniform in the second half [T/2, T) (T/2 rounded down). The one target is
 * the sum of the two marked values (regression, classes 0): predicting 1
 * always gives MSE 1/6 (the variance of a sum of two uniforms). The last
 * data.test_fraction of the samples are the test split, as random-binary.
 * Stream: the seed XOR "adding", apart from initialisation's. */
static gg_status adding_task(const gg_config *c, gg_dataset **train, gg_dataset **test,
                             gg_error *err) {
    int T = c->data.length, N = c->data.samples;
    if (T < 2) return gg_fail(err, GG_ERR_CONFIG, "data.length: %d, the adding problem needs at least 2", T);
    if (N < 1) return gg_fail(err, GG_ERR_CONFIG, "data.samples: %d, expected at least 1", N);
    int n_test = (int)(N * c->data.test_fraction);
    int shape[2] = {T, 2};
    gg_dataset *tr = gg_dataset_alloc("adding", (size_t)(N - n_test), 2, shape, 1, 0, err);
    gg_dataset *te = tr ? gg_dataset_alloc("adding-test", (size_t)n_test, 2, shape, 1, 0, err) : NULL;
    if (!tr || !te) {
        gg_dataset_free(tr);
        gg_dataset_free(te);
        return err ? err->code : GG_ERR_NOMEM;
    }
    gg_rng r;
    gg_rng_seed(&r, c->seed ^ 0x616464696e67ULL);
    const size_t half = (size_t)T / 2;
    for (int i = 0; i < N; i++) {
        gg_dataset *d = i < N - n_test ? tr : te;
        size_t row = (size_t)(i < N - n_test ? i : i - (N - n_test));
        gg_real *x = d->x + row * (size_t)T * 2;
        for (int t = 0; t < T; t++) {
            x[2 * t] = (gg_real)((double)(gg_rng_next(&r) >> 40) * 0x1p-24);
            x[2 * t + 1] = 0;
        }
        size_t a = (size_t)gg_rng_below(&r, half);
        size_t b = half + (size_t)gg_rng_below(&r, (uint64_t)T - half);
        x[2 * a + 1] = 1;
        x[2 * b + 1] = 1;
        d->y[row] = (gg_real)((double)x[2 * a] + (double)x[2 * b]);
    }
    *train = tr;
    *test = te;
    return GG_OK;
}

gg_status gg_data_builtin(const gg_config *c, gg_dataset **train, gg_dataset **test, gg_error *err) {
    const char *name = c->data.dataset;
    if (strcmp(name, "xor") == 0) return xor_task(train, test, err);
    if (strcmp(name, "random-binary") == 0) return random_binary(c, train, test, err);
    if (strcmp(name, "adding") == 0) return adding_task(c, train, test, err);
    return GG_ERR_ARG;
}
