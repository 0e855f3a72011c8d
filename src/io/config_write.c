/* Writing the resolved config as YAML that gg_config_load_string reads back to
 * the same config: keys in key-table order, each section opened once, numbers
 * in the shortest form that round-trips through strtod, strings quoted
 * whenever a plain scalar could be read as something else. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/core.h"
#include "io/config_schema.h"

#define MAX_SEGS 4

/* %.15g when it reads back exactly, else more digits; never more than %.17g. */
static void fmt_real(double v, char *buf, size_t n) {
    if (isinf(v)) {
        snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
        return;
    }
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* Plain when it starts with a letter or '/', holds only [A-Za-z0-9_./:-], does
 * not end in ':' and is no YAML boolean or null; double-quoted otherwise. */
static void write_string(FILE *f, const char *s) {
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null"};
    size_t len = strlen(s);
    bool plain = len > 0 && (isalpha((unsigned char)s[0]) || s[0] == '/') && s[len - 1] != ':';
    for (size_t i = 0; plain && i < len; i++)
        plain = isalnum((unsigned char)s[i]) || strchr("_./:-", s[i]);
    for (int i = 0; plain && i < 7; i++) plain = strcasecmp(s, words[i]) != 0;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One scalar key of base (a gg_config or a gg_layer_spec). */
static gg_status write_scalar(FILE *f, const gg_cfg_key *k, const void *base, gg_error *err) {
    const char *p = (const char *)base + k->off;
    char buf[40];
    const char *name;
    switch (k->type) {
    case GG_CFG_INT:
        fprintf(f, "%d", *(const int *)p);
        break;
    case GG_CFG_INT64:
        fprintf(f, "%" PRId64, *(const int64_t *)p);
        break;
    case GG_CFG_U64:
        fprintf(f, "%" PRIu64, *(const uint64_t *)p);
        break;
    case GG_CFG_REAL:
        fmt_real(*(const double *)p, buf, sizeof buf);
        fputs(buf, f);
        break;
    case GG_CFG_BOOL:
        fputs(*(const int *)p ? "true" : "false", f);
        break;
    case GG_CFG_STRING:
        write_string(f, p);
        break;
    case GG_CFG_ENUM:
        name = gg_cfg_name_of(k->names, *(const int *)p);
        if (!name)
            return gg_fail(err, GG_ERR_ARG, "writing the config: %s holds %d, which has no name",
                           k->path, *(const int *)p);
        fputs(name, f);
        break;
    default:
        return gg_fail(err, GG_ERR_ARG, "writing the config: %s is not a scalar", k->path);
    }
    return GG_OK;
}

/* A list key as a flow sequence: [1, 28, 28]. */
static gg_status write_list(FILE *f, const gg_cfg_key *k, const gg_config *c, gg_error *err) {
    const char *p = (const char *)c + k->off;
    int n = *(const int *)((const char *)c + k->aux);
    if (n < 0 || n > k->max_items)
        return gg_fail(err, GG_ERR_ARG, "writing the config: %s has %d items, at most %d", k->path,
                       n, k->max_items);
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        if (k->type == GG_CFG_LIST_INT)
            fprintf(f, "%d", ((const int *)p)[i]);
        else if (k->type == GG_CFG_LIST_I64)
            fprintf(f, "%" PRId64, ((const int64_t *)p)[i]);
        else
            write_string(f, p + (size_t)i * GG_NAME_LEN);
    }
    fputc(']', f);
    return GG_OK;
}

/* A layer list, one flow mapping per layer with every parameter of its
 * kind; a residual block's body nests as a block list under it. */
static gg_status write_layer_list(FILE *f, const gg_layer_spec *layers, int n, int indent,
                                  gg_error *err) {
    gg_status st = GG_OK;
    for (int i = 0; i < n && st == GG_OK; i++) {
        const gg_layer_spec *l = &layers[i];
        const char *kind = gg_cfg_name_of(gg_cfg_layer_kind_names, (int)l->kind);
        if (!kind)
            return gg_fail(err, GG_ERR_ARG, "writing the config: layer %d has kind %d", i,
                           (int)l->kind);
        if (l->kind == GG_LAYER_RESIDUAL) {
            fprintf(f, "\n%*s- %s:\n%*slayers:", indent + 2, "", kind, indent + 6, "");
            st = write_layer_list(f, l->children, l->n_children, indent + 6, err);
            continue;
        }
        fprintf(f, "\n%*s- %s: {", indent + 2, "", kind);
        bool first = true;
        for (int j = 0; j < gg_cfg_n_layer_keys && st == GG_OK; j++) {
            const gg_cfg_key *k = &gg_cfg_layer_keys[j];
            if (!(k->kinds & (1u << l->kind)) || k->type == GG_CFG_LAYERS) continue;
            fprintf(f, "%s%s: ", first ? "" : ", ", k->path);
            first = false;
            if (k->type != GG_CFG_LIST_INT) {
                st = write_scalar(f, k, l, err);
                continue;
            }
            /* A {height, width} pair: one number when square. */
            const int *v = (const int *)((const char *)l + k->off);
            int count = *(const int *)((const char *)l + k->aux);
            if (count == 1 || (count == 2 && v[0] == v[1]))
                fprintf(f, "%d", v[0]);
            else
                fprintf(f, "[%d, %d]", v[0], v[1]);
        }
        fputc('}', f);
    }
    return st;
}

static gg_status write_layers(FILE *f, const gg_config *c, int indent, gg_error *err) {
    return write_layer_list(f, c->model.layers, c->model.n_layers, indent, err);
}

static int split(const char *path, gg_cfg_seg *segs) {
    int n = 0;
    for (const char *s = path; n < MAX_SEGS; s++) {
        size_t len = strcspn(s, ".");
        segs[n++] = (gg_cfg_seg){s, len};
        s += len;
        if (!*s) break;
    }
    return n;
}

gg_status gg_config_write(const gg_config *c, FILE *f, gg_error *err) {
    gg_status st = GG_OK;
    gg_cfg_seg open[MAX_SEGS], segs[MAX_SEGS];
    int n_open = 0;
    if (!c || !f) {
        st = gg_fail(err, GG_ERR_ARG, "gg_config_write: NULL argument");
        goto done;
    }
    for (int i = 0; i < gg_cfg_n_keys && st == GG_OK; i++) {
        const gg_cfg_key *k = &gg_cfg_keys[i];
        int ns = split(k->path, segs), common = 0;
        while (common < n_open && common < ns - 1 && open[common].len == segs[common].len &&
               !memcmp(open[common].s, segs[common].s, segs[common].len))
            common++;
        for (n_open = common; n_open < ns - 1; n_open++) {
            fprintf(f, "%*s%.*s:\n", 2 * n_open, "", (int)segs[n_open].len, segs[n_open].s);
            open[n_open] = segs[n_open];
        }
        fprintf(f, "%*s%.*s:", 2 * (ns - 1), "", (int)segs[ns - 1].len, segs[ns - 1].s);
        if (k->type == GG_CFG_LAYERS) {
            st = write_layers(f, c, 2 * (ns - 1), err);
        } else {
            fputc(' ', f);
            if (k->type == GG_CFG_LIST_INT || k->type == GG_CFG_LIST_I64 ||
                k->type == GG_CFG_LIST_STR)
                st = write_list(f, k, c, err);
            else
                st = write_scalar(f, k, c, err);
        }
        fputc('\n', f);
    }
    if (st == GG_OK && (fflush(f) != 0 || ferror(f)))
        st = gg_fail(err, GG_ERR_IO, "writing the config: %s", strerror(errno));
done:
    return st;
}
