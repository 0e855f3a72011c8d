/* IDX reader (the MNIST family): 00 00 TYPE NDIM, NDIM big-endian u32 dims,
 * then big-endian values, raw or gzipped (the 1f 8b magic; inflated here, so
 * a cut or junk-followed gzip stream is caught). The header is not trusted:
 * the values buffer grows with the data actually read, so a lying header
 * cannot make us allocate. */
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

/* The file as a byte stream: raw, or gzip (1f 8b) inflated here rather than
 * by gzread, which takes a cut trailer for a clean end and skips junk after
 * the stream. Concatenated gzip members are read as one stream, as gzip -d
 * does; anything else after the last member is refused. */
typedef struct source {
    const char *path;
    FILE *f;
    z_stream z;     /* in raw mode only next_in/avail_in are used */
    bool gzip, inflating, end;
    uint64_t read;  /* bytes taken from the file so far */
    unsigned char *in; /* CHUNK_BYTES; owned */
} source;

/* Tops up the input buffer (keeping what is unread); *eof when nothing came. */
static gg_status fill(source *s, bool *eof, gg_error *err) {
    if (s->z.avail_in && s->z.next_in != s->in) memmove(s->in, s->z.next_in, s->z.avail_in);
    s->z.next_in = s->in;
    size_t r = fread(s->in + s->z.avail_in, 1, CHUNK_BYTES - s->z.avail_in, s->f);
    if (ferror(s->f)) /* a directory reads as EISDIR: bad input, not a system failure */
        return gg_fail(err, gg_open_error(errno), "%s: cannot read: %s", s->path, strerror(errno));
    s->z.avail_in += (uInt)r;
    s->read += r;
    *eof = r == 0;
    return GG_OK;
}

static gg_status source_open(source *s, const char *path, gg_error *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    errno = 0;
    if (!(s->f = fopen(path, "rb")))
        return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", path, strerror(errno));
    if (!(s->in = gg_alloc(CHUNK_BYTES, err))) return GG_ERR_NOMEM;
    bool eof = false;
    gg_status rc;
    while (s->z.avail_in < 2 && !eof)
        if ((rc = fill(s, &eof, err)) != GG_OK) return rc;
    s->gzip = s->z.avail_in >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip) {
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
            return gg_fail(err, GG_ERR_NOMEM, "%s: out of memory for zlib", path);
        s->inflating = true;
    }
    return GG_OK;
}

static void source_close(source *s) {
    if (s->inflating) inflateEnd(&s->z);
    if (s->f) fclose(s->f);
    free(s->in);
}

/* A gzip member ended: another member may follow; anything else is junk. */
static gg_status member_end(source *s, gg_error *err) {
    bool eof = false;
    gg_status rc;
    while (s->z.avail_in < 2 && !eof)
        if ((rc = fill(s, &eof, err)) != GG_OK) return rc;
    if (s->z.avail_in == 0) {
        s->end = true;
        return GG_OK;
    }
    if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
        inflateReset(&s->z);
        return GG_OK;
    }
    uint64_t junk = s->z.avail_in, end = s->read - s->z.avail_in;
    do { /* count the rest of the file for the message */
        s->z.avail_in = 0;
        if ((rc = fill(s, &eof, err)) != GG_OK) return rc;
        junk += s->z.avail_in;
    } while (!eof);
    return gg_fail(err, GG_ERR_DATA,
                   "%s: %llu bytes of trailing data after the gzip stream (which ends at byte "
                   "%llu), expected the end of the file or another gzip member",
                   s->path, (unsigned long long)junk, (unsigned long long)end);
}

/* Reads up to n bytes; *got says how many came. A short read is not an
 * error here (the caller reports truncation with the sizes); a gzip stream
 * that is cut, corrupt or followed by junk is, and so is a refusing OS. */
static gg_status read_bytes(source *s, void *buf, size_t n, size_t *got, gg_error *err) {
    gg_status rc;
    bool eof = false;
    *got = 0;
    while (*got < n && !s->end) {
        if (!s->z.avail_in) {
            if ((rc = fill(s, &eof, err)) != GG_OK) return rc;
            if (eof && !s->gzip) break;
            if (eof)
                return gg_fail(err, GG_ERR_DATA,
                               "%s: truncated gzip stream: the file ends after %llu bytes, "
                               "before the end of the compressed data and its 8-byte trailer",
                               s->path, (unsigned long long)s->read);
        }
        size_t want = n - *got < CHUNK_BYTES ? n - *got : CHUNK_BYTES;
        if (!s->gzip) {
            if (want > s->z.avail_in) want = s->z.avail_in;
            memcpy((char *)buf + *got, s->z.next_in, want);
            s->z.next_in += want;
            s->z.avail_in -= (uInt)want;
            *got += want;
            continue;
        }
        s->z.next_out = (Bytef *)buf + *got;
        s->z.avail_out = (uInt)want;
        int zr = inflate(&s->z, Z_NO_FLUSH);
        *got += want - s->z.avail_out;
        if (zr == Z_STREAM_END) {
            if ((rc = member_end(s, err)) != GG_OK) return rc;
        } else if (zr == Z_MEM_ERROR) {
            return gg_fail(err, GG_ERR_NOMEM, "%s: out of memory decompressing", s->path);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) { /* Z_BUF_ERROR: needs more input */
            return gg_fail(err, GG_ERR_DATA, "%s: corrupt gzip data: %s (found by byte %llu)",
                           s->path, s->z.msg ? s->z.msg : "invalid stream",
                           (unsigned long long)(s->read - s->z.avail_in));
        }
    }
    return GG_OK;
}

/* Checks the 4-byte magic and the dims; sets type, ndim, dims, count. */
static gg_status read_header(source *src, const char *path, gg_idx_array *a, gg_error *err) {
    unsigned char m[4], d[4 * GG_IDX_MAX_DIMS];
    size_t got;
    gg_status rc = read_bytes(src, m, 4, &got, err);
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
    rc = read_bytes(src, d, 4 * (size_t)a->ndim, &got, err);
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
    source src;
    memset(out, 0, sizeof *out);
    rc = source_open(&src, path, err);
    if (rc != GG_OK) goto done;
    rc = read_header(&src, path, &a, err);
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
        rc = read_bytes(&src, chunk, want, &got, err);
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
    /* Reading on to the end also makes zlib check the gzip CRC and finds
     * junk after the gzip stream. */
    rc = read_bytes(&src, chunk, 1, &got, err);
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
    source_close(&src);
    return rc;
}

void gg_idx_free(gg_idx_array *a) {
    if (!a) return;
    free(a->values);
    memset(a, 0, sizeof *a);
}
