/* The sweeps: forward in creation order, backward in reverse. Backward
 * kernels accumulate (+=) into gradients, so the sweep zeroes them first:
 * the parameters' in one memset, each activation's at the current batch. */
#include <string.h>
#include "graph/graph.h"

void gg_graph_forward(gg_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        gg_node *n = g->nodes[i];
        if (n->op) n->op->forward(n);
    }
}

void gg_graph_backward(gg_graph *g, gg_node *loss) {
    if (g->batch > g->grad_batch) { /* no room for these gradients: a caller's bug */
        gg_graph_set_error(g, GG_ERR_ARG, "backward at batch %d, but gradients are sized for %d",
                           g->batch, g->grad_batch);
        memset(g->grad, 0, g->param_len * sizeof(gg_real));
        return;
    }
    /* Only the current batch's part of each gradient: the region may be
     * sized for more than a step's batch. */
    for (int i = 0; i < g->n_nodes; i++) {
        gg_node *n = g->nodes[i];
        if (n->kind != GG_NODE_PARAM && n->out->dx) memset(n->out->dx, 0, n->out->len * sizeof(gg_real));
    }
    memset(g->grad, 0, g->param_len * sizeof(gg_real));
    if (!loss || !loss->out->dx) return;
    loss->out->dx[0] = 1;
    for (int i = loss->id; i >= 0; i--) {
        gg_node *n = g->nodes[i];
        if (n->op && n->out->dx) n->op->backward(n);
    }
}
