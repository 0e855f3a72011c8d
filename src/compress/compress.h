/* Model compression (issue #8): magnitude pruning, post-training int8
 * quantisation and the int8 inference engine.
 *
 * The first part of this header is public API proposed for
 * include/gradguard.h (it uses only public types); the second part is
 * internal (kernels and helpers shared by src/compress/ and its tests). */
#ifndef GG_COMPRESS_H
#define GG_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gradguard.h"

/* The public part (pruning, int8 quantisation) is in include/gradguard.h. */
/* ==== internal ============================================================ */

/* Quantised activations are 0..GG_Q_AMAX: 7 bits, so that AVX2's
 * vpmaddubsw (u8 x s8 pairs summed into int16) can never saturate
 * (2 x 127 x 127 < 32767) and every kernel gives the same int32 sums. */
#define GG_Q_AMAX 127
#define GG_Q_WMAX 127

/* ---- int8 GEMM (int8_gemm.c) ---------------------------------------------
 * C[M, N] = A[M, K] B[K, N] with A unsigned 8-bit activations (rows of
 * lda bytes, K padded to K4 = a multiple of 4 with zeros, M padded to a
 * multiple of GG_I8_MR with any values) and B given as W [N, K] int8
 * (PyTorch's weight layout), packed once into panels of 16 columns:
 * panel p, group g of 4 k's: 64 bytes, column c's 4 bytes at 4 c. */
typedef enum gg_i8_kernel {
    GG_I8_PORTABLE,
    GG_I8_AVX2,
    GG_I8_AVX512BW,
    GG_I8_AVX512VNNI,
    GG_I8_KERNEL_COUNT
} gg_i8_kernel;

#define GG_I8_MR 8  /* rows per tile */
#define GG_I8_NP 16 /* columns per panel */

const char *gg_i8_kernel_name(gg_i8_kernel k);
bool gg_i8_kernel_available(gg_i8_kernel k);
/* The best kernel this CPU has, or the one GG_INT8_KERNEL names (when this
 * CPU has it). */
gg_i8_kernel gg_i8_kernel_default(void);
/* Parses a kernel name; -1 if unknown. */
int gg_i8_kernel_parse(const char *name);

static inline int gg_i8_k4(int K) { return (K + 3) & ~3; }
static inline int gg_i8_rows(int M) { return (M + GG_I8_MR - 1) / GG_I8_MR * GG_I8_MR; }
/* Bytes of the packed form of W [N, K]. */
size_t gg_i8_packed_size(int N, int K);
/* Packs W [N, K] (row-major int8); colsum[n] = sum_k W[n, k] (may be NULL). */
void gg_i8_pack(const int8_t *w, int N, int K, int8_t *packed, int32_t *colsum);

/* What to do with the int32 sums: C (int32, ldc) when c != NULL; else
 * y = (gg_real)acc * mul + off, then max(0, y) when relu, written at
 * y[m ldy + n]; mul and off are per column (mul[n], readable up to a
 * multiple of 32 columns) or, with row_scale, per row (mul[m]). With wrap_in > 0, column n = i wrap_in + j goes to
 * i wrap_out + j when j < wrap_out and nowhere otherwise (a conv computed
 * over its padded width). */
typedef struct gg_i8_out {
    int32_t *c;
    size_t ldc;
    gg_real *y;
    size_t ldy;
    const gg_real *mul, *off;
    int relu, row_scale;
    int wrap_in, wrap_out;
} gg_i8_out;

/* Rows [0, M) of the product (A holds gg_i8_rows(M) rows), split across
 * `threads` OpenMP threads (1: the calling thread only). */
void gg_i8_gemm(gg_i8_kernel k, int M, int N, int K, const uint8_t *A, size_t lda,
                const int8_t *packed, const gg_i8_out *out, int threads);
/* The other orientation: A = int8 weights [M, K4] (rows padded to
 * gg_i8_rows(M)), B = unsigned activations packed by gg_i8_pack_act. */
void gg_i8_gemm_wa(gg_i8_kernel k, int M, int N, int K, const int8_t *A, size_t lda,
                   const uint8_t *packed, const gg_i8_out *out, int threads);
/* Packs activations given as K rows of N columns (rows[k] points at row
 * k, readable up to the next multiple of 16 columns; rows from K to K4 read
 * `zero`, as long) into gg_i8_packed_size(N, K) bytes. */
void gg_i8_pack_act(const uint8_t *const *rows, int K, int N, const uint8_t *zero,
                    uint8_t *packed);

/* ---- quantisation helpers (quantize.c) ---------------------------------- */
/* Per-channel symmetric weights: rows of w [N, K]; scale[n] = max|w| / 127
 * (1 for an all-zero row), q = round-half-even(w / scale). */
void gg_quant_weights(const gg_real *w, int N, int K, int8_t *q, float *scale);
void gg_dequant_weights(const int8_t *q, const float *scale, int N, int K, gg_real *w);
/* An activation range [lo, hi] -> scale and zero point of 0..GG_Q_AMAX
 * values; the range is widened to hold 0, which stays exact. */
void gg_quant_act_params(double lo, double hi, float *scale, int *zero_point);
/* u8 = clamp(round-half-even(x / scale) + zp, 0, GG_Q_AMAX). */
void gg_quant_act(const gg_real *x, size_t n, float scale, int zero_point, uint8_t *q);

#endif
