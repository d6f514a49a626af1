#ifndef DPTRAIN_CDEFLATE_SHIM_H
#define DPTRAIN_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
