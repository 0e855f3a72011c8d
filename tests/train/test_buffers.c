/* Buffers (batch norm's running statistics) through training, model files
 * and checkpoints: num_batches_tracked is an I64 0-dim tensor, a model file
 * or a checkpoint restores every buffer exactly, a file whose buffer has the
 * wrong shape or dtype is refused naming the tensor, F32 and F64 files both
 * load, and a skipped step or a rollback leaves the statistics as the guard
 * promises (src/train/trainer.c, src/guard/recover.c, src/io/weights.c,
 * src/train/checkpoint.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io.h"
#include "support/assert_near.h"
#include "support/fixtures.h"
#include "train/trainer.h"

#define N_SAMPLES 64
#define BATCH 8 /* 8 steps per epoch */

/* Two Gaussian blobs in 6 dimensions; rows in nan_rows (-1 ends) hold a NaN. */
static gg_dataset *blobs(const long *nan_rows) {
    size_t n = N_SAMPLES;
    gg_real *x = malloc(n * 6 * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng r;
    gg_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++) {
        y[i] = (gg_real)(i % 2);
        for (int j = 0; j < 6; j++)
            x[i * 6 + j] = (gg_real)(gg_rng_normal(&r) + (i % 2 ? 1.0 : -1.0) + 0.5 * j);
    }
    for (const long *k = nan_rows; k && *k >= 0; k++) x[*k * 6 + 1] = NAN;
    gg_dataset *d = gg_dataset_from_arrays(n, 6, x, 1, y, 2);
    free(x);
    free(y);
    assert_non_null(d);
    return d;
}

static const char model_yaml[] =
    "model:\n  input: [6]\n  layers:\n"
    "    - dense: {units: 8}\n"
    "    - batch_norm: {momentum: 0.2}\n"
    "    - relu\n"
    "    - dropout: {p: 0.25}\n"
    "    - dense: {units: 4}\n"
    "    - batch_norm\n"
    "    - dense: {units: 2}\n"
    "schedule: {name: constant, warmup_steps: 0}\n"
    "optimizer: {name: adam, lr: 0.01}\n"
    "data: {shuffle: false}\n"
    "train: {batch_size: 8, epochs: 20}\n";

typedef struct run {
    gg_config *c;
    gg_model *m;
    gg_trainer *t;
} run;

static void open_run(run *r, const gg_dataset *d, const char *extra) {
    r->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(r->c, model_yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    if (extra && gg_config_load_string(r->c, extra, &err) != GG_OK) fail_msg("%s", err.msg);
    if (gg_model_new(r->c, 64, &r->m, &err) != GG_OK) fail_msg("%s", err.msg);
    if (d && gg_trainer_new(r->m, r->c, d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
    if (!d) r->t = NULL;
}

static void close_run(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_config_free(r->c);
}

static void steps(run *r, int n) {
    gg_step_info info;
    gg_error err = {0};
    for (int i = 0; i < n; i++) {
        if (gg_trainer_step(r->t, &info, &err) != GG_OK) fail_msg("step %d: %s", i, err.msg);
        assert_false(info.skipped);
    }
}

static gg_node *buffer(gg_model *m, const char *name) {
    gg_graph *g = gg_model_graph(m);
    for (int i = 0; i < gg_graph_buffer_count(g); i++)
        if (!strcmp(gg_node_name(gg_graph_buffer(g, i)), name)) return gg_graph_buffer(g, i);
    fail_msg("no buffer %s", name);
    return NULL;
}

/* The state of a graph, parameter by parameter and buffer by buffer
 * (padding left out), into a malloc'd array. */
static size_t state_len(gg_graph *g) {
    size_t n = 0;
    for (int i = 0; i < gg_graph_param_count(g); i++) n += gg_node_len(gg_graph_param(g, i));
    for (int i = 0; i < gg_graph_buffer_count(g); i++) n += gg_node_len(gg_graph_buffer(g, i));
    return n;
}

static gg_real *state_of(gg_graph *g) {
    gg_real *out = malloc(state_len(g) * sizeof *out), *p = out;
    for (int i = 0; i < gg_graph_param_count(g); i++) {
        gg_node *n = gg_graph_param(g, i);
        memcpy(p, gg_node_data(n), gg_node_len(n) * sizeof *p);
        p += gg_node_len(n);
    }
    for (int i = 0; i < gg_graph_buffer_count(g); i++) {
        gg_node *n = gg_graph_buffer(g, i);
        memcpy(p, gg_node_data(n), gg_node_len(n) * sizeof *p);
        p += gg_node_len(n);
    }
    return out;
}

static gg_real *buffers_of(gg_graph *g, size_t *len) {
    size_t n = 0;
    for (int i = 0; i < gg_graph_buffer_count(g); i++) n += gg_node_len(gg_graph_buffer(g, i));
    gg_real *out = malloc((n + 1) * sizeof *out), *p = out;
    for (int i = 0; i < gg_graph_buffer_count(g); i++) {
        gg_node *b = gg_graph_buffer(g, i);
        memcpy(p, gg_node_data(b), gg_node_len(b) * sizeof *p);
        p += gg_node_len(b);
    }
    *len = n;
    return out;
}

static void assert_same_state(gg_graph *a, gg_graph *b, const char *what) {
    size_t n = state_len(a);
    assert_int_equal(n, state_len(b));
    gg_real *x = state_of(a), *y = state_of(b);
    for (size_t i = 0; i < n; i++)
        if (memcmp(&x[i], &y[i], sizeof *x) != 0)
            fail_msg("%s: element %zu of the state differs: %.9g vs %.9g", what, i, (double)x[i],
                     (double)y[i]);
    free(x);
    free(y);
}

/* The statistics moved away from their initial values. */
static void assert_trained_stats(gg_model *m, double batches) {
    assert_near(gg_node_data(buffer(m, "layers.1.num_batches_tracked"))[0], batches, 0);
    assert_near(gg_node_data(buffer(m, "layers.5.num_batches_tracked"))[0], batches, 0);
    gg_node *mean = buffer(m, "layers.1.running_mean"), *var = buffer(m, "layers.1.running_var");
    for (int i = 0; i < 8; i++) {
        assert_true(gg_node_data(mean)[i] != 0);
        assert_true(gg_node_data(var)[i] != 1);
        assert_true(isfinite(gg_node_data(var)[i]) && gg_node_data(var)[i] > 0);
    }
}

/* ---- model files ------------------------------------------------------------ */

static void test_model_file_restores_params_and_buffers(void **s) {
    (void)s;
    gg_dataset *d = blobs(NULL);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    run a, b;
    open_run(&a, d, NULL);
    steps(&a, 11);
    assert_trained_stats(a.m, 11);
    gg_error err = {0};
    if (gg_model_save(a.m, path, &err) != GG_OK) fail_msg("save: %s", err.msg);

    /* The file: PyTorch's state_dict names, num_batches_tracked an I64 scalar. */
    gg_st_file f = {0};
    assert_int_equal(gg_st_read(path, &f, &err), GG_OK);
    assert_int_equal(f.n, 10 + 6); /* 4 dense + 2 x 2 batch norm params, 2 x 3 buffers */
    const gg_st_tensor *count = gg_st_find(&f, "layers.1.num_batches_tracked");
    assert_non_null(count);
    assert_int_equal(count->dtype, GG_ST_I64);
    assert_int_equal(count->ndim, 0);
    assert_int_equal(count->count, 1);
    assert_int_equal(count->nbytes, 8);
    int64_t v;
    memcpy(&v, count->data, 8);
    assert_int_equal(v, 11);
    const gg_st_tensor *var = gg_st_find(&f, "layers.5.running_var");
    assert_non_null(var);
    assert_int_equal(var->dtype, sizeof(gg_real) == 4 ? GG_ST_F32 : GG_ST_F64);
    assert_int_equal(var->ndim, 1);
    assert_int_equal(var->shape[0], 4);
    assert_memory_equal(var->data, gg_node_data(buffer(a.m, "layers.5.running_var")), 4 * sizeof(gg_real));
    assert_non_null(gg_st_find(&f, "layers.1.running_mean"));
    assert_non_null(gg_st_find(&f, "layers.5.num_batches_tracked"));
    assert_non_null(gg_st_find(&f, "layers.1.weight"));
    gg_st_free(&f);

    /* A fresh model starts from 0 / 1 / 0 and the file puts everything back. */
    open_run(&b, NULL, NULL);
    assert_near(gg_node_data(buffer(b.m, "layers.1.running_var"))[3], 1, 0);
    assert_near(gg_node_data(buffer(b.m, "layers.1.num_batches_tracked"))[0], 0, 0);
    if (gg_model_load(b.m, path, &err) != GG_OK) fail_msg("load: %s", err.msg);
    assert_same_state(a.m->g, b.m->g, "model file");
    assert_trained_stats(b.m, 11);
    /* The two models now predict the same in evaluation (running statistics in use). */
    gg_eval_result ea, eb;
    assert_int_equal(gg_model_evaluate(a.m, d, &ea, NULL), GG_OK);
    assert_int_equal(gg_model_evaluate(b.m, d, &eb, NULL), GG_OK);
    assert_near(ea.loss, eb.loss, 0);
    close_run(&a);
    close_run(&b);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

/* A file written tensor by tensor from the model's state, with dtype real
 * (F32 or F64) for reals; `change` names one tensor written differently:
 * shape [5] ("shape"), dtype F32 for the count ("dtype"), left out
 * ("missing"), or a NaN ("nan"); "extra" adds an unknown buffer. */
static void write_state_file(gg_graph *g, const char *path, gg_st_dtype real, const char *target,
                             const char *change) {
    gg_st_writer *w = gg_st_writer_new();
    assert_non_null(w);
    int total = gg_graph_param_count(g) + gg_graph_buffer_count(g);
    void **keep = calloc((size_t)total + 2, sizeof *keep);
    for (int i = 0; i < total; i++) {
        gg_node *n = i < gg_graph_param_count(g) ? gg_graph_param(g, i)
                                                 : gg_graph_buffer(g, i - gg_graph_param_count(g));
        bool is_target = target && !strcmp(gg_node_name(n), target);
        if (is_target && !strcmp(change, "missing")) continue;
        int64_t shape[4];
        int ndim = gg_node_ndim(n);
        for (int k = 0; k < ndim; k++) shape[k] = gg_node_dim(n, k);
        size_t len = gg_node_len(n);
        if (is_target && !strcmp(change, "shape")) shape[0] = 5, len = 5;
        const gg_real *x = gg_node_data(n);
        gg_st_dtype dt = n->integer && !(is_target && !strcmp(change, "dtype")) ? GG_ST_I64 : real;
        void *data = malloc(len * 8);
        for (size_t k = 0; k < len; k++) {
            double val = k < gg_node_len(n) ? (double)x[k] : 0.5;
            if (is_target && !strcmp(change, "nan") && k == 1) val = NAN;
            if (dt == GG_ST_I64) ((int64_t *)data)[k] = (int64_t)val;
            else if (dt == GG_ST_F32) ((float *)data)[k] = (float)val;
            else ((double *)data)[k] = val;
        }
        keep[i] = data;
        assert_int_equal(gg_st_writer_add(w, gg_node_name(n), dt, ndim, shape, data, NULL), GG_OK);
    }
    static const float extra[3] = {1, 2, 3};
    if (change && !strcmp(change, "extra")) {
        int64_t three = 3;
        assert_int_equal(gg_st_writer_add(w, "layers.3.running_mean", GG_ST_F32, 1, &three, extra, NULL),
                         GG_OK);
    }
    gg_error err = {0};
    if (gg_st_writer_write(w, path, &err) != GG_OK) fail_msg("write: %s", err.msg);
    gg_st_writer_free(w);
    for (int i = 0; i < total; i++) free(keep[i]);
    free(keep);
}

static void test_f32_and_f64_files_load(void **s) {
    (void)s;
    gg_dataset *d = blobs(NULL);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    run a, b;
    open_run(&a, d, NULL);
    steps(&a, 5);
    for (int k = 0; k < 2; k++) {
        gg_st_dtype dt = k ? GG_ST_F64 : GG_ST_F32;
        write_state_file(a.m->g, path, dt, NULL, NULL);
        open_run(&b, NULL, NULL);
        gg_error err = {0};
        if (gg_model_load(b.m, path, &err) != GG_OK) fail_msg("%s: %s", gg_st_dtype_name(dt), err.msg);
        /* Every value as the file holds it: through float for F32. */
        gg_graph *ga = a.m->g, *gb = b.m->g;
        size_t n = state_len(ga);
        gg_real *x = state_of(ga), *y = state_of(gb);
        for (size_t i = 0; i < n; i++) {
            gg_real want = dt == GG_ST_F32 ? (gg_real)(float)x[i] : x[i];
            if (want != y[i]) fail_msg("%s: element %zu is %.9g, expected %.9g", gg_st_dtype_name(dt), i,
                                       (double)y[i], (double)want);
        }
        assert_near(gg_node_data(buffer(b.m, "layers.5.num_batches_tracked"))[0], 5, 0);
        free(x);
        free(y);
        close_run(&b);
    }
    close_run(&a);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

static void expect_refused(gg_graph *src, const char *path, const char *target, const char *change,
                           const char *frag1, const char *frag2) {
    run b;
    write_state_file(src, path, GG_ST_F32, target, change);
    open_run(&b, NULL, NULL);
    gg_real *before = state_of(b.m->g);
    gg_error err = {0};
    assert_int_equal(gg_model_load(b.m, path, &err), GG_ERR_DATA);
    if (!strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        fail_msg("%s %s: message '%s' lacks '%s' or '%s'", target, change, err.msg, frag1,
                 frag2 ? frag2 : "");
    assert_non_null(strstr(err.msg, path));
    /* Nothing was copied. */
    gg_real *after = state_of(b.m->g);
    assert_memory_equal(before, after, state_len(b.m->g) * sizeof *before);
    free(before);
    free(after);
    close_run(&b);
}

static void test_bad_buffers_are_refused_naming_the_tensor(void **s) {
    (void)s;
    gg_dataset *d = blobs(NULL);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    run a;
    open_run(&a, d, NULL);
    steps(&a, 3);
    expect_refused(a.m->g, path, "layers.5.running_var", "shape",
                   "tensor 'layers.5.running_var' has shape [5]", "the model expects [4]");
    expect_refused(a.m->g, path, "layers.1.num_batches_tracked", "dtype",
                   "tensor 'layers.1.num_batches_tracked' has dtype F32", "expected I64");
    expect_refused(a.m->g, path, "layers.1.running_mean", "missing",
                   "no tensor 'layers.1.running_mean'", "shape [8]");
    expect_refused(a.m->g, path, "layers.5.running_var", "nan", "tensor 'layers.5.running_var' element 1",
                   "not finite");
    expect_refused(a.m->g, path, NULL, "extra", "tensor 'layers.3.running_mean'",
                   "not a parameter of this model");
    close_run(&a);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

/* ---- checkpoints ------------------------------------------------------------------ */

static void test_checkpoint_restores_buffers_and_resumes_exactly(void **s) {
    (void)s;
    gg_dataset *d = blobs(NULL);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run whole, first, second;
    open_run(&whole, d, NULL);
    steps(&whole, 26);
    open_run(&first, d, NULL);
    steps(&first, 13); /* mid-epoch */
    gg_error err = {0};
    if (gg_trainer_save(first.t, path, &err) != GG_OK) fail_msg("save: %s", err.msg);
    gg_st_file f = {0};
    assert_int_equal(gg_st_read(path, &f, &err), GG_OK);
    const gg_st_tensor *count = gg_st_find(&f, "layers.5.num_batches_tracked");
    assert_non_null(count);
    assert_int_equal(count->dtype, GG_ST_I64);
    assert_int_equal(count->ndim, 0);
    assert_non_null(gg_st_find(&f, "snapshot.buffers"));
    gg_st_free(&f);

    open_run(&second, d, NULL);
    if (gg_trainer_load(second.t, path, &err) != GG_OK) fail_msg("load: %s", err.msg);
    assert_same_state(first.m->g, second.m->g, "after load");
    assert_trained_stats(second.m, 13);
    /* The recovery snapshot's buffers came back too. */
    assert_memory_equal(first.t->snap.buf, second.t->snap.buf, first.m->g->buf_len * sizeof(gg_real));
    steps(&second, 13);
    assert_same_state(whole.m->g, second.m->g, "resumed run");
    assert_trained_stats(second.m, 26);
    close_run(&whole);
    close_run(&first);
    close_run(&second);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_checkpoint_without_buffers_is_refused(void **s) {
    (void)s;
    gg_dataset *d = blobs(NULL);
    char *dir = gg_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    /* layer_norm has batch norm's parameters (weight, bias [C]) but no buffers. */
    run ln, bn;
    open_run(&ln, d, "model: {layers: [{dense: {units: 8}}, layer_norm, relu, {dropout: {p: 0.25}}, "
                     "{dense: {units: 4}}, layer_norm, {dense: {units: 2}}]}\n");
    steps(&ln, 3);
    assert_int_equal(gg_trainer_save(ln.t, path, NULL), GG_OK);
    open_run(&bn, d, NULL);
    steps(&bn, 2);
    gg_real *before = state_of(bn.m->g);
    gg_error err = {0};
    assert_int_equal(gg_trainer_load(bn.t, path, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, "no tensor 'layers.1.running_mean'"));
    gg_real *after = state_of(bn.m->g);
    assert_memory_equal(before, after, state_len(bn.m->g) * sizeof *before);
    assert_int_equal(bn.t->step, 2);
    free(before);
    free(after);
    close_run(&ln);
    close_run(&bn);
    gg_dataset_free(d);
    gg_test_rmtree(dir);
    free(dir);
}

/* ---- the guard --------------------------------------------------------------------- */

/* Row 19 (batch 2, step 3 of the unshuffled first epoch) holds a NaN. */
static void test_skipped_step_leaves_running_stats(void **s) {
    (void)s;
    static const long nan_row[] = {19, -1};
    gg_dataset *d = blobs(nan_row);
    const char *policies[] = {"guard: {nonfinite: skip}", "guard: {nonfinite: skip, recover: {enabled: false}}",
                              "guard: {nonfinite: error}"};
    for (int k = 0; k < 3; k++) {
        run r;
        open_run(&r, d, policies[k]);
        steps(&r, 2);
        size_t n;
        gg_real *before = buffers_of(r.m->g, &n);
        gg_step_info info;
        gg_error err = {0};
        gg_status st = gg_trainer_step(r.t, &info, &err);
        if (k < 2) {
            assert_int_equal(st, GG_OK);
            assert_true(info.skipped);
            assert_true(info.nonfinite > 0);
        } else {
            assert_int_equal(st, GG_ERR_NONFINITE);
        }
        size_t n2;
        gg_real *after = buffers_of(r.m->g, &n2);
        assert_int_equal(n, n2);
        if (memcmp(before, after, n * sizeof *before) != 0)
            fail_msg("%s: the skipped step changed the running statistics", policies[k]);
        assert_near(gg_node_data(buffer(r.m, "layers.1.num_batches_tracked"))[0], 2, 0);
        free(after);
        if (k < 2) {
            /* The next batch is clean: the statistics move again, finite. */
            steps(&r, 1);
            after = buffers_of(r.m->g, &n2);
            assert_true(memcmp(before, after, n * sizeof *before) != 0);
            assert_near(gg_node_data(buffer(r.m, "layers.1.num_batches_tracked"))[0], 3, 0);
            for (size_t i = 0; i < n2; i++) assert_true(isfinite(after[i]));
            free(after);
        }
        free(before);
        close_run(&r);
    }
    /* Without the guard the NaN batch poisons the statistics: what the
     * restore prevents. */
    run r;
    open_run(&r, d, "guard: {enabled: false}");
    steps(&r, 2);
    gg_step_info info;
    assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
    assert_false(isfinite(gg_node_data(buffer(r.m, "layers.1.running_mean"))[0]));
    close_run(&r);
    gg_dataset_free(d);
}

/* Three bad batches in a row (steps 6, 7, 8) roll back to the snapshot taken
 * after step 3 (snapshot_every 3): the statistics of that step, not those
 * of step 5 that the skips alone would keep. */
static void test_rollback_restores_buffers_from_snapshot(void **s) {
    (void)s;
    static const long nan_rows[] = {40, 48, 56, -1};
    gg_dataset *d = blobs(nan_rows);
    run r;
    open_run(&r, d, "guard: {recover: {snapshot_every: 3}}");
    steps(&r, 3);
    assert_int_equal(r.t->snap.step, 3);
    size_t n;
    gg_real *at3 = buffers_of(r.m->g, &n);
    steps(&r, 2);
    gg_real *at5 = buffers_of(r.m->g, &n);
    assert_true(memcmp(at3, at5, n * sizeof *at3) != 0);
    gg_step_info info;
    gg_error err = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gg_trainer_step(r.t, &info, &err), GG_OK);
        assert_true(info.skipped);
    }
    assert_int_equal(r.t->guard.rollbacks, 1);
    const gg_event *ev;
    int ne = gg_trainer_events(r.t, &ev), seen = 0;
    for (int i = 0; i < ne; i++) seen += !strcmp(ev[i].kind, "rollback");
    assert_int_equal(seen, 1);
    gg_real *now = buffers_of(r.m->g, &n);
    if (memcmp(now, at3, n * sizeof *now) != 0) fail_msg("the rollback did not restore the buffers of step 3");
    assert_near(gg_node_data(buffer(r.m, "layers.1.num_batches_tracked"))[0], 3, 0);
    free(now);
    /* And the direct way: a snapshot, more steps (fewer than snapshot_every,
     * so no newer snapshot replaces it), a rollback. */
    gg_recover_snapshot(r.t);
    gg_real *snap = buffers_of(r.m->g, &n);
    steps(&r, 2);
    assert_int_equal(r.t->snap.step, 8);
    now = buffers_of(r.m->g, &n);
    assert_true(memcmp(now, snap, n * sizeof *now) != 0);
    free(now);
    gg_recover_rollback(r.t);
    now = buffers_of(r.m->g, &n);
    assert_memory_equal(now, snap, n * sizeof *now);
    free(now);
    free(snap);
    free(at3);
    free(at5);
    close_run(&r);
    gg_dataset_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_file_restores_params_and_buffers),
        cmocka_unit_test(test_f32_and_f64_files_load),
        cmocka_unit_test(test_bad_buffers_are_refused_naming_the_tensor),
        cmocka_unit_test(test_checkpoint_restores_buffers_and_resumes_exactly),
        cmocka_unit_test(test_checkpoint_without_buffers_is_refused),
        cmocka_unit_test(test_skipped_step_leaves_running_stats),
        cmocka_unit_test(test_rollback_restores_buffers_from_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
