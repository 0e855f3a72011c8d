/* gradguard eval: loss and accuracy of a trained model on a split. The
 * model is a run directory (config.yaml + model.safetensors) or a
 * safetensors file that carries its config in its metadata. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "compress/compress.h"
#include "io/io.h"
#include "train/model.h"

static const char eval_usage[] =
    "usage: gradguard eval MODEL [--data SPEC] [--split test|train|val] [--json]\n"
    "\n"
    "Evaluates MODEL (a run directory or a .safetensors written by gradguard; an int8 file\n"
    "written by `gradguard compress --quantize int8` runs with int8 matrix products)\n"
    "  --data SPEC    data set to use instead of the model's (fashion-mnist, idx:DIR, csv:PATH, ...)\n"
    "  --split NAME   test (default), train or val\n"
    "  --json         print one JSON object instead of text\n";

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *split = "test";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(eval_usage, stdout);
            return EXIT_OK;
        } else if ((v = cli_option(argc, argv, &i, "--data", &missing))) {
            data = v;
        } else if ((v = cli_option(argc, argv, &i, "--split", &missing))) {
            split = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gradguard: eval: unknown option '%s' (see gradguard eval --help)\n", argv[i]);
            return EXIT_USAGE;
        } else if (!model_path) {
            model_path = argv[i];
        } else {
            fprintf(stderr, "gradguard: eval: one MODEL only\n");
            return EXIT_USAGE;
        }
    }
    if (!model_path) {
        fputs(eval_usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(split, "test") && strcmp(split, "train") && strcmp(split, "val")) {
        fprintf(stderr, "gradguard: --split: expected test, train or val, found '%s'\n", split);
        return EXIT_USAGE;
    }
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    gg_dataset *train = NULL, *val = NULL, *test = NULL;
    gg_model *m = NULL;
    gg_qmodel *q = NULL;
    char weights[4200];
    int code = EXIT_OK;
    gg_status s;
    if (!c) return EXIT_FAILED;
    if ((s = cli_model_config(model_path, c, weights, sizeof weights, &err)) != GG_OK) goto fail;
    if (data && (s = gg_config_set(c, "data.dataset", data, &err)) != GG_OK) goto fail;
    gg_set_threads(c->train.threads);
    if ((s = gg_data_load(c, &train, &val, &test, &err)) != GG_OK) goto fail;
    /* An int8 file (its metadata says so) runs on the int8 engine; a file
     * that cannot be read takes the float path, which reports why. */
    if (gg_file_is_quantized(weights, NULL) == 1) {
        if ((s = gg_qmodel_load(weights, c, c->train.eval_batch_size, &q, &err)) != GG_OK) goto fail;
    } else {
        if ((s = gg_model_new_sized(c, c->train.eval_batch_size, 0, &m, &err)) != GG_OK) goto fail;
        if ((s = gg_model_load(m, weights, &err)) != GG_OK) goto fail;
    }
    gg_dataset *d = !strcmp(split, "train") ? train : !strcmp(split, "val") ? val : test;
    if (!d || d->n == 0) {
        s = gg_fail(&err, GG_ERR_DATA, "the %s split of '%s' is empty", split, c->data.dataset);
        goto fail;
    }
    gg_eval_result r;
    if ((s = q ? gg_qmodel_evaluate(q, d, &r, &err) : gg_model_evaluate(m, d, &r, &err)) != GG_OK)
        goto fail;
    if (json) {
        printf("{\"split\":\"%s\",\"samples\":%zu,\"loss\":", split, r.samples);
        if (isfinite(r.loss)) printf("%.9g", r.loss); else printf("null");
        printf(",\"accuracy\":");
        if (isfinite(r.accuracy)) printf("%.9g", r.accuracy); else printf("null");
        if (q) printf(",\"quantization\":\"int8\",\"int8_kernel\":\"%s\"", gg_int8_kernel());
        printf("}\n");
    } else if (isnan(r.accuracy)) {
        printf("%s: %zu samples, loss %.6f", split, r.samples, r.loss);
        if (q) printf(" (int8, %s kernel)", gg_int8_kernel());
        printf("\n");
    } else {
        printf("%s: %zu samples, accuracy %.2f%%, loss %.6f", split, r.samples, 100 * r.accuracy,
               r.loss);
        if (q) printf(" (int8, %s kernel)", gg_int8_kernel());
        printf("\n");
    }
    goto done;
fail:
    code = cli_report(&err);
done:
    gg_model_free(m);
    gg_qmodel_free(q);
    gg_dataset_free(train);
    gg_dataset_free(val);
    gg_dataset_free(test);
    gg_config_free(c);
    return code;
}
