#ifndef DPTRAIN_COPENBLAS_SHIM_H
#define DPTRAIN_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
