/* safetensors: an 8-byte little-endian header length N, N bytes of JSON giving
 * each tensor's dtype, shape and [begin, end) in the data block that follows,
 * then the data, raw little-endian. Tensors must tile the data block exactly,
 * as the spec requires. Tensor data read back need not be aligned: memcpy it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <zlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "io/io.h"

#define MAX_HEADER 100000000 /* bytes; the reference implementation's limit */
#define NAME "'%.64s'"       /* a tensor name in a message, cut so the rest fits */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [GG_ST_F32] = {"F32", 4}, [GG_ST_F64] = {"F64", 8},   [GG_ST_I8] = {"I8", 1},
    [GG_ST_U8] = {"U8", 1},   [GG_ST_I32] = {"I32", 4},   [GG_ST_I64] = {"I64", 8},
    [GG_ST_F16] = {"F16", 2}, [GG_ST_BF16] = {"BF16", 2}, [GG_ST_I16] = {"I16", 2},
    [GG_ST_U16] = {"U16", 2}, [GG_ST_U32] = {"U32", 4},   [GG_ST_U64] = {"U64", 8},
    [GG_ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *gg_st_dtype_name(gg_st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].name : "?";
}

size_t gg_st_dtype_size(gg_st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].size : 0;
}

static const char *json_kind(const json_t *v) {
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return v ? "null" : "missing";
    }
}

/* ---- reading ----------------------------------------------------------- */

typedef struct span {
    size_t begin, end;
    int index; /* into the file's tensors */
} span;

/* Reads the whole file into f->blob. */
static gg_status load_file(const char *path, gg_st_file *f, gg_error *err) {
    gg_status rc = GG_OK;
    struct stat st;
    FILE *fp = fopen(path, "rb");
    if (!fp) return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(fp), &st) != 0) {
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = gg_fail(err, GG_ERR_DATA, "%s: not a regular file", path);
        goto done;
    }
    f->blob_len = (size_t)st.st_size;
    if (!(f->blob = gg_alloc(f->blob_len, err))) {
        rc = GG_ERR_NOMEM;
        goto done;
    }
    size_t got = fread(f->blob, 1, f->blob_len, fp);
    if (got != f->blob_len)
        rc = gg_fail(err, GG_ERR_IO, "%s: read %zu of %zu bytes: %s", path, got, f->blob_len,
                     ferror(fp) ? strerror(errno) : "the file shrank");
done:
    fclose(fp);
    return rc;
}

static bool dtype_of(const char *s, gg_st_dtype *t) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *t = (gg_st_dtype)i;
            return true;
        }
    return false;
}

/* Fills t from one header entry; *sp gets its byte range. */
static gg_status parse_tensor(const char *path, const char *name, json_t *v, size_t data_len,
                              gg_st_tensor *t, span *sp, gg_error *err) {
    if (!json_is_object(v))
        return gg_fail(err, GG_ERR_DATA, "%s: tensor " NAME " is %s, expected an object", path,
                       name, json_kind(v));
    if (!(t->name = gg_strdup(name, err))) return GG_ERR_NOMEM;
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return gg_fail(err, GG_ERR_DATA, "%s: tensor " NAME ": dtype is %s, expected a string",
                       path, name, json_kind(dt));
    if (!dtype_of(json_string_value(dt), &t->dtype))
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": unknown dtype '%.16s', expected one of F64 F32 F16 "
                       "BF16 I64 I32 I16 I8 U8 U16 U32 U64 BOOL",
                       path, name, json_string_value(dt));
    if (!json_is_array(shape))
        return gg_fail(err, GG_ERR_DATA, "%s: tensor " NAME ": shape is %s, expected an array",
                       path, name, json_kind(shape));
    if (json_array_size(shape) > GG_ST_MAX_DIMS)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": shape has %zu dims, expected at most %d", path,
                       name, json_array_size(shape), GG_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    t->count = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return gg_fail(err, GG_ERR_DATA,
                           "%s: tensor " NAME ": shape[%d] is %s, expected an integer >= 0",
                           path, name, i, json_is_integer(d) ? "negative" : json_kind(d));
        t->shape[i] = json_integer_value(d);
        if (!gg_size_mul(t->count, (size_t)t->shape[i], &t->count))
            return gg_fail(err, GG_ERR_DATA, "%s: tensor " NAME ": shape overflows", path, name);
    }
    if (!gg_size_mul(t->count, gg_st_dtype_size(t->dtype), &t->nbytes))
        return gg_fail(err, GG_ERR_DATA, "%s: tensor " NAME ": shape overflows", path, name);
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(e))
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": data_offsets is %s, expected [begin, end], two "
                       "integers",
                       path, name, json_is_array(off) ? "another array" : json_kind(off));
    json_int_t bv = json_integer_value(b), ev = json_integer_value(e);
    if (bv < 0 || bv > ev)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": data_offsets [%lld, %lld], expected "
                       "0 <= begin <= end",
                       path, name, (long long)bv, (long long)ev);
    if ((uint64_t)ev > data_len)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": data_offsets [%lld, %lld] go past the end of the "
                       "%zu-byte data block",
                       path, name, (long long)bv, (long long)ev, data_len);
    sp->begin = (size_t)bv;
    sp->end = (size_t)ev;
    if (sp->end - sp->begin != t->nbytes) {
        char dims[24 * GG_ST_MAX_DIMS] = "";
        for (int i = 0, len = 0; i < t->ndim; i++)
            len += snprintf(dims + len, sizeof dims - (size_t)len, "%s%lld", i ? ", " : "",
                            (long long)t->shape[i]);
        return gg_fail(err, GG_ERR_DATA,
                       "%s: tensor " NAME ": data_offsets [%zu, %zu] hold %zu bytes, shape [%s] "
                       "of %s needs %zu",
                       path, name, sp->begin, sp->end, sp->end - sp->begin, dims,
                       dtypes[t->dtype].name, t->nbytes);
    }
    return GG_OK;
}

static gg_status parse_meta(const char *path, json_t *meta, gg_st_file *f, gg_error *err) {
    const char *key;
    json_t *v;
    if (!json_is_object(meta))
        return gg_fail(err, GG_ERR_DATA, "%s: __metadata__ is %s, expected an object", path,
                       json_kind(meta));
    size_t n = json_object_size(meta);
    f->meta_keys = gg_alloc(n * sizeof *f->meta_keys, err);
    f->meta_values = gg_alloc(n * sizeof *f->meta_values, err);
    if (!f->meta_keys || !f->meta_values) return GG_ERR_NOMEM;
    f->n_meta = (int)n;
    int i = 0;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return gg_fail(err, GG_ERR_DATA, "%s: __metadata__ '%.64s' is %s, expected a string",
                           path, key, json_kind(v));
        if (!(f->meta_keys[i] = gg_strdup(key, err))) return GG_ERR_NOMEM;
        if (!(f->meta_values[i] = gg_strdup(json_string_value(v), err))) return GG_ERR_NOMEM;
        i++;
    }
    return GG_OK;
}

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* In offset order, each tensor must begin where the previous one ended, the
 * first at 0 and the last ending with the data block. */
static gg_status check_tiling(const char *path, const gg_st_file *f, span *sp, size_t data_len,
                              gg_error *err) {
    qsort(sp, (size_t)f->n, sizeof *sp, span_cmp);
    size_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->tensors[sp[i].index].name;
        const char *prev = i ? f->tensors[sp[i - 1].index].name : NULL;
        if (sp[i].begin < at)
            return gg_fail(err, GG_ERR_DATA,
                           "%s: tensors " NAME " and " NAME " overlap: the second begins at "
                           "%zu, the first ends at %zu",
                           path, prev, name, sp[i].begin, at);
        if (sp[i].begin > at)
            return gg_fail(err, GG_ERR_DATA,
                           "%s: gap of %zu unused bytes at [%zu, %zu), before tensor " NAME,
                           path, sp[i].begin - at, at, sp[i].begin, name);
        at = sp[i].end;
    }
    if (at != data_len)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: %zu unused bytes at the end of the %zu-byte data block, after the "
                       "last tensor",
                       path, data_len - at, data_len);
    return GG_OK;
}

static int tensor_cmp(const void *a, const void *b) {
    return strcmp(((const gg_st_tensor *)a)->name, ((const gg_st_tensor *)b)->name);
}

gg_status gg_st_read(const char *path, gg_st_file *out, gg_error *err) {
    gg_status rc = GG_OK;
    gg_st_file f = {0};
    json_t *root = NULL;
    span *spans = NULL;
    json_error_t jerr;
    const char *key;
    json_t *v;
    size_t hlen = 0, data_len = 0;
    memset(out, 0, sizeof *out);
    rc = load_file(path, &f, err);
    if (rc != GG_OK) goto done;
    if (f.blob_len < 8) {
        rc = gg_fail(err, GG_ERR_DATA,
                     "%s: truncated: file has %zu bytes, expected at least the 8-byte header "
                     "length",
                     path, f.blob_len);
        goto done;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f.blob[i];
    if (n > MAX_HEADER || n > f.blob_len - 8) {
        rc = gg_fail(err, GG_ERR_DATA,
                     "%s: header length %llu is too large: the limit is %d bytes and %zu bytes "
                     "follow it",
                     path, (unsigned long long)n, MAX_HEADER, f.blob_len - 8);
        goto done;
    }
    hlen = (size_t)n;
    data_len = f.blob_len - 8 - hlen;
    root = json_loadb((const char *)f.blob + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = gg_fail(err, GG_ERR_DATA, "%s: header JSON line %d column %d: %s", path, jerr.line,
                     jerr.column, jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = gg_fail(err, GG_ERR_DATA, "%s: header is %s, expected a JSON object", path,
                     json_kind(root));
        goto done;
    }
    json_t *meta = json_object_get(root, "__metadata__");
    size_t nt = json_object_size(root) - (meta ? 1 : 0);
    f.tensors = gg_alloc(nt * sizeof *f.tensors, err);
    spans = gg_alloc(nt * sizeof *spans, err);
    if (!f.tensors || !spans) {
        rc = GG_ERR_NOMEM;
        goto done;
    }
    f.n = (int)nt; /* nt < MAX_HEADER / 2: each entry takes bytes of the header */
    int i = 0;
    json_object_foreach(root, key, v) {
        if (v == meta) continue;
        spans[i].index = i;
        rc = parse_tensor(path, key, v, data_len, &f.tensors[i], &spans[i], err);
        if (rc != GG_OK) goto done;
        f.tensors[i].data = f.blob + 8 + hlen + spans[i].begin;
        i++;
    }
    if (meta && (rc = parse_meta(path, meta, &f, err)) != GG_OK) goto done;
    rc = check_tiling(path, &f, spans, data_len, err);
    if (rc != GG_OK) goto done;
    qsort(f.tensors, nt, sizeof *f.tensors, tensor_cmp);
    *out = f;
done:
    json_decref(root);
    free(spans);
    if (rc != GG_OK) gg_st_free(&f);
    return rc;
}

void gg_st_free(gg_st_file *f) {
    if (!f) return;
    for (int i = 0; f->tensors && i < f->n; i++) free(f->tensors[i].name);
    for (int i = 0; f->meta_keys && i < f->n_meta; i++) free(f->meta_keys[i]);
    for (int i = 0; f->meta_values && i < f->n_meta; i++) free(f->meta_values[i]);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->blob);
    memset(f, 0, sizeof *f);
}

static int find_cmp(const void *key, const void *t) {
    return strcmp(key, ((const gg_st_tensor *)t)->name);
}

const gg_st_tensor *gg_st_find(const gg_st_file *f, const char *name) {
    if (!f || !f->n || !name) return NULL;
    return bsearch(name, f->tensors, (size_t)f->n, sizeof *f->tensors, find_cmp);
}

const char *gg_st_meta(const gg_st_file *f, const char *key) {
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* ---- writing ----------------------------------------------------------- */

typedef struct entry {
    char *name; /* owned */
    gg_st_dtype dtype;
    int ndim;
    int64_t shape[GG_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* borrowed until write */
} entry;

typedef struct pair {
    char *key, *value; /* owned */
} pair;

struct gg_st_writer {
    entry *e;
    int n, cap;
    pair *meta;
    int n_meta, meta_cap;
    char *checksum_key; /* owned; metadata key for the CRC-32 of the data, or NULL */
};

/* CRC-32 of tensor bytes in name order: the order the writer lays them
 * out and the reader sorts them in, so both sides agree. */
static uint32_t crc_entries(const entry *e, int n) {
    uLong c = crc32_z(0L, Z_NULL, 0);
    for (int i = 0; i < n; i++) c = crc32_z(c, e[i].data, e[i].nbytes);
    return (uint32_t)c;
}

uint32_t gg_st_checksum(const gg_st_file *f) {
    uLong c = crc32_z(0L, Z_NULL, 0);
    for (int i = 0; i < f->n; i++) c = crc32_z(c, f->tensors[i].data, f->tensors[i].nbytes);
    return (uint32_t)c;
}

gg_status gg_st_writer_checksum_meta(gg_st_writer *w, const char *key, gg_error *err) {
    free(w->checksum_key);
    w->checksum_key = gg_strdup(key, err);
    return w->checksum_key ? GG_OK : GG_ERR_NOMEM;
}

gg_st_writer *gg_st_writer_new(void) { return calloc(1, sizeof(gg_st_writer)); }

void gg_st_writer_free(gg_st_writer *w) {
    if (!w) return;
    free(w->checksum_key);
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->e);
    free(w->meta);
    free(w);
}

/* jansson refuses strings that are not UTF-8; find out before writing. */
static bool is_utf8(const char *s) {
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

gg_status gg_st_writer_add(gg_st_writer *w, const char *name, gg_st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, gg_error *err) {
    size_t count = 1, nbytes = 0;
    if (!w) return gg_fail(err, GG_ERR_ARG, "safetensors writer: no writer");
    if (!name || !*name || !is_utf8(name))
        return gg_fail(err, GG_ERR_ARG,
                       "safetensors writer: a tensor name must be non-empty UTF-8");
    if (strcmp(name, "__metadata__") == 0)
        return gg_fail(err, GG_ERR_ARG, "safetensors writer: '__metadata__' is reserved");
    if (!gg_st_dtype_size(dtype))
        return gg_fail(err, GG_ERR_ARG, "safetensors writer: tensor " NAME ": unknown dtype %d",
                       name, (int)dtype);
    if (ndim < 0 || ndim > GG_ST_MAX_DIMS || (ndim > 0 && !shape))
        return gg_fail(err, GG_ERR_ARG,
                       "safetensors writer: tensor " NAME ": %d dims, expected 0 to %d", name,
                       ndim, GG_ST_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !gg_size_mul(count, (size_t)shape[i], &count))
            return gg_fail(err, GG_ERR_ARG,
                           "safetensors writer: tensor " NAME ": shape[%d] = %lld is %s", name,
                           i, (long long)shape[i], shape[i] < 0 ? "negative" : "too large");
    if (!gg_size_mul(count, gg_st_dtype_size(dtype), &nbytes) || nbytes > INT64_MAX)
        return gg_fail(err, GG_ERR_ARG, "safetensors writer: tensor " NAME ": too large", name);
    if (nbytes && !data)
        return gg_fail(err, GG_ERR_ARG, "safetensors writer: tensor " NAME ": no data", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return gg_fail(err, GG_ERR_ARG, "safetensors writer: tensor " NAME " added twice",
                           name);
    if (gg_grow((void **)&w->e, w->n, &w->cap, sizeof *w->e, "safetensors entries", err) != GG_OK)
        return GG_ERR_NOMEM;
    entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = gg_strdup(name, err))) return GG_ERR_NOMEM;
    e->dtype = dtype;
    e->ndim = ndim;
    if (ndim) memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    e->nbytes = nbytes;
    e->data = data;
    w->n++;
    return GG_OK;
}

gg_status gg_st_writer_meta(gg_st_writer *w, const char *key, const char *value, gg_error *err) {
    if (!w || !key || !value || !is_utf8(key) || !is_utf8(value))
        return gg_fail(err, GG_ERR_ARG, "safetensors writer: metadata must be UTF-8 strings");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0)
            return gg_fail(err, GG_ERR_ARG, "safetensors writer: metadata '%.64s' set twice",
                           key);
    if (gg_grow((void **)&w->meta, w->n_meta, &w->meta_cap, sizeof *w->meta,
                "safetensors metadata entries", err) != GG_OK)
        return GG_ERR_NOMEM;
    pair *m = &w->meta[w->n_meta];
    m->key = gg_strdup(key, err);
    m->value = m->key ? gg_strdup(value, err) : NULL;
    if (!m->value) {
        free(m->key);
        return GG_ERR_NOMEM;
    }
    w->n_meta++;
    return GG_OK;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* The header object: __metadata__ if any, then each tensor with its offsets
 * in the order of w->e. Returns NULL when jansson runs out of memory. Every
 * json_*_set_new and _append_new takes its value, even when it fails. */
static json_t *build_header(const gg_st_writer *w) {
    json_t *root = json_object();
    bool bad = !root;
    if (!bad && w->n_meta) {
        bad = json_object_set_new(root, "__metadata__", json_object()) != 0;
        json_t *meta = json_object_get(root, "__metadata__");
        for (int i = 0; !bad && i < w->n_meta; i++)
            bad = json_object_set_new(meta, w->meta[i].key, json_string(w->meta[i].value)) != 0;
    }
    size_t at = 0; /* each nbytes <= INT64_MAX; the sum is checked below */
    for (int i = 0; !bad && i < w->n; i++) {
        const entry *e = &w->e[i];
        json_t *t = json_object();
        bad = json_object_set_new(root, e->name, t) != 0 ||
              json_object_set_new(t, "dtype", json_string(dtypes[e->dtype].name)) != 0 ||
              json_object_set_new(t, "shape", json_array()) != 0 ||
              json_object_set_new(t, "data_offsets", json_array()) != 0;
        json_t *shape = bad ? NULL : json_object_get(t, "shape");
        json_t *off = bad ? NULL : json_object_get(t, "data_offsets");
        for (int d = 0; !bad && d < e->ndim; d++)
            bad = json_array_append_new(shape, json_integer(e->shape[d])) != 0;
        bad = bad || at > (size_t)INT64_MAX - e->nbytes ||
              json_array_append_new(off, json_integer((json_int_t)at)) != 0 ||
              json_array_append_new(off, json_integer((json_int_t)(at + e->nbytes))) != 0;
        at += e->nbytes;
    }
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static gg_status put(gg_atomic_file *af, const void *p, size_t n, gg_error *err) {
    if (n && fwrite(p, 1, n, af->f) != n)
        return gg_fail(err, GG_ERR_IO, "%s: cannot write %s: %s", af->path, af->tmp_path,
                       strerror(errno));
    return GG_OK;
}

gg_status gg_st_writer_write(gg_st_writer *w, const char *path, gg_error *err) {
    gg_status rc = GG_OK;
    gg_atomic_file af = {0};
    json_t *root = NULL;
    char *json = NULL;
    static const char spaces[] = "       "; /* at most 7 bytes of padding */
    if (!w || !path) return gg_fail(err, GG_ERR_ARG, "safetensors writer: no writer or path");
    if (w->n) qsort(w->e, (size_t)w->n, sizeof *w->e, entry_cmp);
    if (w->checksum_key) {
        char hex[16];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc_entries(w->e, w->n));
        if ((rc = gg_st_writer_meta(w, w->checksum_key, hex, err)) != GG_OK) goto done;
        free(w->checksum_key); /* once: a second write would add the key twice */
        w->checksum_key = NULL;
    }
    root = build_header(w);
    json = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!json) {
        rc = gg_fail(err, GG_ERR_NOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    /* Pad with spaces so the data block starts 8-aligned, as the reference
     * implementation does. */
    size_t len = strlen(json), pad = (8 - len % 8) % 8;
    uint64_t hlen = len + pad;
    if (hlen > MAX_HEADER) {
        rc = gg_fail(err, GG_ERR_ARG, "%s: header of %llu bytes is over the %d-byte limit", path,
                     (unsigned long long)hlen, MAX_HEADER);
        goto done;
    }
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hlen >> (8 * i));
    rc = gg_atomic_open(&af, path, err);
    if (rc != GG_OK) goto done;
    rc = put(&af, le, 8, err);
    if (rc == GG_OK) rc = put(&af, json, len, err);
    if (rc == GG_OK) rc = put(&af, spaces, pad, err);
    for (int i = 0; rc == GG_OK && i < w->n; i++)
        rc = put(&af, w->e[i].data, w->e[i].nbytes, err);
    if (rc == GG_OK) rc = gg_atomic_commit(&af, err);
done:
    gg_atomic_abort(&af); /* nothing left to do after a commit */
    free(json);
    json_decref(root);
    return rc;
}

double gg_st_element(const gg_st_tensor *t, size_t i) {
    switch (t->dtype) {
    case GG_ST_I64: {
        int64_t v;
        memcpy(&v, t->data + i * 8, 8);
        return (double)v;
    }
    case GG_ST_F32: {
        float v;
        memcpy(&v, t->data + i * 4, 4);
        return v;
    }
    case GG_ST_F64: {
        double v;
        memcpy(&v, t->data + i * 8, 8);
        return v;
    }
    case GG_ST_I8: return (double)(int8_t)t->data[i];
    case GG_ST_U8: return (double)t->data[i];
    default: return NAN;
    }
}

const char *gg_st_dims_text(char *buf, size_t cap, int ndim, const int64_t *d) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}
