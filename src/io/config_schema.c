/* The config schema: name tables, the key table (one row per YAML key, in
 * the order the writer emits them), the defaults of config.h, and deep copy.
 * A row's range is the only place a key's limits are stated: the loader,
 * --set and the error messages all read it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/config_schema.h"

_Static_assert(sizeof(gg_init) == sizeof(int) && sizeof(gg_layer_kind) == sizeof(int) &&
                   sizeof(gg_loss_kind) == sizeof(int) && sizeof(gg_optim_kind) == sizeof(int) &&
                   sizeof(gg_sched_kind) == sizeof(int) && sizeof(gg_clip_mode) == sizeof(int) &&
                   sizeof(gg_normalize) == sizeof(int) &&
                   sizeof(gg_nonfinite_policy) == sizeof(int),
               "enum fields are stored through int pointers");

/* ---- names ---------------------------------------------------------------- */

const gg_cfg_name gg_cfg_layer_kind_names[] = {
    {"dense", GG_LAYER_DENSE},   {"identity", GG_LAYER_IDENTITY},
    {"sigmoid", GG_LAYER_SIGMOID}, {"tanh", GG_LAYER_TANH},
    {"relu", GG_LAYER_RELU},     {"leaky_relu", GG_LAYER_LEAKY_RELU},
    {"elu", GG_LAYER_ELU},       {"softmax", GG_LAYER_SOFTMAX},
    {"prelu", GG_LAYER_PRELU},   {"conv2d", GG_LAYER_CONV2D},
    {"max_pool", GG_LAYER_MAX_POOL}, {"avg_pool", GG_LAYER_AVG_POOL},
    {"global_avg_pool", GG_LAYER_GLOBAL_AVG_POOL}, {"flatten", GG_LAYER_FLATTEN},
    {"last", GG_LAYER_LAST},     {"batch_norm", GG_LAYER_BATCH_NORM},
    {"layer_norm", GG_LAYER_LAYER_NORM}, {"dropout", GG_LAYER_DROPOUT},
    {"residual", GG_LAYER_RESIDUAL}, {"rnn", GG_LAYER_RNN},
    {"lstm", GG_LAYER_LSTM},     {"gru", GG_LAYER_GRU},
    {"linear", GG_LAYER_IDENTITY}, {"maxpool", GG_LAYER_MAX_POOL},
    {"avgpool", GG_LAYER_AVG_POOL}, {"batchnorm", GG_LAYER_BATCH_NORM},
    {"layernorm", GG_LAYER_LAYER_NORM}, {NULL, 0},
};

static const gg_cfg_name nonlin_names[] = {
    {"tanh", GG_NONLIN_TANH}, {"relu", GG_NONLIN_RELU}, {NULL, 0}};

const gg_cfg_name gg_cfg_init_names[] = {
    {"zeros", GG_INIT_ZEROS},
    {"ones", GG_INIT_ONES},
    {"uniform", GG_INIT_UNIFORM},
    {"normal", GG_INIT_NORMAL},
    {"xavier_uniform", GG_INIT_XAVIER_UNIFORM},
    {"xavier_normal", GG_INIT_XAVIER_NORMAL},
    {"he_uniform", GG_INIT_HE_UNIFORM},
    {"he_normal", GG_INIT_HE_NORMAL},
    {"torch_default", GG_INIT_TORCH_DEFAULT},
    {"orthogonal", GG_INIT_ORTHOGONAL},
    {"glorot_uniform", GG_INIT_XAVIER_UNIFORM},
    {"glorot_normal", GG_INIT_XAVIER_NORMAL},
    {"kaiming_uniform", GG_INIT_HE_UNIFORM},
    {"kaiming_normal", GG_INIT_HE_NORMAL},
    {NULL, 0},
};

static const gg_cfg_name stop_metric_names[] = {
    {"val_loss", GG_STOP_VAL_LOSS}, {"val_acc", GG_STOP_VAL_ACC}, {NULL, 0}};

static const gg_cfg_name prune_scope_names[] = {
    {"global", GG_PRUNE_GLOBAL}, {"layer", GG_PRUNE_LAYER}, {NULL, 0}};

static const gg_cfg_name loss_names[] = {
    {"mse", GG_LOSS_MSE},
    {"bce", GG_LOSS_BCE},
    {"bce_logits", GG_LOSS_BCE_LOGITS},
    {"cross_entropy", GG_LOSS_CROSS_ENTROPY},
    {"soft_cross_entropy", GG_LOSS_SOFT_CROSS_ENTROPY},
    {NULL, 0},
};

static const gg_cfg_name optim_names[] = {
    {"sgd", GG_OPTIM_SGD},   {"momentum", GG_OPTIM_MOMENTUM}, {"nesterov", GG_OPTIM_NESTEROV},
    {"adam", GG_OPTIM_ADAM}, {"adamw", GG_OPTIM_ADAMW},       {"adagrad", GG_OPTIM_ADAGRAD},
    {"rmsprop", GG_OPTIM_RMSPROP}, {NULL, 0},
};

static const gg_cfg_name sched_names[] = {
    {"constant", GG_SCHED_CONSTANT},
    {"step", GG_SCHED_STEP},
    {"multistep", GG_SCHED_MULTISTEP},
    {"exponential", GG_SCHED_EXPONENTIAL},
    {"linear", GG_SCHED_LINEAR},
    {"inverse", GG_SCHED_INVERSE},
    {"polynomial", GG_SCHED_POLYNOMIAL},
    {"onecycle", GG_SCHED_ONECYCLE},
    {"cosine", GG_SCHED_COSINE},
    {"plateau", GG_SCHED_PLATEAU},
    {NULL, 0},
};

static const gg_cfg_name clip_names[] = {
    {"none", GG_CLIP_MODE_NONE},       {"value", GG_CLIP_MODE_VALUE},
    {"norm", GG_CLIP_MODE_NORM},       {"global_norm", GG_CLIP_MODE_GLOBAL_NORM},
    {"agc", GG_CLIP_MODE_AGC},         {"autoclip", GG_CLIP_MODE_AUTOCLIP},
    {"zclip", GG_CLIP_MODE_ZCLIP},     {NULL, 0},
};

static const gg_cfg_name nonfinite_names[] = {
    {"skip", GG_NONFINITE_SKIP}, {"zero", GG_NONFINITE_ZERO}, {"error", GG_NONFINITE_ERROR},
    {NULL, 0},
};

static const gg_cfg_name normalize_names[] = {
    {"none", GG_NORMALIZE_NONE},
    {"scale", GG_NORMALIZE_SCALE},
    {"standardize", GG_NORMALIZE_STANDARDIZE},
    {"feature", GG_NORMALIZE_FEATURE},
    {NULL, 0},
};

const char *gg_cfg_name_of(const gg_cfg_name *names, int value) {
    for (const gg_cfg_name *e = names; e->name; e++)
        if (e->value == value) return e->name;
    return NULL;
}

bool gg_cfg_lookup(const gg_cfg_name *names, const char *name, size_t len, int *value) {
    for (const gg_cfg_name *e = names; e->name; e++) {
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0) {
            *value = e->value;
            return true;
        }
    }
    return false;
}

static const char *name_or_unknown(const gg_cfg_name *names, int value) {
    const char *s = gg_cfg_name_of(names, value);
    return s ? s : "unknown";
}

const char *gg_layer_kind_name(gg_layer_kind k) {
    return name_or_unknown(gg_cfg_layer_kind_names, (int)k);
}
const char *gg_init_name(gg_init i) { return name_or_unknown(gg_cfg_init_names, (int)i); }
const char *gg_loss_name(gg_loss_kind k) { return name_or_unknown(loss_names, (int)k); }
const char *gg_optim_name(gg_optim_kind k) { return name_or_unknown(optim_names, (int)k); }
const char *gg_sched_name(gg_sched_kind k) { return name_or_unknown(sched_names, (int)k); }
const char *gg_clip_mode_name(gg_clip_mode m) { return name_or_unknown(clip_names, (int)m); }

/* ---- the key table ---------------------------------------------------------
 * Rows of one section are contiguous (the writer opens each section once). */

#define C(m) offsetof(gg_config, m)
#define INF INFINITY
#define LO GG_CFG_LO_OPEN
#define HI GG_CFG_HI_OPEN
#define INT(p, m, l, h) {p, GG_CFG_INT, C(m), 0, 0, NULL, l, h, 0, 0, 0}
#define I64(p, m, l, h) {p, GG_CFG_INT64, C(m), 0, 0, NULL, l, h, 0, 0, 0}
#define REAL(p, m, l, h, f) {p, GG_CFG_REAL, C(m), 0, 0, NULL, l, h, f, 0, 0}
#define BOOL(p, m) {p, GG_CFG_BOOL, C(m), 0, 0, NULL, 0, 1, 0, 0, 0}
#define ENUM(p, m, names) {p, GG_CFG_ENUM, C(m), 0, 0, names, 0, 0, 0, 0, 0}

const gg_cfg_key gg_cfg_keys[] = {
    {"seed", GG_CFG_U64, C(seed), 0, 0, NULL, 0, INF, 0, 0, 0},

    {"data.dataset", GG_CFG_STRING, C(data.dataset), sizeof(((gg_config *)0)->data.dataset), 0,
     NULL, 0, 0, GG_CFG_DATASET, 0, 0},
    INT("data.validation", data.validation, 0, INF),
    {"data.normalize", GG_CFG_ENUM, C(data.normalize), 0, 0, normalize_names, 0, 0, 0, 0,
     GG_CFG_SET_NORMALIZE},
    BOOL("data.shuffle", data.shuffle),
    INT("data.samples", data.samples, 1, INF),
    INT("data.features", data.features, 1, INF),
    INT("data.targets", data.targets, 1, INF),
    REAL("data.test_fraction", data.test_fraction, 0, 1, HI),
    INT("data.length", data.length, 2, 100000),

    {"model.input", GG_CFG_LIST_INT, C(model.input), C(model.input_ndim), GG_MAX_DIMS, NULL, 1,
     INF, 0, 0, 0},
    {"model.layers", GG_CFG_LAYERS, C(model.layers), C(model.n_layers), GG_CFG_MAX_LAYERS, NULL,
     0, 0, 0, 0, 0},

    ENUM("loss", loss, loss_names),

    ENUM("optimizer.name", optimizer.name, optim_names),
    REAL("optimizer.lr", optimizer.lr, 0, INF, LO),
    {"optimizer.momentum", GG_CFG_REAL, C(optimizer.momentum), 0, 0, NULL, 0, 1, HI, 0,
     GG_CFG_SET_MOMENTUM},
    REAL("optimizer.dampening", optimizer.dampening, 0, 1, 0),
    BOOL("optimizer.nesterov", optimizer.nesterov),
    {"optimizer.weight_decay", GG_CFG_REAL, C(optimizer.weight_decay), 0, 0, NULL, 0, INF, 0, 0,
     GG_CFG_SET_WEIGHT_DECAY},
    REAL("optimizer.beta1", optimizer.beta1, 0, 1, HI),
    REAL("optimizer.beta2", optimizer.beta2, 0, 1, HI),
    {"optimizer.eps", GG_CFG_REAL, C(optimizer.eps), 0, 0, NULL, 0, INF, LO, 0, GG_CFG_SET_EPS},
    BOOL("optimizer.amsgrad", optimizer.amsgrad),
    REAL("optimizer.alpha", optimizer.alpha, 0, 1, 0),
    BOOL("optimizer.centered", optimizer.centered),
    REAL("optimizer.lr_decay", optimizer.lr_decay, 0, INF, 0),
    REAL("optimizer.initial_accumulator", optimizer.initial_accumulator, 0, INF, 0),
    REAL("optimizer.l1", optimizer.l1, 0, INF, 0),

    ENUM("schedule.name", schedule.name, sched_names),
    {"schedule.warmup_steps", GG_CFG_INT64, C(schedule.warmup_steps), 0, 0, NULL, 0, INF, 0, 0,
     GG_CFG_SET_WARMUP},
    REAL("schedule.warmup_start", schedule.warmup_start, 0, 1, 0),
    I64("schedule.step_size", schedule.step_size, 1, INF),
    {"schedule.gamma", GG_CFG_REAL, C(schedule.gamma), 0, 0, NULL, 0, INF, LO, 0,
     GG_CFG_SET_GAMMA},
    {"schedule.milestones", GG_CFG_LIST_I64, C(schedule.milestones), C(schedule.n_milestones),
     GG_MAX_MILESTONES, NULL, 1, INF, GG_CFG_INCREASING, 0, 0},
    REAL("schedule.alpha", schedule.alpha, 0, INF, 0),
    REAL("schedule.beta", schedule.beta, 0, INF, 0),
    REAL("schedule.power", schedule.power, 0, INF, LO),
    I64("schedule.total_steps", schedule.total_steps, 0, INF),
    REAL("schedule.min_lr", schedule.min_lr, 0, INF, 0),
    REAL("schedule.max_lr", schedule.max_lr, 0, INF, 0),
    REAL("schedule.pct_start", schedule.pct_start, 0, 1, 0),
    REAL("schedule.div_factor", schedule.div_factor, 0, INF, LO),
    REAL("schedule.final_div_factor", schedule.final_div_factor, 0, INF, LO),
    BOOL("schedule.three_phase", schedule.three_phase),
    BOOL("schedule.cycle_momentum", schedule.cycle_momentum),
    REAL("schedule.base_momentum", schedule.base_momentum, 0, 1, 0),
    REAL("schedule.max_momentum", schedule.max_momentum, 0, 1, 0),
    I64("schedule.restart_steps", schedule.restart_steps, 0, INF),
    REAL("schedule.restart_mult", schedule.restart_mult, 1, INF, 0),
    REAL("schedule.factor", schedule.factor, 0, 1, LO | HI),
    INT("schedule.patience", schedule.patience, 0, INF),
    REAL("schedule.threshold", schedule.threshold, 0, INF, 0),
    INT("schedule.cooldown", schedule.cooldown, 0, INF),

    BOOL("guard.enabled", guard.enabled),
    ENUM("guard.clip.mode", guard.clip.mode, clip_names),
    REAL("guard.clip.max_norm", guard.clip.max_norm, 0, INF, LO),
    REAL("guard.clip.norm_type", guard.clip.norm_type, 1, INF, GG_CFG_INF_OK),
    REAL("guard.clip.value", guard.clip.value, 0, INF, LO),
    REAL("guard.clip.agc_clip", guard.clip.agc_clip, 0, INF, LO),
    REAL("guard.clip.agc_eps", guard.clip.agc_eps, 0, INF, LO),
    {"guard.clip.exclude", GG_CFG_LIST_STR, C(guard.clip.exclude), C(guard.clip.n_exclude),
     GG_MAX_EXCLUDES, NULL, 0, 0, 0, 0, 0},
    REAL("guard.clip.percentile", guard.clip.percentile, 0, 100, LO),
    INT("guard.clip.history", guard.clip.history, 1, INF),
    REAL("guard.clip.z_threshold", guard.clip.z_threshold, 0, INF, LO),
    REAL("guard.clip.z_alpha", guard.clip.z_alpha, 0, 1, HI),
    INT("guard.clip.warmup", guard.clip.warmup, 0, INF),
    ENUM("guard.nonfinite", guard.nonfinite, nonfinite_names),
    INT("guard.monitor.every", guard.monitor.every, 0, INF),
    BOOL("guard.spike.enabled", guard.spike.enabled),
    INT("guard.spike.window", guard.spike.window, 1, INF),
    REAL("guard.spike.threshold", guard.spike.threshold, 0, INF, LO),
    INT("guard.spike.min_history", guard.spike.min_history, 1, INF),
    BOOL("guard.recover.enabled", guard.recover.enabled),
    INT("guard.recover.snapshot_every", guard.recover.snapshot_every, 1, INF),
    INT("guard.recover.max_attempts", guard.recover.max_attempts, 0, INF),
    REAL("guard.recover.lr_factor", guard.recover.lr_factor, 0, 1, LO),
    I64("guard.recover.warmup_steps", guard.recover.warmup_steps, 0, INF),
    BOOL("guard.backoff.enabled", guard.backoff.enabled),
    REAL("guard.backoff.threshold", guard.backoff.threshold, 0, INF, LO),
    REAL("guard.backoff.factor", guard.backoff.factor, 1, INF, 0),

    REAL("prune.sparsity", prune.sparsity, 0, 1, HI),
    REAL("prune.initial_sparsity", prune.initial_sparsity, 0, 1, HI),
    BOOL("prune.structured", prune.structured),
    ENUM("prune.scope", prune.scope, prune_scope_names),
    I64("prune.start_step", prune.start_step, 0, INF),
    I64("prune.end_step", prune.end_step, 0, INF),
    I64("prune.frequency", prune.frequency, 1, INF),

    I64("checkpoint.every_steps", checkpoint.every_steps, 0, INF),
    REAL("checkpoint.every_minutes", checkpoint.every_minutes, 0, INF, 0),
    INT("checkpoint.keep", checkpoint.keep, 1, 1000),

    INT("train.epochs", train.epochs, 1, INF),
    INT("train.batch_size", train.batch_size, 1, INF),
    I64("train.steps", train.steps, 0, INF),
    INT("train.threads", train.threads, 0, INF),
    INT("train.eval_batch_size", train.eval_batch_size, 1, INF),
    INT("train.early_stopping.patience", train.early_stopping.patience, 0, INF),
    ENUM("train.early_stopping.metric", train.early_stopping.metric, stop_metric_names),
    REAL("train.early_stopping.min_delta", train.early_stopping.min_delta, 0, INF, 0),
    BOOL("train.early_stopping.restore_best", train.early_stopping.restore_best),
};
const int gg_cfg_n_keys = (int)(sizeof gg_cfg_keys / sizeof gg_cfg_keys[0]);

#define L(m) offsetof(gg_layer_spec, m)
#define K(kind) (1u << GG_LAYER_##kind)
#define RECURRENT (K(RNN) | K(LSTM) | K(GRU))
#define WEIGHTED (K(DENSE) | K(CONV2D) | RECURRENT)
#define POOL (K(MAX_POOL) | K(AVG_POOL))
#define NORM (K(BATCH_NORM) | K(LAYER_NORM))
#define PAIR(name, m, lo, kinds) \
    {name, GG_CFG_LIST_INT, L(m), L(n_##m), 2, NULL, lo, INF, GG_CFG_NONEMPTY, kinds, 0}
const gg_cfg_key gg_cfg_layer_keys[] = {
    {"units", GG_CFG_INT, L(units), 0, 0, NULL, 1, INF, 0, K(DENSE) | RECURRENT, 0},
    {"filters", GG_CFG_INT, L(filters), 0, 0, NULL, 1, INF, 0, K(CONV2D), 0},
    PAIR("kernel", kernel, 1, K(CONV2D) | POOL),
    PAIR("stride", stride, 0, K(CONV2D) | POOL),
    PAIR("padding", padding, 0, K(CONV2D) | POOL),
    PAIR("dilation", dilation, 1, K(CONV2D)),
    {"nonlinearity", GG_CFG_ENUM, L(nonlinearity), 0, 0, nonlin_names, 0, 0, 0, K(RNN), 0},
    {"sequence", GG_CFG_BOOL, L(sequence), 0, 0, NULL, 0, 1, 0, RECURRENT, 0},
    {"bias", GG_CFG_BOOL, L(bias), 0, 0, NULL, 0, 1, 0, WEIGHTED, 0},
    {"init", GG_CFG_ENUM, L(init), 0, 0, gg_cfg_init_names, 0, 0, 0, WEIGHTED, 0},
    {"recurrent_init", GG_CFG_ENUM, L(recurrent_init), 0, 0, gg_cfg_init_names, 0, 0, 0,
     RECURRENT, 0},
    {"bias_init", GG_CFG_ENUM, L(bias_init), 0, 0, gg_cfg_init_names, 0, 0, 0, WEIGHTED, 0},
    {"gain", GG_CFG_REAL, L(gain), 0, 0, NULL, 0, INF, 0, WEIGHTED, 0},
    {"scale", GG_CFG_REAL, L(scale), 0, 0, NULL, 0, INF, 0, WEIGHTED, 0},
    {"slope", GG_CFG_REAL, L(slope), 0, 0, NULL, -INF, INF, 0, K(LEAKY_RELU) | K(PRELU), 0},
    {"per_channel", GG_CFG_BOOL, L(per_channel), 0, 0, NULL, 0, 1, 0, K(PRELU), 0},
    {"alpha", GG_CFG_REAL, L(alpha), 0, 0, NULL, 0, INF, 0, K(ELU), 0},
    {"momentum", GG_CFG_REAL, L(momentum), 0, 0, NULL, 0, 1, 0, K(BATCH_NORM), 0},
    {"eps", GG_CFG_REAL, L(eps), 0, 0, NULL, 0, INF, GG_CFG_LO_OPEN, NORM, 0},
    {"affine", GG_CFG_BOOL, L(affine), 0, 0, NULL, 0, 1, 0, NORM, 0},
    {"dims", GG_CFG_INT, L(dims), 0, 0, NULL, 1, GG_MAX_DIMS - 1, 0, K(LAYER_NORM), 0},
    {"p", GG_CFG_REAL, L(p), 0, 0, NULL, 0, 1, GG_CFG_HI_OPEN, K(DROPOUT), 0},
    {"layers", GG_CFG_LAYERS, L(children), L(n_children), GG_CFG_MAX_LAYERS, NULL, 0, 0, 0,
     K(RESIDUAL), 0},
};
const int gg_cfg_n_layer_keys = (int)(sizeof gg_cfg_layer_keys / sizeof gg_cfg_layer_keys[0]);

const gg_cfg_key *gg_cfg_find(const gg_cfg_key *keys, int n, const char *path, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(keys[i].path) == len && memcmp(keys[i].path, path, len) == 0) return &keys[i];
    return NULL;
}

/* ---- ranges ----------------------------------------------------------------- */

bool gg_cfg_in_range(const gg_cfg_key *k, double v) {
    if (isnan(v)) return false;
    if (isinf(v) && v > 0 && (k->flags & GG_CFG_INF_OK)) return true;
    if (!isfinite(v)) return false;
    if (k->flags & GG_CFG_LO_OPEN ? !(v > k->lo) : !(v >= k->lo)) return false;
    if (k->flags & GG_CFG_HI_OPEN ? !(v < k->hi) : !(v <= k->hi)) return false;
    return true;
}

/* "> 0", "in [0, 1)", "" for any number. */
static void describe_range(const gg_cfg_key *k, char *buf, size_t n) {
    bool lo = isfinite(k->lo), hi = isfinite(k->hi);
    bool lo_open = k->flags & GG_CFG_LO_OPEN, hi_open = k->flags & GG_CFG_HI_OPEN;
    if (lo && hi)
        snprintf(buf, n, " in %c%g, %g%c", lo_open ? '(' : '[', k->lo, k->hi, hi_open ? ')' : ']');
    else if (lo)
        snprintf(buf, n, " %s %g", lo_open ? ">" : ">=", k->lo);
    else if (hi)
        snprintf(buf, n, " %s %g", hi_open ? "<" : "<=", k->hi);
    else
        snprintf(buf, n, "%s", "");
}

void gg_cfg_describe(const gg_cfg_key *k, char *buf, size_t n) {
    char range[64];
    describe_range(k, range, sizeof range);
    switch (k->type) {
    case GG_CFG_INT:
    case GG_CFG_INT64:
    case GG_CFG_U64:
        snprintf(buf, n, "an integer%s", range);
        break;
    case GG_CFG_REAL:
        snprintf(buf, n, "a number%s%s", range, k->flags & GG_CFG_INF_OK ? " or inf" : "");
        break;
    case GG_CFG_BOOL:
        snprintf(buf, n, "true or false");
        break;
    case GG_CFG_STRING:
        snprintf(buf, n, "a data set (fashion-mnist, xor, random-binary, adding, idx:DIR, "
                         "csv:PATH)");
        break;
    case GG_CFG_ENUM: {
        size_t used = (size_t)snprintf(buf, n, "one of ");
        for (const gg_cfg_name *e = k->names; e->name && used < n; e++) {
            if (e != k->names && gg_cfg_name_of(k->names, e->value) != e->name) continue;
            used += (size_t)snprintf(buf + used, n - used, "%s%s", e == k->names ? "" : ", ",
                                     e->name);
        }
        break;
    }
    case GG_CFG_LIST_INT:
    case GG_CFG_LIST_I64:
        if (k->flags & GG_CFG_NONEMPTY) {
            snprintf(buf, n, "an integer%s or [height, width]", range);
            break;
        }
        snprintf(buf, n, "a list of up to %d integers%s%s", k->max_items, range,
                 k->flags & GG_CFG_INCREASING ? ", increasing" : "");
        break;
    case GG_CFG_LIST_STR:
        snprintf(buf, n, "a list of up to %d names of 1 to %d characters", k->max_items,
                 GG_NAME_LEN - 1);
        break;
    case GG_CFG_LAYERS:
        snprintf(buf, n, "a list of 1 to %d layers", GG_CFG_MAX_LAYERS);
        break;
    }
}

/* ---- defaults ----------------------------------------------------------------- */

double gg_cfg_default_scale(gg_init init) { return init == GG_INIT_NORMAL ? 0.01 : 1.0; }

void gg_cfg_layer_defaults(gg_layer_spec *l, gg_layer_kind kind) {
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->bias = 1;
    l->init = GG_INIT_TORCH_DEFAULT;
    l->bias_init = GG_INIT_TORCH_DEFAULT;
    l->scale = gg_cfg_default_scale(l->init);
    l->recurrent_init = GG_INIT_TORCH_DEFAULT;
    l->slope = kind == GG_LAYER_PRELU ? 0.25 : 0.01;
    l->alpha = 1.0;
    int k = kind == GG_LAYER_CONV2D ? 0 : 2; /* conv2d's kernel is required */
    l->kernel[0] = l->kernel[1] = k;
    l->n_kernel = k ? 1 : 0;
    l->stride[0] = l->stride[1] = kind == GG_LAYER_CONV2D ? 1 : 0;
    l->n_stride = 1;
    l->n_padding = 1;
    l->dilation[0] = l->dilation[1] = 1;
    l->n_dilation = 1;
    l->momentum = 0.1;
    l->eps = 1e-5;
    l->affine = 1;
    l->dims = 1;
    l->p = 0.5;
    l->nonlinearity = GG_NONLIN_TANH;
}

void gg_layers_release(gg_layer_spec *layers, int n) {
    for (int i = 0; i < n; i++) gg_layers_release(layers[i].children, layers[i].n_children);
    free(layers);
}

gg_layer_spec *gg_layers_copy(const gg_layer_spec *src, int n, gg_error *err) {
    size_t bytes;
    if (n <= 0) return NULL;
    if (!gg_size_mul((size_t)n, sizeof *src, &bytes)) {
        gg_fail(err, GG_ERR_NOMEM, "config copy: %d layers overflow", n);
        return NULL;
    }
    gg_layer_spec *dst = gg_alloc(bytes, err);
    if (!dst) return NULL;
    memcpy(dst, src, bytes);
    for (int i = 0; i < n; i++) dst[i].children = NULL;
    for (int i = 0; i < n; i++) {
        if (src[i].n_children <= 0) continue;
        dst[i].children = gg_layers_copy(src[i].children, src[i].n_children, err);
        if (!dst[i].children) {
            gg_layers_release(dst, n);
            return NULL;
        }
    }
    return dst;
}

void gg_cfg_resolve(gg_config *c, const gg_config *old) {
    unsigned set = c->explicit_keys;
    bool optim = !old || old->optimizer.name != c->optimizer.name;
    bool sched = !old || old->schedule.name != c->schedule.name;
    if (optim && !(set & GG_CFG_SET_MOMENTUM))
        c->optimizer.momentum = c->optimizer.name == GG_OPTIM_MOMENTUM ||
                                        c->optimizer.name == GG_OPTIM_NESTEROV
                                    ? 0.9
                                    : 0.0;
    if (optim && !(set & GG_CFG_SET_WEIGHT_DECAY))
        c->optimizer.weight_decay = c->optimizer.name == GG_OPTIM_ADAMW ? 0.01 : 0.0;
    /* The adding problem's inputs are values in [0, 1) and 0/1 markers:
     * standardising them would blur the markers. */
    bool data = !old || strcmp(old->data.dataset, c->data.dataset) != 0;
    if (data && !(set & GG_CFG_SET_NORMALIZE))
        c->data.normalize = !strcmp(c->data.dataset, "adding") ? GG_NORMALIZE_NONE
                                                               : GG_NORMALIZE_STANDARDIZE;
    if (optim && !(set & GG_CFG_SET_EPS))
        c->optimizer.eps = c->optimizer.name == GG_OPTIM_ADAGRAD ? 1e-10 : 1e-8;
    if (sched && !(set & GG_CFG_SET_GAMMA))
        c->schedule.gamma = c->schedule.name == GG_SCHED_EXPONENTIAL ||
                                    c->schedule.name == GG_SCHED_INVERSE
                                ? 0.999
                                : 0.1;
    /* The default cosine schedule warms up for 200 steps; a schedule named
     * by the user starts at once unless warmup_steps says otherwise. */
    if (sched && !(set & GG_CFG_SET_WARMUP))
        c->schedule.warmup_steps = c->schedule.name == GG_SCHED_COSINE ? 200 : 0;
}

void gg_config_init_defaults(gg_config *c) {
    memset(c, 0, sizeof *c);
    c->seed = 0;
    snprintf(c->data.dataset, sizeof c->data.dataset, "%s", "fashion-mnist");
    c->data.validation = 5000;
    c->data.normalize = GG_NORMALIZE_STANDARDIZE;
    c->data.shuffle = 1;
    c->data.samples = 100;
    c->data.features = 10;
    c->data.targets = 1;
    c->data.test_fraction = 0.2;
    c->data.length = 100;

    /* The built-in MLP: 784 -> dense 512 (He normal) -> relu -> dense 10. If the
     * three layers cannot be allocated, n_layers stays 0 (gg_config_new_default
     * checks). */
    c->model.input_ndim = 1;
    c->model.input[0] = 784;
    c->model.layers = gg_alloc(3 * sizeof *c->model.layers, NULL);
    if (c->model.layers) {
        c->model.n_layers = 3;
        gg_cfg_layer_defaults(&c->model.layers[0], GG_LAYER_DENSE);
        c->model.layers[0].units = 512;
        c->model.layers[0].init = GG_INIT_HE_NORMAL;
        gg_cfg_layer_defaults(&c->model.layers[1], GG_LAYER_RELU);
        gg_cfg_layer_defaults(&c->model.layers[2], GG_LAYER_DENSE);
        c->model.layers[2].units = 10;
    }

    c->loss = GG_LOSS_CROSS_ENTROPY;

    c->optimizer.name = GG_OPTIM_ADAM;
    c->optimizer.lr = 0.001;
    c->optimizer.dampening = 0;
    c->optimizer.nesterov = 0;
    c->optimizer.beta1 = 0.9;
    c->optimizer.beta2 = 0.999;
    c->optimizer.eps = 1e-8;
    c->optimizer.amsgrad = 0;
    c->optimizer.alpha = 0.99;
    c->optimizer.centered = 0;
    c->optimizer.lr_decay = 0;
    c->optimizer.initial_accumulator = 0;
    c->optimizer.l1 = 0;

    /* Cosine decay after 200 warm-up steps, as interfaces.md's example:
     * the default model gains half a point of accuracy over a constant lr. */
    c->schedule.name = GG_SCHED_COSINE;
    c->schedule.warmup_steps = 200;
    c->schedule.warmup_start = 0;
    c->schedule.step_size = 1000;
    c->schedule.n_milestones = 0;
    c->schedule.alpha = 1e-4;
    c->schedule.beta = 1.0;
    c->schedule.power = 1.0;
    c->schedule.total_steps = 0;
    c->schedule.min_lr = 0;
    c->schedule.max_lr = 0;
    c->schedule.pct_start = 0.3;
    c->schedule.div_factor = 25;
    c->schedule.final_div_factor = 1e4;
    c->schedule.three_phase = 0;
    c->schedule.cycle_momentum = 1;
    c->schedule.base_momentum = 0.85;
    c->schedule.max_momentum = 0.95;
    c->schedule.restart_steps = 0;
    c->schedule.restart_mult = 1;
    c->schedule.factor = 0.1;
    c->schedule.patience = 10;
    c->schedule.threshold = 1e-4;
    c->schedule.cooldown = 0;

    c->guard.enabled = 1;
    c->guard.clip.mode = GG_CLIP_MODE_GLOBAL_NORM;
    c->guard.clip.max_norm = 1.0;
    c->guard.clip.norm_type = 2;
    c->guard.clip.value = 1.0;
    c->guard.clip.agc_clip = 0.01;
    c->guard.clip.agc_eps = 1e-3;
    /* AGC leaves the classifier alone, as the NFNet paper does. */
    c->guard.clip.n_exclude = 1;
    snprintf(c->guard.clip.exclude[0], GG_NAME_LEN, "last");
    c->guard.clip.percentile = 10;
    c->guard.clip.history = 1000;
    c->guard.clip.z_threshold = 2.5;
    c->guard.clip.z_alpha = 0.97;
    c->guard.clip.warmup = 25;
    c->guard.nonfinite = GG_NONFINITE_SKIP;
    c->guard.monitor.every = 10;
    c->guard.spike.enabled = 1;
    c->guard.spike.window = 50;
    c->guard.spike.threshold = 4; /* noise deviations on the log scale (guard.c) */
    c->guard.spike.min_history = 8;
    c->guard.recover.enabled = 1;
    c->guard.recover.snapshot_every = 100;
    c->guard.recover.max_attempts = 5;
    c->guard.recover.lr_factor = 0.5;
    c->guard.recover.warmup_steps = 100;
    c->guard.backoff.enabled = 0;
    c->guard.backoff.threshold = 1.0;
    c->guard.backoff.factor = 10;

    c->prune.sparsity = 0;
    c->prune.initial_sparsity = 0;
    c->prune.structured = 0;
    c->prune.scope = GG_PRUNE_GLOBAL;
    c->prune.start_step = 0;
    c->prune.end_step = 0;
    c->prune.frequency = 100;

    c->checkpoint.every_steps = 0;
    c->checkpoint.every_minutes = 5;
    c->checkpoint.keep = 2;

    c->train.epochs = 10;
    c->train.batch_size = 64;
    c->train.steps = 0;
    c->train.threads = 0;
    c->train.eval_batch_size = 1000;
    c->train.early_stopping.patience = 0;
    c->train.early_stopping.metric = GG_STOP_VAL_LOSS;
    c->train.early_stopping.min_delta = 0;
    c->train.early_stopping.restore_best = 1;

    c->explicit_keys = 0;
    gg_cfg_resolve(c, NULL);
}

/* dst is overwritten, not released first. */
gg_status gg_config_copy(gg_config *dst, const gg_config *src, gg_error *err) {
    gg_status st = GG_OK;
    *dst = *src;
    dst->model.layers = NULL;
    dst->model.n_layers = 0;
    if (src->model.n_layers > 0) {
        dst->model.layers = gg_layers_copy(src->model.layers, src->model.n_layers, err);
        if (!dst->model.layers) return GG_ERR_NOMEM;
        dst->model.n_layers = src->model.n_layers;
    }
    return st;
}

void gg_config_release(gg_config *c) {
    if (!c) return;
    gg_layers_release(c->model.layers, c->model.n_layers);
    c->model.layers = NULL;
    c->model.n_layers = 0;
}

gg_config *gg_config_new_default(void) {
    gg_config *c = gg_alloc(sizeof *c, NULL);
    if (!c) return NULL;
    gg_config_init_defaults(c);
    if (c->model.n_layers == 0) { /* the default layers could not be allocated */
        free(c);
        return NULL;
    }
    return c;
}

void gg_config_free(gg_config *c) {
    gg_config_release(c);
    free(c);
}
