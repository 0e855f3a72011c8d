/* Tests of atomic file replacement: a commit replaces the file whole, an
 * abort or a failure leaves the old file as it was and no PATH.tmp.<pid>
 * behind, and errors name the path and the system's reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/io.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->dir, "/tmp/gg_test_atomic_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/out.txt", fx->dir);
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
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void assert_file_holds(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_string_equal(buf, text);
}

static void test_atomic_commit_creates_new_file(void **state) {
    fixture *fx = *state;
    gg_atomic_file af;
    gg_error err = {0};
    assert_int_equal(gg_atomic_open(&af, fx->path, &err), GG_OK);
    assert_non_null(af.f);
    assert_string_equal(af.path, fx->path);
    fputs("hello\n", af.f);
    assert_int_equal(gg_atomic_commit(&af, &err), GG_OK);
    assert_null(af.f);
    assert_null(af.tmp_path);
    assert_file_holds(fx->path, "hello\n");
    assert_int_equal(count_files(fx->dir), 1);
}

static void test_atomic_commit_replaces_old_contents_whole(void **state) {
    fixture *fx = *state;
    write_text(fx->path, "old contents that are longer than the new ones\n");
    gg_atomic_file af;
    assert_int_equal(gg_atomic_open(&af, fx->path, NULL), GG_OK);
    fputs("new\n", af.f);
    assert_file_holds(fx->path, "old contents that are longer than the new ones\n");
    assert_int_equal(gg_atomic_commit(&af, NULL), GG_OK);
    assert_file_holds(fx->path, "new\n");
    assert_int_equal(count_files(fx->dir), 1);
}

static void test_atomic_tmp_file_is_path_dot_tmp_dot_pid_beside_target(void **state) {
    fixture *fx = *state;
    char want[192];
    snprintf(want, sizeof want, "%s.tmp.%ld", fx->path, (long)getpid());
    gg_atomic_file af;
    assert_int_equal(gg_atomic_open(&af, fx->path, NULL), GG_OK);
    assert_string_equal(af.tmp_path, want);
    assert_int_equal(access(want, F_OK), 0);
    gg_atomic_abort(&af);
    assert_int_equal(access(want, F_OK), -1);
}

static void test_atomic_abort_leaves_old_file_intact_and_no_tmp(void **state) {
    fixture *fx = *state;
    write_text(fx->path, "precious\n");
    gg_atomic_file af;
    assert_int_equal(gg_atomic_open(&af, fx->path, NULL), GG_OK);
    fputs("half-written garbage", af.f);
    fflush(af.f);
    gg_atomic_abort(&af);
    assert_null(af.f);
    assert_null(af.path);
    assert_file_holds(fx->path, "precious\n");
    assert_int_equal(count_files(fx->dir), 1);
    gg_atomic_abort(&af); /* a second abort is harmless */
}

static void test_atomic_open_in_missing_directory_names_path_and_reason(void **state) {
    fixture *fx = *state;
    char path[192];
    snprintf(path, sizeof path, "%s/no/such/dir/out.txt", fx->dir);
    gg_atomic_file af;
    gg_error err = {0};
    assert_int_equal(gg_atomic_open(&af, path, &err), GG_ERR_IO);
    assert_int_equal(err.code, GG_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    assert_null(af.f);
    assert_null(af.path);
    assert_null(af.tmp_path);
    gg_atomic_abort(&af);
}

static void test_atomic_commit_over_directory_fails_and_removes_tmp(void **state) {
    fixture *fx = *state;
    char target[192];
    snprintf(target, sizeof target, "%s/sub", fx->dir);
    assert_int_equal(mkdir(target, 0700), 0);
    gg_atomic_file af;
    gg_error err = {0};
    assert_int_equal(gg_atomic_open(&af, target, &err), GG_OK);
    fputs("data", af.f);
    assert_int_equal(gg_atomic_commit(&af, &err), GG_ERR_IO);
    assert_non_null(strstr(err.msg, target));
    assert_non_null(strstr(err.msg, "rename"));
    assert_non_null(strstr(err.msg, "Is a directory"));
    assert_null(af.f);
    assert_int_equal(count_files(fx->dir), 1); /* only sub/, no tmp file */
}

static void test_atomic_commit_reports_write_error(void **state) {
    fixture *fx = *state;
    if (access("/dev/full", W_OK) != 0) skip();
    /* Swap the stream for /dev/full: the flush in commit must fail. */
    gg_atomic_file af;
    assert_int_equal(gg_atomic_open(&af, fx->path, NULL), GG_OK);
    fclose(af.f);
    af.f = fopen("/dev/full", "wb");
    assert_non_null(af.f);
    fputs("data that cannot be written", af.f);
    gg_error err = {0};
    assert_int_equal(gg_atomic_commit(&af, &err), GG_ERR_IO);
    assert_non_null(strstr(err.msg, fx->path));
    assert_non_null(strstr(err.msg, "No space left on device"));
    assert_int_equal(access(fx->path, F_OK), -1);
    assert_int_equal(count_files(fx->dir), 0);
}

static void test_atomic_commit_without_open_is_an_argument_error(void **state) {
    (void)state;
    gg_atomic_file af = {0};
    gg_error err = {0};
    assert_int_equal(gg_atomic_commit(&af, &err), GG_ERR_ARG);
    gg_atomic_abort(NULL);
    assert_int_equal(gg_atomic_open(&af, "", &err), GG_ERR_ARG);
}

static void test_atomic_works_with_bare_file_name(void **state) {
    fixture *fx = *state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    gg_atomic_file af;
    gg_error err = {0};
    gg_status rc = gg_atomic_open(&af, "bare.txt", &err);
    if (rc == GG_OK) {
        fputs("x", af.f);
        rc = gg_atomic_commit(&af, &err);
    }
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, GG_OK);
    snprintf(fx->path, sizeof fx->path, "%s/bare.txt", fx->dir);
    assert_file_holds(fx->path, "x");
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_atomic_commit_creates_new_file),
        T(test_atomic_commit_replaces_old_contents_whole),
        T(test_atomic_tmp_file_is_path_dot_tmp_dot_pid_beside_target),
        T(test_atomic_abort_leaves_old_file_intact_and_no_tmp),
        T(test_atomic_open_in_missing_directory_names_path_and_reason),
        T(test_atomic_commit_over_directory_fails_and_removes_tmp),
        T(test_atomic_commit_reports_write_error),
        T(test_atomic_commit_without_open_is_an_argument_error),
        T(test_atomic_works_with_bare_file_name),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
