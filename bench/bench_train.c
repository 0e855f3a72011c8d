/* The training benchmarks' shared run (bench_train.h): only the public API. */
#include "bench_train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gradguard.h"

#define BATCH 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f, const bench_train *b) {
    fprintf(f,
            "usage: %s [momentum|adam] [THREADS] [STEPS]\n"
            "  momentum: SGD lr 0.01 momentum 0.9; adam: lr 0.001 (default momentum)\n"
            "  THREADS: kernel threads (default 2); STEPS: timed steps (default %ld)\n",
            b->name, b->default_steps);
}

static int parse_int(const bench_train *b, const char *s, const char *what, long lo, long hi,
                     long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: expected %ld to %ld, found '%s'\n", b->name, what, lo, hi, s);
        usage(stderr, b);
        return 0;
    }
    *out = v;
    return 1;
}

int bench_train_main(int argc, char **argv, const bench_train *b) {
    const char *opt = argc > 1 ? argv[1] : "momentum";
    long threads = 2, steps = b->default_steps;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout, b);
        return 0;
    }
    if (argc > 4 || (strcmp(opt, "momentum") && strcmp(opt, "adam"))) {
        fprintf(stderr, "%s: expected momentum or adam, found '%s'\n", b->name, opt);
        usage(stderr, b);
        return 2;
    }
    if (argc > 2 && !parse_int(b, argv[2], "THREADS", 1, 1024, &threads)) return 2;
    if (argc > 3 && !parse_int(b, argv[3], "STEPS", 1, 100000000, &steps)) return 2;

    const char *common[][2] = {
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
    for (size_t i = 0; ok && i < b->n_sets; i++)
        ok = gg_config_set(cfg, b->sets[i][0], b->sets[i][1], &err) == GG_OK;
    for (size_t i = 0; ok && i < sizeof common / sizeof common[0]; i++)
        ok = gg_config_set(cfg, common[i][0], common[i][1], &err) == GG_OK;
    if (ok) gg_set_threads((int)threads);
    ok = ok && gg_data_load(cfg, &train, &val, &test, &err) == GG_OK &&
         gg_model_new(cfg, BATCH, &model, &err) == GG_OK &&
         gg_trainer_new(model, cfg, train, &trainer, &err) == GG_OK;

    /* Samples per step: BATCH, except the short last batch of an epoch. */
    size_t n = ok ? gg_dataset_size(train) : 0;
    int64_t spe = ok ? gg_trainer_steps_per_epoch(trainer) : 1;
    size_t last = n - (size_t)(spe - 1) * BATCH;
    for (int i = 0; ok && i < b->warmup; i++) ok = gg_trainer_step(trainer, &info, &err) == GG_OK;
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
        fprintf(stderr, "%s: %s: %s\n", b->name, gg_status_name(err.code), err.msg);
    gg_trainer_free(trainer);
    gg_model_free(model);
    gg_dataset_free(train);
    gg_dataset_free(val);
    gg_dataset_free(test);
    gg_config_free(cfg);
    return ok ? 0 : 1;
}
