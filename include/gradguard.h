/* gradguard: train neural networks on the CPU that do not blow up.
 *
 * Two levels of API. The graph level builds a static graph of operations
 * (gg_graph, gg_node) whose shapes are checked once and whose memory is
 * allocated once; the model level (gg_config, gg_model, gg_dataset,
 * gg_trainer) builds such graphs from a config and trains them.
 *
 * Errors: every function that can fail returns a gg_status and fills a
 * caller-owned gg_error (NULL is allowed). The library never prints, exits
 * or aborts on bad input.
 *
 * Thread safety: the library keeps no global state that changes after
 * start-up, so different objects (configs, data sets, models, trainers)
 * may be used from different threads at once: two models trained in two
 * threads get the same bytes as trained one after the other
 * (tests/train/test_threads.c). One object must not be used from two
 * threads at once. gg_set_threads sets the calling thread's OpenMP thread
 * count and OpenBLAS's, which is process-wide: call it before starting
 * threads of your own. Kernels use OpenMP threads inside one call.
 */
#ifndef GRADGUARD_H
#define GRADGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef GG_FLOAT64
typedef double gg_real;
#else
typedef float gg_real;
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum gg_status {
    GG_OK = 0,
    GG_ERR_ARG,       /* a bad argument to a function */
    GG_ERR_CONFIG,    /* a bad config key or value */
    GG_ERR_DATA,      /* a bad or inconsistent data or model file */
    GG_ERR_SHAPE,     /* shapes that do not chain */
    GG_ERR_IO,        /* the system refused a read or a write */
    GG_ERR_NOMEM,     /* an allocation failed */
    GG_ERR_NONFINITE, /* a NaN or an Inf where a finite value is required */
    GG_ERR_DIVERGED   /* training diverged and recovery gave up */
} gg_status;

typedef struct gg_error {
    gg_status code;
    char msg[256];
} gg_error;

/* The word for a status: "ok", "arg", "config", ... */
const char *gg_status_name(gg_status s);
/* The library's version, "MAJOR.MINOR.PATCH". */
const char *gg_version(void);
/* Number of threads kernels use (OpenMP and BLAS); n <= 0 means all cores. */
void gg_set_threads(int n);
int gg_get_threads(void);

/* ---- graph level --------------------------------------------------------
 * Nodes are created by builder functions. Every tensor has a leading batch
 * dimension N (up to the graph's max batch) unless it is a parameter.
 * Builders never fail: a shape error is recorded in the graph and reported
 * by gg_graph_build, naming the node. */

typedef struct gg_graph gg_graph;
typedef struct gg_node gg_node;

typedef enum gg_init {
    GG_INIT_ZEROS,
    GG_INIT_ONES,
    GG_INIT_UNIFORM,        /* U(-a, a), a = scale: the naive one */
    GG_INIT_NORMAL,         /* N(0, scale^2) */
    GG_INIT_XAVIER_UNIFORM, /* U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) */
    GG_INIT_XAVIER_NORMAL,  /* N(0, gain^2 2 / (fan_in + fan_out)) */
    GG_INIT_HE_UNIFORM,     /* U(-b, b), b = gain sqrt(3 / fan_in) */
    GG_INIT_HE_NORMAL,      /* N(0, gain^2 / fan_in) */
    GG_INIT_TORCH_DEFAULT,  /* nn.Linear's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    GG_INIT_ORTHOGONAL,     /* a random orthogonal matrix times gain */
    GG_INIT_CONSTANT        /* every element = gain_or_scale (PReLU's 0.25) */
} gg_init;

gg_graph *gg_graph_new(int max_batch, uint64_t seed);
void gg_graph_free(gg_graph *g);

/* A batched input: per-sample shape dims[0..ndim-1]. */
gg_node *gg_input(gg_graph *g, const char *name, int ndim, const int *dims);
/* A trainable parameter of the given full shape, initialised by init with
 * gain (He/Xavier/orthogonal) or scale (uniform/normal). */
gg_node *gg_param(gg_graph *g, const char *name, int ndim, const int *dims,
                  gg_init init, double gain_or_scale);

/* Saved state that is not trained (batch norm's running statistics), every
 * element set to fill at build; integer marks a count written as I64. */
gg_node *gg_buffer(gg_graph *g, const char *name, int ndim, const int *dims, double fill,
                   int integer);

/* y = x W^T + b with x [N, in], W [out, in], b [out] or NULL. */
gg_node *gg_linear(gg_graph *g, gg_node *x, gg_node *w, gg_node *b);
gg_node *gg_identity(gg_graph *g, gg_node *x);
gg_node *gg_sigmoid(gg_graph *g, gg_node *x);
gg_node *gg_tanh(gg_graph *g, gg_node *x);
gg_node *gg_relu(gg_graph *g, gg_node *x);
gg_node *gg_leaky_relu(gg_graph *g, gg_node *x, double slope);
gg_node *gg_elu(gg_graph *g, gg_node *x, double alpha);
gg_node *gg_softmax(gg_graph *g, gg_node *x); /* over the last dimension */
gg_node *gg_add(gg_graph *g, gg_node *a, gg_node *b);
/* PReLU: max(0, x) + a min(0, x), a [1] shared or [C] per channel (dim 1). */
gg_node *gg_prelu(gg_graph *g, gg_node *x, gg_node *a);

/* Images are NCHW: x [N, C, H, W]. Pairs are {height, width}. */
/* conv2d: w [O, C, kh, kw], b [O] or NULL -> [N, O, H', W'] with
 * H' = (H + 2 pad - dil (kh - 1) - 1) / stride + 1, as nn.Conv2d. */
gg_node *gg_conv2d(gg_graph *g, gg_node *x, gg_node *w, gg_node *b, const int stride[2],
                   const int pad[2], const int dilation[2]);
/* Pooling windows as nn.MaxPool2d / nn.AvgPool2d (padding counted in the
 * average, count_include_pad = True; no ceil mode). */
gg_node *gg_max_pool2d(gg_graph *g, gg_node *x, const int kernel[2], const int stride[2],
                       const int pad[2]);
gg_node *gg_avg_pool2d(gg_graph *g, gg_node *x, const int kernel[2], const int stride[2],
                       const int pad[2]);
/* [N, C, H, W] -> [N, C]: the mean over each channel's plane. */
gg_node *gg_global_avg_pool(gg_graph *g, gg_node *x);
/* [N, d1, d2, ...] -> [N, d1 d2 ...]. */
gg_node *gg_flatten(gg_graph *g, gg_node *x);
/* [N, T, F] -> [N, F]: the last step of a sequence. */
gg_node *gg_last_step(gg_graph *g, gg_node *x);

/* Batch norm over dim 1 of [N, C] or [N, C, H, W] (nn.BatchNorm1d/2d):
 * gamma, beta [C] parameters (either may be NULL: affine off); running_mean,
 * running_var [C] and count [1] buffers. Training mode normalises with the
 * batch statistics and updates the running ones with momentum and the
 * unbiased variance; evaluation uses the running ones. */
gg_node *gg_batch_norm(gg_graph *g, gg_node *x, gg_node *gamma, gg_node *beta,
                       gg_node *running_mean, gg_node *running_var, gg_node *count,
                       double momentum, double eps);
/* Layer norm over the last `dims` dimensions (nn.LayerNorm(shape[-dims:]));
 * gamma, beta of that shape, or NULL. */
gg_node *gg_layer_norm(gg_graph *g, gg_node *x, gg_node *gamma, gg_node *beta, int dims,
                       double eps);
/* Inverted dropout: in training zeroes each element with probability p and
 * scales the rest by 1/(1-p), the mask drawn from the graph's seeded
 * generator; the identity in evaluation. */
gg_node *gg_dropout(gg_graph *g, gg_node *x, double p);

/* Recurrent layers over x [N, T, F] with zero initial state, PyTorch's
 * layouts and gate order: w_ih [G H, F], w_hh [G H, H], b_ih, b_hh [G H]
 * (either bias may be NULL) with G = 1 (RNN), 4 (LSTM: i, f, g, o),
 * 3 (GRU: r, z, n). Output [N, T, H] when sequence, else [N, H] (the last
 * step). Back-propagation through time over all T steps. */
typedef enum gg_cell {
    GG_CELL_RNN_TANH,
    GG_CELL_RNN_RELU,
    GG_CELL_LSTM,
    GG_CELL_GRU
} gg_cell;
gg_node *gg_recurrent(gg_graph *g, gg_node *x, gg_cell cell, gg_node *w_ih, gg_node *w_hh,
                      gg_node *b_ih, gg_node *b_hh, int sequence);

/* Losses: scalar mean over the batch. target is an input node. */
gg_node *gg_mse_loss(gg_graph *g, gg_node *pred, gg_node *target);
gg_node *gg_bce_loss(gg_graph *g, gg_node *prob, gg_node *target);
gg_node *gg_bce_logits_loss(gg_graph *g, gg_node *logits, gg_node *target);
/* target [N, 1] holds class indices 0..C-1 as reals. */
gg_node *gg_cross_entropy_loss(gg_graph *g, gg_node *logits, gg_node *target);
/* target [N, C] holds probabilities. */
gg_node *gg_soft_cross_entropy_loss(gg_graph *g, gg_node *logits, gg_node *target);

/* Checks every shape and allocates all memory (activations, gradients,
 * parameters as one flat block), then initialises the parameters. */
gg_status gg_graph_build(gg_graph *g, gg_error *err);
/* Sets the batch size for the next forward pass (1 <= n <= max batch). */
gg_status gg_graph_set_batch(gg_graph *g, int n, gg_error *err);
void gg_graph_forward(gg_graph *g);
/* Zeroes gradients, then back-propagates d(loss)/d(everything). */
void gg_graph_backward(gg_graph *g, gg_node *loss);
/* 1 in training mode (dropout on, batch statistics), 0 for evaluation. */
void gg_graph_set_training(gg_graph *g, int training);

/* Node access. data/grad point into the graph's arena (grad may be NULL for
 * nodes that need no gradient). len counts elements at the current batch. */
gg_real *gg_node_data(gg_node *n);
gg_real *gg_node_grad(gg_node *n);
size_t gg_node_len(const gg_node *n);
int gg_node_ndim(const gg_node *n);
int gg_node_dim(const gg_node *n, int i);
const char *gg_node_name(const gg_node *n);

/* Parameters, in creation order, as one flat block. */
int gg_graph_param_count(const gg_graph *g);
gg_node *gg_graph_param(gg_graph *g, int i);
gg_node *gg_graph_find_param(gg_graph *g, const char *name);
size_t gg_graph_param_len(const gg_graph *g); /* total elements */
int gg_graph_buffer_count(const gg_graph *g);
gg_node *gg_graph_buffer(gg_graph *g, int i);
gg_real *gg_graph_param_data(gg_graph *g);
gg_real *gg_graph_param_grad(gg_graph *g);

/* ---- config --------------------------------------------------------------
 * The YAML config of interfaces.md. Every key has a default. */

typedef struct gg_config gg_config;

gg_config *gg_config_new_default(void);
void gg_config_free(gg_config *c);
/* Reads a YAML file; errors name path:line:column and the key. */
gg_status gg_config_load_file(gg_config *c, const char *path, gg_error *err);
gg_status gg_config_load_string(gg_config *c, const char *yaml, gg_error *err);
/* Overrides one key by dotted path: "optimizer.lr", "model.layers.0.dense.units". */
gg_status gg_config_set(gg_config *c, const char *key, const char *value, gg_error *err);
/* Writes the fully resolved config as YAML. */
gg_status gg_config_write(const gg_config *c, FILE *f, gg_error *err);

/* ---- data ---------------------------------------------------------------- */

typedef struct gg_dataset gg_dataset;

typedef enum gg_split { GG_SPLIT_TRAIN, GG_SPLIT_VAL, GG_SPLIT_TEST } gg_split;

/* Loads the data set named by the config (fashion-mnist, idx:DIR, csv:PATH,
 * xor, random-binary) and prepares the splits: validation carved from the
 * training set, normalisation with training statistics only. */
gg_status gg_data_load(const gg_config *c, gg_dataset **train, gg_dataset **val,
                       gg_dataset **test, gg_error *err);
/* An in-memory data set: x [n, features] and y [n, targets] are copied. */
gg_dataset *gg_dataset_from_arrays(size_t n, int features, const gg_real *x, int targets,
                                   const gg_real *y, int classes);
void gg_dataset_free(gg_dataset *d);
size_t gg_dataset_size(const gg_dataset *d);

/* ---- model and training --------------------------------------------------- */

typedef struct gg_model gg_model;
typedef struct gg_trainer gg_trainer;

typedef struct gg_eval_result {
    double loss;
    double accuracy; /* fraction correct; NaN for regression losses */
    size_t samples;
} gg_eval_result;

/* Builds the model of c->model with its loss, for batches up to max_batch. */
gg_status gg_model_new(const gg_config *c, int max_batch, gg_model **out, gg_error *err);
/* The same, with gradient memory for training batches up to train_batch
 * only (<= max_batch; 0: an inference-only model): evaluation batches
 * larger than the training batch then cost activations alone. */
gg_status gg_model_new_sized(const gg_config *c, int max_batch, int train_batch, gg_model **out,
                             gg_error *err);
void gg_model_free(gg_model *m);
gg_graph *gg_model_graph(gg_model *m);
gg_status gg_model_evaluate(gg_model *m, const gg_dataset *d, gg_eval_result *res, gg_error *err);
/* Predicts outputs for n samples of x; out holds n * outputs values. */
gg_status gg_model_predict(gg_model *m, const gg_real *x, size_t n, gg_real *out, gg_error *err);
/* safetensors with PyTorch names (layers.{i}.weight ...); written atomically. */
gg_status gg_model_save(gg_model *m, const char *path, gg_error *err);
/* Loads weights, checking every name and shape. */
gg_status gg_model_load(gg_model *m, const char *path, gg_error *err);

typedef struct gg_step_info {
    int64_t step;    /* steps taken so far in the run, this one included */
    int epoch;       /* 0-based */
    double loss;
    double lr;
    double momentum;  /* set by one-cycle momentum cycling, else NaN */
    double grad_norm; /* global L2 norm before clipping */
    double clip_coef; /* factor applied to the gradient, 1 if none */
    size_t nonfinite; /* non-finite gradient elements (plus 1 if the loss was) */
    int samples;      /* in this step's batch */
    int correct;      /* of them classified right; -1 when the task is not classification */
    int skipped;      /* 1 if the update was not applied */
    int epoch_end;    /* 1 if this step finished an epoch */
    double sparsity;  /* pruning (config prune:): fraction of prunable weights at zero; else NaN */
} gg_step_info;

/* What the guard did or found at a step: kind is one of clip, skip,
 * nonfinite, spike, lr_cut, rollback, lr_backoff, plateau, snapshot,
 * diagnosis, gave_up. */
typedef struct gg_event {
    int64_t step;
    char kind[16];
    char message[512];
} gg_event;

/* Per-parameter statistics from the last monitored step. */
typedef struct gg_param_stats {
    const char *name;
    double grad_norm, grad_max, weight_norm;
    double update_ratio; /* ||w_after - w_before|| / ||w_before|| */
    size_t nonfinite;
} gg_param_stats;

/* Per-activation-layer statistics from the last monitored step. */
typedef struct gg_layer_stats {
    int layer;
    const char *kind;      /* relu, sigmoid, tanh, ... */
    double dead_frac;      /* ReLU family: units at <= 0 for the whole batch */
    double saturated_frac; /* |tanh| > 0.99, sigmoid < 0.01 or > 0.99 */
} gg_layer_stats;

gg_status gg_trainer_new(gg_model *m, const gg_config *c, const gg_dataset *train,
                         gg_trainer **out, gg_error *err);
void gg_trainer_free(gg_trainer *t);
/* One optimisation step on the next batch. Allocates nothing. Fails with
 * GG_ERR_NONFINITE (guard.nonfinite: error) naming the first parameter
 * whose gradient went non-finite; the model is left as it was. */
gg_status gg_trainer_step(gg_trainer *t, gg_step_info *info, gg_error *err);
/* The current epoch's running totals: mean loss over finite losses, and
 * accuracy (NaN when not classifying); part of a checkpoint. */
typedef struct gg_epoch_totals {
    double loss_sum;
    int64_t samples, finite_samples, correct;
} gg_epoch_totals;
const gg_epoch_totals *gg_trainer_epoch_totals(const gg_trainer *t);
/* Steps taken in the run so far, and whole epochs done. */
int64_t gg_trainer_step_count(const gg_trainer *t);
int gg_trainer_epoch(const gg_trainer *t);
/* Steps per epoch (the last batch may be smaller). */
int64_t gg_trainer_steps_per_epoch(const gg_trainer *t);
/* The events of the last step; valid until the next step. */
int gg_trainer_events(const gg_trainer *t, const gg_event **events);
/* Statistics of the last monitored step (guard.monitor.every). */
int gg_trainer_param_stats(const gg_trainer *t, const gg_param_stats **stats);
int gg_trainer_layer_stats(const gg_trainer *t, const gg_layer_stats **stats);
/* The plain-words diagnosis of the run so far: up to max findings, each an
 * event of kind "diagnosis" naming the problem, the layer, the step, the
 * figure and the remedies. Returns how many were written. */
int gg_trainer_diagnose(gg_trainer *t, gg_event *out, int max);
/* Checkpoints: the whole training state (weights, optimiser state, step,
 * epoch and position, generator, schedule and guard state, the config and
 * CRC-32s of the data), written atomically; loading checks all of it and
 * leaves the trainer untouched when it refuses the file. */
gg_status gg_trainer_save(gg_trainer *t, const char *path, gg_error *err);
gg_status gg_trainer_load(gg_trainer *t, const char *path, gg_error *err);
/* The config a checkpoint was written with, and its step. */
gg_status gg_checkpoint_config(const char *path, gg_config *c, int64_t *step, gg_error *err);
/* Feeds an epoch's validation loss to reduce-on-plateau; 1 if it cut the lr. */
int gg_trainer_end_epoch(gg_trainer *t, double val_loss);
/* Early stopping (train.early_stopping): records an epoch's validation
 * metrics, keeping a copy of the best epoch's weights; 1 once patience
 * epochs have passed without an improvement of more than min_delta. */
int gg_trainer_early_stop(gg_trainer *t, double val_loss, double val_acc);
/* Puts back the best epoch's weights (when restore_best is on); returns
 * that epoch (1-based), or 0 when there is none to restore. */
int gg_trainer_restore_best(gg_trainer *t);

/* ---- compression (docs/compression.md) ------------------------------------
 *
 * ---- pruning -------------------------------------------------------------
 * Magnitude pruning of the weights of a model: every parameter of two or
 * more dimensions (dense, conv2d, residual projection and recurrent weight
 * matrices); never biases, norm or PReLU parameters. A pruner keeps one
 * mask per weight and applies it after every optimiser step, so pruned
 * weights stay exactly zero through fine-tuning.
 *
 * Unstructured: single weights of least |w|. Structured: whole output
 * units (rows of a dense weight) or conv filters, of least L2 norm (RMS
 * when rows of different layers compete, scope global); the model's last
 * prunable weight (the output layer, whose rows are the model's outputs)
 * is never pruned structurally, and every weight keeps at least one row.
 * Scope layer: every weight reaches the sparsity; global: one threshold
 * over all of them, so the total reaches it.
 *
 * Sparsity is counted over the prunable weights. Unstructured pruning
 * reaches it exactly: round(s n) weights are zero (ties at the threshold
 * broken by position). Structured pruning reaches round(s rows) rows per
 * layer, or globally the closest whole rows. */
typedef enum gg_prune_scope { GG_PRUNE_GLOBAL, GG_PRUNE_LAYER } gg_prune_scope;

typedef struct gg_prune_spec {
    double sparsity;         /* final fraction of prunable weights that are zero, [0, 1) */
    double initial_sparsity; /* gradual: the sparsity at start_step, 0 */
    int structured;          /* 0: single weights; 1: output units and conv filters */
    gg_prune_scope scope;    /* GG_PRUNE_GLOBAL (default) or GG_PRUNE_LAYER */
    /* Gradual pruning (Zhu and Gupta 2017): from start_step to end_step
     * the target is s_f + (s_i - s_f) (1 - (t - start) / (end - start))^3,
     * the masks recomputed every `frequency` steps; s_f from end_step on. */
    int64_t start_step, end_step, frequency;
} gg_prune_spec;

/* sparsity 0, initial 0, unstructured, global, start 0, end 0, frequency 100. */
void gg_prune_spec_default(gg_prune_spec *s);
/* The schedule's target sparsity after `step` steps. */
double gg_prune_target(const gg_prune_spec *s, int64_t step);

typedef struct gg_pruner gg_pruner;

/* Per-weight figures: elements, zero elements (masked or exactly zero),
 * rows (output units or filters) and rows wholly zero. */
typedef struct gg_prune_stats {
    const char *name; /* the parameter's name, "layers.0.weight" */
    size_t total, zeros;
    int rows, zero_rows;
    int prunable; /* 0 for the output layer under structured pruning */
} gg_prune_stats;

/* A pruner for m's weights (m is borrowed and must outlive it); all masks
 * start at one. Fails with GG_ERR_ARG for a sparsity outside [0, 1), a bad
 * schedule or a model without weights. */
gg_status gg_pruner_new(gg_model *m, const gg_prune_spec *spec, gg_pruner **out, gg_error *err);
void gg_pruner_free(gg_pruner *p);
/* One-shot: recomputes every mask for `sparsity` from the current weights
 * and applies them; the masks then stay fixed (gg_prune_step only applies
 * them). */
gg_status gg_pruner_prune(gg_pruner *p, double sparsity, gg_error *err);
/* For training loops, after each optimiser step (`step` = steps taken so
 * far): recomputes the masks when the schedule says so (at start_step +
 * k frequency up to end_step, and once at or after end_step; an end_step
 * <= start_step prunes to the final sparsity at start_step), then applies
 * them (pruned weights back to exactly zero). Pruned weights are zeroed
 * before a recomputation, so masks only grow while the target does.
 * Returns 1 when the masks were recomputed. Allocates nothing. */
int gg_prune_step(gg_pruner *p, int64_t step);
/* Applies the masks: every pruned weight set to zero. */
void gg_pruner_apply(gg_pruner *p);
/* For a resumed run (masks are not saved; pruned weights are exactly
 * zero): the masks from the weights that are zero now, and the schedule's
 * position after `step` steps. */
void gg_pruner_restore(gg_pruner *p, int64_t step);
/* Statistics of every weight (stats valid until the next call); returns
 * their count. */
int gg_pruner_stats(gg_pruner *p, const gg_prune_stats **stats);
/* Fraction of prunable weights that are zero, over all of them. */
double gg_pruner_sparsity(gg_pruner *p);
/* Fraction of prunable weights the masks hold at zero (kept up to date
 * when masks change, so it costs nothing to read every step). */
double gg_pruner_masked(const gg_pruner *p);
/* The trainer's pruner (the config's prune: section), NULL when it does
 * not prune. */
gg_pruner *gg_trainer_pruner(const gg_trainer *t);

/* ---- int8 quantisation -------------------------------------------------
 * Post-training, symmetric int8 per output channel for the weights of
 * dense and conv2d layers (scale = max |w| / 127, q = round(w / scale));
 * activations entering those layers quantised per tensor to 7-bit unsigned
 * values with a zero point, their range calibrated on a sample of the
 * training set. Batch norm after a conv/dense layer is folded into its
 * output scale and shift; a ReLU after it is fused. docs/compression.md
 * has the file format. */
typedef struct gg_qmodel gg_qmodel;

/* Quantises m (unchanged): weights per channel, then the activation ranges
 * from up to calib_samples rows of calib (0 = 2000), for batches up to
 * max_batch. */
gg_status gg_quantize(gg_model *m, const gg_dataset *calib, int calib_samples, int max_batch,
                      gg_qmodel **out, gg_error *err);
void gg_qmodel_free(gg_qmodel *q);
/* Writes the int8 safetensors file (atomically). */
gg_status gg_qmodel_save(gg_qmodel *q, const char *path, gg_error *err);
/* Reads an int8 file, checking every name, dtype, shape and value; c is
 * the model's config, or NULL for the file's own (its metadata). */
gg_status gg_qmodel_load(const char *path, const gg_config *c, int max_batch, gg_qmodel **out,
                         gg_error *err);
gg_status gg_qmodel_evaluate(gg_qmodel *q, const gg_dataset *d, gg_eval_result *res,
                             gg_error *err);
gg_status gg_qmodel_predict(gg_qmodel *q, const gg_real *x, size_t n, gg_real *out,
                            gg_error *err);
/* The float model holding the dequantised weights (q * scale): the same
 * graph run in float, for comparisons. Owned by q. */
gg_model *gg_qmodel_float(gg_qmodel *q);
/* 1 when the safetensors file at path is an int8 model (its metadata says
 * gradguard_quantization: int8), 0 when it is not, -1 when it cannot be
 * read (err filled). */
int gg_file_is_quantized(const char *path, gg_error *err);
/* The int8 matrix-product kernel in use: "avx512-vnni", "avx512bw",
 * "avx2" or "portable" (chosen at run time; GG_INT8_KERNEL overrides). */
const char *gg_int8_kernel(void);

#ifdef __cplusplus
}
#endif
#endif
