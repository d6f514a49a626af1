#ifndef DPTRAIN_CZLIB_SHIM_H
#define DPTRAIN_CZLIB_SHIM_H
#include <zlib.h>
#endif
