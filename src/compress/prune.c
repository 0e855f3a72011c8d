/* Magnitude pruning: masks over a model's weights (every parameter of two
 * or more dimensions), computed from |w| (unstructured) or from the norms
 * of whole rows: dense output units, conv filters (structured), per
 * weight tensor or with one threshold over all of them; and the gradual
 * schedule of Zhu and Gupta (2017), "To prune, or not to prune".
 *
 * Selecting the k smallest keys is a radix select on the keys' IEEE bits
 * (non-negative doubles order as their bit patterns): eight counting
 * passes, O(n) whatever the values, and ties at the threshold go to the
 * earlier position, so exactly k are chosen. Every buffer is allocated by
 * gg_pruner_new; recomputing and applying masks allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/compress.h"
#include "train/model.h"

typedef struct row_ref {
    uint64_t key;
    int row;
} row_ref;

typedef struct prune_tensor {
    gg_node *w;
    uint8_t *mask;    /* len: 1 keeps, 0 prunes */
    size_t len, row_len;
    int rows;
    bool structural;  /* may lose rows under structured pruning */
    size_t key0;      /* first key of this tensor in the key arrays */
    int row0;         /* first row key */
} prune_tensor;

struct gg_pruner {
    gg_model *m;
    gg_prune_spec spec;
    int n;
    prune_tensor *t;
    gg_prune_stats *stats;
    size_t total;        /* prunable elements */
    int total_rows;
    uint64_t *keys;      /* total: |w| bits */
    uint64_t *row_keys;  /* total_rows */
    struct row_ref *order; /* total_rows: rows sorted by key (global structured) */
    int *kept;           /* n: rows each weight keeps (global structured) */
    uint8_t *mask_block; /* every mask */
    double current;      /* sparsity of the masks in force */
    double masked;       /* fraction of prunable weights their masks hold at zero */
    bool active;         /* masks computed at least once */
    bool final_done;
};

void gg_prune_spec_default(gg_prune_spec *s) {
    memset(s, 0, sizeof *s);
    s->scope = GG_PRUNE_GLOBAL;
    s->frequency = 100;
}

double gg_prune_target(const gg_prune_spec *s, int64_t step) {
    if (step < s->start_step) return 0;
    if (s->end_step <= s->start_step || step >= s->end_step) return s->sparsity;
    double f = (double)(step - s->start_step) / (double)(s->end_step - s->start_step);
    double r = 1 - f;
    return s->sparsity + (s->initial_sparsity - s->sparsity) * r * r * r;
}

static uint64_t key_of(double v) {
    v = fabs(v);
    if (!(v == v)) v = INFINITY; /* NaN: the largest, never pruned first */
    uint64_t k;
    memcpy(&k, &v, sizeof k);
    return k;
}

/* The k-th smallest (0-based) of keys[0..n), k < n. */
static uint64_t kth_smallest(const uint64_t *keys, size_t n, size_t k) {
    uint64_t prefix = 0, hi_mask = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++)
            if ((keys[i] & hi_mask) == prefix) cnt[(keys[i] >> shift) & 255]++;
        int b = 0;
        while (k >= cnt[b]) k -= cnt[b++];
        prefix |= (uint64_t)b << shift;
        hi_mask |= (uint64_t)255 << shift;
    }
    return prefix;
}

/* Threshold and quota: prune every key < t and the first `quota` keys == t,
 * which makes exactly k of n. */
static void select_k(const uint64_t *keys, size_t n, size_t k, uint64_t *t, size_t *quota) {
    if (k == 0) {
        *t = 0;
        *quota = 0;
        return;
    }
    *t = kth_smallest(keys, n, k - 1);
    size_t below = 0;
    for (size_t i = 0; i < n; i++) below += keys[i] < *t;
    *quota = k - below;
}

static size_t count_for(double s, size_t n) {
    double k = floor(s * (double)n + 0.5);
    return k <= 0 ? 0 : k >= (double)n ? n : (size_t)k;
}

gg_status gg_pruner_new(gg_model *m, const gg_prune_spec *spec, gg_pruner **out, gg_error *err) {
    *out = NULL;
    if (!m || !spec) return gg_fail(err, GG_ERR_ARG, "gg_pruner_new: NULL argument");
    if (!(spec->sparsity >= 0 && spec->sparsity < 1))
        return gg_fail(err, GG_ERR_ARG, "prune sparsity %g: expected 0 <= sparsity < 1", spec->sparsity);
    if (!(spec->initial_sparsity >= 0 && spec->initial_sparsity <= spec->sparsity))
        return gg_fail(err, GG_ERR_ARG, "prune initial_sparsity %g: expected 0 to the sparsity (%g)",
                       spec->initial_sparsity, spec->sparsity);
    if (spec->frequency < 1 || spec->start_step < 0)
        return gg_fail(err, GG_ERR_ARG,
                       "prune schedule: frequency (%lld) must be >= 1 and start_step (%lld) >= 0",
                       (long long)spec->frequency, (long long)spec->start_step);
    if (spec->scope != GG_PRUNE_GLOBAL && spec->scope != GG_PRUNE_LAYER)
        return gg_fail(err, GG_ERR_ARG, "prune scope: expected global or layer");
    gg_graph *g = m->g;
    gg_pruner *p = calloc(1, sizeof *p);
    if (!p) return gg_fail(err, GG_ERR_NOMEM, "out of memory creating the pruner");
    p->m = m;
    p->spec = *spec;
    for (int i = 0; i < g->n_params; i++) p->n += g->params[i]->out->ndim >= 2;
    if (p->n == 0) {
        free(p);
        return gg_fail(err, GG_ERR_ARG, "the model has no weights to prune (no dense or conv2d layer)");
    }
    p->t = calloc((size_t)p->n, sizeof *p->t);
    p->stats = calloc((size_t)p->n, sizeof *p->stats);
    if (!p->t || !p->stats) goto nomem;
    int k = 0;
    for (int i = 0; i < g->n_params; i++) {
        gg_node *w = g->params[i];
        if (w->out->ndim < 2) continue;
        prune_tensor *t = &p->t[k++];
        t->w = w;
        t->len = w->out->len;
        t->rows = w->out->shape[0];
        t->row_len = t->len / (size_t)t->rows;
        t->structural = true;
        t->key0 = p->total;
        t->row0 = p->total_rows;
        p->total += t->len;
        p->total_rows += t->rows;
    }
    /* The output layer's rows are the model's outputs. */
    if (p->n > 1) p->t[p->n - 1].structural = false;
    p->keys = malloc(p->total * sizeof *p->keys);
    p->row_keys = malloc((size_t)p->total_rows * sizeof *p->row_keys);
    p->order = malloc((size_t)p->total_rows * sizeof *p->order);
    p->kept = malloc((size_t)p->n * sizeof *p->kept);
    p->mask_block = malloc(p->total);
    if (!p->keys || !p->row_keys || !p->order || !p->kept || !p->mask_block) goto nomem;
    memset(p->mask_block, 1, p->total);
    for (int i = 0; i < p->n; i++) p->t[i].mask = p->mask_block + p->t[i].key0;
    *out = p;
    return GG_OK;
nomem:
    gg_pruner_free(p);
    return gg_fail(err, GG_ERR_NOMEM, "out of memory creating the pruner");
}

void gg_pruner_free(gg_pruner *p) {
    if (!p) return;
    free(p->t);
    free(p->stats);
    free(p->keys);
    free(p->row_keys);
    free(p->order);
    free(p->kept);
    free(p->mask_block);
    free(p);
}

/* ---- unstructured ---------------------------------------------------------- */

static void mask_from_keys(uint8_t *mask, const uint64_t *keys, size_t n, uint64_t t, size_t quota) {
    for (size_t i = 0; i < n; i++) {
        bool cut = keys[i] < t || (keys[i] == t && quota > 0);
        if (keys[i] == t && quota > 0) quota--;
        mask[i] = !cut;
    }
}

static void prune_unstructured(gg_pruner *p, double s) {
    for (int i = 0; i < p->n; i++) {
        const gg_real *w = p->t[i].w->out->x;
        uint64_t *key = p->keys + p->t[i].key0;
        for (size_t j = 0; j < p->t[i].len; j++) key[j] = key_of((double)w[j]);
    }
    uint64_t t;
    size_t quota;
    if (p->spec.scope == GG_PRUNE_GLOBAL) {
        select_k(p->keys, p->total, count_for(s, p->total), &t, &quota);
        mask_from_keys(p->mask_block, p->keys, p->total, t, quota);
    } else {
        for (int i = 0; i < p->n; i++) {
            prune_tensor *pt = &p->t[i];
            const uint64_t *key = p->keys + pt->key0;
            select_k(key, pt->len, count_for(s, pt->len), &t, &quota);
            mask_from_keys(pt->mask, key, pt->len, t, quota);
        }
    }
}

/* ---- structured ------------------------------------------------------------ */

static int by_key(const void *a, const void *b) {
    const row_ref *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static void set_row(prune_tensor *t, int r, uint8_t v) {
    memset(t->mask + (size_t)r * t->row_len, v, t->row_len);
}

static void prune_structured(gg_pruner *p, double s) {
    bool global = p->spec.scope == GG_PRUNE_GLOBAL;
    size_t total = 0;
    for (int i = 0; i < p->n; i++) {
        prune_tensor *t = &p->t[i];
        memset(t->mask, 1, t->len);
        const gg_real *w = t->w->out->x;
        for (int r = 0; r < t->rows; r++) {
            double ss = 0;
            for (size_t j = 0; j < t->row_len; j++) {
                double v = (double)w[(size_t)r * t->row_len + j];
                ss += v * v;
            }
            /* Globally rows of different widths compete by their RMS. */
            p->row_keys[t->row0 + r] = key_of(global ? sqrt(ss / (double)t->row_len) : sqrt(ss));
        }
        if (t->structural) total += t->len;
    }
    if (!global) {
        for (int i = 0; i < p->n; i++) {
            prune_tensor *t = &p->t[i];
            if (!t->structural) continue;
            size_t k = count_for(s, (size_t)t->rows);
            if (k >= (size_t)t->rows) k = (size_t)t->rows - 1; /* keep one unit */
            uint64_t th;
            size_t quota;
            const uint64_t *key = p->row_keys + t->row0;
            select_k(key, (size_t)t->rows, k, &th, &quota);
            for (int r = 0; r < t->rows; r++) {
                bool cut = key[r] < th || (key[r] == th && quota > 0);
                if (key[r] == th && quota > 0) quota--;
                if (cut) set_row(t, r, 0);
            }
        }
        return;
    }
    /* Global: rows in ascending RMS, each taken while it overshoots the
     * target by less than half its size; every weight keeps one row. */
    int nr = 0;
    for (int i = 0; i < p->n; i++)
        if (p->t[i].structural)
            for (int r = 0; r < p->t[i].rows; r++, nr++)
                p->order[nr] = (row_ref){p->row_keys[p->t[i].row0 + r], p->t[i].row0 + r};
    qsort(p->order, (size_t)nr, sizeof *p->order, by_key);
    double target = floor(s * (double)total + 0.5);
    double pruned = 0;
    int *kept = p->kept;
    for (int i = 0; i < p->n; i++) kept[i] = p->t[i].rows;
    for (int q = 0; q < nr && pruned < target; q++) {
        int row = p->order[q].row, i = 0;
        while (i + 1 < p->n && p->t[i + 1].row0 <= row) i++;
        prune_tensor *t = &p->t[i];
        double len = (double)t->row_len;
        if (kept[i] <= 1 || pruned + len > target + len / 2) continue;
        set_row(t, row - t->row0, 0);
        kept[i]--;
        pruned += len;
    }
}

/* Counted when masks change, so the training loop can log it every step. */
static void count_masked(gg_pruner *p) {
    size_t total = 0, zeros = 0;
    for (int i = 0; i < p->n; i++) {
        const prune_tensor *t = &p->t[i];
        if (p->spec.structured && !t->structural) continue;
        total += t->len;
        for (size_t j = 0; j < t->len; j++) zeros += !t->mask[j];
    }
    p->masked = total ? (double)zeros / (double)total : 0;
}

static void recompute(gg_pruner *p, double s) {
    if (p->spec.structured) prune_structured(p, s);
    else prune_unstructured(p, s);
    p->current = s;
    p->active = true;
    count_masked(p);
}

double gg_pruner_masked(const gg_pruner *p) { return p->masked; }

void gg_pruner_apply(gg_pruner *p) {
    if (!p->active) return;
    for (int i = 0; i < p->n; i++) {
        gg_real *w = p->t[i].w->out->x;
        const uint8_t *mk = p->t[i].mask;
        size_t n = p->t[i].len;
#pragma omp simd
        for (size_t j = 0; j < n; j++) w[j] = mk[j] ? w[j] : 0;
    }
}

gg_status gg_pruner_prune(gg_pruner *p, double sparsity, gg_error *err) {
    if (!(sparsity >= 0 && sparsity < 1))
        return gg_fail(err, GG_ERR_ARG, "prune sparsity %g: expected 0 <= sparsity < 1", sparsity);
    recompute(p, sparsity);
    p->final_done = true; /* the masks stay as they are from now on */
    gg_pruner_apply(p);
    return GG_OK;
}

int gg_prune_step(gg_pruner *p, int64_t step) {
    const gg_prune_spec *s = &p->spec;
    int changed = 0;
    if (step >= s->start_step) {
        bool due = step >= s->end_step ? !p->final_done
                                       : (step - s->start_step) % s->frequency == 0;
        if (due) {
            double target = gg_prune_target(s, step);
            if (target > 0 || p->active) {
                /* The old masks first, so weights pruned before (moved by
                 * this step's update) are zero, the smallest, and stay out. */
                gg_pruner_apply(p);
                recompute(p, target);
                changed = 1;
            }
            if (step >= s->end_step) p->final_done = true;
        }
    }
    gg_pruner_apply(p);
    return changed;
}

void gg_pruner_restore(gg_pruner *p, int64_t step) {
    const gg_prune_spec *s = &p->spec;
    bool any = false;
    for (int i = 0; i < p->n; i++) {
        const gg_real *w = p->t[i].w->out->x;
        for (size_t j = 0; j < p->t[i].len; j++) {
            p->t[i].mask[j] = w[j] != 0;
            any |= w[j] == 0;
        }
    }
    p->active = any;
    count_masked(p);
    p->final_done = step >= s->start_step && step >= s->end_step && any;
    if (step < s->start_step) p->current = 0;
    else {
        /* the sparsity of the last update at or before step */
        int64_t last = step >= s->end_step ? s->end_step
                                           : s->start_step + (step - s->start_step) / s->frequency * s->frequency;
        p->current = gg_prune_target(s, last);
    }
}

int gg_pruner_stats(gg_pruner *p, const gg_prune_stats **stats) {
    for (int i = 0; i < p->n; i++) {
        const prune_tensor *t = &p->t[i];
        gg_prune_stats *st = &p->stats[i];
        const gg_real *w = t->w->out->x;
        st->name = t->w->name;
        st->total = t->len;
        st->rows = t->rows;
        st->prunable = !p->spec.structured || t->structural;
        st->zeros = 0;
        st->zero_rows = 0;
        for (int r = 0; r < t->rows; r++) {
            size_t z = 0;
            for (size_t j = 0; j < t->row_len; j++) z += w[(size_t)r * t->row_len + j] == 0;
            st->zeros += z;
            st->zero_rows += z == t->row_len;
        }
    }
    *stats = p->stats;
    return p->n;
}

double gg_pruner_sparsity(gg_pruner *p) {
    const gg_prune_stats *st;
    int n = gg_pruner_stats(p, &st);
    size_t total = 0, zeros = 0;
    for (int i = 0; i < n; i++)
        if (st[i].prunable) {
            total += st[i].total;
            zeros += st[i].zeros;
        }
    return total ? (double)zeros / (double)total : 0;
}
