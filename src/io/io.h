/* Readers and writers of the files gradguard touches: IDX (the MNIST
 * family, raw or gzipped), CSV, safetensors, and atomic file replacement.
 * Every reader checks sizes against the file before allocating and names
 * the file and the offending field in its error. */
#ifndef GG_IO_H
#define GG_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "gradguard.h"

/* ---- IDX --------------------------------------------------------------- */
typedef enum gg_idx_type {
    GG_IDX_U8 = 0x08, GG_IDX_I8 = 0x09, GG_IDX_I16 = 0x0B,
    GG_IDX_I32 = 0x0C, GG_IDX_F32 = 0x0D, GG_IDX_F64 = 0x0E
} gg_idx_type;

#define GG_IDX_MAX_DIMS 8
typedef struct gg_idx_array {
    gg_idx_type type;
    int ndim;
    uint32_t dims[GG_IDX_MAX_DIMS];
    size_t count;   /* product of dims */
    double *values; /* count values, converted from the file's big-endian type; owned */
} gg_idx_array;

/* Reads an IDX file; gzip is detected by its magic bytes. */
gg_status gg_idx_read(const char *path, gg_idx_array *out, gg_error *err);
void gg_idx_free(gg_idx_array *a);

/* ---- CSV --------------------------------------------------------------- */
typedef struct gg_csv_table {
    size_t rows;
    int cols;
    bool has_header;  /* the first line was non-numeric and was taken as names */
    char **names;     /* cols names if has_header, else NULL; owned */
    double *values;   /* rows * cols, row-major; owned */
    size_t *lines;    /* rows: the 1-based file line of each row (blank lines counted); owned */
    size_t *last_cols; /* rows: the 1-based byte column where each row's last field starts; owned */
} gg_csv_table;

/* Reads a numeric CSV (comma separated, optional header line, blank lines
 * ignored). Errors name path:line:column and the field found. */
gg_status gg_csv_read(const char *path, gg_csv_table *out, gg_error *err);
void gg_csv_free(gg_csv_table *t);

/* ---- safetensors ------------------------------------------------------- */
typedef enum gg_st_dtype {
    GG_ST_F32, GG_ST_F64, GG_ST_I8, GG_ST_U8, GG_ST_I32, GG_ST_I64, GG_ST_F16, GG_ST_BF16,
    GG_ST_I16, GG_ST_U16, GG_ST_U32, GG_ST_U64, GG_ST_BOOL
} gg_st_dtype;

#define GG_ST_MAX_DIMS 8
typedef struct gg_st_tensor {
    char *name;           /* owned */
    gg_st_dtype dtype;
    int ndim;
    int64_t shape[GG_ST_MAX_DIMS];
    size_t count;         /* elements */
    size_t nbytes;
    const uint8_t *data;  /* points into the file's data block */
} gg_st_tensor;

typedef struct gg_st_file {
    int n;
    gg_st_tensor *tensors;  /* owned, sorted by name */
    int n_meta;
    char **meta_keys;       /* owned; the __metadata__ string map */
    char **meta_values;
    uint8_t *blob;          /* owned: the whole file */
    size_t blob_len;
} gg_st_file;

const char *gg_st_dtype_name(gg_st_dtype t); /* "F32", ... */
size_t gg_st_dtype_size(gg_st_dtype t);

/* Reads and validates a whole file: header length, JSON, dtypes, shapes,
 * offsets inside the data block, no overlaps, no gaps. */
gg_status gg_st_read(const char *path, gg_st_file *out, gg_error *err);
void gg_st_free(gg_st_file *f);
const gg_st_tensor *gg_st_find(const gg_st_file *f, const char *name);
const char *gg_st_meta(const gg_st_file *f, const char *key); /* NULL if absent */
/* Element i of t as a double (I64, F32, F64, I8, U8; NaN for other types). */
double gg_st_element(const gg_st_tensor *t, size_t i);
/* "[2, 3]" for a file's shape, in buf. */
const char *gg_st_dims_text(char *buf, size_t cap, int ndim, const int64_t *d);

/* Writing: collect tensors (data borrowed until write) and metadata, then
 * write atomically. */
typedef struct gg_st_writer gg_st_writer;
gg_st_writer *gg_st_writer_new(void);
void gg_st_writer_free(gg_st_writer *w);
gg_status gg_st_writer_add(gg_st_writer *w, const char *name, gg_st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, gg_error *err);
gg_status gg_st_writer_meta(gg_st_writer *w, const char *key, const char *value, gg_error *err);
gg_status gg_st_writer_write(gg_st_writer *w, const char *path, gg_error *err);
/* At write time, metadata KEY = the CRC-32 (8 hex digits) of every tensor's
 * bytes in the file's order; gg_st_checksum recomputes it from a read file. */
gg_status gg_st_writer_checksum_meta(gg_st_writer *w, const char *key, gg_error *err);
uint32_t gg_st_checksum(const gg_st_file *f);

/* ---- atomic replacement ------------------------------------------------
 * Write to PATH.tmp.<pid> in the same directory, fsync, rename over PATH,
 * fsync the directory. On failure the temporary file is removed and PATH is
 * untouched. */
typedef struct gg_atomic_file {
    FILE *f;
    char *path;
    char *tmp_path;
} gg_atomic_file;

gg_status gg_atomic_open(gg_atomic_file *af, const char *path, gg_error *err);
gg_status gg_atomic_commit(gg_atomic_file *af, gg_error *err); /* closes */
void gg_atomic_abort(gg_atomic_file *af);                     /* closes, removes tmp */

#endif
