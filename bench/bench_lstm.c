/* bench_lstm: training throughput of an LSTM(F = 2, H) - last step -
 * dense(1) regressor on adding-problem data (T = 100 steps, batch 64, MSE),
 * through the public graph-level API. Adam (lr 1e-3) or plain SGD (lr 0.01)
 * is written out here over the flat parameter block. 10 warm-up steps, then
 * N timed steps; prints one JSON line. The PyTorch side of the comparison is
 * bench_lstm.py's worker, which does the same with nn.LSTM. */
#include <tgmath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gradguard.h"

#define BATCH 64
#define STEPS_T 100
#define FEATURES 2
#define WARMUP 10
#define POOL 32 /* batches of data generated up front, cycled */

static const char usage[] =
    "usage: bench_lstm [adam|sgd] [THREADS] [STEPS] [HIDDEN]\n"
    "  adam: lr 0.001 (default); sgd: lr 0.01\n"
    "  THREADS: kernel threads (default 2); STEPS: timed steps (default 200);\n"
    "  HIDDEN: LSTM units (default 128)\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_lstm: %s: expected %ld to %ld, found '%s'\n%s", what, lo, hi, s,
                usage);
        return 0;
    }
    *out = v;
    return 1;
}

/* xorshift64*: the data only needs to look like the adding problem. */
static double uniform(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* The adding problem: x[t] = (value in [0, 1), marker), two markers set, one
 * in each half; the target is the sum of the two marked values. */
static void make_data(gg_real *x, gg_real *y, int n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int i = 0; i < n; i++) {
        gg_real *xi = x + (size_t)i * STEPS_T * FEATURES;
        int a = (int)(uniform(&s) * (STEPS_T / 2)), b = STEPS_T / 2 + (int)(uniform(&s) * (STEPS_T / 2));
        for (int t = 0; t < STEPS_T; t++) {
            xi[t * FEATURES] = (gg_real)uniform(&s);
            xi[t * FEATURES + 1] = (gg_real)(t == a || t == b);
        }
        y[i] = xi[a * FEATURES] + xi[b * FEATURES];
    }
}

int main(int argc, char **argv) {
    const char *opt = argc > 1 ? argv[1] : "adam";
    long threads = 2, steps = 200, hidden = 128;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 5 || (strcmp(opt, "adam") && strcmp(opt, "sgd"))) {
        fprintf(stderr, "bench_lstm: expected adam or sgd, found '%s'\n%s", opt, usage);
        return 2;
    }
    if (argc > 2 && !parse_int(argv[2], "THREADS", 1, 1024, &threads)) return 2;
    if (argc > 3 && !parse_int(argv[3], "STEPS", 1, 100000000, &steps)) return 2;
    if (argc > 4 && !parse_int(argv[4], "HIDDEN", 1, 4096, &hidden)) return 2;
    gg_set_threads((int)threads);

    int H = (int)hidden, G4 = 4 * H;
    double bound = 1 / sqrt((double)H); /* nn.LSTM's and nn.Linear's init */
    gg_graph *g = gg_graph_new(BATCH, 1);
    gg_node *x = gg_input(g, "x", 2, (int[]){STEPS_T, FEATURES});
    gg_node *target = gg_input(g, "y", 1, (int[]){1});
    gg_node *w_ih = gg_param(g, "lstm.weight_ih_l0", 2, (int[]){G4, FEATURES}, GG_INIT_UNIFORM, bound);
    gg_node *w_hh = gg_param(g, "lstm.weight_hh_l0", 2, (int[]){G4, H}, GG_INIT_UNIFORM, bound);
    gg_node *b_ih = gg_param(g, "lstm.bias_ih_l0", 1, (int[]){G4}, GG_INIT_UNIFORM, bound);
    gg_node *b_hh = gg_param(g, "lstm.bias_hh_l0", 1, (int[]){G4}, GG_INIT_UNIFORM, bound);
    gg_node *w = gg_param(g, "dense.weight", 2, (int[]){1, H}, GG_INIT_UNIFORM, bound);
    gg_node *b = gg_param(g, "dense.bias", 1, (int[]){1}, GG_INIT_UNIFORM, bound);
    gg_node *h = gg_recurrent(g, x, GG_CELL_LSTM, w_ih, w_hh, b_ih, b_hh, 0);
    gg_node *loss = gg_mse_loss(g, gg_linear(g, h, w, b), target);
    gg_error err = {0};
    if (gg_graph_build(g, &err) != GG_OK) {
        fprintf(stderr, "bench_lstm: %s: %s\n", gg_status_name(err.code), err.msg);
        gg_graph_free(g);
        return 1;
    }

    size_t per_x = (size_t)STEPS_T * FEATURES, np = gg_graph_param_len(g);
    gg_real *xs = malloc((size_t)POOL * BATCH * per_x * sizeof *xs);
    gg_real *ys = malloc((size_t)POOL * BATCH * sizeof *ys);
    gg_real *m = calloc(np, sizeof *m), *v = calloc(np, sizeof *v);
    if (!xs || !ys || !m || !v) {
        fprintf(stderr, "bench_lstm: out of memory\n");
        return 1;
    }
    make_data(xs, ys, POOL * BATCH, 1);
    gg_real *p = gg_graph_param_data(g), *dp = gg_graph_param_grad(g);
    const int adam = !strcmp(opt, "adam");
    const gg_real lr = adam ? (gg_real)1e-3 : (gg_real)0.01, b1 = (gg_real)0.9, b2 = (gg_real)0.999;
    double b1t = 1, b2t = 1, last_loss = 0, t0 = 0;

    for (long i = 0; i < WARMUP + steps; i++) {
        if (i == WARMUP) t0 = now();
        int k = (int)(i % POOL);
        memcpy(gg_node_data(x), xs + (size_t)k * BATCH * per_x, (size_t)BATCH * per_x * sizeof *xs);
        memcpy(gg_node_data(target), ys + (size_t)k * BATCH, (size_t)BATCH * sizeof *ys);
        gg_graph_forward(g);
        gg_graph_backward(g, loss);
        last_loss = gg_node_data(loss)[0];
        if (adam) {
            /* torch.optim.Adam's update, eps 1e-8 */
            b1t *= (double)b1;
            b2t *= (double)b2;
            gg_real c1 = (gg_real)(1 / (1 - b1t)), c2 = (gg_real)(1 / sqrt(1 - b2t));
#pragma omp simd
            for (size_t j = 0; j < np; j++) {
                m[j] = b1 * m[j] + (1 - b1) * dp[j];
                v[j] = b2 * v[j] + (1 - b2) * dp[j] * dp[j];
                p[j] -= lr * c1 * m[j] / (sqrt(v[j]) * c2 + (gg_real)1e-8);
            }
        } else {
#pragma omp simd
            for (size_t j = 0; j < np; j++) p[j] -= lr * dp[j];
        }
    }
    double secs = now() - t0;
    printf("{\"impl\":\"gradguard\",\"optimizer\":\"%s\",\"threads\":%ld,\"batch\":%d,"
           "\"steps_t\":%d,\"hidden\":%d,\"steps\":%ld,\"seconds\":%.4f,\"final_loss\":%.6g,"
           "\"samples_per_s\":%.1f}\n",
           opt, threads, BATCH, STEPS_T, H, steps, secs, last_loss,
           (double)steps * BATCH / secs);
    free(xs);
    free(ys);
    free(m);
    free(v);
    gg_graph_free(g);
    return 0;
}
