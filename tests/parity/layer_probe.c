/* gg_layer_probe CONFIG.yaml IN.safetensors OUT.safetensors
 *
 * Runs the layers of CONFIG's model once, for PyTorch parity tests: IN holds
 * "x" [N, input...], "dy" [N, output...] (the gradient fed into the last
 * layer's output), and every parameter and buffer by name; its metadata
 * "training" is "1" or "0". OUT gets "y", "dx" (the input's gradient),
 * "grad.NAME" for every parameter and "buffer.NAME" for every buffer after
 * the forward pass (batch norm's updated running statistics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io.h"
#include "layers/layers.h"
#include "train/model.h"

#ifdef GG_FLOAT64
#define REAL GG_ST_F64
#else
#define REAL GG_ST_F32
#endif

static int die(const char *what, const gg_error *err) {
    fprintf(stderr, "gg_layer_probe: %s: %s\n", what, err ? err->msg : "");
    return 2;
}

static gg_real *to_real(const gg_st_tensor *t) {
    gg_real *v = malloc(t->count * sizeof *v + 1);
    for (size_t i = 0; i < t->count; i++) {
        if (t->dtype == GG_ST_F64) {
            double d;
            memcpy(&d, t->data + 8 * i, 8);
            v[i] = (gg_real)d;
        } else {
            float f;
            memcpy(&f, t->data + 4 * i, 4);
            v[i] = (gg_real)f;
        }
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gg_layer_probe CONFIG.yaml IN.safetensors OUT.safetensors\n");
        return 2;
    }
    gg_error err = {0};
    gg_config *c = gg_config_new_default();
    if (gg_config_load_file(c, argv[1], &err) != GG_OK) return die(argv[1], &err);
    gg_st_file in = {0};
    if (gg_st_read(argv[2], &in, &err) != GG_OK) return die(argv[2], &err);
    const gg_st_tensor *tx = gg_st_find(&in, "x"), *tdy = gg_st_find(&in, "dy");
    const char *mode = gg_st_meta(&in, "training");
    if (!tx || !tdy || tx->ndim < 2) return die("IN needs tensors x [N, ...] and dy", NULL);
    int N = (int)tx->shape[0], dims[GG_MAX_DIMS];
    for (int i = 1; i < tx->ndim; i++) dims[i - 1] = (int)tx->shape[i];

    gg_graph *g = gg_graph_new(N, c->seed);
    gg_node *x = gg_input(g, "input", tx->ndim - 1, dims);
    if (x) x->wants_grad = true;
    gg_node *y = x;
    for (int i = 0; i < c->model.n_layers && y; i++)
        y = gg_layer_build(g, y, &c->model.layers[i], i, "");
    if (gg_graph_build(g, &err) != GG_OK) return die("building the graph", &err);
    if (y->out->len != tdy->count) return die("dy does not have the output's size", NULL);
    const gg_st_tensor **match = calloc((size_t)(g->n_params + g->n_buffers) + 1, sizeof *match);
    if (gg_weights_match(g, &in, argv[2], false, match, &err) != GG_OK) return die("weights", &err);
    gg_weights_apply(g, match);
    free(match);

    gg_real *xv = to_real(tx), *dyv = to_real(tdy);
    memcpy(x->out->x, xv, tx->count * sizeof *xv);
    gg_graph_set_training(g, mode && !strcmp(mode, "1"));
    gg_graph_forward(g);
    /* Backward seeded with dy at the output instead of a loss. */
    memset(g->act_grad, 0, g->act_grad_len * sizeof(gg_real));
    memset(g->grad, 0, g->param_len * sizeof(gg_real));
    memcpy(y->out->dx, dyv, tdy->count * sizeof *dyv);
    for (int i = y->id; i >= 0; i--) {
        gg_node *n = g->nodes[i];
        if (n->op && n->out->dx) n->op->backward(n);
    }

    gg_st_writer *w = gg_st_writer_new();
    int64_t shape[GG_MAX_DIMS];
    char names[512][GG_NAME_LEN + 8];
    int k = 0;
    for (int d = 0; d < y->out->ndim; d++) shape[d] = y->out->shape[d];
    gg_st_writer_add(w, "y", REAL, y->out->ndim, shape, y->out->x, &err);
    for (int d = 0; d < x->out->ndim; d++) shape[d] = x->out->shape[d];
    gg_st_writer_add(w, "dx", REAL, x->out->ndim, shape, x->out->dx, &err);
    for (int i = 0; i < g->n_params + g->n_buffers && k < 512; i++, k++) {
        gg_node *p = i < g->n_params ? g->params[i] : g->buffers[i - g->n_params];
        snprintf(names[k], sizeof names[k], "%s.%s", i < g->n_params ? "grad" : "buffer", p->name);
        for (int d = 0; d < p->out->ndim; d++) shape[d] = p->out->shape[d];
        gg_st_writer_add(w, names[k], REAL, p->out->ndim, shape,
                         i < g->n_params ? p->out->dx : p->out->x, &err);
    }
    if (gg_st_writer_write(w, argv[3], &err) != GG_OK) return die(argv[3], &err);
    gg_st_writer_free(w);
    free(xv);
    free(dyv);
    gg_st_free(&in);
    gg_graph_free(g);
    gg_config_free(c);
    return 0;
}
