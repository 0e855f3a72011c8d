/* bench_guard: what the guard and its monitoring cost, in per cent of the
 * step time, on the 784-256-256-10 ReLU MLP (batch 64, Adam) on
 * Fashion-MNIST. Four trainers, one per setting, take turns in rounds of
 * timed steps so that a change in machine load hits all of them alike; the
 * median round of each is reported:
 *   off        guard.enabled false
 *   guard      guard on, monitoring off (norms, clipping, spikes, recovery)
 *   monitor10  guard on, monitoring every 10 steps (the default)
 *   monitor1   guard on, monitoring every step
 * Prints a table and one JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gradguard.h"

#define SETTINGS 4
#define BATCH 64

static const char *const names[SETTINGS] = {"off", "guard", "monitor10", "monitor1"};
static const char *const guard_on[SETTINGS] = {"false", "true", "true", "true"};
static const char *const every[SETTINGS] = {"0", "0", "10", "1"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 15;
    int per_round = argc > 3 ? atoi(argv[3]) : 200;
    if (threads < 1 || rounds < 1 || per_round < 1) {
        fprintf(stderr, "usage: bench_guard [THREADS] [ROUNDS] [STEPS_PER_ROUND]\n");
        return 2;
    }
    gg_error err = {0};
    gg_config *cfg[SETTINGS] = {0};
    gg_model *model[SETTINGS] = {0};
    gg_trainer *tr[SETTINGS] = {0};
    gg_dataset *train = NULL, *val = NULL, *test = NULL;
    double *times = calloc((size_t)SETTINGS * rounds, sizeof *times);
    gg_step_info info;
    int ok = times != NULL;
    gg_set_threads(threads);
    for (int s = 0; ok && s < SETTINGS; s++) {
        cfg[s] = gg_config_new_default();
        ok = cfg[s] &&
             gg_config_set(cfg[s], "model.layers",
                           "[{dense: {units: 256}}, relu, {dense: {units: 256}}, relu, {dense: {units: 10}}]",
                           &err) == GG_OK &&
             gg_config_set(cfg[s], "schedule.name", "constant", &err) == GG_OK &&
             gg_config_set(cfg[s], "train.epochs", "1000000", &err) == GG_OK &&
             gg_config_set(cfg[s], "guard.enabled", guard_on[s], &err) == GG_OK &&
             gg_config_set(cfg[s], "guard.monitor.every", every[s], &err) == GG_OK;
    }
    ok = ok && gg_data_load(cfg[0], &train, &val, &test, &err) == GG_OK;
    for (int s = 0; ok && s < SETTINGS; s++)
        ok = gg_model_new(cfg[s], BATCH, &model[s], &err) == GG_OK &&
             gg_trainer_new(model[s], cfg[s], train, &tr[s], &err) == GG_OK;
    for (int s = 0; ok && s < SETTINGS; s++) /* warm-up */
        for (int i = 0; ok && i < 100; i++) ok = gg_trainer_step(tr[s], &info, &err) == GG_OK;
    for (int r = 0; ok && r < rounds; r++)
        for (int s = 0; ok && s < SETTINGS; s++) {
            double t0 = now();
            for (int i = 0; ok && i < per_round; i++) ok = gg_trainer_step(tr[s], &info, &err) == GG_OK;
            times[s * rounds + r] = (now() - t0) / per_round;
        }
    if (ok) {
        double med[SETTINGS];
        for (int s = 0; s < SETTINGS; s++) {
            qsort(times + s * rounds, (size_t)rounds, sizeof *times, cmp);
            med[s] = times[s * rounds + rounds / 2];
        }
        printf("%-10s %12s %14s\n", "setting", "ms/step", "vs previous");
        for (int s = 0; s < SETTINGS; s++)
            printf("%-10s %12.4f %13.2f%%\n", names[s], 1e3 * med[s],
                   s ? 100 * (med[s] - med[s == 1 ? 0 : 1]) / med[s == 1 ? 0 : 1] : 0.0);
        printf("{\"threads\":%d,\"ms_per_step\":{\"off\":%.5f,\"guard\":%.5f,\"monitor10\":%.5f,"
               "\"monitor1\":%.5f},\"guard_overhead_pct\":%.2f,\"monitor10_overhead_pct\":%.2f,"
               "\"monitor1_overhead_pct\":%.2f}\n",
               threads, 1e3 * med[0], 1e3 * med[1], 1e3 * med[2], 1e3 * med[3],
               100 * (med[1] - med[0]) / med[0], 100 * (med[2] - med[1]) / med[1],
               100 * (med[3] - med[1]) / med[1]);
    } else {
        fprintf(stderr, "bench_guard: %s\n", err.msg);
    }
    for (int s = 0; s < SETTINGS; s++) {
        gg_trainer_free(tr[s]);
        gg_model_free(model[s]);
        gg_config_free(cfg[s]);
    }
    gg_dataset_free(train), gg_dataset_free(val), gg_dataset_free(test);
    free(times);
    return ok ? 0 : 1;
}
