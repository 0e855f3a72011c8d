/* The quantised model shared by quantize.c (weights, calibration, saving)
 * and qmodel.c (loading, the int8 engine). */
#ifndef GG_QMODEL_H
#define GG_QMODEL_H

#include "compress/compress.h"
#include "train/model.h"

/* One dense or conv2d layer run in int8. */
typedef struct gg_qlayer {
    gg_node *op;       /* the linear or conv2d node */
    gg_node *w, *b;    /* its weight and bias (NULL: none) */
    gg_node *bn;       /* a batch norm folded into the output, or NULL */
    gg_node *dst;      /* the node whose output the layer writes (op, bn or a fused relu) */
    gg_node *pool;     /* conv: a fused 2x2 stride-2 max pool after dst (which it then
                          replaces as the output), or NULL */
    int relu;          /* 1: a fused ReLU */
    bool conv;
    int N, K, K4;      /* outputs (units or filters); inputs per output (C kh kw) */
    int8_t *q;         /* owned [N, K]: the weights */
    float *wscale;     /* owned [N] */
    float in_scale;    /* the input's per-tensor scale and zero point */
    uint8_t in_zp;
    char prefix[GG_NAME_LEN]; /* "layers.0." : tensor names are prefix + weight, ... */
    /* the engine (qmodel.c) */
    int8_t *packed;    /* owned, dense: the weights packed for gg_i8_gemm */
    int8_t *wrows;     /* owned, conv: the weights [gg_i8_rows(N), K4] for gg_i8_gemm_wa */
    int32_t *colsum;   /* owned [N]: sum_k q[n, k] */
    gg_real *mul, *off; /* owned [N]: y = acc mul + off */
    uint8_t *abuf;     /* owned: quantised inputs (see qmodel.c) */
    size_t abuf_per;   /* conv: bytes per worker */
    int workers;       /* conv: workers with a buffer of their own */
    const uint8_t **rowp; /* owned, conv: K row pointers per worker */
    gg_real *ybuf;     /* owned, conv with pool: a sample's conv output per worker */
    uint8_t *zero;     /* owned, conv: a row of zeros */
    /* conv geometry; direct: stride and dilation 1, the product runs over
     * the zero-point-padded input [C, Hp, Wp] without unrolling, ncols =
     * Ho Wp columns of which Wo per row are kept */
    int C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, Hp, Wp;
    bool direct;
    int ncols;
} gg_qlayer;

enum { GG_QROLE_FLOAT = 0, GG_QROLE_INT8 = 1, GG_QROLE_FUSED = 2 };

struct gg_qmodel {
    gg_model *m;         /* owned: the graph, dequantised weights, every other parameter */
    int n;
    gg_qlayer *l;        /* owned */
    uint8_t *role;       /* owned, per node: GG_QROLE_* */
    int *layer_of;       /* owned, per node: index into l for GG_QROLE_INT8 */
    gg_i8_kernel kernel;
};

/* Finds the dense and conv2d layers of q->m (allocates q->l, q->role,
 * q->layer_of; weights not yet set). */
gg_status gg_qmodel_find_layers(gg_qmodel *q, gg_error *err);
/* Builds the engine once weights and activation parameters are set: packs
 * the weights, folds batch norms, fuses ReLUs, allocates buffers. */
gg_status gg_qmodel_prepare(gg_qmodel *q, gg_error *err);
/* Writes the dequantised weights of every layer into the float graph. */
void gg_qmodel_dequantize(gg_qmodel *q);

#endif
