/* A model: its config, the graph built from it (input -> layers -> output
 * -> loss against a target input), and what evaluation needs to know. */
#ifndef GG_MODEL_H
#define GG_MODEL_H

#include "data/dataset.h"
#include "graph/graph.h"

struct gg_model {
    gg_config cfg;      /* owned deep copy */
    gg_graph *g;        /* owned */
    gg_node *input;     /* [N, input...] */
    gg_node *target;    /* [N, 1] class index, or [N, outputs] */
    gg_node *output;    /* the last layer */
    gg_node *loss;      /* scalar */
    size_t outputs;     /* values per output row */
};

/* Checks that d fits the model: sample shape and target layout. */
gg_status gg_model_check_data(const gg_model *m, const gg_dataset *d, gg_error *err);
/* Copies rows idx[0..n-1] of d into the input and target nodes (and sets the batch). */
void gg_model_load_batch(gg_model *m, const gg_dataset *d, const uint32_t *idx, size_t first,
                         int n);

/* Correct predictions among the first n rows of the current batch. */
size_t gg_model_batch_correct(const gg_model *m, int n);

#endif
