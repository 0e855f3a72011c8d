/* The lab's reading of a finished run (its metrics.jsonl) and the verdict
 * rules:
 *   explodes  the run gave up, or its loss or test metric is not finite,
 *             or the training loss ended above where it started;
 *   vanishes  the guard diagnosed vanishing gradients (through the layers
 *             or through time) and the model did not learn;
 *   stalls    the training loss fell by less than 10% (or, classifying,
 *             the test accuracy is under twice chance);
 *   saved by the guard  a guard variant that trains, with guard actions,
 *             in a suite whose unguarded baseline explodes;
 *   trains    otherwise. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/lab.h"

const char *lab_verdict_name(lab_verdict v) {
    switch (v) {
    case LAB_TRAINS: return "trains";
    case LAB_VANISHES: return "vanishes";
    case LAB_EXPLODES: return "explodes";
    case LAB_STALLS: return "stalls";
    case LAB_SAVED: return "saved by the guard";
    case LAB_FAILED: return "failed to run";
    }
    return "?";
}

static double num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The gradient norms of the first and last weight tensors of a monitor block. */
static void monitor_block(json_t *params, lab_result *r) {
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach(params, key, v) {
        size_t n = strlen(key);
        if (n < 7 || strcmp(key + n - 7, ".weight") != 0) continue;
        double g = num(v, "grad_norm");
        if (first) r->grad_first = g;
        r->grad_last = g;
        first = false;
    }
}

int lab_read_run(const char *dir, lab_result *r) {
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    r->metric = r->loss_first = r->loss_last = r->grad_first = r->grad_last = NAN;
    double *loss = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    bool any_nonfinite_loss = false;
    json_t *order = NULL; /* keeps object key order: jansson preserves insertion order */
    (void)order;
    while (getline(&line, &lcap, f) > 0) {
        json_t *o = json_loads(line, JSON_DECODE_ANY, NULL);
        if (!o) continue;
        const char *type = json_string_value(json_object_get(o, "type"));
        if (type && !strcmp(type, "step")) {
            double l = num(o, "loss");
            if (!isfinite(l)) any_nonfinite_loss = true;
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                double *nl = realloc(loss, cap * sizeof *nl);
                if (!nl) break;
                loss = nl;
            }
            loss[n++] = l;
            json_t *p = json_object_get(o, "params");
            if (json_is_object(p)) monitor_block(p, r);
        } else if (type && !strcmp(type, "event")) {
            const char *k = json_string_value(json_object_get(o, "kind"));
            const char *m = json_string_value(json_object_get(o, "message"));
            if (!k) k = "";
            r->clips += !strcmp(k, "clip");
            r->skips += !strcmp(k, "skip");
            r->spikes += !strcmp(k, "spike");
            r->rollbacks += !strcmp(k, "rollback");
            r->lr_cuts += !strcmp(k, "lr_cut");
            r->backoffs += !strcmp(k, "lr_backoff");
            r->nonfinite += !strcmp(k, "nonfinite");
            if (!strcmp(k, "diagnosis") && m && !r->diagnosis[0])
                snprintf(r->diagnosis, sizeof r->diagnosis, "%s", m);
            if (!strcmp(k, "diagnosis") && m && strstr(m, "vanishing") && !strstr(r->diagnosis, "vanishing"))
                snprintf(r->diagnosis, sizeof r->diagnosis, "%s", m);
        } else if (type && !strcmp(type, "summary")) {
            double acc = num(o, "test_acc"), tl = num(o, "test_loss");
            r->classify = !isnan(acc);
            r->metric = r->classify ? acc : tl;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (n > 0) {
        size_t k = n / 10 ? n / 10 : 1;
        double a = 0, b = 0;
        for (size_t i = 0; i < k; i++) a += loss[i], b += loss[n - k + i];
        r->loss_first = a / (double)k;
        r->loss_last = b / (double)k;
        if (any_nonfinite_loss && !isfinite(r->loss_last)) r->loss_last = NAN;
        r->n_curve = n < LAB_CURVE ? (int)n : LAB_CURVE;
        for (int i = 0; i < r->n_curve; i++) {
            size_t lo = (size_t)i * n / (size_t)r->n_curve, hi = (size_t)(i + 1) * n / (size_t)r->n_curve;
            double s = 0;
            size_t c = 0;
            for (size_t j = lo; j < hi; j++)
                if (isfinite(loss[j])) s += loss[j], c++;
            r->curve[i] = c ? s / (double)c : NAN;
        }
    }
    free(loss);
    return 0;
}

static lab_verdict alone(const lab_result *r) {
    if (r->exit_code == 2 || r->exit_code == 3) return LAB_FAILED;
    if (r->exit_code == 1 || !isfinite(r->loss_last) || !isfinite(r->metric) ||
        r->loss_last > r->loss_first)
        return LAB_EXPLODES;
    bool learned = r->loss_last < 0.9 * r->loss_first && (!r->classify || r->metric >= 0.2);
    if (!learned && strstr(r->diagnosis, "vanishing")) return LAB_VANISHES;
    if (!learned) return LAB_STALLS;
    return LAB_TRAINS;
}

void lab_judge(const lab_row *rows, lab_result *res, int n) {
    bool baseline_exploded = false;
    for (int i = 0; i < n; i++) {
        res[i].verdict = alone(&res[i]);
        if (rows[i].baseline && res[i].verdict == LAB_EXPLODES) baseline_exploded = true;
    }
    for (int i = 0; i < n; i++) {
        const lab_result *r = &res[i];
        int acted = r->clips + r->skips + r->spikes + r->rollbacks + r->lr_cuts + r->backoffs;
        if (rows[i].guarded && baseline_exploded && r->verdict == LAB_TRAINS && acted > 0)
            res[i].verdict = LAB_SAVED;
    }
}
