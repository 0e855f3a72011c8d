/* gradguard compress: magnitude pruning (one-shot, or gradual with
 * fine-tuning) and int8 quantisation of a trained model, reporting test
 * accuracy, file size and inference speed before and after.
 *
 * --sweep is the lab: accuracy against sparsity (0, 50, 75, 90, 95%), with
 * and without fine-tuning, and float against int8 (accuracy, file size,
 * inference samples/s), as a table or JSON lines. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "compress/compress.h"
#include "io/io.h"
#include "io/metrics.h"
#include "report/report.h"
#include "train/trainer.h"

static const char compress_usage[] =
    "usage: gradguard compress MODEL [--prune SPARSITY] [--structured] [--scope global|layer]\n"
    "                          [--finetune-epochs N] [--finetune-lr LR] [--one-shot]\n"
    "                          [--quantize int8] [--calib-samples N] --out FILE.safetensors\n"
    "       gradguard compress MODEL --sweep [--finetune-epochs N] [--structured] [--json]\n"
    "\n"
    "Compresses MODEL (a run directory or a .safetensors written by gradguard).\n"
    "  --prune S            set the fraction S (0 <= S < 1; or a percentage like 90%) of the\n"
    "                       weights of dense and conv2d layers with the least magnitude to zero\n"
    "  --structured         prune whole output units and conv filters instead of single weights\n"
    "  --scope NAME         global (default): one threshold over all layers; layer: each layer\n"
    "                       reaches the sparsity\n"
    "  --finetune-epochs N  train N epochs with the masks kept (pruned weights stay zero);\n"
    "                       pruning is then gradual (Zhu and Gupta's cubic schedule over the\n"
    "                       first 3/4 of the steps) unless --one-shot\n"
    "  --finetune-lr LR     learning rate for fine-tuning (default: the model's)\n"
    "  --quantize int8      store dense and conv2d weights as int8 per output channel, with\n"
    "                       activation ranges calibrated on the training set; `gradguard eval`\n"
    "                       runs the file with int8 products\n"
    "  --calib-samples N    training samples for calibration (default 2000)\n"
    "  --out FILE           the compressed model (int8 with --quantize, else float)\n"
    "  --sweep              the lab table: sparsity 0/50/75/90/95% x float/int8 (no --out)\n"
    "  --data SPEC          data set instead of the model's\n"
    "  --threads N          threads for kernels (default: all cores)\n"
    "  --json               print JSON instead of text\n"
    "  --quiet              print only the final line\n";

typedef struct compress_args {
    const char *model, *out, *data;
    double sparsity;
    int prune, structured, scope_layer, finetune, one_shot, quantize, calib, threads, json, quiet,
        sweep;
    double lr;
} compress_args;

static int parse_number(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end != v && *end == '%' && end[1] == '\0') x /= 100, end++;
    if (end == v || *end || errno || !(x >= lo && x <= hi)) {
        fprintf(stderr, "gradguard: %s: expected a number from %g to %g, found '%s'\n", opt, lo, hi, v);
        return EXIT_USAGE;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, compress_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        int missing = 0, code = 0;
        const char *v;
        double x;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(compress_usage, stdout);
            return -1;
        } else if ((v = cli_option(argc, argv, &i, "--prune", &missing))) {
            if ((code = parse_number("--prune", v, 0, 0.999999, &a->sparsity))) return code;
            a->prune = 1;
        } else if (!strcmp(argv[i], "--structured")) {
            a->structured = 1;
        } else if ((v = cli_option(argc, argv, &i, "--scope", &missing))) {
            if (strcmp(v, "global") && strcmp(v, "layer")) {
                fprintf(stderr, "gradguard: --scope: expected global or layer, found '%s'\n", v);
                return EXIT_USAGE;
            }
            a->scope_layer = !strcmp(v, "layer");
        } else if ((v = cli_option(argc, argv, &i, "--finetune-epochs", &missing))) {
            if ((code = parse_number("--finetune-epochs", v, 0, 10000, &x))) return code;
            if (x != floor(x)) return parse_number("--finetune-epochs", "x", 0, 10000, &x);
            a->finetune = (int)x;
        } else if ((v = cli_option(argc, argv, &i, "--finetune-lr", &missing))) {
            if ((code = parse_number("--finetune-lr", v, 1e-12, 1e6, &a->lr))) return code;
        } else if (!strcmp(argv[i], "--one-shot")) {
            a->one_shot = 1;
        } else if ((v = cli_option(argc, argv, &i, "--quantize", &missing))) {
            if (strcmp(v, "int8")) {
                fprintf(stderr, "gradguard: --quantize: expected int8, found '%s'\n", v);
                return EXIT_USAGE;
            }
            a->quantize = 1;
        } else if ((v = cli_option(argc, argv, &i, "--calib-samples", &missing))) {
            if ((code = parse_number("--calib-samples", v, 1, 1e7, &x))) return code;
            a->calib = (int)x;
        } else if ((v = cli_option(argc, argv, &i, "--out", &missing))) {
            a->out = v;
        } else if ((v = cli_option(argc, argv, &i, "--data", &missing))) {
            a->data = v;
        } else if ((v = cli_option(argc, argv, &i, "--threads", &missing))) {
            if ((code = parse_number("--threads", v, 1, 1024, &x))) return code;
            a->threads = (int)x;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            a->quiet = 1;
        } else if (!strcmp(argv[i], "--sweep")) {
            a->sweep = 1;
        } else if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gradguard: compress: unknown option '%s' (see gradguard compress --help)\n",
                    argv[i]);
            return EXIT_USAGE;
        } else if (!a->model) {
            a->model = argv[i];
        } else {
            fprintf(stderr, "gradguard: compress: one MODEL only\n");
            return EXIT_USAGE;
        }
        if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!a->model) {
        fputs(compress_usage, stderr);
        return EXIT_USAGE;
    }
    if (a->sweep) {
        if (a->out || a->prune || a->quantize) {
            fprintf(stderr, "gradguard: compress: --sweep runs its own sparsities and int8; "
                            "--out, --prune and --quantize cannot be given with it\n");
            return EXIT_USAGE;
        }
        return 0;
    }
    if (!a->prune && !a->quantize) {
        fprintf(stderr, "gradguard: compress: nothing to do: give --prune SPARSITY and/or --quantize int8\n");
        return EXIT_USAGE;
    }
    if (!a->out) {
        fprintf(stderr, "gradguard: compress: --out FILE.safetensors is required\n");
        return EXIT_USAGE;
    }
    if (a->finetune && !a->prune) {
        fprintf(stderr, "gradguard: compress: --finetune-epochs needs --prune\n");
        return EXIT_USAGE;
    }
    return 0;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* MODEL's config and weights, as `gradguard eval` finds them; an int8
 * file is refused, as there is nothing left to compress. */
static gg_status model_config(const char *model, gg_config *c, char *weights, size_t cap,
                              gg_error *err) {
    if (!is_dir(model) && gg_file_is_quantized(model, NULL) == 1)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: already an int8 model; compress the float model it came from", model);
    return cli_model_config(model, c, weights, cap, err);
}

typedef struct ctx {
    const compress_args *a;
    gg_config *c;
    gg_dataset *train, *val, *test;
    gg_model *m;
    char weights[4200];
} ctx;

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Accuracy and loss on the test split, and samples/s (the best of `reps`
 * passes). */
typedef struct measure {
    gg_eval_result r;
    double sps;
} measure;

static gg_status eval_float(gg_model *m, const gg_dataset *d, int reps, measure *out, gg_error *err) {
    out->sps = 0;
    for (int i = 0; i < reps; i++) {
        double t0 = cli_now();
        gg_status s = gg_model_evaluate(m, d, &out->r, err);
        if (s != GG_OK) return s;
        double sps = (double)d->n / (cli_now() - t0);
        if (sps > out->sps) out->sps = sps;
    }
    return GG_OK;
}

static gg_status eval_int8(gg_qmodel *q, const gg_dataset *d, int reps, measure *out, gg_error *err) {
    out->sps = 0;
    for (int i = 0; i < reps; i++) {
        double t0 = cli_now();
        gg_status s = gg_qmodel_evaluate(q, d, &out->r, err);
        if (s != GG_OK) return s;
        double sps = (double)d->n / (cli_now() - t0);
        if (sps > out->sps) out->sps = sps;
    }
    return GG_OK;
}

/* Inference samples/s of the float and the int8 model, passes over d
 * interleaved (so a busy machine slows both alike), the best of `reps`
 * each after a warm-up pass. */
static gg_status time_pair(gg_model *m, gg_qmodel *q, const gg_dataset *d, int reps, double *fsps,
                           double *qsps, gg_error *err) {
    measure f, i8;
    gg_status s;
    *fsps = *qsps = 0;
    for (int r = 0; r <= reps; r++) {
        if ((s = eval_float(m, d, 1, &f, err)) != GG_OK) return s;
        if ((s = eval_int8(q, d, 1, &i8, err)) != GG_OK) return s;
        if (r && f.sps > *fsps) *fsps = f.sps;
        if (r && i8.sps > *qsps) *qsps = i8.sps;
    }
    return GG_OK;
}

/* Prunes c->m to `sparsity`, one-shot or gradually while fine-tuning for
 * `epochs` epochs; leaves the masks applied. */
static gg_status prune(ctx *x, double sparsity, int epochs, bool talk, gg_pruner **out,
                       gg_error *err) {
    const compress_args *a = x->a;
    gg_prune_spec spec;
    gg_prune_spec_default(&spec);
    spec.sparsity = sparsity;
    spec.structured = a->structured;
    spec.scope = a->scope_layer ? GG_PRUNE_LAYER : GG_PRUNE_GLOBAL;
    gg_pruner *p = NULL;
    gg_trainer *tr = NULL;
    gg_config ft = {0};
    bool have_ft = false;
    gg_status s;
    if (epochs <= 0 || a->one_shot) {
        if ((s = gg_pruner_new(x->m, &spec, &p, err)) != GG_OK) return s;
        if ((s = gg_pruner_prune(p, sparsity, err)) != GG_OK) goto fail;
        if (epochs <= 0) {
            *out = p;
            return GG_OK;
        }
    }
    if ((s = gg_config_copy(&ft, x->c, err)) != GG_OK) goto fail;
    have_ft = true;
    ft.train.epochs = epochs;
    ft.train.steps = 0;
    ft.train.early_stopping.patience = 0;
    ft.prune.sparsity = 0; /* the run's own prune: section would fight this pruner */
    if (a->lr > 0) ft.optimizer.lr = a->lr;
    if ((s = gg_trainer_new(x->m, &ft, x->train, &tr, err)) != GG_OK) goto fail;
    int64_t total = gg_trainer_steps_per_epoch(tr) * epochs;
    if (!p) {
        spec.start_step = 0;
        spec.end_step = total * 3 / 4;
        spec.frequency = spec.end_step / 20 > 0 ? spec.end_step / 20 : 1;
        if ((s = gg_pruner_new(x->m, &spec, &p, err)) != GG_OK) goto fail;
    }
    if (talk)
        printf("fine-tuning %d epoch%s (%lld steps), %s pruning to %.1f%%\n", epochs,
               epochs == 1 ? "" : "s", (long long)total,
               a->one_shot ? "one-shot" : "gradual", 100 * sparsity);
    gg_step_info info;
    while (gg_trainer_step_count(tr) < total) {
        if ((s = gg_trainer_step(tr, &info, err)) != GG_OK) goto fail;
        gg_prune_step(p, info.step);
        if (info.epoch_end && talk) {
            gg_eval_result vr = {.accuracy = NAN};
            if (x->val && x->val->n && (s = gg_model_evaluate(x->m, x->val, &vr, err)) != GG_OK)
                goto fail;
            printf("  epoch %d/%d  sparsity %.1f%%  val_acc %.2f%%\n", info.epoch + 1, epochs,
                   100 * gg_pruner_sparsity(p), 100 * vr.accuracy);
            fflush(stdout);
        }
    }
    gg_pruner_apply(p);
    gg_trainer_free(tr);
    gg_config_release(&ft);
    *out = p;
    return GG_OK;
fail:
    gg_trainer_free(tr);
    if (have_ft) gg_config_release(&ft);
    gg_pruner_free(p);
    return s;
}

static void print_layers(gg_pruner *p) {
    const gg_prune_stats *st;
    int n = gg_pruner_stats(p, &st);
    for (int i = 0; i < n; i++)
        printf("  %-24s %5.1f%% zero (%zu of %zu), %d of %d rows zero%s\n", st[i].name,
               100.0 * (double)st[i].zeros / (double)st[i].total, st[i].zeros, st[i].total,
               st[i].zero_rows, st[i].rows, st[i].prunable ? "" : " (output layer: kept)");
}

static void json_layers(gg_pruner *p) {
    const gg_prune_stats *st;
    int n = gg_pruner_stats(p, &st);
    printf("\"layers\":[");
    for (int i = 0; i < n; i++)
        printf("%s{\"name\":\"%s\",\"total\":%zu,\"zeros\":%zu,\"rows\":%d,\"zero_rows\":%d}",
               i ? "," : "", st[i].name, st[i].total, st[i].zeros, st[i].rows, st[i].zero_rows);
    printf("]");
}

static void json_num(FILE *f, const char *key, double v, bool comma) {
    fprintf(f, "\"%s\":", key);
    gg_json_number(f, v);
    if (comma) fputc(',', f);
}

static int run_compress(ctx *x, gg_error *err) {
    const compress_args *a = x->a;
    gg_status s;
    gg_pruner *p = NULL;
    gg_qmodel *q = NULL;
    measure base, after = {0}, qm = {0};
    bool talk = !a->quiet && !a->json;
    long in_size = file_size(x->weights);
    int code = EXIT_OK;
    if ((s = eval_float(x->m, x->test, 1, &base, err)) != GG_OK) goto fail;
    if (talk)
        printf("%s: float test accuracy %.2f%% (loss %.4f), %.0f samples/s\n", a->model,
               100 * base.r.accuracy, base.r.loss, base.sps);
    after = base;
    if (a->prune) {
        if ((s = prune(x, a->sparsity, a->finetune, talk, &p, err)) != GG_OK) goto fail;
        if ((s = eval_float(x->m, x->test, 1, &after, err)) != GG_OK) goto fail;
        if (talk) {
            printf("pruned %s (%s, %s) to %.2f%% sparsity: test accuracy %.2f%%\n",
                   a->finetune ? "and fine-tuned" : "one-shot",
                   a->structured ? "structured" : "unstructured", a->scope_layer ? "per layer" : "global",
                   100 * gg_pruner_sparsity(p), 100 * after.r.accuracy);
            print_layers(p);
        }
    }
    if (a->quantize) {
        if ((s = gg_quantize(x->m, x->train, a->calib, x->c->train.eval_batch_size, &q, err)) != GG_OK)
            goto fail;
        if ((s = eval_int8(q, x->test, 1, &qm, err)) != GG_OK) goto fail;
        if ((s = time_pair(x->m, q, x->test, 3, &after.sps, &qm.sps, err)) != GG_OK) goto fail;
        if ((s = gg_qmodel_save(q, a->out, err)) != GG_OK) goto fail;
    } else if ((s = gg_model_save(x->m, a->out, err)) != GG_OK) {
        goto fail;
    }
    long out_size = file_size(a->out);
    if (a->json) {
        fputs("{\"model\":", stdout);
        gg_json_string(stdout, a->model);
        fputs(",\"out\":", stdout);
        gg_json_string(stdout, a->out);
        fputc(',', stdout);
        json_num(stdout, "float_accuracy", base.r.accuracy, true);
        json_num(stdout, "float_samples_per_s", q ? after.sps : base.sps, true);
        printf("\"float_bytes\":%ld,", in_size);
        if (p) {
            json_num(stdout, "sparsity", gg_pruner_sparsity(p), true);
            json_num(stdout, "pruned_accuracy", after.r.accuracy, true);
            json_layers(p);
            printf(",");
        }
        if (q) {
            json_num(stdout, "int8_accuracy", qm.r.accuracy, true);
            json_num(stdout, "int8_samples_per_s", qm.sps, true);
            printf("\"int8_kernel\":\"%s\",", gg_int8_kernel());
        }
        printf("\"bytes\":%ld}\n", out_size);
    } else if (q) {
        printf("int8 (%s kernel): test accuracy %.2f%% (float %.2f%%); file %.1f KB (float %.1f KB, "
               "%.2fx smaller); %.0f samples/s (float %.0f, %.2fx); wrote %s\n",
               gg_int8_kernel(), 100 * qm.r.accuracy, 100 * after.r.accuracy, out_size / 1024.0,
               in_size / 1024.0, (double)in_size / (double)out_size, qm.sps, after.sps,
               qm.sps / after.sps, a->out);
    } else {
        printf("pruned to %.2f%%: test accuracy %.2f%% (was %.2f%%); wrote %s\n",
               100 * gg_pruner_sparsity(p), 100 * after.r.accuracy, 100 * base.r.accuracy, a->out);
    }
    goto done;
fail:
    code = cli_report(err);
done:
    gg_pruner_free(p);
    gg_qmodel_free(q);
    return code;
}

/* One row of the sweep as a JSON line (--json, compress.jsonl; the format
 * is in docs/report.md). */
static void sweep_row_json(FILE *f, const ctx *x, double sp, double reached, const measure *one,
                           const measure *fine, const measure *fm, const measure *qm, long fb, long qb) {
    fprintf(f, "{\"type\":\"compress\",\"sparsity\":%.4f,\"reached\":%.6f,", sp, reached);
    json_num(f, "oneshot_accuracy", one->r.accuracy, true);
    json_num(f, "finetuned_accuracy", fine->r.accuracy, true);
    json_num(f, "int8_accuracy", qm->r.accuracy, true);
    fprintf(f, "\"float_bytes\":%ld,\"int8_bytes\":%ld,", fb, qb);
    json_num(f, "float_samples_per_s", fm->sps, true);
    json_num(f, "int8_samples_per_s", qm->sps, true);
    fprintf(f, "\"finetune_epochs\":%d,\"structured\":%s,\"int8_kernel\":\"%s\"}\n", x->a->finetune,
            x->a->structured ? "true" : "false", gg_int8_kernel());
}

/* The header line of compress.jsonl: what the rows were measured on. */
static void sweep_header_json(FILE *f, const ctx *x) {
    const compress_args *a = x->a;
    fputs("{\"type\":\"compress_run\",\"model\":", f);
    gg_json_string(f, x->weights);
    fprintf(f, ",\"structured\":%s,\"scope\":\"%s\",\"finetune_epochs\":%d,\"int8_kernel\":\"%s\","
               "\"test_samples\":%zu,\"calib_samples\":%d,\"eval_batch\":%d}\n",
            a->structured ? "true" : "false", a->scope_layer ? "layer" : "global", a->finetune,
            gg_int8_kernel(), x->test->n, a->calib > 0 ? a->calib : 2000, x->c->train.eval_batch_size);
}

/* The lab: for each sparsity, one-shot and fine-tuned accuracy, then int8
 * of the final model; sizes from files written to a temporary directory.
 * Rows go to stdout as they come (text or JSON lines) and, when given, to
 * a markdown table (md) and JSON lines (jl: compress.jsonl, which the run
 * report draws). */
static int run_sweep(ctx *x, FILE *md, FILE *jl, gg_error *err) {
    const compress_args *a = x->a;
    static const double levels[] = {0, 0.5, 0.75, 0.9, 0.95};
    gg_graph *g = x->m->g;
    size_t plen = g->param_len, blen = g->buf_len;
    gg_real *orig = malloc((plen + blen + 1) * sizeof *orig);
    char dir[] = "/tmp/gg-compress-XXXXXX", fpath[64], qpath[64];
    int code = EXIT_OK;
    gg_status s = GG_OK;
    if (!orig) return cli_report(&(gg_error){GG_ERR_NOMEM, "out of memory"});
    memcpy(orig, g->param, plen * sizeof *orig);
    if (blen) memcpy(orig + plen, g->buf, blen * sizeof *orig);
    if (!mkdtemp(dir)) {
        free(orig);
        fprintf(stderr, "gradguard: cannot create a temporary directory: %s\n", strerror(errno));
        return EXIT_IO;
    }
    snprintf(fpath, sizeof fpath, "%s/float.safetensors", dir);
    snprintf(qpath, sizeof qpath, "%s/int8.safetensors", dir);
    char title[512];
    snprintf(title, sizeof title, "%s, %s pruning (%s), %s; test split, %zu samples; int8 kernel %s",
             a->model, a->structured ? "structured" : "unstructured",
             a->scope_layer ? "per layer" : "global",
             a->finetune ? (a->finetune == 1 ? "fine-tuned 1 epoch" : "fine-tuned") : "no fine-tuning",
             x->test->n, gg_int8_kernel());
    if (!a->json) {
        printf("compression lab: %s\n", title);
        if (a->finetune > 1) printf("fine-tuning: %d epochs per sparsity\n", a->finetune);
        printf("%8s %10s %10s %9s %10s %10s %11s %11s %7s\n", "sparsity", "one-shot",
               a->finetune ? "finetuned" : "-", "int8", "float KB", "int8 KB", "float smp/s",
               "int8 smp/s", "speedup");
    }
    if (md) {
        fprintf(md, "## compress\n\n%s", title);
        if (a->finetune > 1) fprintf(md, "; fine-tuning %d epochs per sparsity", a->finetune);
        fprintf(md, ".\n\n| sparsity | one-shot | fine-tuned | int8 | float KB | int8 KB | float samples/s "
                    "| int8 samples/s | speed-up |\n|---|---|---|---|---|---|---|---|---|\n");
    }
    if (jl) sweep_header_json(jl, x);
    for (size_t li = 0; li < sizeof levels / sizeof *levels && s == GG_OK; li++) {
        double sp = levels[li];
        gg_pruner *p = NULL;
        gg_qmodel *q = NULL;
        measure one = {0}, fine = {.r.accuracy = NAN}, fm = {0}, qm = {0};
        memcpy(g->param, orig, plen * sizeof *orig);
        if (blen) memcpy(g->buf, orig + plen, blen * sizeof *orig);
        if ((s = prune(x, sp, 0, false, &p, err)) != GG_OK) break;
        if ((s = eval_float(x->m, x->test, 1, &one, err)) != GG_OK) goto next;
        fm = one;
        if (a->finetune && sp > 0) {
            gg_pruner_free(p);
            p = NULL;
            memcpy(g->param, orig, plen * sizeof *orig);
            if (blen) memcpy(g->buf, orig + plen, blen * sizeof *orig);
            if ((s = prune(x, sp, a->finetune, false, &p, err)) != GG_OK) goto next;
            if ((s = eval_float(x->m, x->test, 1, &fine, err)) != GG_OK) goto next;
            fm = fine;
        }
        if ((s = gg_model_save(x->m, fpath, err)) != GG_OK) goto next;
        if ((s = gg_quantize(x->m, x->train, a->calib, x->c->train.eval_batch_size, &q, err)) != GG_OK)
            goto next;
        if ((s = gg_qmodel_save(q, qpath, err)) != GG_OK) goto next;
        if ((s = eval_int8(q, x->test, 1, &qm, err)) != GG_OK) goto next;
        if ((s = time_pair(x->m, q, x->test, 3, &fm.sps, &qm.sps, err)) != GG_OK) goto next;
        long fb = file_size(fpath), qb = file_size(qpath);
        double reached = gg_pruner_sparsity(p);
        char ft[16] = "-";
        if (!isnan(fine.r.accuracy)) snprintf(ft, sizeof ft, "%.2f%%", 100 * fine.r.accuracy);
        else if (a->finetune) snprintf(ft, sizeof ft, "%.2f%%", 100 * one.r.accuracy);
        if (a->json) sweep_row_json(stdout, x, sp, reached, &one, &fine, &fm, &qm, fb, qb);
        if (jl) sweep_row_json(jl, x, sp, reached, &one, &fine, &fm, &qm, fb, qb);
        if (!a->json) {
            printf("%7.1f%% %9.2f%% %10s %8.2f%% %10.1f %10.1f %11.0f %11.0f %6.2fx\n", 100 * reached,
                   100 * one.r.accuracy, ft, 100 * qm.r.accuracy, fb / 1024.0, qb / 1024.0, fm.sps,
                   qm.sps, qm.sps / fm.sps);
        }
        if (md)
            fprintf(md, "| %.1f%% | %.2f%% | %s | %.2f%% | %.1f | %.1f | %.0f | %.0f | %.2fx |\n",
                    100 * reached, 100 * one.r.accuracy, ft, 100 * qm.r.accuracy, fb / 1024.0,
                    qb / 1024.0, fm.sps, qm.sps, qm.sps / fm.sps);
        fflush(stdout);
    next:
        gg_pruner_free(p);
        gg_qmodel_free(q);
    }
    if (md)
        fprintf(md, "\nint8: dense and conv2d weights symmetric per output channel, activations "
                    "7-bit per tensor calibrated on %d training samples (docs/compression.md). "
                    "Samples/s: `gradguard eval`'s pass over the test split, batch %d, float and int8 "
                    "passes interleaved, best of 3 each.\n",
                a->calib > 0 ? a->calib : 2000, x->c->train.eval_batch_size);
    unlink(fpath);
    unlink(qpath);
    rmdir(dir);
    free(orig);
    if (s != GG_OK) code = cli_report(err);
    return code;
}

/* Loads MODEL's config, data and weights into x (x->a set). */
static gg_status setup(ctx *x, gg_error *err) {
    const compress_args *a = x->a;
    gg_status s;
    x->c = gg_config_new_default();
    if (!x->c) return gg_fail(err, GG_ERR_NOMEM, "out of memory");
    if ((s = model_config(a->model, x->c, x->weights, sizeof x->weights, err)) != GG_OK) return s;
    if (a->data && (s = gg_config_set(x->c, "data.dataset", a->data, err)) != GG_OK) return s;
    if (a->threads > 0) x->c->train.threads = a->threads;
    gg_set_threads(x->c->train.threads);
    if ((s = gg_data_load(x->c, &x->train, &x->val, &x->test, err)) != GG_OK) return s;
    if (!x->test || x->test->n == 0) {
        gg_dataset_free(x->test);
        x->test = x->val; /* borrowed: freed once, by teardown */
    }
    if (!x->test || x->test->n == 0)
        return gg_fail(err, GG_ERR_DATA, "'%s' has no test or validation split to measure on",
                       x->c->data.dataset);
    int max_batch = x->c->train.batch_size > x->c->train.eval_batch_size ? x->c->train.batch_size
                                                                          : x->c->train.eval_batch_size;
    if ((s = gg_model_new_sized(x->c, max_batch, x->c->train.batch_size, &x->m, err)) != GG_OK) return s;
    return gg_model_load(x->m, x->weights, err);
}

static void teardown(ctx *x) {
    if (x->test == x->val) x->test = NULL;
    gg_model_free(x->m);
    gg_dataset_free(x->train);
    gg_dataset_free(x->val);
    gg_dataset_free(x->test);
    gg_config_free(x->c);
}

/* The sweep of a run directory: the table also goes to DIR/compress.jsonl
 * (and, for the lab, DIR/compress.md), both written atomically, and the
 * run's report is drawn again with it. */
static int sweep_run_dir(ctx *x, const char *dir, bool markdown, gg_error *err) {
    char jl_path[4300], md_path[4300];
    snprintf(jl_path, sizeof jl_path, "%s/compress.jsonl", dir);
    snprintf(md_path, sizeof md_path, "%s/compress.md", dir);
    gg_atomic_file jl, md = {0};
    if (gg_atomic_open(&jl, jl_path, err) != GG_OK) return cli_report(err);
    if (markdown && gg_atomic_open(&md, md_path, err) != GG_OK) {
        gg_atomic_abort(&jl);
        return cli_report(err);
    }
    int code = run_sweep(x, markdown ? md.f : NULL, jl.f, err);
    if (code != EXIT_OK) {
        gg_atomic_abort(&jl);
        if (markdown) gg_atomic_abort(&md);
        return code;
    }
    if (gg_atomic_commit(&jl, err) != GG_OK) {
        if (markdown) gg_atomic_abort(&md);
        return cli_report(err);
    }
    if (markdown && gg_atomic_commit(&md, err) != GG_OK) return cli_report(err);
    bool talk = !x->a->json; /* --json: stdout holds the JSON lines alone */
    if (talk) printf("compress table: %s%s%s\n", markdown ? md_path : "", markdown ? " and " : "", jl_path);
    char metrics[4300];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    if (access(metrics, F_OK) == 0) { /* a run directory of `gradguard train` */
        gg_error rerr = {0};
        if (gg_report_write(dir, NULL, &rerr) != GG_OK)
            fprintf(stderr, "gradguard: warning: no report: %s\n", rerr.msg);
        else if (talk)
            printf("report: %s/report.html\n", dir);
    }
    return EXIT_OK;
}

/* Fine-tuning epochs per sparsity in the lab (quick: 1). */
#define LAB_FINETUNE_EPOCHS 4

int cmd_compress_lab(const char *dir, int quick, int threads) {
    char sub[4200], thr[16];
    snprintf(sub, sizeof sub, "%s/compress", dir);
    snprintf(thr, sizeof thr, "%d", threads);
    cli_rmtree(sub); /* a rerun into the same DIR */
    /* The model: the default MLP, trained here as an ordinary run (quick: 2 epochs). */
    printf("compress: training the default MLP (%s) into %s\n", quick ? "2 epochs" : "10 epochs", sub);
    fflush(stdout);
    char *argv[12] = {"train", "--out", sub, "--silent"};
    int argc = 4;
    if (quick) argv[argc++] = "--set", argv[argc++] = "train.epochs=2";
    if (threads > 0) argv[argc++] = "--threads", argv[argc++] = thr;
    int code = cmd_train(argc, argv);
    if (code != EXIT_OK) return code;

    compress_args a = {.model = sub, .finetune = quick ? 1 : LAB_FINETUNE_EPOCHS,
                       .threads = threads, .sweep = 1};
    ctx x = {.a = &a};
    gg_error err = {0};
    if (setup(&x, &err) != GG_OK) code = cli_report(&err);
    else code = sweep_run_dir(&x, sub, true, &err);
    teardown(&x);
    return code;
}

int cmd_compress(int argc, char **argv) {
    compress_args a;
    int code = parse_args(argc, argv, &a);
    if (code) return code < 0 ? EXIT_OK : code;
    gg_error err = {0};
    ctx x = {.a = &a};
    if (setup(&x, &err) != GG_OK) code = cli_report(&err);
    else if (!a.sweep) code = run_compress(&x, &err);
    else if (is_dir(a.model)) code = sweep_run_dir(&x, a.model, false, &err);
    else code = run_sweep(&x, NULL, NULL, &err);
    teardown(&x);
    return code;
}
