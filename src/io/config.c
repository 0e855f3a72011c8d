/* Loading the YAML config: a file, a string, or one --set KEY=VALUE, walked
 * through the key table of config_schema.c (sections are the prefixes of its
 * dotted paths). Everything is applied to a copy that replaces the caller's
 * config only on success, so a failed load or --set changes nothing. */
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/config_schema.h"

#define MAX_KIDS 48 /* keys of the largest section */

static const gg_cfg_pos nowhere = {0, 0};

/* ---- sections --------------------------------------------------------------- */

/* The keys a section accepts: the distinct segments after prefix in the key
 * table, in table order. "" is the top level. */
static int children(const char *prefix, gg_cfg_seg *out) {
    size_t pl = strlen(prefix);
    int n = 0;
    for (int i = 0; i < gg_cfg_n_keys && n < MAX_KIDS; i++) {
        const char *p = gg_cfg_keys[i].path;
        if (pl) {
            if (strncmp(p, prefix, pl) != 0 || p[pl] != '.') continue;
            p += pl + 1;
        }
        size_t len = strcspn(p, ".");
        bool seen = false;
        for (int j = 0; j < n && !seen; j++) seen = out[j].len == len && !memcmp(out[j].s, p, len);
        if (!seen) out[n++] = (gg_cfg_seg){p, len};
    }
    return n;
}

static const gg_cfg_seg *find_seg(const gg_cfg_seg *segs, int n, const char *s, size_t len) {
    for (int i = 0; i < n; i++)
        if (segs[i].len == len && !memcmp(segs[i].s, s, len)) return &segs[i];
    return NULL;
}

/* prefix + "." + name into buf (at most GG_CFG_PATH_LEN). */
static void join_path(char *buf, const char *prefix, const char *name, size_t len) {
    size_t k = strnlen(prefix, GG_CFG_PATH_LEN - 1);
    memmove(buf, prefix, k);
    if (k && k < GG_CFG_PATH_LEN - 1) buf[k++] = '.';
    if (len > GG_CFG_PATH_LEN - 1 - k) len = GG_CFG_PATH_LEN - 1 - k;
    memcpy(buf + k, name, len);
    buf[k + len] = '\0';
}

static gg_status apply(const gg_cfg_ctx *x, gg_config *c, const char *path, struct fy_node *n,
                       gg_cfg_pos at);

/* A section's value: a mapping of its keys; nothing (keep every value); or a
 * scalar, which sets the section's first key when that is a name or a switch:
 * `optimizer: sgd`, `clip: none`, `guard: off`. */
static gg_status apply_section(const gg_cfg_ctx *x, gg_config *c, const char *path,
                               struct fy_node *n, gg_cfg_pos at) {
    gg_cfg_seg kids[MAX_KIDS];
    char child[GG_CFG_PATH_LEN], found[64], list[160];
    int nk = children(path, kids);
    const char *in = *path ? path : "top level";
    if (gg_cfg_is_nothing(n)) return GG_OK;
    if (fy_node_is_scalar(n) && *path) {
        join_path(child, path, kids[0].s, kids[0].len);
        const gg_cfg_key *k = gg_cfg_find(gg_cfg_keys, gg_cfg_n_keys, child, strlen(child));
        if (k && (k->type == GG_CFG_ENUM || k->type == GG_CFG_BOOL))
            return apply(x, c, child, n, at);
    }
    if (!fy_node_is_mapping(n)) {
        gg_cfg_found(n, found, sizeof found);
        list[0] = '\0';
        for (int i = 0; i < nk && strlen(list) + kids[i].len + 8 < sizeof list; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%.*s", i ? ", " : "",
                     (int)kids[i].len, kids[i].s);
        return gg_cfg_fail(x, gg_cfg_pos_of(n, at), *path ? path : NULL,
                           "expected a mapping with keys %s, found %s", list, found);
    }
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        struct fy_node *key = fy_node_pair_key(pair), *value = fy_node_pair_value(pair);
        gg_cfg_pos kp = gg_cfg_pos_of(key, at);
        size_t len;
        const char *s = gg_cfg_scalar(key, &len);
        if (!s || gg_cfg_is_nothing(key)) {
            gg_cfg_found(key, found, sizeof found);
            return gg_cfg_fail(x, kp, NULL, "expected a key name in %s, found %s", in, found);
        }
        if (!find_seg(kids, nk, s, len)) return gg_cfg_unknown(x, kp, "key", s, len, in, kids, nk);
        join_path(child, path, s, len);
        gg_status st = apply(x, c, child, value, kp);
        if (st != GG_OK) return st;
    }
    return GG_OK;
}

/* ---- layers ------------------------------------------------------------------- */

static int layer_key_segs(gg_layer_kind kind, gg_cfg_seg *out) {
    int n = 0;
    for (int i = 0; i < gg_cfg_n_layer_keys; i++)
        if (gg_cfg_layer_keys[i].kinds & (1u << kind))
            out[n++] = (gg_cfg_seg){gg_cfg_layer_keys[i].path, strlen(gg_cfg_layer_keys[i].path)};
    return n;
}

static const gg_cfg_key *layer_key(gg_layer_kind kind, const char *s, size_t len) {
    const gg_cfg_key *k = gg_cfg_find(gg_cfg_layer_keys, gg_cfg_n_layer_keys, s, len);
    return k && (k->kinds & (1u << kind)) ? k : NULL;
}

static gg_status layer_kind(const gg_cfg_ctx *x, struct fy_node *n, const char *s, size_t len,
                            const char *in, gg_cfg_pos at, gg_layer_kind *kind) {
    gg_cfg_seg kinds[32];
    int v;
    if (gg_cfg_lookup(gg_cfg_layer_kind_names, s, len, &v)) {
        *kind = (gg_layer_kind)v;
        return GG_OK;
    }
    return gg_cfg_unknown(x, gg_cfg_pos_of(n, at), "layer kind", s, len, in, kinds,
                          gg_cfg_name_segs(gg_cfg_layer_kind_names, false, kinds));
}

/* One parameter of a layer. Changing init moves scale to the new init's
 * default when it still holds the old one's (a layer has no explicit bits). */
static gg_status set_layer_param(const gg_cfg_ctx *x, gg_layer_spec *l, const gg_cfg_key *k,
                                 const char *where, struct fy_node *n, gg_cfg_pos at,
                                 bool scale_given) {
    char path[GG_CFG_PATH_LEN];
    gg_init old_init = l->init;
    join_path(path, where, k->path, strlen(k->path));
    gg_status st = gg_cfg_set_value(x, k, l, path, n, at);
    if (st == GG_OK && !scale_given && l->init != old_init &&
        l->scale == gg_cfg_default_scale(old_init))
        l->scale = gg_cfg_default_scale(l->init);
    return st;
}

static gg_status parse_layer_list(const gg_cfg_ctx *x, const char *in, struct fy_node *n,
                                  gg_cfg_pos at, gg_layer_spec **out, int *out_n);

/* The parameters of a layer (where: "model.layers.0.dense"): a mapping or nothing. */
static gg_status layer_params(const gg_cfg_ctx *x, gg_layer_spec *l, const char *where,
                              struct fy_node *n, gg_cfg_pos at) {
    gg_cfg_seg keys[32];
    char found[64];
    int nk = layer_key_segs(l->kind, keys);
    if (gg_cfg_is_nothing(n)) return GG_OK;
    if (!fy_node_is_mapping(n)) {
        gg_cfg_found(n, found, sizeof found);
        return gg_cfg_fail(x, gg_cfg_pos_of(n, at), where,
                           "expected a mapping of layer parameters, found %s", found);
    }
    bool scale_given = fy_node_mapping_lookup_by_string(n, "scale", FY_NT) != NULL;
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        struct fy_node *key = fy_node_pair_key(pair), *value = fy_node_pair_value(pair);
        gg_cfg_pos kp = gg_cfg_pos_of(key, at);
        size_t len;
        const char *s = gg_cfg_scalar(key, &len);
        const gg_cfg_key *k = s ? layer_key(l->kind, s, len) : NULL;
        if (!k) {
            gg_cfg_found(key, found, sizeof found);
            if (!s) return gg_cfg_fail(x, kp, where, "expected a key name, found %s", found);
            return gg_cfg_unknown(x, kp, "key", s, len, where, keys, nk);
        }
        gg_status st;
        if (k->type == GG_CFG_LAYERS) { /* a residual block's body */
            char in[GG_CFG_PATH_LEN];
            gg_layer_spec *kids = NULL;
            int n_kids = 0;
            join_path(in, where, k->path, strlen(k->path));
            st = parse_layer_list(x, in, value, kp, &kids, &n_kids);
            if (st == GG_OK) {
                gg_layers_release(l->children, l->n_children);
                l->children = kids;
                l->n_children = n_kids;
            }
        } else {
            st = set_layer_param(x, l, k, where, value, kp, scale_given);
        }
        if (st != GG_OK) return st;
    }
    return GG_OK;
}

/* What a layer must state; checked after its parameters are read. */
static gg_status layer_required(const gg_cfg_ctx *x, const gg_layer_spec *l, const char *where,
                                gg_cfg_pos kp) {
    switch (l->kind) {
    case GG_LAYER_DENSE:
    case GG_LAYER_RNN:
    case GG_LAYER_LSTM:
    case GG_LAYER_GRU:
        if (l->units < 1) return gg_cfg_fail(x, kp, where, "units is required (an integer >= 1)");
        break;
    case GG_LAYER_CONV2D:
        if (l->filters < 1)
            return gg_cfg_fail(x, kp, where, "filters is required (an integer >= 1)");
        if (l->n_kernel < 1)
            return gg_cfg_fail(x, kp, where, "kernel is required (an integer or [height, width])");
        if ((l->stride[0] < 1 || (l->n_stride == 2 && l->stride[1] < 1)))
            return gg_cfg_fail(x, kp, where, "stride must be >= 1");
        break;
    case GG_LAYER_MAX_POOL:
    case GG_LAYER_AVG_POOL:
        if (l->n_kernel < 1)
            return gg_cfg_fail(x, kp, where, "kernel is required (an integer or [height, width])");
        break;
    case GG_LAYER_RESIDUAL:
        if (l->n_children < 1)
            return gg_cfg_fail(x, kp, where,
                               "layers is required: the block's layers, e.g. "
                               "'residual: {layers: [{dense: {units: 64}}, relu]}'");
        break;
    default:
        break;
    }
    return GG_OK;
}

/* A layer entry: `- dense: {units: 10}`, `- relu: {}`, `- relu:` or `- relu`.
 * in names it: "model.layers.3" or "model.layers.2.residual.layers.0". */
static gg_status parse_layer(const gg_cfg_ctx *x, gg_layer_spec *l, struct fy_node *n,
                             const char *in, gg_cfg_pos at) {
    char where[GG_CFG_PATH_LEN], found[64];
    struct fy_node *kind_node = n, *params = NULL;
    gg_layer_kind kind;
    size_t len;
    memset(l, 0, sizeof *l);
    if (fy_node_is_mapping(n) && fy_node_mapping_item_count(n) == 1) {
        struct fy_node_pair *pair = fy_node_mapping_get_by_index(n, 0);
        kind_node = fy_node_pair_key(pair);
        params = fy_node_pair_value(pair);
    }
    const char *s = gg_cfg_scalar(kind_node, &len);
    if (!s || gg_cfg_is_nothing(kind_node)) {
        gg_cfg_found(n, found, sizeof found);
        if (fy_node_is_mapping(n))
            snprintf(found, sizeof found, "a mapping with %d keys", fy_node_mapping_item_count(n));
        return gg_cfg_fail(x, gg_cfg_pos_of(n, at), in,
                           "expected a layer such as '- dense: {units: 10}' or '- relu', found %s",
                           found);
    }
    gg_status st = layer_kind(x, kind_node, s, len, in, at, &kind);
    if (st != GG_OK) return st;
    gg_cfg_pos kp = gg_cfg_pos_of(kind_node, at);
    gg_cfg_layer_defaults(l, kind);
    l->line = kp.line;
    l->col = kp.col;
    join_path(where, in, gg_layer_kind_name(kind), strlen(gg_layer_kind_name(kind)));
    st = layer_params(x, l, where, params, kp);
    if (st == GG_OK) st = layer_required(x, l, where, kp);
    if (st != GG_OK) {
        gg_layers_release(l->children, l->n_children);
        l->children = NULL;
        l->n_children = 0;
    }
    return st;
}

/* A list of layers (model.layers, or a residual block's layers) into a new
 * array; *out is untouched on error. */
static gg_status parse_layer_list(const gg_cfg_ctx *x, const char *in, struct fy_node *n,
                                  gg_cfg_pos at, gg_layer_spec **out, int *out_n) {
    gg_status st = GG_OK;
    char found[64], item[GG_CFG_PATH_LEN];
    int count = n && fy_node_is_sequence(n) ? fy_node_sequence_item_count(n) : -1;
    if (count < 1 || count > GG_CFG_MAX_LAYERS) {
        gg_cfg_found(n, found, sizeof found);
        if (count >= 0) snprintf(found, sizeof found, "a list of %d", count);
        return gg_cfg_fail(x, gg_cfg_pos_of(n, at), in, "expected a list of 1 to %d layers, found %s",
                           GG_CFG_MAX_LAYERS, found);
    }
    gg_layer_spec *layers = gg_alloc((size_t)count * sizeof *layers, x->err);
    if (!layers) return GG_ERR_NOMEM;
    int done = 0;
    for (int i = 0; i < count && st == GG_OK; i++) {
        snprintf(item, sizeof item, "%s.%d", in, i);
        st = parse_layer(x, &layers[i], fy_node_sequence_get_by_index(n, i), item, at);
        if (st == GG_OK) done++;
    }
    if (st != GG_OK) {
        gg_layers_release(layers, done);
        return st;
    }
    *out = layers;
    *out_n = count;
    return GG_OK;
}

/* model.layers: the whole list, replacing the old one. */
static gg_status set_layers(const gg_cfg_ctx *x, gg_config *c, struct fy_node *n, gg_cfg_pos at) {
    gg_layer_spec *layers = NULL;
    int count = 0;
    gg_status st = parse_layer_list(x, "model.layers", n, at, &layers, &count);
    if (st != GG_OK) return st;
    gg_layers_release(c->model.layers, c->model.n_layers);
    c->model.layers = layers;
    c->model.n_layers = count;
    return GG_OK;
}

/* Sets path (a key or a section) from n. */
static gg_status apply(const gg_cfg_ctx *x, gg_config *c, const char *path, struct fy_node *n,
                       gg_cfg_pos at) {
    const gg_cfg_key *k = gg_cfg_find(gg_cfg_keys, gg_cfg_n_keys, path, strlen(path));
    if (!k) return apply_section(x, c, path, n, at);
    if (k->type == GG_CFG_LAYERS) return set_layers(x, c, n, at);
    gg_status st = gg_cfg_set_value(x, k, c, path, n, at);
    if (st == GG_OK) c->explicit_keys |= k->explicit_bit;
    return st;
}

/* ---- YAML text -------------------------------------------------------------- */

typedef struct yaml {
    struct fy_diag *diag; /* collects libfyaml's errors instead of printing them */
    struct fy_parser *parser;
    struct fy_document *doc; /* NULL for an empty text */
} yaml;

static void discard(struct fy_diag *diag, void *user, const char *buf, size_t len) {
    (void)diag, (void)user, (void)buf, (void)len;
}

static gg_status syntax_error(const gg_cfg_ctx *x, struct fy_diag *diag) {
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)))
        if (e->type == FYET_ERROR) break;
    const char *msg = e && e->msg ? e->msg : "unreadable YAML";
    gg_cfg_pos p = e ? (gg_cfg_pos){e->line, e->column} : nowhere;
    if (x->set_key) return gg_cfg_fail(x, p, NULL, "value is not YAML (column %d): %s", p.col, msg);
    return gg_cfg_fail(x, p, NULL, "syntax error: %s", msg);
}

/* Accepts UTF-8 text with no control character but tab, LF and CR. Checked
 * before libfyaml sees the text: libfyaml 0.7.12 loops forever on a directive
 * line holding an invalid byte ("%\x9b"). */
static gg_status check_text(const gg_cfg_ctx *x, const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    int line = 1, col = 1;
    for (size_t i = 0; i < len; col++) {
        unsigned c = s[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        bool ok = n > 0 && i + n <= len;
        for (size_t j = 1; ok && j < n; j++) {
            ok = (s[i + j] & 0xc0) == 0x80;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        /* no overlong forms, surrogates or code points past U+10FFFF */
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= min_cp[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        ok = ok && (cp >= 0x20 || c == '\t' || c == '\n' || c == '\r') && cp != 0x7f;
        if (!ok)
            return gg_cfg_fail(x, (gg_cfg_pos){line, col}, NULL,
                               "not UTF-8 text: byte 0x%02x is not allowed here", c);
        if (c == '\n') line++, col = 0;
        i += n;
    }
    return GG_OK;
}

/* Parses text as at most one YAML document. */
static gg_status yaml_parse(const gg_cfg_ctx *x, yaml *y, const char *text, size_t len) {
    gg_status st = GG_OK;
    struct fy_document *extra = NULL;
    struct fy_diag_cfg dc;
    struct fy_parse_cfg pc;
    memset(y, 0, sizeof *y);
    st = check_text(x, text, len);
    if (st != GG_OK) goto done;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = discard;
    dc.colorize = false;
    y->diag = fy_diag_create(&dc);
    if (!y->diag) {
        st = gg_fail(x->err, GG_ERR_NOMEM, "out of memory creating a YAML parser");
        goto done;
    }
    fy_diag_set_collect_errors(y->diag, true);
    memset(&pc, 0, sizeof pc);
    pc.flags = FYPCF_QUIET;
    pc.diag = y->diag;
    y->parser = fy_parser_create(&pc);
    if (!y->parser || fy_parser_set_string(y->parser, len ? text : "", len) != 0) {
        st = gg_fail(x->err, GG_ERR_NOMEM, "out of memory creating a YAML parser");
        goto done;
    }
    y->doc = fy_parse_load_document(y->parser);
    if (y->doc && !fy_diag_got_error(y->diag)) extra = fy_parse_load_document(y->parser);
    if (fy_diag_got_error(y->diag))
        st = syntax_error(x, y->diag);
    else if (extra)
        st = gg_cfg_fail(x, gg_cfg_pos_of(fy_document_root(extra), nowhere), NULL,
                         "a second YAML document; a config is one document");
done:
    if (extra) fy_parse_document_destroy(y->parser, extra);
    return st;
}

static void yaml_free(yaml *y) {
    if (y->doc) fy_parse_document_destroy(y->parser, y->doc);
    if (y->parser) fy_parser_destroy(y->parser);
    if (y->diag) fy_diag_destroy(y->diag);
    memset(y, 0, sizeof *y);
}

/* Rejects aliases (no key needs one, and expanding them is how a small file
 * becomes a huge one) and nesting deeper than GG_CFG_MAX_DEPTH. libfyaml itself
 * stops at 64 levels, which bounds this recursion. */
static gg_status check_tree(const gg_cfg_ctx *x, struct fy_node *n, int depth) {
    gg_status st = GG_OK;
    void *it = NULL;
    if (!n) return GG_OK;
    if (depth > GG_CFG_MAX_DEPTH)
        return gg_cfg_fail(x, gg_cfg_pos_of(n, nowhere), NULL, "nested deeper than %d levels",
                           GG_CFG_MAX_DEPTH);
    if (fy_node_is_alias(n))
        return gg_cfg_fail(x, gg_cfg_pos_of(n, nowhere), NULL, "aliases are not supported");
    if (fy_node_is_sequence(n)) {
        struct fy_node *item;
        while (st == GG_OK && (item = fy_node_sequence_iterate(n, &it)))
            st = check_tree(x, item, depth + 1);
    } else if (fy_node_is_mapping(n)) {
        struct fy_node_pair *pair;
        while (st == GG_OK && (pair = fy_node_mapping_iterate(n, &it))) {
            st = check_tree(x, fy_node_pair_key(pair), depth + 1);
            if (st == GG_OK) st = check_tree(x, fy_node_pair_value(pair), depth + 1);
        }
    }
    return st;
}

/* ---- loading --------------------------------------------------------------------- */

static gg_status load_text(gg_config *c, const char *text, size_t len, const char *name,
                           gg_error *err) {
    gg_cfg_ctx x = {name, NULL, err};
    gg_status st;
    yaml y = {0};
    gg_config tmp;
    bool have_tmp = false;
    if (len > GG_CFG_MAX_FILE) {
        st = gg_fail(err, GG_ERR_CONFIG, "%s: more than the %u bytes a config may have", name,
                     GG_CFG_MAX_FILE);
        goto done;
    }
    st = yaml_parse(&x, &y, text, len);
    if (st != GG_OK) goto done;
    struct fy_node *root = y.doc ? fy_document_root(y.doc) : NULL;
    st = check_tree(&x, root, 1);
    if (st != GG_OK) goto done;
    st = gg_config_copy(&tmp, c, err);
    if (st != GG_OK) goto done;
    have_tmp = true;
    st = apply(&x, &tmp, "", root, (gg_cfg_pos){1, 1});
    if (st != GG_OK) goto done;
    gg_cfg_resolve(&tmp, c);
    gg_config_release(c);
    *c = tmp;
    have_tmp = false;
done:
    if (have_tmp) gg_config_release(&tmp);
    yaml_free(&y);
    return st;
}

gg_status gg_config_load_string(gg_config *c, const char *yaml_text, gg_error *err) {
    if (!c || !yaml_text) return gg_fail(err, GG_ERR_ARG, "gg_config_load_string: NULL argument");
    return load_text(c, yaml_text, strnlen(yaml_text, GG_CFG_MAX_FILE + 1), "<string>", err);
}

gg_status gg_config_load_file(gg_config *c, const char *path, gg_error *err) {
    gg_status st = GG_OK;
    FILE *f = NULL;
    char *buf = NULL;
    size_t len;
    if (!c || !path) {
        st = gg_fail(err, GG_ERR_ARG, "gg_config_load_file: NULL argument");
        goto done;
    }
    f = fopen(path, "rb");
    if (!f) {
        st = gg_fail(err, gg_open_error(errno) == GG_ERR_DATA ? GG_ERR_CONFIG : GG_ERR_IO, "%s: %s",
                     path, strerror(errno));
        goto done;
    }
    buf = gg_alloc(GG_CFG_MAX_FILE + 1, err);
    if (!buf) {
        st = GG_ERR_NOMEM;
        goto done;
    }
    /* One byte more than the limit tells a file at the limit from a longer one. */
    len = fread(buf, 1, GG_CFG_MAX_FILE + 1, f);
    if (ferror(f)) { /* a directory opens, then reads as EISDIR: bad input */
        st = gg_fail(err, gg_open_error(errno) == GG_ERR_DATA ? GG_ERR_CONFIG : GG_ERR_IO, "%s: %s",
                     path, strerror(errno));
        goto done;
    }
    st = load_text(c, buf, len, path, err);
done:
    if (f) fclose(f);
    free(buf);
    return st;
}

/* ---- --set -------------------------------------------------------------------- */

/* rest follows IN + ".": "2", "2.dense", "2.leaky_relu.slope" or, into a
 * residual block, "2.residual.layers.0.dense.units". */
static gg_status set_layer_path(const gg_cfg_ctx *x, gg_layer_spec *layers, int n_layers,
                                const char *in_list, const char *rest, struct fy_node *n) {
    char in[GG_CFG_PATH_LEN], where[GG_CFG_PATH_LEN];
    gg_cfg_seg keys[32];
    gg_layer_kind kind;
    gg_layer_spec l;
    gg_status st;
    size_t len = strcspn(rest, ".");
    int idx = 0;
    bool digits = len > 0 && len <= 6;
    for (size_t i = 0; digits && i < len; i++) {
        digits = rest[i] >= '0' && rest[i] <= '9';
        idx = idx * 10 + (rest[i] - '0');
    }
    if (!digits || idx >= n_layers)
        return gg_cfg_fail(x, nowhere, NULL, "no layer '%.*s': %s has %d (0 to %d)",
                           (int)(len > GG_CFG_SHOW ? GG_CFG_SHOW : len), rest, in_list, n_layers,
                           n_layers - 1);
    snprintf(in, sizeof in, "%s.%d", in_list, idx);
    rest += len;
    if (*rest == '\0') {
        st = parse_layer(x, &l, n, in, nowhere);
        if (st == GG_OK) {
            l.line = l.col = 0;
            gg_layers_release(layers[idx].children, layers[idx].n_children);
            layers[idx] = l;
        }
        return st;
    }
    rest++;
    len = strcspn(rest, ".");
    st = layer_kind(x, NULL, rest, len, in, nowhere, &kind);
    if (st != GG_OK) return st;
    if (kind != layers[idx].kind)
        return gg_cfg_fail(x, nowhere, NULL, "layer %s is %s, not %.*s", in,
                           gg_layer_kind_name(layers[idx].kind), (int)len, rest);
    join_path(where, in, gg_layer_kind_name(kind), strlen(gg_layer_kind_name(kind)));
    rest += len;
    if (*rest == '\0') {
        /* The whole parameter mapping: on a copy, so a failure changes nothing. */
        l = layers[idx];
        l.children = NULL;
        l.n_children = 0;
        st = layer_params(x, &l, where, n, nowhere);
        bool kept = false; /* body not given: the old one stays */
        if (st == GG_OK && l.children == NULL && layers[idx].n_children > 0) {
            l.children = layers[idx].children;
            l.n_children = layers[idx].n_children;
            kept = true;
        }
        if (st == GG_OK) st = layer_required(x, &l, where, nowhere);
        if (st == GG_OK) {
            if (!kept) gg_layers_release(layers[idx].children, layers[idx].n_children);
            layers[idx] = l;
        } else if (!kept) {
            gg_layers_release(l.children, l.n_children);
        }
        return st;
    }
    rest++;
    len = strcspn(rest, ".");
    const gg_cfg_key *k = layer_key(kind, rest, len);
    if (k && k->type == GG_CFG_LAYERS) { /* into a residual block's body */
        char list[GG_CFG_PATH_LEN];
        join_path(list, where, k->path, strlen(k->path));
        if (rest[len] == '\0') {
            gg_layer_spec *kids = NULL;
            int n_kids = 0;
            st = parse_layer_list(x, list, n, nowhere, &kids, &n_kids);
            if (st == GG_OK) {
                gg_layers_release(layers[idx].children, layers[idx].n_children);
                layers[idx].children = kids;
                layers[idx].n_children = n_kids;
            }
            return st;
        }
        return set_layer_path(x, layers[idx].children, layers[idx].n_children, list,
                              rest + len + 1, n);
    }
    if (!k || rest[len] != '\0')
        return gg_cfg_unknown(x, nowhere, "key", rest, strlen(rest), where, keys,
                              layer_key_segs(kind, keys));
    l = layers[idx];
    st = set_layer_param(x, &l, k, where, n, nowhere, false);
    if (st == GG_OK) st = layer_required(x, &l, where, nowhere);
    if (st == GG_OK) layers[idx] = l;
    return st;
}

/* Walks key segment by segment, so a wrong one is named with its section. */
static gg_status set_path(const gg_cfg_ctx *x, gg_config *c, const char *key, struct fy_node *n) {
    char prefix[GG_CFG_PATH_LEN] = "", next[GG_CFG_PATH_LEN];
    gg_cfg_seg kids[MAX_KIDS];
    const char *s = key;
    for (;;) {
        size_t len = strcspn(s, ".");
        int nk = children(prefix, kids);
        if (!find_seg(kids, nk, s, len))
            return gg_cfg_unknown(x, nowhere, "key", s, len, *prefix ? prefix : "top level", kids,
                                  nk);
        join_path(next, prefix, s, len);
        memcpy(prefix, next, sizeof prefix);
        const gg_cfg_key *k = gg_cfg_find(gg_cfg_keys, gg_cfg_n_keys, prefix, strlen(prefix));
        if (s[len] == '\0') return apply(x, c, prefix, n, nowhere);
        if (k && k->type == GG_CFG_LAYERS)
            return set_layer_path(x, c->model.layers, c->model.n_layers, "model.layers",
                                  s + len + 1, n);
        if (k) return gg_cfg_fail(x, nowhere, NULL, "%s is a value, not a section", prefix);
        s += len + 1;
    }
}

gg_status gg_config_set(gg_config *c, const char *key, const char *value, gg_error *err) {
    gg_cfg_ctx x = {NULL, key, err};
    gg_status st;
    yaml y = {0};
    gg_config tmp;
    bool have_tmp = false;
    if (!c || !key || !value) {
        st = gg_fail(err, GG_ERR_ARG, "gg_config_set: NULL argument");
        goto done;
    }
    if (!*key || strlen(key) >= GG_CFG_PATH_LEN) {
        st = gg_fail(err, GG_ERR_CONFIG,
                     "--set %.40s%s: expected KEY=VALUE with a dotted key "
                     "such as optimizer.lr",
                     key, strlen(key) > 40 ? "..." : "");
        goto done;
    }
    size_t len = strnlen(value, GG_CFG_MAX_FILE + 1);
    if (len > GG_CFG_MAX_FILE) {
        st = gg_cfg_fail(&x, nowhere, NULL, "value longer than %u bytes", GG_CFG_MAX_FILE);
        goto done;
    }
    st = yaml_parse(&x, &y, value, len);
    if (st != GG_OK) goto done;
    struct fy_node *root = y.doc ? fy_document_root(y.doc) : NULL;
    st = check_tree(&x, root, 1);
    if (st != GG_OK) goto done;
    st = gg_config_copy(&tmp, c, err);
    if (st != GG_OK) goto done;
    have_tmp = true;
    st = set_path(&x, &tmp, key, root);
    if (st != GG_OK) goto done;
    gg_cfg_resolve(&tmp, c);
    gg_config_release(c);
    *c = tmp;
    have_tmp = false;
done:
    if (have_tmp) gg_config_release(&tmp);
    yaml_free(&y);
    return st;
}
