/* listen: not written yet */
#include "dohstub/listen.h"
