/* Recovery and monitoring through gg_trainer_step on in-memory data:
 * NaN/Inf batches under each non-finite policy (skip is bit-identical to
 * a run without the batch), the skip -> lr_cut -> rollback escalation on
 * loss spikes with an exact restore of the snapshot, giving up after
 * max_attempts, and the monitor's per-parameter and per-layer figures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"
#include "train/trainer.h"

#define F 6 /* features */

/* Rows of two Gaussian blobs at +-sep (labels 1 / 0), or poisoned rows:
 * 'N' a NaN in the row, 'I' an Inf, 'S' a spike (far on the wrong side
 * of the boundary, so the loss of such a batch is huge). */
static void fill_rows(gg_real *x, gg_real *y, size_t n, char kind, double sep, gg_rng *r) {
    for (size_t i = 0; i < n; i++) {
        int cls = (int)(i % 2);
        y[i] = (gg_real)cls;
        double c = cls ? sep : -sep;
        if (kind == 'S') c = cls ? -6 : 6;
        for (int j = 0; j < F; j++) x[i * F + j] = (gg_real)(gg_rng_normal(r) + c);
    }
    if (kind == 'N') x[3 * F + 2] = NAN;
    if (kind == 'I') x[5 * F + 4] = INFINITY;
}

/* A data set described by a string of batch kinds: "cccNcc" is three
 * clean batches, a batch with a NaN, then two clean ones. Clean batches
 * are drawn from one stream in order, so "ccNc" and "ccc" hold the very
 * same clean rows. */
static gg_dataset *batches(const char *plan, int batch, double sep) {
    size_t nb = strlen(plan), n = nb * (size_t)batch;
    gg_real *x = malloc(n * F * sizeof *x), *y = malloc(n * sizeof *y);
    gg_rng clean, bad;
    gg_rng_seed(&clean, 11);
    gg_rng_seed(&bad, 12);
    for (size_t b = 0; b < nb; b++)
        fill_rows(x + b * (size_t)batch * F, y + b * (size_t)batch, (size_t)batch, plan[b], sep,
                  plan[b] == 'c' ? &clean : &bad);
    gg_dataset *d = gg_dataset_from_arrays(n, F, x, 1, y, 2);
    free(x);
    free(y);
    return d;
}

typedef struct run {
    gg_config *c;
    gg_dataset *d;
    gg_model *m;
    gg_trainer *t;
} run;

static void run_open(run *r, const char *layers, const char *extra, gg_dataset *d) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [%d]\n  layers: %s\n"
             "optimizer: {name: momentum, lr: 0.05}\nschedule: {name: constant}\n"
             "data: {shuffle: false}\ntrain: {batch_size: 16, epochs: 100}\n%s\n",
             F, layers, extra);
    r->c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(r->c, yaml, &err) != GG_OK) fail_msg("config: %s", err.msg);
    r->d = d;
    assert_int_equal(gg_model_new(r->c, 16, &r->m, &err), GG_OK);
    if (gg_trainer_new(r->m, r->c, r->d, &r->t, &err) != GG_OK) fail_msg("%s", err.msg);
}

static void run_close(run *r) {
    gg_trainer_free(r->t);
    gg_model_free(r->m);
    gg_dataset_free(r->d);
    gg_config_free(r->c);
}

static const char *MLP = "[{dense: {units: 16}}, tanh, {dense: {units: 2}}]";

static bool all_finite(const gg_graph *g) {
    for (size_t i = 0; i < g->param_len; i++)
        if (!isfinite(g->param[i])) return false;
    return true;
}

static bool has_event(const gg_trainer *t, const char *kind) {
    const gg_event *ev;
    int n = gg_trainer_events(t, &ev);
    for (int i = 0; i < n; i++)
        if (strcmp(ev[i].kind, kind) == 0) return true;
    return false;
}

static void steps(run *r, int n) {
    gg_step_info info;
    gg_error err = {0};
    for (int i = 0; i < n; i++)
        if (gg_trainer_step(r->t, &info, &err) != GG_OK) fail_msg("step %lld: %s", (long long)r->t->step + 1, err.msg);
}

/* ---- (a) non-finite batches ---------------------------------------------------- */

static void test_skip_is_bit_identical_to_a_run_without_the_bad_batches(void **s) {
    (void)s;
    /* A NaN batch at step 4 and an Inf batch (finite loss, NaN gradient) at step 7. */
    run bad, ref;
    run_open(&bad, MLP, "guard: {nonfinite: skip}", batches("cccNccIcc", 16, 1.0));
    run_open(&ref, MLP, "guard: {nonfinite: skip}", batches("ccccccc", 16, 1.0));
    int nonfinite_steps = 0;
    for (int i = 0; i < 3 * 9; i++) {
        gg_step_info info;
        assert_int_equal(gg_trainer_step(bad.t, &info, NULL), GG_OK);
        if (info.nonfinite) {
            nonfinite_steps++;
            assert_true(info.skipped);
            assert_true(has_event(bad.t, "nonfinite"));
            assert_true(has_event(bad.t, "skip"));
            assert_false(has_event(bad.t, "rollback"));
        }
        assert_true(all_finite(bad.m->g));
    }
    assert_int_equal(nonfinite_steps, 6); /* two per epoch, three epochs */
    steps(&ref, 3 * 7);
    assert_int_equal(bad.t->opt->t, ref.t->opt->t);
    assert_int_equal(bad.t->opt->t, 21);
    assert_memory_equal(bad.m->g->param, ref.m->g->param, ref.m->g->param_len * sizeof(gg_real));
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++)
        if (ref.t->opt->state[k])
            assert_memory_equal(bad.t->opt->state[k], ref.t->opt->state[k], ref.m->g->param_len * sizeof(gg_real));
    run_close(&bad);
    run_close(&ref);
}

static void test_zero_policy_keeps_weights_finite_and_applies_finite_loss_steps(void **s) {
    (void)s;
    run r;
    run_open(&r, MLP, "guard: {nonfinite: zero}", batches("cccNccIcc", 16, 1.0));
    int64_t applied = 0;
    for (int i = 0; i < 18; i++) {
        gg_step_info info;
        assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK);
        assert_true(all_finite(r.m->g));
        int in_epoch = i % 9;
        if (in_epoch == 3) assert_true(info.skipped && info.nonfinite); /* NaN loss: nothing to keep */
        if (in_epoch == 6) {                                            /* finite loss: zeroed and applied */
            assert_true(isfinite(info.loss) && info.nonfinite > 0);
            assert_false(info.skipped);
            assert_true(isfinite(info.grad_norm));
        }
        applied += !info.skipped;
    }
    assert_int_equal(r.t->opt->t, applied);
    assert_int_equal(applied, 16);
    run_close(&r);
}

static void test_error_policy_stops_naming_step_and_parameter(void **s) {
    (void)s;
    const char *plans[] = {"cccNcc", "cccIcc"};
    for (int k = 0; k < 2; k++) {
        run r;
        run_open(&r, MLP, "guard: {nonfinite: error}", batches(plans[k], 16, 1.0));
        steps(&r, 3);
        size_t bytes = r.m->g->param_len * sizeof(gg_real);
        gg_real *before = malloc(bytes);
        memcpy(before, r.m->g->param, bytes);
        gg_step_info info;
        gg_error err = {0};
        assert_int_equal(gg_trainer_step(r.t, &info, &err), GG_ERR_NONFINITE);
        assert_int_equal(err.code, GG_ERR_NONFINITE);
        assert_non_null(strstr(err.msg, "step 4"));
        assert_non_null(strstr(err.msg, "layers.0"));
        assert_memory_equal(before, r.m->g->param, bytes);
        assert_int_equal(r.t->opt->t, 3);
        free(before);
        run_close(&r);
    }
}

/* ---- (b) spike escalation and rollback ---------------------------------------------- */

typedef struct saved {
    int64_t step, opt_t;
    gg_real *param, *state[GG_OPTIM_MAX_STATE];
} saved;

static void save_state(saved *sv, const gg_trainer *t) {
    size_t bytes = t->m->g->param_len * sizeof(gg_real);
    sv->step = t->snap.step;
    sv->opt_t = t->opt->t;
    memcpy(sv->param, t->m->g->param, bytes);
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++)
        if (t->opt->state[k]) memcpy(sv->state[k], t->opt->state[k], bytes);
}

static void test_spikes_escalate_skip_lr_cut_rollback_and_restore_exactly(void **s) {
    (void)s;
    /* 20 batches an epoch: three spike batches in a row at steps 11..13 of each epoch. */
    run r;
    run_open(&r, MLP,
             "guard: {recover: {snapshot_every: 4, max_attempts: 5, lr_factor: 0.5, warmup_steps: 20}}",
             batches("ccccccccccSSSccccccc", 16, 0.75));
    size_t bytes = r.m->g->param_len * sizeof(gg_real);
    saved sv = {.param = malloc(bytes)};
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++) sv.state[k] = malloc(bytes);
    save_state(&sv, r.t); /* gg_trainer_new takes the first snapshot */
    int64_t spe = gg_trainer_steps_per_epoch(r.t);
    int rollbacks = 0;
    for (int64_t i = 0; i < 8 * spe; i++) {
        gg_step_info info;
        gg_error err = {0};
        if (gg_trainer_step(r.t, &info, &err) != GG_OK) fail_msg("step %lld: %s", (long long)info.step, err.msg);
        assert_true(all_finite(r.m->g));
        int64_t in_epoch = i % spe; /* 0-based batch index */
        bool skip = has_event(r.t, "skip"), cut = has_event(r.t, "lr_cut"), back = has_event(r.t, "rollback");
        if (in_epoch >= 10 && in_epoch <= 12) {
            if (!has_event(r.t, "spike")) fail_msg("step %lld: the spike batch was not flagged", (long long)r.t->step);
            assert_true(info.skipped && skip);
            /* First bad step: skipped only; second: the lr is cut too; third: rolled back. */
            assert_int_equal(cut, in_epoch >= 11);
            assert_int_equal(back, in_epoch == 12);
        }
        if (back) {
            rollbacks++;
            /* Right after the rollback: the snapshot's weights and optimiser state, byte for byte. */
            assert_memory_equal(r.m->g->param, sv.param, bytes);
            for (int k = 0; k < GG_OPTIM_MAX_STATE; k++)
                if (r.t->opt->state[k]) assert_memory_equal(r.t->opt->state[k], sv.state[k], bytes);
            assert_int_equal(r.t->opt->t, sv.opt_t);
            const gg_event *ev;
            int n = gg_trainer_events(r.t, &ev);
            for (int k = 0; k < n; k++)
                if (strcmp(ev[k].kind, "rollback") == 0) {
                    char want[64];
                    snprintf(want, sizeof want, "state of step %lld", (long long)sv.step);
                    assert_non_null(strstr(ev[k].message, want));
                }
        }
        if (r.t->snap.step != sv.step && !back) save_state(&sv, r.t); /* a snapshot was just taken */
        if (in_epoch == 13) assert_true(info.lr < 0.05); /* cut, warming back up */
    }
    assert_int_equal(rollbacks, 8);
    assert_false(has_event(r.t, "gave_up"));
    /* After all that, the model has learnt the clean task. */
    gg_dataset *clean = batches("cccccccccccccccc", 16, 0.75);
    gg_eval_result e;
    assert_int_equal(gg_model_evaluate(r.m, clean, &e, NULL), GG_OK);
    if (!(e.accuracy > 0.9)) fail_msg("accuracy %.3f after recovery", e.accuracy);
    gg_dataset_free(clean);
    free(sv.param);
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++) free(sv.state[k]);
    run_close(&r);
}

static void test_recovery_gives_up_after_max_attempts(void **s) {
    (void)s;
    run r;
    run_open(&r, MLP, "guard: {recover: {snapshot_every: 5, max_attempts: 2}}",
             batches("ccccccccccccccccccccccccccccccSSSSSSSSSSSSSSSSSSSS", 16, 0.75));
    gg_step_info info;
    gg_error err = {0};
    gg_status st = GG_OK;
    int rollbacks = 0;
    while (r.t->step < 50 && (st = gg_trainer_step(r.t, &info, &err)) == GG_OK) {
        rollbacks += has_event(r.t, "rollback");
        assert_true(all_finite(r.m->g));
    }
    /* 30 clean steps, then spikes: 31, 32, 33 (rollback 1), 34, 35, 36 (rollback 2),
     * 37, 38, 39: no new snapshot in between, so it gives up. */
    assert_int_equal(st, GG_ERR_DIVERGED);
    assert_int_equal(rollbacks, 2);
    assert_non_null(strstr(err.msg, "diverged"));
    assert_non_null(strstr(err.msg, "step 39"));
    assert_true(has_event(r.t, "gave_up"));
    assert_true(all_finite(r.m->g));
    run_close(&r);
}

/* The snapshot taken after the update of step N holds the state after
 * step N, so it must be labelled N: the rollback message names it and
 * counts the batches skipped since. */
static void test_snapshot_is_labelled_with_the_step_whose_state_it_holds(void **s) {
    (void)s;
    run r;
    run_open(&r, MLP, "guard: {recover: {snapshot_every: 4}}", batches("ccccccccccSSScc", 16, 0.75));
    steps(&r, 4);
    size_t bytes = r.m->g->param_len * sizeof(gg_real);
    assert_memory_equal(r.t->snap.param, r.m->g->param, bytes); /* taken at step 4 */
    int64_t label = r.t->snap.step;
    steps(&r, 8); /* a snapshot at step 8, then steps 9 .. 12 */
    gg_step_info info;
    assert_int_equal(gg_trainer_step(r.t, &info, NULL), GG_OK); /* step 13: the third spike */
    char msg[sizeof r.t->guard.events[0].message] = "";
    const gg_event *ev;
    int n = gg_trainer_events(r.t, &ev);
    for (int k = 0; k < n; k++)
        if (strcmp(ev[k].kind, "rollback") == 0) memcpy(msg, ev[k].message, sizeof msg);
    run_close(&r);
    if (label != 4) fail_msg("the snapshot holding the state after step 4 is labelled step %lld", (long long)label);
    if (!strstr(msg, "state of step 8") || !strstr(msg, "the 5 batches since"))
        fail_msg("rollback at step 13 to the snapshot after step 8: \"%s\"", msg);
}

/* ---- (d) monitoring ------------------------------------------------------------------------ */

static void test_monitor_param_stats_are_plausible(void **s) {
    (void)s;
    run r;
    run_open(&r, MLP, "guard: {monitor: {every: 1}}", batches("cccc", 16, 1.0));
    steps(&r, 2);
    gg_graph *g = r.m->g;
    size_t bytes = g->param_len * sizeof(gg_real);
    gg_real *before = malloc(bytes);
    memcpy(before, g->param, bytes);
    steps(&r, 1);
    const gg_param_stats *ps;
    int n = gg_trainer_param_stats(r.t, &ps);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        const gg_tensor *p = g->params[i]->out;
        const gg_real *w0 = before + g->params[i]->offset;
        double d2 = 0, w02 = 0, w2 = 0, g2 = 0, gmax = 0;
        for (size_t k = 0; k < p->len; k++) {
            d2 += ((double)p->x[k] - w0[k]) * ((double)p->x[k] - w0[k]);
            w02 += (double)w0[k] * w0[k];
            w2 += (double)p->x[k] * p->x[k];
            g2 += (double)p->dx[k] * p->dx[k];
            gmax = fmax(gmax, fabs((double)p->dx[k]));
        }
        double ratio = sqrt(d2 / w02);
        assert_string_equal(ps[i].name, g->params[i]->name);
        /* ||w_after - w_before|| / ||w_before||, to float rounding of the stored update. */
        if (!(ps[i].update_ratio > 0 && fabs(ps[i].update_ratio - ratio) <= 1e-5 * ratio))
            fail_msg("%s: update_ratio %.9g, expected %.9g", ps[i].name, ps[i].update_ratio, ratio);
        assert_true(ratio < 0.5);
        /* The weight norm is taken in the update's pass: before it or after it, within the update. */
        assert_true(fabs(ps[i].weight_norm - sqrt(w02)) <= 1.01 * sqrt(d2) + 1e-9 * sqrt(w02) ||
                    fabs(ps[i].weight_norm - sqrt(w2)) <= 1e-9 * sqrt(w2));
        assert_true(fabs(ps[i].grad_norm - sqrt(g2)) <= 1e-9 * sqrt(g2));
        assert_true(ps[i].grad_max == gmax && gmax > 0 && gmax <= ps[i].grad_norm);
        assert_int_equal(ps[i].nonfinite, 0);
    }
    const gg_layer_stats *ls;
    assert_int_equal(gg_trainer_layer_stats(r.t, &ls), 1);
    assert_string_equal(ls[0].kind, "tanh");
    assert_int_equal(ls[0].layer, 1);
    assert_true(ls[0].saturated_frac >= 0 && ls[0].saturated_frac < 0.5);
    free(before);
    run_close(&r);
}

static void test_monitor_dead_relu_layer_is_all_dead(void **s) {
    (void)s;
    run r;
    run_open(&r, "[{dense: {units: 16}}, relu, {dense: {units: 8}}, relu, {dense: {units: 2}}]",
             "guard: {monitor: {every: 1}}", batches("cccc", 16, 1.0));
    gg_node *b = gg_graph_find_param(r.m->g, "layers.2.bias");
    for (int i = 0; i < 8; i++) gg_node_data(b)[i] = -100;
    steps(&r, 2);
    const gg_layer_stats *ls;
    assert_int_equal(gg_trainer_layer_stats(r.t, &ls), 2);
    assert_string_equal(ls[1].kind, "relu");
    assert_int_equal(ls[1].layer, 3);
    assert_true(ls[1].dead_frac == 1.0);
    assert_true(ls[0].dead_frac < 0.5); /* the healthy one */
    assert_true(isnan(ls[1].saturated_frac));
    run_close(&r);
}

static void test_monitor_sigmoid_fed_huge_inputs_is_saturated(void **s) {
    (void)s;
    gg_dataset *d = batches("cc", 16, 1.0);
    for (size_t i = 0; i < d->n * F; i++) d->x[i] *= 1e6f;
    run r;
    run_open(&r, "[{dense: {units: 16}}, sigmoid, {dense: {units: 2}}]", "guard: {monitor: {every: 1}}", d);
    steps(&r, 1);
    const gg_layer_stats *ls;
    assert_int_equal(gg_trainer_layer_stats(r.t, &ls), 1);
    assert_string_equal(ls[0].kind, "sigmoid");
    assert_true(ls[0].saturated_frac == 1.0);
    assert_true(isnan(ls[0].dead_frac));
    run_close(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_is_bit_identical_to_a_run_without_the_bad_batches),
        cmocka_unit_test(test_zero_policy_keeps_weights_finite_and_applies_finite_loss_steps),
        cmocka_unit_test(test_error_policy_stops_naming_step_and_parameter),
        cmocka_unit_test(test_spikes_escalate_skip_lr_cut_rollback_and_restore_exactly),
        cmocka_unit_test(test_recovery_gives_up_after_max_attempts),
        cmocka_unit_test(test_snapshot_is_labelled_with_the_step_whose_state_it_holds),
        cmocka_unit_test(test_monitor_param_stats_are_plausible),
        cmocka_unit_test(test_monitor_dead_relu_layer_is_all_dead),
        cmocka_unit_test(test_monitor_sigmoid_fed_huge_inputs_is_saturated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
