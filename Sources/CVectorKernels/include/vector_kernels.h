#ifndef ECG2CMR_VECTOR_KERNELS_H
#define ECG2CMR_VECTOR_KERNELS_H
// AVX-512 versions of NeuralCore's elementwise kernels (VectorMath), chosen at run time: Swift
// compiles for baseline x86-64 (SSE2) and has no per-function target attribute, so these four
// loops, the hottest non-GEMM work of a transformer block, live here.
#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU runs AVX-512F (and the kernels below may be called), else 0.
int ecg_vk_avx512_available(void);
/// x <- 0.5 x (1 + erf(x / sqrt 2)), exact GELU (A&S 7.1.26 erf, Cephes exp).
void ecg_vk_gelu_avx512(float *x, long count);
/// g <- g * GELU'(x).
void ecg_vk_gelu_backward_avx512(float *g, const float *x, long count);
/// Softmax of each row of x [rows, cols] (row stride ld), in place, max-subtracted.
void ecg_vk_softmax_rows_avx512(float *x, long rows, long cols, long ld);

#ifdef __cplusplus
}
#endif
#endif
