/* gradguard train: resolve the config, load and check everything that can
 * be wrong (config, data, model, --init weights) before the run directory
 * is created, then train with a progress bar (on a terminal) or plain
 * lines, writing metrics.jsonl as it goes and the model at the end. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/cli_dist.h"
#include "dist/dist.h"
#include "io/io.h"
#include "io/metrics.h"
#include "report/report.h"
#include "train/trainer.h"

static const char train_usage[] =
    "usage: gradguard train [CONFIG.yaml] [--set KEY=VALUE]... [--out DIR]\n"
    "                       [--init WEIGHTS.safetensors] [--resume DIR] [--steps N] [--threads N]\n"
    "                       [--quiet] [--print-config]\n"
    "\n"
    "Trains the model of CONFIG (default: an MLP on Fashion-MNIST with the guard on).\n"
    "  --set KEY=VALUE   override a config key by its dotted path (repeatable),\n"
    "                    e.g. --set optimizer.lr=0.01 --set model.layers.0.dense.units=512\n"
    "  --out DIR         run directory (default runs/<date>-<time>)\n"
    "  --init FILE       start from these weights (names and shapes are checked)\n"
    "  --resume DIR      continue the run in DIR from its newest valid checkpoint\n"
    "  --steps N         stop when the run has taken N steps\n"
    "  --threads N       threads for kernels (default: all cores)\n"
    "  --quiet           print only the final line\n"
    "  --silent          print nothing (errors still go to stderr)\n"
    "  --print-config    print the resolved config as YAML and exit\n";

typedef struct train_args {
    const char *config, *out, *init, *resume;
    const char *sets[256];
    int n_sets;
    long long steps;
    int threads, quiet, silent, print_config;
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
        } else if ((v = cli_option(argc, argv, &i, "--resume", &missing))) {
            a->resume = v;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            a->quiet = 1;
        } else if (!strcmp(argv[i], "--silent")) {
            a->quiet = a->silent = 1;
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

/* Default, then the file, then each --set in order; for --resume, the
 * config the run's newest readable checkpoint was written with. */
static gg_status resolve_config(const train_args *a, gg_config *c, gg_error *err) {
    gg_status s;
    if (a->resume) {
        if (a->config || a->n_sets || a->init || a->out)
            return gg_fail(err, GG_ERR_ARG, "--resume continues the run with its own config: CONFIG, "
                                            "--set, --init and --out cannot be given with it");
        char paths[64][4200], cfg[4300];
        int n = cli_checkpoint_candidates(a->resume, paths, 64);
        s = gg_fail(err, GG_ERR_DATA, "%s: no checkpoint to resume from", a->resume);
        for (int i = 0; i < n && s != GG_OK; i++)
            s = gg_checkpoint_config(paths[i], c, NULL, err);
        /* Stopped before its first checkpoint: start it over with its config. */
        snprintf(cfg, sizeof cfg, "%.4200s/config.yaml", a->resume);
        if (n == 0 && access(cfg, F_OK) == 0) s = gg_config_load_file(c, cfg, err);
        if (s != GG_OK) return s;
    }
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

/* SIGINT/SIGTERM (and SIGUSR1, which mpirun forwards to every rank without
 * ending the job): finish the step, write a checkpoint, stop. A second
 * signal ends the process at once (SA_RESETHAND). Under mpirun the ranks
 * agree on the step to stop at (gg_dist_note_signal, dist.h). */
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) {
    if (gg_dist_size() > 1) gg_dist_note_signal(sig); /* stop_signal comes from the agreement */
    else stop_signal = sig;
}
static void signal_setup(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static gg_status checkpoint(gg_trainer *tr, const char *out, int64_t *newest, const gg_config *c,
                            gg_metrics *mx, double *last, gg_error *err) {
    if (gg_dist_rank() != 0) return GG_OK; /* rank 0 alone writes */
    /* Metrics first: once a checkpoint of step S exists, every line up to S
     * must be in the file, or a resume from S would lack them. */
    if (fflush(mx->f) != 0)
        return gg_fail(err, GG_ERR_IO, "%s: write failed: %s", mx->path, strerror(errno));
    gg_status s = cli_checkpoint(tr, out, newest, c->checkpoint.keep, err);
    if (s == GG_OK) *last = cli_now();
    if (s == GG_OK) gg_dist_set_checkpoint(out, *newest);
    return s;
}

/* The guard's counts for the epoch summary line (the loss and accuracy
 * totals live in the trainer, so a checkpoint carries them). */
typedef struct epoch_totals {
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

/* The HTML report of the run directory; a failure is a warning, not a
 * failed run: the model and metrics are already written. */
static void write_report(const char *out, const train_args *a) {
    gg_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/report.html", out);
    if (gg_report_write(out, NULL, &err) != GG_OK)
        fprintf(stderr, "gradguard: warning: no report: %s\n", err.msg);
    else if (!a->quiet)
        printf("report: %s\n", path);
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
    bool agreed = false, lead = gg_dist_rank() == 0; /* under mpirun: rank 0 alone writes */

    gg_set_threads(c->train.threads > 0 ? c->train.threads : gg_dist_default_threads());
    if ((s = gg_data_load(c, &train, &val, &test, &err)) != GG_OK) goto fail;
    int max_batch = c->train.batch_size > c->train.eval_batch_size ? c->train.batch_size
                                                                   : c->train.eval_batch_size;
    /* Gradients for the training batch only: evaluation batches cost activations alone. */
    if ((s = gg_model_new_sized(c, max_batch, c->train.batch_size, &model, &err)) != GG_OK) goto fail;
    if (a->init && (s = gg_model_load(model, a->init, &err)) != GG_OK) goto fail;
    if ((s = gg_trainer_new(model, c, train, &tr, &err)) != GG_OK) goto fail;
    if (val && (s = gg_model_check_data(model, val, &err)) != GG_OK) goto fail;
    if (test && test->n && (s = gg_model_check_data(model, test, &err)) != GG_OK) goto fail;
    agreed = true; /* under mpirun: every rank is ready, or the job stops here */
    if ((s = cli_dist_agree(GG_OK, &err)) != GG_OK) goto fail;

    int64_t newest = -1; /* step of DIR/checkpoint.safetensors */
    if (a->resume) {
        char paths[64][4200];
        int n = cli_checkpoint_candidates(a->resume, paths, 64);
        gg_error lerr = {0};
        s = GG_ERR_DATA;
        for (int i = 0; i < n && s != GG_OK; i++) {
            /* Every rank loads the same file; a refusal as the wrong job is no damage. */
            if ((s = cli_dist_agree_load(gg_trainer_load(tr, paths[i], &lerr))) == GG_ERR_ARG) break;
            if (s == GG_OK) {
                if (i == 0 && strstr(paths[i], "/checkpoint.safetensors"))
                    newest = gg_trainer_step_count(tr);
                if (!a->quiet)
                    printf("resuming from %s: step %lld, epoch %d\n", paths[i],
                           (long long)gg_trainer_step_count(tr), gg_trainer_epoch(tr) + 1);
                break;
            }
            /* Out of the way, so rotation can never keep it over a good one. */
            char aside[4300];
            snprintf(aside, sizeof aside, "%.4200s.corrupt", paths[i]);
            if (lead) rename(paths[i], aside);
            fprintf(stderr, "gradguard: warning: skipping %s (renamed to %s): %s\n", paths[i], aside,
                    lerr.msg);
        }
        if (s == GG_ERR_ARG) gg_fail(&err, s, "%s", lerr.msg[0] ? lerr.msg : "another rank refused the checkpoint");
        if (n > 0 && s != GG_OK) gg_dist_exit_together(); /* every rank saw the same files */
        if (n > 0 && s == GG_ERR_ARG) goto fail;
        if (n > 0 && s != GG_OK) {
            s = gg_fail(&err, GG_ERR_DATA, "%s: none of its %d checkpoints could be loaded", a->resume, n);
            goto fail;
        }
        if (n == 0 && !a->quiet) printf("no checkpoint in %s yet: starting the run over\n", a->resume);
    }

    /* Everything checked: now the run directory. */
    if (a->resume) snprintf(out, sizeof out, "%s", a->resume);
    else if (a->out) snprintf(out, sizeof out, "%s", a->out);
    else default_out(out, sizeof out);
    if (lead && (s = cli_mkdirs(out, &err)) != GG_OK) goto fail;
    if (lead && a->resume) cli_remove_stale_temporaries(out);
    gg_dist_set_checkpoint(out, !lead || (a->resume && newest < 0) ? -2 : newest);
    snprintf(path, sizeof path, "%s/config.yaml", out);
    if (lead && (s = write_config(c, path, &err)) != GG_OK) goto fail;
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    if (lead && a->resume &&
        (s = cli_trim_metrics(path, gg_trainer_step_count(tr), gg_trainer_epoch(tr), &err)) != GG_OK)
        goto fail;
    if ((s = gg_metrics_open(&mx, lead ? path : "/dev/null", a->resume != NULL, &err)) != GG_OK) goto fail;
    if (lead)
        gg_metrics_run(&mx, gg_get_threads(), a->config ? a->config : "the default model",
                       a->resume ? (long long)gg_trainer_step_count(tr) : -1);
    signal_setup();
    double last_checkpoint = cli_now();

    progress bar = {.on = !a->quiet && isatty(STDERR_FILENO), .start = cli_now()};
    int64_t spe = gg_trainer_steps_per_epoch(tr);
    int64_t total = spe * c->train.epochs;
    if (c->train.steps > 0 && c->train.steps < total) total = c->train.steps;
    if (!a->quiet)
        printf("training %s on %s: %zu train, %zu validation, %zu test samples; %lld steps, %d threads\n",
               a->config ? a->config : "the default model", c->data.dataset, train->n,
               val ? val->n : 0, test ? test->n : 0, (long long)total, gg_get_threads());
    if (!a->quiet) cli_dist_banner(c->train.batch_size, stdout);
    epoch_totals et = {0};
    int64_t epoch_samples = 0; /* this session's, for samples/s */
    double epoch_start = cli_now(), run_start = epoch_start;
    gg_step_info info = {0};
    const int patience = c->train.early_stopping.patience;
    bool stop_early = patience > 0 && tr->es_bad >= patience; /* a resumed run that had stopped */
    while (tr->step < total && !stop_early) {
        if ((s = gg_trainer_step(tr, &info, &err)) != GG_OK) {
            log_events(&mx, tr, &et);
            gg_metrics_event(&mx, tr->step + 1, s == GG_ERR_DIVERGED ? "gave_up" : "nonfinite", err.msg);
            if (bar.on) fputs("\r\033[K", stderr);
            if (!a->silent) fprintf(stderr, "gradguard: %s\n", err.msg); /* the lab reports it itself */
            diagnose(&mx, tr, !a->silent);
            gg_metrics_summary(&mx, tr->step, tr->epoch, NAN, NAN, cli_now() - run_start);
            gg_dist_exit_together(); /* the guard decided the same on every rank */
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
        if (tr->world > 1) stop_signal = tr->dist_stop_signal; /* the step every rank stops at */
        gg_metrics_step(&mx, &info, ps, nps, ls, nls);
        log_events(&mx, tr, &et);
        const gg_epoch_totals *tot = gg_trainer_epoch_totals(tr);
        bool due = (c->checkpoint.every_steps > 0 && info.step % c->checkpoint.every_steps == 0) ||
                   (c->checkpoint.every_minutes > 0 &&
                    cli_now() - last_checkpoint >= 60 * c->checkpoint.every_minutes);
        if ((due || stop_signal) && !info.epoch_end &&
            (s = checkpoint(tr, out, &newest, c, &mx, &last_checkpoint, &err)) != GG_OK)
            goto fail;
        if (stop_signal) {
            if (bar.on) fputs("\r\033[K", stderr);
            fprintf(stderr, "gradguard: stopped by signal %d at step %lld; checkpoint written; "
                            "continue with: gradguard train --resume %s\n",
                    (int)stop_signal, (long long)info.step, out);
            gg_metrics_event(&mx, info.step, "stopped", "stopped by a signal; checkpoint written");
            code = 128 + (int)stop_signal;
            gg_dist_exit_together();
            goto done;
        }
        epoch_samples += info.samples;
        double sps = (double)epoch_samples / (cli_now() - epoch_start + 1e-9);
        progress_draw(&bar, tr, &info, c->train.epochs, total, sps);
        if (info.epoch_end || tr->step == total) {
            double secs = cli_now() - epoch_start;
            gg_eval_result vr = {.loss = NAN, .accuracy = NAN}, trr;
            if (val && (s = gg_model_evaluate(model, val, &vr, &err)) != GG_OK) goto fail;
            trr.loss = tot->finite_samples ? tot->loss_sum / (double)tot->finite_samples : NAN;
            trr.accuracy = train->classes > 0 ? (double)tot->correct / (double)tot->samples : NAN;
            double rate = (double)epoch_samples / secs;
            gg_metrics_epoch(&mx, info.epoch + 1, trr.loss, trr.accuracy, vr.loss, vr.accuracy, rate, info.lr,
                             info.sparsity);
            if (val && gg_trainer_end_epoch(tr, vr.loss)) log_events(&mx, tr, &et);
            if (val && info.epoch_end) stop_early = gg_trainer_early_stop(tr, vr.loss, vr.accuracy);
            if (info.epoch_end && (s = checkpoint(tr, out, &newest, c, &mx, &last_checkpoint, &err)) != GG_OK)
                goto fail;
            if (bar.on) fputs("\r\033[K", stderr);
            if (!a->quiet) {
                printf("epoch %d/%d  loss %.4f", info.epoch + 1, c->train.epochs, trr.loss);
                if (!isnan(trr.accuracy)) printf("  acc %.2f%%", 100 * trr.accuracy);
                if (val) printf("  val_loss %.4f", vr.loss);
                if (val && !isnan(vr.accuracy)) printf("  val_acc %.2f%%", 100 * vr.accuracy);
                printf("  lr %.3g  |g| %.3g  %.0f samples/s  %.1fs", info.lr, info.grad_norm, rate, secs);
                if (!isnan(info.sparsity)) printf("  sparsity %.1f%%", 100 * info.sparsity);
                if (c->guard.enabled)
                    printf("  guard: %d clips, %d skips, %d spikes, %d rollbacks, %d lr cuts", et.clips,
                           et.skips, et.spikes, et.rollbacks, et.lr_cuts);
                putchar('\n');
                fflush(stdout);
            }
            memset(&et, 0, sizeof et);
            epoch_samples = 0;
            epoch_start = cli_now();
            if (stop_early) {
                char msg[200];
                snprintf(msg, sizeof msg, "early stopping: %s did not improve for %d epochs (best: epoch %d)",
                         c->train.early_stopping.metric == GG_STOP_VAL_ACC ? "val_acc" : "val_loss",
                         patience, tr->es_best_epoch);
                gg_metrics_event(&mx, tr->step, "early_stop", msg);
                if (!a->quiet) printf("%s\n", msg);
            }
        }
    }
    int best = gg_trainer_restore_best(tr);
    if (best > 0 && best != tr->epoch) {
        char msg[120];
        snprintf(msg, sizeof msg, "restored the weights of epoch %d, the best on validation", best);
        gg_metrics_event(&mx, tr->step, "restore_best", msg);
        if (!a->quiet) printf("%s\n", msg);
    }
    double secs = cli_now() - run_start;
    gg_eval_result tres = {.loss = NAN, .accuracy = NAN};
    if ((s = cli_dist_check_same(model, &err)) != GG_OK) goto fail;
    if (lead && test && test->n && (s = gg_model_evaluate(model, test, &tres, &err)) != GG_OK) goto fail;
    if (c->guard.enabled) diagnose(&mx, tr, !a->quiet);
    gg_metrics_summary(&mx, tr->step, tr->epoch, tres.loss, tres.accuracy, secs);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (lead && (s = gg_model_save(model, path, &err)) != GG_OK) goto fail;
    if (newest != tr->step && (s = checkpoint(tr, out, &newest, c, &mx, &last_checkpoint, &err)) != GG_OK)
        goto fail;
    if ((s = gg_metrics_close(&mx, &err)) != GG_OK) goto fail;
    if (lead) write_report(out, a);
    if (!a->quiet || getenv("GG_DIST_TIMING")) cli_dist_report(secs, stdout);
    if (a->silent) goto done;
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
    if (!agreed) cli_dist_agree(s, &err); /* under mpirun: the others must not wait for this rank */
    code = cli_report(&err);
done:
    if (mx.f) { /* a run that stopped early (diverged, a signal): its report too */
        gg_metrics_close(&mx, NULL);
        if (lead) write_report(out, a);
    }
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
    if (code) gg_dist_exit_together(); /* the same arguments on every rank */
    if (code) return code < 0 ? EXIT_OK : code;
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    if (!c) {
        fprintf(stderr, "gradguard: out of memory\n");
        return EXIT_FAILED;
    }
    gg_status s = cli_dist_agree(resolve_config(&a, c, &err), &err);
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
