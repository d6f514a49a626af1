#include "CSupport.h"
#include <stdio.h>

void dptrain_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
void dptrain_flush_stdout(void) { fflush(stdout); }
