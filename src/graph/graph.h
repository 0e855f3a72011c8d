/* The static graph: nodes (inputs, parameters, operations) in creation
 * order, which is a topological order. Shapes are fixed at creation except
 * the leading batch dimension, which gg_graph_set_batch changes at run
 * time up to the max batch the arena was sized for. */
#ifndef GG_GRAPH_H
#define GG_GRAPH_H

#include <stdbool.h>
#include "core/core.h"
#include "io/config.h"

#define GG_MAX_IN 5
#define GG_MAX_ATTR 8

typedef struct gg_tensor {
    int ndim;
    int shape[GG_MAX_DIMS]; /* shape[0] is the batch when batched */
    bool batched;
    size_t per_sample; /* elements per batch row (all elements if not batched) */
    size_t len;        /* elements at the current batch */
    gg_real *x;        /* graph arena, or the flat parameter block */
    gg_real *dx;       /* graph arena or flat gradient block; NULL: no gradient flows */
} gg_tensor;

/* Buffers are state that is saved with the model but not trained
 * (batch norm's running statistics): no gradient, not seen by the
 * optimiser or the guard, kept in a block of their own. */
typedef enum gg_node_kind { GG_NODE_INPUT, GG_NODE_PARAM, GG_NODE_OP, GG_NODE_BUFFER } gg_node_kind;

typedef struct gg_op_def gg_op_def;

struct gg_node {
    gg_node_kind kind;
    const gg_op_def *op; /* NULL for inputs and parameters */
    gg_graph *g;
    int id;
    int layer;           /* model layer index for messages, -1 if none */
    char name[GG_NAME_LEN];
    int n_in;
    gg_node *src[GG_MAX_IN];
    gg_tensor *in[GG_MAX_IN]; /* &src[i]->value */
    gg_tensor *out;           /* &value */
    gg_tensor value;
    double attr[GG_MAX_ATTR]; /* op parameters (slope, alpha, ...) */
    int iattr[GG_MAX_ATTR];
    gg_real *scratch;         /* graph arena: op-private, sized by op->scratch */
    /* parameters only */
    gg_init init;
    double init_gain;
    int fan_in, fan_out;
    size_t offset;            /* into the flat parameter (or buffer) block */
    bool wants_grad;          /* an input whose gradient a tool reads (layer probes) */
    /* buffers only */
    double fill;              /* initial value of every element */
    bool integer;             /* a count: stored as I64 in safetensors files */
};

struct gg_op_def {
    const char *name;
    int n_in;
    /* Sets n->out's shape from the inputs; fails with a message naming
     * the node when they do not fit. */
    gg_status (*shape)(gg_node *n, gg_error *err);
    /* Extra arena elements the op needs at the max batch; may be NULL. */
    size_t (*scratch)(const gg_node *n);
    void (*forward)(gg_node *n);
    void (*backward)(gg_node *n);
};

struct gg_graph {
    int max_batch;
    int grad_batch;    /* the largest batch backward runs on (activation gradients are
                        * sized for it); max_batch unless set, 0 = inference only */
    int batch;
    bool training;
    bool built;
    gg_rng rng;        /* parameter init, then dropout masks */
    int cur_layer;     /* the model layer being built (for messages), -1 if none */
    gg_status status;  /* the first builder error, reported by gg_graph_build */
    gg_error error;
    int n_nodes, cap_nodes;
    gg_node **nodes;   /* owned */
    int n_params;
    gg_node **params;  /* borrowed from nodes, creation order */
    gg_real *arena;    /* owned: activations, their gradients, scratch */
    gg_real *act_grad; /* start of the activation-gradient region of the arena */
    size_t act_grad_len;
    size_t param_len;  /* elements in the flat blocks, padding included */
    gg_real *param;    /* owned: every parameter, 64-byte aligned each */
    gg_real *grad;     /* owned: their gradients, same layout */
    int n_buffers;
    gg_node **buffers; /* borrowed from nodes, creation order */
    size_t buf_len;    /* elements in the buffer block, padding included */
    gg_real *buf;      /* owned: every buffer, 64-byte aligned each */
};

/* An op's parameters, given to it before its shape rule runs. */
typedef struct gg_op_attrs {
    double attr[GG_MAX_ATTR];
    int iattr[GG_MAX_ATTR];
} gg_op_attrs;

/* Before gg_graph_build: the largest batch backward will run on (0 to
 * max_batch; 0: inference only, no activation gradients). Evaluation
 * batches larger than the training batch then cost no gradient memory. */
gg_status gg_graph_set_grad_batch(gg_graph *g, int n, gg_error *err);

/* Adds an op node; the builder functions of src/ops/ call this. */
gg_node *gg_graph_add_op(gg_graph *g, const gg_op_def *op, int n_in, gg_node *const *in);
/* The same for an op with parameters: they are in place when op->shape
 * runs, so the shape rule checks everything at once. */
gg_node *gg_graph_add_op_with(gg_graph *g, const gg_op_def *op, int n_in, gg_node *const *in,
                              const gg_op_attrs *attrs);
/* A parameter with explicit fans (a bias takes its weight's fan-in). */
gg_node *gg_param_fan(gg_graph *g, const char *name, int ndim, const int *dims, gg_init init,
                      double gain_or_scale, int fan_in, int fan_out);
/* Records the first error; later builders become no-ops. */
void gg_graph_set_error(gg_graph *g, gg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Shape helpers for op shape rules. */
gg_status gg_shape_same(gg_node *n, gg_error *err);   /* out = in[0] */
gg_status gg_shape_scalar(gg_node *n, gg_error *err); /* out = [1], unbatched */
/* A shape rule's output sizes from its first dimension and per, the
 * elements of each row along it: len = shape[0] per, per_sample = per when
 * batched (else len); x and dx cleared. */
void gg_tensor_sized(gg_tensor *t, size_t per);
/* "layers.3 (dense)" or the node name, for messages. */
const char *gg_node_label(const gg_node *n, char *buf, size_t cap);
/* "[64, 784]"-style shape text without the batch dimension. */
const char *gg_shape_text(const gg_tensor *t, char *buf, size_t cap);

/* Parameter initialisation (src/layers/init.c). */
void gg_init_param(gg_node *p, gg_rng *r);

/* Elements below which element-wise loops stay serial. */
#define GG_PAR_MIN 32768

/* Thread id's static share [lo, hi) of n elements among T threads, in
 * blocks of 16 so vector loads stay aligned. */
static inline void gg_thread_share(size_t n, int T, int id, size_t *lo, size_t *hi) {
    size_t per = ((n + (size_t)T - 1) / (size_t)T + 15) & ~(size_t)15;
    *lo = (size_t)id * per < n ? (size_t)id * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* GG_EACH(len, stmt): stmt for every i in [0, len), vectorised, and split
 * across threads only from GG_PAR_MIN elements up. Small tensors get a
 * plain simd loop: GCC does not vectorise the serial fallback of
 * `parallel for simd ... if()`, which cost a quarter of an MLP step. */
#define GG_EACH(len, ...)                                                         \
    do {                                                                          \
        if ((len) < GG_PAR_MIN) {                                                 \
            _Pragma("omp simd") for (size_t i = 0; i < (len); i++) __VA_ARGS__;   \
        } else {                                                                  \
            _Pragma("omp parallel for simd schedule(static)") for (size_t i = 0;  \
                                                                   i < (len); i++) \
                __VA_ARGS__;                                                      \
        }                                                                         \
    } while (0)

#endif
