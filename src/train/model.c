/* Model construction from the config, batch loading and evaluation. The
 * graph's activations are sized for the larger of the training and
 * evaluation batches, so evaluation allocates nothing either; gradients
 * only for the training batch (gg_model_new_sized). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layers/layers.h"
#include "train/model.h"

static bool label_loss(gg_loss_kind k) { return k == GG_LOSS_CROSS_ENTROPY; }

gg_status gg_model_new(const gg_config *c, int max_batch, gg_model **out, gg_error *err) {
    return gg_model_new_sized(c, max_batch, max_batch, out, err);
}

gg_status gg_model_new_sized(const gg_config *c, int max_batch, int train_batch, gg_model **out,
                             gg_error *err) {
    *out = NULL;
    gg_status s;
    gg_model *m = gg_alloc(sizeof *m, err);
    if (!m) return GG_ERR_NOMEM;
    if ((s = gg_config_copy(&m->cfg, c, err)) != GG_OK) goto fail;
    if (c->model.input_ndim < 1) {
        s = gg_fail(err, GG_ERR_CONFIG, "model.input: missing, expected the sample shape, e.g. [784]");
        goto fail;
    }
    if (c->model.n_layers < 1) {
        s = gg_fail(err, GG_ERR_CONFIG, "model.layers: empty, expected at least one layer");
        goto fail;
    }
    m->g = gg_graph_new(max_batch, c->seed);
    if (!m->g) {
        s = gg_fail(err, GG_ERR_NOMEM, "out of memory creating the graph");
        goto fail;
    }
    if ((s = gg_graph_set_grad_batch(m->g, train_batch, err)) != GG_OK) goto fail;
    m->input = gg_input(m->g, "input", c->model.input_ndim, c->model.input);
    gg_node *x = m->input;
    for (int i = 0; i < c->model.n_layers && x; i++)
        x = gg_layer_build(m->g, x, &c->model.layers[i], i, "");
    m->output = x;
    if (x) {
        m->outputs = x->out->per_sample;
        int tdims[GG_MAX_DIMS], tnd = x->out->ndim - 1;
        for (int i = 0; i < tnd; i++) tdims[i] = x->out->shape[i + 1];
        if (label_loss(c->loss)) tnd = 1, tdims[0] = 1;
        m->target = gg_input(m->g, "target", tnd, tdims);
        switch (c->loss) {
        case GG_LOSS_MSE: m->loss = gg_mse_loss(m->g, x, m->target); break;
        case GG_LOSS_BCE: m->loss = gg_bce_loss(m->g, x, m->target); break;
        case GG_LOSS_BCE_LOGITS: m->loss = gg_bce_logits_loss(m->g, x, m->target); break;
        case GG_LOSS_CROSS_ENTROPY: m->loss = gg_cross_entropy_loss(m->g, x, m->target); break;
        case GG_LOSS_SOFT_CROSS_ENTROPY:
            m->loss = gg_soft_cross_entropy_loss(m->g, x, m->target);
            break;
        }
    }
    if ((s = gg_graph_build(m->g, err)) != GG_OK) goto fail;
    *out = m;
    return GG_OK;
fail:
    gg_model_free(m);
    return s;
}

void gg_model_free(gg_model *m) {
    if (!m) return;
    gg_graph_free(m->g);
    gg_config_release(&m->cfg);
    free(m);
}

gg_graph *gg_model_graph(gg_model *m) { return m->g; }

gg_status gg_model_check_data(const gg_model *m, const gg_dataset *d, gg_error *err) {
    const gg_tensor *in = m->input->out;
    if (d->features != in->per_sample) {
        char sb[64];
        return gg_fail(err, GG_ERR_SHAPE,
                       "data set '%s' has samples of %zu values, model.input %s expects %zu",
                       d->name, d->features, gg_shape_text(in, sb, sizeof sb), in->per_sample);
    }
    if (label_loss(m->cfg.loss)) {
        if (d->classes <= 0 || d->targets != 1)
            return gg_fail(err, GG_ERR_CONFIG,
                           "loss: cross_entropy needs class labels, data set '%s' has %d target values",
                           d->name, d->targets);
        if ((size_t)d->classes > m->outputs)
            return gg_fail(err, GG_ERR_SHAPE,
                           "data set '%s' has %d classes, the model's last layer has %zu outputs",
                           d->name, d->classes, m->outputs);
    } else if ((size_t)d->targets != m->outputs) {
        return gg_fail(err, GG_ERR_SHAPE,
                       "data set '%s' has %d target values per sample, the model outputs %zu",
                       d->name, d->targets, m->outputs);
    }
    return GG_OK;
}

void gg_model_load_batch(gg_model *m, const gg_dataset *d, const uint32_t *idx, size_t first,
                         int n) {
    gg_graph_set_batch(m->g, n, NULL);
    gg_real *x = m->input->out->x, *y = m->target->out->x;
    size_t F = d->features, T = (size_t)d->targets;
    for (int i = 0; i < n; i++) {
        size_t r = idx ? idx[first + (size_t)i] : first + (size_t)i;
        memcpy(x + (size_t)i * F, d->x + r * F, F * sizeof *x);
        memcpy(y + (size_t)i * T, d->y + r * T, T * sizeof *y);
    }
}

/* Correct predictions in the current batch: argmax for several outputs, a
 * threshold (0.5 on probabilities, 0 on logits) for one. */
size_t gg_model_batch_correct(const gg_model *m, int n) {
    const gg_real *p = m->output->out->x, *t = m->target->out->x;
    size_t C = m->outputs, correct = 0;
    bool logits = m->cfg.loss == GG_LOSS_BCE_LOGITS;
    for (int i = 0; i < n; i++) {
        const gg_real *row = p + (size_t)i * C;
        double truth;
        size_t guess;
        if (C == 1) {
            guess = row[0] > (logits ? 0 : 0.5);
            truth = t[i] > 0.5;
        } else {
            guess = 0;
            for (size_t c = 1; c < C; c++)
                if (row[c] > row[guess]) guess = c;
            if (m->cfg.loss == GG_LOSS_CROSS_ENTROPY) {
                truth = t[i];
            } else {
                size_t best = 0;
                for (size_t c = 1; c < C; c++)
                    if (t[(size_t)i * C + c] > t[(size_t)i * C + best]) best = c;
                truth = (double)best;
            }
        }
        correct += (double)guess == truth;
    }
    return correct;
}

static void graph_forward(void *g, const gg_node *last) {
    (void)last;
    gg_graph_forward(g);
}

gg_status gg_model_evaluate(gg_model *m, const gg_dataset *d, gg_eval_result *res, gg_error *err) {
    return gg_model_evaluate_with(m, d, graph_forward, m->g, res, err);
}

gg_status gg_model_evaluate_with(gg_model *m, const gg_dataset *d, gg_forward_fn forward, void *ctx,
                                 gg_eval_result *res, gg_error *err) {
    memset(res, 0, sizeof *res);
    res->accuracy = NAN;
    res->loss = NAN;
    if (!d || d->n == 0) return GG_OK;
    gg_status s = gg_model_check_data(m, d, err);
    if (s != GG_OK) return s;
    bool was_training = m->g->training;
    gg_graph_set_training(m->g, 0);
    int B = m->cfg.train.eval_batch_size < m->g->max_batch ? m->cfg.train.eval_batch_size
                                                           : m->g->max_batch;
    double loss = 0;
    size_t correct = 0;
    bool classify = d->classes > 0;
    for (size_t first = 0; first < d->n; first += (size_t)B) {
        int n = (int)(d->n - first < (size_t)B ? d->n - first : (size_t)B);
        gg_model_load_batch(m, d, NULL, first, n);
        forward(ctx, m->loss);
        loss += (double)m->loss->out->x[0] * n;
        if (classify) correct += gg_model_batch_correct(m, n);
    }
    gg_graph_set_training(m->g, was_training);
    res->samples = d->n;
    res->loss = loss / (double)d->n;
    if (classify) res->accuracy = (double)correct / (double)d->n;
    return GG_OK;
}

gg_status gg_model_predict(gg_model *m, const gg_real *x, size_t n, gg_real *out, gg_error *err) {
    if (!m || !x || !out) return gg_fail(err, GG_ERR_ARG, "gg_model_predict: NULL argument");
    gg_model_predict_with(m, x, n, out, graph_forward, m->g);
    return GG_OK;
}

void gg_model_predict_with(gg_model *m, const gg_real *x, size_t n, gg_real *out,
                           gg_forward_fn forward, void *ctx) {
    bool was_training = m->g->training;
    gg_graph_set_training(m->g, 0);
    size_t F = m->input->out->per_sample, B = (size_t)m->g->max_batch;
    for (size_t first = 0; first < n; first += B) {
        int k = (int)(n - first < B ? n - first : B);
        gg_graph_set_batch(m->g, k, NULL);
        memcpy(m->input->out->x, x + first * F, (size_t)k * F * sizeof *x);
        forward(ctx, m->output);
        memcpy(out + first * m->outputs, m->output->out->x, (size_t)k * m->outputs * sizeof *out);
    }
    gg_graph_set_training(m->g, was_training);
}
