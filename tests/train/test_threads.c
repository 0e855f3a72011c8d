/* Hidden global state and stray output. Two models trained at once from
 * two pthreads (each with its own config, data, model and trainer) must
 * end with weights byte-identical to the same two trained one after the
 * other in the main thread; and nothing the library does while training,
 * saving, loading or refusing bad input may write to stdout or stderr.
 * Only the public API (gradguard.h) is used. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gradguard.h"

#define STEPS 200

/* Two different jobs: different shapes, activations, optimisers, clipping
 * and seeds, so that state shared by mistake would show in one or the
 * other. Both keep the guard on (the default) and train on a NaN row now
 * and then, so that the guard's skip path runs too. */
typedef struct job {
    const char *yaml;
    int features, classes;
    size_t n;
    uint64_t data_seed;
    long nan_row; /* -1: none */
    /* results, filled by train_job */
    gg_status status;
    char msg[256];
    gg_real *weights; /* owned */
    size_t len;
    double last_loss;
} job;

static const char yaml_a[] =
    "seed: 11\n"
    "model:\n  input: [6]\n"
    "  layers: [{dense: {units: 16}}, tanh, {dense: {units: 16, init: he_normal}}, relu,"
    " {dense: {units: 2}}]\n"
    "optimizer: {name: adam, lr: 0.01}\n"
    "schedule: {name: cosine, warmup_steps: 20}\n"
    "guard: {clip: {mode: global_norm, max_norm: 0.5}, nonfinite: skip, monitor: {every: 5}}\n"
    "train: {batch_size: 8, epochs: 10}\n";

static const char yaml_b[] =
    "seed: 22\n"
    "model:\n  input: [9]\n"
    "  layers: [{dense: {units: 12, init: xavier_uniform}}, sigmoid, {dense: {units: 3}}]\n"
    "optimizer: {name: momentum, lr: 0.05}\n"
    "schedule: {name: step, step_size: 50, gamma: 0.5}\n"
    "guard: {clip: {mode: autoclip, percentile: 20}, nonfinite: zero, monitor: {every: 1}}\n"
    "train: {batch_size: 5, epochs: 20}\n";

static void job_init(job *j, const char *yaml, int features, int classes, size_t n,
                     uint64_t data_seed, long nan_row) {
    memset(j, 0, sizeof *j);
    j->yaml = yaml;
    j->features = features;
    j->classes = classes;
    j->n = n;
    j->data_seed = data_seed;
    j->nan_row = nan_row;
}

static void job_clear(job *j) {
    free(j->weights);
    j->weights = NULL;
}

/* A splitmix64 stream: the data must not depend on the library's RNG. */
static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Class blobs, overlapping: class c has its mean at +0.5 on feature c % features. */
static gg_dataset *job_data(const job *j) {
    gg_real *x = malloc(j->n * (size_t)j->features * sizeof *x);
    gg_real *y = malloc(j->n * sizeof *y);
    gg_dataset *d = NULL;
    uint64_t s = j->data_seed;
    if (x && y) {
        for (size_t i = 0; i < j->n; i++) {
            int c = (int)(i % (size_t)j->classes);
            y[i] = (gg_real)c;
            for (int f = 0; f < j->features; f++)
                x[i * (size_t)j->features + (size_t)f] =
                    (gg_real)(2 * uniform(&s) - 1 + (f == c % j->features ? 0.5 : 0));
        }
        if (j->nan_row >= 0) x[(size_t)j->nan_row * (size_t)j->features] = NAN;
        d = gg_dataset_from_arrays(j->n, j->features, x, 1, y, j->classes);
    }
    free(x);
    free(y);
    return d;
}

/* Config, data, model, trainer, STEPS steps, weights copied out. Uses no
 * cmocka assertion: it runs on threads that cmocka knows nothing of. */
static void train_job(job *j) {
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    gg_dataset *d = job_data(j);
    gg_model *m = NULL;
    gg_trainer *t = NULL;
    gg_step_info info;
    j->status = GG_ERR_NOMEM;
    snprintf(j->msg, sizeof j->msg, "out of memory");
    if (!c || !d) goto done;
    if ((j->status = gg_config_load_string(c, j->yaml, &err)) != GG_OK) goto fail;
    if ((j->status = gg_model_new(c, 64, &m, &err)) != GG_OK) goto fail;
    if ((j->status = gg_trainer_new(m, c, d, &t, &err)) != GG_OK) goto fail;
    for (int i = 0; i < STEPS; i++) {
        if ((j->status = gg_trainer_step(t, &info, &err)) != GG_OK) goto fail;
        const gg_event *ev;
        gg_trainer_events(t, &ev);
    }
    j->last_loss = info.loss;
    gg_graph *g = gg_model_graph(m);
    j->len = gg_graph_param_len(g);
    j->weights = malloc(j->len * sizeof *j->weights);
    if (!j->weights) {
        j->status = GG_ERR_NOMEM;
        goto done;
    }
    memcpy(j->weights, gg_graph_param_data(g), j->len * sizeof *j->weights);
    j->status = GG_OK;
    j->msg[0] = '\0';
    goto done;
fail:
    snprintf(j->msg, sizeof j->msg, "%s", err.msg);
done:
    gg_trainer_free(t);
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
}

static pthread_barrier_t start_line;

static void *worker(void *arg) {
    /* omp_set_num_threads sets a per-thread value: a new pthread starts
     * from OMP_NUM_THREADS, not from what main chose, so each thread sets
     * it again. One thread per kernel makes every reduction run in the
     * same order in both runs; the comparison is about hidden global
     * state, not about the results of different thread counts. */
    gg_set_threads(1);
    pthread_barrier_wait(&start_line); /* both start at once, to overlap */
    train_job(arg);
    return NULL;
}

static void assert_job_ok(const job *j, const char *what) {
    if (j->status != GG_OK) fail_msg("%s: %s: %s", what, gg_status_name(j->status), j->msg);
    assert_non_null(j->weights);
    assert_true(j->len > 0);
    assert_true(isfinite(j->last_loss));
}

static void test_two_threads_match_one_after_the_other(void **state) {
    (void)state;
    job seq[2], par[2];
    /* See worker(): the main thread's own OpenMP setting, for the
     * sequential runs. */
    gg_set_threads(1);
    assert_int_equal(gg_get_threads(), 1);
    job_init(&seq[0], yaml_a, 6, 2, 240, 1, -1);
    job_init(&seq[1], yaml_b, 9, 3, 150, 2, 101);
    par[0] = seq[0];
    par[1] = seq[1];

    train_job(&seq[0]);
    train_job(&seq[1]);
    assert_job_ok(&seq[0], "sequential A");
    assert_job_ok(&seq[1], "sequential B");

    pthread_t th[2];
    assert_int_equal(pthread_barrier_init(&start_line, NULL, 2), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, worker, &par[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start_line);
    assert_job_ok(&par[0], "threaded A");
    assert_job_ok(&par[1], "threaded B");

    for (int k = 0; k < 2; k++) {
        assert_int_equal(par[k].len, seq[k].len);
        size_t first = par[k].len;
        for (size_t i = 0; i < par[k].len && first == par[k].len; i++)
            if (memcmp(&par[k].weights[i], &seq[k].weights[i], sizeof(gg_real)) != 0) first = i;
        if (first != par[k].len)
            fail_msg("model %c: weight %zu is %.9g trained on a thread, %.9g in the main thread",
                     'A' + k, first, (double)par[k].weights[first], (double)seq[k].weights[first]);
    }
    /* The two jobs differ: a comparison of two identical runs would prove
     * nothing about one leaking into the other. */
    assert_true(seq[0].len != seq[1].len ||
                memcmp(seq[0].weights, seq[1].weights, seq[0].len * sizeof(gg_real)) != 0);
    for (int k = 0; k < 2; k++) {
        job_clear(&seq[k]);
        job_clear(&par[k]);
    }
}

/* ---- silence ------------------------------------------------------------ */

/* Runs fn with stdout and stderr sent to a temporary file; returns how many
 * bytes were written there, and copies the first of them to seen. */
static long captured(void (*fn)(void *), void *arg, char *seen, size_t cap) {
    fflush(stdout);
    fflush(stderr);
    FILE *sink = tmpfile();
    assert_non_null(sink);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    assert_true(saved_out >= 0 && saved_err >= 0);
    assert_true(dup2(fileno(sink), STDOUT_FILENO) >= 0);
    assert_true(dup2(fileno(sink), STDERR_FILENO) >= 0);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    struct stat st;
    long n = fstat(fileno(sink), &st) == 0 ? (long)st.st_size : -1;
    rewind(sink);
    size_t got = fread(seen, 1, cap - 1, sink);
    seen[got] = '\0';
    fclose(sink);
    return n;
}

typedef struct silent_run {
    char dir[64];
    int failures; /* checks that went wrong, counted here: asserts come after */
    char why[256];
} silent_run;

static void note(silent_run *r, const char *what) {
    if (!r->failures++) snprintf(r->why, sizeof r->why, "%s", what);
}

/* Training with guard events (a NaN row, hard clipping, a spike-prone lr),
 * monitoring, diagnosis, evaluation, prediction, saving and loading; then
 * the error paths: bad YAML (libfyaml has diagnostics of its own), an
 * alias, a bad --set, weights that do not exist or do not fit. */
static void noisy_work(void *arg) {
    silent_run *r = arg;
    gg_error err = {0};
    job j;
    job_init(&j, yaml_a, 6, 2, 240, 3, 5);
    gg_config *c = gg_config_new_default();
    gg_dataset *d = job_data(&j);
    gg_model *m = NULL;
    gg_trainer *t = NULL;
    gg_step_info info;
    char path[128];
    if (!c || !d) {
        note(r, "out of memory");
        goto done;
    }
    if (gg_config_load_string(c, yaml_a, &err) != GG_OK) note(r, err.msg);
    if (gg_config_set(c, "guard.clip.max_norm", "0.01", &err) != GG_OK) note(r, err.msg);
    if (gg_config_set(c, "optimizer.lr", "5", &err) != GG_OK) note(r, err.msg);
    if (gg_model_new(c, 64, &m, &err) != GG_OK || gg_trainer_new(m, c, d, &t, &err) != GG_OK) {
        note(r, err.msg);
        goto done;
    }
    int events = 0;
    for (int i = 0; i < 120; i++) {
        gg_status s = gg_trainer_step(t, &info, &err);
        if (s != GG_OK && s != GG_ERR_DIVERGED) note(r, err.msg);
        if (s != GG_OK) break;
        const gg_event *ev;
        events += gg_trainer_events(t, &ev);
        const gg_param_stats *ps;
        const gg_layer_stats *ls;
        gg_trainer_param_stats(t, &ps);
        gg_trainer_layer_stats(t, &ls);
        if (info.epoch_end) gg_trainer_end_epoch(t, info.loss);
    }
    if (events == 0) note(r, "no guard event: the run did not exercise the guard");
    gg_event found[8];
    gg_trainer_diagnose(t, found, 8);
    gg_eval_result e;
    if (gg_model_evaluate(m, d, &e, &err) != GG_OK) note(r, err.msg);
    gg_real x[6] = {0}, out[2];
    if (gg_model_predict(m, x, 1, out, &err) != GG_OK) note(r, err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", r->dir);
    if (gg_model_save(m, path, &err) != GG_OK) note(r, err.msg);
    if (gg_model_load(m, path, &err) != GG_OK) note(r, err.msg);
    FILE *null = fopen("/dev/null", "w");
    if (!null || gg_config_write(c, null, &err) != GG_OK) note(r, "writing the config");
    if (null) fclose(null);

    /* Refusals: each must fail, quietly. */
    gg_config *bad = gg_config_new_default();
    static const char *const broken_yaml[] = {
        "optimizer:\n  lr: 0.1\n   name: sgd\n", "optimizer:\n\tlr: 0.1\n", "a: [1, 2\n",
        "a: &x 1\nb: *x\n", "seed: 1\n---\nseed: 2\n", "%YAML 9.9\n--- {}\n", "seed: \"\\q\"\n",
        "? [a, b]\n: 1\n", "seed: 1\nseed: 2\n", "!!binary x: 1\n",
    };
    for (size_t i = 0; bad && i < sizeof broken_yaml / sizeof *broken_yaml; i++)
        if (gg_config_load_string(bad, broken_yaml[i], &err) == GG_OK) note(r, broken_yaml[i]);
    if (bad && gg_config_set(bad, "optimizer.lrr", "0.1", &err) == GG_OK) note(r, "--set lrr");
    if (bad && gg_config_set(bad, "optimizer.lr", "[", &err) == GG_OK) note(r, "--set lr=[");
    gg_config_free(bad);
    if (gg_config_load_file(c, "/nonexistent/gradguard.yaml", &err) == GG_OK) note(r, "no file");
    if (gg_model_load(m, "/nonexistent/model.safetensors", &err) == GG_OK) note(r, "no weights");
    snprintf(path, sizeof path, "%s/junk.safetensors", r->dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("\x10\0\0\0\0\0\0\0{\"a\": [1, 2, }   ", f);
        fclose(f);
    }
    if (gg_model_load(m, path, &err) == GG_OK) note(r, "junk weights");
done:
    gg_trainer_free(t);
    gg_model_free(m);
    gg_dataset_free(d);
    gg_config_free(c);
}

static void test_library_never_prints(void **state) {
    (void)state;
    silent_run r = {.failures = 0};
    char seen[512];
    snprintf(r.dir, sizeof r.dir, "/tmp/gg-threads-XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    gg_set_threads(2); /* the OpenMP pool too, with its own warnings if any */
    long n = captured(noisy_work, &r, seen, sizeof seen);
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", r.dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/junk.safetensors", r.dir);
    unlink(path);
    rmdir(r.dir);
    if (r.failures) fail_msg("%d unexpected results, the first: %s", r.failures, r.why);
    if (n != 0) fail_msg("the library wrote %ld bytes to stdout/stderr, starting: %s", n, seen);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_threads_match_one_after_the_other),
        cmocka_unit_test(test_library_never_prints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
