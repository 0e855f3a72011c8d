/* Op descriptors, one per line of ops.def, and the BLAS names for the
 * build's real type. */
#ifndef GG_OPS_H
#define GG_OPS_H

#include <cblas.h>
#include "graph/graph.h"

typedef enum gg_op_id {
#define GG_OP(E, n) GG_OP_##E,
#include "ops/ops.def"
#undef GG_OP
    GG_OP_COUNT
} gg_op_id;

#define GG_OP(E, n) extern const gg_op_def gg_op_##n;
#include "ops/ops.def"
#undef GG_OP

extern const gg_op_def *const gg_op_table[GG_OP_COUNT];

/* The recurrent op's record of gradient flow through time (read by the
 * guard's diagnosis): attr[GG_REC_FLOW_LOG] is a running mean of
 * log10(|dgates at the first step| / |dgates at the last|) over backward
 * passes, iattr[GG_REC_FLOW_COUNT] how many there were. */
#define GG_REC_FLOW_LOG 7
#define GG_REC_FLOW_COUNT 7

#ifdef GG_FLOAT64
#define gg_gemm cblas_dgemm
#define gg_gemv cblas_dgemv
#else
#define gg_gemm cblas_sgemm
#define gg_gemv cblas_sgemv
#endif

/* Image ops' shape checks (image.c): in[0] must be [N, C, H, W] (the
 * message suggests a model.input for a flat input); a window of k (dilation
 * d) with stride s over in + 2p along axis gives *out positions, or a
 * message naming the axis when it does not fit. */
gg_status gg_need_image(gg_node *n, gg_error *err);
gg_status gg_window_extent(gg_node *n, gg_error *err, const char *axis, int in, int k, int s,
                           int p, int d, int *out);

/* C = alpha op(A) op(B) + beta C, row-major, rows of C split across threads. */
void gg_matmul(bool trans_a, bool trans_b, int M, int N, int K, gg_real alpha, const gg_real *A,
               int lda, const gg_real *B, int ldb, gg_real beta, gg_real *C, int ldc);

#endif
