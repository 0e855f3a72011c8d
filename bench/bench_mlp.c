/* bench_mlp: training throughput of the 784-256-256-10 ReLU MLP on
 * Fashion-MNIST (batch 64, guard off), through the public API only.
 * 100 warm-up steps, then N timed steps (default 2000); prints one JSON
 * line. The PyTorch side of the comparison is bench_mlp.py's worker, which
 * does the same.
 *   usage: bench_mlp [momentum|adam] [THREADS] [STEPS] */
#include "bench_train.h"

int main(int argc, char **argv) {
    static const char *const sets[][2] = {
        {"model.layers", "[{dense: {units: 256}}, relu, {dense: {units: 256}}, relu, {dense: {units: 10}}]"},
    };
    const bench_train b = {.name = "bench_mlp", .sets = sets, .n_sets = sizeof sets / sizeof sets[0],
                           .warmup = 100, .default_steps = 2000};
    return bench_train_main(argc, argv, &b);
}
