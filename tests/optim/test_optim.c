/* The optimiser registry (src/optim/optim.c): every name builds with its
 * state blocks (the variant's, and only those), an unknown one is refused,
 * gg_optim_copy_state copies t and every block so the copy continues the
 * same trajectory, a vector long enough for the threaded loops is updated
 * element for element, and a step allocates nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "optim/optim.h"
#include "support/fixtures.h"

/* ---- allocation counting: this binary's malloc family wraps glibc's ---- */
#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile int counting;
static volatile long allocations;
void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (counting) allocations++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n) {
    if (counting) allocations++;
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
    if (counting) allocations++;
    *out = __libc_memalign(al, n);
    return *out ? 0 : 12;
}
#endif

static gg_optim *make_full(gg_optim_kind name, int amsgrad, double momentum, int centered,
                           size_t len) {
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = name;
    c.optimizer.lr = 0.01;
    c.optimizer.momentum = momentum;
    c.optimizer.weight_decay = 0.01;
    c.optimizer.amsgrad = amsgrad;
    c.optimizer.centered = centered;
    c.schedule.name = GG_SCHED_CONSTANT;
    gg_optim *o = NULL;
    gg_error err = {GG_OK, ""};
    gg_status st = gg_optim_new(&c, len, &o, &err);
    gg_config_release(&c);
    if (st != GG_OK) fail_msg("%s: %s", gg_optim_name(name), err.msg);
    return o;
}

static gg_optim *make(gg_optim_kind name, int amsgrad, double momentum, size_t len) {
    return make_full(name, amsgrad, momentum, 0, len);
}

/* The blocks a configuration owns, as torch names them, in order. */
static int expected_blocks(gg_optim_kind name, int amsgrad, double momentum, int centered,
                           const char **names) {
    int n = 0;
    switch (name) {
    case GG_OPTIM_SGD:
    case GG_OPTIM_MOMENTUM:
    case GG_OPTIM_NESTEROV: names[n++] = "momentum_buffer"; break;
    case GG_OPTIM_ADAM:
    case GG_OPTIM_ADAMW:
        names[n++] = "exp_avg";
        names[n++] = "exp_avg_sq";
        if (amsgrad) names[n++] = "max_exp_avg_sq";
        break;
    case GG_OPTIM_ADAGRAD: names[n++] = "sum"; break;
    case GG_OPTIM_RMSPROP:
        names[n++] = "square_avg";
        if (momentum > 0) names[n++] = "momentum_buffer";
        if (centered) names[n++] = "grad_avg";
        break;
    }
    return n;
}

static void test_optim_every_name_builds_with_its_state(void **s) {
    (void)s;
    const struct {
        gg_optim_kind kind;
        const char *def;
        int nesterov;
    } names[] = {{GG_OPTIM_SGD, "sgd", 0},      {GG_OPTIM_MOMENTUM, "sgd", 0},
                 {GG_OPTIM_NESTEROV, "sgd", 1}, {GG_OPTIM_ADAM, "adam", 0},
                 {GG_OPTIM_ADAMW, "adamw", 0},  {GG_OPTIM_ADAGRAD, "adagrad", 0},
                 {GG_OPTIM_RMSPROP, "rmsprop", 0}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        for (int ams = 0; ams < 2; ams++)
            for (int mom = 0; mom < 2; mom++)
                for (int cen = 0; cen < 2; cen++) {
                    double momentum = mom ? 0.9 : 0;
                    gg_optim *o = make_full(names[k].kind, ams, momentum, cen, 7);
                    assert_non_null(o);
                    assert_string_equal(o->def->name, names[k].def);
                    assert_int_equal(o->kind, names[k].kind);
                    assert_int_equal(o->nesterov, names[k].nesterov);
                    assert_int_equal(o->t, 0);
                    assert_int_equal(o->len, 7);
                    const char *want[GG_OPTIM_MAX_STATE];
                    int blocks = expected_blocks(names[k].kind, ams, momentum, cen, want);
                    assert_int_equal(o->def->n_state, blocks);
                    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++) {
                        if (i < blocks) {
                            assert_non_null(o->state[i]);
                            assert_string_equal(o->def->state_names[i], want[i]);
                            assert_int_equal((uintptr_t)o->state[i] % 64, 0);
                            for (int j = 0; j < 7; j++) assert_true(o->state[i][j] == 0);
                        } else {
                            assert_null(o->state[i]);
                        }
                    }
                    /* One step moves every parameter. */
                    gg_real p[7], g[7];
                    for (int i = 0; i < 7; i++) p[i] = 1, g[i] = (gg_real)(i + 1) / 7;
                    gg_optim_step(o, p, g, 1);
                    assert_int_equal(o->t, 1);
                    for (int i = 0; i < 7; i++) assert_true(p[i] < 1);
                    gg_optim_free(o);
                }
    gg_optim_free(NULL);
}

static void test_optim_adagrad_sum_starts_at_the_initial_accumulator(void **s) {
    (void)s;
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = GG_OPTIM_ADAGRAD;
    c.optimizer.initial_accumulator = 0.25;
    gg_optim *o = NULL;
    assert_int_equal(gg_optim_new(&c, 1000, &o, NULL), GG_OK);
    for (int i = 0; i < 1000; i++) assert_true(o->state[0][i] == (gg_real)0.25);
    gg_optim_free(o);
    gg_config_release(&c);
}

static void test_optim_unknown_name_is_refused_with_a_config_error(void **s) {
    (void)s;
    gg_config c;
    gg_config_init_defaults(&c);
    c.optimizer.name = (gg_optim_kind)99;
    gg_optim *o = (gg_optim *)&c; /* must be reset to NULL */
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_optim_new(&c, 4, &o, &err), GG_ERR_CONFIG);
    assert_null(o);
    assert_int_equal(err.code, GG_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "optimizer.name"));
    gg_config_release(&c);
}

static void test_optim_state_names_are_pytorch_names(void **s) {
    (void)s;
    assert_string_equal(gg_optim_sgd.state_names[0], "momentum_buffer");
    assert_string_equal(gg_optim_adam.state_names[0], "exp_avg");
    assert_string_equal(gg_optim_adam.state_names[1], "exp_avg_sq");
    assert_int_equal(gg_optim_adam.n_state, 2);
    assert_string_equal(gg_optim_adam_amsgrad.state_names[2], "max_exp_avg_sq");
    assert_string_equal(gg_optim_adamw.state_names[1], "exp_avg_sq");
    assert_string_equal(gg_optim_adamw_amsgrad.state_names[2], "max_exp_avg_sq");
    assert_string_equal(gg_optim_adagrad.state_names[0], "sum");
    assert_string_equal(gg_optim_rmsprop.state_names[0], "square_avg");
    assert_string_equal(gg_optim_rmsprop_momentum.state_names[1], "momentum_buffer");
    assert_string_equal(gg_optim_rmsprop_centered.state_names[1], "grad_avg");
    assert_string_equal(gg_optim_rmsprop_centered_momentum.state_names[1], "momentum_buffer");
    assert_string_equal(gg_optim_rmsprop_centered_momentum.state_names[2], "grad_avg");
}

/* Run src for two steps, copy its state into a fresh dst, then step both
 * with the same gradient: same t, same blocks, same parameters after. */
static void check_copy_state(gg_optim_kind name, int amsgrad, double momentum, int centered) {
    enum { N = 9 };
    gg_optim *src = make_full(name, amsgrad, momentum, centered, N);
    gg_optim *dst = make_full(name, amsgrad, momentum, centered, N);
    gg_real p[N], q[N], g[N];
    gg_test_fill(p, N, 1, -1, 1);
    for (int step = 0; step < 2; step++) {
        gg_test_fill(g, N, 10 + step, -2, 2);
        gg_optim_step(src, p, g, 1);
    }
    gg_optim_copy_state(dst, src);
    assert_int_equal(dst->t, 2);
    int copied = 0;
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++) {
        if (!src->state[i]) continue;
        double norm = 0;
        for (int j = 0; j < N; j++) norm += fabs(src->state[i][j]);
        assert_true(norm > 0); /* there is something to copy */
        assert_memory_equal(dst->state[i], src->state[i], N * sizeof(gg_real));
        copied++;
    }
    const char *names[GG_OPTIM_MAX_STATE];
    assert_int_equal(copied, expected_blocks(name, amsgrad, momentum, centered, names));
    memcpy(q, p, sizeof p);
    gg_test_fill(g, N, 20, -0.1, 0.1); /* small, so AMSGrad's max stays in force */
    gg_optim_step(src, p, g, 1);
    gg_optim_step(dst, q, g, 1);
    assert_int_equal(dst->t, 3);
    assert_memory_equal(p, q, sizeof p);
    for (int i = 0; i < GG_OPTIM_MAX_STATE; i++)
        if (src->state[i]) assert_memory_equal(dst->state[i], src->state[i], N * sizeof(gg_real));
    gg_optim_free(src);
    gg_optim_free(dst);
}

static void test_optim_copy_state_copies_t_and_every_state_block(void **s) {
    (void)s;
    check_copy_state(GG_OPTIM_MOMENTUM, 0, 0.9, 0);
    check_copy_state(GG_OPTIM_NESTEROV, 0, 0.9, 0);
    check_copy_state(GG_OPTIM_ADAM, 0, 0, 0);
    check_copy_state(GG_OPTIM_ADAM, 1, 0, 0);
    check_copy_state(GG_OPTIM_ADAMW, 1, 0, 0);
    check_copy_state(GG_OPTIM_ADAGRAD, 0, 0, 0);
    check_copy_state(GG_OPTIM_RMSPROP, 0, 0, 0);
    check_copy_state(GG_OPTIM_RMSPROP, 0, 0.9, 0);
    check_copy_state(GG_OPTIM_RMSPROP, 0, 0, 1);
    check_copy_state(GG_OPTIM_RMSPROP, 0, 0.9, 1);
}

static void test_optim_copy_state_carries_the_step_count_into_bias_correction(void **s) {
    (void)s;
    /* A fresh Adam with t = 0 takes a different step than the copy with
     * t = 2 from the same state blocks: t must travel with them. */
    enum { N = 4 };
    gg_optim *src = make(GG_OPTIM_ADAM, 0, 0, N), *dst = make(GG_OPTIM_ADAM, 0, 0, N);
    gg_optim *blank = make(GG_OPTIM_ADAM, 0, 0, N);
    gg_real p[N] = {1, 2, 3, 4}, g[N] = {0.5, -0.5, 0.25, 1};
    gg_optim_step(src, p, g, 1);
    gg_optim_step(src, p, g, 1);
    gg_optim_copy_state(dst, src);
    for (int i = 0; i < 2; i++) memcpy(blank->state[i], src->state[i], N * sizeof(gg_real));
    gg_real a[N], b[N];
    memcpy(a, p, sizeof p);
    memcpy(b, p, sizeof p);
    gg_optim_step(dst, a, g, 1);
    gg_optim_step(blank, b, g, 1);
    assert_memory_not_equal(a, b, sizeof a);
    gg_optim_free(src);
    gg_optim_free(dst);
    gg_optim_free(blank);
}

/* Element-wise reference of one step from zero state with default
 * hyper-parameters, for a vector long enough for the threaded loops. */
static void check_long_vector(gg_optim_kind name) {
    const size_t n = 3 * GG_PAR_MIN + 5;
    gg_optim *o = make(name, 0, name == GG_OPTIM_SGD ? 0 : 0.9, n);
    gg_real *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    gg_test_fill(p, n, 3, -1, 1);
    gg_test_fill(g, n, 4, -1, 1);
    gg_real *p0 = malloc(n * sizeof *p0);
    memcpy(p0, p, n * sizeof *p);
    gg_optim_step(o, p, g, 1);
    for (size_t i = 0; i < n; i++) {
        double d = g[i] + (name == GG_OPTIM_ADAMW ? 0 : 0.01 * p0[i]), want;
        if (name == GG_OPTIM_ADAGRAD) {
            want = p0[i] - 0.01 * d / (fabs(d) + 1e-8); /* sum = d^2 */
        } else if (name == GG_OPTIM_RMSPROP) {
            /* square_avg = 0.01 d^2; buffer = d / avg */
            want = p0[i] - 0.01 * d / (sqrt(0.01 * d * d) + 1e-8);
        } else if (name == GG_OPTIM_ADAM || name == GG_OPTIM_ADAMW) {
            double x = name == GG_OPTIM_ADAMW ? p0[i] * (1 - 0.01 * 0.01) : p0[i];
            /* step 1: m/bc1 = d, sqrt(v/bc2) = |d| */
            want = x - 0.01 * d / (fabs(d) + 1e-8);
        } else {
            want = p0[i] - 0.01 * d; /* first momentum step: buf = d */
        }
        if (!(fabs(p[i] - want) <= 1e-5 * (fabs(want) + 1e-2)))
            fail_msg("%s: p[%zu] = %.9g, expected %.9g", gg_optim_name(name), i, (double)p[i],
                     want);
    }
    free(p);
    free(g);
    free(p0);
    gg_optim_free(o);
}

static void test_optim_long_vectors_update_every_element(void **s) {
    (void)s;
    check_long_vector(GG_OPTIM_SGD);
    check_long_vector(GG_OPTIM_MOMENTUM);
    check_long_vector(GG_OPTIM_ADAM);
    check_long_vector(GG_OPTIM_ADAMW);
    check_long_vector(GG_OPTIM_ADAGRAD);
    check_long_vector(GG_OPTIM_RMSPROP);
}

/* A step allocates nothing, for every variant, threaded or not. */
static void test_optim_step_allocates_nothing(void **s) {
    (void)s;
#ifdef COUNT_ALLOCATIONS
    const struct {
        gg_optim_kind kind;
        int amsgrad;
        double momentum;
        int centered;
    } cases[] = {{GG_OPTIM_SGD, 0, 0, 0},     {GG_OPTIM_MOMENTUM, 0, 0.9, 0},
                 {GG_OPTIM_NESTEROV, 0, 0.9, 0}, {GG_OPTIM_ADAM, 0, 0, 0},
                 {GG_OPTIM_ADAM, 1, 0, 0},    {GG_OPTIM_ADAMW, 0, 0, 0},
                 {GG_OPTIM_ADAGRAD, 0, 0, 0}, {GG_OPTIM_RMSPROP, 0, 0, 0},
                 {GG_OPTIM_RMSPROP, 0, 0.9, 0}, {GG_OPTIM_RMSPROP, 0, 0, 1},
                 {GG_OPTIM_RMSPROP, 0, 0.9, 1}};
    const size_t n = 2 * GG_PAR_MIN + 3;
    gg_real *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    gg_test_fill(p, n, 5, -1, 1);
    gg_test_fill(g, n, 6, -1, 1);
    size_t off[2] = {0, 100}, len[2] = {100, n - 100};
    double w2[2], d2[2];
    gg_segments seg = {2, off, len};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        gg_optim *o = make_full(cases[k].kind, cases[k].amsgrad, cases[k].momentum,
                                cases[k].centered, n);
        o->l1 = 1e-4;
        for (int i = 0; i < 2; i++) gg_optim_step_segments(o, p, g, (gg_real)0.5, &seg, w2, d2);
        allocations = 0;
        counting = 1;
        for (int i = 0; i < 20; i++) gg_optim_step_segments(o, p, g, (gg_real)0.5, &seg, w2, d2);
        gg_optim_step(o, p, g, 1);
        counting = 0;
        long got = allocations;
        gg_optim_free(o);
        if (got) fail_msg("%s: %ld allocations in 21 steps", gg_optim_name(cases[k].kind), got);
    }
    free(p);
    free(g);
#else
    skip(); /* the sanitizer owns malloc; the plain build runs this */
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optim_every_name_builds_with_its_state),
        cmocka_unit_test(test_optim_adagrad_sum_starts_at_the_initial_accumulator),
        cmocka_unit_test(test_optim_unknown_name_is_refused_with_a_config_error),
        cmocka_unit_test(test_optim_state_names_are_pytorch_names),
        cmocka_unit_test(test_optim_copy_state_copies_t_and_every_state_block),
        cmocka_unit_test(test_optim_copy_state_carries_the_step_count_into_bias_correction),
        cmocka_unit_test(test_optim_long_vectors_update_every_element),
        cmocka_unit_test(test_optim_step_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
