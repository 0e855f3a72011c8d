/* IDX reader (the MNIST family): 00 00 TYPE NDIM, NDIM big-endian u32 dims,
 * then big-endian values. zlib reads raw and gzipped files alike (it looks
 * for the 1f 8b magic). The header is not trusted: the values buffer grows
 * with the data actually read, so a lying header cannot make us allocate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/core.h"
#include "io/io.h"

/* At most 4 GiB of converted values (512 Mi doubles); Fashion-MNIST's
 * training images are 47 Mi. */
#define MAX_VALUE_BYTES ((uint64_t)4 << 30)
#define CHUNK_BYTES ((size_t)1 << 16) /* a multiple of every element size */

static size_t type_size(int type) {
    switch (type) {
    case GG_IDX_U8: case GG_IDX_I8: return 1;
    case GG_IDX_I16: return 2;
    case GG_IDX_I32: case GG_IDX_F32: return 4;
    case GG_IDX_F64: return 8;
    default: return 0;
    }
}

static uint64_t load_be(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* One big-endian element as a double. Signed and float types are
 * reinterpreted with memcpy: defined, unlike an out-of-range cast. */
static double element(int type, const unsigned char *p) {
    uint64_t u = load_be(p, type_size(type));
    uint8_t u8 = (uint8_t)u;
    uint16_t u16 = (uint16_t)u;
    uint32_t u32 = (uint32_t)u;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    float f32;
    double f64;
    switch (type) {
    case GG_IDX_U8: return u8;
    case GG_IDX_I8: memcpy(&i8, &u8, 1); return i8;
    case GG_IDX_I16: memcpy(&i16, &u16, 2); return i16;
    case GG_IDX_I32: memcpy(&i32, &u32, 4); return i32;
    case GG_IDX_F32: memcpy(&f32, &u32, 4); return f32;
    default: memcpy(&f64, &u, 8); return f64;
    }
}

static void convert(int type, const unsigned char *p, size_t n, double *out) {
    size_t es = type_size(type);
    for (size_t i = 0; i < n; i++) out[i] = element(type, p + i * es);
}

/* Reads up to n bytes; *got says how many came. A short read is not an
 * error here (the caller reports truncation with the sizes); a corrupt
 * gzip stream or a refusing OS is. */
static gg_status read_bytes(gzFile gz, const char *path, void *buf, size_t n, size_t *got,
                            gg_error *err) {
    *got = 0;
    while (*got < n) {
        unsigned want = (unsigned)(n - *got < CHUNK_BYTES ? n - *got : CHUNK_BYTES);
        int r = gzread(gz, (char *)buf + *got, want);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        int zerr = Z_OK;
        const char *zmsg = gzerror(gz, &zerr);
        if (zerr == Z_ERRNO)
            return gg_fail(err, GG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (zerr == Z_MEM_ERROR)
            return gg_fail(err, GG_ERR_NOMEM, "%s: out of memory decompressing", path);
        if (zerr != Z_OK && zerr != Z_BUF_ERROR) /* Z_BUF_ERROR: stream cut short */
            return gg_fail(err, GG_ERR_DATA, "%s: corrupt gzip data: %s", path, zmsg);
        break;
    }
    return GG_OK;
}

/* Checks the 4-byte magic and the dims; sets type, ndim, dims, count. */
static gg_status read_header(gzFile gz, const char *path, gg_idx_array *a, gg_error *err) {
    unsigned char m[4], d[4 * GG_IDX_MAX_DIMS];
    size_t got;
    gg_status rc = read_bytes(gz, path, m, 4, &got, err);
    if (rc != GG_OK) return rc;
    if (got < 4)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: truncated: an IDX header needs 4 bytes of magic, file has %zu",
                       path, got);
    if (m[0] != 0 || m[1] != 0 || !type_size(m[2]))
        return gg_fail(err, GG_ERR_DATA,
                       "%s: bad magic %02x %02x %02x %02x, expected 00 00 then a type "
                       "(08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64) and the number of dims",
                       path, m[0], m[1], m[2], m[3]);
    if (m[3] == 0 || m[3] > GG_IDX_MAX_DIMS)
        return gg_fail(err, GG_ERR_DATA, "%s: header has %d dimensions, expected 1 to %d",
                       path, m[3], GG_IDX_MAX_DIMS);
    a->type = (gg_idx_type)m[2];
    a->ndim = m[3];
    rc = read_bytes(gz, path, d, 4 * (size_t)a->ndim, &got, err);
    if (rc != GG_OK) return rc;
    if (got < 4 * (size_t)a->ndim)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: truncated: header announces %d dimensions (%d bytes), file has %zu",
                       path, a->ndim, 4 * a->ndim, got);
    size_t count = 1, vbytes = 0;
    bool overflow = false;
    char shape[16 * GG_IDX_MAX_DIMS] = "";
    for (int i = 0, len = 0; i < a->ndim; i++) {
        a->dims[i] = (uint32_t)load_be(d + 4 * i, 4);
        overflow = overflow || !gg_size_mul(count, a->dims[i], &count);
        len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%u", i ? " x " : "",
                        a->dims[i]);
    }
    if (overflow || !gg_size_mul(count, sizeof(double), &vbytes) || vbytes > MAX_VALUE_BYTES)
        return gg_fail(err, GG_ERR_DATA,
                       "%s: dims %s make too many values: over the %llu-byte limit as doubles",
                       path, shape, (unsigned long long)MAX_VALUE_BYTES);
    a->count = count;
    return GG_OK;
}

/* Grows a->values to hold at least need values (never beyond a->count). */
static gg_status reserve(gg_idx_array *a, size_t *cap, size_t need, gg_error *err) {
    if (need <= *cap) return GG_OK;
    size_t ncap = *cap ? *cap : CHUNK_BYTES;
    while (ncap < need) ncap *= 2; /* need <= count <= 512 Mi: cannot overflow */
    if (ncap > a->count) ncap = a->count;
    double *p = realloc(a->values, ncap * sizeof *p);
    if (!p)
        return gg_fail(err, GG_ERR_NOMEM, "out of memory for %zu IDX values", ncap);
    a->values = p;
    *cap = ncap;
    return GG_OK;
}

gg_status gg_idx_read(const char *path, gg_idx_array *out, gg_error *err) {
    gg_status rc = GG_OK;
    gg_idx_array a = {0};
    unsigned char *chunk = NULL;
    size_t cap = 0, got = 0, total = 0, es = 0, nbytes = 0;
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        if (errno)
            return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", path, strerror(errno));
        return gg_fail(err, GG_ERR_NOMEM, "%s: out of memory opening", path);
    }
    gzbuffer(gz, 1 << 17);
    rc = read_header(gz, path, &a, err);
    if (rc != GG_OK) goto done;
    es = type_size(a.type);
    nbytes = a.count * es; /* read_header capped count * 8 at 4 GiB */
    chunk = gg_alloc(CHUNK_BYTES, err);
    if (!chunk) {
        rc = GG_ERR_NOMEM;
        goto done;
    }
    while (total < nbytes) {
        size_t want = nbytes - total < CHUNK_BYTES ? nbytes - total : CHUNK_BYTES;
        rc = read_bytes(gz, path, chunk, want, &got, err);
        if (rc != GG_OK) goto done;
        if (got < want) {
            total += got;
            break;
        }
        rc = reserve(&a, &cap, (total + got) / es, err);
        if (rc != GG_OK) goto done;
        convert(a.type, chunk, got / es, a.values + total / es);
        total += got;
    }
    if (total < nbytes) {
        rc = gg_fail(err, GG_ERR_DATA,
                     "%s: truncated: header announces %zu bytes of data, file has %zu", path,
                     nbytes, total);
        goto done;
    }
    /* Reading on to the end also makes zlib check the gzip CRC. */
    rc = read_bytes(gz, path, chunk, 1, &got, err);
    if (rc != GG_OK) goto done;
    if (got) {
        rc = gg_fail(err, GG_ERR_DATA,
                     "%s: trailing data after the %zu bytes of data the header announces",
                     path, nbytes);
        goto done;
    }
    if (!a.values && !(a.values = gg_alloc(sizeof(double), err))) { /* an empty array */
        rc = GG_ERR_NOMEM;
        goto done;
    }
    *out = a;
done:
    free(chunk);
    if (rc != GG_OK) free(a.values);
    gzclose(gz);
    return rc;
}

void gg_idx_free(gg_idx_array *a) {
    if (!a) return;
    free(a->values);
    memset(a, 0, sizeof *a);
}
