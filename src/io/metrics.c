/* The JSONL writer. Non-finite numbers are written as null, since JSON
 * has no NaN; readers treat null as "not a number at this step". */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "io/metrics.h"

gg_status gg_metrics_open(gg_metrics *mx, const char *path, bool append, gg_error *err) {
    mx->f = fopen(path, append ? "a" : "w");
    if (!mx->f) return gg_fail(err, GG_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    mx->path = gg_strdup(path, err);
    return mx->path ? GG_OK : GG_ERR_NOMEM;
}

gg_status gg_metrics_close(gg_metrics *mx, gg_error *err) {
    gg_status s = GG_OK;
    if (mx->f && (ferror(mx->f) | fclose(mx->f)))
        s = gg_fail(err, GG_ERR_IO, "%s: write failed: %s", mx->path, strerror(errno));
    free(mx->path);
    mx->f = NULL;
    mx->path = NULL;
    return s;
}

void gg_json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

void gg_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void stat_field(FILE *f, const char *key, double v, bool first) {
    fprintf(f, "%s\"%s\":", first ? "" : ",", key);
    gg_json_number(f, v);
}

static void monitor_block(FILE *f, const gg_param_stats *p, int np, const gg_layer_stats *l, int nl) {
    fputs(",\"params\":{", f);
    for (int i = 0; i < np; i++) {
        fprintf(f, "%s", i ? "," : "");
        gg_json_string(f, p[i].name);
        fputs(":{", f);
        stat_field(f, "grad_norm", p[i].grad_norm, true);
        stat_field(f, "grad_max", p[i].grad_max, false);
        stat_field(f, "weight_norm", p[i].weight_norm, false);
        stat_field(f, "update_ratio", p[i].update_ratio, false);
        fprintf(f, ",\"nonfinite\":%zu}", p[i].nonfinite);
    }
    fputs("},\"layers\":[", f);
    for (int i = 0; i < nl; i++) {
        fprintf(f, "%s{\"layer\":%d,\"kind\":", i ? "," : "", l[i].layer);
        gg_json_string(f, l[i].kind);
        stat_field(f, "dead_frac", l[i].dead_frac, false);
        stat_field(f, "saturated_frac", l[i].saturated_frac, false);
        fputc('}', f);
    }
    fputc(']', f);
}

void gg_metrics_step(gg_metrics *mx, const gg_step_info *s, const gg_param_stats *params,
                     int n_params, const gg_layer_stats *layers, int n_layers) {
    FILE *f = mx->f;
    fprintf(f, "{\"type\":\"step\",\"step\":%lld,\"epoch\":%d,\"loss\":", (long long)s->step, s->epoch);
    gg_json_number(f, s->loss);
    fputs(",\"lr\":", f);
    gg_json_number(f, s->lr);
    fputs(",\"grad_norm\":", f);
    gg_json_number(f, s->grad_norm);
    if (!isnan(s->momentum)) {
        fputs(",\"momentum\":", f);
        gg_json_number(f, s->momentum);
    }
    fputs(",\"clip_coef\":", f);
    gg_json_number(f, s->clip_coef);
    fprintf(f, ",\"nonfinite\":%zu,\"skipped\":%s", s->nonfinite, s->skipped ? "true" : "false");
    if (isfinite(s->sparsity)) fprintf(f, ",\"sparsity\":%.6g", s->sparsity);
    if (n_params > 0) monitor_block(f, params, n_params, layers, n_layers);
    fputs("}\n", f);
}

void gg_metrics_epoch(gg_metrics *mx, int epoch, double train_loss, double train_acc,
                      double val_loss, double val_acc, double samples_per_s, double lr,
                      double sparsity) {
    FILE *f = mx->f;
    fprintf(f, "{\"type\":\"epoch\",\"epoch\":%d,\"train_loss\":", epoch);
    gg_json_number(f, train_loss);
    fputs(",\"train_acc\":", f);
    gg_json_number(f, train_acc);
    fputs(",\"val_loss\":", f);
    gg_json_number(f, val_loss);
    fputs(",\"val_acc\":", f);
    gg_json_number(f, val_acc);
    fputs(",\"samples_per_s\":", f);
    gg_json_number(f, samples_per_s);
    fputs(",\"lr\":", f);
    gg_json_number(f, lr);
    if (isfinite(sparsity)) fprintf(f, ",\"sparsity\":%.6g", sparsity);
    fputs("}\n", f);
    fflush(f);
}

void gg_metrics_run(gg_metrics *mx, int threads, const char *command, long long resumed_from) {
    FILE *f = mx->f;
    char started[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fputs("{\"type\":\"run\",\"version\":", f);
    gg_json_string(f, gg_version());
    fprintf(f, ",\"threads\":%d,\"blas\":", threads);
    gg_json_string(f, openblas_get_config());
    fputs(",\"real\":", f);
    gg_json_string(f, sizeof(gg_real) == 8 ? "float64" : "float32");
    fputs(",\"started\":", f);
    gg_json_string(f, started);
    fputs(",\"command\":", f);
    gg_json_string(f, command ? command : "");
    if (resumed_from >= 0) fprintf(f, ",\"resumed_from\":%lld", resumed_from);
    fputs("}\n", f);
    fflush(f);
}

void gg_metrics_event(gg_metrics *mx, int64_t step, const char *kind, const char *message) {
    fprintf(mx->f, "{\"type\":\"event\",\"step\":%lld,\"kind\":", (long long)step);
    gg_json_string(mx->f, kind);
    fputs(",\"message\":", mx->f);
    gg_json_string(mx->f, message);
    fputs("}\n", mx->f);
}

void gg_metrics_summary(gg_metrics *mx, int64_t steps, int epochs, double test_loss,
                        double test_acc, double seconds) {
    FILE *f = mx->f;
    fprintf(f, "{\"type\":\"summary\",\"steps\":%lld,\"epochs\":%d,\"test_loss\":", (long long)steps, epochs);
    gg_json_number(f, test_loss);
    fputs(",\"test_acc\":", f);
    gg_json_number(f, test_acc);
    fputs(",\"seconds\":", f);
    gg_json_number(f, seconds);
    fputs("}\n", f);
    fflush(f);
}
