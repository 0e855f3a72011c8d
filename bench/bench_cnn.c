/* bench_cnn: training throughput of a small CNN on Fashion-MNIST images
 * [1, 28, 28] (batch 64, guard off), through the public API only:
 *   conv2d(32, 3x3, padding 1)-relu-max_pool 2-conv2d(64, 3x3, padding 1)-
 *   relu-max_pool 2-flatten-dense 128-relu-dense 10, cross-entropy.
 * 20 warm-up steps, then N timed steps (default 300); prints one JSON line.
 * The PyTorch side of the comparison is bench_cnn.py's worker, which does
 * the same.
 *   usage: bench_cnn [momentum|adam] [THREADS] [STEPS] */
#include "bench_train.h"

int main(int argc, char **argv) {
    static const char *const sets[][2] = {
        {"model.input", "[1, 28, 28]"},
        {"model.layers",
         "[{conv2d: {filters: 32, kernel: 3, padding: 1}}, relu, {max_pool: {kernel: 2}}, "
         "{conv2d: {filters: 64, kernel: 3, padding: 1}}, relu, {max_pool: {kernel: 2}}, "
         "flatten, {dense: {units: 128}}, relu, {dense: {units: 10}}]"},
    };
    const bench_train b = {.name = "bench_cnn", .sets = sets, .n_sets = sizeof sets / sizeof sets[0],
                           .warmup = 20, .default_steps = 300};
    return bench_train_main(argc, argv, &b);
}
