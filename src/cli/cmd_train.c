/* gradguard train: resolve the config, load and check everything that can
 * be wrong (config, data, model, --init weights) before the run directory
 * is created, then train with a progress bar (on a terminal) or plain
 * lines, writing metrics.jsonl as it goes and the model at the end. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "io/io.h"
#include "io/metrics.h"
#include "train/trainer.h"

static const char train_usage[] =
    "usage: gradguard train [CONFIG.yaml] [--set KEY=VALUE]... [--out DIR]\n"
    "                       [--init WEIGHTS.safetensors] [--steps N] [--threads N]\n"
    "                       [--quiet] [--print-config]\n"
    "\n"
    "Trains the model of CONFIG (default: an MLP on Fashion-MNIST with the guard on).\n"
    "  --set KEY=VALUE   override a config key by its dotted path (repeatable),\n"
    "                    e.g. --set optimizer.lr=0.01 --set model.layers.0.dense.units=512\n"
    "  --out DIR         run directory (default runs/<date>-<time>)\n"
    "  --init FILE       start from these weights (names and shapes are checked)\n"
    "  --steps N         stop when the run has taken N steps\n"
    "  --threads N       threads for kernels (default: all cores)\n"
    "  --quiet           print only the final line\n"
    "  --print-config    print the resolved config as YAML and exit\n";

typedef struct train_args {
    const char *config, *out, *init;
    const char *sets[256];
    int n_sets;
    long long steps;
    int threads, quiet, print_config;
} train_args;

static int parse_args(int argc, char **argv, train_args *a) {
    memset(a, 0, sizeof *a);
    a->threads = -1;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(train_usage, stdout);
            return -1;
        } else if ((v = cli_option(argc, argv, &i, "--set", &missing))) {
            if (a->n_sets == 256) {
                fprintf(stderr, "gradguard: too many --set options (at most 256)\n");
                return EXIT_USAGE;
            }
            a->sets[a->n_sets++] = v;
        } else if ((v = cli_option(argc, argv, &i, "--out", &missing))) {
            a->out = v;
        } else if ((v = cli_option(argc, argv, &i, "--init", &missing))) {
            a->init = v;
        } else if ((v = cli_option(argc, argv, &i, "--steps", &missing))) {
            char *end;
            errno = 0;
            a->steps = strtoll(v, &end, 10);
            if (*end || errno || a->steps < 1) {
                fprintf(stderr, "gradguard: --steps: expected a positive integer, found '%s'\n", v);
                return EXIT_USAGE;
            }
        } else if ((v = cli_option(argc, argv, &i, "--threads", &missing))) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) {
                fprintf(stderr, "gradguard: --threads: expected 1 to 1024, found '%s'\n", v);
                return EXIT_USAGE;
            }
            a->threads = (int)t;
        } else if (!strcmp(argv[i], "--resume")) {
            fprintf(stderr, "gradguard: --resume: checkpoints are not available yet (issue #6)\n");
            return EXIT_USAGE;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            a->quiet = 1;
        } else if (!strcmp(argv[i], "--print-config")) {
            a->print_config = 1;
        } else if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gradguard: train: unknown option '%s' (see gradguard train --help)\n", argv[i]);
            return EXIT_USAGE;
        } else if (!a->config) {
            a->config = argv[i];
        } else {
            fprintf(stderr, "gradguard: train: one CONFIG only, found '%s' and '%s'\n", a->config,
                    argv[i]);
            return EXIT_USAGE;
        }
        if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* Default, then the file, then each --set in order. */
static gg_status resolve_config(const train_args *a, gg_config *c, gg_error *err) {
    gg_status s;
    if (a->config && (s = gg_config_load_file(c, a->config, err)) != GG_OK) return s;
    for (int i = 0; i < a->n_sets; i++) {
        const char *eq = strchr(a->sets[i], '=');
        char key[256];
        if (!eq || eq == a->sets[i] || (size_t)(eq - a->sets[i]) >= sizeof key)
            return gg_fail(err, GG_ERR_ARG, "--set '%s': expected KEY=VALUE", a->sets[i]);
        memcpy(key, a->sets[i], (size_t)(eq - a->sets[i]));
        key[eq - a->sets[i]] = '\0';
        if ((s = gg_config_set(c, key, eq + 1, err)) != GG_OK) return s;
    }
    if (a->steps > 0) c->train.steps = a->steps;
    if (a->threads > 0) c->train.threads = a->threads;
    return GG_OK;
}

static void default_out(char *buf, size_t cap) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, cap, "runs/%s", stamp);
    for (int k = 2; access(buf, F_OK) == 0 && k < 1000; k++)
        snprintf(buf, cap, "runs/%s-%d", stamp, k);
}

static gg_status write_config(const gg_config *c, const char *path, gg_error *err) {
    gg_atomic_file af;
    gg_status s = gg_atomic_open(&af, path, err);
    if (s != GG_OK) return s;
    if ((s = gg_config_write(c, af.f, err)) != GG_OK) {
        gg_atomic_abort(&af);
        return s;
    }
    return gg_atomic_commit(&af, err);
}

/* The progress line on a terminal, redrawn at most ten times a second. */
typedef struct progress {
    int on;
    double last_draw, start;
} progress;

static void progress_draw(progress *p, const gg_trainer *t, const gg_step_info *s, int epochs,
                          int64_t total_steps, double samples_per_s) {
    double now = cli_now();
    if (!p->on || now - p->last_draw < 0.1) return;
    p->last_draw = now;
    int64_t spe = gg_trainer_steps_per_epoch(t);
    int64_t in_epoch = s->step - (int64_t)s->epoch * spe;
    int width = 20, fill = (int)(width * in_epoch / (spe ? spe : 1));
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double eta = samples_per_s > 0 ? (double)(total_steps - s->step) * t->batch / samples_per_s : 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] step %lld  %.0f samples/s  loss %.4f  |g| %.3g  lr %.2e  ETA %d:%02d",
            s->epoch + 1, epochs, bar, (long long)s->step, samples_per_s, s->loss, s->grad_norm,
            s->lr, (int)eta / 60, (int)eta % 60);
}

typedef struct epoch_totals {
    double loss_sum;
    size_t samples, finite_samples, correct;
    int clips, skips, spikes, rollbacks, lr_cuts, nonfinite;
} epoch_totals;

/* The step's guard events go to metrics.jsonl and into the epoch's counts. */
static void log_events(gg_metrics *mx, const gg_trainer *tr, epoch_totals *et) {
    const gg_event *ev;
    int n = gg_trainer_events(tr, &ev);
    for (int i = 0; i < n; i++) {
        gg_metrics_event(mx, ev[i].step, ev[i].kind, ev[i].message);
        const char *k = ev[i].kind;
        et->clips += !strcmp(k, "clip");
        et->skips += !strcmp(k, "skip");
        et->spikes += !strcmp(k, "spike");
        et->rollbacks += !strcmp(k, "rollback");
        et->lr_cuts += !strcmp(k, "lr_cut") + !strcmp(k, "lr_backoff") + !strcmp(k, "plateau");
        et->nonfinite += !strcmp(k, "nonfinite");
    }
}

/* The diagnosis: printed for the user, and event lines for the report. */
static void diagnose(gg_metrics *mx, gg_trainer *tr, bool print) {
    gg_event found[16];
    int n = gg_trainer_diagnose(tr, found, 16);
    for (int i = 0; i < n; i++) {
        if (mx->f) gg_metrics_event(mx, found[i].step, found[i].kind, found[i].message);
        if (print) printf("%s %s\n", i ? "          " : "diagnosis:", found[i].message);
    }
    if (print && n == 0) printf("diagnosis: no problem found: gradients flowed and the loss fell\n");
}

static int run(const train_args *a, gg_config *c) {
    gg_error err = {0};
    gg_dataset *train = NULL, *val = NULL, *test = NULL;
    gg_model *model = NULL;
    gg_trainer *tr = NULL;
    gg_metrics mx = {0};
    int code = EXIT_OK;
    char out[4096], path[4200];
    gg_status s;

    gg_set_threads(c->train.threads);
    if ((s = gg_data_load(c, &train, &val, &test, &err)) != GG_OK) goto fail;
    int max_batch = c->train.batch_size > c->train.eval_batch_size ? c->train.batch_size
                                                                   : c->train.eval_batch_size;
    if ((s = gg_model_new(c, max_batch, &model, &err)) != GG_OK) goto fail;
    if (a->init && (s = gg_model_load(model, a->init, &err)) != GG_OK) goto fail;
    if ((s = gg_trainer_new(model, c, train, &tr, &err)) != GG_OK) goto fail;
    if (val && (s = gg_model_check_data(model, val, &err)) != GG_OK) goto fail;
    if (test && test->n && (s = gg_model_check_data(model, test, &err)) != GG_OK) goto fail;

    /* Everything checked: now the run directory. */
    if (a->out) snprintf(out, sizeof out, "%s", a->out);
    else default_out(out, sizeof out);
    if ((s = cli_mkdirs(out, &err)) != GG_OK) goto fail;
    snprintf(path, sizeof path, "%s/config.yaml", out);
    if ((s = write_config(c, path, &err)) != GG_OK) goto fail;
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    if ((s = gg_metrics_open(&mx, path, false, &err)) != GG_OK) goto fail;

    progress bar = {.on = !a->quiet && isatty(STDERR_FILENO), .start = cli_now()};
    int64_t spe = gg_trainer_steps_per_epoch(tr);
    int64_t total = spe * c->train.epochs;
    if (c->train.steps > 0 && c->train.steps < total) total = c->train.steps;
    if (!a->quiet)
        printf("training %s on %s: %zu train, %zu validation, %zu test samples; %lld steps, %d threads\n",
               a->config ? a->config : "the default model", c->data.dataset, train->n,
               val ? val->n : 0, test ? test->n : 0, (long long)total, gg_get_threads());
    epoch_totals et = {0};
    double epoch_start = cli_now(), run_start = epoch_start;
    gg_step_info info = {0};
    while (tr->step < total) {
        if ((s = gg_trainer_step(tr, &info, &err)) != GG_OK) {
            log_events(&mx, tr, &et);
            gg_metrics_event(&mx, tr->step + 1, s == GG_ERR_DIVERGED ? "gave_up" : "nonfinite", err.msg);
            if (bar.on) fputs("\r\033[K", stderr);
            fprintf(stderr, "gradguard: %s\n", err.msg);
            diagnose(&mx, tr, true);
            gg_metrics_summary(&mx, tr->step, tr->epoch, NAN, NAN, cli_now() - run_start);
            code = cli_exit_code(s);
            goto done;
        }
        int every = c->guard.monitor.every;
        const gg_param_stats *ps = NULL;
        const gg_layer_stats *ls = NULL;
        int nps = 0, nls = 0;
        if (c->guard.enabled && every > 0 && info.step % every == 0 && !info.skipped) {
            nps = gg_trainer_param_stats(tr, &ps);
            nls = gg_trainer_layer_stats(tr, &ls);
        }
        gg_metrics_step(&mx, &info, ps, nps, ls, nls);
        log_events(&mx, tr, &et);
        if (isfinite(info.loss)) {
            et.loss_sum += info.loss * info.samples;
            et.finite_samples += (size_t)info.samples;
        }
        et.samples += (size_t)info.samples;
        if (info.correct >= 0) et.correct += (size_t)info.correct;
        double sps = (double)et.samples / (cli_now() - epoch_start + 1e-9);
        progress_draw(&bar, tr, &info, c->train.epochs, total, sps);
        if (info.epoch_end || tr->step == total) {
            double secs = cli_now() - epoch_start;
            gg_eval_result vr = {.loss = NAN, .accuracy = NAN}, trr;
            if (val && (s = gg_model_evaluate(model, val, &vr, &err)) != GG_OK) goto fail;
            trr.loss = et.finite_samples ? et.loss_sum / (double)et.finite_samples : NAN;
            trr.accuracy = train->classes > 0 ? (double)et.correct / (double)et.samples : NAN;
            double rate = (double)et.samples / secs;
            gg_metrics_epoch(&mx, info.epoch + 1, trr.loss, trr.accuracy, vr.loss, vr.accuracy, rate, info.lr);
            if (val && gg_trainer_end_epoch(tr, vr.loss)) log_events(&mx, tr, &et);
            if (bar.on) fputs("\r\033[K", stderr);
            if (!a->quiet) {
                printf("epoch %d/%d  loss %.4f", info.epoch + 1, c->train.epochs, trr.loss);
                if (!isnan(trr.accuracy)) printf("  acc %.2f%%", 100 * trr.accuracy);
                if (val) printf("  val_loss %.4f", vr.loss);
                if (val && !isnan(vr.accuracy)) printf("  val_acc %.2f%%", 100 * vr.accuracy);
                printf("  lr %.3g  |g| %.3g  %.0f samples/s  %.1fs", info.lr, info.grad_norm, rate, secs);
                if (c->guard.enabled)
                    printf("  guard: %d clips, %d skips, %d spikes, %d rollbacks, %d lr cuts", et.clips,
                           et.skips, et.spikes, et.rollbacks, et.lr_cuts);
                putchar('\n');
                fflush(stdout);
            }
            memset(&et, 0, sizeof et);
            epoch_start = cli_now();
        }
    }
    double secs = cli_now() - run_start;
    gg_eval_result tres = {.loss = NAN, .accuracy = NAN};
    if (test && test->n && (s = gg_model_evaluate(model, test, &tres, &err)) != GG_OK) goto fail;
    if (c->guard.enabled) diagnose(&mx, tr, !a->quiet);
    gg_metrics_summary(&mx, tr->step, tr->epoch, tres.loss, tres.accuracy, secs);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if ((s = gg_model_save(model, path, &err)) != GG_OK) goto fail;
    if ((s = gg_metrics_close(&mx, &err)) != GG_OK) goto fail;
    if (!test || test->n == 0)
        printf("trained %lld steps in %.1fs (no test set); run directory: %s\n", (long long)tr->step,
               secs, out);
    else if (isnan(tres.accuracy))
        printf("test loss %.4f after %lld steps in %.1fs; run directory: %s\n", tres.loss,
               (long long)tr->step, secs, out);
    else
        printf("test accuracy %.2f%% (loss %.4f) after %lld steps in %.1fs; run directory: %s\n",
               100 * tres.accuracy, tres.loss, (long long)tr->step, secs, out);
    goto done;
fail:
    code = cli_report(&err);
done:
    if (mx.f) gg_metrics_close(&mx, NULL);
    gg_trainer_free(tr);
    gg_model_free(model);
    gg_dataset_free(train);
    gg_dataset_free(val);
    gg_dataset_free(test);
    return code;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    int code = parse_args(argc, argv, &a);
    if (code) return code < 0 ? EXIT_OK : code;
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    if (!c) {
        fprintf(stderr, "gradguard: out of memory\n");
        return EXIT_FAILED;
    }
    gg_status s = resolve_config(&a, c, &err);
    if (s != GG_OK) {
        code = cli_report(&err);
    } else if (a.print_config) {
        code = gg_config_write(c, stdout, &err) == GG_OK ? EXIT_OK : cli_report(&err);
    } else {
        code = run(&a, c);
    }
    gg_config_free(c);
    return code;
}
