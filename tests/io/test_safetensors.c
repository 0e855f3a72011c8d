/* Tests of the safetensors reader and writer: a byte-exact expected file,
 * round trips, and for each way a header can lie (offsets, dtypes, sizes,
 * JSON) the right code and a message naming the path and the tensor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/io.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->dir, "/tmp/gg_test_st_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    if (d) closedir(d);
    return n;
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

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file; the caller frees. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    rewind(f);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* A safetensors file by hand: header length hlen (normally strlen(json)),
 * the JSON, then dlen bytes of data (0, 1, 2, ...). */
static const char *hand_file(fixture *fx, const char *name, uint64_t hlen, const char *json,
                             size_t dlen) {
    size_t jlen = strlen(json);
    unsigned char *buf = malloc(8 + jlen + dlen);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, json, jlen);
    for (size_t i = 0; i < dlen; i++) buf[8 + jlen + i] = (unsigned char)i;
    write_bytes(at(fx, name), buf, 8 + jlen + dlen);
    free(buf);
    return fx->path;
}

/* Reading path must fail with code and a message holding every word given. */
static void expect_failure(const char *path, gg_status code, ...) {
    gg_st_file f;
    gg_error err = {0};
    assert_int_equal(gg_st_read(path, &f, &err), code);
    assert_int_equal(err.code, code);
    assert_null(f.blob);
    assert_null(f.tensors);
    assert_non_null(strstr(err.msg, path));
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));) {
        if (!strstr(err.msg, w)) fail_msg("message '%s' lacks '%s'", err.msg, w);
    }
    va_end(ap);
}

/* One bad header, given as JSON with dlen bytes of data. */
static void expect_bad_header(fixture *fx, const char *json, size_t dlen, ...) {
    const char *path = hand_file(fx, "bad.safetensors", strlen(json), json, dlen);
    gg_st_file f;
    gg_error err = {0};
    assert_int_equal(gg_st_read(path, &f, &err), GG_ERR_DATA);
    assert_null(f.blob);
    assert_non_null(strstr(err.msg, path));
    va_list ap;
    va_start(ap, dlen);
    for (const char *w; (w = va_arg(ap, const char *));) {
        if (!strstr(err.msg, w)) fail_msg("message '%s' lacks '%s'", err.msg, w);
    }
    va_end(ap);
}

static void test_st_dtype_names_and_sizes(void **state) {
    (void)state;
    static const struct {
        gg_st_dtype t;
        const char *name;
        size_t size;
    } want[] = {
        {GG_ST_F32, "F32", 4}, {GG_ST_F64, "F64", 8},   {GG_ST_I8, "I8", 1},
        {GG_ST_U8, "U8", 1},   {GG_ST_I32, "I32", 4},   {GG_ST_I64, "I64", 8},
        {GG_ST_F16, "F16", 2}, {GG_ST_BF16, "BF16", 2}, {GG_ST_I16, "I16", 2},
        {GG_ST_U16, "U16", 2}, {GG_ST_U32, "U32", 4},   {GG_ST_U64, "U64", 8},
        {GG_ST_BOOL, "BOOL", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(gg_st_dtype_name(want[i].t), want[i].name);
        assert_int_equal(gg_st_dtype_size(want[i].t), want[i].size);
    }
    assert_int_equal(gg_st_dtype_size((gg_st_dtype)99), 0);
}

static void test_st_writer_output_is_byte_exact(void **state) {
    fixture *fx = *state;
    float b[2] = {1.0f, -2.0f};
    int64_t a = 7, shape_b[1] = {2};
    gg_st_writer *w = gg_st_writer_new();
    gg_error err = {0};
    assert_non_null(w);
    assert_int_equal(gg_st_writer_add(w, "b", GG_ST_F32, 1, shape_b, b, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "a", GG_ST_I64, 0, NULL, &a, &err), GG_OK);
    assert_int_equal(gg_st_writer_meta(w, "format", "pt", &err), GG_OK);
    assert_int_equal(gg_st_writer_write(w, at(fx, "x.safetensors"), &err), GG_OK);
    gg_st_writer_free(w);

    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"data_offsets\":[0,8],\"dtype\":\"I64\",\"shape\":[]},"
                       "\"b\":{\"data_offsets\":[8,16],\"dtype\":\"F32\",\"shape\":[2]}}";
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8, n;
    unsigned char want[512];
    for (int i = 0; i < 8; i++) want[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(want + 8, json, jlen);
    memset(want + 8 + jlen, ' ', hlen - jlen);
    memcpy(want + 8 + hlen, &a, 8); /* tensors in name order: a, then b */
    memcpy(want + 16 + hlen, b, 8);
    unsigned char *got = slurp(fx->path, &n);
    assert_int_equal(n, 8 + hlen + 16);
    assert_memory_equal(got, want, n);
    assert_int_equal((8 + hlen) % 8, 0);
    free(got);
    assert_int_equal(count_files(fx->dir), 1); /* no PATH.tmp.<pid> left behind */
}

static void test_st_round_trip_preserves_tensors_and_metadata(void **state) {
    fixture *fx = *state;
    double w0[6] = {0.5, -1.25, 3, 4e-300, -0.0, 1e300};
    int32_t idx[3] = {-7, 0, 2147483647};
    uint8_t flags[5] = {1, 0, 1, 1, 0};
    uint16_t half[1] = {0x3c00};
    int64_t s0[2] = {2, 3}, s1[1] = {3}, s2[3] = {5, 1, 1}, s3[2] = {1, 1}, s4[2] = {0, 4};
    gg_st_writer *w = gg_st_writer_new();
    gg_error err = {0};
    assert_int_equal(gg_st_writer_add(w, "layers.0.weight", GG_ST_F64, 2, s0, w0, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "idx", GG_ST_I32, 1, s1, idx, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "flags", GG_ST_BOOL, 3, s2, flags, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "half", GG_ST_F16, 2, s3, half, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "empty", GG_ST_F32, 2, s4, NULL, &err), GG_OK);
    assert_int_equal(gg_st_writer_meta(w, "step", "120", &err), GG_OK);
    assert_int_equal(gg_st_writer_meta(w, "config", "seed: 0\nname: \"x\"", &err), GG_OK);
    assert_int_equal(gg_st_writer_write(w, at(fx, "rt.safetensors"), &err), GG_OK);
    gg_st_writer_free(w);

    gg_st_file f;
    assert_int_equal(gg_st_read(fx->path, &f, &err), GG_OK);
    assert_int_equal(f.n, 5);
    for (int i = 1; i < f.n; i++) assert_true(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0);
    const gg_st_tensor *t = gg_st_find(&f, "layers.0.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, GG_ST_F64);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->count, 6);
    assert_int_equal(t->nbytes, 48);
    assert_memory_equal(t->data, w0, sizeof w0);
    assert_memory_equal(gg_st_find(&f, "idx")->data, idx, sizeof idx);
    assert_memory_equal(gg_st_find(&f, "flags")->data, flags, sizeof flags);
    assert_memory_equal(gg_st_find(&f, "half")->data, half, sizeof half);
    assert_int_equal(gg_st_find(&f, "empty")->count, 0);
    assert_int_equal(gg_st_find(&f, "empty")->ndim, 2);
    assert_null(gg_st_find(&f, "layers.0.bias"));
    assert_string_equal(gg_st_meta(&f, "step"), "120");
    assert_string_equal(gg_st_meta(&f, "config"), "seed: 0\nname: \"x\"");
    assert_null(gg_st_meta(&f, "epoch"));

    /* Writing what was read gives the same bytes. */
    w = gg_st_writer_new();
    for (int i = 0; i < f.n; i++) {
        const gg_st_tensor *x = &f.tensors[i];
        assert_int_equal(gg_st_writer_add(w, x->name, x->dtype, x->ndim, x->shape, x->data, &err),
                         GG_OK);
    }
    for (int i = 0; i < f.n_meta; i++)
        assert_int_equal(gg_st_writer_meta(w, f.meta_keys[i], f.meta_values[i], &err), GG_OK);
    char first[128];
    strcpy(first, fx->path);
    assert_int_equal(gg_st_writer_write(w, at(fx, "again.safetensors"), &err), GG_OK);
    gg_st_writer_free(w);
    size_t n1, n2;
    unsigned char *b1 = slurp(first, &n1), *b2 = slurp(fx->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    gg_st_free(&f);
    assert_null(f.blob);
}

static void test_st_reads_handwritten_file_with_padding_and_any_key_order(void **state) {
    fixture *fx = *state;
    const char *json = "{\"z\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},\n"
                       " \"a\": {\"shape\": [1, 2], \"data_offsets\": [2, 6], \"dtype\": \"I16\"},"
                       " \"__metadata__\": {\"format\": \"pt\"}}   ";
    hand_file(fx, "hand.safetensors", strlen(json), json, 6);
    gg_st_file f;
    gg_error err = {0};
    assert_int_equal(gg_st_read(fx->path, &f, &err), GG_OK);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.tensors[0].name, "a");
    assert_string_equal(f.tensors[1].name, "z");
    assert_int_equal(f.tensors[0].data[0], 2); /* data bytes are 0, 1, 2, ... */
    assert_int_equal(f.tensors[1].data[1], 1);
    assert_string_equal(gg_st_meta(&f, "format"), "pt");
    gg_st_free(&f);
}

static void test_st_writer_writes_readable_empty_file(void **state) {
    fixture *fx = *state;
    gg_st_writer *w = gg_st_writer_new();
    assert_int_equal(gg_st_writer_write(w, at(fx, "empty.safetensors"), NULL), GG_OK);
    gg_st_writer_free(w);
    gg_st_file f;
    assert_int_equal(gg_st_read(fx->path, &f, NULL), GG_OK);
    assert_int_equal(f.n, 0);
    assert_int_equal(f.n_meta, 0);
    assert_null(gg_st_find(&f, "x"));
    gg_st_free(&f);
}

static void test_st_rejects_overlapping_offsets(void **state) {
    expect_bad_header(*state,
                      "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
                      6, "'a' and 'b' overlap", NULL);
}

static void test_st_rejects_gaps_in_data_block(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx,
                      "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
                      10, "gap of 2 unused bytes at [4, 6)", "'b'", NULL);
    expect_bad_header(fx, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6,
                      "gap of 2 unused bytes at [0, 2)", NULL);
    expect_bad_header(fx, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 7,
                      "3 unused bytes at the end of the 7-byte data block", NULL);
    expect_bad_header(fx, "{}", 1, "1 unused bytes", NULL);
}

static void test_st_rejects_unknown_dtype(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                      "tensor 'w'", "unknown dtype 'F8'", "F32", NULL);
    expect_bad_header(fx, "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                      "tensor 'w': dtype is missing", NULL);
}

static void test_st_rejects_size_that_disagrees_with_shape(void **state) {
    expect_bad_header(*state, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                      4, "tensor 'w'", "hold 4 bytes, shape [2] of F32 needs 8", NULL);
}

static void test_st_rejects_offsets_past_data_block(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                      "tensor 'w'", "past the end of the 4-byte data block", NULL);
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                      "tensor 'w'", "data_offsets [4, 0]", "begin <= end", NULL);
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
                      "tensor 'w'", "data_offsets is another array", NULL);
}

static void test_st_rejects_bad_shapes(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
                      "tensor 'w'", "shape[0] is negative", NULL);
    expect_bad_header(fx,
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,1]}}",
                      1, "tensor 'w'", "shape has 9 dims, expected at most 8", NULL);
    expect_bad_header(fx,
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
                      "\"data_offsets\":[0,1]}}",
                      1, "tensor 'w'", "shape overflows", NULL);
    expect_bad_header(fx, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
                      "shape[0] is a real", NULL);
}

static void test_st_rejects_huge_header_length(void **state) {
    fixture *fx = *state;
    hand_file(fx, "long.safetensors", 1000, "{}", 6);
    expect_failure(fx->path, GG_ERR_DATA, "header length 1000", "8 bytes follow", NULL);
    hand_file(fx, "huge.safetensors", 200000000, "{}", 6);
    expect_failure(fx->path, GG_ERR_DATA, "header length 200000000", "100000000", NULL);
    hand_file(fx, "wrap.safetensors", UINT64_MAX, "{}", 6);
    expect_failure(fx->path, GG_ERR_DATA, "header length 18446744073709551615", NULL);
}

static void test_st_rejects_file_shorter_than_header_length_field(void **state) {
    fixture *fx = *state;
    write_bytes(at(fx, "short.safetensors"), "\x02\0\0", 3);
    expect_failure(fx->path, GG_ERR_DATA, "truncated", "3 bytes", NULL);
}

static void test_st_rejects_duplicate_keys(void **state) {
    expect_bad_header(*state,
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                      2, "duplicate", NULL);
}

static void test_st_rejects_invalid_json_naming_line_and_column(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx, "{\n  \"w\": }", 0, "header JSON line 2 column", NULL);
    expect_bad_header(fx, "[1, 2]", 0, "header is an array, expected a JSON object", NULL);
    expect_bad_header(fx, "{\"w\": 3}", 0, "tensor 'w' is an integer, expected an object", NULL);
}

static void test_st_rejects_non_string_metadata(void **state) {
    fixture *fx = *state;
    expect_bad_header(fx, "{\"__metadata__\":{\"step\":3}}", 0,
                      "__metadata__ 'step' is an integer, expected a string", NULL);
    expect_bad_header(fx, "{\"__metadata__\":[]}", 0, "__metadata__ is an array", NULL);
}

static void test_st_rejects_missing_file_as_bad_input(void **state) {
    fixture *fx = *state;
    expect_failure(at(fx, "absent.safetensors"), GG_ERR_DATA, "No such file", NULL);
    expect_failure(fx->dir, GG_ERR_DATA, "not a regular file", NULL);
}

static void test_st_writer_rejects_bad_tensors(void **state) {
    (void)state;
    gg_st_writer *w = gg_st_writer_new();
    gg_error err = {0};
    float x[2] = {1, 2};
    int64_t s[1] = {2}, neg[1] = {-2};
    assert_int_equal(gg_st_writer_add(w, "w", GG_ST_F32, 1, s, x, &err), GG_OK);
    assert_int_equal(gg_st_writer_add(w, "w", GG_ST_F32, 1, s, x, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "'w' added twice"));
    assert_int_equal(gg_st_writer_add(w, "v", GG_ST_F32, 1, neg, x, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "negative"));
    assert_int_equal(gg_st_writer_add(w, "v", GG_ST_F32, 9, s, x, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_add(w, "v", (gg_st_dtype)42, 1, s, x, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_add(w, "v", GG_ST_F32, 1, s, NULL, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_add(w, "__metadata__", GG_ST_F32, 1, s, x, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_add(w, "", GG_ST_F32, 1, s, x, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_add(w, "\xff\xfe", GG_ST_F32, 1, s, x, &err), GG_ERR_ARG);
    assert_int_equal(gg_st_writer_meta(w, "k", "v", &err), GG_OK);
    assert_int_equal(gg_st_writer_meta(w, "k", "u", &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "'k' set twice"));
    gg_st_writer_free(w);
    gg_st_writer_free(NULL);
}

static void test_st_writer_fails_with_io_error_and_leaves_no_tmp(void **state) {
    fixture *fx = *state;
    char path[192];
    float x[1] = {1};
    int64_t s[1] = {1};
    snprintf(path, sizeof path, "%s/missing/w.safetensors", fx->dir);
    gg_st_writer *w = gg_st_writer_new();
    gg_error err = {0};
    assert_int_equal(gg_st_writer_add(w, "w", GG_ST_F32, 1, s, x, &err), GG_OK);
    assert_int_equal(gg_st_writer_write(w, path, &err), GG_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file"));
    /* A directory where the file should go: the rename fails, the tmp goes. */
    assert_int_equal(gg_st_writer_write(w, fx->dir, &err), GG_ERR_IO);
    assert_non_null(strstr(err.msg, "rename"));
    snprintf(path, sizeof path, "%s.tmp.%ld", fx->dir, (long)getpid());
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_files(fx->dir), 0);
    gg_st_writer_free(w);
}

static void test_st_free_accepts_null_and_zeroed(void **state) {
    (void)state;
    gg_st_file f = {0};
    gg_st_free(NULL);
    gg_st_free(&f);
    assert_null(gg_st_find(&f, "x"));
    assert_null(gg_st_meta(&f, "x"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_st_dtype_names_and_sizes),
        T(test_st_writer_output_is_byte_exact),
        T(test_st_round_trip_preserves_tensors_and_metadata),
        T(test_st_reads_handwritten_file_with_padding_and_any_key_order),
        T(test_st_writer_writes_readable_empty_file),
        T(test_st_rejects_overlapping_offsets),
        T(test_st_rejects_gaps_in_data_block),
        T(test_st_rejects_unknown_dtype),
        T(test_st_rejects_size_that_disagrees_with_shape),
        T(test_st_rejects_offsets_past_data_block),
        T(test_st_rejects_bad_shapes),
        T(test_st_rejects_huge_header_length),
        T(test_st_rejects_file_shorter_than_header_length_field),
        T(test_st_rejects_duplicate_keys),
        T(test_st_rejects_invalid_json_naming_line_and_column),
        T(test_st_rejects_non_string_metadata),
        T(test_st_rejects_missing_file_as_bad_input),
        T(test_st_writer_rejects_bad_tensors),
        T(test_st_writer_fails_with_io_error_and_leaves_no_tmp),
        T(test_st_free_accepts_null_and_zeroed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
