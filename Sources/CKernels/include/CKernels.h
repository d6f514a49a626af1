#ifndef DPTRAIN_CKERNELS_H
#define DPTRAIN_CKERNELS_H
// Element-wise kernels of dptrain's `Real` protocol, for float (f32) and double (f64).
// Row-major [rows, cols] throughout. See Sources/CKernels/kernels.c for why these are in C.
#include <stddef.h>
#include <stdint.h>

#define DP_DECLARE(T, S)                                                                          \
  void dp_relu_##S(T *x, ptrdiff_t n);                                                            \
  void dp_relu_backward_##S(T *g, const T *a, ptrdiff_t n);                                       \
  void dp_broadcast_rows_##S(const T *v, ptrdiff_t rows, ptrdiff_t cols, T *y);                   \
  void dp_column_sums_##S(const T *x, ptrdiff_t rows, ptrdiff_t cols, T *s, int accumulate);      \
  void dp_column_centered_squares_##S(const T *x, const T *c, ptrdiff_t rows, ptrdiff_t cols,     \
                                      T *s, int accumulate);                                      \
  void dp_column_dots_##S(const T *x, const T *y, ptrdiff_t rows, ptrdiff_t cols, T *s,           \
                          int accumulate);                                                        \
  void dp_axpy_##S(T alpha, const T *x, T *y, ptrdiff_t n);                                       \
  void dp_scale_##S(T *x, T alpha, ptrdiff_t n);                                                  \
  void dp_batchnorm_apply_##S(const T *x, ptrdiff_t rows, ptrdiff_t cols, const T *mean,          \
                              const T *inv_std, const T *gamma, const T *beta, T *xhat, T *y);    \
  void dp_batchnorm_backward_##S(T *dy, const T *xhat, ptrdiff_t rows, ptrdiff_t cols,            \
                                 const T *gamma, const T *inv_std, const T *sum_dy,               \
                                 const T *sum_dy_xhat, ptrdiff_t count);                          \
  void dp_momentum_step_##S(T *theta, T *velocity, const T *sum, ptrdiff_t n, T inverse_batch,    \
                            T decay, T eta, T rho);                                               \
  void dp_momentum_step_summing_##S(T *theta, T *velocity, const T *const *sums, int nsums,       \
                                    ptrdiff_t n, T inverse_batch, T decay, T eta, T rho);         \
  void dp_gather_normalized_##S(const uint8_t *pixels, const ptrdiff_t *indices, ptrdiff_t rows,  \
                                ptrdiff_t cols, const T *mean, const T *inv_std, T *y);           \
  double dp_sum_of_squares_##S(const T *x, ptrdiff_t n);                                          \
  /* dst[i] = ((src[0][i] + src[1][i]) + src[2][i]) + ..., sources in order (nsrc >= 1). */      \
  void dp_sum_sources_##S(T *dst, const T *const *srcs, int nsrc, ptrdiff_t n);                   \
  /* d[i] = d[i] + x[i], and d[i] = x[i] + d[i]: a two-operand sum in rank order. */              \
  void dp_add_after_##S(T *d, const T *x, ptrdiff_t n);                                           \
  void dp_add_before_##S(T *d, const T *x, ptrdiff_t n);

DP_DECLARE(float, f32)
DP_DECLARE(double, f64)
#undef DP_DECLARE

/// Asks the CPU to bring `rows` records of `cols` bytes (`pixels + indices[i] * cols`) into cache,
/// without waiting: issued for the next batch, the loads overlap the current step's products.
void dp_prefetch_rows(const uint8_t *pixels, const ptrdiff_t *indices, ptrdiff_t rows, ptrdiff_t cols);

/// CPU features usable by programs (cpuid, and enabled by the OS in XCR0).
enum {
  DP_CPU_SSE2 = 1 << 0, DP_CPU_SSE3 = 1 << 1, DP_CPU_SSSE3 = 1 << 2, DP_CPU_SSE41 = 1 << 3,
  DP_CPU_SSE42 = 1 << 4, DP_CPU_AVX = 1 << 5, DP_CPU_FMA = 1 << 6, DP_CPU_AVX2 = 1 << 7,
  DP_CPU_AVX512F = 1 << 8, DP_CPU_AVX512DQ = 1 << 9, DP_CPU_AVX512CD = 1 << 10,
  DP_CPU_AVX512BW = 1 << 11, DP_CPU_AVX512VL = 1 << 12, DP_CPU_AVX512VNNI = 1 << 13,
  DP_CPU_AVX512BF16 = 1 << 14, DP_CPU_AVX512FP16 = 1 << 15, DP_CPU_AMX = 1 << 16,
};

/// What cpuid says of this CPU: vendor ("GenuineIntel", "AuthenticAMD"), brand string, family and
/// model as the vendors number them (extended fields folded in), and `DP_CPU_*` features.
typedef struct {
  char vendor[13];
  char brand[49];
  int family, model, stepping;
  unsigned long long features;
} dp_cpu_info_t;

void dp_cpu_info(dp_cpu_info_t *info);

#endif
