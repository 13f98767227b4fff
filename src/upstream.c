/* upstream: not written yet */
#include "dohstub/upstream.h"
