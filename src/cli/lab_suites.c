/* The lab's suites: the experiments of the mission's source articles as
 * whole configs. Quick mode trains a few hundred steps (seconds a suite);
 * the full mode one epoch or more (minutes). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli/lab.h"

const char *const lab_suite_names[] = {"depth",     "explode", "recurrent", "optimizers",
                                       "schedules", "seeds",   NULL};

typedef struct sink {
    lab_row *rows;
    int n, cap;
} sink;

static lab_row *add(sink *s, const char *name, const char *desc, long long steps) {
    if (s->n >= s->cap) return NULL;
    lab_row *r = &s->rows[s->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->desc, sizeof r->desc, "%s", desc);
    r->steps = steps;
    return r;
}

static void cat(lab_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat(lab_row *r, const char *fmt, ...) {
    if (!r) return;
    size_t k = strlen(r->yaml);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->yaml + k, sizeof r->yaml - k, fmt, ap);
    va_end(ap);
}

#define FASHION "data: {dataset: fashion-mnist, validation: 2000, normalize: standardize}\n"

/* depth: a deep MLP (10 hidden layers of 64) five ways. */
static void depth(sink *s, bool quick) {
    static const struct {
        const char *name, *desc, *act, *init;
        int bn, res;
    } v[] = {
        {"sigmoid-naive", "sigmoid, U(-0.1, 0.1) init (the naive one)", "sigmoid", "init: uniform, scale: 0.1", 0, 0},
        {"sigmoid-xavier", "sigmoid, Xavier init", "sigmoid", "init: xavier_uniform", 0, 0},
        {"tanh-xavier", "tanh, Xavier init", "tanh", "init: xavier_uniform", 0, 0},
        {"relu-he", "ReLU, He init", "relu", "init: he_normal", 0, 0},
        {"relu-he-bn", "ReLU, He init, batch norm", "relu", "init: he_normal", 1, 0},
        {"relu-he-residual", "ReLU, He init, residual blocks", "relu", "init: he_normal", 0, 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        lab_row *r = add(s, v[i].name, v[i].desc, quick ? 300 : 1500);
        cat(r, "seed: 0\n" FASHION "model:\n  input: [784]\n  layers:\n");
        const char *init = v[i].init;
        cat(r, "    - dense: {units: 64, %s}\n    - %s\n", init, v[i].act);
        for (int l = 1; l < 10; l++) {
            if (v[i].res)
                cat(r, "    - residual: {layers: [{dense: {units: 64, %s}}, %s]}\n", init, v[i].act);
            else if (v[i].bn)
                cat(r, "    - dense: {units: 64, %s}\n    - batch_norm\n    - %s\n", init, v[i].act);
            else
                cat(r, "    - dense: {units: 64, %s}\n    - %s\n", init, v[i].act);
        }
        cat(r, "    - dense: {units: 10, %s}\n", init);
        cat(r, "optimizer: {name: sgd, lr: 0.02, momentum: 0.9}\nschedule: constant\n"
               "guard: {monitor: {every: 10}}\ntrain: {epochs: 10, batch_size: 64}\n");
    }
}

/* explode: SGD at lr 1 (far too high) with each clipping rule alone, then
 * the whole guard (spike detection and recovery on top). */
static void explode(sink *s, bool quick) {
    static const struct {
        const char *name, *desc, *clip;
        int full;
    } v[] = {
        {"no-clipping", "no clipping, no guard", NULL, 0},
        {"value", "clip by value (0.1)", "{mode: value, value: 0.1}", 0},
        {"norm", "clip each tensor's norm (1.0)", "{mode: norm, max_norm: 1.0}", 0},
        {"global-norm", "clip the global norm (1.0)", "{mode: global_norm, max_norm: 1.0}", 0},
        {"agc", "adaptive gradient clipping (0.01)", "{mode: agc, agc_clip: 0.01}", 0},
        {"autoclip", "AutoClip (10th percentile)", "{mode: autoclip, percentile: 10}", 0},
        {"zclip", "ZClip (z > 2.5)", "{mode: zclip, z_threshold: 2.5}", 0},
        {"full-guard", "the whole guard: global norm, spikes, recovery", "{mode: global_norm, max_norm: 1.0}", 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        lab_row *r = add(s, v[i].name, v[i].desc, quick ? 300 : 1500);
        if (!r) return;
        r->baseline = !v[i].clip;
        r->guarded = v[i].clip != NULL;
        cat(r, "seed: 0\n" FASHION "model:\n  input: [784]\n  layers: [{dense: {units: 256}}, relu, "
               "{dense: {units: 256}}, relu, {dense: {units: 10}}]\n"
               "optimizer: {name: sgd, lr: 1.0}\nschedule: constant\ntrain: {epochs: 10, batch_size: 64}\n");
        if (!v[i].clip)
            cat(r, "guard: off\n");
        else if (v[i].full)
            cat(r, "guard: {clip: %s, monitor: {every: 10}}\n", v[i].clip);
        else
            cat(r, "guard: {clip: %s, nonfinite: skip, monitor: {every: 10}, spike: {enabled: false}, "
                   "recover: {enabled: false}}\n", v[i].clip);
    }
}

/* recurrent: RNN, LSTM and GRU on the adding problem, with and without clipping. */
static void recurrent(sink *s, bool quick) {
    static const char *const cells[] = {"rnn", "lstm", "gru"};
    int T = quick ? 30 : 100;
    for (int c = 0; c < 3; c++)
        for (int clip = 1; clip >= 0; clip--) {
            char name[48], desc[160];
            snprintf(name, sizeof name, "%s%s", cells[c], clip ? "-clip" : "");
            snprintf(desc, sizeof desc, "%s, 32 units, T = %d, %s", cells[c], T,
                     clip ? "global-norm clip 1.0" : "no clipping");
            lab_row *r = add(s, name, desc, quick ? 250 : 3000);
            cat(r, "seed: 0\ndata: {dataset: adding, length: %d, samples: %d, test_fraction: 0.1, "
                   "validation: 500, normalize: none}\n"
                   "model:\n  input: [%d, 2]\n  layers: [{%s: {units: 32}}, {dense: {units: 1}}]\n"
                   "loss: mse\noptimizer: {name: adam, lr: 0.002}\nschedule: constant\n"
                   "guard: {clip: %s, monitor: {every: 10}}\ntrain: {epochs: 100, batch_size: 64}\n",
                   T, quick ? 6000 : 22000, T, cells[c],
                   clip ? "{mode: global_norm, max_norm: 1.0}" : "none");
        }
}

static void mlp_row(sink *s, const char *name, const char *desc, long long steps,
                    const char *optimizer, const char *schedule) {
    lab_row *r = add(s, name, desc, steps);
    cat(r, "seed: 0\n" FASHION "model:\n  input: [784]\n  layers: [{dense: {units: 128, init: he_normal}}, "
           "relu, {dense: {units: 10}}]\noptimizer: %s\nschedule: %s\n"
           "guard: {monitor: {every: 10}}\ntrain: {epochs: 10, batch_size: 64}\n",
        optimizer, schedule);
}

static void optimizers(sink *s, bool quick) {
    long long n = quick ? 300 : 2000;
    mlp_row(s, "sgd", "SGD, lr 0.05", n, "{name: sgd, lr: 0.05}", "constant");
    mlp_row(s, "momentum", "SGD with momentum 0.9, lr 0.01", n, "{name: momentum, lr: 0.01}", "constant");
    mlp_row(s, "nesterov", "Nesterov momentum 0.9, lr 0.01", n, "{name: nesterov, lr: 0.01}", "constant");
    mlp_row(s, "adagrad", "Adagrad, lr 0.01", n, "{name: adagrad, lr: 0.01}", "constant");
    mlp_row(s, "rmsprop", "RMSprop, lr 0.001", n, "{name: rmsprop, lr: 0.001}", "constant");
    mlp_row(s, "adam", "Adam, lr 0.001", n, "{name: adam, lr: 0.001}", "constant");
    mlp_row(s, "adamw", "AdamW, lr 0.001, weight decay 0.01", n, "{name: adamw, lr: 0.001}", "constant");
}

static void schedules(sink *s, bool quick) {
    long long n = quick ? 300 : 2000;
    const char *opt = "{name: momentum, lr: 0.05}";
    mlp_row(s, "constant", "constant lr 0.05", n, opt, "constant");
    mlp_row(s, "linear", "the seeds' linear decay lr (1 - alpha t)", n, opt,
            quick ? "{name: linear, alpha: 0.003}" : "{name: linear, alpha: 0.0004}");
    mlp_row(s, "inverse", "the seeds' inverse decay lr g^t / (g^t + b)", n, opt, "{name: inverse, gamma: 0.999, beta: 1}");
    mlp_row(s, "polynomial", "polynomial decay, power 3 (the seeds' \"1-cycle\")", n, opt, "{name: polynomial, power: 3}");
    mlp_row(s, "onecycle", "one-cycle, max lr 0.1", n, opt, "{name: onecycle, max_lr: 0.1}");
    mlp_row(s, "cosine-warmup", "cosine with 100 warm-up steps", n, opt, "{name: cosine, warmup_steps: 100}");
}

/* seeds: the source articles' own examples. */
static void seeds(sink *s, bool quick) {
    lab_row *r = add(s, "xor-2-4-1", "XOR, 2-4-1 sigmoid net, SGD lr 1 (seed 001)", quick ? 2000 : 8000);
    cat(r, "seed: 0\ndata: {dataset: xor, validation: 0, normalize: none, shuffle: false}\n"
           "model:\n  input: [2]\n  layers: [{dense: {units: 4, init: xavier_uniform}}, sigmoid, "
           "{dense: {units: 1, init: xavier_uniform}}, sigmoid]\nloss: bce\n"
           "optimizer: {name: sgd, lr: 1.0}\nschedule: constant\n"
           "guard: {monitor: {every: 10}}\ntrain: {epochs: 100000, batch_size: 4}\n");
    r = add(s, "random-binary-backoff", "random binary task, lr / 10 when the gradient norm passes 1.0 (seed 000)",
            quick ? 300 : 1500);
    cat(r, "seed: 0\ndata: {dataset: random-binary, samples: 1000, features: 10, validation: 100}\n"
           "model:\n  input: [10]\n  layers: [{dense: {units: 16}}, relu, {dense: {units: 2}}]\n"
           "optimizer: {name: sgd, lr: 0.5}\nschedule: constant\n"
           "guard: {clip: none, monitor: {every: 10}, backoff: {enabled: true, threshold: 1.0, factor: 10}}\n"
           "train: {epochs: 1000, batch_size: 32}\n");
    r = add(s, "mlp-bn-adam", "784-128-BN-128-BN-10 MLP with Adam (seed 003)", quick ? 300 : 1700);
    cat(r, "seed: 0\n" FASHION "model:\n  input: [784]\n  layers: [{dense: {units: 128}}, batch_norm, relu, "
           "{dense: {units: 128}}, batch_norm, relu, {dense: {units: 10}}]\n"
           "optimizer: {name: adam, lr: 0.001}\nschedule: constant\n"
           "guard: {monitor: {every: 10}}\ntrain: {epochs: 10, batch_size: 64}\n");
}

int lab_suite_rows(const char *suite, bool quick, lab_row *rows, int cap) {
    sink s = {rows, 0, cap};
    if (!strcmp(suite, "depth")) depth(&s, quick);
    else if (!strcmp(suite, "explode")) explode(&s, quick);
    else if (!strcmp(suite, "recurrent")) recurrent(&s, quick);
    else if (!strcmp(suite, "optimizers")) optimizers(&s, quick);
    else if (!strcmp(suite, "schedules")) schedules(&s, quick);
    else if (!strcmp(suite, "seeds")) seeds(&s, quick);
    else return -1;
    return s.n;
}
