#include "vector_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int ecg_vk_avx512_available(void) { return __builtin_cpu_supports("avx512f") ? 1 : 0; }

#define AVX512 __attribute__((target("avx512f")))

// The same approximations as VectorMath.exp / VectorMath.erf (Swift), sixteen lanes at a time.
AVX512 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.72283f));
    const __m512 shift = _mm512_set1_ps(12582912.0f);   // 1.5 * 2^23: rounds to an integer
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), shift);
    __m512 n = _mm512_sub_ps(shifted, shift);
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    x = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    x = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(x, x), x), _mm512_set1_ps(1.0f));
    __m512 pow2n = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(p, pow2n);
}

AVX512 static inline __m512 erf16(__m512 x) {
    __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF)));
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
    __m512 r = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    // copy the sign of x
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), sign));
}

// Lanes [0, rem) of a tail.
AVX512 static inline __mmask16 tail_mask(long rem) { return (__mmask16)((1u << rem) - 1u); }

AVX512 void ecg_vk_gelu_avx512(float *x, long count) {
    const __m512 r = _mm512_set1_ps(0.70710678118654752f), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < count; i += 16) {
        __mmask16 m = count - i >= 16 ? (__mmask16)0xFFFF : tail_mask(count - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf16(_mm512_mul_ps(v, r))));
        _mm512_mask_storeu_ps(x + i, m, y);
    }
}

AVX512 void ecg_vk_gelu_backward_avx512(float *g, const float *x, long count) {
    const __m512 r = _mm512_set1_ps(0.70710678118654752f), c = _mm512_set1_ps(0.3989422804014327f);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < count; i += 16) {
        __mmask16 m = count - i >= 16 ? (__mmask16)0xFFFF : tail_mask(count - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, erf16(_mm512_mul_ps(v, r))));
        __m512 pdf = _mm512_mul_ps(c, exp16(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(v, v))));
        __m512 d = _mm512_fmadd_ps(v, pdf, cdf);
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, g + i), d));
    }
}

AVX512 void ecg_vk_softmax_rows_avx512(float *x, long rows, long cols, long ld) {
    for (long r = 0; r < rows; r++) {
        float *p = x + r * ld;
        __m512 mv = _mm512_set1_ps(-__builtin_inff());
        for (long i = 0; i < cols; i += 16) {
            __mmask16 m = cols - i >= 16 ? (__mmask16)0xFFFF : tail_mask(cols - i);
            mv = _mm512_mask_max_ps(mv, m, mv, _mm512_maskz_loadu_ps(m, p + i));
        }
        __m512 mm = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
        __m512 sv = _mm512_setzero_ps();
        for (long i = 0; i < cols; i += 16) {
            __mmask16 m = cols - i >= 16 ? (__mmask16)0xFFFF : tail_mask(cols - i);
            __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), mm));
            e = _mm512_maskz_mov_ps(m, e);
            _mm512_mask_storeu_ps(p + i, m, e);
            sv = _mm512_add_ps(sv, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sv));
        for (long i = 0; i < cols; i += 16) {
            __mmask16 m = cols - i >= 16 ? (__mmask16)0xFFFF : tail_mask(cols - i);
            _mm512_mask_storeu_ps(p + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + i), inv));
        }
    }
}

#else
int ecg_vk_avx512_available(void) { return 0; }
void ecg_vk_gelu_avx512(float *x, long count) { (void)x; (void)count; }
void ecg_vk_gelu_backward_avx512(float *g, const float *x, long count) { (void)g; (void)x; (void)count; }
void ecg_vk_softmax_rows_avx512(float *x, long rows, long cols, long ld) { (void)x; (void)rows; (void)cols; (void)ld; }
#endif
