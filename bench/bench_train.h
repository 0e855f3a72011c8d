/* What bench_mlp and bench_cnn share: the command line
 * `NAME [momentum|adam] [THREADS] [STEPS]`, a Fashion-MNIST training run at
 * batch 64 with the guard off and a constant learning rate (SGD lr 0.01
 * momentum 0.9, or Adam lr 1e-3), WARMUP untimed steps, then STEPS timed
 * ones, and one JSON line with the samples per second. */
#ifndef GG_BENCH_TRAIN_H
#define GG_BENCH_TRAIN_H

#include <stddef.h>

typedef struct bench_train {
    const char *name;              /* "bench_mlp", for messages */
    const char *const (*sets)[2];  /* the model's config keys: {key, value} */
    size_t n_sets;
    int warmup;                    /* untimed steps */
    long default_steps;            /* timed steps when not given */
} bench_train;

/* Parses argv, runs the benchmark and prints its line; returns the exit
 * status (0, 1 on a failed run, 2 on a usage error). */
int bench_train_main(int argc, char **argv, const bench_train *b);

#endif
