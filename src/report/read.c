/* Reading a run directory for the report: metrics.jsonl streamed a line at
 * a time (one line in memory, parsed with jansson, reduced into the bounded
 * summaries of report_int.h and dropped), so a file of any length works in
 * the same memory. Unknown line types and unknown fields are ignored: a
 * newer writer's file still reads. A last line without its newline that
 * does not parse is a line being written (a run in progress) and is left
 * out; any other line that is not a JSON object is an error naming it.
 * compress.jsonl, optional, is read the same way, except that every line
 * must name its "type". */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "report/report_int.h"

#define RP_MAX_LINE ((size_t)64 << 20)

static char *join(const char *dir, const char *name, gg_error *err) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = gg_alloc(n, err);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static double num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int64_t integer(const json_t *o, const char *key, int64_t dflt) {
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v) && isfinite(json_real_value(v))) return (int64_t)json_real_value(v);
    return dflt;
}

static const char *string(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void copy_name(char *dst, size_t cap, const char *s) {
    snprintf(dst, cap, "%s", s ? s : "");
}

/* ---- events ---------------------------------------------------------------- */

const rp_evkind *rp_run_find_event(const rp_run *run, const char *name) {
    for (int i = 0; i < run->nev; i++)
        if (!strcmp(run->ev[i].name, name)) return &run->ev[i];
    return NULL;
}

rp_evkind *rp_run_event_kind(rp_run *run, const char *name) {
    for (int i = 0; i < run->nev; i++)
        if (!strcmp(run->ev[i].name, name)) return &run->ev[i];
    /* The last slot collects the kinds beyond the first ones. */
    if (run->nev >= RP_MAX_EVKINDS - 1 && strcmp(name, "other")) return rp_run_event_kind(run, "other");
    rp_evkind *k = &run->ev[run->nev];
    memset(k, 0, sizeof *k);
    copy_name(k->name, sizeof k->name, name);
    k->r = malloc(RP_RANGES_CAP * sizeof *k->r);
    k->mk = malloc(RP_MARKS_CAP * sizeof *k->mk);
    if (!k->r || !k->mk) {
        free(k->r);
        free(k->mk);
        return NULL;
    }
    k->gap = 1;
    k->mk_stride = 1;
    run->nev++;
    return k;
}

/* Ranges closer than the (doubled) gap merge, so the list stays bounded
 * and every event stays covered by one range. */
static void ranges_coarsen(rp_evkind *k) {
    k->gap *= 2;
    int n = 0;
    for (int i = 0; i < k->nr; i++) {
        if (n > 0 && k->r[i].a >= k->r[n - 1].a && k->r[i].a <= k->r[n - 1].b + k->gap) {
            if (k->r[i].b > k->r[n - 1].b) k->r[n - 1].b = k->r[i].b;
        } else {
            k->r[n++] = k->r[i];
        }
    }
    k->nr = n;
}

static void event_range(rp_evkind *k, int64_t step) {
    rp_range *last = k->nr ? &k->r[k->nr - 1] : NULL;
    if (last && step >= last->a && step <= last->b + k->gap) {
        if (step > last->b) last->b = step;
        return;
    }
    while (k->nr == RP_RANGES_CAP) ranges_coarsen(k);
    k->r[k->nr++] = (rp_range){step, step};
}

static void event_mark(rp_evkind *k, int64_t step, double y) {
    if (k->mk_seen++ % k->mk_stride != 0) return;
    if (k->nmk == RP_MARKS_CAP) {
        int n = 0;
        for (int i = 0; i < k->nmk; i += 2) k->mk[n++] = k->mk[i];
        k->nmk = n;
        k->mk_stride *= 2;
        if ((k->mk_seen - 1) % k->mk_stride != 0) return;
    }
    k->mk[k->nmk++] = (rp_pt){(double)step, y, step};
}

static bool marked_kind(const char *kind) {
    return !strcmp(kind, "spike") || !strcmp(kind, "skip") || !strcmp(kind, "nonfinite");
}

static gg_status row_set(rp_event_row *r, int64_t step, const char *kind, const char *msg,
                         gg_error *err) {
    free(r->message);
    r->step = step;
    copy_name(r->kind, sizeof r->kind, kind);
    r->message = gg_strdup(msg ? msg : "", err);
    return r->message ? GG_OK : GG_ERR_NOMEM;
}

static gg_status read_event(rp_run *run, const json_t *o, gg_error *err) {
    int64_t step = integer(o, "step", run->last_step);
    const char *kind = string(o, "kind");
    const char *msg = string(o, "message");
    if (!kind || !*kind) kind = "event";
    rp_evkind *k = rp_run_event_kind(run, kind);
    if (!k) return gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
    k->count++;
    run->events_total++;
    event_range(k, step);
    if (marked_kind(k->name))
        event_mark(k, step, run->last_grad_step == step ? run->last_grad_norm : NAN);
    if (!strcmp(kind, "diagnosis")) {
        if (run->ndiag > 0 && step != run->diag_step) {
            run->diag_earlier += run->ndiag;
            for (int i = 0; i < run->ndiag; i++) {
                free(run->diag[i].message);
                run->diag[i].message = NULL;
            }
            run->ndiag = 0;
        }
        run->diag_step = step;
        if (run->ndiag < RP_DIAG_CAP) {
            gg_status s = row_set(&run->diag[run->ndiag], step, kind, msg, err);
            if (s != GG_OK) return s;
            run->ndiag++;
        }
    }
    if (!strcmp(kind, "clip")) return GG_OK; /* summarised in the chart, not listed */
    if (run->nhead < RP_EVROWS_HEAD) return row_set(&run->head[run->nhead++], step, kind, msg, err);
    return row_set(&run->tail[run->ntail++ % RP_EVROWS_TAIL], step, kind, msg, err);
}

/* ---- monitoring ------------------------------------------------------------ */

static rp_param *param_of(rp_run *run, const char *name, int hint, gg_error *err) {
    if (hint < run->nparams && !strcmp(run->params[hint].name, name)) return &run->params[hint];
    for (int i = 0; i < run->nparams; i++)
        if (!strcmp(run->params[i].name, name)) return &run->params[i];
    if (gg_grow((void **)&run->params, run->nparams, &run->params_cap, sizeof *run->params,
                "report parameters", err) != GG_OK)
        return NULL;
    rp_param *p = &run->params[run->nparams];
    memset(p, 0, sizeof *p);
    p->name = gg_strdup(name, err);
    if (!p->name) return NULL;
    if (rp_series_init(&p->grad, true, err) != GG_OK ||
        rp_series_init(&p->ratio, true, err) != GG_OK || rp_heat_add_row(&run->heat, err) != GG_OK) {
        rp_series_free(&p->grad);
        rp_series_free(&p->ratio);
        free(p->name);
        return NULL;
    }
    p->row = run->heat.nrows - 1;
    p->last_grad = p->last_weight = p->last_ratio = NAN;
    p->max_grad = -INFINITY;
    run->nparams++;
    return p;
}

static rp_act *act_of(rp_run *run, int layer, const char *kind, gg_error *err) {
    for (int i = 0; i < run->nacts; i++)
        if (run->acts[i].layer == layer && !strcmp(run->acts[i].kind, kind ? kind : ""))
            return &run->acts[i];
    if (gg_grow((void **)&run->acts, run->nacts, &run->acts_cap, sizeof *run->acts,
                "report layers", err) != GG_OK)
        return NULL;
    rp_act *a = &run->acts[run->nacts];
    memset(a, 0, sizeof *a);
    a->layer = layer;
    copy_name(a->kind, sizeof a->kind, kind);
    if (rp_series_init(&a->dead, false, err) != GG_OK || rp_series_init(&a->sat, false, err) != GG_OK) {
        rp_series_free(&a->dead);
        return NULL;
    }
    run->nacts++;
    return a;
}

static gg_status read_monitor(rp_run *run, double x, const json_t *params, const json_t *layers,
                              gg_error *err) {
    run->monitor_lines++;
    int col = rp_heat_sample(&run->heat, x);
    const char *name;
    const json_t *v;
    int i = 0;
    json_object_foreach((json_t *)params, name, v) {
        rp_param *p = param_of(run, name, i++, err);
        if (!p) return err ? err->code : GG_ERR_NOMEM;
        double g = num(v, "grad_norm"), r = num(v, "update_ratio"), w = num(v, "weight_norm");
        rp_series_add(&p->grad, x, g, 0);
        rp_series_add(&p->ratio, x, r, 0);
        rp_heat_put(&run->heat, p->row, col, g);
        p->nonfinite += integer(v, "nonfinite", 0);
        p->last_grad = g;
        p->last_weight = w;
        p->last_ratio = r;
        if (g > p->max_grad) p->max_grad = g;
    }
    size_t k;
    json_array_foreach((json_t *)layers, k, v) {
        if (!json_is_object(v)) continue;
        rp_act *a = act_of(run, (int)integer(v, "layer", -1), string(v, "kind"), err);
        if (!a) return err ? err->code : GG_ERR_NOMEM;
        double d = num(v, "dead_frac"), s = num(v, "saturated_frac");
        if (isfinite(d)) a->has_dead = true;
        if (isfinite(s)) a->has_sat = true;
        rp_series_add(&a->dead, x, d, 0);
        rp_series_add(&a->sat, x, s, 0);
    }
    return GG_OK;
}

/* ---- lines ----------------------------------------------------------------- */

static gg_status read_step(rp_run *run, const json_t *o, gg_error *err) {
    int64_t step = integer(o, "step", run->last_step + 1);
    double x = (double)step;
    if (run->step_lines == 0) run->first_step = step;
    run->step_lines++;
    run->last_step = step;
    double g = num(o, "grad_norm");
    rp_series_add(&run->loss, x, num(o, "loss"), 0);
    rp_series_add(&run->lr, x, num(o, "lr"), 0);
    rp_series_add(&run->grad_norm, x, g, 0);
    double sp = num(o, "sparsity");
    if (isfinite(sp)) {
        run->has_sparsity = true;
        rp_series_add(&run->sparsity, x, sp, 0);
    }
    if (json_object_get(o, "momentum")) {
        run->has_momentum = true;
        rp_series_add(&run->momentum, x, num(o, "momentum"), 0);
    }
    run->last_grad_norm = g;
    run->last_grad_step = step;
    if (json_is_true(json_object_get(o, "skipped"))) run->skipped_steps++;
    if (integer(o, "nonfinite", 0) > 0 || !isfinite(num(o, "loss"))) run->nonfinite_steps++;
    int64_t ep = integer(o, "epoch", -1);
    if (ep > run->max_epoch_seen) run->max_epoch_seen = ep;
    const json_t *params = json_object_get(o, "params");
    if (json_is_object(params) && json_object_size(params) > 0)
        return read_monitor(run, x, params, json_object_get(o, "layers"), err);
    return GG_OK;
}

static void read_epoch(rp_run *run, const json_t *o) {
    rp_epoch_row r = {
        .epoch = integer(o, "epoch", (int64_t)run->epoch_lines + 1),
        .step = run->step_lines ? run->last_step : 0,
        .train_loss = num(o, "train_loss"),
        .train_acc = num(o, "train_acc"),
        .val_loss = num(o, "val_loss"),
        .val_acc = num(o, "val_acc"),
        .samples_per_s = num(o, "samples_per_s"),
        .lr = num(o, "lr"),
        .sparsity = num(o, "sparsity"),
        .ord = run->ep_seen,
    };
    double x = (double)r.step;
    rp_series_add(&run->ep_train_loss, x, r.train_loss, r.epoch);
    rp_series_add(&run->ep_val_loss, x, r.val_loss, r.epoch);
    rp_series_add(&run->ep_train_acc, x, r.train_acc, r.epoch);
    rp_series_add(&run->ep_val_acc, x, r.val_acc, r.epoch);
    if (isfinite(r.sparsity)) {
        run->has_sparsity = true;
        rp_series_add(&run->ep_sparsity, x, r.sparsity, r.epoch);
        rp_series_add(&run->sp_train_acc, r.sparsity, r.train_acc, r.epoch);
        rp_series_add(&run->sp_val_acc, r.sparsity, r.val_acc, r.epoch);
    }
    run->epoch_lines++;
    run->last_epoch = r;
    /* The table keeps every stride-th epoch; when full, every other one of
     * those, so it spans the whole run. */
    if (run->ep_seen++ % run->ep_stride != 0) return;
    if (run->n_ep_rows == RP_EPOCH_ROWS_CAP) {
        int n = 0;
        run->ep_stride *= 2;
        for (int i = 0; i < run->n_ep_rows; i++)
            if (run->ep_rows[i].ord % run->ep_stride == 0) run->ep_rows[n++] = run->ep_rows[i];
        run->n_ep_rows = n;
        if (r.ord % run->ep_stride != 0) return;
    }
    run->ep_rows[run->n_ep_rows++] = r;
}

static void read_summary(rp_run *run, const json_t *o) {
    run->has_summary = true;
    run->sum_steps = integer(o, "steps", run->last_step);
    run->sum_epochs = integer(o, "epochs", -1);
    run->test_loss = num(o, "test_loss");
    run->test_acc = num(o, "test_acc");
    run->seconds = num(o, "seconds");
}

static void env_free(rp_run *run) {
    for (int i = 0; i < run->nenv; i++) {
        free(run->env[i].key);
        free(run->env[i].value);
    }
    free(run->env);
    run->env = NULL;
    run->nenv = 0;
}

/* The run header (see docs/report.md): the latest one wins. */
static gg_status read_header(rp_run *run, const json_t *o, gg_error *err) {
    env_free(run);
    run->run_lines++;
    size_t n = json_object_size(o);
    run->env = gg_alloc((n ? n : 1) * sizeof *run->env, err);
    if (!run->env) return GG_ERR_NOMEM;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (!strcmp(key, "type")) continue;
        char *text;
        char buf[64];
        if (json_is_string(v)) text = gg_strdup(json_string_value(v), err);
        else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            text = gg_strdup(buf, err);
        } else if (json_is_real(v)) {
            snprintf(buf, sizeof buf, "%.9g", json_real_value(v));
            text = gg_strdup(buf, err);
        } else {
            char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            text = gg_strdup(d ? d : "", err);
            free(d);
        }
        char *k = text ? gg_strdup(key, err) : NULL;
        if (!k) {
            free(text);
            return GG_ERR_NOMEM;
        }
        run->env[run->nenv++] = (rp_kv){k, text};
    }
    return GG_OK;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "an object";
    }
}

static gg_status read_line(void *ctx, const json_t *o, size_t lineno, gg_error *err) {
    rp_run *run = ctx;
    if (!json_is_object(o))
        return gg_fail(err, GG_ERR_DATA, "%s:%zu: expected a JSON object, found %s",
                       run->metrics_path, lineno, json_kind(o));
    const char *type = string(o, "type");
    if (!type) type = "";
    if (!strcmp(type, "step")) return read_step(run, o, err);
    if (!strcmp(type, "event")) return read_event(run, o, err);
    if (!strcmp(type, "epoch")) read_epoch(run, o);
    else if (!strcmp(type, "summary")) read_summary(run, o);
    else if (!strcmp(type, "run")) return read_header(run, o, err);
    else run->unknown_lines++;
    return GG_OK;
}

/* ---- JSON Lines ------------------------------------------------------------ */

typedef gg_status (*line_fn)(void *ctx, const json_t *o, size_t lineno, gg_error *err);

/* Calls fn with each line of path parsed (blank lines skipped), counting
 * them in *lines when given. A last line without its newline that does not
 * parse is being written: left out, and *partial set. Any other line that
 * is not JSON is an error naming it. */
static gg_status read_jsonl(const char *path, line_fn fn, void *ctx, size_t *lines, bool *partial,
                            gg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", path, strerror(errno));
    gg_status s = GG_OK;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    errno = 0;
    while (s == GG_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (lines) *lines = lineno;
        bool terminated = len > 0 && line[len - 1] == '\n';
        size_t n = (size_t)len;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == n) continue;
        if (n > RP_MAX_LINE) {
            s = gg_fail(err, GG_ERR_DATA, "%s:%zu: line longer than %zu MiB", path, lineno,
                        RP_MAX_LINE >> 20);
            break;
        }
        json_error_t je;
        json_t *o = json_loadb(line, n, 0, &je);
        if (!o) {
            if (!terminated) {
                *partial = true;
                break;
            }
            s = gg_fail(err, GG_ERR_DATA, "%s:%zu: not valid JSON: %s (column %d)", path, lineno,
                        je.text, je.column);
            break;
        }
        s = fn(ctx, o, lineno, err);
        json_decref(o);
        errno = 0;
    }
    if (s == GG_OK && ferror(f)) {
        s = gg_fail(err, errno == EISDIR ? GG_ERR_DATA : GG_ERR_IO, "%s: read failed: %s", path,
                    strerror(errno ? errno : EIO));
    }
    free(line);
    fclose(f);
    return s;
}

/* ---- compress.jsonl ------------------------------------------------------------ */

static void compress_free(rp_compress *c) {
    free(c->path);
    free(c->model);
    free(c->scope);
    free(c->int8_kernel);
    memset(c, 0, sizeof *c);
}

/* A string field copied (NULL when absent); false only when out of memory. */
static bool dup_field(char **dst, const json_t *o, const char *key, gg_error *err) {
    free(*dst);
    *dst = NULL;
    const char *v = string(o, key);
    if (!v) return true;
    *dst = gg_strdup(v, err);
    return *dst != NULL;
}

/* A header starts a new sweep: its settings replace the last ones and the
 * rows start over, so an appended file shows its latest sweep. */
static gg_status compress_header(rp_compress *c, const json_t *o, gg_error *err) {
    c->has_header = true;
    c->nrows = 0;
    c->rows_dropped = 0;
    if (!dup_field(&c->model, o, "model", err) || !dup_field(&c->scope, o, "scope", err) ||
        !dup_field(&c->int8_kernel, o, "int8_kernel", err))
        return GG_ERR_NOMEM;
    const json_t *st = json_object_get(o, "structured");
    c->structured = json_is_boolean(st) ? json_is_true(st) : -1;
    c->finetune_epochs = integer(o, "finetune_epochs", -1);
    c->test_samples = integer(o, "test_samples", -1);
    c->calib_samples = integer(o, "calib_samples", -1);
    c->eval_batch = integer(o, "eval_batch", -1);
    return GG_OK;
}

static void compress_row(rp_compress *c, const json_t *o) {
    if (c->nrows == RP_COMPRESS_ROWS_CAP) {
        c->rows_dropped++;
        return;
    }
    c->rows[c->nrows++] = (rp_compress_row){
        .sparsity = num(o, "sparsity"),
        .reached = num(o, "reached"),
        .oneshot_acc = num(o, "oneshot_accuracy"),
        .finetuned_acc = num(o, "finetuned_accuracy"),
        .int8_acc = num(o, "int8_accuracy"),
        .float_bytes = num(o, "float_bytes"),
        .int8_bytes = num(o, "int8_bytes"),
        .float_sps = num(o, "float_samples_per_s"),
        .int8_sps = num(o, "int8_samples_per_s"),
    };
}

static gg_status compress_line(void *ctx, const json_t *o, size_t lineno, gg_error *err) {
    rp_compress *c = ctx;
    if (!json_is_object(o))
        return gg_fail(err, GG_ERR_DATA, "%s:%zu: expected a JSON object, found %s", c->path, lineno,
                       json_kind(o));
    const char *type = string(o, "type");
    if (!type)
        return gg_fail(err, GG_ERR_DATA, "%s:%zu: no \"type\" (expected \"compress_run\" or \"compress\")",
                       c->path, lineno);
    if (!strcmp(type, "compress_run")) return compress_header(c, o, err);
    if (!strcmp(type, "compress")) compress_row(c, o);
    return GG_OK; /* other types: a newer writer's, ignored */
}

/* RUN_DIR/compress.jsonl is optional: no file, no section. */
static gg_status read_compress(rp_run *run, gg_error *err) {
    rp_compress *c = &run->compress;
    c->structured = -1;
    c->finetune_epochs = c->test_samples = c->calib_samples = c->eval_batch = -1;
    if (!(c->path = join(run->dir, "compress.jsonl", err))) return GG_ERR_NOMEM;
    struct stat st;
    if (stat(c->path, &st) != 0) {
        if (errno == ENOENT) return GG_OK;
        return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", c->path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return gg_fail(err, GG_ERR_DATA, "%s: not a regular file", c->path);
    c->present = true;
    return read_jsonl(c->path, compress_line, c, NULL, &c->partial_last_line, err);
}

static gg_status run_init(rp_run *run, const char *dir, gg_error *err) {
    memset(run, 0, sizeof *run);
    run->first_step = run->last_step = 0;
    run->last_grad_step = -1;
    run->max_epoch_seen = -1;
    run->ep_stride = 1;
    run->test_loss = run->test_acc = run->seconds = NAN;
    run->last_epoch.train_loss = run->last_epoch.train_acc = NAN;
    run->last_epoch.val_loss = run->last_epoch.val_acc = NAN;
    run->last_epoch.samples_per_s = run->last_epoch.lr = NAN;
    run->last_epoch.sparsity = NAN;
    if (!(run->dir = gg_strdup(dir, err))) return GG_ERR_NOMEM;
    if (!(run->metrics_path = join(dir, "metrics.jsonl", err))) return GG_ERR_NOMEM;
    if (!(run->config_path = join(dir, "config.yaml", err))) return GG_ERR_NOMEM;
    gg_status s;
    if ((s = rp_series_init(&run->loss, false, err)) || (s = rp_series_init(&run->lr, false, err)) ||
        (s = rp_series_init(&run->grad_norm, true, err)) ||
        (s = rp_series_init(&run->momentum, false, err)) ||
        (s = rp_series_init(&run->ep_train_loss, false, err)) ||
        (s = rp_series_init(&run->ep_val_loss, false, err)) ||
        (s = rp_series_init(&run->ep_train_acc, false, err)) ||
        (s = rp_series_init(&run->ep_val_acc, false, err)) || (s = rp_heat_init(&run->heat, err)) ||
        (s = rp_series_init(&run->sparsity, false, err)) ||
        (s = rp_series_init(&run->ep_sparsity, false, err)) ||
        (s = rp_series_init(&run->sp_train_acc, false, err)) ||
        (s = rp_series_init(&run->sp_val_acc, false, err)))
        return s;
    run->ep_rows = gg_alloc(RP_EPOCH_ROWS_CAP * sizeof *run->ep_rows, err);
    return run->ep_rows ? GG_OK : GG_ERR_NOMEM;
}

void rp_run_free(rp_run *run) {
    rp_series_free(&run->loss);
    rp_series_free(&run->lr);
    rp_series_free(&run->grad_norm);
    rp_series_free(&run->momentum);
    rp_series_free(&run->ep_train_loss);
    rp_series_free(&run->ep_val_loss);
    rp_series_free(&run->ep_train_acc);
    rp_series_free(&run->ep_val_acc);
    rp_series_free(&run->sparsity);
    rp_series_free(&run->ep_sparsity);
    rp_series_free(&run->sp_train_acc);
    rp_series_free(&run->sp_val_acc);
    compress_free(&run->compress);
    rp_heat_free(&run->heat);
    for (int i = 0; i < run->nparams; i++) {
        free(run->params[i].name);
        rp_series_free(&run->params[i].grad);
        rp_series_free(&run->params[i].ratio);
    }
    free(run->params);
    for (int i = 0; i < run->nacts; i++) {
        rp_series_free(&run->acts[i].dead);
        rp_series_free(&run->acts[i].sat);
    }
    free(run->acts);
    for (int i = 0; i < run->nev; i++) {
        free(run->ev[i].r);
        free(run->ev[i].mk);
    }
    for (int i = 0; i < RP_EVROWS_HEAD; i++) free(run->head[i].message);
    for (int i = 0; i < RP_EVROWS_TAIL; i++) free(run->tail[i].message);
    for (int i = 0; i < RP_DIAG_CAP; i++) free(run->diag[i].message);
    free(run->ep_rows);
    env_free(run);
    free(run->dir);
    free(run->metrics_path);
    free(run->config_path);
    memset(run, 0, sizeof *run);
}

/* ---- the run directory ------------------------------------------------------------ */

gg_status rp_read_run(const char *run_dir, rp_run *run, gg_error *err) {
    gg_status s = run_init(run, run_dir, err);
    if (s != GG_OK) return s;
    const char *path = run->metrics_path;
    struct stat st;
    if (stat(run_dir, &st) != 0)
        return gg_fail(err, gg_open_error(errno), "%s: cannot open the run directory: %s", run_dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return gg_fail(err, GG_ERR_DATA, "%s: not a directory (expected a run directory)", run_dir);
    if (stat(path, &st) != 0)
        return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s (not a run directory?)", path,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gg_fail(err, GG_ERR_DATA, "%s: not a regular file", path);
    s = read_jsonl(path, read_line, run, &run->lines, &run->partial_last_line, err);
    return s == GG_OK ? read_compress(run, err) : s;
}
