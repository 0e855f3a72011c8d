/* bench_compress: inference throughput, float (OpenBLAS sgemm) against
 * int8 (every int8 kernel this CPU has), at batch 1000, for the default
 * MLP (784-512-10) and the CNN of configs/fashion-cnn.yaml, with weights
 * from their seeded init and inputs drawn from N(0, 1) (the speed does
 * not depend on the values). Activation ranges are calibrated on 2000 such
 * inputs. Prints one JSON line per model: the best of REPS timed passes
 * over 10000 samples, after one warm-up pass.
 *
 * usage: bench_compress [mlp] [cnn] [--threads N] [--reps N] [--kernel NAME] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "compress/qmodel.h"
#include "gradguard.h"

#define SAMPLES 10000
#define CALIB 2000
#define BATCH 1000

static const char cnn_yaml[] =
    "seed: 0\n"
    "model:\n"
    "  input: [1, 28, 28]\n"
    "  layers:\n"
    "    - conv2d: {filters: 32, kernel: 3, padding: 1, init: he_normal}\n"
    "    - batch_norm\n"
    "    - relu\n"
    "    - max_pool: {kernel: 2}\n"
    "    - conv2d: {filters: 64, kernel: 3, padding: 1, init: he_normal}\n"
    "    - batch_norm\n"
    "    - relu\n"
    "    - max_pool: {kernel: 2}\n"
    "    - flatten\n"
    "    - dropout: {p: 0.3}\n"
    "    - dense: {units: 128, init: he_normal}\n"
    "    - relu\n"
    "    - dropout: {p: 0.3}\n"
    "    - dense: {units: 10}\n"
    "loss: cross_entropy\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill_normal(gg_real *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            u[k] = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        }
        double r = sqrt(-2 * log(u[0]));
        x[i] = (gg_real)(r * cos(6.283185307179586 * u[1]));
        if (i + 1 < n) x[i + 1] = (gg_real)(r * sin(6.283185307179586 * u[1]));
    }
}

static int only = -1; /* --kernel: one kernel only */

static int bench(const char *name, int threads, int reps) {
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    if (!strcmp(name, "cnn") && gg_config_load_string(c, cnn_yaml, &err) != GG_OK) goto fail;
    if (!strcmp(name, "mlp") && gg_config_set(c, "model.input", "[784]", &err) != GG_OK) goto fail;
    gg_model *m = NULL;
    gg_qmodel *q = NULL;
    if (gg_model_new(c, BATCH, &m, &err) != GG_OK) goto fail;
    size_t F = 784, C = 10;
    gg_real *x = malloc(SAMPLES * F * sizeof *x), *y = calloc(SAMPLES, sizeof *y);
    gg_real *out = malloc(SAMPLES * C * sizeof *out);
    fill_normal(x, SAMPLES * F, 1);
    gg_dataset *cal = gg_dataset_from_arrays(CALIB, (int)F, x, 1, y, 10);
    if (!cal) goto fail;
    if (gg_quantize(m, cal, CALIB, BATCH, &q, &err) != GG_OK) goto fail;
    gg_model *fm = gg_qmodel_float(q);
    double best_f = INFINITY, best_q[GG_I8_KERNEL_COUNT];
    for (int k = 0; k < GG_I8_KERNEL_COUNT; k++) best_q[k] = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        gg_model_predict(fm, x, SAMPLES, out, &err);
        double t = now() - t0;
        if (r && t < best_f) best_f = t;
        for (int k = GG_I8_KERNEL_COUNT - 1; k >= 0; k--) {
            if (!gg_i8_kernel_available((gg_i8_kernel)k) || (only >= 0 && k != only)) continue;
            q->kernel = (gg_i8_kernel)k;
            t0 = now();
            gg_qmodel_predict(q, x, SAMPLES, out, &err);
            t = now() - t0;
            if (r && t < best_q[k]) best_q[k] = t;
        }
    }
    printf("{\"model\":\"%s\",\"batch\":%d,\"threads\":%d,\"float_samples_per_s\":%.0f", name, BATCH,
           threads, SAMPLES / best_f);
    for (int k = GG_I8_KERNEL_COUNT - 1; k >= 0; k--)
        if (gg_i8_kernel_available((gg_i8_kernel)k) && (only < 0 || k == only))
            printf(",\"int8_%s\":%.0f,\"speedup_%s\":%.2f", gg_i8_kernel_name((gg_i8_kernel)k),
                   SAMPLES / best_q[k], gg_i8_kernel_name((gg_i8_kernel)k), best_f / best_q[k]);
    printf(",\"default_kernel\":\"%s\"}\n", gg_int8_kernel());
    fflush(stdout);
    gg_qmodel_free(q);
    gg_model_free(m);
    gg_dataset_free(cal);
    free(x);
    free(y);
    free(out);
    gg_config_free(c);
    return 0;
fail:
    fprintf(stderr, "bench_compress: %s: %s\n", name, err.msg);
    return 1;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, code = 0, any = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) {
            only = gg_i8_kernel_parse(argv[++i]);
            if (only < 0 || !gg_i8_kernel_available((gg_i8_kernel)only)) {
                fprintf(stderr, "bench_compress: kernel '%s' unknown or not on this CPU\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "mlp") || !strcmp(argv[i], "cnn")) any = 1;
        else {
            fprintf(stderr, "usage: bench_compress [mlp] [cnn] [--threads N] [--reps N] [--kernel NAME]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "bench_compress: --threads and --reps must be >= 1\n");
        return 2;
    }
    gg_set_threads(threads);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "mlp") || !strcmp(argv[i], "cnn")) code |= bench(argv[i], threads, reps);
    if (!any) code |= bench("mlp", threads, reps) | bench("cnn", threads, reps);
    return code;
}
