/* The schema behind the YAML config, private to src/io/config*.c: one row per
 * key (dotted path, type, offset into gg_config, allowed range), in the order
 * the writer emits them. Loading, --set, defaults and writing all read it, so
 * a key added here is parsed, checked and written with no other change. */
#ifndef GG_CONFIG_SCHEMA_H
#define GG_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include "io/config.h"

#define GG_CFG_MAX_FILE (1u << 20) /* bytes */
#define GG_CFG_MAX_DEPTH 32
#define GG_CFG_MAX_LAYERS 1000

typedef enum gg_cfg_type {
    GG_CFG_INT,      /* int */
    GG_CFG_INT64,    /* int64_t */
    GG_CFG_U64,      /* uint64_t */
    GG_CFG_REAL,     /* double */
    GG_CFG_BOOL,     /* int 0/1 */
    GG_CFG_STRING,   /* char[aux] */
    GG_CFG_ENUM,     /* an enum (int-sized) named by names[] */
    GG_CFG_LIST_INT, /* int[max_items], count in the int at offset aux */
    GG_CFG_LIST_I64, /* int64_t[max_items], count in the int at offset aux */
    GG_CFG_LIST_STR, /* char[max_items][GG_NAME_LEN], count at offset aux */
    GG_CFG_LAYERS    /* model.layers */
} gg_cfg_type;

enum {
    GG_CFG_LO_OPEN = 1u << 0,    /* lo itself is not allowed */
    GG_CFG_HI_OPEN = 1u << 1,    /* hi itself is not allowed */
    GG_CFG_INF_OK = 1u << 2,     /* "inf" is allowed too (norm_type) */
    GG_CFG_INCREASING = 1u << 3, /* list items strictly increase */
    GG_CFG_DATASET = 1u << 4,    /* string: a data-set spec */
    GG_CFG_NONEMPTY = 1u << 5    /* list: at least one item ({h, w} pairs) */
};

/* Bits of gg_config.explicit_keys. */
enum {
    GG_CFG_SET_MOMENTUM = 1u << 0,
    GG_CFG_SET_WEIGHT_DECAY = 1u << 1,
    GG_CFG_SET_GAMMA = 1u << 2,
    GG_CFG_SET_WARMUP = 1u << 3,
    GG_CFG_SET_EPS = 1u << 4,
    GG_CFG_SET_NORMALIZE = 1u << 5
};

/* A name table: canonical names first (the writer uses the first entry with a
 * value), aliases after; ends with {NULL, 0}. */
typedef struct gg_cfg_name {
    const char *name;
    int value;
} gg_cfg_name;

typedef struct gg_cfg_key {
    const char *path; /* "optimizer.lr"; for layer parameters just "units" */
    gg_cfg_type type;
    size_t off;               /* offsetof in gg_config, or in gg_layer_spec */
    size_t aux;               /* string capacity, or offset of a list's count */
    int max_items;            /* lists */
    const gg_cfg_name *names; /* enums */
    double lo, hi;            /* range, inclusive unless flags say open */
    unsigned flags;
    unsigned kinds;        /* layer parameters: bit (1 << kind) for each kind taking it */
    unsigned explicit_bit; /* GG_CFG_SET_* for name-dependent keys */
} gg_cfg_key;

extern const gg_cfg_key gg_cfg_keys[];
extern const int gg_cfg_n_keys;
extern const gg_cfg_key gg_cfg_layer_keys[];
extern const int gg_cfg_n_layer_keys;
extern const gg_cfg_name gg_cfg_layer_kind_names[];
extern const gg_cfg_name gg_cfg_init_names[];

/* The row whose path is exactly path (length len), or NULL. */
const gg_cfg_key *gg_cfg_find(const gg_cfg_key *keys, int n, const char *path, size_t len);
/* The enum value named name (length len); false if none. */
bool gg_cfg_lookup(const gg_cfg_name *names, const char *name, size_t len, int *value);
/* The canonical name of value, or NULL. */
const char *gg_cfg_name_of(const gg_cfg_name *names, int value);
/* Whether v lies in k's range. */
bool gg_cfg_in_range(const gg_cfg_key *k, double v);
/* What k accepts, as a phrase: "a number > 0", "an integer in [0, 100]". */
void gg_cfg_describe(const gg_cfg_key *k, char *buf, size_t n);
/* A dense layer's default scale for its init: normal 0.01, else 1. */
double gg_cfg_default_scale(gg_init init);
/* Defaults of one layer of the given kind (units 0: a dense layer must set it). */
void gg_cfg_layer_defaults(gg_layer_spec *l, gg_layer_kind kind);
/* Deep copy and release of a layer list (residual blocks own children). */
gg_layer_spec *gg_layers_copy(const gg_layer_spec *src, int n, gg_error *err);
void gg_layers_release(gg_layer_spec *layers, int n);
/* After a load or --set turned old into c: where optimizer.name or
 * schedule.name changed (everywhere if old is NULL), fills the name-dependent
 * defaults of the keys not in c->explicit_keys. Values a caller assigned in C
 * are thus kept until the name they depend on changes. */
void gg_cfg_resolve(gg_config *c, const gg_config *old);

/* ---- values (config_value.c) ----------------------------------------------- */

#define GG_CFG_PATH_LEN 192 /* longest dotted path a message or --set handles */
#define GG_CFG_SHOW 40      /* characters of a found value quoted in a message */

struct fy_node;

typedef struct gg_cfg_pos {
    int line, col; /* 1-based; 0 = unknown */
} gg_cfg_pos;

typedef struct gg_cfg_ctx {
    const char *src;     /* file name for messages, or NULL under --set */
    const char *set_key; /* the KEY of --set */
    gg_error *err;
} gg_cfg_ctx;

typedef struct gg_cfg_seg { /* a piece of a string: a key name, a path segment */
    const char *s;
    size_t len;
} gg_cfg_seg;

/* GG_ERR_CONFIG with "SRC:L:C: PATH: msg", or "--set KEY: PATH: msg" (PATH is
 * left out when NULL or when it is KEY). */
gg_status gg_cfg_fail(const gg_cfg_ctx *x, gg_cfg_pos p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "unknown WHAT 'S' in IN; did you mean ...? (expected one of: CANDS)". */
gg_status gg_cfg_unknown(const gg_cfg_ctx *x, gg_cfg_pos p, const char *what, const char *s,
                         size_t len, const char *in, const gg_cfg_seg *cands, int n);
/* NULL, empty, ~ or null. */
bool gg_cfg_is_nothing(struct fy_node *n);
/* A scalar's text (not NUL-terminated), or NULL for anything else. */
const char *gg_cfg_scalar(struct fy_node *n, size_t *len);
/* What a node is, for "found ...": "'abc'", "a mapping", "nothing". */
void gg_cfg_found(struct fy_node *n, char *buf, size_t size);
/* Where n starts, or fallback when the node carries no position. */
gg_cfg_pos gg_cfg_pos_of(struct fy_node *n, gg_cfg_pos fallback);
/* The names of a table as segments (canonical only unless aliases); out holds 32. */
int gg_cfg_name_segs(const gg_cfg_name *names, bool aliases, gg_cfg_seg *out);
/* Sets key k of base (a gg_config or a gg_layer_spec) from n, checking type
 * and range; path names the key in messages, at is the fallback position. */
gg_status gg_cfg_set_value(const gg_cfg_ctx *x, const gg_cfg_key *k, void *base, const char *path,
                           struct fy_node *n, gg_cfg_pos at);

#endif
