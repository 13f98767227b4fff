/* config: not written yet */
#include "dohstub/config.h"
