/* Matrix products for every op: C = alpha op(A) op(B) + beta C, row-major.
 * OpenBLAS runs single-threaded and the rows of C are split across the
 * OpenMP pool instead: one pool for element-wise loops and products, so
 * the two never spin against each other on the same cores, and each row
 * of C is computed by one call whatever the thread count. */
#include <omp.h>
#include "ops/ops.h"

/* Below this many multiply-adds a split costs more than it saves. */
#define SPLIT_MIN_FLOPS 200000.0

void gg_matmul(bool trans_a, bool trans_b, int M, int N, int K, gg_real alpha, const gg_real *A,
               int lda, const gg_real *B, int ldb, gg_real beta, gg_real *C, int ldc) {
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int threads = omp_get_max_threads();
    if (threads < 2 || M < 16 || (double)M * N * K < SPLIT_MIN_FLOPS || omp_in_parallel()) {
        gg_gemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        /* Blocks of whole rows, a multiple of 8 long so kernels stay aligned,
         * sized by the team actually granted (OMP_DYNAMIC may give fewer). */
        int team = omp_get_num_threads();
        int per = ((M + team - 1) / team + 7) & ~7;
        int m0 = omp_get_thread_num() * per;
        int rows = M - m0 < per ? M - m0 : per;
        if (rows > 0) {
            const gg_real *a = trans_a ? A + m0 : A + (size_t)m0 * lda;
            gg_gemm(CblasRowMajor, ta, tb, rows, N, K, alpha, a, lda, B, ldb, beta,
                    C + (size_t)m0 * ldc, ldc);
        }
    }
}
