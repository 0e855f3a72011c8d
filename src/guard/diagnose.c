/* The diagnosis in plain words. The history it reads is kept every step at
 * O(parameters) cost: mean squared gradient norms per parameter over the
 * first window and as an exponential average of the recent steps, the
 * growth of the global norm within a sliding window, and the loss at the
 * start and lately. Each finding names the problem, the layer, the step,
 * the figure and the remedies that fit. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "guard/guard.h"
#include "ops/ops.h"

void gg_guard_record(gg_guard *gd, int64_t step, double loss, double norm) {
    (void)step;
    const double a = 1.0 / GG_DIAG_WINDOW;
    bool first = gd->first_n < GG_DIAG_WINDOW;
    if (isfinite(norm)) {
        for (int i = 0; i < gd->n_params; i++) {
            if (first) gd->sq_first[i] += (gd->param_sq[i] - gd->sq_first[i]) / (double)(gd->first_n + 1);
            gd->sq_recent[i] = gd->first_n == 0 ? gd->param_sq[i]
                                                : (1 - a) * gd->sq_recent[i] + a * gd->param_sq[i];
        }
        gd->first_n++;
        /* Growth within the window: this norm over the median of the ones
         * before it (the smallest would make one quiet batch look like an
         * explosion after it). */
        int n = (int)(gd->norm_ring_n < GG_DIAG_WINDOW ? gd->norm_ring_n : GG_DIAG_WINDOW);
        if (n >= GG_DIAG_WINDOW / 5) {
            double v[GG_DIAG_WINDOW];
            memcpy(v, gd->norm_ring, (size_t)n * sizeof *v);
            double med = gg_select_kth(v, n, n / 2);
            if (med > 0 && norm / med > gd->explode_ratio) {
                gd->explode_ratio = norm / med;
                gd->explode_step = step;
            }
        }
        gd->norm_ring[gd->norm_ring_n++ % GG_DIAG_WINDOW] = norm;
    }
    if (isfinite(loss)) {
        if (gd->loss_first_n < GG_DIAG_WINDOW) {
            gd->loss_first += (loss - gd->loss_first) / (double)(gd->loss_first_n + 1);
            gd->loss_recent = gd->loss_first;
        } else {
            gd->loss_recent = (1 - a) * gd->loss_recent + a * loss;
        }
        gd->loss_first_n++;
    }
}

typedef struct finding_sink {
    gg_event *out;
    int n, max;
    int64_t step;
} finding_sink;

static void say(finding_sink *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(finding_sink *f, const char *fmt, ...) {
    if (f->n >= f->max) return;
    gg_event *e = &f->out[f->n++];
    e->step = f->step;
    snprintf(e->kind, sizeof e->kind, "diagnosis");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* Weight parameters (2-D and up) in order: the layers gradients flow through. */
static int weight_params(const gg_guard *gd, int *idx) {
    int n = 0;
    for (int i = 0; i < gd->n_params; i++)
        if (gd->g->params[i]->out->ndim >= 2) idx[n++] = i;
    return n;
}

static void vanishing(const gg_guard *gd, finding_sink *f) {
    int idx[512], n = weight_params(gd, idx);
    if (n > 512) n = 512;
    if (n < 3 || gd->first_n == 0) return;
    double last = sqrt(gd->sq_recent[idx[n - 1]]);
    if (!(last > 0)) return;
    /* The deepest layer whose gradient is below 1e-4 of the last layer's:
     * everything before it barely learns. */
    int worst = -1;
    for (int k = n - 2; k >= 0; k--)
        if (sqrt(gd->sq_recent[idx[k]]) < 1e-4 * last) {
            worst = k;
            break;
        }
    if (worst < 0) return;
    const gg_node *p = gd->g->params[idx[worst]];
    double first = sqrt(gd->sq_recent[idx[0]]);
    say(f, "vanishing gradients: from %s back to the input, gradient norms are below 1e-4 of the "
           "last layer's (first layer %.2e vs last %.2e, ratio %.1e); those layers barely learn. "
           "Remedies: ReLU with He init, batch norm, residual connections, fewer layers",
        p->name, first, last, first / last);
}

/* Recurrent layers: the gradient reaching the first step of the sequence
 * against the last one (recorded by the op at each backward pass). */
static void through_time(const gg_guard *gd, finding_sink *f) {
    const gg_graph *g = gd->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const gg_node *n = g->nodes[i];
        if (n->op != &gg_op_recurrent || n->iattr[GG_REC_FLOW_COUNT] < 10) continue;
        double lg = n->attr[GG_REC_FLOW_LOG];
        int T = n->in[0]->shape[1];
        char label[GG_NAME_LEN + 32];
        gg_node_label(n, label, sizeof label);
        if (lg < -4)
            say(f, "vanishing gradients through time: in %s the gradient reaching the first of "
                   "its %d steps is %.1e of the one at the last step, so it cannot learn what "
                   "happened that far back. Remedies: lstm or gru instead of rnn, orthogonal "
                   "recurrent_init, shorter sequences",
                label, T, pow(10, lg));
        else if (lg > 4)
            say(f, "exploding gradients through time: in %s the gradient at the first of its %d "
                   "steps is %.1e times the one at the last step. Remedies: clipping "
                   "(guard.clip.mode: global_norm), a smaller recurrent init, lstm or gru",
                label, T, pow(10, lg));
    }
}

static void exploding(const gg_guard *gd, finding_sink *f) {
    if (gd->explode_ratio >= 100)
        say(f, "exploding gradients: the global gradient norm reached %.0fx the median of the %d "
               "steps before it, at step %lld. Remedies: clipping (guard.clip.mode: global_norm), a lower learning rate, "
               "warm-up, He/Xavier init, batch norm", gd->explode_ratio, GG_DIAG_WINDOW,
            (long long)gd->explode_step);
}

static void activations(const gg_guard *gd, finding_sink *f) {
    for (int k = 0; k < gd->n_act; k++) {
        const gg_layer_stats *s = &gd->lstats[k];
        if (s->dead_frac >= 0.5)
            say(f, "dead ReLUs: layers.%d (%s) has %.0f%% of its units inactive on a whole batch. "
                   "Remedies: a lower learning rate, leaky_relu or elu, He init, batch norm",
                s->layer, s->kind, 100 * s->dead_frac);
        if (s->saturated_frac >= 0.5)
            say(f, "saturation: %.0f%% of layers.%d (%s) outputs are saturated, where the derivative "
                   "is near 0. Remedies: Xavier init, smaller initial weights, ReLU, batch norm",
                100 * s->saturated_frac, s->layer, s->kind);
    }
}

int gg_guard_diagnose(gg_guard *gd, int64_t step, gg_event *out, int max) {
    finding_sink f = {.out = out, .max = max, .step = step};
    if (gd->nonfinite_total)
        say(&f, "non-finite values: %zu NaN/Inf gradient values, first at step %lld%s%s. Remedies: "
                "a lower learning rate, clipping, checking the data for NaN",
            gd->nonfinite_total, (long long)gd->nonfinite_first_step,
            gd->nonfinite_where[0] ? " in " : "", gd->nonfinite_where);
    exploding(gd, &f);
    vanishing(gd, &f);
    through_time(gd, &f);
    activations(gd, &f);
    const __typeof__(gd->cfg->optimizer) *o = &gd->cfg->optimizer;
    if (gd->loss_first_n > 2 * GG_DIAG_WINDOW) {
        if (!(gd->loss_recent < gd->loss_first))
            say(&f, "learning rate too high or the run diverging: the loss rose from %.4g (first %d "
                    "steps) to %.4g (recent). Remedies: lower optimizer.lr (now %g), warm-up, clipping",
                gd->loss_first, GG_DIAG_WINDOW, gd->loss_recent, o->lr);
        else if (gd->loss_recent > 0.99 * gd->loss_first && gd->explode_ratio < 100)
            say(&f, "stalled: the loss moved less than 1%% (from %.4g to %.4g). If gradients are "
                    "healthy, the learning rate (%g) may be too low; otherwise see the findings above",
                gd->loss_first, gd->loss_recent, o->lr);
    }
    if (gd->rollbacks)
        say(&f, "recovery: %lld rollbacks and %lld learning-rate cuts after %lld spikes. Remedies: "
                "a lower learning rate, longer warm-up, clipping",
            (long long)gd->rollbacks, (long long)gd->lr_cuts, (long long)gd->spikes);
    return f.n;
}
