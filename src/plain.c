/* plain: not written yet */
#include "dohstub/plain.h"
