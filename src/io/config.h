/* The resolved configuration: every key of interfaces.md's YAML with its
 * default, as plain C fields. config.c fills it from YAML and --set through
 * one schema table, and writes it back; nothing else parses YAML. */
#ifndef GG_CONFIG_H
#define GG_CONFIG_H

#include <stdint.h>
#include "gradguard.h"

#define GG_MAX_DIMS 4
#define GG_MAX_MILESTONES 16
#define GG_MAX_EXCLUDES 8
#define GG_NAME_LEN 64

typedef enum gg_layer_kind {
    GG_LAYER_DENSE,
    GG_LAYER_IDENTITY,
    GG_LAYER_SIGMOID,
    GG_LAYER_TANH,
    GG_LAYER_RELU,
    GG_LAYER_LEAKY_RELU,
    GG_LAYER_ELU,
    GG_LAYER_SOFTMAX,
    GG_LAYER_PRELU,
    GG_LAYER_CONV2D,
    GG_LAYER_MAX_POOL,
    GG_LAYER_AVG_POOL,
    GG_LAYER_GLOBAL_AVG_POOL,
    GG_LAYER_FLATTEN,
    GG_LAYER_LAST,
    GG_LAYER_BATCH_NORM,
    GG_LAYER_LAYER_NORM,
    GG_LAYER_DROPOUT,
    GG_LAYER_RESIDUAL,
    GG_LAYER_RNN,
    GG_LAYER_LSTM,
    GG_LAYER_GRU,
    GG_LAYER_KIND_COUNT
} gg_layer_kind;

typedef enum gg_nonlinearity { GG_NONLIN_TANH, GG_NONLIN_RELU } gg_nonlinearity;

/* One entry of model.layers. Fields a kind does not use keep defaults. */
typedef struct gg_layer_spec {
    gg_layer_kind kind;
    int units;         /* dense, rnn/lstm/gru: output features (required, >= 1) */
    int bias;          /* dense, conv2d, recurrent: 1 (default) adds a bias */
    gg_init init;      /* weight init, default GG_INIT_TORCH_DEFAULT */
    gg_init bias_init; /* default GG_INIT_TORCH_DEFAULT */
    gg_init recurrent_init; /* rnn/lstm/gru weight_hh init, default torch_default */
    double gain;       /* He/Xavier/orthogonal gain; 0 = the init's default */
    double scale;      /* uniform: a of U(-a, a) (default 1); normal: std (default 0.01) */
    double slope;      /* leaky_relu negative slope 0.01; prelu initial slope 0.25 */
    double alpha;      /* elu alpha, default 1.0 */
    int filters;       /* conv2d output channels (required) */
    /* {height, width} pairs; a count of 1 means a square value. */
    int kernel[2], n_kernel;     /* conv2d (required), pools (2) */
    int stride[2], n_stride;     /* conv2d 1; pools 0 = the kernel */
    int padding[2], n_padding;   /* 0 */
    int dilation[2], n_dilation; /* conv2d 1 */
    double momentum;   /* batch_norm running-statistics momentum, 0.1 */
    double eps;        /* batch_norm, layer_norm: 1e-5 */
    int affine;        /* batch_norm, layer_norm: learned scale and shift, 1 */
    int dims;          /* layer_norm: trailing dimensions normalised, 1 */
    double p;          /* dropout probability, 0.5 */
    int per_channel;   /* prelu: one slope per channel (dim 1), 0 */
    gg_nonlinearity nonlinearity; /* rnn: tanh */
    int sequence;      /* recurrent: 1 returns every step [T, H], 0 the last [H] */
    int n_children;    /* residual: the block's layers */
    struct gg_layer_spec *children; /* owned */
    int line, col;     /* where the entry was written (0 if from defaults) */
} gg_layer_spec;

typedef enum gg_normalize {
    GG_NORMALIZE_NONE,        /* values as stored */
    GG_NORMALIZE_SCALE,       /* divide by the training split's max |x| (pixels -> [0, 1]) */
    GG_NORMALIZE_STANDARDIZE, /* (x - mean) / std over all training features */
    GG_NORMALIZE_FEATURE      /* per-feature (x - mean_j) / std_j */
} gg_normalize;

typedef enum gg_loss_kind {
    GG_LOSS_MSE,
    GG_LOSS_BCE,
    GG_LOSS_BCE_LOGITS,
    GG_LOSS_CROSS_ENTROPY,     /* integer labels, fused log-softmax */
    GG_LOSS_SOFT_CROSS_ENTROPY /* probability targets */
} gg_loss_kind;

typedef enum gg_optim_kind {
    GG_OPTIM_SGD,      /* momentum and nesterov keys as torch.optim.SGD */
    GG_OPTIM_MOMENTUM, /* sgd with momentum (default 0.9) */
    GG_OPTIM_NESTEROV, /* sgd with nesterov momentum (default 0.9) */
    GG_OPTIM_ADAM,
    GG_OPTIM_ADAMW,
    GG_OPTIM_ADAGRAD,  /* torch.optim.Adagrad */
    GG_OPTIM_RMSPROP   /* torch.optim.RMSprop (momentum, centered) */
} gg_optim_kind;

typedef enum gg_sched_kind {
    GG_SCHED_CONSTANT,
    GG_SCHED_STEP,        /* lr * gamma^(t / step_size) */
    GG_SCHED_MULTISTEP,   /* lr * gamma^(milestones passed) */
    GG_SCHED_EXPONENTIAL, /* lr * gamma^t */
    GG_SCHED_LINEAR,      /* seeds: lr (1 - alpha t), floored at min_lr */
    GG_SCHED_INVERSE,     /* seeds: lr gamma^t / (gamma^t + beta) */
    GG_SCHED_POLYNOMIAL,  /* lr (1 - t/T)^power */
    GG_SCHED_ONECYCLE,    /* torch OneCycleLR */
    GG_SCHED_COSINE,      /* CosineAnnealingLR, or WarmRestarts when restart_steps > 0 */
    GG_SCHED_PLATEAU      /* ReduceLROnPlateau on the validation loss, per epoch */
} gg_sched_kind;

typedef enum gg_clip_mode {
    GG_CLIP_MODE_NONE,
    GG_CLIP_MODE_VALUE,
    GG_CLIP_MODE_NORM,
    GG_CLIP_MODE_GLOBAL_NORM,
    GG_CLIP_MODE_AGC,
    GG_CLIP_MODE_AUTOCLIP,
    GG_CLIP_MODE_ZCLIP
} gg_clip_mode;

typedef enum gg_stop_metric { GG_STOP_VAL_LOSS, GG_STOP_VAL_ACC } gg_stop_metric;

typedef enum gg_nonfinite_policy {
    GG_NONFINITE_SKIP,
    GG_NONFINITE_ZERO,
    GG_NONFINITE_ERROR
} gg_nonfinite_policy;

struct gg_config {
    uint64_t seed; /* 0 */

    struct {
        char dataset[1024]; /* fashion-mnist | idx:DIR | csv:PATH | xor | random-binary */
        int validation;     /* samples carved from the training set, 5000 */
        gg_normalize normalize; /* standardize */
        int shuffle;        /* 1 */
        int samples;        /* random-binary: 100 */
        int features;       /* random-binary: 10 */
        int targets;        /* csv: trailing target columns, 1 */
        double test_fraction; /* csv/built-in tasks with no test file: 0.2 */
        int length;         /* adding: sequence length T, 100 */
    } data;

    struct {
        int input_ndim;          /* 0 = take the data set's shape */
        int input[GG_MAX_DIMS];
        int n_layers;
        gg_layer_spec *layers;   /* owned */
    } model;

    gg_loss_kind loss; /* cross_entropy */

    struct {
        gg_optim_kind name; /* adam */
        double lr;          /* 0.001 */
        double momentum;    /* 0 for sgd, 0.9 for momentum/nesterov */
        double dampening;   /* 0 */
        int nesterov;       /* 0 */
        double weight_decay; /* 0 (L2 for sgd/adam; decoupled for adamw, default 0.01) */
        double beta1, beta2; /* 0.9, 0.999 */
        double eps;          /* 1e-8 */
        int amsgrad;         /* 0 */
        double alpha;        /* rmsprop smoothing constant, 0.99 */
        int centered;        /* rmsprop 0 */
        double lr_decay;     /* adagrad 0 */
        double initial_accumulator; /* adagrad initial_accumulator_value 0 */
        double l1;           /* L1 penalty: l1 * sign(w) added to the gradient, 0 */
    } optimizer;

    struct {
        gg_sched_kind name;  /* cosine */
        int64_t warmup_steps; /* 200 for cosine, else 0: linear warm-up from warmup_start * lr */
        double warmup_start;  /* 0 */
        int64_t step_size;    /* step: 1000 */
        double gamma;         /* step/multistep/exponential 0.1 ... exponential 0.999, inverse 0.999 */
        int n_milestones;
        int64_t milestones[GG_MAX_MILESTONES];
        double alpha;         /* linear: 1e-4 */
        double beta;          /* inverse: 1.0 */
        double power;         /* polynomial: 1.0 */
        int64_t total_steps;  /* polynomial/onecycle/cosine T; 0 = the run's length */
        double min_lr;        /* floor for linear/cosine (eta_min), plateau min_lr; 0 */
        double max_lr;        /* onecycle: 0 = 10 * lr */
        double pct_start;     /* onecycle 0.3 */
        double div_factor;    /* onecycle 25 */
        double final_div_factor; /* onecycle 1e4 */
        int three_phase;      /* onecycle 0 */
        int cycle_momentum;   /* onecycle 1 */
        double base_momentum, max_momentum; /* 0.85, 0.95 */
        int64_t restart_steps; /* cosine: T_0 of warm restarts, 0 = none */
        double restart_mult;  /* cosine: T_mult 1 */
        double factor;        /* plateau 0.1 */
        int patience;         /* plateau 10 */
        double threshold;     /* plateau 1e-4, relative */
        int cooldown;         /* plateau 0 */
    } schedule;

    struct {
        int enabled; /* 1: the whole guard; 0 turns every part off */
        struct {
            gg_clip_mode mode; /* global_norm */
            double max_norm;   /* 1.0 */
            double norm_type;  /* 2; INFINITY for "inf" */
            double value;      /* value mode: 1.0 */
            double agc_clip;   /* agc lambda, 0.01 */
            double agc_eps;    /* agc eps, 1e-3 */
            int n_exclude;
            char exclude[GG_MAX_EXCLUDES][GG_NAME_LEN]; /* agc: param-name prefixes; "last" = output layer; default [last] */
            double percentile; /* autoclip 10 */
            int history;       /* autoclip window 1000 */
            double z_threshold; /* zclip 2.5 */
            double z_alpha;     /* zclip EMA factor 0.97 */
            int warmup;         /* zclip: norms collected before clipping starts, 25 */
        } clip;
        gg_nonfinite_policy nonfinite; /* skip */
        struct {
            int every; /* 10; 0 = off */
        } monitor;
        struct {
            int enabled;      /* 1 */
            int window;       /* 50 */
            double threshold; /* noise deviations (log scale) above the median to spike, 4 */
            int min_history;  /* 8 */
        } spike;
        struct {
            int enabled;          /* 1 */
            int snapshot_every;   /* 100 good steps */
            int max_attempts;     /* 5 */
            double lr_factor;     /* 0.5 */
            int64_t warmup_steps; /* 100 */
        } recover;
        struct {
            int enabled;      /* 0 */
            double threshold; /* grad-norm bound, 1.0 */
            double factor;    /* divide lr by 10 */
        } backoff;
    } guard;

    /* Gradual magnitude pruning while training (Zhu and Gupta 2017,
     * docs/compression.md); sparsity 0 turns it off. */
    struct {
        double sparsity;         /* final fraction of prunable weights at zero, 0 = off */
        double initial_sparsity; /* at start_step, 0 */
        int structured;          /* 0: single weights; 1: output units and conv filters */
        int scope;               /* gg_prune_scope: global (default) or layer */
        int64_t start_step;      /* 0 */
        int64_t end_step;        /* 0 = three quarters of the run */
        int64_t frequency;       /* masks recomputed every N steps, 100 */
    } prune;

    struct {
        int64_t every_steps;  /* 0 = off; a checkpoint every N steps */
        double every_minutes; /* 5; 0 = off; a checkpoint when this long has passed */
        int keep;             /* 2: the newest checkpoints kept */
    } checkpoint;             /* also written at every epoch end and on SIGINT/SIGTERM */

    struct {
        int epochs;        /* 10 */
        int batch_size;    /* 64 */
        int64_t steps;     /* 0 = no limit */
        int threads;       /* 0 = all cores */
        int eval_batch_size; /* 1000 */
        struct {
            int patience;     /* 0 = off; epochs without improvement before stopping */
            int metric;       /* gg_stop_metric: val_loss (default) or val_acc */
            double min_delta; /* an improvement must beat the best by this much, 0 */
            int restore_best; /* 1: end with the best epoch's weights */
        } early_stopping;
    } train;

    /* config.c's own bookkeeping: which name-dependent keys (optimizer.momentum,
     * optimizer.weight_decay, schedule.gamma) were given explicitly, so a later
     * file or --set that changes the name refills only the others. */
    unsigned explicit_keys;
};

/* Layer-kind names as written in YAML ("dense", "relu", ...). */
const char *gg_layer_kind_name(gg_layer_kind k);
const char *gg_init_name(gg_init i);
const char *gg_loss_name(gg_loss_kind k);
const char *gg_optim_name(gg_optim_kind k);
const char *gg_sched_name(gg_sched_kind k);
const char *gg_clip_mode_name(gg_clip_mode m);

/* Fills c with every default (model: the default 784-512-10 MLP). */
void gg_config_init_defaults(gg_config *c);
/* Deep copy; returns GG_ERR_NOMEM on failure. */
gg_status gg_config_copy(gg_config *dst, const gg_config *src, gg_error *err);
void gg_config_release(gg_config *c); /* frees owned fields, not c */

#endif
