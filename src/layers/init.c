/* Parameter initialisation with PyTorch's definitions (torch.nn.init):
 * fan_in = dims[1] * receptive field, fan_out = dims[0] * receptive field.
 * A gain or scale of 0 means the init's default: He sqrt(2) (kaiming's
 * a = 0), Xavier 1, orthogonal 1, uniform a = 1, normal std = 0.01. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"

static void fill_uniform(gg_real *x, size_t n, double bound, gg_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (gg_real)((2 * gg_rng_uniform(r) - 1) * bound);
}

static void fill_normal(gg_real *x, size_t n, double std, gg_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (gg_real)(gg_rng_normal(r) * std);
}

/* Rows x cols matrix with orthonormal rows (or columns, whichever is
 * fewer), as torch.nn.init.orthogonal_: QR of a Gaussian matrix with the
 * signs of R's diagonal folded in, by modified Gram-Schmidt in double. */
static void fill_orthogonal(gg_real *x, int rows, int cols, double gain, gg_rng *r) {
    bool tall = rows >= cols; /* orthonormalise the shorter side's vectors */
    int nv = tall ? cols : rows, dim = tall ? rows : cols;
    double *v = malloc((size_t)nv * dim * sizeof *v);
    if (!v) { /* init cannot fail; fall back to a scaled normal */
        fill_normal(x, (size_t)rows * cols, gain / sqrt(dim), r);
        return;
    }
    for (size_t i = 0; i < (size_t)nv * dim; i++) v[i] = gg_rng_normal(r);
    for (int k = 0; k < nv; k++) {
        double *vk = v + (size_t)k * dim;
        for (int j = 0; j < k; j++) {
            const double *vj = v + (size_t)j * dim;
            double dot = 0;
            for (int i = 0; i < dim; i++) dot += vk[i] * vj[i];
            for (int i = 0; i < dim; i++) vk[i] -= dot * vj[i];
        }
        double norm = 0;
        for (int i = 0; i < dim; i++) norm += vk[i] * vk[i];
        norm = sqrt(norm);
        for (int i = 0; i < dim; i++) vk[i] = norm > 0 ? vk[i] / norm : 0;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            x[(size_t)i * cols + j] =
                (gg_real)(gain * (tall ? v[(size_t)j * dim + i] : v[(size_t)i * dim + j]));
    free(v);
}

void gg_init_param(gg_node *p, gg_rng *r) {
    gg_tensor *t = p->out;
    double g = p->init_gain, fi = p->fan_in, fo = p->fan_out;
    switch (p->init) {
    case GG_INIT_ZEROS: memset(t->x, 0, t->len * sizeof *t->x); break;
    case GG_INIT_ONES:
        for (size_t i = 0; i < t->len; i++) t->x[i] = 1;
        break;
    case GG_INIT_CONSTANT:
        for (size_t i = 0; i < t->len; i++) t->x[i] = (gg_real)g;
        break;
    case GG_INIT_UNIFORM: fill_uniform(t->x, t->len, g > 0 ? g : 1.0, r); break;
    case GG_INIT_NORMAL: fill_normal(t->x, t->len, g > 0 ? g : 0.01, r); break;
    case GG_INIT_XAVIER_UNIFORM:
        fill_uniform(t->x, t->len, (g > 0 ? g : 1.0) * sqrt(6.0 / (fi + fo)), r);
        break;
    case GG_INIT_XAVIER_NORMAL:
        fill_normal(t->x, t->len, (g > 0 ? g : 1.0) * sqrt(2.0 / (fi + fo)), r);
        break;
    case GG_INIT_HE_UNIFORM:
        fill_uniform(t->x, t->len, (g > 0 ? g : sqrt(2.0)) * sqrt(3.0 / fi), r);
        break;
    case GG_INIT_HE_NORMAL: fill_normal(t->x, t->len, (g > 0 ? g : sqrt(2.0)) / sqrt(fi), r); break;
    case GG_INIT_TORCH_DEFAULT: fill_uniform(t->x, t->len, 1.0 / sqrt(fi), r); break;
    case GG_INIT_ORTHOGONAL: {
        int rows = t->shape[0], cols = (int)(t->len / (size_t)rows);
        fill_orthogonal(t->x, rows, cols, g > 0 ? g : 1.0, r);
        break;
    }
    }
}
