/* proxy: not written yet */
#include "dohstub/proxy.h"
