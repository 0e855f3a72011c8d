/* Chart drawing. Geometry is in viewBox units (the svg scales to its
 * container's width); styling is CSS classes defined by the page (report.c
 * and rp_css_ramps below), so the same markup serves light and dark mode.
 * Every chart writes, right after its <svg>, a JSON block with the points
 * it drew, its domains and its events. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report/svg.h"

#define ML 56.0 /* margins: left (y tick labels), right, top, bottom (x tick labels) */
#define MR 14.0
#define MT 10.0
#define MB 24.0
#define LANE_H 7.0
#define LANE_GAP 3.0
#define EPS 1e-9

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

double rp_map(const rp_axis *a, double v) {
    double t;
    if (a->log) t = (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    else t = (v - a->lo) / (a->hi - a->lo);
    if (!isfinite(t)) t = v > 0 || isnan(v) ? 1 : 0;
    t = clamp(t, 0, 1);
    return a->p0 + t * (a->p1 - a->p0);
}

/* Largest and smallest {1, 2, 5} x 10^k below and above v > 0. */
static double floor125(double v) {
    double p = pow(10, floor(log10(v) + EPS)), m = v / p;
    return (m >= 5 - EPS ? 5 : m >= 2 - EPS ? 2 : 1) * p;
}
static double ceil125(double v) {
    double p = pow(10, floor(log10(v) + EPS)), m = v / p;
    return (m <= 1 + EPS ? 1 : m <= 2 + EPS ? 2 : m <= 5 + EPS ? 5 : 10) * p;
}

static double nice_step(double raw) {
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

void rp_axis_fit(rp_axis *a, double lo, double hi, bool log) {
    a->log = log;
    if (!isfinite(lo) || !isfinite(hi) || lo > hi) {
        lo = log ? 1 : 0;
        hi = log ? 10 : 1;
    }
    if (log) {
        if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
        if (!(hi > 0)) hi = lo * 10;
        double l = floor125(lo), h = ceil125(hi);
        if (h <= l * (1 + EPS)) {
            l = floor125(lo / 1.5);
            h = ceil125(hi * 1.5);
        }
        a->lo = l;
        a->hi = h;
        return;
    }
    if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi == lo) {
        double pad = lo != 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad;
        hi += pad;
    }
    double pad = 0.03 * (hi - lo);
    lo -= lo >= 0 && lo - pad < 0 ? lo : pad; /* no negative margin under positive data */
    hi += pad;
    double step = nice_step((hi - lo) / 5);
    a->lo = floor(lo / step + EPS) * step;
    a->hi = ceil(hi / step - EPS) * step;
    if (a->hi <= a->lo) a->hi = a->lo + step;
}

static double tick_spacing(const rp_axis *a, int target) {
    return nice_step((a->hi - a->lo) / target);
}

int rp_axis_ticks(const rp_axis *a, double *t, bool *label, int max) {
    int n = 0;
    if (!a->log) {
        double step = tick_spacing(a, 5);
        double k0 = ceil(a->lo / step - EPS), k1 = floor(a->hi / step + EPS);
        for (double k = k0; k <= k1 && n < max; k++) {
            t[n] = k * step;
            if (fabs(t[n]) < step * 1e-9) t[n] = 0;
            label[n++] = true;
        }
        return n;
    }
    double d = log10(a->hi / a->lo);
    int e0 = (int)floor(log10(a->lo) + EPS), e1 = (int)ceil(log10(a->hi) - EPS);
    int every = d > 7 ? (int)ceil(d / 6) : 1;
    for (int e = e0; e <= e1; e++) {
        static const double ms[3] = {1, 2, 5};
        for (int i = 0; i < 3; i++) {
            if (i > 0 && d > 4) break;
            double v = ms[i] * pow(10, e);
            if (v < a->lo * (1 - EPS) || v > a->hi * (1 + EPS) || n >= max) continue;
            t[n] = v;
            label[n++] = i == 0 ? ((e % every) == 0) : d <= 2.2;
        }
    }
    return n;
}

static void superscript(char *buf, size_t n, int e) {
    static const char *const digits[10] = {"\xE2\x81\xB0", "\xC2\xB9", "\xC2\xB2", "\xC2\xB3",
                                           "\xE2\x81\xB4", "\xE2\x81\xB5", "\xE2\x81\xB6",
                                           "\xE2\x81\xB7", "\xE2\x81\xB8", "\xE2\x81\xB9"};
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%d", e < 0 ? -e : e);
    size_t len = strlen(buf);
    if (e < 0) len += (size_t)snprintf(buf + len, n > len ? n - len : 0, "\xE2\x81\xBB");
    for (char *c = tmp; *c && len < n; c++)
        len += (size_t)snprintf(buf + len, n > len ? n - len : 0, "%s", digits[*c - '0']);
}

/* Powers of ten as 10^k on an axis that reaches beyond 0.001 .. 10000,
 * plain numbers otherwise: one style per axis. */
static bool sci_axis(double lo, double hi) { return log10(lo) < -3 - EPS || log10(hi) > 4 + EPS; }

static void power_label(char *buf, size_t n, int e, bool sci) {
    if (!sci) {
        snprintf(buf, n, "%g", pow(10, e));
        return;
    }
    snprintf(buf, n, "10");
    superscript(buf, n, e);
}

void rp_tick_label(char *buf, size_t n, const rp_axis *a, double v, double spacing, bool percent) {
    if (a->log) {
        int e = (int)floor(log10(v) + EPS);
        double m = v / pow(10, e);
        bool sci = sci_axis(a->lo, a->hi);
        if (fabs(m - 1) < 1e-6) {
            if (!sci) snprintf(buf, n, "%g", pow(10, e));
            else {
                snprintf(buf, n, "10");
                superscript(buf, n, e);
            }
        } else if (!sci) {
            snprintf(buf, n, "%g", v);
        } else {
            snprintf(buf, n, "%.0fe%d", m, e);
        }
        return;
    }
    if (percent) {
        v *= 100;
        spacing *= 100;
    }
    if (v == 0) v = 0; /* no "-0" */
    double av = fabs(v);
    if (av >= 1e6 && spacing >= 1e5) snprintf(buf, n, "%gM", v / 1e6);
    else if (av >= 1e4 && spacing >= 1e3) snprintf(buf, n, "%gk", v / 1e3);
    else {
        int d = spacing >= 1 ? 0 : (int)ceil(-log10(spacing) - EPS);
        if (d > 9) d = 9;
        snprintf(buf, n, "%.*f", d, v);
    }
    if (percent) {
        size_t len = strlen(buf);
        if (len + 1 < n) buf[len] = '%', buf[len + 1] = '\0';
    }
}

/* A coordinate: one decimal is a tenth of a pixel at natural size. */
static void co(FILE *f, double v) {
    long t = lround(v * 10);
    if (t % 10 == 0) fprintf(f, "%ld", t / 10);
    else fprintf(f, "%s%ld.%ld", t < 0 ? "-" : "", labs(t) / 10, labs(t) % 10);
}

static bool drawable(const rp_axis *y, double v) { return isfinite(v) && (!y->log || v > 0); }

static void json_key(FILE *f, const char *k) { fprintf(f, "\"%s\":", k); }

typedef struct geom {
    double W, H, pl, pr, pt, pb, lanes_top, lanes_h, labels_y;
} geom;

static void draw_axes(FILE *f, const rp_chart *c, const geom *g, const rp_axis *x,
                      const rp_axis *y) {
    double t[64];
    bool lab[64];
    char buf[64];
    int n = rp_axis_ticks(y, t, lab, 64);
    double ysp = tick_spacing(y, 5);
    fputs("<g class=\"gr\">", f);
    for (int i = 0; i < n; i++) {
        double py = rp_map(y, t[i]);
        fputs("<path d=\"M", f);
        co(f, g->pl);
        fputc(' ', f);
        co(f, py);
        fputs("H", f);
        co(f, g->pr);
        fprintf(f, "\"%s/>", lab[i] ? "" : " class=\"mn\"");
    }
    int nx = rp_axis_ticks(x, t + 32, lab + 32, 32);
    for (int i = 0; i < nx; i++) {
        fputs("<path d=\"M", f);
        co(f, rp_map(x, t[32 + i]));
        fputc(' ', f);
        co(f, g->pt);
        fputs("V", f);
        co(f, g->pb);
        fputs("\"/>", f);
    }
    for (int i = 0; i < c->nvrules; i++) {
        if (!(c->vrules[i] > x->lo && c->vrules[i] < x->hi)) continue;
        fputs("<path class=\"ep\" d=\"M", f);
        co(f, rp_map(x, c->vrules[i]));
        fputc(' ', f);
        co(f, g->pt);
        fputs("V", f);
        co(f, g->pb);
        fputs("\"/>", f);
    }
    fputs("</g><path class=\"ax\" d=\"M", f);
    co(f, g->pl);
    fputc(' ', f);
    co(f, g->pt);
    fputs("V", f);
    co(f, g->pb);
    fputs("H", f);
    co(f, g->pr);
    fputs("\"/><g class=\"tk\">", f);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!lab[i]) continue;
        rp_tick_label(buf, sizeof buf, y, t[i], ysp, c->y_percent);
        fputs("<text x=\"", f);
        co(f, g->pl - 6);
        fputs("\" y=\"", f);
        co(f, rp_map(y, t[i]) + 3.5);
        fprintf(f, "\" text-anchor=\"end\"%s>", (k++ % 2) ? " class=\"alt\"" : "");
        rp_html(f, buf);
        fputs("</text>", f);
    }
    double xsp = tick_spacing(x, 5);
    for (int i = 0; i < nx; i++) {
        rp_tick_label(buf, sizeof buf, x, t[32 + i], xsp, c->x_percent);
        fputs("<text x=\"", f);
        co(f, rp_map(x, t[32 + i]));
        fputs("\" y=\"", f);
        co(f, g->labels_y);
        fprintf(f, "\" text-anchor=\"middle\"%s>", (i % 2) ? " class=\"alt\"" : "");
        rp_html(f, buf);
        fputs("</text>", f);
    }
    fputs("</g>", f);
}

static void draw_line(FILE *f, const rp_line *l, const rp_axis *x, const rp_axis *y) {
    fprintf(f, "<path class=\"ln%s\" d=\"", l->style == RP_STYLE_THIN ? " thin" :
            l->style == RP_STYLE_DASHED ? " dash" : "");
    bool pen = false;
    double lx = NAN, ly = NAN;
    for (int i = 0; i < l->n; i++) {
        if (!drawable(y, l->p[i].y)) {
            pen = false;
            continue;
        }
        double px = rp_map(x, l->p[i].x), py = rp_map(y, l->p[i].y);
        if (pen && lround(px * 10) == lround(lx * 10) && lround(py * 10) == lround(ly * 10)) continue;
        fputc(pen ? 'L' : 'M', f);
        co(f, px);
        fputc(' ', f);
        co(f, py);
        pen = true;
        lx = px;
        ly = py;
    }
    fputs("\"/>", f);
    if (l->style == RP_STYLE_POINTS && l->n <= 120) {
        for (int i = 0; i < l->n; i++) {
            if (!drawable(y, l->p[i].y)) continue;
            fputs("<circle class=\"dot\" cx=\"", f);
            co(f, rp_map(x, l->p[i].x));
            fputs("\" cy=\"", f);
            co(f, rp_map(y, l->p[i].y));
            fputs("\" r=\"2.4\"/>", f);
        }
    }
}

static void draw_mark(FILE *f, const char *kind, double px, double py) {
    if (!strcmp(kind, "spike")) {
        fputs("<path class=\"mk\" d=\"M", f);
        co(f, px);
        fputc(' ', f);
        co(f, py - 4.5);
        fputs("l4 7h-8z\"/>", f);
    } else if (!strcmp(kind, "skip")) {
        fputs("<circle class=\"mk hollow\" cx=\"", f);
        co(f, px);
        fputs("\" cy=\"", f);
        co(f, py);
        fputs("\" r=\"3.2\"/>", f);
    } else {
        fputs("<path class=\"mk\" d=\"M", f);
        co(f, px);
        fputc(' ', f);
        co(f, py - 4);
        fputs("l4 4-4 4-4-4z\"/>", f);
    }
}

static void draw_lanes(FILE *f, const rp_chart *c, const geom *g, const rp_axis *x,
                       const rp_axis *y) {
    for (int i = 0; i < c->nlanes; i++) {
        const rp_lane *ln = &c->lanes[i];
        const rp_evkind *k = ln->k;
        double top = g->lanes_top + i * (LANE_H + LANE_GAP);
        fprintf(f, "<g class=\"lane %s\"><rect class=\"lane-bg\" x=\"", ln->cls);
        co(f, g->pl);
        fputs("\" y=\"", f);
        co(f, top);
        fputs("\" width=\"", f);
        co(f, g->pr - g->pl);
        fputs("\" height=\"", f);
        co(f, LANE_H);
        fputs("\"/><text class=\"lane-lbl\" x=\"", f);
        co(f, g->pl - 6);
        fputs("\" y=\"", f);
        co(f, top + LANE_H - 0.5);
        fputs("\" text-anchor=\"end\">", f);
        rp_html(f, k->name);
        fputs("</text>", f);
        /* Ranges closer than a few tenths of a unit would overlap: one rect. */
        for (int j = 0; j < k->nr;) {
            double x0 = rp_map(x, (double)k->r[j].a), x1 = rp_map(x, (double)k->r[j].b);
            int m = j + 1;
            while (m < k->nr) {
                double nx0 = rp_map(x, (double)k->r[m].a);
                if (nx0 - x1 > 0.8 || nx0 < x0) break;
                double nx1 = rp_map(x, (double)k->r[m].b);
                if (nx1 > x1) x1 = nx1;
                m++;
            }
            double w = x1 - x0 < 1.4 ? 1.4 : x1 - x0;
            fputs("<rect class=\"ev\" x=\"", f);
            co(f, clamp(x0 - (x1 - x0 < 1.4 ? (1.4 - (x1 - x0)) / 2 : 0), g->pl - 1, g->pr));
            fputs("\" y=\"", f);
            co(f, top);
            fputs("\" width=\"", f);
            co(f, w);
            fputs("\" height=\"", f);
            co(f, LANE_H);
            fputs("\"/>", f);
            j = m;
        }
        if (ln->rules && k->nr <= 400) {
            for (int j = 0; j < k->nr; j++) {
                fputs("<path class=\"rule\" d=\"M", f);
                co(f, rp_map(x, (double)k->r[j].a));
                fputc(' ', f);
                co(f, g->pt);
                fputs("V", f);
                co(f, top + LANE_H);
                fputs("\"/>", f);
            }
        }
        if (ln->marks) {
            for (int j = 0; j < k->nmk; j++) {
                double v = k->mk[j].y;
                double py = drawable(y, v) ? rp_map(y, v) : g->pt + 4;
                draw_mark(f, k->name, rp_map(x, k->mk[j].x), py);
            }
        }
        fputs("</g>", f);
    }
}

static void json_points(FILE *f, const rp_line *l, const rp_axis *y) {
    fputs("\"x\":[", f);
    int k = 0;
    for (int i = 0; i < l->n; i++) {
        if (!drawable(y, l->p[i].y)) continue;
        if (k++) fputc(',', f);
        rp_json_num(f, l->p[i].x);
    }
    fputs("],\"y\":[", f);
    k = 0;
    for (int i = 0; i < l->n; i++) {
        if (!drawable(y, l->p[i].y)) continue;
        if (k++) fputc(',', f);
        rp_json_num(f, l->p[i].y);
    }
    fputc(']', f);
    if (l->epoch_tags) {
        fputs(",\"epoch\":[", f);
        k = 0;
        for (int i = 0; i < l->n; i++) {
            if (!drawable(y, l->p[i].y)) continue;
            fprintf(f, "%s%lld", k++ ? "," : "", (long long)l->p[i].tag);
        }
        fputc(']', f);
    }
}

static void write_data(FILE *f, const rp_chart *c, const rp_axis *x, const rp_axis *y) {
    fprintf(f, "<script type=\"application/json\" id=\"data-%s\">{\"id\":", c->id);
    rp_json_str(f, c->id);
    fputs(",\"kind\":\"lines\",\"title\":", f);
    rp_json_str(f, c->title);
    fputs(",\"y_label\":", f);
    rp_json_str(f, c->y_label);
    fputs(",\"x_label\":", f);
    rp_json_str(f, c->x_label ? c->x_label : "step");
    fprintf(f, ",\"x_percent\":%s,\"y_log\":%s,\"y_percent\":%s,", c->x_percent ? "true" : "false",
            y->log ? "true" : "false", c->y_percent ? "true" : "false");
    json_key(f, "x_domain");
    fputc('[', f);
    rp_json_num(f, x->lo);
    fputc(',', f);
    rp_json_num(f, x->hi);
    fputs("],\"y_domain\":[", f);
    rp_json_num(f, y->lo);
    fputc(',', f);
    rp_json_num(f, y->hi);
    fputs("],\"series\":[", f);
    for (int i = 0; i < c->nlines; i++) {
        const rp_line *l = &c->lines[i];
        fputs(i ? ",{\"label\":" : "{\"label\":", f);
        rp_json_str(f, l->label);
        fputs(",\"cls\":", f);
        rp_json_str(f, l->cls);
        fprintf(f, ",\"source\":%s,", l->source ? l->source : "null");
        json_points(f, l, y);
        fputc('}', f);
    }
    fputs("],\"events\":[", f);
    for (int i = 0; i < c->nlanes; i++) {
        const rp_evkind *k = c->lanes[i].k;
        fputs(i ? ",{\"kind\":" : "{\"kind\":", f);
        rp_json_str(f, k->name);
        fputs(",\"cls\":", f);
        rp_json_str(f, c->lanes[i].cls);
        fprintf(f, ",\"count\":%lld,\"ranges\":[", (long long)k->count);
        for (int j = 0; j < k->nr; j++)
            fprintf(f, "%s[%lld,%lld]", j ? "," : "", (long long)k->r[j].a, (long long)k->r[j].b);
        fputc(']', f);
        if (c->lanes[i].marks) {
            fputs(",\"marks\":{\"x\":[", f);
            for (int j = 0; j < k->nmk; j++) {
                if (j) fputc(',', f);
                rp_json_num(f, k->mk[j].x);
            }
            fputs("],\"y\":[", f);
            for (int j = 0; j < k->nmk; j++) {
                if (j) fputc(',', f);
                rp_json_num(f, k->mk[j].y);
            }
            fputs("]}", f);
        }
        fputc('}', f);
    }
    fputs("],\"hlines\":[", f);
    for (int i = 0; i < c->nhlines; i++) {
        fputs(i ? ",{\"label\":" : "{\"label\":", f);
        rp_json_str(f, c->hlines[i].label);
        fputs(",\"y\":", f);
        rp_json_num(f, c->hlines[i].y);
        fputc('}', f);
    }
    fputs("]}</script>\n", f);
}

/* The last value of each per-epoch series, written beside its last point
 * (pushed apart so that labels do not overlap). */
static void end_labels(FILE *f, const rp_chart *c, const geom *g, const rp_axis *x, const rp_axis *y) {
    struct lab {
        double px, py;
        int line;
        double v;
    } lab[16];
    int n = 0;
    for (int i = 0; i < c->nlines && n < 16; i++) {
        const rp_line *l = &c->lines[i];
        if (l->style != RP_STYLE_POINTS || l->n == 0 || l->n > 60) continue;
        const rp_pt *p = &l->p[l->n - 1];
        if (!drawable(y, p->y)) continue;
        lab[n++] = (struct lab){rp_map(x, p->x), rp_map(y, p->y), i, p->y};
    }
    for (int i = 1; i < n; i++) /* by height */
        for (int j = i; j > 0 && lab[j].py < lab[j - 1].py; j--) {
            struct lab t = lab[j];
            lab[j] = lab[j - 1];
            lab[j - 1] = t;
        }
    const double gap = 13;
    for (int i = 1; i < n; i++)
        if (lab[i].py - lab[i - 1].py < gap) lab[i].py = lab[i - 1].py + gap;
    double over = n ? lab[n - 1].py - (g->pb - 4) : 0;
    for (int i = n - 1; i >= 0 && over > 0; i--) {
        lab[i].py -= over;
        if (i > 0 && lab[i].py - lab[i - 1].py >= gap) break;
    }
    for (int i = 0; i < n; i++) {
        char buf[32];
        if (c->y_percent) snprintf(buf, sizeof buf, "%.1f%%", 100 * lab[i].v);
        else rp_fmt_num(buf, sizeof buf, lab[i].v);
        fprintf(f, "<text class=\"end %s\" x=\"", c->lines[lab[i].line].cls);
        co(f, lab[i].px - 7);
        fputs("\" y=\"", f);
        co(f, lab[i].py + 3.5);
        fputs("\" text-anchor=\"end\">", f);
        rp_html(f, buf);
        fputs("</text>", f);
    }
}

void rp_svg_chart(FILE *f, const rp_chart *c) {
    /* the y domain: every drawn point and reference line */
    double lo = INFINITY, hi = -INFINITY, plo = INFINITY;
    for (int i = 0; i < c->nlines; i++)
        for (int j = 0; j < c->lines[i].n; j++) {
            double v = c->lines[i].p[j].y;
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (v > 0 && v < plo) plo = v;
        }
    for (int i = 0; i < c->nhlines; i++) {
        double v = c->hlines[i].y;
        if (!isfinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (v > 0 && v < plo) plo = v;
    }
    bool log = c->y_scale == 1 || (c->y_scale < 0 && lo > 0 && hi / lo > 30);
    if (!log && c->y_zero && isfinite(lo)) {
        if (lo > 0) lo = 0;
        if (hi < 0) hi = 0;
        if (lo == 0 && hi == 0) hi = 1;
    }
    rp_axis x = {0}, y = {0};
    rp_axis_fit(&y, log ? plo : lo, hi, log);
    if (c->y_clamp01 && !log) {
        if (y.lo < 0) y.lo = 0;
        if (y.hi > 1) y.hi = 1;
        if (y.hi <= y.lo) y.lo = 0, y.hi = 1;
    }
    x.lo = c->x_lo;
    x.hi = c->x_hi;
    if (!(x.hi > x.lo)) {
        x.lo -= 1;
        x.hi += 1;
    }
    geom g;
    g.W = c->width;
    g.H = c->height;
    g.pl = ML;
    g.pr = g.W - MR;
    g.pt = MT;
    g.pb = g.H - MB;
    g.lanes_top = g.pb + 5;
    g.lanes_h = c->nlanes ? 5 + c->nlanes * (LANE_H + LANE_GAP) : 0;
    g.labels_y = g.pb + g.lanes_h + 15;
    x.p0 = g.pl;
    x.p1 = g.pr;
    y.p0 = g.pb;
    y.p1 = g.pt;
    double total_h = g.H + g.lanes_h;
    char sid[96];
    snprintf(sid, sizeof sid, "chart-%s%s%s", c->id, c->variant ? "-" : "", c->variant ? c->variant : "");
    fprintf(f, "<svg id=\"%s\" class=\"chart%s\" viewBox=\"0 0 %d ", sid, c->nlines > 8 ? " many" : "",
            c->width);
    co(f, total_h);
    fprintf(f, "\" role=\"img\" aria-labelledby=\"%s-t\" data-chart=\"%s\" data-px0=\"", sid, c->id);
    co(f, g.pl);
    fputs("\" data-px1=\"", f);
    co(f, g.pr);
    fputs("\" data-py0=\"", f);
    co(f, g.pb);
    fputs("\" data-py1=\"", f);
    co(f, g.pt);
    fprintf(f, "\" data-x0=\"%.9g\" data-x1=\"%.9g\" data-y0=\"%.9g\" data-y1=\"%.9g\" data-ylog=\"%d\">",
            x.lo, x.hi, y.lo, y.hi, y.log ? 1 : 0);
    fprintf(f, "<title id=\"%s-t\">", sid);
    rp_html(f, c->title);
    fputs("</title>", f);
    draw_axes(f, c, &g, &x, &y);
    fputs("<g class=\"plot\">", f);
    for (int i = 0; i < c->nhlines; i++) {
        if (!drawable(&y, c->hlines[i].y)) continue;
        double py = rp_map(&y, c->hlines[i].y);
        fprintf(f, "<g class=\"hl %s\"><path d=\"M", c->hlines[i].cls ? c->hlines[i].cls : "");
        co(f, g.pl);
        fputc(' ', f);
        co(f, py);
        fputs("H", f);
        co(f, g.pr);
        fputs("\"/><text x=\"", f);
        co(f, g.pl + 4);
        fputs("\" y=\"", f);
        co(f, py - 3);
        fputs("\">", f);
        rp_html(f, c->hlines[i].label);
        fputs("</text></g>", f);
    }
    for (int i = 0; i < c->nlines; i++) {
        fprintf(f, "<g class=\"%s\">", c->lines[i].cls);
        draw_line(f, &c->lines[i], &x, &y);
        fputs("</g>", f);
    }
    end_labels(f, c, &g, &x, &y);
    fputs("</g>", f);
    draw_lanes(f, c, &g, &x, &y);
    fputs("<path class=\"xhair\" d=\"M0 0\"/>", f);
    fputs("</svg>\n", f);
    if (!c->variant) write_data(f, c, &x, &y);
}

/* ---- heat map --------------------------------------------------------------- */

static void short_name(char *buf, size_t n, const char *name) {
    if (!strncmp(name, "layers.", 7)) name += 7;
    snprintf(buf, n, "%s", name);
    size_t len = strlen(buf);
    if (len > 7 && !strcmp(buf + len - 7, ".weight")) strcpy(buf + len - 7, ".w");
    else if (len > 5 && !strcmp(buf + len - 5, ".bias")) strcpy(buf + len - 5, ".b");
}

void rp_svg_heatmap(FILE *f, const rp_heatmap *m) {
    const rp_heat *h = m->h;
    int group = 1, nc = rp_heat_columns(h, m->max_cols, &group);
    int nr = h->nrows;
    double *z = malloc((size_t)(nr > 0 ? nr : 1) * (size_t)(nc > 0 ? nc : 1) * sizeof *z);
    int *bad = malloc((size_t)(nr > 0 ? nr : 1) * (size_t)(nc > 0 ? nc : 1) * sizeof *bad);
    double *x0 = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *x0);
    double *x1 = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *x1);
    double *edge = malloc((size_t)(nc + 1) * sizeof *edge);
    if (!z || !bad || !x0 || !x1 || !edge) {
        free(z), free(bad), free(x0), free(x1), free(edge);
        fputs("<p class=\"empty\">The heat map could not be drawn: out of memory.</p>", f);
        return;
    }
    double zmin = INFINITY, zmax = -INFINITY;
    for (int j = 0; j < nc; j++) {
        int c0 = j * group, c1 = c0 + group < h->nc ? c0 + group : h->nc;
        x0[j] = h->x0[c0];
        x1[j] = h->x1[c1 - 1];
        for (int r = 0; r < nr; r++) {
            double s = 0;
            long cnt = 0, b = 0;
            for (int c = c0; c < c1; c++) {
                s += h->sum[r][c];
                cnt += h->cnt[r][c];
                b += h->bad[r][c];
            }
            double v = cnt ? s / (double)cnt : NAN;
            z[(size_t)r * (size_t)nc + (size_t)j] = v;
            bad[(size_t)r * (size_t)nc + (size_t)j] = b > 0;
            if (isfinite(v)) {
                if (v < zmin) zmin = v;
                if (v > zmax) zmax = v;
            }
        }
    }
    if (!(zmax >= zmin)) zmin = -1, zmax = 0;
    if (zmax - zmin < 1e-9) zmin -= 0.5, zmax += 0.5;
    size_t maxlen = 4;
    char sn[128];
    for (int r = 0; r < nr; r++) {
        if (m->compact) short_name(sn, sizeof sn, m->rows[r]);
        size_t len = strlen(m->compact ? sn : m->rows[r]);
        if (len > maxlen) maxlen = len;
    }
    /* room for the labels: 11-unit text on a wide screen; the compact
     * drawing also serves phones, where the text is 19 units */
    double W = m->width, pr = W - MR, pt = 8;
    double pl = m->compact ? clamp(16 + (double)maxlen * 10.5, 60, 200)
                           : clamp(14 + (double)maxlen * 5.8, 70, 240);
    double rowh = nr <= 40 ? clamp(168.0 / nr, 12, 28) : (480.0 / nr < 3 ? 3 : 480.0 / nr);
    int lab_every = (int)ceil(10.5 / rowh);
    double pb = pt + nr * rowh;
    double bar_y = pb + 30, H = bar_y + 34;
    rp_axis x = {.lo = nc ? x0[0] : 0, .hi = nc ? x1[nc - 1] : 1, .log = false, .p0 = pl, .p1 = pr};
    if (isfinite(m->x_lo) && isfinite(m->x_hi) && m->x_hi > m->x_lo &&
        (!nc || (m->x_lo <= x.lo && m->x_hi >= x.hi))) {
        x.lo = m->x_lo;
        x.hi = m->x_hi;
    }
    if (!(x.hi > x.lo)) x.lo -= 1, x.hi += 1;
    for (int j = 0; j < nc; j++) edge[j] = j == 0 ? pl : rp_map(&x, x0[j]);
    edge[nc] = pr;
    char sid[96];
    snprintf(sid, sizeof sid, "chart-%s%s%s", m->id, m->variant ? "-" : "", m->variant ? m->variant : "");
    fprintf(f, "<svg id=\"%s\" class=\"chart heat\" viewBox=\"0 0 %d ", sid, m->width);
    co(f, H);
    fprintf(f, "\" role=\"img\" aria-labelledby=\"%s-t\" data-chart=\"%s\" data-kind=\"heatmap\" "
               "data-top=\"", sid, m->id);
    co(f, pt);
    fputs("\" data-rowh=\"", f);
    co(f, rowh);
    fputs("\" data-px0=\"", f);
    co(f, pl);
    fputs("\" data-px1=\"", f);
    co(f, pr);
    fputs("\" data-edges=\"", f);
    for (int j = 0; j <= nc; j++) {
        if (j) fputc(',', f);
        co(f, edge[j]);
    }
    fprintf(f, "\"><title id=\"%s-t\">", sid);
    rp_html(f, m->title);
    fputs("</title>", f);
    /* row labels */
    fputs("<g class=\"tk rows\">", f);
    for (int r = 0, k = 0; r < nr; r++) {
        if (r % lab_every != 0) continue;
        if (m->compact) short_name(sn, sizeof sn, m->rows[r]);
        fprintf(f, "<text%s x=\"", m->compact && (k++ % 2) ? " class=\"alt\"" : "");
        co(f, pl - 5);
        fputs("\" y=\"", f);
        co(f, pt + (r + 0.5) * rowh + 3.5);
        fputs("\" text-anchor=\"end\">", f);
        rp_html(f, m->compact ? sn : m->rows[r]);
        fputs("</text>", f);
    }
    fputs("</g><rect class=\"heat-bg\" x=\"", f);
    co(f, pl);
    fputs("\" y=\"", f);
    co(f, pt);
    fputs("\" width=\"", f);
    co(f, pr - pl);
    fputs("\" height=\"", f);
    co(f, pb - pt);
    fputs("\"/>", f);
    /* Cells: runs of equal colour within a row, one path per colour, in
     * units of a tenth of the viewBox across and a row down. */
    int *lv = malloc((size_t)(nr > 0 ? nr : 1) * (size_t)(nc > 0 ? nc : 1) * sizeof *lv);
    if (lv) {
        for (int r = 0; r < nr; r++)
            for (int j = 0; j < nc; j++) {
                size_t i = (size_t)r * (size_t)nc + (size_t)j;
                lv[i] = isfinite(z[i]) ? (int)lround((z[i] - zmin) / (zmax - zmin) * (RP_HEAT_LEVELS - 1))
                        : bad[i] ? -1 : -2;
            }
        fputs("<g class=\"cells\" shape-rendering=\"crispEdges\" transform=\"translate(", f);
        co(f, pl);
        fputc(' ', f);
        co(f, pt);
        fputs(") scale(0.1 ", f);
        co(f, rowh);
        fputs(")\">", f);
        for (int level = -1; level < RP_HEAT_LEVELS; level++) {
            bool open = false;
            for (int r = 0; r < nr; r++)
                for (int j = 0; j < nc;) {
                    const int *row = lv + (size_t)r * (size_t)nc;
                    int k = j + 1;
                    while (k < nc && row[k] == row[j]) k++;
                    if (row[j] == level) {
                        if (!open) {
                            if (level >= 0) fprintf(f, "<path class=\"h%d\" d=\"", level);
                            else fputs("<path class=\"hn\" d=\"", f);
                            open = true;
                        }
                        long x0 = lround((edge[j] - pl) * 10), x1 = lround((edge[k] - pl) * 10);
                        fprintf(f, "M%ld %dh%ldv1h-%ldz", x0, r, x1 - x0, x1 - x0);
                    }
                    j = k;
                }
            if (open) fputs("\"/>", f);
        }
        fputs("</g>", f);
        free(lv);
    }
    fputs("<path class=\"ax\" d=\"M", f);
    co(f, pl);
    fputc(' ', f);
    co(f, pb);
    fputs("H", f);
    co(f, pr);
    fputs("\"/><g class=\"tk\">", f);
    double t[32];
    bool lab[32];
    char buf[64];
    int nt = rp_axis_ticks(&x, t, lab, 32);
    double sp = tick_spacing(&x, 5);
    for (int i = 0; i < nt; i++) {
        rp_tick_label(buf, sizeof buf, &x, t[i], sp, false);
        fputs("<text x=\"", f);
        co(f, rp_map(&x, t[i]));
        fputs("\" y=\"", f);
        co(f, pb + 14);
        fprintf(f, "\" text-anchor=\"middle\"%s>", i % 2 ? " class=\"alt\"" : "");
        rp_html(f, buf);
        fputs("</text>", f);
    }
    /* colour bar: log10 of the gradient norm */
    double bw = m->compact ? 200 : 320, bx = pl;
    for (int i = 0; i < RP_HEAT_LEVELS; i++) {
        fprintf(f, "<rect class=\"h%d\" x=\"", i);
        co(f, bx + i * bw / RP_HEAT_LEVELS);
        fputs("\" y=\"", f);
        co(f, bar_y);
        fputs("\" width=\"", f);
        co(f, bw / RP_HEAT_LEVELS + 0.3);
        fputs("\" height=\"8\"/>", f);
    }
    int e0 = (int)ceil(zmin - EPS), e1 = (int)floor(zmax + EPS);
    int maxlab = m->compact ? 3 : 6;
    int every = e1 - e0 + 1 > maxlab ? (int)ceil((e1 - e0 + 1) / (double)maxlab) : 1;
    bool sci = sci_axis(pow(10, zmin), pow(10, zmax));
    for (int e = e0; e <= e1; e++) {
        if ((e - e0) % every) continue;
        double px = bx + (e - zmin) / (zmax - zmin) * bw;
        power_label(buf, sizeof buf, e, sci);
        fputs("<path class=\"ax\" d=\"M", f);
        co(f, px);
        fputc(' ', f);
        co(f, bar_y + 8);
        fputs("v3\"/><text x=\"", f);
        co(f, px);
        fputs("\" y=\"", f);
        co(f, bar_y + 22);
        fputs("\" text-anchor=\"middle\">", f);
        rp_html(f, buf);
        fputs("</text>", f);
    }
    bool any_bad = false;
    for (size_t i = 0; i < (size_t)nr * (size_t)nc; i++)
        if (bad[i] && !isfinite(z[i])) any_bad = true;
    fputs("<text class=\"cap\" x=\"", f);
    co(f, bx + bw + 10);
    fputs("\" y=\"", f);
    co(f, bar_y + 8);
    fputs("\">gradient L2 norm (log scale)</text>", f);
    if (any_bad) {
        fputs("<rect class=\"hn\" x=\"", f);
        co(f, bx + bw + 10);
        fputs("\" y=\"", f);
        co(f, bar_y + 14);
        fputs("\" width=\"8\" height=\"8\"/><text class=\"cap\" x=\"", f);
        co(f, bx + bw + 22);
        fputs("\" y=\"", f);
        co(f, bar_y + 22);
        fputs("\">no finite value</text>", f);
    }
    fputs("</g><path class=\"xhair\" d=\"M0 0\"/></svg>\n", f);
    if (m->variant) goto done;
    /* the data block */
    fprintf(f, "<script type=\"application/json\" id=\"data-%s\">{\"id\":", m->id);
    rp_json_str(f, m->id);
    fputs(",\"kind\":\"heatmap\",\"title\":", f);
    rp_json_str(f, m->title);
    fprintf(f, ",\"source\":%s,\"agg\":\"mean_log10\",\"rows\":[", m->source ? m->source : "null");
    for (int r = 0; r < nr; r++) {
        if (r) fputc(',', f);
        rp_json_str(f, m->rows[r]);
    }
    fputs("],\"x0\":[", f);
    for (int j = 0; j < nc; j++) {
        if (j) fputc(',', f);
        rp_json_num(f, x0[j]);
    }
    fputs("],\"x1\":[", f);
    for (int j = 0; j < nc; j++) {
        if (j) fputc(',', f);
        rp_json_num(f, x1[j]);
    }
    fputs("],\"z_domain\":[", f);
    rp_json_num(f, zmin);
    fputc(',', f);
    rp_json_num(f, zmax);
    fputs("],\"z\":[", f);
    for (int r = 0; r < nr; r++) {
        fputs(r ? ",[" : "[", f);
        for (int j = 0; j < nc; j++) {
            if (j) fputc(',', f);
            rp_json_num(f, z[(size_t)r * (size_t)nc + (size_t)j]);
        }
        fputc(']', f);
    }
    fputs("]}</script>\n", f);
done:
    free(z), free(bad), free(x0), free(x1), free(edge);
}

/* ---- colour ramps -------------------------------------------------------------- */

typedef struct rgb {
    double r, g, b;
} rgb;

static rgb hex(unsigned v) { return (rgb){(v >> 16) & 255, (v >> 8) & 255, v & 255}; }

static rgb ramp(const unsigned *stops, int n, double t) {
    t = clamp(t, 0, 1) * (n - 1);
    int i = (int)floor(t);
    if (i >= n - 1) i = n - 2;
    double u = t - i;
    rgb a = hex(stops[i]), b = hex(stops[i + 1]);
    return (rgb){a.r + u * (b.r - a.r), a.g + u * (b.g - a.g), a.b + u * (b.b - a.b)};
}

static void css_colour(FILE *f, rgb c) {
    fprintf(f, "#%02x%02x%02x", (int)lround(c.r), (int)lround(c.g), (int)lround(c.b));
}

void rp_css_ramps(FILE *f) {
    /* viridis, for the heat map in both modes */
    static const unsigned viridis[9] = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                        0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};
    /* plasma: its dark end for a light page, its bright end for a dark one */
    static const unsigned plasma[9] = {0x0d0887, 0x4c02a1, 0x7e03a8, 0xa92395, 0xcc4778,
                                       0xe56b5d, 0xf89540, 0xfdc527, 0xf0f921};
    for (int i = 0; i < RP_HEAT_LEVELS; i++) {
        fprintf(f, ".h%d{fill:", i);
        css_colour(f, ramp(viridis, 9, (double)i / (RP_HEAT_LEVELS - 1)));
        fputs("}", f);
    }
    fputc('\n', f);
    for (int i = 0; i < RP_DEPTH_LEVELS; i++) {
        fprintf(f, ".d%d{--sc:", i);
        css_colour(f, ramp(plasma, 9, 0.05 + 0.72 * i / (RP_DEPTH_LEVELS - 1)));
        fputs("}", f);
    }
    fputs("\n@media (prefers-color-scheme: dark){", f);
    for (int i = 0; i < RP_DEPTH_LEVELS; i++) {
        fprintf(f, ".d%d{--sc:", i);
        css_colour(f, ramp(plasma, 9, 0.3 + 0.7 * i / (RP_DEPTH_LEVELS - 1)));
        fputs("}", f);
    }
    fputs("}\n", f);
}
