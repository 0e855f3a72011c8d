/* Data sets from files: fashion-mnist (Debian's dataset-fashion-mnist),
 * idx:DIR (train-/t10k- images and labels, gzipped or not) and csv:PATH
 * (the last data.targets columns are the targets; the last
 * data.test_fraction of the rows is the test set). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/dataset.h"
#include "io/io.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* DIR/stem or DIR/stem.gz, whichever exists. */
static void find_file(char *out, size_t cap, const char *dir, const char *stem) {
    struct stat st;
    snprintf(out, cap, "%s/%s.gz", dir, stem);
    if (stat(out, &st) == 0) return;
    snprintf(out, cap, "%s/%s", dir, stem);
}

static gg_status labels_check(const char *path, const gg_idx_array *lab, size_t n, int *classes,
                              gg_error *err) {
    if (lab->ndim != 1)
        return gg_fail(err, GG_ERR_DATA, "%s: labels have %d dimensions, expected 1", path, lab->ndim);
    if (lab->count != n)
        return gg_fail(err, GG_ERR_DATA, "%s: %zu labels, but the images file has %zu images",
                       path, lab->count, n);
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double v = lab->values[i];
        if (!(v >= 0 && v <= 65535 && v == floor(v))) /* NaN fails every comparison */
            return gg_fail(err, GG_ERR_DATA,
                           "%s: label %zu is %g, expected a class index from 0 to 65535", path, i,
                           v);
        mx = fmax(mx, v);
    }
    if ((int)mx + 1 > *classes) *classes = (int)mx + 1;
    return GG_OK;
}

/* Images [n, h] or [n, h, w]: some, none empty, each small enough for an
 * int shape, every pixel finite (f32 and f64 files can hold NaN). */
static gg_status images_check(const char *path, const gg_idx_array *img, gg_error *err) {
    uint32_t h = img->dims[1], w = img->ndim == 3 ? img->dims[2] : 1;
    if (img->dims[0] == 0)
        return gg_fail(err, GG_ERR_DATA, "%s: 0 images, expected at least one", path);
    if (h == 0 || w == 0)
        return gg_fail(err, GG_ERR_DATA, "%s: images of %u x %u x %u: 0 pixels each, expected "
                       "non-empty images", path, img->dims[0], h, w);
    if (h > 65536 || w > 65536 || (uint64_t)h * w > ((uint64_t)1 << 28))
        return gg_fail(err, GG_ERR_DATA, "%s: images of %u x %u x %u: too large, expected at most "
                       "65536 x 65536 and 2^28 pixels each", path, img->dims[0], h, w);
    for (size_t i = 0; i < img->count; i++)
        if (!isfinite(img->values[i]))
            return gg_fail(err, GG_ERR_DATA, "%s: value %zu (image %zu) is not finite (%g), "
                           "expected a finite pixel value", path, i, i / ((size_t)h * w),
                           img->values[i]);
    return GG_OK;
}

static gg_status idx_pair(const char *dir, const char *prefix, gg_dataset **out, int *classes,
                          gg_error *err) {
    char ipath[1200], lpath[1200], stem[64];
    gg_idx_array img = {0}, lab = {0};
    gg_status s;
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    find_file(ipath, sizeof ipath, dir, stem);
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    find_file(lpath, sizeof lpath, dir, stem);
    if ((s = gg_idx_read(ipath, &img, err)) != GG_OK) goto done;
    if ((s = gg_idx_read(lpath, &lab, err)) != GG_OK) goto done;
    if (img.ndim < 2 || img.ndim > 3) {
        s = gg_fail(err, GG_ERR_DATA, "%s: images have %d dimensions, expected 3 ([n, h, w])",
                    ipath, img.ndim);
        goto done;
    }
    size_t n = img.dims[0];
    if ((s = images_check(ipath, &img, err)) != GG_OK) goto done;
    if ((s = labels_check(lpath, &lab, n, classes, err)) != GG_OK) goto done;
    int shape[3] = {1, (int)img.dims[1], img.ndim == 3 ? (int)img.dims[2] : 1};
    *out = gg_dataset_alloc(prefix, n, 3, shape, 1, 0, err);
    if (!*out) {
        s = GG_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < img.count; i++) (*out)->x[i] = (gg_real)img.values[i];
    for (size_t i = 0; i < n; i++) (*out)->y[i] = (gg_real)lab.values[i];
done:
    gg_idx_free(&img);
    gg_idx_free(&lab);
    return s;
}

static gg_status idx_dir(const char *dir, gg_dataset **train, gg_dataset **test, gg_error *err) {
    int classes = 0;
    gg_status s = idx_pair(dir, "train", train, &classes, err);
    if (s == GG_OK) s = idx_pair(dir, "t10k", test, &classes, err);
    if (s != GG_OK) return s;
    if ((*train)->features != (*test)->features)
        return gg_fail(err, GG_ERR_DATA, "%s: train images have %zu pixels, test images %zu", dir,
                       (*train)->features, (*test)->features);
    (*train)->classes = (*test)->classes = classes;
    return GG_OK;
}

static gg_status csv_file(const gg_config *c, const char *path, gg_dataset **train,
                          gg_dataset **test, gg_error *err) {
    gg_csv_table t = {0};
    gg_status s = gg_csv_read(path, &t, err);
    if (s != GG_OK) return s;
    int T = c->data.targets, F = t.cols - T;
    bool labels = c->loss == GG_LOSS_CROSS_ENTROPY;
    if (F < 1) {
        s = gg_fail(err, GG_ERR_DATA, "%s: %d columns, expected more than data.targets = %d", path,
                    t.cols, T);
        goto done;
    }
    if (labels && T != 1) {
        s = gg_fail(err, GG_ERR_CONFIG, "data.targets: %d, cross_entropy needs 1 label column", T);
        goto done;
    }
    size_t n_test = (size_t)((double)t.rows * c->data.test_fraction);
    int classes = 0;
    for (size_t i = 0; labels && i < t.rows; i++) { /* T == 1: the label is the last field */
        double v = t.values[i * (size_t)t.cols + (size_t)F];
        if (!(v >= 0 && v <= 65535 && v == floor(v))) {
            s = gg_fail(err, GG_ERR_DATA,
                        "%s:%zu:%zu: label %g, expected a class index from 0 to 65535", path,
                        t.lines[i], t.last_cols[i], v);
            goto done;
        }
        if ((int)v + 1 > classes) classes = (int)v + 1;
    }
    int shape[1] = {F};
    *train = gg_dataset_alloc("csv", t.rows - n_test, 1, shape, T, classes, err);
    *test = gg_dataset_alloc("csv-test", n_test, 1, shape, T, classes, err);
    if (!*train || !*test) {
        s = GG_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < t.rows; i++) {
        gg_dataset *d = i < t.rows - n_test ? *train : *test;
        size_t row = i < t.rows - n_test ? i : i - (t.rows - n_test);
        for (int j = 0; j < t.cols; j++) {
            gg_real v = (gg_real)t.values[i * (size_t)t.cols + (size_t)j];
            if (j < F) d->x[row * (size_t)F + (size_t)j] = v;
            else d->y[row * (size_t)T + (size_t)(j - F)] = v;
        }
    }
done:
    gg_csv_free(&t);
    return s;
}

gg_status gg_data_files(const gg_config *c, gg_dataset **train, gg_dataset **test, gg_error *err) {
    const char *name = c->data.dataset;
    if (strcmp(name, "fashion-mnist") == 0) {
        const char *dir = getenv("GG_FASHION_MNIST_DIR");
        return idx_dir(dir && *dir ? dir : FASHION_DIR, train, test, err);
    }
    if (strncmp(name, "idx:", 4) == 0) return idx_dir(name + 4, train, test, err);
    if (strncmp(name, "csv:", 4) == 0) return csv_file(c, name + 4, train, test, err);
    return gg_fail(err, GG_ERR_CONFIG,
                   "data.dataset: unknown data set '%s', expected fashion-mnist, idx:DIR, csv:PATH, "
                   "xor, random-binary or adding", name);
}
