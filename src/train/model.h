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

/* The state_dict of a graph (parameters, then buffers) in safetensors
 * files (src/io/weights.c), for model files and checkpoints alike.
 * counts: one int64 per buffer, kept until the writer has written. */
struct gg_st_writer;
struct gg_st_file;
struct gg_st_tensor;
gg_status gg_weights_add(struct gg_st_writer *w, gg_graph *g, int64_t *counts, gg_error *err);
/* Finds and checks every parameter and buffer of g in f (match: one per
 * tensor); strict also refuses tensors the model lacks. */
gg_status gg_weights_match(gg_graph *g, const struct gg_st_file *f, const char *path, bool strict,
                           const struct gg_st_tensor **match, gg_error *err);
void gg_weights_apply(gg_graph *g, const struct gg_st_tensor *const *match);

/* Correct predictions among the first n rows of the current batch. */
size_t gg_model_batch_correct(const gg_model *m, int n);

/* Evaluation and prediction with another engine's forward pass over the
 * same graph and buffers (the int8 model's): forward(ctx, last) computes
 * every node up to `last` for the loaded batch. gg_model_evaluate and
 * gg_model_predict are these with the graph's own forward pass. */
typedef void (*gg_forward_fn)(void *ctx, const gg_node *last);
gg_status gg_model_evaluate_with(gg_model *m, const gg_dataset *d, gg_forward_fn forward, void *ctx,
                                 gg_eval_result *res, gg_error *err);
void gg_model_predict_with(gg_model *m, const gg_real *x, size_t n, gg_real *out,
                           gg_forward_fn forward, void *ctx);

#endif
