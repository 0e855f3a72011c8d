/* The int8 matrix product: unsigned 7-bit activations times signed 8-bit
 * weights summed in int32, with kernels for AVX-512 VNNI (vpdpbusd),
 * AVX-512BW and AVX2 (vpmaddubsw then vpmaddwd against ones) and a portable
 * one, chosen at run time by __builtin_cpu_supports: each vector kernel is
 * compiled for its own instruction set through target attributes, so the
 * build needs no -march flag and a binary built on one machine runs on any
 * x86-64 (and elsewhere the portable kernel alone is built).
 *
 * All kernels give the same int32 sums: activations are at most 127, so
 * vpmaddubsw's int16 pair sums (at most 2 x 127 x 127 = 32258) never
 * saturate, and integer sums do not depend on their order. The float
 * epilogue is one C function shared by every kernel.
 *
 * Two orientations share the micro-kernels, which broadcast 4 bytes of a
 * row of A against 16-column panels of B:
 *   gg_i8_gemm:    A = activations (u8 rows), B = packed weights (s8): dense
 *                  layers, y [batch, units];
 *   gg_i8_gemm_wa: A = weights (s8 rows), B = packed activations (u8): conv
 *                  layers, y [filters, pixels] as NCHW wants it.
 * Tiles: GG_I8_MR = 8 rows of A by up to two panels (32 columns) of B; the
 * A rows of a chunk (GG_CHUNK rows) stay in cache while the panels stream
 * past them. Threads take contiguous runs of chunks. */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "compress/compress.h"

#if defined(__x86_64__) || defined(__i386__)
#define GG_X86 1
#include <immintrin.h>
#else
#define GG_X86 0
#endif

#define NP GG_I8_NP
#define MR GG_I8_MR
#define TILE_N (2 * NP)
#define GG_CHUNK 32 /* rows of A per cache block */

static const char *const names[GG_I8_KERNEL_COUNT] = {"portable", "avx2", "avx512bw",
                                                       "avx512-vnni"};

const char *gg_i8_kernel_name(gg_i8_kernel k) {
    return (unsigned)k < GG_I8_KERNEL_COUNT ? names[k] : "?";
}

int gg_i8_kernel_parse(const char *name) {
    for (int k = 0; k < GG_I8_KERNEL_COUNT; k++)
        if (!strcmp(name, names[k])) return k;
    return -1;
}

bool gg_i8_kernel_available(gg_i8_kernel k) {
    switch (k) {
    case GG_I8_PORTABLE: return true;
#if GG_X86
    case GG_I8_AVX2: return __builtin_cpu_supports("avx2");
    case GG_I8_AVX512BW:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    case GG_I8_AVX512VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    default: return false;
    }
}

gg_i8_kernel gg_i8_kernel_default(void) {
    const char *env = getenv("GG_INT8_KERNEL");
    int k = env && *env ? gg_i8_kernel_parse(env) : -1;
    if (k >= 0 && gg_i8_kernel_available((gg_i8_kernel)k)) return (gg_i8_kernel)k;
    for (int i = GG_I8_KERNEL_COUNT - 1; i > 0; i--)
        if (gg_i8_kernel_available((gg_i8_kernel)i)) return (gg_i8_kernel)i;
    return GG_I8_PORTABLE;
}

const char *gg_int8_kernel(void) { return gg_i8_kernel_name(gg_i8_kernel_default()); }

/* ---- packing ------------------------------------------------------------- */

size_t gg_i8_packed_size(int N, int K) {
    size_t panels = ((size_t)N + NP - 1) / NP;
    return panels * (size_t)gg_i8_k4(K) * NP;
}

void gg_i8_pack(const int8_t *w, int N, int K, int8_t *packed, int32_t *colsum) {
    int K4 = gg_i8_k4(K), panels = (N + NP - 1) / NP;
    memset(packed, 0, gg_i8_packed_size(N, K));
    for (int p = 0; p < panels; p++) {
        int8_t *pp = packed + (size_t)p * (size_t)K4 * NP;
        for (int c = 0; c < NP && p * NP + c < N; c++) {
            const int8_t *row = w + (size_t)(p * NP + c) * (size_t)K;
            for (int k = 0; k < K; k++) pp[(size_t)(k / 4) * 4 * NP + 4 * c + k % 4] = row[k];
        }
    }
    if (colsum)
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++) s += w[(size_t)n * K + k];
            colsum[n] = s;
        }
}

/* Four k rows of 16 columns -> one 64-byte group: column c's 4 bytes at 4 c. */
#if GG_X86
static inline void interleave16(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
                                const uint8_t *r3, uint8_t *out) {
    __m128i a = _mm_loadu_si128((const __m128i *)r0), b = _mm_loadu_si128((const __m128i *)r1);
    __m128i c = _mm_loadu_si128((const __m128i *)r2), d = _mm_loadu_si128((const __m128i *)r3);
    __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
    _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128((__m128i *)(out + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128((__m128i *)(out + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
}
#else
static inline void interleave16(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
                                const uint8_t *r3, uint8_t *out) {
    for (int c = 0; c < 16; c++) {
        out[4 * c] = r0[c];
        out[4 * c + 1] = r1[c];
        out[4 * c + 2] = r2[c];
        out[4 * c + 3] = r3[c];
    }
}
#endif

void gg_i8_pack_act(const uint8_t *const *rows, int K, int N, const uint8_t *zero,
                    uint8_t *packed) {
    int K4 = gg_i8_k4(K), panels = (N + NP - 1) / NP;
    for (int g = 0; g < K4 / 4; g++) {
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++) r[j] = 4 * g + j < K ? rows[4 * g + j] : zero;
        uint8_t *out = packed + (size_t)g * 4 * NP;
        for (int p = 0; p < panels; p++)
            interleave16(r[0] + p * NP, r[1] + p * NP, r[2] + p * NP, r[3] + p * NP,
                         out + (size_t)p * (size_t)K4 * NP);
    }
}

/* ---- micro-kernels ----------------------------------------------------------
 * c[r * TILE_N + j] = sum over kg groups of 4 k's: rows r = 0..3 of A times
 * panel columns j < np * 16. The _wa variants take signed rows (weights)
 * and unsigned panels (activations). */
typedef void (*gg_mk)(int kg, const void *a, size_t lda, const void *b, size_t pstride, int np,
                      int32_t *c);

#define GG_PORTABLE_KERNEL(NAME, AT, BT)                                                     \
    static void NAME(int kg, const void *av, size_t lda, const void *bv, size_t pstride,     \
                     int np, int32_t *c) {                                                   \
        for (int p = 0; p < np; p++) {                                                       \
            const BT *bp = (const BT *)bv + (size_t)p * pstride;                             \
            for (int r = 0; r < MR; r++) {                                                   \
                const AT *ar = (const AT *)av + (size_t)r * lda;                             \
                int32_t acc[NP] = {0};                                                       \
                for (int g = 0; g < kg; g++) {                                               \
                    const BT *bg = bp + (size_t)g * 4 * NP;                                  \
                    const AT *ag = ar + 4 * g;                                               \
                    _Pragma("omp simd") for (int j = 0; j < NP; j++) acc[j] +=               \
                        ag[0] * bg[4 * j] + ag[1] * bg[4 * j + 1] + ag[2] * bg[4 * j + 2] +  \
                        ag[3] * bg[4 * j + 3];                                               \
                }                                                                            \
                memcpy(c + r * TILE_N + p * NP, acc, sizeof acc);                            \
            }                                                                                \
        }                                                                                    \
    }
GG_PORTABLE_KERNEL(mk_portable, uint8_t, int8_t)
GG_PORTABLE_KERNEL(mk_portable_wa, int8_t, uint8_t)

#if GG_X86
static inline int32_t load4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* AVX2: a panel is two ymm (columns 0-7 and 8-15); u8 x s8 pairs to int16
 * (vpmaddubsw), pairs of those to int32 (vpmaddwd with ones). PROD(x, y)
 * is that product with x the broadcast row bytes and y the panel. */
#define GG_AVX2_KERNEL(NAME, PROD)                                                           \
    __attribute__((target("avx2"))) static void NAME(int kg, const void *av, size_t lda,    \
                                                     const void *bv, size_t pstride, int np, \
                                                     int32_t *c) {                           \
        const __m256i ones = _mm256_set1_epi16(1);                                           \
        for (int h = 0; h < MR; h += 4) /* four rows at a time: 16 ymm registers */          \
        for (int p = 0; p < np; p++) {                                                       \
            const uint8_t *a0 = (const uint8_t *)av + (size_t)h * lda, *a1 = a0 + lda,       \
                          *a2 = a0 + 2 * lda, *a3 = a0 + 3 * lda;                            \
            const uint8_t *bp = (const uint8_t *)bv + (size_t)p * pstride;                   \
            __m256i c0l = _mm256_setzero_si256(), c0h = c0l, c1l = c0l, c1h = c0l,          \
                    c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;                              \
            for (int g = 0; g < kg; g++) {                                                   \
                __m256i bl = _mm256_loadu_si256((const __m256i *)(bp + (size_t)g * 64));     \
                __m256i bh = _mm256_loadu_si256((const __m256i *)(bp + (size_t)g * 64 + 32));\
                __m256i va = _mm256_set1_epi32(load4(a0 + 4 * g));                           \
                c0l = _mm256_add_epi32(c0l, _mm256_madd_epi16(PROD(va, bl), ones));          \
                c0h = _mm256_add_epi32(c0h, _mm256_madd_epi16(PROD(va, bh), ones));          \
                va = _mm256_set1_epi32(load4(a1 + 4 * g));                                   \
                c1l = _mm256_add_epi32(c1l, _mm256_madd_epi16(PROD(va, bl), ones));          \
                c1h = _mm256_add_epi32(c1h, _mm256_madd_epi16(PROD(va, bh), ones));          \
                va = _mm256_set1_epi32(load4(a2 + 4 * g));                                   \
                c2l = _mm256_add_epi32(c2l, _mm256_madd_epi16(PROD(va, bl), ones));          \
                c2h = _mm256_add_epi32(c2h, _mm256_madd_epi16(PROD(va, bh), ones));          \
                va = _mm256_set1_epi32(load4(a3 + 4 * g));                                   \
                c3l = _mm256_add_epi32(c3l, _mm256_madd_epi16(PROD(va, bl), ones));          \
                c3h = _mm256_add_epi32(c3h, _mm256_madd_epi16(PROD(va, bh), ones));          \
            }                                                                                \
            int32_t *cp = c + h * TILE_N + p * NP;                                           \
            _mm256_storeu_si256((__m256i *)(cp), c0l);                                       \
            _mm256_storeu_si256((__m256i *)(cp + 8), c0h);                                   \
            _mm256_storeu_si256((__m256i *)(cp + TILE_N), c1l);                              \
            _mm256_storeu_si256((__m256i *)(cp + TILE_N + 8), c1h);                          \
            _mm256_storeu_si256((__m256i *)(cp + 2 * TILE_N), c2l);                          \
            _mm256_storeu_si256((__m256i *)(cp + 2 * TILE_N + 8), c2h);                      \
            _mm256_storeu_si256((__m256i *)(cp + 3 * TILE_N), c3l);                          \
            _mm256_storeu_si256((__m256i *)(cp + 3 * TILE_N + 8), c3h);                      \
        }                                                                                    \
    }
#define GG_PROD_AU8(x, y) _mm256_maddubs_epi16(x, y)
#define GG_PROD_BU8(x, y) _mm256_maddubs_epi16(y, x)
GG_AVX2_KERNEL(mk_avx2, GG_PROD_AU8)
GG_AVX2_KERNEL(mk_avx2_wa, GG_PROD_BU8)

/* AVX-512: a panel is one zmm; two panels at once (8 x 32 tile, sixteen
 * accumulators: enough to cover vpdpbusd's latency on two ports). VNNI's
 * vpdpbusd does the u8 x s8 4-sums in one go.
 * MAC(acc, x, y): x the broadcast row bytes, y the panel. */
#define GG_Z512_KERNEL(NAME, TARGET, MAC)                                                   \
    __attribute__((target(TARGET))) static void NAME(int kg, const void *av, size_t lda,    \
                                                     const void *bv, size_t pstride,        \
                                                     int np, int32_t *c) {                  \
        const __m512i ones = _mm512_set1_epi16(1);                                          \
        (void)ones;                                                                         \
        const uint8_t *a = av, *b0 = bv, *b1 = b0 + (np == 2 ? pstride : 0);                \
        __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,  \
                c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00,           \
                c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;                      \
        /* With one panel the second is the first again: the same work, the               \
         * second half of the tile left unstored. */                                        \
        for (int g = 0; g < kg; g++) {                                                      \
            __m512i v0 = _mm512_loadu_si512(b0 + (size_t)g * 64);                           \
            __m512i v1 = _mm512_loadu_si512(b1 + (size_t)g * 64);                           \
            const uint8_t *ag = a + 4 * (size_t)g;                                          \
            __m512i va = _mm512_set1_epi32(load4(ag));                                      \
            c00 = MAC(c00, va, v0), c01 = MAC(c01, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + lda));                                        \
            c10 = MAC(c10, va, v0), c11 = MAC(c11, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 2 * lda));                                    \
            c20 = MAC(c20, va, v0), c21 = MAC(c21, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 3 * lda));                                    \
            c30 = MAC(c30, va, v0), c31 = MAC(c31, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 4 * lda));                                    \
            c40 = MAC(c40, va, v0), c41 = MAC(c41, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 5 * lda));                                    \
            c50 = MAC(c50, va, v0), c51 = MAC(c51, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 6 * lda));                                    \
            c60 = MAC(c60, va, v0), c61 = MAC(c61, va, v1);                                 \
            va = _mm512_set1_epi32(load4(ag + 7 * lda));                                    \
            c70 = MAC(c70, va, v0), c71 = MAC(c71, va, v1);                                 \
        }                                                                                   \
        const __m512i lo[MR] = {c00, c10, c20, c30, c40, c50, c60, c70};                    \
        const __m512i hi[MR] = {c01, c11, c21, c31, c41, c51, c61, c71};                    \
        for (int r = 0; r < MR; r++) {                                                      \
            _mm512_storeu_si512(c + r * TILE_N, lo[r]);                                     \
            if (np == 2) _mm512_storeu_si512(c + r * TILE_N + NP, hi[r]);                   \
        }                                                                                   \
    }

#define GG_VNNI_AU8(acc, x, y) _mm512_dpbusd_epi32(acc, x, y)
#define GG_VNNI_BU8(acc, x, y) _mm512_dpbusd_epi32(acc, y, x)
#define GG_BW_AU8(acc, x, y) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(x, y), ones))
#define GG_BW_BU8(acc, x, y) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(y, x), ones))
GG_Z512_KERNEL(mk_vnni512, "avx512f,avx512bw,avx512vnni", GG_VNNI_AU8)
GG_Z512_KERNEL(mk_vnni512_wa, "avx512f,avx512bw,avx512vnni", GG_VNNI_BU8)
GG_Z512_KERNEL(mk_avx512bw, "avx512f,avx512bw", GG_BW_AU8)
GG_Z512_KERNEL(mk_avx512bw_wa, "avx512f,avx512bw", GG_BW_BU8)
#endif

static gg_mk micro_kernel(gg_i8_kernel k, bool wa) {
    switch (k) {
#if GG_X86
    case GG_I8_AVX2: return wa ? mk_avx2_wa : mk_avx2;
    case GG_I8_AVX512BW: return wa ? mk_avx512bw_wa : mk_avx512bw;
    case GG_I8_AVX512VNNI: return wa ? mk_vnni512_wa : mk_vnni512;
#endif
    default: return wa ? mk_portable_wa : mk_portable;
    }
}

/* ---- the driver --------------------------------------------------------- */

/* Copies n <= TILE_N values: masked vector stores where the CPU has them
 * (no call, no scalar tail); copies never change a value, so every kernel
 * still writes the same bits. */
typedef void (*gg_copy_fn)(gg_real *d, const gg_real *s, int n);

static void copy_plain(gg_real *d, const gg_real *s, int n) { memcpy(d, s, (size_t)n * sizeof *d); }

#if GG_X86 && !defined(GG_FLOAT64)
__attribute__((target("avx512f"))) static void copy_avx512(float *d, const float *s, int n) {
    __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(d, m0, _mm512_loadu_ps(s));
    if (n > 16) {
        __mmask16 m1 = n >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - 16)) - 1);
        _mm512_mask_storeu_ps(d + 16, m1, _mm512_loadu_ps(s + 16));
    }
}

__attribute__((target("avx2"))) static void copy_avx2(float *d, const float *s, int n) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i = 0; i < n; i += 8) {
        if (n - i >= 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
        else _mm256_maskstore_ps(d + i, _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lanes),
                                 _mm256_loadu_ps(s + i));
    }
}
#endif

static gg_copy_fn copy_fn(gg_i8_kernel k) {
#if GG_X86 && !defined(GG_FLOAT64)
    if (k == GG_I8_AVX512BW || k == GG_I8_AVX512VNNI) return copy_avx512;
    if (k == GG_I8_AVX2) return copy_avx2;
#else
    (void)k;
#endif
    return copy_plain;
}

/* y[0..TILE_N) = t mul + off (per column, or the scalars m1 and o1), then
 * max(0, .): a fixed trip count, so the loops vectorise whole. */
static inline void tile_row(gg_real *restrict y, const int32_t *restrict t,
                            const gg_real *restrict mul, const gg_real *restrict off, gg_real m1,
                            gg_real o1, int relu) {
    if (mul) {
#pragma omp simd
        for (int j = 0; j < TILE_N; j++) y[j] = (gg_real)t[j] * mul[j] + off[j];
    } else {
#pragma omp simd
        for (int j = 0; j < TILE_N; j++) y[j] = (gg_real)t[j] * m1 + o1;
    }
    if (relu) {
#pragma omp simd
        for (int j = 0; j < TILE_N; j++) y[j] = y[j] > 0 ? y[j] : 0;
    }
}

/* Writes the valid part (rows x cols) of a tile at rows m0.., columns n0... */
static void epilogue(const int32_t *t, int m0, int rows, int n0, int cols, const gg_i8_out *o,
                     gg_copy_fn copy, gg_real *tmp) {
    if (o->c) {
        for (int r = 0; r < rows; r++)
            memcpy(o->c + (size_t)(m0 + r) * o->ldc + n0, t + r * TILE_N, (size_t)cols * 4);
        return;
    }
    for (int r = 0; r < rows; r++) {
        const int32_t *tr = t + r * TILE_N;
        gg_real *y = o->y + (size_t)(m0 + r) * o->ldy;
        const gg_real *mul = o->row_scale ? NULL : o->mul + n0, *off = o->row_scale ? NULL : o->off + n0;
        gg_real m1 = o->row_scale ? o->mul[m0 + r] : 0, o1 = o->row_scale ? o->off[m0 + r] : 0;
        if (!o->wrap_in && cols == TILE_N) {
            tile_row(y + n0, tr, mul, off, m1, o1, o->relu);
            continue;
        }
        tile_row(tmp, tr, mul, off, m1, o1, o->relu);
        if (!o->wrap_in) {
            copy(y + n0, tmp, cols);
            continue;
        }
        /* Columns n = i wrap_in + j hold output i wrap_out + j for j < wrap_out. */
        for (int n = n0, end = n0 + cols; n < end;) {
            int i = n / o->wrap_in, j = n - i * o->wrap_in;
            int seg = o->wrap_in - j < end - n ? o->wrap_in - j : end - n;
            int valid = j < o->wrap_out ? (o->wrap_out - j < seg ? o->wrap_out - j : seg) : 0;
            if (valid > 0)
                copy(y + (size_t)i * o->wrap_out + j, tmp + (n - n0), valid);
            n += seg;
        }
    }
}

/* Rows [r0, r1) (r0 a multiple of MR) by every column. */
static void gemm_rows(gg_mk mk, gg_copy_fn copy, int r0, int r1, int N, int K, const void *A,
                      size_t lda, const void *packed, const gg_i8_out *o) {
    int32_t tile[MR * TILE_N] __attribute__((aligned(64)));
    /* The epilogue's row: twice the tile, as the vector copies load whole
     * vectors past the end of a segment. */
    gg_real tmp[2 * TILE_N] __attribute__((aligned(64))) = {0};
    int kg = gg_i8_k4(K) / 4, panels = (N + NP - 1) / NP;
    size_t pstride = (size_t)gg_i8_k4(K) * NP;
    for (int c0 = r0; c0 < r1; c0 += GG_CHUNK) {
        int c1 = c0 + GG_CHUNK < r1 ? c0 + GG_CHUNK : r1;
        for (int p = 0; p < panels; p += 2) {
            int np = p + 1 < panels ? 2 : 1;
            int n0 = p * NP, cols = N - n0 < np * NP ? N - n0 : np * NP;
            const uint8_t *bp = (const uint8_t *)packed + (size_t)p * pstride;
            for (int m = c0; m < c1; m += MR) {
                mk(kg, (const uint8_t *)A + (size_t)m * lda, lda, bp, pstride, np, tile);
                epilogue(tile, m, r1 - m < MR ? r1 - m : MR, n0, cols, o, copy, tmp);
            }
        }
    }
}

#define GG_I8_PAR_MIN ((size_t)1 << 20) /* multiply-adds: about 20 us on one core */

static void gemm(bool wa, gg_i8_kernel k, int M, int N, int K, const void *A, size_t lda,
                 const void *packed, const gg_i8_out *out, int threads) {
    if (M <= 0 || N <= 0) return;
    gg_mk mk = micro_kernel(k, wa);
    gg_copy_fn copy = copy_fn(k);
    int blocks = (M + MR - 1) / MR;
    if (threads > blocks) threads = blocks;
    /* Waking a second thread costs more than a small product takes. */
    if ((size_t)M * (size_t)N * (size_t)K < GG_I8_PAR_MIN) threads = 1;
    if (threads <= 1) {
        gemm_rows(mk, copy, 0, M, N, K, A, lda, packed, out);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int T = omp_get_num_threads(), id = omp_get_thread_num();
        int per = (blocks + T - 1) / T;
        int b0 = id * per, b1 = b0 + per < blocks ? b0 + per : blocks;
        if (b0 < b1) gemm_rows(mk, copy, b0 * MR, b1 * MR < M ? b1 * MR : M, N, K, A, lda, packed, out);
    }
}

void gg_i8_gemm(gg_i8_kernel k, int M, int N, int K, const uint8_t *A, size_t lda,
                const int8_t *packed, const gg_i8_out *out, int threads) {
    gemm(false, k, M, N, K, A, lda, packed, out, threads);
}

void gg_i8_gemm_wa(gg_i8_kernel k, int M, int N, int K, const int8_t *A, size_t lda,
                   const uint8_t *packed, const gg_i8_out *out, int threads) {
    gemm(true, k, M, N, K, A, lda, packed, out, threads);
}
