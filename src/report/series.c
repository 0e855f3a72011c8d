/* Bounded summaries of unbounded streams: M4 buckets for line series (the
 * first, last, smallest and largest point of each bucket: min and max are
 * never lost, so a spike between two samples still shows) and the heat
 * map's mean-of-log10 cells. Both double the number of values per bucket
 * when they run out of room, merging neighbours exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "report/report_int.h"

gg_status rp_series_init(rp_series *s, bool positive_only, gg_error *err) {
    memset(s, 0, sizeof *s);
    s->cap = RP_SERIES_CAP;
    s->per = 1;
    s->positive_only = positive_only;
    s->ymin = INFINITY;
    s->ymax = -INFINITY;
    s->b = gg_alloc((size_t)s->cap * sizeof *s->b, err);
    return s->b ? GG_OK : GG_ERR_NOMEM;
}

void rp_series_free(rp_series *s) {
    free(s->b);
    s->b = NULL;
}

static void bucket_merge(rp_bucket *into, const rp_bucket *b) {
    if (b->n == 0) return;
    if (into->n == 0) {
        *into = *b;
        return;
    }
    into->last = b->last;
    if (b->min.y < into->min.y) into->min = b->min;
    if (b->max.y > into->max.y) into->max = b->max;
    into->n += b->n;
}

static void halve(rp_series *s) {
    int nb = 0;
    for (int i = 0; i < s->nb; i += 2) {
        rp_bucket m = s->b[i];
        if (i + 1 < s->nb) bucket_merge(&m, &s->b[i + 1]);
        s->b[nb++] = m;
    }
    memset(s->b + nb, 0, (size_t)(s->cap - nb) * sizeof *s->b);
    s->nb = nb;
    s->per *= 2;
}

void rp_series_add(rp_series *s, double x, double y, int64_t tag) {
    if (!s->b) return;
    if (!isfinite(y) || !isfinite(x)) {
        s->n_nonfinite++;
        return;
    }
    if (s->positive_only && !(y > 0)) {
        s->n_nonpos++;
        return;
    }
    int64_t idx = s->n / s->per;
    while (idx >= s->cap) {
        halve(s);
        idx = s->n / s->per;
    }
    rp_pt p = {x, y, tag};
    rp_bucket *b = &s->b[idx];
    if (b->n == 0) {
        b->first = b->last = b->min = b->max = p;
    } else {
        b->last = p;
        if (y < b->min.y) b->min = p;
        if (y > b->max.y) b->max = p;
    }
    b->n++;
    s->n++;
    if (idx + 1 > s->nb) s->nb = (int)idx + 1;
    if (y < s->ymin) s->ymin = y;
    if (y > s->ymax) s->ymax = y;
    s->last = p;
}

static int pt_cmp(const void *a, const void *b) {
    const rp_pt *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

/* The most points buckets grouped by g can give: a merged bucket shows at
 * most its first, min, max and last values, and never more than it holds. */
static int64_t points_bound(const rp_series *s, int64_t g) {
    int64_t per = s->per * g;
    return (s->nb + g - 1) / g * (per < 4 ? per : 4);
}

int rp_series_points(const rp_series *s, int max_points, rp_pt *out) {
    if (!s->b || s->nb == 0) return 0;
    int64_t group = 1;
    while (points_bound(s, group) > max_points && group < s->nb) group *= 2;
    int n = 0;
    for (int64_t i = 0; i < s->nb; i += group) {
        rp_bucket m = {0};
        for (int64_t j = i; j < i + group && j < s->nb; j++) bucket_merge(&m, &s->b[j]);
        if (m.n == 0) continue;
        rp_pt c[4] = {m.first, m.min, m.max, m.last};
        qsort(c, 4, sizeof *c, pt_cmp);
        for (int k = 0; k < 4; k++) {
            bool dup = false;
            for (int j = 0; j < k; j++)
                if (c[j].x == c[k].x && c[j].y == c[k].y) dup = true;
            if (!dup) out[n++] = c[k];
        }
    }
    return n;
}

int rp_series_points_max(const rp_series *s) { return (int)points_bound(s, 1); }

/* ---- heat map ------------------------------------------------------------- */

gg_status rp_heat_init(rp_heat *h, gg_error *err) {
    memset(h, 0, sizeof *h);
    h->cap = RP_HEAT_CAP;
    h->per = 1;
    h->x0 = gg_alloc((size_t)h->cap * sizeof *h->x0, err);
    h->x1 = h->x0 ? gg_alloc((size_t)h->cap * sizeof *h->x1, err) : NULL;
    return h->x1 ? GG_OK : GG_ERR_NOMEM;
}

void rp_heat_free(rp_heat *h) {
    for (int r = 0; r < h->nrows; r++) {
        free(h->sum[r]);
        free(h->cnt[r]);
        free(h->bad[r]);
    }
    free(h->sum);
    free(h->cnt);
    free(h->bad);
    free(h->x0);
    free(h->x1);
    memset(h, 0, sizeof *h);
}

static void heat_halve(rp_heat *h) {
    int nc = 0;
    for (int i = 0; i < h->nc; i += 2, nc++) {
        bool pair = i + 1 < h->nc;
        h->x0[nc] = h->x0[i];
        h->x1[nc] = pair ? h->x1[i + 1] : h->x1[i];
        for (int r = 0; r < h->nrows; r++) {
            h->sum[r][nc] = h->sum[r][i] + (pair ? h->sum[r][i + 1] : 0);
            h->cnt[r][nc] = h->cnt[r][i] + (pair ? h->cnt[r][i + 1] : 0);
            h->bad[r][nc] = h->bad[r][i] + (pair ? h->bad[r][i + 1] : 0);
        }
    }
    for (int r = 0; r < h->nrows; r++) {
        memset(h->sum[r] + nc, 0, (size_t)(h->cap - nc) * sizeof **h->sum);
        memset(h->cnt[r] + nc, 0, (size_t)(h->cap - nc) * sizeof **h->cnt);
        memset(h->bad[r] + nc, 0, (size_t)(h->cap - nc) * sizeof **h->bad);
    }
    h->nc = nc;
    h->per *= 2;
}

int rp_heat_sample(rp_heat *h, double step) {
    int64_t idx = h->n / h->per;
    while (idx >= h->cap) {
        heat_halve(h);
        idx = h->n / h->per;
    }
    if (idx >= h->nc) {
        h->nc = (int)idx + 1;
        h->x0[idx] = step;
    }
    h->x1[idx] = step;
    h->n++;
    return (int)idx;
}

gg_status rp_heat_add_row(rp_heat *h, gg_error *err) {
    if (h->nrows == h->rows_cap) {
        int cap = h->rows_cap ? 2 * h->rows_cap : 16;
        double **s = realloc(h->sum, (size_t)cap * sizeof *s);
        if (!s) return gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
        h->sum = s;
        int32_t **c = realloc(h->cnt, (size_t)cap * sizeof *c);
        if (!c) return gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
        h->cnt = c;
        int32_t **b = realloc(h->bad, (size_t)cap * sizeof *b);
        if (!b) return gg_fail(err, GG_ERR_NOMEM, "report: out of memory");
        h->bad = b;
        h->rows_cap = cap;
    }
    int r = h->nrows;
    h->sum[r] = gg_alloc((size_t)h->cap * sizeof **h->sum, err);
    h->cnt[r] = h->sum[r] ? gg_alloc((size_t)h->cap * sizeof **h->cnt, err) : NULL;
    h->bad[r] = h->cnt[r] ? gg_alloc((size_t)h->cap * sizeof **h->bad, err) : NULL;
    if (!h->bad[r]) {
        free(h->sum[r]);
        free(h->cnt[r]);
        return GG_ERR_NOMEM;
    }
    h->nrows++;
    return GG_OK;
}

void rp_heat_put(rp_heat *h, int row, int col, double v) {
    if (row < 0 || row >= h->nrows || col < 0 || col >= h->nc) return;
    if (isfinite(v) && v > 0) {
        h->sum[row][col] += log10(v);
        h->cnt[row][col]++;
    } else {
        h->bad[row][col]++;
    }
}

int rp_heat_columns(const rp_heat *h, int max_cols, int *group) {
    int g = 1;
    while ((h->nc + g - 1) / g > max_cols) g *= 2;
    *group = g;
    return (h->nc + g - 1) / g;
}
