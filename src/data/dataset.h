/* Data sets in memory: samples as rows of x (per-sample shape `shape`)
 * and targets as rows of y, both in the build's real type. */
#ifndef GG_DATASET_H
#define GG_DATASET_H

#include "core/core.h"
#include "io/config.h"

struct gg_dataset {
    char name[64];
    size_t n;
    int ndim;
    int shape[GG_MAX_DIMS]; /* per sample, e.g. [1, 28, 28] */
    size_t features;        /* product of shape */
    int targets;            /* values per target row */
    int classes;            /* > 0: y holds class indices 0..classes-1 (targets = 1) */
    gg_real *x;             /* owned, n * features */
    gg_real *y;             /* owned, n * targets */
};

gg_dataset *gg_dataset_alloc(const char *name, size_t n, int ndim, const int *shape, int targets,
                             int classes, gg_error *err);
/* Rows idx[0..k-1] of src, in that order, as a new data set. */
/* CRC-32 of the samples and targets, so a checkpoint can tell its data. */
uint32_t gg_dataset_checksum(const gg_dataset *d);
gg_dataset *gg_dataset_subset(const gg_dataset *src, const char *name, const size_t *idx, size_t k,
                              gg_error *err);

/* Built-in tasks (src/data/builtin.c). */
gg_status gg_data_builtin(const gg_config *c, gg_dataset **train, gg_dataset **test, gg_error *err);
/* Files (src/data/files.c): fashion-mnist, idx:DIR, csv:PATH. */
gg_status gg_data_files(const gg_config *c, gg_dataset **train, gg_dataset **test, gg_error *err);

#endif
