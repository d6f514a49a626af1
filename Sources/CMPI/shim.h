#ifndef DPTRAIN_CMPI_SHIM_H
#define DPTRAIN_CMPI_SHIM_H
// Open MPI's handles are cast macros that Swift cannot import; these inline functions
// return them. Static inline in a system-library header: never compiled on its own, so a
// build without Open MPI (`--disable-default-traits`) never sees this file.
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>

#pragma clang assume_nonnull begin

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_max(void) { return MPI_MAX; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cmpi_undefined(void) { return MPI_UNDEFINED; }
static inline int cmpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }

/// dst[i] = ((src[0][i] + src[1][i]) + src[2][i]) + ... in source order, for the shared-memory
/// allreduce. Blocked so that `dst` stays in L1 while the sources stream past; only additions,
/// so no contraction can change the bits. `nsrc` >= 1.
#define CMPI_DEFINE_SUM(T, S)                                                                     \
  static inline void cmpi_sum_##S(T *restrict dst, const T *const *srcs, int nsrc, ptrdiff_t n) { \
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
  }
CMPI_DEFINE_SUM(float, f32)
CMPI_DEFINE_SUM(double, f64)
#undef CMPI_DEFINE_SUM

/// d[i] = d[i] + x[i] and d[i] = x[i] + d[i]: the two-rank reduction, operands in rank order.
#define CMPI_DEFINE_ADD(T, S)                                                                      \
  static inline void cmpi_add_after_##S(T *restrict d, const T *restrict x, ptrdiff_t n) {        \
    for (ptrdiff_t i = 0; i < n; i++) d[i] = d[i] + x[i];                                         \
  }                                                                                               \
  static inline void cmpi_add_before_##S(T *restrict d, const T *restrict x, ptrdiff_t n) {       \
    for (ptrdiff_t i = 0; i < n; i++) d[i] = x[i] + d[i];                                         \
  }
CMPI_DEFINE_ADD(float, f32)
CMPI_DEFINE_ADD(double, f64)
#undef CMPI_DEFINE_ADD

static inline void cmpi_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#pragma clang assume_nonnull end
#endif
