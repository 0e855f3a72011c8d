/* Values of the YAML config: reading one scalar or list into a field as the
 * schema row says, and the messages when it does not fit. Every message is
 * GG_ERR_CONFIG and starts with FILE:LINE:COL (1-based) or "--set KEY". */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/core.h"
#include "io/config_schema.h"

#define SHOW GG_CFG_SHOW

/* ---- messages ----------------------------------------------------------------- */

/* "SRC:L:C: PATH: msg", or "--set KEY: PATH: msg" (PATH dropped when it is KEY). */
gg_status gg_cfg_fail(const gg_cfg_ctx *x, gg_cfg_pos p, const char *path, const char *fmt, ...) {
    char msg[256], where[GG_CFG_PATH_LEN + 8] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path && !(x->set_key && strcmp(path, x->set_key) == 0))
        snprintf(where, sizeof where, "%s: ", path);
    if (x->set_key) return gg_fail(x->err, GG_ERR_CONFIG, "--set %s: %s%s", x->set_key, where, msg);
    if (p.line > 0)
        return gg_fail(x->err, GG_ERR_CONFIG, "%s:%d:%d: %s%s", x->src, p.line, p.col, where, msg);
    return gg_fail(x->err, GG_ERR_CONFIG, "%s: %s%s", x->src, where, msg);
}

bool gg_cfg_is_nothing(struct fy_node *n) {
    if (!n) return true;
    if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN) return false;
    size_t len;
    const char *s = fy_node_get_scalar(n, &len);
    return !s || len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* The text of a scalar node, or NULL for anything else. */
const char *gg_cfg_scalar(struct fy_node *n, size_t *len) {
    *len = 0;
    if (!n || !fy_node_is_scalar(n) || fy_node_is_alias(n)) return NULL;
    const char *s = fy_node_get_scalar(n, len);
    if (!s) *len = 0;
    return s ? s : "";
}

void gg_cfg_found(struct fy_node *n, char *buf, size_t size) {
    size_t len;
    const char *s = gg_cfg_scalar(n, &len);
    if (gg_cfg_is_nothing(n))
        snprintf(buf, size, "nothing");
    else if (fy_node_is_mapping(n))
        snprintf(buf, size, "a mapping");
    else if (fy_node_is_sequence(n))
        snprintf(buf, size, "a list");
    else if (!s)
        snprintf(buf, size, "an alias");
    else
        snprintf(buf, size, "'%.*s%s'", (int)(len > SHOW ? SHOW : len), s, len > SHOW ? "..." : "");
}

/* Where a node starts. Scalars carry a token with a mark; libfyaml 0.7 exports
 * no mark for collections, but a report on the node, collected by our diag
 * (never printed), records its line and column. */
gg_cfg_pos gg_cfg_pos_of(struct fy_node *n, gg_cfg_pos fallback) {
    if (!n) return fallback;
    if (fy_node_is_scalar(n)) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        return m ? (gg_cfg_pos){m->line + 1, m->column + 1} : fallback;
    }
    struct fy_document *d = fy_node_document(n);
    struct fy_diag *diag = d ? fy_document_get_diag(d) : NULL;
    gg_cfg_pos p = fallback;
    if (!diag) return p;
    fy_node_report(n, FYET_ERROR, "position");
    void *it = NULL;
    struct fy_diag_error *e, *last = NULL;
    while ((e = fy_diag_errors_iterate(diag, &it))) last = e;
    if (last && last->line > 0) p = (gg_cfg_pos){last->line, last->column};
    fy_diag_unref(diag);
    return p;
}

/* Levenshtein distance, ignoring case; strings over 64 characters are "far". */
static int distance(const char *a, size_t la, const char *b, size_t lb) {
    int row[65];
    if (la > 64 || lb > 64) return INT_MAX;
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate nearest to s, if near enough to be a typo. */
static const gg_cfg_seg *nearest(const char *s, size_t len, const gg_cfg_seg *cands, int n) {
    const gg_cfg_seg *best = NULL;
    int best_d = INT_MAX;
    for (int i = 0; i < n; i++) {
        int d = distance(s, len, cands[i].s, cands[i].len);
        if (d < best_d) best_d = d, best = &cands[i];
    }
    return best && best_d <= 3 && (size_t)best_d < len ? best : NULL;
}

static void join(const gg_cfg_seg *items, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 4 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%.*s", i ? ", " : "", (int)items[i].len,
                         items[i].s);
        if (w < 0 || (size_t)w >= size - used) {
            snprintf(buf + (size - 4), 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* "unknown key 'optimiser' in top level; did you mean 'optimizer'? (expected one of: ...)" */
gg_status gg_cfg_unknown(const gg_cfg_ctx *x, gg_cfg_pos p, const char *what, const char *s,
                         size_t len, const char *in, const gg_cfg_seg *cands, int n) {
    char list[160];
    const gg_cfg_seg *best = nearest(s, len, cands, n);
    int shown = (int)(len > SHOW ? SHOW : len);
    join(cands, n, list, sizeof list);
    if (n == 0)
        return gg_cfg_fail(x, p, NULL, "unknown %s '%.*s' in %s, which takes no parameters", what,
                           shown, s, in);
    if (best)
        return gg_cfg_fail(x, p, NULL,
                           "unknown %s '%.*s' in %s; did you mean '%.*s'? (expected one of: %s)",
                           what, shown, s, in, (int)best->len, best->s, list);
    return gg_cfg_fail(x, p, NULL, "unknown %s '%.*s' in %s; expected one of: %s", what, shown, s,
                       in, list);
}

/* ---- scalars ------------------------------------------------------------------ */

static bool copy_token(const char *s, size_t len, char *buf, size_t size) {
    if (len == 0 || len >= size || memchr(s, '\0', len)) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

static bool parse_real(const char *s, size_t len, bool inf_ok, double *out) {
    char buf[64], *end;
    if (!copy_token(s, len, buf, sizeof buf)) return false;
    const char *t = buf + (buf[0] == '+');
    if (inf_ok && (!strcasecmp(t, "inf") || !strcasecmp(t, ".inf") || !strcasecmp(t, "infinity"))) {
        *out = INFINITY;
        return true;
    }
    const char *d = buf + (buf[0] == '+' || buf[0] == '-');
    if (!(*d >= '0' && *d <= '9') && *d != '.') return false;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Integers in decimal; an integral number such as 1e6 is accepted too. */
static bool parse_int(const char *s, size_t len, int64_t *out) {
    char buf[64], *end;
    if (!copy_token(s, len, buf, sizeof buf)) return false;
    const char *d = buf + (buf[0] == '+' || buf[0] == '-');
    if (!(*d >= '0' && *d <= '9')) return false;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = v;
        return true;
    }
    double r;
    if (!parse_real(s, len, false, &r) || r != floor(r) || fabs(r) > 9007199254740992.0)
        return false;
    *out = (int64_t)r;
    return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out) {
    char buf[64], *end;
    if (!copy_token(s, len, buf, sizeof buf)) return false;
    const char *d = buf + (buf[0] == '+');
    if (!(*d >= '0' && *d <= '9')) return false;
    errno = 0;
    unsigned long long v = strtoull(d, &end, 10);
    if (*end != '\0' || errno != 0) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, size_t len, int *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (len == strlen(yes[i]) && !strncasecmp(s, yes[i], len)) return *out = 1, true;
        if (len == strlen(no[i]) && !strncasecmp(s, no[i], len)) return *out = 0, true;
    }
    return false;
}

static bool dataset_ok(const char *s, size_t len) {
    static const char *const builtin[] = {"fashion-mnist", "xor", "random-binary", "adding"};
    if (memchr(s, '\0', len)) return false;
    for (int i = 0; i < 4; i++)
        if (len == strlen(builtin[i]) && !memcmp(s, builtin[i], len)) return true;
    return len > 4 && (!memcmp(s, "idx:", 4) || !memcmp(s, "csv:", 4));
}

int gg_cfg_name_segs(const gg_cfg_name *names, bool aliases, gg_cfg_seg *out) {
    int n = 0;
    for (const gg_cfg_name *e = names; e->name; e++)
        if (aliases || gg_cfg_name_of(names, e->value) == e->name)
            out[n++] = (gg_cfg_seg){e->name, strlen(e->name)};
    return n;
}

/* One list item, checked as k's element; true if it fits. */
static bool list_item(const gg_cfg_key *k, struct fy_node *n, void *slot) {
    size_t len;
    const char *s = gg_cfg_scalar(n, &len);
    int64_t v;
    if (!s || gg_cfg_is_nothing(n)) return false;
    if (k->type == GG_CFG_LIST_STR) {
        if (len == 0 || len >= GG_NAME_LEN || memchr(s, '\0', len)) return false;
        memcpy(slot, s, len);
        ((char *)slot)[len] = '\0';
        return true;
    }
    if (!parse_int(s, len, &v) || !gg_cfg_in_range(k, (double)v)) return false;
    if (k->type == GG_CFG_LIST_INT) {
        if (v > INT_MAX) return false;
        *(int *)slot = (int)v;
    } else {
        *(int64_t *)slot = v;
    }
    return true;
}

/* A list key: a YAML list, or one scalar taken as a list of one. */
static gg_status set_list(const gg_cfg_ctx *x, const gg_cfg_key *k, void *base, const char *path,
                          struct fy_node *n, gg_cfg_pos at) {
    char want[160], found[64];
    size_t item = k->type == GG_CFG_LIST_STR   ? GG_NAME_LEN
                  : k->type == GG_CFG_LIST_INT ? sizeof(int)
                                               : sizeof(int64_t);
    int64_t slots[GG_MAX_EXCLUDES * GG_NAME_LEN / sizeof(int64_t) + GG_MAX_MILESTONES];
    char *tmp = (char *)slots;
    bool seq = n && fy_node_is_sequence(n);
    int count = seq ? fy_node_sequence_item_count(n) : 1;
    struct fy_node *bad = n;
    bool ok = (seq || (!gg_cfg_is_nothing(n) && fy_node_is_scalar(n))) && count >= 0 &&
              count <= k->max_items && (count > 0 || !(k->flags & GG_CFG_NONEMPTY));
    gg_cfg_describe(k, want, sizeof want);
    assert((size_t)k->max_items * item <= sizeof slots);
    if (!ok && seq)
        return gg_cfg_fail(x, gg_cfg_pos_of(n, at), path, "expected %s, found a list of %d", want,
                           count);
    for (int i = 0; ok && i < count; i++) {
        struct fy_node *it = seq ? fy_node_sequence_get_by_index(n, i) : n;
        ok = list_item(k, it, tmp + (size_t)i * item);
        if (ok && i > 0 && (k->flags & GG_CFG_INCREASING)) ok = slots[i] > slots[i - 1];
        if (!ok) bad = it;
    }
    if (!ok) {
        gg_cfg_found(bad, found, sizeof found);
        return gg_cfg_fail(x, gg_cfg_pos_of(bad, at), path, "expected %s, found %s", want, found);
    }
    memcpy((char *)base + k->off, tmp, (size_t)count * item);
    *(int *)((char *)base + k->aux) = count;
    return GG_OK;
}

/* Sets the scalar or list key k of base (a gg_config or a gg_layer_spec) from n. */
gg_status gg_cfg_set_value(const gg_cfg_ctx *x, const gg_cfg_key *k, void *base, const char *path,
                           struct fy_node *n, gg_cfg_pos at) {
    char want[160], found[64], hint[64] = "";
    void *p = (char *)base + k->off;
    size_t len;
    const char *s = gg_cfg_scalar(n, &len);
    bool ok = s && !gg_cfg_is_nothing(n);
    int64_t i64 = 0;
    double r = 0;
    int e = 0;
    if (k->type == GG_CFG_LIST_INT || k->type == GG_CFG_LIST_I64 || k->type == GG_CFG_LIST_STR)
        return set_list(x, k, base, path, n, at);
    if (ok) {
        switch (k->type) {
        case GG_CFG_INT:
            ok = parse_int(s, len, &i64) && i64 <= INT_MAX && i64 >= INT_MIN &&
                 gg_cfg_in_range(k, (double)i64);
            if (ok) *(int *)p = (int)i64;
            break;
        case GG_CFG_INT64:
            ok = parse_int(s, len, &i64) && gg_cfg_in_range(k, (double)i64);
            if (ok) *(int64_t *)p = i64;
            break;
        case GG_CFG_U64:
            ok = parse_u64(s, len, (uint64_t *)p);
            break;
        case GG_CFG_REAL:
            ok = parse_real(s, len, k->flags & GG_CFG_INF_OK, &r) && gg_cfg_in_range(k, r);
            if (ok) *(double *)p = r;
            break;
        case GG_CFG_BOOL:
            ok = parse_bool(s, len, (int *)p);
            break;
        case GG_CFG_STRING:
            ok = len < k->aux && dataset_ok(s, len);
            if (ok) memcpy(p, s, len), ((char *)p)[len] = '\0';
            break;
        case GG_CFG_ENUM:
            ok = gg_cfg_lookup(k->names, s, len, &e);
            if (ok) *(int *)p = e;
            break;
        default:
            ok = false;
            break;
        }
    }
    if (ok) return GG_OK;
    gg_cfg_describe(k, want, sizeof want);
    gg_cfg_found(n, found, sizeof found);
    if (k->type == GG_CFG_ENUM && s) {
        gg_cfg_seg names[32];
        const gg_cfg_seg *best = nearest(s, len, names, gg_cfg_name_segs(k->names, true, names));
        if (best) snprintf(hint, sizeof hint, "; did you mean '%.*s'?", (int)best->len, best->s);
    }
    return gg_cfg_fail(x, gg_cfg_pos_of(n, at), path, "expected %s, found %s%s", want, found, hint);
}
