/* tls: not written yet */
#include "dohstub/tls.h"
