/* Tests of the HTML run report: a synthetic run directory (config.yaml
 * and metrics.jsonl with a run header, steps, monitoring blocks, epochs,
 * every kind of event, a diagnosis and a summary) gives a report with
 * every section and chart, its text escaped (a <script> in a config value,
 * an event message, a parameter name and the run header cannot run), no
 * external resource; a long run keeps each chart within ~2000 points with
 * its extremes and every event; a missing directory, a missing
 * metrics.jsonl or a broken line fail with the right status and a message
 * naming the file (and line); the downsampler and the escapers on their
 * own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "report/report.h"
#include "report/report_int.h"
#include "support/fixtures.h"

#define EVIL "<script>alert(1)</script>"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    if (len) *len = (size_t)n;
    fclose(f);
    return s;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The text of the data block of chart id (its JSON), malloc'd. */
static char *data_block(const char *html, const char *id) {
    char open[128];
    snprintf(open, sizeof open, "<script type=\"application/json\" id=\"data-%s\">", id);
    const char *p = strstr(html, open);
    if (!p) return NULL;
    p += strlen(open);
    const char *e = strstr(p, "</script>");
    if (!e) return NULL;
    char *s = malloc((size_t)(e - p) + 1);
    memcpy(s, p, (size_t)(e - p));
    s[e - p] = '\0';
    return s;
}

/* The most numbers in any "x":[...] array of a data block. */
static int max_points(const char *block) {
    int most = 0;
    for (const char *p = block; (p = strstr(p, "\"x\":[")); p += 5) {
        const char *e = strchr(p, ']');
        int n = e > p + 5 ? 1 : 0;
        for (const char *q = p + 5; q < e; q++) n += *q == ',';
        if (n > most) most = n;
    }
    return most;
}

static const char config_yaml[] =
    "seed: 0\n"
    "data:\n"
    "  dataset: \"csv:" EVIL ".csv\"\n"
    "model:\n"
    "  input: [4]\n"
    "  layers:\n"
    "    - dense: {units: 8}\n"
    "    - relu: {}\n"
    "    - dense: {units: 2}\n"
    "# a comment & more\n";

/* The sparsity of a pruning run at step s: rises linearly to `final` at
 * 3/4 of the run, then stays. */
static double sparsity_at(int s, int steps, double final) {
    double t = s / (0.75 * steps);
    return final * (t < 1 ? t : 1);
}

/* A run of `steps` steps: monitoring every 10, an epoch every 100, events of
 * every kind, a diagnosis and a summary; with prune > 0, step and epoch
 * lines carry the sparsity reached (prune at the end). */
static void write_run_pruned(const char *dir, int steps, bool summary, double prune) {
    char *cfg = gg_test_write_file(dir, "config.yaml", config_yaml, strlen(config_yaml));
    free(cfg);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"type\":\"run\",\"version\":\"0.1.0\",\"threads\":2,\"blas\":\"OpenBLAS 0.3.21\","
               "\"host\":\"" EVIL "\"}\n");
    for (int s = 1; s <= steps; s++) {
        double loss = 2.0 * exp(-s / 300.0) + 0.05 * sin(s);
        double g = 3.0 * exp(-s / 500.0) + 0.1;
        if (s == 150) g = 1e6, loss = 40;
        if (s == 170) g = 1e-6;
        bool nonfinite = s == 250;
        fprintf(f, "{\"type\":\"step\",\"step\":%d,\"epoch\":%d,\"loss\":", s, (s - 1) / 100);
        if (nonfinite) fputs("null", f);
        else fprintf(f, "%.9g", loss);
        fprintf(f, ",\"lr\":%.9g,\"grad_norm\":", s < 200 ? 0.01 : 0.005);
        if (nonfinite) fputs("null", f);
        else fprintf(f, "%.9g", g);
        fprintf(f, ",\"clip_coef\":1,\"nonfinite\":%d,\"skipped\":%s", nonfinite ? 3 : 0,
                s == 150 || nonfinite ? "true" : "false");
        if (prune > 0) fprintf(f, ",\"sparsity\":%.9g", sparsity_at(s, steps, prune));
        if (s % 10 == 0) {
            fprintf(f, ",\"params\":{\"layers.0.weight\":{\"grad_norm\":%.9g,\"grad_max\":0.1,"
                       "\"weight_norm\":3,\"update_ratio\":%.9g,\"nonfinite\":0},"
                       "\"layers.0.bias\":{\"grad_norm\":%.9g,\"grad_max\":0.1,\"weight_norm\":1,"
                       "\"update_ratio\":0.002,\"nonfinite\":0},"
                       "\"layers.2.weight</script>" EVIL "\":{\"grad_norm\":%.9g,\"grad_max\":0.1,"
                       "\"weight_norm\":2,\"update_ratio\":0.001,\"nonfinite\":0}},"
                       "\"layers\":[{\"layer\":1,\"kind\":\"relu\",\"dead_frac\":%.9g,\"saturated_frac\":null}]",
                    g * 1e-3, 1e-3 * (1 + s % 7), g * 0.01, g, 0.1 + 0.3 * s / steps);
        }
        fputs("}\n", f);
        if (s % 3 == 0) fprintf(f, "{\"type\":\"event\",\"step\":%d,\"kind\":\"clip\",\"message\":\"clipped\"}\n", s);
        if (s == 150) {
            fprintf(f, "{\"type\":\"event\",\"step\":150,\"kind\":\"spike\",\"message\":\"gradient norm spike " EVIL "\"}\n");
            fprintf(f, "{\"type\":\"event\",\"step\":150,\"kind\":\"skip\",\"message\":\"update skipped\"}\n");
        }
        if (s == 151) fprintf(f, "{\"type\":\"event\",\"step\":151,\"kind\":\"lr_cut\",\"message\":\"cut\"}\n");
        if (s == 152) fprintf(f, "{\"type\":\"event\",\"step\":152,\"kind\":\"rollback\",\"message\":\"rolled back\"}\n");
        if (s == 200) fprintf(f, "{\"type\":\"event\",\"step\":200,\"kind\":\"lr_backoff\",\"message\":\"backed off\"}\n");
        if (nonfinite) fprintf(f, "{\"type\":\"event\",\"step\":%d,\"kind\":\"nonfinite\",\"message\":\"3 NaN\"}\n", s);
        if (s % 100 == 0) {
            fprintf(f, "{\"type\":\"epoch\",\"epoch\":%d,\"train_loss\":%.9g,\"train_acc\":%.9g,\"val_loss\":%.9g,"
                       "\"val_acc\":%.9g,\"samples_per_s\":1234.5,\"lr\":0.01",
                    s / 100, loss, 0.5 + 0.4 * s / steps, loss * 1.1, 0.45 + 0.4 * s / steps);
            if (prune > 0) fprintf(f, ",\"sparsity\":%.9g", sparsity_at(s, steps, prune));
            fputs("}\n", f);
        }
    }
    if (summary) {
        fprintf(f, "{\"type\":\"event\",\"step\":%d,\"kind\":\"diagnosis\",\"message\":\"dead ReLUs: layers.1 (relu) "
                   "has 40%% of its units inactive " EVIL ". Remedies: a lower learning rate, leaky_relu or elu\"}\n",
                steps);
        fprintf(f, "{\"type\":\"summary\",\"steps\":%d,\"epochs\":%d,\"test_loss\":0.5,\"test_acc\":0.875,"
                   "\"seconds\":12.5}\n", steps, steps / 100);
    }
    assert_int_equal(fclose(f), 0);
}

static void write_run(const char *dir, int steps, bool summary) { write_run_pruned(dir, steps, summary, 0); }

static void test_full_report(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run(dir, 300, true);
    gg_error err = {0};
    assert_int_equal(gg_report_write(dir, NULL, &err), GG_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/report.html", dir);
    size_t len = 0;
    char *html = slurp(path, &len);
    assert_non_null(html);
    assert_true(len > 10000);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "</html>\n"));
    /* every section, every chart and its data */
    static const char *const sections[] = {
        "id=\"summary\"", "id=\"diagnosis\"", "id=\"sec-loss\"", "id=\"sec-accuracy\"", "id=\"sec-lr\"",
        "id=\"sec-grad-norm\"", "id=\"sec-grad-flow\"", "id=\"sec-layer-grad\"", "id=\"sec-update-ratio\"",
        "id=\"sec-activations\"", "id=\"events\"", "id=\"epochs\"", "id=\"config\"", "id=\"environment\""};
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
        if (!strstr(html, sections[i])) fail_msg("no %s in the report", sections[i]);
    }
    static const char *const charts[] = {"loss", "accuracy", "lr", "grad-norm", "grad-flow",
                                         "layer-grad", "update-ratio", "activations"};
    for (size_t i = 0; i < sizeof charts / sizeof *charts; i++) {
        char id[64];
        snprintf(id, sizeof id, "<svg id=\"chart-%s\"", charts[i]);
        if (!strstr(html, id)) fail_msg("no chart %s", charts[i]);
        char *b = data_block(html, charts[i]);
        if (!b) fail_msg("no data block for %s", charts[i]);
        assert_true(max_points(b) > 0 || strstr(b, "\"z\":[[") != NULL);
        free(b);
    }
    /* every <svg> has a viewBox and a <title> */
    size_t svgs = count(html, "<svg ");
    assert_true(svgs >= 8);
    assert_int_equal(count(html, "<svg id=\"chart-"), svgs);
    assert_int_equal(count(html, "viewBox=\"0 0 "), svgs);
    assert_int_equal(count(html, "<title id=\"chart-"), svgs);
    /* escaping: the config value, the event messages, the parameter name and
     * the run header are text, never markup */
    assert_null(strstr(html, EVIL));
    assert_null(strstr(html, "</script>" EVIL));
    assert_null(strstr(html, "<script>alert"));
    assert_true(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 4); /* config, diagnosis, host, param */
    assert_non_null(strstr(html, "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e")); /* in JSON */
    /* only our own scripts: the data blocks and the one inline script */
    size_t scripts = count(html, "<script");
    assert_int_equal(count(html, "<script type=\"application/json\" id=\"data-"), scripts - 1);
    assert_int_equal(count(html, "<script>\n(function(){"), 1);
    /* self-contained */
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "@import"));
    /* content */
    assert_non_null(strstr(html, "OpenBLAS 0.3.21"));
    assert_non_null(strstr(html, "87.50%"));          /* test accuracy */
    assert_non_null(strstr(html, "Dead ReLUs"));      /* the diagnosis, as a heading */
    assert_non_null(strstr(html, "<li>leaky_relu or elu</li>")); /* its remedies, as a list */
    assert_non_null(strstr(html, "\"kind\":\"rollback\""));
    assert_non_null(strstr(html, "<span class=\"k\">dataset</span>"));
    /* a run that does not prune and has no compress.jsonl: nothing of either */
    assert_null(strstr(html, "sec-sparsity"));
    assert_null(strstr(html, "accuracy-sparsity"));
    assert_null(strstr(html, ">Sparsity<"));
    assert_null(strstr(html, ">sparsity</th>"));
    assert_null(strstr(html, "id=\"compression\""));
    assert_null(strstr(html, "#compression"));
    assert_null(strstr(html, "chart-compression"));
    /* the grad-norm chart keeps the spike, the dip and every event */
    char *g = data_block(html, "grad-norm");
    assert_non_null(g);
    assert_non_null(strstr(g, "1000000"));
    assert_non_null(strstr(g, "1e-06"));
    assert_non_null(strstr(g, "\"kind\":\"spike\",\"cls\":\"ev-spike\",\"count\":1,\"ranges\":[[150,150]]"));
    assert_non_null(strstr(g, "\"kind\":\"nonfinite\",\"cls\":\"ev-nonfinite\",\"count\":1,\"ranges\":[[250,250]]"));
    assert_non_null(strstr(g, "\"kind\":\"clip\",\"cls\":\"ev-clip\",\"count\":100,"));
    free(g);
    /* no temporary file left */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            assert_null(strstr(e->d_name, ".tmp."));
        }
    closedir(d);
    assert_int_equal(files, 3);
    free(html);
    gg_test_rmtree(dir);
    free(dir);
}

/* The section of html that starts with `open`, up to its </section>, malloc'd. */
static char *section(const char *html, const char *open) {
    const char *p = strstr(html, open);
    if (!p) return NULL;
    const char *e = strstr(p, "</section>");
    if (!e) return NULL;
    char *s = malloc((size_t)(e - p) + 1);
    memcpy(s, p, (size_t)(e - p));
    s[e - p] = '\0';
    return s;
}

static char *report_of(const char *dir) {
    gg_error err = {0};
    if (gg_report_write(dir, NULL, &err) != GG_OK) fail_msg("report of %s: %s", dir, err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path, NULL);
    assert_non_null(html);
    return html;
}

/* A pruning run: the sparsity chart, accuracy against sparsity, the stat
 * card and the epochs' sparsity column, each from the lines' "sparsity". */
static void test_pruning(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run_pruned(dir, 300, true, 0.9);
    char *html = report_of(dir);
    assert_non_null(strstr(html, "id=\"sec-sparsity\""));
    assert_non_null(strstr(html, "id=\"sec-accuracy-sparsity\""));
    assert_non_null(strstr(html, "<a href=\"#sec-sparsity\">Pruning</a>"));
    assert_non_null(strstr(html, "<svg id=\"chart-sparsity\""));
    assert_non_null(strstr(html, "<svg id=\"chart-accuracy-sparsity\""));
    /* the final sparsity among the stat cards */
    assert_non_null(strstr(html, "<div class=\"k\">Sparsity</div><div class=\"v\">90.0%</div>"
                                 "<div class=\"n\">zero weights after step 300</div>"));
    /* every step's sparsity (300 fit whole) and each epoch's at its last step */
    char *b = data_block(html, "sparsity");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"source\":{\"type\":\"step\",\"field\":\"sparsity\"}"));
    assert_non_null(strstr(b, "\"y_percent\":true"));
    assert_int_equal(max_points(b), 300);
    assert_non_null(strstr(b, "\"x\":[100,200,300],\"y\":[0.4,0.8,0.9],\"epoch\":[1,2,3]"));
    free(b);
    /* accuracy against sparsity: x is the epoch's sparsity, not its step */
    b = data_block(html, "accuracy-sparsity");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"x_label\":\"sparsity\",\"x_percent\":true"));
    assert_non_null(strstr(b, "\"label\":\"validation\",\"cls\":\"c1\",\"source\":{\"type\":\"epoch\","
                              "\"field\":\"val_acc\",\"x_field\":\"sparsity\"},\"x\":[0.4,0.8,0.9],"
                              "\"y\":[0.583333333,0.716666667,0.85],\"epoch\":[1,2,3]"));
    assert_non_null(strstr(b, "\"label\":\"train\""));
    free(b);
    /* the x axis in %, the tick labels of the sparsity chart too */
    char *sec = section(html, "<section class=\"card\" id=\"sec-accuracy-sparsity\"");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "text-anchor=\"middle\">50%</text>"));
    free(sec);
    /* the epochs table: a sparsity column */
    sec = section(html, "<section id=\"epochs\"");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "<th class=\"num\">sparsity</th>"));
    assert_non_null(strstr(sec, "<td class=\"num\">40.00%</td></tr>"));
    assert_non_null(strstr(sec, "<td class=\"num\">90.00%</td></tr>"));
    free(sec);
    /* the step charts are unchanged: x is the step */
    b = data_block(html, "loss");
    assert_non_null(strstr(b, "\"x_label\":\"step\",\"x_percent\":false"));
    free(b);
    assert_null(strstr(html, "id=\"compression\""));
    assert_null(strstr(html, EVIL));
    free(html);
    gg_test_rmtree(dir);
    free(dir);
}

#define ROW(sp, reached, one, ft, q)                                                                    \
    "{\"type\":\"compress\",\"sparsity\":" sp ",\"reached\":" reached ",\"oneshot_accuracy\":" one          \
    ",\"finetuned_accuracy\":" ft ",\"int8_accuracy\":" q ",\"float_bytes\":1630616,\"int8_bytes\":413658," \
    "\"float_samples_per_s\":72000,\"int8_samples_per_s\":127000}\n"

/* compress.jsonl: the chart against sparsity and the table, rows sorted by
 * sparsity, nulls as dashes, unknown fields and line types ignored, the
 * header's text escaped. */
static void test_compression(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run(dir, 100, true);
    static const char lab[] =
        "{\"type\":\"compress_run\",\"model\":\"runs/" EVIL "/model.safetensors\",\"structured\":false,"
        "\"scope\":\"global\",\"finetune_epochs\":4,\"int8_kernel\":\"avx512-vnni\",\"test_samples\":10000,"
        "\"calib_samples\":2000,\"eval_batch\":1000,\"later\":{\"a\":[1,2]}}\n"
        ROW("0", "0", "0.8989", "null", "0.8987")
        ROW("0.5", "0.5", "0.88", "0.895", "0.893")
        "\n"
        "{\"type\":\"compress\",\"sparsity\":0.9,\"reached\":0.9000001,\"oneshot_accuracy\":0.61,"
        "\"finetuned_accuracy\":0.889,\"int8_accuracy\":0.887,\"float_bytes\":1630616,\"int8_bytes\":413658,"
        "\"float_samples_per_s\":72000,\"int8_samples_per_s\":127000,\"note\":\"a new field\"}\n"
        ROW("0.75", "0.75", "0.8", "0.89", "0.889")
        "{\"type\":\"compress_plot\",\"sparsity\":0.3}\n"
        "{\"type\":\"compress\",\"sparsity\":0.95,\"reached\":null,\"oneshot_accuracy\":null,"
        "\"finetuned_accuracy\":null,\"int8_accuracy\":null,\"float_bytes\":null,\"int8_bytes\":0,"
        "\"float_samples_per_s\":null,\"int8_samples_per_s\":null}\n";
    free(gg_test_write_file(dir, "compress.jsonl", lab, strlen(lab)));
    char *html = report_of(dir);
    assert_non_null(strstr(html, "<a href=\"#compression\">Compression</a>"));
    assert_null(strstr(html, "sec-sparsity")); /* the training run itself did not prune */
    char *sec = section(html, "<section id=\"compression\"");
    assert_non_null(sec);
    /* the header, in words, escaped */
    assert_non_null(strstr(sec, "<code>runs/&lt;script&gt;alert(1)&lt;/script&gt;/model.safetensors</code>"));
    assert_non_null(strstr(sec, "unstructured pruning, global scope, fine-tuned 4 epochs per level; "
                                "int8 kernel avx512-vnni; 10000 test samples"));
    assert_null(strstr(html, EVIL));
    /* the table, by sparsity: 3.94x = 1630616 / 413658 bytes, 1592.4 KB, 1.76x = 127000 / 72000 */
    static const char *const rows[] = {
        "<tr><td class=\"num\">0%</td><td class=\"num\">0.00%</td><td class=\"num\">89.89%</td>"
        "<td class=\"num\">\xE2\x80\x94</td><td class=\"num\">89.87%</td><td class=\"num\">1592.4</td>"
        "<td class=\"num\">404.0</td><td class=\"num\">3.94x</td><td class=\"num\">72000</td>"
        "<td class=\"num\">127000</td><td class=\"num\">1.76x</td></tr>",
        "<tr><td class=\"num\">50%</td><td class=\"num\">50.00%</td><td class=\"num\">88.00%</td>"
        "<td class=\"num\">89.50%</td><td class=\"num\">89.30%</td>",
        "<tr><td class=\"num\">75%</td><td class=\"num\">75.00%</td><td class=\"num\">80.00%</td>",
        "<tr><td class=\"num\">90%</td><td class=\"num\">90.00%</td><td class=\"num\">61.00%</td>"
        "<td class=\"num\">88.90%</td><td class=\"num\">88.70%</td>",
        /* every number null (and int8 bytes 0): dashes, no ratio */
        "<tr><td class=\"num\">95%</td><td class=\"num\">\xE2\x80\x94</td><td class=\"num\">\xE2\x80\x94</td>"
        "<td class=\"num\">\xE2\x80\x94</td><td class=\"num\">\xE2\x80\x94</td><td class=\"num\">\xE2\x80\x94</td>"
        "<td class=\"num\">0.0</td><td class=\"num\">\xE2\x80\x94</td><td class=\"num\">\xE2\x80\x94</td>"
        "<td class=\"num\">\xE2\x80\x94</td><td class=\"num\">\xE2\x80\x94</td></tr>",
    };
    const char *at = sec;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *p = strstr(at, rows[i]);
        if (!p) fail_msg("row %zu missing or out of order: %s", i, rows[i]);
        at = p + 1;
    }
    assert_int_equal(count(sec, "<tr><td"), 5);
    assert_non_null(strstr(sec, "<th class=\"num\">size ratio</th>"));
    assert_non_null(strstr(sec, "<th class=\"num\">int8 speed-up</th>"));
    free(sec);
    /* the chart: x is the sparsity, in %; a null accuracy is no point */
    char *b = data_block(html, "compression");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"x_label\":\"sparsity\",\"x_percent\":true"));
    assert_non_null(strstr(b, "\"x_domain\":[0,1]"));
    assert_non_null(strstr(b, "\"label\":\"one-shot\",\"cls\":\"c0\",\"source\":{\"type\":\"compress\","
                              "\"field\":\"oneshot_accuracy\",\"x_field\":\"sparsity\"},"
                              "\"x\":[0,0.5,0.75,0.9],\"y\":[0.8989,0.88,0.8,0.61]"));
    assert_non_null(strstr(b, "\"label\":\"fine-tuned\",\"cls\":\"c1\",\"source\":{\"type\":\"compress\","
                              "\"field\":\"finetuned_accuracy\",\"x_field\":\"sparsity\"},"
                              "\"x\":[0.5,0.75,0.9],\"y\":[0.895,0.89,0.889]"));
    assert_non_null(strstr(b, "\"label\":\"int8\""));
    free(b);
    assert_int_equal(count(html, "<svg id=\"chart-compression"), 2); /* wide and compact */
    assert_non_null(strstr(html, "text-anchor=\"middle\">80%</text>")); /* x ticks in % */
    free(html);
    gg_test_rmtree(dir);
    free(dir);
}

/* A broken compress.jsonl fails like metrics.jsonl: GG_ERR_DATA naming the
 * file and line, and no report. */
static void test_compression_broken(void **state) {
    (void)state;
    static const struct {
        const char *line3, *msg;
    } cases[] = {
        {"[0.5, 0.9]\n", "compress.jsonl:3: expected a JSON object, found an array"},
        {"{\"sparsity\":0.5,\"reached\":0.5}\n", "compress.jsonl:3: no \"type\""},
        {"{\"type\":7}\n", "compress.jsonl:3: no \"type\""},
        {"{\"type\":\"compress\",\"sparsity\":}\n", "compress.jsonl:3: not valid JSON"},
        {"{\"type\":null,\"sparsity\":0.5}\n", "compress.jsonl:3: no \"type\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = gg_test_tmpdir();
        write_run(dir, 20, true);
        char text[1024];
        snprintf(text, sizeof text, "{\"type\":\"compress_run\",\"finetune_epochs\":0}\n%s%s%s",
                 ROW("0", "0", "0.9", "null", "0.9"), cases[i].line3, ROW("0.5", "0.5", "0.8", "null", "0.8"));
        free(gg_test_write_file(dir, "compress.jsonl", text, strlen(text)));
        gg_error err = {0};
        assert_int_equal(gg_report_write(dir, NULL, &err), GG_ERR_DATA);
        if (!strstr(err.msg, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        char want[512];
        snprintf(want, sizeof want, "%s/compress.jsonl:3:", dir);
        assert_non_null(strstr(err.msg, want));
        snprintf(want, sizeof want, "%s/report.html", dir);
        assert_int_equal(access(want, F_OK), -1);
        gg_test_rmtree(dir);
        free(dir);
    }
}

/* The latest sweep of an appended file, at most 64 rows of it, its last
 * line still being written; no fine-tuning: no fine-tuned line. */
static void test_compression_bounded(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run(dir, 20, true);
    /* a header and no row yet */
    static const char only_header[] = "{\"type\":\"compress_run\",\"structured\":true}\n";
    free(gg_test_write_file(dir, "compress.jsonl", only_header, strlen(only_header)));
    char *html = report_of(dir);
    char *sec = section(html, "<section id=\"compression\"");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "has no rows yet"));
    assert_null(strstr(html, "chart-compression"));
    free(sec);
    free(html);
    char path[512];
    snprintf(path, sizeof path, "%s/compress.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"compress_run\",\"finetune_epochs\":2}\n", f);
    for (int i = 0; i < 3; i++) fputs(ROW("0.5", "0.5", "0.1234", "0.1234", "0.1234"), f);
    fputs("{\"type\":\"compress_run\",\"structured\":true,\"scope\":\"layer\",\"finetune_epochs\":0}\n", f);
    for (int i = 0; i < 100; i++)
        fprintf(f, "{\"type\":\"compress\",\"sparsity\":%.2f,\"reached\":%.2f,\"oneshot_accuracy\":0.8,"
                   "\"finetuned_accuracy\":null,\"int8_accuracy\":0.79,\"float_bytes\":2048,\"int8_bytes\":512}\n",
                i / 100.0, i / 100.0);
    fputs("{\"type\":\"compress\",\"spars", f); /* being written */
    assert_int_equal(fclose(f), 0);
    html = report_of(dir);
    sec = section(html, "<section id=\"compression\"");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "structured pruning, layer scope, no fine-tuning"));
    assert_null(strstr(sec, "unstructured"));
    assert_null(strstr(sec, "12.34%")); /* the earlier sweep */
    assert_int_equal(count(sec, "<tr><td class=\"num\">"), 64);
    assert_non_null(strstr(sec, "36 more rows not listed"));
    assert_non_null(strstr(sec, "<td class=\"num\">4.00x</td>"));
    assert_non_null(strstr(sec, "still being written"));
    free(sec);
    char *b = data_block(html, "compression");
    assert_non_null(b);
    assert_null(strstr(b, "\"label\":\"fine-tuned\""));
    assert_non_null(strstr(b, "\"label\":\"one-shot\""));
    assert_int_equal(max_points(b), 64);
    free(b);
    free(html);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_output_path_and_partial_last_line(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run(dir, 120, false);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"type\":\"step\",\"step\":121,\"ep", f); /* being written: no newline yet */
    fclose(f);
    char out[512];
    snprintf(out, sizeof out, "%s/elsewhere.html", dir);
    gg_error err = {0};
    assert_int_equal(gg_report_write(dir, out, &err), GG_OK);
    char *html = slurp(out, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "still being written"));
    assert_non_null(strstr(html, "in progress or interrupted"));
    assert_non_null(strstr(html, "No diagnosis yet"));
    free(html);
    snprintf(path, sizeof path, "%s/report.html", dir);
    assert_int_equal(access(path, F_OK), -1);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_missing(void **state) {
    (void)state;
    gg_error err = {0};
    assert_int_equal(gg_report_write("/nonexistent/gg-run", NULL, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, "/nonexistent/gg-run"));
    char *dir = gg_test_tmpdir();
    assert_int_equal(gg_report_write(dir, NULL, &err), GG_ERR_DATA);
    char want[512];
    snprintf(want, sizeof want, "%s/metrics.jsonl: cannot open", dir);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(gg_report_write(NULL, NULL, &err), GG_ERR_ARG);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_broken_lines(void **state) {
    (void)state;
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"{\"type\":\"step\",\"step\":1,\"loss\":1}\n\n{\"type\":\"step\",\n{\"type\":\"summary\"}\n",
         "metrics.jsonl:3: not valid JSON"},
        {"{\"type\":\"step\",\"step\":1}\n[1,2]\n", "metrics.jsonl:2: expected a JSON object, found an array"},
        {"{\"type\":\"step\",\"step\":1} trailing\n", "metrics.jsonl:1: not valid JSON"},
        {"{\"type\":\"event\",\"message\":\"\xff\xfe\"}\n", "metrics.jsonl:1: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = gg_test_tmpdir();
        free(gg_test_write_file(dir, "metrics.jsonl", cases[i].text, strlen(cases[i].text)));
        gg_error err = {0};
        assert_int_equal(gg_report_write(dir, NULL, &err), GG_ERR_DATA);
        if (!strstr(err.msg, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        assert_non_null(strstr(err.msg, dir));
        char out[512];
        snprintf(out, sizeof out, "%s/report.html", dir);
        assert_int_equal(access(out, F_OK), -1);
        gg_test_rmtree(dir);
        free(dir);
    }
}

static void test_unwritable_output(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    write_run(dir, 50, true);
    char out[512];
    snprintf(out, sizeof out, "%s/no/such/dir/r.html", dir);
    gg_error err = {0};
    assert_int_equal(gg_report_write(dir, out, &err), GG_ERR_IO);
    assert_non_null(strstr(err.msg, out));
    gg_test_rmtree(dir);
    free(dir);
}

/* 60000 steps: every chart within ~2000 points, the extremes and every
 * rare event kept, the heat map within its column cap. */
static void test_long_run_bounded(void **state) {
    (void)state;
    char *dir = gg_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    const int steps = 60000;
    for (int s = 1; s <= steps; s++) {
        double g = 1 + 0.5 * sin(s * 0.01);
        if (s == 44444) g = 12345.5;
        if (s == 22222) g = 0.000125;
        fprintf(f, "{\"type\":\"step\",\"step\":%d,\"epoch\":%d,\"loss\":%.9g,\"lr\":0.1,\"grad_norm\":%.9g,"
                   "\"sparsity\":%.9g",
                s, s / 1000, 1.0 / s, g, s == 33333 ? 0.999 : sparsity_at(s, steps, 0.5));
        if (s % 10 == 0)
            fprintf(f, ",\"params\":{\"a.weight\":{\"grad_norm\":%.9g,\"update_ratio\":0.001},"
                       "\"b.weight\":{\"grad_norm\":%.9g,\"update_ratio\":0.002}},\"layers\":[]",
                    g, g / 10);
        fputs("}\n", f);
        if (s % 2 == 0) fprintf(f, "{\"type\":\"event\",\"step\":%d,\"kind\":\"clip\",\"message\":\"\"}\n", s);
        if (s == 777 || s == 31337 || s == 59999)
            fprintf(f, "{\"type\":\"event\",\"step\":%d,\"kind\":\"spike\",\"message\":\"\"}\n", s);
        if (s % 1000 == 0)
            fprintf(f, "{\"type\":\"epoch\",\"epoch\":%d,\"train_loss\":1,\"val_loss\":1,\"val_acc\":%.9g,"
                       "\"sparsity\":%.9g}\n",
                    s / 1000, 0.9 - sparsity_at(s, steps, 0.5) / 10, sparsity_at(s, steps, 0.5));
    }
    fclose(f);
    gg_error err = {0};
    assert_int_equal(gg_report_write(dir, NULL, &err), GG_OK);
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path, NULL);
    assert_non_null(html);
    static const char *const ids[] = {"loss", "lr", "grad-norm", "layer-grad", "update-ratio", "sparsity"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char *b = data_block(html, ids[i]);
        assert_non_null(b);
        int n = max_points(b);
        if (n < 100 || n > 2048) fail_msg("%s: %d points", ids[i], n);
        free(b);
    }
    char *g = data_block(html, "grad-norm");
    assert_non_null(strstr(g, "44444"));
    assert_non_null(strstr(g, "12345.5"));
    assert_non_null(strstr(g, "22222"));
    assert_non_null(strstr(g, "0.000125"));
    assert_non_null(strstr(g, "\"count\":3,\"ranges\":[[777,777],[31337,31337],[59999,59999]]"));
    assert_non_null(strstr(g, "\"kind\":\"clip\",\"cls\":\"ev-clip\",\"count\":30000,"));
    free(g);
    /* the sparsity chart keeps its one-step peak; accuracy against
     * sparsity has every epoch (60) */
    char *sp = data_block(html, "sparsity");
    assert_non_null(strstr(sp, "33333"));
    assert_non_null(strstr(sp, "0.999"));
    free(sp);
    sp = data_block(html, "accuracy-sparsity");
    assert_non_null(sp);
    assert_int_equal(max_points(sp), 60);
    free(sp);
    char *h = data_block(html, "grad-flow");
    assert_non_null(h);
    const char *x0 = strstr(h, "\"x0\":[");
    int cols = 1;
    for (const char *q = x0; *q != ']'; q++) cols += *q == ',';
    assert_true(cols <= 160 && cols >= 80);
    free(h);
    free(html);
    gg_test_rmtree(dir);
    free(dir);
}

/* The downsampler alone: bounded, sorted, every point a real one, the
 * extremes kept. */
static void test_series_points(void **state) {
    (void)state;
    rp_series s;
    assert_int_equal(rp_series_init(&s, false, NULL), GG_OK);
    const int n = 100003;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double y = sin(i * 0.001) + (i % 97 == 0 ? 0.5 : 0) + (i == 54321 ? 9 : 0) - (i == 12345 ? 7 : 0);
        if (y < lo) lo = y;
        if (y > hi) hi = y;
        rp_series_add(&s, i, y, i);
    }
    rp_series_add(&s, n, NAN, 0);
    assert_int_equal(s.n, n);
    assert_int_equal(s.n_nonfinite, 1);
    assert_true(s.nb <= RP_SERIES_CAP);
    assert_int_equal(rp_series_points_max(&s), 4 * s.nb);
    rp_pt *p = malloc(2000 * sizeof *p);
    int m = rp_series_points(&s, 2000, p);
    assert_true(m > 1000 && m <= 2000);
    bool has_lo = false, has_hi = false;
    for (int i = 0; i < m; i++) {
        if (i) assert_true(p[i].x > p[i - 1].x);
        int x = (int)p[i].x;
        double y = sin(x * 0.001) + (x % 97 == 0 ? 0.5 : 0) + (x == 54321 ? 9 : 0) - (x == 12345 ? 7 : 0);
        assert_true(p[i].y == y);
        assert_int_equal(p[i].tag, x);
        has_lo |= p[i].y == lo;
        has_hi |= p[i].y == hi;
    }
    assert_true(has_lo && has_hi);
    assert_int_equal(rp_series_points(&s, 4, p), 4); /* first, min, max, last */
    rp_series_free(&s);
    /* a short series is drawn whole */
    assert_int_equal(rp_series_init(&s, false, NULL), GG_OK);
    for (int i = 0; i < 1500; i++) rp_series_add(&s, i, i % 5, i);
    assert_int_equal(rp_series_points_max(&s), 1500);
    assert_int_equal(rp_series_points(&s, 1500, p), 1500);
    assert_true(rp_series_points(&s, 1499, p) <= 1499);
    free(p);
    rp_series_free(&s);
    /* positive_only drops what a log scale cannot show, and counts it */
    assert_int_equal(rp_series_init(&s, true, NULL), GG_OK);
    rp_series_add(&s, 1, 0, 0);
    rp_series_add(&s, 2, -1, 0);
    rp_series_add(&s, 3, 2, 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.n_nonpos, 2);
    rp_series_free(&s);
}

static void test_heat(void **state) {
    (void)state;
    rp_heat h;
    assert_int_equal(rp_heat_init(&h, NULL), GG_OK);
    assert_int_equal(rp_heat_add_row(&h, NULL), GG_OK);
    for (int i = 0; i < 1000; i++) {
        int c = rp_heat_sample(&h, 10.0 * (i + 1));
        rp_heat_put(&h, 0, c, i < 500 ? 1e-3 : 1e-1);
    }
    rp_heat_put(&h, 0, h.nc - 1, NAN);
    assert_true(h.nc <= RP_HEAT_CAP);
    int group = 0, nc = rp_heat_columns(&h, 100, &group);
    assert_true(nc <= 100);
    /* the first stored column holds samples of steps 10.. and is all 1e-3 */
    assert_true(h.x0[0] == 10);
    assert_true(fabs(h.sum[0][0] / h.cnt[0][0] + 3) < 1e-12);
    assert_true(fabs(h.sum[0][h.nc - 1] / h.cnt[0][h.nc - 1] + 1) < 1e-12);
    assert_int_equal(h.bad[0][h.nc - 1], 1);
    assert_true(h.x1[h.nc - 1] == 10000);
    rp_heat_free(&h);
}

static void test_escaping(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    rp_html(m, "a<b>&\"'\x01\tc\xff\xc3\xa9");
    fputc('|', m);
    rp_json_str(m, "</script>\n\"\\\xe2\x80\xa8\xc0");
    fclose(m);
    assert_string_equal(buf, "a&lt;b&gt;&amp;&quot;&#39;\tc\xEF\xBF\xBD\xc3\xa9|"
                             "\"\\u003c/script\\u003e\\n\\\"\\\\\\u2028\\ufffd\"");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_pruning),
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_compression_broken),
        cmocka_unit_test(test_compression_bounded),
        cmocka_unit_test(test_output_path_and_partial_last_line),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_broken_lines),
        cmocka_unit_test(test_unwritable_output),
        cmocka_unit_test(test_long_run_bounded),
        cmocka_unit_test(test_series_points),
        cmocka_unit_test(test_heat),
        cmocka_unit_test(test_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
