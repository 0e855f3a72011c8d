/* Checkpoints: the whole training state in one safetensors file, so that
 * N steps + resume + N steps equals 2N steps byte for byte. Weights keep
 * the model's names; the optimiser state is optim.{param}.{state}; every
 * other piece (guard windows and statistics, the recovery snapshot,
 * counters, positions, the generator) is listed once in STATE_FIELDS and
 * the arrays table below, which serve saving and loading alike. A CRC-32
 * of all tensor bytes and one of the training data are in the metadata and
 * checked on load; a file that does not match is refused, naming what
 * differs. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io.h"
#include "train/trainer.h"

#ifdef GG_FLOAT64
#define GG_ST_REAL GG_ST_F64
#else
#define GG_ST_REAL GG_ST_F32
#endif

#define FORMAT "gradguard-checkpoint-1"

/* Scalars: X(lvalue). Integers travel as int64, reals as double. */
#define STATE_INTS(X)                                                                        \
    X(t->step) X(t->epoch) X(t->pos) X(t->bad_streak) X(t->attempts) X(t->good_since)       \
    X(t->rewarm_start) X(t->opt->t) X(t->sched.plateau_bad) X(t->sched.plateau_cooldown)   \
    X(gd->cs.autoclip_n) X(gd->cs.autoclip_pos) X(gd->cs.z_count) X(gd->loss_w.n)          \
    X(gd->loss_w.pos) X(gd->norm_w.n) X(gd->norm_w.pos) X(gd->first_n) X(gd->norm_ring_n)  \
    X(gd->explode_step) X(gd->loss_first_n) X(gd->nonfinite_total)                         \
    X(gd->nonfinite_first_step) X(gd->clips) X(gd->skips) X(gd->spikes) X(gd->rollbacks)  \
    X(gd->lr_cuts) X(gd->backoffs) X(sn->step) X(sn->opt.t) X(sn->sched.plateau_bad)       \
    X(sn->sched.plateau_cooldown) X(sn->cs.autoclip_n) X(sn->cs.autoclip_pos)              \
    X(sn->cs.z_count) X(sn->loss_w.n) X(sn->loss_w.pos) X(sn->norm_w.n) X(sn->norm_w.pos)     \
    X(t->totals.samples) X(t->totals.finite_samples) X(t->totals.correct)   \
    X(t->reset_totals) X(t->es_best_epoch) X(t->es_bad) X(gd->rebaseline)
#define STATE_REALS(X)                                                                       \
    X(t->opt->lr) X(t->opt->momentum) X(t->opt->beta1) X(t->sched.scale)                   \
    X(t->sched.plateau_best) X(t->cut) X(gd->cs.z_mean) X(gd->cs.z_var) X(gd->explode_ratio)\
    X(gd->loss_first) X(gd->loss_recent) X(sn->opt.lr) X(sn->opt.momentum) X(sn->opt.beta1) \
    X(sn->sched.scale) X(sn->sched.plateau_best) X(sn->cs.z_mean) X(sn->cs.z_var)        \
    X(t->totals.loss_sum) X(t->es_best)

#define COUNT(x) +1
enum { N_INTS = 0 STATE_INTS(COUNT), N_REALS = 0 STATE_REALS(COUNT) };

/* Arrays beside the weights: name, element type, pointer, length. */
typedef struct array {
    const char *name;
    gg_st_dtype dtype; /* GG_ST_REAL or GG_ST_F64 */
    void *data;
    size_t len;
} array;

static int arrays(gg_trainer *t, array *out) {
    gg_guard *gd = &t->guard;
    gg_snapshot *sn = &t->snap;
    size_t P = t->m->g->param_len, np = (size_t)gd->n_params;
    int n = 0;
    out[n++] = (array){"snapshot.param", GG_ST_REAL, sn->param, P};
    if (t->m->g->buf_len)
        out[n++] = (array){"snapshot.buffers", GG_ST_REAL, sn->buf, t->m->g->buf_len};
    static const char *const snap_state[GG_OPTIM_MAX_STATE] = {"snapshot.optim.0", "snapshot.optim.1",
                                                               "snapshot.optim.2"};
    for (int k = 0; k < GG_OPTIM_MAX_STATE; k++)
        if (sn->state[k]) out[n++] = (array){snap_state[k], GG_ST_REAL, sn->state[k], P};
    out[n++] = (array){"guard.autoclip", GG_ST_F64, gd->autoclip, (size_t)t->cfg.guard.clip.history};
    out[n++] = (array){"guard.z_warm", GG_ST_F64, gd->z_warm, (size_t)t->cfg.guard.clip.warmup};
    out[n++] = (array){"snapshot.autoclip", GG_ST_F64, sn->autoclip, (size_t)t->cfg.guard.clip.history};
    out[n++] = (array){"snapshot.z_warm", GG_ST_F64, sn->z_warm, (size_t)t->cfg.guard.clip.warmup};
    out[n++] = (array){"guard.loss_window", GG_ST_F64, gd->loss_w.v, (size_t)gd->loss_w.cap};
    out[n++] = (array){"guard.norm_window", GG_ST_F64, gd->norm_w.v, (size_t)gd->norm_w.cap};
    out[n++] = (array){"snapshot.loss_window", GG_ST_F64, sn->loss_w.v, (size_t)sn->loss_w.cap};
    out[n++] = (array){"snapshot.norm_window", GG_ST_F64, sn->norm_w.v, (size_t)sn->norm_w.cap};
    out[n++] = (array){"guard.sq_first", GG_ST_F64, gd->sq_first, np};
    out[n++] = (array){"guard.sq_recent", GG_ST_F64, gd->sq_recent, np};
    out[n++] = (array){"guard.norm_ring", GG_ST_F64, gd->norm_ring, GG_DIAG_WINDOW};
    if (t->es_param) {
        out[n++] = (array){"early_stopping.param", GG_ST_REAL, t->es_param, P};
        if (t->m->g->buf_len)
            out[n++] = (array){"early_stopping.buffers", GG_ST_REAL, t->es_buf, t->m->g->buf_len};
    }
    return n;
}

static char *config_yaml(const gg_config *c, gg_error *err) {
    char *yaml = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&yaml, &len);
    if (!mem) {
        gg_fail(err, GG_ERR_NOMEM, "out of memory writing the config");
        return NULL;
    }
    gg_status s = gg_config_write(c, mem, err);
    fclose(mem);
    if (s != GG_OK) {
        free(yaml);
        return NULL;
    }
    return yaml;
}

gg_status gg_trainer_save(gg_trainer *t, const char *path, gg_error *err) {
    gg_graph *g = t->m->g;
    gg_guard *gd = &t->guard;
    gg_snapshot *sn = &t->snap;
    gg_st_writer *w = gg_st_writer_new();
    int64_t ints[N_INTS], rng[4];
    double reals[N_REALS];
    char **names = calloc((size_t)g->n_params * GG_OPTIM_MAX_STATE + 1, sizeof *names);
    int64_t *counts = calloc((size_t)g->n_buffers + 1, sizeof *counts);
    char *yaml = NULL, meta[64];
    gg_status s = GG_OK;
    if (!w || !names || !counts) {
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
        goto done;
    }
    int k = 0;
#define SAVE_INT(x) ints[k++] = (int64_t)(x);
    STATE_INTS(SAVE_INT)
    k = 0;
#define SAVE_REAL(x) reals[k++] = (double)(x);
    STATE_REALS(SAVE_REAL)
    memcpy(rng, g->rng.s, sizeof rng);
    int64_t n_ints = N_INTS, n_reals = N_REALS, four = 4;
    s = gg_st_writer_add(w, "state.ints", GG_ST_I64, 1, &n_ints, ints, err);
    if (s == GG_OK) s = gg_st_writer_add(w, "state.reals", GG_ST_F64, 1, &n_reals, reals, err);
    if (s == GG_OK) s = gg_st_writer_add(w, "state.rng", GG_ST_I64, 1, &four, rng, err);
    if (s == GG_OK) s = gg_weights_add(w, g, counts, err);
    for (int i = 0; i < g->n_params && s == GG_OK; i++) {
        const gg_node *p = g->params[i];
        int64_t shape[GG_MAX_DIMS];
        for (int d = 0; d < p->out->ndim; d++) shape[d] = p->out->shape[d];
        for (int j = 0; j < GG_OPTIM_MAX_STATE && s == GG_OK; j++) {
            if (!t->opt->state[j]) continue;
            char **nm = &names[i * GG_OPTIM_MAX_STATE + j];
            size_t cap = strlen(p->name) + 40;
            if (!(*nm = malloc(cap))) {
                s = gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
                break;
            }
            snprintf(*nm, cap, "optim.%s.%s", p->name, t->opt->def->state_names[j]);
            s = gg_st_writer_add(w, *nm, GG_ST_REAL, p->out->ndim, shape, t->opt->state[j] + p->offset, err);
        }
    }
    array arr[24];
    int na = arrays(t, arr);
    for (int i = 0; i < na && s == GG_OK; i++) {
        int64_t len = (int64_t)arr[i].len;
        s = gg_st_writer_add(w, arr[i].name, arr[i].dtype, 1, &len, arr[i].data, err);
    }
    if (s == GG_OK && !(yaml = config_yaml(&t->cfg, err))) s = err ? err->code : GG_ERR_NOMEM;
    if (s == GG_OK) s = gg_st_writer_meta(w, "format", FORMAT, err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_config", yaml, err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_version", gg_version(), err);
    snprintf(meta, sizeof meta, "%" PRId64, t->step);
    if (s == GG_OK) s = gg_st_writer_meta(w, "step", meta, err);
    snprintf(meta, sizeof meta, "%d", t->epoch);
    if (s == GG_OK) s = gg_st_writer_meta(w, "epoch", meta, err);
    snprintf(meta, sizeof meta, "%08" PRIx32, t->data_crc);
    if (s == GG_OK) s = gg_st_writer_meta(w, "data_checksum", meta, err);
    /* Ranks of an MPI job (absent: 1, so single-process files are unchanged). */
    snprintf(meta, sizeof meta, "%d", t->world);
    if (s == GG_OK && t->world > 1) s = gg_st_writer_meta(w, "world_size", meta, err);
    if (s == GG_OK) s = gg_st_writer_checksum_meta(w, "checksum", err);
    if (s == GG_OK) s = gg_st_writer_write(w, path, err);
    (void)gd, (void)sn;
done:
    if (names)
        for (int i = 0; i < g->n_params * GG_OPTIM_MAX_STATE; i++) free(names[i]);
    free(names);
    free(counts);
    free(yaml);
    gg_st_writer_free(w);
    return s;
}

/* A tensor of exactly this name, dtype and element count, or an error. */
static const gg_st_tensor *expect(const gg_st_file *f, const char *path, const char *name,
                                  gg_st_dtype dtype, size_t count, gg_status *s, gg_error *err) {
    const gg_st_tensor *t = gg_st_find(f, name);
    if (!t)
        *s = gg_fail(err, GG_ERR_DATA, "%s: no tensor '%s' in this checkpoint", path, name);
    else if (t->dtype != dtype || t->count != count)
        *s = gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' is %s with %zu elements, expected %s with %zu",
                     path, name, gg_st_dtype_name(t->dtype), t->count, gg_st_dtype_name(dtype), count);
    else
        return t;
    return NULL;
}

gg_status gg_trainer_load(gg_trainer *t, const char *path, gg_error *err) {
    gg_graph *g = t->m->g;
    gg_guard *gd = &t->guard;
    gg_snapshot *sn = &t->snap;
    gg_st_file f = {0};
    gg_status s = gg_st_read(path, &f, err);
    if (s != GG_OK) return s;
    const char *fmt = gg_st_meta(&f, "format"), *sum = gg_st_meta(&f, "checksum");
    const char *dsum = gg_st_meta(&f, "data_checksum");
    char want[16];
    snprintf(want, sizeof want, "%08" PRIx32, gg_st_checksum(&f));
    if (!fmt || strcmp(fmt, FORMAT) != 0) {
        s = gg_fail(err, GG_ERR_DATA, "%s: not a gradguard checkpoint (format '%s', expected '%s')",
                    path, fmt ? fmt : "(none)", FORMAT);
        goto done;
    }
    if (!sum || strcmp(sum, want) != 0) {
        s = gg_fail(err, GG_ERR_DATA, "%s: checksum %s does not match its data (%s): the file is corrupt",
                    path, sum ? sum : "(none)", want);
        goto done;
    }
    /* A job of another size would cut every batch differently and draw other
     * dropout masks: refused, and not as a damaged file (GG_ERR_ARG). */
    const char *ws = gg_st_meta(&f, "world_size");
    long world = ws ? strtol(ws, NULL, 10) : 1;
    if (world != t->world) {
        char how[48];
        if (world > 1) snprintf(how, sizeof how, "mpirun -n %ld", world);
        else snprintf(how, sizeof how, "one process (no mpirun, or mpirun -n 1)");
        s = gg_fail(err, GG_ERR_ARG, "%s: checkpoint was written by %ld rank%s, this job has %d; resume with %s",
                    path, world, world == 1 ? "" : "s", t->world, how);
        goto done;
    }
    snprintf(want, sizeof want, "%08" PRIx32, t->data_crc);
    if (!dsum || strcmp(dsum, want) != 0) {
        s = gg_fail(err, GG_ERR_DATA, "%s: written for training data with checksum %s, this data has %s",
                    path, dsum ? dsum : "(none)", want);
        goto done;
    }
    /* Check everything first; a refused file leaves the trainer as it was. */
    const gg_st_tensor *ints = expect(&f, path, "state.ints", GG_ST_I64, N_INTS, &s, err);
    const gg_st_tensor *reals = ints ? expect(&f, path, "state.reals", GG_ST_F64, N_REALS, &s, err) : NULL;
    const gg_st_tensor *rng = reals ? expect(&f, path, "state.rng", GG_ST_I64, 4, &s, err) : NULL;
    if (!rng) goto done;
    const gg_st_tensor **pw = calloc((size_t)g->n_params * (GG_OPTIM_MAX_STATE + 1) + 1, sizeof *pw);
    const gg_st_tensor **wm = calloc((size_t)(g->n_params + g->n_buffers) + 1, sizeof *wm);
    array arr[24];
    const gg_st_tensor *at[24];
    int na = arrays(t, arr);
    if (!pw || !wm) {
        free(pw);
        free(wm);
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory loading %s", path);
        goto done;
    }
    s = gg_weights_match(g, &f, path, false, wm, err);
    for (int i = 0; i < g->n_params && s == GG_OK; i++) {
        const gg_node *p = g->params[i];
        const gg_st_tensor **row = pw + (size_t)i * (GG_OPTIM_MAX_STATE + 1);
        if (!(row[0] = expect(&f, path, p->name, GG_ST_REAL, p->out->len, &s, err))) break;
        for (int j = 0; j < GG_OPTIM_MAX_STATE && t->opt->state[j]; j++) {
            char name[GG_NAME_LEN + 48];
            snprintf(name, sizeof name, "optim.%s.%s", p->name, t->opt->def->state_names[j]);
            if (!(row[j + 1] = expect(&f, path, name, GG_ST_REAL, p->out->len, &s, err))) break;
        }
    }
    for (int i = 0; i < na && s == GG_OK; i++)
        at[i] = expect(&f, path, arr[i].name, arr[i].dtype, arr[i].len, &s, err);
    if (s == GG_OK) {
        /* Apply. */
        for (int i = 0; i < g->n_params; i++) {
            const gg_node *p = g->params[i];
            const gg_st_tensor **row = pw + (size_t)i * (GG_OPTIM_MAX_STATE + 1);
            memcpy(p->out->x, row[0]->data, row[0]->nbytes);
            for (int j = 0; j < GG_OPTIM_MAX_STATE && t->opt->state[j]; j++)
                memcpy(t->opt->state[j] + p->offset, row[j + 1]->data, row[j + 1]->nbytes);
        }
        for (int i = 0; i < na; i++) memcpy(arr[i].data, at[i]->data, at[i]->nbytes);
        int64_t iv[N_INTS];
        double rv[N_REALS];
        memcpy(iv, ints->data, sizeof iv);
        memcpy(rv, reals->data, sizeof rv);
        memcpy(g->rng.s, rng->data, sizeof g->rng.s);
        int k = 0;
#define LOAD_INT(x) x = (__typeof__(x))iv[k++];
        STATE_INTS(LOAD_INT)
        k = 0;
#define LOAD_REAL(x) x = (__typeof__(x))rv[k++];
        STATE_REALS(LOAD_REAL)
        gg_trainer_order(t, t->epoch);
    }
    if (s == GG_OK) gg_weights_apply(g, wm);
    /* Masks are not saved: pruned weights are exactly zero, so they give them back. */
    if (s == GG_OK && t->pruner) gg_pruner_restore(t->pruner, t->step);
    free(pw);
    free(wm);
    (void)sn, (void)gd;
done:
    gg_st_free(&f);
    return s;
}

gg_status gg_checkpoint_config(const char *path, gg_config *c, int64_t *step, gg_error *err) {
    gg_st_file f = {0};
    gg_status s = gg_st_read(path, &f, err);
    if (s != GG_OK) return s;
    const char *fmt = gg_st_meta(&f, "format"), *yaml = gg_st_meta(&f, "gradguard_config");
    const char *st = gg_st_meta(&f, "step");
    if (!fmt || strcmp(fmt, FORMAT) != 0 || !yaml || !st)
        s = gg_fail(err, GG_ERR_DATA, "%s: not a gradguard checkpoint", path);
    else
        s = gg_config_load_string(c, yaml, err);
    if (s == GG_OK && step) *step = strtoll(st, NULL, 10);
    gg_st_free(&f);
    return s;
}
