/* rnn, lstm, gru: PyTorch's parameters weight_ih_l0 [G H, F], weight_hh_l0
 * [G H, H], bias_ih_l0 and bias_hh_l0 [G H], G = 1, 4 (i, f, g, o) or
 * 3 (r, z, n). nn.RNN's default init is U(-1/sqrt(H), 1/sqrt(H)) for every
 * tensor, which torch_default gives with a fan-in of H. */
#include <stdio.h>
#include "layers/layers.h"

static gg_node *weight(gg_graph *g, const char *prefix, int index, const char *what, int rows,
                       int cols, gg_init init, const gg_layer_spec *s, int hidden) {
    char name[GG_NAME_LEN];
    snprintf(name, sizeof name, "%slayers.%d.%s", prefix, index, what);
    int dims[2] = {rows, cols};
    /* torch_default's bound is 1/sqrt(hidden) for every recurrent tensor;
     * the other inits take the matrix's own fans. */
    int fan_in = init == GG_INIT_TORCH_DEFAULT ? hidden : cols;
    gg_node *p = gg_param_fan(g, name, cols ? 2 : 1, dims, init, gg_layer_init_arg(init, s),
                              fan_in, rows);
    if (p) p->layer = index;
    return p;
}

gg_node *gg_layer_recurrent(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                            const char *prefix) {
    const gg_tensor *t = x->out;
    if (!t->batched || t->ndim != 3) {
        gg_layer_shape_error(g, x, s, index, prefix,
                             "needs a sequence [steps, features] (set model.input to [T, F])");
        return NULL;
    }
    gg_cell cell = s->kind == GG_LAYER_LSTM  ? GG_CELL_LSTM
                   : s->kind == GG_LAYER_GRU ? GG_CELL_GRU
                   : s->nonlinearity == GG_NONLIN_RELU ? GG_CELL_RNN_RELU
                                                       : GG_CELL_RNN_TANH;
    int G = cell == GG_CELL_LSTM ? 4 : cell == GG_CELL_GRU ? 3 : 1;
    int H = s->units, F = t->shape[2];
    gg_node *w_ih = weight(g, prefix, index, "weight_ih_l0", G * H, F, s->init, s, H);
    gg_node *w_hh = weight(g, prefix, index, "weight_hh_l0", G * H, H, s->recurrent_init, s, H);
    gg_node *b_ih = NULL, *b_hh = NULL;
    if (s->bias) {
        b_ih = weight(g, prefix, index, "bias_ih_l0", G * H, 0, s->bias_init, s, H);
        b_hh = weight(g, prefix, index, "bias_hh_l0", G * H, 0, s->bias_init, s, H);
    }
    return gg_recurrent(g, x, cell, w_ih, w_hh, b_ih, b_hh, s->sequence);
}
