/* Charts as inline SVG: axes with nice ticks (1, 2, 5 x 10^k; powers of
 * 10 on log scales), line series, event lanes and markers, and a heat
 * map. Each chart is followed by a <script type="application/json"> block
 * with exactly the points it draws, so tests (and the tooltip script) can
 * read them back. Colours are CSS classes, so light and dark mode are the
 * page's business. */
#ifndef GG_REPORT_SVG_H
#define GG_REPORT_SVG_H

#include <stdbool.h>
#include <stdio.h>
#include "report/report_int.h"

typedef struct rp_axis {
    double lo, hi; /* domain */
    bool log;
    double p0, p1; /* where lo and hi land, in viewBox units */
} rp_axis;

double rp_map(const rp_axis *a, double v);
/* The domain for data in [lo, hi], widened to nice numbers. */
void rp_axis_fit(rp_axis *a, double lo, double hi, bool log);
/* Ticks within the domain: values and whether each gets a label. */
int rp_axis_ticks(const rp_axis *a, double *t, bool *label, int max);
/* A tick label: log scales as 10^k (superscript digits), linear ones with
 * as many decimals as the tick spacing needs, k/M for large counts,
 * percent when asked. */
void rp_tick_label(char *buf, size_t n, const rp_axis *a, double v, double spacing, bool percent);

typedef enum rp_style {
    RP_STYLE_LINE,   /* a solid line */
    RP_STYLE_THIN,   /* a thin, faded line (raw per-step values under epoch means) */
    RP_STYLE_DASHED,
    RP_STYLE_POINTS, /* a line with a dot at each point (epoch series) */
} rp_style;

typedef struct rp_line {
    const char *label; /* legend and tooltip */
    const char *cls;   /* colour class: c0..c7 (categories), d0..d15 (depth) */
    rp_style style;
    const rp_pt *p;
    int n;
    const char *source; /* JSON object naming where the points come from */
    bool epoch_tags;    /* the points' tags are epoch numbers: written as "epoch" */
} rp_line;

/* An event kind under the plot: a lane of its ranges; optionally its marks
 * on the plot (at the y they carry; at the top when that is not finite)
 * and vertical rules across the plot. */
typedef struct rp_lane {
    const rp_evkind *k;
    const char *cls; /* ev-... */
    bool marks, rules;
} rp_lane;

typedef struct rp_hline {
    double y;
    const char *label;
    const char *cls;
} rp_hline;

typedef struct rp_chart {
    const char *id;    /* svg id "chart-ID", data block "data-ID" */
    const char *title; /* the svg's <title> */
    const char *y_label;
    int y_scale;       /* 0 linear, 1 log, -1 log when positive and spanning > 30x */
    bool y_percent;
    bool y_clamp01;    /* a fraction: the domain stays within [0, 1] */
    bool y_zero;       /* on a linear scale, the domain reaches down (or up) to 0 */
    int width, height; /* the plot's viewBox, lanes excluded */
    const rp_line *lines;
    int nlines;
    const rp_lane *lanes;
    int nlanes;
    const rp_hline *hlines;
    int nhlines;
    const double *vrules; /* faint vertical lines (epoch ends) */
    int nvrules;
    double x_lo, x_hi; /* the x domain (steps, unless x_label says otherwise) */
    const char *x_label; /* NULL: the training step; else what x is (its tooltip and data block) */
    bool x_percent;      /* x is a fraction, labelled in % */
    const char *variant; /* NULL: the chart and its data block; "c" etc.: another
                            drawing of it (svg id chart-ID-c), no data block */
} rp_chart;

/* Writes the <svg> and its data block. */
void rp_svg_chart(FILE *f, const rp_chart *c);

typedef struct rp_heatmap {
    const char *id, *title;
    const rp_heat *h;
    const char *const *rows; /* names, h->nrows */
    int width;
    int max_cols;
    const char *source;
    double x_lo, x_hi; /* the step domain shared with the other charts */
    const char *variant; /* as for rp_chart */
    bool compact;        /* short row labels (layers.3.weight -> 3.w) */
} rp_heatmap;

void rp_svg_heatmap(FILE *f, const rp_heatmap *m);

/* Classes h0..h{RP_HEAT_LEVELS-1}: the heat map's colour ramp, and d0..d15
 * the depth ramp of per-layer lines, written as CSS rules. */
#define RP_HEAT_LEVELS 32
#define RP_DEPTH_LEVELS 16
void rp_css_ramps(FILE *f);

#endif
