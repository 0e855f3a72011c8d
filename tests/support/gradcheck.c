/* Central differences, (L(x + h) - L(x - h)) / 2h, against backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
double gg_gradcheck_tol(void) { return 1e-6; }
double gg_gradcheck_step(void) { return 1e-6; }
#else
double gg_gradcheck_tol(void) { return 2e-2; }
double gg_gradcheck_step(void) { return 1e-2; }
#endif

static double loss_at(gg_graph *g, gg_node *loss) {
    gg_graph_forward(g);
    return loss->out->x[0];
}

void gg_gradcheck(gg_graph *g, gg_node *loss, double h, gg_gradcheck_result *out) {
    memset(out, 0, sizeof *out);
    gg_graph_forward(g);
    gg_graph_backward(g, loss);
    gg_real *analytic = malloc(g->param_len * sizeof *analytic);
    memcpy(analytic, g->grad, g->param_len * sizeof *analytic);
    double total = 0;
    for (int p = 0; p < g->n_params; p++) {
        gg_tensor *t = g->params[p]->out;
        if (strncmp(g->params[p]->name, "const", 5) == 0) continue;
        const gg_real *a = analytic + g->params[p]->offset;
        double diff = 0, na = 0, nn = 0;
        for (size_t i = 0; i < t->len; i++) {
            gg_real keep = t->x[i];
            t->x[i] = keep + (gg_real)h;
            double up = loss_at(g, loss);
            t->x[i] = keep - (gg_real)h;
            double down = loss_at(g, loss);
            t->x[i] = keep;
            double num = (up - down) / (2 * h);
            diff += (a[i] - num) * (a[i] - num);
            na += (double)a[i] * a[i];
            nn += num * num;
            double abs_err = fabs(a[i] - num);
            if (abs_err > out->max_abs_err) out->max_abs_err = abs_err;
        }
        total += na;
        double rel = (na + nn) > 0 ? sqrt(diff) / (sqrt(na) + sqrt(nn)) : 0;
        if (rel >= out->max_rel_err) {
            out->max_rel_err = rel;
            snprintf(out->worst, sizeof out->worst, "%s", g->params[p]->name);
        }
    }
    out->grad_norm = sqrt(total);
    gg_graph_forward(g);
    free(analytic);
}
