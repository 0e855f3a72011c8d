/* Splits and normalisation: the validation set is a seeded random subset
 * of the training file, and every statistic used to normalise comes from
 * the training split alone, so nothing leaks from validation or test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "data/dataset.h"

gg_dataset *gg_dataset_alloc(const char *name, size_t n, int ndim, const int *shape, int targets,
                             int classes, gg_error *err) {
    size_t features = 1, xs, ys;
    for (int i = 0; i < ndim; i++)
        if (!gg_size_mul(features, (size_t)shape[i], &features)) goto overflow;
    if (!gg_size_mul(n, features, &xs) || !gg_size_mul(xs, sizeof(gg_real), &xs) ||
        !gg_size_mul(n, (size_t)targets, &ys) || !gg_size_mul(ys, sizeof(gg_real), &ys))
        goto overflow;
    gg_dataset *d = gg_alloc(sizeof *d, err);
    if (!d) return NULL;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->ndim = ndim;
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
    d->features = features;
    d->targets = targets;
    d->classes = classes;
    d->x = gg_alloc(xs, err);
    d->y = gg_alloc(ys, err);
    if (!d->x || !d->y) {
        gg_dataset_free(d);
        return NULL;
    }
    return d;
overflow:
    gg_fail(err, GG_ERR_DATA, "%s: %zu samples of this shape overflow the address space", name, n);
    return NULL;
}

void gg_dataset_free(gg_dataset *d) {
    if (!d) return;
    free(d->x);
    free(d->y);
    free(d);
}

size_t gg_dataset_size(const gg_dataset *d) { return d ? d->n : 0; }

/* CRC-32 of the training data: a resumed run must see the same samples. */
uint32_t gg_dataset_checksum(const gg_dataset *d) {
    uLong c = crc32_z(0L, Z_NULL, 0);
    c = crc32_z(c, (const Bytef *)d->x, d->n * d->features * sizeof(gg_real));
    c = crc32_z(c, (const Bytef *)d->y, d->n * (size_t)d->targets * sizeof(gg_real));
    return (uint32_t)c;
}

gg_dataset *gg_dataset_subset(const gg_dataset *src, const char *name, const size_t *idx, size_t k,
                              gg_error *err) {
    gg_dataset *d = gg_dataset_alloc(name, k, src->ndim, src->shape, src->targets, src->classes, err);
    if (!d) return NULL;
    for (size_t i = 0; i < k; i++) {
        memcpy(d->x + i * d->features, src->x + idx[i] * src->features, d->features * sizeof(gg_real));
        memcpy(d->y + i * d->targets, src->y + idx[i] * src->targets, (size_t)d->targets * sizeof(gg_real));
    }
    return d;
}

gg_dataset *gg_dataset_from_arrays(size_t n, int features, const gg_real *x, int targets,
                                   const gg_real *y, int classes) {
    if (n == 0 || features < 1 || targets < 1 || !x || !y) return NULL;
    gg_dataset *d = gg_dataset_alloc("arrays", n, 1, &features, targets, classes, NULL);
    if (!d) return NULL;
    memcpy(d->x, x, n * (size_t)features * sizeof *x);
    memcpy(d->y, y, n * (size_t)targets * sizeof *y);
    return d;
}

/* Statistics of the training split, applied to every split. */
static void normalize(const gg_config *c, gg_dataset *train, gg_dataset **others, int n_others) {
    size_t F = train->features, N = train->n;
    if (c->data.normalize == GG_NORMALIZE_NONE || N == 0) return;
    double *mean = calloc(F, sizeof *mean), *scale = calloc(F, sizeof *scale);
    if (!mean || !scale) goto done;
    if (c->data.normalize == GG_NORMALIZE_SCALE) {
        double m = 0;
        for (size_t i = 0; i < N * F; i++) m = fmax(m, fabs((double)train->x[i]));
        for (size_t j = 0; j < F; j++) scale[j] = m > 0 ? 1 / m : 1;
    } else if (c->data.normalize == GG_NORMALIZE_STANDARDIZE) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < N * F; i++) s += train->x[i];
        double mu = s / (double)(N * F);
        for (size_t i = 0; i < N * F; i++) s2 += (train->x[i] - mu) * (train->x[i] - mu);
        double sd = sqrt(s2 / (double)(N * F));
        for (size_t j = 0; j < F; j++) mean[j] = mu, scale[j] = sd > 0 ? 1 / sd : 1;
    } else {
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < F; j++) mean[j] += train->x[i * F + j];
        for (size_t j = 0; j < F; j++) mean[j] /= (double)N;
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < F; j++) {
                double d = train->x[i * F + j] - mean[j];
                scale[j] += d * d;
            }
        for (size_t j = 0; j < F; j++) {
            double sd = sqrt(scale[j] / (double)N);
            scale[j] = sd > 0 ? 1 / sd : 1;
        }
    }
    for (int k = -1; k < n_others; k++) {
        gg_dataset *d = k < 0 ? train : others[k];
        if (!d) continue;
        for (size_t i = 0; i < d->n; i++)
            for (size_t j = 0; j < F; j++)
                d->x[i * F + j] = (gg_real)((d->x[i * F + j] - mean[j]) * scale[j]);
    }
done:
    free(mean);
    free(scale);
}

gg_status gg_data_load(const gg_config *c, gg_dataset **train, gg_dataset **val,
                       gg_dataset **test, gg_error *err) {
    *train = *val = *test = NULL;
    gg_dataset *full = NULL, *tst = NULL;
    size_t *idx = NULL;
    uint32_t *perm = NULL;
    gg_status s = gg_data_builtin(c, &full, &tst, err);
    if (s == GG_ERR_ARG) s = gg_data_files(c, &full, &tst, err);
    if (s != GG_OK) goto done;
    if (full->n == 0) { /* say so here, not as data.validation asking too much */
        s = gg_fail(err, GG_ERR_DATA, "%s: no training samples, expected at least one",
                    c->data.dataset);
        goto done;
    }
    size_t nv = (size_t)c->data.validation;
    if (nv >= full->n) {
        s = gg_fail(err, GG_ERR_CONFIG, "data.validation: %zu samples asked for, the training set has %zu",
                    nv, full->n);
        goto done;
    }
    if (nv > 0) {
        /* A seeded random subset, each part kept in file order. */
        perm = malloc(full->n * sizeof *perm);
        idx = malloc(full->n * sizeof *idx);
        if (!perm || !idx) {
            s = gg_fail(err, GG_ERR_NOMEM, "out of memory splitting the data");
            goto done;
        }
        gg_rng r;
        gg_rng_seed(&r, c->seed ^ 0x76616c6964ULL);
        for (size_t i = 0; i < full->n; i++) perm[i] = (uint32_t)i;
        gg_rng_shuffle(&r, perm, full->n);
        /* idx: the validation rows, then the training rows, each ascending. */
        for (size_t i = 0; i < full->n; i++) idx[i] = 0;
        for (size_t i = 0; i < nv; i++) idx[perm[i]] = 1;
        size_t kv = 0, kt = nv;
        for (size_t i = 0; i < full->n; i++) perm[idx[i] ? kv++ : kt++] = (uint32_t)i;
        for (size_t i = 0; i < full->n; i++) idx[i] = perm[i];
        *val = gg_dataset_subset(full, "validation", idx, nv, err);
        *train = gg_dataset_subset(full, "train", idx + nv, full->n - nv, err);
        if (!*val || !*train) {
            s = err ? err->code : GG_ERR_NOMEM;
            goto done;
        }
        gg_dataset_free(full);
    } else {
        *train = full;
    }
    full = NULL;
    *test = tst;
    tst = NULL;
    gg_dataset *others[2] = {*val, *test};
    normalize(c, *train, others, 2);
done:
    free(perm);
    free(idx);
    gg_dataset_free(full);
    gg_dataset_free(tst);
    if (s != GG_OK) {
        gg_dataset_free(*train);
        gg_dataset_free(*val);
        gg_dataset_free(*test);
        *train = *val = *test = NULL;
    }
    return s;
}
