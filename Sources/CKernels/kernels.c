// dptrain's element-wise kernels.
//
// Why C: Swift 6.3 at -O compiled the same loops over unsafe pointers to scalar code (ReLU as a
// compare-and-branch per element, about 12% of a training step), and generic SIMD16<T> code
// lowered its comparisons lane by lane through the stack. Clang vectorizes these loops
// reliably; `target_clones` builds AVX-512, AVX2 and baseline versions and picks one at load
// time by CPU feature, so one binary runs at full width on every node of a cluster.
//
// Determinism: floating-point contraction is OFF, so no ISA fuses a multiply-add that another
// does not; each element (and each per-column sum, accumulated over rows in row order) is
// computed with the same operations in the same order on every machine and vector width.
#include "CKernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define DP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DP_CLONES
#endif

// theta -= v after v = rho * v + eta * (g * inverse_batch + decay * theta), with g = GRAD (an
// expression in i); with rho == 0, theta -= eta * (...) and v is not touched.
#define DP_MOMENTUM_LOOP(T, GRAD)                                                                 \
  if (rho == 0) {                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) theta[i] -= eta * ((GRAD) * inverse_batch + decay * theta[i]); \
  } else {                                                                                        \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
      T vi = rho * v[i] + eta * ((GRAD) * inverse_batch + decay * theta[i]);                      \
      v[i] = vi;                                                                                  \
      theta[i] -= vi;                                                                             \
    }                                                                                             \
  }

#define DP_DEFINE(T, S)                                                                           \
  DP_CLONES void dp_relu_##S(T *restrict x, ptrdiff_t n) {                                        \
    for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : (T)0;                              \
  }                                                                                               \
  DP_CLONES void dp_relu_backward_##S(T *restrict g, const T *restrict a, ptrdiff_t n) {          \
    for (ptrdiff_t i = 0; i < n; i++) g[i] = a[i] > 0 ? g[i] : (T)0;                              \
  }                                                                                               \
  void dp_broadcast_rows_##S(const T *restrict v, ptrdiff_t rows, ptrdiff_t cols,                 \
                             T *restrict y) {                                                     \
    for (ptrdiff_t i = 0; i < rows; i++)                                                          \
      for (ptrdiff_t j = 0; j < cols; j++) y[i * cols + j] = v[j];                                \
  }                                                                                               \
  DP_CLONES void dp_column_sums_##S(const T *restrict x, ptrdiff_t rows, ptrdiff_t cols,          \
                                    T *restrict s, int accumulate) {                              \
    if (!accumulate)                                                                              \
      for (ptrdiff_t j = 0; j < cols; j++) s[j] = 0;                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      const T *restrict r = x + i * cols;                                                         \
      for (ptrdiff_t j = 0; j < cols; j++) s[j] += r[j];                                          \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_column_centered_squares_##S(const T *restrict x, const T *restrict c,         \
                                                ptrdiff_t rows, ptrdiff_t cols, T *restrict s,    \
                                                int accumulate) {                                 \
    if (!accumulate)                                                                              \
      for (ptrdiff_t j = 0; j < cols; j++) s[j] = 0;                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      const T *restrict r = x + i * cols;                                                         \
      for (ptrdiff_t j = 0; j < cols; j++) {                                                      \
        T d = r[j] - c[j];                                                                        \
        s[j] += d * d;                                                                            \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_column_dots_##S(const T *restrict x, const T *restrict y, ptrdiff_t rows,     \
                                    ptrdiff_t cols, T *restrict s, int accumulate) {              \
    if (!accumulate)                                                                              \
      for (ptrdiff_t j = 0; j < cols; j++) s[j] = 0;                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      const T *restrict rx = x + i * cols, *restrict ry = y + i * cols;                           \
      for (ptrdiff_t j = 0; j < cols; j++) s[j] += rx[j] * ry[j];                                 \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_axpy_##S(T alpha, const T *restrict x, T *restrict y, ptrdiff_t n) {          \
    for (ptrdiff_t i = 0; i < n; i++) y[i] += alpha * x[i];                                       \
  }                                                                                               \
  DP_CLONES void dp_scale_##S(T *restrict x, T alpha, ptrdiff_t n) {                              \
    for (ptrdiff_t i = 0; i < n; i++) x[i] *= alpha;                                              \
  }                                                                                               \
  /* x and y may be the same buffer (in place); xhat may be NULL. */                              \
  DP_CLONES void dp_batchnorm_apply_##S(const T *x, ptrdiff_t rows, ptrdiff_t cols,               \
                                        const T *restrict mean, const T *restrict inv_std,        \
                                        const T *restrict gamma, const T *restrict beta,          \
                                        T *restrict xhat, T *y) {                                 \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      const T *rx = x + i * cols;                                                                 \
      T *ry = y + i * cols;                                                                       \
      if (xhat) {                                                                                 \
        T *restrict rh = xhat + i * cols;                                                         \
        for (ptrdiff_t j = 0; j < cols; j++) {                                                    \
          T h = (rx[j] - mean[j]) * inv_std[j];                                                   \
          rh[j] = h;                                                                              \
          ry[j] = gamma[j] * h + beta[j];                                                         \
        }                                                                                         \
      } else {                                                                                    \
        for (ptrdiff_t j = 0; j < cols; j++) ry[j] = gamma[j] * ((rx[j] - mean[j]) * inv_std[j]) + beta[j]; \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_batchnorm_backward_##S(T *restrict dy, const T *restrict xhat, ptrdiff_t rows, \
                                           ptrdiff_t cols, const T *restrict gamma,               \
                                           const T *restrict inv_std, const T *restrict sum_dy,   \
                                           const T *restrict sum_dy_xhat, ptrdiff_t count) {      \
    T inv = (T)1 / (T)count;                                                                      \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      T *restrict rd = dy + i * cols;                                                             \
      const T *restrict rh = xhat + i * cols;                                                     \
      for (ptrdiff_t j = 0; j < cols; j++)                                                        \
        rd[j] = gamma[j] * inv_std[j] * (rd[j] - sum_dy[j] * inv - rh[j] * (sum_dy_xhat[j] * inv)); \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_momentum_step_##S(T *restrict theta, T *restrict v, const T *restrict sum,    \
                                      ptrdiff_t n, T inverse_batch, T decay, T eta, T rho) {      \
    DP_MOMENTUM_LOOP(T, sum[i])                                                                   \
  }                                                                                               \
  /* The gradient sum is ((sums[0] + sums[1]) + sums[2]) + ..., added here in that order: the */  \
  /* ranks' copies of a segment, read in place (a fused reduce-scatter and update). */            \
  DP_CLONES void dp_momentum_step_summing_##S(T *restrict theta, T *restrict v,                   \
                                              const T *const *sums, int nsums, ptrdiff_t n,       \
                                              T inverse_batch, T decay, T eta, T rho) {           \
    if (nsums == 1) {                                                                             \
      dp_momentum_step_##S(theta, v, sums[0], n, inverse_batch, decay, eta, rho);                 \
      return;                                                                                     \
    }                                                                                             \
    if (nsums == 2) {                                                                             \
      const T *restrict a = sums[0], *restrict b = sums[1];                                       \
      DP_MOMENTUM_LOOP(T, a[i] + b[i])                                                            \
      return;                                                                                     \
    }                                                                                             \
    T block[1024];                                                                                \
    for (ptrdiff_t start = 0; start < n; start += 1024) {                                         \
      ptrdiff_t m = n - start < 1024 ? n - start : 1024;                                          \
      const T *restrict a = sums[0] + start, *restrict b = sums[1] + start;                       \
      for (ptrdiff_t i = 0; i < m; i++) block[i] = a[i] + b[i];                                   \
      for (int k = 2; k < nsums; k++) {                                                           \
        const T *restrict c = sums[k] + start;                                                    \
        for (ptrdiff_t i = 0; i < m; i++) block[i] = block[i] + c[i];                             \
      }                                                                                           \
      dp_momentum_step_##S(theta + start, v + start, block, m, inverse_batch, decay, eta, rho);   \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_gather_normalized_##S(const uint8_t *restrict pixels,                         \
                                          const ptrdiff_t *restrict indices, ptrdiff_t rows,      \
                                          ptrdiff_t cols, const T *restrict mean,                 \
                                          const T *restrict inv_std, T *restrict y) {             \
    const T scale = (T)1 / (T)255;                                                                \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                        \
      /* Rows are random 784..3072-byte records: prefetch a few rows ahead. */                    \
      if (i + 4 < rows) {                                                                         \
        const uint8_t *ahead = pixels + indices[i + 4] * cols;                                    \
        for (ptrdiff_t b = 0; b < cols; b += 64) __builtin_prefetch(ahead + b);                   \
      }                                                                                           \
      const uint8_t *restrict src = pixels + indices[i] * cols;                                   \
      T *restrict dst = y + i * cols;                                                             \
      for (ptrdiff_t j = 0; j < cols; j++) dst[j] = ((T)src[j] * scale - mean[j]) * inv_std[j];   \
    }                                                                                             \
  }                                                                                               \
  /* Blocks of 1024 summed in T (vectorizable), blocks accumulated in double. */                  \
  double dp_sum_of_squares_##S(const T *restrict x, ptrdiff_t n) {                                \
    double total = 0;                                                                             \
    for (ptrdiff_t start = 0; start < n; start += 1024) {                                         \
      ptrdiff_t end = start + 1024 < n ? start + 1024 : n;                                        \
      T block = 0;                                                                                \
      for (ptrdiff_t i = start; i < end; i++) block += x[i] * x[i];                               \
      total += (double)block;                                                                     \
    }                                                                                             \
    return total;                                                                                 \
  }

DP_DEFINE(float, f32)
DP_DEFINE(double, f64)

void dp_prefetch_rows(const uint8_t *pixels, const ptrdiff_t *indices, ptrdiff_t rows, ptrdiff_t cols) {
  for (ptrdiff_t i = 0; i < rows; i++) {
    const uint8_t *row = pixels + indices[i] * cols;
    for (ptrdiff_t b = 0; b < cols; b += 64) __builtin_prefetch(row + b);
  }
}

// dst[i] = ((src[0][i] + src[1][i]) + src[2][i]) + ... in source order, for the shared-memory
// allreduce. Blocked so that `dst` stays in L1 while the sources stream past; only additions, so
// every vector width gives the same bits. `nsrc` >= 1.
#define DP_DEFINE_SUM_SOURCES(T, S)                                                               \
  DP_CLONES void dp_sum_sources_##S(T *restrict dst, const T *const *srcs, int nsrc, ptrdiff_t n) { \
    const ptrdiff_t block = 2048;                                                                 \
    for (ptrdiff_t b = 0; b < n; b += block) {                                                    \
      const ptrdiff_t m = (n - b < block) ? (n - b) : block;                                      \
      T *restrict d = dst + b;                                                                    \
      const T *restrict a = srcs[0] + b;                                                          \
      if (nsrc == 1) {                                                                            \
        for (ptrdiff_t i = 0; i < m; i++) d[i] = a[i];                                            \
        continue;                                                                                 \
      }                                                                                           \
      const T *restrict c = srcs[1] + b;                                                          \
      for (ptrdiff_t i = 0; i < m; i++) d[i] = a[i] + c[i];                                       \
      for (int s = 2; s < nsrc; s++) {                                                            \
        const T *restrict e = srcs[s] + b;                                                        \
        for (ptrdiff_t i = 0; i < m; i++) d[i] = d[i] + e[i];                                     \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  DP_CLONES void dp_add_after_##S(T *restrict d, const T *restrict x, ptrdiff_t n) {              \
    for (ptrdiff_t i = 0; i < n; i++) d[i] = d[i] + x[i];                                         \
  }                                                                                               \
  DP_CLONES void dp_add_before_##S(T *restrict d, const T *restrict x, ptrdiff_t n) {             \
    for (ptrdiff_t i = 0; i < n; i++) d[i] = x[i] + d[i];                                         \
  }
DP_DEFINE_SUM_SOURCES(float, f32)
DP_DEFINE_SUM_SOURCES(double, f64)
#undef DP_DEFINE_SUM_SOURCES
