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

static inline void cmpi_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#pragma clang assume_nonnull end
#endif
