/* Model weights as safetensors with PyTorch's names and layouts, so that
 * model.load_state_dict takes the file unchanged, and the other way round.
 * Loading checks every name, shape, dtype and value before it copies
 * anything: a refused file leaves the model as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io.h"
#include "train/model.h"

#ifdef GG_FLOAT64
#define GG_ST_REAL GG_ST_F64
#else
#define GG_ST_REAL GG_ST_F32
#endif

/* Parameters, then buffers: what a state_dict holds. */
static int n_state(const gg_graph *g) { return g->n_params + g->n_buffers; }
static gg_node *state_node(gg_graph *g, int i) {
    return i < g->n_params ? g->params[i] : g->buffers[i - g->n_params];
}

gg_status gg_weights_add(gg_st_writer *w, gg_graph *g, int64_t *counts, gg_error *err) {
    gg_status s = GG_OK;
    for (int i = 0; i < n_state(g) && s == GG_OK; i++) {
        const gg_node *n = state_node(g, i);
        const gg_tensor *t = n->out;
        int64_t shape[GG_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (n->integer) { /* num_batches_tracked: PyTorch's int64 scalar */
            int64_t *c = &counts[i - g->n_params];
            *c = (int64_t)llround((double)t->x[0]);
            s = gg_st_writer_add(w, n->name, GG_ST_I64, t->ndim, shape, c, err);
        } else {
            s = gg_st_writer_add(w, n->name, GG_ST_REAL, t->ndim, shape, t->x, err);
        }
    }
    return s;
}

gg_status gg_model_save(gg_model *m, const char *path, gg_error *err) {
    gg_st_writer *w = gg_st_writer_new();
    int64_t *counts = gg_alloc(((size_t)m->g->n_buffers + 1) * sizeof *counts, err);
    if (!w || !counts) {
        gg_st_writer_free(w);
        free(counts);
        return gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
    }
    gg_status s = gg_weights_add(w, m->g, counts, err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "format", "pt", err);
    if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_version", gg_version(), err);
    /* The config travels with the weights, so `gradguard eval FILE` can
     * rebuild the model from the file alone. */
    char *yaml = NULL;
    size_t yaml_len = 0;
    FILE *mem = s == GG_OK ? open_memstream(&yaml, &yaml_len) : NULL;
    if (s == GG_OK && !mem) s = gg_fail(err, GG_ERR_NOMEM, "out of memory saving %s", path);
    if (mem) {
        s = gg_config_write(&m->cfg, mem, err);
        fclose(mem);
        if (s == GG_OK) s = gg_st_writer_meta(w, "gradguard_config", yaml, err);
        free(yaml);
    }
    if (s == GG_OK) s = gg_st_writer_write(w, path, err);
    gg_st_writer_free(w);
    free(counts);
    return s;
}

gg_status gg_weights_match(gg_graph *g, const gg_st_file *f, const char *path, bool strict,
                           const gg_st_tensor **match, gg_error *err) {
    char want[96], got[96];
    for (int i = 0; i < n_state(g); i++) {
        const gg_node *p = state_node(g, i);
        const gg_tensor *t = p->out;
        int64_t shape[GG_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        const gg_st_tensor *ft = gg_st_find(f, p->name);
        if (!ft)
            return gg_fail(err, GG_ERR_DATA, "%s: no tensor '%s'; the model needs it with shape %s",
                           path, p->name, gg_st_dims_text(want, sizeof want, t->ndim, shape));
        bool same = ft->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = ft->shape[d] == shape[d];
        if (!same)
            return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' has shape %s, the model expects %s",
                           path, p->name, gg_st_dims_text(got, sizeof got, ft->ndim, ft->shape),
                           gg_st_dims_text(want, sizeof want, t->ndim, shape));
        bool ok = p->integer ? ft->dtype == GG_ST_I64 : ft->dtype == GG_ST_F32 || ft->dtype == GG_ST_F64;
        if (!ok)
            return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' has dtype %s, expected %s", path,
                           p->name, gg_st_dtype_name(ft->dtype), p->integer ? "I64" : "F32 or F64");
        for (size_t k = 0; k < ft->count; k++)
            if (!isfinite(gg_st_element(ft, k)))
                return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' element %zu is not finite (%g)",
                               path, p->name, k, gg_st_element(ft, k));
        match[i] = ft;
    }
    if (!strict) return GG_OK;
    /* Strict, as load_state_dict: a weight the model lacks is an error;
     * optimiser state of a checkpoint is not a weight. */
    for (int k = 0; k < f->n; k++) {
        const char *name = f->tensors[k].name;
        if (!strncmp(name, "optim.", 6) || !strncmp(name, "snapshot.", 9) ||
            !strncmp(name, "guard.", 6) || !strncmp(name, "state.", 6) ||
            !strncmp(name, "early_stopping.", 15))
            continue; /* training state of a checkpoint */
        bool known = gg_graph_find_param(g, name) != NULL;
        for (int i = 0; !known && i < g->n_buffers; i++) known = !strcmp(g->buffers[i]->name, name);
        if (!known)
            return gg_fail(err, GG_ERR_DATA, "%s: tensor '%s' is not a parameter of this model",
                           path, name);
    }
    return GG_OK;
}

void gg_weights_apply(gg_graph *g, const gg_st_tensor *const *match) {
    for (int i = 0; i < n_state(g); i++) {
        gg_real *x = state_node(g, i)->out->x;
        for (size_t k = 0; k < match[i]->count; k++) x[k] = (gg_real)gg_st_element(match[i], k);
    }
}

gg_status gg_model_load(gg_model *m, const char *path, gg_error *err) {
    gg_st_file f = {0};
    gg_graph *g = m->g;
    const gg_st_tensor **match = NULL;
    gg_status s = gg_st_read(path, &f, err);
    if (s != GG_OK) goto done;
    match = gg_alloc((size_t)(n_state(g) + 1) * sizeof *match, err);
    if (!match) {
        s = GG_ERR_NOMEM;
        goto done;
    }
    if ((s = gg_weights_match(g, &f, path, true, match, err)) != GG_OK) goto done;
    gg_weights_apply(g, match);
done:
    free(match);
    gg_st_free(&f);
    return s;
}
