/* bench_cnn: training throughput of a small CNN on Fashion-MNIST images
 * [1, 28, 28] (batch 64, guard off), through the public API only:
 *   conv2d(32, 3x3, padding 1)-relu-max_pool 2-conv2d(64, 3x3, padding 1)-
 *   relu-max_pool 2-flatten-dense 128-relu-dense 10, cross-entropy.
 * 20 warm-up steps, then N timed steps; prints one JSON line. The PyTorch
 * side of the comparison is bench_cnn.py's worker, which does the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gradguard.h"

#define BATCH 64
#define WARMUP 20

static const char usage[] =
    "usage: bench_cnn [momentum|adam] [THREADS] [STEPS]\n"
    "  momentum: SGD lr 0.01 momentum 0.9; adam: lr 0.001 (default momentum)\n"
    "  THREADS: kernel threads (default 2); STEPS: timed steps (default 300)\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_cnn: %s: expected %ld to %ld, found '%s'\n%s", what, lo, hi, s, usage);
        return 0;
    }
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    const char *opt = argc > 1 ? argv[1] : "momentum";
    long threads = 2, steps = 300;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 4 || (strcmp(opt, "momentum") && strcmp(opt, "adam"))) {
        fprintf(stderr, "bench_cnn: expected momentum or adam, found '%s'\n%s", opt, usage);
        return 2;
    }
    if (argc > 2 && !parse_int(argv[2], "THREADS", 1, 1024, &threads)) return 2;
    if (argc > 3 && !parse_int(argv[3], "STEPS", 1, 100000000, &steps)) return 2;

    const char *sets[][2] = {
        {"model.input", "[1, 28, 28]"},
        {"model.layers",
         "[{conv2d: {filters: 32, kernel: 3, padding: 1}}, relu, {max_pool: {kernel: 2}}, "
         "{conv2d: {filters: 64, kernel: 3, padding: 1}}, relu, {max_pool: {kernel: 2}}, "
         "flatten, {dense: {units: 128}}, relu, {dense: {units: 10}}]"},
        {"data.dataset", "fashion-mnist"},
        {"guard.enabled", "false"},
        {"schedule.name", "constant"},
        {"schedule.warmup_steps", "0"},
        {"train.batch_size", "64"},
        {"train.epochs", "1000000"},
        {"optimizer.name", opt},
        {"optimizer.lr", strcmp(opt, "adam") ? "0.01" : "0.001"},
    };
    gg_error err = {0};
    gg_config *cfg = gg_config_new_default();
    gg_dataset *train = NULL, *val = NULL, *test = NULL;
    gg_model *model = NULL;
    gg_trainer *trainer = NULL;
    gg_step_info info = {0};
    int ok = cfg != NULL;
    if (!ok) snprintf(err.msg, sizeof err.msg, "out of memory");
    for (size_t i = 0; ok && i < sizeof sets / sizeof sets[0]; i++)
        ok = gg_config_set(cfg, sets[i][0], sets[i][1], &err) == GG_OK;
    if (ok) gg_set_threads((int)threads);
    ok = ok && gg_data_load(cfg, &train, &val, &test, &err) == GG_OK &&
         gg_model_new(cfg, BATCH, &model, &err) == GG_OK &&
         gg_trainer_new(model, cfg, train, &trainer, &err) == GG_OK;

    /* Samples per step: BATCH, except the short last batch of an epoch. */
    size_t n = ok ? gg_dataset_size(train) : 0;
    int64_t spe = ok ? gg_trainer_steps_per_epoch(trainer) : 1;
    size_t last = n - (size_t)(spe - 1) * BATCH;
    for (int i = 0; ok && i < WARMUP; i++) ok = gg_trainer_step(trainer, &info, &err) == GG_OK;
    double samples = 0, t0 = now();
    for (long i = 0; ok && i < steps; i++) {
        ok = gg_trainer_step(trainer, &info, &err) == GG_OK;
        samples += (double)(info.epoch_end ? last : BATCH);
    }
    double secs = now() - t0;

    if (ok)
        printf("{\"impl\":\"gradguard\",\"optimizer\":\"%s\",\"threads\":%ld,\"batch\":%d,"
               "\"steps\":%ld,\"seconds\":%.4f,\"final_loss\":%.6g,\"samples_per_s\":%.1f}\n",
               opt, threads, BATCH, steps, secs, info.loss, samples / secs);
    else
        fprintf(stderr, "bench_cnn: %s: %s\n", gg_status_name(err.code), err.msg);
    gg_trainer_free(trainer);
    gg_model_free(model);
    gg_dataset_free(train);
    gg_dataset_free(val);
    gg_dataset_free(test);
    gg_config_free(cfg);
    return ok ? 0 : 1;
}
