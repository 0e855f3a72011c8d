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

/* ==== public API (for include/gradguard.h) ================================
 *
 * ---- pruning -------------------------------------------------------------
 * Magnitude pruning of the weights of a model: every parameter of two or
 * more dimensions (dense, conv2d, residual projection and recurrent weight
 * matrices); never biases, norm or PReLU parameters. A pruner keeps one
 * mask per weight and applies it after every optimiser step, so pruned
 * weights stay exactly zero through fine-tuning.
 *
 * Unstructured: single weights of least |w|. Structured: whole output
 * units (rows of a dense weight) or conv filters, of least L2 norm (RMS
 * when rows of different layers compete, scope global); the model's last
 * prunable weight (the output layer, whose rows are the model's outputs)
 * is never pruned structurally, and every weight keeps at least one row.
 * Scope layer: every weight reaches the sparsity; global: one threshold
 * over all of them, so the total reaches it.
 *
 * Sparsity is counted over the prunable weights. Unstructured pruning
 * reaches it exactly: round(s n) weights are zero (ties at the threshold
 * broken by position). Structured pruning reaches round(s rows) rows per
 * layer, or globally the closest whole rows. */
typedef enum gg_prune_scope { GG_PRUNE_GLOBAL, GG_PRUNE_LAYER } gg_prune_scope;

typedef struct gg_prune_spec {
    double sparsity;         /* final fraction of prunable weights that are zero, [0, 1) */
    double initial_sparsity; /* gradual: the sparsity at start_step, 0 */
    int structured;          /* 0: single weights; 1: output units and conv filters */
    gg_prune_scope scope;    /* GG_PRUNE_GLOBAL (default) or GG_PRUNE_LAYER */
    /* Gradual pruning (Zhu and Gupta 2017): from start_step to end_step
     * the target is s_f + (s_i - s_f) (1 - (t - start) / (end - start))^3,
     * the masks recomputed every `frequency` steps; s_f from end_step on. */
    int64_t start_step, end_step, frequency;
} gg_prune_spec;

/* sparsity 0, initial 0, unstructured, global, start 0, end 0, frequency 100. */
void gg_prune_spec_default(gg_prune_spec *s);
/* The schedule's target sparsity after `step` steps. */
double gg_prune_target(const gg_prune_spec *s, int64_t step);

typedef struct gg_pruner gg_pruner;

/* Per-weight figures: elements, zero elements (masked or exactly zero),
 * rows (output units or filters) and rows wholly zero. */
typedef struct gg_prune_stats {
    const char *name; /* the parameter's name, "layers.0.weight" */
    size_t total, zeros;
    int rows, zero_rows;
    int prunable; /* 0 for the output layer under structured pruning */
} gg_prune_stats;

/* A pruner for m's weights (m is borrowed and must outlive it); all masks
 * start at one. Fails with GG_ERR_ARG for a sparsity outside [0, 1), a bad
 * schedule or a model without weights. */
gg_status gg_pruner_new(gg_model *m, const gg_prune_spec *spec, gg_pruner **out, gg_error *err);
void gg_pruner_free(gg_pruner *p);
/* One-shot: recomputes every mask for `sparsity` from the current weights
 * and applies them; the masks then stay fixed (gg_prune_step only applies
 * them). */
gg_status gg_pruner_prune(gg_pruner *p, double sparsity, gg_error *err);
/* For training loops, after each optimiser step (`step` = steps taken so
 * far): recomputes the masks when the schedule says so (at start_step +
 * k frequency up to end_step, and once at or after end_step; an end_step
 * <= start_step prunes to the final sparsity at start_step), then applies
 * them (pruned weights back to exactly zero). Pruned weights are zeroed
 * before a recomputation, so masks only grow while the target does.
 * Returns 1 when the masks were recomputed. Allocates nothing. */
int gg_prune_step(gg_pruner *p, int64_t step);
/* Applies the masks: every pruned weight set to zero. */
void gg_pruner_apply(gg_pruner *p);
/* For a resumed run (masks are not saved; pruned weights are exactly
 * zero): the masks from the weights that are zero now, and the schedule's
 * position after `step` steps. */
void gg_pruner_restore(gg_pruner *p, int64_t step);
/* Statistics of every weight (stats valid until the next call); returns
 * their count. */
int gg_pruner_stats(gg_pruner *p, const gg_prune_stats **stats);
/* Fraction of prunable weights that are zero, over all of them. */
double gg_pruner_sparsity(gg_pruner *p);

/* ---- int8 quantisation -------------------------------------------------
 * Post-training, symmetric int8 per output channel for the weights of
 * dense and conv2d layers (scale = max |w| / 127, q = round(w / scale));
 * activations entering those layers quantised per tensor to 7-bit unsigned
 * values with a zero point, their range calibrated on a sample of the
 * training set. Batch norm after a conv/dense layer is folded into its
 * output scale and shift; a ReLU after it is fused. docs/compression.md
 * has the file format. */
typedef struct gg_qmodel gg_qmodel;

/* Quantises m (unchanged): weights per channel, then the activation ranges
 * from up to calib_samples rows of calib (0 = 2000), for batches up to
 * max_batch. */
gg_status gg_quantize(gg_model *m, const gg_dataset *calib, int calib_samples, int max_batch,
                      gg_qmodel **out, gg_error *err);
void gg_qmodel_free(gg_qmodel *q);
/* Writes the int8 safetensors file (atomically). */
gg_status gg_qmodel_save(gg_qmodel *q, const char *path, gg_error *err);
/* Reads an int8 file, checking every name, dtype, shape and value; c is
 * the model's config, or NULL for the file's own (its metadata). */
gg_status gg_qmodel_load(const char *path, const gg_config *c, int max_batch, gg_qmodel **out,
                         gg_error *err);
gg_status gg_qmodel_evaluate(gg_qmodel *q, const gg_dataset *d, gg_eval_result *res,
                             gg_error *err);
gg_status gg_qmodel_predict(gg_qmodel *q, const gg_real *x, size_t n, gg_real *out,
                            gg_error *err);
/* The float model holding the dequantised weights (q * scale): the same
 * graph run in float, for comparisons. Owned by q. */
gg_model *gg_qmodel_float(gg_qmodel *q);
/* 1 when the safetensors file at path is an int8 model (its metadata says
 * gradguard_quantization: int8), 0 when it is not, -1 when it cannot be
 * read (err filled). */
int gg_file_is_quantized(const char *path, gg_error *err);
/* The int8 matrix-product kernel in use: "avx512-vnni", "avx512bw",
 * "avx2" or "portable" (chosen at run time; GG_INT8_KERNEL overrides). */
const char *gg_int8_kernel(void);

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

#define GG_I8_MR 4  /* rows per tile */
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
