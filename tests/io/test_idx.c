/* Tests of the IDX reader: every element type, raw and gzipped files, the
 * real Fashion-MNIST labels, and a message naming path and sizes for each
 * kind of broken file. Fixtures are written into a fresh mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "io/io.h"

#define FASHION_LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->dir, "/tmp/gg_test_idx_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    char p[384];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static const char *at(fixture *fx, const char *name) {
    snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, name);
    return fx->path;
}

/* An IDX image in memory: header then data (already big-endian). */
static size_t idx_bytes(unsigned char *out, int type, int ndim, const uint32_t *dims,
                        const void *data, size_t n) {
    size_t k = 0;
    out[k++] = 0;
    out[k++] = 0;
    out[k++] = (unsigned char)type;
    out[k++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int s = 24; s >= 0; s -= 8) out[k++] = (unsigned char)(dims[i] >> s);
    if (n) memcpy(out + k, data, n);
    return k + n;
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *p, size_t n) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, p, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

/* Reading path must fail with code and a message holding every word given. */
static void expect_failure(const char *path, gg_status code, ...) {
    gg_idx_array a;
    gg_error err = {0};
    assert_int_equal(gg_idx_read(path, &a, &err), code);
    assert_int_equal(err.code, code);
    assert_null(a.values);
    assert_non_null(strstr(err.msg, path));
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));) {
        if (!strstr(err.msg, w)) fail_msg("message '%s' lacks '%s'", err.msg, w);
    }
    va_end(ap);
}

static void test_idx_reads_raw_u8_matrix(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[6] = {0, 1, 2, 127, 128, 255};
    uint32_t dims[2] = {2, 3};
    size_t n = idx_bytes(buf, GG_IDX_U8, 2, dims, data, 6);
    write_raw(at(fx, "m.idx"), buf, n);
    gg_idx_array a;
    gg_error err = {0};
    assert_int_equal(gg_idx_read(fx->path, &a, &err), GG_OK);
    assert_int_equal(a.type, GG_IDX_U8);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.dims[0], 2);
    assert_int_equal(a.dims[1], 3);
    assert_int_equal(a.count, 6);
    for (int i = 0; i < 6; i++) assert_true(a.values[i] == data[i]);
    gg_idx_free(&a);
    assert_null(a.values);
}

static void test_idx_reads_gzipped_u8_images(void **state) {
    fixture *fx = *state;
    enum { N = 3, H = 28, W = 28 };
    static unsigned char buf[16 + N * H * W], data[N * H * W];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 % 256);
    uint32_t dims[3] = {N, H, W};
    size_t n = idx_bytes(buf, GG_IDX_U8, 3, dims, data, sizeof data);
    write_gz(at(fx, "images-idx3-ubyte.gz"), buf, n);
    gg_idx_array a;
    assert_int_equal(gg_idx_read(fx->path, &a, NULL), GG_OK);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.count, N * H * W);
    for (size_t i = 0; i < sizeof data; i++) assert_true(a.values[i] == data[i]);
    gg_idx_free(&a);
}

static void test_idx_converts_every_big_endian_type(void **state) {
    fixture *fx = *state;
    unsigned char buf[64];
    uint32_t dims[1] = {2};
    struct {
        int type;
        unsigned char data[16];
        size_t n;
        double want[2];
    } cases[] = {
        {GG_IDX_I8, {0x80, 0x7f}, 2, {-128, 127}},
        {GG_IDX_I16, {0xff, 0xfe, 0x01, 0x00}, 4, {-2, 256}},
        {GG_IDX_I32, {0x80, 0, 0, 0, 0, 0, 0x01, 0x02}, 8, {-2147483648.0, 258}},
        {GG_IDX_F32, {0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0}, 8, {1.5, -2.5}},
        {GG_IDX_F64, {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xbf, 0xd0, 0, 0, 0, 0, 0, 0}, 16,
         {1.5, -0.25}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = idx_bytes(buf, cases[c].type, 1, dims, cases[c].data, cases[c].n);
        write_raw(at(fx, "t.idx"), buf, n);
        gg_idx_array a;
        gg_error err = {0};
        assert_int_equal(gg_idx_read(fx->path, &a, &err), GG_OK);
        assert_int_equal(a.type, cases[c].type);
        assert_true(a.values[0] == cases[c].want[0]);
        assert_true(a.values[1] == cases[c].want[1]);
        gg_idx_free(&a);
    }
}

static void test_idx_reads_large_gzipped_file_across_chunks(void **state) {
    fixture *fx = *state;
    enum { N = 100000 }; /* 400 KB of i32: several read chunks */
    unsigned char *data = malloc(4 * N), *buf = malloc(4 * N + 16);
    assert_non_null(data);
    assert_non_null(buf);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v = i * 2654435761u;
        for (int s = 0; s < 4; s++) data[4 * i + (size_t)s] = (unsigned char)(v >> (24 - 8 * s));
    }
    uint32_t dims[1] = {N};
    size_t n = idx_bytes(buf, GG_IDX_I32, 1, dims, data, 4 * N);
    write_gz(at(fx, "big.gz"), buf, n);
    gg_idx_array a;
    assert_int_equal(gg_idx_read(fx->path, &a, NULL), GG_OK);
    assert_int_equal(a.count, N);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v = i * 2654435761u;
        int32_t want;
        memcpy(&want, &v, 4);
        assert_true(a.values[i] == want);
    }
    gg_idx_free(&a);
    free(data);
    free(buf);
}

static void test_idx_reads_empty_array(void **state) {
    fixture *fx = *state;
    unsigned char buf[16];
    uint32_t dims[2] = {0, 28};
    size_t n = idx_bytes(buf, GG_IDX_U8, 2, dims, NULL, 0);
    write_raw(at(fx, "empty.idx"), buf, n);
    gg_idx_array a;
    assert_int_equal(gg_idx_read(fx->path, &a, NULL), GG_OK);
    assert_int_equal(a.count, 0);
    assert_non_null(a.values);
    gg_idx_free(&a);
}

static void test_idx_reads_fashion_mnist_test_labels(void **state) {
    (void)state;
    if (access(FASHION_LABELS, R_OK) != 0) skip();
    gg_idx_array a;
    gg_error err = {0};
    assert_int_equal(gg_idx_read(FASHION_LABELS, &a, &err), GG_OK);
    assert_int_equal(a.type, GG_IDX_U8);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.dims[0], 10000);
    assert_int_equal(a.count, 10000);
    int seen[10] = {0};
    for (size_t i = 0; i < a.count; i++) {
        assert_true(a.values[i] >= 0 && a.values[i] <= 9 && a.values[i] == floor(a.values[i]));
        seen[(int)a.values[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(seen[c], 1000); /* balanced test set */
    gg_idx_free(&a);
}

static void test_idx_rejects_missing_file_as_bad_input(void **state) {
    fixture *fx = *state;
    expect_failure(at(fx, "absent.idx"), GG_ERR_DATA, "No such file", NULL);
}

static void test_idx_rejects_bad_magic_naming_bytes(void **state) {
    fixture *fx = *state;
    write_raw(at(fx, "zip.idx"), "PK\x03\x04rest", 8);
    expect_failure(fx->path, GG_ERR_DATA, "magic", "50 4b 03 04", "expected 00 00", NULL);
}

static void test_idx_rejects_unknown_type_byte(void **state) {
    fixture *fx = *state;
    write_raw(at(fx, "type.idx"), "\0\0\x0a\x01\0\0\0\0", 8);
    expect_failure(fx->path, GG_ERR_DATA, "magic", "00 00 0a 01", NULL);
}

static void test_idx_rejects_zero_dimensions(void **state) {
    fixture *fx = *state;
    write_raw(at(fx, "nodims.idx"), "\0\0\x08\x00", 4);
    expect_failure(fx->path, GG_ERR_DATA, "0 dimensions", "expected 1 to 8", NULL);
}

static void test_idx_rejects_too_many_dimensions(void **state) {
    fixture *fx = *state;
    unsigned char buf[64] = {0, 0, 0x08, 9};
    write_raw(at(fx, "ninedims.idx"), buf, sizeof buf);
    expect_failure(fx->path, GG_ERR_DATA, "9 dimensions", "expected 1 to 8", NULL);
}

static void test_idx_rejects_dimension_product_overflow(void **state) {
    fixture *fx = *state;
    unsigned char buf[64];
    uint32_t dims[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    size_t n = idx_bytes(buf, GG_IDX_U8, 3, dims, NULL, 0);
    write_raw(at(fx, "overflow.idx"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "4294967295 x 4294967295 x 4294967295",
                   "too many values", NULL);
}

static void test_idx_rejects_absurd_size_before_allocating(void **state) {
    fixture *fx = *state;
    unsigned char buf[64];
    uint32_t dims[2] = {100000, 100000}; /* 10^10 values: 80 GB as doubles */
    size_t n = idx_bytes(buf, GG_IDX_U8, 2, dims, "\1\2\3", 3);
    write_raw(at(fx, "absurd.idx"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "100000 x 100000", "limit", NULL);
}

static void test_idx_rejects_truncated_raw_file_naming_sizes(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[10] = {0};
    uint32_t dims[2] = {4, 5};
    size_t n = idx_bytes(buf, GG_IDX_U8, 2, dims, data, 10);
    write_raw(at(fx, "short.idx"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "truncated", "header announces 20 bytes of data",
                   "file has 10", NULL);
}

static void test_idx_rejects_truncated_header(void **state) {
    fixture *fx = *state;
    write_raw(at(fx, "header.idx"), "\0\0\x08\x03\0\0\0\x02\0\0", 10);
    expect_failure(fx->path, GG_ERR_DATA, "truncated", "3 dimensions", NULL);
    write_raw(at(fx, "tiny.idx"), "\0\0", 2);
    expect_failure(fx->path, GG_ERR_DATA, "truncated", "file has 2", NULL);
}

static void test_idx_rejects_gzip_cut_mid_stream(void **state) {
    fixture *fx = *state;
    enum { N = 4096 };
    static unsigned char buf[N + 16], data[N];
    uint32_t x = 12345, dims[1] = {N};
    for (int i = 0; i < N; i++) data[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, N);
    write_gz(at(fx, "cut.gz"), buf, n);
    assert_int_equal(truncate(fx->path, 2000), 0); /* cut the deflate stream in half */
    expect_failure(fx->path, GG_ERR_DATA, "truncated gzip stream", "ends after 2000 bytes", NULL);
}

/* All the data inflates, but the 8-byte trailer (CRC-32, size) is cut:
 * gzread takes that for a clean end; the reader must not. */
static void test_idx_rejects_gzip_with_cut_trailer(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t dims[1] = {8};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 8);
    for (int cut = 1; cut <= 8; cut++) {
        write_gz(at(fx, "trailer.gz"), buf, n);
        FILE *f = fopen(fx->path, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long size = ftell(f);
        fclose(f);
        assert_int_equal(truncate(fx->path, size - cut), 0);
        expect_failure(fx->path, GG_ERR_DATA, "truncated gzip stream", NULL);
    }
}

static void test_idx_rejects_junk_after_gzip_stream(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[4] = {1, 2, 3, 4};
    uint32_t dims[1] = {4};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 4);
    write_gz(at(fx, "junk.gz"), buf, n);
    FILE *f = fopen(fx->path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("JUNKJUNK", 1, 8, f), 8);
    assert_int_equal(fclose(f), 0);
    expect_failure(fx->path, GG_ERR_DATA, "8 bytes of trailing data after the gzip stream", NULL);
    write_gz(at(fx, "zeros.gz"), buf, n); /* padding, as tape archivers write */
    f = fopen(fx->path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("\0", 1, 1, f), 1);
    assert_int_equal(fclose(f), 0);
    expect_failure(fx->path, GG_ERR_DATA, "1 bytes of trailing data after the gzip stream", NULL);
}

/* gzip -d reads concatenated members as one stream; so does the reader. */
static void test_idx_reads_concatenated_gzip_members(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[6] = {9, 8, 7, 6, 5, 4};
    uint32_t dims[1] = {6};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 6);
    gzFile gz = gzopen(at(fx, "two.gz"), "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, buf, 7), 7);
    assert_int_equal(gzclose(gz), Z_OK);
    gz = gzopen(fx->path, "ab"); /* appending writes a second member */
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, buf + 7, (unsigned)(n - 7)), (int)(n - 7));
    assert_int_equal(gzclose(gz), Z_OK);
    gg_idx_array a;
    gg_error err = {0};
    if (gg_idx_read(fx->path, &a, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_int_equal(a.count, 6);
    for (int i = 0; i < 6; i++) assert_true(a.values[i] == data[i]);
    gg_idx_free(&a);
}

static void test_idx_rejects_directory_as_bad_input(void **state) {
    fixture *fx = *state;
    expect_failure(fx->dir, GG_ERR_DATA, "Is a directory", NULL);
}

static void test_idx_rejects_complete_gzip_with_short_data(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[5] = {1, 2, 3, 4, 5};
    uint32_t dims[1] = {8};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 5);
    write_gz(at(fx, "short.gz"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "truncated", "announces 8 bytes of data",
                   "file has 5", NULL);
}

static void test_idx_rejects_trailing_garbage(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[5] = {1, 2, 3, 4, 5};
    uint32_t dims[1] = {4};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 5);
    write_raw(at(fx, "extra.idx"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "trailing data", "4 bytes", NULL);
    write_gz(at(fx, "extra.gz"), buf, n);
    expect_failure(fx->path, GG_ERR_DATA, "trailing data", NULL);
}

static void test_idx_rejects_corrupt_gzip_checksum(void **state) {
    fixture *fx = *state;
    unsigned char buf[64], data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t dims[1] = {8};
    size_t n = idx_bytes(buf, GG_IDX_U8, 1, dims, data, 8);
    write_gz(at(fx, "crc.gz"), buf, n);
    FILE *f = fopen(fx->path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -8, SEEK_END), 0); /* the CRC-32 of the gzip trailer */
    int c = fgetc(f);
    assert_int_equal(fseek(f, -8, SEEK_END), 0);
    fputc(c ^ 0xff, f);
    assert_int_equal(fclose(f), 0);
    expect_failure(fx->path, GG_ERR_DATA, "corrupt gzip data", NULL);
}

static void test_idx_free_accepts_null_and_zeroed(void **state) {
    (void)state;
    gg_idx_array a = {0};
    gg_idx_free(NULL);
    gg_idx_free(&a);
    gg_idx_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_idx_reads_raw_u8_matrix),
        T(test_idx_reads_gzipped_u8_images),
        T(test_idx_converts_every_big_endian_type),
        T(test_idx_reads_large_gzipped_file_across_chunks),
        T(test_idx_reads_empty_array),
        T(test_idx_reads_fashion_mnist_test_labels),
        T(test_idx_rejects_missing_file_as_bad_input),
        T(test_idx_rejects_bad_magic_naming_bytes),
        T(test_idx_rejects_unknown_type_byte),
        T(test_idx_rejects_zero_dimensions),
        T(test_idx_rejects_too_many_dimensions),
        T(test_idx_rejects_dimension_product_overflow),
        T(test_idx_rejects_absurd_size_before_allocating),
        T(test_idx_rejects_truncated_raw_file_naming_sizes),
        T(test_idx_rejects_truncated_header),
        T(test_idx_rejects_gzip_cut_mid_stream),
        T(test_idx_rejects_gzip_with_cut_trailer),
        T(test_idx_rejects_junk_after_gzip_stream),
        T(test_idx_reads_concatenated_gzip_members),
        T(test_idx_rejects_directory_as_bad_input),
        T(test_idx_rejects_complete_gzip_with_short_data),
        T(test_idx_rejects_trailing_garbage),
        T(test_idx_rejects_corrupt_gzip_checksum),
        T(test_idx_free_accepts_null_and_zeroed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
