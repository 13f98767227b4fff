/* dnsmsg: not written yet */
#include "dohstub/dnsmsg.h"
