/* Data parallelism's arithmetic, without MPI (src/train/trainer_dist.c):
 * each rank r of R takes its contiguous shard of the global batch and
 * scales its gradient, loss and buffers by n_r / n, so that what the
 * all-reduce sums is the whole batch's; here the reduction is a no-op, so
 * the test runs every rank's share in turn and sums them itself. Checked
 * for R = 2, 3, 4 (uneven shards), a batch smaller than the job (empty
 * shards), batch norm's running mean, the correct count, the shared
 * dropout generator moving on by one draw, and the NaN test hook. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer.h"

#ifdef GG_FLOAT64
#define TOL 1e-12
#else
#define TOL 2e-5
#endif

/* Two Gaussian blobs in 6 dimensions, labels 0/1. */
static gg_dataset *blobs(size_t n) {
    gg_real *x = malloc(n * 6 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? 1.0 : -1.0));
    }
    gg_dataset *d = gg_dataset_from_arrays(n, 6, x, 1, y, 2);
    free(x);
    free(y);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_model *m;
    gg_trainer *t;
} run;

/* An MLP, with batch norm after its first layer when bn. */
static void run_open_bn(run *r, const gg_dataset *d, int batch, bool bn) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [6]\n  layers: [{dense: {units: 16}}, %stanh, {dense: {units: 2}}]\n"
             "train: {batch_size: %d, epochs: 2}\ndata: {shuffle: true}\n", bn ? "batch_norm, " : "", batch);
    r->c = gg_config_new_default();
    assert_int_equal(gg_config_load_string(r->c, yaml, NULL), GG_OK);
    assert_int_equal(gg_model_new(r->c, batch, &r->m, NULL), GG_OK);
    assert_int_equal(gg_trainer_new(r->m, r->c, d, &r->t, NULL), GG_OK);
}

static void run_open(run *r, const gg_dataset *d, int batch) { run_open_bn(r, d, batch, false); }

static void run_close(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_config_free(r->c);
}

/* The running-mean buffers of g: offset and length of each, -1 terminated. */
static int running_means(const gg_graph *g, size_t *off, size_t *len) {
    int k = 0;
    for (int i = 0; i < g->n_buffers && k < 8; i++)
        if (strstr(g->buffers[i]->name, "running_mean")) {
            off[k] = g->buffers[i]->offset;
            len[k++] = g->buffers[i]->out->len;
        }
    return k;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-3); }

/* Every rank's share of the first batch (n rows) sums to the whole batch's:
 * gradient, loss and correct count without batch norm (which couples a
 * batch's samples), batch norm's running mean with it. */
static void check_shards(int R, int batch, bool bn) {
    gg_dataset *d = blobs(37);
    run ref;
    run_open_bn(&ref, d, batch, bn);
    gg_graph *g = ref.m->g;
    int n = batch;
    /* The whole batch: its gradient, loss, correct count and buffers. */
    gg_graph_set_training(g, 1);
    gg_model_load_batch(ref.m, d, ref.t->order, 0, n);
    gg_graph_forward(g);
    gg_graph_backward(g, ref.m->loss);
    double loss = ref.m->loss->out->x[0];
    int correct = (int)gg_model_batch_correct(ref.m, n);
    size_t P = g->param_len, Bn = g->buf_len;
    double *grad = calloc(P, sizeof *grad), *buf = calloc(Bn + 1, sizeof *buf);
    double *sum_grad = calloc(P, sizeof *sum_grad), *sum_buf = calloc(Bn + 1, sizeof *sum_buf);
    for (size_t i = 0; i < P; i++) grad[i] = g->grad[i];
    for (size_t i = 0; i < Bn; i++) buf[i] = g->buf[i];
    double sum_loss = 0;
    int sum_correct = 0;
    for (int r = 0; r < R; r++) {
        run one;
        run_open_bn(&one, d, batch, bn);
        gg_graph *h = one.m->g;
        assert_int_equal(gg_trainer_dist_set(one.t, r, R, NULL), GG_OK);
        gg_rng before = h->rng;
        gg_rng_next(&before);
        gg_step_info info = {0};
        gg_graph_set_training(h, 1);
        gg_trainer_dist_batch(one.t, n, 1, &info);
        /* The shared generator moved on by exactly one draw, whatever the shard. */
        assert_memory_equal(&before, &h->rng, sizeof before);
        for (size_t i = 0; i < P; i++) sum_grad[i] += h->grad[i];
        for (size_t i = 0; i < Bn; i++) sum_buf[i] += h->buf[i];
        sum_loss += info.loss;
        sum_correct += info.correct;
        run_close(&one);
    }
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < P; i++) gmax = fmax(gmax, fabs(grad[i]));
    for (size_t i = 0; i < P; i++) worst = fmax(worst, fabs(sum_grad[i] - grad[i]) / gmax);
    if (!bn) {
        assert_true(worst < TOL);
        assert_true(rel(sum_loss, loss) < TOL);
        assert_int_equal(sum_correct, correct);
    }
    /* Batch norm's running mean: the weighted sum of the shards' updates is
     * the whole batch's update. */
    size_t off[8], len[8];
    int k = running_means(g, off, len);
    assert_true(k == (bn ? 1 : 0));
    for (int j = 0; j < k; j++)
        for (size_t i = off[j]; i < off[j] + len[j]; i++) assert_true(fabs(sum_buf[i] - buf[i]) < 10 * TOL);
    free(grad);
    free(buf);
    free(sum_grad);
    free(sum_buf);
    run_close(&ref);
    gg_dataset_free(d);
}

static void test_two_ranks(void **state) {
    (void)state;
    check_shards(2, 10, false);
    check_shards(2, 10, true);
}
static void test_three_ranks_uneven(void **state) {
    (void)state;
    check_shards(3, 10, false); /* 3, 3, 4 */
    check_shards(3, 10, true);
}
static void test_four_ranks_uneven(void **state) {
    (void)state;
    check_shards(4, 10, false); /* 2, 3, 2, 3 */
    check_shards(4, 10, true);
}

/* A batch of 2 over 4 ranks: ranks 0 and 2 have no rows and add nothing. */
static void test_empty_shards(void **state) {
    (void)state;
    gg_dataset *d = blobs(37);
    for (int r = 0; r < 4; r++) {
        run one;
        run_open(&one, d, 2);
        assert_int_equal(gg_trainer_dist_set(one.t, r, 4, NULL), GG_OK);
        gg_step_info info = {0};
        gg_graph_set_training(one.m->g, 1);
        gg_trainer_dist_batch(one.t, 2, 1, &info);
        double norm = 0;
        for (size_t i = 0; i < one.m->g->param_len; i++) norm += fabs(one.m->g->grad[i]);
        bool empty = r % 2 == 0; /* [floor(2r/4), floor(2(r+1)/4)) */
        assert_true(empty ? norm == 0 : norm > 0);
        assert_true(empty ? info.loss == 0 : info.loss > 0);
        run_close(&one);
    }
    gg_dataset_free(d);
}

/* GG_TEST_NAN_STEP / GG_TEST_NAN_RANK: that rank's gradient, at that step only. */
static void test_nan_hook(void **state) {
    (void)state;
    gg_dataset *d = blobs(37);
    for (int r = 0; r < 2; r++) {
        run one;
        run_open(&one, d, 10);
        assert_int_equal(gg_trainer_dist_set(one.t, r, 2, NULL), GG_OK);
        one.t->test_nan_step = 1;
        one.t->test_nan_rank = 1;
        gg_step_info info = {0};
        gg_graph_set_training(one.m->g, 1);
        gg_trainer_dist_batch(one.t, 10, 1, &info);
        gg_real first = one.m->g->grad[one.m->g->params[0]->offset];
        assert_true(r == 1 ? isnan(first) : isfinite(first));
        gg_trainer_dist_batch(one.t, 10, 2, &info); /* the next step is clean */
        assert_true(isfinite(one.m->g->grad[one.m->g->params[0]->offset]));
        run_close(&one);
    }
    gg_dataset_free(d);
}

static void test_bad_rank(void **state) {
    (void)state;
    gg_dataset *d = blobs(37);
    run one;
    run_open(&one, d, 10);
    gg_error err = {0};
    assert_int_equal(gg_trainer_dist_set(one.t, 2, 2, &err), GG_ERR_ARG);
    assert_int_equal(gg_trainer_dist_set(one.t, 0, 0, &err), GG_ERR_ARG);
    assert_int_equal(gg_trainer_dist_set(one.t, 0, 1, &err), GG_OK); /* back to one process */
    assert_null(one.t->dist_side);
    run_close(&one);
    gg_dataset_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks),   cmocka_unit_test(test_three_ranks_uneven),
        cmocka_unit_test(test_four_ranks_uneven), cmocka_unit_test(test_empty_shards),
        cmocka_unit_test(test_nan_hook),    cmocka_unit_test(test_bad_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
