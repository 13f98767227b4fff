/* doh: not written yet */
#include "dohstub/doh.h"
