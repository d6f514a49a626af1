#ifndef DPTRAIN_CDNNL_SHIM_H
#define DPTRAIN_CDNNL_SHIM_H
// oneDNN (Debian's libdnnl-dev; no pkg-config file, so the module map links -ldnnl itself).
#include <oneapi/dnnl/dnnl.h>
#include <dlfcn.h>

#pragma clang assume_nonnull begin

// oneDNN runs its products on OpenMP threads (libgomp, loaded with libdnnl). OpenMP's thread
// count is a per-thread setting (a thread that never set it gets OMP_NUM_THREADS or the core
// count), so the wrapper sets it on the calling thread whenever it differs from `threads`:
// ranks x threads stay within the node's cores, and the in-process test ranks (threads) get
// the count the process chose. Found at run time, so that no libgomp development link is needed.
static __thread int dptrain_omp_threads_of_this_thread = 0;

static inline int dptrain_omp_set_num_threads(int threads) {
  static void (*set)(int) = 0;
  if (!set) set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
  if (!set) return 0;
  set(threads);
  dptrain_omp_threads_of_this_thread = threads;
  return 1;
}

/// `dnnl_sgemm` (row-major, like cblas) on `threads` OpenMP threads.
static inline dnnl_status_t dptrain_dnnl_sgemm(
    int transa, int transb, dnnl_dim_t m, dnnl_dim_t n, dnnl_dim_t k, float alpha, const float *a,
    dnnl_dim_t lda, const float *b, dnnl_dim_t ldb, float beta, float *c, dnnl_dim_t ldc, int threads) {
  if (dptrain_omp_threads_of_this_thread != threads) dptrain_omp_set_num_threads(threads);
  return dnnl_sgemm(transa ? 'T' : 'N', transb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#pragma clang assume_nonnull end
#endif
