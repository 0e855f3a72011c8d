/* Recurrent layers (src/ops/recurrent.c): finite-difference checks of
 * back-propagation through time (>= 20 steps) for every cell, sequence and
 * last-step outputs, with and without biases, for the input and every
 * weight; the first step's input gradient checked on its own so that a
 * wrong long-range term cannot hide under the recent steps' larger ones;
 * exact values against hand computation; batched input against the same
 * data held as a parameter, smaller batches, thread counts; shape errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
#define EXACT 1e-12
#else
#define EXACT 2e-6
#endif

static int gates(gg_cell c) { return c == GG_CELL_LSTM ? 4 : c == GG_CELL_GRU ? 3 : 1; }
static const char *cell_str(gg_cell c) {
    return c == GG_CELL_LSTM ? "lstm" : c == GG_CELL_GRU ? "gru" : c == GG_CELL_RNN_RELU ? "rnn-relu" : "rnn-tanh";
}

typedef struct net {
    gg_graph *g;
    gg_node *x, *w_ih, *w_hh, *b_ih, *b_hh, *y, *target, *loss;
} net;

/* x [N, T, F] as a parameter (so it gets a gradient) or a batched input,
 * one recurrent layer, MSE against a random target. */
static net make_net(gg_cell cell, int N, int T, int F, int H, int bias_ih, int bias_hh,
                    int seq, int batched_x, int max_batch) {
    net s = {0};
    int G = gates(cell);
    s.g = gg_graph_new(max_batch, 7);
    s.x = batched_x ? gg_input(s.g, "x", 2, (int[]){T, F})
                    : gg_param(s.g, "x", 3, (int[]){N, T, F}, GG_INIT_ZEROS, 0);
    s.w_ih = gg_param(s.g, "w_ih", 2, (int[]){G * H, F}, GG_INIT_ZEROS, 0);
    s.w_hh = gg_param(s.g, "w_hh", 2, (int[]){G * H, H}, GG_INIT_ZEROS, 0);
    s.b_ih = bias_ih ? gg_param(s.g, "b_ih", 1, (int[]){G * H}, GG_INIT_ZEROS, 0) : NULL;
    s.b_hh = bias_hh ? gg_param(s.g, "b_hh", 1, (int[]){G * H}, GG_INIT_ZEROS, 0) : NULL;
    s.y = gg_recurrent(s.g, s.x, cell, s.w_ih, s.w_hh, s.b_ih, s.b_hh, seq);
    if (batched_x)
        s.target = seq ? gg_input(s.g, "t", 2, (int[]){T, H}) : gg_input(s.g, "t", 1, (int[]){H});
    else
        s.target = seq ? gg_param(s.g, "const_target", 3, (int[]){N, T, H}, GG_INIT_ZEROS, 0)
                       : gg_param(s.g, "const_target", 2, (int[]){N, H}, GG_INIT_ZEROS, 0);
    s.loss = gg_mse_loss(s.g, s.y, s.target);
    gg_error err = {0};
    if (gg_graph_build(s.g, &err) != GG_OK) fail_msg("build: %s", err.msg);
    return s;
}

/* x in +-0.5, weights in +-wscale, biases in [blo, 0.5]; each gate block
 * of w_hh also gets ident times the identity (as IRNN's init), so that the gradient
 * neither vanishes nor explodes over 20 steps and the first step's share
 * of it stays measurable. */
static void fill_net(net *s, uint64_t seed, double wscale, double ident, double blo) {
    gg_test_fill(gg_node_data(s->x), gg_node_len(s->x), seed, -0.5, 0.5);
    gg_test_fill(gg_node_data(s->w_ih), gg_node_len(s->w_ih), seed + 1, -wscale, wscale);
    gg_test_fill(gg_node_data(s->w_hh), gg_node_len(s->w_hh), seed + 2, -wscale, wscale);
    int H = gg_node_dim(s->w_hh, 1), GH = gg_node_dim(s->w_hh, 0);
    if (ident)
        for (int r = 0; r < GH; r++) gg_node_data(s->w_hh)[r * H + r % H] += (gg_real)ident;
    if (s->b_ih) gg_test_fill(gg_node_data(s->b_ih), gg_node_len(s->b_ih), seed + 3, blo, 0.5);
    if (s->b_hh) gg_test_fill(gg_node_data(s->b_hh), gg_node_len(s->b_hh), seed + 4, blo, 0.5);
    gg_test_fill(gg_node_data(s->target), gg_node_len(s->target), seed + 5, -1, 1);
}

static double sum_abs(const gg_real *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)v[i]);
    return s;
}

static double loss_at(net *s) {
    gg_graph_forward(s->g);
    return gg_node_data(s->loss)[0];
}

/* Finite differences for x[:, 0, :] (the first step) alone, to fourth order
 * ((8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / 12h) so that the small
 * gradient reaching the first step is measured well above rounding
 * (h 1e-3; 1e-4 for ReLU, whose kinks a larger step would cross):
 * relative norm error of the analytic gradient, and its norm relative to
 * the whole of dx. */
static void first_step_check(net *s, int N, int T, int F, double h, double *rel,
                             double *share) {
    gg_graph_forward(s->g);
    gg_graph_backward(s->g, s->loss);
    gg_real *x = gg_node_data(s->x), *dx = gg_node_grad(s->x);
    double diff = 0, na = 0, nn = 0;
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            size_t i = (size_t)n * T * F + (size_t)f;
            double a = dx[i], l[4];
            gg_real keep = x[i];
            const double at[4] = {h, -h, 2 * h, -2 * h};
            for (int k = 0; k < 4; k++) {
                x[i] = (gg_real)(keep + at[k]);
                l[k] = loss_at(s);
            }
            x[i] = keep;
            double num = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h);
            diff += (a - num) * (a - num);
            na += a * a;
            nn += num * num;
        }
    double all = 0;
    for (size_t i = 0; i < gg_node_len(s->x); i++) all += (double)dx[i] * dx[i];
    *rel = sqrt(diff) / (sqrt(na) + sqrt(nn) + 1e-300);
    *share = sqrt(na / all);
}

static void check_gradients(gg_cell cell, int seq, int bias_ih, int bias_hh, uint64_t seed) {
    enum { N = 3, T = 20, F = 3, H = 4 };
    net s = make_net(cell, N, T, F, H, bias_ih, bias_hh, seq, 0, N);
    /* ReLU: a milder identity, and biases in [0.1, 0.5] so that units stay
     * alive to the last step. */
    if (cell == GG_CELL_RNN_RELU)
        fill_net(&s, seed, 0.5, 0.5, 0.1);
    else
        fill_net(&s, seed, 0.5, 1, -0.5);
    gg_gradcheck_result r;
    gg_gradcheck(s.g, s.loss, gg_gradcheck_step(), &r);
    print_message("%-8s seq %d bias %d%d: max rel err %.3g (%s), grad norm %.3g\n",
                  cell_str(cell), seq, bias_ih, bias_hh, r.max_rel_err, r.worst, r.grad_norm);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("%s: relative error %g in %s", cell_str(cell), r.max_rel_err, r.worst);
    /* Every tensor gets a gradient that is not all zeros. */
    gg_node *ps[5] = {s.x, s.w_ih, s.w_hh, s.b_ih, s.b_hh};
    for (int k = 0; k < 5; k++)
        if (ps[k] && sum_abs(gg_node_grad(ps[k]), gg_node_len(ps[k])) < 1e-6)
            fail_msg("%s: gradient of %s is all zeros", cell_str(cell), gg_node_name(ps[k]));
    /* Back-propagation through all T steps: the first step's input gets a
     * gradient, and the right one. */
    double rel, share;
#ifdef GG_FLOAT64
    double h = cell == GG_CELL_RNN_RELU ? 1e-4 : 1e-3;
#else
    double h = 1e-2;
#endif
    first_step_check(&s, N, T, F, h, &rel, &share);
    print_message("%-8s first step: rel err %.3g, share of |dx| %.3g\n", cell_str(cell), rel,
                  share);
    assert_true(share > 1e-6);
#ifndef GG_FLOAT64
    /* float's differences resolve only a first step that carries a fair share */
    if (share < 1e-2) rel = 0;
#endif
    if (rel > gg_gradcheck_tol()) fail_msg("first step's dx: relative error %g", rel);
    gg_graph_free(s.g);
}

#define GRAD_TESTS(nm, cell, seed)                                                         \
    static void test_##nm##_sequence_bptt_matches_finite_differences(void **st) {          \
        (void)st;                                                                           \
        check_gradients(cell, 1, 1, 1, seed);                                               \
    }                                                                                       \
    static void test_##nm##_last_step_bptt_matches_finite_differences(void **st) {         \
        (void)st;                                                                           \
        check_gradients(cell, 0, 1, 1, seed + 10);                                          \
    }                                                                                       \
    static void test_##nm##_without_biases_matches_finite_differences(void **st) {         \
        (void)st;                                                                           \
        check_gradients(cell, 1, 0, 0, seed + 20);                                          \
        check_gradients(cell, 0, 0, 0, seed + 30);                                          \
    }                                                                                       \
    static void test_##nm##_with_one_bias_matches_finite_differences(void **st) {          \
        (void)st;                                                                           \
        check_gradients(cell, 0, 1, 0, seed + 40);                                          \
        check_gradients(cell, 1, 0, 1, seed + 50);                                          \
    }
GRAD_TESTS(rnn_tanh, GG_CELL_RNN_TANH, 100)
GRAD_TESTS(rnn_relu, GG_CELL_RNN_RELU, 200)
GRAD_TESTS(lstm, GG_CELL_LSTM, 300)
GRAD_TESTS(gru, GG_CELL_GRU, 400)

/* Two recurrent layers stacked and one sharing the input: gradients flow
 * from one recurrent op into another and accumulate (+=) into x. */
static void test_stacked_and_shared_layers_match_finite_differences(void **st) {
    (void)st;
    enum { N = 2, T = 20, F = 2, H = 3 };
    gg_graph *g = gg_graph_new(N, 3);
    gg_node *x = gg_param(g, "x", 3, (int[]){N, T, F}, GG_INIT_ZEROS, 0);
    gg_node *w1 = gg_param(g, "l1.w_ih", 2, (int[]){4 * H, F}, GG_INIT_ZEROS, 0);
    gg_node *u1 = gg_param(g, "l1.w_hh", 2, (int[]){4 * H, H}, GG_INIT_ZEROS, 0);
    gg_node *b1 = gg_param(g, "l1.b_hh", 1, (int[]){4 * H}, GG_INIT_ZEROS, 0);
    gg_node *w2 = gg_param(g, "l2.w_ih", 2, (int[]){3 * H, H}, GG_INIT_ZEROS, 0);
    gg_node *u2 = gg_param(g, "l2.w_hh", 2, (int[]){3 * H, H}, GG_INIT_ZEROS, 0);
    gg_node *c2 = gg_param(g, "l2.b_ih", 1, (int[]){3 * H}, GG_INIT_ZEROS, 0);
    gg_node *w3 = gg_param(g, "l3.w_ih", 2, (int[]){H, F}, GG_INIT_ZEROS, 0);
    gg_node *u3 = gg_param(g, "l3.w_hh", 2, (int[]){H, H}, GG_INIT_ZEROS, 0);
    gg_node *t = gg_param(g, "const_t", 2, (int[]){N, H}, GG_INIT_ZEROS, 0);
    gg_node *h1 = gg_recurrent(g, x, GG_CELL_LSTM, w1, u1, NULL, b1, 1);
    gg_node *h2 = gg_recurrent(g, h1, GG_CELL_GRU, w2, u2, c2, NULL, 0);
    gg_node *h3 = gg_recurrent(g, x, GG_CELL_RNN_TANH, w3, u3, NULL, NULL, 0);
    gg_node *loss = gg_mse_loss(g, gg_add(g, h2, h3), t);
    gg_error err = {0};
    if (gg_graph_build(g, &err) != GG_OK) fail_msg("build: %s", err.msg);
    for (int i = 0; i < gg_graph_param_count(g); i++) {
        gg_node *p = gg_graph_param(g, i);
        gg_test_fill(gg_node_data(p), gg_node_len(p), 50 + (uint64_t)i, p == x || p == t ? -1 : -0.6,
                     p == x || p == t ? 1 : 0.6);
    }
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    print_message("stacked: max rel err %.3g (%s)\n", r.max_rel_err, r.worst);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

/* ---- exact values ----------------------------------------------------------- */

static double sig(double v) { return 1 / (1 + exp(-v)); }

/* One sample, F = 2, H = 2: the pre-activation of gate k, unit j. */
static double pre(const gg_real *w, const gg_real *b, const gg_real *x, int row) {
    return (double)w[row * 2] * x[0] + (double)w[row * 2 + 1] * x[1] + (b ? (double)b[row] : 0);
}

static net tiny(gg_cell cell, int T, int seq) {
    net s = make_net(cell, 1, T, 2, 2, 1, 1, seq, 1, 1);
    int G = gates(cell);
    gg_real *wi = gg_node_data(s.w_ih), *wh = gg_node_data(s.w_hh);
    gg_real *bi = gg_node_data(s.b_ih), *bh = gg_node_data(s.b_hh), *x = gg_node_data(s.x);
    for (int i = 0; i < 2 * G * 2; i++) wi[i] = (gg_real)(0.1 * (i % 7) - 0.3);
    for (int i = 0; i < 2 * G * 2; i++) wh[i] = (gg_real)(0.05 * (i % 5) - 0.1);
    for (int i = 0; i < G * 2; i++) bi[i] = (gg_real)(0.02 * i - 0.05);
    for (int i = 0; i < G * 2; i++) bh[i] = (gg_real)(0.2 - 0.03 * i);
    for (int i = 0; i < 2 * T; i++) x[i] = (gg_real)(i % 2 ? -0.7 - 0.1 * i : 0.9 + 0.2 * i);
    gg_graph_forward(s.g);
    return s;
}

static void test_rnn_one_step_is_exact(void **st) {
    (void)st;
    for (int relu = 0; relu < 2; relu++) {
        net s = tiny(relu ? GG_CELL_RNN_RELU : GG_CELL_RNN_TANH, 1, 0);
        const gg_real *wi = gg_node_data(s.w_ih), *bi = gg_node_data(s.b_ih);
        const gg_real *bh = gg_node_data(s.b_hh), *x = gg_node_data(s.x), *y = gg_node_data(s.y);
        for (int j = 0; j < 2; j++) {
            double v = pre(wi, bi, x, j) + bh[j];
            assert_near(y[j], relu ? fmax(v, 0) : tanh(v), EXACT);
        }
        gg_graph_free(s.g);
    }
}

static void test_lstm_one_step_is_exact(void **st) {
    (void)st;
    net s = tiny(GG_CELL_LSTM, 1, 0);
    const gg_real *wi = gg_node_data(s.w_ih), *bi = gg_node_data(s.b_ih);
    const gg_real *bh = gg_node_data(s.b_hh), *x = gg_node_data(s.x), *y = gg_node_data(s.y);
    for (int j = 0; j < 2; j++) {
        double i = sig(pre(wi, bi, x, j) + bh[j]);
        double g = tanh(pre(wi, bi, x, 4 + j) + bh[4 + j]);
        double o = sig(pre(wi, bi, x, 6 + j) + bh[6 + j]);
        /* f multiplies c_{-1} = 0 */
        assert_near(y[j], o * tanh(i * g), EXACT);
    }
    gg_graph_free(s.g);
}

static void test_gru_one_step_is_exact(void **st) {
    (void)st;
    net s = tiny(GG_CELL_GRU, 1, 1);
    const gg_real *wi = gg_node_data(s.w_ih), *bi = gg_node_data(s.b_ih);
    const gg_real *bh = gg_node_data(s.b_hh), *x = gg_node_data(s.x), *y = gg_node_data(s.y);
    for (int j = 0; j < 2; j++) {
        double r = sig(pre(wi, bi, x, j) + bh[j]);
        double z = sig(pre(wi, bi, x, 2 + j) + bh[2 + j]);
        /* b_hn sits inside r * (W_hn h + b_hn), h = 0 */
        double n = tanh(pre(wi, bi, x, 4 + j) + r * bh[4 + j]);
        assert_near(y[j], (1 - z) * n, EXACT);
    }
    gg_graph_free(s.g);
}

/* Two steps: the recurrent weight's term, by hand, for every cell. */
static void test_two_steps_are_exact(void **st) {
    (void)st;
    gg_cell cells[4] = {GG_CELL_RNN_TANH, GG_CELL_RNN_RELU, GG_CELL_LSTM, GG_CELL_GRU};
    for (int k = 0; k < 4; k++) {
        gg_cell cell = cells[k];
        int G = gates(cell);
        net s = tiny(cell, 2, 1);
        const gg_real *wi = gg_node_data(s.w_ih), *wh = gg_node_data(s.w_hh);
        const gg_real *bi = gg_node_data(s.b_ih), *bh = gg_node_data(s.b_hh);
        const gg_real *x = gg_node_data(s.x), *y = gg_node_data(s.y);
        double h[2] = {0, 0}, c[2] = {0, 0};
        for (int t = 0; t < 2; t++) {
            double a[4][2], u[4][2]; /* input and hidden parts per gate */
            for (int q = 0; q < G; q++)
                for (int j = 0; j < 2; j++) {
                    int row = q * 2 + j;
                    a[q][j] = pre(wi, bi, x + 2 * t, row);
                    u[q][j] = wh[row * 2] * h[0] + wh[row * 2 + 1] * h[1] + bh[row];
                }
            double hn[2];
            for (int j = 0; j < 2; j++) {
                if (cell == GG_CELL_RNN_TANH) hn[j] = tanh(a[0][j] + u[0][j]);
                else if (cell == GG_CELL_RNN_RELU) hn[j] = fmax(a[0][j] + u[0][j], 0);
                else if (cell == GG_CELL_LSTM) {
                    double i = sig(a[0][j] + u[0][j]), f = sig(a[1][j] + u[1][j]);
                    double g = tanh(a[2][j] + u[2][j]), o = sig(a[3][j] + u[3][j]);
                    c[j] = f * c[j] + i * g;
                    hn[j] = o * tanh(c[j]);
                } else {
                    double r = sig(a[0][j] + u[0][j]), z = sig(a[1][j] + u[1][j]);
                    double n = tanh(a[2][j] + r * u[2][j]);
                    hn[j] = (1 - z) * n + z * h[j];
                }
            }
            for (int j = 0; j < 2; j++) {
                h[j] = hn[j];
                assert_near(y[t * 2 + j], h[j], EXACT);
            }
        }
        gg_graph_free(s.g);
    }
}

/* ---- batched input, batch sizes, threads ---------------------------------------- */

/* The same data as a batched input and as a parameter give the same
 * output and the same gradients, at the full batch and at a smaller one
 * (the time-major scratch is laid out by the current batch). */
static void test_batched_input_matches_parameter_input_at_any_batch(void **st) {
    (void)st;
    enum { N = 5, T = 7, F = 3, H = 4 };
    gg_cell cells[4] = {GG_CELL_RNN_TANH, GG_CELL_RNN_RELU, GG_CELL_LSTM, GG_CELL_GRU};
    for (int k = 0; k < 4; k++)
        for (int seq = 0; seq < 2; seq++)
            for (int n = N; n >= 2; n -= 3) {
                net p = make_net(cells[k], n, T, F, H, 1, 1, seq, 0, n);
                net b = make_net(cells[k], n, T, F, H, 1, 1, seq, 1, N + 1);
                assert_int_equal(gg_graph_set_batch(b.g, n, NULL), GG_OK);
                fill_net(&p, 9 + (uint64_t)k, 0.5, 0, -0.5);
                memcpy(gg_node_data(b.x), gg_node_data(p.x), gg_node_len(p.x) * sizeof(gg_real));
                memcpy(gg_node_data(b.target), gg_node_data(p.target),
                       gg_node_len(p.target) * sizeof(gg_real));
                /* b has no x parameter: copy the weights one by one. */
                gg_node *pw[4] = {p.w_ih, p.w_hh, p.b_ih, p.b_hh}, *bw[4] = {b.w_ih, b.w_hh, b.b_ih, b.b_hh};
                for (int q = 0; q < 4; q++)
                    memcpy(gg_node_data(bw[q]), gg_node_data(pw[q]), gg_node_len(pw[q]) * sizeof(gg_real));
                gg_graph_forward(p.g);
                gg_graph_backward(p.g, p.loss);
                gg_graph_forward(b.g);
                gg_graph_backward(b.g, b.loss);
                assert_int_equal(gg_node_len(b.y), gg_node_len(p.y));
                for (size_t i = 0; i < gg_node_len(p.y); i++)
                    assert_near(gg_node_data(b.y)[i], gg_node_data(p.y)[i], EXACT);
                for (int q = 0; q < 4; q++)
                    for (size_t i = 0; i < gg_node_len(pw[q]); i++)
                        assert_near(gg_node_grad(bw[q])[i], gg_node_grad(pw[q])[i], EXACT);
                gg_graph_free(p.g);
                gg_graph_free(b.g);
            }
}

/* One thread, two and three give the same values (each row's arithmetic
 * does not depend on the split; the sizes are above the op's threading
 * threshold); evaluation mode gives training mode's output. */
static void test_thread_count_and_mode_do_not_change_results(void **st) {
    (void)st;
    enum { N = 16, T = 20, F = 8, H = 32 };
    gg_cell cells[4] = {GG_CELL_RNN_TANH, GG_CELL_RNN_RELU, GG_CELL_LSTM, GG_CELL_GRU};
    int saved = omp_get_max_threads();
    for (int k = 0; k < 4; k++) {
        net s = make_net(cells[k], N, T, F, H, 1, 1, 1, 0, N);
        fill_net(&s, 77, 0.5, 0, -0.5);
        size_t ylen = gg_node_len(s.y), glen = gg_graph_param_len(s.g);
        gg_real *y1 = malloc(ylen * sizeof *y1), *g1 = malloc(glen * sizeof *g1);
        omp_set_num_threads(1);
        gg_graph_forward(s.g);
        gg_graph_backward(s.g, s.loss);
        memcpy(y1, gg_node_data(s.y), ylen * sizeof *y1);
        memcpy(g1, gg_graph_param_grad(s.g), glen * sizeof *g1);
        for (int threads = 2; threads <= 3; threads++) {
            omp_set_num_threads(threads);
            gg_graph_forward(s.g);
            gg_graph_backward(s.g, s.loss);
            for (size_t i = 0; i < ylen; i++) assert_near(gg_node_data(s.y)[i], y1[i], EXACT);
            for (size_t i = 0; i < glen; i++)
                assert_near(gg_graph_param_grad(s.g)[i], g1[i], 20 * EXACT * (1 + fabs(g1[i])));
        }
        gg_graph_set_training(s.g, 0);
        gg_graph_forward(s.g);
        for (size_t i = 0; i < ylen; i++) assert_near(gg_node_data(s.y)[i], y1[i], EXACT);
        free(y1);
        free(g1);
        gg_graph_free(s.g);
    }
    omp_set_num_threads(saved);
}

/* Saturating inputs stay finite (the float build's exp clamps). */
static void test_large_inputs_stay_finite(void **st) {
    (void)st;
    gg_cell cells[4] = {GG_CELL_RNN_TANH, GG_CELL_RNN_RELU, GG_CELL_LSTM, GG_CELL_GRU};
    for (int k = 0; k < 4; k++) {
        net s = make_net(cells[k], 2, 6, 2, 3, 1, 1, 1, 0, 2);
        fill_net(&s, 5, 0.5, 0, -0.5);
        gg_real *x = gg_node_data(s.x);
        for (size_t i = 0; i < gg_node_len(s.x); i++) x[i] = (gg_real)(i % 2 ? 1e4 : -1e4);
        gg_graph_forward(s.g);
        gg_graph_backward(s.g, s.loss);
        for (size_t i = 0; i < gg_node_len(s.y); i++) assert_true(isfinite(gg_node_data(s.y)[i]));
        for (size_t i = 0; i < gg_graph_param_len(s.g); i++)
            assert_true(isfinite(gg_graph_param_grad(s.g)[i]));
        gg_graph_free(s.g);
    }
}

/* ---- shape errors --------------------------------------------------------------- */

static void expect_error(gg_graph *g, gg_status code, const char *needle) {
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), code);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    gg_graph_free(g);
}

static void test_shape_errors_name_the_layer_the_shape_and_the_need(void **st) {
    (void)st;
    /* a flat input */
    gg_graph *g = gg_graph_new(4, 1);
    gg_node *x = gg_input(g, "x", 1, (int[]){784});
    gg_node *wi = gg_param(g, "wi", 2, (int[]){8, 784}, GG_INIT_ZEROS, 0);
    gg_node *wh = gg_param(g, "wh", 2, (int[]){8, 2}, GG_INIT_ZEROS, 0);
    assert_null(gg_recurrent(g, x, GG_CELL_LSTM, wi, wh, NULL, NULL, 0));
    expect_error(g, GG_ERR_SHAPE,
                 "lstm needs a sequence input [T, features]; got [784] (set model.input to [T, F])");

    /* the layer index when the weights carry one */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 3, (int[]){2, 3, 4});
    wi = gg_param(g, "wi", 2, (int[]){3, 3}, GG_INIT_ZEROS, 0);
    wh = gg_param(g, "wh", 2, (int[]){3, 1}, GG_INIT_ZEROS, 0);
    wi->layer = wh->layer = 2;
    assert_null(gg_recurrent(g, x, GG_CELL_GRU, wi, wh, NULL, NULL, 1));
    expect_error(g, GG_ERR_SHAPE, "layers.2 (gru) needs a sequence input [T, features]; got [2, 3, 4]");

    /* recurrent weight not [G H, H] */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 2, (int[]){10, 3});
    wi = gg_param(g, "wi", 2, (int[]){12, 3}, GG_INIT_ZEROS, 0);
    wh = gg_param(g, "wh", 2, (int[]){12, 5}, GG_INIT_ZEROS, 0);
    assert_null(gg_recurrent(g, x, GG_CELL_GRU, wi, wh, NULL, NULL, 1));
    expect_error(g, GG_ERR_SHAPE, "gru: recurrent weight has shape [12, 5]; gru needs [3 H, H]");

    /* input weight with the wrong feature count */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 2, (int[]){10, 3});
    wi = gg_param(g, "wi", 2, (int[]){16, 5}, GG_INIT_ZEROS, 0);
    wh = gg_param(g, "wh", 2, (int[]){16, 4}, GG_INIT_ZEROS, 0);
    assert_null(gg_recurrent(g, x, GG_CELL_LSTM, wi, wh, NULL, NULL, 1));
    expect_error(g, GG_ERR_SHAPE,
                 "lstm: input weight has shape [16, 5]; needs [16, 3] (4 gates x 4 units, 3 input "
                 "features)");

    /* biases of the wrong length, either one */
    for (int which = 0; which < 2; which++) {
        g = gg_graph_new(4, 1);
        x = gg_input(g, "x", 2, (int[]){10, 3});
        wi = gg_param(g, "wi", 2, (int[]){4, 3}, GG_INIT_ZEROS, 0);
        wh = gg_param(g, "wh", 2, (int[]){4, 4}, GG_INIT_ZEROS, 0);
        gg_node *good = gg_param(g, "b", 1, (int[]){4}, GG_INIT_ZEROS, 0);
        gg_node *bad = gg_param(g, "bb", 1, (int[]){5}, GG_INIT_ZEROS, 0);
        assert_null(gg_recurrent(g, x, GG_CELL_RNN_TANH, wi, wh, which ? good : bad,
                                 which ? bad : good, 1));
        expect_error(g, GG_ERR_SHAPE,
                     which ? "rnn: recurrent bias has shape [5]; needs [4]"
                           : "rnn: input bias has shape [5]; needs [4]");
    }

    /* an unknown cell */
    g = gg_graph_new(4, 1);
    x = gg_input(g, "x", 2, (int[]){10, 3});
    wi = gg_param(g, "wi", 2, (int[]){4, 3}, GG_INIT_ZEROS, 0);
    wh = gg_param(g, "wh", 2, (int[]){4, 4}, GG_INIT_ZEROS, 0);
    assert_null(gg_recurrent(g, x, (gg_cell)9, wi, wh, NULL, NULL, 1));
    expect_error(g, GG_ERR_ARG, "unknown recurrent cell 9");
}

/* Output shapes: [N, T, H] with sequence, [N, H] without; the next layer
 * sees them at build time. */
static void test_output_shapes(void **st) {
    (void)st;
    gg_graph *g = gg_graph_new(6, 1);
    gg_node *x = gg_input(g, "x", 2, (int[]){10, 3});
    gg_node *wi = gg_param(g, "wi", 2, (int[]){20, 3}, GG_INIT_ZEROS, 0);
    gg_node *wh = gg_param(g, "wh", 2, (int[]){20, 5}, GG_INIT_ZEROS, 0);
    gg_node *ys = gg_recurrent(g, x, GG_CELL_LSTM, wi, wh, NULL, NULL, 1);
    gg_node *yl = gg_recurrent(g, x, GG_CELL_LSTM, wi, wh, NULL, NULL, 0);
    assert_non_null(ys);
    assert_non_null(yl);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_node_ndim(ys), 3);
    assert_int_equal(gg_node_dim(ys, 1), 10);
    assert_int_equal(gg_node_dim(ys, 2), 5);
    assert_int_equal(gg_node_ndim(yl), 2);
    assert_int_equal(gg_node_dim(yl, 1), 5);
    assert_int_equal(gg_node_len(yl), 30);
    assert_string_equal(gg_node_name(ys), "lstm");
    gg_graph_free(g);
}

int main(void) {
#define G4(nm)                                                                   \
    cmocka_unit_test(test_##nm##_sequence_bptt_matches_finite_differences),      \
        cmocka_unit_test(test_##nm##_last_step_bptt_matches_finite_differences), \
        cmocka_unit_test(test_##nm##_without_biases_matches_finite_differences), \
        cmocka_unit_test(test_##nm##_with_one_bias_matches_finite_differences)
    const struct CMUnitTest tests[] = {
        G4(rnn_tanh),
        G4(rnn_relu),
        G4(lstm),
        G4(gru),
        cmocka_unit_test(test_stacked_and_shared_layers_match_finite_differences),
        cmocka_unit_test(test_rnn_one_step_is_exact),
        cmocka_unit_test(test_lstm_one_step_is_exact),
        cmocka_unit_test(test_gru_one_step_is_exact),
        cmocka_unit_test(test_two_steps_are_exact),
        cmocka_unit_test(test_batched_input_matches_parameter_input_at_any_batch),
        cmocka_unit_test(test_thread_count_and_mode_do_not_change_results),
        cmocka_unit_test(test_large_inputs_stay_finite),
        cmocka_unit_test(test_shape_errors_name_the_layer_the_shape_and_the_need),
        cmocka_unit_test(test_output_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
