/* The report page: read the run (read.c), then write one HTML file with
 * its style sheet, charts (svg.c), tables and script inline, through a
 * temporary file renamed over the target. Text from the run's files is
 * always escaped (rp_html, rp_json_str). Layout: summary cards, the
 * diagnosis in plain words, the charts in a responsive grid (wide charts
 * are drawn twice, wide and compact, and CSS shows the one that fits), the
 * events, the epochs, the compression lab's table (when the run has a
 * compress.jsonl), the config and the environment. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "core/core.h"
#include "io/config.h"
#include "io/io.h"
#include "report/report.h"
#include "report/report_int.h"
#include "report/svg.h"

#define CHART_POINTS 2000 /* per chart, all series together (48 at least per series) */
#define SERIES_MIN_POINTS 48
#define W_NARROW 640
#define H_NARROW 320
#define W_WIDE 1240
#define H_WIDE 340
#define HEAT_COLS 160 /* both drawings: the hover read-out uses one data block */
#define CONFIG_MAX ((size_t)2 << 20)

/* What the report takes from config.yaml when the project can read it. */
typedef struct hints {
    bool loaded;
    bool clip_norm;   /* global_norm clipping at max_norm */
    double max_norm;
    char clip_mode[24];
    bool backoff;
    double backoff_threshold;
    int monitor_every;
    int batch_size;
    char loss[32], optimizer[24];
    double lr;
} hints;

static void load_hints(const char *path, hints *h) {
    memset(h, 0, sizeof *h);
    h->monitor_every = -1;
    gg_config *c = gg_config_new_default();
    if (!c) return;
    if (gg_config_load_file(c, path, NULL) == GG_OK) {
        h->loaded = true;
        snprintf(h->clip_mode, sizeof h->clip_mode, "%s", gg_clip_mode_name(c->guard.clip.mode));
        h->clip_norm = c->guard.enabled && c->guard.clip.mode == GG_CLIP_MODE_GLOBAL_NORM;
        h->max_norm = c->guard.clip.max_norm;
        h->backoff = c->guard.enabled && c->guard.backoff.enabled;
        h->backoff_threshold = c->guard.backoff.threshold;
        h->monitor_every = c->guard.enabled ? c->guard.monitor.every : 0;
        h->batch_size = c->train.batch_size;
        snprintf(h->loss, sizeof h->loss, "%s", gg_loss_name(c->loss));
        snprintf(h->optimizer, sizeof h->optimizer, "%s", gg_optim_name(c->optimizer.name));
        h->lr = c->optimizer.lr;
    }
    gg_config_free(c);
}

/* ---- small helpers -------------------------------------------------------- */

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A JSON source descriptor {"type":"step",["param"|"layer":..,]"field":..}. */
static char *source_json(const char *type, const char *param, int layer, const char *field) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return NULL;
    fprintf(m, "{\"type\":\"%s\"", type);
    if (param) {
        fputs(",\"param\":", m);
        rp_json_str(m, param);
    }
    if (layer >= 0) fprintf(m, ",\"layer\":%d", layer);
    fputs(",\"field\":", m);
    rp_json_str(m, field);
    fputc('}', m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void pct_text(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.2f%%", 100 * v);
    else snprintf(buf, n, "n/a");
}

static bool is_bias(const char *name) {
    const char *dot = strrchr(name, '.');
    return !strncmp(dot ? dot + 1 : name, "bias", 4);
}

static const char *event_class(const char *kind) {
    static const struct {
        const char *kind, *cls;
    } map[] = {{"clip", "ev-clip"},        {"skip", "ev-skip"},         {"spike", "ev-spike"},
               {"nonfinite", "ev-nonfinite"}, {"rollback", "ev-rollback"}, {"lr_cut", "ev-lr"},
               {"lr_backoff", "ev-lr"},    {"plateau", "ev-lr"},        {"gave_up", "ev-fail"},
               {"early_stop", "ev-stop"},  {"restore_best", "ev-stop"}, {"stopped", "ev-stop"},
               {"diagnosis", "ev-diag"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(kind, map[i].kind)) return map[i].cls;
    return "ev-other";
}

/* Lanes in a fixed order, then any other kind in order of appearance. */
static int event_order(const char *kind) {
    static const char *const order[] = {"clip", "skip", "spike", "nonfinite", "lr_cut", "lr_backoff",
                                        "plateau", "rollback", "gave_up", "early_stop",
                                        "restore_best", "stopped"};
    for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
        if (!strcmp(kind, order[i])) return i;
    return 100;
}

/* ---- sets of lines ---------------------------------------------------------- */

typedef struct lineset {
    rp_line l[512];
    const rp_series *ser[512];
    int n;
    bool oom;
} lineset;

static void ls_add(lineset *ls, const rp_series *s, char *label, const char *cls, rp_style st,
                   char *source, bool epoch_tags) {
    if (ls->n == (int)(sizeof ls->l / sizeof *ls->l) || !label || !source) {
        ls->oom |= !label || !source;
        free(label);
        free(source);
        return;
    }
    if (s->n == 0) { /* nothing to draw */
        free(label);
        free(source);
        return;
    }
    ls->ser[ls->n] = s;
    ls->l[ls->n] = (rp_line){.label = label, .cls = cls, .style = st, .source = source,
                             .epoch_tags = epoch_tags};
    ls->n++;
}

/* Points per line so that the chart stays within CHART_POINTS: series
 * that fit take what they have, the rest share what is left. */
static void ls_points(lineset *ls) {
    int want[512], give[512], left = CHART_POINTS, open = ls->n;
    for (int i = 0; i < ls->n; i++) {
        want[i] = rp_series_points_max(ls->ser[i]);
        give[i] = -1;
    }
    bool changed = true;
    while (changed && open > 0) {
        changed = false;
        int share = left / open > SERIES_MIN_POINTS ? left / open : SERIES_MIN_POINTS;
        for (int i = 0; i < ls->n; i++)
            if (give[i] < 0 && want[i] <= share) {
                give[i] = want[i];
                left -= want[i];
                open--;
                changed = true;
            }
    }
    int share = open > 0 ? (left / open > SERIES_MIN_POINTS ? left / open : SERIES_MIN_POINTS) : 0;
    for (int i = 0; i < ls->n; i++) {
        int b = give[i] < 0 ? share : give[i];
        rp_pt *p = malloc((size_t)(b > 4 ? b : 4) * sizeof *p);
        if (!p) {
            ls->oom = true;
            ls->l[i].n = 0;
            continue;
        }
        ls->l[i].n = rp_series_points(ls->ser[i], b, p);
        ls->l[i].p = p;
    }
}

static void ls_free(lineset *ls) {
    for (int i = 0; i < ls->n; i++) {
        free((void *)ls->l[i].label);
        free((void *)ls->l[i].source);
        free((void *)ls->l[i].p);
    }
    ls->n = 0;
}

/* Colours for n series of one family: categories up to 8, else a ramp from
 * the input side to the output side. */
static const char *family_class(int i, int n) {
    static const char *const cat[8] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    static const char *const depth[RP_DEPTH_LEVELS] = {"d0", "d1", "d2",  "d3",  "d4",  "d5",
                                                       "d6", "d7", "d8",  "d9",  "d10", "d11",
                                                       "d12", "d13", "d14", "d15"};
    if (n <= 8) return cat[i % 8];
    return depth[n > 1 ? (int)lround((double)i * (RP_DEPTH_LEVELS - 1) / (n - 1)) : 0];
}

/* ---- page pieces ------------------------------------------------------------ */

typedef struct page {
    FILE *f;
    rp_run *run;
    hints h;
    double x_lo, x_hi;
    double *vrules;
    int nvrules;
} page;

static void legend_line(FILE *f, const rp_line *l) {
    const char *sw = l->style == RP_STYLE_THIN ? "sw thin" : l->style == RP_STYLE_DASHED ? "sw dash" : "sw";
    fprintf(f, "<span class=\"li %s\"><i class=\"%s\"></i>", l->cls, sw);
    rp_html(f, l->label);
    fputs("</span>", f);
}

static void legend_lines(FILE *f, const lineset *ls) {
    fputs("<div class=\"legend\">", f);
    for (int i = 0; i < ls->n; i++) legend_line(f, &ls->l[i]);
}

static void legend_ramp(FILE *f, const char *from, const char *to) {
    fputs("<span class=\"li\">", f);
    rp_html(f, from);
    fputs("<span class=\"ramp\">", f);
    for (int i = 0; i < RP_DEPTH_LEVELS; i++) fprintf(f, "<i class=\"d%d\"></i>", i);
    fputs("</span>", f);
    rp_html(f, to);
    fputs("</span>", f);
}

static void legend_lanes(FILE *f, const rp_lane *lanes, int n) {
    for (int i = 0; i < n; i++) {
        char cnt[32];
        rp_fmt_count(cnt, sizeof cnt, (double)lanes[i].k->count);
        fprintf(f, "<span class=\"li %s\"><i class=\"sw box\"></i>", lanes[i].cls);
        rp_html(f, lanes[i].k->name);
        fprintf(f, " (%s)</span>", cnt);
    }
}

static void card_open(FILE *f, const char *id, const char *title, bool wide, const char *unit) {
    fprintf(f, "<section class=\"card%s\" id=\"sec-%s\"><h2>", wide ? " wide" : "", id);
    rp_html(f, title);
    fputs("</h2><p class=\"unit\">", f);
    rp_html(f, unit);
    fputs("</p>", f);
}

static void placeholder(FILE *f, const char *text) {
    fputs("<p class=\"empty\">", f);
    rp_html(f, text);
    fputs("</p>", f);
}

/* A chart at its size: a wide one twice, wide and compact (CSS shows one). */
static void render(FILE *f, rp_chart *c, bool wide) {
    fputs("<div class=\"chart-box\">", f);
    if (wide) {
        c->width = W_WIDE;
        c->height = H_WIDE;
        c->variant = NULL;
        fputs("<div class=\"v-wide\">", f);
        rp_svg_chart(f, c);
        fputs("</div><div class=\"v-compact\">", f);
        c->width = W_NARROW;
        c->height = H_NARROW;
        c->variant = "c";
        rp_svg_chart(f, c);
        fputs("</div>", f);
    } else {
        c->width = W_NARROW;
        c->height = H_NARROW;
        c->variant = NULL;
        rp_svg_chart(f, c);
    }
    fputs("</div>", f);
}

/* A chart against the training step: the x domain shared by all of them,
 * so they line up, and the epoch ends. */
static void draw(page *pg, rp_chart *c, bool wide) {
    c->x_lo = pg->x_lo;
    c->x_hi = pg->x_hi;
    c->vrules = pg->vrules;
    c->nvrules = pg->nvrules;
    render(pg->f, c, wide);
}

/* A chart against sparsity: x from lo to hi as fractions, labelled in %. */
static void draw_sparsity(page *pg, rp_chart *c, double lo, double hi, bool wide) {
    c->x_lo = lo;
    c->x_hi = hi;
    c->x_label = "sparsity";
    c->x_percent = true;
    render(pg->f, c, wide);
}

/* ---- charts ----------------------------------------------------------------- */

static void chart_loss(page *pg) {
    rp_run *r = pg->run;
    lineset *ls = calloc(1, sizeof *ls);
    char unit[160];
    snprintf(unit, sizeof unit, "%s%s%s against the training step; dotted lines mark epoch ends",
             pg->h.loaded ? "Loss (" : "Loss", pg->h.loaded ? pg->h.loss : "",
             pg->h.loaded ? ")" : "");
    card_open(pg->f, "loss", "Loss", false, unit);
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->loss, dupf("train, per step"), "c0", RP_STYLE_THIN, source_json("step", NULL, -1, "loss"), false);
    ls_add(ls, &r->ep_train_loss, dupf("train, per epoch"), "c0", RP_STYLE_POINTS,
           source_json("epoch", NULL, -1, "train_loss"), true);
    ls_add(ls, &r->ep_val_loss, dupf("validation, per epoch"), "c1", RP_STYLE_POINTS,
           source_json("epoch", NULL, -1, "val_loss"), true);
    ls_points(ls);
    if (ls->n == 0) {
        placeholder(pg->f, r->loss.n_nonfinite ? "Every loss recorded was non-finite (NaN or Inf)."
                                               : "No loss was recorded yet.");
    } else {
        legend_lines(pg->f, ls);
        fputs("</div>", pg->f);
        rp_chart c = {.id = "loss", .title = "Loss per step and per epoch", .y_label = "loss",
                      .y_scale = -1, .y_zero = true, .lines = ls->l, .nlines = ls->n};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

static void chart_accuracy(page *pg) {
    rp_run *r = pg->run;
    lineset *ls = calloc(1, sizeof *ls);
    card_open(pg->f, "accuracy", "Accuracy", false,
              "Classification accuracy at each epoch's end, in %; the dashed line is the test set's");
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->ep_train_acc, dupf("train"), "c0", RP_STYLE_POINTS,
           source_json("epoch", NULL, -1, "train_acc"), true);
    ls_add(ls, &r->ep_val_acc, dupf("validation"), "c1", RP_STYLE_POINTS,
           source_json("epoch", NULL, -1, "val_acc"), true);
    ls_points(ls);
    char lbl[64];
    rp_hline test = {.y = r->test_acc, .label = lbl, .cls = "test"};
    pct_text(lbl + 5, sizeof lbl - 5, r->test_acc);
    memcpy(lbl, "test ", 5);
    if (ls->n == 0) {
        placeholder(pg->f, r->epoch_lines ? "No accuracy in this run: the loss is not a classification loss."
                                          : "No epoch has finished yet: accuracy is measured at each epoch's end.");
    } else {
        legend_lines(pg->f, ls);
        if (isfinite(r->test_acc)) fputs("<span class=\"li\"><i class=\"sw dash c7\"></i>test</span>", pg->f);
        fputs("</div>", pg->f);
        rp_chart c = {.id = "accuracy", .title = "Accuracy per epoch", .y_label = "accuracy",
                      .y_scale = 0, .y_percent = true, .y_clamp01 = true, .lines = ls->l,
                      .nlines = ls->n, .hlines = &test, .nhlines = isfinite(r->test_acc) ? 1 : 0};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

/* Pruning, for runs whose lines carry "sparsity" (others get no card). */
static void chart_sparsity(page *pg) {
    rp_run *r = pg->run;
    if (!r->has_sparsity) return;
    lineset *ls = calloc(1, sizeof *ls);
    card_open(pg->f, "sparsity", "Pruning: sparsity", false,
              "Share of the prunable weights that are exactly zero after each step, in %");
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->sparsity, dupf("per step"), "c3", RP_STYLE_LINE, source_json("step", NULL, -1, "sparsity"),
           false);
    ls_add(ls, &r->ep_sparsity, dupf("at epoch end"), "c3", RP_STYLE_POINTS,
           source_json("epoch", NULL, -1, "sparsity"), true);
    ls_points(ls);
    if (ls->n == 0) {
        placeholder(pg->f, "Out of memory.");
    } else {
        legend_lines(pg->f, ls);
        fputs("</div>", pg->f);
        rp_chart c = {.id = "sparsity", .title = "Sparsity per step", .y_label = "sparsity", .y_scale = 0,
                      .y_percent = true, .y_clamp01 = true, .y_zero = true, .lines = ls->l, .nlines = ls->n};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

/* What pruning cost: each epoch's accuracy at the sparsity it had reached. */
static void chart_accuracy_sparsity(page *pg) {
    rp_run *r = pg->run;
    if (!r->has_sparsity) return;
    lineset *ls = calloc(1, sizeof *ls);
    card_open(pg->f, "accuracy-sparsity", "Pruning: accuracy against sparsity", false,
              "Accuracy at each epoch's end against the sparsity reached then, both in %; "
              "points joined in epoch order");
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->sp_train_acc, dupf("train"), "c0", RP_STYLE_POINTS,
           dupf("{\"type\":\"epoch\",\"field\":\"train_acc\",\"x_field\":\"sparsity\"}"), true);
    ls_add(ls, &r->sp_val_acc, dupf("validation"), "c1", RP_STYLE_POINTS,
           dupf("{\"type\":\"epoch\",\"field\":\"val_acc\",\"x_field\":\"sparsity\"}"), true);
    ls_points(ls);
    if (ls->n == 0) {
        placeholder(pg->f, r->ep_sparsity.n
                               ? "No accuracy in this run: the loss is not a classification loss."
                               : "No epoch has finished yet: accuracy is measured at each epoch's end.");
    } else {
        legend_lines(pg->f, ls);
        fputs("</div>", pg->f);
        /* the sparsities reached, widened to nice numbers within 0..100% */
        rp_axis a;
        rp_axis_fit(&a, r->ep_sparsity.ymin, r->ep_sparsity.ymax, false);
        rp_chart c = {.id = "accuracy-sparsity", .title = "Accuracy against sparsity, per epoch",
                      .y_label = "accuracy", .y_scale = 0, .y_percent = true, .y_clamp01 = true,
                      .lines = ls->l, .nlines = ls->n};
        draw_sparsity(pg, &c, a.lo < 0 ? 0 : a.lo, a.hi > 1 ? 1 : a.hi, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

static int lanes_for(const rp_run *r, rp_lane *lanes, int max, const char *const *only) {
    int n = 0;
    int idx[RP_MAX_EVKINDS];
    for (int i = 0; i < r->nev; i++) {
        const char *k = r->ev[i].name;
        if (!strcmp(k, "diagnosis")) continue;
        if (only) {
            bool in = false;
            for (const char *const *o = only; *o; o++) in |= !strcmp(*o, k);
            if (!in) continue;
        }
        idx[n++] = i;
    }
    /* stable insertion sort by the fixed order */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && event_order(r->ev[idx[j]].name) < event_order(r->ev[idx[j - 1]].name); j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        const rp_evkind *k = &r->ev[idx[i]];
        lanes[i] = (rp_lane){.k = k, .cls = event_class(k->name),
                             .marks = !strcmp(k->name, "spike") || !strcmp(k->name, "skip") ||
                                      !strcmp(k->name, "nonfinite"),
                             .rules = !strcmp(k->name, "rollback") || !strcmp(k->name, "gave_up")};
    }
    return n;
}

static void chart_lr(page *pg) {
    rp_run *r = pg->run;
    lineset *ls = calloc(1, sizeof *ls);
    card_open(pg->f, "lr", "Learning rate", false,
              "The rate applied at each step: schedule, warm-up and the guard's cuts "
              "(log scale when it spans more than 30x)");
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->lr, dupf("learning rate"), "c4", RP_STYLE_LINE, source_json("step", NULL, -1, "lr"), false);
    ls_points(ls);
    static const char *const kinds[] = {"lr_cut", "lr_backoff", "plateau", "rollback", NULL};
    rp_lane lanes[8];
    int nl = lanes_for(r, lanes, 8, kinds);
    for (int i = 0; i < nl; i++) lanes[i].marks = false, lanes[i].rules = true;
    if (ls->n == 0) {
        placeholder(pg->f, "No learning rate was recorded yet.");
    } else {
        legend_lines(pg->f, ls);
        legend_lanes(pg->f, lanes, nl);
        fputs("</div>", pg->f);
        rp_chart c = {.id = "lr", .title = "Learning rate per step", .y_label = "learning rate",
                      .y_scale = -1, .y_zero = true, .lines = ls->l, .nlines = ls->n, .lanes = lanes, .nlanes = nl};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

static void chart_grad_norm(page *pg) {
    rp_run *r = pg->run;
    lineset *ls = calloc(1, sizeof *ls);
    card_open(pg->f, "grad-norm", "Gradient norm and the guard's events", true,
              "Global L2 norm of the gradient before clipping, log scale. Under the plot, one lane per kind "
              "of event: every event is in its lane; spikes and skipped steps are also marked on the line, "
              "rollbacks drawn across it");
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    ls_add(ls, &r->grad_norm, dupf("global gradient norm"), "c0", RP_STYLE_LINE,
           source_json("step", NULL, -1, "grad_norm"), false);
    ls_points(ls);
    rp_lane lanes[RP_MAX_EVKINDS];
    int nl = lanes_for(r, lanes, RP_MAX_EVKINDS, NULL);
    rp_hline hl[2];
    char l0[64], l1[64];
    int nh = 0;
    if (pg->h.clip_norm && pg->h.max_norm > 0) {
        snprintf(l0, sizeof l0, "clip threshold %g", pg->h.max_norm);
        hl[nh++] = (rp_hline){pg->h.max_norm, l0, "clip"};
    }
    if (pg->h.backoff && pg->h.backoff_threshold > 0) {
        snprintf(l1, sizeof l1, "back-off threshold %g", pg->h.backoff_threshold);
        hl[nh++] = (rp_hline){pg->h.backoff_threshold, l1, "backoff"};
    }
    if (ls->n == 0 && nl == 0) {
        placeholder(pg->f, r->grad_norm.n_nonfinite ? "Every gradient norm recorded was non-finite (NaN or Inf)."
                                                    : "No gradient norm was recorded yet.");
    } else {
        legend_lines(pg->f, ls);
        if (nh) fputs("<span class=\"li\"><i class=\"sw dash c7\"></i>threshold</span>", pg->f);
        legend_lanes(pg->f, lanes, nl);
        fputs("</div>", pg->f);
        rp_chart c = {.id = "grad-norm", .title = "Global gradient norm per step, with the guard's events",
                      .y_label = "gradient L2 norm", .y_scale = 1, .lines = ls->l, .nlines = ls->n,
                      .lanes = lanes, .nlanes = nl, .hlines = hl, .nhlines = nh};
        draw(pg, &c, true);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

static const char *no_monitor(const page *pg) {
    if (pg->h.loaded && pg->h.monitor_every == 0)
        return "No monitoring data: this run had guard.monitor.every: 0 (or the guard off). "
               "Set guard.monitor.every to N to record per-layer statistics every N steps.";
    return "No monitoring data yet: per-layer statistics are written every guard.monitor.every steps.";
}

static void chart_heat(page *pg) {
    rp_run *r = pg->run;
    card_open(pg->f, "grad-flow", "Gradient flow", true,
              "Gradient L2 norm of each parameter over time, colour = log10 of the norm (mean of the "
              "monitored steps in each cell). Rows run from the input (top) to the output (bottom): "
              "a dark band towards the top is a vanishing gradient, a bright one an exploding gradient");
    if (r->nparams == 0 || r->heat.nc == 0) {
        placeholder(pg->f, no_monitor(pg));
        fputs("</section>\n", pg->f);
        return;
    }
    const char **rows = malloc((size_t)r->nparams * sizeof *rows);
    char *src = source_json("step", NULL, -1, "grad_norm");
    if (!rows || !src) {
        placeholder(pg->f, "Out of memory.");
    } else {
        for (int i = 0; i < r->nparams; i++) rows[r->params[i].row] = r->params[i].name;
        rp_heatmap m = {.id = "grad-flow", .title = "Gradient flow: log10 gradient norm per parameter and step",
                        .h = &r->heat, .rows = rows, .source = src, .x_lo = pg->x_lo, .x_hi = pg->x_hi};
        fputs("<div class=\"chart-box\"><div class=\"v-wide\">", pg->f);
        m.width = W_WIDE;
        m.max_cols = HEAT_COLS;
        rp_svg_heatmap(pg->f, &m);
        fputs("</div><div class=\"v-compact\">", pg->f);
        m.width = W_NARROW;
        m.max_cols = HEAT_COLS;
        m.variant = "c";
        m.compact = true;
        rp_svg_heatmap(pg->f, &m);
        fputs("</div></div>", pg->f);
    }
    free(rows);
    free(src);
    fputs("</section>\n", pg->f);
}

static void chart_params(page *pg, bool ratio) {
    rp_run *r = pg->run;
    const char *id = ratio ? "update-ratio" : "layer-grad";
    card_open(pg->f, id, ratio ? "Update/weight ratio" : "Gradient norm per layer", false,
              ratio ? "\xE2\x80\x96\xCE\x94w\xE2\x80\x96 / \xE2\x80\x96w\xE2\x80\x96 of each parameter per "
                      "monitored step, log scale; around 10\xE2\x81\xBB\xC2\xB3 is the usual healthy rate"
                    : "L2 norm of each parameter's gradient per monitored step, log scale; biases dashed");
    lineset *ls = calloc(1, sizeof *ls);
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    int n = r->nparams < 512 ? r->nparams : 512;
    for (int i = 0; i < n; i++) {
        const rp_param *p = &r->params[i];
        ls_add(ls, ratio ? &p->ratio : &p->grad, dupf("%s", p->name), family_class(i, n),
               is_bias(p->name) ? RP_STYLE_DASHED : RP_STYLE_LINE,
               source_json("step", p->name, -1, ratio ? "update_ratio" : "grad_norm"), false);
    }
    ls_points(ls);
    if (ls->n == 0) {
        placeholder(pg->f, r->nparams ? "No finite positive values to draw on a log scale." : no_monitor(pg));
    } else {
        if (ls->n <= 8) legend_lines(pg->f, ls);
        else {
            fputs("<div class=\"legend\">", pg->f);
            legend_ramp(pg->f, ls->l[0].label, ls->l[ls->n - 1].label);
            fputs("<span class=\"li\"><i class=\"sw dash c7\"></i>bias</span>", pg->f);
        }
        rp_hline hl = {1e-3, "10\xE2\x81\xBB\xC2\xB3", "ref"};
        fputs("</div>", pg->f);
        rp_chart c = {.id = id,
                      .title = ratio ? "Update to weight norm ratio per parameter" : "Gradient norm per parameter",
                      .y_label = ratio ? "update/weight ratio" : "gradient L2 norm", .y_scale = 1,
                      .lines = ls->l, .nlines = ls->n, .hlines = &hl, .nhlines = ratio ? 1 : 0};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

static void chart_activations(page *pg) {
    rp_run *r = pg->run;
    card_open(pg->f, "activations", "Dead and saturated units", false,
              "Per activation layer, in %: ReLU-family units inactive on a whole batch (solid), "
              "sigmoid/tanh outputs in their flat tails (dashed)");
    lineset *ls = calloc(1, sizeof *ls);
    if (!ls) {
        placeholder(pg->f, "Out of memory.");
        fputs("</section>", pg->f);
        return;
    }
    int n = 0;
    for (int i = 0; i < r->nacts; i++) n += r->acts[i].has_dead + r->acts[i].has_sat;
    int k = 0;
    for (int i = 0; i < r->nacts && ls->n < 500; i++) {
        const rp_act *a = &r->acts[i];
        if (a->has_dead)
            ls_add(ls, &a->dead, dupf("layers.%d %s: dead", a->layer, a->kind), family_class(k++, n),
                   RP_STYLE_LINE, source_json("step", NULL, a->layer, "dead_frac"), false);
        if (a->has_sat)
            ls_add(ls, &a->sat, dupf("layers.%d %s: saturated", a->layer, a->kind), family_class(k++, n),
                   RP_STYLE_DASHED, source_json("step", NULL, a->layer, "saturated_frac"), false);
    }
    ls_points(ls);
    if (ls->n == 0) {
        placeholder(pg->f, r->monitor_lines ? "No activation layer that can die or saturate (ReLU family, "
                                              "sigmoid, tanh) was monitored."
                                            : no_monitor(pg));
    } else {
        if (ls->n <= 8) legend_lines(pg->f, ls);
        else {
            fputs("<div class=\"legend\">", pg->f);
            legend_ramp(pg->f, ls->l[0].label, ls->l[ls->n - 1].label);
        }
        fputs("</div>", pg->f);
        rp_chart c = {.id = "activations", .title = "Dead and saturated fractions per activation layer",
                      .y_label = "fraction of units", .y_scale = 0, .y_percent = true, .y_clamp01 = true,
                      .y_zero = true,
                      .lines = ls->l, .nlines = ls->n};
        draw(pg, &c, false);
    }
    fputs("</section>\n", pg->f);
    ls_free(ls);
    free(ls);
}

/* ---- header, summary, diagnosis ---------------------------------------------- */

typedef enum run_state { RUN_DONE, RUN_DIVERGED, RUN_STOPPED, RUN_PARTIAL } run_state;

static run_state state_of(const rp_run *r) {
    const rp_evkind *g = rp_run_find_event(r, "gave_up");
    if (g && g->count) return RUN_DIVERGED;
    if (r->has_summary) return RUN_DONE;
    const rp_evkind *s = rp_run_find_event(r, "stopped");
    if (s && s->count) return RUN_STOPPED;
    return RUN_PARTIAL;
}

static int64_t event_count(const rp_run *r, const char *kind) {
    const rp_evkind *k = rp_run_find_event(r, kind);
    return k ? k->count : 0;
}

static const char *run_name(const char *dir, char *buf, size_t n) {
    snprintf(buf, n, "%s", dir);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

static void stat_card(FILE *f, const char *key, const char *value, const char *note) {
    fputs("<div class=\"stat\"><div class=\"k\">", f);
    rp_html(f, key);
    fputs("</div><div class=\"v\">", f);
    rp_html(f, value);
    fputs("</div>", f);
    if (note && *note) {
        fputs("<div class=\"n\">", f);
        rp_html(f, note);
        fputs("</div>", f);
    }
    fputs("</div>", f);
}

static void write_head(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    char name[512];
    const char *nm = run_name(r->dir, name, sizeof name);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"color-scheme\" content=\"light dark\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
          "<meta name=\"generator\" content=\"gradguard ", f);
    rp_html(f, gg_version());
    fputs("\">\n<title>", f);
    rp_html(f, nm);
    fputs(" \xE2\x80\x94 gradguard report</title>\n<style>\n", f);
    fputs(rp_css, f);
    fputs(".ramp{display:inline-flex;width:84px;height:6px;border-radius:3px;overflow:hidden;margin:0 6px}"
          ".ramp i{flex:1;background:var(--sc)}\n", f);
    rp_css_ramps(f);
    fputs("</style>\n</head>\n<body>\n<div class=\"wrap\">\n", f);

    run_state st = state_of(r);
    static const char *const badge[] = {"ok", "bad", "warn", "warn"};
    static const char *const word[] = {"completed", "diverged", "stopped, resumable",
                                       "in progress or interrupted"};
    char steps[32];
    rp_fmt_count(steps, sizeof steps, (double)r->last_step);
    fputs("<header class=\"top\"><div class=\"id\"><div class=\"brand\"><b>gradguard</b> run report</div><h1>", f);
    rp_html(f, nm);
    fputs("</h1><p class=\"sub\">", f);
    rp_html(f, r->dir);
    fprintf(f, " \xC2\xB7 %s steps \xC2\xB7 %zu epoch%s", steps, r->epoch_lines, r->epoch_lines == 1 ? "" : "s");
    if (pg->h.loaded) {
        fputs(" \xC2\xB7 ", f);
        rp_html(f, pg->h.optimizer);
        fprintf(f, " lr %g \xC2\xB7 batch %d", pg->h.lr, pg->h.batch_size);
    }
    fprintf(f, "</p></div><span class=\"badge %s\">%s</span></header>\n", badge[st], word[st]);
    fputs("<nav class=\"toc\"><a href=\"#diagnosis\">Diagnosis</a><a href=\"#sec-loss\">Loss</a>"
          "<a href=\"#sec-accuracy\">Accuracy</a>", f);
    if (r->has_sparsity) fputs("<a href=\"#sec-sparsity\">Pruning</a>", f);
    fputs("<a href=\"#sec-lr\">Learning rate</a>"
          "<a href=\"#sec-grad-norm\">Gradient norm</a><a href=\"#sec-grad-flow\">Gradient flow</a>"
          "<a href=\"#sec-layer-grad\">Per layer</a><a href=\"#sec-update-ratio\">Update ratio</a>"
          "<a href=\"#sec-activations\">Dead/saturated</a><a href=\"#events\">Events</a>"
          "<a href=\"#epochs\">Epochs</a>", f);
    if (r->compress.present) fputs("<a href=\"#compression\">Compression</a>", f);
    fputs("<a href=\"#config\">Config</a><a href=\"#environment\">Environment</a></nav>\n", f);
}

static void write_cards(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    char v[64], n[128], a[32], b[32];
    fputs("<section id=\"summary\" class=\"cards\">", f);
    pct_text(v, sizeof v, r->test_acc);
    rp_fmt_num(a, sizeof a, r->test_loss);
    snprintf(n, sizeof n, "loss %s", a);
    stat_card(f, "Test accuracy", isfinite(r->test_acc) ? v : "\xE2\x80\x94",
              isfinite(r->test_loss)           ? n
              : state_of(r) == RUN_DIVERGED    ? "not measured: diverged"
              : r->has_summary                 ? "no test set"
                                               : "at the end of the run");
    const rp_epoch_row *e = &r->last_epoch;
    pct_text(v, sizeof v, e->val_acc);
    snprintf(n, sizeof n, "epoch %lld \xC2\xB7 loss %.3g", (long long)e->epoch, e->val_loss);
    stat_card(f, "Val accuracy", isfinite(e->val_acc) ? v : "\xE2\x80\x94",
              !r->epoch_lines ? "at each epoch's end" : isfinite(e->val_loss) ? n : "no validation split");
    if (r->has_sparsity) { /* the latest value: the last step's, else the last epoch's */
        bool step = r->sparsity.n > 0;
        const rp_pt *last = step ? &r->sparsity.last : &r->ep_sparsity.last;
        snprintf(v, sizeof v, "%.1f%%", 100 * last->y);
        if (step) snprintf(n, sizeof n, "zero weights after step %.0f", last->x);
        else snprintf(n, sizeof n, "zero weights at epoch %lld", (long long)last->tag);
        stat_card(f, "Sparsity", v, n);
    }
    double tl = isfinite(e->train_loss) ? e->train_loss : r->loss.last.y;
    rp_fmt_num(v, sizeof v, tl);
    snprintf(n, sizeof n, "%s", isfinite(e->train_loss) ? "last epoch" : "last step");
    stat_card(f, "Train loss", r->loss.n || r->epoch_lines ? v : "\xE2\x80\x94", n);
    rp_fmt_count(v, sizeof v, (double)r->last_step);
    snprintf(n, sizeof n, "%zu epoch%s", r->epoch_lines, r->epoch_lines == 1 ? "" : "s");
    stat_card(f, "Steps", v, n);
    rp_fmt_duration(v, sizeof v, r->seconds);
    rp_fmt_count(a, sizeof a, r->last_epoch.samples_per_s);
    snprintf(n, sizeof n, "%s samples/s", a);
    stat_card(f, "Time", isfinite(r->seconds) ? v : "\xE2\x80\x94",
              isfinite(r->last_epoch.samples_per_s) ? n : "");
    int64_t clips = event_count(r, "clip");
    rp_fmt_count(v, sizeof v, (double)clips);
    double share = r->step_lines ? 100.0 * (double)clips / (double)r->step_lines : 0;
    if (r->step_lines) snprintf(n, sizeof n, "%.*f%% of steps", share < 10 ? 1 : 0, share);
    else n[0] = '\0';
    stat_card(f, "Clipped", v, clips ? n : "no step clipped");
    rp_fmt_count(v, sizeof v, (double)event_count(r, "spike"));
    rp_fmt_count(a, sizeof a, (double)event_count(r, "skip"));
    snprintf(n, sizeof n, "%s update%s skipped", a, event_count(r, "skip") == 1 ? "" : "s");
    stat_card(f, "Spikes", v, n);
    rp_fmt_count(v, sizeof v, (double)event_count(r, "rollback"));
    rp_fmt_count(b, sizeof b, (double)(event_count(r, "lr_cut") + event_count(r, "lr_backoff") +
                                       event_count(r, "plateau")));
    snprintf(n, sizeof n, "%s learning-rate cut%s", b, !strcmp(b, "1") ? "" : "s");
    stat_card(f, "Rollbacks", v, n);
    fputs("</section>\n", f);
}

/* "title: body. Remedies: a, b, c" -> a heading, a paragraph, a list. */
static void finding(FILE *f, const char *msg, int64_t step, bool bad) {
    const char *colon = strstr(msg, ": ");
    const char *body = msg;
    fprintf(f, "<article class=\"finding%s\"><h3>", bad ? " bad" : "");
    if (colon && colon - msg <= 60) {
        char t[64];
        snprintf(t, sizeof t, "%.*s", (int)(colon - msg), msg);
        if (t[0] >= 'a' && t[0] <= 'z') t[0] = (char)(t[0] - 'a' + 'A');
        rp_html(f, t);
        body = colon + 2;
    } else {
        rp_html(f, "Finding");
    }
    fprintf(f, " <span class=\"st\">at step %lld</span></h3><p>", (long long)step);
    const char *rem = strstr(body, "Remedies:");
    size_t blen = rem ? (size_t)(rem - body) : strlen(body);
    if (blen > 0 && body[0] >= 'a' && body[0] <= 'z') { /* a sentence starts with a capital */
        fputc(body[0] - 'a' + 'A', f);
        body++;
        blen--;
    }
    rp_html_n(f, body, blen);
    fputs("</p>", f);
    if (rem) {
        fputs("<ul aria-label=\"remedies\">", f);
        const char *p = rem + 9;
        while (*p) {
            while (*p == ' ') p++;
            const char *end = strstr(p, ", ");
            size_t len = end ? (size_t)(end - p) : strlen(p);
            while (len > 0 && (p[len - 1] == '.' || p[len - 1] == ' ')) len--;
            if (len) {
                fputs("<li>", f);
                rp_html_n(f, p, len);
                fputs("</li>", f);
            }
            if (!end) break;
            p = end + 2;
        }
        fputs("</ul>", f);
    }
    fputs("</article>", f);
}

static bool bad_finding(const char *msg) {
    return !strncmp(msg, "exploding", 9) || !strncmp(msg, "non-finite", 10) ||
           !strncmp(msg, "learning rate too high", 22);
}

static void write_diagnosis(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    fputs("<section id=\"diagnosis\" class=\"block\"><h2>Diagnosis</h2><p class=\"unit\">"
          "What the guard found at the end of the run, in plain words, with the remedies that fit</p>"
          "<div class=\"diag\">", f);
    /* recovery giving up: one card with what each part said */
    const rp_event_row *gave[8];
    int ng = 0;
    for (int i = 0; i < r->nhead && ng < 8; i++)
        if (!strcmp(r->head[i].kind, "gave_up")) gave[ng++] = &r->head[i];
    int64_t nt = r->ntail < RP_EVROWS_TAIL ? r->ntail : RP_EVROWS_TAIL;
    for (int64_t i = 0; i < nt && ng < 8; i++) {
        const rp_event_row *e = &r->tail[(r->ntail - nt + i) % RP_EVROWS_TAIL];
        if (!strcmp(e->kind, "gave_up")) gave[ng++] = e;
    }
    if (ng) {
        fprintf(f, "<article class=\"finding bad\"><h3>Training diverged <span class=\"st\">at step %lld</span>"
                   "</h3>", (long long)gave[ng - 1]->step);
        for (int i = 0; i < ng; i++) {
            fputs("<p>", f);
            const char *m = gave[i]->message;
            if (m[0] >= 'a' && m[0] <= 'z') fputc(m[0] - 'a' + 'A', f), m++;
            rp_html(f, m);
            fputs("</p>", f);
        }
        fputs("</article>", f);
    }
    for (int i = 0; i < r->ndiag; i++)
        finding(f, r->diag[i].message, r->diag[i].step, bad_finding(r->diag[i].message));
    if (r->ndiag == 0) {
        fputs("<article class=\"finding ok\"><h3>", f);
        if (r->has_summary)
            fputs("No problem found</h3><p>The end-of-run diagnosis found no vanishing or exploding "
                  "gradients, no dead or saturated layer, no non-finite value and no stalled or "
                  "diverging loss.</p>", f);
        else
            fputs("No diagnosis yet</h3><p>The diagnosis is written when the run ends.</p>", f);
        fputs("</article>", f);
    }
    /* what the guard did, in one sentence */
    int64_t clips = event_count(r, "clip"), spikes = event_count(r, "spike"), skips = event_count(r, "skip");
    int64_t rolls = event_count(r, "rollback"), nonf = event_count(r, "nonfinite");
    int64_t cuts = event_count(r, "lr_cut") + event_count(r, "lr_backoff") + event_count(r, "plateau");
    fputs("<article class=\"finding ok\"><h3>What the guard did</h3><p>", f);
    if (clips + spikes + skips + rolls + nonf + cuts == 0) {
        fputs("Nothing: no step was clipped, skipped or rolled back.", f);
    } else {
        fprintf(f, "It clipped the gradient on %lld step%s", (long long)clips, clips == 1 ? "" : "s");
        if (r->step_lines)
            fprintf(f, " (%.1f%% of %zu)", 100.0 * (double)clips / (double)r->step_lines, r->step_lines);
        fprintf(f, ", detected %lld spike%s, skipped %lld update%s", (long long)spikes, spikes == 1 ? "" : "s",
                (long long)skips, skips == 1 ? "" : "s");
        if (nonf) fprintf(f, " (%lld with non-finite values)", (long long)nonf);
        fprintf(f, ", cut the learning rate %lld time%s and rolled back to a snapshot %lld time%s.",
                (long long)cuts, cuts == 1 ? "" : "s", (long long)rolls, rolls == 1 ? "" : "s");
    }
    if (r->diag_earlier)
        fprintf(f, " Earlier diagnoses (%lld findings) are in the events table.", (long long)r->diag_earlier);
    fputs("</p></article></div></section>\n", f);
}

/* ---- tables ---------------------------------------------------------------------- */

static void event_row(FILE *f, const rp_event_row *e) {
    fprintf(f, "<tr><td class=\"num\">%lld</td><td><span class=\"kind %s\"><i class=\"sw box\"></i>",
            (long long)e->step, event_class(e->kind));
    rp_html(f, e->kind);
    fputs("</span></td><td class=\"msg\">", f);
    rp_html(f, e->message);
    fputs("</td></tr>", f);
}

static void write_events(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    fputs("<section id=\"events\" class=\"card block\"><h2>Events</h2><p class=\"unit\">"
          "Every action of the guard, from metrics.jsonl; clipping events are counted here and drawn "
          "in the gradient-norm chart</p><div class=\"counts\">", f);
    for (int i = 0; i < r->nev; i++) {
        char c[32];
        rp_fmt_count(c, sizeof c, (double)r->ev[i].count);
        fprintf(f, "<span class=\"kind %s\"><i class=\"sw box\"></i>", event_class(r->ev[i].name));
        rp_html(f, r->ev[i].name);
        fprintf(f, " %s</span>", c);
    }
    if (r->nev == 0) fputs("<span>No events.</span>", f);
    fputs("</div>", f);
    int64_t nt = r->ntail < RP_EVROWS_TAIL ? r->ntail : RP_EVROWS_TAIL;
    if (r->nhead + nt > 0) {
        fputs("<div class=\"tbl\"><table><thead><tr><th class=\"num\">step</th><th>kind</th>"
              "<th>message</th></tr></thead><tbody>", f);
        for (int i = 0; i < r->nhead; i++) event_row(f, &r->head[i]);
        if (r->ntail > nt)
            fprintf(f, "<tr class=\"gap\"><td colspan=\"3\">%lld more events not listed</td></tr>",
                    (long long)(r->ntail - nt));
        for (int64_t i = 0; i < nt; i++) event_row(f, &r->tail[(r->ntail - nt + i) % RP_EVROWS_TAIL]);
        fputs("</tbody></table></div>", f);
    }
    fputs("</section>\n", f);
}

static void num_cell(FILE *f, double v, bool pct) {
    char b[32];
    if (pct) pct_text(b, sizeof b, v);
    else rp_fmt_num(b, sizeof b, v);
    fprintf(f, "<td class=\"num\">%s</td>", isfinite(v) ? b : "\xE2\x80\x94");
}

static void epoch_row(FILE *f, const rp_epoch_row *e, bool sparsity) {
    fprintf(f, "<tr><td class=\"num\">%lld</td><td class=\"num\">%lld</td>", (long long)e->epoch,
            (long long)e->step);
    num_cell(f, e->train_loss, false);
    num_cell(f, e->train_acc, true);
    num_cell(f, e->val_loss, false);
    num_cell(f, e->val_acc, true);
    num_cell(f, e->samples_per_s, false);
    num_cell(f, e->lr, false);
    if (sparsity) num_cell(f, e->sparsity, true);
    fputs("</tr>", f);
}

static void write_epochs(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    fputs("<section id=\"epochs\" class=\"card block\"><h2>Epochs</h2>", f);
    if (r->epoch_lines == 0) {
        placeholder(f, "No epoch has finished yet.");
        fputs("</section>\n", f);
        return;
    }
    if ((size_t)r->n_ep_rows < r->epoch_lines)
        fprintf(f, "<p class=\"unit\">%d of %zu epochs, evenly spaced, and the last</p>", r->n_ep_rows,
                r->epoch_lines);
    else
        fputs("<p class=\"unit\">Measured at each epoch's end</p>", f);
    fputs("<div class=\"tbl\"><table><thead><tr><th class=\"num\">epoch</th><th class=\"num\">step</th>"
          "<th class=\"num\">train loss</th><th class=\"num\">train acc</th><th class=\"num\">val loss</th>"
          "<th class=\"num\">val acc</th><th class=\"num\">samples/s</th><th class=\"num\">lr</th>", f);
    if (r->has_sparsity) fputs("<th class=\"num\">sparsity</th>", f);
    fputs("</tr></thead><tbody>", f);
    for (int i = 0; i < r->n_ep_rows; i++) epoch_row(f, &r->ep_rows[i], r->has_sparsity);
    if (r->n_ep_rows == 0 || r->ep_rows[r->n_ep_rows - 1].ord != r->last_epoch.ord)
        epoch_row(f, &r->last_epoch, r->has_sparsity);
    fputs("</tbody></table></div></section>\n", f);
}

/* ---- compression ---------------------------------------------------------------- */

static void text_cell(FILE *f, const char *text) {
    fputs("<td class=\"num\">", f);
    rp_html(f, text ? text : "\xE2\x80\x94");
    fputs("</td>", f);
}

/* A cell of printf(fmt, v), or a dash when v is not finite. */
static void fmt_cell(FILE *f, const char *fmt, double v) {
    char b[48];
    if (isfinite(v)) snprintf(b, sizeof b, fmt, v);
    text_cell(f, isfinite(v) ? b : NULL);
}

/* a / b as "3.94x", a dash when either is missing */
static void ratio_cell(FILE *f, double a, double b) {
    fmt_cell(f, "%.2fx", a > 0 && b > 0 ? a / b : NAN);
}

/* A row's place on the sparsity axis: the level asked for, else the one reached. */
static double row_sparsity(const rp_compress_row *w) {
    return isfinite(w->sparsity) ? w->sparsity : w->reached;
}

static void compress_settings(FILE *f, const rp_compress *c) {
    fputs("<p class=\"unit\">", f);
    if (!c->has_header) {
        fputs("Test accuracy, size and speed of the model pruned to each sparsity, float and int8 "
              "(compress.jsonl has no <code>compress_run</code> header: the settings are unknown)</p>", f);
        return;
    }
    fputs("Test accuracy, size and speed of ", f);
    if (c->model) {
        fputs("<code>", f);
        rp_html(f, c->model);
        fputs("</code>", f);
    } else {
        fputs("the model", f);
    }
    fputs(" pruned to each sparsity, float and int8: ", f);
    fputs(c->structured == 1 ? "structured" : c->structured == 0 ? "unstructured" : "magnitude", f);
    fputs(" pruning", f);
    if (c->scope) {
        fputs(", ", f);
        rp_html(f, c->scope);
        fputs(" scope", f);
    }
    if (c->finetune_epochs > 0)
        fprintf(f, ", fine-tuned %lld epoch%s per level", (long long)c->finetune_epochs,
                c->finetune_epochs == 1 ? "" : "s");
    else if (c->finetune_epochs == 0)
        fputs(", no fine-tuning", f);
    if (c->int8_kernel) {
        fputs("; int8 kernel ", f);
        rp_html(f, c->int8_kernel);
    }
    if (c->test_samples >= 0) fprintf(f, "; %lld test samples", (long long)c->test_samples);
    if (c->calib_samples >= 0) fprintf(f, ", %lld for calibration", (long long)c->calib_samples);
    if (c->eval_batch > 0) fprintf(f, ", batch %lld", (long long)c->eval_batch);
    fputs("</p>", f);
}

static void compress_chart(page *pg, const rp_compress_row *rows, int n) {
    static const struct {
        const char *label, *cls, *field;
        size_t offset;
    } kinds[] = {{"one-shot", "c0", "oneshot_accuracy", offsetof(rp_compress_row, oneshot_acc)},
                 {"fine-tuned", "c1", "finetuned_accuracy", offsetof(rp_compress_row, finetuned_acc)},
                 {"int8", "c2", "int8_accuracy", offsetof(rp_compress_row, int8_acc)}};
    rp_line lines[3];
    rp_pt pts[3][RP_COMPRESS_ROWS_CAP];
    char src[3][96];
    int nl = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int np = 0;
        for (int i = 0; i < n; i++) {
            double x = row_sparsity(&rows[i]);
            double y = *(const double *)((const char *)&rows[i] + kinds[k].offset);
            if (isfinite(x) && isfinite(y)) pts[nl][np++] = (rp_pt){x, y, 0};
        }
        if (np == 0) continue; /* e.g. no fine-tuning: no line */
        snprintf(src[nl], sizeof src[nl], "{\"type\":\"compress\",\"field\":\"%s\",\"x_field\":\"sparsity\"}",
                 kinds[k].field);
        lines[nl] = (rp_line){.label = kinds[k].label, .cls = kinds[k].cls, .style = RP_STYLE_POINTS,
                              .p = pts[nl], .n = np, .source = src[nl]};
        nl++;
    }
    if (nl == 0) {
        placeholder(pg->f, "No accuracy was measured.");
        return;
    }
    fputs("<div class=\"legend\">", pg->f);
    for (int i = 0; i < nl; i++) legend_line(pg->f, &lines[i]);
    fputs("</div>", pg->f);
    rp_chart c = {.id = "compression", .title = "Test accuracy against sparsity: one-shot, fine-tuned, int8",
                  .y_label = "test accuracy", .y_scale = 0, .y_percent = true, .y_clamp01 = true,
                  .lines = lines, .nlines = nl};
    draw_sparsity(pg, &c, 0, 1, true);
}

static void write_compression(page *pg) {
    FILE *f = pg->f;
    const rp_compress *c = &pg->run->compress;
    if (!c->present) return;
    fputs("<section id=\"compression\" class=\"card block\"><h2>Compression</h2>", f);
    compress_settings(f, c);
    if (c->nrows == 0) {
        placeholder(f, "compress.jsonl has no rows yet: gradguard compress RUN_DIR --sweep writes one "
                       "per sparsity.");
        fputs("</section>\n", f);
        return;
    }
    /* by sparsity, for the chart's lines and the table (stable: equal levels keep their order) */
    rp_compress_row rows[RP_COMPRESS_ROWS_CAP];
    int n = c->nrows;
    memcpy(rows, c->rows, (size_t)n * sizeof *rows);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            double a = row_sparsity(&rows[j - 1]), b = row_sparsity(&rows[j]);
            if (!(isnan(a) ? !isnan(b) : a > b)) break;
            rp_compress_row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    compress_chart(pg, rows, n);
    fputs("<div class=\"tbl\"><table><thead><tr><th class=\"num\">sparsity</th><th class=\"num\">reached</th>"
          "<th class=\"num\">one-shot</th><th class=\"num\">fine-tuned</th><th class=\"num\">int8</th>"
          "<th class=\"num\">float KB</th><th class=\"num\">int8 KB</th><th class=\"num\">size ratio</th>"
          "<th class=\"num\">float samples/s</th><th class=\"num\">int8 samples/s</th>"
          "<th class=\"num\">int8 speed-up</th></tr></thead><tbody>", f);
    for (int i = 0; i < n; i++) {
        const rp_compress_row *w = &rows[i];
        fputs("<tr>", f);
        fmt_cell(f, "%.4g%%", 100 * w->sparsity);
        num_cell(f, w->reached, true);
        num_cell(f, w->oneshot_acc, true);
        num_cell(f, w->finetuned_acc, true);
        num_cell(f, w->int8_acc, true);
        fmt_cell(f, "%.1f", w->float_bytes / 1024);
        fmt_cell(f, "%.1f", w->int8_bytes / 1024);
        ratio_cell(f, w->float_bytes, w->int8_bytes);
        fmt_cell(f, "%.0f", w->float_sps);
        fmt_cell(f, "%.0f", w->int8_sps);
        ratio_cell(f, w->int8_sps, w->float_sps);
        fputs("</tr>", f);
    }
    if (c->rows_dropped)
        fprintf(f, "<tr class=\"gap\"><td colspan=\"11\">%lld more rows not listed</td></tr>",
                (long long)c->rows_dropped);
    fputs("</tbody></table></div><p class=\"note\">Accuracy on the test split; KB are 1024 bytes of the "
          "saved file; size ratio = float / int8 bytes; speed-up = int8 / float samples per second", f);
    if (c->partial_last_line) fputs("; the last line of compress.jsonl is still being written (left out)", f);
    fputs(".</p></section>\n", f);
}

/* One line of YAML, keys and comments marked. */
static void yaml_line(FILE *f, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    if (i < n && s[i] == '#') {
        rp_html_n(f, s, i);
        fputs("<span class=\"cm\">", f);
        rp_html_n(f, s + i, n - i);
        fputs("</span>", f);
        return;
    }
    size_t k = i;
    if (k + 1 < n && s[k] == '-' && s[k + 1] == ' ') k += 2;
    size_t j = k;
    while (j < n && (s[j] == '_' || s[j] == '-' || s[j] == '.' || (s[j] >= 'a' && s[j] <= 'z') ||
                     (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')))
        j++;
    if (j > k && j < n && s[j] == ':') {
        rp_html_n(f, s, k);
        fputs("<span class=\"k\">", f);
        rp_html_n(f, s + k, j - k);
        fputs("</span>", f);
        rp_html_n(f, s + j, n - j);
    } else {
        rp_html_n(f, s, n);
    }
}

static void write_config(page *pg) {
    FILE *f = pg->f;
    fputs("<section id=\"config\" class=\"card block\"><h2>Config</h2><p class=\"unit\">"
          "The resolved config (config.yaml): every default filled in; "
          "<code>gradguard train config.yaml</code> runs it again</p>", f);
    FILE *c = fopen(pg->run->config_path, "rb");
    if (!c) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", pg->run->config_path, strerror(errno));
        placeholder(f, msg);
        fputs("</section>\n", f);
        return;
    }
    fputs("<pre class=\"cfg\">", f);
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, c)) >= 0) {
        if (total + (size_t)len > CONFIG_MAX) {
            fputs("<span class=\"cm\"># ... (truncated)</span>\n", f);
            break;
        }
        total += (size_t)len;
        size_t n = (size_t)len;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        yaml_line(f, line, n);
        fputc('\n', f);
    }
    free(line);
    fclose(c);
    fputs("</pre></section>\n", f);
}

static const char *env_label(const char *key) {
    static const struct {
        const char *k, *l;
    } m[] = {{"version", "gradguard version"}, {"gradguard_version", "gradguard version"},
             {"threads", "threads"},           {"blas", "BLAS"},
             {"real", "floating point"},       {"float", "floating point"},
             {"started", "started"},           {"host", "host"},
             {"command", "command"},           {"cpu", "CPU"},
             {"os", "operating system"},       {"compiler", "compiler"},
             {"resumed_from", "resumed from step"}};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (!strcmp(key, m[i].k)) return m[i].l;
    return key;
}

static void env_row(FILE *f, const char *k, const char *v) {
    fputs("<dt>", f);
    rp_html(f, k);
    fputs("</dt><dd>", f);
    rp_html(f, v);
    fputs("</dd>", f);
}

static void write_environment(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    fputs("<section id=\"environment\" class=\"card block\"><h2>Environment</h2>", f);
    if (r->nenv) {
        fputs("<p class=\"unit\">Where the run trained (the run header of metrics.jsonl", f);
        if (r->run_lines > 1) fprintf(f, "; the latest of %d: the run was resumed", r->run_lines);
        fputs(")</p><dl class=\"env\">", f);
        for (int i = 0; i < r->nenv; i++) env_row(f, env_label(r->env[i].key), r->env[i].value);
        fputs("</dl>", f);
    } else {
        fputs("<p class=\"unit\">This run did not record its environment (gradguard version, threads, "
              "BLAS): its metrics.jsonl has no <code>{\"type\":\"run\",...}</code> header line.</p>", f);
    }
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    struct stat st;
    char size[64] = "";
    if (stat(r->metrics_path, &st) == 0) {
        double b = (double)st.st_size;
        if (b >= 1 << 20) snprintf(size, sizeof size, "%.1f MiB, ", b / (1 << 20));
        else snprintf(size, sizeof size, "%.1f KiB, ", b / 1024);
    }
    char lines[160];
    snprintf(lines, sizeof lines, "%s%zu lines%s%s", size, r->lines,
             r->partial_last_line ? ", the last one still being written (left out)" : "",
             r->unknown_lines ? ", some of unknown types (ignored)" : "");
    fputs("<h2 style=\"font-size:14px;margin:14px 0 6px\">This report</h2><dl class=\"env\">", f);
    env_row(f, "generated by", "gradguard");
    fputs("<dt>version</dt><dd>", f);
    rp_html(f, gg_version());
    fputs("</dd>", f);
    env_row(f, "generated at", when);
    env_row(f, "metrics.jsonl", lines);
    fputs("</dl></section>\n", f);
}

/* ---- the page ---------------------------------------------------------------------- */

static gg_status write_page(page *pg) {
    FILE *f = pg->f;
    rp_run *r = pg->run;
    /* one x domain, in steps, for every chart */
    pg->x_lo = r->step_lines ? (double)r->first_step : 0;
    pg->x_hi = r->step_lines ? (double)r->last_step : 1;
    if (r->epoch_lines && !r->step_lines) {
        pg->x_lo = r->ep_train_loss.n ? r->ep_train_loss.b[0].first.x : 0;
        pg->x_hi = r->last_epoch.step;
    }
    if (r->first_step > 0 && r->first_step <= 1) pg->x_lo = 0;
    /* epoch ends as faint rules when there are few enough to see */
    if (r->epoch_lines >= 2 && r->epoch_lines <= 60 && (size_t)r->n_ep_rows == r->epoch_lines) {
        pg->vrules = malloc((size_t)r->n_ep_rows * sizeof *pg->vrules);
        if (pg->vrules)
            for (int i = 0; i < r->n_ep_rows; i++) pg->vrules[pg->nvrules++] = (double)r->ep_rows[i].step;
    }
    write_head(pg);
    write_cards(pg);
    write_diagnosis(pg);
    fputs("<div class=\"grid\">\n", f);
    chart_loss(pg);
    chart_accuracy(pg);
    chart_sparsity(pg);
    chart_accuracy_sparsity(pg);
    chart_grad_norm(pg);
    chart_lr(pg);
    chart_activations(pg);
    chart_heat(pg);
    chart_params(pg, false);
    chart_params(pg, true);
    fputs("</div>\n", f);
    write_events(pg);
    write_epochs(pg);
    write_compression(pg);
    write_config(pg);
    write_environment(pg);
    fputs("<footer>Generated by gradguard ", f);
    rp_html(f, gg_version());
    fputs(" \xC2\xB7 one self-contained file: no network access, no external resources</footer>\n"
          "</div>\n<div id=\"tip\" class=\"tip\" role=\"status\" hidden></div>\n<script>\n", f);
    fputs(rp_js, f);
    fputs("</script>\n</body>\n</html>\n", f);
    free(pg->vrules);
    pg->vrules = NULL;
    return GG_OK;
}

gg_status gg_report_write(const char *run_dir, const char *out_path, gg_error *err) {
    if (!run_dir || !*run_dir) return gg_fail(err, GG_ERR_ARG, "report: no run directory given");
    rp_run *run = malloc(sizeof *run);
    if (!run) return gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
    gg_status s = rp_read_run(run_dir, run, err);
    char *out = NULL;
    if (s == GG_OK) {
        out = out_path ? gg_strdup(out_path, err) : dupf("%s/report.html", run_dir);
        if (!out) s = gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
    }
    if (s == GG_OK) {
        gg_atomic_file af;
        s = gg_atomic_open(&af, out, err);
        if (s == GG_OK) {
            page pg = {.f = af.f, .run = run};
            load_hints(run->config_path, &pg.h);
            s = write_page(&pg);
            if (s == GG_OK) s = gg_atomic_commit(&af, err);
            else gg_atomic_abort(&af);
        }
    }
    free(out);
    rp_run_free(run);
    free(run);
    return s;
}
